/*
 * A minimal ONNX protobuf writer for tests that make small float32 models
 * in memory (conv_case.h, test_conv_paths): a growable buffer, the wire
 * types they need, and helpers for nodes, attributes, initializers and
 * graph inputs/outputs. Only what those tests use; no reading.
 */
#ifndef FWD_TESTS_ONNX_WRITER_H
#define FWD_TESTS_ONNX_WRITER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct pb {
    unsigned char *p;
    size_t n, cap;
} pb;

static inline void pb_bytes(pb *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q) abort();
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static inline void pb_varint(pb *b, uint64_t v)
{
    unsigned char c[10];
    int n = 0;
    do {
        c[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) c[n] |= 0x80;
        n++;
    } while (v);
    pb_bytes(b, c, (size_t)n);
}

static inline void pb_int(pb *b, int field, int64_t v)
{
    pb_varint(b, (uint64_t)field << 3);
    pb_varint(b, (uint64_t)v);
}

static inline void pb_len(pb *b, int field, const void *d, size_t n)
{
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    pb_bytes(b, d, n);
}

static inline void pb_str(pb *b, int field, const char *s) { pb_len(b, field, s, strlen(s)); }

/* Appends sub as field of b, and frees sub. */
static inline void pb_msg(pb *b, int field, pb *sub)
{
    pb_len(b, field, sub->p, sub->n);
    free(sub->p);
    memset(sub, 0, sizeof *sub);
}

static inline void attr_ints(pb *node, const char *name, const int64_t *v, int n)
{
    pb a = {0};
    pb_str(&a, 1, name);
    for (int i = 0; i < n; i++) pb_int(&a, 8, v[i]);
    pb_int(&a, 20, 7); /* INTS */
    pb_msg(node, 5, &a);
}

static inline void attr_float(pb *node, const char *name, float v)
{
    pb a = {0};
    pb_str(&a, 1, name);
    pb_varint(&a, 2 << 3 | 5);
    pb_bytes(&a, &v, 4);
    pb_int(&a, 20, 1); /* FLOAT */
    pb_msg(node, 5, &a);
}

static inline void attr_string(pb *node, const char *name, const char *v)
{
    pb a = {0};
    pb_str(&a, 1, name);
    pb_str(&a, 4, v);
    pb_int(&a, 20, 3); /* STRING */
    pb_msg(node, 5, &a);
}

static inline void node(pb *g, const char *op, const char *const *in, int n_in, const char *out, pb *attrs)
{
    pb n = {0};
    for (int i = 0; i < n_in; i++) pb_str(&n, 1, in[i]);
    pb_str(&n, 2, out);
    pb_str(&n, 3, out);
    pb_str(&n, 4, op);
    if (attrs) {
        pb_bytes(&n, attrs->p, attrs->n);
        free(attrs->p);
        memset(attrs, 0, sizeof *attrs);
    }
    pb_msg(g, 1, &n);
}

static inline void initializer(pb *g, const char *name, const int64_t *dims, int rank, const float *data, size_t n)
{
    pb t = {0};
    for (int i = 0; i < rank; i++) pb_int(&t, 1, dims[i]);
    pb_int(&t, 2, 1); /* FLOAT */
    pb_str(&t, 8, name);
    pb_len(&t, 9, data, n * sizeof(float));
    pb_msg(g, 5, &t);
}

static inline void value_info(pb *g, int field, const char *name, const int64_t *dims, int rank)
{
    pb shape = {0}, tt = {0}, type = {0}, vi = {0};
    for (int i = 0; i < rank; i++) {
        pb d = {0};
        pb_int(&d, 1, dims[i]);
        pb_msg(&shape, 1, &d);
    }
    pb_int(&tt, 1, 1); /* FLOAT */
    pb_msg(&tt, 2, &shape);
    pb_msg(&type, 1, &tt);
    pb_str(&vi, 1, name);
    pb_msg(&vi, 2, &type);
    pb_msg(g, field, &vi);
}

#endif

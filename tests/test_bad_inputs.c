/*
 * Bad-input tests of model loading (public API only): truncated and
 * bit-flipped model files must fail cleanly (or load, and then build and
 * run or fail cleanly), never crash; and
 * specific broken models (missing external data, unknown ops, unsupported
 * opset, missing/empty files, deep nesting) must give the right status and
 * a helpful message. Small models are written here as protobuf bytes.
 *
 *   test_bad_inputs [NODE_TEST_DATA_DIR]
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fwd.h"
#include "test_util.h"

static int n_pass, n_fail;

static void check(int ok, const char *fmt, ...)
{
    if (ok) {
        n_pass++;
        return;
    }
    n_fail++;
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

/* ---- a tiny protobuf writer ---- */

typedef struct buf {
    uint8_t *b;
    size_t n, cap;
} buf;

static void put(buf *w, const void *p, size_t n)
{
    if (w->n + n > w->cap) {
        size_t cap = w->cap ? w->cap : 64;
        while (cap < w->n + n) cap *= 2;
        w->b = realloc(w->b, cap);
        if (!w->b) abort();
        w->cap = cap;
    }
    if (n) memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void varint(buf *w, uint64_t v)
{
    do {
        uint8_t c = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) c |= 0x80;
        put(w, &c, 1);
    } while (v);
}

static void f_int(buf *w, int field, uint64_t v)
{
    varint(w, (uint64_t)field << 3);
    varint(w, v);
}

static void f_bytes(buf *w, int field, const void *p, size_t n)
{
    varint(w, (uint64_t)field << 3 | 2);
    varint(w, n);
    put(w, p, n);
}

static void f_str(buf *w, int field, const char *s) { f_bytes(w, field, s, strlen(s)); }

/* Append sub as a length-delimited field and free it. */
static void f_msg(buf *w, int field, buf *sub)
{
    f_bytes(w, field, sub->b, sub->n);
    free(sub->b);
    memset(sub, 0, sizeof *sub);
}

/* ValueInfoProto of a float tensor of shape [n]. */
static void value_info(buf *g, int field, const char *name, int64_t n)
{
    buf vi = {0}, tp = {0}, tt = {0}, sh = {0}, dim = {0};
    f_int(&dim, 1, (uint64_t)n);
    f_msg(&sh, 1, &dim);
    f_int(&tt, 1, 1); /* FLOAT */
    f_msg(&tt, 2, &sh);
    f_msg(&tp, 1, &tt);
    f_str(&vi, 1, name);
    f_msg(&vi, 2, &tp);
    f_msg(g, field, &vi);
}

/* NodeProto with up to two inputs and one output. */
static void node(buf *g, const char *op, const char *domain, const char *name, const char *in0,
                 const char *in1, const char *out)
{
    buf n = {0};
    if (in0) f_str(&n, 1, in0);
    if (in1) f_str(&n, 1, in1);
    f_str(&n, 2, out);
    f_str(&n, 3, name);
    f_str(&n, 4, op);
    if (domain) f_str(&n, 7, domain);
    f_msg(g, 1, &n);
}

/* A float initializer "W" of 2 values stored externally. */
static void external_initializer(buf *g, const char *location, const char *offset)
{
    buf t = {0}, e = {0};
    f_int(&t, 1, 2);
    f_int(&t, 2, 1);
    f_str(&t, 8, "W");
    f_str(&e, 1, "location");
    f_str(&e, 2, location);
    f_msg(&t, 13, &e);
    if (offset) {
        f_str(&e, 1, "offset");
        f_str(&e, 2, offset);
        f_msg(&t, 13, &e);
    }
    f_int(&t, 14, 1); /* EXTERNAL */
    f_msg(g, 5, &t);
}

/* ModelProto around graph g (consumed) with one default-domain opset and
 * optionally another domain. */
static buf model(buf *g, int64_t opset, const char *extra_domain)
{
    buf m = {0}, o = {0};
    f_int(&m, 1, 8);
    f_str(&m, 2, "test_bad_inputs");
    f_msg(&m, 7, g);
    f_str(&o, 1, "");
    f_int(&o, 2, (uint64_t)opset);
    f_msg(&m, 8, &o);
    if (extra_domain) {
        f_str(&o, 1, extra_domain);
        f_int(&o, 2, 1);
        f_msg(&m, 8, &o);
    }
    return m;
}

/* Y = X + W with W as given by add_w. */
static buf add_model(const char *location, const char *offset, int64_t opset)
{
    buf g = {0};
    node(&g, "Add", NULL, "add_0", "X", "W", "Y");
    f_str(&g, 2, "g");
    if (location) external_initializer(&g, location, offset);
    value_info(&g, 11, "X", 2);
    if (!location) value_info(&g, 11, "W", 2);
    value_info(&g, 12, "Y", 2);
    return model(&g, opset, NULL);
}

/* ---- helpers ---- */

/* The message of the last load_mem (fwd_model_free clears the library's). */
static char last_msg[2048];

static int load_mem(const buf *m, const char *dir, fwd_status *st)
{
    fwd_model *mod = NULL;
    *st = fwd_model_load_memory(m->b, m->n, dir, &mod);
    snprintf(last_msg, sizeof last_msg, "%s", fwd_last_error());
    fwd_model_free(mod);
    return *st == FWD_OK;
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    if (n) fwrite(p, 1, n, f);
    fclose(f);
}

/* Build and run a model that loaded, on zero inputs of its declared shapes
 * (unknown dims 2, dims capped at 64): OK or an error, never a crash.
 * Returns 1 when it ran, -1 when a failure had no message, else 0. */
static int try_run(const fwd_model *m)
{
    fwd_builder *b = NULL;
    fwd_engine *e = NULL;
    fwd_context *c = NULL;
    enum { MAXIO = 8 };
    fwd_tensor in[MAXIO], out[MAXIO];
    void *bufs[MAXIO] = {0};
    int ni = 0, no = 0, ran = 0;
    if (fwd_builder_create(&b) != FWD_OK) return 0;
    if (fwd_builder_build(b, m, &e) != FWD_OK) goto done;
    if (fwd_context_create(e, &c) != FWD_OK) goto done;
    fwd_engine_num_inputs(e, &ni);
    fwd_engine_num_outputs(e, &no);
    if (ni > MAXIO || no > MAXIO) goto done;
    for (int k = 0; k < ni; k++) {
        fwd_tensor_info inf;
        fwd_engine_input(e, k, &inf);
        memset(&in[k], 0, sizeof in[k]);
        in[k].name = inf.name;
        in[k].dtype = inf.dtype;
        in[k].rank = inf.rank < 0 ? 1 : inf.rank;
        int64_t numel = 1;
        for (int j = 0; j < in[k].rank; j++) {
            in[k].dims[j] = inf.dims[j] < 0 ? 2 : inf.dims[j] > 64 ? 64 : inf.dims[j];
            numel *= in[k].dims[j];
        }
        size_t esz = fwd_dtype_size(inf.dtype);
        if (esz == 0 || numel > (1 << 20)) goto done;
        bufs[k] = calloc((size_t)numel * esz + 1, 1);
        in[k].data = bufs[k];
        in[k].size = (size_t)numel * esz;
    }
    for (int k = 0; k < no; k++) {
        fwd_tensor_info inf;
        fwd_engine_output(e, k, &inf);
        memset(&out[k], 0, sizeof out[k]);
        out[k].name = inf.name;
    }
    ran = 1;
    if (fwd_context_run(c, in, ni, out, no) != FWD_OK && !fwd_last_error()[0]) ran = -1;
done:
    for (int k = 0; k < MAXIO; k++) free(bufs[k]);
    fwd_context_free(c);
    fwd_engine_free(e);
    fwd_builder_free(b);
    return ran;
}

/* ---- tests ---- */

/* Every prefix of a valid model must fail with a message; bit flips must
 * not crash. */
static void fuzz_model(const char *dir, const char *test)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/model.onnx", dir, test);
    size_t size;
    uint8_t *data = tu_read_file(path, &size);
    check(data != NULL, "%s: cannot read %s", test, path);
    if (!data) return;
    fwd_model *m = NULL;
    fwd_status s = fwd_model_load(path, &m);
    check(s == FWD_OK, "%s: the intact model should load: %s", test, fwd_last_error());
    fwd_model_free(m);

    /* truncations: every length for small files, else ~400 points */
    size_t step = size <= 20000 ? 1 : size / 400;
    int trunc_bad = 0;
    for (size_t len = 0; len < size; len += step) {
        m = NULL;
        s = fwd_model_load_memory(data, len, NULL, &m);
        if (s == FWD_OK || fwd_last_error()[0] == '\0') {
            if (trunc_bad++ < 5)
                printf("  %s truncated to %zu of %zu bytes: status %s, message '%s'\n", test,
                       len, size, fwd_status_name(s), fwd_last_error());
        }
        fwd_model_free(m);
    }
    check(trunc_bad == 0, "%s: %d truncations loaded or gave no message", test, trunc_bad);

    /* bit flips (1 to 3 per copy): OK or an error, never a crash */
    uint8_t *copy = malloc(size);
    int flips = 3000, ok = 0, errs = 0, no_msg = 0, ran = 0;
    for (int i = 0; i < flips; i++) {
        memcpy(copy, data, size);
        int nb = 1 + (int)(tu_bits() % 3);
        for (int k = 0; k < nb; k++) {
            size_t bit = (size_t)(tu_bits() % (size * 8));
            copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        m = NULL;
        s = fwd_model_load_memory(copy, size, NULL, &m);
        if (s == FWD_OK) {
            ok++;
            int ni = 0, no = 0;
            fwd_model_num_inputs(m, &ni);
            fwd_model_num_outputs(m, &no);
            fwd_tensor_info info;
            for (int k = 0; k < ni; k++) fwd_model_input(m, k, &info);
            for (int k = 0; k < no; k++) fwd_model_output(m, k, &info);
            fwd_model_summary sum;
            fwd_model_summarize(m, &sum);
            int r = try_run(m);
            if (r < 0) no_msg++;
            if (r > 0) ran++;
        } else {
            errs++;
            if (!fwd_last_error()[0]) no_msg++;
        }
        fwd_model_free(m);
    }
    free(copy);
    check(no_msg == 0, "%s: %d bit-flipped models failed (load or run) without a message", test,
          no_msg);
    printf("  %s: %zu bytes, %zu truncations, %d bit-flipped copies (%d loaded, %d ran, %d errors)\n",
           test, size, (size + step - 1) / step, flips, ok, ran, errs);
    free(data);
}

static void test_external(const char *tmp)
{
    fwd_status s;
    buf m = add_model("missing_weights.bin", NULL, 17);
    load_mem(&m, tmp, &s);
    check(s == FWD_ERR_IO && strstr(last_msg, "missing_weights.bin") &&
              strstr(last_msg, "'W'"),
          "missing external file: want FWD_ERR_IO naming the file and tensor, got %s '%s'",
          fwd_status_name(s), last_msg);
    free(m.b);

    char path[4096];
    snprintf(path, sizeof path, "%s/weights.bin", tmp);
    float w[3] = {1.0f, 2.0f, 3.0f};
    write_file(path, w, sizeof w);
    m = add_model("weights.bin", "4", 17);
    check(load_mem(&m, tmp, &s), "external data at offset 4 should load: %s", last_msg);
    free(m.b);
    m = add_model("weights.bin", "8", 17);
    load_mem(&m, tmp, &s);
    check(s == FWD_ERR_INVALID_MODEL, "external data past the end: got %s '%s'",
          fwd_status_name(s), last_msg);
    free(m.b);
    m = add_model("../weights.bin", NULL, 17);
    load_mem(&m, tmp, &s);
    check(s == FWD_ERR_INVALID_MODEL, "external location with '..': got %s '%s'",
          fwd_status_name(s), last_msg);
    free(m.b);
    m = add_model("/etc/passwd", NULL, 17);
    load_mem(&m, tmp, &s);
    check(s == FWD_ERR_INVALID_MODEL, "absolute external location: got %s '%s'",
          fwd_status_name(s), last_msg);
    free(m.b);
    unlink(path);
}

static void test_ops_and_opsets(void)
{
    fwd_status s;
    buf g = {0};
    node(&g, "FooBar", "com.example", "foo_0", "X", NULL, "A");
    node(&g, "Baz", NULL, "n3", "A", NULL, "B");
    node(&g, "FooBar", "com.example", "foo_1", "B", NULL, "Y");
    value_info(&g, 11, "X", 2);
    value_info(&g, 12, "Y", 2);
    buf m = model(&g, 17, "com.example");
    load_mem(&m, NULL, &s);
    const char *e = last_msg;
    check(s == FWD_ERR_UNSUPPORTED && strstr(e, "FooBar (domain 'com.example', opset 1, first node 'foo_0')") &&
              strstr(e, "Baz (domain '', opset 17, first node 'n3')") && !strstr(e, "foo_1"),
          "unknown ops: want FWD_ERR_UNSUPPORTED listing each once, got %s '%s'",
          fwd_status_name(s), e);
    free(m.b);

    m = add_model(NULL, NULL, 99);
    load_mem(&m, NULL, &s);
    check(s == FWD_ERR_UNSUPPORTED && strstr(last_msg, "99"),
          "opset 99: want FWD_ERR_UNSUPPORTED naming it, got %s '%s'", fwd_status_name(s),
          last_msg);
    free(m.b);

    m = add_model(NULL, NULL, 17);
    check(load_mem(&m, NULL, &s), "the plain Add model should load: %s", last_msg);
    free(m.b);
}

/* A model input whose TypeProto has no elem_type (found by fuzzing: a
 * Concat of it and a float input overran a buffer in the build's trial
 * run) must be refused when loading, naming the input. */
static void test_untyped_input(void)
{
    fwd_status s;
    buf g = {0}, vi = {0}, tp = {0}, tt = {0}, sh = {0}, dim = {0};
    node(&g, "Add", NULL, "add_0", "X", "U", "Y");
    f_str(&g, 2, "g");
    value_info(&g, 11, "X", 2);
    f_int(&dim, 1, 2);
    f_msg(&sh, 1, &dim);
    f_msg(&tt, 2, &sh); /* a shape, no elem_type */
    f_msg(&tp, 1, &tt);
    f_str(&vi, 1, "U");
    f_msg(&vi, 2, &tp);
    f_msg(&g, 11, &vi);
    value_info(&g, 12, "Y", 2);
    buf m = model(&g, 17, NULL);
    load_mem(&m, NULL, &s);
    check(s == FWD_ERR_INVALID_MODEL && strstr(last_msg, "'U'") && strstr(last_msg, "no element type"),
          "input without elem_type: want FWD_ERR_INVALID_MODEL naming it, got %s '%s'", fwd_status_name(s),
          last_msg);
    free(m.b);
}

/* ScatterElements with axis 65 on rank-2 data (found by fuzzing: the
 * kernel indexed its strides with it) is refused by the builder, naming
 * the axis. */
static void test_scatter_axis(void)
{
    buf g = {0}, n = {0}, a = {0};
    const char *in[3] = {"D", "I", "U"};
    for (int i = 0; i < 3; i++) f_str(&n, 1, in[i]);
    f_str(&n, 2, "Y");
    f_str(&n, 3, "scatter_0");
    f_str(&n, 4, "ScatterElements");
    f_str(&a, 1, "axis");
    f_int(&a, 3, 65);
    f_int(&a, 20, 2); /* INT */
    f_msg(&n, 5, &a);
    f_msg(&g, 1, &n);
    f_str(&g, 2, "g");
    const char *names[3] = {"D", "I", "U"};
    const int types[3] = {1, 7, 1}; /* float, int64, float */
    for (int i = 0; i < 4; i++) {
        buf vi = {0}, tp = {0}, tt = {0}, sh = {0};
        for (int d = 0; d < 2; d++) {
            buf dim = {0};
            f_int(&dim, 1, d == 0 ? 1 : 2);
            f_msg(&sh, 1, &dim);
        }
        f_int(&tt, 1, (uint64_t)(i < 3 ? types[i] : 1));
        f_msg(&tt, 2, &sh);
        f_msg(&tp, 1, &tt);
        f_str(&vi, 1, i < 3 ? names[i] : "Y");
        f_msg(&vi, 2, &tp);
        f_msg(&g, i < 3 ? 11 : 12, &vi);
    }
    buf m = model(&g, 17, NULL);
    fwd_model *mod = NULL;
    fwd_builder *b = NULL;
    fwd_engine *e = NULL;
    fwd_status s = fwd_model_load_memory(m.b, m.n, NULL, &mod);
    if (!s) s = fwd_builder_create(&b);
    if (!s) s = fwd_builder_build(b, mod, &e);
    snprintf(last_msg, sizeof last_msg, "%s", fwd_last_error());
    check(s == FWD_ERR_INVALID_MODEL && strstr(last_msg, "ScatterElements") && strstr(last_msg, "axis 65"),
          "ScatterElements axis 65: want FWD_ERR_INVALID_MODEL naming it, got %s '%s'", fwd_status_name(s),
          last_msg);
    fwd_engine_free(e);
    fwd_builder_free(b);
    fwd_model_free(mod);
    free(m.b);
}

/* If nodes nested 200 deep: a clean error, no stack overflow. */
static void test_deep_nesting(void)
{
    buf inner = {0};
    node(&inner, "Identity", NULL, "id", "X", NULL, "Y");
    value_info(&inner, 12, "Y", 2);
    for (int d = 0; d < 200; d++) {
        buf attr = {0}, outer = {0};
        f_str(&attr, 1, "then_branch");
        f_int(&attr, 20, 5); /* GRAPH */
        f_msg(&attr, 6, &inner);
        buf n = {0};
        f_str(&n, 1, "C");
        f_str(&n, 2, "Y");
        f_str(&n, 4, "If");
        f_msg(&n, 5, &attr);
        f_msg(&outer, 1, &n);
        value_info(&outer, 12, "Y", 2);
        inner = outer;
    }
    value_info(&inner, 11, "C", 1);
    buf m = model(&inner, 17, NULL);
    fwd_status s;
    load_mem(&m, NULL, &s);
    check(s != FWD_OK && last_msg[0], "200 nested subgraphs: got %s '%s'",
          fwd_status_name(s), last_msg);
    free(m.b);
}

/* Valid encodings the reader must accept: packed repeated ints and nodes
 * listed out of topological order. */
static void test_encodings(void)
{
    fwd_status s;
    buf g = {0}, n = {0}, attr = {0}, packed = {0};
    /* Y = Transpose(Neg(X), perm=[1,0]) with the Neg node listed last */
    f_str(&n, 1, "A");
    f_str(&n, 2, "Y");
    f_str(&n, 4, "Transpose");
    f_str(&attr, 1, "perm");
    f_int(&attr, 20, 7); /* INTS */
    varint(&packed, 1);
    varint(&packed, 0);
    f_msg(&attr, 8, &packed); /* packed encoding of ints */
    f_msg(&n, 5, &attr);
    f_msg(&g, 1, &n);
    node(&g, "Neg", NULL, "neg", "X", NULL, "A");
    buf vi = {0}, tp = {0}, tt = {0}, sh = {0}, dim = {0};
    f_int(&dim, 1, 2);
    f_msg(&sh, 1, &dim);
    f_int(&dim, 1, 3);
    f_msg(&sh, 1, &dim);
    f_int(&tt, 1, 1);
    f_msg(&tt, 2, &sh);
    f_msg(&tp, 1, &tt);
    f_str(&vi, 1, "X");
    f_msg(&vi, 2, &tp);
    f_msg(&g, 11, &vi);
    f_str(&vi, 1, "Y");
    f_msg(&g, 12, &vi);
    buf m = model(&g, 17, NULL);
    fwd_model *mod = NULL;
    s = fwd_model_load_memory(m.b, m.n, NULL, &mod);
    check(s == FWD_OK, "packed ints / unsorted nodes should load: %s", fwd_last_error());
    if (s == FWD_OK) {
        fwd_tensor_info info;
        s = fwd_model_output(mod, 0, &info);
        check(s == FWD_OK && info.rank == 2 && info.dims[0] == 3 && info.dims[1] == 2,
              "Transpose with packed perm: output shape should be [3,2], got rank %d [%lld,%lld]",
              info.rank, (long long)info.dims[0], (long long)info.dims[1]);
    }
    fwd_model_free(mod);
    free(m.b);
}

static void test_files(const char *tmp)
{
    fwd_model *m = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/no_such_model.onnx", tmp);
    fwd_status s = fwd_model_load(path, &m);
    check(s == FWD_ERR_IO && strstr(fwd_last_error(), "no_such_model.onnx"),
          "nonexistent path: got %s '%s'", fwd_status_name(s), fwd_last_error());
    snprintf(path, sizeof path, "%s/empty.onnx", tmp);
    write_file(path, "", 0);
    s = fwd_model_load(path, &m);
    check(s == FWD_ERR_PARSE, "empty file: got %s '%s'", fwd_status_name(s), fwd_last_error());
    unlink(path);
    s = fwd_model_load(NULL, &m);
    check(s == FWD_ERR_INVALID_ARGUMENT, "NULL path: got %s", fwd_status_name(s));
    s = fwd_model_load_memory("junk", 4, NULL, NULL);
    check(s == FWD_ERR_INVALID_ARGUMENT, "NULL out: got %s", fwd_status_name(s));
    s = fwd_model_load_memory("\xff\xff\xff\xff\xff\xff", 6, NULL, &m);
    check(s == FWD_ERR_PARSE, "garbage bytes: got %s '%s'", fwd_status_name(s), fwd_last_error());

    /* npy round trip, then truncated npy files */
    int64_t vals[6] = {1, -2, 3, -4, 5, -6};
    fwd_tensor t = {.dtype = FWD_INT64, .rank = 2, .dims = {2, 3}, .data = vals,
                    .size = sizeof vals};
    snprintf(path, sizeof path, "%s/t.npy", tmp);
    s = fwd_tensor_write_npy(path, &t);
    check(s == FWD_OK, "write npy: %s", fwd_last_error());
    fwd_tensor r;
    s = fwd_tensor_read_file(path, &r);
    check(s == FWD_OK && r.dtype == FWD_INT64 && r.rank == 2 && r.dims[0] == 2 && r.dims[1] == 3 &&
              r.size == sizeof vals && memcmp(r.data, vals, sizeof vals) == 0,
          "npy round trip: %s", fwd_last_error());
    fwd_tensor_release(&r);
    size_t size;
    uint8_t *data = tu_read_file(path, &size);
    int bad = 0;
    for (size_t len = 0; data && len < size; len++) {
        write_file(path, data, len);
        if (fwd_tensor_read_file(path, &r) == FWD_OK) {
            bad++;
            fwd_tensor_release(&r);
        }
    }
    check(bad == 0, "%d truncated npy files were read", bad);
    free(data);
    unlink(path);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/usr/share/libonnx-testdata/data/node";
    char tmp[] = "/tmp/fwd_bad_inputs_XXXXXX";
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 2;
    }
    fuzz_model(dir, "test_conv_with_strides_padding");
    fuzz_model(dir, "test_if");
    fuzz_model(dir, "test_loop11");
    test_external(tmp);
    test_ops_and_opsets();
    test_untyped_input();
    test_scatter_axis();
    test_deep_nesting();
    test_encodings();
    test_files(tmp);
    rmdir(tmp);
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}

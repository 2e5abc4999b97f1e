/* Engine files: serialize an engine (format: engine/engine_file.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_file.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/strmap.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "engine files are written with little-endian stores"
#endif

/* A growable byte buffer; the first allocation failure sticks. */
typedef struct wbuf {
    unsigned char *p;
    size_t len, cap;
    bool oom;
} wbuf;

static void put(wbuf *b, const void *d, size_t n)
{
    if (b->oom) return;
    if (b->len + n > b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 4096;
        while (ncap < b->len + n) ncap *= 2;
        unsigned char *np = realloc(b->p, ncap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
    if (n) memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void put_u32(wbuf *b, uint32_t v) { put(b, &v, 4); }
static void put_i32(wbuf *b, int32_t v) { put(b, &v, 4); }
static void put_u64(wbuf *b, uint64_t v) { put(b, &v, 8); }
static void put_i64(wbuf *b, int64_t v) { put(b, &v, 8); }
static void put_f32(wbuf *b, float v) { put(b, &v, 4); }

/* One constant's bytes in the weights section. */
typedef struct blob {
    const void *ptr;
    size_t nbytes;
    uint64_t off; /* from the weights section start */
} blob;

typedef struct writer {
    wbuf strings, model, syms, profiles, graph, memplan, kernels;
    fwd_strmap str_index; /* string -> offset in strings */
    blob *blobs;
    size_t n_blobs, cap_blobs;
    size_t *slots; /* open addressing: blob index + 1, 0 empty */
    size_t slot_cap;
    uint64_t weights_size;
    uint32_t n_kernel_nodes;
    fwd_status st; /* the first error */
} writer;

static void fail(writer *w, fwd_status st)
{
    if (!w->st) w->st = st;
}

static void put_str(writer *w, wbuf *b, const char *s, size_t len)
{
    if (!s) {
        put_u32(b, 0);
        put_u32(b, EF_NULL_STRING);
        return;
    }
    if (len >= EF_NULL_STRING || w->strings.len + len + 1 > 0xFFFFFFFEu) {
        fail(w, fwd_errorf(FWD_ERR_UNSUPPORTED, "the engine's strings exceed 4 GiB"));
        return;
    }
    int off = -1;
    bool plain = strlen(s) == len; /* no embedded NULs: may be shared */
    if (plain) off = fwd_strmap_get(&w->str_index, s);
    if (off < 0) {
        off = (int)w->strings.len;
        put(&w->strings, s, len);
        put(&w->strings, "", 1);
        if (plain && fwd_strmap_put(&w->str_index, s, off) != 0) w->strings.oom = true;
    }
    put_u32(b, (uint32_t)off);
    put_u32(b, (uint32_t)len);
}

static void put_cstr(writer *w, wbuf *b, const char *s) { put_str(w, b, s, s ? strlen(s) : 0); }

static size_t ptr_hash(const void *p, size_t nbytes)
{
    uint64_t x = (uint64_t)(uintptr_t)p ^ ((uint64_t)nbytes << 17);
    x ^= x >> 29;
    x *= FWD_HASH_MUL1;
    x ^= x >> 32;
    return (size_t)x;
}

static bool grow_slots(writer *w)
{
    size_t ncap = w->slot_cap ? w->slot_cap * 2 : 256;
    size_t *ns = calloc(ncap, sizeof *ns);
    if (!ns) return false;
    for (size_t i = 0; i < w->n_blobs; i++) {
        size_t h = ptr_hash(w->blobs[i].ptr, w->blobs[i].nbytes) & (ncap - 1);
        while (ns[h]) h = (h + 1) & (ncap - 1);
        ns[h] = i + 1;
    }
    free(w->slots);
    w->slots = ns;
    w->slot_cap = ncap;
    return true;
}

/* A dataref for bytes at ptr; the same (ptr, nbytes) is stored once. */
static void put_data(writer *w, wbuf *b, const void *ptr, size_t nbytes)
{
    if (nbytes == 0) {
        put_u64(b, 0);
        put_u64(b, 0);
        return;
    }
    if (2 * (w->n_blobs + 1) > w->slot_cap && !grow_slots(w)) {
        b->oom = true;
        return;
    }
    size_t h = ptr_hash(ptr, nbytes) & (w->slot_cap - 1);
    for (; w->slots[h]; h = (h + 1) & (w->slot_cap - 1)) {
        const blob *bl = &w->blobs[w->slots[h] - 1];
        if (bl->ptr == ptr && bl->nbytes == nbytes) {
            put_u64(b, bl->off);
            put_u64(b, nbytes);
            return;
        }
    }
    if (w->n_blobs == w->cap_blobs) {
        size_t ncap = w->cap_blobs ? w->cap_blobs * 2 : 256;
        blob *nb = realloc(w->blobs, ncap * sizeof *nb);
        if (!nb) {
            b->oom = true;
            return;
        }
        w->blobs = nb;
        w->cap_blobs = ncap;
    }
    uint64_t off = (w->weights_size + ENGINE_FILE_WEIGHT_ALIGN - 1) & ~(uint64_t)(ENGINE_FILE_WEIGHT_ALIGN - 1);
    w->blobs[w->n_blobs] = (blob){ptr, nbytes, off};
    w->slots[h] = ++w->n_blobs;
    w->weights_size = off + nbytes;
    put_u64(b, off);
    put_u64(b, nbytes);
}

static void put_shape(wbuf *b, const ir_shape *s)
{
    int rank = s->rank < 0 ? -1 : s->rank;
    put_i32(b, rank);
    for (int i = 0; i < rank; i++) put_i64(b, s->dims[i]);
}

/* Data must cover the shape exactly, as the reader insists. */
static void check_data(writer *w, const char *what, const char *name, const ir_tensor *t)
{
    int64_t n = ir_shape_numel(&t->shape);
    size_t esz = fwd_dtype_size(t->dtype);
    if (n < 0 || esz == 0 || (size_t)n * esz != t->nbytes)
        fail(w, fwd_errorf(FWD_ERR_INTERNAL,
                           "%s '%s' has %zu bytes of data for dtype %s and %lld elements", what, name,
                           t->nbytes, fwd_dtype_name(t->dtype), (long long)n));
}

static void put_tensor(writer *w, wbuf *b, const ir_tensor *t, const char *attr_name)
{
    put_u32(b, (uint32_t)t->dtype);
    put_u32(b, t->data ? EF_HAS_DATA : 0);
    put_shape(b, &t->shape);
    if (t->data) {
        check_data(w, "tensor attribute", attr_name, t);
        put_data(w, b, t->data, t->nbytes);
    }
}

static void put_graph(writer *w, const ir_graph *g, int depth);

static void put_attr(writer *w, const ir_attr *a, int depth)
{
    wbuf *b = &w->graph;
    put_cstr(w, b, a->name);
    put_u32(b, (uint32_t)a->type);
    int n = a->n > 0 ? a->n : 0;
    switch (a->type) {
    case IR_ATTR_FLOAT: put_f32(b, a->f); break;
    case IR_ATTR_INT: put_i64(b, a->i); break;
    case IR_ATTR_STRING: put_str(w, b, a->s, a->s ? a->s_len : 0); break;
    case IR_ATTR_TENSOR:
        put_u32(b, a->t != NULL);
        if (a->t) put_tensor(w, b, a->t, a->name);
        break;
    case IR_ATTR_GRAPH:
        put_u32(b, a->g != NULL);
        if (a->g) put_graph(w, a->g, depth + 1);
        break;
    case IR_ATTR_FLOATS:
        put_u32(b, (uint32_t)n);
        if (n) put(b, a->floats, (size_t)n * sizeof(float));
        break;
    case IR_ATTR_INTS:
        put_u32(b, (uint32_t)n);
        if (n) put(b, a->ints, (size_t)n * sizeof(int64_t));
        break;
    case IR_ATTR_STRINGS:
        put_u32(b, (uint32_t)n);
        for (int i = 0; i < n; i++) put_cstr(w, b, a->strings[i]);
        break;
    case IR_ATTR_TENSORS:
        put_u32(b, (uint32_t)n);
        for (int i = 0; i < n; i++) put_tensor(w, b, &a->tensors[i], a->name);
        break;
    case IR_ATTR_GRAPHS:
        put_u32(b, (uint32_t)n);
        for (int i = 0; i < n; i++) put_graph(w, a->graphs[i], depth + 1);
        break;
    default: break;
    }
}

static void put_value(writer *w, const ir_value *v)
{
    wbuf *b = &w->graph;
    put_cstr(w, b, v->name);
    put_u32(b, (uint32_t)v->kind);
    uint32_t flags = (v->is_output ? EF_VALUE_OUTPUT : 0) | (v->t.data ? EF_HAS_DATA : 0) |
                     (v->quant ? EF_VALUE_QUANT : 0);
    put_u32(b, flags);
    put_u32(b, (uint32_t)v->t.dtype);
    put_shape(b, &v->t.shape);
    if (v->t.data) {
        check_data(w, "value", v->name, &v->t);
        put_data(w, b, v->t.data, v->t.nbytes);
    }
    if (v->quant) {
        const ir_quant *q = v->quant;
        int count = q->count > 0 ? q->count : 0;
        put_i32(b, q->axis);
        put_i32(b, count);
        put_u32(b, (q->scale ? EF_QUANT_SCALE : 0) | (q->zero_point ? EF_QUANT_ZERO : 0));
        if (q->scale) put_data(w, b, q->scale, (size_t)count * sizeof(float));
        if (q->zero_point) put_data(w, b, q->zero_point, (size_t)count * sizeof(int32_t));
    }
}

static void put_graph(writer *w, const ir_graph *g, int depth)
{
    if (depth > ENGINE_FILE_MAX_DEPTH) {
        fail(w, fwd_errorf(FWD_ERR_UNSUPPORTED, "subgraphs nest deeper than %d levels",
                           ENGINE_FILE_MAX_DEPTH));
        return;
    }
    wbuf *b = &w->graph;
    put_cstr(w, b, g->name);
    put_u32(b, (uint32_t)g->n_values);
    for (int i = 0; i < g->n_values; i++) put_value(w, &g->values[i]);
    put_u32(b, (uint32_t)g->n_inputs);
    for (int i = 0; i < g->n_inputs; i++) put_i32(b, g->inputs[i]);
    put_u32(b, (uint32_t)g->n_outputs);
    for (int i = 0; i < g->n_outputs; i++) put_i32(b, g->outputs[i]);
    put_u32(b, (uint32_t)g->n_nodes);
    for (int i = 0; i < g->n_nodes && !w->st; i++) {
        const ir_node *n = &g->nodes[i];
        put_u32(&w->kernels, 0); /* the default kernel */
        w->n_kernel_nodes++;
        put_cstr(w, b, n->op_type);
        put_cstr(w, b, n->name);
        put_cstr(w, b, n->domain ? n->domain : "");
        put_i32(b, n->opset);
        put_u32(b, (uint32_t)n->n_inputs);
        for (int j = 0; j < n->n_inputs; j++) put_i32(b, n->inputs[j]);
        put_u32(b, (uint32_t)n->n_outputs);
        for (int j = 0; j < n->n_outputs; j++) put_i32(b, n->outputs[j]);
        put_u32(b, (uint32_t)n->n_attrs);
        for (int a = 0; a < n->n_attrs; a++) put_attr(w, &n->attrs[a], depth);
    }
}

static void put_sections(writer *w, const struct fwd_engine *e)
{
    const ir_model *m = e->ir;
    const ir_graph *g = m->graph;

    put_cstr(w, &w->model, m->format ? m->format : "");
    put_cstr(w, &w->model, m->producer ? m->producer : "");
    put_i64(&w->model, m->ir_version);
    put_u32(&w->model, (uint32_t)m->n_opsets);
    for (int i = 0; i < m->n_opsets; i++) {
        put_cstr(w, &w->model, m->opsets[i].domain);
        put_i64(&w->model, m->opsets[i].version);
    }

    put_u32(&w->syms, (uint32_t)m->n_syms);
    for (int i = 0; i < m->n_syms; i++) put_cstr(w, &w->syms, m->sym_names[i]);

    /* one profile per main-graph input; rank -1 (any shape) when the
     * engine has none */
    put_u32(&w->profiles, (uint32_t)g->n_inputs);
    for (int i = 0; i < g->n_inputs; i++) {
        const engine_profile *p = e->profiles ? &e->profiles[i] : NULL;
        int rank = p ? p->rank : -1;
        put_i32(&w->profiles, rank);
        if (rank <= 0) continue;
        put(&w->profiles, p->min, (size_t)rank * 8);
        put(&w->profiles, p->opt, (size_t)rank * 8);
        put(&w->profiles, p->max, (size_t)rank * 8);
    }

    put_u32(&w->kernels, 0); /* the count, patched below */
    put_graph(w, g, 0);
    if (w->kernels.len >= 4) memcpy(w->kernels.p, &w->n_kernel_nodes, 4);

    const mem_plan *mp = &e->mem;
    int nv = (mp->offset && mp->capacity) ? mp->n_values : 0;
    put_u32(&w->memplan, (uint32_t)nv);
    put_u32(&w->memplan, 0);
    put_u64(&w->memplan, mp->arena_bytes);
    put_u64(&w->memplan, mp->unplanned_bytes);
    put_u64(&w->memplan, mp->scratch_bytes);
    for (int i = 0; i < nv; i++) {
        put_i64(&w->memplan, mp->offset[i]);
        put_i64(&w->memplan, mp->capacity[i]);
    }
}

static void header_str(unsigned char *hdr, size_t off, size_t cap, const char *s)
{
    size_t n = strlen(s);
    memcpy(hdr + off, s, n < cap - 1 ? n : cap - 1);
}

static const unsigned char zeros[ENGINE_FILE_WEIGHT_ALIGN];

/* fwrite + hash; false on a write error. */
static bool emit(FILE *f, fwd_hash_state *h, const void *p, size_t n)
{
    if (!n) return true;
    fwd_hash_update(h, p, n);
    return fwrite(p, 1, n, f) == n;
}

static bool emit_pad(FILE *f, fwd_hash_state *h, uint64_t *pos, uint64_t to)
{
    bool ok = emit(f, h, zeros, (size_t)(to - *pos));
    *pos = to;
    return ok;
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) & ~(a - 1); }

static fwd_status write_file(writer *w, const struct fwd_engine *e, const char *path)
{
    wbuf *bufs[EF_SEC_COUNT] = {&w->strings, &w->model,   &w->syms,    &w->profiles,
                                &w->graph,   &w->memplan, &w->kernels, NULL};
    uint64_t off[EF_SEC_COUNT], size[EF_SEC_COUNT];
    const uint32_t header_size = ENGINE_FILE_FIXED_HEADER + ENGINE_FILE_SECTION_ENTRY * EF_SEC_COUNT;
    uint64_t pos = header_size;
    for (int s = 0; s < EF_SEC_COUNT; s++) {
        bool weights = s == EF_SEC_WEIGHTS - 1;
        pos = align_up(pos, weights ? ENGINE_FILE_WEIGHT_ALIGN : 8);
        off[s] = pos;
        size[s] = weights ? w->weights_size : bufs[s]->len;
        pos += size[s];
    }
    const uint64_t file_size = pos;

    unsigned char hdr[ENGINE_FILE_FIXED_HEADER + ENGINE_FILE_SECTION_ENTRY * EF_SEC_COUNT];
    memset(hdr, 0, sizeof hdr);
    memcpy(hdr, ENGINE_FILE_MAGIC, 8);
    uint32_t version = ENGINE_FILE_VERSION, n_sec = EF_SEC_COUNT;
    uint32_t mode = (uint32_t)e->mode, level = (uint32_t)e->opt_level;
    uint64_t ws = e->workspace;
    memcpy(hdr + EF_OFF_VERSION, &version, 4);
    memcpy(hdr + EF_OFF_HEADER_SIZE, &header_size, 4);
    memcpy(hdr + EF_OFF_FILE_SIZE, &file_size, 8);
    header_str(hdr, EF_OFF_PRODUCER, EF_LEN_PRODUCER, FWD_VERSION_STRING);
    header_str(hdr, EF_OFF_DEVICE, EF_LEN_DEVICE, "cpu");
    header_str(hdr, EF_OFF_ARCH, EF_LEN_ARCH, engine_file_arch());
    header_str(hdr, EF_OFF_ISA, EF_LEN_ISA, engine_file_isa());
    memcpy(hdr + EF_OFF_MODE, &mode, 4);
    memcpy(hdr + EF_OFF_OPT_LEVEL, &level, 4);
    memcpy(hdr + EF_OFF_WORKSPACE, &ws, 8);
    memcpy(hdr + EF_OFF_N_SECTIONS, &n_sec, 4);
    for (uint32_t s = 0; s < EF_SEC_COUNT; s++) {
        unsigned char *ent = hdr + ENGINE_FILE_FIXED_HEADER + ENGINE_FILE_SECTION_ENTRY * s;
        uint32_t kind = s + 1;
        memcpy(ent, &kind, 4);
        memcpy(ent + 8, &off[s], 8);
        memcpy(ent + 16, &size[s], 8);
    }

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "saving engine '%s': out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        fwd_status st = fwd_errorf(FWD_ERR_IO, "saving engine '%s': cannot create '%s': %s", path,
                                   tmp, strerror(errno));
        free(tmp);
        return st;
    }
    fwd_hash_state h;
    fwd_hash_init(&h, 0);
    fwd_hash_update(&h, hdr, EF_OFF_CHECKSUM);
    fwd_hash_update(&h, hdr + EF_OFF_CHECKSUM + 8, sizeof hdr - EF_OFF_CHECKSUM - 8);
    bool ok = fwrite(hdr, 1, sizeof hdr, f) == sizeof hdr;
    pos = sizeof hdr;
    for (int s = 0; s < EF_SEC_COUNT - 1 && ok; s++) {
        ok = emit_pad(f, &h, &pos, off[s]) && emit(f, &h, bufs[s]->p, bufs[s]->len);
        pos += bufs[s]->len;
    }
    ok = ok && emit_pad(f, &h, &pos, off[EF_SEC_WEIGHTS - 1]);
    const uint64_t wbase = off[EF_SEC_WEIGHTS - 1];
    for (size_t i = 0; i < w->n_blobs && ok; i++) {
        ok = emit_pad(f, &h, &pos, wbase + w->blobs[i].off) &&
             emit(f, &h, w->blobs[i].ptr, w->blobs[i].nbytes);
        pos += w->blobs[i].nbytes;
    }
    uint64_t sum = fwd_hash_final(&h);
    ok = ok && pos == file_size && fseek(f, EF_OFF_CHECKSUM, SEEK_SET) == 0 &&
         fwrite(&sum, 1, 8, f) == 8;
    ok = ok && fflush(f) == 0;
    int err = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        err = errno;
    }
    fwd_status st = FWD_OK;
    if (!ok) {
        st = fwd_errorf(FWD_ERR_IO, "saving engine '%s': %s", path, strerror(err));
        remove(tmp);
    }
    free(tmp);
    return st;
}

fwd_status engine_file_write(const struct fwd_engine *e, const char *path)
{
    if (!e->ir || !e->ir->graph)
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "saving engine '%s': the engine has no graph", path);
    writer w;
    memset(&w, 0, sizeof w);
    put_sections(&w, e);
    wbuf *bufs[] = {&w.strings, &w.model, &w.syms, &w.profiles, &w.graph, &w.memplan, &w.kernels};
    bool oom = false;
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) oom |= bufs[i]->oom;
    fwd_status st = w.st;
    if (!st && oom) st = fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "saving engine '%s': out of memory", path);
    else if (st) st = fwd_error_prefix(st, "saving engine '%s'", path);
    if (!st) st = write_file(&w, e, path);
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]->p);
    fwd_strmap_free(&w.str_index);
    free(w.blobs);
    free(w.slots);
    return st;
}

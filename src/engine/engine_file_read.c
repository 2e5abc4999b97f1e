/*
 * Engine files: rebuild an engine from a file image (format:
 * engine/engine_file.h). Every count, offset, id and enum is checked
 * against its bounds before use; errors name the section and byte offset.
 * Strings and constant data point into the image, which the engine's model
 * owns on success.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_file.h"
#include "util/error.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "engine files are read with little-endian loads"
#endif

typedef struct loader {
    const unsigned char *file;
    size_t size;
    const char *label;
    const unsigned char *strings;
    size_t strings_size;
    const unsigned char *weights;
    uint64_t weights_size;
    ir_model *m;
    uint32_t n_nodes; /* over all graphs, for the kernel choices */
} loader;

/* A cursor over one section: absolute positions in the file. */
typedef struct rd {
    loader *L;
    size_t pos, end;
    const char *sec;
} rd;

static fwd_status bad_at(const loader *L, const char *sec, size_t pos, const char *fmt, ...)
    FWD_PRINTF(4, 5);

static fwd_status bad_at(const loader *L, const char *sec, size_t pos, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fwd_errorf(FWD_ERR_PARSE, "engine file '%s': %s section, byte %zu: %s", L->label, sec, pos,
                      msg);
}

#define BAD(r, at, ...) bad_at((r)->L, (r)->sec, (at), __VA_ARGS__)

static fwd_status take(rd *r, void *dst, size_t n)
{
    if (r->end - r->pos < n) {
        memset(dst, 0, n); /* defined contents on every path */
        BAD(r, r->pos, "truncated record (%zu bytes needed, %zu left)", n, r->end - r->pos);
        return FWD_ERR_PARSE;
    }
    memcpy(dst, r->L->file + r->pos, n);
    r->pos += n;
    return FWD_OK;
}

static fwd_status rd_u32(rd *r, uint32_t *v) { return take(r, v, 4); }
static fwd_status rd_i32(rd *r, int32_t *v) { return take(r, v, 4); }
static fwd_status rd_u64(rd *r, uint64_t *v) { return take(r, v, 8); }
static fwd_status rd_i64(rd *r, int64_t *v) { return take(r, v, 8); }

/* A count of records of at least min_bytes each that must fit in what is
 * left (so no allocation is sized by a corrupted count). */
static fwd_status rd_count(rd *r, size_t min_bytes, const char *what, int *out)
{
    size_t at = r->pos;
    uint32_t n;
    FWD_TRY(rd_u32(r, &n));
    if (n > INT32_MAX / 2 || (uint64_t)n * min_bytes > r->end - r->pos)
        return BAD(r, at, "%s count %u does not fit in the %zu bytes left", what, n, r->end - r->pos);
    *out = (int)n;
    return FWD_OK;
}

static fwd_status rd_str_len(rd *r, const char **s, size_t *len)
{
    size_t at = r->pos;
    uint32_t off, n;
    *s = NULL;
    *len = 0;
    FWD_TRY(rd_u32(r, &off));
    FWD_TRY(rd_u32(r, &n));
    const loader *L = r->L;
    if (n == EF_NULL_STRING && off == 0) {
        *s = NULL;
        *len = 0;
        return FWD_OK;
    }
    if (off >= L->strings_size || n >= L->strings_size - off || L->strings[off + n] != '\0')
        return BAD(r, at, "string [%u, +%u) is outside the strings section (%zu bytes) or not terminated",
                   off, n, L->strings_size);
    *s = (const char *)L->strings + off;
    *len = n;
    return FWD_OK;
}

static fwd_status rd_str(rd *r, const char **s)
{
    size_t len;
    return rd_str_len(r, s, &len);
}

/* A string that may not be NULL. */
static fwd_status rd_name(rd *r, const char *what, const char **s)
{
    size_t at = r->pos;
    FWD_TRY(rd_str(r, s));
    if (!*s) return BAD(r, at, "%s has no string", what);
    return FWD_OK;
}

static bool dtype_ok(uint32_t d)
{
    switch (d) {
    case FWD_DTYPE_UNDEFINED: case FWD_FLOAT32: case FWD_UINT8: case FWD_INT8: case FWD_UINT16:
    case FWD_INT16: case FWD_INT32: case FWD_INT64: case FWD_BOOL: case FWD_FLOAT16:
    case FWD_FLOAT64: case FWD_UINT32: case FWD_UINT64: case FWD_BFLOAT16:
        return true;
    default:
        return false;
    }
}

static fwd_status rd_dtype(rd *r, fwd_dtype *out)
{
    size_t at = r->pos;
    uint32_t d;
    *out = FWD_DTYPE_UNDEFINED;
    FWD_TRY(rd_u32(r, &d));
    if (!dtype_ok(d)) return BAD(r, at, "unknown dtype %u", d);
    *out = (fwd_dtype)d;
    return FWD_OK;
}

static fwd_status rd_shape(rd *r, ir_shape *s)
{
    size_t at = r->pos;
    int32_t rank;
    FWD_TRY(rd_i32(r, &rank));
    if (rank < -1 || rank > IR_MAX_RANK) return BAD(r, at, "rank %d out of range [-1, %d]", rank, IR_MAX_RANK);
    memset(s, 0, sizeof *s);
    s->rank = rank;
    for (int i = 0; i < rank; i++) {
        at = r->pos;
        FWD_TRY(rd_i64(r, &s->dims[i]));
        int64_t d = s->dims[i];
        if (d < -1 && ir_dim_sym(d) >= r->L->m->n_syms)
            return BAD(r, at, "dimension %lld names symbol %d; the file has %d", (long long)d,
                       ir_dim_sym(d), r->L->m->n_syms);
    }
    return FWD_OK;
}

/* A dataref of exactly want bytes (or any size when want is SIZE_MAX). */
static fwd_status rd_data(rd *r, size_t want, void **data, size_t *nbytes)
{
    size_t at = r->pos;
    uint64_t off, n;
    FWD_TRY(rd_u64(r, &off));
    FWD_TRY(rd_u64(r, &n));
    const loader *L = r->L;
    if (off % ENGINE_FILE_WEIGHT_ALIGN || off > L->weights_size || n > L->weights_size - off)
        return BAD(r, at, "data [%llu, +%llu) is misaligned or outside the weights section (%llu bytes)",
                   (unsigned long long)off, (unsigned long long)n, (unsigned long long)L->weights_size);
    if (want != SIZE_MAX && n != want)
        return BAD(r, at, "data has %llu bytes; its shape and dtype need %zu", (unsigned long long)n, want);
    *data = (void *)(L->weights + off); /* read-only mapping: constants are never written */
    *nbytes = (size_t)n;
    return FWD_OK;
}

/* Bytes a tensor with data must have: the shape must be known. */
static fwd_status data_bytes(rd *r, size_t at, const ir_tensor *t, size_t *out)
{
    size_t esz = fwd_dtype_size(t->dtype);
    *out = 0;
    bool ok = esz != 0 && t->shape.rank >= 0;
    /* the element count without overflow: it must fit the weights */
    uint64_t n = 1, limit = esz ? r->L->weights_size / esz : 0;
    for (int i = 0; ok && i < t->shape.rank; i++) {
        int64_t d = t->shape.dims[i];
        ok = d >= 0;
        if (ok && d == 0) n = 0;
        else if (ok && n) {
            ok = (uint64_t)d <= limit / n;
            n *= (uint64_t)d;
        }
    }
    if (!ok || n > limit) return BAD(r, at, "a tensor with data needs a known shape and dtype that fit the weights");
    *out = (size_t)n * esz;
    return FWD_OK;
}

static fwd_status rd_tensor(rd *r, ir_tensor *t)
{
    size_t at = r->pos;
    uint32_t flags;
    memset(t, 0, sizeof *t);
    FWD_TRY(rd_dtype(r, &t->dtype));
    FWD_TRY(rd_u32(r, &flags));
    if (flags & ~EF_HAS_DATA) return BAD(r, at + 4, "unknown tensor flags 0x%x", flags);
    FWD_TRY(rd_shape(r, &t->shape));
    if (flags & EF_HAS_DATA) {
        size_t want;
        FWD_TRY(data_bytes(r, at, t, &want));
        FWD_TRY(rd_data(r, want, &t->data, &t->nbytes));
    }
    return FWD_OK;
}

static fwd_status oom(void) { return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory loading an engine"); }

static fwd_status rd_graph(rd *r, ir_graph *parent, int depth, ir_graph **out);

static fwd_status rd_attr(rd *r, ir_graph *g, int depth, ir_attr *a)
{
    ir_model *m = r->L->m;
    memset(a, 0, sizeof *a);
    FWD_TRY(rd_name(r, "attribute name", &a->name));
    size_t at = r->pos;
    uint32_t type, present;
    FWD_TRY(rd_u32(r, &type));
    a->type = (ir_attr_type)type;
    int n = 0;
    switch (type) {
    case IR_ATTR_UNDEFINED: return FWD_OK;
    case IR_ATTR_FLOAT: return take(r, &a->f, 4);
    case IR_ATTR_INT: return rd_i64(r, &a->i);
    case IR_ATTR_STRING: return rd_str_len(r, &a->s, &a->s_len);
    case IR_ATTR_TENSOR:
    case IR_ATTR_GRAPH:
        at = r->pos;
        FWD_TRY(rd_u32(r, &present));
        if (present > 1) return BAD(r, at, "attribute '%s': presence flag %u", a->name, present);
        if (!present) return FWD_OK;
        if (type == IR_ATTR_GRAPH) return rd_graph(r, g, depth + 1, &a->g);
        a->t = ir_alloc(m, sizeof *a->t);
        if (!a->t) return oom();
        return rd_tensor(r, a->t);
    case IR_ATTR_FLOATS:
        FWD_TRY(rd_count(r, 4, "float", &n));
        a->n = n;
        a->floats = ir_alloc(m, (size_t)n * 4 + 4);
        if (!a->floats) return oom();
        return take(r, a->floats, (size_t)n * 4);
    case IR_ATTR_INTS:
        FWD_TRY(rd_count(r, 8, "int", &n));
        a->n = n;
        a->ints = ir_alloc(m, (size_t)n * 8 + 8);
        if (!a->ints) return oom();
        return take(r, a->ints, (size_t)n * 8);
    case IR_ATTR_STRINGS:
        FWD_TRY(rd_count(r, 8, "string", &n));
        a->n = n;
        a->strings = ir_alloc(m, ((size_t)n + 1) * sizeof *a->strings);
        if (!a->strings) return oom();
        for (int i = 0; i < n; i++) FWD_TRY(rd_str(r, &a->strings[i]));
        return FWD_OK;
    case IR_ATTR_TENSORS:
        FWD_TRY(rd_count(r, 12, "tensor", &n));
        a->n = n;
        a->tensors = ir_alloc(m, ((size_t)n + 1) * sizeof *a->tensors);
        if (!a->tensors) return oom();
        for (int i = 0; i < n; i++) FWD_TRY(rd_tensor(r, &a->tensors[i]));
        return FWD_OK;
    case IR_ATTR_GRAPHS:
        FWD_TRY(rd_count(r, 24, "graph", &n));
        a->n = n;
        a->graphs = ir_alloc(m, ((size_t)n + 1) * sizeof *a->graphs);
        if (!a->graphs) return oom();
        for (int i = 0; i < n; i++) FWD_TRY(rd_graph(r, g, depth + 1, &a->graphs[i]));
        return FWD_OK;
    default:
        return BAD(r, at, "attribute '%s' has unknown type %u", a->name, type);
    }
}

static fwd_status rd_value(rd *r, ir_graph *g)
{
    size_t at = r->pos;
    const char *name;
    uint32_t kind, flags;
    fwd_dtype dtype;
    ir_shape shape;
    FWD_TRY(rd_name(r, "value name", &name));
    FWD_TRY(rd_u32(r, &kind));
    FWD_TRY(rd_u32(r, &flags));
    if (kind > IR_VALUE_OUTER) return BAD(r, at + 8, "value '%s': unknown kind %u", name, kind);
    if (flags & ~(EF_VALUE_OUTPUT | EF_HAS_DATA | EF_VALUE_QUANT))
        return BAD(r, at + 12, "value '%s': unknown flags 0x%x", name, flags);
    if (kind == IR_VALUE_CONST && !(flags & EF_HAS_DATA))
        return BAD(r, at + 12, "constant '%s' has no data", name);
    FWD_TRY(rd_dtype(r, &dtype));
    FWD_TRY(rd_shape(r, &shape));
    int id;
    fwd_status st = ir_graph_add_value(g, name, (ir_value_kind)kind, dtype, &shape, &id);
    if (st) return fwd_error_prefix(FWD_ERR_PARSE, "engine file '%s': graph section, byte %zu", r->L->label, at);
    ir_value *v = &g->values[id];
    v->is_output = (flags & EF_VALUE_OUTPUT) != 0;
    if (flags & EF_HAS_DATA) {
        size_t want;
        FWD_TRY(data_bytes(r, at, &v->t, &want));
        FWD_TRY(rd_data(r, want, &v->t.data, &v->t.nbytes));
    }
    if (flags & EF_VALUE_QUANT) {
        ir_quant *q = ir_alloc(r->L->m, sizeof *q);
        if (!q) return oom();
        int32_t axis, count;
        uint32_t qflags;
        size_t qat = r->pos;
        FWD_TRY(rd_i32(r, &axis));
        FWD_TRY(rd_i32(r, &count));
        FWD_TRY(rd_u32(r, &qflags));
        if (axis < -1 || axis >= IR_MAX_RANK || count < 0 || (qflags & ~(EF_QUANT_SCALE | EF_QUANT_ZERO)))
            return BAD(r, qat, "value '%s': bad quantisation record (axis %d, count %d, flags 0x%x)", name,
                       axis, count, qflags);
        q->axis = axis;
        q->count = count;
        void *p;
        size_t nb;
        if (qflags & EF_QUANT_SCALE) {
            FWD_TRY(rd_data(r, (size_t)count * 4, &p, &nb));
            q->scale = p;
        }
        if (qflags & EF_QUANT_ZERO) {
            FWD_TRY(rd_data(r, (size_t)count * 4, &p, &nb));
            q->zero_point = p;
        }
        g->values[id].quant = q;
    }
    return FWD_OK;
}

static fwd_status rd_ids(rd *r, const ir_graph *g, const char *what, int **out, int *count)
{
    int n;
    FWD_TRY(rd_count(r, 4, what, &n));
    int *ids = malloc(sizeof(int) * ((size_t)n + 1));
    if (!ids) return oom();
    for (int i = 0; i < n; i++) {
        size_t at = r->pos;
        int32_t id;
        fwd_status st = rd_i32(r, &id);
        if (!st && (id < -1 || id >= g->n_values))
            st = BAD(r, at, "%s %d: value id %d out of range [-1, %d)", what, i, id, g->n_values);
        if (st) {
            free(ids);
            return st;
        }
        ids[i] = id;
    }
    *out = ids;
    *count = n;
    return FWD_OK;
}

static fwd_status rd_node(rd *r, ir_graph *g, int depth)
{
    size_t at = r->pos;
    const char *op, *name, *domain;
    int32_t opset;
    FWD_TRY(rd_name(r, "op type", &op));
    FWD_TRY(rd_name(r, "node name", &name));
    FWD_TRY(rd_name(r, "node domain", &domain));
    FWD_TRY(rd_i32(r, &opset));
    r->L->n_nodes++;
    int *ins = NULL, *outs = NULL, n_in = 0, n_out = 0, n_attrs = 0;
    fwd_status st = rd_ids(r, g, "node input", &ins, &n_in);
    if (!st) st = rd_ids(r, g, "node output", &outs, &n_out);
    if (!st) st = rd_count(r, 12, "attribute", &n_attrs);
    ir_attr *attrs = NULL;
    if (!st) {
        attrs = ir_alloc(r->L->m, sizeof(ir_attr) * ((size_t)n_attrs + 1));
        if (!attrs) st = oom();
    }
    for (int a = 0; !st && a < n_attrs; a++) st = rd_attr(r, g, depth, &attrs[a]);
    int idx = -1;
    if (!st) {
        for (int i = 0; i < n_out; i++)
            if (outs[i] >= 0 && g->values[outs[i]].producer >= 0) {
                st = BAD(r, at, "node '%s': value '%s' already has a producer", name, g->values[outs[i]].name);
                break;
            }
    }
    if (!st) st = ir_graph_add_node(g, op, name, ins, n_in, outs, n_out, attrs, n_attrs, &idx);
    free(ins);
    free(outs);
    if (st) return st;
    g->nodes[idx].domain = domain;
    g->nodes[idx].opset = opset;
    return FWD_OK;
}

static fwd_status rd_graph(rd *r, ir_graph *parent, int depth, ir_graph **out)
{
    size_t at = r->pos;
    if (depth > ENGINE_FILE_MAX_DEPTH)
        return BAD(r, at, "subgraphs nest deeper than %d levels", ENGINE_FILE_MAX_DEPTH);
    const char *name;
    FWD_TRY(rd_str(r, &name));
    ir_graph *g = ir_graph_new(r->L->m, parent, name ? name : "");
    if (!g) return oom();
    *out = g;
    int n_values, n_nodes;
    /* a value record is at least 24 bytes, a node record 40 */
    FWD_TRY(rd_count(r, 24, "value", &n_values));
    for (int i = 0; i < n_values; i++) FWD_TRY(rd_value(r, g));
    FWD_TRY(rd_ids(r, g, "graph input", &g->inputs, &g->n_inputs));
    FWD_TRY(rd_ids(r, g, "graph output", &g->outputs, &g->n_outputs));
    for (int i = 0; i < g->n_inputs; i++)
        if (g->inputs[i] < 0) return BAD(r, at, "graph '%s': input %d is absent", g->name, i);
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] < 0) return BAD(r, at, "graph '%s': output %d is absent", g->name, i);
    FWD_TRY(rd_count(r, 40, "node", &n_nodes));
    for (int i = 0; i < n_nodes; i++) FWD_TRY(rd_node(r, g, depth));
    return FWD_OK;
}

/* ---- sections ---- */

static fwd_status section_end(rd *r)
{
    if (r->pos != r->end) return BAD(r, r->pos, "%zu unread bytes at the end", r->end - r->pos);
    return FWD_OK;
}

static fwd_status rd_model(rd *r)
{
    ir_model *m = r->L->m;
    const char *format, *producer;
    FWD_TRY(rd_name(r, "format", &format));
    FWD_TRY(rd_name(r, "producer", &producer));
    m->format = format;
    m->producer = producer;
    FWD_TRY(rd_i64(r, &m->ir_version));
    int n;
    FWD_TRY(rd_count(r, 16, "opset", &n));
    m->opsets = ir_alloc(m, sizeof(ir_opset) * ((size_t)n + 1));
    if (!m->opsets) return oom();
    for (int i = 0; i < n; i++) {
        FWD_TRY(rd_name(r, "opset domain", &m->opsets[i].domain));
        FWD_TRY(rd_i64(r, &m->opsets[i].version));
    }
    m->n_opsets = n;
    return section_end(r);
}

static fwd_status rd_symbols(rd *r)
{
    int n;
    FWD_TRY(rd_count(r, 8, "symbol", &n));
    for (int i = 0; i < n; i++) {
        size_t at = r->pos;
        const char *s;
        FWD_TRY(rd_name(r, "symbol", &s));
        int64_t d = ir_model_sym(r->L->m, s);
        if (d == IR_DIM_UNKNOWN) return oom();
        if (d != ir_dim_from_sym(i)) return BAD(r, at, "symbol '%s' is listed twice", s);
    }
    return section_end(r);
}

static fwd_status rd_profiles(rd *r, struct fwd_engine *e)
{
    const ir_graph *g = e->ir->graph;
    size_t at = r->pos;
    int n;
    FWD_TRY(rd_count(r, 4, "profile", &n));
    if (n != g->n_inputs) return BAD(r, at, "%d profiles for %d graph inputs", n, g->n_inputs);
    e->profiles = calloc((size_t)n + 1, sizeof *e->profiles);
    if (!e->profiles) return oom();
    for (int i = 0; i < n; i++) {
        engine_profile *p = &e->profiles[i];
        const ir_value *v = &g->values[g->inputs[i]];
        at = r->pos;
        int32_t rank;
        FWD_TRY(rd_i32(r, &rank));
        if (rank < -1 || rank > FWD_MAX_DIMS || (rank >= 0 && v->t.shape.rank >= 0 && rank != v->t.shape.rank))
            return BAD(r, at, "profile of input '%s' has rank %d; the input has rank %d", v->name, rank,
                       v->t.shape.rank);
        p->rank = rank;
        if (rank < 0) continue;
        FWD_TRY(take(r, p->min, (size_t)rank * 8));
        FWD_TRY(take(r, p->opt, (size_t)rank * 8));
        FWD_TRY(take(r, p->max, (size_t)rank * 8));
        for (int d = 0; d < rank; d++)
            if (p->min[d] < 0 || p->min[d] > p->opt[d] || p->max[d] < -1 || (p->max[d] >= 0 && p->opt[d] > p->max[d]))
                return BAD(r, at, "profile of input '%s', dimension %d: min %lld, opt %lld, max %lld out of order",
                           v->name, d, (long long)p->min[d], (long long)p->opt[d], (long long)p->max[d]);
    }
    return section_end(r);
}

static fwd_status rd_memplan(rd *r, struct fwd_engine *e)
{
    const ir_graph *g = e->ir->graph;
    size_t at = r->pos;
    int n;
    uint32_t reserved;
    uint64_t arena, unplanned, scratch;
    FWD_TRY(rd_count(r, 16, "memory plan value", &n));
    FWD_TRY(rd_u32(r, &reserved));
    FWD_TRY(rd_u64(r, &arena));
    FWD_TRY(rd_u64(r, &unplanned));
    FWD_TRY(rd_u64(r, &scratch));
    /* the kernels' workspace is allocated per context: bound it */
    if (scratch > ((uint64_t)1 << 36))
        return BAD(r, at + 24, "kernel workspace of %llu bytes is out of range", (unsigned long long)scratch);
    const size_t at_arena = at + 8;
    if (n != 0 && n != g->n_values) return BAD(r, at, "a plan of %d values for a graph of %d", n, g->n_values);
    if (reserved) return BAD(r, at + 4, "reserved field is %u", reserved);
    if (arena > (uint64_t)INT64_MAX || unplanned > (uint64_t)INT64_MAX)
        return BAD(r, at + 8, "arena size %llu out of range", (unsigned long long)arena);
    mem_plan *mp = &e->mem;
    mp->arena_bytes = (size_t)arena;
    mp->unplanned_bytes = (size_t)unplanned;
    mp->scratch_bytes = (size_t)scratch;
    if (n == 0) {
        if (arena) return BAD(r, at_arena, "an arena of %llu bytes without a plan", (unsigned long long)arena);
        return section_end(r);
    }
    mp->offset = malloc(sizeof(int64_t) * (size_t)n);
    mp->capacity = malloc(sizeof(int64_t) * (size_t)n);
    if (!mp->offset || !mp->capacity) return oom();
    mp->n_values = n;
    uint64_t max_end = 0;
    for (int i = 0; i < n; i++) {
        at = r->pos;
        int64_t off, cap;
        FWD_TRY(rd_i64(r, &off));
        FWD_TRY(rd_i64(r, &cap));
        if (off < -1 || cap < 0 || (off >= 0 && ((uint64_t)off > arena || (uint64_t)cap > arena - (uint64_t)off)) ||
            (off > 0 && off % 64))
            return BAD(r, at, "value %d: range [%lld, +%lld) misaligned or outside the %llu-byte arena", i, (long long)off,
                       (long long)cap, (unsigned long long)arena);
        mp->offset[i] = off;
        mp->capacity[i] = cap;
        if (off >= 0 && (uint64_t)(off + cap) > max_end) max_end = (uint64_t)(off + cap);
    }
    /* an arena bigger than its ranges would only waste memory per context
     * (or fail a huge allocation): allow the planner's alignment slack */
    uint64_t slack = 4096;
    if (arena > max_end + slack)
        return BAD(r, at_arena, "arena of %llu bytes for planned ranges ending at %llu", (unsigned long long)arena,
                   (unsigned long long)max_end);
    return section_end(r);
}

static fwd_status rd_kernels(rd *r)
{
    size_t at = r->pos;
    int n;
    FWD_TRY(rd_count(r, 4, "kernel choice", &n));
    if ((uint32_t)n != r->L->n_nodes)
        return BAD(r, at, "%d kernel choices for %u nodes", n, r->L->n_nodes);
    for (int i = 0; i < n; i++) {
        at = r->pos;
        uint32_t k;
        FWD_TRY(rd_u32(r, &k));
        if (k != 0)
            return fwd_errorf(FWD_ERR_UNSUPPORTED,
                              "engine file '%s': kernel choices section, byte %zu: kernel choice %u of node %d "
                              "is unknown to this library",
                              r->L->label, at, k, i);
    }
    return section_end(r);
}

/* Every node of every graph must have a kernel on this backend. */
static fwd_status check_kernels(const fwd_backend *be, const loader *L, const ir_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = &g->nodes[i];
        if (!be->supports_node(n, NULL, 0))
            return fwd_errorf(FWD_ERR_UNSUPPORTED, "engine file '%s': no %s kernel for %s (node '%s')",
                              L->label, be->name, n->op_type, n->name);
        for (int a = 0; a < n->n_attrs; a++) {
            const ir_attr *at = &n->attrs[a];
            if (at->type == IR_ATTR_GRAPH && at->g) FWD_TRY(check_kernels(be, L, at->g));
            if (at->type == IR_ATTR_GRAPHS)
                for (int k = 0; k < at->n; k++) FWD_TRY(check_kernels(be, L, at->graphs[k]));
        }
    }
    return FWD_OK;
}

/* ---- header ---- */

static uint32_t hdr_u32(const unsigned char *p, size_t off)
{
    uint32_t v;
    memcpy(&v, p + off, 4);
    return v;
}

static uint64_t hdr_u64(const unsigned char *p, size_t off)
{
    uint64_t v;
    memcpy(&v, p + off, 8);
    return v;
}

/* A NUL-padded header string into buf; false when it fills its field. */
static bool hdr_str(const unsigned char *p, size_t off, size_t len, char *buf)
{
    size_t n = strnlen((const char *)p + off, len);
    memcpy(buf, p + off, n);
    buf[n] = '\0';
    return n < len;
}

static fwd_status hdr_bad(const loader *L, size_t pos, const char *what)
{
    return fwd_errorf(FWD_ERR_PARSE, "engine file '%s': header, byte %zu: %s", L->label, pos, what);
}

/* The device, architecture and ISA features must be this machine's. */
static fwd_status check_target(const loader *L)
{
    const unsigned char *f = L->file;
    char device[EF_LEN_DEVICE + 1], arch[EF_LEN_ARCH + 1], isa[EF_LEN_ISA + 1];
    if (!hdr_str(f, EF_OFF_DEVICE, EF_LEN_DEVICE, device)) return hdr_bad(L, EF_OFF_DEVICE, "unterminated device name");
    if (!hdr_str(f, EF_OFF_ARCH, EF_LEN_ARCH, arch)) return hdr_bad(L, EF_OFF_ARCH, "unterminated architecture name");
    if (!hdr_str(f, EF_OFF_ISA, EF_LEN_ISA, isa)) return hdr_bad(L, EF_OFF_ISA, "unterminated ISA feature list");
    if (strcmp(device, "cpu") != 0)
        return fwd_errorf(FWD_ERR_UNSUPPORTED, "engine file '%s' was built for device '%s'; this library runs on 'cpu'",
                          L->label, device);
    if (strcmp(arch, engine_file_arch()) != 0)
        return fwd_errorf(FWD_ERR_UNSUPPORTED,
                          "engine file '%s' was built for architecture '%s'; this machine is '%s'", L->label, arch,
                          engine_file_arch());
    for (char *tok = isa; *tok;) {
        char *comma = strchr(tok, ',');
        if (comma) *comma = '\0';
        if (*tok && engine_file_cpu_has(tok) != 1)
            return fwd_errorf(FWD_ERR_UNSUPPORTED,
                              "engine file '%s' needs the ISA feature '%s'%s; this CPU (%s: %s available to this "
                              "library) lacks it",
                              L->label, tok, engine_file_cpu_has(tok) < 0 ? " (unknown to this library)" : "",
                              engine_file_arch(), engine_file_isa());
        if (!comma) break;
        tok = comma + 1;
    }
    return FWD_OK;
}

typedef struct section {
    uint64_t off, size;
    bool seen;
} section;

static fwd_status read_header(loader *L, struct fwd_engine *e, section *secs)
{
    const unsigned char *f = L->file;
    if (L->size < 8 || memcmp(f, ENGINE_FILE_MAGIC, 8) != 0)
        return fwd_errorf(FWD_ERR_PARSE, "engine file '%s': not an engine file (%s)", L->label,
                          L->size < 8 ? "too short for the magic" : "bad magic");
    if (L->size < EF_OFF_VERSION + 4) return hdr_bad(L, L->size, "truncated before the format version");
    uint32_t version = hdr_u32(f, EF_OFF_VERSION);
    if (version > ENGINE_FILE_VERSION)
        return fwd_errorf(FWD_ERR_UNSUPPORTED, "engine file '%s': engine format version %u is newer than this library's %u",
                          L->label, version, ENGINE_FILE_VERSION);
    if (version == 0) return hdr_bad(L, EF_OFF_VERSION, "format version 0");
    if (L->size < ENGINE_FILE_FIXED_HEADER) return hdr_bad(L, L->size, "truncated header");
    FWD_TRY(check_target(L));
    uint64_t file_size = hdr_u64(f, EF_OFF_FILE_SIZE);
    if (file_size != L->size) {
        char msg[128];
        snprintf(msg, sizeof msg, "the header says the file has %llu bytes; it has %zu (%s)",
                 (unsigned long long)file_size, L->size, file_size > L->size ? "truncated" : "extra bytes at the end");
        return hdr_bad(L, EF_OFF_FILE_SIZE, msg);
    }
    uint64_t stored = hdr_u64(f, EF_OFF_CHECKSUM), sum = engine_file_checksum(f, L->size);
    if (stored != sum)
        return fwd_errorf(FWD_ERR_PARSE, "engine file '%s': checksum mismatch (stored %016llx, computed %016llx)",
                          L->label, (unsigned long long)stored, (unsigned long long)sum);

    char producer[EF_LEN_PRODUCER + 1];
    if (!hdr_str(f, EF_OFF_PRODUCER, EF_LEN_PRODUCER, producer))
        return hdr_bad(L, EF_OFF_PRODUCER, "unterminated producer version");
    uint32_t mode = hdr_u32(f, EF_OFF_MODE), level = hdr_u32(f, EF_OFF_OPT_LEVEL);
    if (mode > FWD_MODE_INT8_CALIB) return hdr_bad(L, EF_OFF_MODE, "unknown infer mode");
    if (level > 1) return hdr_bad(L, EF_OFF_OPT_LEVEL, "unknown optimization level");
    uint64_t ws = hdr_u64(f, EF_OFF_WORKSPACE);
    if (ws > SIZE_MAX) return hdr_bad(L, EF_OFF_WORKSPACE, "workspace out of range");
    e->mode = (fwd_mode)mode;
    e->opt_level = (int)level;
    e->workspace = (size_t)ws;

    uint32_t n_sec = hdr_u32(f, EF_OFF_N_SECTIONS), header_size = hdr_u32(f, EF_OFF_HEADER_SIZE);
    if (n_sec > ENGINE_FILE_MAX_SECTIONS) return hdr_bad(L, EF_OFF_N_SECTIONS, "too many sections");
    if (header_size != ENGINE_FILE_FIXED_HEADER + ENGINE_FILE_SECTION_ENTRY * n_sec)
        return hdr_bad(L, EF_OFF_HEADER_SIZE, "header size does not match the section count");
    if (header_size > L->size) return hdr_bad(L, L->size, "truncated section table");
    if (hdr_u32(f, EF_OFF_N_SECTIONS + 4) != 0) return hdr_bad(L, EF_OFF_N_SECTIONS + 4, "reserved field is not 0");
    for (uint32_t s = 0; s < n_sec; s++) {
        size_t at = ENGINE_FILE_FIXED_HEADER + ENGINE_FILE_SECTION_ENTRY * s;
        uint32_t kind = hdr_u32(f, at), reserved = hdr_u32(f, at + 4);
        uint64_t off = hdr_u64(f, at + 8), size = hdr_u64(f, at + 16);
        if (reserved) return hdr_bad(L, at + 4, "reserved field of a section entry is not 0");
        if (kind == 0 || kind > EF_SEC_COUNT) continue; /* a kind this version does not know */
        uint64_t align = kind == EF_SEC_WEIGHTS ? ENGINE_FILE_WEIGHT_ALIGN : 8;
        char msg[160];
        snprintf(msg, sizeof msg, "%s section [%llu, +%llu) is misaligned or outside the file (%zu bytes)",
                 engine_file_section_name(kind), (unsigned long long)off, (unsigned long long)size, L->size);
        if (off % align || off < header_size || off > L->size || size > L->size - off) return hdr_bad(L, at, msg);
        if (secs[kind].seen) return hdr_bad(L, at, "a section kind is listed twice");
        secs[kind] = (section){off, size, true};
    }
    for (uint32_t k = 1; k <= EF_SEC_COUNT; k++)
        if (!secs[k].seen) {
            char msg[96];
            snprintf(msg, sizeof msg, "the %s section is missing", engine_file_section_name(k));
            return hdr_bad(L, EF_OFF_N_SECTIONS, msg);
        }
    return FWD_OK;
}

static rd cursor(loader *L, const section *secs, uint32_t kind)
{
    return (rd){L, (size_t)secs[kind].off, (size_t)(secs[kind].off + secs[kind].size), engine_file_section_name(kind)};
}

fwd_status engine_file_read(const unsigned char *data, size_t size, void *map, size_t map_size,
                            const char *label, struct fwd_engine **out)
{
    loader L = {.file = data, .size = size, .label = label};
    section secs[EF_SEC_COUNT + 1];
    memset(secs, 0, sizeof secs);
    struct fwd_engine *e = calloc(1, sizeof *e);
    if (!e) return oom();
    e->backend = &fwd_backend_cpu;
    fwd_status st = read_header(&L, e, secs);
    if (!st) st = ir_model_new(&e->ir);
    if (st) goto fail;
    L.m = e->ir;
    L.strings = data + secs[EF_SEC_STRINGS].off;
    L.strings_size = (size_t)secs[EF_SEC_STRINGS].size;
    L.weights = data + secs[EF_SEC_WEIGHTS].off;
    L.weights_size = secs[EF_SEC_WEIGHTS].size;

    rd r = cursor(&L, secs, EF_SEC_MODEL);
    if ((st = rd_model(&r))) goto fail;
    r = cursor(&L, secs, EF_SEC_SYMBOLS);
    if ((st = rd_symbols(&r))) goto fail;
    r = cursor(&L, secs, EF_SEC_GRAPH);
    if ((st = rd_graph(&r, NULL, 0, &e->ir->graph)) || (st = section_end(&r))) goto fail;
    r = cursor(&L, secs, EF_SEC_PROFILES);
    if ((st = rd_profiles(&r, e))) goto fail;
    r = cursor(&L, secs, EF_SEC_MEMPLAN);
    if ((st = rd_memplan(&r, e))) goto fail;
    r = cursor(&L, secs, EF_SEC_KERNELS);
    if ((st = rd_kernels(&r))) goto fail;
    if ((st = check_kernels(e->backend, &L, e->ir->graph))) goto fail;
    if ((st = ir_graph_validate(e->ir->graph))) {
        st = fwd_error_prefix(FWD_ERR_INVALID_MODEL, "engine file '%s'", label);
        goto fail;
    }
    if ((st = engine_prepare(e))) goto fail;
    /* last, so that on failure the caller still owns the mapping */
    if ((st = ir_model_add_map(e->ir, map, map_size))) goto fail;
    *out = e;
    return FWD_OK;
fail:
    engine_free(e);
    return st;
}

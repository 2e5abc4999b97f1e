/* GraphProto, NodeProto, AttributeProto and ValueInfoProto -> IR. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_internal.h"
#include "util/error.h"

enum { G_NODE = 1, G_NAME = 2, G_INITIALIZER = 5, G_INPUT = 11, G_OUTPUT = 12,
       G_VALUE_INFO = 13, G_SPARSE_INITIALIZER = 15 };
enum { N_INPUT = 1, N_OUTPUT = 2, N_NAME = 3, N_OP_TYPE = 4, N_ATTRIBUTE = 5, N_DOMAIN = 7 };
enum { A_NAME = 1, A_F = 2, A_I = 3, A_S = 4, A_T = 5, A_G = 6, A_FLOATS = 7, A_INTS = 8,
       A_STRINGS = 9, A_TENSORS = 10, A_GRAPHS = 11, A_TP = 14, A_TYPE = 20,
       A_REF_ATTR_NAME = 21, A_SPARSE_TENSOR = 22, A_SPARSE_TENSORS = 23, A_TYPE_PROTOS = 15 };

static fwd_status oom(void) { return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory"); }

/* ---- value infos ---- */

typedef struct vinfo {
    const char *name;
    fwd_dtype dtype;
    ir_shape shape;
} vinfo;

static fwd_status elem_dtype(int64_t et, const char *vname, fwd_dtype *out)
{
    if (onnx_numeric_dtype(et, out)) return FWD_OK;
    switch (et) {
    case 0: *out = FWD_DTYPE_UNDEFINED; return FWD_OK;
    case FWD_STRING:
        return fwd_errorf(FWD_ERR_UNSUPPORTED, "value '%s': string tensors are not supported", vname);
    default:
        return fwd_errorf(FWD_ERR_UNSUPPORTED, "value '%s': element type %lld is not supported",
                          vname, (long long)et);
    }
}

static fwd_status parse_dim(ir_model *m, const pb_msg *dm, int64_t *dim)
{
    pb_iter it = pb_begin(dm);
    pb_field f;
    bool has;
    *dim = IR_DIM_UNKNOWN;
    for (;;) {
        FWD_TRY(pb_next(&it, &f, &has));
        if (!has) break;
        if (f.num == 1) {
            FWD_TRY(pb_expect(dm, &f, PB_VARINT));
            *dim = (int64_t)f.u >= 0 ? (int64_t)f.u : IR_DIM_UNKNOWN;
        } else if (f.num == 2) {
            FWD_TRY(pb_expect(dm, &f, PB_LEN));
            if (f.len == 0) {
                *dim = IR_DIM_UNKNOWN;
                continue;
            }
            const char *p = onnx_str(m, dm, &f);
            if (!p) return oom();
            *dim = ir_model_sym(m, p);
        }
    }
    return FWD_OK;
}

static fwd_status parse_shape(ir_model *m, const pb_msg *sm, const char *vname, ir_shape *shape)
{
    size_t n;
    FWD_TRY(pb_count(sm, 1, &n));
    if (n > IR_MAX_RANK)
        return fwd_errorf(FWD_ERR_UNSUPPORTED, "value '%s' has rank %zu (at most %d supported)",
                          vname, n, IR_MAX_RANK);
    shape->rank = 0;
    pb_iter it = pb_begin(sm);
    pb_field f;
    bool has;
    for (;;) {
        FWD_TRY(pb_next(&it, &f, &has));
        if (!has) break;
        if (f.num != 1) continue;
        pb_msg dm;
        FWD_TRY(pb_sub(sm, &f, "TensorShapeProto.Dimension", &dm));
        FWD_TRY(parse_dim(m, &dm, &shape->dims[shape->rank]));
        shape->rank++;
    }
    return FWD_OK;
}

static fwd_status parse_tensor_type(ir_model *m, const pb_msg *tm, vinfo *vi)
{
    pb_iter it = pb_begin(tm);
    pb_field f;
    bool has;
    for (;;) {
        FWD_TRY(pb_next(&it, &f, &has));
        if (!has) break;
        if (f.num == 1) {
            FWD_TRY(pb_expect(tm, &f, PB_VARINT));
            FWD_TRY(elem_dtype((int64_t)f.u, vi->name, &vi->dtype));
        } else if (f.num == 2) {
            pb_msg sm;
            FWD_TRY(pb_sub(tm, &f, "TensorShapeProto", &sm));
            FWD_TRY(parse_shape(m, &sm, vi->name, &vi->shape));
        }
    }
    return FWD_OK;
}

static fwd_status parse_type(ir_model *m, const pb_msg *tp, vinfo *vi)
{
    pb_iter it = pb_begin(tp);
    pb_field f;
    bool has;
    for (;;) {
        FWD_TRY(pb_next(&it, &f, &has));
        if (!has) break;
        const char *kind = NULL;
        switch (f.num) {
        case 1: {
            pb_msg tm;
            FWD_TRY(pb_sub(tp, &f, "TypeProto.Tensor", &tm));
            FWD_TRY(parse_tensor_type(m, &tm, vi));
            break;
        }
        case 4: kind = "sequence"; break;
        case 5: kind = "map"; break;
        case 8: kind = "sparse tensor"; break;
        case 9: kind = "optional"; break;
        default: break;
        }
        if (kind)
            return fwd_errorf(FWD_ERR_UNSUPPORTED,
                              "value '%s' has a %s type (only tensors are supported)", vi->name,
                              kind);
    }
    return FWD_OK;
}

static fwd_status parse_value_info(ir_model *m, const pb_msg *msg, vinfo *vi)
{
    memset(vi, 0, sizeof *vi);
    vi->shape.rank = -1;
    vi->name = "";
    pb_iter it = pb_begin(msg);
    pb_field f;
    bool has;
    bool have_type = false;
    pb_field type_field;
    for (;;) {
        FWD_TRY(pb_next(&it, &f, &has));
        if (!has) break;
        if (f.num == 1) {
            FWD_TRY(pb_expect(msg, &f, PB_LEN));
            vi->name = onnx_str(m, msg, &f);
            if (!vi->name) return oom();
        } else if (f.num == 2) {
            type_field = f;
            have_type = true;
        }
    }
    if (!vi->name[0])
        return fwd_errorf(FWD_ERR_INVALID_MODEL, "ValueInfoProto at byte %zu has no name",
                          msg->start);
    if (have_type) {
        pb_msg tp;
        FWD_TRY(pb_sub(msg, &type_field, "TypeProto", &tp));
        FWD_TRY(parse_type(m, &tp, vi));
    }
    return FWD_OK;
}

/* ---- attributes ---- */

static const char *attr_type_name(int64_t t)
{
    switch (t) {
    case 11: return "SPARSE_TENSOR";
    case 12: return "SPARSE_TENSORS";
    case 13: return "TYPE_PROTO";
    case 14: return "TYPE_PROTOS";
    default: return "unknown";
    }
}

/* The type of an attribute written without its type field (old files):
 * from the payload fields present. */
static int guess_attr_type(const bool *present)
{
    static const struct { int field, type; } k_map[] = {
        {A_F, IR_ATTR_FLOAT},      {A_I, IR_ATTR_INT},       {A_S, IR_ATTR_STRING},
        {A_T, IR_ATTR_TENSOR},     {A_G, IR_ATTR_GRAPH},     {A_FLOATS, IR_ATTR_FLOATS},
        {A_INTS, IR_ATTR_INTS},    {A_STRINGS, IR_ATTR_STRINGS}, {A_TENSORS, IR_ATTR_TENSORS},
        {A_GRAPHS, IR_ATTR_GRAPHS},
    };
    for (size_t i = 0; i < sizeof k_map / sizeof k_map[0]; i++)
        if (present[k_map[i].field]) return k_map[i].type;
    return IR_ATTR_UNDEFINED;
}

static fwd_status load_attr_tensor(onnx_loader *L, const pb_msg *am, const pb_field *f,
                                   const char *what, ir_tensor *t)
{
    pb_msg tm;
    FWD_TRY(pb_sub(am, f, "TensorProto", &tm));
    onnx_tensor_hdr h;
    FWD_TRY(onnx_tensor_header(&tm, &h));
    return onnx_tensor_load(L, &L->m->arena, &tm, &h, what, t);
}

typedef struct attr_site {
    onnx_loader *L;
    ir_graph *g;
    int depth;
    const onnx_node *n;
} attr_site;

static fwd_status decode_attr(const attr_site *site, const pb_msg *am, ir_attr *a)
{
    ir_model *m = site->L->m;
    const onnx_node *n = site->n;
    memset(a, 0, sizeof *a);
    a->name = "";
    bool present[32] = {0};
    int64_t type = -1;
    pb_iter it = pb_begin(am);
    pb_field f;
    bool has;
    for (;;) {
        FWD_TRY(pb_next(&it, &f, &has));
        if (!has) break;
        if (f.num < 32) present[f.num] = true;
        if (f.num == A_NAME) {
            FWD_TRY(pb_expect(am, &f, PB_LEN));
            if (!(a->name = onnx_str(m, am, &f))) return oom();
        } else if (f.num == A_TYPE) {
            FWD_TRY(pb_expect(am, &f, PB_VARINT));
            type = (int64_t)f.u;
        }
    }
    if (!a->name[0])
        return fwd_errorf(FWD_ERR_INVALID_MODEL, "%s '%s': attribute at byte %zu has no name",
                          n->op_type, n->name, am->start);
    if (present[A_REF_ATTR_NAME])
        return fwd_errorf(FWD_ERR_UNSUPPORTED,
                          "%s '%s': attribute '%s' refers to a function attribute (not supported)",
                          n->op_type, n->name, a->name);
    if (type <= 0) type = guess_attr_type(present);
    if (type > IR_ATTR_GRAPHS || type <= 0) {
        if (type <= 0 && (present[A_SPARSE_TENSOR] || present[A_SPARSE_TENSORS]))
            type = 11;
        else if (type <= 0 && (present[A_TP] || present[A_TYPE_PROTOS]))
            type = 13;
        return fwd_errorf(FWD_ERR_UNSUPPORTED, "%s '%s': attribute '%s' has type %s (not supported)",
                          n->op_type, n->name, a->name, attr_type_name(type));
    }
    a->type = (ir_attr_type)type;

    /* list sizes first */
    size_t count = 0;
    int list_field = 0;
    switch (a->type) {
    case IR_ATTR_FLOATS: list_field = A_FLOATS; break;
    case IR_ATTR_INTS: list_field = A_INTS; break;
    case IR_ATTR_STRINGS: list_field = A_STRINGS; break;
    case IR_ATTR_TENSORS: list_field = A_TENSORS; break;
    case IR_ATTR_GRAPHS: list_field = A_GRAPHS; break;
    default: break;
    }
    if (list_field == A_FLOATS || list_field == A_INTS) {
        pb_elem kind = list_field == A_FLOATS ? PB_ELEM_FIXED32 : PB_ELEM_VARINT;
        FWD_TRY(pb_repeated(am, (uint32_t)list_field, kind, NULL, 0, &count));
        if (count > (1u << 28))
            return fwd_errorf(FWD_ERR_UNSUPPORTED, "%s '%s': attribute '%s' has %zu values",
                              n->op_type, n->name, a->name, count);
        uint64_t *tmp = malloc((count + 1) * sizeof *tmp);
        if (!tmp) return oom();
        fwd_status s = pb_repeated(am, (uint32_t)list_field, kind, tmp, count, &count);
        if (s == FWD_OK && list_field == A_FLOATS) {
            a->floats = ir_alloc(m, (count + 1) * sizeof(float));
            if (!a->floats) s = oom();
            for (size_t i = 0; s == FWD_OK && i < count; i++) {
                uint32_t bits = (uint32_t)tmp[i];
                memcpy(&a->floats[i], &bits, 4);
            }
        } else if (s == FWD_OK) {
            a->ints = ir_alloc(m, (count + 1) * sizeof(int64_t));
            if (!a->ints) s = oom();
            for (size_t i = 0; s == FWD_OK && i < count; i++) a->ints[i] = (int64_t)tmp[i];
        }
        free(tmp);
        a->n = (int)count;
        return s;
    }
    if (list_field) {
        FWD_TRY(pb_count(am, (uint32_t)list_field, &count));
        if (count > (1u << 24))
            return fwd_errorf(FWD_ERR_UNSUPPORTED, "%s '%s': attribute '%s' has %zu values",
                              n->op_type, n->name, a->name, count);
        size_t esz = list_field == A_STRINGS   ? sizeof(char *)
                     : list_field == A_TENSORS ? sizeof(ir_tensor)
                                               : sizeof(ir_graph *);
        void *arr = ir_alloc(m, (count + 1) * esz);
        if (!arr) return oom();
        if (list_field == A_STRINGS) a->strings = arr;
        else if (list_field == A_TENSORS) a->tensors = arr;
        else a->graphs = arr;
    }

    char what[256];
    snprintf(what, sizeof what, "%s '%s' attribute '%s'", n->op_type, n->name, a->name);
    int k = 0;
    it = pb_begin(am);
    for (;;) {
        FWD_TRY(pb_next(&it, &f, &has));
        if (!has) break;
        switch (f.num) {
        case A_F:
            if (a->type != IR_ATTR_FLOAT) break;
            FWD_TRY(pb_expect(am, &f, PB_I32));
            uint32_t bits = (uint32_t)f.u;
            memcpy(&a->f, &bits, 4);
            break;
        case A_I:
            if (a->type != IR_ATTR_INT) break;
            FWD_TRY(pb_expect(am, &f, PB_VARINT));
            a->i = (int64_t)f.u;
            break;
        case A_S:
            if (a->type != IR_ATTR_STRING) break;
            FWD_TRY(pb_expect(am, &f, PB_LEN));
            if (!(a->s = onnx_str(m, am, &f))) return oom();
            a->s_len = f.len;
            break;
        case A_T:
            if (a->type != IR_ATTR_TENSOR) break;
            a->t = ir_alloc(m, sizeof *a->t);
            if (!a->t) return oom();
            FWD_TRY(load_attr_tensor(site->L, am, &f, what, a->t));
            break;
        case A_G:
        case A_GRAPHS: {
            if (a->type != (f.num == A_G ? IR_ATTR_GRAPH : IR_ATTR_GRAPHS)) break;
            pb_msg gm;
            FWD_TRY(pb_sub(am, &f, "GraphProto", &gm));
            char dflt[256];
            snprintf(dflt, sizeof dflt, "%s_%s", n->name, a->name);
            ir_graph *sub;
            FWD_TRY(onnx_import_graph(site->L, &gm, site->g, site->depth + 1, dflt, &sub));
            if (f.num == A_G) a->g = sub;
            else a->graphs[k++] = sub;
            break;
        }
        case A_STRINGS:
            if (a->type != IR_ATTR_STRINGS) break;
            FWD_TRY(pb_expect(am, &f, PB_LEN));
            if (!(a->strings[k++] = onnx_str(m, am, &f))) return oom();
            break;
        case A_TENSORS:
            if (a->type != IR_ATTR_TENSORS) break;
            FWD_TRY(load_attr_tensor(site->L, am, &f, what, &a->tensors[k++]));
            break;
        default:
            break;
        }
    }
    if (a->type == IR_ATTR_STRING && !a->s) a->s = "";
    if (a->type == IR_ATTR_TENSOR && !a->t)
        return fwd_errorf(FWD_ERR_INVALID_MODEL, "%s: no tensor given", what);
    if (a->type == IR_ATTR_GRAPH && !a->g)
        return fwd_errorf(FWD_ERR_INVALID_MODEL, "%s: no graph given", what);
    a->n = k;
    return FWD_OK;
}

/* ---- nodes ---- */

/* Decode a NodeProto (subgraphs of its attributes imported on the way). */
static fwd_status decode_node(onnx_loader *L, const pb_msg *nm, ir_graph *g, int depth,
                              int index, onnx_node *n)
{
    ir_model *m = L->m;
    memset(n, 0, sizeof *n);
    n->name = n->op_type = n->domain = "";
    size_t cnt[8] = {0};
    pb_iter it = pb_begin(nm);
    pb_field f;
    bool has;
    for (;;) {
        FWD_TRY(pb_next(&it, &f, &has));
        if (!has) break;
        if (f.num < 8) cnt[f.num]++;
    }
    if (cnt[N_INPUT] > 65536 || cnt[N_OUTPUT] > 65536 || cnt[N_ATTRIBUTE] > 65536)
        return fwd_errorf(FWD_ERR_UNSUPPORTED, "NodeProto at byte %zu: too many inputs, outputs or attributes",
                          nm->start);
    n->inputs = ir_alloc(m, (cnt[N_INPUT] + 1) * sizeof(char *));
    n->outputs = ir_alloc(m, (cnt[N_OUTPUT] + 1) * sizeof(char *));
    n->attrs = ir_alloc(m, (cnt[N_ATTRIBUTE] + 1) * sizeof(ir_attr));
    if (!n->inputs || !n->outputs || !n->attrs) return oom();
    it = pb_begin(nm);
    for (;;) {
        FWD_TRY(pb_next(&it, &f, &has));
        if (!has) break;
        if (f.num != N_INPUT && f.num != N_OUTPUT && f.num != N_NAME && f.num != N_OP_TYPE &&
            f.num != N_DOMAIN)
            continue;
        FWD_TRY(pb_expect(nm, &f, PB_LEN));
        const char *s = onnx_str(m, nm, &f);
        if (!s) return oom();
        switch (f.num) {
        case N_INPUT: n->inputs[n->n_inputs++] = s; break;
        case N_OUTPUT: n->outputs[n->n_outputs++] = s; break;
        case N_NAME: n->name = s; break;
        case N_OP_TYPE: n->op_type = s; break;
        default: n->domain = strcmp(s, "ai.onnx") == 0 ? "" : s; break;
        }
    }
    if (!n->op_type[0])
        return fwd_errorf(FWD_ERR_INVALID_MODEL, "node '%s' at byte %zu has no op_type", n->name,
                          nm->start);
    if (!n->name[0]) { /* unnamed: name it after its op and position, for messages */
        char buf[160];
        snprintf(buf, sizeof buf, "%.100s_%d", n->op_type, index);
        if (!(n->name = ir_strdup(m, buf))) return oom();
    }
    attr_site site = {L, g, depth, n};
    it = pb_begin(nm);
    for (;;) {
        FWD_TRY(pb_next(&it, &f, &has));
        if (!has) break;
        if (f.num != N_ATTRIBUTE) continue;
        pb_msg am;
        FWD_TRY(pb_sub(nm, &f, "AttributeProto", &am));
        FWD_TRY(decode_attr(&site, &am, &n->attrs[n->n_attrs]));
        for (int i = 0; i < n->n_attrs; i++)
            if (strcmp(n->attrs[i].name, n->attrs[n->n_attrs].name) == 0)
                return fwd_errorf(FWD_ERR_INVALID_MODEL, "%s '%s': attribute '%s' is given twice",
                                  n->op_type, n->name, n->attrs[i].name);
        n->n_attrs++;
    }
    return FWD_OK;
}

static fwd_status import_node(onnx_loader *L, const pb_msg *nm, ir_graph *g, int depth, int index)
{
    onnx_node n;
    FWD_TRY(decode_node(L, nm, g, depth, index, &n));
    const onnx_op_importer *imp = n.domain[0] ? NULL : onnx_importer_find(n.op_type);
    if (!imp) /* onnx_check_ops reports these first; kept as a safety net */
        return fwd_errorf(FWD_ERR_UNSUPPORTED, "unsupported ops: %s (domain '%s', opset %lld, first node '%s')",
                          n.op_type, n.domain, (long long)ir_model_opset(L->m, n.domain), n.name);
    onnx_import_ctx c = {L->m, g, L->opset};
    return imp->fn(&c, &n);
}

/* ---- graphs ---- */

/* Record the output names of every node before importing any. */
static fwd_status predefine_outputs(onnx_loader *L, const pb_msg *msg, onnx_scope *sc)
{
    pb_iter it = pb_begin(msg);
    pb_field f;
    bool has;
    for (;;) {
        FWD_TRY(pb_next(&it, &f, &has));
        if (!has) break;
        if (f.num != G_NODE) continue;
        pb_msg nm;
        FWD_TRY(pb_sub(msg, &f, "NodeProto", &nm));
        pb_iter ni = pb_begin(&nm);
        pb_field nf;
        bool nhas;
        for (;;) {
            FWD_TRY(pb_next(&ni, &nf, &nhas));
            if (!nhas) break;
            if (nf.num != N_OUTPUT) continue;
            FWD_TRY(pb_expect(&nm, &nf, PB_LEN));
            if (nf.len == 0) continue;
            const char *s = onnx_str(L->m, &nm, &nf);
            if (!s || fwd_strmap_put(&sc->defined, s, 1) != 0) return oom();
        }
    }
    return FWD_OK;
}

static fwd_status import_initializer(onnx_loader *L, const pb_msg *tm, ir_graph *g)
{
    onnx_tensor_hdr h;
    FWD_TRY(onnx_tensor_header(tm, &h));
    if (h.name_len == 0)
        return fwd_errorf(FWD_ERR_INVALID_MODEL, "initializer at byte %zu has no name", tm->start);
    const char *name = fwd_arena_strndup(&L->m->arena, (const char *)h.name_ptr, h.name_len);
    if (!name) return oom();
    char what[256];
    snprintf(what, sizeof what, "initializer '%.200s'", name);
    ir_tensor t;
    FWD_TRY(onnx_tensor_load(L, &L->m->arena, tm, &h, what, &t));
    int id;
    FWD_TRY(ir_graph_add_value(g, name, IR_VALUE_CONST, t.dtype, &t.shape, &id));
    g->values[id].t = t;
    return FWD_OK;
}

static void apply_vinfo(ir_value *v, const vinfo *vi)
{
    if (v->kind != IR_VALUE_INTERMEDIATE && v->kind != IR_VALUE_OUTER) return;
    if (v->t.dtype == FWD_DTYPE_UNDEFINED) v->t.dtype = vi->dtype;
    if (v->t.shape.rank < 0) v->t.shape = vi->shape;
}

static fwd_status fill_graph(onnx_loader *L, const pb_msg *msg, ir_graph *g, onnx_scope *sc,
                             int depth, const size_t *counts)
{
    ir_model *m = L->m;
    pb_iter it;
    pb_field f;
    bool has;

    it = pb_begin(msg);
    for (;;) {
        FWD_TRY(pb_next(&it, &f, &has));
        if (!has) break;
        if (f.num != G_INITIALIZER) continue;
        pb_msg tm;
        FWD_TRY(pb_sub(msg, &f, "TensorProto", &tm));
        FWD_TRY(import_initializer(L, &tm, g));
    }

    if (counts[G_INPUT]) {
        g->inputs = malloc(counts[G_INPUT] * sizeof(int));
        if (!g->inputs) return oom();
    }
    if (counts[G_OUTPUT]) {
        g->outputs = malloc(counts[G_OUTPUT] * sizeof(int));
        if (!g->outputs) return oom();
    }
    it = pb_begin(msg);
    for (;;) {
        FWD_TRY(pb_next(&it, &f, &has));
        if (!has) break;
        if (f.num != G_INPUT) continue;
        pb_msg vm;
        vinfo vi;
        FWD_TRY(pb_sub(msg, &f, "ValueInfoProto", &vm));
        FWD_TRY(parse_value_info(m, &vm, &vi));
        int id = ir_graph_find(g, vi.name);
        if (id >= 0 && g->values[id].kind == IR_VALUE_CONST) continue; /* initializer */
        /* the model's inputs need their element type (a subgraph's may
         * leave it to the node that runs the subgraph) */
        if (depth == 0 && vi.dtype == FWD_DTYPE_UNDEFINED)
            return fwd_errorf(FWD_ERR_INVALID_MODEL,
                              "graph input '%s' (ValueInfoProto at byte %zu) has no element type", vi.name,
                              vm.start);
        FWD_TRY(ir_graph_add_value(g, vi.name, IR_VALUE_INPUT, vi.dtype, &vi.shape, &id));
        g->inputs[g->n_inputs++] = id;
    }

    FWD_TRY(predefine_outputs(L, msg, sc));
    int index = 0;
    it = pb_begin(msg);
    for (;;) {
        FWD_TRY(pb_next(&it, &f, &has));
        if (!has) break;
        if (f.num != G_NODE) continue;
        pb_msg nm;
        FWD_TRY(pb_sub(msg, &f, "NodeProto", &nm));
        FWD_TRY(import_node(L, &nm, g, depth, index++));
    }

    it = pb_begin(msg);
    for (;;) {
        FWD_TRY(pb_next(&it, &f, &has));
        if (!has) break;
        if (f.num != G_VALUE_INFO && f.num != G_OUTPUT) continue;
        pb_msg vm;
        vinfo vi;
        FWD_TRY(pb_sub(msg, &f, "ValueInfoProto", &vm));
        FWD_TRY(parse_value_info(m, &vm, &vi));
        int id = ir_graph_find(g, vi.name);
        if (f.num == G_VALUE_INFO) {
            if (id >= 0) apply_vinfo(&g->values[id], &vi);
            continue;
        }
        FWD_TRY(onnx_resolve(g, vi.name, &id));
        if (id < 0)
            return fwd_errorf(FWD_ERR_INVALID_MODEL,
                              "graph '%s': output '%s' is not produced by any node, input or initializer",
                              g->name, vi.name);
        g->values[id].is_output = true;
        apply_vinfo(&g->values[id], &vi);
        g->outputs[g->n_outputs++] = id;
    }
    return FWD_OK;
}

fwd_status onnx_import_graph(onnx_loader *L, const pb_msg *msg, ir_graph *parent, int depth,
                             const char *default_name, ir_graph **out)
{
    *out = NULL;
    if (depth > ONNX_MAX_DEPTH)
        return fwd_errorf(FWD_ERR_PARSE, "GraphProto at byte %zu: subgraphs nested deeper than %d",
                          msg->start, ONNX_MAX_DEPTH);
    size_t counts[16] = {0};
    const char *name = NULL;
    pb_iter it = pb_begin(msg);
    pb_field f;
    bool has;
    for (;;) {
        FWD_TRY(pb_next(&it, &f, &has));
        if (!has) break;
        if (f.num < 16) counts[f.num]++;
        if (f.num == G_NAME) {
            FWD_TRY(pb_expect(msg, &f, PB_LEN));
            if (!(name = onnx_str(L->m, msg, &f))) return oom();
        } else if (f.num == G_SPARSE_INITIALIZER) {
            return pb_error(msg, &f, FWD_ERR_UNSUPPORTED,
                            "sparse initializers are not supported");
        }
    }
    ir_graph *g = ir_graph_new(L->m, parent, name && name[0] ? name : default_name);
    if (!g) return oom();
    onnx_scope sc;
    onnx_scope_push(&sc, g);
    fwd_status s = fill_graph(L, msg, g, &sc, depth, counts);
    onnx_scope_pop(&sc);
    if (s == FWD_OK) s = ir_graph_toposort(g);
    if (s == FWD_OK) *out = g;
    return s;
}

/* IR models, graphs, values and nodes: construction and lifetime. */
#include "ir/ir.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "util/error.h"

/* ---- shapes and tensors ---- */

int64_t ir_shape_numel(const ir_shape *s)
{
    if (s->rank < 0) return -1;
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) {
        if (s->dims[i] < 0) return -1;
        /* a product past 2^62 elements cannot be a real tensor: call it
         * unknown rather than overflow */
        if (s->dims[i] > 0 && n > ((int64_t)1 << 62) / s->dims[i]) return -1;
        n *= s->dims[i];
    }
    return n;
}

bool ir_shape_known(const ir_shape *s) { return ir_shape_numel(s) >= 0; }

bool ir_shape_equal(const ir_shape *a, const ir_shape *b)
{
    if (a->rank != b->rank) return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return false;
    return true;
}

const char *ir_shape_str(const ir_shape *s, const ir_model *m, char *buf, size_t cap)
{
    if (s->rank < 0) {
        snprintf(buf, cap, "[?]");
        return buf;
    }
    size_t n = 0;
    n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "[");
    for (int i = 0; i < s->rank; i++) {
        const char *sep = i ? "," : "";
        int64_t d = s->dims[i];
        const char *sym = m ? ir_model_sym_name(m, d) : NULL;
        if (d >= 0)
            n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%lld", sep, (long long)d);
        else if (sym)
            n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s", sep, sym);
        else
            n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s?", sep);
    }
    snprintf(buf + n, n < cap ? cap - n : 0, "]");
    return buf;
}

size_t ir_tensor_numel(const ir_tensor *t)
{
    int64_t n = ir_shape_numel(&t->shape);
    return n < 0 ? 0 : (size_t)n;
}

/* ---- dtypes ---- */

bool ir_dtype_is_float(fwd_dtype t)
{
    return t == FWD_FLOAT32 || t == FWD_FLOAT64 || t == FWD_FLOAT16 || t == FWD_BFLOAT16;
}

bool ir_dtype_is_signed(fwd_dtype t)
{
    return t == FWD_INT8 || t == FWD_INT16 || t == FWD_INT32 || t == FWD_INT64;
}

bool ir_dtype_is_int(fwd_dtype t)
{
    return ir_dtype_is_signed(t) || t == FWD_UINT8 || t == FWD_UINT16 || t == FWD_UINT32 ||
           t == FWD_UINT64;
}

/* ---- models ---- */

fwd_status ir_model_new(ir_model **out)
{
    ir_model *m = calloc(1, sizeof *m);
    if (!m) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory creating a model");
    m->refcount = 1;
    m->format = "";
    m->producer = "";
    *out = m;
    return FWD_OK;
}

void ir_model_ref(ir_model *m)
{
    __atomic_add_fetch(&m->refcount, 1, __ATOMIC_RELAXED);
}

/* Graphs are allocated with malloc (their arrays grow); the model keeps a
 * list of them so it can free them all. */
typedef struct graph_list {
    ir_graph **items;
    int n, cap;
} graph_list;

static graph_list *model_graphs(ir_model *m, bool create);

void ir_model_unref(ir_model *m)
{
    if (!m) return;
    if (__atomic_sub_fetch(&m->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
    graph_list *gl = model_graphs(m, false);
    if (gl) {
        for (int i = 0; i < gl->n; i++) {
            ir_graph_free(gl->items[i]);
            free(gl->items[i]);
        }
        free(gl->items);
        free(gl);
    }
    for (int i = 0; i < m->n_maps; i++) munmap(m->maps[i], m->map_sizes[i]);
    free(m->maps);
    free(m->map_sizes);
    free(m->sym_names);
    ir_model *owner = m->weights_owner;
    fwd_arena_free(&m->arena);
    free(m);
    ir_model_unref(owner);
}

static graph_list *model_graphs(ir_model *m, bool create)
{
    if (!m->graphs && create) m->graphs = calloc(1, sizeof(graph_list));
    return m->graphs;
}

fwd_status ir_model_add_map(ir_model *m, void *addr, size_t size)
{
    if (m->n_maps == m->cap_maps) {
        int ncap = m->cap_maps ? m->cap_maps * 2 : 4;
        void **nm = realloc(m->maps, (size_t)ncap * sizeof *nm);
        if (!nm) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
        m->maps = nm;
        size_t *ns = realloc(m->map_sizes, (size_t)ncap * sizeof *ns);
        if (!ns) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
        m->map_sizes = ns;
        m->cap_maps = ncap;
    }
    m->maps[m->n_maps] = addr;
    m->map_sizes[m->n_maps] = size;
    m->n_maps++;
    return FWD_OK;
}

int64_t ir_model_sym(ir_model *m, const char *name)
{
    for (int i = 0; i < m->n_syms; i++)
        if (strcmp(m->sym_names[i], name) == 0) return ir_dim_from_sym(i);
    if (m->n_syms == m->cap_syms) {
        int ncap = m->cap_syms ? m->cap_syms * 2 : 8;
        const char **ns = realloc(m->sym_names, (size_t)ncap * sizeof *ns);
        if (!ns) return IR_DIM_UNKNOWN;
        m->sym_names = ns;
        m->cap_syms = ncap;
    }
    const char *copy = fwd_arena_strdup(&m->arena, name);
    if (!copy) return IR_DIM_UNKNOWN;
    m->sym_names[m->n_syms] = copy;
    return ir_dim_from_sym(m->n_syms++);
}

const char *ir_model_sym_name(const ir_model *m, int64_t dim)
{
    int s = ir_dim_sym(dim);
    return (s >= 0 && s < m->n_syms) ? m->sym_names[s] : NULL;
}

int64_t ir_model_opset(const ir_model *m, const char *domain)
{
    for (int i = 0; i < m->n_opsets; i++) {
        const char *d = m->opsets[i].domain;
        bool dflt = domain[0] == '\0' || strcmp(domain, "ai.onnx") == 0;
        bool mdflt = d[0] == '\0' || strcmp(d, "ai.onnx") == 0;
        if ((dflt && mdflt) || strcmp(d, domain) == 0) return m->opsets[i].version;
    }
    return 0;
}

void *ir_alloc(ir_model *m, size_t size) { return fwd_arena_alloc(&m->arena, size); }

const char *ir_strdup(ir_model *m, const char *s) { return fwd_arena_strdup(&m->arena, s); }

/* ---- graphs ---- */

ir_graph *ir_graph_new(ir_model *m, ir_graph *parent, const char *name)
{
    graph_list *gl = model_graphs(m, true);
    if (!gl) return NULL;
    if (gl->n == gl->cap) {
        int ncap = gl->cap ? gl->cap * 2 : 4;
        ir_graph **ni = realloc(gl->items, (size_t)ncap * sizeof *ni);
        if (!ni) return NULL;
        gl->items = ni;
        gl->cap = ncap;
    }
    ir_graph *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->model = m;
    g->parent = parent;
    g->name = ir_strdup(m, name ? name : "");
    gl->items[gl->n++] = g;
    return g;
}

void ir_graph_free(ir_graph *g)
{
    free(g->values);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    fwd_strmap_free(&g->by_name);
    g->values = NULL;
    g->nodes = NULL;
    g->inputs = g->outputs = NULL;
}

int ir_graph_find(const ir_graph *g, const char *name)
{
    return fwd_strmap_get(&g->by_name, name);
}

fwd_status ir_graph_add_value(ir_graph *g, const char *name, ir_value_kind kind,
                              fwd_dtype dtype, const ir_shape *shape, int *id)
{
    if (fwd_strmap_get(&g->by_name, name) >= 0)
        return fwd_errorf(FWD_ERR_INVALID_MODEL, "value '%s' is defined twice in graph '%s'",
                          name, g->name);
    if (g->n_values == g->cap_values) {
        int ncap = g->cap_values ? g->cap_values * 2 : 64;
        ir_value *nv = realloc(g->values, (size_t)ncap * sizeof *nv);
        if (!nv) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory adding value '%s'", name);
        g->values = nv;
        g->cap_values = ncap;
    }
    ir_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = ir_strdup(g->model, name);
    if (!v->name) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
    v->kind = kind;
    v->t.dtype = dtype;
    if (shape)
        v->t.shape = *shape;
    else
        v->t.shape.rank = -1;
    v->producer = -1;
    if (fwd_strmap_put(&g->by_name, v->name, g->n_values) != 0)
        return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
    if (id) *id = g->n_values;
    g->n_values++;
    return FWD_OK;
}

const char *ir_graph_unique_name(ir_graph *g, const char *base)
{
    char buf[256];
    for (int n = g->n_values + g->n_nodes;; n++) {
        snprintf(buf, sizeof buf, "%s__%d", base, n);
        if (fwd_strmap_get(&g->by_name, buf) < 0) return ir_strdup(g->model, buf);
    }
}

fwd_status ir_graph_add_const(ir_graph *g, const char *name, fwd_dtype dtype,
                              const ir_shape *shape, const void *data, int *id)
{
    int64_t n = ir_shape_numel(shape);
    size_t esz = fwd_dtype_size(dtype);
    if (n < 0 || esz == 0)
        return fwd_errorf(FWD_ERR_INVALID_MODEL, "constant '%s' needs a known shape and dtype", name);
    size_t bytes = (size_t)n * esz;
    void *copy = fwd_arena_alloc(&g->model->arena, bytes ? bytes : 1);
    if (!copy) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory for constant '%s'", name);
    if (data && bytes) memcpy(copy, data, bytes);
    int vid;
    FWD_TRY(ir_graph_add_value(g, name, IR_VALUE_CONST, dtype, shape, &vid));
    g->values[vid].t.data = copy;
    g->values[vid].t.nbytes = bytes;
    if (id) *id = vid;
    return FWD_OK;
}

fwd_status ir_graph_add_node(ir_graph *g, const char *op_type, const char *name,
                             const int *inputs, int n_inputs, const int *outputs,
                             int n_outputs, const ir_attr *attrs, int n_attrs, int *index)
{
    if (g->n_nodes == g->cap_nodes) {
        int ncap = g->cap_nodes ? g->cap_nodes * 2 : 64;
        ir_node *nn = realloc(g->nodes, (size_t)ncap * sizeof *nn);
        if (!nn) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory adding node '%s'", name);
        g->nodes = nn;
        g->cap_nodes = ncap;
    }
    ir_model *m = g->model;
    ir_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->op_type = ir_strdup(m, op_type);
    n->name = ir_strdup(m, name ? name : "");
    n->domain = "";
    n->opset = (int)ir_model_opset(m, "");
    n->n_inputs = n_inputs;
    n->n_outputs = n_outputs;
    n->n_attrs = n_attrs;
    n->inputs = fwd_arena_alloc(&m->arena, sizeof(int) * (size_t)(n_inputs + 1));
    n->outputs = fwd_arena_alloc(&m->arena, sizeof(int) * (size_t)(n_outputs + 1));
    n->attrs = fwd_arena_alloc(&m->arena, sizeof(ir_attr) * (size_t)(n_attrs + 1));
    if (!n->op_type || !n->name || !n->inputs || !n->outputs || !n->attrs)
        return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory adding node '%s'", name);
    if (n_inputs) memcpy(n->inputs, inputs, sizeof(int) * (size_t)n_inputs);
    if (n_outputs) memcpy(n->outputs, outputs, sizeof(int) * (size_t)n_outputs);
    if (n_attrs) memcpy(n->attrs, attrs, sizeof(ir_attr) * (size_t)n_attrs);
    for (int i = 0; i < n_outputs; i++) {
        int o = outputs[i];
        if (o < 0) continue;
        if (o >= g->n_values)
            return fwd_errorf(FWD_ERR_INTERNAL, "node '%s' output id %d out of range", name, o);
        if (g->values[o].producer >= 0)
            return fwd_errorf(FWD_ERR_INVALID_MODEL, "value '%s' is produced by two nodes ('%s' and '%s')",
                              g->values[o].name, g->nodes[g->values[o].producer].name, n->name);
        g->values[o].producer = g->n_nodes;
    }
    if (index) *index = g->n_nodes;
    g->n_nodes++;
    return FWD_OK;
}

static void recompute_producers(ir_graph *g)
{
    for (int i = 0; i < g->n_values; i++) g->values[i].producer = -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_outputs; j++)
            if (g->nodes[i].outputs[j] >= 0) g->values[g->nodes[i].outputs[j]].producer = i;
}

fwd_status ir_graph_remove_nodes(ir_graph *g, const bool *drop)
{
    int w = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (!drop[i]) g->nodes[w++] = g->nodes[i];
    g->n_nodes = w;
    recompute_producers(g);
    return FWD_OK;
}

/* ---- attributes ---- */

const ir_attr *ir_node_attr(const ir_node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
    return NULL;
}

int64_t ir_attr_int(const ir_node *n, const char *name, int64_t dflt)
{
    const ir_attr *a = ir_node_attr(n, name);
    if (!a) return dflt;
    if (a->type == IR_ATTR_INT) return a->i;
    if (a->type == IR_ATTR_FLOAT) return (int64_t)a->f;
    return dflt;
}

float ir_attr_float(const ir_node *n, const char *name, float dflt)
{
    const ir_attr *a = ir_node_attr(n, name);
    if (!a) return dflt;
    if (a->type == IR_ATTR_FLOAT) return a->f;
    if (a->type == IR_ATTR_INT) return (float)a->i;
    return dflt;
}

const char *ir_attr_string(const ir_node *n, const char *name, const char *dflt)
{
    const ir_attr *a = ir_node_attr(n, name);
    return (a && a->type == IR_ATTR_STRING) ? a->s : dflt;
}

const int64_t *ir_attr_ints(const ir_node *n, const char *name, int *count)
{
    const ir_attr *a = ir_node_attr(n, name);
    if (!a || a->type != IR_ATTR_INTS) {
        *count = 0;
        return NULL;
    }
    *count = a->n;
    return a->ints;
}

const float *ir_attr_floats(const ir_node *n, const char *name, int *count)
{
    const ir_attr *a = ir_node_attr(n, name);
    if (!a || a->type != IR_ATTR_FLOATS) {
        *count = 0;
        return NULL;
    }
    *count = a->n;
    return a->floats;
}

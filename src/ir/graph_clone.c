/* Deep copy of a model's graphs; constant data is shared, not copied. */
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "util/error.h"

static fwd_status clone_graph(ir_model *dst, const ir_graph *src, ir_graph *parent, ir_graph **out);

static fwd_status clone_attr(ir_model *dst, ir_graph *owner, const ir_attr *a, ir_attr *b)
{
    *b = *a;
    b->name = ir_strdup(dst, a->name);
    if (!b->name) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
    if (a->s) {
        char *s = fwd_arena_strndup(&dst->arena, a->s, a->s_len);
        if (!s) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
        b->s = s;
    }
    if (a->t) {
        b->t = fwd_arena_memdup(&dst->arena, a->t, sizeof *a->t);
        if (!b->t) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
    }
    size_t n = a->n > 0 ? (size_t)a->n : 0;
    if (a->floats) b->floats = fwd_arena_memdup(&dst->arena, a->floats, n * sizeof *a->floats);
    if (a->ints) b->ints = fwd_arena_memdup(&dst->arena, a->ints, n * sizeof *a->ints);
    if (a->tensors) b->tensors = fwd_arena_memdup(&dst->arena, a->tensors, n * sizeof *a->tensors);
    if (a->strings) {
        b->strings = fwd_arena_alloc(&dst->arena, n * sizeof *b->strings + 1);
        if (!b->strings) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
        for (size_t i = 0; i < n; i++) b->strings[i] = ir_strdup(dst, a->strings[i]);
    }
    if (a->g) FWD_TRY(clone_graph(dst, a->g, owner, &b->g));
    if (a->graphs) {
        b->graphs = fwd_arena_alloc(&dst->arena, n * sizeof *b->graphs + 1);
        if (!b->graphs) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
        for (size_t i = 0; i < n; i++) FWD_TRY(clone_graph(dst, a->graphs[i], owner, &b->graphs[i]));
    }
    return FWD_OK;
}

static fwd_status clone_graph(ir_model *dst, const ir_graph *src, ir_graph *parent, ir_graph **out)
{
    ir_graph *g = ir_graph_new(dst, parent, src->name);
    if (!g) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory cloning graph");
    for (int i = 0; i < src->n_values; i++) {
        const ir_value *v = &src->values[i];
        int id;
        FWD_TRY(ir_graph_add_value(g, v->name, v->kind, v->t.dtype, &v->t.shape, &id));
        ir_value *w = &g->values[id];
        w->t = v->t; /* shares constant data */
        w->is_output = v->is_output;
        w->quant = v->quant;
    }
    for (int i = 0; i < src->n_nodes; i++) {
        const ir_node *n = &src->nodes[i];
        ir_attr *attrs = fwd_arena_alloc(&dst->arena, sizeof(ir_attr) * (size_t)(n->n_attrs + 1));
        if (!attrs) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
        for (int a = 0; a < n->n_attrs; a++) FWD_TRY(clone_attr(dst, g, &n->attrs[a], &attrs[a]));
        int idx;
        FWD_TRY(ir_graph_add_node(g, n->op_type, n->name, n->inputs, n->n_inputs, n->outputs,
                                  n->n_outputs, attrs, n->n_attrs, &idx));
        g->nodes[idx].domain = ir_strdup(dst, n->domain);
        g->nodes[idx].opset = n->opset;
    }
    g->inputs = malloc(sizeof(int) * (size_t)(src->n_inputs + 1));
    g->outputs = malloc(sizeof(int) * (size_t)(src->n_outputs + 1));
    if (!g->inputs || !g->outputs) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
    if (src->n_inputs) memcpy(g->inputs, src->inputs, sizeof(int) * (size_t)src->n_inputs);
    if (src->n_outputs) memcpy(g->outputs, src->outputs, sizeof(int) * (size_t)src->n_outputs);
    g->n_inputs = src->n_inputs;
    g->n_outputs = src->n_outputs;
    *out = g;
    return FWD_OK;
}

fwd_status ir_model_clone(ir_model *src, ir_model **out)
{
    ir_model *m;
    FWD_TRY(ir_model_new(&m));
    ir_model_ref(src);
    m->weights_owner = src;
    m->format = src->format;           /* static strings or src's arena, */
    m->producer = ir_strdup(m, src->producer); /* which src outlives us for */
    m->ir_version = src->ir_version;
    m->n_opsets = src->n_opsets;
    m->opsets = ir_alloc(m, sizeof(ir_opset) * (size_t)(src->n_opsets + 1));
    if (!m->opsets) goto oom;
    for (int i = 0; i < src->n_opsets; i++) {
        m->opsets[i].domain = ir_strdup(m, src->opsets[i].domain);
        m->opsets[i].version = src->opsets[i].version;
    }
    for (int i = 0; i < src->n_syms; i++) ir_model_sym(m, src->sym_names[i]);
    if (src->graph) {
        fwd_status st = clone_graph(m, src->graph, NULL, &m->graph);
        if (st) {
            ir_model_unref(m);
            return st;
        }
    }
    *out = m;
    return FWD_OK;
oom:
    ir_model_unref(m);
    return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory cloning model");
}

/* Constant and shape folding. */
#include <stdlib.h>
#include <string.h>

#include "ir/op_schema.h"
#include "passes/passes.h"
#include "util/error.h"


static bool has_subgraph(const ir_node *n)
{
    for (int a = 0; a < n->n_attrs; a++)
        if (n->attrs[a].type == IR_ATTR_GRAPH || n->attrs[a].type == IR_ATTR_GRAPHS) return true;
    return false;
}

static bool value_is_const(const ir_graph *g, int id)
{
    return id < 0 || (g->values[id].kind == IR_VALUE_CONST && g->values[id].t.data);
}

/* Make value id a constant holding a copy of t's data. */
static fwd_status make_const(ir_graph *g, int id, const ir_tensor *t)
{
    void *copy = ir_alloc(g->model, t->nbytes ? t->nbytes : 1);
    if (!copy) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory folding '%s'", g->values[id].name);
    if (t->nbytes) memcpy(copy, t->data, t->nbytes);
    ir_value *v = &g->values[id];
    v->kind = IR_VALUE_CONST;
    v->t.dtype = t->dtype;
    v->t.shape = t->shape;
    v->t.data = copy;
    v->t.nbytes = t->nbytes;
    return FWD_OK;
}

/* Shape and Size of a statically known shape. */
static fwd_status fold_shape_op(ir_graph *g, const ir_node *n, bool *folded)
{
    *folded = false;
    if (n->n_inputs < 1 || n->inputs[0] < 0 || n->n_outputs < 1 || n->outputs[0] < 0) return FWD_OK;
    const ir_shape *s = &g->values[n->inputs[0]].t.shape;
    if (!ir_shape_known(s)) return FWD_OK;
    int64_t vals[IR_MAX_RANK];
    ir_tensor t = {.dtype = FWD_INT64, .shape = {.rank = 1}};
    if (strcmp(n->op_type, "Size") == 0) {
        vals[0] = ir_shape_numel(s);
        t.shape.rank = 0;
        t.nbytes = 8;
    } else {
        int64_t r = s->rank, start = ir_attr_int(n, "start", 0), end = ir_attr_int(n, "end", r);
        if (start < 0) start += r;
        if (end < 0) end += r;
        start = start < 0 ? 0 : start > r ? r : start;
        end = end < 0 ? 0 : end > r ? r : end;
        int k = 0;
        for (int64_t i = start; i < end; i++) vals[k++] = s->dims[i];
        t.shape.dims[0] = k;
        t.nbytes = (size_t)k * 8;
    }
    t.data = vals;
    FWD_TRY(make_const(g, n->outputs[0], &t));
    *folded = true;
    return FWD_OK;
}

static fwd_status fold_node(ir_graph *g, const ir_node *n, const pass_evaluator *ev, bool *folded)
{
    *folded = false;
    if (n->domain[0] != '\0' || has_subgraph(n) || n->n_outputs > 16 || n->n_inputs > 64) return FWD_OK;
    if (strcmp(n->op_type, "Shape") == 0 || strcmp(n->op_type, "Size") == 0)
        return fold_shape_op(g, n, folded);
    for (int j = 0; j < n->n_inputs; j++)
        if (!value_is_const(g, n->inputs[j])) return FWD_OK;
    const ir_tensor *in[64];
    ir_tensor out[16];
    memset(out, 0, sizeof out);
    for (int j = 0; j < n->n_inputs; j++) in[j] = n->inputs[j] >= 0 ? &g->values[n->inputs[j]].t : NULL;
    fwd_status st = ev->eval(ev->user, g->model, n, in, out);
    if (st != FWD_OK) {
        /* Leave it to run time, where the same error will surface with
         * the real inputs; folding is an optimisation. */
        fwd_error_clear();
        return FWD_OK;
    }
    size_t total = 0;
    for (int j = 0; j < n->n_outputs; j++) total += out[j].data ? out[j].nbytes : 0;
    if (total <= PASS_FOLD_MAX_BYTES) {
        for (int j = 0; j < n->n_outputs && st == FWD_OK; j++)
            if (n->outputs[j] >= 0 && out[j].data) st = make_const(g, n->outputs[j], &out[j]);
        if (st == FWD_OK) *folded = true;
    }
    for (int j = 0; j < n->n_outputs; j++)
        if (out[j].data) ev->free_fn(ev->user, out[j].data);
    return st;
}

fwd_status pass_fold_constants(ir_graph *g, const pass_evaluator *ev, int *n_folded)
{
    int total = 0;
    for (int round = 0; round < 16; round++) {
        FWD_TRY(ir_graph_infer_shapes(g));
        bool *drop = calloc((size_t)g->n_nodes + 1, sizeof *drop);
        if (!drop) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory folding constants");
        int folded = 0;
        fwd_status st = FWD_OK;
        for (int i = 0; i < g->n_nodes && st == FWD_OK; i++) {
            bool f = false;
            st = fold_node(g, &g->nodes[i], ev, &f);
            if (f) {
                drop[i] = true;
                folded++;
            }
        }
        if (st == FWD_OK && folded) st = ir_graph_remove_nodes(g, drop);
        free(drop);
        FWD_TRY(st);
        total += folded;
        if (!folded) break;
    }
    if (n_folded) *n_folded = total;
    return FWD_OK;
}

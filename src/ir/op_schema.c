/* The op schema registry, static shape inference over graphs, and helpers
 * for the per-family infer functions. */
#include "ir/op_schema.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/fused_ops.h"
#include "util/error.h"

static const ir_op_schema *const families[] = {
    ir_schemas_elementwise, ir_schemas_tensor, ir_schemas_reduce, ir_schemas_nn,
    ir_schemas_control,     ir_schemas_rnn,    ir_schemas_signal, ir_schemas_fused_linear,
    ir_schemas_fused_nlp,
};

const ir_op_schema *ir_op_schema_find(const char *op_type)
{
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const ir_op_schema *s = families[f]; s->op_type; s++)
            if (strcmp(s->op_type, op_type) == 0) return s;
    return NULL;
}

fwd_status ir_infer_error(const ir_infer_ctx *c, fwd_status s, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fwd_errorf(s, "%s '%s': %s", c->node->op_type, c->node->name, msg);
}

fwd_status ir_infer_node(ir_infer_ctx *c)
{
    const ir_node *n = c->node;
    const ir_op_schema *s = ir_op_schema_find(n->op_type);
    if (!s) return fwd_errorf(FWD_ERR_UNSUPPORTED, "node '%s': op %s is not supported", n->name, n->op_type);
    if (c->n_in < s->min_inputs || (s->max_inputs >= 0 && c->n_in > s->max_inputs))
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "has %d inputs; the op takes %d to %d", c->n_in,
                              s->min_inputs, s->max_inputs);
    for (int i = 0; i < c->n_out; i++) {
        c->out[i].dtype = FWD_DTYPE_UNDEFINED;
        c->out[i].shape.rank = -1;
        c->out[i].data = NULL;
        c->out[i].nbytes = 0;
    }
    c->data_dependent = false;
    if (!s->infer) return FWD_OK;
    FWD_TRY(s->infer(c));
    /* no op may promise an output past 2^50 elements (shape values from
     * data, attributes: a dimension of 2^63 - 1 would overflow every size
     * computed from it later); this also keeps element counts from
     * overflowing */
    for (int o = 0; o < c->n_out; o++) {
        const ir_shape *sh = &c->out[o].shape;
        int64_t elems = 1;
        for (int i = 0; i < sh->rank; i++) {
            int64_t d = sh->dims[i];
            if (d <= 0) continue;
            if (d > ((int64_t)1 << 50) / elems)
                return ir_infer_error(c, FWD_ERR_SHAPE, "output %d is too large (dimension %d = %lld)", o, i,
                                      (long long)d);
            elems *= d;
        }
    }
    return FWD_OK;
}

void ir_infer_copy(ir_infer_ctx *c, int out, int in)
{
    if (out >= c->n_out || in >= c->n_in || !c->in[in]) return;
    c->out[out].dtype = c->in[in]->dtype;
    c->out[out].shape = c->in[in]->shape;
}

fwd_status ir_broadcast_shapes(const ir_shape *a, const ir_shape *b, ir_shape *out)
{
    if (a->rank < 0 || b->rank < 0) {
        out->rank = -1;
        return FWD_OK;
    }
    int r = a->rank > b->rank ? a->rank : b->rank;
    out->rank = r;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        int64_t d;
        if (da == db)
            d = da;
        else if (da == 1)
            d = db;
        else if (db == 1)
            d = da;
        else if (da >= 0 && db >= 0)
            return fwd_errorf(FWD_ERR_SHAPE, "cannot broadcast dimension %d: %lld vs %lld", i,
                              (long long)da, (long long)db);
        else if (da > 1)
            d = da;
        else if (db > 1)
            d = db;
        else
            d = IR_DIM_UNKNOWN;
        out->dims[i] = d;
    }
    return FWD_OK;
}

fwd_status ir_infer_axis(const ir_infer_ctx *c, int64_t axis, int rank, int *out)
{
    if (axis < -rank || axis >= rank)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "axis %lld out of range [%d, %d)",
                              (long long)axis, -rank, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return FWD_OK;
}

int ir_tensor_read_ints(const ir_tensor *t, int64_t *vals, int cap)
{
    if (!t || !t->data || t->shape.rank < 0) return -1;
    int64_t n = ir_shape_numel(&t->shape);
    if (n < 0 || n > cap) return -1;
    if (t->dtype == FWD_INT64) {
        memcpy(vals, t->data, (size_t)n * sizeof(int64_t));
    } else if (t->dtype == FWD_INT32) {
        for (int64_t i = 0; i < n; i++) vals[i] = ((const int32_t *)t->data)[i];
    } else {
        return -1;
    }
    return (int)n;
}

bool ir_tensor_scalar_f64(const ir_tensor *t, double *v)
{
    if (!t || !t->data || ir_shape_numel(&t->shape) < 1) return false;
    const void *p = t->data;
    switch (t->dtype) {
    case FWD_FLOAT32: *v = *(const float *)p; return true;
    case FWD_FLOAT64: *v = *(const double *)p; return true;
    case FWD_INT8: *v = *(const int8_t *)p; return true;
    case FWD_UINT8: *v = *(const uint8_t *)p; return true;
    case FWD_BOOL: *v = *(const uint8_t *)p != 0; return true;
    case FWD_INT16: *v = *(const int16_t *)p; return true;
    case FWD_UINT16: *v = *(const uint16_t *)p; return true;
    case FWD_INT32: *v = *(const int32_t *)p; return true;
    case FWD_UINT32: *v = *(const uint32_t *)p; return true;
    case FWD_INT64: *v = (double)*(const int64_t *)p; return true;
    case FWD_UINT64: *v = (double)*(const uint64_t *)p; return true;
    default: return false;
    }
}

/* ---- static inference over a graph ---- */

/* Keep what is known: an inferred dim wins over an unknown declared one,
 * a declared dim fills an unknown inferred one. */
static void merge_shape(ir_shape *decl, const ir_shape *inf)
{
    if (inf->rank < 0) return;
    if (decl->rank != inf->rank) {
        *decl = *inf;
        return;
    }
    for (int i = 0; i < inf->rank; i++)
        if (inf->dims[i] >= 0 || decl->dims[i] == IR_DIM_UNKNOWN) decl->dims[i] = inf->dims[i];
}

static const ir_value *resolve_outer(const ir_graph *g, const char *name)
{
    for (const ir_graph *p = g->parent; p; p = p->parent) {
        int id = ir_graph_find(p, name);
        if (id >= 0) {
            const ir_value *v = &p->values[id];
            if (v->kind != IR_VALUE_OUTER) return v;
        }
    }
    return NULL;
}

fwd_status ir_graph_infer_shapes(ir_graph *g)
{
    for (int i = 0; i < g->n_values; i++) {
        ir_value *v = &g->values[i];
        if (v->kind == IR_VALUE_OUTER) {
            const ir_value *o = resolve_outer(g, v->name);
            if (o) {
                v->t.dtype = o->t.dtype;
                v->t.shape = o->t.shape;
                v->t.data = o->t.data;
                v->t.nbytes = o->t.nbytes;
            }
        }
    }
    const ir_tensor *ins[64];
    ir_tensor outs[64];
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = &g->nodes[i];
        if (n->domain[0] != '\0') continue;
        for (int a = 0; a < n->n_attrs; a++) {
            ir_attr *at = &n->attrs[a];
            if (at->type == IR_ATTR_GRAPH && at->g) FWD_TRY(ir_graph_infer_shapes(at->g));
            if (at->type == IR_ATTR_GRAPHS)
                for (int k = 0; k < at->n; k++) FWD_TRY(ir_graph_infer_shapes(at->graphs[k]));
        }
        if (n->n_inputs > 64 || n->n_outputs > 64)
            return fwd_errorf(FWD_ERR_UNSUPPORTED, "node '%s' (%s) has more than 64 inputs or outputs",
                              n->name, n->op_type);
        for (int j = 0; j < n->n_inputs; j++) ins[j] = n->inputs[j] >= 0 ? &g->values[n->inputs[j]].t : NULL;
        ir_infer_ctx c = {.node = n, .model = g->model, .n_in = n->n_inputs, .in = ins,
                          .n_out = n->n_outputs, .out = outs};
        FWD_TRY(ir_infer_node(&c));
        for (int j = 0; j < n->n_outputs; j++) {
            if (n->outputs[j] < 0) continue;
            ir_value *v = &g->values[n->outputs[j]];
            if (outs[j].dtype != FWD_DTYPE_UNDEFINED) {
                if (v->t.dtype != FWD_DTYPE_UNDEFINED && v->t.dtype != outs[j].dtype && v->is_output)
                    return fwd_errorf(FWD_ERR_INVALID_MODEL,
                                      "node '%s' (%s): output '%s' is declared %s but computes %s",
                                      n->name, n->op_type, v->name, fwd_dtype_name(v->t.dtype),
                                      fwd_dtype_name(outs[j].dtype));
                v->t.dtype = outs[j].dtype;
            }
            merge_shape(&v->t.shape, &outs[j].shape);
        }
    }
    return FWD_OK;
}


/*
 * Shape and type inference for the control-flow ops If, Loop and Scan.
 *
 * Their output shapes depend on the data in general (which branch runs,
 * how many iterations), so the functions always set data_dependent and
 * the kernels allocate their outputs. Statically they give what the
 * subgraphs' declared/inferred outputs tell: dtypes and the dims all
 * possibilities agree on.
 */
#include "ir/op_schema.h"
#include "util/error.h"

static const ir_graph *graph_attr(const ir_infer_ctx *c, const char *name)
{
    const ir_attr *a = ir_node_attr(c->node, name);
    return a && a->type == IR_ATTR_GRAPH ? a->g : NULL;
}

static const ir_tensor *graph_output(const ir_graph *g, int i)
{
    return &g->values[g->outputs[i]].t;
}

/* Dims where a and b agree; unknown elsewhere (rank -1 if ranks differ). */
static ir_shape merge_shapes(const ir_shape *a, const ir_shape *b)
{
    ir_shape s = {.rank = -1};
    if (a->rank < 0 || a->rank != b->rank) return s;
    s.rank = a->rank;
    for (int i = 0; i < a->rank; i++) s.dims[i] = a->dims[i] == b->dims[i] ? a->dims[i] : IR_DIM_UNKNOWN;
    return s;
}

static fwd_dtype pick_dtype(fwd_dtype a, fwd_dtype b) { return a != FWD_DTYPE_UNDEFINED ? a : b; }

/* A known scalar bool (or numeric) input value: 1/0, or -1 when unknown. */
static int known_flag(const ir_tensor *t)
{
    double v;
    if (!t || !t->data || ir_shape_numel(&t->shape) != 1 || !ir_tensor_scalar_f64(t, &v)) return -1;
    return v != 0.0;
}

static fwd_status infer_if(ir_infer_ctx *c)
{
    const ir_graph *tg = graph_attr(c, "then_branch"), *eg = graph_attr(c, "else_branch");
    if (!tg || !eg)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL,
                              "needs graph attributes then_branch and else_branch");
    if (tg->n_outputs != c->n_out || eg->n_outputs != c->n_out)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "has %d outputs but the branches give %d "
                              "(then) and %d (else)", c->n_out, tg->n_outputs, eg->n_outputs);
    const ir_tensor *cond = c->in[0];
    if (!cond) return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "input 'cond' is required");
    if (cond->dtype != FWD_DTYPE_UNDEFINED && cond->dtype != FWD_BOOL)
        return ir_infer_error(c, FWD_ERR_DTYPE, "cond must be bool, got %s",
                              fwd_dtype_name(cond->dtype));
    int64_t n = ir_shape_numel(&cond->shape);
    if (n >= 0 && n != 1)
        return ir_infer_error(c, FWD_ERR_SHAPE, "cond must hold one element, got %lld",
                              (long long)n);
    int taken = known_flag(cond);
    for (int i = 0; i < c->n_out; i++) {
        const ir_tensor *t = graph_output(tg, i), *e = graph_output(eg, i);
        if (t->dtype != FWD_DTYPE_UNDEFINED && e->dtype != FWD_DTYPE_UNDEFINED &&
            t->dtype != e->dtype)
            return ir_infer_error(c, FWD_ERR_DTYPE, "output %d is %s in then_branch but %s in "
                                  "else_branch", i, fwd_dtype_name(t->dtype),
                                  fwd_dtype_name(e->dtype));
        c->out[i].dtype = pick_dtype(t->dtype, e->dtype);
        if (taken == 1)
            c->out[i].shape = t->shape;
        else if (taken == 0)
            c->out[i].shape = e->shape;
        else
            c->out[i].shape = merge_shapes(&t->shape, &e->shape);
    }
    c->data_dependent = true;
    return FWD_OK;
}

/* Loop(M?, cond?, v_initial...) body(iter, cond, v...) -> (cond, v..., scan...) */
static fwd_status infer_loop(ir_infer_ctx *c)
{
    const ir_graph *body = graph_attr(c, "body");
    if (!body) return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "needs a graph attribute 'body'");
    int n_carried = c->n_in - 2, n_scan = c->n_out - n_carried;
    if (n_scan < 0)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "has %d loop-carried inputs but only %d "
                              "outputs", n_carried, c->n_out);
    if (body->n_inputs != 2 + n_carried || body->n_outputs != 1 + n_carried + n_scan)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "body takes %d inputs and gives %d "
                              "outputs; expected %d and %d", body->n_inputs, body->n_outputs,
                              2 + n_carried, 1 + n_carried + n_scan);
    const ir_tensor *m = c->in[0], *cond = c->in[1];
    if (m && m->dtype != FWD_DTYPE_UNDEFINED && m->dtype != FWD_INT64)
        return ir_infer_error(c, FWD_ERR_DTYPE, "M must be int64, got %s",
                              fwd_dtype_name(m->dtype));
    if (cond && cond->dtype != FWD_DTYPE_UNDEFINED && cond->dtype != FWD_BOOL)
        return ir_infer_error(c, FWD_ERR_DTYPE, "cond must be bool, got %s",
                              fwd_dtype_name(cond->dtype));
    for (int i = 0; i < n_carried; i++) {
        const ir_tensor *init = c->in[2 + i], *bo = graph_output(body, 1 + i);
        if (!init) {
            c->out[i].dtype = bo->dtype;
            continue;
        }
        c->out[i].dtype = pick_dtype(init->dtype, bo->dtype);
        c->out[i].shape = merge_shapes(&init->shape, &bo->shape);
    }
    for (int j = 0; j < n_scan; j++) {
        const ir_tensor *bo = graph_output(body, 1 + n_carried + j);
        ir_tensor *o = &c->out[n_carried + j];
        o->dtype = bo->dtype;
        if (bo->shape.rank < 0 || bo->shape.rank >= IR_MAX_RANK) continue;
        o->shape.rank = bo->shape.rank + 1;
        o->shape.dims[0] = IR_DIM_UNKNOWN;
        for (int d = 0; d < bo->shape.rank; d++) o->shape.dims[d + 1] = bo->shape.dims[d];
    }
    c->data_dependent = true;
    return FWD_OK;
}

/* The i-th entry of an ints attribute, or dflt. */
static int64_t ints_at(const ir_infer_ctx *c, const char *name, int i, int64_t dflt)
{
    int n = 0;
    const int64_t *v = ir_attr_ints(c->node, name, &n);
    return v && i < n ? v[i] : dflt;
}

/* Scan-9+: (states..., scan_inputs...) -> (states..., scan_outputs...);
 * Scan-8 has a leading sequence_lens input and a batch axis 0 everywhere. */
static fwd_status infer_scan(ir_infer_ctx *c)
{
    const ir_graph *body = graph_attr(c, "body");
    if (!body) return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "needs a graph attribute 'body'");
    bool v8 = c->node->opset > 0 && c->node->opset < 9;
    int first = v8 ? 1 : 0; /* index of the first state input */
    int n_body_in = c->n_in - first;
    int64_t n_scan_in = ir_attr_int(c->node, "num_scan_inputs", -1);
    if (n_scan_in < 1 || n_scan_in > n_body_in)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "num_scan_inputs %lld out of range "
                              "[1, %d]", (long long)n_scan_in, n_body_in);
    int n_state = n_body_in - (int)n_scan_in, n_scan_out = c->n_out - n_state;
    if (n_scan_out < 0 || body->n_inputs != n_body_in || body->n_outputs != c->n_out)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "body takes %d inputs and gives %d "
                              "outputs; the node has %d state/scan inputs and %d outputs",
                              body->n_inputs, body->n_outputs, n_body_in, c->n_out);
    /* sequence length: scan input 0 along its axis */
    int64_t seq = IR_DIM_UNKNOWN, batch = IR_DIM_UNKNOWN;
    for (int j = 0; j < n_scan_in; j++) {
        const ir_tensor *x = c->in[first + n_state + j];
        if (!x) return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "scan input %d is missing", j);
        if (x->shape.rank < 0) continue;
        int64_t axis = v8 ? 1 : ints_at(c, "scan_input_axes", j, 0);
        int a;
        if (x->shape.rank < (v8 ? 2 : 1))
            return ir_infer_error(c, FWD_ERR_SHAPE, "scan input %d has rank %d", j,
                                  x->shape.rank);
        FWD_TRY(ir_infer_axis(c, axis, x->shape.rank, &a));
        int64_t len = x->shape.dims[a];
        if (ir_dim_known(len) && ir_dim_known(seq) && len != seq)
            return ir_infer_error(c, FWD_ERR_SHAPE, "scan inputs have different sequence "
                                  "lengths (%lld and %lld)", (long long)seq, (long long)len);
        if (!ir_dim_known(seq)) seq = len;
        if (v8 && !ir_dim_known(batch)) batch = x->shape.dims[0];
    }
    for (int i = 0; i < n_state; i++) {
        const ir_tensor *init = c->in[first + i], *bo = graph_output(body, i);
        if (!init) return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "state input %d is missing", i);
        c->out[i].dtype = pick_dtype(init->dtype, bo->dtype);
        c->out[i].shape = init->shape;
        if (!v8) c->out[i].shape = merge_shapes(&init->shape, &bo->shape);
    }
    for (int j = 0; j < n_scan_out; j++) {
        const ir_tensor *bo = graph_output(body, n_state + j);
        ir_tensor *o = &c->out[n_state + j];
        o->dtype = bo->dtype;
        int r = bo->shape.rank;
        if (r < 0 || r + (v8 ? 2 : 1) > IR_MAX_RANK) continue;
        if (v8) {
            o->shape.rank = r + 2;
            o->shape.dims[0] = batch;
            o->shape.dims[1] = seq;
            for (int d = 0; d < r; d++) o->shape.dims[d + 2] = bo->shape.dims[d];
            continue;
        }
        int a;
        FWD_TRY(ir_infer_axis(c, ints_at(c, "scan_output_axes", j, 0), r + 1, &a));
        o->shape.rank = r + 1;
        for (int d = 0, s = 0; d < r + 1; d++)
            o->shape.dims[d] = d == a ? seq : bo->shape.dims[s++];
    }
    c->data_dependent = true;
    return FWD_OK;
}

const ir_op_schema ir_schemas_control[] = {
    {"If", 1, 1, 0, -1, infer_if},
    {"Loop", 2, -1, 0, -1, infer_loop},
    {"Scan", 1, -1, 1, -1, infer_scan},
    {NULL, 0, 0, 0, 0, NULL},
};

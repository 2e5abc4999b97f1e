/*
 * Shape and type inference for the reduce op family: Reduce*, Softmax,
 * LogSoftmax, Hardmax, the normalisations, the losses, Einsum and Det.
 *
 * Canonical IR form of the Reduce* ops (all ten of them): the axes are
 * the optional int64 input 1 (as ReduceSum-13 and opset 18 have it), never
 * an attribute; attributes keepdims (default 1) and noop_with_empty_axes
 * (default 0). The importer moves an "axes" attribute into a constant.
 */
#include <string.h>

#include "ir/einsum_parse.h"
#include "ir/op_schema.h"
#include "util/error.h"

static bool is_numeric(fwd_dtype t)
{
    return ir_dtype_is_float(t) || ir_dtype_is_int(t) || t == FWD_BOOL;
}

static fwd_status need_float(const ir_infer_ctx *c, int i, const char *what)
{
    const ir_tensor *t = c->in[i];
    if (t && t->dtype != FWD_DTYPE_UNDEFINED && !ir_dtype_is_float(t->dtype))
        return ir_infer_error(c, FWD_ERR_DTYPE, "input %s must be a float tensor, got %s", what,
                              fwd_dtype_name(t->dtype));
    return FWD_OK;
}

static const ir_tensor *input(const ir_infer_ctx *c, int i)
{
    return i < c->n_in ? c->in[i] : NULL;
}

/* ---------------- Reduce* ---------------- */

/*
 * Which axes a reduce node reduces, for an input of known rank r.
 * *mode: 0 = the mask is valid, 1 = axes unknown (not constant),
 * 2 = no-op (empty axes with noop_with_empty_axes).
 */
static fwd_status reduce_axes(const ir_infer_ctx *c, int rank, bool *mask, int *mode)
{
    const ir_tensor *ax = input(c, 1);
    bool noop = ir_attr_int(c->node, "noop_with_empty_axes", 0) != 0;
    memset(mask, 0, sizeof(bool) * IR_MAX_RANK);
    *mode = 0;
    int64_t vals[IR_MAX_RANK + 1];
    int n = 0;
    if (ax) {
        if (ax->dtype != FWD_INT64 && ax->dtype != FWD_DTYPE_UNDEFINED)
            return ir_infer_error(c, FWD_ERR_DTYPE, "axes must be int64, got %s",
                                  fwd_dtype_name(ax->dtype));
        if (ax->shape.rank > 1)
            return ir_infer_error(c, FWD_ERR_SHAPE, "axes must be 1-D, got rank %d", ax->shape.rank);
        if (!ax->data) {
            /* A known empty axes tensor still decides the result. */
            if (ax->shape.rank == 1 && ax->shape.dims[0] == 0) {
                n = 0;
            } else {
                *mode = 1;
                return FWD_OK;
            }
        } else {
            int64_t numel = (int64_t)ir_tensor_numel(ax);
            if (numel > rank)
                return ir_infer_error(c, FWD_ERR_SHAPE, "%lld axes for an input of rank %d",
                                      (long long)numel, rank);
            n = ir_tensor_read_ints(ax, vals, IR_MAX_RANK + 1);
            if (n < 0) {
                *mode = 1;
                return FWD_OK;
            }
        }
    }
    if (n == 0) {
        if (noop) {
            *mode = 2;
            return FWD_OK;
        }
        for (int i = 0; i < rank; i++) mask[i] = true;
        return FWD_OK;
    }
    for (int i = 0; i < n; i++) {
        if (vals[i] < -rank || vals[i] >= rank)
            return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "axis %lld out of range [%d, %d)",
                                  (long long)vals[i], -rank, rank);
        int a = (int)(vals[i] < 0 ? vals[i] + rank : vals[i]);
        if (mask[a])
            return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "axis %lld repeated in axes",
                                  (long long)vals[i]);
        mask[a] = true;
    }
    return FWD_OK;
}

static fwd_status infer_reduce(ir_infer_ctx *c)
{
    const ir_tensor *x = c->in[0];
    if (!x) return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "missing input data");
    if (x->dtype != FWD_DTYPE_UNDEFINED && !is_numeric(x->dtype))
        return ir_infer_error(c, FWD_ERR_DTYPE, "unsupported dtype %s", fwd_dtype_name(x->dtype));
    bool keep = ir_attr_int(c->node, "keepdims", 1) != 0;
    ir_tensor *y = &c->out[0];
    y->dtype = x->dtype;
    y->shape.rank = -1;
    int rank = x->shape.rank;
    if (rank < 0) return FWD_OK;
    bool mask[IR_MAX_RANK];
    int mode;
    FWD_TRY(reduce_axes(c, rank, mask, &mode));
    if (mode == 2) {
        y->shape = x->shape;
        return FWD_OK;
    }
    if (mode == 1) {
        if (keep) { /* rank kept, each dim either kept or 1 */
            y->shape.rank = rank;
            for (int i = 0; i < rank; i++)
                y->shape.dims[i] = x->shape.dims[i] == 1 ? 1 : IR_DIM_UNKNOWN;
        }
        return FWD_OK;
    }
    int r = 0;
    for (int i = 0; i < rank; i++) {
        if (!mask[i])
            y->shape.dims[r++] = x->shape.dims[i];
        else if (keep)
            y->shape.dims[r++] = 1;
    }
    y->shape.rank = r;
    return FWD_OK;
}

/* ---------------- Softmax family ---------------- */

static fwd_status infer_softmax(ir_infer_ctx *c)
{
    FWD_TRY(need_float(c, 0, "input"));
    const ir_tensor *x = c->in[0];
    if (!x) return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "missing input");
    if (x->shape.rank >= 0) {
        int axis;
        int rank = x->shape.rank;
        /* A scalar has no axis; treat it as rank 1 for the check. */
        FWD_TRY(ir_infer_axis(c, ir_attr_int(c->node, "axis", -1), rank > 0 ? rank : 1, &axis));
    }
    ir_infer_copy(c, 0, 0);
    return FWD_OK;
}

/* ---------------- normalisations ---------------- */

/* Check that a per-channel input (scale, bias, mean, var) is 1-D of C. */
static fwd_status check_channel_vec(const ir_infer_ctx *c, int i, const char *what, int64_t C)
{
    const ir_tensor *t = input(c, i);
    if (!t) return FWD_OK;
    if (t->dtype != FWD_DTYPE_UNDEFINED && !ir_dtype_is_float(t->dtype))
        return ir_infer_error(c, FWD_ERR_DTYPE, "input %s must be a float tensor, got %s", what,
                              fwd_dtype_name(t->dtype));
    if (t->shape.rank < 0) return FWD_OK;
    if (t->shape.rank != 1)
        return ir_infer_error(c, FWD_ERR_SHAPE, "input %s must be 1-D, got rank %d", what,
                              t->shape.rank);
    if (C >= 0 && t->shape.dims[0] >= 0 && t->shape.dims[0] != C)
        return ir_infer_error(c, FWD_ERR_SHAPE, "input %s has %lld elements, expected %lld (channels)",
                              what, (long long)t->shape.dims[0], (long long)C);
    return FWD_OK;
}

static int64_t channels_of(const ir_tensor *x)
{
    return x->shape.rank >= 2 ? x->shape.dims[1] : IR_DIM_UNKNOWN;
}

static fwd_status need_rank_at_least(const ir_infer_ctx *c, const ir_tensor *x, int r)
{
    if (x->shape.rank >= 0 && x->shape.rank < r)
        return ir_infer_error(c, FWD_ERR_SHAPE, "input must have rank >= %d, got %d", r,
                              x->shape.rank);
    return FWD_OK;
}

static fwd_status infer_batchnorm(ir_infer_ctx *c)
{
    static const char *names[] = {"X", "scale", "B", "input_mean", "input_var"};
    FWD_TRY(need_float(c, 0, "X"));
    const ir_tensor *x = c->in[0];
    for (int i = 0; i < 5; i++)
        if (!input(c, i)) return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "missing input %s", names[i]);
    FWD_TRY(need_rank_at_least(c, x, 2));
    int64_t C = channels_of(x);
    for (int i = 1; i < 5; i++) FWD_TRY(check_channel_vec(c, i, names[i], C));
    ir_infer_copy(c, 0, 0);
    for (int i = 1; i < c->n_out && i < 3; i++) ir_infer_copy(c, i, i + 2);
    return FWD_OK;
}

static fwd_status infer_instancenorm(ir_infer_ctx *c)
{
    FWD_TRY(need_float(c, 0, "input"));
    const ir_tensor *x = c->in[0];
    if (!x || !input(c, 1) || !input(c, 2))
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "needs input, scale and B");
    FWD_TRY(need_rank_at_least(c, x, 3));
    int64_t C = channels_of(x);
    FWD_TRY(check_channel_vec(c, 1, "scale", C));
    FWD_TRY(check_channel_vec(c, 2, "B", C));
    ir_infer_copy(c, 0, 0);
    return FWD_OK;
}

static fwd_status infer_layernorm(ir_infer_ctx *c)
{
    FWD_TRY(need_float(c, 0, "X"));
    FWD_TRY(need_float(c, 1, "Scale"));
    if (input(c, 2)) FWD_TRY(need_float(c, 2, "B"));
    const ir_tensor *x = c->in[0];
    if (!x || !input(c, 1)) return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "needs X and Scale");
    ir_infer_copy(c, 0, 0);
    int rank = x->shape.rank;
    int axis = 0;
    if (rank >= 0) {
        if (rank == 0) return ir_infer_error(c, FWD_ERR_SHAPE, "X must have rank >= 1");
        FWD_TRY(ir_infer_axis(c, ir_attr_int(c->node, "axis", -1), rank, &axis));
    }
    /* Mean and InvStdDev: X's shape with the normalised dims set to 1. */
    int64_t stash = ir_attr_int(c->node, "stash_type", 1);
    fwd_dtype sd = stash == 1 ? FWD_FLOAT32 : x->dtype;
    for (int i = 1; i < c->n_out && i < 3; i++) {
        c->out[i].dtype = sd;
        c->out[i].shape.rank = rank;
        for (int d = 0; d < rank; d++) c->out[i].shape.dims[d] = d < axis ? x->shape.dims[d] : 1;
    }
    return FWD_OK;
}

static fwd_status infer_lpnorm(ir_infer_ctx *c)
{
    FWD_TRY(need_float(c, 0, "input"));
    int64_t p = ir_attr_int(c->node, "p", 2);
    if (p != 1 && p != 2) return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "p must be 1 or 2, got %lld", (long long)p);
    const ir_tensor *x = c->in[0];
    if (x->shape.rank >= 0) {
        int axis;
        FWD_TRY(ir_infer_axis(c, ir_attr_int(c->node, "axis", -1), x->shape.rank > 0 ? x->shape.rank : 1, &axis));
    }
    ir_infer_copy(c, 0, 0);
    return FWD_OK;
}

static fwd_status infer_lrn(ir_infer_ctx *c)
{
    FWD_TRY(need_float(c, 0, "X"));
    FWD_TRY(need_rank_at_least(c, c->in[0], 3));
    const ir_attr *size = ir_node_attr(c->node, "size");
    if (!size || size->type != IR_ATTR_INT || size->i < 1)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "attribute size must be a positive int");
    ir_infer_copy(c, 0, 0);
    return FWD_OK;
}

static fwd_status infer_mvn(ir_infer_ctx *c)
{
    FWD_TRY(need_float(c, 0, "X"));
    const ir_tensor *x = c->in[0];
    int n;
    const int64_t *axes = ir_attr_ints(c->node, "axes", &n);
    if (x->shape.rank >= 0) {
        if (!axes && x->shape.rank < 4)
            return ir_infer_error(c, FWD_ERR_SHAPE, "default axes [0,2,3] need rank >= 4, got %d",
                                  x->shape.rank);
        for (int i = 0; axes && i < n; i++) {
            int a;
            FWD_TRY(ir_infer_axis(c, axes[i], x->shape.rank, &a));
        }
    }
    ir_infer_copy(c, 0, 0);
    return FWD_OK;
}

/* ---------------- losses ---------------- */

static fwd_status infer_loss(ir_infer_ctx *c, bool sce)
{
    FWD_TRY(need_float(c, 0, sce ? "scores" : "input"));
    const ir_tensor *x = c->in[0], *t = input(c, 1), *w = input(c, 2);
    if (!x || !t) return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "needs input and target");
    if (t->dtype != FWD_INT32 && t->dtype != FWD_INT64 && t->dtype != FWD_DTYPE_UNDEFINED)
        return ir_infer_error(c, FWD_ERR_DTYPE, "target must be int32 or int64, got %s",
                              fwd_dtype_name(t->dtype));
    if (w) FWD_TRY(need_float(c, 2, "weights"));
    FWD_TRY(need_rank_at_least(c, x, 2));
    const char *red = ir_attr_string(c->node, "reduction", "mean");
    bool none = !strcmp(red, "none");
    if (!none && strcmp(red, "sum") && strcmp(red, "mean"))
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "unknown reduction '%s'", red);
    if (x->shape.rank >= 0 && t->shape.rank >= 0) {
        if (t->shape.rank != x->shape.rank - 1)
            return ir_infer_error(c, FWD_ERR_SHAPE, "target rank %d does not fit input rank %d",
                                  t->shape.rank, x->shape.rank);
        for (int i = 0; i < t->shape.rank; i++) {
            int64_t a = x->shape.dims[i == 0 ? 0 : i + 1], b = t->shape.dims[i];
            if (a >= 0 && b >= 0 && a != b)
                return ir_infer_error(c, FWD_ERR_SHAPE, "target dim %d is %lld, input has %lld", i,
                                      (long long)b, (long long)a);
        }
    }
    if (w && w->shape.rank >= 0 && w->shape.rank != 1)
        return ir_infer_error(c, FWD_ERR_SHAPE, "weights must be 1-D");
    ir_tensor *y = &c->out[0];
    y->dtype = x->dtype;
    if (none) {
        if (x->shape.rank >= 0) {
            y->shape.rank = x->shape.rank - 1;
            for (int i = 0; i < y->shape.rank; i++)
                y->shape.dims[i] = x->shape.dims[i == 0 ? 0 : i + 1];
        } else {
            y->shape = t->shape;
        }
    } else {
        y->shape.rank = 0;
    }
    if (sce && c->n_out > 1) ir_infer_copy(c, 1, 0);
    return FWD_OK;
}

static fwd_status infer_sce(ir_infer_ctx *c) { return infer_loss(c, true); }
static fwd_status infer_nll(ir_infer_ctx *c) { return infer_loss(c, false); }

/* ---------------- Einsum, Det ---------------- */

static fwd_status infer_einsum(ir_infer_ctx *c)
{
    const char *eq = ir_attr_string(c->node, "equation", NULL);
    if (!eq) return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "missing attribute equation");
    fwd_dtype dt = c->in[0] ? c->in[0]->dtype : FWD_DTYPE_UNDEFINED;
    for (int i = 0; i < c->n_in; i++) {
        if (!c->in[i]) return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "input %d is absent", i);
        if (c->in[i]->dtype != FWD_DTYPE_UNDEFINED && !is_numeric(c->in[i]->dtype))
            return ir_infer_error(c, FWD_ERR_DTYPE, "unsupported dtype %s", fwd_dtype_name(c->in[i]->dtype));
        if (dt != FWD_DTYPE_UNDEFINED && c->in[i]->dtype != FWD_DTYPE_UNDEFINED && c->in[i]->dtype != dt)
            return ir_infer_error(c, FWD_ERR_DTYPE, "inputs have different dtypes (%s, %s)",
                                  fwd_dtype_name(dt), fwd_dtype_name(c->in[i]->dtype));
    }
    ir_tensor *y = &c->out[0];
    y->dtype = dt;
    y->shape.rank = -1;
    const ir_shape *shapes[EINSUM_MAX_OPERANDS];
    for (int i = 0; i < c->n_in && i < EINSUM_MAX_OPERANDS; i++) shapes[i] = &c->in[i]->shape;
    einsum_spec spec;
    char msg[160];
    fwd_status s = einsum_parse(eq, c->n_in, shapes, &spec, msg, sizeof msg);
    if (s != FWD_OK) return ir_infer_error(c, s, "%s", msg);
    if (!spec.ranks_known) return FWD_OK;
    y->shape.rank = spec.out_rank;
    for (int i = 0; i < spec.out_rank; i++) y->shape.dims[i] = spec.label_dim[spec.out_labels[i]];
    return FWD_OK;
}

static fwd_status infer_det(ir_infer_ctx *c)
{
    FWD_TRY(need_float(c, 0, "X"));
    const ir_tensor *x = c->in[0];
    ir_tensor *y = &c->out[0];
    y->dtype = x->dtype;
    y->shape.rank = -1;
    int r = x->shape.rank;
    if (r < 0) return FWD_OK;
    if (r < 2) return ir_infer_error(c, FWD_ERR_SHAPE, "X must have rank >= 2, got %d", r);
    int64_t a = x->shape.dims[r - 2], b = x->shape.dims[r - 1];
    if (a >= 0 && b >= 0 && a != b)
        return ir_infer_error(c, FWD_ERR_SHAPE, "matrices must be square, got %lldx%lld",
                              (long long)a, (long long)b);
    y->shape.rank = r - 2;
    for (int i = 0; i < r - 2; i++) y->shape.dims[i] = x->shape.dims[i];
    return FWD_OK;
}

const ir_op_schema ir_schemas_reduce[] = {
    {"ReduceSum", 1, 2, 1, 1, infer_reduce},
    {"ReduceMean", 1, 2, 1, 1, infer_reduce},
    {"ReduceMax", 1, 2, 1, 1, infer_reduce},
    {"ReduceMin", 1, 2, 1, 1, infer_reduce},
    {"ReduceProd", 1, 2, 1, 1, infer_reduce},
    {"ReduceL1", 1, 2, 1, 1, infer_reduce},
    {"ReduceL2", 1, 2, 1, 1, infer_reduce},
    {"ReduceLogSum", 1, 2, 1, 1, infer_reduce},
    {"ReduceLogSumExp", 1, 2, 1, 1, infer_reduce},
    {"ReduceSumSquare", 1, 2, 1, 1, infer_reduce},
    {"Softmax", 1, 1, 1, 1, infer_softmax},
    {"LogSoftmax", 1, 1, 1, 1, infer_softmax},
    {"Hardmax", 1, 1, 1, 1, infer_softmax},
    {"BatchNormalization", 5, 5, 1, 3, infer_batchnorm},
    {"InstanceNormalization", 3, 3, 1, 1, infer_instancenorm},
    {"LayerNormalization", 2, 3, 1, 3, infer_layernorm},
    {"LpNormalization", 1, 1, 1, 1, infer_lpnorm},
    {"LRN", 1, 1, 1, 1, infer_lrn},
    {"MeanVarianceNormalization", 1, 1, 1, 1, infer_mvn},
    {"SoftmaxCrossEntropyLoss", 2, 3, 1, 2, infer_sce},
    {"NegativeLogLikelihoodLoss", 2, 3, 1, 1, infer_nll},
    {"Einsum", 1, -1, 1, 1, infer_einsum},
    {"Det", 1, 1, 1, 1, infer_det},
    {NULL, 0, 0, 0, 0, NULL},
};

/*
 * Shape and type inference for FusedConv and FusedMatMul (see fused_ops.h).
 * Both reuse the inference of the op they extend (Conv, MatMul) and then
 * check their extra operands: the residual Z, the bias/addend C and the
 * activation's name.
 */
#include <string.h>

#include "ir/fused_ops.h"
#include "util/error.h"

static const ir_tensor *in_at(const ir_infer_ctx *c, int i)
{
    return i < c->n_in ? c->in[i] : NULL;
}

/* The activations of the contract (fused_ops.h). */
static fwd_status check_activation(const ir_infer_ctx *c)
{
    static const char *const names[] = {"",     "Relu", "Clip",      "LeakyRelu", "Sigmoid",
                                        "SiLU", "Gelu", "GeluTanh", "HardSwish", "Tanh"};
    const char *act = ir_attr_string(c->node, "activation", "");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(act, names[i]) == 0) return FWD_OK;
    return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "unknown activation '%s'", act);
}

static fwd_status need_float_like(const ir_infer_ctx *c, const ir_tensor *t, const ir_tensor *ref,
                                  const char *what)
{
    if (!t || !ref || t->dtype == FWD_DTYPE_UNDEFINED || ref->dtype == FWD_DTYPE_UNDEFINED ||
        t->dtype == ref->dtype)
        return FWD_OK;
    return ir_infer_error(c, FWD_ERR_DTYPE, "input '%s' is %s, expected %s", what,
                          fwd_dtype_name(t->dtype), fwd_dtype_name(ref->dtype));
}

static bool is_float(fwd_dtype t)
{
    return t == FWD_FLOAT32 || t == FWD_FLOAT16 || t == FWD_FLOAT64 || t == FWD_BFLOAT16 ||
           t == FWD_DTYPE_UNDEFINED;
}

/* Runs the inference of base_op on the first n inputs of c. */
static fwd_status infer_as(ir_infer_ctx *c, const char *base_op, int n, const ir_tensor *const *in)
{
    const ir_op_schema *s = ir_op_schema_find(base_op);
    if (!s || !s->infer) return ir_infer_error(c, FWD_ERR_INTERNAL, "no schema for %s", base_op);
    ir_infer_ctx sub = *c;
    sub.n_in = n;
    sub.in = in;
    sub.n_out = c->n_out < 1 ? c->n_out : 1;
    return s->infer(&sub);
}

/* Z (or C) must broadcast onto y without growing it: when both shapes are
 * known, broadcast(y, t) == y. */
static fwd_status check_onto(const ir_infer_ctx *c, const ir_tensor *t, const ir_shape *y,
                             const char *what, bool exact)
{
    if (!t || t->shape.rank < 0 || y->rank < 0) return FWD_OK;
    if (exact && t->shape.rank != y->rank)
        return ir_infer_error(c, FWD_ERR_SHAPE, "input '%s' has rank %d, the output rank %d", what,
                              t->shape.rank, y->rank);
    if (t->shape.rank > y->rank)
        return ir_infer_error(c, FWD_ERR_SHAPE, "input '%s' has rank %d, above the output's %d", what,
                              t->shape.rank, y->rank);
    for (int i = 0; i < t->shape.rank; i++) {
        int64_t d = t->shape.dims[i], o = y->dims[y->rank - t->shape.rank + i];
        if (d < 0 || o < 0) continue;
        if (exact ? d != o : (d != 1 && d != o))
            return ir_infer_error(c, FWD_ERR_SHAPE,
                                  "input '%s' dim %d is %lld, does not fit the output's %lld", what, i,
                                  (long long)d, (long long)o);
    }
    return FWD_OK;
}

static fwd_status infer_fused_conv(ir_infer_ctx *c)
{
    FWD_TRY(check_activation(c));
    const ir_tensor *x = in_at(c, 0);
    if (x && !is_float(x->dtype))
        return ir_infer_error(c, FWD_ERR_DTYPE, "input 'X' has unsupported dtype %s",
                              fwd_dtype_name(x->dtype));
    const ir_tensor *w = in_at(c, 1);
    /* "fwd.w_shape" (backend/cpu/cpu_prepack.h): the weight input holds a
     * transformed weight; its logical shape is the attribute */
    ir_tensor logical_w;
    int n_dims = 0;
    const int64_t *dims = ir_attr_ints(c->node, "fwd.w_shape", &n_dims);
    if (w && dims) {
        if (n_dims < 3 || n_dims > IR_MAX_RANK)
            return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "fwd.w_shape has %d dims", n_dims);
        logical_w = *w;
        logical_w.data = NULL;
        logical_w.shape.rank = n_dims;
        memcpy(logical_w.shape.dims, dims, sizeof(int64_t) * (size_t)n_dims);
        w = &logical_w;
    }
    const ir_tensor *in[3] = {x, w, in_at(c, 2)};
    FWD_TRY(infer_as(c, "Conv", c->n_in < 3 ? c->n_in : 3, in));
    const ir_tensor *z = in_at(c, 3);
    FWD_TRY(need_float_like(c, z, x, "Z"));
    if (c->n_out > 0) FWD_TRY(check_onto(c, z, &c->out[0].shape, "Z", true));
    return FWD_OK;
}

/* A copy of t's shape with the last two dims swapped (rank >= 2). */
static void swapped(const ir_tensor *t, ir_tensor *out)
{
    *out = *t;
    out->data = NULL;
    int r = t->shape.rank;
    if (r < 2) return;
    out->shape.dims[r - 1] = t->shape.dims[r - 2];
    out->shape.dims[r - 2] = t->shape.dims[r - 1];
}

/* The LayerNormalization over Y's last axis (inputs 4 and 5): scale and
 * bias of A's dtype holding Y's last dim's elements, bias only with a
 * scale. */
static fwd_status check_norm(const ir_infer_ctx *c, const ir_tensor *a)
{
    const ir_tensor *s = in_at(c, 4), *b = in_at(c, 5);
    if (b && !s) return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "LayerNormalization bias without a scale");
    if (!s) return FWD_OK;
    FWD_TRY(need_float_like(c, s, a, "norm scale"));
    FWD_TRY(need_float_like(c, b, a, "norm bias"));
    if (c->n_out < 1 || c->out[0].shape.rank < 1) return FWD_OK;
    int64_t n = c->out[0].shape.dims[c->out[0].shape.rank - 1];
    const ir_tensor *t[2] = {s, b};
    for (int i = 0; i < 2; i++) {
        int64_t cnt = t[i] ? ir_shape_numel(&t[i]->shape) : -1;
        if (n >= 0 && cnt >= 0 && cnt != n)
            return ir_infer_error(c, FWD_ERR_SHAPE, "norm %s holds %lld elements, Y's last dim is %lld",
                                  i ? "bias" : "scale", (long long)cnt, (long long)n);
    }
    return FWD_OK;
}

static fwd_status infer_fused_matmul(ir_infer_ctx *c)
{
    FWD_TRY(check_activation(c));
    const ir_tensor *a = in_at(c, 0), *b = in_at(c, 1);
    if (!a || !b) return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "inputs A and B are required");
    if (!is_float(a->dtype))
        return ir_infer_error(c, FWD_ERR_DTYPE, "input 'A' has unsupported dtype %s",
                              fwd_dtype_name(a->dtype));
    bool ta = ir_attr_int(c->node, "transA", 0) != 0, tb = ir_attr_int(c->node, "transB", 0) != 0;
    /* "fwd.packed_n" (backend/cpu/cpu_prepack.h): B was packed at build
     * time into [ceil(N / 16), K, 16] panels holding a K x N matrix */
    int64_t packed_n = ir_attr_int(c->node, "fwd.packed_n", -1);
    ir_tensor logical_b;
    if (packed_n >= 0) {
        const ir_shape *bs = &b->shape;
        if (tb || packed_n < 1 || (bs->rank >= 0 && bs->rank != 3))
            return ir_infer_error(c, FWD_ERR_SHAPE, "packed B must be [panels, K, 16] without transB");
        if (bs->rank == 3 && ((bs->dims[2] >= 0 && bs->dims[2] != 16) ||
                              (bs->dims[0] >= 0 && bs->dims[0] != (packed_n + 15) / 16)))
            return ir_infer_error(c, FWD_ERR_SHAPE, "packed B does not hold %lld columns",
                                  (long long)packed_n);
        logical_b = *b;
        logical_b.data = NULL;
        logical_b.shape.rank = 2;
        logical_b.shape.dims[0] = bs->rank == 3 ? bs->dims[1] : IR_DIM_UNKNOWN;
        logical_b.shape.dims[1] = packed_n;
        b = &logical_b;
    }
    if ((ta && a->shape.rank == 1) || (tb && b->shape.rank == 1))
        return ir_infer_error(c, FWD_ERR_SHAPE, "transA/transB need operands of rank >= 2");
    ir_tensor at, bt;
    if (ta) swapped(a, &at);
    if (tb) swapped(b, &bt);
    const ir_tensor *in[2] = {ta ? &at : a, tb ? &bt : b};
    FWD_TRY(infer_as(c, "MatMul", 2, in));
    const ir_tensor *cc = in_at(c, 2);
    FWD_TRY(need_float_like(c, cc, a, "C"));
    if (c->n_out > 0) FWD_TRY(check_onto(c, cc, &c->out[0].shape, "C", false));
    const ir_tensor *z = in_at(c, 3);
    FWD_TRY(need_float_like(c, z, a, "Z"));
    if (c->n_out > 0) FWD_TRY(check_onto(c, z, &c->out[0].shape, "Z", true));
    return check_norm(c, a);
}

const ir_op_schema ir_schemas_fused_linear[] = {
    {"FusedConv", 2, 4, 1, 1, infer_fused_conv},
    {"FusedMatMul", 2, 6, 1, 1, infer_fused_matmul},
    {NULL, 0, 0, 0, 0, NULL},
};

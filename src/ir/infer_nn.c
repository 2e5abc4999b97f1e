/*
 * Shape and type inference for the nn op family: convolutions, matrix
 * products, pools, quantisation and detection ops.
 */
#include <string.h>

#include "ir/nn_window.h"
#include "ir/op_schema.h"
#include "util/error.h"

/* ---- small helpers ---- */

static const ir_tensor *in_at(const ir_infer_ctx *c, int i)
{
    return i < c->n_in ? c->in[i] : NULL;
}

/* Required inputs must be present (an empty name marks an absent one). */
static fwd_status need_inputs(const ir_infer_ctx *c, int n)
{
    for (int i = 0; i < n; i++)
        if (!in_at(c, i))
            return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "required input %d is missing", i);
    return FWD_OK;
}

static void set_out(ir_infer_ctx *c, int i, fwd_dtype dt, const ir_shape *s)
{
    if (i >= c->n_out) return;
    c->out[i].dtype = dt;
    c->out[i].shape = *s;
}

static void set_out_unknown(ir_infer_ctx *c, int i, fwd_dtype dt)
{
    ir_shape s = {.rank = -1};
    set_out(c, i, dt, &s);
}

static bool rank_known(const ir_tensor *t) { return t && t->shape.rank >= 0; }

/* A dim as a window size: known or -1. */
static int64_t known_or_neg(int64_t d) { return d >= 0 ? d : -1; }

static bool is_float(fwd_dtype t)
{
    return t == FWD_FLOAT32 || t == FWD_FLOAT16 || t == FWD_FLOAT64 || t == FWD_BFLOAT16;
}

static bool is_q8(fwd_dtype t) { return t == FWD_UINT8 || t == FWD_INT8; }

static fwd_status need_dtype(const ir_infer_ctx *c, const ir_tensor *t, const char *what, bool ok)
{
    if (!t || ok || t->dtype == FWD_DTYPE_UNDEFINED) return FWD_OK;
    return ir_infer_error(c, FWD_ERR_DTYPE, "input '%s' has unsupported dtype %s", what,
                          fwd_dtype_name(t->dtype));
}

static fwd_status need_same_dtype(const ir_infer_ctx *c, const ir_tensor *a, const ir_tensor *b,
                                  const char *an, const char *bn)
{
    if (!a || !b || a->dtype == FWD_DTYPE_UNDEFINED || b->dtype == FWD_DTYPE_UNDEFINED ||
        a->dtype == b->dtype)
        return FWD_OK;
    return ir_infer_error(c, FWD_ERR_DTYPE, "inputs '%s' (%s) and '%s' (%s) must have one dtype",
                          an, fwd_dtype_name(a->dtype), bn, fwd_dtype_name(b->dtype));
}

/* Two dims that must agree when both are known. */
static fwd_status need_dim_eq(const ir_infer_ctx *c, int64_t a, int64_t b, const char *what)
{
    if (a >= 0 && b >= 0 && a != b)
        return ir_infer_error(c, FWD_ERR_SHAPE, "%s: %lld vs %lld", what, (long long)a,
                              (long long)b);
    return FWD_OK;
}

/* ---- convolutions ---- */

/* Conv-like ops: X at xi, W at wi, optional bias at bi (-1: none). */
static fwd_status infer_conv_common(ir_infer_ctx *c, int xi, int wi, int bi, fwd_dtype out_dt,
                                    bool transpose)
{
    const ir_tensor *x = in_at(c, xi), *w = in_at(c, wi), *b = bi >= 0 ? in_at(c, bi) : NULL;
    int rank = rank_known(x) ? x->shape.rank : rank_known(w) ? w->shape.rank : -1;
    if (rank_known(x) && rank_known(w) && x->shape.rank != w->shape.rank)
        return ir_infer_error(c, FWD_ERR_SHAPE, "input X has rank %d but weight W has rank %d",
                              x->shape.rank, w->shape.rank);
    if (rank >= 0 && rank < 3)
        return ir_infer_error(c, FWD_ERR_SHAPE, "input X needs rank >= 3 (N, C, spatial...), got %d",
                              rank);
    int64_t group = ir_attr_int(c->node, "group", 1);
    if (group < 1 || group > ((int64_t)1 << 31)) /* channels times group stay far from overflow */
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "group must be in [1, 2^31], got %lld",
                              (long long)group);
    if (rank < 0) {
        set_out_unknown(c, 0, out_dt);
        return FWD_OK;
    }
    int nsp = rank - 2;
    int64_t kernel[IR_MAX_RANK], in_sp[IR_MAX_RANK];
    for (int i = 0; i < nsp; i++) {
        kernel[i] = rank_known(w) ? known_or_neg(w->shape.dims[i + 2]) : -1;
        in_sp[i] = rank_known(x) ? known_or_neg(x->shape.dims[i + 2]) : -1;
    }
    int64_t n = rank_known(x) ? x->shape.dims[0] : IR_DIM_UNKNOWN;
    int64_t cin = rank_known(x) ? x->shape.dims[1] : -1;
    int64_t w0 = rank_known(w) ? w->shape.dims[0] : -1;
    int64_t w1 = rank_known(w) ? w->shape.dims[1] : -1;
    int64_t m;
    if (!transpose) {
        FWD_TRY(need_dim_eq(c, cin, w1 >= 0 ? w1 * group : -1,
                            "input channels differ from weight channels times group"));
        if (w0 >= 0 && w0 % group != 0)
            return ir_infer_error(c, FWD_ERR_SHAPE, "weight has %lld filters, not a multiple of group %lld",
                                  (long long)w0, (long long)group);
        m = w0;
    } else {
        FWD_TRY(need_dim_eq(c, cin, w0, "input channels differ from the weight's first dim"));
        if (w0 >= 0 && w0 % group != 0)
            return ir_infer_error(c, FWD_ERR_SHAPE, "weight dim 0 (%lld) is not a multiple of group %lld",
                                  (long long)w0, (long long)group);
        m = w1 >= 0 ? w1 * group : -1;
    }
    if (b && rank_known(b)) {
        if (b->shape.rank != 1)
            return ir_infer_error(c, FWD_ERR_SHAPE, "bias must be 1-D, got rank %d", b->shape.rank);
        FWD_TRY(need_dim_eq(c, b->shape.dims[0], m, "bias size differs from output channels"));
    }
    nn_window win;
    nn_msg msg;
    fwd_status s = nn_window_init(&win, c->node, nsp, kernel, false, &msg);
    if (s == FWD_OK)
        s = transpose ? nn_window_transpose(&win, c->node, in_sp, &msg)
                      : nn_window_forward(&win, in_sp, &msg);
    if (s != FWD_OK) return ir_infer_error(c, s, "%s", msg.text);
    ir_shape out = {.rank = rank};
    out.dims[0] = n;
    out.dims[1] = m >= 0 ? m : IR_DIM_UNKNOWN;
    for (int i = 0; i < nsp; i++) out.dims[i + 2] = win.out[i];
    set_out(c, 0, out_dt, &out);
    return FWD_OK;
}

static fwd_status infer_conv(ir_infer_ctx *c)
{
    FWD_TRY(need_inputs(c, 2));
    const ir_tensor *x = in_at(c, 0);
    FWD_TRY(need_dtype(c, x, "X", is_float(x->dtype)));
    FWD_TRY(need_same_dtype(c, x, in_at(c, 1), "X", "W"));
    FWD_TRY(need_same_dtype(c, x, in_at(c, 2), "X", "B"));
    return infer_conv_common(c, 0, 1, 2, x->dtype, false);
}

static fwd_status infer_conv_transpose(ir_infer_ctx *c)
{
    FWD_TRY(need_inputs(c, 2));
    const ir_tensor *x = in_at(c, 0);
    FWD_TRY(need_dtype(c, x, "X", is_float(x->dtype)));
    FWD_TRY(need_same_dtype(c, x, in_at(c, 1), "X", "W"));
    FWD_TRY(need_same_dtype(c, x, in_at(c, 2), "X", "B"));
    return infer_conv_common(c, 0, 1, 2, x->dtype, true);
}

static fwd_status infer_conv_integer(ir_infer_ctx *c)
{
    FWD_TRY(need_inputs(c, 2));
    FWD_TRY(need_dtype(c, in_at(c, 0), "x", is_q8(in_at(c, 0)->dtype)));
    FWD_TRY(need_dtype(c, in_at(c, 1), "w", is_q8(in_at(c, 1)->dtype)));
    return infer_conv_common(c, 0, 1, -1, FWD_INT32, false);
}

static fwd_status infer_qlinear_conv(ir_infer_ctx *c)
{
    FWD_TRY(need_inputs(c, 8));
    const ir_tensor *x = in_at(c, 0), *w = in_at(c, 3), *yzp = in_at(c, 7);
    FWD_TRY(need_dtype(c, x, "x", is_q8(x->dtype)));
    FWD_TRY(need_dtype(c, w, "w", is_q8(w->dtype)));
    FWD_TRY(need_dtype(c, in_at(c, 8), "B", in_at(c, 8) && in_at(c, 8)->dtype == FWD_INT32));
    fwd_dtype dt = yzp ? yzp->dtype : x->dtype;
    return infer_conv_common(c, 0, 3, 8, dt, false);
}

/* ---- matrix products ---- */

/* numpy matmul shapes of a and b into out. */
static fwd_status matmul_shape(ir_infer_ctx *c, const ir_tensor *a, const ir_tensor *b, ir_shape *out)
{
    out->rank = -1;
    if (!rank_known(a) || !rank_known(b)) return FWD_OK;
    int ra = a->shape.rank, rb = b->shape.rank;
    if (ra == 0 || rb == 0)
        return ir_infer_error(c, FWD_ERR_SHAPE, "operands must have rank >= 1 (got %d and %d)", ra,
                              rb);
    int64_t k_a = a->shape.dims[ra - 1];
    int64_t k_b = rb == 1 ? b->shape.dims[0] : b->shape.dims[rb - 2];
    if (k_a >= 0 && k_b >= 0 && k_a != k_b)
        return ir_infer_error(c, FWD_ERR_SHAPE,
                              "inner dimensions differ: A has %lld columns, B has %lld rows",
                              (long long)k_a, (long long)k_b);
    ir_shape ba = {.rank = ra > 2 ? ra - 2 : 0}, bb = {.rank = rb > 2 ? rb - 2 : 0}, bo;
    memcpy(ba.dims, a->shape.dims, sizeof(int64_t) * (size_t)ba.rank);
    memcpy(bb.dims, b->shape.dims, sizeof(int64_t) * (size_t)bb.rank);
    if (ir_broadcast_shapes(&ba, &bb, &bo) != FWD_OK)
        return ir_infer_error(c, FWD_ERR_SHAPE, "batch dimensions do not broadcast");
    int r = bo.rank;
    if (ra > 1) bo.dims[r++] = a->shape.dims[ra - 2];
    if (rb > 1) bo.dims[r++] = b->shape.dims[rb - 1];
    if (r > IR_MAX_RANK) return ir_infer_error(c, FWD_ERR_SHAPE, "result rank too large");
    bo.rank = r;
    *out = bo;
    return FWD_OK;
}

static bool matmul_dtype_ok(fwd_dtype t)
{
    return is_float(t) || t == FWD_INT32 || t == FWD_INT64 || t == FWD_UINT32 || t == FWD_UINT64;
}

static fwd_status infer_matmul(ir_infer_ctx *c)
{
    FWD_TRY(need_inputs(c, 2));
    const ir_tensor *a = in_at(c, 0), *b = in_at(c, 1);
    FWD_TRY(need_dtype(c, a, "A", matmul_dtype_ok(a->dtype)));
    FWD_TRY(need_same_dtype(c, a, b, "A", "B"));
    ir_shape s;
    FWD_TRY(matmul_shape(c, a, b, &s));
    set_out(c, 0, a->dtype, &s);
    return FWD_OK;
}

static fwd_status infer_matmul_integer(ir_infer_ctx *c)
{
    FWD_TRY(need_inputs(c, 2));
    const ir_tensor *a = in_at(c, 0), *b = in_at(c, 1);
    FWD_TRY(need_dtype(c, a, "A", is_q8(a->dtype)));
    FWD_TRY(need_dtype(c, b, "B", is_q8(b->dtype)));
    ir_shape s;
    FWD_TRY(matmul_shape(c, a, b, &s));
    set_out(c, 0, FWD_INT32, &s);
    return FWD_OK;
}

static fwd_status infer_qlinear_matmul(ir_infer_ctx *c)
{
    FWD_TRY(need_inputs(c, 8));
    const ir_tensor *a = in_at(c, 0), *b = in_at(c, 3), *yzp = in_at(c, 7);
    FWD_TRY(need_dtype(c, a, "a", is_q8(a->dtype)));
    FWD_TRY(need_dtype(c, b, "b", is_q8(b->dtype)));
    ir_shape s;
    FWD_TRY(matmul_shape(c, a, b, &s));
    set_out(c, 0, yzp ? yzp->dtype : a->dtype, &s);
    return FWD_OK;
}

static fwd_status infer_gemm(ir_infer_ctx *c)
{
    FWD_TRY(need_inputs(c, 2));
    const ir_tensor *a = in_at(c, 0), *b = in_at(c, 1), *cc = in_at(c, 2);
    FWD_TRY(need_dtype(c, a, "A", matmul_dtype_ok(a->dtype)));
    FWD_TRY(need_same_dtype(c, a, b, "A", "B"));
    FWD_TRY(need_same_dtype(c, a, cc, "A", "C"));
    bool ta = ir_attr_int(c->node, "transA", 0) != 0, tb = ir_attr_int(c->node, "transB", 0) != 0;
    if (rank_known(a) && a->shape.rank != 2)
        return ir_infer_error(c, FWD_ERR_SHAPE, "input A must be 2-D, got rank %d", a->shape.rank);
    if (rank_known(b) && b->shape.rank != 2)
        return ir_infer_error(c, FWD_ERR_SHAPE, "input B must be 2-D, got rank %d", b->shape.rank);
    int64_t m = rank_known(a) ? a->shape.dims[ta ? 1 : 0] : IR_DIM_UNKNOWN;
    int64_t ka = rank_known(a) ? a->shape.dims[ta ? 0 : 1] : -1;
    int64_t kb = rank_known(b) ? b->shape.dims[tb ? 1 : 0] : -1;
    int64_t n = rank_known(b) ? b->shape.dims[tb ? 0 : 1] : IR_DIM_UNKNOWN;
    FWD_TRY(need_dim_eq(c, ka, kb, "inner dimensions of A and B differ"));
    ir_shape out = {.rank = 2, .dims = {m, n}};
    if (cc && rank_known(cc)) {
        if (cc->shape.rank > 2)
            return ir_infer_error(c, FWD_ERR_SHAPE, "input C must have rank <= 2, got %d",
                                  cc->shape.rank);
        ir_shape tmp;
        if (ir_broadcast_shapes(&cc->shape, &out, &tmp) != FWD_OK)
            return ir_infer_error(c, FWD_ERR_SHAPE, "input C does not broadcast to [M, N]");
        /* C broadcasts one way only: it may fill an unknown M or N. */
        for (int i = 0; i < 2; i++)
            if (out.dims[i] < 0 && tmp.dims[i] >= 0 && tmp.dims[i] != 1) out.dims[i] = tmp.dims[i];
        for (int i = 0; i < 2; i++)
            if (out.dims[i] >= 0 && tmp.dims[i] >= 0 && tmp.dims[i] != out.dims[i])
                return ir_infer_error(c, FWD_ERR_SHAPE, "input C does not broadcast to [M, N]");
    }
    set_out(c, 0, a->dtype, &out);
    return FWD_OK;
}

/* ---- pools ---- */

static fwd_status infer_pool_common(ir_infer_ctx *c, bool ceil_ok)
{
    const ir_tensor *x = in_at(c, 0);
    if (!rank_known(x)) {
        set_out_unknown(c, 0, x->dtype);
        set_out_unknown(c, 1, FWD_INT64);
        return FWD_OK;
    }
    int rank = x->shape.rank;
    if (rank < 3)
        return ir_infer_error(c, FWD_ERR_SHAPE, "input X needs rank >= 3 (N, C, spatial...), got %d",
                              rank);
    int nsp = rank - 2;
    int64_t in_sp[IR_MAX_RANK];
    for (int i = 0; i < nsp; i++) in_sp[i] = known_or_neg(x->shape.dims[i + 2]);
    nn_window win;
    nn_msg msg;
    fwd_status s = nn_window_init(&win, c->node, nsp, NULL, ceil_ok, &msg);
    if (s == FWD_OK) s = nn_window_forward(&win, in_sp, &msg);
    if (s != FWD_OK) return ir_infer_error(c, s, "%s", msg.text);
    ir_shape out = {.rank = rank, .dims = {x->shape.dims[0], x->shape.dims[1]}};
    for (int i = 0; i < nsp; i++) out.dims[i + 2] = win.out[i];
    set_out(c, 0, x->dtype, &out);
    set_out(c, 1, FWD_INT64, &out);
    return FWD_OK;
}

static fwd_status infer_max_pool(ir_infer_ctx *c)
{
    FWD_TRY(need_inputs(c, 1));
    const ir_tensor *x = in_at(c, 0);
    FWD_TRY(need_dtype(c, x, "X", is_float(x->dtype) || is_q8(x->dtype)));
    int64_t so = ir_attr_int(c->node, "storage_order", 0);
    if (so != 0 && so != 1)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "storage_order must be 0 or 1, got %lld",
                              (long long)so);
    return infer_pool_common(c, true);
}

static fwd_status infer_avg_pool(ir_infer_ctx *c)
{
    FWD_TRY(need_inputs(c, 1));
    const ir_tensor *x = in_at(c, 0);
    FWD_TRY(need_dtype(c, x, "X", is_float(x->dtype)));
    return infer_pool_common(c, true);
}

static fwd_status infer_lp_pool(ir_infer_ctx *c)
{
    FWD_TRY(need_inputs(c, 1));
    const ir_tensor *x = in_at(c, 0);
    FWD_TRY(need_dtype(c, x, "X", is_float(x->dtype)));
    return infer_pool_common(c, true);
}

static fwd_status infer_global_pool(ir_infer_ctx *c)
{
    FWD_TRY(need_inputs(c, 1));
    const ir_tensor *x = in_at(c, 0);
    FWD_TRY(need_dtype(c, x, "X", is_float(x->dtype)));
    if (!rank_known(x)) {
        set_out_unknown(c, 0, x->dtype);
        return FWD_OK;
    }
    if (x->shape.rank < 3)
        return ir_infer_error(c, FWD_ERR_SHAPE, "input X needs rank >= 3 (N, C, spatial...), got %d",
                              x->shape.rank);
    ir_shape out = x->shape;
    for (int i = 2; i < out.rank; i++) out.dims[i] = 1;
    set_out(c, 0, x->dtype, &out);
    return FWD_OK;
}

static fwd_status infer_max_unpool(ir_infer_ctx *c)
{
    FWD_TRY(need_inputs(c, 2));
    const ir_tensor *x = in_at(c, 0), *idx = in_at(c, 1), *os = in_at(c, 2);
    FWD_TRY(need_dtype(c, x, "X", is_float(x->dtype)));
    FWD_TRY(need_dtype(c, idx, "I", idx->dtype == FWD_INT64));
    if (!rank_known(x)) {
        set_out_unknown(c, 0, x->dtype);
        return FWD_OK;
    }
    int rank = x->shape.rank;
    if (rank < 3)
        return ir_infer_error(c, FWD_ERR_SHAPE, "input X needs rank >= 3, got %d", rank);
    if (rank_known(idx) && !ir_shape_equal(&idx->shape, &x->shape) && ir_shape_known(&idx->shape) &&
        ir_shape_known(&x->shape))
        return ir_infer_error(c, FWD_ERR_SHAPE, "indices I must have the shape of X");
    ir_shape out = {.rank = rank, .dims = {x->shape.dims[0], x->shape.dims[1]}};
    if (os) {
        FWD_TRY(need_dtype(c, os, "output_shape", os->dtype == FWD_INT64));
        if (ir_shape_known(&os->shape) && ir_shape_numel(&os->shape) != rank)
            return ir_infer_error(c, FWD_ERR_SHAPE, "output_shape has %lld values, X has rank %d",
                                  (long long)ir_shape_numel(&os->shape), rank);
        int64_t vals[IR_MAX_RANK];
        int n = os->data ? ir_tensor_read_ints(os, vals, IR_MAX_RANK) : -1;
        if (n >= 0 && n != rank)
            return ir_infer_error(c, FWD_ERR_SHAPE, "output_shape has %d values, X has rank %d", n,
                                  rank);
        for (int i = 2; i < rank; i++) out.dims[i] = n >= 0 ? vals[i] : IR_DIM_UNKNOWN;
        if (n >= 0)
            for (int i = 0; i < rank; i++)
                if (vals[i] < 0)
                    return ir_infer_error(c, FWD_ERR_SHAPE, "output_shape value %lld is negative",
                                          (long long)vals[i]);
        set_out(c, 0, x->dtype, &out);
        return FWD_OK;
    }
    nn_window win;
    nn_msg msg;
    fwd_status s = nn_window_init(&win, c->node, rank - 2, NULL, false, &msg);
    if (s != FWD_OK) return ir_infer_error(c, s, "%s", msg.text);
    for (int i = 0; i < rank - 2; i++) {
        int64_t d = x->shape.dims[i + 2];
        if (d < 0) {
            out.dims[i + 2] = IR_DIM_UNKNOWN;
            continue;
        }
        int64_t o = (d - 1) * win.stride[i] + win.kernel[i] - win.pad_begin[i] - win.pad_end[i];
        if (o < 0) return ir_infer_error(c, FWD_ERR_SHAPE, "pads exceed the output size");
        out.dims[i + 2] = o;
    }
    set_out(c, 0, x->dtype, &out);
    return FWD_OK;
}

/* ---- detection ---- */

static fwd_status infer_roi_common(ir_infer_ctx *c, int64_t oh, int64_t ow, int roi_cols)
{
    const ir_tensor *x = in_at(c, 0), *rois = in_at(c, 1);
    FWD_TRY(need_dtype(c, x, "X", is_float(x->dtype)));
    FWD_TRY(need_same_dtype(c, x, rois, "X", "rois"));
    if (rank_known(x) && x->shape.rank != 4)
        return ir_infer_error(c, FWD_ERR_SHAPE, "input X must be 4-D (N, C, H, W), got rank %d",
                              x->shape.rank);
    if (rank_known(rois) && rois->shape.rank != 2)
        return ir_infer_error(c, FWD_ERR_SHAPE, "rois must be 2-D, got rank %d", rois->shape.rank);
    if (rank_known(rois))
        FWD_TRY(need_dim_eq(c, rois->shape.dims[1], roi_cols, "rois columns"));
    ir_shape out = {.rank = 4,
                    .dims = {rank_known(rois) ? rois->shape.dims[0] : IR_DIM_UNKNOWN,
                             rank_known(x) ? x->shape.dims[1] : IR_DIM_UNKNOWN, oh, ow}};
    set_out(c, 0, x->dtype, &out);
    return FWD_OK;
}

static fwd_status infer_roi_align(ir_infer_ctx *c)
{
    FWD_TRY(need_inputs(c, 3));
    int64_t oh = ir_attr_int(c->node, "output_height", 1);
    int64_t ow = ir_attr_int(c->node, "output_width", 1);
    if (oh < 1 || ow < 1 || oh > (1 << 20) || ow > (1 << 20))
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "output_height/output_width out of range");
    if (ir_attr_int(c->node, "sampling_ratio", 0) < 0)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "sampling_ratio must be >= 0");
    const char *mode = ir_attr_string(c->node, "mode", "avg");
    if (strcmp(mode, "avg") && strcmp(mode, "max"))
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "unknown mode '%s'", mode);
    const char *ctm = ir_attr_string(c->node, "coordinate_transformation_mode", "half_pixel");
    if (strcmp(ctm, "half_pixel") && strcmp(ctm, "output_half_pixel"))
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "unknown coordinate_transformation_mode '%s'",
                              ctm);
    const ir_tensor *bi = in_at(c, 2), *rois = in_at(c, 1);
    FWD_TRY(need_dtype(c, bi, "batch_indices", bi->dtype == FWD_INT64 || bi->dtype == FWD_INT32));
    if (rank_known(bi) && bi->shape.rank != 1)
        return ir_infer_error(c, FWD_ERR_SHAPE, "batch_indices must be 1-D");
    if (rank_known(bi) && rank_known(rois))
        FWD_TRY(need_dim_eq(c, bi->shape.dims[0], rois->shape.dims[0],
                            "batch_indices size differs from the number of rois"));
    return infer_roi_common(c, oh, ow, 4);
}

static fwd_status infer_max_roi_pool(ir_infer_ctx *c)
{
    FWD_TRY(need_inputs(c, 2));
    int n = 0;
    const int64_t *ps = ir_attr_ints(c->node, "pooled_shape", &n);
    if (!ps || n != 2 || ps[0] < 1 || ps[1] < 1 || ps[0] > (1 << 20) || ps[1] > (1 << 20))
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL,
                              "attribute 'pooled_shape' must hold two positive sizes");
    return infer_roi_common(c, ps[0], ps[1], 5);
}

static fwd_status infer_nms(ir_infer_ctx *c)
{
    FWD_TRY(need_inputs(c, 2));
    const ir_tensor *boxes = in_at(c, 0), *scores = in_at(c, 1);
    FWD_TRY(need_dtype(c, boxes, "boxes", boxes->dtype == FWD_FLOAT32));
    FWD_TRY(need_dtype(c, scores, "scores", scores->dtype == FWD_FLOAT32));
    int64_t cpb = ir_attr_int(c->node, "center_point_box", 0);
    if (cpb != 0 && cpb != 1)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "center_point_box must be 0 or 1");
    if (rank_known(boxes) && (boxes->shape.rank != 3 || (boxes->shape.dims[2] >= 0 && boxes->shape.dims[2] != 4)))
        return ir_infer_error(c, FWD_ERR_SHAPE, "boxes must have shape [batch, boxes, 4]");
    if (rank_known(scores) && scores->shape.rank != 3)
        return ir_infer_error(c, FWD_ERR_SHAPE, "scores must have shape [batch, classes, boxes]");
    if (rank_known(boxes) && rank_known(scores)) {
        FWD_TRY(need_dim_eq(c, boxes->shape.dims[0], scores->shape.dims[0], "batch sizes of boxes and scores differ"));
        FWD_TRY(need_dim_eq(c, boxes->shape.dims[1], scores->shape.dims[2], "box counts of boxes and scores differ"));
    }
    ir_shape out = {.rank = 2, .dims = {IR_DIM_UNKNOWN, 3}};
    set_out(c, 0, FWD_INT64, &out);
    c->data_dependent = true;
    return FWD_OK;
}

/* ---- quantisation ---- */

/* Checks scale/zero-point shapes of a (de)quantise op against x. */
static fwd_status check_quant_params(ir_infer_ctx *c, const ir_tensor *x, const ir_tensor *scale,
                                     const ir_tensor *zp)
{
    if (rank_known(scale) && rank_known(zp) && ir_shape_known(&scale->shape) &&
        ir_shape_known(&zp->shape) && ir_shape_numel(&scale->shape) != ir_shape_numel(&zp->shape))
        return ir_infer_error(c, FWD_ERR_SHAPE, "scale and zero point differ in size");
    if (!rank_known(scale)) return FWD_OK;
    if (scale->shape.rank > 1)
        return ir_infer_error(c, FWD_ERR_SHAPE, "scale must be a scalar or 1-D, got rank %d",
                              scale->shape.rank);
    if (scale->shape.rank == 1 && rank_known(x) && scale->shape.dims[0] != 1) {
        int axis;
        FWD_TRY(ir_infer_axis(c, ir_attr_int(c->node, "axis", 1), x->shape.rank, &axis));
        FWD_TRY(need_dim_eq(c, scale->shape.dims[0], x->shape.dims[axis],
                            "per-axis scale size differs from the axis size"));
    }
    return FWD_OK;
}

static fwd_status infer_quantize(ir_infer_ctx *c)
{
    FWD_TRY(need_inputs(c, 2));
    const ir_tensor *x = in_at(c, 0), *scale = in_at(c, 1), *zp = in_at(c, 2);
    FWD_TRY(need_dtype(c, x, "x", is_float(x->dtype) || x->dtype == FWD_INT32));
    FWD_TRY(need_dtype(c, scale, "y_scale", is_float(scale->dtype)));
    if (zp) FWD_TRY(need_dtype(c, zp, "y_zero_point", is_q8(zp->dtype)));
    FWD_TRY(check_quant_params(c, x, scale, zp));
    set_out(c, 0, zp ? zp->dtype : FWD_UINT8, &x->shape);
    return FWD_OK;
}

static fwd_status infer_dequantize(ir_infer_ctx *c)
{
    FWD_TRY(need_inputs(c, 2));
    const ir_tensor *x = in_at(c, 0), *scale = in_at(c, 1), *zp = in_at(c, 2);
    FWD_TRY(need_dtype(c, x, "x", is_q8(x->dtype) || x->dtype == FWD_INT32));
    FWD_TRY(need_dtype(c, scale, "x_scale", is_float(scale->dtype)));
    FWD_TRY(need_same_dtype(c, x, zp, "x", "x_zero_point"));
    FWD_TRY(check_quant_params(c, x, scale, zp));
    set_out(c, 0, FWD_FLOAT32, &x->shape);
    return FWD_OK;
}

static fwd_status infer_dynamic_quantize(ir_infer_ctx *c)
{
    FWD_TRY(need_inputs(c, 1));
    const ir_tensor *x = in_at(c, 0);
    FWD_TRY(need_dtype(c, x, "x", x->dtype == FWD_FLOAT32));
    ir_shape scalar = {.rank = 0};
    set_out(c, 0, FWD_UINT8, &x->shape);
    set_out(c, 1, FWD_FLOAT32, &scalar);
    set_out(c, 2, FWD_UINT8, &scalar);
    return FWD_OK;
}

const ir_op_schema ir_schemas_nn[] = {
    {"Conv", 2, 3, 1, 1, infer_conv},
    {"ConvTranspose", 2, 3, 1, 1, infer_conv_transpose},
    {"ConvInteger", 2, 4, 1, 1, infer_conv_integer},
    {"QLinearConv", 8, 9, 1, 1, infer_qlinear_conv},
    {"MatMul", 2, 2, 1, 1, infer_matmul},
    {"Gemm", 2, 3, 1, 1, infer_gemm},
    {"MatMulInteger", 2, 4, 1, 1, infer_matmul_integer},
    {"QLinearMatMul", 8, 8, 1, 1, infer_qlinear_matmul},
    {"MaxPool", 1, 1, 1, 2, infer_max_pool},
    {"AveragePool", 1, 1, 1, 1, infer_avg_pool},
    {"LpPool", 1, 1, 1, 1, infer_lp_pool},
    {"GlobalAveragePool", 1, 1, 1, 1, infer_global_pool},
    {"GlobalMaxPool", 1, 1, 1, 1, infer_global_pool},
    {"GlobalLpPool", 1, 1, 1, 1, infer_global_pool},
    {"MaxUnpool", 2, 3, 1, 1, infer_max_unpool},
    {"MaxRoiPool", 2, 2, 1, 1, infer_max_roi_pool},
    {"RoiAlign", 3, 3, 1, 1, infer_roi_align},
    {"NonMaxSuppression", 2, 5, 1, 1, infer_nms},
    {"QuantizeLinear", 2, 3, 1, 1, infer_quantize},
    {"DequantizeLinear", 2, 3, 1, 1, infer_dequantize},
    {"DynamicQuantizeLinear", 1, 1, 3, 3, infer_dynamic_quantize},
    {NULL, 0, 0, 0, 0, NULL},
};

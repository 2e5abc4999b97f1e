/*
 * CPU kernels for the Reduce* ops, and the family's kernel table.
 *
 * The input shape is collapsed (size-1 dims dropped, neighbouring dims
 * merged when both are reduced or both kept). When at most one reduced
 * group is left the reduction is [O, R, I] with contiguous rows; float32
 * has tight paths for I == 1 (row reduce) and I > 1 (accumulate rows into
 * a column block). Other patterns and dtypes take a generic strided path
 * (double for floats, int64 for integers).
 */
#include <float.h>
#include <stdlib.h>

#include "backend/cpu/reduce_common.h"

typedef enum red_kind {
    RK_SUM, RK_MEAN, RK_MAX, RK_MIN, RK_PROD, RK_L1, RK_L2, RK_LOGSUM, RK_LOGSUMEXP, RK_SUMSQ
} red_kind;

/* ---------------- axes ---------------- */

static fwd_status read_axes(fwd_kernel_ctx *k, int rank, bool *mask, bool *noop)
{
    const ir_tensor *ax = k->n_in > 1 ? k->in[1] : NULL;
    int64_t n = ax ? (int64_t)ir_tensor_numel(ax) : 0;
    memset(mask, 0, sizeof(bool) * IR_MAX_RANK);
    *noop = false;
    if (n == 0) {
        if (ir_attr_int(k->node, "noop_with_empty_axes", 0)) {
            *noop = true;
            return FWD_OK;
        }
        for (int i = 0; i < rank; i++) mask[i] = true;
        return FWD_OK;
    }
    if (ax->dtype != FWD_INT64 && ax->dtype != FWD_INT32)
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "axes must be int64, got %s", fwd_dtype_name(ax->dtype));
    if (n > rank)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "%lld axes for an input of rank %d", (long long)n, rank);
    for (int64_t i = 0; i < n; i++) {
        int64_t a = cpu_get_index(ax, i);
        if (a < -rank || a >= rank)
            return cpu_kernel_error(k, FWD_ERR_SHAPE, "axis %lld out of range [%d, %d)", (long long)a,
                                    -rank, rank);
        if (a < 0) a += rank;
        if (mask[a])
            return cpu_kernel_error(k, FWD_ERR_SHAPE, "axis %lld repeated in axes", (long long)a);
        mask[a] = true;
    }
    return FWD_OK;
}

/* ---------------- shared per-kind arithmetic (double) ---------------- */

static double kind_init(red_kind kind)
{
    switch (kind) {
    case RK_PROD: return 1.0;
    case RK_MAX: return -INFINITY;
    case RK_MIN: return INFINITY;
    default: return 0.0;
    }
}

static double kind_post(red_kind kind, double acc, int64_t R)
{
    switch (kind) {
    case RK_MEAN: return acc / (double)R;
    case RK_L2: return sqrt(acc);
    case RK_LOGSUM: return log(acc);
    default: return acc;
    }
}

/* ---------------- float32 fast paths ---------------- */

typedef struct f32_job {
    red_kind kind;
    const float *x;
    float *y;
    int64_t O, R, I, nblk;
} f32_job;

static float row_reduce(red_kind kind, const float *r, int64_t R)
{
    switch (kind) {
    case RK_SUM: return red_sum_f32(r, R);
    case RK_MEAN: return red_sum_f32(r, R) / (float)R;
    case RK_MAX: return red_max_f32(r, R);
    case RK_MIN: return red_min_f32(r, R);
    case RK_L1: return red_sumabs_f32(r, R);
    case RK_L2: return sqrtf(red_sumsq_centered_f32(r, R, 0.0f));
    case RK_SUMSQ: return red_sumsq_centered_f32(r, R, 0.0f);
    case RK_LOGSUM: return logf(red_sum_f32(r, R));
    case RK_LOGSUMEXP: {
        float m = red_max_f32(r, R);
        if (isinf(m)) return m;
        return m + (float)log(red_exp_sum_f32(r, R, m));
    }
    case RK_PROD: {
        float p = 1.0f;
        for (int64_t i = 0; i < R; i++) p *= r[i];
        return p;
    }
    }
    return 0.0f;
}

static void row_task(void *arg, int64_t b, int64_t e)
{
    const f32_job *j = arg;
    for (int64_t o = b; o < e; o++) j->y[o] = row_reduce(j->kind, j->x + o * j->R, j->R);
}

#define COL_BLK 256

/* acc[0..n) = sum over R rows (stride I) of x, |x| (mode 1) or x^2
 * (mode 2); four rows per pass to cut the loads and stores of acc. */
static void col_accumulate(float *acc, const float *x, int64_t R, int64_t I, int64_t n, int mode)
{
    memset(acc, 0, sizeof(float) * (size_t)n);
    int64_t r = 0;
    for (; r + 4 <= R; r += 4) {
        const float *x0 = x + r * I, *x1 = x0 + I, *x2 = x1 + I, *x3 = x2 + I;
        if (mode == 0)
            for (int64_t i = 0; i < n; i++) acc[i] += (x0[i] + x1[i]) + (x2[i] + x3[i]);
        else if (mode == 1)
            for (int64_t i = 0; i < n; i++) acc[i] += (fabsf(x0[i]) + fabsf(x1[i])) + (fabsf(x2[i]) + fabsf(x3[i]));
        else
            for (int64_t i = 0; i < n; i++) acc[i] += (x0[i] * x0[i] + x1[i] * x1[i]) + (x2[i] * x2[i] + x3[i] * x3[i]);
    }
    for (; r < R; r++) {
        const float *xr = x + r * I;
        if (mode == 0)
            for (int64_t i = 0; i < n; i++) acc[i] += xr[i];
        else if (mode == 1)
            for (int64_t i = 0; i < n; i++) acc[i] += fabsf(xr[i]);
        else
            for (int64_t i = 0; i < n; i++) acc[i] += xr[i] * xr[i];
    }
}

/* One [O, R, I] column block: y[o, i0:i1] = reduce_r x[o, r, i0:i1]. */
static void col_block(const f32_job *j, int64_t o, int64_t i0, int64_t n)
{
    const float *x = j->x + o * j->R * j->I + i0;
    int64_t R = j->R, I = j->I;
    float acc[COL_BLK];
    red_kind kind = j->kind;
    switch (kind) {
    case RK_MAX:
    case RK_MIN:
    case RK_LOGSUMEXP:
        memcpy(acc, x, sizeof(float) * (size_t)n);
        for (int64_t r = 1; r < R; r++) {
            const float *xr = x + r * I;
            if (kind == RK_MIN)
                for (int64_t i = 0; i < n; i++) acc[i] = xr[i] < acc[i] ? xr[i] : acc[i];
            else
                for (int64_t i = 0; i < n; i++) acc[i] = xr[i] > acc[i] ? xr[i] : acc[i];
        }
        if (kind == RK_LOGSUMEXP) {
            float tmp[COL_BLK];
            double sum[COL_BLK] = {0};
            for (int64_t r = 0; r < R; r++) {
                const float *xr = x + r * I;
                for (int64_t i = 0; i < n; i++) tmp[i] = xr[i] - acc[i];
                red_exp_neg_f32(tmp, tmp, n);
                for (int64_t i = 0; i < n; i++) sum[i] += tmp[i];
            }
            for (int64_t i = 0; i < n; i++) acc[i] = isinf(acc[i]) ? acc[i] : acc[i] + (float)log(sum[i]);
        }
        break;
    case RK_PROD:
        for (int64_t i = 0; i < n; i++) acc[i] = 1.0f;
        for (int64_t r = 0; r < R; r++)
            for (int64_t i = 0; i < n; i++) acc[i] *= x[r * I + i];
        break;
    case RK_L1:
        col_accumulate(acc, x, R, I, n, 1);
        break;
    case RK_L2:
    case RK_SUMSQ:
        col_accumulate(acc, x, R, I, n, 2);
        break;
    default: /* sum, mean, logsum */
        col_accumulate(acc, x, R, I, n, 0);
        break;
    }
    float *y = j->y + o * I + i0;
    float inv = 1.0f / (float)R;
    switch (kind) {
    case RK_MEAN: for (int64_t i = 0; i < n; i++) y[i] = acc[i] * inv; break;
    case RK_L2: for (int64_t i = 0; i < n; i++) y[i] = sqrtf(acc[i]); break;
    case RK_LOGSUM: for (int64_t i = 0; i < n; i++) y[i] = logf(acc[i]); break;
    default: memcpy(y, acc, sizeof(float) * (size_t)n); break;
    }
}

static void col_task(void *arg, int64_t b, int64_t e)
{
    const f32_job *j = arg;
    for (int64_t t = b; t < e; t++) {
        int64_t o = t / j->nblk, blk = t % j->nblk;
        int64_t i0 = blk * COL_BLK, n = j->I - i0 < COL_BLK ? j->I - i0 : COL_BLK;
        col_block(j, o, i0, n);
    }
}

static void reduce_f32(red_kind kind, const float *x, float *y, int64_t O, int64_t R, int64_t I)
{
    f32_job j = {kind, x, y, O, R, I, (I + COL_BLK - 1) / COL_BLK};
    if (I == 1) {
        fwd_parallel_for(O, red_grain(R), row_task, &j);
    } else {
        int64_t per = R * (I < COL_BLK ? I : COL_BLK);
        fwd_parallel_for(O * j.nblk, red_grain(per), col_task, &j);
    }
}

/* ---------------- generic strided path ---------------- */

typedef struct gen_job {
    red_kind kind;
    const ir_tensor *x;
    ir_tensor *y;
    odo keep, red;
    int64_t R;
} gen_job;

/* Whether an integer input reduces exactly in int64 (wrapping like C). */
static bool int_exact(fwd_dtype t, red_kind kind)
{
    if (!ir_dtype_is_int(t) && t != FWD_BOOL) return false;
    return kind == RK_SUM || kind == RK_MEAN || kind == RK_MAX || kind == RK_MIN || kind == RK_PROD ||
           kind == RK_L1 || kind == RK_SUMSQ;
}

static double reduce_one_f64(const gen_job *j, odo *red, int64_t base)
{
    fwd_dtype t = j->x->dtype;
    const void *p = j->x->data;
    red_kind kind = j->kind;
    double acc = kind_init(kind), m = 0.0;
    if (kind == RK_LOGSUMEXP) {
        m = -INFINITY;
        odo_seek(red, 0);
        for (int64_t r = 0; r < j->R; r++, odo_next(red)) {
            double v = cpu_get_f64(t, p, base + red->off);
            if (v > m || isnan(v)) m = v;
        }
        if (isinf(m) || isnan(m)) return m;
    }
    odo_seek(red, 0);
    for (int64_t r = 0; r < j->R; r++, odo_next(red)) {
        double v = cpu_get_f64(t, p, base + red->off);
        switch (kind) {
        case RK_MAX: if (v > acc || isnan(v)) acc = v; break;
        case RK_MIN: if (v < acc || isnan(v)) acc = v; break;
        case RK_PROD: acc *= v; break;
        case RK_L1: acc += fabs(v); break;
        case RK_L2:
        case RK_SUMSQ: acc += v * v; break;
        case RK_LOGSUMEXP: acc += exp(v - m); break;
        default: acc += v; break;
        }
    }
    if (kind == RK_LOGSUMEXP) return m + log(acc);
    return kind_post(kind, acc, j->R);
}

static int64_t reduce_one_i64(const gen_job *j, odo *red, int64_t base)
{
    fwd_dtype t = j->x->dtype;
    const void *p = j->x->data;
    uint64_t acc = j->kind == RK_PROD ? 1 : 0; /* unsigned: wrap, not UB */
    int64_t best = 0;
    odo_seek(red, 0);
    for (int64_t r = 0; r < j->R; r++, odo_next(red)) {
        int64_t v = cpu_get_i64(t, p, base + red->off);
        switch (j->kind) {
        case RK_MAX: if (r == 0 || v > best) best = v; break;
        case RK_MIN: if (r == 0 || v < best) best = v; break;
        case RK_PROD: acc *= (uint64_t)v; break;
        case RK_L1: acc += (uint64_t)(v < 0 ? -(uint64_t)v : (uint64_t)v); break;
        case RK_SUMSQ: acc += (uint64_t)v * (uint64_t)v; break;
        default: acc += (uint64_t)v; break;
        }
    }
    if (j->kind == RK_MAX || j->kind == RK_MIN) return best;
    if (j->kind == RK_MEAN) return (int64_t)acc / j->R;
    return (int64_t)acc;
}

static void gen_task(void *arg, int64_t b, int64_t e)
{
    const gen_job *j = arg;
    odo keep = j->keep, red = j->red;
    odo_seek(&keep, b);
    bool exact = int_exact(j->x->dtype, j->kind);
    fwd_dtype yt = j->y->dtype;
    for (int64_t o = b; o < e; o++, odo_next(&keep)) {
        if (exact) {
            cpu_set_i64(yt, j->y->data, o, reduce_one_i64(j, &red, keep.off));
        } else {
            double v = reduce_one_f64(j, &red, keep.off);
            if (!ir_dtype_is_float(yt) && !isfinite(v)) v = 0.0; /* no UB on int casts */
            cpu_set_f64(yt, j->y->data, o, v);
        }
    }
}

/* ---------------- the kernel ---------------- */

static fwd_status reduce_run(fwd_kernel_ctx *k, red_kind kind)
{
    const ir_tensor *x = k->in[0];
    int rank = x->shape.rank;
    bool mask[IR_MAX_RANK], noop;
    FWD_TRY(read_axes(k, rank, mask, &noop));
    bool keep = ir_attr_int(k->node, "keepdims", 1) != 0;
    ir_shape os = {.rank = 0};
    if (noop) {
        os = x->shape;
    } else {
        for (int i = 0; i < rank; i++) {
            if (!mask[i]) os.dims[os.rank++] = x->shape.dims[i];
            else if (keep) os.dims[os.rank++] = 1;
        }
    }
    FWD_TRY(red_ensure_output(k, 0, x->dtype, &os));
    ir_tensor *y = k->out[0];
    if (y->dtype != x->dtype || ir_shape_numel(&y->shape) != ir_shape_numel(&os))
        return cpu_kernel_error(k, FWD_ERR_INTERNAL, "output was allocated with the wrong shape");
    int64_t out_n = ir_shape_numel(&os);
    if (noop) {
        if (x->nbytes) memcpy(y->data, x->data, x->nbytes);
        return FWD_OK;
    }
    if (out_n == 0) return FWD_OK;

    /* Collapse dims; R_total counts the reduced elements per output. */
    int64_t strides[IR_MAX_RANK], R_total = 1;
    cpu_strides(&x->shape, strides);
    gen_job gj = {.kind = kind, .x = x, .y = y};
    int groups = 0, red_groups = 0;
    bool last_red = false;
    int64_t O = 1, R = 1, I = 1;
    for (int i = 0; i < rank; i++) {
        int64_t d = x->shape.dims[i];
        if (mask[i]) R_total *= d;
        if (d == 1) continue;
        odo *od = mask[i] ? &gj.red : &gj.keep;
        od->size[od->n] = d;
        od->stride[od->n] = strides[i];
        od->n++;
        if (groups == 0 || mask[i] != last_red) {
            groups++;
            if (mask[i]) red_groups++;
        }
        last_red = mask[i];
        if (mask[i]) R *= d;
        else if (red_groups == 0) O *= d;
        else I *= d;
    }
    gj.R = R_total;
    if (R_total == 0) { /* reduce over nothing: the identity (after post) */
        double v = kind == RK_LOGSUMEXP ? -INFINITY : kind_post(kind, kind_init(kind), 0);
        bool is_f = ir_dtype_is_float(y->dtype);
        for (int64_t o = 0; o < out_n; o++) {
            if (is_f) cpu_set_f64(y->dtype, y->data, o, v);
            else cpu_set_i64(y->dtype, y->data, o, isfinite(v) ? (int64_t)v : 0);
        }
        return FWD_OK;
    }
    if (x->dtype == FWD_FLOAT32 && red_groups <= 1) {
        reduce_f32(kind, x->data, y->data, O, R, I);
        return FWD_OK;
    }
    fwd_parallel_for(out_n, red_grain(R_total * 4), gen_task, &gj);
    return FWD_OK;
}

static fwd_status cpu_reduce_sum(fwd_kernel_ctx *k) { return reduce_run(k, RK_SUM); }
static fwd_status cpu_reduce_mean(fwd_kernel_ctx *k) { return reduce_run(k, RK_MEAN); }
static fwd_status cpu_reduce_max(fwd_kernel_ctx *k) { return reduce_run(k, RK_MAX); }
static fwd_status cpu_reduce_min(fwd_kernel_ctx *k) { return reduce_run(k, RK_MIN); }
static fwd_status cpu_reduce_prod(fwd_kernel_ctx *k) { return reduce_run(k, RK_PROD); }
static fwd_status cpu_reduce_l1(fwd_kernel_ctx *k) { return reduce_run(k, RK_L1); }
static fwd_status cpu_reduce_l2(fwd_kernel_ctx *k) { return reduce_run(k, RK_L2); }
static fwd_status cpu_reduce_logsum(fwd_kernel_ctx *k) { return reduce_run(k, RK_LOGSUM); }
static fwd_status cpu_reduce_logsumexp(fwd_kernel_ctx *k) { return reduce_run(k, RK_LOGSUMEXP); }
static fwd_status cpu_reduce_sumsq(fwd_kernel_ctx *k) { return reduce_run(k, RK_SUMSQ); }

const cpu_kernel_entry cpu_kernels_reduce[] = {
    {"ReduceSum", cpu_reduce_sum},
    {"ReduceMean", cpu_reduce_mean},
    {"ReduceMax", cpu_reduce_max},
    {"ReduceMin", cpu_reduce_min},
    {"ReduceProd", cpu_reduce_prod},
    {"ReduceL1", cpu_reduce_l1},
    {"ReduceL2", cpu_reduce_l2},
    {"ReduceLogSum", cpu_reduce_logsum},
    {"ReduceLogSumExp", cpu_reduce_logsumexp},
    {"ReduceSumSquare", cpu_reduce_sumsq},
    {"Softmax", cpu_softmax},
    {"LogSoftmax", cpu_logsoftmax},
    {"Hardmax", cpu_hardmax},
    {"BatchNormalization", cpu_batchnorm},
    {"InstanceNormalization", cpu_instancenorm},
    {"LayerNormalization", cpu_layernorm},
    {"LpNormalization", cpu_lpnorm},
    {"LRN", cpu_lrn},
    {"MeanVarianceNormalization", cpu_mvn},
    {"SoftmaxCrossEntropyLoss", cpu_sce_loss},
    {"NegativeLogLikelihoodLoss", cpu_nll_loss},
    {"Einsum", cpu_einsum},
    {"Det", cpu_det},
    {NULL, NULL},
};

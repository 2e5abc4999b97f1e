/*
 * Softmax, LogSoftmax and Hardmax (opset-13 form: one axis).
 *
 * The input is viewed as [O, N, I] with N the axis. float32 rows (I == 1,
 * the attention case) run max / exp / scale as vectorised passes; I > 1
 * works on blocks of columns so the inner loops stay contiguous. float16
 * rows convert to float32 and back around the float32 row code (float32
 * accumulation); other float dtypes and layouts go through double.
 */
#include <stdlib.h>

#include "backend/cpu/elementwise_convert.h"
#include "backend/cpu/reduce_common.h"

typedef enum sm_kind { SM_SOFTMAX, SM_LOG, SM_HARD } sm_kind;

typedef struct sm_job {
    sm_kind kind;
    const ir_tensor *x;
    ir_tensor *y;
    int64_t O, N, I, nblk;
} sm_job;

static void row_f32(sm_kind kind, const float *x, float *y, int64_t N)
{
    if (kind == SM_HARD) {
        int64_t best = 0;
        for (int64_t i = 1; i < N; i++)
            if (x[i] > x[best]) best = i;
        memset(y, 0, sizeof(float) * (size_t)N);
        y[best] = 1.0f;
        return;
    }
    float m = red_max_f32(x, N);
    if (kind == SM_SOFTMAX) {
        float inv = 1.0f / red_exp_sub_sum_f32(x, y, N, m);
        for (int64_t i = 0; i < N; i++) y[i] *= inv;
    } else {
        /* (x - m) - ls, not x - (m + ls): m + ls would round ls away */
        float ls = (float)log(red_exp_sum_f32(x, N, m));
        for (int64_t i = 0; i < N; i++) y[i] = (x[i] - m) - ls;
    }
}

#define SM_BLK 256

/* Columns [i0, i0+n) of row block o, reading with stride I. */
static void col_f32(sm_kind kind, const float *x, float *y, int64_t N, int64_t I, int64_t n)
{
    float m[SM_BLK], s[SM_BLK];
    if (kind == SM_HARD) {
        int64_t best[SM_BLK] = {0};
        memcpy(m, x, sizeof(float) * (size_t)n);
        for (int64_t r = 1; r < N; r++)
            for (int64_t i = 0; i < n; i++)
                if (x[r * I + i] > m[i]) {
                    m[i] = x[r * I + i];
                    best[i] = r;
                }
        for (int64_t r = 0; r < N; r++)
            for (int64_t i = 0; i < n; i++) y[r * I + i] = best[i] == r ? 1.0f : 0.0f;
        return;
    }
    memcpy(m, x, sizeof(float) * (size_t)n);
    for (int64_t r = 1; r < N; r++)
        for (int64_t i = 0; i < n; i++) m[i] = x[r * I + i] > m[i] ? x[r * I + i] : m[i];
    memset(s, 0, sizeof(float) * (size_t)n);
    if (kind == SM_SOFTMAX) {
        for (int64_t r = 0; r < N; r++) {
            const float *xr = x + r * I;
            float *yr = y + r * I;
            for (int64_t i = 0; i < n; i++) yr[i] = xr[i] - m[i];
            red_exp_neg_f32(yr, yr, n);
            for (int64_t i = 0; i < n; i++) s[i] += yr[i];
        }
        for (int64_t i = 0; i < n; i++) s[i] = 1.0f / s[i];
        for (int64_t r = 0; r < N; r++)
            for (int64_t i = 0; i < n; i++) y[r * I + i] *= s[i];
    } else {
        float tmp[SM_BLK];
        double sd[SM_BLK] = {0}; /* double: see red_exp_sum_f32 */
        for (int64_t r = 0; r < N; r++) {
            for (int64_t i = 0; i < n; i++) tmp[i] = x[r * I + i] - m[i];
            red_exp_neg_f32(tmp, tmp, n);
            for (int64_t i = 0; i < n; i++) sd[i] += tmp[i];
        }
        for (int64_t i = 0; i < n; i++) s[i] = (float)log(sd[i]);
        for (int64_t r = 0; r < N; r++)
            for (int64_t i = 0; i < n; i++) y[r * I + i] = (x[r * I + i] - m[i]) - s[i];
    }
}

/* Any float dtype, one (o, i) line, through double. */
static void line_f64(sm_kind kind, const ir_tensor *xt, ir_tensor *yt, int64_t base, int64_t N, int64_t I)
{
    fwd_dtype dt = xt->dtype;
    double m = -INFINITY;
    int64_t best = 0;
    for (int64_t r = 0; r < N; r++) {
        double v = cpu_get_f64(dt, xt->data, base + r * I);
        if (r == 0 || v > m) {
            m = v;
            best = r;
        }
    }
    if (kind == SM_HARD) {
        for (int64_t r = 0; r < N; r++) cpu_set_f64(dt, yt->data, base + r * I, r == best ? 1.0 : 0.0);
        return;
    }
    double s = 0.0;
    for (int64_t r = 0; r < N; r++) s += exp(cpu_get_f64(dt, xt->data, base + r * I) - m);
    double ls = log(s);
    for (int64_t r = 0; r < N; r++) {
        double d = cpu_get_f64(dt, xt->data, base + r * I) - m;
        cpu_set_f64(dt, yt->data, base + r * I, kind == SM_SOFTMAX ? exp(d) / s : d - ls);
    }
}

/* float16 rows (I == 1): each row converted to float32, computed as
 * float32 rows are, and converted back. */
static bool rows_f16(const sm_job *j, int64_t b, int64_t e)
{
    int64_t N = j->N;
    float *buf = malloc(sizeof(float) * (size_t)N * 2);
    if (!buf) return false; /* the caller falls back to the double path */
    for (int64_t t = b; t < e; t++) {
        elt_f16_to_f32_n((const uint16_t *)j->x->data + t * N, buf, N);
        row_f32(j->kind, buf, buf + N, N);
        elt_f32_to_f16_n(buf + N, (uint16_t *)j->y->data + t * N, N);
    }
    free(buf);
    return true;
}

static void sm_task(void *arg, int64_t b, int64_t e)
{
    const sm_job *j = arg;
    int64_t N = j->N, I = j->I;
    if (j->x->dtype == FWD_FLOAT16 && I == 1 && rows_f16(j, b, e)) return;
    for (int64_t t = b; t < e; t++) {
        if (j->x->dtype != FWD_FLOAT32) {
            int64_t o = t / I, i = t % I;
            line_f64(j->kind, j->x, j->y, o * N * I + i, N, I);
        } else if (I == 1) {
            row_f32(j->kind, (const float *)j->x->data + t * N, (float *)j->y->data + t * N, N);
        } else {
            int64_t o = t / j->nblk, i0 = (t % j->nblk) * SM_BLK;
            int64_t n = I - i0 < SM_BLK ? I - i0 : SM_BLK;
            int64_t off = o * N * I + i0;
            col_f32(j->kind, (const float *)j->x->data + off, (float *)j->y->data + off, N, I, n);
        }
    }
}

static fwd_status softmax_run(fwd_kernel_ctx *k, sm_kind kind)
{
    const ir_tensor *x = k->in[0];
    if (!ir_dtype_is_float(x->dtype))
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "unsupported dtype %s", fwd_dtype_name(x->dtype));
    FWD_TRY(red_ensure_output(k, 0, x->dtype, &x->shape));
    int rank = x->shape.rank;
    int64_t axis = ir_attr_int(k->node, "axis", -1);
    int r1 = rank > 0 ? rank : 1;
    if (axis < -r1 || axis >= r1)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "axis %lld out of range for rank %d", (long long)axis, rank);
    if (axis < 0) axis += r1;
    int64_t O = 1, N = 1, I = 1;
    for (int i = 0; i < rank; i++) {
        if (i < axis) O *= x->shape.dims[i];
        else if (i == axis) N = x->shape.dims[i];
        else I *= x->shape.dims[i];
    }
    if (O * N * I == 0) return FWD_OK;
    sm_job j = {kind, x, k->out[0], O, N, I, (I + SM_BLK - 1) / SM_BLK};
    if (x->dtype != FWD_FLOAT32 && !(x->dtype == FWD_FLOAT16 && I == 1))
        fwd_parallel_for(O * I, red_grain(N * 8), sm_task, &j);
    else if (I == 1)
        fwd_parallel_for(O, red_grain(N * 4), sm_task, &j);
    else
        fwd_parallel_for(O * j.nblk, red_grain(N * (I < SM_BLK ? I : SM_BLK) * 4), sm_task, &j);
    return FWD_OK;
}

fwd_status cpu_softmax(fwd_kernel_ctx *k) { return softmax_run(k, SM_SOFTMAX); }
fwd_status cpu_logsoftmax(fwd_kernel_ctx *k) { return softmax_run(k, SM_LOG); }
fwd_status cpu_hardmax(fwd_kernel_ctx *k) { return softmax_run(k, SM_HARD); }

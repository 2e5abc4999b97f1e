/*
 * Private helpers of the reduce family kernels (reduce.c, softmax.c,
 * norm.c, loss.c, einsum.c, det.c): vectorisable float32 row primitives,
 * a vectorisable expf, and the kernel entry points the family table in
 * reduce.c lists.
 *
 * The row primitives keep 16 independent float accumulators so that GCC
 * vectorises them without -ffast-math (a single accumulator would force a
 * sequential chain); blocks of 1024 elements are folded into a double so
 * long rows do not lose precision.
 */
#ifndef FWD_BACKEND_CPU_REDUCE_COMMON_H
#define FWD_BACKEND_CPU_REDUCE_COMMON_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/cpu_util.h"
#include "util/threadpool.h"

#define RED_LANES 16
#define RED_BLOCK 1024

static inline float red_fold(const float *acc)
{
    float s = 0.0f;
    for (int k = 0; k < RED_LANES; k++) s += acc[k];
    return s;
}

/* Sum of x[0..n). */
static inline float red_sum_f32(const float *x, int64_t n)
{
    double total = 0.0;
    for (int64_t b = 0; b < n; b += RED_BLOCK) {
        int64_t e = b + RED_BLOCK < n ? b + RED_BLOCK : n, i = b;
        float acc[RED_LANES] = {0};
        for (; i + RED_LANES <= e; i += RED_LANES)
            for (int k = 0; k < RED_LANES; k++) acc[k] += x[i + k];
        float s = red_fold(acc);
        for (; i < e; i++) s += x[i];
        total += s;
    }
    return (float)total;
}

/* Sum of (x[i] - c)^2: the variance numerator around a known mean. */
static inline float red_sumsq_centered_f32(const float *x, int64_t n, float c)
{
    double total = 0.0;
    for (int64_t b = 0; b < n; b += RED_BLOCK) {
        int64_t e = b + RED_BLOCK < n ? b + RED_BLOCK : n, i = b;
        float acc[RED_LANES] = {0};
        for (; i + RED_LANES <= e; i += RED_LANES)
            for (int k = 0; k < RED_LANES; k++) {
                float d = x[i + k] - c;
                acc[k] += d * d;
            }
        float s = red_fold(acc);
        for (; i < e; i++) s += (x[i] - c) * (x[i] - c);
        total += s;
    }
    return (float)total;
}

static inline float red_sumabs_f32(const float *x, int64_t n)
{
    double total = 0.0;
    for (int64_t b = 0; b < n; b += RED_BLOCK) {
        int64_t e = b + RED_BLOCK < n ? b + RED_BLOCK : n, i = b;
        float acc[RED_LANES] = {0};
        for (; i + RED_LANES <= e; i += RED_LANES)
            for (int k = 0; k < RED_LANES; k++) acc[k] += fabsf(x[i + k]);
        float s = red_fold(acc);
        for (; i < e; i++) s += fabsf(x[i]);
        total += s;
    }
    return (float)total;
}

/* Max of x[0..n), n >= 1. */
static inline float red_max_f32(const float *x, int64_t n)
{
    int64_t i = 0;
    float m = x[0];
    if (n >= RED_LANES) {
        float acc[RED_LANES];
        for (int k = 0; k < RED_LANES; k++) acc[k] = x[k];
        for (i = RED_LANES; i + RED_LANES <= n; i += RED_LANES)
            for (int k = 0; k < RED_LANES; k++) acc[k] = x[i + k] > acc[k] ? x[i + k] : acc[k];
        for (int k = 0; k < RED_LANES; k++) m = acc[k] > m ? acc[k] : m;
    }
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

static inline float red_min_f32(const float *x, int64_t n)
{
    int64_t i = 0;
    float m = x[0];
    if (n >= RED_LANES) {
        float acc[RED_LANES];
        for (int k = 0; k < RED_LANES; k++) acc[k] = x[k];
        for (i = RED_LANES; i + RED_LANES <= n; i += RED_LANES)
            for (int k = 0; k < RED_LANES; k++) acc[k] = x[i + k] < acc[k] ? x[i + k] : acc[k];
        for (int k = 0; k < RED_LANES; k++) m = acc[k] < m ? acc[k] : m;
    }
    for (; i < n; i++) m = x[i] < m ? x[i] : m;
    return m;
}

/*
 * expf that GCC vectorises (no libm call): 2^n * p(r) with r in
 * [-ln2/2, ln2/2] and a degree-6 polynomial; relative error ~2e-7.
 * Inputs below -87.3 give 0, above 88.7 give +inf; NaN stays NaN.
 */
static inline float red_expf(float x)
{
    const float lo = -87.33654f, hi = 88.72283f;
    float xc = x < lo ? lo : x; /* NaN compares false and passes on */
    xc = xc > hi ? hi : xc;
    const float magic = 12582912.0f; /* 1.5 * 2^23: rounds to an integer */
    float t = xc * 1.44269504f + magic;
    float n = t - magic;
    float r = xc - n * 0.693145752f; /* ln2 split in two for accuracy */
    r = r - n * 1.42860677e-6f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    uint32_t tb;
    memcpy(&tb, &t, 4);
    /* the low bits of t hold n (offset by the magic's own bits) */
    uint32_t eb = (tb - 0x4B400000u + 127u) << 23;
    float scale;
    memcpy(&scale, &eb, 4);
    float y = p * scale;
    y = x > hi ? INFINITY : y;
    return x < lo ? 0.0f : y;
}

/* y[i] = exp(x[i] - m) (a loop GCC vectorises); returns the sum. */
static inline float red_exp_sub_sum_f32(const float *x, float *y, int64_t n, float m)
{
    for (int64_t i = 0; i < n; i++) y[i] = red_expf(x[i] - m);
    return red_sum_f32(y, n);
}

/* Sum of exp(x[i] - m) without storing the terms. */
static inline float red_exp_sum_f32(const float *x, int64_t n, float m)
{
    float tmp[256];
    float total = 0.0f;
    for (int64_t b = 0; b < n; b += 256) {
        int64_t len = n - b < 256 ? n - b : 256;
        total += red_exp_sub_sum_f32(x + b, tmp, len, m);
    }
    return total;
}

/* Grain for fwd_parallel_for: rows per chunk so a chunk has ~32K elements. */
static inline int64_t red_grain(int64_t row_len)
{
    int64_t g = row_len > 0 ? 32768 / row_len : 32768;
    return g < 1 ? 1 : g;
}

/* An odometer over some dims of the input, tracking the element offset. */
typedef struct odo {
    int n;
    int64_t size[IR_MAX_RANK], stride[IR_MAX_RANK], idx[IR_MAX_RANK];
    int64_t off;
} odo;

static inline void odo_seek(odo *o, int64_t flat)
{
    o->off = 0;
    for (int i = o->n - 1; i >= 0; i--) {
        o->idx[i] = flat % o->size[i];
        flat /= o->size[i];
        o->off += o->idx[i] * o->stride[i];
    }
}

static inline void odo_next(odo *o)
{
    for (int i = o->n - 1; i >= 0; i--) {
        o->off += o->stride[i];
        if (++o->idx[i] < o->size[i]) return;
        o->off -= o->idx[i] * o->stride[i];
        o->idx[i] = 0;
    }
}

/* Kernel entry points (table in reduce.c). */
fwd_status cpu_softmax(fwd_kernel_ctx *k);
fwd_status cpu_logsoftmax(fwd_kernel_ctx *k);
fwd_status cpu_hardmax(fwd_kernel_ctx *k);
fwd_status cpu_batchnorm(fwd_kernel_ctx *k);
fwd_status cpu_instancenorm(fwd_kernel_ctx *k);
fwd_status cpu_layernorm(fwd_kernel_ctx *k);
fwd_status cpu_lpnorm(fwd_kernel_ctx *k);
fwd_status cpu_lrn(fwd_kernel_ctx *k);
fwd_status cpu_mvn(fwd_kernel_ctx *k);
fwd_status cpu_sce_loss(fwd_kernel_ctx *k);
fwd_status cpu_nll_loss(fwd_kernel_ctx *k);
fwd_status cpu_einsum(fwd_kernel_ctx *k);
fwd_status cpu_det(fwd_kernel_ctx *k);

/* Make sure output i is allocated with shape s (for paths where the
 * runtime did not preallocate); no-op when data is already there. */
static inline fwd_status red_ensure_output(fwd_kernel_ctx *k, int i, fwd_dtype dt, const ir_shape *s)
{
    if (i >= k->n_out || !k->out[i]) return FWD_OK;
    if (k->out[i]->data) return FWD_OK;
    return fwd_kernel_alloc_output(k, i, dt, s);
}

#endif

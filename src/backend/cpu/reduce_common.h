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

/* Sum of the 16 lanes as a tree (short dependency chain). */
static inline float red_fold(const float *acc)
{
    float t[8];
    for (int k = 0; k < 8; k++) t[k] = acc[k] + acc[k + 8];
    return ((t[0] + t[4]) + (t[1] + t[5])) + ((t[2] + t[6]) + (t[3] + t[7]));
}

/* Sum of x[0..n). */
static inline float red_sum_f32(const float *x, int64_t n)
{
    if (n < RED_LANES) {
        float s = 0.0f;
        for (int64_t i = 0; i < n; i++) s += x[i];
        return s;
    }
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

/*
 * exp(x) as 2^n * p(r), r in [-ln2/2, ln2/2], degree-6 polynomial;
 * relative error ~2e-7. Below -87.3 gives 0, above 88.7 +inf; NaN stays
 * NaN. GCC does not if-convert the float clamps (trapping math), so the
 * array forms below use AVX2 intrinsics where available (and a variant
 * for the x <= 0 arguments softmax-like ops need).
 */
static inline float red_expf(float x)
{
    const float lo = -87.33654f, hi = 88.72283f;
    if (x < lo) return 0.0f;
    if (x > hi) return INFINITY;
    const float magic = 12582912.0f; /* 1.5 * 2^23: rounds to an integer */
    float t = x * 1.44269504f + magic;
    float n = t - magic;
    float r = x - n * 0.693145752f; /* ln2 split in two for accuracy */
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
    uint32_t eb = (tb - 0x4B400000u + 127u) << 23; /* low bits of t hold n */
    float scale;
    memcpy(&scale, &eb, 4);
    return p * scale;
}

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define RED_AVX2 1

/*
 * exp(x) for x <= 0 (softmax arguments x - max): no overflow handling,
 * and below -87.3 it returns ~1e-38 instead of 0 (negligible next to the
 * max's 1). Degree-5 polynomial 1 + r + r^2 q(r), q fitted by weighted
 * least squares on [-ln2/2, ln2/2]: relative error ~2e-7.
 */
static inline __m256 red_exp_neg_ps(__m256 x)
{
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256 xc = _mm256_max_ps(_mm256_set1_ps(-87.33654f), x); /* NaN passes through */
    __m256 t = _mm256_fmadd_ps(xc, _mm256_set1_ps(1.44269504f), magic);
    __m256 n = _mm256_sub_ps(t, magic);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145752f), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.42860677e-6f), r);
    __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(0.008333837613463402f), r, _mm256_set1_ps(0.04189857840538025f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0.1666688621044159f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0.49999141693115234f));
    __m256 p = _mm256_add_ps(_mm256_fmadd_ps(q, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(0x4B400000 - 127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static inline float red_hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

/* y[i] = exp(x[i]) for x[i] <= 0 (see red_exp_neg_ps); x may equal y. */
static inline void red_exp_neg_f32(const float *x, float *y, int64_t n)
{
    int64_t i = 0;
#ifdef RED_AVX2
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, red_exp_neg_ps(_mm256_loadu_ps(x + i)));
#endif
    for (; i < n; i++) y[i] = red_expf(x[i]);
}

/* y[i] = exp(x[i] - m) with m >= every x[i]; returns the sum. */
static inline float red_exp_sub_sum_f32(const float *x, float *y, int64_t n, float m)
{
    int64_t i = 0;
    float s = 0.0f;
#ifdef RED_AVX2
    __m256 vm = _mm256_set1_ps(m), a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        __m256 e0 = red_exp_neg_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        __m256 e1 = red_exp_neg_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vm));
        _mm256_storeu_ps(y + i, e0);
        _mm256_storeu_ps(y + i + 8, e1);
        a0 = _mm256_add_ps(a0, e0);
        a1 = _mm256_add_ps(a1, e1);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 e = red_exp_neg_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(y + i, e);
        a0 = _mm256_add_ps(a0, e);
    }
    s = red_hsum_ps(_mm256_add_ps(a0, a1));
#endif
    for (; i < n; i++) {
        y[i] = red_expf(x[i] - m);
        s += y[i];
    }
    return s;
}

/*
 * Sum of exp(x[i] - m) (m >= every x[i]) without storing the terms,
 * accumulated in double: callers take its log (LogSoftmax,
 * ReduceLogSumExp), where adding small terms one by one to the max's 1.0
 * in float would cost several ulps.
 */
static inline double red_exp_sum_f32(const float *x, int64_t n, float m)
{
    int64_t i = 0;
    double s = 0.0;
#ifdef RED_AVX2
    __m256 vm = _mm256_set1_ps(m);
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd(), a2 = _mm256_setzero_pd(), a3 = _mm256_setzero_pd();
    for (; i + 16 <= n; i += 16) { /* four chains hide the add latency */
        __m256 e0 = red_exp_neg_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        __m256 e1 = red_exp_neg_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vm));
        a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(e0)));
        a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(e0, 1)));
        a2 = _mm256_add_pd(a2, _mm256_cvtps_pd(_mm256_castps256_ps128(e1)));
        a3 = _mm256_add_pd(a3, _mm256_cvtps_pd(_mm256_extractf128_ps(e1, 1)));
    }
    for (; i + 8 <= n; i += 8) {
        __m256 e = red_exp_neg_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double t[4];
    _mm256_storeu_pd(t, _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3)));
    s = (t[0] + t[1]) + (t[2] + t[3]);
#endif
    for (; i < n; i++) s += red_expf(x[i] - m);
    return s;
}

/* Max / min of x[0..n), n >= 1. */
static inline float red_max_f32(const float *x, int64_t n)
{
    int64_t i = 0;
    float m = x[0];
#ifdef RED_AVX2
    if (n >= 16) {
        __m256 a = _mm256_loadu_ps(x), b = _mm256_loadu_ps(x + 8);
        for (i = 16; i + 16 <= n; i += 16) {
            a = _mm256_max_ps(a, _mm256_loadu_ps(x + i));
            b = _mm256_max_ps(b, _mm256_loadu_ps(x + i + 8));
        }
        float t[8];
        _mm256_storeu_ps(t, _mm256_max_ps(a, b));
        for (int k = 0; k < 8; k++) m = t[k] > m ? t[k] : m;
    }
#endif
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

static inline float red_min_f32(const float *x, int64_t n)
{
    int64_t i = 0;
    float m = x[0];
#ifdef RED_AVX2
    if (n >= 16) {
        __m256 a = _mm256_loadu_ps(x), b = _mm256_loadu_ps(x + 8);
        for (i = 16; i + 16 <= n; i += 16) {
            a = _mm256_min_ps(a, _mm256_loadu_ps(x + i));
            b = _mm256_min_ps(b, _mm256_loadu_ps(x + i + 8));
        }
        float t[8];
        _mm256_storeu_ps(t, _mm256_min_ps(a, b));
        for (int k = 0; k < 8; k++) m = t[k] < m ? t[k] : m;
    }
#endif
    for (; i < n; i++) m = x[i] < m ? x[i] : m;
    return m;
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

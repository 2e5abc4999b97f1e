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

/*
 * exp(x) as 2^n * p(r), r in [-ln2/2, ln2/2], degree-6 polynomial;
 * relative error ~2e-7. Below -87.3 gives 0, above 88.7 +inf; NaN stays
 * NaN. GCC does not if-convert the float clamps (trapping math), so the
 * array forms below use AVX2 intrinsics where available.
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

static inline __m256 red_exp_ps(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(-87.33654f), hi = _mm256_set1_ps(88.72283f);
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256 xc = _mm256_min_ps(hi, _mm256_max_ps(lo, x)); /* NaN passes through */
    __m256 t = _mm256_fmadd_ps(xc, _mm256_set1_ps(1.44269504f), magic);
    __m256 n = _mm256_sub_ps(t, magic);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145752f), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.42860677e-6f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(0x4B400000 - 127));
    __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_slli_epi32(e, 23)));
    y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, hi, _CMP_GT_OQ));
    return _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, lo, _CMP_LT_OQ));
}

static inline float red_hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

/* y[i] = exp(x[i]) (x may equal y). */
static inline void red_exp_f32(const float *x, float *y, int64_t n)
{
    int64_t i = 0;
#ifdef RED_AVX2
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, red_exp_ps(_mm256_loadu_ps(x + i)));
#endif
    for (; i < n; i++) y[i] = red_expf(x[i]);
}

/* y[i] = exp(x[i] - m); returns the sum. */
static inline float red_exp_sub_sum_f32(const float *x, float *y, int64_t n, float m)
{
    int64_t i = 0;
    float s = 0.0f;
#ifdef RED_AVX2
    __m256 vm = _mm256_set1_ps(m), acc = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) {
        __m256 e = red_exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(y + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    s = red_hsum_ps(acc);
#endif
    for (; i < n; i++) {
        y[i] = red_expf(x[i] - m);
        s += y[i];
    }
    return s;
}

/*
 * Sum of exp(x[i] - m) without storing the terms, accumulated in double:
 * callers take its log (LogSoftmax, ReduceLogSumExp), where adding small
 * terms one by one to the max's 1.0 in float would cost several ulps.
 */
static inline double red_exp_sum_f32(const float *x, int64_t n, float m)
{
    int64_t i = 0;
    double s = 0.0;
#ifdef RED_AVX2
    __m256 vm = _mm256_set1_ps(m);
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    for (; i + 8 <= n; i += 8) {
        __m256 e = red_exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double t[4];
    _mm256_storeu_pd(t, _mm256_add_pd(lo, hi));
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

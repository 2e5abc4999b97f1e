/*
 * float32 exp, sigmoid, tanh and erf written as branch-free inline code so
 * that loops calling them auto-vectorise (libm calls do not). Accuracy is a
 * few float32 ulps (max relative error about 1.2e-7 for exp, 2e-7 for
 * sigmoid, 3.5e-7 for tanh and erf). The polynomial and rational
 * coefficients are least-squares fits made for this file on Chebyshev
 * nodes.
 */
#ifndef FWD_BACKEND_CPU_ELEMENTWISE_FASTMATH_H
#define FWD_BACKEND_CPU_ELEMENTWISE_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX__) || defined(__AVX2__)
#include <immintrin.h>
#endif

/* Clamp to [0, 1]; NaN stays NaN. */
static inline float fm_clamp01f(float v)
{
    v = v < 0.0f ? 0.0f : v;
    return v > 1.0f ? 1.0f : v;
}

/* dst[i] = sqrt(src[i]) (dst may be src). */
static inline void fm_sqrtf_n(const float *src, float *dst, int64_t n)
{
    int64_t i = 0;
#if defined(__AVX__)
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_sqrt_ps(_mm256_loadu_ps(src + i)));
#endif
    for (; i < n; i++) dst[i] = sqrtf(src[i]);
}

/* 2^n for integer n in [-126, 127] (as a float built from its bits). */
static inline float fm_pow2i(int32_t n)
{
    uint32_t bits = (uint32_t)(n + 127) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* The clamps below are written "x > lo ? x : lo" so that they map onto
 * single max/min instructions; they turn NaN into a bound, so callers put
 * NaN back at the end. fmaf becomes one FMA instruction (-mfma). */
static inline float fm_expf(float x)
{
    /* exp(x) = 2^n * exp(r), n = rint(x / ln 2), |r| <= ln2 / 2. Clamping to
     * [-104, 89] keeps n in [-150, 129]; 2^n is applied as two factors so
     * that overflow (inf) and underflow (0) come out naturally. */
    float xc = x > -104.0f ? x : -104.0f;
    xc = xc < 89.0f ? xc : 89.0f;
    float n = rintf(xc * 1.44269504088896341f);
    /* ln 2 split so that n * hi is exact */
    float r = fmaf(n, -0.693359375f, xc);
    r = fmaf(n, 2.12194440e-4f, r);
    float p = 0.00137514086f;
    p = fmaf(p, r, 0.00836892147f);
    p = fmaf(p, r, 0.0416695327f);
    p = fmaf(p, r, 0.166665182f);
    p = fmaf(p, r, 0.499999881f);
    float e = fmaf(r * r, p, r + 1.0f);
    int32_t ni = (int32_t)n;
    int32_t n1 = ni >> 1; /* floor(ni / 2): arithmetic shift on gcc/clang */
    float y = e * fm_pow2i(n1) * fm_pow2i(ni - n1);
    return x != x ? x : y;
}

static inline float fm_sigmoidf(float x) { return 1.0f / (1.0f + fm_expf(-x)); }

static inline float fm_tanhf(float x)
{
    /* tanh(x) = x P(x^2) / Q(x^2) on [-9, 9] (a weighted least-squares
     * rational fit); beyond, tanh rounds to +-1 */
    float xc = x > -9.0f ? x : -9.0f;
    xc = xc < 9.0f ? xc : 9.0f;
    float z = xc * xc;
    float p = 1.33546605e-08f;
    p = fmaf(p, z, 2.0609131e-05f);
    p = fmaf(p, z, 0.0034955935f);
    p = fmaf(p, z, 0.133810311f);
    p = fmaf(p, z, 0.99999998f);
    float q = 7.77657206e-07f;
    q = fmaf(q, z, 0.000328564185f);
    q = fmaf(q, z, 0.0258770054f);
    q = fmaf(q, z, 0.467143467f);
    q = fmaf(q, z, 1.0f);
    float y = xc * p / q;
    y = y > -1.0f ? y : -1.0f;
    y = y < 1.0f ? y : 1.0f;
    return x != x ? x : y;
}

static inline float fm_erff(float x)
{
    /* erf(x) = x P(x^2) / Q(x^2) on [-4, 4] (a weighted least-squares
     * rational fit); beyond, erf rounds to +-1 */
    float xc = x > -4.0f ? x : -4.0f;
    xc = xc < 4.0f ? xc : 4.0f;
    float z = xc * xc;
    float p = -4.48539701e-08f;
    p = fmaf(p, z, -2.91074516e-07f);
    p = fmaf(p, z, 0.0003057219f);
    p = fmaf(p, z, 0.00295560281f);
    p = fmaf(p, z, 0.0509368858f);
    p = fmaf(p, z, 0.166895156f);
    p = fmaf(p, z, 1.12837917f);
    float q = -6.20373213e-07f;
    q = fmaf(q, z, 4.09889481e-05f);
    q = fmaf(q, z, 0.00103973698f);
    q = fmaf(q, z, 0.0134904809f);
    q = fmaf(q, z, 0.105554826f);
    q = fmaf(q, z, 0.481240353f);
    q = fmaf(q, z, 1.0f);
    float y = xc * p / q;
    y = y > -1.0f ? y : -1.0f;
    y = y < 1.0f ? y : 1.0f;
    return x != x ? x : y;
}

/* GELU in erf form, x * Phi(x) = h + h * erf(x / sqrt 2) with h = x / 2,
 * erf(x / sqrt 2) = x P(x^2) / Q(x^2) on [-4 sqrt 2, 4 sqrt 2] (beyond,
 * erf rounds to +-1): a (5, 5) rational fit in x^2 with the 1/sqrt 2
 * folded in, max relative error 5e-8. The vector forms share these
 * coefficients; 20 vector operations against 28 through fm_erf (a
 * (6, 6) fit, the scaling and the checks a lone erf needs), which made
 * GELU ~5% of a BERT FFN's first product on AVX-512. */
#define FM_GELU_CLAMP 5.65685424949238f
#define FM_GELU_P5 4.580861912018008e-08f
#define FM_GELU_P4 1.2469629837141838e-05f
#define FM_GELU_P3 0.00032086405553855f
#define FM_GELU_P2 0.009246721863746643f
#define FM_GELU_P1 0.06617143005132675f
#define FM_GELU_P0 0.7978845834732056f
#define FM_GELU_Q5 1.1938265060962294e-06f
#define FM_GELU_Q4 7.068118429742754e-05f
#define FM_GELU_Q3 0.001836107112467289f
#define FM_GELU_Q2 0.028189489617943764f
#define FM_GELU_Q1 0.2496001273393631f

/* x NaN: h is NaN, so the result (the clamp turns xc finite) */
static inline float fm_geluf(float x)
{
    float xc = x > -FM_GELU_CLAMP ? x : -FM_GELU_CLAMP;
    xc = xc < FM_GELU_CLAMP ? xc : FM_GELU_CLAMP;
    float z = xc * xc;
    float p = fmaf(FM_GELU_P5, z, FM_GELU_P4);
    p = fmaf(p, z, FM_GELU_P3);
    p = fmaf(p, z, FM_GELU_P2);
    p = fmaf(p, z, FM_GELU_P1);
    p = fmaf(p, z, FM_GELU_P0);
    float q = fmaf(FM_GELU_Q5, z, FM_GELU_Q4);
    q = fmaf(q, z, FM_GELU_Q3);
    q = fmaf(q, z, FM_GELU_Q2);
    q = fmaf(q, z, FM_GELU_Q1);
    q = fmaf(q, z, 1.0f);
    float h = 0.5f * x;
    return fmaf(h, xc * p / q, h);
}

/* The tanh approximation of GELU, and x * sigmoid(x). */

static inline float fm_gelu_tanhf(float x)
{
    return 0.5f * x * (1.0f + fm_tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
}

static inline float fm_siluf(float x) { return x * fm_sigmoidf(x); }

/* The same functions over arrays (dst may equal src), with AVX2/AVX-512
 * code where the CPU has it (elementwise_fastmath.c). */
void fm_exp_n(const float *src, float *dst, int64_t n);
void fm_sigmoid_n(const float *src, float *dst, int64_t n);
void fm_tanh_n(const float *src, float *dst, int64_t n);
void fm_erf_n(const float *src, float *dst, int64_t n);
void fm_gelu_n(const float *src, float *dst, int64_t n);
void fm_gelu_tanh_n(const float *src, float *dst, int64_t n);
void fm_silu_n(const float *src, float *dst, int64_t n);

#endif

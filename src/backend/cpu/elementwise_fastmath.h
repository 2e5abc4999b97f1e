/*
 * float32 exp, sigmoid, tanh and erf written as branch-free inline code so
 * that loops calling them auto-vectorise (libm calls do not). Accuracy is a
 * few float32 ulps (max relative error about 2e-7 for exp/tanh; erf within
 * 1e-7 absolute and 2e-7 relative near 0). The polynomial coefficients are
 * least-squares fits made for this file on Chebyshev nodes.
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
    float ax = fabsf(x);
    /* small |x|: odd polynomial (keeps relative accuracy near 0) */
    float z = x * x;
    float q = -0.00569188595f;
    q = fmaf(q, z, 0.020626206f);
    q = fmaf(q, z, -0.0537352934f);
    q = fmaf(q, z, 0.133313805f);
    q = fmaf(q, z, -0.333332807f);
    float small = fmaf(x * z, q, x);
    /* otherwise 1 - 2 / (exp(2|x|) + 1), with x's sign */
    float big = 1.0f - 2.0f / (fm_expf(2.0f * ax) + 1.0f);
    big = copysignf(big, x);
    return ax < 0.625f ? small : big;
}

static inline float fm_erff(float x)
{
    float ax = fabsf(x);
    /* |x| < 1: x * P(x^2) */
    float z = x * x;
    float p = 7.84709846e-05f;
    p = fmaf(p, z, -0.000800814014f);
    p = fmaf(p, z, 0.00518809306f);
    p = fmaf(p, z, -0.0268536881f);
    p = fmaf(p, z, 0.112835824f);
    p = fmaf(p, z, -0.37612626f);
    p = fmaf(p, z, 1.12837911f);
    float small = x * p;
    /* 1 <= |x| < 4: 1 - exp(-x^2) * Q(u), Q fits erfc(x) exp(x^2), u = (|x| - 2.5) / 1.5;
     * beyond 4, erf rounds to +-1 */
    float axc = ax < 4.0f ? ax : 4.0f;
    float u = fmaf(axc, 1.0f / 1.5f, -2.5f / 1.5f);
    float q = 8.63915484e-05f;
    q = fmaf(q, u, -0.000243512011f);
    q = fmaf(q, u, 0.00039255977f);
    q = fmaf(q, u, -0.0009199903f);
    q = fmaf(q, u, 0.00240465696f);
    q = fmaf(q, u, -0.00560849439f);
    q = fmaf(q, u, 0.0124914432f);
    q = fmaf(q, u, -0.0269986801f);
    q = fmaf(q, u, 0.0561100617f);
    q = fmaf(q, u, -0.111521333f);
    q = fmaf(q, u, 0.21080637f);
    float big = fmaf(-fm_expf(-axc * axc), q, 1.0f);
    big = ax < 4.0f ? big : 1.0f;
    big = copysignf(big, x);
    float y = ax < 1.0f ? small : big;
    return x != x ? x : y;
}

/* The same functions over arrays (dst may equal src), with AVX2/AVX-512
 * code where the CPU has it (elementwise_fastmath.c). */
void fm_exp_n(const float *src, float *dst, int64_t n);
void fm_sigmoid_n(const float *src, float *dst, int64_t n);
void fm_tanh_n(const float *src, float *dst, int64_t n);
void fm_erf_n(const float *src, float *dst, int64_t n);

#endif

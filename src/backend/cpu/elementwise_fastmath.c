/*
 * Array versions of the fast float32 exp, sigmoid, tanh and erf of
 * elementwise_fastmath.h: the same algorithms and coefficients, 8 lanes at
 * a time with AVX2 + FMA, or 16 with AVX-512 when the CPU has it (chosen at
 * run time, so the default -mavx2 build uses it too). Intrinsics are used
 * because compilers do not turn the NaN-safe scalar clamps into single
 * min/max instructions.
 */
#include <stdatomic.h>
#include <stdbool.h>

#include "backend/cpu/elementwise_fastmath.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define FM_AVX2 1
#endif
#if defined(FM_AVX2) && defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && \
    !defined(FWD_NO_AVX512)
#define FM_AVX512 1
#endif

#ifdef FM_AVX2
static inline __m256 fm_exp8(__m256 x)
{
    /* max/min return the bound for NaN lanes; NaN is put back at the end */
    __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-104.0f)), _mm256_set1_ps(89.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-0.693359375f), xc);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(0.00137514086f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.00836892147f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.0416695327f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.166665182f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.499999881f));
    __m256 e = _mm256_fmadd_ps(_mm256_mul_ps(r, r), p, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1);
    __m256i n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    __m256 y = _mm256_mul_ps(_mm256_mul_ps(e, s1), s2);
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

static inline __m256 fm_sigmoid8(__m256 x)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 e = fm_exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_div_ps(one, _mm256_add_ps(one, e));
}

static inline __m256 fm_tanh8(__m256 x)
{
    __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-9.0f)), _mm256_set1_ps(9.0f));
    __m256 z = _mm256_mul_ps(xc, xc);
    __m256 p = _mm256_set1_ps(1.33546605e-08f);
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.0609131e-05f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(0.0034955935f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(0.133810311f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(0.99999998f));
    __m256 q = _mm256_set1_ps(7.77657206e-07f);
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(0.000328564185f));
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(0.0258770054f));
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(0.467143467f));
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(1.0f));
    __m256 y = _mm256_div_ps(_mm256_mul_ps(xc, p), q);
    y = _mm256_min_ps(_mm256_max_ps(y, _mm256_set1_ps(-1.0f)), _mm256_set1_ps(1.0f));
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

static inline __m256 fm_erf8(__m256 x)
{
    __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-4.0f)), _mm256_set1_ps(4.0f));
    __m256 z = _mm256_mul_ps(xc, xc);
    __m256 p = _mm256_set1_ps(-4.48539701e-08f);
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-2.91074516e-07f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(0.0003057219f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(0.00295560281f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(0.0509368858f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(0.166895156f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.12837917f));
    __m256 q = _mm256_set1_ps(-6.20373213e-07f);
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(4.09889481e-05f));
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(0.00103973698f));
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(0.0134904809f));
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(0.105554826f));
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(0.481240353f));
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(1.0f));
    __m256 y = _mm256_div_ps(_mm256_mul_ps(xc, p), q);
    y = _mm256_min_ps(_mm256_max_ps(y, _mm256_set1_ps(-1.0f)), _mm256_set1_ps(1.0f));
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}
/* fm_geluf's operations, 8 lanes (max/min give their second operand
 * for a NaN x: then xc is finite and h NaN) */
static inline __m256 fm_gelu8(__m256 x)
{
    __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-FM_GELU_CLAMP)), _mm256_set1_ps(FM_GELU_CLAMP));
    __m256 z = _mm256_mul_ps(xc, xc);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(FM_GELU_P5), z, _mm256_set1_ps(FM_GELU_P4));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(FM_GELU_P3));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(FM_GELU_P2));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(FM_GELU_P1));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(FM_GELU_P0));
    __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(FM_GELU_Q5), z, _mm256_set1_ps(FM_GELU_Q4));
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(FM_GELU_Q3));
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(FM_GELU_Q2));
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(FM_GELU_Q1));
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(1.0f));
    __m256 h = _mm256_mul_ps(_mm256_set1_ps(0.5f), x);
    return _mm256_fmadd_ps(h, _mm256_div_ps(_mm256_mul_ps(xc, p), q), h);
}

static inline __m256 fm_gelu_tanh8(__m256 x)
{
    __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
    __m256 u = _mm256_mul_ps(_mm256_fmadd_ps(x3, _mm256_set1_ps(0.044715f), x), _mm256_set1_ps(0.79788456080286536f));
    __m256 t = fm_tanh8(u);
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), _mm256_add_ps(t, _mm256_set1_ps(1.0f)));
}

static inline __m256 fm_silu8(__m256 x) { return _mm256_mul_ps(x, fm_sigmoid8(x)); }
#endif

#ifdef FM_AVX512
#include "backend/cpu/elementwise_fastmath512.h"

/* Whole blocks of 16 with AVX-512; returns how many elements were done. */
#define FM_LOOP16(NAME, V16)                                                   \
    FM_T512 static int64_t NAME(const float *src, float *dst, int64_t n)       \
    {                                                                          \
        int64_t i = 0;                                                         \
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, V16(_mm512_loadu_ps(src + i))); \
        return i;                                                              \
    }
FM_LOOP16(exp_512, fm_exp16)
FM_LOOP16(sigmoid_512, fm_sigmoid16)
FM_LOOP16(tanh_512, fm_tanh16)
FM_LOOP16(erf_512, fm_erf16)
FM_LOOP16(gelu_512, fm_gelu16)
FM_LOOP16(gelu_tanh_512, fm_gelu_tanh16)
FM_LOOP16(silu_512, fm_silu16)

static bool have_avx512(void)
{
    static _Atomic int cached = -1; /* threads racing here store the same value */
    int c = atomic_load_explicit(&cached, memory_order_relaxed);
    if (c < 0) {
        c = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
        atomic_store_explicit(&cached, c, memory_order_relaxed);
    }
    return c != 0;
}
#endif

#ifdef FM_AVX512
#define FM_TRY512(FN) \
    if (n >= 16 && have_avx512()) i = FN(src, dst, n);
#else
#define FM_TRY512(FN)
#endif
#ifdef FM_AVX2
#define FM_DO256(V8) \
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, V8(_mm256_loadu_ps(src + i)));
#else
#define FM_DO256(V8)
#endif

#define FM_ARRAY(NAME, F512, V8, S1)                    \
    void NAME(const float *src, float *dst, int64_t n)  \
    {                                                   \
        int64_t i = 0;                                  \
        FM_TRY512(F512)                                 \
        FM_DO256(V8)                                    \
        for (; i < n; i++) dst[i] = S1(src[i]);         \
    }
FM_ARRAY(fm_exp_n, exp_512, fm_exp8, fm_expf)
FM_ARRAY(fm_sigmoid_n, sigmoid_512, fm_sigmoid8, fm_sigmoidf)
FM_ARRAY(fm_tanh_n, tanh_512, fm_tanh8, fm_tanhf)
FM_ARRAY(fm_erf_n, erf_512, fm_erf8, fm_erff)
FM_ARRAY(fm_gelu_n, gelu_512, fm_gelu8, fm_geluf)
FM_ARRAY(fm_gelu_tanh_n, gelu_tanh_512, fm_gelu_tanh8, fm_gelu_tanhf)
FM_ARRAY(fm_silu_n, silu_512, fm_silu8, fm_siluf)

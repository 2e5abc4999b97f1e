/*
 * The fast float32 exp, sigmoid, tanh, erf and the activations built on
 * them (elementwise_fastmath.h), 16 lanes at a time with AVX-512: the
 * arrays of elementwise_fastmath.c and the GEMM epilogue (sgemm_kernel.c,
 * in registers) share them. Callers check the CPU at run time (AVX-512F).
 */
#ifndef FWD_BACKEND_CPU_ELEMENTWISE_FASTMATH512_H
#define FWD_BACKEND_CPU_ELEMENTWISE_FASTMATH512_H

#include <immintrin.h>
#include <stdint.h>

#include "backend/cpu/elementwise_fastmath.h"

#define FM_T512 __attribute__((target("avx512f")))

/* The lanes of a 16-lane step with left elements still to go. */
static inline __mmask16 fm_mask16(int64_t left)
{
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
}


FM_T512 static inline __m512 fm_exp16(__m512 x)
{
    /* clamp (NaN lanes take a bound; put back at the end) and reduce */
    __m512 xc = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(89.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-0.693359375f), xc);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(0.00137514086f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.00836892147f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.0416695327f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.166665182f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.499999881f));
    __m512 e = _mm512_fmadd_ps(_mm512_mul_ps(r, r), p, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    /* e * 2^n with overflow to inf and underflow to 0 */
    __m512 y = _mm512_scalef_ps(e, n);
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), y, x);
}

FM_T512 static inline __m512 fm_sigmoid16(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 e = fm_exp16(_mm512_sub_ps(_mm512_setzero_ps(), x));
    return _mm512_div_ps(one, _mm512_add_ps(one, e));
}

FM_T512 static inline __m512 fm_tanh16(__m512 x)
{
    __m512 xc = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-9.0f)), _mm512_set1_ps(9.0f));
    __m512 z = _mm512_mul_ps(xc, xc);
    __m512 p = _mm512_set1_ps(1.33546605e-08f);
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(2.0609131e-05f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(0.0034955935f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(0.133810311f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(0.99999998f));
    __m512 q = _mm512_set1_ps(7.77657206e-07f);
    q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(0.000328564185f));
    q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(0.0258770054f));
    q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(0.467143467f));
    q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(1.0f));
    __m512 y = _mm512_div_ps(_mm512_mul_ps(xc, p), q);
    y = _mm512_min_ps(_mm512_max_ps(y, _mm512_set1_ps(-1.0f)), _mm512_set1_ps(1.0f));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), y, x);
}

FM_T512 static inline __m512 fm_erf16(__m512 x)
{
    __m512 xc = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-4.0f)), _mm512_set1_ps(4.0f));
    __m512 z = _mm512_mul_ps(xc, xc);
    __m512 p = _mm512_set1_ps(-4.48539701e-08f);
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-2.91074516e-07f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(0.0003057219f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(0.00295560281f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(0.0509368858f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(0.166895156f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.12837917f));
    __m512 q = _mm512_set1_ps(-6.20373213e-07f);
    q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(4.09889481e-05f));
    q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(0.00103973698f));
    q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(0.0134904809f));
    q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(0.105554826f));
    q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(0.481240353f));
    q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(1.0f));
    /* xc * p / q, q >= 1: a reciprocal estimate and one Newton step
     * (about twice as fast as the division on Zen 4) */
    __m512 r = _mm512_rcp14_ps(q);
    r = _mm512_fmadd_ps(r, _mm512_fnmadd_ps(q, r, _mm512_set1_ps(1.0f)), r);
    __m512 y = _mm512_mul_ps(_mm512_mul_ps(xc, p), r);
    y = _mm512_min_ps(_mm512_max_ps(y, _mm512_set1_ps(-1.0f)), _mm512_set1_ps(1.0f));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), y, x);
}

/* fm_geluf's operations, 16 lanes, 1 / Q by a reciprocal estimate and
 * one Newton step (Q >= 1) */
FM_T512 static inline __m512 fm_gelu16(__m512 x)
{
    __m512 xc = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-FM_GELU_CLAMP)), _mm512_set1_ps(FM_GELU_CLAMP));
    __m512 z = _mm512_mul_ps(xc, xc);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(FM_GELU_P5), z, _mm512_set1_ps(FM_GELU_P4));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(FM_GELU_P3));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(FM_GELU_P2));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(FM_GELU_P1));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(FM_GELU_P0));
    __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(FM_GELU_Q5), z, _mm512_set1_ps(FM_GELU_Q4));
    q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(FM_GELU_Q3));
    q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(FM_GELU_Q2));
    q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(FM_GELU_Q1));
    q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(1.0f));
    __m512 r = _mm512_rcp14_ps(q);
    r = _mm512_fmadd_ps(r, _mm512_fnmadd_ps(q, r, _mm512_set1_ps(1.0f)), r);
    __m512 h = _mm512_mul_ps(_mm512_set1_ps(0.5f), x);
    return _mm512_fmadd_ps(h, _mm512_mul_ps(_mm512_mul_ps(xc, p), r), h);
}

FM_T512 static inline __m512 fm_gelu_tanh16(__m512 x)
{
    __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
    __m512 u = _mm512_mul_ps(_mm512_fmadd_ps(x3, _mm512_set1_ps(0.044715f), x), _mm512_set1_ps(0.79788456080286536f));
    __m512 t = fm_tanh16(u);
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), _mm512_add_ps(t, _mm512_set1_ps(1.0f)));
}

FM_T512 static inline __m512 fm_silu16(__m512 x) { return _mm512_mul_ps(x, fm_sigmoid16(x)); }

#endif

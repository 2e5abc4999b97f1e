/* Block conversions between float16/bfloat16 and float32 (F16C when the
 * build targets it). Private to the elementwise kernels. */
#ifndef FWD_BACKEND_CPU_ELEMENTWISE_CONVERT_H
#define FWD_BACKEND_CPU_ELEMENTWISE_CONVERT_H

#include <stdint.h>

#include "fwd.h"
#include "util/half.h"

#if defined(__F16C__) && defined(__AVX__)
#include <immintrin.h>
#endif

static inline void elt_f16_to_f32_n(const uint16_t *src, float *dst, int64_t n)
{
    int64_t i = 0;
#if defined(__F16C__) && defined(__AVX__)
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
#endif
    for (; i < n; i++) dst[i] = fwd_f16_to_f32(src[i]);
}

static inline void elt_f32_to_f16_n(const float *src, uint16_t *dst, int64_t n)
{
    int64_t i = 0;
#if defined(__F16C__) && defined(__AVX__)
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
#endif
    for (; i < n; i++) dst[i] = fwd_f32_to_f16(src[i]);
}

static inline void elt_bf16_to_f32_n(const uint16_t *src, float *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dst[i] = fwd_bf16_to_f32(src[i]);
}

/* Round to nearest even (compute results). */
static inline void elt_f32_to_bf16_n(const float *src, uint16_t *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dst[i] = fwd_f32_to_bf16(src[i]);
}

static inline void elt_half_to_f32(fwd_dtype t, const uint16_t *src, float *dst, int64_t n)
{
    if (t == FWD_FLOAT16)
        elt_f16_to_f32_n(src, dst, n);
    else
        elt_bf16_to_f32_n(src, dst, n);
}

static inline void elt_f32_to_half(fwd_dtype t, const float *src, uint16_t *dst, int64_t n)
{
    if (t == FWD_FLOAT16)
        elt_f32_to_f16_n(src, dst, n);
    else
        elt_f32_to_bf16_n(src, dst, n);
}

#endif

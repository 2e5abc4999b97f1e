/*
 * 8 x 8 float32 transposes in AVX registers (unpack, shuffle, 128-bit
 * permute), shared by the strided tensor copies (tensor.c), the packing
 * of transposed GEMM operands (sgemm_kernel.c) and the transposed
 * convolution's tiles (conv_transposed.c).
 */
#ifndef FWD_BACKEND_CPU_TRANSPOSE8_H
#define FWD_BACKEND_CPU_TRANSPOSE8_H

#include <immintrin.h>
#include <stdint.h>

/* r[i] holding row i of an 8 x 8 block becomes r[j] holding column j. */
static inline void nn_transpose8_regs(__m256 r[8])
{
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    /* u0 = column 0 of rows 0-3 | column 4 of rows 0-3, and so on */
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* dst[j * ldd + i] = src[i * lds + j] for i, j < 8. */
static inline void nn_transpose8x8(const float *src, int64_t lds, float *dst, int64_t ldd)
{
    __m256 r[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * lds);
    nn_transpose8_regs(r);
    for (int j = 0; j < 8; j++) _mm256_storeu_ps(dst + j * ldd, r[j]);
}

#endif

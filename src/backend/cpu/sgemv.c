/*
 * Products with very few rows (a GEMV in disguise: classifier heads,
 * decoders at one token): y = op(A) @ op(B) for rows < NN_GEMV_MAX_ROWS.
 * They are bound by reading B once, so B is read in place (no packing),
 * all rows at a time, with AVX2 + FMA (the build's baseline ISA).
 */
#include <immintrin.h>

#include "backend/cpu/sgemm.h"

/* op(A)[r][p] */
static inline float a_at(const float *a, int64_t lda, bool ta, int64_t r, int64_t p)
{
    return ta ? a[p * lda + r] : a[r * lda + p];
}

/* B stored k x n (row p at b + p * ldb): columns [0, n) of all rows,
 * 32 columns (four vectors per row of y) at a time. */
static void gemv_rows_b(int rows, int64_t n, int64_t k, const float *a, int64_t lda, bool ta, const float *b,
                        int64_t ldb, float *y, int64_t ldy)
{
    int64_t j = 0;
    for (; j + 32 <= n; j += 32) {
        __m256 acc[NN_GEMV_MAX_ROWS][4];
        for (int r = 0; r < rows; r++)
            for (int v = 0; v < 4; v++) acc[r][v] = _mm256_setzero_ps();
        for (int64_t p = 0; p < k; p++) {
            const float *bp = b + p * ldb + j;
            __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8), b2 = _mm256_loadu_ps(bp + 16),
                   b3 = _mm256_loadu_ps(bp + 24);
            for (int r = 0; r < rows; r++) {
                __m256 av = _mm256_set1_ps(a_at(a, lda, ta, r, p));
                acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
                acc[r][2] = _mm256_fmadd_ps(av, b2, acc[r][2]);
                acc[r][3] = _mm256_fmadd_ps(av, b3, acc[r][3]);
            }
        }
        for (int r = 0; r < rows; r++)
            for (int v = 0; v < 4; v++) _mm256_storeu_ps(y + r * ldy + j + 8 * v, acc[r][v]);
    }
    for (; j + 8 <= n; j += 8) {
        __m256 acc[NN_GEMV_MAX_ROWS];
        for (int r = 0; r < rows; r++) acc[r] = _mm256_setzero_ps();
        for (int64_t p = 0; p < k; p++) {
            __m256 bv = _mm256_loadu_ps(b + p * ldb + j);
            for (int r = 0; r < rows; r++) acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(a_at(a, lda, ta, r, p)), bv, acc[r]);
        }
        for (int r = 0; r < rows; r++) _mm256_storeu_ps(y + r * ldy + j, acc[r]);
    }
    for (; j < n; j++)
        for (int r = 0; r < rows; r++) {
            float s = 0.0f;
            for (int64_t p = 0; p < k; p++) s += a_at(a, lda, ta, r, p) * b[p * ldb + j];
            y[r * ldy + j] = s;
        }
}

static inline float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* B stored n x k (column j of op(B) is row j of b): one dot product per
 * element of y, vectorized along k when A's rows are contiguous. */
static void gemv_rows_bt(int rows, int64_t n, int64_t k, const float *a, int64_t lda, bool ta, const float *b,
                         int64_t ldb, float *y, int64_t ldy)
{
    for (int64_t j = 0; j < n; j++) {
        const float *bj = b + j * ldb;
        float s[NN_GEMV_MAX_ROWS];
        int64_t p = 0;
        if (!ta) {
            __m256 acc[NN_GEMV_MAX_ROWS];
            for (int r = 0; r < rows; r++) acc[r] = _mm256_setzero_ps();
            for (; p + 8 <= k; p += 8) {
                __m256 bv = _mm256_loadu_ps(bj + p);
                for (int r = 0; r < rows; r++) acc[r] = _mm256_fmadd_ps(_mm256_loadu_ps(a + r * lda + p), bv, acc[r]);
            }
            for (int r = 0; r < rows; r++) s[r] = hsum(acc[r]);
        } else {
            for (int r = 0; r < rows; r++) s[r] = 0.0f;
        }
        for (; p < k; p++)
            for (int r = 0; r < rows; r++) s[r] += a_at(a, lda, ta, r, p) * bj[p];
        for (int r = 0; r < rows; r++) y[r * ldy + j] = s[r];
    }
}

void nn_gemv(int64_t rows, int64_t n, int64_t k, const float *a, int64_t lda, bool ta, const float *b,
             int64_t ldb, bool tb, float *y, int64_t ldy)
{
    for (int64_t r0 = 0; r0 < rows; r0 += NN_GEMV_MAX_ROWS) {
        int rr = (int)(rows - r0 < NN_GEMV_MAX_ROWS ? rows - r0 : NN_GEMV_MAX_ROWS);
        const float *ar = ta ? a + r0 : a + r0 * lda;
        if (tb)
            gemv_rows_bt(rr, n, k, ar, lda, ta, b, ldb, y + r0 * ldy, ldy);
        else
            gemv_rows_b(rr, n, k, ar, lda, ta, b, ldb, y + r0 * ldy, ldy);
    }
}

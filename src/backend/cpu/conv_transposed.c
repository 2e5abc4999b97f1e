/*
 * Convolutions with few output pixels (ResNet's 7x7 stage: P = 49) as the
 * transposed product
 *
 *   Y^T (P x M) = im2col^T (P x K) @ W^T (K x M).
 *
 * The GEMM's columns are its vector lanes and its rows are broadcasts, so
 * a column count that is not a multiple of 16 wastes lanes (49 columns
 * cost as much as 56) while any row count costs exactly its rows. Here the
 * pixels are the rows and the filters (a multiple of 16) the columns: no
 * lane is wasted, and threads split the filters, so each gets whole tiles
 * however few the pixels are.
 *
 * W^T is packed into the GEMM's 16-column panels at build time
 * (cpu_prepack.c, "fwd.packed_wt"); im2col^T is packed per image as the
 * GEMM's A (tiles of the kernel's row count, nn_im2col_pack_panels). Each
 * task computes a block of filters into scratch, transposes it into Y and
 * applies the bias, the residual and the activation to those rows.
 */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/nn_internal.h"

/* Shared A (floats) above which each thread streams it only once. */
#define SHARED_A_FLOATS ((int64_t)96 << 10)
/* Filters per task at most, so a task's block of Y^T stays in L2. */
#define MAX_TASK_COLS 256

bool nn_conv_t_worthwhile(int64_t p)
{
    if (p < 1 || p > NN_CONV_T_MAX_P) return false;
    /* lanes the ordinary product spends: whole 16-lane steps, a half
     * (256-bit) step for a remainder of at most 8 */
    int64_t r = p % NN_NR;
    double cost = (double)(p / NN_NR) + (r == 0 ? 0.0 : r <= 8 ? 0.5 : 1.0);
    return cost * NN_NR > 1.08 * (double)p;
}

/* dst[j * ldd + i] = src[i * lds + j] for i < rows, j < cols; 8 x 8
 * blocks in AVX registers. */
static void transpose(const float *src, int64_t lds, int64_t rows, int64_t cols, float *dst, int64_t ldd)
{
    int64_t i = 0;
    for (; i + 8 <= rows; i += 8) {
        int64_t j = 0;
        for (; j + 8 <= cols; j += 8) {
            const float *s = src + i * lds + j;
            __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + lds);
            __m256 r2 = _mm256_loadu_ps(s + 2 * lds), r3 = _mm256_loadu_ps(s + 3 * lds);
            __m256 r4 = _mm256_loadu_ps(s + 4 * lds), r5 = _mm256_loadu_ps(s + 5 * lds);
            __m256 r6 = _mm256_loadu_ps(s + 6 * lds), r7 = _mm256_loadu_ps(s + 7 * lds);
            __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
            __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
            __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
            __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
            /* u0 = column 0 of rows 0-3 | column 4 of rows 0-3, and so on */
            __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
            __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
            __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
            __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
            float *d = dst + j * ldd + i;
            _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20));
            _mm256_storeu_ps(d + ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
            _mm256_storeu_ps(d + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
            _mm256_storeu_ps(d + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
            _mm256_storeu_ps(d + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
            _mm256_storeu_ps(d + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
            _mm256_storeu_ps(d + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
            _mm256_storeu_ps(d + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
        }
        for (; j < cols; j++)
            for (int64_t q = 0; q < 8; q++) dst[j * ldd + i + q] = src[(i + q) * lds + j];
    }
    for (; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) dst[j * ldd + i] = src[i * lds + j];
}

typedef struct convt_job {
    const nn_conv_shape *s;
    const float *x;  /* this image */
    const float *wt; /* W^T in 16-column panels */
    float *ap;       /* im2col^T as the GEMM's A */
    float *y;        /* this image's output */
    nn_epilogue e;   /* of this image: bias per filter, residual, activation */
    int64_t P, K, cols;
    int mr;
    _Atomic int failed;
} convt_job;

static void pack_rows(void *arg, int64_t r0, int64_t r1)
{
    convt_job *j = arg;
    if (!nn_im2col_pack_panels(j->x, j->s->cg, &j->s->w, 0, j->P, r0, r1, j->mr, j->ap)) j->failed = 1;
}

static void filter_blocks(void *arg, int64_t t0, int64_t t1)
{
    convt_job *j = arg;
    const int64_t M = j->s->m, P = j->P;
    for (int64_t t = t0; t < t1; t++) {
        int64_t c0 = t * j->cols, c1 = c0 + j->cols < M ? c0 + j->cols : M, n = c1 - c0;
        if (n <= 0) continue;
        float *ct = nn_scratch(1, (size_t)(P * n));
        nn_epilogue plain = nn_epilogue_plain();
        if (!ct || !nn_gemm_packed(P, n, j->K, NULL, 0, j->ap, j->wt + c0 * j->K, ct, n, &plain)) {
            j->failed = 1;
            return;
        }
        float *y = j->y + c0 * P;
        transpose(ct, n, P, n, y, P);
        nn_epilogue e = nn_epilogue_at(&j->e, c0, 0);
        nn_epilogue_apply(&e, y, P, n, P);
    }
}

fwd_status nn_conv_transposed(const fwd_kernel_ctx *k, const nn_conv_shape *s, const float *x,
                              const float *wt, const float *b, const nn_conv_fuse *f, float *y)
{
    const int64_t P = s->g.out_size, K = s->c * s->g.k_size, M = s->m;
    if (s->group != 1 || M % NN_NR != 0)
        return cpu_kernel_error(k, FWD_ERR_INTERNAL, "transposed convolution needs group 1 and whole panels");
    if (s->n * M * P == 0) return FWD_OK;
    int mr = nn_gemm_tile_rows();
    float *ap = nn_scratch(4, (size_t)nn_packed_a_floats(P, K));
    if (!ap) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory for im2col");
    int64_t nt = fwd_num_threads(), steps = (M + 2 * NN_NR - 1) / (2 * NN_NR);
    /* tasks of whole 32-filter steps: one per thread when each would
     * stream a large A, a few per thread otherwise */
    int64_t tasks = nn_packed_a_floats(P, K) > SHARED_A_FLOATS ? nt : 4 * nt;
    if (tasks < (M + MAX_TASK_COLS - 1) / MAX_TASK_COLS) tasks = (M + MAX_TASK_COLS - 1) / MAX_TASK_COLS;
    if (tasks > steps) tasks = steps;
    int64_t cols = (steps + tasks - 1) / tasks * 2 * NN_NR;
    for (int64_t n = 0; n < s->n; n++) {
        convt_job j = {s, x + n * s->c * s->g.in_size, wt, ap, y + n * M * P,
                       nn_conv_epilogue(s, b, f, n, 0), P, K, cols, mr, 0};
        fwd_parallel_for(K, 32768 / (P + 1) + 1, pack_rows, &j);
        if (!j.failed) fwd_parallel_for((M + cols - 1) / cols, 1, filter_blocks, &j);
        if (j.failed) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory in the convolution");
    }
    return FWD_OK;
}

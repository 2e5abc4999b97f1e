/*
 * The float32 GEMM micro-kernels (AVX-512: 8 x 32 register tile; AVX2 +
 * FMA: 6 x 16), the
 * packing of B into 16-column panels, and the cache-blocked loop of one
 * thread (nn_gemm_packed). See sgemm.h.
 *
 * Blocking: the k dimension is cut into slices (KC_AVX512 or KC_AVX2
 * deep) and the rows into blocks of up to MC rows; one block of A
 * (MC x kc) stays in L2 while the kernel sweeps the column tiles of B.
 * The epilogue runs on each tile after its last k slice.
 */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/elementwise_fastmath512.h"
#include "backend/cpu/sgemm.h"
#include "backend/cpu/transpose8.h"

/* Slice depth of the AVX2 kernel: one 6 x 16 panel slice (KC x 16) stays
 * in L1 while the kernel sweeps the rows of A. */
#define KC_AVX2 NN_GEMM_KC
/* Slice depth of the AVX-512 kernel. Its B tile of a 256-deep slice
 * (32 KB) did not stay in L1 either, and each slice beyond the first
 * reads and writes all of C again: with 128 x 3072 outputs (1.5 MB, more
 * than a core's L2) that went to L3. 768 (BERT-base's depth in one slice,
 * A's 192 x 768 block 576 KB in L2): its four products 207 -> 215
 * GFLOP/s on 2 threads, ResNet-50 ~1% faster. */
#define KC_AVX512 768
#define NN_MC 192

/*
 * The kernels read A either packed (tiles of MR rows stored [k][MR]: one
 * contiguous stream) or in place (MR row streams, lda apart); "packed" is
 * a compile-time constant in each instantiation, like mr and wide.
 */
#define A_PTR(packed, MR, a, lda, r, p) ((packed) ? (a) + (p) * (MR) + (r) : (a) + (r) * (lda) + (p))

/* How the wide AVX-512 kernel reads A: in place, packed, or row r of k
 * step p at a[kofs[p] + r * lda] (a convolution's input pixels, read
 * where they are: nn_gemm_tile_offsets). */
enum { A_IN_PLACE, A_PACKED, A_OFFSETS };

/* C tile (mr x 8 or 16 columns) = (accum ? C : 0) + A tile @ B panel
 * slice (kc x 16). */
static inline __attribute__((always_inline)) void ukr(const int mr, const bool wide, const bool packed,
                                                      int64_t kc, const float *a, int64_t lda,
                                                      const float *b, float *c, int64_t ldc, bool accum)
{
    __m256 c0[NN_MR], c1[NN_MR];
    for (int r = 0; r < mr; r++) {
        c0[r] = _mm256_setzero_ps();
        c1[r] = _mm256_setzero_ps();
    }
#pragma GCC unroll 2
    for (int64_t p = 0; p < kc; p++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = wide ? _mm256_loadu_ps(b + 8) : b0;
        b += NN_NR;
        for (int r = 0; r < mr; r++) {
            __m256 av = _mm256_broadcast_ss(A_PTR(packed, NN_MR, a, lda, r, p));
            c0[r] = _mm256_fmadd_ps(av, b0, c0[r]);
            if (wide) c1[r] = _mm256_fmadd_ps(av, b1, c1[r]);
        }
    }
    for (int r = 0; r < mr; r++) {
        float *cr = c + r * ldc;
        if (accum) {
            c0[r] = _mm256_add_ps(c0[r], _mm256_loadu_ps(cr));
            if (wide) c1[r] = _mm256_add_ps(c1[r], _mm256_loadu_ps(cr + 8));
        }
        _mm256_storeu_ps(cr, c0[r]);
        if (wide) _mm256_storeu_ps(cr + 8, c1[r]);
    }
}

#define UKR_CASES(WIDE, PACKED)                                                     \
    switch (mr) {                                                                   \
    case 6: ukr(6, WIDE, PACKED, kc, a, lda, b, c, ldc, accum); break;              \
    case 5: ukr(5, WIDE, PACKED, kc, a, lda, b, c, ldc, accum); break;              \
    case 4: ukr(4, WIDE, PACKED, kc, a, lda, b, c, ldc, accum); break;              \
    case 3: ukr(3, WIDE, PACKED, kc, a, lda, b, c, ldc, accum); break;              \
    case 2: ukr(2, WIDE, PACKED, kc, a, lda, b, c, ldc, accum); break;              \
    default: ukr(1, WIDE, PACKED, kc, a, lda, b, c, ldc, accum); break;             \
    }

static void ukr_16(int mr, bool packed, int64_t kc, const float *a, int64_t lda, const float *b,
                   float *c, int64_t ldc, bool accum)
{
    if (packed) {
        UKR_CASES(true, true)
    } else {
        UKR_CASES(true, false)
    }
}

static void ukr_8(int mr, bool packed, int64_t kc, const float *a, int64_t lda, const float *b,
                  float *c, int64_t ldc, bool accum)
{
    if (packed) {
        UKR_CASES(false, true)
    } else {
        UKR_CASES(false, false)
    }
}

/* One tile of mr rows and nr <= 16 columns; partial tiles go through a
 * small buffer so the kernel always writes whole vectors. */
static void tile_body(int mr, int nr, bool packed, int64_t kc, const float *a, int64_t lda,
                      const float *b, float *c, int64_t ldc, bool accum)
{
    if (nr == NN_NR) {
        ukr_16(mr, packed, kc, a, lda, b, c, ldc, accum);
        return;
    }
    if (nr == 8) {
        ukr_8(mr, packed, kc, a, lda, b, c, ldc, accum);
        return;
    }
    float tmp[NN_MR * NN_NR];
    if (accum)
        for (int r = 0; r < mr; r++) memcpy(tmp + r * NN_NR, c + r * ldc, sizeof(float) * (size_t)nr);
    if (nr < 8)
        ukr_8(mr, packed, kc, a, lda, b, tmp, NN_NR, accum);
    else
        ukr_16(mr, packed, kc, a, lda, b, tmp, NN_NR, accum);
    for (int r = 0; r < mr; r++) memcpy(c + r * ldc, tmp + r * NN_NR, sizeof(float) * (size_t)nr);
}

static void tile(int mr, int nr, bool packed, int64_t kc, const float *a, int64_t lda,
                 const float *b, int64_t bnext, int64_t bstep, float *c, int64_t ldc, bool accum,
                 const nn_epilogue *e)
{
    (void)bnext; /* tiles of at most 16 columns */
    (void)bstep; /* always packed panels (nn_gemm_reads_b_in_place is false) */
    if (e && (e->add[0].p == c || e->add[1].p == c)) {
        /* C is written over an addend (a residual, cpu_inplace.c): the
         * product goes to a buffer first, so the addend is read before
         * C is stored */
        float tmp[NN_MR * NN_NR];
        for (int r = 0; accum && r < mr; r++) memcpy(tmp + r * NN_NR, c + r * ldc, sizeof(float) * (size_t)nr);
        tile_body(mr, nr, packed, kc, a, lda, b, tmp, NN_NR, accum);
        nn_epilogue_apply(e, tmp, NN_NR, mr, nr);
        for (int r = 0; r < mr; r++) memcpy(c + r * ldc, tmp + r * NN_NR, sizeof(float) * (size_t)nr);
        return;
    }
    tile_body(mr, nr, packed, kc, a, lda, b, c, ldc, accum);
    if (e) nn_epilogue_apply(e, c, ldc, mr, nr);
}

/* ---- AVX-512 (runtime-selected): 8 x 32 tiles (narrower ones at the
 * edges); partial column counts use masked loads and stores. ---- */

#define PF_STEPS 16 /* B prefetch distance: 16 k steps ahead */
#define MR512 8  /* tile rows; the tile is 8 x 32 (two zmm per row) */

/* The cheap part of an epilogue done in registers: alpha, addends with
 * column stride 0 or 1, Relu / Clip / LeakyRelu. Other activations run on
 * the stored tile (nn_act_apply), still in L1. */
typedef struct reg_epi {
    bool on, scale;
    bool fast; /* alpha 1, a bias per row or per column (row stride 0),
                  maybe a residual matrix (column stride 1), Relu, GELU
                  (erf) or no activation */
    float alpha;
    int n_add;
    const float *p[2];
    int64_t rs[2], cs[2];
    nn_act_kind act;
    float lo, hi, slope;
} reg_epi;

__attribute__((target("avx512f,avx512vl"))) static inline __attribute__((always_inline)) __m512
epi512(const reg_epi *e, __m512 v, int r, int col0, __mmask16 mask)
{
    if (e->scale) v = _mm512_mul_ps(v, _mm512_set1_ps(e->alpha));
    for (int t = 0; t < e->n_add; t++) {
        const float *q = e->p[t] + r * e->rs[t];
        v = _mm512_add_ps(v, e->cs[t] == 0 ? _mm512_set1_ps(q[0]) : _mm512_maskz_loadu_ps(mask, q + col0));
    }
    switch (e->act) {
    case NN_ACT_RELU: /* max(0, v) keeps NaN (the second operand) */
        v = _mm512_max_ps(_mm512_setzero_ps(), v);
        break;
    case NN_ACT_CLIP:
        v = _mm512_min_ps(_mm512_set1_ps(e->hi), _mm512_max_ps(_mm512_set1_ps(e->lo), v));
        break;
    case NN_ACT_LEAKY: {
        __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
        v = _mm512_mask_mul_ps(v, neg, v, _mm512_set1_ps(e->slope));
        break;
    }
    /* the 16-lane functions of the arrays (nn_act_apply): the same values */
    case NN_ACT_GELU: v = fm_gelu16(v); break;
    case NN_ACT_GELU_TANH: v = fm_gelu_tanh16(v); break;
    case NN_ACT_SIGMOID: v = fm_sigmoid16(v); break;
    case NN_ACT_SILU: v = fm_silu16(v); break;
    case NN_ACT_TANH: v = fm_tanh16(v); break;
    default: break;
    }
    return v;
}

/* Whether epi512 applies act (the rest runs on the stored tile). */
static bool act_in_zmm(nn_act_kind act)
{
    return act == NN_ACT_NONE || act == NN_ACT_RELU || act == NN_ACT_CLIP || act == NN_ACT_LEAKY ||
           act == NN_ACT_GELU || act == NN_ACT_GELU_TANH || act == NN_ACT_SIGMOID || act == NN_ACT_SILU ||
           act == NN_ACT_TANH;
}

/* Prefetches the rows of a tile's C and of its full-matrix addends (a
 * residual), lines lines each: they are read or written once the k loop
 * is done, and that loop is long enough to hide a miss to L3 or memory. */
static inline __attribute__((always_inline)) void prefetch_tile(int mr, int lines, const float *c, int64_t ldc,
                                                                const reg_epi *e)
{
    for (int r = 0; r < mr; r++)
        for (int l = 0; l < lines; l++) {
            _mm_prefetch((const char *)(c + r * ldc + 16 * l), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + (r + MR512) * ldc + 16 * l), _MM_HINT_T1);
        }
    if (!e->on) return;
    for (int t = 0; t < e->n_add; t++)
        if (e->cs[t] == 1)
            for (int r = 0; r < mr; r++)
                for (int l = 0; l < lines; l++) {
                    _mm_prefetch((const char *)(e->p[t] + r * e->rs[t] + 16 * l), _MM_HINT_T0);
                    _mm_prefetch((const char *)(e->p[t] + (r + MR512) * e->rs[t] + 16 * l), _MM_HINT_T1);
                }
}

__attribute__((target("avx512f,avx512vl"))) static inline __attribute__((always_inline)) void
ukr512(const int mr, const bool packed, int64_t kc, const float *a, int64_t lda, const float *b,
       int64_t bstep, float *c, int64_t ldc, bool accum, __mmask16 mask, const reg_epi *e)
{
    __m512 acc[MR512];
    prefetch_tile(mr, 1, c, ldc, e);
    for (int r = 0; r < mr; r++) acc[r] = _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int64_t p = 0; p < kc; p++) {
        __m512 bv = _mm512_loadu_ps(b);
        b += bstep;
        for (int r = 0; r < mr; r++)
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(*A_PTR(packed, MR512, a, lda, r, p)), bv, acc[r]);
    }
    for (int r = 0; r < mr; r++) {
        float *cr = c + r * ldc;
        if (accum) acc[r] = _mm512_add_ps(acc[r], _mm512_maskz_loadu_ps(mask, cr));
        if (e->on) acc[r] = epi512(e, acc[r], r, 0, mask);
        _mm512_mask_storeu_ps(cr, mask, acc[r]);
    }
}

/* 8 x 32 tiles: two zmm per row from two adjacent 16-column panels (b
 * and b + bnext); 16 accumulators, 2 loads and 8 broadcasts per 16 FMAs. */
__attribute__((target("avx512f,avx512vl"))) static inline __attribute__((always_inline)) void
ukr512w_a(const int mr, const int amode, int64_t kc, const float *a, int64_t lda, const int32_t *kofs,
          const float *b, int64_t bnext, int64_t bstep, float *c, int64_t ldc, bool accum, __mmask16 mask1,
          const reg_epi *e)
{
    __m512 acc0[MR512], acc1[MR512];
    for (int r = 0; r < mr; r++) {
        acc0[r] = _mm512_setzero_ps();
        acc1[r] = _mm512_setzero_ps();
    }
    prefetch_tile(mr, 2, c, ldc, e);
    const float *b2 = b + bnext;
    const int64_t ahead = PF_STEPS * bstep;
#pragma GCC unroll 2
    for (int64_t p = 0; p < kc; p++) {
        _mm_prefetch((const char *)(b + ahead), _MM_HINT_T0);
        _mm_prefetch((const char *)(b2 + ahead), _MM_HINT_T0);
        /* the same k row of the next 32 columns: those panels then come
         * from memory while this one sweeps its row tiles */
        _mm_prefetch((const char *)(b + 2 * bnext), _MM_HINT_T1);
        _mm_prefetch((const char *)(b2 + 2 * bnext), _MM_HINT_T1);
        if (amode == A_OFFSETS) {
            /* the pixels of a later k step: scattered over the input's
             * planes and rows, where the hardware prefetchers miss them */
            const float *ahead_a = a + kofs[p + 3 * PF_STEPS];
            _mm_prefetch((const char *)ahead_a, _MM_HINT_T0);
            _mm_prefetch((const char *)(ahead_a + (mr - 1) * lda), _MM_HINT_T0);
        }
        __m512 bv0 = _mm512_loadu_ps(b), bv1 = _mm512_loadu_ps(b2);
        b += bstep;
        b2 += bstep;
        for (int r = 0; r < mr; r++) {
            __m512 av = _mm512_set1_ps(amode == A_OFFSETS ? a[kofs[p] + r * lda]
                                                          : *A_PTR(amode == A_PACKED, MR512, a, lda, r, p));
            acc0[r] = _mm512_fmadd_ps(av, bv0, acc0[r]);
            acc1[r] = _mm512_fmadd_ps(av, bv1, acc1[r]);
        }
    }
    for (int r = 0; r < mr; r++) {
        float *cr = c + r * ldc;
        if (accum) {
            acc0[r] = _mm512_add_ps(acc0[r], _mm512_loadu_ps(cr));
            acc1[r] = _mm512_add_ps(acc1[r], _mm512_maskz_loadu_ps(mask1, cr + 16));
        }
    }
    if (e->on && e->fast) {
        /* the common epilogues without per-row branches: a bias per row
         * (convolutions) or per column (linear layers, loaded once), a
         * residual matrix, Relu, GELU or nothing */
        const bool col_bias = e->cs[0] == 1, res = e->n_add == 2;
        __m512 cb0 = _mm512_setzero_ps(), cb1 = cb0;
        if (col_bias) {
            cb0 = _mm512_loadu_ps(e->p[0]);
            cb1 = _mm512_maskz_loadu_ps(mask1, e->p[0] + 16);
        }
        for (int r = 0; r < mr; r++) {
            __m512 b0 = cb0, b1 = cb1;
            if (!col_bias) b0 = b1 = _mm512_set1_ps(e->p[0][r * e->rs[0]]);
            __m512 v0 = _mm512_add_ps(acc0[r], b0), v1 = _mm512_add_ps(acc1[r], b1);
            if (res) {
                const float *z = e->p[1] + r * e->rs[1];
                v0 = _mm512_add_ps(v0, _mm512_loadu_ps(z));
                v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(mask1, z + 16));
            }
            if (e->act == NN_ACT_RELU) {
                v0 = _mm512_max_ps(_mm512_setzero_ps(), v0);
                v1 = _mm512_max_ps(_mm512_setzero_ps(), v1);
            } else if (e->act == NN_ACT_GELU) {
                v0 = fm_gelu16(v0);
                v1 = fm_gelu16(v1);
            }
            _mm512_storeu_ps(c + r * ldc, v0);
            _mm512_mask_storeu_ps(c + r * ldc + 16, mask1, v1);
        }
        return;
    }
    for (int r = 0; r < mr; r++) {
        float *cr = c + r * ldc;
        if (e->on) {
            acc0[r] = epi512(e, acc0[r], r, 0, 0xFFFF);
            acc1[r] = epi512(e, acc1[r], r, 16, mask1);
        }
        _mm512_storeu_ps(cr, acc0[r]);
        _mm512_mask_storeu_ps(cr + 16, mask1, acc1[r]);
    }
}

/* ukr512w with A packed (true) or read in place (false). */
__attribute__((target("avx512f,avx512vl"))) static inline __attribute__((always_inline)) void
ukr512w(const int mr, const bool packed, int64_t kc, const float *a, int64_t lda, const float *b, int64_t bnext,
        int64_t bstep, float *c, int64_t ldc, bool accum, __mmask16 mask1, const reg_epi *e)
{
    ukr512w_a(mr, packed ? A_PACKED : A_IN_PLACE, kc, a, lda, NULL, b, bnext, bstep, c, ldc, accum, mask1, e);
}

/* CALL(n, arg) for the tile's row count mr, n a constant in each case
 * (the kernels are instantiated per row count). */
#define MR_SWITCH(CALL, arg)                    \
    switch (mr) {                               \
    case 8: CALL(8, arg); break;                \
    case 7: CALL(7, arg); break;                \
    case 6: CALL(6, arg); break;                \
    case 5: CALL(5, arg); break;                \
    case 4: CALL(4, arg); break;                \
    case 3: CALL(3, arg); break;                \
    case 2: CALL(2, arg); break;                \
    default: CALL(1, arg); break;               \
    }

#define UKR512W(n, PACKED) ukr512w(n, PACKED, kc, a, lda, b, bnext, bstep, c, ldc, accum, mask1, &re)
#define UKR512W_CASES(PACKED) MR_SWITCH(UKR512W, PACKED)

/* The same for tiles of at most 8 columns on 256-bit registers (twice
 * the FMA rate of 512-bit ones on AMD Zen 4): half the waste of a
 * mostly empty last panel (7x7 images have 49 columns). */
__attribute__((target("avx512f,avx512vl"))) static inline __attribute__((always_inline)) __m256
epi256(const reg_epi *e, __m256 v, int r, __mmask8 mask)
{
    if (e->scale) v = _mm256_mul_ps(v, _mm256_set1_ps(e->alpha));
    for (int t = 0; t < e->n_add; t++) {
        const float *q = e->p[t] + r * e->rs[t];
        v = _mm256_add_ps(v, e->cs[t] == 0 ? _mm256_set1_ps(q[0]) : _mm256_maskz_loadu_ps(mask, q));
    }
    switch (e->act) {
    case NN_ACT_RELU: v = _mm256_max_ps(_mm256_setzero_ps(), v); break;
    case NN_ACT_CLIP:
        v = _mm256_min_ps(_mm256_set1_ps(e->hi), _mm256_max_ps(_mm256_set1_ps(e->lo), v));
        break;
    case NN_ACT_LEAKY: {
        __mmask8 neg = _mm256_cmp_ps_mask(v, _mm256_setzero_ps(), _CMP_LT_OQ);
        v = _mm256_mask_mul_ps(v, neg, v, _mm256_set1_ps(e->slope));
        break;
    }
    default: break;
    }
    return v;
}

__attribute__((target("avx512f,avx512vl"))) static inline __attribute__((always_inline)) void
ukr256(const int mr, const bool packed, int64_t kc, const float *a, int64_t lda, const float *b,
       int64_t bstep, float *c, int64_t ldc, bool accum, __mmask8 mask, const reg_epi *e)
{
    __m256 acc[MR512];
    for (int r = 0; r < mr; r++) acc[r] = _mm256_setzero_ps();
#pragma GCC unroll 2
    for (int64_t p = 0; p < kc; p++) {
        __m256 bv = _mm256_loadu_ps(b);
        b += bstep;
        for (int r = 0; r < mr; r++)
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(*A_PTR(packed, MR512, a, lda, r, p)), bv, acc[r]);
    }
    for (int r = 0; r < mr; r++) {
        float *cr = c + r * ldc;
        if (accum) acc[r] = _mm256_add_ps(acc[r], _mm256_maskz_loadu_ps(mask, cr));
        if (e->on) acc[r] = epi256(e, acc[r], r, mask);
        _mm256_mask_storeu_ps(cr, mask, acc[r]);
    }
}

#define UKR256(n, PACKED) ukr256(n, PACKED, kc, a, lda, b, bstep, c, ldc, accum, m8, &re)
#define UKR256_CASES(PACKED) MR_SWITCH(UKR256, PACKED)

#define UKR512(n, PACKED) ukr512(n, PACKED, kc, a, lda, b, bstep, c, ldc, accum, mask, &re)
#define UKR512_CASES(PACKED) MR_SWITCH(UKR512, PACKED)

/* Up to NARROW_COLS columns with a packed A: one 8-row vector per column
 * (an FMA per column and k step, where the 8-column kernel spends eight
 * on mostly empty lanes: ResNet-50's 7x7 images have 49 = 32 + 16 + 1
 * columns). The columns come out as vectors, so they go through a small
 * transposed buffer: C (when accumulating) is added there, then the
 * epilogue runs on it and it is stored. */
#define NARROW_COLS 4

/* The k loop for nr (a constant in each instantiation) columns. */
__attribute__((target("avx512f,avx512vl"))) static inline __attribute__((always_inline)) void
narrow_k(const int nr, int64_t kc, const float *a, const float *b, int64_t bstep, __m256 *acc)
{
    /* even and odd k steps in separate sums: nr chains alone would wait
     * on the FMA latency */
    __m256 odd[NARROW_COLS];
    for (int j = 0; j < nr; j++) acc[j] = odd[j] = _mm256_setzero_ps();
    int64_t p = 0;
    for (; p + 2 <= kc; p += 2) {
        __m256 a0 = _mm256_loadu_ps(a + p * MR512), a1 = _mm256_loadu_ps(a + (p + 1) * MR512);
        const float *b0 = b + p * bstep, *b1 = b0 + bstep;
        for (int j = 0; j < nr; j++) {
            acc[j] = _mm256_fmadd_ps(a0, _mm256_set1_ps(b0[j]), acc[j]);
            odd[j] = _mm256_fmadd_ps(a1, _mm256_set1_ps(b1[j]), odd[j]);
        }
    }
    if (p < kc) {
        __m256 a0 = _mm256_loadu_ps(a + p * MR512);
        for (int j = 0; j < nr; j++) acc[j] = _mm256_fmadd_ps(a0, _mm256_set1_ps(b[p * bstep + j]), acc[j]);
    }
    for (int j = 0; j < nr; j++) acc[j] = _mm256_add_ps(acc[j], odd[j]);
}

__attribute__((target("avx512f,avx512vl"))) static void tile_narrow(int mr, int nr, int64_t kc, const float *a,
                                                                 const float *b, int64_t bstep, float *c,
                                                                 int64_t ldc, bool accum, const nn_epilogue *e)
{
    __m256 acc[NARROW_COLS];
    switch (nr) {
    case 1: narrow_k(1, kc, a, b, bstep, acc); break;
    case 2: narrow_k(2, kc, a, b, bstep, acc); break;
    case 3: narrow_k(3, kc, a, b, bstep, acc); break;
    default: narrow_k(4, kc, a, b, bstep, acc); break;
    }
    float t[MR512 * NARROW_COLS]; /* [row][column] */
    for (int j = 0; j < nr; j++) {
        float col[MR512];
        _mm256_storeu_ps(col, acc[j]);
        for (int r = 0; r < mr; r++) t[r * NARROW_COLS + j] = col[r];
    }
    if (accum)
        for (int r = 0; r < mr; r++)
            for (int j = 0; j < nr; j++) t[r * NARROW_COLS + j] += c[r * ldc + j];
    if (e) nn_epilogue_apply(e, t, NARROW_COLS, mr, nr);
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nr; j++) c[r * ldc + j] = t[r * NARROW_COLS + j];
}

/* Whether the kernels can add e's addends in registers: column strides
 * 0 or 1 only (otherwise the whole epilogue runs after the store). */
static bool addends_in_regs(const nn_epilogue *e)
{
    for (int t = 0; t < 2; t++)
        if (e->add[t].p && e->add[t].cs != 0 && e->add[t].cs != 1) return false;
    return true;
}

/* The register part of epilogue e into *re; false (and re off) when its
 * addends are not for registers (addends_in_regs). */
static bool reg_epi_make(const nn_epilogue *e, reg_epi *re)
{
    bool late = !addends_in_regs(e);
    re->on = true;
    re->scale = e->alpha != 1.0f;
    re->alpha = e->alpha;
    for (int t = 0; t < 2; t++) {
        if (!e->add[t].p) continue;
        re->p[re->n_add] = e->add[t].p;
        re->rs[re->n_add] = e->add[t].rs;
        re->cs[re->n_add] = e->add[t].cs;
        re->n_add++;
    }
    re->act = e->act;
    re->fast = !re->scale && re->n_add >= 1 && (re->cs[0] == 0 || (re->cs[0] == 1 && re->rs[0] == 0)) &&
               (re->n_add == 1 || re->cs[1] == 1) &&
               (e->act == NN_ACT_NONE || e->act == NN_ACT_RELU || e->act == NN_ACT_GELU);
    re->lo = e->act_a;
    re->hi = e->act_b;
    re->slope = e->act_a;
    if (late) re->on = false;
    return !late;
}

/* Whether column512 can run epilogue e (NULL: none) all in registers. */
static bool column512_suits(const nn_epilogue *e)
{
    return !e || (addends_in_regs(e) && act_in_zmm(e->act));
}

/* tiles full-height tiles (8 rows; nr = 32, or 9..16 columns) down one
 * column of C (tile t of A at a + t * astep: packed, or in place with
 * row stride lda when lda > 0), e (already at the first tile; NULL: none)
 * moved down 8 rows per tile: what tile512 does per tile without its
 * checks and set-up each time. That set-up had cost 12% of a tile with
 * k = 64 (ResNet-50's expanding 1x1 convs) and 3% with k = 256. */
__attribute__((target("avx512f,avx512vl"))) static void column512(int64_t tiles, int nr, int64_t kc, const float *a,
                                                                 int64_t astep, int64_t lda, const float *b,
                                                                 int64_t bnext, int64_t bstep, float *c,
                                                                 int64_t ldc, bool accum, const nn_epilogue *e)
{
    reg_epi re = {0};
    if (e) reg_epi_make(e, &re);
    __mmask16 mask = (__mmask16)(nr >= NN_NR ? 0xFFFF : (1u << nr) - 1);
    for (int64_t t = 0; t < tiles; t++) {
        const float *at = a + t * astep;
        float *ct = c + t * MR512 * ldc;
        if (nr == 2 * NN_NR) {
            if (lda > 0)
                ukr512w(MR512, false, kc, at, lda, b, bnext, bstep, ct, ldc, accum, 0xFFFF, &re);
            else
                ukr512w(MR512, true, kc, at, 0, b, bnext, bstep, ct, ldc, accum, 0xFFFF, &re);
        } else if (lda > 0) {
            ukr512(MR512, false, kc, at, lda, b, bstep, ct, ldc, accum, mask, &re);
        } else {
            ukr512(MR512, true, kc, at, 0, b, bstep, ct, ldc, accum, mask, &re);
        }
        for (int i = 0; i < re.n_add; i++) re.p[i] += MR512 * re.rs[i];
    }
}

__attribute__((target("avx512f,avx512vl"))) static void tile512(int mr, int nr, bool packed, int64_t kc,
                                                       const float *a, int64_t lda, const float *b,
                                                       int64_t bnext, int64_t bstep, float *c, int64_t ldc,
                                                       bool accum, const nn_epilogue *e)
{
    if (nr > NN_NR && nr < 2 * NN_NR) {
        /* a 16-column tile and a narrower one (a 256-bit one when it has
         * at most 8 columns) waste less than one 32-column tile */
        nn_epilogue e2;
        if (e) e2 = nn_epilogue_at(e, 0, NN_NR);
        tile512(mr, NN_NR, packed, kc, a, lda, b, bnext, bstep, c, ldc, accum, e);
        tile512(mr, nr - NN_NR, packed, kc, a, lda, b + bnext, bnext, bstep, c + NN_NR, ldc, accum, e ? &e2 : NULL);
        return;
    }
    if (packed && nr <= NARROW_COLS) {
        tile_narrow(mr, nr, kc, a, b, bstep, c, ldc, accum, e);
        return;
    }
    if (e && (e->add[0].p == c || e->add[1].p == c) &&
        ((e->add[0].p && e->add[0].cs != 0 && e->add[0].cs != 1) ||
         (e->add[1].p && e->add[1].cs != 0 && e->add[1].cs != 1))) {
        /* C written over an addend, with an epilogue that runs after the
         * store: the product goes to a buffer first */
        float tmp[MR512 * 2 * NN_NR];
        for (int r = 0; accum && r < mr; r++) memcpy(tmp + r * 2 * NN_NR, c + r * ldc, sizeof(float) * (size_t)nr);
        tile512(mr, nr, packed, kc, a, lda, b, bnext, bstep, tmp, 2 * NN_NR, accum, NULL);
        nn_epilogue_apply(e, tmp, 2 * NN_NR, mr, nr);
        for (int r = 0; r < mr; r++) memcpy(c + r * ldc, tmp + r * 2 * NN_NR, sizeof(float) * (size_t)nr);
        return;
    }
    __mmask16 mask = (__mmask16)(nr >= 16 ? 0xFFFF : (1u << nr) - 1);
    __mmask16 mask1 = (__mmask16)(nr >= 32 ? 0xFFFF : nr > 16 ? (1u << (nr - 16)) - 1 : 0);
    reg_epi re = {0};
    bool late = e && !reg_epi_make(e, &re); /* parts left for after the store */
    if (nr > NN_NR) {
        if (packed) {
            UKR512W_CASES(true)
        } else {
            UKR512W_CASES(false)
        }
    } else if (nr <= 8) {
        __mmask8 m8 = (__mmask8)((1u << nr) - 1);
        if (packed) {
            UKR256_CASES(true)
        } else {
            UKR256_CASES(false)
        }
    } else if (packed) {
        UKR512_CASES(true)
    } else {
        UKR512_CASES(false)
    }
    if (!e) return;
    if (late) {
        nn_epilogue_apply(e, c, ldc, mr, nr);
    } else if (e->act != NN_ACT_NONE && e->act != NN_ACT_RELU && e->act != NN_ACT_CLIP &&
               e->act != NN_ACT_LEAKY && (nr <= 8 || !act_in_zmm(e->act))) {
        /* the 256-bit tiles (epi256) and the rarer activations */
        for (int r = 0; r < mr; r++) nn_act_apply(e->act, e->act_a, e->act_b, c + r * ldc, nr);
    }
}

typedef void (*tile_fn)(int mr, int nr, bool packed, int64_t kc, const float *a, int64_t lda,
                        const float *b, int64_t bnext, int64_t bstep, float *c, int64_t ldc, bool accum,
                        const nn_epilogue *e);

/* The kernel for this CPU, its tile rows *mr and tile columns *nr. */
static tile_fn pick_tile2(int *mr, int *nr)
{
    static _Atomic int choice = -1; /* threads racing here compute the same */
    int use512 = choice;
    if (use512 < 0) {
        const char *env = getenv("FWD_NO_AVX512");
        use512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                 !(env && env[0] == '1');
        choice = use512;
    }
    *mr = use512 ? MR512 : NN_MR;
    *nr = use512 ? 2 * NN_NR : NN_NR;
    return use512 ? tile512 : tile;
}

static tile_fn pick_tile(int *mr)
{
    int nr;
    return pick_tile2(mr, &nr);
}

int nn_gemm_tile_rows(void)
{
    int mr;
    pick_tile(&mr);
    return mr;
}

bool nn_gemm_reads_b_in_place(void) { return nn_gemm_tile_rows() == MR512; }

void nn_pack_b(const float *b, int64_t ldb, bool trans, int64_t k, int64_t j0, int64_t n, float *bp)
{
    for (int64_t j = 0; j < n; j += NN_NR) {
        int64_t w = n - j < NN_NR ? n - j : NN_NR;
        float *dst = bp + j * k; /* panel j / NR starts at (j / NR) * k * NR */
        if (!trans) {
            const float *src = b + j0 + j;
            if (w == NN_NR) {
                for (int64_t p = 0; p < k; p++) {
                    _mm256_storeu_ps(dst + p * NN_NR, _mm256_loadu_ps(src + p * ldb));
                    _mm256_storeu_ps(dst + p * NN_NR + 8, _mm256_loadu_ps(src + p * ldb + 8));
                }
            } else {
                for (int64_t p = 0; p < k; p++) {
                    float *d = dst + p * NN_NR;
                    memcpy(d, src + p * ldb, sizeof(float) * (size_t)w);
                    memset(d + w, 0, sizeof(float) * (size_t)(NN_NR - w));
                }
            }
        } else if (w == NN_NR) {
            /* B stored n x k: column j of op(B) is row j of b; 8 x 8
             * blocks transposed in registers */
            const float *src = b + (j0 + j) * ldb;
            int64_t p = 0;
            for (; p + 8 <= k; p += 8)
                for (int h = 0; h < NN_NR; h += 8) nn_transpose8x8(src + h * ldb + p, ldb, dst + p * NN_NR + h, NN_NR);
            for (; p < k; p++)
                for (int64_t q = 0; q < NN_NR; q++) dst[p * NN_NR + q] = src[q * ldb + p];
        } else {
            /* B stored n x k: column j of op(B) is row j of b */
            for (int64_t q = 0; q < NN_NR; q++) {
                if (q < w) {
                    const float *src = b + (j0 + j + q) * ldb;
                    for (int64_t p = 0; p < k; p++) dst[p * NN_NR + q] = src[p];
                } else {
                    for (int64_t p = 0; p < k; p++) dst[p * NN_NR + q] = 0.0f;
                }
            }
        }
    }
}

/* Rows [0, mc) and columns [0, kc) of A (lda) into tiles of tmr rows,
 * tile i at ap + i * ldp, each [kc][tmr] (rows past mc in the last tile
 * are zero). */
static void pack_a_block(const float *a, int64_t lda, int64_t mc, int64_t kc, int tmr, float *ap,
                         int64_t ldp)
{
    for (int64_t i = 0; i < mc; i += tmr) {
        int64_t mr = mc - i < tmr ? mc - i : tmr;
        float *dst = ap + i / tmr * ldp;
        const float *src = a + i * lda;
        if (mr == tmr && tmr == 8) {
            /* 8 x 8 blocks through registers: each k step's 8 rows become
             * one 32-byte row of the tile */
            int64_t p = 0;
            for (; p + 8 <= kc; p += 8) nn_transpose8x8(src + p, lda, dst + p * 8, 8);
            for (; p < kc; p++)
                for (int r = 0; r < 8; r++) dst[p * 8 + r] = src[r * lda + p];
        } else {
            for (int64_t p = 0; p < kc; p++, dst += tmr)
                for (int64_t r = 0; r < tmr; r++) dst[r] = r < mr ? src[r * lda + p] : 0.0f;
        }
    }
}

int64_t nn_packed_a_floats(int64_t m, int64_t k)
{
    int64_t tmr = nn_gemm_tile_rows();
    return (m + tmr - 1) / tmr * tmr * (k > 0 ? k : 1);
}

void nn_pack_a(const float *a, int64_t lda, int64_t m, int64_t k, float *ap)
{
    int tmr = nn_gemm_tile_rows();
    pack_a_block(a, lda, m, k, tmr, ap, tmr * k);
}

/* Depth of the k slice starting at pc: kmax, or an even split of the
 * last two slices (no tiny last slice). */
static int64_t slice_len(int64_t k, int64_t pc, int64_t kmax)
{
    int64_t kc = k - pc < kmax ? k - pc : kmax;
    if (k - pc > kmax && k - pc < 2 * kmax) kc = (k - pc + 1) / 2;
    return kc;
}

/* Whether tile512 reads a last tile of nr (< 32) columns of B in place
 * with a packed A without loading past them: its 16-, 8- and narrow
 * pieces load exactly their columns (packing the edge instead cost
 * ResNet-50's 196-column products 12%). */
static bool edge_reads_in_place(int nr)
{
    int rest = nr > NN_NR ? nr - NN_NR : nr;
    return rest <= NARROW_COLS || rest == 8 || rest == NN_NR;
}

/* Columns per task above which packing A per block pays for itself. */
#define PACK_A_MIN_COLS 128

/* Lines [l0, l1) of row tile `row` of the next A block na (n_rows rows,
 * depth k) into L2, if it has that row: its loads spread over this
 * block's column steps (nn_gemm_b). */
static inline void prefetch_a_lines(const float *na, int64_t row, int64_t n_rows, int64_t k, int64_t l0, int64_t l1)
{
    if (!na || row >= n_rows) return;
    const char *pa = (const char *)(na + row * k);
    for (int64_t l = l0; l < l1; l++) _mm_prefetch(pa + 64 * l, _MM_HINT_T1);
}

bool nn_gemm_packed(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *ap,
                    const float *bp, float *c, int64_t ldc, const nn_epilogue *e)
{
    return nn_gemm_b(m, n, k, a, lda, ap, bp, 0, c, ldc, e);
}

bool nn_gemm_b(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *ap, const float *b,
               int64_t ldb, float *c, int64_t ldc, const nn_epilogue *e)
{
    if (m <= 0 || n <= 0) return true;
    if (k <= 0) {
        if (!e->accumulate)
            for (int64_t i = 0; i < m; i++) memset(c + i * ldc, 0, sizeof(float) * (size_t)n);
        nn_epilogue_apply(e, c, ldc, m, n);
        return true;
    }
    int tmr, tnr;
    tile_fn tf = pick_tile2(&tmr, &tnr);
    const int64_t kmax = tmr == MR512 ? KC_AVX512 : KC_AVX2;
    /* row blocks of at most NN_MC rows, evened out in whole tiles */
    int64_t nblk = (m + NN_MC - 1) / NN_MC, tiles = (m + tmr - 1) / tmr;
    int64_t mcb = (tiles + nblk - 1) / nblk * tmr;
    /* A: prepacked (tile i at ap + i * tmr * k), packed here block by
     * block when there are enough columns to reuse it, or read in place */
    float *blk = NULL;
    if (!ap && n >= PACK_A_MIN_COLS) {
        blk = nn_scratch(3, (size_t)(mcb * kmax));
        if (!blk) return false;
    }
    bool plain = e->alpha == 1.0f && !e->add[0].p && !e->add[1].p && e->act == NN_ACT_NONE;
    /* from one 16-column piece of B to the next, and from one k row to
     * the next */
    const int64_t bnext = ldb ? NN_NR : NN_NR * k, bstep = ldb ? ldb : NN_NR;
    const int64_t njr = (n + tnr - 1) / tnr;
    int64_t kc;
    for (int64_t pc = 0; pc < k; pc += kc) {
        kc = slice_len(k, pc, kmax);
        bool accum = pc > 0 || e->accumulate, last = pc + kc == k;
        for (int64_t ic = 0; ic < m; ic += mcb) {
            int64_t mc = m - ic < mcb ? m - ic : mcb;
            if (blk) pack_a_block(a + ic * lda + pc, lda, mc, kc, tmr, blk, tmr * kc);
            /* The next block of a prepacked A (weights, often coming from
             * memory) is prefetched into L2 a slice per column step, so
             * its loads spread over this block's work. */
            const float *na = NULL;
            int64_t n_rows = 0, n_lines = 0;
            if (ap && ic + mc < m) {
                na = ap + (ic + mcb) * k + pc * tmr;
                n_rows = m - ic - mcb < mcb ? m - ic - mcb : mcb;
                n_lines = (kc * tmr * 4 + 63) / 64;
            } else if (ap && pc + kc < k) {
                na = ap + (pc + kc) * tmr;
                n_rows = m < mcb ? m : mcb;
                n_lines = (slice_len(k, pc + kc, kmax) * tmr * 4 + 63) / 64;
            }
            for (int64_t jr = 0; jr < n; jr += tnr) {
                int nr = (int)(n - jr < tnr ? n - jr : tnr);
                int64_t tnext = bnext, tstep = bstep;
                /* packed panels: panel jr / 16 at jr * k, its row pc at
                 * pc * 16; in place: row pc of B, column jr */
                const float *bt = ldb ? b + pc * ldb + jr : b + jr * k + pc * NN_NR;
                if (ldb && nr < tnr && !((ap || blk) && edge_reads_in_place(nr))) {
                    /* the kernels load whole tiles: B's last columns go
                     * through zero-padded panels */
                    float *edge = nn_scratch(0, (size_t)nn_packed_b_floats(kc, nr));
                    if (!edge) return false;
                    nn_pack_b(b + pc * ldb, ldb, false, kc, jr, nr, edge);
                    bt = edge;
                    tnext = NN_NR * kc;
                    tstep = NN_NR;
                }
                int64_t jx = jr / tnr, l0 = jx * n_lines / njr, l1 = (jx + 1) * n_lines / njr;
                int64_t ir = ic;
                if (tmr == MR512 && (nr == 2 * NN_NR || (nr > 8 && nr <= NN_NR))) {
                    /* the full tiles in one call (column512; the next A
                     * block's lines prefetched first) */
                    int64_t full = mc / MR512;
                    nn_epilogue et;
                    const nn_epilogue *ep = NULL;
                    if (last && !plain) {
                        et = nn_epilogue_at(e, ic, jr);
                        ep = &et;
                    }
                    if (full > 0 && column512_suits(ep)) {
                        for (int64_t t = 0; t < full; t++) prefetch_a_lines(na, t * MR512, n_rows, k, l0, l1);
                        /* A: prepacked, packed per block, or in place */
                        const float *at = ap ? ap + ic * k + pc * tmr : blk ? blk : a + ic * lda + pc;
                        int64_t astep = MR512 * (ap ? k : blk ? kc : lda);
                        column512(full, nr, kc, at, astep, ap || blk ? 0 : lda, bt, tnext, tstep, c + ic * ldc + jr,
                                  ldc, accum, ep);
                        ir = ic + full * MR512;
                    }
                }
                for (; ir < ic + mc; ir += tmr) {
                    int mr = (int)(ic + mc - ir < tmr ? ic + mc - ir : tmr);
                    prefetch_a_lines(na, ir - ic, n_rows, k, l0, l1);
                    float *ct = c + ir * ldc + jr;
                    nn_epilogue et;
                    const nn_epilogue *ep = NULL;
                    if (last && !plain) {
                        et = nn_epilogue_at(e, ir, jr);
                        ep = &et;
                    }
                    if (ap)
                        tf(mr, nr, true, kc, ap + ir * k + pc * tmr, 0, bt, tnext, tstep, ct, ldc, accum, ep);
                    else if (blk)
                        tf(mr, nr, true, kc, blk + (ir - ic) * kc, 0, bt, tnext, tstep, ct, ldc, accum, ep);
                    else
                        tf(mr, nr, false, kc, a + ir * lda + pc, lda, bt, tnext, tstep, ct, ldc, accum, ep);
                }
            }
        }
    }
    return true;
}

__attribute__((target("avx512f,avx512vl"))) void nn_gemm_tile_offsets(int mr, int64_t kc, const float *x,
                                                                     int64_t xs, const int32_t *kofs,
                                                                     const float *b, int64_t bnext, float *t)
{
    reg_epi re = {0};
#define OFFS(n, unused) ukr512w_a(n, A_OFFSETS, kc, x, xs, kofs, b, bnext, NN_NR, t, 2 * NN_NR, false, 0xFFFF, &re)
    MR_SWITCH(OFFS, 0)
#undef OFFS
}

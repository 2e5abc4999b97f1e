/*
 * Forward's own float32 GEMM for Conv, MatMul, Gemm and the fused ops:
 * C = act(alpha * A @ B + addends), with the additions and the activation
 * applied to each register tile right after it is computed (the epilogue),
 * while it is still in L1.
 *
 * Layout: A (the micro-kernel broadcasts its elements) is packed into
 * tiles of the kernel's rows (nn_pack_a: weights once at build time,
 * activations per call) or read in place. B (loaded as vectors) is read in
 * place when row-major and the CPU has AVX-512 (nn_gemm_b), else packed
 * into panels of NN_NR columns, each panel [k][NN_NR] contiguous, the
 * last one zero-padded: from a matrix (nn_pack_b), by im2col directly
 * (nn_im2col_pack_f32), or once per weight.
 */
#ifndef FWD_BACKEND_CPU_SGEMM_H
#define FWD_BACKEND_CPU_SGEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NN_MR 6  /* rows of the register tile */
/* Depth every kernel takes in one k slice (the AVX-512 one takes more): a
 * product with k <= NN_GEMM_KC writes each element of C once, after its
 * whole sum (no partial sums in C). */
#define NN_GEMM_KC 256
#define NN_NR 16 /* columns of the register tile (one packed panel) */

/* Rows of the register tile the CPU runs: 8 with AVX-512 (8 x 32 tiles),
 * else NN_MR (AVX2, 6 x 16). FWD_NO_AVX512=1 forces the AVX2 kernel. */
int nn_gemm_tile_rows(void);

/* Activations of the fused epilogue (the names of ir/fused_ops.h). */
typedef enum nn_act_kind {
    NN_ACT_NONE = 0,
    NN_ACT_RELU,
    NN_ACT_CLIP,      /* min(max(x, a), b) */
    NN_ACT_LEAKY,     /* x < 0 ? a * x : x */
    NN_ACT_SIGMOID,
    NN_ACT_SILU,      /* x * sigmoid(x) */
    NN_ACT_GELU,      /* erf form */
    NN_ACT_GELU_TANH, /* tanh form */
    NN_ACT_HARDSWISH, /* x * clamp(x / 6 + 1/2, 0, 1) */
    NN_ACT_TANH
} nn_act_kind;

/* Parses an activation name ("" is none); false when unknown. */
bool nn_act_parse(const char *name, nn_act_kind *out);

/* A matrix added in the epilogue: element (i, j) is p[i * rs + j * cs];
 * rs = 1, cs = 0 is a per-row bias, rs = 0, cs = 1 a per-column bias,
 * rs = ld, cs = 1 a full matrix. p NULL: none. */
typedef struct nn_addend {
    const float *p;
    int64_t rs, cs;
} nn_addend;

typedef struct nn_epilogue {
    float alpha;     /* scales the product */
    nn_addend add[2];
    nn_act_kind act;
    float act_a, act_b; /* Clip min/max, LeakyRelu slope */
    bool accumulate;    /* C's values are added to the product (beta = 1;
                           with alpha 1: sums of products over several
                           calls, the last one with the real epilogue) */
} nn_epilogue;

/* An epilogue that only stores alpha * A @ B (alpha = 1). */
static inline nn_epilogue nn_epilogue_plain(void)
{
    nn_epilogue e = {1.0f, {{NULL, 0, 0}, {NULL, 0, 0}}, NN_ACT_NONE, 0.0f, 0.0f, false};
    return e;
}

/* The epilogue of the sub-matrix starting at row i0, column j0. */
nn_epilogue nn_epilogue_at(const nn_epilogue *e, int64_t i0, int64_t j0);

/* Apply e to rows x cols of c (ldc): c = act(alpha * c + addends). */
void nn_epilogue_apply(const nn_epilogue *e, float *c, int64_t ldc, int64_t rows, int64_t cols);

/* Applies an activation to n floats in place. */
void nn_act_apply(nn_act_kind act, float a, float b, float *x, int64_t n);

/* Bytes (as floats) of B packed for k rows and n columns. */
static inline int64_t nn_packed_b_floats(int64_t k, int64_t n)
{
    return (n + NN_NR - 1) / NN_NR * NN_NR * (k > 0 ? k : 1);
}

/* Pack columns [j0, j0 + n) of B (k x N row-major, ldb; or N x k when
 * trans) into panels at bp. */
void nn_pack_b(const float *b, int64_t ldb, bool trans, int64_t k, int64_t j0, int64_t n, float *bp);

/*
 * On the calling thread: C (m x n, ldc) = epi(A (m x k, lda) @ Bp), Bp
 * packed for k rows and n columns (n is a multiple of NN_NR except at the
 * end of the matrix). e is already offset to (0, 0) of this block. ap,
 * when not NULL, is A prepacked (nn_pack_a; a and lda unused); else A is
 * packed block by block into scratch slot 3 when n is large enough to
 * reuse it, or read in place. False when out of memory.
 */
bool nn_gemm_packed(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *ap,
                    const float *bp, float *c, int64_t ldc, const nn_epilogue *e);

/* nn_gemm_packed with B either packed (ldb 0: b is panels as above) or
 * read in place (ldb > 0: b is k x n row-major, ldb apart; only when
 * nn_gemm_reads_b_in_place(); a last tile narrower than the kernel's goes
 * through panels in scratch slot 0). */
bool nn_gemm_b(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *ap, const float *b,
               int64_t ldb, float *c, int64_t ldc, const nn_epilogue *e);

/* Whether this CPU's kernel reads B in place (the AVX-512 one). */
bool nn_gemm_reads_b_in_place(void);

/* A (m x k, lda) packed for the kernel of this CPU: tiles of
 * nn_gemm_tile_rows() rows, each [k][rows] (zero-padded), tile i at
 * ap + i * rows * k. Rows r0.. of a packed A (r0 a multiple of the tile
 * rows) start at ap + r0 * k. */
int64_t nn_packed_a_floats(int64_t m, int64_t k);
void nn_pack_a(const float *a, int64_t lda, int64_t m, int64_t k, float *ap);

/*
 * Whole product, split over the thread pool:
 * C (m x n) = epi(op(A) @ op(B)), op() transposing when trans_*. When bp
 * is not NULL it is B already packed (nn_pack_b over all n columns) and
 * b / ldb / trans_b are unused; the same for ap and A. Returns false when
 * out of memory.
 */
typedef struct nn_gemm_args {
    int64_t m, n, k;
    const float *a;
    int64_t lda;
    bool trans_a;
    const float *b;
    int64_t ldb;
    bool trans_b;
    const float *bp;
    float *c;
    int64_t ldc;
    nn_epilogue epi;
    const float *ap; /* A prepacked (nn_pack_a, not transposed), or NULL */
    /* A row-wise epilogue (a LayerNormalization over whole rows of C), or
     * NULL: the product is then split by rows only, and the task that
     * computed rows [r0, r1) calls rows_done(rows_arg, r0, r1) once they
     * are final, while they are still in its core's cache. With fewer row
     * tiles than threads the product is split as usual and rows_done
     * runs once over all rows on the calling thread. */
    void (*rows_done)(void *rows_arg, int64_t r0, int64_t r1);
    void *rows_arg;
} nn_gemm_args;
bool nn_gemm(const nn_gemm_args *g);
/* The same on the calling thread only (for use inside parallel loops). */
bool nn_gemm_serial(const nn_gemm_args *g);

/* One AVX-512 register tile of a convolution read in place (only when
 * nn_gemm_reads_b_in_place()): t (mr x 32, row-major, ld 32) = A @ B
 * with A's row r (r < mr <= 8) at k step p being x[kofs[p] + r * xs]
 * (mr output pixels whose input windows lie xs floats apart, kofs the
 * offsets of the kernel's taps, readable to kofs[kc + 15]: the kernel
 * prefetches 16 steps ahead) and B two 16-column panels (b and
 * b + bnext) of kc rows. */
void nn_gemm_tile_offsets(int mr, int64_t kc, const float *x, int64_t xs, const int32_t *kofs, const float *b,
                          int64_t bnext, float *t);

/* Rows a GEMV call handles at once (nn_gemv takes any number, in groups). */
#define NN_GEMV_MAX_ROWS 3

/* y (rows x n, ldy) = op(A) (rows x k) @ op(B) (k x n) with B read in
 * place: for products with very few rows, bound by reading B once. A is
 * rows x k (lda), or k x rows when ta; B is k x n (ldb), or n x k when tb.
 * Allocates nothing (sgemv.c). */
void nn_gemv(int64_t rows, int64_t n, int64_t k, const float *a, int64_t lda, bool ta, const float *b,
             int64_t ldb, bool tb, float *y, int64_t ldy);

/* Per-thread scratch buffer number slot (0..6: 0 B blocks of nn_gemm,
 * 1 and 2 the convolution's im2col tile and row, 3 packed A blocks, 0 also
 * nn_gemm_b's edge panels when it reads B in place; 4..6
 * are held by a caller across its parallel loop, whose tasks use 0..3
 * only: 4 the convolution's whole im2col, 5 nn_gemm's whole packed B, 6
 * its whole packed A), at least floats long,
 * 64-byte aligned; valid until this thread asks for the slot again. NULL
 * when out of memory. Never hold one across a fwd_parallel_for call. */
float *nn_scratch(int slot, size_t floats);
#define NN_SCRATCH_SLOTS 7

#endif

/*
 * Private interface of the CPU nn kernels (conv.c, gemm.c, pool.c,
 * quant.c, detect.c; joined into cpu_kernels_nn by nn.c).
 */
#ifndef FWD_BACKEND_CPU_NN_INTERNAL_H
#define FWD_BACKEND_CPU_NN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/cpu_util.h"
#include "backend/cpu/sgemm.h"
#include "ir/nn_window.h"
#include "util/threadpool.h"

/* ---- kernels ---- */

fwd_status cpu_conv(fwd_kernel_ctx *k);
fwd_status cpu_conv_transpose(fwd_kernel_ctx *k);
fwd_status cpu_matmul(fwd_kernel_ctx *k);
fwd_status cpu_gemm(fwd_kernel_ctx *k);
fwd_status cpu_max_pool(fwd_kernel_ctx *k);
fwd_status cpu_average_pool(fwd_kernel_ctx *k);
fwd_status cpu_lp_pool(fwd_kernel_ctx *k);
fwd_status cpu_global_average_pool(fwd_kernel_ctx *k);
fwd_status cpu_global_max_pool(fwd_kernel_ctx *k);
fwd_status cpu_global_lp_pool(fwd_kernel_ctx *k);
fwd_status cpu_max_unpool(fwd_kernel_ctx *k);
fwd_status cpu_quantize_linear(fwd_kernel_ctx *k);
fwd_status cpu_dequantize_linear(fwd_kernel_ctx *k);
fwd_status cpu_dynamic_quantize_linear(fwd_kernel_ctx *k);
fwd_status cpu_conv_integer(fwd_kernel_ctx *k);
fwd_status cpu_qlinear_conv(fwd_kernel_ctx *k);
fwd_status cpu_matmul_integer(fwd_kernel_ctx *k);
fwd_status cpu_qlinear_matmul(fwd_kernel_ctx *k);
fwd_status cpu_roi_align(fwd_kernel_ctx *k);
fwd_status cpu_max_roi_pool(fwd_kernel_ctx *k);
fwd_status cpu_non_max_suppression(fwd_kernel_ctx *k);

/* ---- shared helpers (nn.c) ---- */

/* Input i, or NULL when absent. */
static inline const ir_tensor *nn_in(const fwd_kernel_ctx *k, int i)
{
    return i < k->n_in ? k->in[i] : NULL;
}

static inline ir_tensor *nn_out(const fwd_kernel_ctx *k, int i)
{
    return i < k->n_out ? k->out[i] : NULL;
}

/* Whether a dtype is computed by converting to float32 (f16, bf16, f64). */
static inline bool nn_is_wide_or_half(fwd_dtype t)
{
    return t == FWD_FLOAT16 || t == FWD_BFLOAT16 || t == FWD_FLOAT64;
}

/* Runs fn (a float32 kernel) on float16/bfloat16/float64 tensors: inputs
 * of those dtypes are converted to float32 copies, float outputs computed
 * into float32 buffers and converted back. Outputs must be allocated. */
fwd_status nn_run_as_f32(fwd_kernel_ctx *k, cpu_kernel_fn fn);

/* Checks that inputs 0..n-1 are present. */
fwd_status nn_need_inputs(const fwd_kernel_ctx *k, int n);

/* Resolves the window of a forward op (Conv, pools) for input x; kernel
 * as for nn_window_init. */
fwd_status nn_window_for(const fwd_kernel_ctx *k, const ir_tensor *x, const int64_t *kernel,
                         bool allow_ceil, nn_window *w);

/* Row-major float32 GEMM C = alpha*op(A)*op(B) + beta*C through OpenBLAS.
 * OpenBLAS runs single-threaded (set once); nn_sgemm splits large
 * products over our thread pool by column or row blocks, nn_sgemm_serial
 * runs on the calling thread (for use inside parallel regions).
 * Dimensions must fit in int (nn_blas_fits). */
void nn_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
              int64_t ldc);
void nn_sgemm_serial(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                     const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                     float *c, int64_t ldc);
void nn_dgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
              const double *a, int64_t lda, const double *b, int64_t ldb, double beta, double *c,
              int64_t ldc);
bool nn_blas_fits(int64_t m, int64_t n, int64_t k);

/* im2col over 32-bit elements for up to 3 spatial dims (1-D and 2-D are
 * embedded as 3-D with unit dims). x: [channels, D, H, W] of one image
 * and group; col: [channels*KD*KH*KW, OD*OH*OW]. Padded positions get 0. */
void nn_im2col_f32(const float *x, int64_t channels, const nn_window *w, float *col);
void nn_im2col_i32(const int32_t *x, int64_t channels, const nn_window *w, int32_t *col);
/* Columns [p0, p1) only, on the calling thread; col is [rows, p1 - p0]. */
void nn_im2col_f32_cols(const float *x, int64_t channels, const nn_window *w, int64_t p0,
                        int64_t p1, float *col);
void nn_im2col_i32_cols(const int32_t *x, int64_t channels, const nn_window *w, int64_t p0,
                        int64_t p1, int32_t *col);

/* Columns [p0, p1) of the im2col matrix packed straight into the GEMM's
 * 16-column panels (sgemm.h) at bp; on the calling thread. False when out
 * of memory. */
bool nn_im2col_pack_f32(const float *x, int64_t channels, const nn_window *w, int64_t p0,
                        int64_t p1, float *bp);
/* The same for rows [r0, r1) of it only, into panels of width columns
 * (panel i at bp + i * width * rows, each [rows][width], the last one
 * zero-padded): width 8 or 6 packs the transposed im2col as the GEMM's A
 * (nn_pack_a's layout). */
bool nn_im2col_pack_panels(const float *x, int64_t channels, const nn_window *w, int64_t p0,
                           int64_t p1, int64_t r0, int64_t r1, int width, float *bp);

/* dst[q] = src[2 * q] for q in [0, n) (reads no further than src[2n - 2]). */
void nn_copy_stride2_f32(const float *src, int64_t n, float *dst);

/* Geometry of a window embedded as 3-D (leading unit dims). */
typedef struct nn_geom3 {
    int64_t in[3], out[3], k[3], s[3], d[3], p[3];
    int64_t in_size, out_size, k_size; /* products */
} nn_geom3;
void nn_geom3_from(const nn_window *w, nn_geom3 *g);

/* Validated geometry of a convolution (Conv, ConvInteger, QLinearConv). */
typedef struct nn_conv_shape {
    int64_t n, c, m, group, cg, mg;
    nn_window w;
    nn_geom3 g;
} nn_conv_shape;
/* Checks X, W, optional bias b (1-D of M) and the allocated output y. */
fwd_status nn_conv_prepare(const fwd_kernel_ctx *k, const ir_tensor *x, const ir_tensor *w,
                           const ir_tensor *b, const ir_tensor *y, nn_conv_shape *s);

/* What a FusedConv adds to a convolution: the residual z (Y's shape, or
 * NULL) and the activation, both applied in the GEMM epilogue. */
typedef struct nn_conv_fuse {
    const float *z;
    nn_act_kind act;
    float act_a, act_b;
    const float *wp;  /* W packed (nn_pack_a) for group 1, or NULL */
    const float *wtp; /* W^T packed in 16-column panels (nn_conv_transposed), or NULL */
} nn_conv_fuse;
/* float32 convolution of x by w (+ bias b, may be NULL) into y with the
 * geometry s (nn_conv_prepare); f may be NULL (plain Conv). w is the
 * weight as nn_conv_weight returns it (Winograd-transformed for a node
 * with CPU_WINOGRAD4_ATTR whose geometry qualifies). */
fwd_status nn_conv_f32(const fwd_kernel_ctx *k, const nn_conv_shape *s, const float *x,
                       const float *w, const float *b, const nn_conv_fuse *f, float *y);

/* The epilogue of image n, group gi of a convolution: bias per output
 * channel (row), the residual f->z as a matrix, the activation. */
nn_epilogue nn_conv_epilogue(const nn_conv_shape *s, const float *b, const nn_conv_fuse *f, int64_t n,
                             int64_t gi);

/* Few output pixels (conv_transposed.c): Y^T = im2col^T @ W^T with W^T
 * packed in 16-column panels (group 1, M a multiple of 16). Whether P
 * pixels waste enough vector lanes in the ordinary product to prefer it
 * (never above NN_CONV_T_MAX_P). */
#define NN_CONV_T_MAX_P 1024
bool nn_conv_t_worthwhile(int64_t p);
fwd_status nn_conv_transposed(const fwd_kernel_ctx *k, const nn_conv_shape *s, const float *x,
                              const float *wt, const float *b, const nn_conv_fuse *f, float *y);
/* Whether nn_conv_transposed reads the pixels in place for s (AVX-512,
 * 2-D, group 1, M a multiple of 32): then strides cost it nothing. */
bool nn_conv_t_direct_applies(const nn_conv_shape *s);

/* Strided 2-D convolutions on stride-phase planes (conv_phase.c): whether
 * s qualifies (2-D, group 1, dilation 1, a stride above 1); the weights
 * w [m][c][taps] laid out per tap ([taps][m][c], one GEMM per tap) or
 * gathered ([m][taps][c], one GEMM over taps x c) and back; the scratch
 * bytes of a run; the convolution of all images with w so laid out
 * (packed: each [m][c] of a tap, or the whole [m][taps * c], packed as
 * the GEMM's A; else row-major). */
bool nn_conv_phase_applies(const nn_conv_shape *s);
void nn_conv_phase_weights(const float *w, int64_t m, int64_t c, int64_t taps, bool gather, float *out);
void nn_conv_phase_unweights(const float *in, int64_t m, int64_t c, int64_t taps, bool gather, float *w);
size_t nn_conv_phase_scratch(const nn_conv_shape *s);
fwd_status nn_conv_phase(const fwd_kernel_ctx *k, const nn_conv_shape *s, const float *x, const float *w,
                         bool packed, bool gather, const float *b, const nn_conv_fuse *f, float *y);
/* A 1x1 unpadded strided conv's sampled input pixels, [n][c][out...], in
 * the call's scratch (NULL when out of memory): a pointwise conv's B. */
const float *nn_conv_subsample(const fwd_kernel_ctx *k, const nn_conv_shape *s, const float *x);

/* Winograd F(2x2, 3x3) (conv_winograd.c). Weights w [m][c][3][3] to
 * u [16][m][c] and back (exactly, up to rounding); whether a convolution
 * qualifies (2-D 3x3, stride 1, dilation 1, group 1); the convolution of
 * all images with u packed per position (nn_pack_a) when u_packed, else
 * row-major. */
void nn_winograd_weights(const float *w, int64_t m, int64_t c, float *u);
/* The products of a Winograd convolution, over the pool: for each of the
 * positions xi, M[xi] (m x tiles, ldm floats apart) = U[xi] (m x c;
 * packed as the GEMM's A when u_packed, consecutive at m * c floats) @
 * V[xi] (packed B panels, ldv floats apart). False when out of memory. */
bool nn_winograd_products(int64_t positions, int64_t m, int64_t c, int64_t tiles, const float *u, bool u_packed,
                          const float *v, int64_t ldv, float *mo, int64_t ldm);
/* The distance in floats between consecutive positions of V or M holding
 * floats each: an odd number of 64-byte lines, so the transforms' stores
 * to (loads from) all positions at once spread over the L1 sets. With a
 * multiple of 4 KB (64 channels x 16 tiles, ResNet-50's first stage)
 * they all fell into one 8-way set, and the input transform of
 * F(4x4) ran 2.4 times slower. */
static inline int64_t nn_winograd_stride(int64_t floats)
{
    return ((floats + 15) / 16 | 1) * 16;
}
void nn_winograd_unweights(const float *u, int64_t m, int64_t c, float *w);
bool nn_winograd_applies(const nn_conv_shape *s);
fwd_status nn_conv_winograd(const fwd_kernel_ctx *k, const nn_conv_shape *s, const float *x,
                            const float *u, bool u_packed, const float *b, const nn_conv_fuse *f,
                            float *y);

/* Winograd F(4x4, 3x3) (conv_winograd4.c): weights w [m][c][3][3] to
 * u [36][m][c] and back (up to rounding), and the convolution of all
 * images (nn_winograd_applies) with u as for nn_conv_winograd: 4x4
 * output tiles from 6x6 input patches, 4x fewer multiplies than direct.
 * A FusedConv whose weight the builder transformed so
 * (CPU_WINOGRAD4_ATTR) goes through nn_conv_prepare (its logical weight
 * shape), nn_conv_weight (u, or w recovered when the run's geometry does
 * not qualify) and nn_conv_f32 (which then runs this) like any other. */
void nn_winograd4_weights(const float *w, int64_t m, int64_t c, float *u);
void nn_winograd4_unweights(const float *u, int64_t m, int64_t c, float *w);
fwd_status nn_conv_winograd4(const fwd_kernel_ctx *k, const nn_conv_shape *s, const float *x,
                             const float *u, bool u_packed, const float *b, const nn_conv_fuse *f,
                             float *y);

/* The weight of a Conv/FusedConv node as the GEMM reads it: *data the
 * row-major data, or f->wp the packed one when the builder packed it
 * (attribute "fwd.packed_w", cpu_prepack.h) for this CPU's kernel, or
 * f->wtp its transpose in panels ("fwd.packed_wt") when this run's
 * geometry suits nn_conv_transposed. A weight packed for other tile rows,
 * or transposed for a geometry that does not suit, is unpacked into
 * *unpacked (to free; NULL otherwise). */
fwd_status nn_conv_weight(const fwd_kernel_ctx *k, const nn_conv_shape *s, const ir_tensor *w,
                          const float **data, nn_conv_fuse *f, float **unpacked);

/* MatMul (numpy semantics) of a and b into the allocated y, for float32,
 * float64 and the 32/64-bit integer dtypes (all three one dtype). */
fwd_status nn_matmul_tensors(const fwd_kernel_ctx *k, const ir_tensor *a, const ir_tensor *b,
                             ir_tensor *y);

/* What FusedMatMul and Gemm add to a MatMul (all applied in the GEMM
 * epilogue): transposes, alpha, C broadcast onto Y (or NULL), activation. */
typedef struct nn_mm_fuse {
    bool ta, tb;
    float alpha;
    const ir_tensor *c;
    nn_act_kind act;
    float act_a, act_b;
    const float *bp; /* B already packed (cpu_prepack.h), or NULL */
} nn_mm_fuse;
/* float32 batched product of a and b into the allocated y; f may be NULL
 * (plain MatMul). */
fwd_status nn_matmul_f32(const fwd_kernel_ctx *k, const ir_tensor *a, const ir_tensor *b,
                         const nn_mm_fuse *f, ir_tensor *y);

/* One float32 LayerNormalization row of D elements (norm.c): y = (x -
 * mean) / sqrt(var + eps) * scale + bias (bias may be NULL; x and y may
 * be the same row); *mean and *inv receive the statistics. */
void cpu_layernorm_row_f32(const float *x, float *y, int64_t D, const float *scale, const float *bias, float eps,
                           double *mean, double *inv);

/* Integer GEMM C[m][n] = sum_k A[m][k] * B[k][n] (int32, row-major),
 * parallel over rows. */
void nn_gemm_i32(int64_t m, int64_t n, int64_t k, const int32_t *a, const int32_t *b, int32_t *c);

#endif

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
 *
 * With AVX-512 the kernel reads the pixels where they are instead
 * (nn_gemm_tile_offsets): a register tile is up to 8 pixels of one output
 * row by 32 filters, row r of k step (c, kh, kw) being the input at
 * offset kofs[c, kh, kw] + r * stride from the tile's first window. No
 * im2col, and a stride costs nothing (the pixels are broadcasts), so the
 * strided convolutions run here too (conv_t_direct_suits). The tile is
 * transposed in registers into Y's rows with the epilogue.
 */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/nn_internal.h"
#include "backend/cpu/transpose8.h"

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
        for (; j + 8 <= cols; j += 8) nn_transpose8x8(src + i * lds + j, lds, dst + j * ldd + i, ldd);
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

/* ---- AVX-512: pixels read in place ---- */

/* Filters per task block: their packed weights (K x 32 floats per 32)
 * stay in L2 while the block sweeps its pixels. */
#define DIRECT_BLOCK_BYTES ((int64_t)384 << 10)

typedef struct direct_job {
    const nn_conv_shape *s;
    const float *xp;       /* this image, padded: c planes of hp x wp */
    int64_t hp, wp;
    const int32_t *kofs;   /* offset of each k step (c, kh, kw) in xp */
    const float *wt;       /* W^T in 16-column panels */
    float *y;              /* this image's output */
    nn_epilogue e;
    int64_t P, K, tw, ntx, blocks, steps, bands; /* steps: of 32 filters */
} direct_job;

/* The tile t (mr <= 8 pixels x 32 filters, ld 32) into Y's rows f0..f0+31
 * at pixel p0 (ld P), with the epilogue e (already at (f0, p0)): 8 x 8
 * blocks transposed in registers. */
__attribute__((target("avx512f,avx512vl"))) static void store_tile(const float *t, int mr, float *y, int64_t P,
                                                                   const nn_epilogue *e)
{
    __mmask8 m = (__mmask8)((1u << mr) - 1);
    bool simple = e->act == NN_ACT_NONE || e->act == NN_ACT_RELU || e->act == NN_ACT_CLIP || e->act == NN_ACT_LEAKY;
    for (int q = 0; q < 4; q++) {
        __m256 v[8];
        for (int i = 0; i < 8; i++) v[i] = i < mr ? _mm256_loadu_ps(t + i * 2 * NN_NR + 8 * q) : _mm256_setzero_ps();
        nn_transpose8_regs(v); /* v[i]: filter 8q + i over the pixels */
        for (int i = 0; i < 8; i++) {
            int64_t f = 8 * q + i; /* filter, Y's row */
            __m256 x = v[i];
            if (e->alpha != 1.0f) x = _mm256_mul_ps(x, _mm256_set1_ps(e->alpha));
            for (int a = 0; a < 2; a++) {
                const nn_addend *ad = &e->add[a];
                if (!ad->p) continue;
                const float *pa = ad->p + f * ad->rs;
                x = _mm256_add_ps(x, ad->cs == 0 ? _mm256_set1_ps(pa[0]) : _mm256_maskz_loadu_ps(m, pa));
            }
            switch (e->act) {
            case NN_ACT_RELU: x = _mm256_max_ps(_mm256_setzero_ps(), x); break;
            case NN_ACT_CLIP:
                x = _mm256_min_ps(_mm256_set1_ps(e->act_b), _mm256_max_ps(_mm256_set1_ps(e->act_a), x));
                break;
            case NN_ACT_LEAKY:
                x = _mm256_mask_mul_ps(x, _mm256_cmp_ps_mask(x, _mm256_setzero_ps(), _CMP_LT_OQ), x,
                                       _mm256_set1_ps(e->act_a));
                break;
            default: break;
            }
            float *yr = y + f * P;
            _mm256_mask_storeu_ps(yr, m, x);
            if (!simple) nn_act_apply(e->act, e->act_a, e->act_b, yr, mr);
        }
    }
}

static void direct_tasks(void *arg, int64_t t0, int64_t t1)
{
    const direct_job *j = arg;
    const nn_geom3 *g = &j->s->g;
    const int64_t OH = g->out[1], OW = g->out[2];
    float t[8 * 2 * NN_NR];
    for (int64_t task = t0; task < t1; task++) {
        int64_t blk = task / j->bands, band = task % j->bands;
        int64_t f0 = blk * j->steps / j->blocks * 2 * NN_NR, f1 = (blk + 1) * j->steps / j->blocks * 2 * NN_NR;
        int64_t y0 = band * OH / j->bands, y1 = (band + 1) * OH / j->bands;
        for (int64_t oy = y0; oy < y1; oy++)
            for (int64_t tx = 0; tx < j->ntx; tx++) {
                int64_t ox0 = tx * j->tw, mr = OW - ox0 < j->tw ? OW - ox0 : j->tw;
                const float *xt = j->xp + oy * g->s[1] * j->wp + ox0 * g->s[2];
                int64_t p0 = oy * OW + ox0;
                for (int64_t f = f0; f < f1; f += 2 * NN_NR) {
                    nn_gemm_tile_offsets((int)mr, j->K, xt, g->s[2], j->kofs, j->wt + f * j->K, NN_NR * j->K, t);
                    nn_epilogue e = nn_epilogue_at(&j->e, f, p0);
                    store_tile(t, (int)mr, j->y + f * j->P + p0, j->P, &e);
                }
            }
    }
}

typedef struct pad_job {
    const float *x;
    float *xp;
    int64_t ih, iw, hp, wp, pt, pl;
} pad_job;

/* Rows [r0, r1) of all the padded planes (row r of plane r / hp): the
 * first conv's 3 planes split over the threads too. */
static void pad_rows(void *arg, int64_t r0, int64_t r1)
{
    const pad_job *p = arg;
    for (int64_t i = r0; i < r1; i++) {
        int64_t c = i / p->hp, r = i % p->hp - p->pt; /* r: the input row, if any */
        float *dr = p->xp + i * p->wp;
        if (r < 0 || r >= p->ih) {
            memset(dr, 0, sizeof(float) * (size_t)p->wp);
            continue;
        }
        int64_t n = p->iw < p->wp - p->pl ? p->iw : p->wp - p->pl;
        memset(dr, 0, sizeof(float) * (size_t)p->pl);
        memcpy(dr + p->pl, p->x + (c * p->ih + r) * p->iw, sizeof(float) * (size_t)n);
        memset(dr + p->pl + n, 0, sizeof(float) * (size_t)(p->wp - p->pl - n));
    }
}

/* Rows and columns of the padded input the windows reach. */
static void padded_extent(const nn_geom3 *g, int64_t *hp, int64_t *wp)
{
    int64_t h = (g->out[1] - 1) * g->s[1] + (g->k[1] - 1) * g->d[1] + 1;
    int64_t w = (g->out[2] - 1) * g->s[2] + (g->k[2] - 1) * g->d[2] + 1;
    *hp = h > g->in[1] + g->p[1] ? h : g->in[1] + g->p[1];
    *wp = w > g->in[2] + g->p[2] ? w : g->in[2] + g->p[2];
}

bool nn_conv_t_direct_applies(const nn_conv_shape *s)
{
    const nn_geom3 *g = &s->g;
    if (!nn_gemm_reads_b_in_place() || s->group != 1 || s->m % (2 * NN_NR) != 0) return false;
    if (g->in[0] != 1 || g->out[0] != 1 || g->k[0] != 1) return false; /* 2-D (or 1-D) only */
    int64_t hp, wp;
    padded_extent(g, &hp, &wp);
    return s->c * hp * wp < INT32_MAX && s->c * g->k_size < INT32_MAX;
}

static fwd_status conv_direct(const fwd_kernel_ctx *k, const nn_conv_shape *s, const float *x, const float *wt,
                              const float *b, const nn_conv_fuse *f, float *y)
{
    const nn_geom3 *g = &s->g;
    const int64_t P = g->out_size, K = s->c * g->k_size, M = s->m, OW = g->out[2];
    int64_t hp, wp;
    padded_extent(g, &hp, &wp);
    bool pad = hp != g->in[1] || wp != g->in[2] || g->p[1] != 0 || g->p[2] != 0;
    size_t plane_floats = pad ? (size_t)(s->c * hp * wp) : 0;
    /* the padded image, then the k-step offsets */
    float *buf = nn_scratch(4, plane_floats + (size_t)K + 48);
    if (!buf) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory for the padded input");
    int32_t *kofs = (int32_t *)(buf + plane_floats);
    for (int64_t c = 0, p = 0; c < s->c; c++)
        for (int64_t kh = 0; kh < g->k[1]; kh++)
            for (int64_t kw = 0; kw < g->k[2]; kw++)
                kofs[p++] = (int32_t)(c * hp * wp + kh * g->d[1] * wp + kw * g->d[2]);
    for (int64_t p = K; p < K + 48; p++) kofs[p] = 0; /* the kernel prefetches 48 steps ahead */
    /* tasks: (filter block, band of output rows), taken dynamically; the
     * blocks' weights fit L2 and their count is a multiple of the
     * threads, their 32-filter steps dealt evenly (ResNet-50's 2048
     * filters at 7x7 made 11 blocks: 6 and 5 per thread) */
    int64_t nt = fwd_num_threads(), all_steps = M / (2 * NN_NR);
    int64_t fit = DIRECT_BLOCK_BYTES / (K * 2 * NN_NR * (int64_t)sizeof(float));
    if (fit < 1) fit = 1;
    int64_t blocks = (all_steps + fit - 1) / fit;
    if (blocks > 1) blocks = (blocks + nt - 1) / nt * nt;
    if (blocks > all_steps) blocks = all_steps;
    int64_t bands = (8 * nt + blocks - 1) / blocks;
    if (bands > g->out[1]) bands = g->out[1];
    int64_t ntx = (OW + 7) / 8, tw = (OW + ntx - 1) / ntx;
    for (int64_t n = 0; n < s->n; n++) {
        const float *xn = x + n * s->c * g->in_size;
        if (pad) {
            pad_job pj = {xn, buf, g->in[1], g->in[2], hp, wp, g->p[1], g->p[2]};
            fwd_parallel_for(s->c * hp, 8, pad_rows, &pj);
        }
        direct_job j = {s, pad ? buf : xn, hp, wp, kofs, wt, y + n * M * P, nn_conv_epilogue(s, b, f, n, 0),
                        P, K, tw, ntx, blocks, all_steps, bands};
        fwd_parallel_tasks(blocks * bands, direct_tasks, &j);
    }
    return FWD_OK;
}

fwd_status nn_conv_transposed(const fwd_kernel_ctx *k, const nn_conv_shape *s, const float *x,
                              const float *wt, const float *b, const nn_conv_fuse *f, float *y)
{
    const int64_t P = s->g.out_size, K = s->c * s->g.k_size, M = s->m;
    if (s->group != 1 || M % NN_NR != 0)
        return cpu_kernel_error(k, FWD_ERR_INTERNAL, "transposed convolution needs group 1 and whole panels");
    if (s->n * M * P == 0) return FWD_OK;
    if (nn_conv_t_direct_applies(s)) return conv_direct(k, s, x, wt, b, f, y);
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

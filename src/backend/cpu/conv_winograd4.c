/*
 * 3x3 stride-1 convolutions by Winograd's F(4x4, 3x3): each 4x4 block of
 * output ("tile") comes from a 6x6 input patch with 36 products instead
 * of 144, so the GEMM work drops 4 times (F(2x2): 2.25 times).
 *
 *   U = G g G^T   (per filter and channel; at build time)
 *   V = B^T d B   (per channel and tile)
 *   M[xi] = U[xi] @ V[xi]   for the 36 positions xi = 6 r + q
 *   Y = A^T M A   (per filter and tile) + bias (+ residual), activation
 *
 * with the interpolation points 0, 1, -1, 1/2, -2 and infinity (B^T's
 * rows scaled by 2 where that makes them integers, G's by 1/2 to match):
 *
 *   G = [  1/2     0     0  ]  B^T = [2 -3 -4  3 2 0]  A^T = [1 1  1  1    1 0]
 *       [  1/6   1/6   1/6  ]        [0 -2  1  5 2 0]        [0 1 -1 1/2  -2 0]
 *       [ -1/6   1/6  -1/6  ]        [0  2 -5  1 2 0]        [0 1  1 1/4   4 0]
 *       [-16/15 -8/15 -4/15 ]        [0 -2 -1  2 1 0]        [0 1 -1 1/8  -8 1]
 *       [ 1/30  -1/15  2/15 ]        [0  1 -2 -1 2 0]
 *       [   0      0   1/2  ]        [0  2 -3 -4 3 2]
 *
 * The larger constants cost float32 accuracy; these points (rather than
 * the usual 0, +-1, +-2) keep it about 2.5x better: on ResNet-like data
 * (ReLU inputs, He-scaled weights, 64-512 channels) the largest error is
 * 5e-6..1e-5 of max(1, |y|) against ~1e-5..2e-5.
 *
 * Layout as in conv_winograd.c: V[xi] goes straight into the GEMM's
 * 16-column panels, U[xi] is the GEMM's packed A, M is [36][filters][tiles].
 * The transforms run WK_L tiles of a tile row at a time in vectors
 * (conv_winograd4_kern.h, AVX-512 or AVX2), reading the input in place.
 *
 * Two schedules: where U fits in L2 (64 channels), each thread takes a
 * few tile rows through all three steps (block_tasks), so V and M never
 * leave its L2; otherwise the three steps run over the whole image one
 * after the other, each split over the threads.
 */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/nn_internal.h"

#define NXI 36 /* positions of the 6x6 transforms */

void nn_winograd4_weights(const float *w, int64_t m, int64_t c, float *u)
{
    static const double G[6][3] = {{0.5, 0.0, 0.0},
                                   {1.0 / 6, 1.0 / 6, 1.0 / 6},
                                   {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                   {-16.0 / 15, -8.0 / 15, -4.0 / 15},
                                   {1.0 / 30, -1.0 / 15, 2.0 / 15},
                                   {0.0, 0.0, 0.5}};
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < c; j++) {
            const float *g = w + (i * c + j) * 9;
            double t[6][3]; /* G g, in double so U is rounded once */
            for (int r = 0; r < 6; r++)
                for (int q = 0; q < 3; q++)
                    t[r][q] = G[r][0] * g[q] + G[r][1] * g[3 + q] + G[r][2] * g[6 + q];
            for (int r = 0; r < 6; r++)
                for (int q = 0; q < 6; q++) {
                    double v = t[r][0] * G[q][0] + t[r][1] * G[q][1] + t[r][2] * G[q][2];
                    u[((int64_t)(r * 6 + q) * m + i) * c + j] = (float)v;
                }
        }
}

void nn_winograd4_unweights(const float *u, int64_t m, int64_t c, float *w)
{
    /* G's rows 0 and 5 are e1 / 2 and e3 / 2, and row 1 + row 2 is e2 / 3 */
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < c; j++) {
            float uu[6][6], t[3][6];
            for (int xi = 0; xi < NXI; xi++) uu[xi / 6][xi % 6] = u[((int64_t)xi * m + i) * c + j];
            for (int q = 0; q < 6; q++) {
                t[0][q] = 2.0f * uu[0][q];
                t[1][q] = 3.0f * (uu[1][q] + uu[2][q]);
                t[2][q] = 2.0f * uu[5][q];
            }
            float *g = w + (i * c + j) * 9;
            for (int r = 0; r < 3; r++) {
                g[r * 3 + 0] = 2.0f * t[r][0];
                g[r * 3 + 1] = 3.0f * (t[r][1] + t[r][2]);
                g[r * 3 + 2] = 2.0f * t[r][5];
            }
        }
}

/* ---- the vector steps, once per instruction set ---- */

typedef float vf16 __attribute__((vector_size(64)));
typedef int32_t vi16 __attribute__((vector_size(64)));
typedef float vf8 __attribute__((vector_size(32)));
typedef int32_t vi8 __attribute__((vector_size(32)));

#define T512 __attribute__((target("avx512f,avx512vl")))

T512 static inline vf16 wk_load_n512(const float *p, int64_t n)
{
    return (vf16)_mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p);
}

T512 static inline vf16 wk_load_range512(const float *p, int lo, int hi)
{
    return (vf16)_mm512_maskz_loadu_ps((__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1)), p);
}

T512 static inline void wk_store_range512(float *p, vf16 v, int64_t lo, int64_t hi)
{
    __mmask16 k = (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
    _mm512_mask_storeu_ps(p, k, (__m512)v);
}

static inline vi8 lanes8(int64_t lo, int64_t hi)
{
    const vi8 iota = {0, 1, 2, 3, 4, 5, 6, 7};
    return (iota >= (int32_t)lo) & (iota < (int32_t)hi);
}

static inline vf8 wk_load_n256(const float *p, int64_t n)
{
    return (vf8)_mm256_maskload_ps(p, (__m256i)lanes8(0, n));
}

static inline vf8 wk_load_range256(const float *p, int lo, int hi)
{
    return (vf8)_mm256_maskload_ps(p, (__m256i)lanes8(lo, hi));
}

static inline void wk_store_range256(float *p, vf8 v, int64_t lo, int64_t hi)
{
    _mm256_maskstore_ps(p, (__m256i)lanes8(lo, hi), (__m256)v);
}

#define WK_L 16
#define WK_TARGET T512
#define WK(name) name##512
#define VF vf16
#define VI vi16
#define WK_IOTA {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
#define wk_load_n wk_load_n512
#define wk_load_range wk_load_range512
#define wk_store_range wk_store_range512
#include "backend/cpu/conv_winograd4_kern.h"

#define WK_L 8
#define WK_TARGET
#define WK(name) name##256
#define VF vf8
#define VI vi8
#define WK_IOTA {0, 1, 2, 3, 4, 5, 6, 7}
#define wk_load_n wk_load_n256
#define wk_load_range wk_load_range256
#define wk_store_range wk_store_range256
#include "backend/cpu/conv_winograd4_kern.h"

/* ---- the convolution ---- */

typedef struct wino4_geom {
    int64_t c, m, h, w, oh, ow, th, tw, tiles, pt, pl;
} wino4_geom;

/* Tile rows [ty0, ty1) and where their V ([36][ldv], panels from the
 * block's first tile) and M ([36][ldm], each [m][tiles]) lie: the whole
 * image with buffers shared by the threads, or one thread's block
 * (blocked path). */
typedef struct wino4_block {
    int64_t ty0, ty1, tiles, ldv, ldm;
    float *v, *mo;
} wino4_block;

typedef struct wino4_job {
    const wino4_geom *g;
    const float *x; /* one image */
    const float *u; /* per position: packed A (stride m * c), or row-major when !u_packed */
    bool u_packed;
    float *y; /* one image */
    const float *bias, *z;
    const nn_conv_fuse *f;
    int lanes; /* 16: the AVX-512 steps, 8: AVX2 */
    wino4_block all; /* the whole image (two-pass path) */
    int64_t rows_per_block; /* blocked path */
    _Atomic int failed;
} wino4_job;

/* V of channels [c0, c1) for block b, a tile-row step at a time. */
static void input_block(const wino4_job *j, const wino4_block *b, int64_t c0, int64_t c1)
{
    const wino4_geom *g = j->g;
    for (int64_t ch = c0; ch < c1; ch++) {
        const float *xp = j->x + ch * g->h * g->w;
        for (int64_t ty = b->ty0; ty < b->ty1; ty++)
            for (int64_t tx0 = 0; tx0 < g->tw; tx0 += j->lanes) {
                int64_t n = g->tw - tx0 < j->lanes ? g->tw - tx0 : j->lanes;
                int64_t iy0 = 4 * ty - g->pt, ix0 = 4 * tx0 - g->pl, t0 = (ty - b->ty0) * g->tw + tx0;
                if (j->lanes == 16)
                    input_step512(xp, g->h, g->w, iy0, ix0, b->v, b->ldv, g->c, ch, t0, n);
                else
                    input_step256(xp, g->h, g->w, iy0, ix0, b->v, b->ldv, g->c, ch, t0, n);
            }
        /* zero the padding columns of the last panel (read by the GEMM) */
        for (int64_t t = b->tiles; t % NN_NR; t++)
            for (int xi = 0; xi < NXI; xi++)
                b->v[xi * b->ldv + (t / NN_NR) * g->c * NN_NR + ch * NN_NR + t % NN_NR] = 0.0f;
    }
}

/* Y of filters [m0, m1) for block b: A^T M A a tile-row step at a time,
 * then bias, residual and activation on the finished block of rows. */
static void output_block(const wino4_job *j, const wino4_block *b, int64_t m0, int64_t m1)
{
    const wino4_geom *g = j->g;
    int64_t xs = b->ldm, P = g->oh * g->ow;
    for (int64_t mi = m0; mi < m1; mi++) {
        float *yp = j->y + mi * P;
        nn_epilogue e = nn_epilogue_plain();
        if (j->bias) e.add[0] = (nn_addend){j->bias + mi, 0, 0};
        if (j->z) e.add[1] = (nn_addend){j->z + mi * P, g->ow, 1};
        if (j->f) {
            e.act = j->f->act;
            e.act_a = j->f->act_a;
            e.act_b = j->f->act_b;
        }
        for (int64_t ty = b->ty0; ty < b->ty1; ty++) {
            int64_t oy = 4 * ty;
            int rows = g->oh - oy < 4 ? (int)(g->oh - oy) : 4;
            for (int64_t tx0 = 0; tx0 < g->tw; tx0 += j->lanes) {
                int64_t n = g->tw - tx0 < j->lanes ? g->tw - tx0 : j->lanes;
                int64_t ox = 4 * tx0, w = g->ow - ox < 4 * n ? g->ow - ox : 4 * n;
                const float *mp = b->mo + mi * b->tiles + (ty - b->ty0) * g->tw + tx0;
                float *dst = yp + oy * g->ow + ox;
                if (j->lanes == 16)
                    output_step512(mp, xs, n, dst, g->ow, rows, w);
                else
                    output_step256(mp, xs, n, dst, g->ow, rows, w);
                nn_epilogue er = nn_epilogue_at(&e, oy, ox);
                nn_epilogue_apply(&er, dst, g->ow, rows, w);
            }
        }
    }
}

static void input_transform(void *arg, int64_t c0, int64_t c1)
{
    const wino4_job *j = arg;
    input_block(j, &j->all, c0, c1);
}

static void output_transform(void *arg, int64_t m0, int64_t m1)
{
    const wino4_job *j = arg;
    output_block(j, &j->all, m0, m1);
}

/* The blocked path: each task takes a few tile rows through all three
 * steps, with its own V and M (scratch slots 4 and 5) and U all in L2.
 * The two-pass path instead sends V and M (~2 MB each for 64 channels at
 * 56x56) through L3, and the other tenants of a shared machine's L3 then
 * push them out to memory. */
static void block_tasks(void *arg, int64_t t0, int64_t t1)
{
    wino4_job *j = arg;
    const wino4_geom *g = j->g;
    for (int64_t t = t0; t < t1; t++) {
        wino4_block b = {t * j->rows_per_block, (t + 1) * j->rows_per_block, 0, 0, 0, NULL, NULL};
        if (b.ty1 > g->th) b.ty1 = g->th;
        b.tiles = (b.ty1 - b.ty0) * g->tw;
        b.ldv = nn_winograd_stride(nn_packed_b_floats(g->c, b.tiles));
        b.ldm = nn_winograd_stride(g->m * b.tiles);
        b.v = nn_scratch(4, (size_t)(NXI * b.ldv));
        b.mo = nn_scratch(5, (size_t)(NXI * b.ldm));
        if (!b.v || !b.mo) {
            j->failed = 1;
            return;
        }
        input_block(j, &b, 0, g->c);
        nn_epilogue e = nn_epilogue_plain();
        for (int xi = 0; xi < NXI; xi++) {
            const float *u = j->u + (int64_t)xi * g->m * g->c;
            if (!nn_gemm_packed(g->m, b.tiles, g->c, j->u_packed ? NULL : u, g->c, j->u_packed ? u : NULL,
                                b.v + xi * b.ldv, b.mo + xi * b.ldm, b.tiles, &e)) {
                j->failed = 1;
                return;
            }
        }
        output_block(j, &b, 0, g->m);
    }
}

/* Bytes of L2 a block's V, M and U may take (of Zen 4's 1 MB; the rest
 * holds the input and output rows passing through). */
#define BLOCK_L2_BYTES ((int64_t)900 << 10)

/* Tile rows per task of the blocked path, or 0 when it does not pay: U
 * must fit in L2 beside at least one tile row's V and M, and the tile
 * rows must give every thread a few blocks. FWD_WINOGRAD_BLOCKED=0/1
 * forces it off or on (tests, A/B timing). */
static int64_t block_rows(const wino4_geom *g)
{
    int64_t u_bytes = NXI * g->m * g->c * 4;
    int64_t row_bytes = NXI * (g->c + g->m) * 4 * ((g->tw + NN_NR - 1) / NN_NR * NN_NR);
    const char *force = getenv("FWD_WINOGRAD_BLOCKED");
    if (force && force[0] == '0') return 0;
    bool forced = force && force[0] == '1';
    if (!forced && (u_bytes + row_bytes > BLOCK_L2_BYTES || g->th < 4 * fwd_num_threads())) return 0;
    int64_t rows = (BLOCK_L2_BYTES - u_bytes) / row_bytes;
    if (rows < 1) rows = 1;
    /* a whole number of blocks per thread */
    int64_t nt = fwd_num_threads(), blocks = (g->th + rows - 1) / rows;
    blocks = (blocks + nt - 1) / nt * nt;
    return (g->th + blocks - 1) / blocks;
}

fwd_status nn_conv_winograd4(const fwd_kernel_ctx *k, const nn_conv_shape *s, const float *x,
                             const float *u, bool u_packed, const float *b, const nn_conv_fuse *f,
                             float *y)
{
    wino4_geom g = {.c = s->c, .m = s->m, .h = s->w.in[0], .w = s->w.in[1], .oh = s->w.out[0],
                    .ow = s->w.out[1], .pt = s->w.pad_begin[0], .pl = s->w.pad_begin[1]};
    g.th = (g.oh + 3) / 4;
    g.tw = (g.ow + 3) / 4;
    g.tiles = g.th * g.tw;
    int lanes = nn_gemm_tile_rows() == 8 ? 16 : 8;
    int64_t rows_per_block = block_rows(&g);
    wino4_block all = {0, g.th, g.tiles, nn_winograd_stride(nn_packed_b_floats(g.c, g.tiles)),
                       nn_winograd_stride(g.m * g.tiles), NULL, NULL};
    if (!rows_per_block) {
        all.v = nn_scratch(4, (size_t)(NXI * all.ldv));
        all.mo = nn_scratch(5, (size_t)(NXI * all.ldm));
        if (!all.v || !all.mo)
            return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory for the Winograd buffers");
    }
    for (int64_t n = 0; n < s->n; n++) {
        wino4_job j = {&g, x + n * g.c * g.h * g.w, u, u_packed, y + n * g.m * g.oh * g.ow, b,
                       f && f->z ? f->z + n * g.m * g.oh * g.ow : NULL, f, lanes, all, rows_per_block, 0};
        if (rows_per_block) {
            fwd_parallel_tasks((g.th + rows_per_block - 1) / rows_per_block, block_tasks, &j);
            if (j.failed) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory in a Winograd block");
            continue;
        }
        fwd_parallel_for(g.c, 65536 / (g.tiles * 150 + 1) + 1, input_transform, &j);
        if (!nn_winograd_products(NXI, g.m, g.c, g.tiles, u, u_packed, all.v, all.ldv, all.mo, all.ldm))
            return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory in the GEMM");
        fwd_parallel_for(g.m, 65536 / (g.tiles * 100 + 1) + 1, output_transform, &j);
    }
    return FWD_OK;
}

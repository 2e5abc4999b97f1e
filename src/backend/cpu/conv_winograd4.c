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
 * (conv_winograd4_kern.h, AVX-512 or AVX2).
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
#define wk_store_range wk_store_range512
#include "backend/cpu/conv_winograd4_kern.h"

#define WK_L 8
#define WK_TARGET
#define WK(name) name##256
#define VF vf8
#define VI vi8
#define WK_IOTA {0, 1, 2, 3, 4, 5, 6, 7}
#define wk_load_n wk_load_n256
#define wk_store_range wk_store_range256
#include "backend/cpu/conv_winograd4_kern.h"

/* ---- the convolution ---- */

typedef struct wino4_geom {
    int64_t c, m, h, w, oh, ow, th, tw, tiles, pt, pl;
    int64_t pw, ph; /* the zero-padded input plane */
    int64_t ldv;    /* floats per position in V (packed panels) */
} wino4_geom;

typedef struct wino4_job {
    const wino4_geom *g;
    const float *x; /* one image */
    float *v;       /* [36][ldv] */
    const float *u; /* per position: packed A (stride m * c), or row-major when !u_packed */
    bool u_packed;
    float *mo; /* [36][m][tiles] */
    float *y;  /* one image */
    const float *bias, *z;
    const nn_conv_fuse *f;
    int lanes; /* 16: the AVX-512 steps, 8: AVX2 */
    _Atomic int failed;
} wino4_job;

/* Channels [c0, c1): each plane is copied into a zero-padded plane (no
 * bounds checks in the steps), then transformed a tile-row step at a time. */
static void input_transform(void *arg, int64_t c0, int64_t c1)
{
    wino4_job *j = arg;
    const wino4_geom *g = j->g;
    float *pad = nn_scratch(2, (size_t)(g->pw * g->ph)); /* this thread's, kept across runs */
    if (!pad) {
        j->failed = 1;
        return;
    }
    for (int64_t ch = c0; ch < c1; ch++) {
        const float *xp = j->x + ch * g->h * g->w;
        for (int64_t r = 0; r < g->ph; r++) {
            float *dst = pad + r * g->pw;
            int64_t iy = r - g->pt;
            if (iy < 0 || iy >= g->h) {
                memset(dst, 0, sizeof(float) * (size_t)g->pw);
                continue;
            }
            int64_t x0 = g->pl, x1 = g->pl + g->w, s0 = 0; /* padded columns holding the row */
            if (x0 < 0) {
                s0 = -x0;
                x0 = 0;
            }
            if (x1 > g->pw) x1 = g->pw;
            if (x1 < x0) x1 = x0;
            memset(dst, 0, sizeof(float) * (size_t)x0);
            memcpy(dst + x0, xp + iy * g->w + s0, sizeof(float) * (size_t)(x1 - x0));
            memset(dst + x1, 0, sizeof(float) * (size_t)(g->pw - x1));
        }
        for (int64_t ty = 0; ty < g->th; ty++)
            for (int64_t tx0 = 0; tx0 < g->tw; tx0 += j->lanes) {
                int64_t n = g->tw - tx0 < j->lanes ? g->tw - tx0 : j->lanes;
                const float *row0 = pad + 4 * ty * g->pw + 4 * tx0;
                if (j->lanes == 16)
                    input_step512(row0, g->pw, j->v, g->ldv, g->c, ch, ty * g->tw + tx0, n);
                else
                    input_step256(row0, g->pw, j->v, g->ldv, g->c, ch, ty * g->tw + tx0, n);
            }
        /* zero the padding columns of the last panel (read by the GEMM) */
        for (int64_t t = g->tiles; t % NN_NR; t++)
            for (int xi = 0; xi < NXI; xi++)
                j->v[xi * g->ldv + (t / NN_NR) * g->c * NN_NR + ch * NN_NR + t % NN_NR] = 0.0f;
    }
}

/* Filters [m0, m1): Y = A^T M A a tile-row step at a time, then bias,
 * residual and activation on the finished block of output rows. */
static void output_transform(void *arg, int64_t m0, int64_t m1)
{
    const wino4_job *j = arg;
    const wino4_geom *g = j->g;
    int64_t xs = g->m * g->tiles, P = g->oh * g->ow;
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
        for (int64_t ty = 0; ty < g->th; ty++) {
            int64_t oy = 4 * ty;
            int rows = g->oh - oy < 4 ? (int)(g->oh - oy) : 4;
            for (int64_t tx0 = 0; tx0 < g->tw; tx0 += j->lanes) {
                int64_t n = g->tw - tx0 < j->lanes ? g->tw - tx0 : j->lanes;
                int64_t ox = 4 * tx0, w = g->ow - ox < 4 * n ? g->ow - ox : 4 * n;
                const float *mp = j->mo + mi * g->tiles + ty * g->tw + tx0;
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

fwd_status nn_conv_winograd4(const fwd_kernel_ctx *k, const nn_conv_shape *s, const float *x,
                             const float *u, bool u_packed, const float *b, const nn_conv_fuse *f,
                             float *y)
{
    wino4_geom g = {.c = s->c, .m = s->m, .h = s->w.in[0], .w = s->w.in[1], .oh = s->w.out[0],
                    .ow = s->w.out[1], .pt = s->w.pad_begin[0], .pl = s->w.pad_begin[1]};
    g.th = (g.oh + 3) / 4;
    g.tw = (g.ow + 3) / 4;
    g.tiles = g.th * g.tw;
    g.ldv = nn_packed_b_floats(g.c, g.tiles);
    int lanes = nn_gemm_tile_rows() == 8 ? 16 : 8;
    /* a step reads 4 * lanes + 4 floats from its first tile's column */
    g.pw = 4 * ((g.tw + lanes - 1) / lanes * lanes) + 4;
    g.ph = 4 * g.th + 2;
    float *v = nn_scratch(4, (size_t)(NXI * g.ldv));
    float *mo = nn_scratch(5, (size_t)(NXI * g.m * g.tiles));
    if (!v || !mo) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory for the Winograd buffers");
    for (int64_t n = 0; n < s->n; n++) {
        wino4_job j = {&g, x + n * g.c * g.h * g.w, v, u, u_packed, mo, y + n * g.m * g.oh * g.ow, b,
                       f && f->z ? f->z + n * g.m * g.oh * g.ow : NULL, f, lanes, 0};
        fwd_parallel_for(g.c, 65536 / (g.tiles * 150 + 1) + 1, input_transform, &j);
        if (j.failed) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory for a padded plane");
        if (!nn_winograd_products(NXI, g.m, g.c, g.tiles, u, u_packed, v, g.ldv, mo))
            return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory in the GEMM");
        fwd_parallel_for(g.m, 65536 / (g.tiles * 100 + 1) + 1, output_transform, &j);
    }
    return FWD_OK;
}

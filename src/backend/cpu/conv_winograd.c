/*
 * 3x3 stride-1 convolutions by Winograd's F(2x2, 3x3): each 2x2 block of
 * output ("tile") comes from a 4x4 input patch with 16 products instead of
 * 36, so the GEMM work drops 2.25 times.
 *
 *   U = G g G^T   (per filter and channel; done once, at build time)
 *   V = B^T d B   (per channel and tile)
 *   M[xi] = U[xi] @ V[xi]   for the 16 positions xi of the 4x4 transforms
 *   Y = A^T M A   (per filter and tile) + bias (+ residual), activation
 *
 * with G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
 * B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], A^T = [1 1 1 0; 0 1 -1 -1].
 * The transforms only add and halve, so the results stay within float32
 * rounding of the direct convolution.
 *
 * Layout: V[xi] is written straight into the GEMM's 16-column panels (one
 * panel row = 16 consecutive tiles of one channel), U[xi] is the GEMM's
 * packed A (sgemm.h); M is [16][filters][tiles].
 */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_prepack.h"
#include "backend/cpu/nn_internal.h"

#define LANES 16 /* tiles per transform step: one panel row */

void nn_winograd_weights(const float *w, int64_t m, int64_t c, float *u)
{
    /* u: [16][m][c] row-major */
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < c; j++) {
            const float *g = w + (i * c + j) * 9;
            float t[4][3]; /* G g */
            for (int q = 0; q < 3; q++) {
                float g0 = g[q], g1 = g[3 + q], g2 = g[6 + q];
                t[0][q] = g0;
                t[1][q] = 0.5f * (g0 + g1 + g2);
                t[2][q] = 0.5f * (g0 - g1 + g2);
                t[3][q] = g2;
            }
            for (int r = 0; r < 4; r++) {
                float v[4] = {t[r][0], 0.5f * (t[r][0] + t[r][1] + t[r][2]),
                              0.5f * (t[r][0] - t[r][1] + t[r][2]), t[r][2]};
                for (int q = 0; q < 4; q++) u[((int64_t)(r * 4 + q) * m + i) * c + j] = v[q];
            }
        }
}

void nn_winograd_unweights(const float *u, int64_t m, int64_t c, float *w)
{
    /* G has rows e1 and e3 and (row 1 - row 2) = e2, so g comes back
     * exactly from U's rows/columns 0, 1 - 2 and 3 */
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < c; j++) {
            float uu[4][4], t[3][4];
            for (int xi = 0; xi < 16; xi++) uu[xi / 4][xi % 4] = u[((int64_t)xi * m + i) * c + j];
            for (int q = 0; q < 4; q++) {
                t[0][q] = uu[0][q];
                t[1][q] = uu[1][q] - uu[2][q];
                t[2][q] = uu[3][q];
            }
            float *g = w + (i * c + j) * 9;
            for (int r = 0; r < 3; r++) {
                g[r * 3 + 0] = t[r][0];
                g[r * 3 + 1] = t[r][1] - t[r][2];
                g[r * 3 + 2] = t[r][3];
            }
        }
}

typedef struct wino_geom {
    int64_t c, m, h, w, oh, ow, th, tw, tiles, pt, pl;
    int64_t ldv; /* floats per xi in V (packed panels) */
    int64_t ldm; /* floats per xi in M */
} wino_geom;

typedef struct wino_job {
    const wino_geom *g;
    const float *x;   /* one image */
    float *v;         /* [16][ldv] */
    const float *u;   /* packed A per xi (stride m * c), or row-major when !u_packed */
    bool u_packed;
    float *mo;        /* [16][m][tiles] */
    float *y;         /* one image */
    const float *bias, *z;
    const nn_conv_fuse *f;
    bool avx512;      /* the 16-tile steps in AVX-512 */
    _Atomic int failed;
} wino_job;

/* Writes n values of one channel's tiles t0.. into position xi's panels. */
static inline void scatter(float *vx, int64_t c, int64_t ch, int64_t t0, const float *vals, int64_t n)
{
    int64_t p = t0 / NN_NR, o = t0 % NN_NR;
    float *dst = vx + p * c * NN_NR + ch * NN_NR;
    for (int64_t l = 0; l < n;) {
        int64_t run = NN_NR - o < n - l ? NN_NR - o : n - l;
        memcpy(dst + o, vals + l, sizeof(float) * (size_t)run);
        l += run;
        o = 0;
        dst += c * NN_NR;
    }
}

/* ---- AVX-512 versions of the 16-tile steps (the loops below are the
 * portable ones) ---- */

#define W512 __attribute__((target("avx512f,avx512vl")))

/* Position xi's 16 lanes (n valid) into the panels from tile t0. */
W512 static inline void scatter512(float *vx, int64_t c, int64_t ch, int64_t t0, __m512 v, int64_t n)
{
    int64_t p = t0 / NN_NR, o = t0 % NN_NR;
    float *dst = vx + p * c * NN_NR + ch * NN_NR;
    uint32_t all = (1u << n) - 1;
    _mm512_mask_storeu_ps(dst + o, (__mmask16)(all & ((1u << (NN_NR - o)) - 1)), v);
    uint32_t rest = all & ~((1u << (NN_NR - o)) - 1);
    if (rest) _mm512_mask_storeu_ps(dst + c * NN_NR - (NN_NR - o), (__mmask16)rest, v);
}

/* V for 16 tiles of rows row0..row3 (each 2 * 16 + 2 floats readable). */
W512 static void input16_512(const float *const rows[4], float *v, int64_t c, int64_t ch, int64_t t0,
                             int64_t n, int64_t ldv)
{
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    __m512 d[4][4];
    for (int r = 0; r < 4; r++) {
        const float *row = rows[r];
        __m512 lo = _mm512_loadu_ps(row), hi = _mm512_loadu_ps(row + 16);
        __m512 lo2 = _mm512_loadu_ps(row + 2), hi2 = _mm512_loadu_ps(row + 18);
        d[r][0] = _mm512_permutex2var_ps(lo, even, hi);
        d[r][1] = _mm512_permutex2var_ps(lo, odd, hi);
        d[r][2] = _mm512_permutex2var_ps(lo2, even, hi2);
        d[r][3] = _mm512_permutex2var_ps(lo2, odd, hi2);
    }
    __m512 t[4][4];
    for (int q = 0; q < 4; q++) {
        t[0][q] = _mm512_sub_ps(d[0][q], d[2][q]);
        t[1][q] = _mm512_add_ps(d[1][q], d[2][q]);
        t[2][q] = _mm512_sub_ps(d[2][q], d[1][q]);
        t[3][q] = _mm512_sub_ps(d[1][q], d[3][q]);
    }
    for (int r = 0; r < 4; r++) {
        scatter512(v + (r * 4 + 0) * ldv, c, ch, t0, _mm512_sub_ps(t[r][0], t[r][2]), n);
        scatter512(v + (r * 4 + 1) * ldv, c, ch, t0, _mm512_add_ps(t[r][1], t[r][2]), n);
        scatter512(v + (r * 4 + 2) * ldv, c, ch, t0, _mm512_sub_ps(t[r][2], t[r][1]), n);
        scatter512(v + (r * 4 + 3) * ldv, c, ch, t0, _mm512_sub_ps(t[r][1], t[r][3]), n);
    }
}

/* The two output rows (2 * n values each) of 16 tiles from M. */
W512 static void output16_512(const float *mp, int64_t xs, int64_t n, float rows[2][2 * LANES])
{
    __mmask16 mk = (__mmask16)((1u << n) - 1);
    __m512 mm[16];
    for (int xi = 0; xi < 16; xi++) mm[xi] = _mm512_maskz_loadu_ps(mk, mp + xi * xs);
    const __m512i lo_idx = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi_idx = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    for (int r = 0; r < 2; r++) {
        __m512 s0, s1, s2, s3;
        if (r == 0) {
            s0 = _mm512_add_ps(_mm512_add_ps(mm[0], mm[4]), mm[8]);
            s1 = _mm512_add_ps(_mm512_add_ps(mm[1], mm[5]), mm[9]);
            s2 = _mm512_add_ps(_mm512_add_ps(mm[2], mm[6]), mm[10]);
            s3 = _mm512_add_ps(_mm512_add_ps(mm[3], mm[7]), mm[11]);
        } else {
            s0 = _mm512_sub_ps(_mm512_sub_ps(mm[4], mm[8]), mm[12]);
            s1 = _mm512_sub_ps(_mm512_sub_ps(mm[5], mm[9]), mm[13]);
            s2 = _mm512_sub_ps(_mm512_sub_ps(mm[6], mm[10]), mm[14]);
            s3 = _mm512_sub_ps(_mm512_sub_ps(mm[7], mm[11]), mm[15]);
        }
        __m512 y0 = _mm512_add_ps(_mm512_add_ps(s0, s1), s2);
        __m512 y1 = _mm512_sub_ps(_mm512_sub_ps(s1, s2), s3);
        _mm512_storeu_ps(rows[r], _mm512_permutex2var_ps(y0, lo_idx, y1));
        _mm512_storeu_ps(rows[r] + 16, _mm512_permutex2var_ps(y0, hi_idx, y1));
    }
}

/* Input transform of channels [c0, c1): each channel plane is copied into
 * a zero-padded plane (no bounds checks below), then for each row of
 * tiles, 16 tiles at a time, the 4 input rows are split into even and odd
 * columns and V = B^T d B is computed lane-wise (vectorised). */
static void input_transform(void *arg, int64_t c0, int64_t c1)
{
    wino_job *j = arg;
    const wino_geom *g = j->g;
    int64_t tw16 = (g->tw + LANES - 1) / LANES * LANES;
    int64_t pw = 2 * tw16 + 4, ph = 2 * g->th + 2; /* the 512-bit loads read 34 floats per step */
    float *pad = nn_scratch(2, (size_t)(pw * ph)); /* this thread's, kept across runs */
    if (!pad) {
        j->failed = 1;
        return;
    }
    float ev[4][LANES + 1], od[4][LANES + 1], vv[16][LANES];
    for (int64_t ch = c0; ch < c1; ch++) {
        const float *xp = j->x + ch * g->h * g->w;
        for (int64_t r = 0; r < ph; r++) {
            float *dst = pad + r * pw;
            int64_t iy = r - g->pt;
            memset(dst, 0, sizeof(float) * (size_t)pw);
            if (iy < 0 || iy >= g->h) continue;
            int64_t x0 = g->pl, x1 = g->pl + g->w; /* padded columns holding the row */
            int64_t s0 = 0;
            if (x0 < 0) {
                s0 = -x0;
                x0 = 0;
            }
            if (x1 > pw) x1 = pw;
            if (x1 > x0) memcpy(dst + x0, xp + iy * g->w + s0, sizeof(float) * (size_t)(x1 - x0));
        }
        for (int64_t ty = 0; ty < g->th; ty++) {
            for (int64_t tx0 = 0; tx0 < g->tw; tx0 += LANES) {
                int64_t n = g->tw - tx0 < LANES ? g->tw - tx0 : LANES;
                if (j->avx512) {
                    const float *rows[4];
                    for (int r = 0; r < 4; r++) rows[r] = pad + (2 * ty + r) * pw + 2 * tx0;
                    input16_512(rows, j->v, g->c, ch, ty * g->tw + tx0, n, g->ldv);
                    continue;
                }
                for (int r = 0; r < 4; r++) {
                    const float *row = pad + (2 * ty + r) * pw + 2 * tx0;
                    for (int q = 0; q <= LANES; q++) {
                        ev[r][q] = row[2 * q];
                        od[r][q] = row[2 * q + 1];
                    }
                }
                float t[4][4][LANES];
                for (int q = 0; q < 4; q++) {
                    /* column q of the patch: even/odd, shifted by one tile for q >= 2 */
                    const int sh = q >= 2, odd = q & 1;
                    for (int l = 0; l < LANES; l++) {
                        float d0 = odd ? od[0][l + sh] : ev[0][l + sh];
                        float d1 = odd ? od[1][l + sh] : ev[1][l + sh];
                        float d2 = odd ? od[2][l + sh] : ev[2][l + sh];
                        float d3 = odd ? od[3][l + sh] : ev[3][l + sh];
                        t[0][q][l] = d0 - d2;
                        t[1][q][l] = d1 + d2;
                        t[2][q][l] = d2 - d1;
                        t[3][q][l] = d1 - d3;
                    }
                }
                for (int r = 0; r < 4; r++)
                    for (int l = 0; l < LANES; l++) { /* (B^T d) B */
                        vv[r * 4 + 0][l] = t[r][0][l] - t[r][2][l];
                        vv[r * 4 + 1][l] = t[r][1][l] + t[r][2][l];
                        vv[r * 4 + 2][l] = t[r][2][l] - t[r][1][l];
                        vv[r * 4 + 3][l] = t[r][1][l] - t[r][3][l];
                    }
                int64_t t0 = ty * g->tw + tx0;
                for (int xi = 0; xi < 16; xi++) scatter(j->v + xi * g->ldv, g->c, ch, t0, vv[xi], n);
            }
        }
        /* zero the padding columns of the last panel (read by the GEMM) */
        for (int64_t t = g->tiles; t % NN_NR; t++)
            for (int xi = 0; xi < 16; xi++)
                j->v[xi * g->ldv + (t / NN_NR) * g->c * NN_NR + ch * NN_NR + t % NN_NR] = 0.0f;
    }
}

/* The products of nn_winograd_products: position xi, column block cb. */
typedef struct wino_products {
    int64_t m, c, tiles, ldv, ldm, col_blocks, cols;
    const float *u;
    bool u_packed;
    const float *v;
    float *mo;
    _Atomic int failed;
} wino_products;

static void product_tasks(void *arg, int64_t t0, int64_t t1)
{
    wino_products *j = arg;
    nn_epilogue e = nn_epilogue_plain();
    for (int64_t t = t0; t < t1; t++) {
        int64_t xi = t / j->col_blocks, cb = t % j->col_blocks;
        int64_t c0 = cb * j->cols, c1 = c0 + j->cols < j->tiles ? c0 + j->cols : j->tiles;
        if (c0 >= c1) continue;
        const float *u = j->u + xi * j->m * j->c;
        bool ok = nn_gemm_packed(j->m, c1 - c0, j->c, j->u_packed ? NULL : u, j->c, j->u_packed ? u : NULL,
                                 j->v + xi * j->ldv + c0 * j->c, j->mo + xi * j->ldm + c0, j->tiles, &e);
        if (!ok) j->failed = 1;
    }
}

bool nn_winograd_products(int64_t positions, int64_t m, int64_t c, int64_t tiles, const float *u, bool u_packed,
                          const float *v, int64_t ldv, float *mo, int64_t ldm)
{
    /* one task per position, split further by columns when there are few
     * positions per thread */
    int64_t nt = fwd_num_threads(), panels = (tiles + NN_NR - 1) / NN_NR;
    int64_t blocks = (4 * nt + positions - 1) / positions;
    if (blocks > panels) blocks = panels;
    if (blocks < 1) blocks = 1;
    wino_products j = {m, c, tiles, ldv, ldm, 1, (panels + blocks - 1) / blocks * NN_NR, u, u_packed, v, mo, 0};
    j.col_blocks = (tiles + j.cols - 1) / j.cols;
    fwd_parallel_tasks(positions * j.col_blocks, product_tasks, &j);
    return !j.failed;
}

/* Output transform of filters [m0, m1): Y = A^T M A per tile, 16 tiles at
 * a time (lane-wise, vectorised), then bias, residual and activation on
 * the finished output rows. */
static void output_transform(void *arg, int64_t m0, int64_t m1)
{
    const wino_job *j = arg;
    const wino_geom *g = j->g;
    float mm[16][LANES], s2[2][4][LANES], rows[2][2 * LANES];
    int64_t xs = g->ldm; /* stride between positions */
    for (int64_t mi = m0; mi < m1; mi++) {
        float *yp = j->y + mi * g->oh * g->ow;
        nn_epilogue e = nn_epilogue_plain();
        if (j->bias) e.add[0] = (nn_addend){j->bias + mi, 0, 0};
        if (j->z) e.add[1] = (nn_addend){j->z + mi * g->oh * g->ow, 0, 1};
        if (j->f) {
            e.act = j->f->act;
            e.act_a = j->f->act_a;
            e.act_b = j->f->act_b;
        }
        for (int64_t ty = 0; ty < g->th; ty++) {
            for (int64_t tx0 = 0; tx0 < g->tw; tx0 += LANES) {
                int64_t n = g->tw - tx0 < LANES ? g->tw - tx0 : LANES;
                const float *mp = j->mo + mi * g->tiles + ty * g->tw + tx0;
                if (j->avx512) {
                    output16_512(mp, xs, n, rows);
                } else {
                for (int xi = 0; xi < 16; xi++) {
                    memcpy(mm[xi], mp + xi * xs, sizeof(float) * (size_t)n);
                    for (int64_t l = n; l < LANES; l++) mm[xi][l] = 0.0f;
                }
                for (int q = 0; q < 4; q++)
                    for (int l = 0; l < LANES; l++) { /* A^T M */
                        s2[0][q][l] = mm[q][l] + mm[4 + q][l] + mm[8 + q][l];
                        s2[1][q][l] = mm[4 + q][l] - mm[8 + q][l] - mm[12 + q][l];
                    }
                for (int r = 0; r < 2; r++)
                    for (int l = 0; l < LANES; l++) { /* (A^T M) A */
                        rows[r][2 * l] = s2[r][0][l] + s2[r][1][l] + s2[r][2][l];
                        rows[r][2 * l + 1] = s2[r][1][l] - s2[r][2][l] - s2[r][3][l];
                    }
                }
                int64_t ox = 2 * tx0, w = 2 * n;
                if (ox + w > g->ow) w = g->ow - ox;
                for (int r = 0; r < 2; r++) {
                    int64_t oy = 2 * ty + r;
                    if (oy >= g->oh) break;
                    float *dst = yp + oy * g->ow + ox;
                    memcpy(dst, rows[r], sizeof(float) * (size_t)w);
                    nn_epilogue er = nn_epilogue_at(&e, 0, oy * g->ow + ox);
                    nn_epilogue_apply(&er, dst, g->ow, 1, w);
                }
            }
        }
    }
}

bool nn_winograd_applies(const nn_conv_shape *s)
{
    const nn_window *w = &s->w;
    return w->nsp == 2 && s->group == 1 && w->kernel[0] == 3 && w->kernel[1] == 3 && w->stride[0] == 1 &&
           w->stride[1] == 1 && w->dilation[0] == 1 && w->dilation[1] == 1 && w->out[0] >= 2 &&
           w->out[1] >= 2;
}

fwd_status nn_conv_winograd(const fwd_kernel_ctx *k, const nn_conv_shape *s, const float *x,
                            const float *u, bool u_packed, const float *b, const nn_conv_fuse *f,
                            float *y)
{
    wino_geom g = {.c = s->c, .m = s->m, .h = s->w.in[0], .w = s->w.in[1], .oh = s->w.out[0],
                   .ow = s->w.out[1], .pt = s->w.pad_begin[0], .pl = s->w.pad_begin[1]};
    g.th = (g.oh + 1) / 2;
    g.tw = (g.ow + 1) / 2;
    g.tiles = g.th * g.tw;
    g.ldv = nn_winograd_stride(nn_packed_b_floats(g.c, g.tiles));
    g.ldm = nn_winograd_stride(g.m * g.tiles);
    float *v = nn_scratch(4, (size_t)(16 * g.ldv));
    float *mo = nn_scratch(5, (size_t)(16 * g.ldm));
    if (!v || !mo) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory for the Winograd buffers");
    for (int64_t n = 0; n < s->n; n++) {
        wino_job j = {&g, x + n * g.c * g.h * g.w, v, u, u_packed, mo, y + n * g.m * g.oh * g.ow, b,
                      f && f->z ? f->z + n * g.m * g.oh * g.ow : NULL, f, nn_gemm_tile_rows() == 8, 0};
        int64_t per_channel = g.tiles * 64;
        fwd_parallel_for(g.c, 65536 / (per_channel + 1) + 1, input_transform, &j);
        if (j.failed) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory for a padded plane");
        if (!nn_winograd_products(16, g.m, g.c, g.tiles, j.u, j.u_packed, j.v, g.ldv, j.mo, g.ldm))
            return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory in the GEMM");
        fwd_parallel_for(g.m, 65536 / (g.tiles * 40 + 1) + 1, output_transform, &j);
    }
    return FWD_OK;
}

/*
 * Pools: MaxPool (float32, uint8, int8; Indices output), AveragePool,
 * LpPool, the global pools and MaxUnpool. Windows of 1-3 spatial dims are
 * embedded as 3-D (nn_geom3); work is split over the (n, c) planes.
 */
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/nn_internal.h"

typedef struct pool_job {
    nn_geom3 g;
    int64_t pad_end[3]; /* trailing pads, for count_include_pad */
    const void *x;
    void *y;
    int64_t *idx;         /* MaxPool Indices, or NULL */
    bool col_major;       /* storage_order = 1 */
    bool include_pad;     /* AveragePool */
    int64_t p;            /* LpPool order */
} pool_job;

/* Valid kernel index range [k0, k1) along one dim for window start s0. */
static inline void k_range(int64_t s0, int64_t d, int64_t k, int64_t in, int64_t *k0, int64_t *k1)
{
    int64_t a = 0, b = k;
    if (s0 < 0) a = (-s0 + d - 1) / d;
    if (s0 + (b - 1) * d >= in) b = (in - 1 - s0) / d + 1;
    if (s0 >= in) b = 0;
    if (b < a) b = a;
    *k0 = a;
    *k1 = b;
}

#define DEFINE_MAX_POOL(NAME, T, LOWEST)                                                          \
    static void NAME(void *arg, int64_t p0, int64_t p1)                                          \
    {                                                                                             \
        const pool_job *j = arg;                                                                  \
        const nn_geom3 *g = &j->g;                                                                \
        const int64_t D = g->in[0], H = g->in[1], W = g->in[2];                                   \
        for (int64_t pl = p0; pl < p1; pl++) {                                                    \
            const T *x = (const T *)j->x + pl * g->in_size;                                       \
            T *y = (T *)j->y + pl * g->out_size;                                                  \
            int64_t *yi = j->idx ? j->idx + pl * g->out_size : NULL;                              \
            int64_t o = 0;                                                                        \
            for (int64_t od = 0; od < g->out[0]; od++) {                                          \
                int64_t sd = od * g->s[0] - g->p[0], kd0, kd1;                                    \
                k_range(sd, g->d[0], g->k[0], D, &kd0, &kd1);                                     \
                for (int64_t oh = 0; oh < g->out[1]; oh++) {                                      \
                    int64_t sh = oh * g->s[1] - g->p[1], kh0, kh1;                                \
                    k_range(sh, g->d[1], g->k[1], H, &kh0, &kh1);                                 \
                    for (int64_t ow = 0; ow < g->out[2]; ow++, o++) {                             \
                        int64_t sw = ow * g->s[2] - g->p[2], kw0, kw1;                            \
                        k_range(sw, g->d[2], g->k[2], W, &kw0, &kw1);                             \
                        T best = LOWEST;                                                          \
                        int64_t at = -1;                                                          \
                        for (int64_t kd = kd0; kd < kd1; kd++)                                    \
                            for (int64_t kh = kh0; kh < kh1; kh++) {                              \
                                int64_t row = ((sd + kd * g->d[0]) * H + sh + kh * g->d[1]) * W;  \
                                for (int64_t kw = kw0; kw < kw1; kw++) {                          \
                                    int64_t pos = row + sw + kw * g->d[2];                        \
                                    if (x[pos] > best || at < 0) {                                \
                                        best = x[pos];                                            \
                                        at = pos;                                                 \
                                    }                                                             \
                                }                                                                 \
                            }                                                                     \
                        y[o] = best;                                                              \
                        if (yi) {                                                                 \
                            int64_t idx = at;                                                     \
                            if (at >= 0 && j->col_major) {                                        \
                                int64_t iw = at % W, ih = (at / W) % H, id = at / (W * H);        \
                                idx = (iw * H + ih) * D + id;                                     \
                            }                                                                     \
                            yi[o] = at >= 0 ? pl * g->in_size + idx : -1;                         \
                        }                                                                         \
                    }                                                                             \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
    }

DEFINE_MAX_POOL(max_pool_f32, float, -INFINITY)
DEFINE_MAX_POOL(max_pool_u8, uint8_t, 0)
DEFINE_MAX_POOL(max_pool_i8, int8_t, INT8_MIN)

static fwd_status pool_setup(fwd_kernel_ctx *k, pool_job *j, int64_t *planes)
{
    FWD_TRY(nn_need_inputs(k, 1));
    const ir_tensor *x = k->in[0];
    if (x->shape.rank > 5) return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "more than 3 spatial dims");
    nn_window w;
    FWD_TRY(nn_window_for(k, x, NULL, true, &w));
    memset(j, 0, sizeof *j);
    nn_geom3_from(&w, &j->g);
    int lead = 3 - w.nsp;
    for (int i = 0; i < 3; i++) j->pad_end[i] = i < lead ? 0 : w.pad_end[i - lead];
    *planes = x->shape.dims[0] * x->shape.dims[1];
    if ((int64_t)ir_tensor_numel(k->out[0]) != *planes * j->g.out_size)
        return cpu_kernel_error(k, FWD_ERR_INTERNAL, "output shape mismatch");
    j->x = x->data;
    j->y = k->out[0]->data;
    return FWD_OK;
}

static int64_t pool_grain(const pool_job *j)
{
    return 16384 / (j->g.out_size * j->g.k_size + 1) + 1;
}


/* ---- float32 2-D (and 1-D) fast path for MaxPool and AveragePool ----
 * Separable: per output row, the valid input rows of the window are
 * reduced element-wise into a padded row buffer (contiguous, vectorised),
 * then each output takes the reduction of its KW entries of that row. The
 * buffer's pad entries hold -inf (max) or 0 (average), so the inner loops
 * need no bounds checks; averages multiply by precomputed reciprocal
 * counts. */

typedef struct sep_job {
    const pool_job *pj;
    bool is_max;
    int64_t wp;            /* padded row width covering every window */
    const float *inv_w;    /* per output column: 1 / horizontal count */
    _Atomic int failed;    /* a worker could not get its row buffer */
} sep_job;

static inline float max_f(float a, float b) { return a > b ? a : b; }

/* Slack (floats) past a row buffer's windows, so vector loads of whole
 * blocks need no bounds checks. */
#define ROW_SLACK 32

/* The horizontal step of a 3-wide, stride-2 max window, eight outputs per
 * step: y[ow] = max(row[2ow], row[2ow + 1], row[2ow + 2]), the even and
 * odd lanes of two loads split by shuffles. max_ps(a, b) is a > b ? a : b,
 * as max_f. Returns the outputs done (whole blocks). */
static int64_t max3_s2_row(const float *row, float *y, int64_t ow_n)
{
    int64_t ow = 0;
    for (; ow + 8 <= ow_n; ow += 8) {
        const float *r = row + 2 * ow;
        __m256 a = _mm256_loadu_ps(r), b = _mm256_loadu_ps(r + 8);
        __m256 c = _mm256_loadu_ps(r + 2), d = _mm256_loadu_ps(r + 10);
        /* within 128-bit lanes: [a0 a2 b0 b2 | a4 a6 b4 b6]; the 64-bit
         * pairs reordered afterwards (the same for all three) */
        __m256 ev = _mm256_shuffle_ps(a, b, 0x88), od = _mm256_shuffle_ps(a, b, 0xDD);
        __m256 ev2 = _mm256_shuffle_ps(c, d, 0x88);
        __m256 m = _mm256_max_ps(ev2, _mm256_max_ps(od, ev));
        m = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(m), 0xD8));
        _mm256_storeu_ps(y + ow, m);
    }
    return ow;
}

static void sep_planes(void *arg, int64_t p0, int64_t p1)
{
    sep_job *s = arg;
    const pool_job *j = s->pj;
    const nn_geom3 *g = &j->g;
    const int64_t H = g->in[1], W = g->in[2], OH = g->out[1], OW = g->out[2];
    const int64_t KH = g->k[1], KW = g->k[2], sh = g->s[1], sw = g->s[2];
    const int64_t dh = g->d[1], dw = g->d[2], ph = g->p[1], pw = g->p[2];
    float *row = nn_scratch(2, (size_t)(s->wp + ROW_SLACK));
    if (!row) {
        s->failed = 1;
        return;
    }
    const float fill = s->is_max ? -INFINITY : 0.0f;
    for (int64_t i = 0; i < s->wp + ROW_SLACK; i++) row[i] = fill;
    const bool max3s2 = s->is_max && KW == 3 && sw == 2 && dw == 1;
    float *mid = row + pw; /* input column c at mid[c] */
    int64_t ncopy = W < s->wp - pw ? W : s->wp - pw;
    for (int64_t pl = p0; pl < p1; pl++) {
        const float *x = (const float *)j->x + pl * g->in_size;
        float *y = (float *)j->y + pl * g->out_size;
        for (int64_t oh = 0; oh < OH; oh++, y += OW) {
            int64_t h0 = oh * sh - ph, kh0, kh1;
            k_range(h0, dh, KH, H, &kh0, &kh1);
            if (kh0 >= kh1) {
                for (int64_t ow = 0; ow < OW; ow++) y[ow] = s->is_max ? -INFINITY : 0.0f;
                continue;
            }
            const float *r0 = x + (h0 + kh0 * dh) * W;
            if (ncopy > 0) memcpy(mid, r0, sizeof(float) * (size_t)ncopy);
            for (int64_t kh = kh0 + 1; kh < kh1; kh++) {
                const float *r = x + (h0 + kh * dh) * W;
                if (s->is_max)
                    for (int64_t c = 0; c < ncopy; c++) mid[c] = max_f(r[c], mid[c]);
                else
                    for (int64_t c = 0; c < ncopy; c++) mid[c] += r[c];
            }
            if (s->is_max) {
                for (int64_t ow = max3s2 ? max3_s2_row(row, y, OW) : 0; ow < OW; ow++) {
                    const float *w = row + ow * sw;
                    float best = w[0];
                    for (int64_t kw = 1; kw < KW; kw++) best = max_f(w[kw * dw], best);
                    y[ow] = best;
                }
            } else {
                int64_t vc;
                if (j->include_pad) {
                    int64_t a, b;
                    k_range(oh * sh, dh, KH, H + ph + j->pad_end[1], &a, &b);
                    vc = b - a;
                } else {
                    vc = kh1 - kh0;
                }
                const float inv_h = 1.0f / (float)vc;
                for (int64_t ow = 0; ow < OW; ow++) {
                    const float *w = row + ow * sw;
                    float acc = w[0];
                    for (int64_t kw = 1; kw < KW; kw++) acc += w[kw * dw];
                    y[ow] = acc * (inv_h * s->inv_w[ow]);
                }
            }
        }
    }
}

/* Runs the separable path when it applies (float32 2-D or 1-D windows,
 * no Indices); *done tells whether it did. */
static fwd_status pool_fast(fwd_kernel_ctx *k, const pool_job *j, int64_t planes, bool is_max,
                            bool *done)
{
    const nn_geom3 *g = &j->g;
    *done = false;
    if (k->in[0]->dtype != FWD_FLOAT32 || j->idx || g->in[0] != 1 || g->k[0] != 1 || g->out[0] != 1)
        return FWD_OK;
    const int64_t OW = g->out[2], W = g->in[2], KW = g->k[2], pw = g->p[2];
    if (planes * g->out_size == 0 || g->k[1] < 1 || KW < 1) return FWD_OK;
    sep_job s = {j, is_max, (OW - 1) * g->s[2] + (KW - 1) * g->d[2] + 1, NULL, 0};
    if (s.wp < pw + W) s.wp = pw + W;
    float *inv = NULL;
    if (!is_max) {
        inv = fwd_kernel_scratch((fwd_kernel_ctx *)k, sizeof(float) * (size_t)OW);
        if (!inv) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
        for (int64_t ow = 0; ow < OW; ow++) {
            int64_t a, b;
            if (j->include_pad)
                k_range(ow * g->s[2], g->d[2], KW, W + pw + j->pad_end[2], &a, &b);
            else
                k_range(ow * g->s[2] - pw, g->d[2], KW, W, &a, &b);
            inv[ow] = b > a ? 1.0f / (float)(b - a) : 0.0f;
        }
        s.inv_w = inv;
    }
    int64_t per_plane = g->out_size * (KW + 1) + g->in_size;
    fwd_parallel_for(planes, 30000 / (per_plane + 1) + 1, sep_planes, &s);
    if (s.failed) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory for a pooling row");
    *done = true;
    return FWD_OK;
}

static fwd_status max_pool_native(fwd_kernel_ctx *k)
{
    pool_job j;
    int64_t planes;
    FWD_TRY(pool_setup(k, &j, &planes));
    ir_tensor *ind = nn_out(k, 1);
    j.idx = ind && ind->data ? ind->data : NULL;
    j.col_major = ir_attr_int(k->node, "storage_order", 0) == 1;
    bool done;
    FWD_TRY(pool_fast(k, &j, planes, true, &done));
    if (done) return FWD_OK;
    fwd_range_fn fn = NULL;
    switch (k->in[0]->dtype) {
    case FWD_FLOAT32: fn = max_pool_f32; break;
    case FWD_UINT8: fn = max_pool_u8; break;
    case FWD_INT8: fn = max_pool_i8; break;
    default:
        return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "dtype %s not supported",
                                fwd_dtype_name(k->in[0]->dtype));
    }
    fwd_parallel_for(planes, pool_grain(&j), fn, &j);
    return FWD_OK;
}

fwd_status cpu_max_pool(fwd_kernel_ctx *k)
{
    FWD_TRY(nn_need_inputs(k, 1));
    if (nn_is_wide_or_half(k->in[0]->dtype)) return nn_run_as_f32(k, max_pool_native);
    return max_pool_native(k);
}

/* Average and Lp pools (float32). */
static void avg_lp_planes(void *arg, int64_t p0, int64_t p1)
{
    const pool_job *j = arg;
    const nn_geom3 *g = &j->g;
    const int64_t D = g->in[0], H = g->in[1], W = g->in[2];
    for (int64_t pl = p0; pl < p1; pl++) {
        const float *x = (const float *)j->x + pl * g->in_size;
        float *y = (float *)j->y + pl * g->out_size;
        int64_t o = 0;
        for (int64_t od = 0; od < g->out[0]; od++) {
            int64_t sd = od * g->s[0] - g->p[0], kd0, kd1, pd0, pd1;
            k_range(sd, g->d[0], g->k[0], D, &kd0, &kd1);
            k_range(sd + g->p[0], g->d[0], g->k[0], D + g->p[0] + j->pad_end[0], &pd0, &pd1);
            for (int64_t oh = 0; oh < g->out[1]; oh++) {
                int64_t sh = oh * g->s[1] - g->p[1], kh0, kh1, ph0, ph1;
                k_range(sh, g->d[1], g->k[1], H, &kh0, &kh1);
                k_range(sh + g->p[1], g->d[1], g->k[1], H + g->p[1] + j->pad_end[1], &ph0, &ph1);
                for (int64_t ow = 0; ow < g->out[2]; ow++, o++) {
                    int64_t sw = ow * g->s[2] - g->p[2], kw0, kw1, pw0, pw1;
                    k_range(sw, g->d[2], g->k[2], W, &kw0, &kw1);
                    float acc = 0.0f;
                    for (int64_t kd = kd0; kd < kd1; kd++)
                        for (int64_t kh = kh0; kh < kh1; kh++) {
                            const float *row = x + ((sd + kd * g->d[0]) * H + sh + kh * g->d[1]) * W;
                            const int64_t dw = g->d[2];
                            if (j->p == 0) {
                                for (int64_t kw = kw0; kw < kw1; kw++) acc += row[sw + kw * dw];
                            } else if (j->p == 1) {
                                for (int64_t kw = kw0; kw < kw1; kw++) acc += fabsf(row[sw + kw * dw]);
                            } else if (j->p == 2) {
                                for (int64_t kw = kw0; kw < kw1; kw++) {
                                    float v = row[sw + kw * dw];
                                    acc += v * v;
                                }
                            } else {
                                for (int64_t kw = kw0; kw < kw1; kw++)
                                    acc += powf(fabsf(row[sw + kw * dw]), (float)j->p);
                            }
                        }
                    if (j->p == 0) {
                        int64_t count;
                        if (j->include_pad) {
                            k_range(sw + g->p[2], g->d[2], g->k[2], W + g->p[2] + j->pad_end[2], &pw0, &pw1);
                            count = (pd1 - pd0) * (ph1 - ph0) * (pw1 - pw0);
                        } else {
                            count = (kd1 - kd0) * (kh1 - kh0) * (kw1 - kw0);
                        }
                        y[o] = count > 0 ? acc / (float)count : 0.0f;
                    } else if (j->p == 1) {
                        y[o] = acc;
                    } else if (j->p == 2) {
                        y[o] = sqrtf(acc);
                    } else {
                        y[o] = powf(acc, 1.0f / (float)j->p);
                    }
                }
            }
        }
    }
}

static fwd_status avg_pool_f32(fwd_kernel_ctx *k)
{
    pool_job j;
    int64_t planes;
    FWD_TRY(pool_setup(k, &j, &planes));
    j.include_pad = ir_attr_int(k->node, "count_include_pad", 0) != 0;
    bool done;
    FWD_TRY(pool_fast(k, &j, planes, false, &done));
    if (done) return FWD_OK;
    fwd_parallel_for(planes, pool_grain(&j), avg_lp_planes, &j);
    return FWD_OK;
}

static int64_t lp_order(const fwd_kernel_ctx *k, fwd_status *s)
{
    int64_t p = ir_attr_int(k->node, "p", 2);
    *s = FWD_OK;
    if (p < 1 || p > 64) *s = cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "p must be in [1, 64], got %lld", (long long)p);
    return p;
}

static fwd_status lp_pool_f32(fwd_kernel_ctx *k)
{
    pool_job j;
    int64_t planes;
    fwd_status s;
    int64_t p = lp_order(k, &s);
    FWD_TRY(s);
    FWD_TRY(pool_setup(k, &j, &planes));
    j.p = p;
    fwd_parallel_for(planes, pool_grain(&j), avg_lp_planes, &j);
    return FWD_OK;
}

static fwd_status float_only(fwd_kernel_ctx *k, cpu_kernel_fn fn)
{
    FWD_TRY(nn_need_inputs(k, 1));
    fwd_dtype dt = k->in[0]->dtype;
    if (dt == FWD_FLOAT32) return fn(k);
    if (nn_is_wide_or_half(dt)) return nn_run_as_f32(k, fn);
    return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "dtype %s not supported", fwd_dtype_name(dt));
}

fwd_status cpu_average_pool(fwd_kernel_ctx *k) { return float_only(k, avg_pool_f32); }
fwd_status cpu_lp_pool(fwd_kernel_ctx *k) { return float_only(k, lp_pool_f32); }

/* ---- global pools ---- */

typedef struct global_job {
    const float *x;
    float *y;
    int64_t plane;
    int kind; /* 0 avg, 1 max, 2 lp */
    int64_t p;
} global_job;

static void global_planes(void *arg, int64_t p0, int64_t p1)
{
    const global_job *j = arg;
    for (int64_t pl = p0; pl < p1; pl++) {
        const float *x = j->x + pl * j->plane;
        float r;
        if (j->kind == 1) {
            r = j->plane ? x[0] : -INFINITY;
            for (int64_t i = 1; i < j->plane; i++) r = x[i] > r ? x[i] : r;
        } else if (j->kind == 0) {
            float acc[8] = {0};
            int64_t i = 0;
            for (; i + 8 <= j->plane; i += 8)
                for (int l = 0; l < 8; l++) acc[l] += x[i + l];
            float s = 0.0f;
            for (; i < j->plane; i++) s += x[i];
            for (int l = 0; l < 8; l++) s += acc[l];
            r = j->plane ? s / (float)j->plane : 0.0f;
        } else {
            double s = 0.0;
            for (int64_t i = 0; i < j->plane; i++) s += pow(fabs((double)x[i]), (double)j->p);
            r = (float)pow(s, 1.0 / (double)j->p);
        }
        j->y[pl] = r;
    }
}

static fwd_status global_run(fwd_kernel_ctx *k, int kind)
{
    const ir_tensor *x = k->in[0];
    if (x->shape.rank < 3) return cpu_kernel_error(k, FWD_ERR_SHAPE, "input X needs rank >= 3");
    global_job j = {x->data, k->out[0]->data, 1, kind, 2};
    for (int i = 2; i < x->shape.rank; i++) j.plane *= x->shape.dims[i];
    if (kind == 2) {
        fwd_status s;
        j.p = lp_order(k, &s);
        FWD_TRY(s);
    }
    int64_t planes = x->shape.dims[0] * x->shape.dims[1];
    fwd_parallel_for(planes, 32768 / (j.plane + 1) + 1, global_planes, &j);
    return FWD_OK;
}

static fwd_status global_avg_f32(fwd_kernel_ctx *k) { return global_run(k, 0); }
static fwd_status global_max_f32(fwd_kernel_ctx *k) { return global_run(k, 1); }
static fwd_status global_lp_f32(fwd_kernel_ctx *k) { return global_run(k, 2); }

fwd_status cpu_global_average_pool(fwd_kernel_ctx *k) { return float_only(k, global_avg_f32); }
fwd_status cpu_global_max_pool(fwd_kernel_ctx *k) { return float_only(k, global_max_f32); }
fwd_status cpu_global_lp_pool(fwd_kernel_ctx *k) { return float_only(k, global_lp_f32); }

/* ---- MaxUnpool ---- */

/* Indices refer to the tensor MaxPool read, whose spatial size follows
 * from kernel, strides and pads; an explicit output_shape may differ, and
 * then each index is moved to the same coordinates in the output. */
static fwd_status max_unpool_f32(fwd_kernel_ctx *k)
{
    FWD_TRY(nn_need_inputs(k, 2));
    const ir_tensor *x = k->in[0], *ind = k->in[1];
    ir_tensor *y = k->out[0];
    if (ind->dtype != FWD_INT64) return cpu_kernel_error(k, FWD_ERR_DTYPE, "indices I must be int64");
    if (!ir_shape_equal(&ind->shape, &x->shape))
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "indices I must have the shape of X");
    int rank = x->shape.rank, nsp = rank - 2;
    if (rank < 3 || y->shape.rank != rank) return cpu_kernel_error(k, FWD_ERR_SHAPE, "input X needs rank >= 3");
    nn_window w;
    nn_msg msg;
    fwd_status st = nn_window_init(&w, k->node, nsp, NULL, false, &msg);
    if (st != FWD_OK) return cpu_kernel_error(k, st, "%s", msg.text);
    int64_t def[IR_MAX_RANK], def_plane = 1, out_plane = 1;
    bool same = true;
    for (int i = 0; i < nsp; i++) {
        int64_t d;
        if (__builtin_mul_overflow(x->shape.dims[i + 2] - 1, w.stride[i], &d) ||
            __builtin_add_overflow(d, w.kernel[i] - w.pad_begin[i] - w.pad_end[i], &def[i]) ||
            def[i] > ((int64_t)1 << 50) / def_plane)
            return cpu_kernel_error(k, FWD_ERR_SHAPE, "the unpooled size of axis %d is too large", i + 2);
        if (def[i] < 1) return cpu_kernel_error(k, FWD_ERR_SHAPE, "pads exceed the unpooled size");
        def_plane *= def[i];
        out_plane *= y->shape.dims[i + 2];
        same = same && def[i] == y->shape.dims[i + 2];
    }
    int64_t planes = x->shape.dims[0] * x->shape.dims[1];
    size_t n = ir_tensor_numel(x), total = ir_tensor_numel(y);
    const float *xd = x->data;
    const int64_t *id = ind->data;
    float *yd = y->data;
    if (total) memset(yd, 0, total * sizeof(float)); /* (no buffer when empty) */
    for (size_t i = 0; i < n; i++) {
        int64_t v = id[i], at;
        if (v < 0 || v >= planes * def_plane)
            return cpu_kernel_error(k, FWD_ERR_RUNTIME, "index %lld out of range [0, %lld) in input 'I'",
                                    (long long)v, (long long)(planes * def_plane));
        if (same) {
            at = v;
        } else {
            int64_t rem = v % def_plane, off = 0, mul = 1;
            for (int d = nsp - 1; d >= 0; d--) {
                int64_t c = rem % def[d];
                rem /= def[d];
                if (c >= y->shape.dims[d + 2])
                    return cpu_kernel_error(k, FWD_ERR_RUNTIME, "index %lld falls outside output_shape",
                                            (long long)v);
                off += c * mul;
                mul *= y->shape.dims[d + 2];
            }
            at = (v / def_plane) * out_plane + off;
        }
        yd[at] = xd[i];
    }
    return FWD_OK;
}

fwd_status cpu_max_unpool(fwd_kernel_ctx *k) { return float_only(k, max_unpool_f32); }

/*
 * Conv and ConvTranspose (float32; float16/float64 through conversion).
 *
 * Conv (and FusedConv, fused_linear.c): per image and group, the filters
 * times the im2col matrix on Forward's GEMM (sgemm.h), with the bias, the
 * residual and the activation in its epilogue. The im2col matrix is
 * packed straight into the GEMM's panels, tile by tile of output columns
 * (each task its own tile, sized for L2), or whole for small images; 1x1
 * stride-1 unpadded convs use the input as B directly. Weights the builder
 * packed (cpu_prepack.h) are used as they are. Depthwise convs (one input
 * channel per group) run a direct kernel, since a GEMM with one row is
 * wasteful. 3x3 stride-1 FusedConvs may run Winograd (conv_winograd.c).
 * ConvTranspose: sgemm into columns, then col2im scatter-add.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_prepack.h"
#include "backend/cpu/nn_internal.h"

/* Largest im2col buffer we allocate. */
#define COL_MAX_BYTES ((int64_t)1 << 30)
/* Target size (floats) of one packed im2col tile: in L2 with the filters. */
#define TILE_FLOATS ((int64_t)128 << 10)
/* Whole im2col matrices up to this size (floats) are packed once and
 * multiplied as one GEMM, which then splits along the weights. */
#define WHOLE_FLOATS ((int64_t)256 << 10)

/* A weight transformed for F(4x4) (CPU_WINOGRAD4_ATTR) as a tensor of
 * its logical shape (CPU_W_SHAPE_ATTR) in *logical; false when the node
 * has no such weight, an error when its layout is not valid. */
static fwd_status wino4_logical(const fwd_kernel_ctx *k, const ir_tensor *w, ir_tensor *logical, bool *is)
{
    *is = false;
    if (!k->node || !ir_node_attr(k->node, CPU_WINOGRAD4_ATTR)) return FWD_OK;
    int n = 0;
    const int64_t *dims = ir_attr_ints(k->node, CPU_W_SHAPE_ATTR, &n);
    int64_t mr = ir_attr_int(k->node, CPU_WINOGRAD4_ATTR, 0);
    if (!dims || n != 4 || mr < 1 || dims[0] < 1 || dims[0] % mr != 0 || dims[2] != 3 || dims[3] != 3 ||
        w->shape.rank != 3 || w->shape.dims[0] != 36 || w->shape.dims[1] != dims[0] ||
        w->shape.dims[2] != dims[1] || w->dtype != FWD_FLOAT32)
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "Winograd F(4x4) weight without a valid layout");
    *logical = *w;
    logical->shape.rank = 4;
    memcpy(logical->shape.dims, dims, sizeof(int64_t) * 4);
    *is = true;
    return FWD_OK;
}

fwd_status nn_conv_prepare(const fwd_kernel_ctx *k, const ir_tensor *x, const ir_tensor *w,
                           const ir_tensor *b, const ir_tensor *y, nn_conv_shape *s)
{
    ir_tensor logical;
    bool transformed;
    FWD_TRY(wino4_logical(k, w, &logical, &transformed));
    if (transformed) w = &logical;
    int rank = x->shape.rank;
    if (rank < 3) return cpu_kernel_error(k, FWD_ERR_SHAPE, "input X needs rank >= 3, got %d", rank);
    if (rank > 5) return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "more than 3 spatial dims");
    if (w->shape.rank != rank)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "weight W has rank %d, X has rank %d",
                                w->shape.rank, rank);
    s->n = x->shape.dims[0];
    s->c = x->shape.dims[1];
    s->m = w->shape.dims[0];
    s->group = ir_attr_int(k->node, "group", 1);
    if (s->group < 1 || s->c % s->group || s->m % s->group)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "group %lld does not divide channels %lld and filters %lld",
                                (long long)s->group, (long long)s->c, (long long)s->m);
    s->cg = s->c / s->group;
    s->mg = s->m / s->group;
    if (w->shape.dims[1] != s->cg)
        return cpu_kernel_error(k, FWD_ERR_SHAPE,
                                "weight has %lld input channels, expected %lld (channels / group)",
                                (long long)w->shape.dims[1], (long long)s->cg);
    if (b && (b->shape.rank != 1 || b->shape.dims[0] != s->m))
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "bias must have shape [%lld]", (long long)s->m);
    FWD_TRY(nn_window_for(k, x, w->shape.dims + 2, false, &s->w));
    nn_geom3_from(&s->w, &s->g);
    if (y->shape.rank != rank || y->shape.dims[1] != s->m ||
        (int64_t)ir_tensor_numel(y) != s->n * s->m * s->g.out_size)
        return cpu_kernel_error(k, FWD_ERR_INTERNAL, "output shape mismatch");
    return FWD_OK;
}

/* ---- depthwise (2-D or 1-D, one input channel per group) ----
 * Each input plane is copied into a zero-padded scratch plane covering
 * every window, so the inner loops need no bounds checks; 3x3 windows
 * (MobileNet, EfficientNet) get an unrolled one-pass kernel. */

typedef struct dw_job {
    const nn_conv_shape *s;
    const float *x, *w, *b;
    const nn_conv_fuse *f;
    float *y;
    int64_t hp, wp; /* padded plane size */
    float *planes;  /* one padded plane per call of dw_planes */
    _Atomic int next_plane;
} dw_job;

static void dw_pad_plane(const dw_job *j, const float *x, float *xp)
{
    const nn_geom3 *g = &j->s->g;
    const int64_t H = g->in[1], W = g->in[2], pt = g->p[1], pl = g->p[2];
    for (int64_t r = 0; r < j->hp; r++) {
        float *dst = xp + r * j->wp;
        int64_t ih = r - pt;
        if (ih < 0 || ih >= H) {
            memset(dst, 0, sizeof(float) * (size_t)j->wp);
            continue;
        }
        int64_t c0 = pl, c1 = pl + W; /* padded columns holding input */
        if (c1 > j->wp) c1 = j->wp;
        for (int64_t c = 0; c < c0 && c < j->wp; c++) dst[c] = 0.0f;
        if (c1 > c0) memcpy(dst + c0, x + ih * W, sizeof(float) * (size_t)(c1 - c0));
        for (int64_t c = c1 > c0 ? c1 : c0; c < j->wp; c++) dst[c] = 0.0f;
    }
}

static void dw_3x3(const float *xp, int64_t wp, const float *w, float bias, float *y, int64_t OH,
                   int64_t OW, int64_t sh, int64_t sw)
{
    const float w00 = w[0], w01 = w[1], w02 = w[2], w10 = w[3], w11 = w[4], w12 = w[5];
    const float w20 = w[6], w21 = w[7], w22 = w[8];
    for (int64_t oh = 0; oh < OH; oh++) {
        const float *r0 = xp + oh * sh * wp, *r1 = r0 + wp, *r2 = r1 + wp;
        float *yr = y + oh * OW;
        if (sw == 1) {
            for (int64_t ow = 0; ow < OW; ow++)
                yr[ow] = bias + w00 * r0[ow] + w01 * r0[ow + 1] + w02 * r0[ow + 2] + w10 * r1[ow] +
                         w11 * r1[ow + 1] + w12 * r1[ow + 2] + w20 * r2[ow] + w21 * r2[ow + 1] +
                         w22 * r2[ow + 2];
        } else {
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t i = ow * sw;
                yr[ow] = bias + w00 * r0[i] + w01 * r0[i + 1] + w02 * r0[i + 2] + w10 * r1[i] +
                         w11 * r1[i + 1] + w12 * r1[i + 2] + w20 * r2[i] + w21 * r2[i + 1] +
                         w22 * r2[i + 2];
            }
        }
    }
}

static void dw_generic(const float *xp, int64_t wp, const float *w, float bias, float *y,
                       const nn_geom3 *g)
{
    const int64_t OH = g->out[1], OW = g->out[2], KH = g->k[1], KW = g->k[2];
    const int64_t sh = g->s[1], sw = g->s[2], dh = g->d[1], dw = g->d[2];
    for (int64_t oh = 0; oh < OH; oh++) {
        float *yr = y + oh * OW;
        for (int64_t ow = 0; ow < OW; ow++) yr[ow] = bias;
        for (int64_t kh = 0; kh < KH; kh++) {
            const float *xr = xp + (oh * sh + kh * dh) * wp;
            for (int64_t kw = 0; kw < KW; kw++) {
                const float wv = w[kh * KW + kw], *xs = xr + kw * dw;
                if (sw == 1)
                    for (int64_t ow = 0; ow < OW; ow++) yr[ow] += wv * xs[ow];
                else
                    for (int64_t ow = 0; ow < OW; ow++) yr[ow] += wv * xs[ow * sw];
            }
        }
    }
}

static void dw_planes(void *arg, int64_t p0, int64_t p1)
{
    dw_job *j = arg;
    const nn_geom3 *g = &j->s->g;
    /* fwd_parallel_for makes at most fwd_parallel_max_calls() calls */
    float *xp = j->planes + (size_t)atomic_fetch_add(&j->next_plane, 1) * (size_t)(j->hp * j->wp);
    bool k3 = g->k[1] == 3 && g->k[2] == 3 && g->d[1] == 1 && g->d[2] == 1;
    for (int64_t p = p0; p < p1; p++) {
        int64_t n = p / j->s->m, m = p % j->s->m, c = m / j->s->mg;
        dw_pad_plane(j, j->x + (n * j->s->c + c) * g->in_size, xp);
        const float *w = j->w + m * g->k_size;
        float bias = j->b ? j->b[m] : 0.0f, *y = j->y + p * g->out_size;
        if (k3)
            dw_3x3(xp, j->wp, w, bias, y, g->out[1], g->out[2], g->s[1], g->s[2]);
        else
            dw_generic(xp, j->wp, w, bias, y, g);
        if (j->f) { /* residual and activation while the plane is in cache */
            nn_epilogue e = nn_epilogue_plain();
            if (j->f->z) e.add[0] = (nn_addend){j->f->z + p * g->out_size, 0, 1};
            e.act = j->f->act;
            e.act_a = j->f->act_a;
            e.act_b = j->f->act_b;
            nn_epilogue_apply(&e, y, g->out_size, 1, g->out_size);
        }
    }
}

static fwd_status conv_depthwise(const fwd_kernel_ctx *k, const nn_conv_shape *s, const float *x,
                                 const float *w, const float *b, const nn_conv_fuse *f, float *y)
{
    const nn_geom3 *g = &s->g;
    dw_job j = {s, x, w, b, f, y, 0, 0, NULL, 0};
    j.hp = (g->out[1] - 1) * g->s[1] + (g->k[1] - 1) * g->d[1] + 1;
    j.wp = (g->out[2] - 1) * g->s[2] + (g->k[2] - 1) * g->d[2] + 1;
    j.planes = fwd_kernel_scratch((fwd_kernel_ctx *)k, sizeof(float) * (size_t)(j.hp * j.wp) *
                                                           (size_t)fwd_parallel_max_calls());
    if (!j.planes) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory for padded planes");
    int64_t per_plane = g->out_size * g->k_size + j.hp * j.wp;
    fwd_parallel_for(s->n * s->m, 30000 / (per_plane + 1) + 1, dw_planes, &j);
    return FWD_OK;
}

/* ---- general: im2col packed into GEMM panels ---- */

/* The epilogue of image n, group gi: bias per output channel (row), the
 * residual z as a matrix, the activation. */
nn_epilogue nn_conv_epilogue(const nn_conv_shape *s, const float *b, const nn_conv_fuse *f, int64_t n,
                             int64_t gi)
{
    nn_epilogue e = nn_epilogue_plain();
    int64_t P = s->g.out_size;
    if (b) e.add[0] = (nn_addend){b + gi * s->mg, 1, 0};
    if (f && f->z) e.add[1] = (nn_addend){f->z + (n * s->m + gi * s->mg) * P, P, 1};
    if (f) {
        e.act = f->act;
        e.act_a = f->act_a;
        e.act_b = f->act_b;
    }
    return e;
}

typedef struct conv_tile_job {
    const nn_conv_shape *s;
    const float *x, *w, *wp, *b;
    const nn_conv_fuse *f;
    float *y;
    int64_t K, P, tile, ntiles; /* tile: the largest tile's columns */
    _Atomic int failed;
} conv_tile_job;

/* Each task: one column tile of one image and group; its im2col tile is
 * packed into panels in scratch (sized for L2) and multiplied by all the
 * group's filters. */
static void conv_tiles(void *arg, int64_t t0, int64_t t1)
{
    conv_tile_job *j = arg;
    const nn_conv_shape *s = j->s;
    float *bp = nn_scratch(1, (size_t)nn_packed_b_floats(j->K, j->tile));
    if (!bp) {
        j->failed = 1;
        return;
    }
    for (int64_t t = t0; t < t1; t++) {
        int64_t ig = t / j->ntiles, ti = t % j->ntiles, n = ig / s->group, gi = ig % s->group;
        /* tiles of whole panels, as even as the panels allow */
        int64_t panels = (j->P + NN_NR - 1) / NN_NR;
        int64_t p0 = ti * panels / j->ntiles * NN_NR, p1 = (ti + 1) * panels / j->ntiles * NN_NR;
        if (p1 > j->P) p1 = j->P;
        if (p0 >= p1) continue;
        if (!nn_im2col_pack_f32(j->x + (n * s->c + gi * s->cg) * s->g.in_size, s->cg, &s->w, p0, p1, bp)) {
            j->failed = 1;
            return;
        }
        nn_epilogue e = nn_conv_epilogue(s, j->b, j->f, n, gi);
        e = nn_epilogue_at(&e, 0, p0);
        if (!nn_gemm_packed(s->mg, p1 - p0, j->K, j->w + gi * s->mg * j->K, j->K, j->wp, bp,
                            j->y + (n * s->m + gi * s->mg) * j->P + p0, j->P, &e)) {
            j->failed = 1;
            return;
        }
    }
}

typedef struct conv_pack_job {
    const nn_conv_shape *s;
    const float *x;
    float *bp;
    int64_t cols; /* per task, a multiple of NN_NR */
    _Atomic int failed;
} conv_pack_job;

static void conv_pack_tasks(void *arg, int64_t t0, int64_t t1)
{
    conv_pack_job *j = arg;
    int64_t P = j->s->g.out_size, K = j->s->cg * j->s->g.k_size;
    for (int64_t t = t0; t < t1; t++) {
        int64_t p0 = t * j->cols, p1 = p0 + j->cols < P ? p0 + j->cols : P;
        if (!nn_im2col_pack_f32(j->x, j->s->cg, &j->s->w, p0, p1, j->bp + p0 * K)) j->failed = 1;
    }
}

/* How a node's F(4x4)-transformed weight runs with geometry s. */
typedef enum wino4_mode {
    WINO4_NONE,     /* not such a node */
    WINO4_PACKED,   /* Winograd on the weights as stored */
    WINO4_ROWMAJOR, /* Winograd, the weights packed for another CPU: unpacked per run */
    WINO4_DIRECT    /* the geometry does not qualify: W recovered per run */
} wino4_mode;

static wino4_mode wino4_mode_of(const fwd_kernel_ctx *k, const nn_conv_shape *s)
{
    int64_t mr = k->node ? ir_attr_int(k->node, CPU_WINOGRAD4_ATTR, 0) : 0;
    if (mr == 0) return WINO4_NONE;
    if (!nn_winograd_applies(s)) return WINO4_DIRECT;
    return mr == nn_gemm_tile_rows() ? WINO4_PACKED : WINO4_ROWMAJOR;
}

/* How a node's phase-plane weight (CPU_PHASE_*_ATTR) runs with geometry
 * s, as wino4_mode. */
typedef enum phase_mode { PHASE_NONE, PHASE_PACKED, PHASE_ROWMAJOR, PHASE_DIRECT } phase_mode;

static phase_mode phase_mode_of(const fwd_kernel_ctx *k, const nn_conv_shape *s)
{
    if (!k->node) return PHASE_NONE;
    int64_t mr = ir_attr_int(k->node, CPU_PHASE_TAPS_ATTR, 0);
    if (mr == 0) mr = ir_attr_int(k->node, CPU_PHASE_GATHER_ATTR, 0);
    if (mr == 0) return PHASE_NONE;
    if (!nn_conv_phase_applies(s)) return PHASE_DIRECT;
    return mr == nn_gemm_tile_rows() ? PHASE_PACKED : PHASE_ROWMAJOR;
}

fwd_status nn_conv_f32(const fwd_kernel_ctx *k, const nn_conv_shape *s, const float *x,
                       const float *w, const float *b, const nn_conv_fuse *f, float *y)
{
    const nn_geom3 *g = &s->g;
    int64_t P = g->out_size, K = s->cg * g->k_size;
    const float *wp = f && s->group == 1 ? f->wp : NULL;
    if (s->n * s->m * P == 0) return FWD_OK;
    wino4_mode w4 = wino4_mode_of(k, s);
    if (w4 == WINO4_PACKED || w4 == WINO4_ROWMAJOR)
        return nn_conv_winograd4(k, s, x, w, w4 == WINO4_PACKED, b, f, y);
    phase_mode ph = phase_mode_of(k, s);
    if (ph == PHASE_PACKED || ph == PHASE_ROWMAJOR)
        return nn_conv_phase(k, s, x, w, ph == PHASE_PACKED, ir_node_attr(k->node, CPU_PHASE_GATHER_ATTR) != NULL,
                             b, f, y);
    if (s->cg == 1 && s->group > 1 && s->w.nsp <= 2) return conv_depthwise(k, s, x, w, b, f, y);
    if (f && f->wtp && s->group == 1) return nn_conv_transposed(k, s, x, f->wtp, b, f, y);
    if (K > INT32_MAX || P > INT32_MAX || s->mg > INT32_MAX)
        return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "convolution too large");
    bool pointwise = g->k_size == 1, strided = false;
    for (int i = 0; i < s->w.nsp; i++) {
        if (s->w.pad_begin[i] != 0 || s->w.pad_end[i] != 0) pointwise = false;
        strided |= s->w.stride[i] != 1;
    }
    if (pointwise || K == 0) {
        /* the input planes are B as they are (K == 0: no input channels);
         * strided: their sampled pixels, gathered once */
        int64_t in_size = g->in_size;
        if (pointwise && strided && K > 0) {
            x = nn_conv_subsample(k, s, x);
            if (!x) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
            in_size = P;
        }
        for (int64_t n = 0; n < s->n; n++)
            for (int64_t gi = 0; gi < s->group; gi++) {
                nn_gemm_args ga = {s->mg, P, K, w + gi * s->mg * K, K, false,
                                   x + (n * s->c + gi * s->cg) * in_size, P, false, NULL,
                                   y + (n * s->m + gi * s->mg) * P, P, nn_conv_epilogue(s, b, f, n, gi), wp, NULL, NULL};
                if (!nn_gemm(&ga)) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
            }
        return FWD_OK;
    }
    /* Column tiles of at most TILE_FLOATS packed floats, a multiple of 16
     * columns, evened out over P. */
    int64_t nt = fwd_num_threads();
    int64_t tile = TILE_FLOATS / K / NN_NR * NN_NR;
    if (tile < 4 * NN_NR) tile = 4 * NN_NR; /* amortise the filters' passes */
    int64_t ntiles = (P + tile - 1) / tile;
    /* as many tiles per thread (for one image and group), split evenly in
     * panels */
    int64_t panels = (P + NN_NR - 1) / NN_NR;
    if (s->n * s->group == 1 && ntiles % nt) ntiles += nt - ntiles % nt;
    if (ntiles > panels) ntiles = panels;
    tile = (panels + ntiles - 1) / ntiles * NN_NR;
    int64_t ntasks = s->n * s->group * ntiles;
    bool whole = nn_packed_b_floats(K, P) <= WHOLE_FLOATS;
    if (!whole && (ntasks >= 2 * nt || nt == 1)) {
        conv_tile_job j = {s, x, w, wp, b, f, y, K, P, tile, ntiles, 0};
        fwd_parallel_for(ntasks, 1, conv_tiles, &j);
        if (j.failed) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory for im2col");
        return FWD_OK;
    }
    /* Few tiles (small images): pack the whole im2col once, then a GEMM
     * split over rows and columns. */
    size_t bytes = (size_t)nn_packed_b_floats(K, P) * sizeof(float);
    if ((int64_t)bytes > COL_MAX_BYTES)
        return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "im2col buffer of %zu bytes is too large", bytes);
    float *bp = nn_scratch(4, bytes / sizeof(float));
    if (!bp) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory for im2col");
    bool ok = true;
    for (int64_t n = 0; n < s->n && ok; n++) {
        for (int64_t gi = 0; gi < s->group && ok; gi++) {
            conv_pack_job pj = {s, x + (n * s->c + gi * s->cg) * g->in_size, bp, 0, 0};
            int64_t panels = (P + NN_NR - 1) / NN_NR;
            pj.cols = (panels + 2 * nt - 1) / (2 * nt) * NN_NR;
            fwd_parallel_for((P + pj.cols - 1) / pj.cols, 1, conv_pack_tasks, &pj);
            ok = !pj.failed;
            nn_gemm_args ga = {s->mg, P, K, w + gi * s->mg * K, K, false, NULL, 0, false, bp,
                               y + (n * s->m + gi * s->mg) * P, P, nn_conv_epilogue(s, b, f, n, gi), wp, NULL, NULL};
            if (ok) ok = nn_gemm(&ga);
        }
    }
    if (!ok) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory for im2col");
    return FWD_OK;
}

/* An F(4x4)-transformed weight u as mode w4 reads it: u itself, u's
 * matrices unpacked to row-major, or W recovered from them. */
static fwd_status wino4_weight(const fwd_kernel_ctx *k, const nn_conv_shape *s, wino4_mode w4,
                               const float *u, const float **data, float **unpacked)
{
    if (w4 == WINO4_PACKED) return FWD_OK;
    int64_t mr = ir_attr_int(k->node, CPU_WINOGRAD4_ATTR, 0), m = s->m, c = s->c, per = m * c;
    float *buf = malloc(sizeof(float) * (size_t)(36 * per + (w4 == WINO4_DIRECT ? 9 * per : 0) + 1));
    if (!buf) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory unpacking the weight");
    for (int xi = 0; xi < 36; xi++)
        for (int64_t i = 0; i < m; i++)
            for (int64_t p = 0; p < c; p++)
                buf[xi * per + i * c + p] = u[xi * per + (i / mr) * mr * c + p * mr + i % mr];
    *unpacked = buf;
    *data = buf;
    if (w4 == WINO4_DIRECT) {
        nn_winograd4_unweights(buf, m, c, buf + 36 * per);
        *data = buf + 36 * per;
    }
    return FWD_OK;
}

/* A weight laid out for the phase planes (CPU_PHASE_*_ATTR): as it is,
 * unpacked to row-major (packed for another CPU's tile rows), or W
 * recovered when this run's geometry does not qualify. */
static fwd_status phase_weight(const fwd_kernel_ctx *k, const nn_conv_shape *s, const ir_tensor *w,
                               const float **data, float **unpacked)
{
    bool gather = ir_node_attr(k->node, CPU_PHASE_GATHER_ATTR) != NULL;
    int64_t mr = ir_attr_int(k->node, gather ? CPU_PHASE_GATHER_ATTR : CPU_PHASE_TAPS_ATTR, 0);
    int64_t m = s->m, c = s->cg, taps = s->g.k_size;
    if (mr < 1 || s->group != 1 || m % mr != 0 || w->dtype != FWD_FLOAT32 ||
        w->nbytes < sizeof(float) * (size_t)(m * c * taps))
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "phase-plane weight does not fit");
    phase_mode mode = phase_mode_of(k, s);
    if (mode == PHASE_PACKED) return FWD_OK; /* *data: w as stored */
    float *u = malloc(sizeof(float) * (size_t)(2 * m * c * taps + 1));
    if (!u) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory unpacking the weight");
    const float *src = w->data;
    int64_t kk = gather ? c * taps : c, per = gather ? m * c * taps : m * c;
    for (int64_t t = 0; t < (gather ? 1 : taps); t++)
        for (int64_t i = 0; i < m; i++)
            for (int64_t p = 0; p < kk; p++)
                u[t * per + i * kk + p] = src[t * per + (i / mr) * mr * kk + p * mr + i % mr];
    *unpacked = u;
    *data = u;
    if (mode == PHASE_ROWMAJOR) return FWD_OK;
    nn_conv_phase_unweights(u, m, c, taps, gather, u + m * c * taps);
    *data = u + m * c * taps;
    return FWD_OK;
}

fwd_status nn_conv_weight(const fwd_kernel_ctx *k, const nn_conv_shape *s, const ir_tensor *w,
                          const float **data, nn_conv_fuse *f, float **unpacked)
{
    *data = w->data;
    f->wp = f->wtp = NULL;
    *unpacked = NULL;
    wino4_mode w4 = wino4_mode_of(k, s);
    if (w4 != WINO4_NONE) return wino4_weight(k, s, w4, w->data, data, unpacked);
    if (ir_node_attr(k->node, CPU_PHASE_TAPS_ATTR) || ir_node_attr(k->node, CPU_PHASE_GATHER_ATTR))
        return phase_weight(k, s, w, data, unpacked);
    int64_t mr = ir_attr_int(k->node, CPU_PACKED_W_ATTR, 0), tw = ir_attr_int(k->node, CPU_PACKED_WT_ATTR, 0);
    if (mr == 0 && tw == 0) return FWD_OK;
    int64_t m = s->m, kk = s->cg * s->g.k_size;
    if (tw != 0) {
        if (mr != 0 || tw != NN_NR || s->group != 1 || m % NN_NR != 0)
            return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "transposed packed weight does not fit");
        /* more pixels (a run's shape, or an engine built with AVX-512
         * running without): the ordinary product on the unpacked weight */
        if (s->g.out_size <= NN_CONV_T_MAX_P || nn_conv_t_direct_applies(s)) {
            f->wtp = w->data;
            return FWD_OK;
        }
    } else if (mr < 1 || s->group != 1 || m % mr != 0) {
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "packed weight for %lld rows does not fit",
                                (long long)mr);
    } else if (mr == nn_gemm_tile_rows()) {
        f->wp = w->data;
        return FWD_OK;
    }
    /* packed for another CPU's kernel or for another geometry: back to
     * row-major for this run */
    float *u = malloc(sizeof(float) * (size_t)(m * kk + 1));
    if (!u) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory unpacking the weight");
    const float *src = w->data;
    if (tw != 0) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t p = 0; p < kk; p++) u[i * kk + p] = src[(i / NN_NR) * NN_NR * kk + p * NN_NR + i % NN_NR];
    } else {
        for (int64_t i = 0; i < m; i++)
            for (int64_t p = 0; p < kk; p++) u[i * kk + p] = src[(i / mr) * mr * kk + p * mr + i % mr];
    }
    *data = u;
    *unpacked = u;
    return FWD_OK;
}

static fwd_status conv_f32(fwd_kernel_ctx *k)
{
    FWD_TRY(nn_need_inputs(k, 2));
    nn_conv_shape s;
    FWD_TRY(nn_conv_prepare(k, k->in[0], k->in[1], nn_in(k, 2), k->out[0], &s));
    const ir_tensor *bt = nn_in(k, 2);
    const float *w;
    float *unpacked;
    nn_conv_fuse f = {NULL, NN_ACT_NONE, 0.0f, 0.0f, NULL, NULL};
    FWD_TRY(nn_conv_weight(k, &s, k->in[1], &w, &f, &unpacked));
    fwd_status st = nn_conv_f32(k, &s, k->in[0]->data, w, bt ? bt->data : NULL, &f, k->out[0]->data);
    free(unpacked);
    return st;
}

fwd_status cpu_conv(fwd_kernel_ctx *k)
{
    FWD_TRY(nn_need_inputs(k, 2));
    fwd_dtype dt = k->in[0]->dtype;
    const ir_tensor *b = nn_in(k, 2);
    if (k->in[1]->dtype != dt || (b && b->dtype != dt))
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "X, W and B must share one dtype");
    if (dt == FWD_FLOAT32) return conv_f32(k);
    if (nn_is_wide_or_half(dt)) return nn_run_as_f32(k, conv_f32);
    return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "dtype %s not supported", fwd_dtype_name(dt));
}

/* ---- ConvTranspose ---- */

/* floor(a / b) and ceil(a / b) for b > 0 and any sign of a. */
static inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
static inline int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -(-a / b); }

typedef struct col2im_job {
    const float *col; /* [mg * k_size, in_size] */
    float *y;         /* [mg, out_size] of this image and group */
    const float *bias;
    nn_geom3 g;
} col2im_job;

static void col2im_channels(void *arg, int64_t m0, int64_t m1)
{
    const col2im_job *j = arg;
    const nn_geom3 *g = &j->g;
    const int64_t D = g->in[0], H = g->in[1], W = g->in[2];
    const int64_t OD = g->out[0], OH = g->out[1], OW = g->out[2];
    for (int64_t m = m0; m < m1; m++) {
        float *y = j->y + m * g->out_size;
        float bv = j->bias ? j->bias[m] : 0.0f;
        for (int64_t i = 0; i < g->out_size; i++) y[i] = bv;
        for (int64_t kd = 0; kd < g->k[0]; kd++)
            for (int64_t kh = 0; kh < g->k[1]; kh++)
                for (int64_t kw = 0; kw < g->k[2]; kw++) {
                    int64_t kidx = (kd * g->k[1] + kh) * g->k[2] + kw;
                    const float *c = j->col + (m * g->k_size + kidx) * g->in_size;
                    int64_t off = kw * g->d[2] - g->p[2], sw = g->s[2];
                    /* input w range whose output position is inside [0, OW) */
                    int64_t lo = ceil_div(-off, sw), hi = floor_div(OW - 1 - off, sw) + 1;
                    if (lo < 0) lo = 0;
                    if (hi > W) hi = W;
                    for (int64_t id = 0; id < D; id++) {
                        int64_t od = id * g->s[0] - g->p[0] + kd * g->d[0];
                        if (od < 0 || od >= OD) continue;
                        for (int64_t ih = 0; ih < H; ih++) {
                            int64_t oh = ih * g->s[1] - g->p[1] + kh * g->d[1];
                            if (oh < 0 || oh >= OH) continue;
                            const float *cr = c + (id * H + ih) * W;
                            float *yr = y + (od * OH + oh) * OW;
                            for (int64_t iw = lo; iw < hi; iw++) yr[iw * sw + off] += cr[iw];
                        }
                    }
                }
    }
}

static fwd_status conv_transpose_f32(fwd_kernel_ctx *k)
{
    FWD_TRY(nn_need_inputs(k, 2));
    const ir_tensor *xt = k->in[0], *wt = k->in[1], *bt = nn_in(k, 2);
    int rank = xt->shape.rank;
    if (rank < 3) return cpu_kernel_error(k, FWD_ERR_SHAPE, "input X needs rank >= 3, got %d", rank);
    if (rank > 5) return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "more than 3 spatial dims");
    if (wt->shape.rank != rank)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "weight W has rank %d, X has rank %d",
                                wt->shape.rank, rank);
    int64_t n_img = xt->shape.dims[0], c = xt->shape.dims[1];
    int64_t group = ir_attr_int(k->node, "group", 1);
    if (group < 1 || c % group || wt->shape.dims[0] != c)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "weight dim 0 (%lld) must equal the channels (%lld), divisible by group %lld",
                                (long long)wt->shape.dims[0], (long long)c, (long long)group);
    int64_t cg = c / group, mg = wt->shape.dims[1], m = mg * group;
    if (bt && (bt->shape.rank != 1 || bt->shape.dims[0] != m))
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "bias must have shape [%lld]", (long long)m);
    nn_window win;
    nn_msg msg;
    fwd_status st = nn_window_init(&win, k->node, rank - 2, wt->shape.dims + 2, false, &msg);
    if (st == FWD_OK) st = nn_window_transpose(&win, k->node, xt->shape.dims + 2, &msg);
    if (st != FWD_OK) return cpu_kernel_error(k, st, "%s", msg.text);
    col2im_job j;
    nn_geom3_from(&win, &j.g);
    float *y = k->out[0]->data;
    if ((int64_t)ir_tensor_numel(k->out[0]) != n_img * m * j.g.out_size)
        return cpu_kernel_error(k, FWD_ERR_INTERNAL, "output shape mismatch");
    int64_t rows = mg * j.g.k_size, P = j.g.in_size;
    if (n_img * m * j.g.out_size == 0) return FWD_OK;
    if (!nn_blas_fits(rows, P, cg)) return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "too large");
    float *col = malloc((size_t)(rows * P + 1) * sizeof(float));
    if (!col) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory for col2im");
    const float *x = xt->data, *w = wt->data;
    for (int64_t n = 0; n < n_img; n++)
        for (int64_t gi = 0; gi < group; gi++) {
            /* col = W_g^T (rows x cg) * X_g (cg x P) */
            nn_sgemm(true, false, rows, P, cg, 1.0f, w + gi * cg * rows, rows,
                     x + (n * c + gi * cg) * P, P, 0.0f, col, P);
            j.col = col;
            j.y = y + (n * m + gi * mg) * j.g.out_size;
            j.bias = bt ? (const float *)bt->data + gi * mg : NULL;
            int64_t per = j.g.k_size * P + j.g.out_size;
            fwd_parallel_for(mg, 20000 / (per + 1) + 1, col2im_channels, &j);
        }
    free(col);
    return FWD_OK;
}

fwd_status cpu_conv_transpose(fwd_kernel_ctx *k)
{
    FWD_TRY(nn_need_inputs(k, 2));
    fwd_dtype dt = k->in[0]->dtype;
    const ir_tensor *b = nn_in(k, 2);
    if (k->in[1]->dtype != dt || (b && b->dtype != dt))
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "X, W and B must share one dtype");
    if (dt == FWD_FLOAT32) return conv_transpose_f32(k);
    if (nn_is_wide_or_half(dt)) return nn_run_as_f32(k, conv_transpose_f32);
    return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "dtype %s not supported", fwd_dtype_name(dt));
}

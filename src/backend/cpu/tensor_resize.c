/* CPU kernels: Resize (nearest / linear / cubic over any axes, every
 * coordinate transformation mode) and GridSample. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "backend/cpu/tensor_internal.h"
#include "util/threadpool.h"

/* ---- Resize ---- */

enum { CT_HALF_PIXEL, CT_PYTORCH_HALF_PIXEL, CT_ALIGN_CORNERS, CT_ASYMMETRIC, CT_TF_HALF_PIXEL_FOR_NN,
       CT_TF_CROP_AND_RESIZE, CT_HALF_PIXEL_SYMMETRIC };
enum { NR_ROUND_PREFER_FLOOR, NR_ROUND_PREFER_CEIL, NR_FLOOR, NR_CEIL };

/* Per-axis sampling table: for each output index, K taps (source offsets
 * in elements, already multiplied by the axis stride) and weights. */
typedef struct {
    int K;
    int64_t *off;
    float *w;
    uint8_t *outside; /* tf_crop_and_resize: sample outside the input */
} axis_taps;

typedef struct {
    int ct, nearest_mode, K; /* K: 1 nearest, 2 linear, 4 cubic */
    double cubic_a;
    bool exclude_outside;
} resize_params;

/* out is the resized length: in * scale when scales were given (not
 * rounded, as the ONNX reference does), else the output size. */
static double source_coord(const resize_params *p, double x, int64_t in, int64_t out_i, double out, double scale,
                           double r0, double r1)
{
    switch (p->ct) {
    case CT_PYTORCH_HALF_PIXEL: return out > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
    case CT_ALIGN_CORNERS: return out == 1 ? 0.0 : x * (double)(in - 1) / (out - 1);
    case CT_ASYMMETRIC: return x / scale;
    case CT_TF_HALF_PIXEL_FOR_NN: return (x + 0.5) / scale;
    case CT_TF_CROP_AND_RESIZE:
        return out > 1 ? r0 * (double)(in - 1) + x * (r1 - r0) * (double)(in - 1) / (out - 1)
                       : 0.5 * (r0 + r1) * (double)(in - 1);
    case CT_HALF_PIXEL_SYMMETRIC: {
        double adj = (double)out_i / (scale * (double)in), center = (double)in / 2;
        return center * (1 - adj) + (x + 0.5) / scale - 0.5;
    }
    default: return (x + 0.5) / scale - 0.5;
    }
}

static void cubic_coeffs(double s, double A, double *c)
{
    double t = s + 1, u = 1 - s, v = 2 - s;
    c[0] = ((A * t - 5 * A) * t + 8 * A) * t - 4 * A;
    c[1] = ((A + 2) * s - (A + 3)) * s * s + 1;
    c[2] = ((A + 2) * u - (A + 3)) * u * u + 1;
    c[3] = ((A * v - 5 * A) * v + 8 * A) * v - 4 * A;
}

static int64_t clamp_i(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

static bool build_taps(const resize_params *p, int64_t in, int64_t out, double out_f, double scale, double r0,
                       double r1, int64_t stride, axis_taps *t)
{
    int K = p->K;
    t->K = K;
    t->off = malloc(sizeof(int64_t) * (size_t)(out * K + 1));
    t->w = malloc(sizeof(float) * (size_t)(out * K + 1));
    t->outside = calloc((size_t)out + 1, 1);
    if (!t->off || !t->w || !t->outside) return false;
    for (int64_t o = 0; o < out; o++) {
        double x = source_coord(p, (double)o, in, out, out_f, scale, r0, r1);
        if (!(x == x)) x = -2; /* NaN roi: outside */
        x = x < -1e15 ? -1e15 : (x > 1e15 ? 1e15 : x); /* keep integer casts defined */
        if (p->ct == CT_TF_CROP_AND_RESIZE && (x < 0 || x > (double)(in - 1))) t->outside[o] = 1;
        int64_t *oi = t->off + o * K;
        float *ow = t->w + o * K;
        if (K == 1) {
            double f = floor(x), r;
            switch (p->nearest_mode) {
            case NR_FLOOR: r = f; break;
            case NR_CEIL: r = ceil(x); break;
            case NR_ROUND_PREFER_CEIL: r = x - f == 0.5 ? f + 1 : round(x); break;
            default: r = x - f == 0.5 ? f : round(x); break;
            }
            oi[0] = clamp_i((int64_t)r, 0, in - 1) * stride;
            ow[0] = 1.0f;
            continue;
        }
        double f = floor(x), s = x - f, c[4];
        int64_t x0 = (int64_t)f;
        if (K == 2) {
            c[0] = 1 - s;
            c[1] = s;
        } else {
            cubic_coeffs(s, p->cubic_a, c);
            x0 -= 1;
        }
        double sum = 0;
        for (int j = 0; j < K; j++) {
            int64_t ix = x0 + j;
            if (p->exclude_outside && (ix < 0 || ix >= in)) c[j] = 0;
            sum += c[j];
        }
        for (int j = 0; j < K; j++) {
            oi[j] = clamp_i(x0 + j, 0, in - 1) * stride;
            ow[j] = (float)(p->exclude_outside && sum != 0 ? c[j] / sum : c[j]);
        }
    }
    /* An axis whose every output reads one source with weight 1 (scale 1,
     * integral coordinates) needs one tap. */
    bool single = K > 1;
    for (int64_t o = 0; o < out && single; o++) {
        int ones = 0, zeros = 0;
        for (int j = 0; j < K; j++) {
            ones += t->w[o * K + j] == 1.0f;
            zeros += t->w[o * K + j] == 0.0f;
        }
        single = ones == 1 && zeros == K - 1;
    }
    if (single) {
        for (int64_t o = 0; o < out; o++) {
            int j = 0;
            while (t->w[o * K + j] != 1.0f) j++;
            t->off[o] = t->off[o * K + j];
            t->w[o] = 1.0f;
        }
        t->K = 1;
    }
    return true;
}

typedef struct {
    const ir_tensor *x;
    ir_tensor *y;
    int rank;
    const int64_t *out_dims;
    axis_taps *taps;
    int64_t max_combos;
    int64_t in_w; /* input length of the last axis */
    float extrapolation;
    atomic_int failed;
} resize_job;

static void resize_rows(void *arg, int64_t b, int64_t e)
{
    resize_job *j = arg;
    int last = j->rank - 1;
    int64_t W = j->out_dims[last];
    const axis_taps *tl = &j->taps[last];
    int Kx = tl->K;
    int64_t *coff = malloc(sizeof(int64_t) * (size_t)j->max_combos);
    float *cw = malloc(sizeof(float) * (size_t)j->max_combos);
    float *tmp = malloc(sizeof(float) * (size_t)(j->in_w + 1));
    if (!coff || !cw || !tmp) {
        free(coff);
        free(cw);
        free(tmp);
        atomic_store(&j->failed, 1);
        return;
    }
    bool f32 = j->x->dtype == FWD_FLOAT32;
    for (int64_t row = b; row < e; row++) {
        /* output coordinates of this row */
        int64_t pos[IR_MAX_RANK], rem = row;
        bool outside = false;
        for (int d = last - 1; d >= 0; d--) {
            pos[d] = rem % j->out_dims[d];
            rem /= j->out_dims[d];
            outside |= j->taps[d].outside[pos[d]] != 0;
        }
        int64_t yoff = row * W;
        if (outside) {
            for (int64_t x = 0; x < W; x++) cpu_set_f64(j->y->dtype, j->y->data, yoff + x, j->extrapolation);
            continue;
        }
        /* tensor product of the row's taps over the leading axes */
        int64_t nc = 1;
        coff[0] = 0;
        cw[0] = 1.0f;
        for (int d = 0; d < last; d++) {
            const axis_taps *t = &j->taps[d];
            int64_t base = pos[d] * t->K;
            if (t->K == 1) {
                for (int64_t c = 0; c < nc; c++) coff[c] += t->off[base];
                continue;
            }
            for (int64_t c = nc - 1; c >= 0; c--)
                for (int k = t->K - 1; k >= 0; k--) {
                    coff[c * t->K + k] = coff[c] + t->off[base + k];
                    cw[c * t->K + k] = cw[c] * t->w[base + k];
                }
            nc *= t->K;
        }
        if (f32) {
            const float *src = j->x->data;
            float *dst = (float *)j->y->data + yoff;
            if (nc == 1 && Kx == 1) {
                const float *s = src + coff[0];
                for (int64_t x = 0; x < W; x++) dst[x] = s[tl->off[x]];
            } else {
                /* blend the source rows once (vectorisable), then sample
                 * the blended row along the last axis */
                const float *row = src + coff[0];
                if (nc > 1) {
                    for (int64_t i = 0; i < j->in_w; i++) tmp[i] = cw[0] * row[i];
                    for (int64_t c = 1; c < nc; c++) {
                        const float *sc = src + coff[c];
                        float wc = cw[c];
                        for (int64_t i = 0; i < j->in_w; i++) tmp[i] += wc * sc[i];
                    }
                    row = tmp;
                }
                if (Kx == 1) {
                    for (int64_t x = 0; x < W; x++) dst[x] = row[tl->off[x]];
                } else if (Kx == 2) {
                    for (int64_t x = 0; x < W; x++)
                        dst[x] = tl->w[2 * x] * row[tl->off[2 * x]] + tl->w[2 * x + 1] * row[tl->off[2 * x + 1]];
                } else {
                    for (int64_t x = 0; x < W; x++) {
                        const int64_t *xo = tl->off + x * Kx;
                        const float *xw = tl->w + x * Kx;
                        float v = 0;
                        for (int k = 0; k < Kx; k++) v += xw[k] * row[xo[k]];
                        dst[x] = v;
                    }
                }
            }
            if (tl->outside[0] || tl->outside[W - 1])
                for (int64_t x = 0; x < W; x++)
                    if (tl->outside[x]) dst[x] = j->extrapolation;
            continue;
        }
        for (int64_t x = 0; x < W; x++) {
            double acc = 0;
            if (tl->outside[x]) {
                acc = j->extrapolation;
            } else {
                for (int64_t c = 0; c < nc; c++)
                    for (int k = 0; k < Kx; k++)
                        acc += (double)cw[c] * tl->w[x * Kx + k] *
                               cpu_get_f64(j->x->dtype, j->x->data, coff[c] + tl->off[x * Kx + k]);
                if (ir_dtype_is_int(j->y->dtype)) acc = nearbyint(acc);
            }
            cpu_set_f64(j->y->dtype, j->y->data, yoff + x, acc);
        }
    }
    free(coff);
    free(cw);
    free(tmp);
}

static int pick(const char *s, const char *const *names, int n, int dflt)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(s, names[i])) return i;
    return dflt;
}

fwd_status tns_resize(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    const ir_tensor *x = k->in[0], *troi = tns_in(k, 1), *tsc = tns_in(k, 2);
    ir_tensor *y = k->out[0];
    int r = x->shape.rank;
    static const char *const cts[] = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                      "tf_half_pixel_for_nn", "tf_crop_and_resize", "half_pixel_symmetric"};
    static const char *const nms[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    static const char *const modes[] = {"nearest", "linear", "cubic"};
    resize_params p;
    p.ct = pick(ir_attr_string(k->node, "coordinate_transformation_mode", "half_pixel"), cts, 7, 0);
    p.nearest_mode = pick(ir_attr_string(k->node, "nearest_mode", "round_prefer_floor"), nms, 4, 0);
    int mode = pick(ir_attr_string(k->node, "mode", "nearest"), modes, 3, 0);
    p.K = mode == 0 ? 1 : (mode == 1 ? 2 : 4);
    p.cubic_a = ir_attr_float(k->node, "cubic_coeff_a", -0.75f);
    p.exclude_outside = ir_attr_int(k->node, "exclude_outside", 0) != 0;
    if (r == 0 || ir_tensor_numel(y) == 0) return FWD_OK;
    if (ir_tensor_numel(x) == 0) return cpu_kernel_error(k, FWD_ERR_SHAPE, "cannot resize an empty input");
    if (tsc && ir_tensor_numel(tsc) == 0) tsc = NULL;
    if (tsc && (int64_t)ir_tensor_numel(tsc) != r) return cpu_kernel_error(k, FWD_ERR_SHAPE, "scales must have %d entries", r);
    if (p.ct == CT_TF_CROP_AND_RESIZE && (!troi || (int64_t)ir_tensor_numel(troi) != 2 * r))
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "tf_crop_and_resize needs an roi of %d entries", 2 * r);
    resize_job j = {.x = x, .y = y, .rank = r, .out_dims = y->shape.dims, .max_combos = 1, .in_w = x->shape.dims[r - 1],
                    .extrapolation = ir_attr_float(k->node, "extrapolation_value", 0.0f)};
    atomic_init(&j.failed, 0);
    axis_taps taps[IR_MAX_RANK];
    memset(taps, 0, sizeof taps);
    j.taps = taps;
    int64_t st[IR_MAX_RANK];
    cpu_strides(&x->shape, st);
    bool ok = true;
    for (int d = 0; d < r && ok; d++) {
        int64_t in = x->shape.dims[d], out = y->shape.dims[d];
        double scale = tsc ? cpu_get_f64(tsc->dtype, tsc->data, d) : (double)out / (double)in;
        if (!(scale > 0)) {
            for (int i = 0; i < d; i++) free(taps[i].off), free(taps[i].w), free(taps[i].outside);
            return cpu_kernel_error(k, FWD_ERR_INVALID_ARGUMENT, "scale %g must be positive", scale);
        }
        double r0 = 0, r1 = 1;
        if (troi && p.ct == CT_TF_CROP_AND_RESIZE) {
            r0 = cpu_get_f64(troi->dtype, troi->data, d);
            r1 = cpu_get_f64(troi->dtype, troi->data, r + d);
        }
        double out_f = tsc ? (double)in * scale : (double)out;
        ok = build_taps(&p, in, out, out_f, scale, r0, r1, st[d], &taps[d]);
        if (ok && d < r - 1) j.max_combos *= taps[d].K;
    }
    if (ok) {
        int64_t rows = (int64_t)ir_tensor_numel(y) / y->shape.dims[r - 1];
        int64_t work = y->shape.dims[r - 1] * j.max_combos * taps[r - 1].K;
        fwd_parallel_for(rows, (1 << 14) / (work + 1) + 1, resize_rows, &j);
    }
    for (int d = 0; d < r; d++) {
        free(taps[d].off);
        free(taps[d].w);
        free(taps[d].outside);
    }
    if (!ok || atomic_load(&j.failed)) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    return FWD_OK;
}

/* ---- GridSample ---- */

enum { GS_BILINEAR, GS_NEAREST, GS_BICUBIC };
enum { GP_ZEROS, GP_BORDER, GP_REFLECTION };

static double reflect_coord(double v, double twice_lo, double twice_hi)
{
    if (twice_lo == twice_hi) return 0;
    double lo = twice_lo / 2, span = (twice_hi - twice_lo) / 2;
    v = fabs(v - lo);
    double extra = fmod(v, span);
    int64_t flips = (int64_t)floor(v / span);
    return flips % 2 == 0 ? extra + lo : span - extra + lo;
}

/* Apply the padding mode to a source coordinate. */
static double pad_coord(double v, int64_t size, int pad, bool align)
{
    if (pad == GP_BORDER) return v < 0 ? 0 : (v > (double)(size - 1) ? (double)(size - 1) : v);
    if (pad == GP_REFLECTION) {
        v = align ? reflect_coord(v, 0, 2.0 * (double)(size - 1)) : reflect_coord(v, -1, 2.0 * (double)size - 1);
        return v < 0 ? 0 : (v > (double)(size - 1) ? (double)(size - 1) : v);
    }
    return v;
}

typedef struct {
    const ir_tensor *x, *g;
    ir_tensor *y;
    int mode, pad;
    bool align;
    int64_t C, H, W, Ho, Wo;
} gs_job;

static void gs_points(void *arg, int64_t b, int64_t e)
{
    const gs_job *j = arg;
    for (int64_t it = b; it < e; it++) {
        int64_t n = it / (j->Ho * j->Wo), pt = it % (j->Ho * j->Wo);
        double gx = cpu_get_f64(j->g->dtype, j->g->data, it * 2), gy = cpu_get_f64(j->g->dtype, j->g->data, it * 2 + 1);
        double x = j->align ? (gx + 1) / 2 * (double)(j->W - 1) : ((gx + 1) * (double)j->W - 1) / 2;
        double y = j->align ? (gy + 1) / 2 * (double)(j->H - 1) : ((gy + 1) * (double)j->H - 1) / 2;
        int64_t off[16];
        double w[16];
        int nt = 0;
        /* NaN coordinates sample nothing (zeros); huge ones are clipped
         * by the padding mode or fail the bounds checks */
        if (x != x || y != y) {
            /* no taps */
        } else if (j->mode == GS_BICUBIC) {
            double fx = floor(x), fy = floor(y), cx[4], cy[4];
            cubic_coeffs(x - fx, -0.75, cx);
            cubic_coeffs(y - fy, -0.75, cy);
            for (int a = 0; a < 4; a++)
                for (int c = 0; c < 4; c++) {
                    double sy = pad_coord(fy - 1 + a, j->H, j->pad, j->align);
                    double sx = pad_coord(fx - 1 + c, j->W, j->pad, j->align);
                    if (!(sy >= 0 && sx >= 0 && sy < (double)j->H && sx < (double)j->W)) continue;
                    int64_t iy = (int64_t)sy, ix = (int64_t)sx;
                    off[nt] = iy * j->W + ix;
                    w[nt++] = cy[a] * cx[c];
                }
        } else {
            x = pad_coord(x, j->W, j->pad, j->align);
            y = pad_coord(y, j->H, j->pad, j->align);
            if (j->mode == GS_NEAREST) {
                double rx = nearbyint(x), ry = nearbyint(y);
                if (rx >= 0 && ry >= 0 && rx < (double)j->W && ry < (double)j->H) { /* false for NaN */
                    off[nt] = (int64_t)ry * j->W + (int64_t)rx;
                    w[nt++] = 1;
                }
            } else {
                double fx = floor(x), fy = floor(y), sx = x - fx, sy = y - fy;
                for (int a = 0; a < 2; a++)
                    for (int c = 0; c < 2; c++) {
                        double py = fy + a, px = fx + c;
                        if (!(py >= 0 && px >= 0 && py < (double)j->H && px < (double)j->W)) continue;
                        off[nt] = (int64_t)py * j->W + (int64_t)px;
                        w[nt++] = (a ? sy : 1 - sy) * (c ? sx : 1 - sx);
                    }
            }
        }
        int64_t plane = j->H * j->W;
        for (int64_t c = 0; c < j->C; c++) {
            int64_t base = (n * j->C + c) * plane, oi = (n * j->C + c) * j->Ho * j->Wo + pt;
            if (j->x->dtype == FWD_FLOAT32) {
                const float *s = (const float *)j->x->data + base;
                float acc = 0;
                for (int t = 0; t < nt; t++) acc += (float)w[t] * s[off[t]];
                ((float *)j->y->data)[oi] = acc;
            } else {
                double acc = 0;
                for (int t = 0; t < nt; t++) acc += w[t] * cpu_get_f64(j->x->dtype, j->x->data, base + off[t]);
                cpu_set_f64(j->y->dtype, j->y->data, oi, acc);
            }
        }
    }
}

fwd_status tns_grid_sample(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    const ir_tensor *x = k->in[0], *g = k->in[1];
    ir_tensor *y = k->out[0];
    if (x->shape.rank != 4 || g->shape.rank != 4 || g->shape.dims[3] != 2 || g->shape.dims[0] != x->shape.dims[0])
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "X must be [N,C,H,W] and grid [N,Ho,Wo,2]");
    static const char *const modes[] = {"bilinear", "nearest", "bicubic"};
    static const char *const pads[] = {"zeros", "border", "reflection"};
    gs_job j = {.x = x, .g = g, .y = y, .mode = pick(ir_attr_string(k->node, "mode", "bilinear"), modes, 3, 0),
                .pad = pick(ir_attr_string(k->node, "padding_mode", "zeros"), pads, 3, 0),
                .align = ir_attr_int(k->node, "align_corners", 0) != 0, .C = x->shape.dims[1], .H = x->shape.dims[2],
                .W = x->shape.dims[3], .Ho = g->shape.dims[1], .Wo = g->shape.dims[2]};
    int64_t pts = x->shape.dims[0] * j.Ho * j.Wo;
    if (pts == 0 || j.C == 0) return FWD_OK;
    if (j.H == 0 || j.W == 0) {
        memset(y->data, 0, ir_tensor_numel(y) * fwd_dtype_size(y->dtype));
        return FWD_OK;
    }
    fwd_parallel_for(pts, 2048 / (j.C + 1) + 1, gs_points, &j);
    return FWD_OK;
}

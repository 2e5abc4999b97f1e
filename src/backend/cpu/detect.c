/* Detection ops: RoiAlign, MaxRoiPool and NonMaxSuppression (float32). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/nn_internal.h"

/* ---- RoiAlign ---- */

typedef struct roi_job {
    const float *x, *rois;
    const ir_tensor *bidx;
    float *y;
    int64_t c, h, w, oh, ow;
    float scale, offset;
    int64_t sampling;
    bool half_pixel, max_mode;
} roi_job;

/* One bilinear sample: corner offsets and weights (all zero outside). */
typedef struct bilinear {
    int64_t o[4];
    float wt[4];
} bilinear;

static bilinear bilinear_at(float y, float x, int64_t h, int64_t w)
{
    bilinear b = {{0, 0, 0, 0}, {0, 0, 0, 0}};
    /* outside, or NaN (from rois of NaN or infinities): no sample */
    if (!(y >= -1.0f && y <= (float)h && x >= -1.0f && x <= (float)w)) return b;
    if (y <= 0) y = 0;
    if (x <= 0) x = 0;
    int64_t y0 = (int64_t)y, x0 = (int64_t)x, y1, x1;
    if (y0 >= h - 1) {
        y1 = y0 = h - 1;
        y = (float)y0;
    } else {
        y1 = y0 + 1;
    }
    if (x0 >= w - 1) {
        x1 = x0 = w - 1;
        x = (float)x0;
    } else {
        x1 = x0 + 1;
    }
    float ly = y - (float)y0, lx = x - (float)x0, hy = 1.0f - ly, hx = 1.0f - lx;
    b.o[0] = y0 * w + x0;
    b.o[1] = y0 * w + x1;
    b.o[2] = y1 * w + x0;
    b.o[3] = y1 * w + x1;
    b.wt[0] = hy * hx;
    b.wt[1] = hy * lx;
    b.wt[2] = ly * hx;
    b.wt[3] = ly * lx;
    return b;
}

/* Samples per bin along one axis for a bin of size bin: ceil(bin), 1 to
 * 1024 (NaN and infinities from absurd rois included, never converted). */
static int64_t samples_for(float bin)
{
    float c = ceilf(bin);
    return c >= 1.0f ? (c <= 1024.0f ? (int64_t)c : 1024) : 1;
}

static void roi_align_rois(void *arg, int64_t r0, int64_t r1)
{
    const roi_job *j = arg;
    for (int64_t r = r0; r < r1; r++) {
        const float *roi = j->rois + r * 4;
        int64_t b = cpu_get_index(j->bidx, r);
        float x1 = roi[0] * j->scale - j->offset, y1 = roi[1] * j->scale - j->offset;
        float x2 = roi[2] * j->scale - j->offset, y2 = roi[3] * j->scale - j->offset;
        float rw = x2 - x1, rh = y2 - y1;
        if (!j->half_pixel) { /* legacy: rois at least one pixel */
            rw = rw > 1.0f ? rw : 1.0f;
            rh = rh > 1.0f ? rh : 1.0f;
        }
        float bh = rh / (float)j->oh, bw = rw / (float)j->ow;
        int64_t gh = j->sampling > 0 ? j->sampling : samples_for(rh / (float)j->oh);
        int64_t gw = j->sampling > 0 ? j->sampling : samples_for(rw / (float)j->ow);
        if (gh > 1024) gh = 1024; /* bound the work of absurd rois */
        if (gw > 1024) gw = 1024;
        float count = (float)(gh * gw);
        for (int64_t c = 0; c < j->c; c++) {
            const float *xp = j->x + (b * j->c + c) * j->h * j->w;
            float *yp = j->y + (r * j->c + c) * j->oh * j->ow;
            for (int64_t ph = 0; ph < j->oh; ph++)
                for (int64_t pw = 0; pw < j->ow; pw++) {
                    float acc = 0.0f;
                    bool first = true;
                    for (int64_t iy = 0; iy < gh; iy++) {
                        float yy = y1 + (float)ph * bh + ((float)iy + 0.5f) * bh / (float)gh;
                        for (int64_t ix = 0; ix < gw; ix++) {
                            float xx = x1 + (float)pw * bw + ((float)ix + 0.5f) * bw / (float)gw;
                            bilinear s = bilinear_at(yy, xx, j->h, j->w);
                            if (j->max_mode) {
                                /* ONNX Runtime's definition: the largest
                                 * weighted corner over all samples */
                                for (int q = 0; q < 4; q++) {
                                    float v = s.wt[q] * xp[s.o[q]];
                                    if (first || v > acc) acc = v;
                                    first = false;
                                }
                            } else {
                                for (int q = 0; q < 4; q++) acc += s.wt[q] * xp[s.o[q]];
                            }
                        }
                    }
                    yp[ph * j->ow + pw] = j->max_mode ? acc : acc / count;
                }
        }
    }
}

static fwd_status check_batch_index(const fwd_kernel_ctx *k, int64_t b, int64_t n, int64_t r)
{
    if (b < 0 || b >= n)
        return cpu_kernel_error(k, FWD_ERR_RUNTIME, "batch index %lld of roi %lld out of range [0, %lld)",
                                (long long)b, (long long)r, (long long)n);
    return FWD_OK;
}

fwd_status cpu_roi_align(fwd_kernel_ctx *k)
{
    FWD_TRY(nn_need_inputs(k, 3));
    const ir_tensor *x = k->in[0], *rois = k->in[1], *bi = k->in[2];
    if (x->dtype != FWD_FLOAT32 || rois->dtype != FWD_FLOAT32)
        return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "only float32 is supported");
    if (bi->dtype != FWD_INT64 && bi->dtype != FWD_INT32)
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "batch_indices must be int64");
    if (x->shape.rank != 4 || rois->shape.rank != 2 || rois->shape.dims[1] != 4 || bi->shape.rank != 1 ||
        bi->shape.dims[0] != rois->shape.dims[0])
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "expected X [N,C,H,W], rois [R,4], batch_indices [R]");
    roi_job j = {.x = x->data, .rois = rois->data, .bidx = bi, .y = k->out[0]->data,
                 .c = x->shape.dims[1], .h = x->shape.dims[2], .w = x->shape.dims[3],
                 .oh = ir_attr_int(k->node, "output_height", 1),
                 .ow = ir_attr_int(k->node, "output_width", 1),
                 .scale = ir_attr_float(k->node, "spatial_scale", 1.0f),
                 .sampling = ir_attr_int(k->node, "sampling_ratio", 0)};
    const char *ctm = ir_attr_string(k->node, "coordinate_transformation_mode", "half_pixel");
    j.half_pixel = strcmp(ctm, "output_half_pixel") != 0;
    j.offset = j.half_pixel ? 0.5f : 0.0f;
    j.max_mode = !strcmp(ir_attr_string(k->node, "mode", "avg"), "max");
    int64_t nr = rois->shape.dims[0];
    if ((int64_t)ir_tensor_numel(k->out[0]) != nr * j.c * j.oh * j.ow)
        return cpu_kernel_error(k, FWD_ERR_INTERNAL, "output shape mismatch");
    if (nr > 0 && (j.h == 0 || j.w == 0))
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "input X has an empty spatial dim");
    for (int64_t r = 0; r < nr; r++) FWD_TRY(check_batch_index(k, cpu_get_index(bi, r), x->shape.dims[0], r));
    fwd_parallel_for(nr, 1, roi_align_rois, &j);
    return FWD_OK;
}

/* ---- MaxRoiPool ---- */

fwd_status cpu_max_roi_pool(fwd_kernel_ctx *k)
{
    FWD_TRY(nn_need_inputs(k, 2));
    const ir_tensor *x = k->in[0], *rois = k->in[1];
    if (x->dtype != FWD_FLOAT32 || rois->dtype != FWD_FLOAT32)
        return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "only float32 is supported");
    if (x->shape.rank != 4 || rois->shape.rank != 2 || rois->shape.dims[1] != 5)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "expected X [N,C,H,W] and rois [R,5]");
    int cnt = 0;
    const int64_t *ps = ir_attr_ints(k->node, "pooled_shape", &cnt);
    if (!ps || cnt != 2) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "pooled_shape must have 2 values");
    float scale = ir_attr_float(k->node, "spatial_scale", 1.0f);
    int64_t n = x->shape.dims[0], c = x->shape.dims[1], h = x->shape.dims[2], w = x->shape.dims[3];
    int64_t ph_n = ps[0], pw_n = ps[1], nr = rois->shape.dims[0];
    const float *xd = x->data, *rd = rois->data;
    float *y = k->out[0]->data;
    for (int64_t r = 0; r < nr; r++) {
        const float *roi = rd + r * 5;
        if (!(roi[0] >= 0.0f && roi[0] < (float)n))
            return cpu_kernel_error(k, FWD_ERR_RUNTIME, "batch index %g of roi %lld out of range [0, %lld)",
                                    (double)roi[0], (long long)r, (long long)n);
        int64_t b = (int64_t)roi[0];
        int64_t sx = (int64_t)roundf(roi[1] * scale), sy = (int64_t)roundf(roi[2] * scale);
        int64_t ex = (int64_t)roundf(roi[3] * scale), ey = (int64_t)roundf(roi[4] * scale);
        int64_t rw = ex - sx + 1 > 1 ? ex - sx + 1 : 1, rh = ey - sy + 1 > 1 ? ey - sy + 1 : 1;
        float bh = (float)rh / (float)ph_n, bw = (float)rw / (float)pw_n;
        for (int64_t ch = 0; ch < c; ch++) {
            const float *xp = xd + (b * c + ch) * h * w;
            float *yp = y + (r * c + ch) * ph_n * pw_n;
            for (int64_t ph = 0; ph < ph_n; ph++) {
                int64_t hs = (int64_t)floorf((float)ph * bh) + sy, he = (int64_t)ceilf((float)(ph + 1) * bh) + sy;
                hs = hs < 0 ? 0 : hs > h ? h : hs;
                he = he < 0 ? 0 : he > h ? h : he;
                for (int64_t pw = 0; pw < pw_n; pw++) {
                    int64_t ws = (int64_t)floorf((float)pw * bw) + sx, we = (int64_t)ceilf((float)(pw + 1) * bw) + sx;
                    ws = ws < 0 ? 0 : ws > w ? w : ws;
                    we = we < 0 ? 0 : we > w ? w : we;
                    float best = -INFINITY;
                    bool empty = he <= hs || we <= ws;
                    for (int64_t yy = hs; yy < he; yy++)
                        for (int64_t xx = ws; xx < we; xx++)
                            best = xp[yy * w + xx] > best ? xp[yy * w + xx] : best;
                    yp[ph * pw_n + pw] = empty ? 0.0f : best;
                }
            }
        }
    }
    return FWD_OK;
}

/* ---- NonMaxSuppression ---- */

typedef struct nms_cand {
    float score;
    int64_t index;
} nms_cand;

static int cand_cmp(const void *pa, const void *pb)
{
    const nms_cand *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* Corners (y1, x1, y2, x2) with y1 <= y2 and x1 <= x2. */
static void box_corners(const float *b, bool center, float *out)
{
    if (center) {
        out[0] = b[1] - b[3] / 2.0f;
        out[2] = b[1] + b[3] / 2.0f;
        out[1] = b[0] - b[2] / 2.0f;
        out[3] = b[0] + b[2] / 2.0f;
    } else {
        out[0] = fminf(b[0], b[2]);
        out[2] = fmaxf(b[0], b[2]);
        out[1] = fminf(b[1], b[3]);
        out[3] = fmaxf(b[1], b[3]);
    }
}

static bool suppresses(const float *a, const float *b, float iou_threshold)
{
    float ymin = fmaxf(a[0], b[0]), xmin = fmaxf(a[1], b[1]);
    float ymax = fminf(a[2], b[2]), xmax = fminf(a[3], b[3]);
    if (ymax <= ymin || xmax <= xmin) return false;
    float area_a = (a[2] - a[0]) * (a[3] - a[1]), area_b = (b[2] - b[0]) * (b[3] - b[1]);
    if (area_a <= 0.0f || area_b <= 0.0f) return false;
    float inter = (ymax - ymin) * (xmax - xmin);
    float uni = area_a + area_b - inter;
    return uni > 0.0f && inter / uni > iou_threshold;
}

fwd_status cpu_non_max_suppression(fwd_kernel_ctx *k)
{
    FWD_TRY(nn_need_inputs(k, 2));
    const ir_tensor *boxes = k->in[0], *scores = k->in[1];
    const ir_tensor *tmax = nn_in(k, 2), *tiou = nn_in(k, 3), *tscore = nn_in(k, 4);
    if (boxes->dtype != FWD_FLOAT32 || scores->dtype != FWD_FLOAT32)
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "boxes and scores must be float32");
    if (boxes->shape.rank != 3 || boxes->shape.dims[2] != 4 || scores->shape.rank != 3 ||
        scores->shape.dims[0] != boxes->shape.dims[0] || scores->shape.dims[2] != boxes->shape.dims[1])
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "expected boxes [B,S,4] and scores [B,C,S]");
    int64_t max_out = 0;
    float iou_t = 0.0f, score_t = 0.0f;
    bool use_score = false;
    if (tmax && tmax->data && ir_tensor_numel(tmax) > 0) {
        if (tmax->dtype != FWD_INT64) return cpu_kernel_error(k, FWD_ERR_DTYPE, "max_output_boxes_per_class must be int64");
        max_out = ((const int64_t *)tmax->data)[0];
    }
    if (tiou && tiou->data && ir_tensor_numel(tiou) > 0) iou_t = (float)cpu_get_f64(tiou->dtype, tiou->data, 0);
    if (tscore && tscore->data && ir_tensor_numel(tscore) > 0) {
        score_t = (float)cpu_get_f64(tscore->dtype, tscore->data, 0);
        use_score = true;
    }
    if (!(iou_t >= 0.0f && iou_t <= 1.0f))
        return cpu_kernel_error(k, FWD_ERR_RUNTIME, "iou_threshold %g must be in [0, 1]", (double)iou_t);
    bool center = ir_attr_int(k->node, "center_point_box", 0) == 1;
    int64_t nb = boxes->shape.dims[0], ns = boxes->shape.dims[1], nc = scores->shape.dims[1];
    if (max_out < 0) max_out = 0;
    if (max_out > ns) max_out = ns;
    const float *bd = boxes->data, *sd = scores->data;
    float *corners = malloc((size_t)(ns + 1) * 4 * sizeof(float));
    nms_cand *cand = malloc((size_t)(ns + 1) * sizeof(nms_cand));
    int64_t *sel = malloc((size_t)(ns + 1) * sizeof(int64_t));
    int64_t *out = NULL, n_out = 0, cap = 0;
    fwd_status st = FWD_OK;
    if (!corners || !cand || !sel) st = cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    for (int64_t b = 0; st == FWD_OK && b < nb && max_out > 0; b++) {
        for (int64_t i = 0; i < ns; i++) box_corners(bd + (b * ns + i) * 4, center, corners + i * 4);
        for (int64_t c = 0; st == FWD_OK && c < nc; c++) {
            const float *sc = sd + (b * nc + c) * ns;
            int64_t n_cand = 0, n_sel = 0;
            for (int64_t i = 0; i < ns; i++)
                if (!use_score || sc[i] > score_t) cand[n_cand++] = (nms_cand){sc[i], i};
            qsort(cand, (size_t)n_cand, sizeof *cand, cand_cmp);
            for (int64_t i = 0; i < n_cand && n_sel < max_out; i++) {
                const float *box = corners + cand[i].index * 4;
                bool keep = true;
                for (int64_t s = 0; s < n_sel && keep; s++)
                    if (suppresses(corners + sel[s] * 4, box, iou_t)) keep = false;
                if (!keep) continue;
                sel[n_sel++] = cand[i].index;
                if (n_out == cap) {
                    cap = cap ? cap * 2 : 64;
                    int64_t *grown = realloc(out, (size_t)cap * 3 * sizeof(int64_t));
                    if (!grown) {
                        st = cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
                        break;
                    }
                    out = grown;
                }
                out[n_out * 3] = b;
                out[n_out * 3 + 1] = c;
                out[n_out * 3 + 2] = cand[i].index;
                n_out++;
            }
        }
    }
    if (st == FWD_OK) {
        ir_shape shape = {.rank = 2, .dims = {n_out, 3}};
        st = fwd_kernel_alloc_output(k, 0, FWD_INT64, &shape);
        if (st == FWD_OK && n_out > 0) memcpy(k->out[0]->data, out, (size_t)n_out * 3 * sizeof(int64_t));
    }
    free(corners);
    free(cand);
    free(sel);
    free(out);
    return st;
}

/*
 * Strided convolutions (conv_phase.c: stride-phase planes, per tap or
 * gathered; 1x1 strided ones on their subsampled input) against a direct
 * reference computed here in double precision, through the public API.
 * Each case is a Conv (+ Add of a residual input) (+ an activation) made
 * as an ONNX model in memory, built at optimization level 1 (one
 * FusedConv, or a Conv) with FWD_CONV_PHASE=1 (phase planes) and
 * without (im2col), both checked. Shapes cover channels that are
 * not multiples of 8 or 16, odd and tiny images, kernels 1x1 to 7x7,
 * strides 2 and 3 (also unequal), pads 0/1/3 (also asymmetric), batches,
 * every fused activation, filter counts that the builder cannot pack,
 * dilation 2; filter counts in 32-wide steps run the transposed product
 * that reads the pixels in place (conv_transposed.c), strided or with few
 * output pixels.
 *
 *   test_conv_paths          FWD_NO_AVX512=1 runs the AVX2 kernels
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_case.h"

/* ---- the cases ---- */

static const conv_case cases[] = {
    {1, 16, 8, 8, 24, 3, 3, 2, 2, {1, 1, 1, 1}, 0, "Relu", 0},
    {1, 17, 17, 19, 24, 3, 3, 2, 2, {1, 1, 1, 1}, 1, "Relu", 0},
    {2, 37, 14, 14, 48, 3, 3, 2, 2, {1, 1, 1, 1}, 1, NULL, 0},
    {1, 20, 9, 23, 24, 3, 3, 2, 2, {0, 0, 0, 0}, 0, "LeakyRelu", 0},
    {1, 32, 28, 28, 48, 3, 3, 2, 2, {1, 1, 1, 1}, 1, "Clip", 0},
    {3, 19, 7, 7, 24, 3, 3, 2, 2, {1, 1, 1, 1}, 0, "Sigmoid", 0},
    {1, 64, 56, 56, 64, 3, 3, 2, 2, {1, 1, 1, 1}, 0, "Relu", 0},
    {1, 21, 5, 6, 24, 3, 3, 2, 2, {1, 0, 0, 1}, 0, "Tanh", 0},
    {1, 24, 31, 70, 24, 3, 3, 2, 2, {1, 1, 1, 1}, 0, "HardSwish", 0},
    {1, 40, 12, 9, 72, 3, 3, 2, 2, {0, 1, 2, 1}, 1, "Relu", 0},
    {1, 16, 13, 11, 16, 3, 3, 2, 2, {1, 1, 1, 1}, 0, "Relu", 0}, /* M not whole AVX-512 tiles */
    {2, 18, 11, 13, 40, 3, 3, 3, 2, {1, 1, 1, 1}, 1, "Relu", 0},
    {1, 16, 15, 15, 24, 5, 5, 2, 2, {2, 2, 2, 2}, 0, NULL, 0},
    {1, 16, 10, 12, 20, 3, 3, 2, 2, {1, 1, 1, 1}, 0, "Relu", 0}, /* not packable: im2col */
    /* first convs: few channels, gathered taps */
    {1, 3, 224, 224, 64, 7, 7, 2, 2, {3, 3, 3, 3}, 0, "Relu", 0},
    {2, 3, 33, 29, 24, 7, 7, 2, 2, {3, 3, 3, 3}, 1, "Relu", 0},
    {1, 1, 20, 20, 8, 5, 5, 2, 2, {2, 2, 2, 2}, 0, NULL, 0},
    {1, 4, 19, 17, 32, 3, 3, 2, 2, {0, 1, 1, 0}, 0, "LeakyRelu", 0},
    {1, 3, 9, 9, 24, 4, 4, 4, 4, {0, 0, 0, 0}, 0, NULL, 0},
    /* 1x1 strided: subsampled input */
    {1, 64, 56, 56, 128, 1, 1, 2, 2, {0, 0, 0, 0}, 1, "Relu", 0},
    {2, 13, 9, 11, 24, 1, 1, 2, 2, {0, 0, 0, 0}, 1, "Relu", 0},
    {1, 20, 10, 15, 30, 1, 1, 2, 3, {0, 0, 0, 0}, 0, "Sigmoid", 0},
    {1, 33, 14, 14, 40, 1, 1, 2, 2, {0, 0, 0, 0}, 0, NULL, 0},
    /* filters in whole 32-wide steps: the transposed product reading the
     * pixels in place (AVX-512), strided or with few output pixels */
    {2, 37, 14, 14, 64, 3, 3, 2, 2, {1, 1, 1, 1}, 1, NULL, 0},
    {1, 21, 13, 23, 32, 3, 3, 2, 2, {1, 0, 0, 1}, 1, "Tanh", 0},
    {1, 24, 31, 70, 96, 3, 3, 2, 2, {1, 1, 1, 1}, 0, "HardSwish", 0},
    {2, 18, 11, 13, 32, 3, 3, 3, 2, {1, 1, 1, 1}, 1, "Clip", 0},
    {3, 19, 7, 7, 64, 3, 3, 2, 2, {1, 1, 1, 1}, 0, "Sigmoid", 0},
    {1, 40, 12, 9, 96, 5, 5, 2, 2, {2, 2, 2, 2}, 1, "LeakyRelu", 0},
    {2, 3, 33, 29, 64, 7, 7, 2, 2, {3, 3, 3, 3}, 1, "Relu", 0},
    {1, 16, 17, 15, 32, 3, 3, 2, 2, {2, 2, 2, 2}, 0, "Relu", 2},
    {1, 64, 7, 7, 64, 3, 3, 1, 1, {1, 1, 1, 1}, 1, "Relu", 0},
    {1, 40, 7, 7, 32, 1, 1, 1, 1, {0, 0, 0, 0}, 1, NULL, 0},
    {2, 16, 5, 9, 64, 3, 3, 1, 1, {0, 2, 1, 0}, 0, "Sigmoid", 0},
    {1, 24, 9, 9, 32, 3, 3, 1, 1, {2, 2, 2, 2}, 1, "Relu", 2},
};

static void run_case(const conv_case *t)
{
    conv_case_data d;
    cc_prepare(t, &d);
    const char *paths[2] = {"1", NULL};
    for (int p = 0; p < 2; p++) {
        /* twice: the second run reuses the context's scratch */
        double err = cc_run(&d, "FWD_CONV_PHASE", paths[p], false, 2);
        tu_check(err >= 0 && err <= 5e-6, "%s, FWD_CONV_PHASE=%s: max error %.2e <= 5e-6", d.what,
                 paths[p] ? paths[p] : "-", err);
    }
    cc_free(&d);
}

/* ---- MaxPool (the vectorised 3-wide stride-2 rows of pool.c) ---- */

typedef struct pcase {
    int64_t n, c, h, w, k, s;
    int64_t pads[4];
    int ceil_mode;
} pcase;

static const pcase pools[] = {
    {1, 64, 112, 112, 3, 2, {1, 1, 1, 1}, 0}, {2, 3, 13, 37, 3, 2, {1, 1, 1, 1}, 0},
    {1, 5, 17, 16, 3, 2, {0, 0, 0, 0}, 0},    {1, 4, 9, 35, 3, 2, {1, 0, 0, 1}, 1},
    {1, 2, 40, 53, 3, 2, {1, 1, 1, 1}, 1},    {1, 3, 8, 8, 2, 2, {0, 0, 0, 0}, 0},
};

static void run_pool(const pcase *t)
{
    int64_t eh = t->h + t->pads[0] + t->pads[2] - t->k, ew = t->w + t->pads[1] + t->pads[3] - t->k;
    int64_t oh = (t->ceil_mode ? eh + t->s - 1 : eh) / t->s + 1, ow = (t->ceil_mode ? ew + t->s - 1 : ew) / t->s + 1;
    /* ceil mode: a window must start inside the input or its left pad */
    if (t->ceil_mode && (oh - 1) * t->s >= t->h + t->pads[0]) oh--;
    if (t->ceil_mode && (ow - 1) * t->s >= t->w + t->pads[1]) ow--;
    int64_t nx = t->n * t->c * t->h * t->w, ny = t->n * t->c * oh * ow;
    float *x = malloc(sizeof(float) * (size_t)nx);
    double *ref = malloc(sizeof(double) * (size_t)ny);
    if (!x || !ref) abort();
    for (int64_t i = 0; i < nx; i++) x[i] = tu_rnd();
    for (int64_t p = 0; p < t->n * t->c; p++)
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++) {
                double best = -INFINITY;
                for (int64_t ky = 0; ky < t->k; ky++)
                    for (int64_t kx = 0; kx < t->k; kx++) {
                        int64_t iy = oy * t->s + ky - t->pads[0], ix = ox * t->s + kx - t->pads[1];
                        if (iy < 0 || iy >= t->h || ix < 0 || ix >= t->w) continue;
                        best = fmax(best, x[(p * t->h + iy) * t->w + ix]);
                    }
                ref[(p * oh + oy) * ow + ox] = best;
            }
    pb g = {0}, model = {0}, op = {0}, attrs = {0};
    const int64_t k[2] = {t->k, t->k}, st[2] = {t->s, t->s};
    attr_ints(&attrs, "kernel_shape", k, 2);
    attr_ints(&attrs, "strides", st, 2);
    attr_ints(&attrs, "pads", t->pads, 4);
    if (t->ceil_mode) {
        pb a = {0};
        pb_str(&a, 1, "ceil_mode");
        pb_int(&a, 3, 1);
        pb_int(&a, 20, 2); /* INT */
        pb_msg(&attrs, 5, &a);
    }
    const char *in[1] = {"x"};
    node(&g, "MaxPool", in, 1, "y", &attrs);
    pb_str(&g, 2, "pool");
    const int64_t xd[4] = {t->n, t->c, t->h, t->w}, yd[4] = {t->n, t->c, oh, ow};
    value_info(&g, 11, "x", xd, 4);
    value_info(&g, 12, "y", yd, 4);
    pb_int(&model, 1, 8);
    pb_msg(&model, 7, &g);
    pb_int(&op, 2, 13);
    pb_msg(&model, 8, &op);
    fwd_model *mo = NULL;
    fwd_builder *b = NULL;
    fwd_engine *e = NULL;
    fwd_context *c = NULL;
    fwd_tensor xt, y;
    memset(&xt, 0, sizeof xt);
    memset(&y, 0, sizeof y);
    xt.name = "x";
    xt.dtype = FWD_FLOAT32;
    xt.rank = 4;
    memcpy(xt.dims, xd, sizeof xd);
    xt.data = x;
    xt.size = sizeof(float) * (size_t)nx;
    y.name = "y";
    fwd_status st2 = fwd_model_load_memory(model.p, model.n, NULL, &mo);
    if (!st2) st2 = fwd_builder_create(&b);
    if (!st2) st2 = fwd_builder_build(b, mo, &e);
    if (!st2) st2 = fwd_context_create(e, &c);
    if (!st2) st2 = fwd_context_run(c, &xt, 1, &y, 1);
    int64_t bad = -1;
    if (!st2) {
        bad = 0;
        const float *got = y.data;
        for (int64_t i = 0; i < ny; i++) bad += got[i] != (float)ref[i];
    }
    tu_check(bad == 0, "MaxPool n%lld c%lld %lldx%lld k%lld s%lld pads %lld,%lld,%lld,%lld ceil %d: exact (%s, %lld wrong)",
             (long long)t->n, (long long)t->c, (long long)t->h, (long long)t->w, (long long)t->k, (long long)t->s,
             (long long)t->pads[0], (long long)t->pads[1], (long long)t->pads[2], (long long)t->pads[3], t->ceil_mode,
             st2 ? fwd_last_error() : "ok", (long long)bad);
    fwd_context_free(c);
    fwd_engine_free(e);
    fwd_builder_free(b);
    fwd_model_free(mo);
    free(model.p);
    free(x);
    free(ref);
}

int main(void)
{
    tu_seed(11);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
    for (size_t i = 0; i < sizeof pools / sizeof pools[0]; i++) run_pool(&pools[i]);
    return tu_summary();
}

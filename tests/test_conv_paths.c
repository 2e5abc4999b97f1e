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

#include "fwd.h"
#include "onnx_writer.h"
#include "test_util.h"

/* ---- the cases ---- */

typedef struct ccase {
    int64_t n, c, h, w, m, kh, kw, sh, sw;
    int64_t pads[4]; /* top, left, bottom, right */
    int residual;
    const char *act; /* ONNX op, or NULL */
    int64_t dil;     /* dilation (both axes); 0 is 1 */
} ccase;

static const ccase cases[] = {
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

static double act_ref(const char *act, double v)
{
    if (!act) return v;
    if (!strcmp(act, "Relu")) return v > 0 ? v : 0;
    if (!strcmp(act, "LeakyRelu")) return v > 0 ? v : 0.1 * v;
    if (!strcmp(act, "Clip")) return v < -0.5 ? -0.5 : v > 0.5 ? 0.5 : v;
    if (!strcmp(act, "Sigmoid")) return 1 / (1 + exp(-v));
    if (!strcmp(act, "Tanh")) return tanh(v);
    if (!strcmp(act, "HardSwish")) {
        double t = v / 6 + 0.5;
        return v * (t < 0 ? 0 : t > 1 ? 1 : t);
    }
    return NAN;
}

static float rnd(void) { return tu_rnd(); }

/* The model of case t with weights w and bias b; *size its bytes. */
static unsigned char *make_model(const ccase *t, const float *w, const float *b, int64_t oh, int64_t ow, size_t *size)
{
    pb g = {0}, model = {0}, op = {0}, attrs = {0};
    const int64_t k[2] = {t->kh, t->kw}, st[2] = {t->sh, t->sw}, wd[4] = {t->m, t->c, t->kh, t->kw}, bd[1] = {t->m};
    attr_ints(&attrs, "kernel_shape", k, 2);
    attr_ints(&attrs, "strides", st, 2);
    int64_t pads[4] = {t->pads[0], t->pads[1], t->pads[2], t->pads[3]};
    attr_ints(&attrs, "pads", pads, 4);
    if (t->dil > 1) {
        const int64_t d[2] = {t->dil, t->dil};
        attr_ints(&attrs, "dilations", d, 2);
    }
    const char *conv_in[3] = {"x", "w", "b"};
    const char *last = "conv";
    node(&g, "Conv", conv_in, 3, last, &attrs);
    if (t->residual) {
        const char *in[2] = {last, "z"};
        node(&g, "Add", in, 2, "sum", NULL);
        last = "sum";
    }
    if (t->act) {
        pb a = {0};
        if (!strcmp(t->act, "LeakyRelu")) attr_float(&a, "alpha", 0.1f);
        if (!strcmp(t->act, "Clip")) {
            const int64_t none[1] = {0};
            const float lo = -0.5f, hi = 0.5f;
            initializer(&g, "lo", none, 0, &lo, 1);
            initializer(&g, "hi", none, 0, &hi, 1);
            const char *in[3] = {last, "lo", "hi"};
            node(&g, "Clip", in, 3, "y", NULL);
        } else {
            const char *in[1] = {last};
            node(&g, t->act, in, 1, "y", a.n ? &a : NULL);
        }
    } else {
        const char *in[1] = {last};
        node(&g, "Identity", in, 1, "y", NULL);
    }
    pb_str(&g, 2, "strided");
    initializer(&g, "w", wd, 4, w, (size_t)(t->m * t->c * t->kh * t->kw));
    initializer(&g, "b", bd, 1, b, (size_t)t->m);
    const int64_t xd[4] = {t->n, t->c, t->h, t->w}, yd[4] = {t->n, t->m, oh, ow};
    value_info(&g, 11, "x", xd, 4);
    if (t->residual) value_info(&g, 11, "z", yd, 4);
    value_info(&g, 12, "y", yd, 4);
    pb_int(&model, 1, 8); /* ir_version */
    pb_msg(&model, 7, &g);
    pb_int(&op, 2, 13); /* opset */
    pb_msg(&model, 8, &op);
    free(attrs.p);
    *size = model.n;
    return model.p;
}

/* Builds the model with FWD_CONV_PHASE=phase (NULL: unset), runs it on x
 * (and z) twice, returns the max error relative to max(1, |ref|) (or -1
 * when it fails). */
static double run_path(const char *what, const unsigned char *model, size_t size, const char *phase, fwd_tensor *in,
                       int n_in, const double *ref, int64_t ny)
{
    if (phase)
        setenv("FWD_CONV_PHASE", phase, 1);
    else
        unsetenv("FWD_CONV_PHASE");
    fwd_model *mo = NULL;
    fwd_builder *b = NULL;
    fwd_engine *e = NULL;
    fwd_context *c = NULL;
    fwd_tensor y;
    memset(&y, 0, sizeof y);
    y.name = "y";
    double worst = -1;
    fwd_status st = fwd_model_load_memory(model, size, NULL, &mo);
    if (!st) st = fwd_builder_create(&b);
    if (!st) st = fwd_builder_set_optimization(b, 1);
    if (!st) st = fwd_builder_build(b, mo, &e);
    if (!st) {
        char layers[256];
        tu_layer_list(e, layers, sizeof layers);
        tu_check(strncmp(layers, "FusedConv", 9) == 0 || strncmp(layers, "Conv", 4) == 0, "%s: one conv layer (%s)",
                 what, layers);
        st = fwd_context_create(e, &c);
    }
    /* twice: the second run reuses the context's scratch */
    for (int r = 0; r < 2 && !st; r++) {
        y.data = NULL;
        st = fwd_context_run(c, in, n_in, &y, 1);
    }
    tu_check(!st, "%s (FWD_CONV_PHASE=%s): builds and runs (%s)", what, phase ? phase : "-",
             st ? fwd_last_error() : "ok");
    if (!st) {
        const float *got = y.data;
        worst = 0;
        for (int64_t i = 0; i < ny; i++) {
            double d = fabs(got[i] - ref[i]) / fmax(1.0, fabs(ref[i]));
            if (!(d <= worst)) worst = d; /* NaN too */
        }
    }
    fwd_context_free(c);
    fwd_engine_free(e);
    fwd_builder_free(b);
    fwd_model_free(mo);
    unsetenv("FWD_CONV_PHASE");
    return worst;
}

static void run_case(const ccase *t)
{
    int64_t dil = t->dil > 1 ? t->dil : 1;
    int64_t oh = (t->h + t->pads[0] + t->pads[2] - dil * (t->kh - 1) - 1) / t->sh + 1;
    int64_t ow = (t->w + t->pads[1] + t->pads[3] - dil * (t->kw - 1) - 1) / t->sw + 1;
    int64_t kk = t->kh * t->kw;
    int64_t nx = t->n * t->c * t->h * t->w, ny = t->n * t->m * oh * ow, nw = t->m * t->c * kk;
    float *x = malloc(sizeof(float) * (size_t)nx), *z = malloc(sizeof(float) * (size_t)ny);
    float *w = malloc(sizeof(float) * (size_t)nw), *b = malloc(sizeof(float) * (size_t)t->m);
    double *ref = malloc(sizeof(double) * (size_t)ny);
    if (!x || !z || !w || !b || !ref) abort();
    /* ResNet-like scales: unit inputs, weights ~ 1 / sqrt(k c) */
    float ws = 1.0f / sqrtf((float)(kk * t->c) / 3.0f);
    for (int64_t i = 0; i < nx; i++) x[i] = rnd();
    for (int64_t i = 0; i < nw; i++) w[i] = rnd() * ws;
    for (int64_t i = 0; i < t->m; i++) b[i] = rnd() * 0.5f;
    for (int64_t i = 0; i < ny; i++) z[i] = rnd();
    for (int64_t n = 0; n < t->n; n++)
        for (int64_t m = 0; m < t->m; m++)
            for (int64_t oy = 0; oy < oh; oy++)
                for (int64_t ox = 0; ox < ow; ox++) {
                    double s = b[m];
                    for (int64_t c = 0; c < t->c; c++)
                        for (int64_t ky = 0; ky < t->kh; ky++)
                            for (int64_t kx = 0; kx < t->kw; kx++) {
                                int64_t iy = oy * t->sh + ky * dil - t->pads[0];
                                int64_t ix = ox * t->sw + kx * dil - t->pads[1];
                                if (iy < 0 || iy >= t->h || ix < 0 || ix >= t->w) continue;
                                s += (double)x[((n * t->c + c) * t->h + iy) * t->w + ix] *
                                     w[((m * t->c + c) * t->kh + ky) * t->kw + kx];
                            }
                    int64_t i = ((n * t->m + m) * oh + oy) * ow + ox;
                    ref[i] = act_ref(t->act, s + (t->residual ? z[i] : 0.0));
                }
    size_t size;
    unsigned char *model = make_model(t, w, b, oh, ow, &size);
    fwd_tensor in[2];
    memset(in, 0, sizeof in);
    in[0].name = "x";
    in[0].dtype = FWD_FLOAT32;
    in[0].rank = 4;
    in[0].dims[0] = t->n;
    in[0].dims[1] = t->c;
    in[0].dims[2] = t->h;
    in[0].dims[3] = t->w;
    in[0].data = x;
    in[0].size = sizeof(float) * (size_t)nx;
    in[1] = in[0];
    in[1].name = "z";
    in[1].dims[1] = t->m;
    in[1].dims[2] = oh;
    in[1].dims[3] = ow;
    in[1].data = z;
    in[1].size = sizeof(float) * (size_t)ny;
    char what[200];
    snprintf(what, sizeof what, "n%lld c%lld %lldx%lld m%lld k%lldx%lld s%lldx%lld d%lld pads %lld,%lld,%lld,%lld%s %s",
             (long long)t->n, (long long)t->c, (long long)t->h, (long long)t->w, (long long)t->m, (long long)t->kh,
             (long long)t->kw, (long long)t->sh, (long long)t->sw, (long long)dil, (long long)t->pads[0], (long long)t->pads[1],
             (long long)t->pads[2], (long long)t->pads[3], t->residual ? " +z" : "", t->act ? t->act : "");
    const char *paths[2] = {"1", NULL};
    for (int p = 0; p < 2; p++) {
        double err = run_path(what, model, size, paths[p], in, t->residual ? 2 : 1, ref, ny);
        tu_check(err >= 0 && err <= 5e-6, "%s, FWD_CONV_PHASE=%s: max error %.2e <= 5e-6", what,
                 paths[p] ? paths[p] : "-", err);
    }
    free(model);
    free(x);
    free(z);
    free(w);
    free(b);
    free(ref);
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
    for (int64_t i = 0; i < nx; i++) x[i] = rnd();
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

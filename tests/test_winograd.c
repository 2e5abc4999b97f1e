/*
 * Winograd convolutions (F(2x2, 3x3) and F(4x4, 3x3)) against a direct
 * reference computed here in double precision, through the public API.
 * Each case is a Conv (+ Add of a residual input) (+ an activation) made
 * as an ONNX model in memory; at optimization level 1 the builder fuses
 * it into one FusedConv, and FWD_WINOGRAD=2/4 makes it pick that
 * algorithm for any 3x3 stride-1 shape it qualifies for (FWD_WINOGRAD=0:
 * direct, for comparison). Shapes cover channels that are not multiples
 * of 8 or 16, odd and tiny images, pads 0 and 1 (also asymmetric),
 * batches, every fused activation.
 *
 *   test_winograd            FWD_NO_AVX512=1 runs the AVX2 kernels
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwd.h"
#include "onnx_writer.h"
#include "test_util.h"

/* ---- the cases ---- */

typedef struct wcase {
    int64_t n, c, h, w, m;
    int64_t pads[4]; /* top, left, bottom, right */
    int residual;
    const char *act; /* ONNX op, or NULL */
} wcase;

static const wcase cases[] = {
    {1, 8, 8, 8, 24, {1, 1, 1, 1}, 0, "Relu"},
    {1, 13, 17, 19, 24, {1, 1, 1, 1}, 1, "Relu"},
    {2, 37, 14, 14, 48, {1, 1, 1, 1}, 1, NULL},
    {1, 20, 9, 23, 24, {0, 0, 0, 0}, 0, "LeakyRelu"},
    {1, 16, 28, 28, 48, {1, 1, 1, 1}, 1, "Clip"},
    {3, 9, 7, 7, 24, {1, 1, 1, 1}, 0, "Sigmoid"},
    {1, 64, 56, 56, 48, {1, 1, 1, 1}, 1, "Relu"},
    {1, 11, 5, 6, 24, {1, 0, 0, 1}, 0, "Tanh"},
    {1, 24, 31, 70, 24, {1, 1, 1, 1}, 0, "HardSwish"},
    {2, 10, 4, 4, 24, {1, 1, 1, 1}, 1, "Relu"},
    {1, 33, 12, 3, 72, {0, 1, 2, 1}, 0, "Relu"},
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
static unsigned char *make_model(const wcase *t, const float *w, const float *b, int64_t oh, int64_t ow, size_t *size)
{
    pb g = {0}, model = {0}, op = {0}, attrs = {0};
    const int64_t k[2] = {3, 3}, wd[4] = {t->m, t->c, 3, 3}, bd[1] = {t->m};
    attr_ints(&attrs, "kernel_shape", k, 2);
    int64_t pads[4] = {t->pads[0], t->pads[1], t->pads[2], t->pads[3]};
    attr_ints(&attrs, "pads", pads, 4);
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
    pb_str(&g, 2, "winograd");
    initializer(&g, "w", wd, 4, w, (size_t)(t->m * t->c * 9));
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

/* Builds the model with FWD_WINOGRAD=algo, runs it on x (and z), returns
 * the max error relative to max(1, |ref|) (or -1 when it fails). */
static double run_algo(const wcase *t, const char *what, const unsigned char *model, size_t size, const char *algo,
                       fwd_tensor *in, int n_in, const double *ref, int64_t ny)
{
    setenv("FWD_WINOGRAD", algo, 1);
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
        tu_check(strncmp(layers, "FusedConv", 9) == 0 && !strchr(layers, ','), "%s: one FusedConv layer (%s)",
                 what, layers);
        st = fwd_context_create(e, &c);
    }
    if (!st) st = fwd_context_run(c, in, n_in, &y, 1);
    tu_check(!st, "%s (FWD_WINOGRAD=%s): builds and runs (%s)", what, algo, st ? fwd_last_error() : "ok");
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
    unsetenv("FWD_WINOGRAD");
    (void)t;
    return worst;
}

static void run_case(const wcase *t)
{
    int64_t oh = t->h + t->pads[0] + t->pads[2] - 2, ow = t->w + t->pads[1] + t->pads[3] - 2;
    int64_t nx = t->n * t->c * t->h * t->w, ny = t->n * t->m * oh * ow, nw = t->m * t->c * 9;
    float *x = malloc(sizeof(float) * (size_t)nx), *z = malloc(sizeof(float) * (size_t)ny);
    float *w = malloc(sizeof(float) * (size_t)nw), *b = malloc(sizeof(float) * (size_t)t->m);
    double *ref = malloc(sizeof(double) * (size_t)ny);
    if (!x || !z || !w || !b || !ref) abort();
    /* ResNet-like scales: unit inputs, weights ~ 1 / sqrt(9 c) */
    float ws = 1.0f / sqrtf(3.0f * (float)t->c);
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
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++) {
                                int64_t iy = oy + ky - t->pads[0], ix = ox + kx - t->pads[1];
                                if (iy < 0 || iy >= t->h || ix < 0 || ix >= t->w) continue;
                                s += (double)x[((n * t->c + c) * t->h + iy) * t->w + ix] *
                                     w[((m * t->c + c) * 3 + ky) * 3 + kx];
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
    char what[160];
    snprintf(what, sizeof what, "n%lld c%lld %lldx%lld m%lld pads %lld,%lld,%lld,%lld%s %s", (long long)t->n,
             (long long)t->c, (long long)t->h, (long long)t->w, (long long)t->m, (long long)t->pads[0],
             (long long)t->pads[1], (long long)t->pads[2], (long long)t->pads[3], t->residual ? " +z" : "",
             t->act ? t->act : "");
    const char *algos[3] = {"0", "2", "4"};
    for (int a = 0; a < 3; a++) {
        double err = run_algo(t, what, model, size, algos[a], in, t->residual ? 2 : 1, ref, ny);
        /* F(4x4)'s larger transform constants cost a few bits */
        double tol = a == 2 ? 1e-5 : 5e-6;
        tu_check(err >= 0 && err <= tol, "%s, FWD_WINOGRAD=%s: max error %.2e <= %.0e", what, algos[a], err, tol);
    }
    free(model);
    free(x);
    free(z);
    free(w);
    free(b);
    free(ref);
}

int main(void)
{
    tu_seed(7);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
    return tu_summary();
}

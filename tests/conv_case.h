/*
 * One convolution test case for tests that check a convolution path
 * through the public API against a direct reference computed in double
 * precision (test_winograd, test_conv_paths): a Conv (+ Add of a residual
 * input z) (+ an activation) made as an ONNX model in memory, its random
 * inputs and weights (ResNet-like scales), the reference, and a run of
 * the model built at optimization level 1 with one environment variable
 * set (the path under test).
 */
#ifndef FWD_TESTS_CONV_CASE_H
#define FWD_TESTS_CONV_CASE_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwd.h"
#include "onnx_writer.h"
#include "test_util.h"

typedef struct conv_case {
    int64_t n, c, h, w, m, kh, kw, sh, sw;
    int64_t pads[4]; /* top, left, bottom, right */
    int residual;
    const char *act; /* ONNX op, or NULL */
    int64_t dil;     /* dilation (both axes); 0 is 1 */
} conv_case;

/* A case made ready to run: the model, its inputs, the reference output. */
typedef struct conv_case_data {
    unsigned char *model;
    size_t size;
    float *x, *z, *w, *b;
    double *ref;
    int64_t ny;
    fwd_tensor in[2];
    int n_in;
    char what[200]; /* the case, for messages */
} conv_case_data;

static inline double cc_act_ref(const char *act, double v)
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

static inline unsigned char *cc_model(const conv_case *t, const float *w, const float *b, int64_t oh, int64_t ow,
                                      size_t *size)
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
    pb_str(&g, 2, "conv_case");
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

/* Random x, weights (~ 1 / sqrt(taps c / 3)), bias and z from tu_rnd, the
 * reference, the model and its inputs. */
static inline void cc_prepare(const conv_case *t, conv_case_data *d)
{
    int64_t dil = t->dil > 1 ? t->dil : 1;
    int64_t oh = (t->h + t->pads[0] + t->pads[2] - dil * (t->kh - 1) - 1) / t->sh + 1;
    int64_t ow = (t->w + t->pads[1] + t->pads[3] - dil * (t->kw - 1) - 1) / t->sw + 1;
    int64_t kk = t->kh * t->kw;
    int64_t nx = t->n * t->c * t->h * t->w, ny = t->n * t->m * oh * ow, nw = t->m * t->c * kk;
    memset(d, 0, sizeof *d);
    d->x = malloc(sizeof(float) * (size_t)nx);
    d->z = malloc(sizeof(float) * (size_t)ny);
    d->w = malloc(sizeof(float) * (size_t)nw);
    d->b = malloc(sizeof(float) * (size_t)t->m);
    d->ref = malloc(sizeof(double) * (size_t)ny);
    if (!d->x || !d->z || !d->w || !d->b || !d->ref) abort();
    float *x = d->x, *z = d->z, *w = d->w, *b = d->b;
    float ws = 1.0f / sqrtf((float)(kk * t->c) / 3.0f);
    for (int64_t i = 0; i < nx; i++) x[i] = tu_rnd();
    for (int64_t i = 0; i < nw; i++) w[i] = tu_rnd() * ws;
    for (int64_t i = 0; i < t->m; i++) b[i] = tu_rnd() * 0.5f;
    for (int64_t i = 0; i < ny; i++) z[i] = tu_rnd();
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
                    d->ref[i] = cc_act_ref(t->act, s + (t->residual ? z[i] : 0.0));
                }
    d->ny = ny;
    d->model = cc_model(t, w, b, oh, ow, &d->size);
    fwd_tensor *in = d->in;
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
    d->n_in = t->residual ? 2 : 1;
    snprintf(d->what, sizeof d->what,
             "n%lld c%lld %lldx%lld m%lld k%lldx%lld s%lldx%lld d%lld pads %lld,%lld,%lld,%lld%s %s", (long long)t->n,
             (long long)t->c, (long long)t->h, (long long)t->w, (long long)t->m, (long long)t->kh, (long long)t->kw,
             (long long)t->sh, (long long)t->sw, (long long)dil, (long long)t->pads[0], (long long)t->pads[1],
             (long long)t->pads[2], (long long)t->pads[3], t->residual ? " +z" : "", t->act ? t->act : "");
}

/* Builds d's model with env=value (value NULL: unset), checks it is one
 * FusedConv layer (fused_only) or one conv layer, runs it runs times (a
 * later run reuses the context's scratch) and returns the max error of
 * the last against the reference, relative to max(1, |ref|); -1 when it
 * fails. */
static inline double cc_run(conv_case_data *d, const char *env, const char *value, bool fused_only, int runs)
{
    if (value)
        setenv(env, value, 1);
    else
        unsetenv(env);
    fwd_model *mo = NULL;
    fwd_builder *b = NULL;
    fwd_engine *e = NULL;
    fwd_context *c = NULL;
    fwd_tensor y;
    memset(&y, 0, sizeof y);
    y.name = "y";
    double worst = -1;
    fwd_status st = fwd_model_load_memory(d->model, d->size, NULL, &mo);
    if (!st) st = fwd_builder_create(&b);
    if (!st) st = fwd_builder_set_optimization(b, 1);
    if (!st) st = fwd_builder_build(b, mo, &e);
    if (!st) {
        char layers[256];
        tu_layer_list(e, layers, sizeof layers);
        if (fused_only)
            tu_check(strncmp(layers, "FusedConv", 9) == 0 && !strchr(layers, ','), "%s: one FusedConv layer (%s)",
                     d->what, layers);
        else
            tu_check(strncmp(layers, "FusedConv", 9) == 0 || strncmp(layers, "Conv", 4) == 0,
                     "%s: one conv layer (%s)", d->what, layers);
        st = fwd_context_create(e, &c);
    }
    for (int r = 0; r < runs && !st; r++) {
        y.data = NULL;
        st = fwd_context_run(c, d->in, d->n_in, &y, 1);
    }
    tu_check(!st, "%s (%s=%s): builds and runs (%s)", d->what, env, value ? value : "-",
             st ? fwd_last_error() : "ok");
    if (!st) {
        const float *got = y.data;
        worst = 0;
        for (int64_t i = 0; i < d->ny; i++) {
            double dv = fabs(got[i] - d->ref[i]) / fmax(1.0, fabs(d->ref[i]));
            if (!(dv <= worst)) worst = dv; /* NaN too */
        }
    }
    fwd_context_free(c);
    fwd_engine_free(e);
    fwd_builder_free(b);
    fwd_model_free(mo);
    unsetenv(env);
    return worst;
}

static inline void cc_free(conv_case_data *d)
{
    free(d->model);
    free(d->x);
    free(d->z);
    free(d->w);
    free(d->b);
    free(d->ref);
}

#endif

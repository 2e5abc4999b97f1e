/*
 * Accuracy of the fast activations against float64 libm, over a dense
 * grid of inputs and a few special values, through the public API:
 *
 *   - Gelu (erf and tanh forms) as a layer of its own: the array
 *     functions, 16 lanes with AVX-512, then 8 with AVX2, then scalar
 *     code for the tail (the element count is chosen to reach all three);
 *   - MatMul by an identity matrix followed by Gelu, Sigmoid or Tanh,
 *     which level 1 fuses into one FusedMatMul: the activation then runs
 *     on the GEMM's register tiles (exactly the inputs, since a product
 *     with the identity is exact), and level 0 runs the layer alone.
 *
 * Errors are measured in units of 2^-24 * max(|x|, |ref|) (the rounding
 * of the inputs a GELU multiplies, or of the result), so a bound of a few
 * units means float32 accuracy, not a loose tolerance: measured on an
 * AVX-512 CPU, 2 to 4.1 units at level 0 and 1 (GELU's op chain at level
 * 0 the most), against a bound of 6.
 *
 *   test_activations          (FWD_NO_AVX512=1: the AVX2 GEMM kernel)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwd.h"
#include "onnx_writer.h"
#include "test_util.h"

#define COLS 64
/* grid points: 16 * 2999 + 8 + 5, so the array functions end with an
 * 8-lane step and 5 scalar ones; the matrix case uses the first rows */
#define N_GRID (16 * 2999 + 13)
#define GRID_LO (-12.0)
#define GRID_HI 12.0

typedef double (*ref_fn)(double);

static double gelu_ref(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }
static double gelu_tanh_ref(double x)
{
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}
static double sigmoid_ref(double x) { return 1.0 / (1.0 + exp(-x)); }

typedef enum act_kind { ACT_GELU, ACT_GELU_TANH, ACT_SIGMOID, ACT_TANH } act_kind;

typedef struct act_case {
    const char *name;
    act_kind kind;
    ref_fn ref;
    double bound; /* in units of 2^-24 * max(|x|, |ref|) */
} act_case;

static const act_case cases[] = {
    {"gelu", ACT_GELU, gelu_ref, 6.0},
    {"gelu_tanh", ACT_GELU_TANH, gelu_tanh_ref, 6.0},
    {"sigmoid", ACT_SIGMOID, sigmoid_ref, 6.0},
    {"tanh", ACT_TANH, tanh, 6.0},
};

/* A scalar constant named name. */
static void scalar(pb *g, const char *name, float v) { initializer(g, name, NULL, 0, &v, 1); }

static void binary(pb *g, const char *op, const char *a, const char *b, const char *out)
{
    const char *in[2] = {a, b};
    node(g, op, in, 2, out, NULL);
}

/* The activation of value a into y, as exporters write it: GELU as its
 * chain of ops (level 1 fuses it into one Gelu, level 0 runs the ops). */
static void activation(pb *g, act_kind kind, const char *a)
{
    switch (kind) {
    case ACT_GELU: /* 0.5 * (a * (1 + erf(a / sqrt 2))) */
        scalar(g, "sqrt2", 1.41421356f);
        scalar(g, "one", 1.0f);
        scalar(g, "half", 0.5f);
        binary(g, "Div", a, "sqrt2", "d");
        node(g, "Erf", &(const char *){"d"}, 1, "e", NULL);
        binary(g, "Add", "e", "one", "e1");
        binary(g, "Mul", a, "e1", "m");
        binary(g, "Mul", "m", "half", "y");
        break;
    case ACT_GELU_TANH: /* 0.5 * (a * (1 + tanh(sqrt(2/pi) * (a + 0.044715 a^3)))) */
        scalar(g, "three", 3.0f);
        scalar(g, "c3", 0.044715f);
        scalar(g, "k", 0.7978845608f);
        scalar(g, "one", 1.0f);
        scalar(g, "half", 0.5f);
        binary(g, "Pow", a, "three", "p");
        binary(g, "Mul", "p", "c3", "p3");
        binary(g, "Add", a, "p3", "s");
        binary(g, "Mul", "s", "k", "u");
        node(g, "Tanh", &(const char *){"u"}, 1, "t", NULL);
        binary(g, "Add", "t", "one", "t1");
        binary(g, "Mul", a, "t1", "m");
        binary(g, "Mul", "m", "half", "y");
        break;
    case ACT_SIGMOID: node(g, "Sigmoid", &a, 1, "y", NULL); break;
    case ACT_TANH: node(g, "Tanh", &a, 1, "y", NULL); break;
    }
}

/* A model: y = act(x) (rows 0: x is [n]) or y = act(x @ I) (x [rows, COLS]). */
static pb make_model(const act_case *c, int64_t n, int64_t rows)
{
    pb g = {0}, model = {0}, op = {0};
    const char *act_in = "x";
    if (rows > 0) {
        float *eye = calloc(COLS * COLS, sizeof(float));
        if (!eye) abort();
        for (int i = 0; i < COLS; i++) eye[i * COLS + i] = 1.0f;
        const int64_t wd[2] = {COLS, COLS};
        initializer(&g, "eye", wd, 2, eye, COLS * COLS);
        free(eye);
        binary(&g, "MatMul", "x", "eye", "t0");
        act_in = "t0";
    }
    activation(&g, c->kind, act_in);
    pb_str(&g, 2, c->name);
    const int64_t d1[1] = {n}, d2[2] = {rows, COLS};
    value_info(&g, 11, "x", rows > 0 ? d2 : d1, rows > 0 ? 2 : 1);
    value_info(&g, 12, "y", rows > 0 ? d2 : d1, rows > 0 ? 2 : 1);
    pb_int(&model, 1, 8);
    pb_msg(&model, 7, &g);
    pb_int(&op, 2, 17);
    pb_msg(&model, 8, &op);
    return model;
}

static char run_error[512]; /* the last failure of run_model */

/* Runs the model at level on x (n floats) into y; the layer list into
 * layers. */
static fwd_status run_model(const pb *model, int level, const float *x, int64_t n, int64_t rows, float *y,
                            char *layers, size_t cap)
{
    fwd_model *m = NULL;
    fwd_builder *b = NULL;
    fwd_engine *e = NULL;
    fwd_context *ctx = NULL;
    fwd_tensor xt, yt;
    memset(&xt, 0, sizeof xt);
    memset(&yt, 0, sizeof yt);
    xt.name = "x";
    xt.dtype = FWD_FLOAT32;
    xt.rank = rows > 0 ? 2 : 1;
    xt.dims[0] = rows > 0 ? rows : n;
    xt.dims[1] = COLS;
    xt.data = (void *)x;
    xt.size = sizeof(float) * (size_t)n;
    yt.name = "y";
    yt.data = y;
    yt.size = sizeof(float) * (size_t)n;
    fwd_status st = fwd_model_load_memory(model->p, model->n, NULL, &m);
    if (!st) st = fwd_builder_create(&b);
    if (!st) st = fwd_builder_set_optimization(b, level);
    if (!st) st = fwd_builder_build(b, m, &e);
    if (!st) tu_layer_list(e, layers, cap);
    if (!st) st = fwd_context_create(e, &ctx);
    if (!st) st = fwd_context_run(ctx, &xt, 1, &yt, 1);
    if (st) snprintf(run_error, sizeof run_error, "%s", fwd_last_error());
    fwd_context_free(ctx);
    fwd_engine_free(e);
    fwd_builder_free(b);
    fwd_model_free(m);
    return st;
}

/* The largest error of y against c->ref over x, in the units above; NaN
 * inputs must give NaN. *at receives the worst input. */
static double max_error(const act_case *c, const float *x, const float *y, int64_t n, float *at)
{
    double worst = 0.0;
    *at = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(x[i])) {
            if (!isnan(y[i])) {
                *at = x[i];
                return INFINITY;
            }
            continue;
        }
        double r = c->ref((double)x[i]);
        double scale = fmax(fabs((double)x[i]), fabs(r));
        double err = fabs((double)y[i] - r);
        double units = scale > 0 ? err / (scale * 0x1p-24) : (err > 0 ? INFINITY : 0.0);
        if (!(units <= worst)) {
            worst = units;
            *at = x[i];
        }
    }
    return worst;
}

/* The grid, then special values over its last points. */
static void fill_inputs(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) x[i] = (float)(GRID_LO + (GRID_HI - GRID_LO) * (double)i / (double)(n - 1));
    const float specials[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-3f, -1e-3f, 30.0f, -30.0f, 1e30f, NAN};
    int k = (int)(sizeof specials / sizeof specials[0]);
    for (int i = 0; i < k; i++) x[n / 2 + i] = specials[i];
}

static void run_case(const act_case *c, bool through_gemm)
{
    int64_t rows = through_gemm ? N_GRID / COLS : 0;
    int64_t n = through_gemm ? rows * COLS : N_GRID;
    float *x = malloc(sizeof(float) * (size_t)n), *y0 = malloc(sizeof(float) * (size_t)n),
          *y1 = malloc(sizeof(float) * (size_t)n);
    if (!x || !y0 || !y1) abort();
    fill_inputs(x, n);
    pb model = make_model(c, n, rows);
    char layers0[256], layers1[256];
    const char *path = through_gemm ? "after MatMul" : "alone";
    fwd_status st0 = run_model(&model, 0, x, n, rows, y0, layers0, sizeof layers0);
    fwd_status st1 = st0 ? st0 : run_model(&model, 1, x, n, rows, y1, layers1, sizeof layers1);
    tu_check(!st0 && !st1, "%s %s: builds and runs at levels 0 and 1 (%s)", c->name, path,
             st0 || st1 ? run_error : "ok");
    if (!st0 && !st1) {
        if (through_gemm)
            tu_check(strncmp(layers1, "FusedMatMul", 11) == 0 && !strchr(layers1, ','),
                     "%s %s: level 1 is one FusedMatMul (%s)", c->name, path, layers1);
        float at0, at1;
        double e0 = max_error(c, x, y0, n, &at0), e1 = max_error(c, x, y1, n, &at1);
        tu_check(e0 <= c->bound, "%s %s, level 0: max error %.2f units (at x = %g) <= %.0f", c->name, path, e0,
                 (double)at0, c->bound);
        if (!through_gemm && c->kind <= ACT_GELU_TANH)
            tu_check(strncmp(layers1, "Gelu[", 5) == 0 && !strchr(layers1, ','), "%s %s: level 1 is one Gelu (%s)",
                     c->name, path, layers1);
        tu_check(e1 <= c->bound, "%s %s, level 1: max error %.2f units (at x = %g) <= %.0f", c->name, path, e1,
                 (double)at1, c->bound);
    }
    free(model.p);
    free(x);
    free(y0);
    free(y1);
}

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_case(&cases[i], false);
        run_case(&cases[i], true);
    }
    return tu_summary();
}

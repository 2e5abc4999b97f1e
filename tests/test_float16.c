/*
 * float16 build mode through the public API: small graphs
 * (the .onnx files of tests/f16, made by gen_f16_models.py there) and the digits
 * example, built with mode "float16", match the float32 engine within
 * float16 tolerance, keep float32 inputs and outputs, and report float16
 * precision for the layers that were converted.
 *
 *   test_float16 [REPO_DIR]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwd.h"
#include "test_util.h"

static char root[2048] = ".";

#define MAX_IO TU_MAX_IO

/* Inputs for an engine (tu_make_input: float32 random, bool = flag,
 * others zero). Buffers are freed by free_inputs. */
static int make_inputs(const fwd_engine *e, fwd_tensor *in, int flag)
{
    int n = 0;
    fwd_engine_num_inputs(e, &n);
    if (n > MAX_IO) n = MAX_IO;
    for (int i = 0; i < n; i++) {
        fwd_tensor_info info;
        fwd_engine_input(e, i, &info);
        tu_make_input(&info, flag, &in[i]);
    }
    return n;
}

static void free_inputs(fwd_tensor *in, int n)
{
    for (int i = 0; i < n; i++) free(in[i].data);
}

/* Run e on the inputs; outputs point into the context c (kept open). */
static fwd_status run(const fwd_engine *e, fwd_context **c, const fwd_tensor *in, int n_in,
                      fwd_tensor *out, int *n_out)
{
    fwd_engine_num_outputs(e, n_out);
    if (*n_out > MAX_IO) *n_out = MAX_IO;
    for (int i = 0; i < *n_out; i++) {
        fwd_tensor_info info;
        fwd_engine_output(e, i, &info);
        memset(&out[i], 0, sizeof out[i]);
        out[i].name = info.name;
    }
    fwd_status st = fwd_context_create(e, c);
    if (!st) st = fwd_context_run(*c, in, n_in, out, *n_out);
    return st;
}

/* Compare the float16 engine's outputs with the float32 one's: float
 * outputs within 1e-2 * max(1, |ref|), others exactly. Returns the worst
 * error relative to max(1, |ref|) over float outputs. */
static double compare(const char *what, const fwd_tensor *ref, const fwd_tensor *got, int n)
{
    double worst = 0.0;
    for (int i = 0; i < n; i++) {
        const fwd_tensor *r = &ref[i], *g = &got[i];
        int same_shape = r->dtype == g->dtype && r->rank == g->rank;
        for (int d = 0; same_shape && d < r->rank; d++) same_shape = r->dims[d] == g->dims[d];
        tu_check(same_shape, "%s: output '%s' keeps dtype %s and shape", what, r->name,
              fwd_dtype_name(r->dtype));
        if (!same_shape || !r->data || !g->data) continue;
        int64_t count = fwd_tensor_numel(r);
        if (r->dtype == FWD_FLOAT32) {
            const float *a = r->data, *b = g->data;
            int64_t at = 0;
            double err = tu_max_rel_error(a, b, count, &at);
            if (err > worst) worst = err;
            tu_check(err <= 1e-2, "%s: output '%s' max error %.2e (at %lld: %g vs %g)", what, r->name, err,
                  (long long)at, count ? a[at] : 0.0, count ? b[at] : 0.0);
        } else {
            int eq = memcmp(r->data, g->data, r->size < g->size ? r->size : g->size) == 0;
            tu_check(eq, "%s: output '%s' (%s) equal", what, r->name, fwd_dtype_name(r->dtype));
        }
    }
    return worst;
}

/* Layer checks: each op in f16_ops has a float16 layer; each op in
 * f32_ops has only float32 layers. Lists end with NULL. */
static void check_layers(const char *what, const fwd_engine *e, const char *const *f16_ops,
                         const char *const *f32_ops)
{
    int n = 0;
    fwd_engine_num_layers(e, &n);
    int n16 = 0;
    for (int i = 0; i < n; i++) {
        fwd_layer_info li;
        if (fwd_engine_layer(e, i, &li) == FWD_OK && li.precision == FWD_FLOAT16) n16++;
    }
    tu_check(n16 > 0, "%s: %d of %d layers compute in float16", what, n16, n);
    if (getenv("FWD_TEST_VERBOSE"))
        for (int i = 0; i < n; i++) {
            fwd_layer_info li;
            if (fwd_engine_layer(e, i, &li) == FWD_OK)
                printf("    layer %d: %s '%s' %s%s%s\n", i, li.op_type, li.name, fwd_dtype_name(li.precision),
                       li.fused[0] ? " fused " : "", li.fused);
        }
    for (int k = 0; f16_ops && f16_ops[k]; k++) {
        int found = 0;
        for (int i = 0; i < n; i++) {
            fwd_layer_info li;
            if (fwd_engine_layer(e, i, &li) == FWD_OK && strcmp(li.op_type, f16_ops[k]) == 0 &&
                li.precision == FWD_FLOAT16)
                found = 1;
        }
        tu_check(found, "%s: a %s layer computes in float16", what, f16_ops[k]);
    }
    for (int k = 0; f32_ops && f32_ops[k]; k++) {
        int bad = 0, seen = 0;
        for (int i = 0; i < n; i++) {
            fwd_layer_info li;
            if (fwd_engine_layer(e, i, &li) == FWD_OK && strcmp(li.op_type, f32_ops[k]) == 0) {
                seen = 1;
                if (li.precision == FWD_FLOAT16) bad = 1;
            }
        }
        tu_check(seen && !bad, "%s: %s stays in float32", what, f32_ops[k]);
    }
}

static void test_model(const char *file, const char *const *f16_ops, const char *const *f32_ops,
                       int n_flags)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, file);
    fwd_engine *e32 = NULL, *e16 = NULL;
    fwd_status st = tu_build(path, "float32", 1, &e32);
    tu_check(st == FWD_OK, "%s: float32 build (%s)", file, tu_build_error);
    if (st) return;
    st = tu_build(path, "float16", 1, &e16);
    tu_check(st == FWD_OK, "%s: float16 build (%s)", file, tu_build_error);
    if (st) {
        fwd_engine_free(e32);
        return;
    }
    fwd_engine_summary s16, s32;
    if (fwd_engine_summarize(e16, &s16) == FWD_OK && fwd_engine_summarize(e32, &s32) == FWD_OK)
        tu_check(strcmp(s16.mode, "float16") == 0, "%s: engine mode '%s'; weights %zu bytes (float32: %zu)",
              file, s16.mode, s16.weight_bytes, s32.weight_bytes);
    check_layers(file, e16, f16_ops, f32_ops);
    for (int flag = 0; flag < n_flags; flag++) {
        fwd_tensor in[MAX_IO], r[MAX_IO], g[MAX_IO];
        tu_seed(42u + (uint32_t)flag);
        int n_in = make_inputs(e32, in, flag);
        fwd_context *c32 = NULL, *c16 = NULL;
        int n_out = 0, n_out16 = 0;
        char what[256];
        snprintf(what, sizeof what, "%s%s", file, n_flags > 1 ? (flag ? " [flag 1]" : " [flag 0]") : "");
        st = run(e32, &c32, in, n_in, r, &n_out);
        tu_check(st == FWD_OK, "%s: float32 run (%s)", what, st ? fwd_last_error() : "ok");
        if (!st) {
            st = run(e16, &c16, in, n_in, g, &n_out16);
            tu_check(st == FWD_OK && n_out == n_out16, "%s: float16 run (%s)", what,
                  st ? fwd_last_error() : "ok");
            if (!st && n_out == n_out16) compare(what, r, g, n_out);
        }
        fwd_context_free(c32);
        fwd_context_free(c16);
        free_inputs(in, n_in);
    }
    fwd_engine_free(e16);
    fwd_engine_free(e32);
}

/* The digits example: the same digit read from each sample in float16. */
static void test_digits(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/examples/digits/digits.onnx", root);
    fwd_engine *e32 = NULL, *e16 = NULL;
    fwd_status st = tu_build(path, "float32", 1, &e32);
    if (!st) st = tu_build(path, "float16", 1, &e16);
    tu_check(st == FWD_OK, "digits: builds (%s)", tu_build_error);
    if (st) goto done;
    check_layers("digits", e16, NULL, NULL);
    int agree = 0;
    double worst = 0.0;
    for (int d = 0; d < 10; d++) {
        char npy[4200];
        snprintf(npy, sizeof npy, "%s/examples/digits/samples/digit_%d.npy", root, d);
        fwd_tensor in;
        if (fwd_tensor_read_file(npy, &in) != FWD_OK) {
            tu_check(0, "digits: read %s: %s", npy, fwd_last_error());
            continue;
        }
        const char *own_name = in.name; /* owned by the tensor */
        in.name = "image";
        fwd_tensor r[MAX_IO], g[MAX_IO];
        fwd_context *c32 = NULL, *c16 = NULL;
        int n32 = 0, n16 = 0;
        st = run(e32, &c32, &in, 1, r, &n32);
        if (!st) st = run(e16, &c16, &in, 1, g, &n16);
        if (st) {
            tu_check(0, "digits: run sample %d: %s", d, fwd_last_error());
        } else {
            const float *a = r[0].data, *b = g[0].data;
            double err = tu_max_rel_error(a, b, 10, NULL);
            if (!(err <= worst)) worst = err;
            int ia = 0, ib = 0;
            for (int k = 0; k < 10; k++) {
                if (a[k] > a[ia]) ia = k;
                if (b[k] > b[ib]) ib = k;
            }
            agree += ia == ib;
        }
        fwd_context_free(c32);
        fwd_context_free(c16);
        in.name = own_name;
        fwd_tensor_release(&in);
    }
    tu_check(agree == 10, "digits: float16 reads the same digit as float32 in %d of 10 samples", agree);
    tu_check(worst <= 1e-2, "digits: scores max error %.2e", worst);
done:
    fwd_engine_free(e16);
    fwd_engine_free(e32);
}

int main(int argc, char **argv)
{
    if (argc > 1) snprintf(root, sizeof root, "%s", argv[1]);
    static const char *const mlp16[] = {"Softmax", NULL};
    static const char *const conv16[] = {"MaxPool", "GlobalAveragePool", NULL};
    static const char *const enc16[] = {"LayerNormalization", "MatMul", "ReduceMean", NULL};
    static const char *const mixed16[] = {"Resize", "Sigmoid", "Where", NULL};
    static const char *const mixed32[] = {"Range", NULL};
    static const char *const branch16[] = {"Sigmoid", NULL};
    static const char *const branch32[] = {"If", NULL};
    test_model("tests/f16/mlp.onnx", mlp16, NULL, 1);
    test_model("tests/f16/convnet.onnx", conv16, NULL, 1);
    test_model("tests/f16/encoder.onnx", enc16, NULL, 1);
    test_model("tests/f16/mixed.onnx", mixed16, mixed32, 1);
    test_model("tests/f16/branch.onnx", branch16, branch32, 2);
    static const char *const rows16[] = {"Softmax", "LogSoftmax", "LayerNormalization", NULL};
    test_model("tests/f16/rows.onnx", rows16, NULL, 1);
    test_digits();
    return tu_summary();
}

/*
 * Public API behaviour: builder options, run-time checks of inputs and
 * outputs (each a specific status and a message naming the input), and
 * shape folding as seen through the engine's layer count.
 *
 *   test_api [REPO_DIR]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwd.h"
#include "test_util.h"

/* st must be want, and the last error must contain needle. */
static void expect(fwd_status st, fwd_status want, const char *needle, const char *what)
{
    tu_expect(st, want, what, needle, NULL, NULL);
}

static char root[2048] = ".";

static void path_of(char *buf, size_t cap, const char *rel) { snprintf(buf, cap, "%s/%s", root, rel); }

static void test_builder_options(void)
{
    fwd_builder *b;
    expect(fwd_builder_create(&b), FWD_OK, NULL, "builder create");
    expect(fwd_builder_set_mode(b, "float32"), FWD_OK, NULL, "mode float32");
    expect(fwd_builder_set_mode(b, "fp32"), FWD_ERR_INVALID_ARGUMENT, "fp32", "unknown mode named");
    expect(fwd_builder_set_mode(b, "int8"), FWD_ERR_NOT_YET_SUPPORTED, "int8", "int8 not yet");
    expect(fwd_builder_set_mode(b, "int8_calib"), FWD_ERR_NOT_YET_SUPPORTED, "int8_calib", "int8_calib not yet");
    expect(fwd_builder_set_device(b, (fwd_device)7), FWD_ERR_INVALID_ARGUMENT, "7", "unknown device");
    expect(fwd_builder_set_mode(NULL, "float32"), FWD_ERR_INVALID_ARGUMENT, NULL, "NULL builder");
    fwd_builder_free(b);
    expect(fwd_model_load(NULL, NULL), FWD_ERR_INVALID_ARGUMENT, NULL, "NULL model path");
}

static void test_run_checks(void)
{
    char path[4096];
    path_of(path, sizeof path, "examples/digits/digits.onnx");
    fwd_model *m = NULL;
    fwd_builder *b = NULL;
    fwd_engine *e = NULL;
    fwd_context *c = NULL;
    fwd_status st = fwd_model_load(path, &m);
    expect(st, FWD_OK, NULL, "load digits.onnx");
    if (st) return;
    fwd_builder_create(&b);
    st = fwd_builder_build(b, m, &e);
    expect(st, FWD_OK, NULL, "build digits");
    fwd_model_free(m); /* the engine must not need the model any more */
    if (st) goto done;
    expect(fwd_context_create(e, &c), FWD_OK, NULL, "context");

    float img[64], img2[2 * 64];
    for (int i = 0; i < 64; i++) img[i] = (float)(i % 16) / 16.0f;
    for (int i = 0; i < 128; i++) img2[i] = img[i % 64];
    fwd_tensor in = {.name = "image", .dtype = FWD_FLOAT32, .rank = 4, .dims = {1, 1, 8, 8},
                     .data = img, .size = sizeof img};
    fwd_tensor out = {.name = "scores"};
    expect(fwd_context_run(c, &in, 1, &out, 1), FWD_OK, NULL, "run batch 1");
    tu_check(out.dtype == FWD_FLOAT32 && out.rank == 2 && out.dims[0] == 1 && out.dims[1] == 10 && out.data,
          "output scores is float32 [1,10]");
    float first[10];
    if (out.data) memcpy(first, out.data, sizeof first);

    /* a dynamic batch of 2 gives the same scores for the same image */
    fwd_tensor in2 = in;
    in2.dims[0] = 2;
    in2.data = img2;
    in2.size = sizeof img2;
    float user_out[20];
    fwd_tensor out2 = {.name = "scores", .data = user_out, .size = sizeof user_out};
    expect(fwd_context_run(c, &in2, 1, &out2, 1), FWD_OK, NULL, "run batch 2 into a caller buffer");
    int same = out2.dims[0] == 2;
    for (int i = 0; i < 20 && same; i++) same = user_out[i] == first[i % 10];
    tu_check(same, "batch 2 rows equal the batch 1 result bit for bit");

    fwd_tensor small = {.name = "scores", .data = user_out, .size = 4};
    expect(fwd_context_run(c, &in, 1, &small, 1), FWD_ERR_SHAPE, "scores", "output buffer too small");

    expect(fwd_context_run(c, NULL, 0, &out, 1), FWD_ERR_NOT_FOUND, "image", "missing input named");
    fwd_tensor wrong = in;
    wrong.name = "picture";
    expect(fwd_context_run(c, &wrong, 1, &out, 1), FWD_ERR_NOT_FOUND, "picture", "unknown input named");
    wrong = in;
    wrong.dtype = FWD_FLOAT64;
    expect(fwd_context_run(c, &wrong, 1, &out, 1), FWD_ERR_DTYPE, "image", "wrong dtype named");
    wrong = in;
    wrong.dims[2] = 9;
    expect(fwd_context_run(c, &wrong, 1, &out, 1), FWD_ERR_SHAPE, "image", "wrong dim named");
    wrong = in;
    wrong.rank = 3;
    expect(fwd_context_run(c, &wrong, 1, &out, 1), FWD_ERR_SHAPE, "image", "wrong rank named");
    wrong = in;
    wrong.size = 10;
    expect(fwd_context_run(c, &wrong, 1, &out, 1), FWD_ERR_SHAPE, "image", "short input buffer named");
    fwd_tensor bad_out = {.name = "logits"};
    expect(fwd_context_run(c, &in, 1, &bad_out, 1), FWD_ERR_NOT_FOUND, "logits", "unknown output named");
    fwd_tensor twice[2] = {in, in};
    expect(fwd_context_run(c, twice, 2, &out, 1), FWD_ERR_INVALID_ARGUMENT, "image", "input given twice");
done:
    fwd_context_free(c);
    fwd_engine_free(e);
    fwd_builder_free(b);
}

/* Shape -> Gather -> Unsqueeze -> Concat -> Reshape folds to one Reshape
 * when the input shape is static; with a symbolic batch only the shape
 * computation that needs the batch stays. */
static void test_shape_folding(const char *file, int want_max_layers)
{
    char path[4096];
    path_of(path, sizeof path, file);
    fwd_model *m = NULL;
    fwd_builder *b = NULL;
    fwd_engine *e = NULL;
    fwd_context *c = NULL;
    if (fwd_model_load(path, &m)) {
        tu_check(0, "load %s: %s", file, fwd_last_error());
        return;
    }
    fwd_builder_create(&b);
    fwd_status st = fwd_builder_build(b, m, &e);
    expect(st, FWD_OK, NULL, file);
    if (st == FWD_OK) {
        int layers = -1;
        fwd_engine_num_layers(e, &layers);
        tu_check(layers >= 1 && layers <= want_max_layers, "%s: %d layers after folding (at most %d)", file, layers,
              want_max_layers);
        fwd_context_create(e, &c);
        float x[2 * 12];
        for (int i = 0; i < 24; i++) x[i] = (float)(i - 12);
        fwd_tensor in = {.name = "x", .dtype = FWD_FLOAT32, .rank = 3, .dims = {2, 3, 4}, .data = x,
                         .size = sizeof x};
        fwd_tensor out = {.name = "y"};
        st = fwd_context_run(c, &in, 1, &out, 1);
        int ok = st == FWD_OK && out.rank == 2 && out.dims[0] == 2 && out.dims[1] == 12;
        for (int i = 0; ok && i < 24; i++) ok = ((float *)out.data)[i] == (x[i] > 0 ? x[i] : 0);
        tu_check(ok, "%s: reshaped relu output is right (%s)", file, st ? fwd_last_error() : "ok");
    }
    fwd_context_free(c);
    fwd_engine_free(e);
    fwd_builder_free(b);
    fwd_model_free(m);
}

/* Weights in an external data file are read from beside the model. */
static void test_external_weights(void)
{
    char path[4096];
    path_of(path, sizeof path, "tests/models/external_weights.onnx");
    fwd_model *m = NULL;
    fwd_builder *b = NULL;
    fwd_engine *e = NULL;
    fwd_context *c = NULL;
    fwd_status st = fwd_model_load(path, &m);
    expect(st, FWD_OK, NULL, "load a model with external weights");
    if (st) return;
    fwd_builder_create(&b);
    st = fwd_builder_build(b, m, &e);
    if (st == FWD_OK) st = fwd_context_create(e, &c);
    float x[4] = {1, 1, 1, 1};
    fwd_tensor in = {.name = "x", .dtype = FWD_FLOAT32, .rank = 1, .dims = {4}, .data = x, .size = sizeof x};
    fwd_tensor out = {.name = "y"};
    if (st == FWD_OK) st = fwd_context_run(c, &in, 1, &out, 1);
    int ok = st == FWD_OK && out.rank == 1 && out.dims[0] == 4;
    for (int i = 0; ok && i < 4; i++) ok = ((float *)out.data)[i] == (float)(i + 1);
    tu_check(ok, "external weights read as [1,2,3,4] (%s)", st ? fwd_last_error() : "ok");
    fwd_context_free(c);
    fwd_engine_free(e);
    fwd_builder_free(b);
    fwd_model_free(m);
}

int main(int argc, char **argv)
{
    snprintf(root, sizeof root, "%s", argc > 1 ? argv[1] : FWD_TESTS_DIR "/..");
    test_builder_options();
    test_run_checks();
    test_shape_folding("tests/models/shape_chain_static.onnx", 2);
    test_shape_folding("tests/models/shape_chain_dynamic.onnx", 6);
    test_external_weights();
    return tu_summary();
}

/*
 * FusedConv and FusedMatMul kernels through the public API: each graph of
 * tests/passes/perf (made by tests/passes/perf/gen_perf_models.py: a Conv,
 * MatMul or Gemm with a bias, a residual and an activation) is built at
 * optimization level 1, where the builder fuses it into one FusedConv or
 * FusedMatMul layer, and at level 0 (plain Conv/MatMul kernels). Both must
 * match the float64 reference output stored beside the model, and each
 * other closely. Convolutions with 8k output channels have their
 * weights packed by the builder, 3x3 stride-1 ones with enough output
 * transformed for Winograd F(2x2, 3x3) (on CPUs it does that for).
 *
 *   test_fused_linear [MODELS_DIR]
 *
 * FWD_NO_AVX512=1 in the environment runs the AVX2 GEMM kernel instead.
 */
#include <stdio.h>
#include <string.h>

#include "fwd.h"
#include "test_util.h"

#ifndef FWD_TESTS_DIR
#define FWD_TESTS_DIR "tests"
#endif

#define MAX_IN 4

static char dir[2048] = FWD_TESTS_DIR "/passes/perf";

typedef struct test_case {
    const char *name;
    const char *fused_op; /* the one layer expected at level 1 */
    const char *unfused;  /* or NULL; else also accepted (a pass that does
                             not fuse this dtype) */
    int n_inputs;
} test_case;

static const test_case cases[] = {
    {"conv3x3_relu", "FusedConv", NULL, 1},
    {"conv_small_residual_relu", "FusedConv", NULL, 2},
    {"conv1x1_batch_clip", "FusedConv", NULL, 1},
    {"conv_group_silu", "FusedConv", NULL, 1},
    {"conv_depthwise_hardswish", "FusedConv", NULL, 2},
    {"conv1d_leaky", "FusedConv", NULL, 1},
    {"conv7x7s2_sigmoid", "FusedConv", NULL, 1},
    {"conv_tails_tanh", "FusedConv", NULL, 1},
    {"conv_f16_relu", "FusedConv", "Conv,Relu", 1},
    {"conv_packed_residual_relu", "FusedConv", NULL, 2},
    {"conv_packed_7x7s2_relu", "FusedConv", NULL, 1},
    {"conv_packed_1x1_plain", "Conv", NULL, 1},
    {"conv_winograd_odd_relu", "FusedConv", NULL, 1},
    {"conv_winograd_wide_residual_clip", "FusedConv", NULL, 2},
    {"matmul_bias_relu", "FusedMatMul", NULL, 1},
    {"matmul_batched_tanh", "FusedMatMul", NULL, 2},
    {"matmul_row_sigmoid", "FusedMatMul", NULL, 1},
    {"matmul_gelu", "FusedMatMul", NULL, 1},
    {"matmul_gelu_tanh", "FusedMatMul", NULL, 1},
    {"gemm_trans_relu", "FusedMatMul", NULL, 1},
    {"gemm_fullc_leaky", "FusedMatMul", NULL, 1},
};

static fwd_status build(const char *name, int level, fwd_engine **e)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.onnx", dir, name);
    return tu_build(path, NULL, level, e);
}

static fwd_status run(fwd_engine *e, fwd_tensor *in, int n_in, fwd_context **c, fwd_tensor *out)
{
    memset(out, 0, sizeof *out);
    out->name = "y";
    fwd_status st = fwd_context_create(e, c);
    if (!st) st = fwd_context_run(*c, in, n_in, out, 1);
    return st;
}

static void run_case(const test_case *t)
{
    fwd_engine *e1 = NULL, *e0 = NULL;
    fwd_context *c1 = NULL, *c0 = NULL;
    fwd_tensor in[MAX_IN], ref, y1, y0;
    const char *own_names[MAX_IN]; /* the names fwd_tensor_release frees */
    int n_loaded = 0, have_ref = 0;
    char path[4096];
    memset(&ref, 0, sizeof ref);
    for (int i = 0; i < t->n_inputs; i++) {
        snprintf(path, sizeof path, "%s/%s.in%d.npy", dir, t->name, i);
        if (fwd_tensor_read_file(path, &in[i]) != FWD_OK) {
            tu_check(0, "%s: read %s: %s", t->name, path, fwd_last_error());
            goto done;
        }
        n_loaded++;
        own_names[i] = in[i].name;
        int conv = strncmp(t->name, "conv", 4) == 0;
        in[i].name = i == 0 ? (conv ? "x" : "a") : (conv ? "z" : "b");
    }
    snprintf(path, sizeof path, "%s/%s.out0.npy", dir, t->name);
    if (fwd_tensor_read_file(path, &ref) != FWD_OK) {
        tu_check(0, "%s: read %s: %s", t->name, path, fwd_last_error());
        goto done;
    }
    have_ref = 1;
    fwd_status s1 = build(t->name, 1, &e1), s0 = build(t->name, 0, &e0);
    tu_check(!s1 && !s0, "%s: builds at levels 1 and 0 (%s)", t->name, s1 || s0 ? fwd_last_error() : "ok");
    if (s1 || s0) goto done;
    char layers[1024];
    int count = tu_layer_list(e1, layers, sizeof layers);
    tu_check((count == 1 && strncmp(layers, t->fused_op, strlen(t->fused_op)) == 0) ||
              (t->unfused && strcmp(layers, t->unfused) == 0),
          "%s: level 1 is one %s layer (%s)", t->name, t->fused_op, layers);
    s1 = run(e1, in, t->n_inputs, &c1, &y1);
    s0 = run(e0, in, t->n_inputs, &c0, &y0);
    tu_check(!s1 && !s0, "%s: runs at both levels (%s)", t->name, s1 || s0 ? fwd_last_error() : "ok");
    if (s1 || s0) goto done;
    int half = ref.dtype == FWD_FLOAT16;
    double tol = half ? 1e-2 : 1e-4;
    fwd_compare_result r;
    fwd_status sc = fwd_tensor_compare(&y1, &ref, tol, tol, &r);
    tu_check(!sc && r.mismatches == 0, "%s: level 1 matches the reference (max error %.2e)", t->name,
          sc ? -1.0 : r.max_abs_diff);
    sc = fwd_tensor_compare(&y0, &ref, tol, tol, &r);
    tu_check(!sc && r.mismatches == 0, "%s: level 0 matches the reference (max error %.2e)", t->name,
          sc ? -1.0 : r.max_abs_diff);
    sc = fwd_tensor_compare(&y1, &y0, half ? 2e-3 : 1e-5, half ? 2e-3 : 1e-5, &r);
    tu_check(!sc && r.mismatches == 0, "%s: level 1 matches level 0 (max difference %.2e)", t->name,
          sc ? -1.0 : r.max_abs_diff);
done:
    fwd_context_free(c1);
    fwd_context_free(c0);
    fwd_engine_free(e1);
    fwd_engine_free(e0);
    for (int i = 0; i < n_loaded; i++) {
        in[i].name = own_names[i];
        fwd_tensor_release(&in[i]);
    }
    if (have_ref) fwd_tensor_release(&ref);
}

int main(int argc, char **argv)
{
    if (argc > 1) snprintf(dir, sizeof dir, "%s", argv[1]);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
    return tu_summary();
}

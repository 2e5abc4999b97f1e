/*
 * The passes eliminate_identity, fold_conv_bn and fuse_bias_activation
 * through the public API: each small graph of tests/passes/pa (made by
 * tests/passes/pa/gen_pa_models.py) is built at optimization level 1 and
 * level 0; the level-1 layer list must be the expected one and its outputs
 * must match level 0's on fixed random inputs.
 *
 * A layer list is written "Op,Op[fused],..." (fused: the layer's fused
 * string when not empty); '*' in an expectation matches any text within
 * one layer. Graphs
 * fused into FusedConv/FusedMatMul have a second expectation for backends
 * without those kernels (the pass must then leave them alone); which one
 * applies is found by probing.
 *
 *   test_passes_linear [MODELS_DIR]
 */
#include <stdio.h>
#include <string.h>

#include "fwd.h"
#include "test_util.h"

#ifndef FWD_TESTS_DIR
#define FWD_TESTS_DIR "tests"
#endif

static char dir[2048] = FWD_TESTS_DIR "/passes/pa";

/* Glob where '*' matches any text within one layer (no ','). */
static int glob(const char *p, const char *s)
{
    if (*p == 0) return *s == 0;
    if (*p == '*') {
        for (;; s++) {
            if (glob(p + 1, s)) return 1;
            if (*s == 0 || *s == ',') return 0;
        }
    }
    return *p == *s && glob(p + 1, s + 1);
}

static fwd_status build(const char *file, int level, fwd_engine **e)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.onnx", dir, file);
    return tu_build(path, NULL, level, e);
}

typedef struct test_case {
    const char *file;
    char needs;             /* 'c': FusedConv, 'm': FusedMatMul, 0: neither */
    const char *fused;      /* layers when the fused kernel exists */
    const char *plain;      /* layers otherwise (NULL: same as fused) */
} test_case;

static const test_case cases[] = {
    /* eliminate_identity */
    {"id_chain", 0, "Relu,Sigmoid", NULL},
    {"id_output", 0, "Relu", NULL},
    {"id_input_output", 0, "Identity,Relu", NULL},
    {"id_both_outputs", 0, "Relu,Identity", NULL},
    {"dropout", 0, "Relu", NULL},
    {"dropout_mask", 0, "Dropout,Relu", NULL},
    {"dropout_training_false", 0, "Tanh", NULL},
    /* fold_conv_bn */
    {"conv_bn", 0, "Conv[Conv+BatchNormalization]", NULL},
    {"conv_bn_depthwise", 0, "Conv[Conv+BatchNormalization]", NULL},
    {"convtranspose_bn", 0, "ConvTranspose[ConvTranspose+BatchNormalization]", NULL},
    {"convtranspose_bn_group", 0, "Conv,ConvTranspose[ConvTranspose+BatchNormalization]", NULL},
    {"conv_bn_shared", 0, "Conv,BatchNormalization,Relu", NULL},
    {"conv_bn_output", 0, "Conv,BatchNormalization", NULL},
    {"conv_bn_nonconst", 0, "Conv,BatchNormalization", NULL},
    /* fuse_bias_activation: Conv */
    {"conv_bias_relu", 'c', "FusedConv[Conv+Add+Relu]", "Conv,Add,Relu"},
    {"conv_bias", 'c', "FusedConv[Conv+Add]", "Conv,Add"},
    {"conv_bn_residual_relu", 'c', "FusedConv[Conv+BatchNormalization+Add+Relu]",
     "Conv[Conv+BatchNormalization],Add,Relu"},
    {"conv_residual_dynamic", 'c', "FusedConv[Conv+Add]", "Conv,Add"},
    {"conv_relu6", 'c', "FusedConv[Conv+Clip]", "Conv,Clip"},
    {"conv_clip_min", 'c', "FusedConv[Conv+Clip]", "Conv,Clip"},
    {"conv_leakyrelu", 'c', "FusedConv[Conv+LeakyRelu]", "Conv,LeakyRelu"},
    {"conv_sigmoid", 'c', "FusedConv[Conv+Sigmoid]", "Conv,Sigmoid"},
    {"conv_silu", 'c', "FusedConv[Conv+Sigmoid+Mul]", "Conv,Sigmoid,Mul"},
    {"conv_hardswish", 'c', "FusedConv[Conv+HardSwish]", "Conv,HardSwish"},
    {"conv_tanh", 'c', "FusedConv[Conv+Tanh]", "Conv,Tanh"},
    /* the erf form may reach us already as one Gelu op (pass fuse_gelu) */
    {"conv_gelu_erf", 'c', "FusedConv[Conv+Div+Erf+Add+Mul+Mul]", "Conv,Gelu[*]"},
    {"conv_gelu_erf2", 'c', "FusedConv[Conv+*Erf*]", "Conv,Gelu[*]"},
    {"conv_bias_output_relu", 'c', "FusedConv[Conv+Add],Relu", "Conv,Add,Relu"},
    {"conv_bias_two_readers", 'c', "FusedConv[Conv+Add],Relu,Sigmoid", "Conv,Add,Relu,Sigmoid"},
    {"resnet_block", 'c',
     "FusedConv[Conv+BatchNormalization+Relu],FusedConv[Conv+BatchNormalization+Add+Relu]",
     "Conv[Conv+BatchNormalization],Relu,Conv[Conv+BatchNormalization],Add,Relu"},
    {"conv_silu_sigmoid_output", 0, "Conv,Sigmoid,Mul", NULL},
    {"conv_add_broadcast_input", 0, "Conv,Add", NULL},
    {"conv_relu_read_by_subgraph", 0, "Conv,Relu,If", NULL},
    {"id_read_by_subgraph", 0, "Conv,Tanh,If", NULL},
    /* fuse_bias_activation: MatMul and Gemm */
    {"matmul_bias", 'm', "FusedMatMul[MatMul+Add]", "MatMul,Add"},
    {"matmul_bias_relu", 'm', "FusedMatMul[MatMul+Add+Relu]", "MatMul,Add,Relu"},
    {"matmul_bias_gelu_erf", 'm', "FusedMatMul[MatMul+Add+Div+Erf+Add+Mul+Mul]", "MatMul,Add,Gelu[*]"},
    {"matmul_bias_gelu_tanh", 'm', "FusedMatMul[MatMul+Add+*Tanh*]", "MatMul,Add,Gelu[*]"},
    {"matmul_tanh", 'm', "FusedMatMul[MatMul+Tanh]", "MatMul,Tanh"},
    {"matmul_add_expands", 0, "MatMul,Add", NULL},
    {"matmul_plain", 0, "MatMul", NULL},
    {"gemm_relu", 'm', "FusedMatMul[Gemm+Relu]", "Gemm,Relu"},
    {"gemm_sigmoid_input_c", 'm', "FusedMatMul[Gemm+Sigmoid]", "Gemm,Sigmoid"},
    {"gemm_plain", 0, "Gemm", NULL},
};

/* Does level 1 turn this graph into a layer of op type op? */
static int probe(const char *file, const char *op)
{
    fwd_engine *e = NULL;
    if (build(file, 1, &e)) return 0;
    int n = 0, found = 0;
    fwd_engine_num_layers(e, &n);
    for (int i = 0; i < n; i++) {
        fwd_layer_info li;
        if (fwd_engine_layer(e, i, &li) == FWD_OK && strcmp(li.op_type, op) == 0) found = 1;
    }
    fwd_engine_free(e);
    return found;
}

static void run_case(const test_case *t, int have_conv, int have_mm)
{
    fwd_engine *e1 = NULL, *e0 = NULL;
    fwd_status st = build(t->file, 1, &e1);
    tu_check(st == FWD_OK, "%s: build at level 1 (%s)", t->file, st ? fwd_last_error() : "ok");
    if (st) return;
    st = build(t->file, 0, &e0);
    tu_check(st == FWD_OK, "%s: build at level 0 (%s)", t->file, st ? fwd_last_error() : "ok");
    if (st) {
        fwd_engine_free(e1);
        return;
    }
    int have = t->needs == 'c' ? have_conv : t->needs == 'm' ? have_mm : 1;
    const char *want = have || !t->plain ? t->fused : t->plain;
    char got[2048];
    tu_layer_list(e1, got, sizeof got);
    tu_check(glob(want, got), "%s: layers %s (expected %s)", t->file, got, want);
    tu_compare_levels(t->file, e0, e1, NULL, 0, 1e-4);
    fwd_engine_free(e1);
    fwd_engine_free(e0);
}

int main(int argc, char **argv)
{
    if (argc > 1) snprintf(dir, sizeof dir, "%s", argv[1]);
    int have_conv = probe("conv_bias_relu", "FusedConv");
    int have_mm = probe("matmul_bias_relu", "FusedMatMul");
    printf("FusedConv kernel: %s; FusedMatMul kernel: %s\n", have_conv ? "yes" : "no (fusions into it not expected)",
           have_mm ? "yes" : "no (fusions into it not expected)");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i], have_conv, have_mm);
    return tu_summary();
}

/*
 * The passes fuse_layernorm, fuse_gelu, fuse_attention (with its
 * sequence-major layout step), the residual Add of fuse_bias_activation,
 * fuse_matmul_layernorm and eliminate_transpose_reshape through the
 * public API. Each small graph of
 * tests/passes/pb (made by tests/passes/pb/gen_pb_models.py) is built at
 * optimization level 1 and level 0: the level-1 layers must be the
 * expected ones, and the level-1 outputs must match level 0's on fixed
 * random inputs. Then the zoo's BERT and GPT-2 (when tests/zoo has cached
 * them) must come out with FusedAttention, LayerNormalization and GELU
 * layers and outputs matching level 0 on their stored inputs.
 *
 * Expected layers are written "Op,Op[fused],..." where [fused] is the
 * layer's fused string when it has one; '*' matches any text.
 *
 *   test_passes_nlp [TESTS_DIR]
 */
#include <stdio.h>
#include <string.h>

#include "fwd.h"
#include "test_util.h"

#ifndef FWD_TESTS_DIR
#define FWD_TESTS_DIR "tests"
#endif

static char tests_dir[2048] = FWD_TESTS_DIR;

/* '*'-only wildcard match. */
static int matches(const char *pat, const char *s)
{
    for (; *pat; pat++, s++) {
        if (*pat == '*') {
            for (const char *t = s;; t++) {
                if (matches(pat + 1, t)) return 1;
                if (!*t) return 0;
            }
        }
        if (*pat != *s) return 0;
    }
    return *s == 0;
}

/* Count layers whose op type is op, or whose fused string holds part
 * (part may be NULL). */
static int count_layers(const fwd_engine *e, const char *op, const char *part)
{
    int n = 0, c = 0;
    fwd_engine_num_layers(e, &n);
    for (int i = 0; i < n; i++) {
        fwd_layer_info li;
        if (fwd_engine_layer(e, i, &li) != FWD_OK) continue;
        if ((op && strcmp(li.op_type, op) == 0) || (part && li.fused && strstr(li.fused, part))) c++;
    }
    return c;
}

typedef struct pass_case {
    const char *model;  /* tests/passes/pb/<model>.onnx */
    const char *layers; /* expected level-1 layers */
} pass_case;

#define ATT "MatMul+Div+Add+Softmax+MatMul"
#define LN_CHAIN "ReduceMean+Sub+*ReduceMean+Add+Sqrt+*"
#define LN "LayerNormalization[" LN_CHAIN "]"

static const pass_case cases[] = {
    /* fuse_layernorm */
    {"ln_pow_div", "LayerNormalization[ReduceMean+Sub+Pow+ReduceMean+Add+Sqrt+Div+Mul+Add]"},
    {"ln_mul_reciprocal_swapped", "LayerNormalization[ReduceMean+Sub+Mul+ReduceMean+Add+Sqrt+Reciprocal+Mul+Mul+Add]"},
    {"ln_two_axes", LN},
    {"ln_no_affine", "LayerNormalization[ReduceMean+Sub+Pow+ReduceMean+Add+Sqrt+Div]"},
    {"ln_symbolic_batch", LN},
    {"ln_long_row_shifted", "Add," LN},
    {"ln_middle_axis", "ReduceMean,Sub,Pow,ReduceMean,Add,Sqrt,Div,Mul"},
    {"ln_sub_output", "ReduceMean,Sub,Pow,ReduceMean,Add,Sqrt,Div,Mul,Add"},
    {"ln_gamma_leading", "LayerNormalization[ReduceMean+Sub+Pow+ReduceMean+Add+Sqrt+Div],Mul,Add"},
    /* fuse_gelu */
    {"gelu_erf_div", "Gelu[Div+Erf+Add+Mul+Mul]"},
    {"gelu_erf_mul_xhalf_b", "Gelu[Mul+*Erf+Add+Mul*]"},
    {"gelu_erf_halfb_x", "Gelu[Div+Erf+Add+Mul+Mul]"},
    {"gelu_tanh_pow", "Gelu[Pow+Mul+Add+Mul+Tanh+Add+Mul+Mul]"},
    {"gelu_tanh_mul_chain", "Gelu[Mul+Mul+Mul+Add+Mul+Tanh+Add+Mul+Mul]"},
    {"gelu_erf_wrong_const", "Div,Erf,Add,Mul,Mul"},
    {"gelu_erf_shared", "Div,Erf,Add,Mul,Mul"},
    {"gelu_tanh_wrong_const", "Pow,Mul,Add,Mul,Tanh,Add,Mul,Mul"},
    /* fuse_attention */
    {"attn_mask_input", "FusedAttention[Transpose+MatMul+Div+Add+Softmax+MatMul]"},
    {"attn_kt_input_mul", "FusedAttention[MatMul+Mul+Softmax+MatMul]"},
    {"attn_rank3_noscale", "FusedAttention[Transpose+MatMul+Softmax+MatMul]"},
    {"attn_const_mask", "FusedAttention[Transpose+MatMul+Div+Add+Softmax+MatMul]"},
    {"attn_symbolic", "FusedAttention[Transpose+MatMul+Div+Add+Softmax+MatMul]"},
    {"attn_block", "FusedAttention[Reshape+Reshape+Reshape+Transpose+Transpose+Transpose+" ATT "+Transpose+Reshape]"},
    /* sequence-major attention (fuse_attention_layout.c) */
    {"attn_packed", "FusedAttention[Split+Reshape+Reshape+Reshape+Transpose+Transpose+Transpose+" ATT "+Transpose+Reshape]"},
    {"attn_packed_kqv_swap", "FusedAttention[Split+*+MatMul+Div+Add+Softmax+MatMul+Transpose+Reshape]"},
    {"attn_packed_dv", "FusedAttention[Split+*+MatMul+Div+Softmax+MatMul+Transpose+Reshape]"},
    {"attn_separate", "FusedAttention[Reshape+Reshape+Reshape+Transpose+Transpose+Transpose+" ATT "+Transpose+Reshape]"},
    {"attn_packed_symbolic", "FusedAttention[Split+*+Transpose+Reshape]"},
    {"attn_split_output", "Split,FusedAttention[Reshape+Reshape+Reshape+*+Transpose+Reshape]"},
    {"attn_head_read_twice", "Split,Reshape,Reshape,Reshape,Transpose,Transpose,Transpose,FusedAttention[" ATT "],Transpose,Reshape"},
    {"attn_reshape_mixes", "Reshape,Reshape,Reshape,Transpose,Transpose,Transpose,FusedAttention[MatMul+Div+Softmax+MatMul],Transpose,Reshape"},
    {"attn_out_flat", "Split,Reshape,Reshape,Reshape,Transpose,Transpose,Transpose,FusedAttention[" ATT "],Transpose,Reshape"},
    {"attn_long", "FusedAttention[Transpose+MatMul+Div+Add+Softmax+MatMul]"},
    {"attn_broadcast", "FusedAttention[Transpose+MatMul+Div+Add+Softmax+MatMul]"},
    {"attn_float64", "Cast,Cast,Cast,Transpose,MatMul,Mul,Softmax,MatMul,Cast"}, /* kernel is float32 */
    {"attn_where_mask", "*MatMul,Div,Where,Softmax,MatMul"},
    {"attn_scores_output", "Transpose,MatMul,Div,Softmax,MatMul"},
    {"attn_mask_grows", "Transpose,MatMul,Div,Add,Softmax,MatMul"},
    /* residual Add into FusedMatMul (fuse_bias_activation) */
    {"mm_residual", "FusedMatMul[MatMul+Add+Add]"},
    {"mm_residual_nobias", "FusedMatMul[MatMul+Add]"},
    {"mm_residual_relu", "FusedMatMul[MatMul+Add+Add+Relu]"},
    {"mm_residual_few_rows", "FusedMatMul[MatMul+Add+Add]"},
    {"mm_residual_batched_tanh", "FusedMatMul[MatMul+Add+Tanh]"},
    {"bert_layer", "FusedMatMul[MatMul+Add],FusedAttention[Split+*],FusedMatMul[MatMul+Add+Add+" LN_CHAIN
                   "],FusedMatMul[MatMul+Add+Div+Erf+Add+Mul+Mul],FusedMatMul[MatMul+Add+Add+" LN_CHAIN "]"},
    {"mm_residual_broadcast", "FusedMatMul[MatMul+Add],Add"},
    {"mm_residual_mid_output", "FusedMatMul[MatMul+Add],Add"},
    {"mm_act_then_residual", "FusedMatMul[MatMul+Add+Relu],Add"},
    /* LayerNormalization into the FusedMatMul before it (fuse_matmul_layernorm) */
    {"mm_ln", "FusedMatMul[MatMul+Add+Add+LayerNormalization]"},
    {"mm_ln_rows", "FusedMatMul[MatMul+Add+Add+LayerNormalization]"},
    {"mm_ln_no_residual", "FusedMatMul[MatMul+Add+LayerNormalization]"},
    {"mm_ln_few_rows", "FusedMatMul[MatMul+Add+Add+LayerNormalization]"},
    {"mm_ln_gemm_trans", "FusedMatMul[Gemm+Add+LayerNormalization]"},
    {"mm_ln_two_axes", "FusedMatMul[MatMul+Add+Add],LayerNormalization"},
    {"mm_ln_sum_output", "FusedMatMul[MatMul+Add+Add],LayerNormalization"},
    /* eliminate_transpose_reshape */
    {"tt_identity", "Relu"},
    {"tt_merge", "Transpose,Relu"},
    {"tt_default_perm", "Relu"},
    {"tt_shared", "Transpose,Relu,Sigmoid"},
    {"t_identity_output", "Relu,Transpose"},
    {"rr_merge", "Reshape,Relu"},
    {"rr_back_to_input", "Relu"},
    {"rr_zero_kept", "Reshape,Reshape,Relu"},
    {"rr_dynamic", "Reshape,Relu"},
    {"reshape_same", "Relu"},
    {"unsqueeze_squeeze", "Relu"},
    {"squeeze_unsqueeze", "Relu"},
    {"unsqueeze_squeeze_other_axis", "Unsqueeze,Squeeze,Relu"},
    {"unsqueeze_squeeze_output", "Relu,Unsqueeze,Squeeze"},
};

static void run_case(const pass_case *t)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/passes/pb/%s.onnx", tests_dir, t->model);
    fwd_engine *e0 = NULL, *e1 = NULL;
    fwd_status st = tu_build(path, NULL, 1, &e1);
    tu_check(!st, "%s: builds at level 1%s%s", t->model, st ? ": " : "", st ? fwd_last_error() : "");
    if (!st) st = tu_build(path, NULL, 0, &e0);
    if (e1) tu_check(!st, "%s: builds at level 0%s%s", t->model, st ? ": " : "", st ? fwd_last_error() : "");
    if (!st) {
        char got[4096];
        tu_layer_list(e1, got, sizeof got);
        tu_check(matches(t->layers, got), "%s: layers %s (expected %s)", t->model, got, t->layers);
        tu_compare_levels(t->model, e0, e1, NULL, 0, 1e-4);
    }
    fwd_engine_free(e0);
    fwd_engine_free(e1);
}

/* Layers whose fused string holds part and that compute in dtype. */
static int count_fused_in(const fwd_engine *e, const char *part, fwd_dtype dtype)
{
    int n = 0, c = 0;
    fwd_engine_num_layers(e, &n);
    for (int i = 0; i < n; i++) {
        fwd_layer_info li;
        if (fwd_engine_layer(e, i, &li) == FWD_OK && li.fused && strstr(li.fused, part) && li.precision == dtype) c++;
    }
    return c;
}

/* The float16 engine (level 1) of a pass model: at least `want` layers
 * fused as `part` computing in float16, outputs within tol of float32 at
 * level 0. */
static void run_f16_case(const char *model, const char *part, int want, double tol)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/passes/pb/%s.onnx", tests_dir, model);
    fwd_engine *e0 = NULL, *e1 = NULL;
    fwd_status st = tu_build(path, "float16", 1, &e1);
    tu_check(!st, "%s float16: builds at level 1%s%s", model, st ? ": " : "", st ? fwd_last_error() : "");
    if (!st) st = tu_build(path, NULL, 0, &e0);
    if (!st) {
        int got = count_fused_in(e1, part, FWD_FLOAT16);
        tu_check(got >= want, "%s float16: %d layers fused as %s in float16 (want %d)", model, got, part, want);
        char what[256];
        snprintf(what, sizeof what, "%s float16", model);
        tu_compare_levels(what, e0, e1, NULL, 0, tol);
    }
    fwd_engine_free(e0);
    fwd_engine_free(e1);
}

/* A zoo model with its stored inputs (tests/zoo/models/<name>/in/<input>.npy). */
static void run_zoo(const char *name, const char *gelu_part)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/zoo/models/%s/model.onnx", tests_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("SKIP zoo %s: %s not cached (run tests/zoo/run_zoo.py)\n", name, path);
        return;
    }
    fclose(f);
    fwd_engine *e0 = NULL, *e1 = NULL;
    fwd_status st = tu_build(path, NULL, 1, &e1);
    tu_check(!st, "zoo %s: builds at level 1%s%s", name, st ? ": " : "", st ? fwd_last_error() : "");
    if (!st) st = tu_build(path, NULL, 0, &e0);
    if (e1) tu_check(!st, "zoo %s: builds at level 0%s%s", name, st ? ": " : "", st ? fwd_last_error() : "");
    if (st) goto done;
    int att = count_layers(e1, "FusedAttention", NULL), ln = count_layers(e1, "LayerNormalization", NULL);
    int gelu = count_layers(e1, "Gelu", gelu_part);
    tu_check(att >= 1 && ln >= 1 && gelu >= 1, "zoo %s: %d FusedAttention, %d LayerNormalization, %d GELU layers", name,
           att, ln, gelu);
    fwd_tensor in[TU_MAX_IO];
    const char *file_names[TU_MAX_IO];
    int n_in = 0, n_read = 0;
    fwd_engine_num_inputs(e1, &n_in);
    for (int i = 0; i < n_in && i < TU_MAX_IO; i++) {
        fwd_tensor_info info;
        fwd_engine_input(e1, i, &info);
        snprintf(path, sizeof path, "%s/zoo/models/%s/in/%s.npy", tests_dir, name, info.name);
        if (fwd_tensor_read_file(path, &in[n_read]) != FWD_OK) {
            tu_check(0, "zoo %s: read %s: %s", name, path, fwd_last_error());
            continue;
        }
        file_names[n_read] = in[n_read].name;
        in[n_read++].name = info.name;
    }
    if (n_read == n_in) tu_compare_levels(name, e0, e1, in, n_read, 1e-4);
    for (int i = 0; i < n_read; i++) {
        in[i].name = file_names[i]; /* the tensor owns the name it was read with */
        fwd_tensor_release(&in[i]);
    }
done:
    fwd_engine_free(e0);
    fwd_engine_free(e1);
}

int main(int argc, char **argv)
{
    if (argc > 1) snprintf(tests_dir, sizeof tests_dir, "%s", argv[1]);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
    /* the sequence-major attention and the residual FusedMatMul in float16 */
    run_f16_case("attn_packed", "Split+", 1, 2e-2);
    run_f16_case("attn_separate", "Transpose+Reshape", 1, 2e-2);
    run_f16_case("bert_layer", "MatMul+Add+Add", 2, 3e-2);
    run_zoo("bert", "Erf");
    run_zoo("gpt2", "Tanh");
    return tu_summary();
}

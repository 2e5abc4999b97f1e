/*
 * The passes fuse_layernorm, fuse_gelu, fuse_attention and
 * eliminate_transpose_reshape through the public API. Each small graph of
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
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwd.h"

#ifndef FWD_TESTS_DIR
#define FWD_TESTS_DIR "tests"
#endif

#define MAX_IO 8

static int n_pass, n_fail;
static char tests_dir[2048] = FWD_TESTS_DIR;

static void report(int ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(ok ? "PASS " : "FAIL ", stdout);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    if (ok)
        n_pass++;
    else
        n_fail++;
}

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

static uint32_t seed_state;
static float next_uniform(void) /* [-1, 1) */
{
    seed_state = seed_state * 1103515245u + 12345u;
    return (float)((seed_state >> 8) & 0xffffff) / 8388608.0f - 1.0f;
}

static fwd_status build_engine(const char *path, int level, fwd_engine **out)
{
    fwd_model *m = NULL;
    fwd_builder *b = NULL;
    *out = NULL;
    fwd_status st = fwd_model_load(path, &m);
    if (!st) st = fwd_builder_create(&b);
    if (!st) st = fwd_builder_set_optimization(b, level);
    if (!st) st = fwd_builder_build(b, m, out);
    fwd_builder_free(b);
    fwd_model_free(m);
    return st;
}

static void describe_layers(const fwd_engine *e, char *buf, size_t cap)
{
    int n = 0;
    size_t len = 0;
    buf[0] = 0;
    fwd_engine_num_layers(e, &n);
    for (int i = 0; i < n && len + 1 < cap; i++) {
        fwd_layer_info li;
        if (fwd_engine_layer(e, i, &li) != FWD_OK) {
            snprintf(buf, cap, "(layer %d: %s)", i, fwd_last_error());
            return;
        }
        int w = li.fused && li.fused[0]
                    ? snprintf(buf + len, cap - len, "%s%s[%s]", i ? "," : "", li.op_type, li.fused)
                    : snprintf(buf + len, cap - len, "%s%s", i ? "," : "", li.op_type);
        if (w < 0) return;
        len += (size_t)w;
    }
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

/* Inputs: given tensors (by name) or, for the rest, fixed random floats
 * (other dtypes zero), symbolic dims 2. Outputs are copied into out[]
 * (the caller frees data). */
static fwd_status run_engine(const fwd_engine *e, uint32_t seed, const fwd_tensor *given, int n_given,
                             fwd_tensor *out, int *n_out)
{
    fwd_tensor in[MAX_IO];
    void *owned[MAX_IO] = {0};
    int n_in = 0;
    fwd_engine_num_inputs(e, &n_in);
    if (n_in > MAX_IO) n_in = MAX_IO;
    seed_state = seed;
    for (int i = 0; i < n_in; i++) {
        fwd_tensor_info info;
        fwd_engine_input(e, i, &info);
        memset(&in[i], 0, sizeof in[i]);
        int found = 0;
        for (int g = 0; g < n_given && !found; g++)
            if (strcmp(given[g].name, info.name) == 0) {
                in[i] = given[g];
                found = 1;
            }
        if (found) continue;
        in[i].name = info.name;
        in[i].dtype = info.dtype;
        in[i].rank = info.rank < 0 ? 0 : info.rank;
        for (int d = 0; d < in[i].rank; d++) in[i].dims[d] = info.dims[d] < 0 ? 2 : info.dims[d];
        int64_t count = fwd_tensor_numel(&in[i]);
        size_t esz = fwd_dtype_size(info.dtype);
        in[i].size = (size_t)count * esz;
        owned[i] = in[i].data = calloc((size_t)count + 1, esz ? esz : 1);
        if (info.dtype == FWD_FLOAT32)
            for (int64_t k = 0; k < count; k++) ((float *)in[i].data)[k] = next_uniform();
    }
    fwd_engine_num_outputs(e, n_out);
    if (*n_out > MAX_IO) *n_out = MAX_IO;
    for (int i = 0; i < *n_out; i++) {
        fwd_tensor_info info;
        fwd_engine_output(e, i, &info);
        memset(&out[i], 0, sizeof out[i]);
        out[i].name = info.name;
    }
    fwd_context *c = NULL;
    fwd_status st = fwd_context_create(e, &c);
    if (!st) st = fwd_context_run(c, in, n_in, out, *n_out);
    for (int i = 0; i < *n_out; i++) {
        void *copy = NULL;
        if (!st && out[i].data && (copy = malloc(out[i].size + 1))) memcpy(copy, out[i].data, out[i].size);
        out[i].data = copy;
    }
    fwd_context_free(c);
    for (int i = 0; i < n_in; i++) free(owned[i]);
    return st;
}

/* Level 1 against level 0: float32 within tol * max(1, |ref|), other
 * dtypes bit-equal. */
static void compare_outputs(const char *what, const fwd_tensor *ref, const fwd_tensor *got, int n, double tol)
{
    for (int i = 0; i < n; i++) {
        const fwd_tensor *r = &ref[i], *g = &got[i];
        int same = r->data && g->data && r->dtype == g->dtype && r->rank == g->rank && r->size == g->size;
        for (int d = 0; same && d < r->rank; d++) same = r->dims[d] == g->dims[d];
        if (!same) {
            report(0, "%s: output '%s' has level 0's dtype and shape", what, r->name);
            continue;
        }
        if (r->dtype != FWD_FLOAT32) {
            report(memcmp(r->data, g->data, r->size) == 0, "%s: output '%s' equals level 0", what, r->name);
            continue;
        }
        const float *a = r->data, *b = g->data;
        double worst = 0;
        int64_t count = fwd_tensor_numel(r);
        for (int64_t k = 0; k < count; k++) {
            double err = fabs((double)a[k] - (double)b[k]) / fmax(1.0, fabs((double)a[k]));
            if (!(err <= worst)) worst = isnan(err) ? INFINITY : err;
        }
        report(worst <= tol, "%s: output '%s' matches level 0 (max error %.2e)", what, r->name, worst);
    }
}

/* Build at both levels, run both on the same inputs, compare. */
static void compare_levels(const char *what, const fwd_engine *e0, const fwd_engine *e1, const fwd_tensor *given,
                           int n_given, double tol)
{
    for (uint32_t seed = 1; seed <= 2; seed++) {
        fwd_tensor r0[MAX_IO], r1[MAX_IO];
        int n0 = 0, n1 = 0;
        fwd_status s0 = run_engine(e0, seed, given, n_given, r0, &n0);
        const char *err0 = s0 ? fwd_last_error() : "";
        char msg[512];
        snprintf(msg, sizeof msg, "%s", err0);
        fwd_status s1 = run_engine(e1, seed, given, n_given, r1, &n1);
        if (s1) snprintf(msg, sizeof msg, "%s", fwd_last_error());
        report(!s0 && !s1 && n0 == n1, "%s: runs at both levels (seed %u)%s%s", what, seed, msg[0] ? ": " : "", msg);
        if (!s0 && !s1 && n0 == n1) compare_outputs(what, r0, r1, n0, tol);
        for (int i = 0; i < n0; i++) free(r0[i].data);
        for (int i = 0; i < n1; i++) free(r1[i].data);
    }
}

typedef struct pass_case {
    const char *model;  /* tests/passes/pb/<model>.onnx */
    const char *layers; /* expected level-1 layers */
} pass_case;

#define LN "LayerNormalization[ReduceMean+Sub+*ReduceMean+Add+Sqrt+*]"

static const pass_case cases[] = {
    /* fuse_layernorm */
    {"ln_pow_div", "LayerNormalization[ReduceMean+Sub+Pow+ReduceMean+Add+Sqrt+Div+Mul+Add]"},
    {"ln_mul_reciprocal_swapped", "LayerNormalization[ReduceMean+Sub+Mul+ReduceMean+Add+Sqrt+Reciprocal+Mul+Mul+Add]"},
    {"ln_two_axes", LN},
    {"ln_no_affine", "LayerNormalization[ReduceMean+Sub+Pow+ReduceMean+Add+Sqrt+Div]"},
    {"ln_symbolic_batch", LN},
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
    {"attn_block", "*Transpose*FusedAttention[MatMul+Div+Add+Softmax+MatMul],Transpose,Reshape"},
    {"attn_long", "FusedAttention[Transpose+MatMul+Div+Add+Softmax+MatMul]"},
    {"attn_broadcast", "FusedAttention[Transpose+MatMul+Div+Add+Softmax+MatMul]"},
    {"attn_float64", "Cast,Cast,Cast,Transpose,MatMul,Mul,Softmax,MatMul,Cast"}, /* kernel is float32 */
    {"attn_where_mask", "*MatMul,Div,Where,Softmax,MatMul"},
    {"attn_scores_output", "Transpose,MatMul,Div,Softmax,MatMul"},
    {"attn_mask_grows", "Transpose,MatMul,Div,Add,Softmax,MatMul"},
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
    fwd_status st = build_engine(path, 1, &e1);
    report(!st, "%s: builds at level 1%s%s", t->model, st ? ": " : "", st ? fwd_last_error() : "");
    if (!st) st = build_engine(path, 0, &e0);
    if (e1) report(!st, "%s: builds at level 0%s%s", t->model, st ? ": " : "", st ? fwd_last_error() : "");
    if (!st) {
        char got[4096];
        describe_layers(e1, got, sizeof got);
        report(matches(t->layers, got), "%s: layers %s (expected %s)", t->model, got, t->layers);
        compare_levels(t->model, e0, e1, NULL, 0, 1e-4);
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
    fwd_status st = build_engine(path, 1, &e1);
    report(!st, "zoo %s: builds at level 1%s%s", name, st ? ": " : "", st ? fwd_last_error() : "");
    if (!st) st = build_engine(path, 0, &e0);
    if (e1) report(!st, "zoo %s: builds at level 0%s%s", name, st ? ": " : "", st ? fwd_last_error() : "");
    if (st) goto done;
    int att = count_layers(e1, "FusedAttention", NULL), ln = count_layers(e1, "LayerNormalization", NULL);
    int gelu = count_layers(e1, "Gelu", gelu_part);
    report(att >= 1 && ln >= 1 && gelu >= 1, "zoo %s: %d FusedAttention, %d LayerNormalization, %d GELU layers", name,
           att, ln, gelu);
    fwd_tensor in[MAX_IO];
    const char *file_names[MAX_IO];
    int n_in = 0, n_read = 0;
    fwd_engine_num_inputs(e1, &n_in);
    for (int i = 0; i < n_in && i < MAX_IO; i++) {
        fwd_tensor_info info;
        fwd_engine_input(e1, i, &info);
        snprintf(path, sizeof path, "%s/zoo/models/%s/in/%s.npy", tests_dir, name, info.name);
        if (fwd_tensor_read_file(path, &in[n_read]) != FWD_OK) {
            report(0, "zoo %s: read %s: %s", name, path, fwd_last_error());
            continue;
        }
        file_names[n_read] = in[n_read].name;
        in[n_read++].name = info.name;
    }
    if (n_read == n_in) compare_levels(name, e0, e1, in, n_read, 1e-4);
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
    run_zoo("bert", "Erf");
    run_zoo("gpt2", "Tanh");
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}

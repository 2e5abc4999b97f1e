/*
 * Unary elementwise kernels: math functions and activations.
 *
 * Each op has a float32 loop (vectorisable where it matters), a float64
 * loop, typed integer loops where the op takes integers exactly (Abs, Neg,
 * Sign, Relu), and reaches float16/bfloat16 through the float32 loop and
 * other integer inputs (Erf, Shrink) through the float64 loop.
 */
#if defined(__GNUC__) && !defined(__clang__)
/* Lets loops with conditional float math (x < 0 ? x * a : x) vectorise. */
#pragma GCC optimize("no-trapping-math")
#endif

#include <float.h>
#include <math.h>
#include <string.h>

#include "backend/cpu/elementwise_fastmath.h"
#include "backend/cpu/elementwise_internal.h"

/* Loop over n contiguous elements; EXPR sees x and the op's parameters
 * as locals A, B, G (float) and DA, DB, DG (double), I0, I1 (int). */
#define UN_LOOP(NAME, TI, TO, EXPR)                                                   \
    static void NAME(const elt_loop_ctx *c, void *o_, const void *const *in, int64_t n) \
    {                                                                                 \
        const TI *a = (const TI *)in[0];                                              \
        TO *o = (TO *)o_;                                                             \
        const float A = c->p->f[0], B = c->p->f[1], G = c->p->f[2];                   \
        const double DA = c->p->d[0], DB = c->p->d[1], DG = c->p->d[2];               \
        const int64_t I0 = c->p->i[0], I1 = c->p->i[1];                               \
        (void)A, (void)B, (void)G, (void)DA, (void)DB, (void)DG, (void)I0, (void)I1;  \
        for (int64_t i = 0; i < n; i++) {                                             \
            const TI x = a[i];                                                        \
            o[i] = (TO)(EXPR);                                                        \
        }                                                                             \
    }

/* A float op: float32 and float64 loops. */
#define UN_FLOAT(NAME, EXPR32, EXPR64)              \
    UN_LOOP(NAME##_f32, float, float, EXPR32)       \
    UN_LOOP(NAME##_f64, double, double, EXPR64)

UN_FLOAT(abs, fabsf(x), fabs(x))
UN_FLOAT(neg, -x, -x)
UN_FLOAT(reciprocal, 1.0f / x, 1.0 / x)
UN_LOOP(sqrt_f64, double, double, sqrt(x))
UN_LOOP(exp_f64, double, double, exp(x))
UN_FLOAT(log, logf(x), log(x))
UN_FLOAT(ceil, ceilf(x), ceil(x))
UN_FLOAT(floor, floorf(x), floor(x))
UN_FLOAT(round, nearbyintf(x), nearbyint(x)) /* default mode: half to even */
UN_FLOAT(sign, x > 0 ? 1.0f : (x < 0 ? -1.0f : x), x > 0 ? 1.0 : (x < 0 ? -1.0 : x))
UN_LOOP(erf_f64, double, double, erf(x))
UN_FLOAT(sin, sinf(x), sin(x))
UN_FLOAT(cos, cosf(x), cos(x))
UN_FLOAT(tan, tanf(x), tan(x))
UN_FLOAT(asin, asinf(x), asin(x))
UN_FLOAT(acos, acosf(x), acos(x))
UN_FLOAT(atan, atanf(x), atan(x))
UN_FLOAT(sinh, sinhf(x), sinh(x))
UN_FLOAT(cosh, coshf(x), cosh(x))
UN_FLOAT(asinh, asinhf(x), asinh(x))
UN_FLOAT(acosh, acoshf(x), acosh(x))
UN_FLOAT(atanh, atanhf(x), atanh(x))
UN_LOOP(tanh_f64, double, double, tanh(x))
UN_LOOP(sigmoid_f64, double, double, 1.0 / (1.0 + exp(-x)))
UN_FLOAT(relu, x < 0 ? 0.0f : x, x < 0 ? 0.0 : x)
UN_FLOAT(leakyrelu, x < 0 ? x * A : x, x < 0 ? x * DA : x)
UN_FLOAT(elu, x < 0 ? A * expm1f(x) : x, x < 0 ? DA * expm1(x) : x)
UN_FLOAT(selu, x > 0 ? G * x : G * (A * fm_expf(x) - A), x > 0 ? DG * x : DG * (DA * exp(x) - DA))
/* max(0, x) + min(0, alpha * (exp(x / alpha) - 1)), NaN kept */
UN_FLOAT(celu, (x > 0 ? x : 0.0f) + (A * expm1f(x / A) > 0 ? 0.0f : A * expm1f(x / A)),
         (x > 0 ? x : 0.0) + (DA * expm1(x / DA) > 0 ? 0.0 : DA * expm1(x / DA)))
UN_FLOAT(hardsigmoid, fm_clamp01f(A * x + B), fmax(0.0, fmin(1.0, DA * x + DB)))
UN_FLOAT(hardswish, x * fm_clamp01f(x * (1.0f / 6.0f) + 0.5f), x * fmax(0.0, fmin(1.0, x / 6.0 + 0.5)))
UN_FLOAT(softplus, x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x)),
         x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)))
UN_FLOAT(softsign, x / (1.0f + fabsf(x)), x / (1.0 + fabs(x)))
UN_FLOAT(thresholdedrelu, x > A ? x : 0.0f, x > DA ? x : 0.0)
UN_FLOAT(shrink, x < -A ? x + B : (x > A ? x - B : 0.0f), x < -DA ? x + DB : (x > DA ? x - DB : 0.0))
UN_LOOP(isnan_f32, float, uint8_t, x != x)
UN_LOOP(isnan_f64, double, uint8_t, x != x)
UN_LOOP(isinf_f32, float, uint8_t, (x == INFINITY && I1) || (x == -INFINITY && I0))
UN_LOOP(isinf_f64, double, uint8_t, (x == INFINITY && I1) || (x == -INFINITY && I0))
UN_LOOP(not_b, uint8_t, uint8_t, x == 0)

/* Exp, Erf, Tanh, Sigmoid: the array functions of elementwise_fastmath.h. */
#define UN_ARRAY(NAME, FN)                                                             \
    static void NAME(const elt_loop_ctx *c, void *o_, const void *const *in, int64_t n) \
    {                                                                                  \
        (void)c;                                                                       \
        FN((const float *)in[0], (float *)o_, n);                                      \
    }
UN_ARRAY(exp_f32, fm_exp_n)
UN_ARRAY(erf_f32, fm_erf_n)
UN_ARRAY(tanh_f32, fm_tanh_n)
UN_ARRAY(sigmoid_f32, fm_sigmoid_n)

/* sqrtf calls keep errno handling and do not vectorise: use the
 * instruction directly where the build has AVX. */
static void sqrt_f32(const elt_loop_ctx *c, void *o_, const void *const *in, int64_t n)
{
    (void)c;
    fm_sqrtf_n((const float *)in[0], (float *)o_, n);
}

/* Integer loops; U is an unsigned type at least as wide as int, so that
 * negation wraps instead of overflowing. */
#define UN_INT(T, U, SFX)                                                        \
    UN_LOOP(abs_##SFX, T, T, x < 0 ? (U)0 - (U)x : (U)x)                         \
    UN_LOOP(neg_##SFX, T, T, (U)0 - (U)x)                                        \
    UN_LOOP(sign_##SFX, T, T, (x > 0) - (x < 0))

#if defined(__GNUC__)
/* "x < 0" is always false for the unsigned instantiations. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wtype-limits"
#endif
UN_INT(int8_t, uint32_t, i8)
UN_INT(int16_t, uint32_t, i16)
UN_INT(int32_t, uint32_t, i32)
UN_INT(int64_t, uint64_t, i64)
UN_INT(uint8_t, uint32_t, u8)
UN_INT(uint16_t, uint32_t, u16)
UN_INT(uint32_t, uint32_t, u32)
UN_INT(uint64_t, uint64_t, u64)
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
UN_LOOP(relu_i8, int8_t, int8_t, x < 0 ? 0 : x)
UN_LOOP(relu_i16, int16_t, int16_t, x < 0 ? 0 : x)
UN_LOOP(relu_i32, int32_t, int32_t, x < 0 ? 0 : x)
UN_LOOP(relu_i64, int64_t, int64_t, x < 0 ? 0 : x)

#define INT_FNS(OP)                                                                   \
    [FWD_INT8] = OP##_i8, [FWD_INT16] = OP##_i16, [FWD_INT32] = OP##_i32,             \
    [FWD_INT64] = OP##_i64, [FWD_UINT8] = OP##_u8, [FWD_UINT16] = OP##_u16,           \
    [FWD_UINT32] = OP##_u32, [FWD_UINT64] = OP##_u64
#define SINT_FNS(OP) [FWD_INT8] = OP##_i8, [FWD_INT16] = OP##_i16, [FWD_INT32] = OP##_i32, \
                     [FWD_INT64] = OP##_i64

#define N_DT (FWD_BFLOAT16 + 1)

enum {
    INT_NONE = 0,  /* float inputs only */
    INT_VIA_F64 = 1 /* integer inputs through the float64 loop */
};

typedef struct unary_op {
    const char *name;
    elt_loop_fn fn[N_DT]; /* float32, float64 and typed integer loops */
    int ints;
    bool out_bool;
    int cost; /* 0 cheap, 1 vectorised transcendental, 2 scalar libm */
} unary_op;

#define FLT(OP) [FWD_FLOAT32] = OP##_f32, [FWD_FLOAT64] = OP##_f64

static const unary_op k_ops[] = {
    {"Relu", {FLT(relu), SINT_FNS(relu)}, INT_NONE, false, 0},
    {"Sigmoid", {FLT(sigmoid)}, INT_NONE, false, 1},
    {"Tanh", {FLT(tanh)}, INT_NONE, false, 1},
    {"Erf", {FLT(erf)}, INT_VIA_F64, false, 1},
    {"Exp", {FLT(exp)}, INT_NONE, false, 1},
    {"Sqrt", {FLT(sqrt)}, INT_NONE, false, 0},
    {"Abs", {FLT(abs), INT_FNS(abs)}, INT_NONE, false, 0},
    {"Neg", {FLT(neg), INT_FNS(neg)}, INT_NONE, false, 0},
    {"Reciprocal", {FLT(reciprocal)}, INT_NONE, false, 0},
    {"Log", {FLT(log)}, INT_NONE, false, 2},
    {"Ceil", {FLT(ceil)}, INT_NONE, false, 0},
    {"Floor", {FLT(floor)}, INT_NONE, false, 0},
    {"Round", {FLT(round)}, INT_NONE, false, 0},
    {"Sign", {FLT(sign), INT_FNS(sign)}, INT_NONE, false, 0},
    {"Sin", {FLT(sin)}, INT_NONE, false, 2},
    {"Cos", {FLT(cos)}, INT_NONE, false, 2},
    {"Tan", {FLT(tan)}, INT_NONE, false, 2},
    {"Asin", {FLT(asin)}, INT_NONE, false, 2},
    {"Acos", {FLT(acos)}, INT_NONE, false, 2},
    {"Atan", {FLT(atan)}, INT_NONE, false, 2},
    {"Sinh", {FLT(sinh)}, INT_NONE, false, 2},
    {"Cosh", {FLT(cosh)}, INT_NONE, false, 2},
    {"Asinh", {FLT(asinh)}, INT_NONE, false, 2},
    {"Acosh", {FLT(acosh)}, INT_NONE, false, 2},
    {"Atanh", {FLT(atanh)}, INT_NONE, false, 2},
    {"LeakyRelu", {FLT(leakyrelu)}, INT_NONE, false, 0},
    {"Elu", {FLT(elu)}, INT_NONE, false, 2},
    {"Selu", {FLT(selu)}, INT_NONE, false, 2},
    {"Celu", {FLT(celu)}, INT_NONE, false, 2},
    {"HardSigmoid", {FLT(hardsigmoid)}, INT_NONE, false, 0},
    {"HardSwish", {FLT(hardswish)}, INT_NONE, false, 0},
    {"Softplus", {FLT(softplus)}, INT_NONE, false, 2},
    {"Softsign", {FLT(softsign)}, INT_NONE, false, 0},
    {"ThresholdedRelu", {FLT(thresholdedrelu)}, INT_NONE, false, 0},
    {"Shrink", {FLT(shrink)}, INT_VIA_F64, false, 0},
    {"IsNaN", {FLT(isnan)}, INT_NONE, true, 0},
    {"IsInf", {FLT(isinf)}, INT_NONE, true, 0},
    {"Not", {[FWD_BOOL] = not_b}, INT_NONE, true, 0},
};

static const unary_op *find_op(const char *name)
{
    for (size_t i = 0; i < sizeof k_ops / sizeof k_ops[0]; i++)
        if (strcmp(k_ops[i].name, name) == 0) return &k_ops[i];
    return NULL;
}

/* Attribute parameters: f/d[0] = alpha (or lambd), [1] = beta (or bias),
 * [2] = gamma; i[0], i[1] = IsInf's detect_negative / detect_positive. */
static fwd_status read_params(const fwd_kernel_ctx *k, elt_params *p)
{
    const ir_node *n = k->node;
    const char *op = n->op_type;
    float a = 0, b = 0, g = 0;
    if (strcmp(op, "LeakyRelu") == 0) {
        a = ir_attr_float(n, "alpha", 0.01f);
    } else if (strcmp(op, "Elu") == 0 || strcmp(op, "ThresholdedRelu") == 0) {
        a = ir_attr_float(n, "alpha", 1.0f);
    } else if (strcmp(op, "Celu") == 0) {
        a = ir_attr_float(n, "alpha", 1.0f);
        if (a == 0.0f) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "attribute alpha must not be 0");
    } else if (strcmp(op, "Selu") == 0) {
        a = ir_attr_float(n, "alpha", 1.67326319217681884765625f);
        g = ir_attr_float(n, "gamma", 1.05070102214813232421875f);
    } else if (strcmp(op, "HardSigmoid") == 0) {
        a = ir_attr_float(n, "alpha", 0.2f);
        b = ir_attr_float(n, "beta", 0.5f);
    } else if (strcmp(op, "Shrink") == 0) {
        a = ir_attr_float(n, "lambd", 0.5f);
        b = ir_attr_float(n, "bias", 0.0f);
    } else if (strcmp(op, "IsInf") == 0) {
        p->i[0] = ir_attr_int(n, "detect_negative", 1) != 0;
        p->i[1] = ir_attr_int(n, "detect_positive", 1) != 0;
    }
    p->f[0] = a, p->f[1] = b, p->f[2] = g;
    p->d[0] = a, p->d[1] = b, p->d[2] = g;
    return FWD_OK;
}

fwd_status elt_k_unary(fwd_kernel_ctx *k)
{
    const unary_op *op = find_op(k->node->op_type);
    const ir_tensor *x = elt_in(k, 0);
    if (!op) return cpu_kernel_error(k, FWD_ERR_INTERNAL, "no unary kernel for this op");
    if (!x) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "input 0 is missing");
    fwd_dtype dt = x->dtype;
    elt_params prm;
    memset(&prm, 0, sizeof prm);
    FWD_TRY(read_params(k, &prm));

    elt_loop_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.p = &prm;
    ctx.in_dtype[0] = dt;
    ctx.out_dtype = op->out_bool ? FWD_BOOL : dt;
    elt_loop_fn fn = NULL;
    if ((unsigned)dt < N_DT && op->fn[dt]) {
        fn = op->fn[dt];
    } else if (elt_is_half(dt) && op->fn[FWD_FLOAT32]) {
        fn = elt_loop_half;
        ctx.inner = op->fn[FWD_FLOAT32];
    } else if (op->ints == INT_VIA_F64 && ir_dtype_is_int(dt)) {
        fn = elt_loop_f64;
        ctx.inner = op->fn[FWD_FLOAT64];
    }
    if (!fn)
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "input 'X' has dtype %s, which this op does not take",
                                fwd_dtype_name(dt));
    ir_tensor *y;
    FWD_TRY(elt_prepare_out(k, 0, ctx.out_dtype, &x->shape, &y));
    const ir_tensor *ins[1] = {x};
    static const int64_t grains[3] = {ELT_GRAIN_CHEAP, ELT_GRAIN_FAST, ELT_GRAIN_COSTLY};
    return elt_run(k, y, ins, 1, fn, &ctx, grains[op->cost]);
}

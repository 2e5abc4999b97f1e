/*
 * Binary elementwise kernels with numpy broadcasting: arithmetic, Mod,
 * BitShift, logic, comparisons, Max/Min (for the variadic ops), Pow and
 * PRelu.
 *
 * Integer arithmetic wraps (computed in an unsigned type of at least int's
 * width); integer division or modulo by zero gives 0 rather than a crash.
 * Division truncates toward zero (C semantics, as ONNX Runtime does).
 */
#if defined(__GNUC__) && !defined(__clang__)
/* Lets loops with conditional float math vectorise. */
#pragma GCC optimize("no-trapping-math")
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/elementwise_fastmath.h"
#include "backend/cpu/elementwise_internal.h"
#include "ir/op_schema.h"

#define N_DT (FWD_BFLOAT16 + 1)

/* n outputs from a and b, where either may repeat one element
 * (c->scalar[]): four plain loops so each one vectorises. */
#define BIN_LOOP2(NAME, TA, TB, TO, EXPR)                                              \
    static void NAME(const elt_loop_ctx *c, void *o_, const void *const *in, int64_t n) \
    {                                                                                  \
        TO *o = (TO *)o_;                                                              \
        const TA *a = (const TA *)in[0];                                               \
        const TB *b = (const TB *)in[1];                                               \
        if (c->scalar[1]) {                                                            \
            const TB y = b[0];                                                         \
            if (c->scalar[0]) {                                                        \
                const TA x = a[0];                                                     \
                const TO r = (TO)(EXPR);                                               \
                for (int64_t i = 0; i < n; i++) o[i] = r;                              \
                return;                                                                \
            }                                                                          \
            for (int64_t i = 0; i < n; i++) {                                          \
                const TA x = a[i];                                                     \
                o[i] = (TO)(EXPR);                                                     \
            }                                                                          \
        } else if (c->scalar[0]) {                                                     \
            const TA x = a[0];                                                         \
            for (int64_t i = 0; i < n; i++) {                                          \
                const TB y = b[i];                                                     \
                o[i] = (TO)(EXPR);                                                     \
            }                                                                          \
        } else {                                                                       \
            for (int64_t i = 0; i < n; i++) {                                          \
                const TA x = a[i];                                                     \
                const TB y = b[i];                                                     \
                o[i] = (TO)(EXPR);                                                     \
            }                                                                          \
        }                                                                              \
    }
#define BIN_LOOP(NAME, T, TO, EXPR) BIN_LOOP2(NAME, T, T, TO, EXPR)

/* ---- float loops ---- */

static inline float pymod_f32(float x, float y)
{
    float r = fmodf(x, y);
    return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
}
static inline double pymod_f64(double x, double y)
{
    double r = fmod(x, y);
    return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
}

#define BIN_FLOAT(T, SFX, FMOD, POW)                                   \
    BIN_LOOP(add_##SFX, T, T, x + y)                                   \
    BIN_LOOP(sub_##SFX, T, T, x - y)                                   \
    BIN_LOOP(mul_##SFX, T, T, x * y)                                   \
    BIN_LOOP(div_##SFX, T, T, x / y)                                   \
    BIN_LOOP(fmod_##SFX, T, T, FMOD(x, y))                             \
    BIN_LOOP(mod_##SFX, T, T, pymod_##SFX(x, y))                       \
    BIN_LOOP(pow_##SFX, T, T, POW(x, y))                               \
    BIN_LOOP(max_##SFX, T, T, (x >= y || x != x) ? x : y)              \
    BIN_LOOP(min_##SFX, T, T, (x <= y || x != x) ? x : y)              \
    BIN_LOOP(prelu_##SFX, T, T, x < 0 ? x * y : x)                     \
    BIN_LOOP(eq_##SFX, T, uint8_t, x == y)                             \
    BIN_LOOP(lt_##SFX, T, uint8_t, x < y)                              \
    BIN_LOOP(gt_##SFX, T, uint8_t, x > y)                              \
    BIN_LOOP(le_##SFX, T, uint8_t, x <= y)                             \
    BIN_LOOP(ge_##SFX, T, uint8_t, x >= y)

BIN_FLOAT(float, f32, fmodf, powf)
BIN_FLOAT(double, f64, fmod, pow)

/* ---- integer loops ---- */

/* Division helpers: by zero gives 0; INT_MIN / -1 wraps. */
#define INT_DIV_SIGNED(T, U, SFX)                                                    \
    static inline T div_s_##SFX(T x, T y)                                            \
    {                                                                                \
        if (y == 0) return 0;                                                        \
        if (y == -1) return (T)((U)0 - (U)x);                                        \
        return (T)(x / y);                                                           \
    }                                                                                \
    static inline T fmod_s_##SFX(T x, T y)                                           \
    {                                                                                \
        if (y == 0 || y == -1) return 0;                                             \
        return (T)(x % y);                                                           \
    }                                                                                \
    static inline T mod_s_##SFX(T x, T y)                                            \
    {                                                                                \
        T r = fmod_s_##SFX(x, y);                                                    \
        return (r != 0 && ((r < 0) != (y < 0))) ? (T)((U)r + (U)y) : r;              \
    }
#define INT_DIV_UNSIGNED(T, U, SFX)                                                  \
    static inline T div_s_##SFX(T x, T y) { return y == 0 ? 0 : (T)(x / y); }        \
    static inline T fmod_s_##SFX(T x, T y) { return y == 0 ? 0 : (T)(x % y); }       \
    static inline T mod_s_##SFX(T x, T y) { return fmod_s_##SFX(x, y); }

/* x ** e for integers (wrapping); negative e gives 0 unless |x| == 1. */
static inline uint64_t int_pow_wrap(uint64_t x, int64_t e, bool neg_one)
{
    if (e < 0) return x == 1 ? 1 : (neg_one ? ((e & 1) ? (uint64_t)-1 : 1) : 0);
    uint64_t r = 1;
    while (e) {
        if (e & 1) r *= x;
        x *= x;
        e >>= 1;
    }
    return r;
}

#define BIN_INT(T, U, SFX, BITS)                                                     \
    BIN_LOOP(add_##SFX, T, T, (U)x + (U)y)                                           \
    BIN_LOOP(sub_##SFX, T, T, (U)x - (U)y)                                           \
    BIN_LOOP(mul_##SFX, T, T, (U)x * (U)y)                                           \
    BIN_LOOP(div_##SFX, T, T, div_s_##SFX(x, y))                                     \
    BIN_LOOP(fmod_##SFX, T, T, fmod_s_##SFX(x, y))                                   \
    BIN_LOOP(mod_##SFX, T, T, mod_s_##SFX(x, y))                                     \
    BIN_LOOP(max_##SFX, T, T, x > y ? x : y)                                         \
    BIN_LOOP(min_##SFX, T, T, x < y ? x : y)                                         \
    BIN_LOOP(prelu_##SFX, T, T, x < 0 ? (U)x * (U)y : (U)x)                          \
    BIN_LOOP(eq_##SFX, T, uint8_t, x == y)                                           \
    BIN_LOOP(lt_##SFX, T, uint8_t, x < y)                                            \
    BIN_LOOP(gt_##SFX, T, uint8_t, x > y)                                            \
    BIN_LOOP(le_##SFX, T, uint8_t, x <= y)                                           \
    BIN_LOOP(ge_##SFX, T, uint8_t, x >= y)

#if defined(__GNUC__)
/* comparisons with 0 / -1 are constant for the unsigned instantiations */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
INT_DIV_SIGNED(int8_t, uint32_t, i8)
INT_DIV_SIGNED(int16_t, uint32_t, i16)
INT_DIV_SIGNED(int32_t, uint32_t, i32)
INT_DIV_SIGNED(int64_t, uint64_t, i64)
INT_DIV_UNSIGNED(uint8_t, uint32_t, u8)
INT_DIV_UNSIGNED(uint16_t, uint32_t, u16)
INT_DIV_UNSIGNED(uint32_t, uint32_t, u32)
INT_DIV_UNSIGNED(uint64_t, uint64_t, u64)
BIN_INT(int8_t, uint32_t, i8, 8)
BIN_INT(int16_t, uint32_t, i16, 16)
BIN_INT(int32_t, uint32_t, i32, 32)
BIN_INT(int64_t, uint64_t, i64, 64)
BIN_INT(uint8_t, uint32_t, u8, 8)
BIN_INT(uint16_t, uint32_t, u16, 16)
BIN_INT(uint32_t, uint32_t, u32, 32)
BIN_INT(uint64_t, uint64_t, u64, 64)
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
BIN_LOOP2(ipow_i32, int32_t, int64_t, int32_t, int_pow_wrap((uint64_t)(int64_t)x, y, x == -1))
BIN_LOOP2(ipow_i64, int64_t, int64_t, int64_t, int_pow_wrap((uint64_t)x, y, x == -1))

/* shifts by the type's width or more give 0 (C leaves them undefined) */
#define BIN_SHIFT(T, U, SFX, BITS)                                                   \
    BIN_LOOP(shl_##SFX, T, T, y >= BITS ? 0 : (U)x << y)                             \
    BIN_LOOP(shr_##SFX, T, T, y >= BITS ? 0 : x >> y)
BIN_SHIFT(uint8_t, uint32_t, u8, 8)
BIN_SHIFT(uint16_t, uint32_t, u16, 16)
BIN_SHIFT(uint32_t, uint32_t, u32, 32)
BIN_SHIFT(uint64_t, uint64_t, u64, 64)

/* ---- bool loops ---- */
BIN_LOOP(and_b, uint8_t, uint8_t, (x != 0) & (y != 0))
BIN_LOOP(or_b, uint8_t, uint8_t, (x != 0) | (y != 0))
BIN_LOOP(xor_b, uint8_t, uint8_t, (x != 0) != (y != 0))
BIN_LOOP(eq_b, uint8_t, uint8_t, (x != 0) == (y != 0))

/* ---- op table ---- */

#define NUM_FNS(OP)                                                                  \
    [FWD_FLOAT32] = OP##_f32, [FWD_FLOAT64] = OP##_f64, [FWD_INT8] = OP##_i8,         \
    [FWD_INT16] = OP##_i16, [FWD_INT32] = OP##_i32, [FWD_INT64] = OP##_i64,           \
    [FWD_UINT8] = OP##_u8, [FWD_UINT16] = OP##_u16, [FWD_UINT32] = OP##_u32,          \
    [FWD_UINT64] = OP##_u64

typedef struct bin_op {
    const char *name; /* op type, or an internal variant name */
    elt_loop_fn fn[N_DT];
    bool out_bool;
} bin_op;

static const bin_op k_ops[] = {
    {"Add", {NUM_FNS(add)}, false},
    {"Sub", {NUM_FNS(sub)}, false},
    {"Mul", {NUM_FNS(mul)}, false},
    {"Div", {NUM_FNS(div)}, false},
    {"Mod", {NUM_FNS(mod)}, false},
    {"Mod.fmod", {NUM_FNS(fmod)}, false},
    {"Max", {NUM_FNS(max)}, false},
    {"Min", {NUM_FNS(min)}, false},
    {"PRelu", {NUM_FNS(prelu)}, false},
    {"Equal", {NUM_FNS(eq), [FWD_BOOL] = eq_b}, true},
    {"Less", {NUM_FNS(lt)}, true},
    {"Greater", {NUM_FNS(gt)}, true},
    {"LessOrEqual", {NUM_FNS(le)}, true},
    {"GreaterOrEqual", {NUM_FNS(ge)}, true},
    {"And", {[FWD_BOOL] = and_b}, true},
    {"Or", {[FWD_BOOL] = or_b}, true},
    {"Xor", {[FWD_BOOL] = xor_b}, true},
    {"BitShift.left",
     {[FWD_UINT8] = shl_u8, [FWD_UINT16] = shl_u16, [FWD_UINT32] = shl_u32, [FWD_UINT64] = shl_u64},
     false},
    {"BitShift.right",
     {[FWD_UINT8] = shr_u8, [FWD_UINT16] = shr_u16, [FWD_UINT32] = shr_u32, [FWD_UINT64] = shr_u64},
     false},
};

/* The loop for op `name` on dtype dt (NULL if none); float16/bfloat16 get
 * the float32 loop through the conversion wrapper. Fills ctx's dtypes. */
static elt_loop_fn binary_loop(const char *name, fwd_dtype dt, elt_loop_ctx *ctx, bool *out_bool)
{
    const bin_op *op = NULL;
    for (size_t i = 0; i < sizeof k_ops / sizeof k_ops[0] && !op; i++)
        if (strcmp(k_ops[i].name, name) == 0) op = &k_ops[i];
    if (!op) return NULL;
    *out_bool = op->out_bool;
    ctx->in_dtype[0] = ctx->in_dtype[1] = dt;
    ctx->out_dtype = op->out_bool ? FWD_BOOL : dt;
    if ((unsigned)dt < N_DT && op->fn[dt]) return op->fn[dt];
    if (elt_is_half(dt) && op->fn[FWD_FLOAT32]) {
        ctx->inner = op->fn[FWD_FLOAT32];
        return elt_loop_half;
    }
    return NULL;
}

elt_loop_fn elt_binary_loop(const char *name, fwd_dtype dt, elt_loop_ctx *ctx)
{
    bool out_bool;
    return binary_loop(name, dt, ctx, &out_bool);
}

/* Broadcast a and b into output 0 with loop fn. */
static fwd_status run_binary(fwd_kernel_ctx *k, const ir_tensor *a, const ir_tensor *b,
                             elt_loop_fn fn, const elt_loop_ctx *ctx, int64_t grain)
{
    const ir_tensor *ins[2] = {a, b};
    ir_shape shape;
    FWD_TRY(elt_broadcast_shape(k, ins, 2, &shape));
    ir_tensor *y;
    FWD_TRY(elt_prepare_out(k, 0, ctx->out_dtype, &shape, &y));
    return elt_run(k, y, ins, 2, fn, ctx, grain);
}

static fwd_status two_inputs(const fwd_kernel_ctx *k, const ir_tensor **a, const ir_tensor **b)
{
    *a = elt_in(k, 0);
    *b = elt_in(k, 1);
    if (!*a || !*b) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "the op takes two inputs");
    return FWD_OK;
}

fwd_status elt_k_binary(fwd_kernel_ctx *k)
{
    const ir_tensor *a, *b;
    FWD_TRY(two_inputs(k, &a, &b));
    const char *name = k->node->op_type;
    if (strcmp(name, "Mod") == 0 && ir_attr_int(k->node, "fmod", 0) != 0) name = "Mod.fmod";
    if (strcmp(name, "BitShift") == 0) {
        const char *dir = ir_attr_string(k->node, "direction", NULL);
        if (dir && strcmp(dir, "LEFT") == 0)
            name = "BitShift.left";
        else if (dir && strcmp(dir, "RIGHT") == 0)
            name = "BitShift.right";
        else
            return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL,
                                    "attribute direction must be \"LEFT\" or \"RIGHT\"");
    }
    if (a->dtype != b->dtype)
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "inputs have different dtypes %s and %s",
                                fwd_dtype_name(a->dtype), fwd_dtype_name(b->dtype));
    elt_params prm;
    memset(&prm, 0, sizeof prm);
    elt_loop_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.p = &prm;
    bool out_bool;
    elt_loop_fn fn = binary_loop(name, a->dtype, &ctx, &out_bool);
    if (!fn)
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "inputs have dtype %s, which this op does not take",
                                fwd_dtype_name(a->dtype));
    bool costly = strncmp(name, "Mod", 3) == 0 || ir_dtype_is_int(a->dtype);
    return run_binary(k, a, b, fn, &ctx, costly ? ELT_GRAIN_COSTLY : ELT_GRAIN_CHEAP);
}

fwd_status elt_k_prelu(fwd_kernel_ctx *k)
{
    const ir_tensor *x, *slope;
    FWD_TRY(two_inputs(k, &x, &slope));
    if (x->dtype != slope->dtype)
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "slope has dtype %s, X has %s",
                                fwd_dtype_name(slope->dtype), fwd_dtype_name(x->dtype));
    /* slope broadcasts to X (one direction only) */
    ir_shape shape;
    if (ir_broadcast_shapes(&x->shape, &slope->shape, &shape) != FWD_OK ||
        !ir_shape_equal(&shape, &x->shape)) {
        char a[128], b[128];
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "slope of shape %s does not broadcast to X's shape %s",
                                ir_shape_str(&slope->shape, NULL, a, sizeof a),
                                ir_shape_str(&x->shape, NULL, b, sizeof b));
    }
    elt_params prm;
    memset(&prm, 0, sizeof prm);
    elt_loop_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.p = &prm;
    bool out_bool;
    elt_loop_fn fn = binary_loop("PRelu", x->dtype, &ctx, &out_bool);
    if (!fn)
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "X has dtype %s, which this op does not take",
                                fwd_dtype_name(x->dtype));
    return run_binary(k, x, slope, fn, &ctx, ELT_GRAIN_CHEAP);
}

/* ---- Pow ---- */

/* float32 power with one exponent for all elements (c->p->f[0]): common
 * exponents become plain arithmetic. */
#define POW1_LOOP(NAME, EXPR)                                                          \
    static void NAME(const elt_loop_ctx *c, void *o_, const void *const *in, int64_t n) \
    {                                                                                  \
        const float *a = (const float *)in[0];                                         \
        float *o = (float *)o_;                                                        \
        const float e = c->p->f[0];                                                    \
        (void)e;                                                                       \
        for (int64_t i = 0; i < n; i++) {                                              \
            const float x = a[i];                                                      \
            (void)x;                                                                   \
            o[i] = (EXPR);                                                             \
        }                                                                              \
    }
POW1_LOOP(pow1_sq, x * x)
POW1_LOOP(pow1_cube, x * x * x)
POW1_LOOP(pow1_recip, 1.0f / x)
POW1_LOOP(pow1_one, 1.0f)
POW1_LOOP(pow1_copy, x)
POW1_LOOP(pow1_any, powf(x, e))

static void pow1_sqrt(const elt_loop_ctx *c, void *o_, const void *const *in, int64_t n)
{
    (void)c;
    fm_sqrtf_n((const float *)in[0], (float *)o_, n);
}

/* A copy of t converted to dtype `to` in a malloc'ed buffer (*buf). */
static fwd_status converted(const fwd_kernel_ctx *k, const ir_tensor *t, fwd_dtype to,
                            ir_tensor *out, void **buf)
{
    int64_t n = ir_shape_numel(&t->shape);
    size_t bytes = (size_t)(n > 0 ? n : 1) * fwd_dtype_size(to);
    *buf = malloc(bytes);
    if (!*buf) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory (%zu bytes)", bytes);
    *out = *t;
    out->dtype = to;
    out->data = *buf;
    out->nbytes = bytes;
    fwd_status s = n > 0 ? elt_cast_buffer(t->dtype, t->data, to, *buf, n) : FWD_OK;
    if (s != FWD_OK) return cpu_kernel_error(k, s, "cannot convert the exponent to %s", fwd_dtype_name(to));
    return FWD_OK;
}

static bool numeric(fwd_dtype t) { return ir_dtype_is_float(t) || ir_dtype_is_int(t); }

fwd_status elt_k_pow(fwd_kernel_ctx *k)
{
    const ir_tensor *x, *e;
    FWD_TRY(two_inputs(k, &x, &e));
    const fwd_dtype bt = x->dtype, et = e->dtype;
    if (!numeric(bt) || !numeric(et))
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "Pow of %s by %s is not supported", fwd_dtype_name(bt),
                                fwd_dtype_name(et));
    const ir_tensor *ins[2] = {x, e};
    ir_shape shape;
    FWD_TRY(elt_broadcast_shape(k, ins, 2, &shape));
    ir_tensor *y;
    FWD_TRY(elt_prepare_out(k, 0, bt, &shape, &y));

    elt_params prm;
    memset(&prm, 0, sizeof prm);
    elt_loop_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.p = &prm;
    ctx.in_dtype[0] = bt;
    ctx.in_dtype[1] = et;
    ctx.out_dtype = bt;
    ir_tensor conv;
    void *buf = NULL;
    elt_loop_fn fn = NULL;
    fwd_status s = FWD_OK;

    if (ir_dtype_is_float(bt)) {
        if (et != bt) {
            s = converted(k, e, bt, &conv, &buf);
            if (s != FWD_OK) goto done;
            ins[1] = &conv;
            ctx.in_dtype[1] = bt;
        }
        if (bt == FWD_FLOAT32 && ir_shape_numel(&ins[1]->shape) == 1) {
            float v = *(const float *)ins[1]->data;
            prm.f[0] = v;
            elt_loop_fn f1 = v == 2.0f   ? pow1_sq
                             : v == 0.5f ? pow1_sqrt
                             : v == 3.0f ? pow1_cube
                             : v == 1.0f ? pow1_copy
                             : v == 0.0f ? pow1_one
                             : v == -1.0f ? pow1_recip
                                          : pow1_any;
            bool cheap = f1 != pow1_any;
            s = elt_run(k, y, ins, 1, f1, &ctx, cheap ? ELT_GRAIN_CHEAP : ELT_GRAIN_COSTLY);
            goto done;
        }
        fn = bt == FWD_FLOAT32 ? pow_f32 : bt == FWD_FLOAT64 ? pow_f64 : elt_loop_half;
        ctx.inner = pow_f32;
    } else if ((bt == FWD_INT32 || bt == FWD_INT64) && ir_dtype_is_int(et)) {
        /* exact integer power */
        if (et != FWD_INT64) {
            s = converted(k, e, FWD_INT64, &conv, &buf);
            if (s != FWD_OK) goto done;
            ins[1] = &conv;
        }
        fn = bt == FWD_INT32 ? ipow_i32 : ipow_i64;
    } else {
        /* integer base with a float exponent (or a rare integer type):
         * through double, truncated back like a C cast */
        fn = elt_loop_f64;
        ctx.inner = pow_f64;
    }
    s = elt_run(k, y, ins, 2, fn, &ctx, ELT_GRAIN_COSTLY);
done:
    free(buf);
    return s;
}

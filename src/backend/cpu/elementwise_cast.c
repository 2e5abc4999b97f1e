/*
 * Cast and CastLike between the numeric dtypes (and bool).
 *
 * Common pairs have direct loops; the rest go through a pivot: float64 for
 * float sources, int64 for signed/bool sources, uint64 for uint64. Float to
 * integer conversion truncates toward zero; values outside int64's range
 * and NaN become INT64_MIN (what x86 conversion gives), then narrower
 * integer targets wrap, as numpy and C casts do on x86. Float to bfloat16
 * truncates the mantissa, like the ONNX reference implementation.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include <math.h>
#include <string.h>

#include "backend/cpu/elementwise_convert.h"
#include "backend/cpu/elementwise_internal.h"

#define N_DT (FWD_BFLOAT16 + 1)

/* Conversions that are defined for every input value. */
static inline int64_t f64_to_i64(double v)
{
    return (v > -9223372036854775808.0 && v < 9223372036854775808.0) ? (int64_t)v : INT64_MIN;
}
static inline uint64_t f64_to_u64(double v)
{
    if (v >= 0.0 && v < 18446744073709551616.0) return (uint64_t)v;
    return (uint64_t)f64_to_i64(v);
}
static inline int32_t f32_to_i32(float v)
{
    return (v > -2147483904.0f && v < 2147483648.0f) ? (int32_t)v : INT32_MIN;
}
static inline int64_t f32_to_i64(float v)
{
    return (v > -9223372036854775808.0f && v < 9223372036854775808.0f) ? (int64_t)v : INT64_MIN;
}
static inline uint16_t f32_to_bf16_trunc(float v)
{
    uint32_t b;
    memcpy(&b, &v, 4);
    if ((b & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((b >> 16) | 0x40); /* keep NaN a NaN */
    return (uint16_t)(b >> 16);
}

/* ---- direct loops ---- */

#define CAST_LOOP(NAME, TS, TD, EXPR)                                      \
    static void NAME(const void *s_, void *d_, int64_t n)                  \
    {                                                                      \
        const TS *s = (const TS *)s_;                                      \
        TD *d = (TD *)d_;                                                  \
        for (int64_t i = 0; i < n; i++) {                                  \
            const TS x = s[i];                                             \
            d[i] = (TD)(EXPR);                                             \
        }                                                                  \
    }

CAST_LOOP(f32_f64, float, double, x)
CAST_LOOP(f64_f32, double, float, x)
CAST_LOOP(f32_i32, float, int32_t, f32_to_i32(x))
CAST_LOOP(f32_i64_slow, float, int64_t, f32_to_i64(x))

/* float32 -> int64 has no AVX2 instruction: convert blocks through the
 * vectorised int32 conversion and redo a block exactly if any value fell
 * outside int32 (the conversion gives INT32_MIN for those, and for NaN). */
static void f32_i64(const void *s_, void *d_, int64_t n)
{
    const float *s = (const float *)s_;
    int64_t *d = (int64_t *)d_;
    int32_t t[1024];
    for (int64_t b = 0; b < n; b += 1024) {
        int64_t m = n - b < 1024 ? n - b : 1024;
        int32_t odd = 0;
        for (int64_t i = 0; i < m; i++) {
            t[i] = f32_to_i32(s[b + i]);
            odd |= t[i] == INT32_MIN;
        }
        if (odd)
            f32_i64_slow(s + b, d + b, m);
        else
            for (int64_t i = 0; i < m; i++) d[b + i] = t[i];
    }
}

CAST_LOOP(i32_f32, int32_t, float, x)
CAST_LOOP(i64_f32, int64_t, float, x)
CAST_LOOP(u8_f32, uint8_t, float, x)
CAST_LOOP(i8_f32, int8_t, float, x)
CAST_LOOP(b_f32, uint8_t, float, x != 0)
CAST_LOOP(f32_b, float, uint8_t, x != 0)
CAST_LOOP(i64_i32, int64_t, int32_t, x)
CAST_LOOP(i32_i64, int32_t, int64_t, x)
CAST_LOOP(i64_f64, int64_t, double, x)
CAST_LOOP(f64_i64, double, int64_t, f64_to_i64(x))
CAST_LOOP(b_i64, uint8_t, int64_t, x != 0)
CAST_LOOP(i64_b, int64_t, uint8_t, x != 0)
CAST_LOOP(b_i32, uint8_t, int32_t, x != 0)
CAST_LOOP(i32_b, int32_t, uint8_t, x != 0)
CAST_LOOP(f32_bf16, float, uint16_t, f32_to_bf16_trunc(x))

static void f16_f32(const void *s, void *d, int64_t n) { elt_f16_to_f32_n(s, d, n); }
static void f32_f16(const void *s, void *d, int64_t n) { elt_f32_to_f16_n(s, d, n); }
static void bf16_f32(const void *s, void *d, int64_t n) { elt_bf16_to_f32_n(s, d, n); }

typedef void (*cast_fn)(const void *src, void *dst, int64_t n);

typedef struct cast_pair {
    fwd_dtype from, to;
    cast_fn fn;
} cast_pair;

static const cast_pair k_direct[] = {
    {FWD_FLOAT32, FWD_FLOAT64, f32_f64},  {FWD_FLOAT64, FWD_FLOAT32, f64_f32},
    {FWD_FLOAT32, FWD_INT32, f32_i32},    {FWD_FLOAT32, FWD_INT64, f32_i64},
    {FWD_INT32, FWD_FLOAT32, i32_f32},    {FWD_INT64, FWD_FLOAT32, i64_f32},
    {FWD_UINT8, FWD_FLOAT32, u8_f32},     {FWD_INT8, FWD_FLOAT32, i8_f32},
    {FWD_BOOL, FWD_FLOAT32, b_f32},       {FWD_FLOAT32, FWD_BOOL, f32_b},
    {FWD_INT64, FWD_INT32, i64_i32},      {FWD_INT32, FWD_INT64, i32_i64},
    {FWD_INT64, FWD_FLOAT64, i64_f64},    {FWD_FLOAT64, FWD_INT64, f64_i64},
    {FWD_BOOL, FWD_INT64, b_i64},         {FWD_INT64, FWD_BOOL, i64_b},
    {FWD_BOOL, FWD_INT32, b_i32},         {FWD_INT32, FWD_BOOL, i32_b},
    {FWD_FLOAT16, FWD_FLOAT32, f16_f32},  {FWD_FLOAT32, FWD_FLOAT16, f32_f16},
    {FWD_BFLOAT16, FWD_FLOAT32, bf16_f32}, {FWD_FLOAT32, FWD_BFLOAT16, f32_bf16},
};

/* ---- the pivot path ---- */

enum { PIV_F64, PIV_I64, PIV_U64 };

typedef union pivot_buf {
    double f[512];
    int64_t i[512];
    uint64_t u[512];
} pivot_buf;

static int pivot_kind(fwd_dtype t)
{
    if (ir_dtype_is_float(t)) return PIV_F64;
    return t == FWD_UINT64 ? PIV_U64 : PIV_I64;
}

static void load_pivot(fwd_dtype t, const void *s, int64_t n, pivot_buf *b)
{
    for (int64_t i = 0; i < n; i++) {
        switch (t) {
        case FWD_FLOAT32: b->f[i] = ((const float *)s)[i]; break;
        case FWD_FLOAT64: b->f[i] = ((const double *)s)[i]; break;
        case FWD_FLOAT16: b->f[i] = fwd_f16_to_f32(((const uint16_t *)s)[i]); break;
        case FWD_BFLOAT16: b->f[i] = fwd_bf16_to_f32(((const uint16_t *)s)[i]); break;
        case FWD_INT8: b->i[i] = ((const int8_t *)s)[i]; break;
        case FWD_INT16: b->i[i] = ((const int16_t *)s)[i]; break;
        case FWD_INT32: b->i[i] = ((const int32_t *)s)[i]; break;
        case FWD_INT64: b->i[i] = ((const int64_t *)s)[i]; break;
        case FWD_UINT8: b->i[i] = ((const uint8_t *)s)[i]; break;
        case FWD_UINT16: b->i[i] = ((const uint16_t *)s)[i]; break;
        case FWD_UINT32: b->i[i] = ((const uint32_t *)s)[i]; break;
        case FWD_UINT64: b->u[i] = ((const uint64_t *)s)[i]; break;
        case FWD_BOOL: b->i[i] = ((const uint8_t *)s)[i] != 0; break;
        default: b->i[i] = 0; break;
        }
    }
}

/* Store n pivot values of kind k as dtype t. Integer targets take the
 * value as a 64-bit integer first and keep its low bits. */
static void store_pivot(int k, const pivot_buf *b, fwd_dtype t, void *d, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double f = k == PIV_F64 ? b->f[i] : k == PIV_I64 ? (double)b->i[i] : (double)b->u[i];
        uint64_t bits = k == PIV_F64 ? (t == FWD_UINT64 ? f64_to_u64(f) : (uint64_t)f64_to_i64(f))
                        : k == PIV_I64 ? (uint64_t)b->i[i]
                                       : b->u[i];
        bool nz = k == PIV_F64 ? f != 0.0 : bits != 0;
        switch (t) {
        case FWD_FLOAT32: ((float *)d)[i] = k == PIV_I64 ? (float)b->i[i] : k == PIV_U64 ? (float)b->u[i] : (float)f; break;
        case FWD_FLOAT64: ((double *)d)[i] = f; break;
        case FWD_FLOAT16: ((uint16_t *)d)[i] = fwd_f32_to_f16(k == PIV_F64 ? (float)f : k == PIV_I64 ? (float)b->i[i] : (float)b->u[i]); break;
        case FWD_BFLOAT16: ((uint16_t *)d)[i] = f32_to_bf16_trunc(k == PIV_F64 ? (float)f : k == PIV_I64 ? (float)b->i[i] : (float)b->u[i]); break;
        case FWD_INT8: ((int8_t *)d)[i] = (int8_t)bits; break;
        case FWD_INT16: ((int16_t *)d)[i] = (int16_t)bits; break;
        case FWD_INT32: ((int32_t *)d)[i] = (int32_t)bits; break;
        case FWD_INT64: ((int64_t *)d)[i] = (int64_t)bits; break;
        case FWD_UINT8: ((uint8_t *)d)[i] = (uint8_t)bits; break;
        case FWD_UINT16: ((uint16_t *)d)[i] = (uint16_t)bits; break;
        case FWD_UINT32: ((uint32_t *)d)[i] = (uint32_t)bits; break;
        case FWD_UINT64: ((uint64_t *)d)[i] = bits; break;
        case FWD_BOOL: ((uint8_t *)d)[i] = nz; break;
        default: break;
        }
    }
}

static bool castable(fwd_dtype t)
{
    return ir_dtype_is_float(t) || ir_dtype_is_int(t) || t == FWD_BOOL;
}

fwd_status elt_cast_buffer(fwd_dtype from, const void *src, fwd_dtype to, void *dst, int64_t n)
{
    if (!castable(from) || !castable(to))
        return fwd_errorf(FWD_ERR_UNSUPPORTED, "cast from %s to %s is not supported", fwd_dtype_name(from),
                          fwd_dtype_name(to));
    if (n <= 0) return FWD_OK;
    if (from == to) {
        if (dst != src) memcpy(dst, src, (size_t)n * fwd_dtype_size(to));
        return FWD_OK;
    }
    for (size_t i = 0; i < sizeof k_direct / sizeof k_direct[0]; i++)
        if (k_direct[i].from == from && k_direct[i].to == to) {
            k_direct[i].fn(src, dst, n);
            return FWD_OK;
        }
    pivot_buf b;
    const size_t ss = fwd_dtype_size(from), ds = fwd_dtype_size(to);
    const int kind = pivot_kind(from);
    for (int64_t s = 0; s < n; s += 512) {
        int64_t m = n - s < 512 ? n - s : 512;
        load_pivot(from, (const char *)src + (size_t)s * ss, m, &b);
        store_pivot(kind, &b, to, (char *)dst + (size_t)s * ds, m);
    }
    return FWD_OK;
}

/* Loop for the broadcast driver: dtypes from the ctx. */
static void cast_loop(const elt_loop_ctx *c, void *out, const void *const *in, int64_t n)
{
    (void)elt_cast_buffer(c->in_dtype[0], in[0], c->out_dtype, out, n);
}

static fwd_status run_cast(fwd_kernel_ctx *k, fwd_dtype to)
{
    const ir_tensor *x = elt_in(k, 0);
    if (!x) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "input 0 is missing");
    if (x->dtype == FWD_STRING || to == FWD_STRING)
        return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "casts from or to string are not supported");
    if (!castable(x->dtype) || !castable(to))
        return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "cast from %s to %s is not supported",
                                fwd_dtype_name(x->dtype), fwd_dtype_name(to));
    ir_tensor *y;
    FWD_TRY(elt_prepare_out(k, 0, to, &x->shape, &y));
    elt_params prm;
    memset(&prm, 0, sizeof prm);
    elt_loop_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.p = &prm;
    ctx.in_dtype[0] = x->dtype;
    ctx.out_dtype = to;
    const ir_tensor *ins[1] = {x};
    return elt_run(k, y, ins, 1, cast_loop, &ctx, ELT_GRAIN_CHEAP);
}

fwd_status elt_k_cast(fwd_kernel_ctx *k)
{
    const ir_attr *a = ir_node_attr(k->node, "to");
    if (!a || a->type != IR_ATTR_INT)
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "attribute 'to' (an int) is missing");
    if (a->i < 0 || a->i >= N_DT || fwd_dtype_size((fwd_dtype)a->i) == 0) {
        if (a->i == FWD_STRING)
            return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "casts from or to string are not supported");
        return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "attribute 'to' = %lld is not a supported dtype",
                                (long long)a->i);
    }
    return run_cast(k, (fwd_dtype)a->i);
}

fwd_status elt_k_castlike(fwd_kernel_ctx *k)
{
    const ir_tensor *like = elt_in(k, 1);
    if (!like) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "input 'target_type' is missing");
    return run_cast(k, like->dtype);
}

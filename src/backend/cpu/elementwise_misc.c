/* Elementwise kernels that are not plain unary/binary math: the variadic
 * Sum/Mean/Max/Min, Where, Clip, Identity and Dropout. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backend/cpu/cpu_util.h"
#include "backend/cpu/elementwise_internal.h"
#include "ir/op_schema.h"

/* ---- Sum, Mean, Max, Min ---- */

#define SCALE_LOOP(NAME, T, FACTOR)                                                     \
    static void NAME(const elt_loop_ctx *c, void *o_, const void *const *in, int64_t n) \
    {                                                                                   \
        const T *a = (const T *)in[0];                                                  \
        T *o = (T *)o_;                                                                 \
        const T f = (T)c->p->FACTOR;                                                    \
        for (int64_t i = 0; i < n; i++) o[i] = a[i] * f;                                \
    }
SCALE_LOOP(scale_f32, float, f[0])
SCALE_LOOP(scale_f64, double, d[0])

/* out = in[0] (op) in[1] (op) ... folded left to right, each step
 * broadcasting into the output; Mean then scales by 1/n. */
fwd_status elt_k_variadic(fwd_kernel_ctx *k)
{
    const char *op = k->node->op_type;
    bool mean = strcmp(op, "Mean") == 0;
    const char *pair = (mean || strcmp(op, "Sum") == 0) ? "Add" : op;
    int n = k->n_in;
    if (n < 1 || n > 4096) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "takes 1 or more inputs, got %d", n);
    const ir_tensor *ins[2];
    for (int i = 0; i < n; i++) {
        if (!k->in[i]) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "input %d is missing", i);
        if (k->in[i]->dtype != k->in[0]->dtype)
            return cpu_kernel_error(k, FWD_ERR_DTYPE, "input %d has dtype %s, input 0 has %s", i,
                                    fwd_dtype_name(k->in[i]->dtype), fwd_dtype_name(k->in[0]->dtype));
    }
    fwd_dtype dt = k->in[0]->dtype;
    if ((mean || strcmp(op, "Sum") == 0) && !ir_dtype_is_float(dt))
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "inputs have dtype %s; the op takes float types",
                                fwd_dtype_name(dt));
    elt_params prm;
    memset(&prm, 0, sizeof prm);
    elt_loop_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.p = &prm;
    elt_loop_fn fn = elt_binary_loop(pair, dt, &ctx);
    if (!fn)
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "inputs have dtype %s, which this op does not take",
                                fwd_dtype_name(dt));
    /* output shape: all inputs broadcast together */
    ir_shape shape = k->in[0]->shape;
    for (int i = 1; i < n; i++) {
        ir_tensor acc = {.dtype = dt, .shape = shape};
        const ir_tensor *two[2] = {&acc, k->in[i]};
        FWD_TRY(elt_broadcast_shape(k, two, 2, &shape));
    }
    ir_tensor *y;
    FWD_TRY(elt_prepare_out(k, 0, dt, &shape, &y));
    if (n == 1) {
        int64_t cnt = ir_shape_numel(&shape);
        if (cnt > 0 && y->data != k->in[0]->data)
            memcpy(y->data, k->in[0]->data, (size_t)cnt * fwd_dtype_size(dt));
    } else {
        ins[0] = k->in[0];
        ins[1] = k->in[1];
        FWD_TRY(elt_run(k, y, ins, 2, fn, &ctx, ELT_GRAIN_CHEAP));
        for (int i = 2; i < n; i++) {
            ins[0] = y; /* in place: element i reads only element i */
            ins[1] = k->in[i];
            FWD_TRY(elt_run(k, y, ins, 2, fn, &ctx, ELT_GRAIN_CHEAP));
        }
    }
    if (mean && n > 1) {
        prm.f[0] = 1.0f / (float)n;
        prm.d[0] = 1.0 / (double)n;
        elt_loop_ctx sc;
        memset(&sc, 0, sizeof sc);
        sc.p = &prm;
        sc.in_dtype[0] = sc.out_dtype = dt;
        elt_loop_fn sf = dt == FWD_FLOAT64 ? scale_f64 : dt == FWD_FLOAT32 ? scale_f32 : elt_loop_half;
        sc.inner = scale_f32;
        ins[0] = y;
        FWD_TRY(elt_run(k, y, ins, 1, sf, &sc, ELT_GRAIN_CHEAP));
    }
    return FWD_OK;
}

/* ---- Where ---- */

/* Selection copies bits, so one loop per element size serves all dtypes. */
#define WHERE_LOOP(NAME, T)                                                             \
    static void NAME(const elt_loop_ctx *c, void *o_, const void *const *in, int64_t n) \
    {                                                                                   \
        const uint8_t *cd = (const uint8_t *)in[0];                                     \
        const T *x = (const T *)in[1], *y = (const T *)in[2];                           \
        T *o = (T *)o_;                                                                 \
        if (c->scalar[0]) {                                                             \
            const T *src = cd[0] ? x : y;                                               \
            if (cd[0] ? c->scalar[1] : c->scalar[2]) {                                  \
                const T v = src[0];                                                     \
                for (int64_t i = 0; i < n; i++) o[i] = v;                               \
            } else {                                                                    \
                memcpy(o, src, (size_t)n * sizeof(T));                                  \
            }                                                                           \
        } else if (!c->scalar[1] && !c->scalar[2]) {                                    \
            for (int64_t i = 0; i < n; i++) o[i] = cd[i] ? x[i] : y[i];                 \
        } else if (!c->scalar[1]) {                                                     \
            const T yv = y[0];                                                          \
            for (int64_t i = 0; i < n; i++) o[i] = cd[i] ? x[i] : yv;                   \
        } else if (!c->scalar[2]) {                                                     \
            const T xv = x[0];                                                          \
            for (int64_t i = 0; i < n; i++) o[i] = cd[i] ? xv : y[i];                   \
        } else {                                                                        \
            const T xv = x[0], yv = y[0];                                               \
            for (int64_t i = 0; i < n; i++) o[i] = cd[i] ? xv : yv;                     \
        }                                                                               \
    }
WHERE_LOOP(where_1, uint8_t)
WHERE_LOOP(where_2, uint16_t)
WHERE_LOOP(where_4, uint32_t)
WHERE_LOOP(where_8, uint64_t)

fwd_status elt_k_where(fwd_kernel_ctx *k)
{
    const ir_tensor *ins[3] = {elt_in(k, 0), elt_in(k, 1), elt_in(k, 2)};
    if (!ins[0] || !ins[1] || !ins[2]) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "the op takes 3 inputs");
    if (ins[0]->dtype != FWD_BOOL)
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "input 'condition' has dtype %s; it must be bool",
                                fwd_dtype_name(ins[0]->dtype));
    fwd_dtype dt = ins[1]->dtype;
    if (ins[2]->dtype != dt)
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "X has dtype %s and Y %s", fwd_dtype_name(dt),
                                fwd_dtype_name(ins[2]->dtype));
    size_t sz = fwd_dtype_size(dt);
    elt_loop_fn fn = sz == 1 ? where_1 : sz == 2 ? where_2 : sz == 4 ? where_4 : sz == 8 ? where_8 : NULL;
    if (!fn) return cpu_kernel_error(k, FWD_ERR_DTYPE, "dtype %s is not supported", fwd_dtype_name(dt));
    ir_shape shape;
    FWD_TRY(elt_broadcast_shape(k, ins, 3, &shape));
    ir_tensor *y;
    FWD_TRY(elt_prepare_out(k, 0, dt, &shape, &y));
    elt_params prm;
    memset(&prm, 0, sizeof prm);
    elt_loop_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.p = &prm;
    return elt_run(k, y, ins, 3, fn, &ctx, ELT_GRAIN_CHEAP);
}

/* ---- Clip ---- */

/* Bounds in c->p: f[0..1] (float32 and half), d[0..1] (float64),
 * i[0..1] (integers, as int64 bit patterns). NaN stays NaN. */
#define CLIP_LOOP(NAME, T, LO, HI)                                                      \
    static void NAME(const elt_loop_ctx *c, void *o_, const void *const *in, int64_t n) \
    {                                                                                   \
        const T *a = (const T *)in[0];                                                  \
        T *o = (T *)o_;                                                                 \
        const T lo = (T)c->p->LO, hi = (T)c->p->HI;                                     \
        for (int64_t i = 0; i < n; i++) {                                               \
            T v = a[i] < lo ? lo : a[i];                                                \
            o[i] = v > hi ? hi : v;                                                     \
        }                                                                               \
    }
CLIP_LOOP(clip_f32, float, f[0], f[1])
CLIP_LOOP(clip_f64, double, d[0], d[1])
CLIP_LOOP(clip_i8, int8_t, i[0], i[1])
CLIP_LOOP(clip_i16, int16_t, i[0], i[1])
CLIP_LOOP(clip_i32, int32_t, i[0], i[1])
CLIP_LOOP(clip_i64, int64_t, i[0], i[1])
CLIP_LOOP(clip_u8, uint8_t, i[0], i[1])
CLIP_LOOP(clip_u16, uint16_t, i[0], i[1])
CLIP_LOOP(clip_u32, uint32_t, i[0], i[1])
CLIP_LOOP(clip_u64, uint64_t, i[0], i[1])

/* Lowest and highest value of dtype t into slot `which` 0 / 1 of p. */
static void clip_default(fwd_dtype t, int which, elt_params *p)
{
    double f = 0;
    int64_t i = 0;
    switch (t) {
    case FWD_FLOAT32: f = FLT_MAX; break;
    case FWD_FLOAT64: f = DBL_MAX; break;
    case FWD_FLOAT16: f = 65504.0; break;
    case FWD_BFLOAT16: f = 3.38953139e38; break;
    case FWD_INT8: i = which ? INT8_MAX : INT8_MIN; break;
    case FWD_INT16: i = which ? INT16_MAX : INT16_MIN; break;
    case FWD_INT32: i = which ? INT32_MAX : INT32_MIN; break;
    case FWD_INT64: i = which ? INT64_MAX : INT64_MIN; break;
    case FWD_UINT8: i = which ? UINT8_MAX : 0; break;
    case FWD_UINT16: i = which ? UINT16_MAX : 0; break;
    case FWD_UINT32: i = which ? (int64_t)UINT32_MAX : 0; break;
    case FWD_UINT64: i = which ? -1 /* all ones */ : 0; break;
    default: break;
    }
    if (!which) f = -f;
    if (t == FWD_DTYPE_UNDEFINED) return;
    p->f[which] = (float)f;
    p->d[which] = f;
    p->i[which] = i;
}

/* Read bound tensor b (a scalar of X's dtype) into slot `which`. */
static fwd_status clip_bound(const fwd_kernel_ctx *k, const ir_tensor *b, fwd_dtype t, int which,
                             elt_params *p)
{
    const char *name = which ? "max" : "min";
    if (b->dtype != t)
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "input '%s' has dtype %s, input has %s", name,
                                fwd_dtype_name(b->dtype), fwd_dtype_name(t));
    if (ir_shape_numel(&b->shape) != 1) {
        char s[128];
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "input '%s' must be a scalar, got shape %s", name,
                                ir_shape_str(&b->shape, NULL, s, sizeof s));
    }
    if (ir_dtype_is_float(t)) {
        double v = cpu_get_f64(t, b->data, 0);
        p->f[which] = (float)v;
        p->d[which] = v;
    } else {
        int64_t v;
        switch (t) {
        case FWD_INT8: v = *(const int8_t *)b->data; break;
        case FWD_INT16: v = *(const int16_t *)b->data; break;
        case FWD_INT32: v = *(const int32_t *)b->data; break;
        case FWD_INT64: v = *(const int64_t *)b->data; break;
        case FWD_UINT8: v = *(const uint8_t *)b->data; break;
        case FWD_UINT16: v = *(const uint16_t *)b->data; break;
        case FWD_UINT32: v = *(const uint32_t *)b->data; break;
        case FWD_UINT64: v = (int64_t)*(const uint64_t *)b->data; break;
        default: v = 0; break;
        }
        p->i[which] = v;
    }
    return FWD_OK;
}

fwd_status elt_k_clip(fwd_kernel_ctx *k)
{
    const ir_tensor *x = elt_in(k, 0);
    if (!x) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "input 0 is missing");
    fwd_dtype t = x->dtype;
    elt_loop_fn fn;
    elt_params prm;
    memset(&prm, 0, sizeof prm);
    elt_loop_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.p = &prm;
    ctx.in_dtype[0] = ctx.out_dtype = t;
    switch (t) {
    case FWD_FLOAT32: fn = clip_f32; break;
    case FWD_FLOAT64: fn = clip_f64; break;
    case FWD_FLOAT16:
    case FWD_BFLOAT16: fn = elt_loop_half, ctx.inner = clip_f32; break;
    case FWD_INT8: fn = clip_i8; break;
    case FWD_INT16: fn = clip_i16; break;
    case FWD_INT32: fn = clip_i32; break;
    case FWD_INT64: fn = clip_i64; break;
    case FWD_UINT8: fn = clip_u8; break;
    case FWD_UINT16: fn = clip_u16; break;
    case FWD_UINT32: fn = clip_u32; break;
    case FWD_UINT64: fn = clip_u64; break;
    default:
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "input has dtype %s, which this op does not take",
                                fwd_dtype_name(t));
    }
    for (int w = 0; w < 2; w++) {
        const ir_tensor *b = elt_in(k, 1 + w);
        if (b)
            FWD_TRY(clip_bound(k, b, t, w, &prm));
        else
            clip_default(t, w, &prm);
    }
    ir_tensor *y;
    FWD_TRY(elt_prepare_out(k, 0, t, &x->shape, &y));
    const ir_tensor *ins[1] = {x};
    return elt_run(k, y, ins, 1, fn, &ctx, ELT_GRAIN_CHEAP);
}

/* ---- Identity, Dropout ---- */

static fwd_status copy_tensor(fwd_kernel_ctx *k, const ir_tensor *x, ir_tensor *y)
{
    size_t sz = fwd_dtype_size(x->dtype);
    if (sz == 0)
        return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "dtype %s is not supported",
                                fwd_dtype_name(x->dtype));
    int64_t n = ir_shape_numel(&x->shape);
    if (n > 0 && y->data != x->data) memcpy(y->data, x->data, (size_t)n * sz);
    return FWD_OK;
}

fwd_status elt_k_identity(fwd_kernel_ctx *k)
{
    const ir_tensor *x = elt_in(k, 0);
    if (!x) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "input 0 is missing");
    ir_tensor *y;
    FWD_TRY(elt_prepare_out(k, 0, x->dtype, &x->shape, &y));
    return copy_tensor(k, x, y);
}

/* A small counter-based generator (splitmix64) for training-mode masks. */
static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

fwd_status elt_k_dropout(fwd_kernel_ctx *k)
{
    const ir_tensor *x = elt_in(k, 0), *r = elt_in(k, 1), *tm = elt_in(k, 2);
    if (!x) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "input 0 is missing");
    if (!ir_dtype_is_float(x->dtype))
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "input 'data' has dtype %s; it must be a float type",
                                fwd_dtype_name(x->dtype));
    double ratio = 0.5;
    bool training = false;
    if (r) {
        if (!ir_dtype_is_float(r->dtype) || ir_shape_numel(&r->shape) != 1)
            return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "input 'ratio' must be a float scalar");
        ratio = cpu_get_f64(r->dtype, r->data, 0);
    }
    if (tm) {
        if (tm->dtype != FWD_BOOL || ir_shape_numel(&tm->shape) != 1)
            return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "input 'training_mode' must be a bool scalar");
        training = *(const uint8_t *)tm->data != 0;
    }
    if (training && !(ratio >= 0.0 && ratio < 1.0))
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "ratio %g is outside [0, 1)", ratio);
    bool drop = training && ratio > 0.0;
    int64_t n = ir_shape_numel(&x->shape);
    ir_tensor *y, *mask = NULL;
    FWD_TRY(elt_prepare_out(k, 0, x->dtype, &x->shape, &y));
    if (elt_out(k, 1)) FWD_TRY(elt_prepare_out(k, 1, FWD_BOOL, &x->shape, &mask));
    if (!drop) {
        if (mask && n > 0) memset(mask->data, 1, (size_t)n);
        return copy_tensor(k, x, y);
    }
    /* training mode: keep each element with probability 1 - ratio and
     * scale the kept ones by 1 / (1 - ratio) */
    uint64_t seed = (uint64_t)ir_attr_int(k->node, "seed", 0x5eed);
    uint64_t threshold = (uint64_t)(ratio * 18446744073709551616.0);
    double scale = 1.0 / (1.0 - ratio);
    for (int64_t i = 0; i < n; i++) {
        bool keep = mix64(seed * 0x100000001b3ull + (uint64_t)i) >= threshold;
        double v = keep ? cpu_get_f64(x->dtype, x->data, i) * scale : 0.0;
        cpu_set_f64(y->dtype, y->data, i, v);
        if (mask) ((uint8_t *)mask->data)[i] = keep;
    }
    return FWD_OK;
}

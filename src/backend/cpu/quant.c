/*
 * Quantisation: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear,
 * and the integer products ConvInteger, QLinearConv, MatMulInteger and
 * QLinearMatMul (int32 accumulation of zero-point-shifted values, then a
 * float requantisation for the QLinear forms).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/nn_internal.h"

/* ---- helpers ---- */

static int32_t q_get(fwd_dtype dt, const void *p, int64_t i)
{
    switch (dt) {
    case FWD_UINT8: return ((const uint8_t *)p)[i];
    case FWD_INT8: return ((const int8_t *)p)[i];
    case FWD_INT32: return ((const int32_t *)p)[i];
    default: return 0;
    }
}

static void q_range(fwd_dtype dt, float *lo, float *hi)
{
    if (dt == FWD_INT8) {
        *lo = -128.0f;
        *hi = 127.0f;
    } else {
        *lo = 0.0f;
        *hi = 255.0f;
    }
}

/* Rounds half to even and saturates into [lo, hi]. */
static inline float q_round_clamp(float v, float lo, float hi)
{
    v = nearbyintf(v);
    return v < lo ? lo : v > hi ? hi : v;
}

static void q_store(fwd_dtype dt, void *p, int64_t i, float v)
{
    if (dt == FWD_INT8) ((int8_t *)p)[i] = (int8_t)v;
    else ((uint8_t *)p)[i] = (uint8_t)v;
}

/* Per-tensor or per-axis parameters of a (de)quantise op. */
typedef struct qparams {
    int64_t outer, ch, inner; /* x viewed as [outer, ch, inner] */
    const ir_tensor *scale, *zp;
} qparams;

static fwd_status q_params(const fwd_kernel_ctx *k, const ir_tensor *x, const ir_tensor *scale,
                           const ir_tensor *zp, qparams *q)
{
    q->scale = scale;
    q->zp = zp;
    int64_t ns = (int64_t)ir_tensor_numel(scale);
    if (scale->shape.rank > 1) return cpu_kernel_error(k, FWD_ERR_SHAPE, "scale must be a scalar or 1-D");
    if (zp && (int64_t)ir_tensor_numel(zp) != ns)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "scale and zero point differ in size");
    if (ns < 1) return cpu_kernel_error(k, FWD_ERR_SHAPE, "scale is empty");
    int64_t total = (int64_t)ir_tensor_numel(x);
    if (ns == 1 && scale->shape.rank <= 1) {
        q->outer = 1;
        q->ch = 1;
        q->inner = total;
        return FWD_OK;
    }
    int64_t axis = ir_attr_int(k->node, "axis", 1), r = x->shape.rank;
    if (axis < -r || axis >= r)
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "axis %lld out of range for rank %lld",
                                (long long)axis, (long long)r);
    if (axis < 0) axis += r;
    if (x->shape.dims[axis] != ns)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "scale has %lld values, axis %lld has size %lld",
                                (long long)ns, (long long)axis, (long long)x->shape.dims[axis]);
    q->outer = 1;
    q->inner = 1;
    for (int64_t i = 0; i < axis; i++) q->outer *= x->shape.dims[i];
    for (int64_t i = axis + 1; i < r; i++) q->inner *= x->shape.dims[i];
    q->ch = ns;
    return FWD_OK;
}

/* ---- QuantizeLinear ---- */

typedef struct quant_job {
    const ir_tensor *x;
    void *y;
    fwd_dtype ydt;
    qparams q;
} quant_job;

static void quant_blocks(void *arg, int64_t b0, int64_t b1)
{
    const quant_job *j = arg;
    float lo, hi;
    q_range(j->ydt, &lo, &hi);
    for (int64_t b = b0; b < b1; b++) {
        int64_t c = b % j->q.ch;
        float s = (float)cpu_get_f64(j->q.scale->dtype, j->q.scale->data, c);
        float zp = j->q.zp ? (float)q_get(j->q.zp->dtype, j->q.zp->data, c) : 0.0f;
        int64_t base = b * j->q.inner;
        if (j->x->dtype == FWD_FLOAT32) {
            const float *x = (const float *)j->x->data + base;
            if (j->ydt == FWD_UINT8) {
                uint8_t *y = (uint8_t *)j->y + base;
                for (int64_t i = 0; i < j->q.inner; i++) y[i] = (uint8_t)(q_round_clamp(x[i] / s, lo - zp, hi - zp) + zp);
            } else {
                int8_t *y = (int8_t *)j->y + base;
                for (int64_t i = 0; i < j->q.inner; i++) y[i] = (int8_t)(q_round_clamp(x[i] / s, lo - zp, hi - zp) + zp);
            }
        } else {
            for (int64_t i = 0; i < j->q.inner; i++) {
                float v = (float)cpu_get_f64(j->x->dtype, j->x->data, base + i) / s;
                q_store(j->ydt, j->y, base + i, q_round_clamp(v, lo - zp, hi - zp) + zp);
            }
        }
    }
}

fwd_status cpu_quantize_linear(fwd_kernel_ctx *k)
{
    FWD_TRY(nn_need_inputs(k, 2));
    const ir_tensor *x = k->in[0], *scale = k->in[1], *zp = nn_in(k, 2);
    ir_tensor *y = k->out[0];
    if (y->dtype != FWD_UINT8 && y->dtype != FWD_INT8)
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "output dtype %s not supported", fwd_dtype_name(y->dtype));
    if (zp && zp->dtype != y->dtype) return cpu_kernel_error(k, FWD_ERR_DTYPE, "zero point dtype mismatch");
    quant_job j = {x, y->data, y->dtype, {0}};
    FWD_TRY(q_params(k, x, scale, zp, &j.q));
    for (int64_t c = 0; c < j.q.ch; c++)
        if (!(cpu_get_f64(scale->dtype, scale->data, c) != 0.0))
            return cpu_kernel_error(k, FWD_ERR_RUNTIME, "scale %lld is zero or NaN", (long long)c);
    fwd_parallel_for(j.q.outer * j.q.ch, 65536 / (j.q.inner + 1) + 1, quant_blocks, &j);
    return FWD_OK;
}

/* Note on the rounding above: round(x / s) is clamped to [lo - zp, hi - zp]
 * before adding zp, which equals saturate(round(x / s) + zp). */

/* ---- DequantizeLinear ---- */

typedef struct dequant_job {
    const ir_tensor *x;
    float *y;
    qparams q;
} dequant_job;

static void dequant_blocks(void *arg, int64_t b0, int64_t b1)
{
    const dequant_job *j = arg;
    for (int64_t b = b0; b < b1; b++) {
        int64_t c = b % j->q.ch, base = b * j->q.inner;
        float s = (float)cpu_get_f64(j->q.scale->dtype, j->q.scale->data, c);
        int32_t zp = j->q.zp ? q_get(j->q.zp->dtype, j->q.zp->data, c) : 0;
        float *y = j->y + base;
        switch (j->x->dtype) {
        case FWD_UINT8: {
            const uint8_t *x = (const uint8_t *)j->x->data + base;
            for (int64_t i = 0; i < j->q.inner; i++) y[i] = (float)((int32_t)x[i] - zp) * s;
            break;
        }
        case FWD_INT8: {
            const int8_t *x = (const int8_t *)j->x->data + base;
            for (int64_t i = 0; i < j->q.inner; i++) y[i] = (float)((int32_t)x[i] - zp) * s;
            break;
        }
        default: {
            const int32_t *x = (const int32_t *)j->x->data + base;
            for (int64_t i = 0; i < j->q.inner; i++) y[i] = (float)((int64_t)x[i] - zp) * s;
            break;
        }
        }
    }
}

fwd_status cpu_dequantize_linear(fwd_kernel_ctx *k)
{
    FWD_TRY(nn_need_inputs(k, 2));
    const ir_tensor *x = k->in[0], *scale = k->in[1], *zp = nn_in(k, 2);
    ir_tensor *y = k->out[0];
    if (x->dtype != FWD_UINT8 && x->dtype != FWD_INT8 && x->dtype != FWD_INT32)
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "input dtype %s not supported", fwd_dtype_name(x->dtype));
    if (zp && zp->dtype != x->dtype) return cpu_kernel_error(k, FWD_ERR_DTYPE, "zero point dtype mismatch");
    if (y->dtype != FWD_FLOAT32) return cpu_kernel_error(k, FWD_ERR_DTYPE, "output must be float32");
    dequant_job j = {x, y->data, {0}};
    FWD_TRY(q_params(k, x, scale, zp, &j.q));
    fwd_parallel_for(j.q.outer * j.q.ch, 65536 / (j.q.inner + 1) + 1, dequant_blocks, &j);
    return FWD_OK;
}

/* ---- DynamicQuantizeLinear ---- */

fwd_status cpu_dynamic_quantize_linear(fwd_kernel_ctx *k)
{
    FWD_TRY(nn_need_inputs(k, 1));
    const ir_tensor *x = k->in[0];
    if (x->dtype != FWD_FLOAT32) return cpu_kernel_error(k, FWD_ERR_DTYPE, "input must be float32");
    size_t n = ir_tensor_numel(x);
    const float *xd = x->data;
    float mn = 0.0f, mx = 0.0f; /* the range always includes 0 */
    for (size_t i = 0; i < n; i++) {
        if (xd[i] != xd[i]) return cpu_kernel_error(k, FWD_ERR_RUNTIME, "input contains NaN");
        mn = xd[i] < mn ? xd[i] : mn;
        mx = xd[i] > mx ? xd[i] : mx;
    }
    float scale = (mx - mn) / 255.0f;
    float zpf = scale > 0.0f ? q_round_clamp(0.0f - mn / scale, 0.0f, 255.0f) : 0.0f;
    uint8_t *y = k->out[0]->data;
    for (size_t i = 0; i < n; i++)
        y[i] = scale > 0.0f ? (uint8_t)q_round_clamp(nearbyintf(xd[i] / scale) + zpf, 0.0f, 255.0f) : 0;
    if (nn_out(k, 1) && k->out[1]->data) *(float *)k->out[1]->data = scale;
    if (nn_out(k, 2) && k->out[2]->data) *(uint8_t *)k->out[2]->data = (uint8_t)zpf;
    return FWD_OK;
}

/* ---- integer products ---- */

/* int32 copy of t minus its zero point; zp may be per-tensor or, when
 * per_len > 1, indexed by (i / inner) % per_len. */
static int32_t *shifted_i32(const fwd_kernel_ctx *k, const ir_tensor *t, const ir_tensor *zp,
                            int64_t inner, int64_t per_len, fwd_status *st)
{
    size_t n = ir_tensor_numel(t);
    *st = FWD_OK;
    if (zp) {
        int64_t nz = (int64_t)ir_tensor_numel(zp);
        if (zp->dtype != t->dtype) {
            *st = cpu_kernel_error(k, FWD_ERR_DTYPE, "zero point dtype differs from its input");
            return NULL;
        }
        if (nz != 1 && nz != per_len) {
            *st = cpu_kernel_error(k, FWD_ERR_SHAPE, "zero point has %lld values, expected 1 or %lld",
                                   (long long)nz, (long long)per_len);
            return NULL;
        }
        if (nz == 1) per_len = 1;
    }
    int32_t *out = malloc((n ? n : 1) * sizeof(int32_t));
    if (!out) {
        *st = cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        int32_t z = 0;
        if (zp) z = q_get(zp->dtype, zp->data, per_len > 1 ? (int64_t)(i / (size_t)inner) % per_len : 0);
        out[i] = q_get(t->dtype, t->data, (int64_t)i) - z;
    }
    return out;
}

static bool is_q8(fwd_dtype t) { return t == FWD_UINT8 || t == FWD_INT8; }

/* acc (N x M x P, int32) = conv(x - x_zp, w - w_zp). */
static fwd_status int_conv(const fwd_kernel_ctx *k, const ir_tensor *x, const ir_tensor *xzp,
                           const ir_tensor *w, const ir_tensor *wzp, const ir_tensor *bias,
                           const ir_tensor *y, nn_conv_shape *s, int32_t *acc)
{
    if (!is_q8(x->dtype) || !is_q8(w->dtype))
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "x and w must be uint8 or int8");
    FWD_TRY(nn_conv_prepare(k, x, w, bias, y, s));
    if (xzp && ir_tensor_numel(xzp) != 1)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "x zero point must be a scalar");
    fwd_status st;
    int64_t K = s->cg * s->g.k_size, P = s->g.out_size;
    int32_t *xs = shifted_i32(k, x, xzp, 1, 1, &st);
    if (!xs) return st;
    int32_t *ws = shifted_i32(k, w, wzp, K, s->m, &st);
    int32_t *col = ws ? malloc((size_t)(K * P + 1) * sizeof(int32_t)) : NULL;
    if (ws && !col) st = cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory for im2col");
    if (col) {
        for (int64_t n = 0; n < s->n; n++)
            for (int64_t gi = 0; gi < s->group; gi++) {
                nn_im2col_i32(xs + (n * s->c + gi * s->cg) * s->g.in_size, s->cg, &s->w, col);
                nn_gemm_i32(s->mg, P, K, ws + gi * s->mg * K, col, acc + (n * s->m + gi * s->mg) * P);
            }
    }
    free(xs);
    free(ws);
    free(col);
    return st;
}

fwd_status cpu_conv_integer(fwd_kernel_ctx *k)
{
    FWD_TRY(nn_need_inputs(k, 2));
    nn_conv_shape s;
    ir_tensor *y = k->out[0];
    return int_conv(k, k->in[0], nn_in(k, 2), k->in[1], nn_in(k, 3), NULL, y, &s, y->data);
}

/* Requantises acc (rows of `inner` values per channel) into y. */
static void requantize(const int32_t *acc, int64_t outer, int64_t ch, int64_t inner,
                       const float *mult, int64_t mult_len, const int32_t *bias, float zp,
                       fwd_dtype ydt, void *y)
{
    float lo, hi;
    q_range(ydt, &lo, &hi);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < ch; c++) {
            int64_t base = (o * ch + c) * inner;
            float m = mult[mult_len > 1 ? c : 0];
            int32_t b = bias ? bias[c] : 0;
            for (int64_t i = 0; i < inner; i++) {
                float v = nearbyintf((float)((int64_t)acc[base + i] + b) * m) + zp;
                q_store(ydt, y, base + i, v < lo ? lo : v > hi ? hi : v);
            }
        }
}

/* Reads a float scale parameter (1 or n values) into out; returns count. */
static int64_t read_scales(const fwd_kernel_ctx *k, const ir_tensor *t, int64_t n, const char *what,
                           float **out, fwd_status *st)
{
    int64_t c = (int64_t)ir_tensor_numel(t);
    *st = FWD_OK;
    if (!ir_dtype_is_float(t->dtype) || (c != 1 && c != n)) {
        *st = cpu_kernel_error(k, FWD_ERR_SHAPE, "%s must be a float scalar or have %lld values", what,
                               (long long)n);
        return 0;
    }
    *out = malloc((size_t)c * sizeof(float));
    if (!*out) {
        *st = cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
        return 0;
    }
    for (int64_t i = 0; i < c; i++) (*out)[i] = (float)cpu_get_f64(t->dtype, t->data, i);
    return c;
}

fwd_status cpu_qlinear_conv(fwd_kernel_ctx *k)
{
    FWD_TRY(nn_need_inputs(k, 8));
    const ir_tensor *x = k->in[0], *w = k->in[3], *bias = nn_in(k, 8), *yzp = k->in[7];
    ir_tensor *y = k->out[0];
    if (bias && bias->dtype != FWD_INT32) return cpu_kernel_error(k, FWD_ERR_DTYPE, "bias must be int32");
    if (yzp->dtype != y->dtype || ir_tensor_numel(yzp) != 1)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "y zero point must be a scalar of the output dtype");
    size_t ny = ir_tensor_numel(y);
    int32_t *acc = malloc((ny ? ny : 1) * sizeof(int32_t));
    if (!acc) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    nn_conv_shape s;
    float *xs = NULL, *ws = NULL, *ys = NULL;
    fwd_status st = int_conv(k, x, k->in[2], w, k->in[5], bias, y, &s, acc);
    int64_t nw = 0;
    if (st == FWD_OK) read_scales(k, k->in[1], 1, "x_scale", &xs, &st);
    if (st == FWD_OK) nw = read_scales(k, k->in[4], s.m, "w_scale", &ws, &st);
    if (st == FWD_OK) read_scales(k, k->in[6], 1, "y_scale", &ys, &st);
    if (st == FWD_OK && ys[0] == 0.0f) st = cpu_kernel_error(k, FWD_ERR_RUNTIME, "y_scale is zero");
    if (st == FWD_OK) {
        for (int64_t i = 0; i < nw; i++) ws[i] = xs[0] * ws[i] / ys[0];
        requantize(acc, s.n, s.m, s.g.out_size, ws, nw, bias ? bias->data : NULL,
                   (float)q_get(yzp->dtype, yzp->data, 0), y->dtype, y->data);
    }
    free(acc);
    free(xs);
    free(ws);
    free(ys);
    return st;
}

/* acc = matmul(a - a_zp, b - b_zp) as int32, written into yi (shape of y). */
static fwd_status int_matmul(const fwd_kernel_ctx *k, const ir_tensor *a, const ir_tensor *azp,
                             const ir_tensor *b, const ir_tensor *bzp, ir_tensor *yi)
{
    if (!is_q8(a->dtype) || !is_q8(b->dtype))
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "A and B must be uint8 or int8");
    if (a->shape.rank < 1 || b->shape.rank < 1)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "operands must have rank >= 1");
    int64_t ka = a->shape.dims[a->shape.rank - 1];
    int64_t m = a->shape.rank > 1 ? a->shape.dims[a->shape.rank - 2] : 1;
    int64_t n = b->shape.rank > 1 ? b->shape.dims[b->shape.rank - 1] : 1;
    fwd_status st;
    /* a's zero point per row (M values), b's per column (N values) */
    int32_t *as = shifted_i32(k, a, azp, ka, m, &st);
    if (!as) return st;
    int32_t *bs = shifted_i32(k, b, bzp, 1, n, &st);
    if (bs) {
        ir_tensor ta = *a, tb = *b;
        ta.dtype = tb.dtype = FWD_INT32;
        ta.data = as;
        tb.data = bs;
        st = nn_matmul_tensors(k, &ta, &tb, yi);
    }
    free(as);
    free(bs);
    return st;
}

fwd_status cpu_matmul_integer(fwd_kernel_ctx *k)
{
    FWD_TRY(nn_need_inputs(k, 2));
    if (k->out[0]->dtype != FWD_INT32) return cpu_kernel_error(k, FWD_ERR_DTYPE, "output must be int32");
    return int_matmul(k, k->in[0], nn_in(k, 2), k->in[1], nn_in(k, 3), k->out[0]);
}

fwd_status cpu_qlinear_matmul(fwd_kernel_ctx *k)
{
    FWD_TRY(nn_need_inputs(k, 8));
    const ir_tensor *a = k->in[0], *b = k->in[3], *yzp = k->in[7];
    ir_tensor *y = k->out[0];
    if (yzp->dtype != y->dtype || ir_tensor_numel(yzp) != 1)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "y zero point must be a scalar of the output dtype");
    size_t ny = ir_tensor_numel(y);
    ir_tensor acc = *y;
    acc.dtype = FWD_INT32;
    acc.data = malloc((ny ? ny : 1) * sizeof(int32_t));
    acc.nbytes = ny * sizeof(int32_t);
    if (!acc.data) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    float *as = NULL, *bs = NULL, *ys = NULL;
    fwd_status st = int_matmul(k, a, k->in[2], b, k->in[5], &acc);
    int64_t m = a->shape.rank > 1 ? a->shape.dims[a->shape.rank - 2] : 1;
    int64_t n = b->shape.rank > 1 ? b->shape.dims[b->shape.rank - 1] : 1;
    int64_t na = 0, nb = 0;
    if (st == FWD_OK) na = read_scales(k, k->in[1], m, "a_scale", &as, &st);
    if (st == FWD_OK) nb = read_scales(k, k->in[4], n, "b_scale", &bs, &st);
    if (st == FWD_OK) read_scales(k, k->in[6], 1, "y_scale", &ys, &st);
    if (st == FWD_OK && ys[0] == 0.0f) st = cpu_kernel_error(k, FWD_ERR_RUNTIME, "y_scale is zero");
    if (st == FWD_OK) {
        float lo, hi, zp = (float)q_get(yzp->dtype, yzp->data, 0);
        q_range(y->dtype, &lo, &hi);
        const int32_t *ad = acc.data;
        for (size_t i = 0; i < ny; i++) {
            int64_t col = (int64_t)(i % (size_t)n), row = (int64_t)(i / (size_t)n) % m;
            float mult = as[na > 1 ? row : 0] * bs[nb > 1 ? col : 0] / ys[0];
            float v = nearbyintf((float)ad[i] * mult) + zp;
            q_store(y->dtype, y->data, (int64_t)i, v < lo ? lo : v > hi ? hi : v);
        }
    }
    free(acc.data);
    free(as);
    free(bs);
    free(ys);
    return st;
}

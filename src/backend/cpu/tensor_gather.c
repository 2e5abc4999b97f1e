/* CPU kernels: indexing ops (Gather*, Scatter*, OneHot, NonZero, Compress,
 * ReverseSequence). Every index is checked before any data moves. */
#include <stdlib.h>

#include "backend/cpu/tensor_internal.h"
#include "util/threadpool.h"

/* Normalise index v into [0, n) or fail naming the input. */
static fwd_status check_index(const fwd_kernel_ctx *k, int64_t *v, int64_t n, const char *what)
{
    if (*v < -n || *v >= n)
        return cpu_kernel_error(k, FWD_ERR_INVALID_ARGUMENT, "index %lld out of range [%lld, %lld) in input '%s'",
                                (long long)*v, (long long)-n, (long long)n, what);
    if (*v < 0) *v += n;
    return FWD_OK;
}

/* ---- Gather ---- */

typedef struct {
    const char *src;
    char *dst;
    const int64_t *idx;
    int64_t nidx, axis_len, inner_bytes;
} gather_job;

static void gather_rows(void *arg, int64_t b, int64_t e)
{
    const gather_job *j = arg;
    for (int64_t it = b; it < e; it++) {
        int64_t o = it / j->nidx, i = it % j->nidx;
        memcpy(j->dst + it * j->inner_bytes, j->src + (o * j->axis_len + j->idx[i]) * j->inner_bytes,
               (size_t)j->inner_bytes);
    }
}

fwd_status tns_gather(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    const ir_tensor *x = k->in[0], *ti = k->in[1];
    ir_tensor *y = k->out[0];
    int r = x->shape.rank;
    int64_t axis = ir_attr_int(k->node, "axis", 0);
    if (axis < 0) axis += r;
    int64_t n = (int64_t)ir_tensor_numel(ti), len = x->shape.dims[axis], outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= x->shape.dims[i];
    for (int i = (int)axis + 1; i < r; i++) inner *= x->shape.dims[i];
    int64_t *idx = fwd_kernel_scratch(k, sizeof(int64_t) * (size_t)(n + 1));
    if (!idx) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        idx[i] = cpu_get_index(ti, i);
        fwd_status s = check_index(k, &idx[i], len, "indices");
        if (s != FWD_OK) {
            return s;
        }
    }
    gather_job j = {x->data, y->data, idx, n, len, inner * (int64_t)fwd_dtype_size(x->dtype)};
    if (outer * n > 0 && j.inner_bytes > 0) fwd_parallel_for(outer * n, (1 << 14) / j.inner_bytes + 1, gather_rows, &j);
    return FWD_OK;
}

/* ---- GatherElements / ScatterElements ---- */

/* Offsets into data for each element of indices (row-major), with the
 * axis coordinate replaced by the index value. */
static fwd_status element_offsets(const fwd_kernel_ctx *k, const ir_tensor *x, const ir_tensor *ti, int axis,
                                  int64_t **out)
{
    int r = x->shape.rank;
    int64_t n = (int64_t)ir_tensor_numel(ti), xst[IR_MAX_RANK], pos[IR_MAX_RANK] = {0};
    if (ti->shape.rank != r) return cpu_kernel_error(k, FWD_ERR_SHAPE, "indices and data differ in rank");
    if (axis < 0 || axis >= r)
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "attribute axis is out of range for rank %d", r);
    for (int i = 0; i < r; i++)
        if (i != axis && ti->shape.dims[i] > x->shape.dims[i])
            return cpu_kernel_error(k, FWD_ERR_SHAPE, "indices dim %d (%lld) exceeds data's (%lld)", i,
                                    (long long)ti->shape.dims[i], (long long)x->shape.dims[i]);
    cpu_strides(&x->shape, xst);
    int64_t *off = malloc(sizeof(int64_t) * (size_t)(n + 1));
    if (!off) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    int64_t len = x->shape.dims[axis];
    for (int64_t e = 0; e < n; e++) {
        int64_t v = cpu_get_index(ti, e);
        fwd_status s = check_index(k, &v, len, "indices");
        if (s != FWD_OK) {
            free(off);
            return s;
        }
        int64_t o = 0;
        for (int i = 0; i < r; i++) o += (i == axis ? v : pos[i]) * xst[i];
        off[e] = o;
        for (int i = r - 1; i >= 0; i--) {
            if (++pos[i] < ti->shape.dims[i]) break;
            pos[i] = 0;
        }
    }
    *out = off;
    return FWD_OK;
}

fwd_status tns_gather_elements(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    const ir_tensor *x = k->in[0], *ti = k->in[1];
    ir_tensor *y = k->out[0];
    int r = x->shape.rank;
    int axis = (int)ir_attr_int(k->node, "axis", 0);
    if (axis < 0) axis += r;
    int64_t *off;
    FWD_TRY(element_offsets(k, x, ti, axis, &off));
    size_t es = fwd_dtype_size(x->dtype);
    int64_t n = (int64_t)ir_tensor_numel(ti);
    if (es == 4) {
        for (int64_t e = 0; e < n; e++) ((uint32_t *)y->data)[e] = ((const uint32_t *)x->data)[off[e]];
    } else {
        for (int64_t e = 0; e < n; e++)
            memcpy((char *)y->data + e * (int64_t)es, (const char *)x->data + off[e] * (int64_t)es, es);
    }
    free(off);
    return FWD_OK;
}

enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN };

static int reduction_of(const fwd_kernel_ctx *k)
{
    const char *s = ir_attr_string(k->node, "reduction", "none");
    return !strcmp(s, "add") ? RED_ADD : !strcmp(s, "mul") ? RED_MUL : !strcmp(s, "max") ? RED_MAX
                                                                   : !strcmp(s, "min") ? RED_MIN : RED_NONE;
}

/* dst[di] (op)= src[si] for n consecutive elements. */
static void reduce_into(fwd_dtype dt, void *dst, int64_t di, const void *src, int64_t si, int64_t n, int red)
{
    size_t es = fwd_dtype_size(dt);
    if (red == RED_NONE) {
        memcpy((char *)dst + di * (int64_t)es, (const char *)src + si * (int64_t)es, (size_t)n * es);
        return;
    }
#define RED_LOOP(T)                                                    \
    {                                                                  \
        T *d = (T *)dst + di;                                          \
        const T *s = (const T *)src + si;                              \
        for (int64_t i = 0; i < n; i++) {                              \
            switch (red) {                                             \
            case RED_ADD: d[i] = (T)(d[i] + s[i]); break;              \
            case RED_MUL: d[i] = (T)(d[i] * s[i]); break;              \
            case RED_MAX: d[i] = d[i] > s[i] ? d[i] : s[i]; break;     \
            default: d[i] = d[i] < s[i] ? d[i] : s[i]; break;          \
            }                                                          \
        }                                                              \
        return;                                                        \
    }
    switch (dt) {
    case FWD_FLOAT32: RED_LOOP(float)
    case FWD_FLOAT64: RED_LOOP(double)
    case FWD_INT32: RED_LOOP(int32_t)
    case FWD_INT64: RED_LOOP(int64_t)
    default: break;
    }
#undef RED_LOOP
    for (int64_t i = 0; i < n; i++) {
        double a = cpu_get_f64(dt, dst, di + i), b = cpu_get_f64(dt, src, si + i);
        double v = red == RED_ADD ? a + b : red == RED_MUL ? a * b : red == RED_MAX ? (a > b ? a : b) : (a < b ? a : b);
        cpu_set_f64(dt, dst, di + i, v);
    }
}

fwd_status tns_scatter_elements(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    const ir_tensor *x = k->in[0], *ti = k->in[1], *u = k->in[2];
    ir_tensor *y = k->out[0];
    int r = x->shape.rank;
    int axis = (int)ir_attr_int(k->node, "axis", 0);
    if (axis < 0) axis += r;
    if (!ir_shape_equal(&ti->shape, &u->shape)) return cpu_kernel_error(k, FWD_ERR_SHAPE, "indices and updates differ in shape");
    int64_t *off;
    FWD_TRY(element_offsets(k, x, ti, axis, &off));
    tns_memcpy(y->data, x->data, ir_tensor_numel(x) * fwd_dtype_size(x->dtype));
    int red = reduction_of(k);
    int64_t n = (int64_t)ir_tensor_numel(ti);
    for (int64_t e = 0; e < n; e++) reduce_into(x->dtype, y->data, off[e], u->data, e, 1, red);
    free(off);
    return FWD_OK;
}

/* ---- GatherND / ScatterND ---- */

fwd_status tns_gather_nd(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    const ir_tensor *x = k->in[0], *ti = k->in[1];
    ir_tensor *y = k->out[0];
    int r = x->shape.rank, q = ti->shape.rank;
    int64_t b = ir_attr_int(k->node, "batch_dims", 0), last = ti->shape.dims[q - 1];
    int64_t xst[IR_MAX_RANK], nbatch = 1, slice = 1;
    cpu_strides(&x->shape, xst);
    for (int i = 0; i < b; i++) nbatch *= x->shape.dims[i];
    for (int64_t i = b + last; i < r; i++) slice *= x->shape.dims[i];
    int64_t ntuples = last ? (int64_t)ir_tensor_numel(ti) / last : (int64_t)ir_tensor_numel(y) / (slice ? slice : 1);
    int64_t per_batch = nbatch ? ntuples / nbatch : 0;
    int64_t batch_stride = b ? xst[b - 1] : 0;
    size_t es = fwd_dtype_size(x->dtype);
    const int64_t *iv = ti->data;
    for (int64_t t = 0; t < ntuples; t++) {
        int64_t off = (per_batch ? t / per_batch : 0) * batch_stride;
        for (int64_t d = 0; d < last; d++) {
            int64_t v = iv[t * last + d];
            FWD_TRY(check_index(k, &v, x->shape.dims[b + d], "indices"));
            off += v * xst[b + d];
        }
        memcpy((char *)y->data + t * slice * (int64_t)es, (const char *)x->data + off * (int64_t)es, (size_t)slice * es);
    }
    return FWD_OK;
}

fwd_status tns_scatter_nd(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    const ir_tensor *x = k->in[0], *ti = k->in[1], *u = k->in[2];
    ir_tensor *y = k->out[0];
    int r = x->shape.rank, q = ti->shape.rank;
    if (q < 1) return cpu_kernel_error(k, FWD_ERR_SHAPE, "indices must have rank >= 1");
    int64_t last = ti->shape.dims[q - 1];
    if (last > r) return cpu_kernel_error(k, FWD_ERR_SHAPE, "indices' last dim %lld exceeds data rank %d", (long long)last, r);
    /* updates shape must be indices.shape[:-1] + data.shape[last:] */
    if (u->shape.rank != q - 1 + r - last) return cpu_kernel_error(k, FWD_ERR_SHAPE, "updates has the wrong rank");
    for (int i = 0; i < q - 1; i++)
        if (u->shape.dims[i] != ti->shape.dims[i]) return cpu_kernel_error(k, FWD_ERR_SHAPE, "updates shape mismatch");
    for (int64_t i = last; i < r; i++)
        if (u->shape.dims[q - 1 + i - last] != x->shape.dims[i]) return cpu_kernel_error(k, FWD_ERR_SHAPE, "updates shape mismatch");
    int64_t xst[IR_MAX_RANK], slice = 1;
    cpu_strides(&x->shape, xst);
    for (int64_t i = last; i < r; i++) slice *= x->shape.dims[i];
    tns_memcpy(y->data, x->data, ir_tensor_numel(x) * fwd_dtype_size(x->dtype));
    int64_t ntuples = last ? (int64_t)ir_tensor_numel(ti) / last : 1;
    for (int i = 0; i < q - 1 && !last; i++) ntuples *= ti->shape.dims[i];
    int red = reduction_of(k);
    const int64_t *iv = ti->data;
    for (int64_t t = 0; t < ntuples; t++) {
        int64_t off = 0;
        for (int64_t d = 0; d < last; d++) {
            int64_t v = iv[t * last + d];
            FWD_TRY(check_index(k, &v, x->shape.dims[d], "indices"));
            off += v * xst[d];
        }
        reduce_into(x->dtype, y->data, off, u->data, t * slice, slice, red);
    }
    return FWD_OK;
}

/* ---- OneHot ---- */

fwd_status tns_onehot(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    const ir_tensor *ti = k->in[0], *tv = k->in[2];
    ir_tensor *y = k->out[0];
    int r = y->shape.rank;
    int axis = (int)ir_attr_int(k->node, "axis", -1);
    if (axis < 0) axis += r;
    int64_t depth = y->shape.dims[axis], outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= y->shape.dims[i];
    for (int i = axis + 1; i < r; i++) inner *= y->shape.dims[i];
    size_t es = fwd_dtype_size(y->dtype);
    const char *off_v = tv->data, *on_v = (const char *)tv->data + es;
    tns_fill(y->data, (int64_t)ir_tensor_numel(y), off_v, es);
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            double dv = cpu_get_f64(ti->dtype, ti->data, o * inner + i);
            if (!(dv > -9e18 && dv < 9e18)) continue;
            int64_t v = (int64_t)dv;
            if (v < 0) v += depth;
            if (v < 0 || v >= depth) continue; /* all off, as the spec says */
            memcpy((char *)y->data + ((o * depth + v) * inner + i) * (int64_t)es, on_v, es);
        }
    }
    return FWD_OK;
}

/* ---- NonZero, Compress ---- */

static bool is_nonzero(const ir_tensor *t, int64_t i)
{
    size_t es = fwd_dtype_size(t->dtype);
    if (ir_dtype_is_float(t->dtype)) return cpu_get_f64(t->dtype, t->data, i) != 0.0;
    const uint8_t *p = (const uint8_t *)t->data + i * (int64_t)es;
    for (size_t b = 0; b < es; b++)
        if (p[b]) return true;
    return false;
}

fwd_status tns_nonzero(fwd_kernel_ctx *k)
{
    const ir_tensor *x = k->in[0];
    int r = x->shape.rank, orows = r ? r : 1; /* a scalar reads as a 1-element vector */
    int64_t n = (int64_t)ir_tensor_numel(x), cnt = 0;
    for (int64_t i = 0; i < n; i++) cnt += is_nonzero(x, i);
    ir_shape os = {.rank = 2, .dims = {orows, cnt}};
    ir_tensor *y;
    FWD_TRY(tns_output(k, 0, FWD_INT64, &os, &y));
    if (!y) return FWD_OK;
    int64_t *o = y->data, pos[IR_MAX_RANK] = {0}, c = 0;
    for (int64_t i = 0; i < n; i++) {
        if (is_nonzero(x, i)) {
            for (int d = 0; d < r; d++) o[d * cnt + c] = pos[d];
            if (r == 0) o[c] = 0;
            c++;
        }
        for (int d = r - 1; d >= 0; d--) {
            if (++pos[d] < x->shape.dims[d]) break;
            pos[d] = 0;
        }
    }
    return FWD_OK;
}

fwd_status tns_compress(fwd_kernel_ctx *k)
{
    const ir_tensor *x = k->in[0], *tc = k->in[1];
    const ir_attr *aa = ir_node_attr(k->node, "axis");
    int r = x->shape.rank;
    int64_t axis = aa ? aa->i : 0;
    if (aa && (axis < -r || axis >= r)) return cpu_kernel_error(k, FWD_ERR_INVALID_ARGUMENT, "axis out of range");
    if (axis < 0) axis += r;
    int64_t len = aa ? x->shape.dims[axis] : (int64_t)ir_tensor_numel(x), outer = 1, inner = 1;
    if (aa) {
        for (int i = 0; i < axis; i++) outer *= x->shape.dims[i];
        for (int i = (int)axis + 1; i < r; i++) inner *= x->shape.dims[i];
    }
    const uint8_t *cond = tc->data;
    int64_t nc = (int64_t)ir_tensor_numel(tc), cnt = 0;
    for (int64_t i = 0; i < nc && i < len; i++) cnt += cond[i] != 0; /* entries past the axis are ignored */
    ir_shape os = {.rank = 1, .dims = {cnt}};
    if (aa) {
        os = x->shape;
        os.dims[axis] = cnt;
    }
    ir_tensor *y;
    FWD_TRY(tns_output(k, 0, x->dtype, &os, &y));
    if (!y) return FWD_OK;
    size_t blk = (size_t)inner * fwd_dtype_size(x->dtype);
    char *d = y->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < nc && i < len; i++) {
            if (!cond[i]) continue;
            memcpy(d, (const char *)x->data + (o * len + i) * (int64_t)blk, blk);
            d += blk;
        }
    return FWD_OK;
}

/* ---- ReverseSequence ---- */

fwd_status tns_reverse_sequence(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    const ir_tensor *x = k->in[0], *tl = k->in[1];
    ir_tensor *y = k->out[0];
    int bax = (int)ir_attr_int(k->node, "batch_axis", 1), tax = (int)ir_attr_int(k->node, "time_axis", 0);
    int64_t B = x->shape.dims[bax], T = x->shape.dims[tax], inner = 1;
    for (int i = 2; i < x->shape.rank; i++) inner *= x->shape.dims[i];
    if ((int64_t)ir_tensor_numel(tl) != B) return cpu_kernel_error(k, FWD_ERR_SHAPE, "sequence_lens must have %lld entries", (long long)B);
    size_t es = fwd_dtype_size(x->dtype), blk = (size_t)inner * es;
    /* stride (in blocks) of batch and time positions */
    int64_t bs = bax == 0 ? T : 1, ts = tax == 0 ? B : 1;
    tns_memcpy(y->data, x->data, ir_tensor_numel(x) * es);
    for (int64_t b = 0; b < B; b++) {
        int64_t len = cpu_get_index(tl, b);
        if (len < 0 || len > T)
            return cpu_kernel_error(k, FWD_ERR_INVALID_ARGUMENT, "sequence length %lld out of range [0, %lld]", (long long)len, (long long)T);
        for (int64_t t = 0; t < len; t++)
            memcpy((char *)y->data + (b * bs + t * ts) * (int64_t)blk,
                   (const char *)x->data + (b * bs + (len - 1 - t) * ts) * (int64_t)blk, blk);
    }
    return FWD_OK;
}

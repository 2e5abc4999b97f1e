/* CPU kernels: shape ops and pure data movement (Shape, Reshape,
 * Transpose, Concat, Split, Slice, Expand, Tile, DepthToSpace, ...).
 * Data movement works on element bytes, so every dtype is covered. */
#include <stdlib.h>

#include "backend/cpu/tensor_internal.h"
#include "util/threadpool.h"

fwd_status tns_shape(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    const ir_tensor *x = k->in[0];
    ir_tensor *y = k->out[0];
    int r = x->shape.rank;
    int64_t s = ir_attr_int(k->node, "start", 0), e = ir_attr_int(k->node, "end", r);
    if (s < 0) s += r;
    if (e < 0) e += r;
    s = s < 0 ? 0 : (s > r ? r : s);
    e = e < 0 ? 0 : (e > r ? r : e);
    if ((int64_t)ir_tensor_numel(y) != (e > s ? e - s : 0)) return cpu_kernel_error(k, FWD_ERR_INTERNAL, "bad output size");
    for (int64_t i = s; i < e; i++) ((int64_t *)y->data)[i - s] = x->shape.dims[i];
    return FWD_OK;
}

fwd_status tns_size(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    *(int64_t *)k->out[0]->data = (int64_t)ir_tensor_numel(k->in[0]);
    return FWD_OK;
}

fwd_status tns_constant_of_shape(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    ir_tensor *y = k->out[0];
    const ir_attr *v = ir_node_attr(k->node, "value");
    uint8_t zero[16] = {0};
    const void *elem = v && v->t && v->t->data ? v->t->data : zero;
    tns_fill(y->data, (int64_t)ir_tensor_numel(y), elem, fwd_dtype_size(y->dtype));
    return FWD_OK;
}

/* Reshape, Flatten, Squeeze, Unsqueeze: the data does not change. */
fwd_status tns_reshape(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    const ir_tensor *x = k->in[0];
    ir_tensor *y = k->out[0];
    if (ir_tensor_numel(x) != ir_tensor_numel(y))
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "input has %zu elements, output %zu", ir_tensor_numel(x),
                                ir_tensor_numel(y));
    tns_memcpy(y->data, x->data, ir_tensor_numel(x) * fwd_dtype_size(x->dtype));
    return FWD_OK;
}

fwd_status tns_transpose(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    const ir_tensor *x = k->in[0];
    ir_tensor *y = k->out[0];
    int r = x->shape.rank, np;
    const int64_t *perm = ir_attr_ints(k->node, "perm", &np);
    int64_t st[IR_MAX_RANK], ss[IR_MAX_RANK];
    cpu_strides(&x->shape, st);
    for (int i = 0; i < r; i++) ss[i] = st[perm ? perm[i] : r - 1 - i];
    tns_copy_strided(y->data, x->data, fwd_dtype_size(x->dtype), r, y->shape.dims, ss);
    return FWD_OK;
}

/* ---- Concat ---- */

typedef struct {
    const fwd_kernel_ctx *k;
    char *dst;
    int64_t out_row;
    const int64_t *in_row;
} concat_job;

static void concat_rows(void *arg, int64_t b, int64_t e)
{
    const concat_job *j = arg;
    for (int64_t o = b; o < e; o++) {
        char *d = j->dst + o * j->out_row;
        for (int i = 0; i < j->k->n_in; i++) {
            int64_t n = j->in_row[i];
            memcpy(d, (const char *)j->k->in[i]->data + o * n, (size_t)n);
            d += n;
        }
    }
}

fwd_status tns_concat(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    ir_tensor *y = k->out[0];
    int r = y->shape.rank;
    int axis = (int)ir_attr_int(k->node, "axis", 0);
    if (axis < 0) axis += r;
    size_t es = fwd_dtype_size(y->dtype);
    int64_t outer = 1;
    for (int i = 0; i < axis; i++) outer *= y->shape.dims[i];
    int64_t *in_row = fwd_kernel_scratch(k, sizeof(int64_t) * (size_t)(k->n_in + 1));
    if (!in_row) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    int64_t out_row = 0;
    for (int i = 0; i < k->n_in; i++) {
        if (k->in[i]->dtype != y->dtype)
            return cpu_kernel_error(k, FWD_ERR_DTYPE, "input %d is %s, the output %s", i,
                                    fwd_dtype_name(k->in[i]->dtype), fwd_dtype_name(y->dtype));
        in_row[i] = outer ? (int64_t)(ir_tensor_numel(k->in[i]) * es) / outer : 0;
        out_row += in_row[i];
    }
    concat_job j = {k, y->data, out_row, in_row};
    if (outer == 1) { /* one block per input: copy each in parallel */
        char *d = y->data;
        for (int i = 0; i < k->n_in; i++) {
            tns_memcpy(d, k->in[i]->data, (size_t)in_row[i]);
            d += in_row[i];
        }
    } else if (outer > 1 && out_row > 0) {
        fwd_parallel_for(outer, (1 << 16) / out_row + 1, concat_rows, &j);
    }
    return FWD_OK;
}

fwd_status tns_split(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    const ir_tensor *x = k->in[0];
    int r = x->shape.rank;
    int axis = (int)ir_attr_int(k->node, "axis", 0);
    if (axis < 0) axis += r;
    size_t es = fwd_dtype_size(x->dtype);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= x->shape.dims[i];
    for (int i = axis + 1; i < r; i++) inner *= x->shape.dims[i];
    int64_t off = 0, total = x->shape.dims[axis], nout = k->n_out;
    const ir_tensor *sp = tns_in(k, 1);
    if (sp && (int64_t)ir_tensor_numel(sp) != nout)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "'split' has %zu entries for %lld outputs", ir_tensor_numel(sp),
                                (long long)nout);
    int64_t chunk = (total + nout - 1) / nout;
    for (int o = 0; o < k->n_out; o++) {
        int64_t len = sp ? cpu_get_index(sp, o) : (total - off < chunk ? total - off : chunk);
        if (len < 0 || off + len > total) return cpu_kernel_error(k, FWD_ERR_SHAPE, "split sizes do not fit the axis");
        ir_tensor *y = k->out[o];
        if (y) {
            if (y->shape.dims[axis] != len) return cpu_kernel_error(k, FWD_ERR_INTERNAL, "split size mismatch");
            int64_t dims[3] = {outer, len, inner}, st[3] = {total * inner, inner, 1};
            if (outer * len * inner > 0)
                tns_copy_strided(y->data, (const char *)x->data + off * inner * (int64_t)es, es, 3, dims, st);
        }
        off += len;
    }
    return FWD_OK;
}

/* ---- Slice ---- */

fwd_status tns_slice(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    const ir_tensor *x = k->in[0];
    ir_tensor *y = k->out[0];
    const ir_tensor *ts = k->in[1], *te = k->in[2], *ta = tns_in(k, 3), *tp = tns_in(k, 4);
    int r = x->shape.rank;
    int64_t n = (int64_t)ir_tensor_numel(ts);
    if (n > r || (int64_t)ir_tensor_numel(te) != n || (ta && (int64_t)ir_tensor_numel(ta) != n) ||
        (tp && (int64_t)ir_tensor_numel(tp) != n))
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "starts, ends, axes and steps must have one entry per sliced axis");
    int64_t start[IR_MAX_RANK], step[IR_MAX_RANK], st[IR_MAX_RANK], ss[IR_MAX_RANK], dims[IR_MAX_RANK];
    for (int i = 0; i < r; i++) {
        start[i] = 0;
        step[i] = 1;
        dims[i] = x->shape.dims[i];
    }
    bool seen[IR_MAX_RANK] = {false};
    for (int64_t i = 0; i < n; i++) {
        int64_t a = ta ? cpu_get_index(ta, i) : i;
        if (a < -r || a >= r) return cpu_kernel_error(k, FWD_ERR_INVALID_ARGUMENT, "axis %lld out of range", (long long)a);
        if (a < 0) a += r;
        if (seen[a]) return cpu_kernel_error(k, FWD_ERR_INVALID_ARGUMENT, "axis %lld repeated", (long long)a);
        seen[a] = true;
        int64_t s = tp ? cpu_get_index(tp, i) : 1;
        if (s == 0) return cpu_kernel_error(k, FWD_ERR_INVALID_ARGUMENT, "step is 0");
        tns_slice_axis(x->shape.dims[a], cpu_get_index(ts, i), cpu_get_index(te, i), s, &start[a], &dims[a]);
        step[a] = s;
    }
    cpu_strides(&x->shape, st);
    int64_t base = 0;
    for (int i = 0; i < r; i++) {
        if (dims[i] != y->shape.dims[i]) return cpu_kernel_error(k, FWD_ERR_INTERNAL, "slice shape mismatch");
        if (dims[i] == 0) return FWD_OK;
        base += start[i] * st[i];
        /* an axis of one element never steps (its step may be huge) */
        ss[i] = dims[i] > 1 ? st[i] * step[i] : 0;
    }
    size_t es = fwd_dtype_size(x->dtype);
    tns_copy_strided(y->data, (const char *)x->data + base * (int64_t)es, es, r, dims, ss);
    return FWD_OK;
}

/* ---- Expand, Tile ---- */

fwd_status tns_expand(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    const ir_tensor *x = k->in[0];
    ir_tensor *y = k->out[0];
    int64_t ss[IR_MAX_RANK];
    cpu_broadcast_strides(&x->shape, &y->shape, ss);
    tns_copy_strided(y->data, x->data, fwd_dtype_size(x->dtype), y->shape.rank, y->shape.dims, ss);
    return FWD_OK;
}

fwd_status tns_tile(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    const ir_tensor *x = k->in[0];
    ir_tensor *y = k->out[0];
    int r = x->shape.rank;
    int64_t st[IR_MAX_RANK], dims[TNS_MAX_VIEW], ss[TNS_MAX_VIEW];
    cpu_strides(&x->shape, st);
    for (int i = 0; i < r; i++) { /* view the output as [rep0, d0, rep1, d1, ...] */
        int64_t d = x->shape.dims[i];
        dims[2 * i] = d ? y->shape.dims[i] / d : 0;
        ss[2 * i] = 0;
        dims[2 * i + 1] = d;
        ss[2 * i + 1] = st[i];
    }
    if (ir_tensor_numel(y) == 0) return FWD_OK;
    tns_copy_strided(y->data, x->data, fwd_dtype_size(x->dtype), 2 * r, dims, ss);
    return FWD_OK;
}

/* ---- DepthToSpace, SpaceToDepth ---- */

fwd_status tns_depth_to_space(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    const ir_tensor *x = k->in[0];
    ir_tensor *y = k->out[0];
    int64_t b = ir_attr_int(k->node, "blocksize", 1);
    bool crd = strcmp(ir_attr_string(k->node, "mode", "DCR"), "CRD") == 0;
    int64_t N = x->shape.dims[0], C = x->shape.dims[1], H = x->shape.dims[2], W = x->shape.dims[3];
    int64_t Co = C / (b * b), hw = H * W;
    /* output viewed as [N, Co, H, b, W, b] */
    int64_t dims[6] = {N, Co, H, b, W, b};
    int64_t ss[6];
    ss[0] = C * hw;
    ss[2] = W;
    ss[4] = 1;
    if (crd) { /* channel c*b*b + i*b + j */
        ss[1] = b * b * hw;
        ss[3] = b * hw;
        ss[5] = hw;
    } else { /* channel (i*b + j)*Co + c */
        ss[1] = hw;
        ss[3] = b * Co * hw;
        ss[5] = Co * hw;
    }
    tns_copy_strided(y->data, x->data, fwd_dtype_size(x->dtype), 6, dims, ss);
    return FWD_OK;
}

fwd_status tns_space_to_depth(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    const ir_tensor *x = k->in[0];
    ir_tensor *y = k->out[0];
    int64_t b = ir_attr_int(k->node, "blocksize", 1);
    int64_t N = x->shape.dims[0], C = x->shape.dims[1], H = x->shape.dims[2], W = x->shape.dims[3];
    /* output channel (i*b + j)*C + c, viewed as [N, b, b, C, H/b, W/b] */
    int64_t dims[6] = {N, b, b, C, H / b, W / b};
    int64_t ss[6] = {C * H * W, W, 1, H * W, b * W, b};
    tns_copy_strided(y->data, x->data, fwd_dtype_size(x->dtype), 6, dims, ss);
    return FWD_OK;
}

/* ---- Trilu, EyeLike, Range ---- */

fwd_status tns_trilu(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    const ir_tensor *x = k->in[0], *tk = tns_in(k, 1);
    ir_tensor *y = k->out[0];
    int r = x->shape.rank;
    int64_t N = x->shape.dims[r - 2], M = x->shape.dims[r - 1];
    int64_t kk = tk && ir_tensor_numel(tk) == 1 ? cpu_get_index(tk, 0) : 0;
    if (kk > M + 1) kk = M + 1;
    if (kk < -N - 1) kk = -N - 1;
    bool upper = ir_attr_int(k->node, "upper", 1) != 0;
    size_t es = fwd_dtype_size(x->dtype);
    int64_t mats = (N && M) ? (int64_t)ir_tensor_numel(x) / (N * M) : 0;
    for (int64_t m = 0; m < mats; m++) {
        for (int64_t i = 0; i < N; i++) {
            const char *s = (const char *)x->data + ((m * N + i) * M) * (int64_t)es;
            char *d = (char *)y->data + ((m * N + i) * M) * (int64_t)es;
            /* kept columns [lo, hi) */
            int64_t lo = upper ? i + kk : 0, hi = upper ? M : i + kk + 1;
            lo = lo < 0 ? 0 : (lo > M ? M : lo);
            hi = hi < lo ? lo : (hi > M ? M : hi);
            memset(d, 0, (size_t)lo * es);
            memcpy(d + lo * (int64_t)es, s + lo * (int64_t)es, (size_t)(hi - lo) * es);
            memset(d + hi * (int64_t)es, 0, (size_t)(M - hi) * es);
        }
    }
    return FWD_OK;
}

fwd_status tns_eyelike(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    ir_tensor *y = k->out[0];
    int64_t N = y->shape.dims[0], M = y->shape.dims[1], kk = ir_attr_int(k->node, "k", 0);
    memset(y->data, 0, ir_tensor_numel(y) * fwd_dtype_size(y->dtype));
    for (int64_t i = 0; i < N; i++) {
        int64_t j = i + kk;
        if (kk > M || kk < -N) break;
        if (j >= 0 && j < M) cpu_set_f64(y->dtype, y->data, i * M + j, 1.0);
    }
    return FWD_OK;
}

fwd_status tns_range(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    ir_tensor *y = k->out[0];
    int64_t n = (int64_t)ir_tensor_numel(y);
    const void *s = k->in[0]->data, *d = k->in[2]->data;
    switch (y->dtype) {
    case FWD_FLOAT32: {
        float a = *(const float *)s, b = *(const float *)d;
        for (int64_t i = 0; i < n; i++) ((float *)y->data)[i] = a + (float)i * b;
        break;
    }
    case FWD_FLOAT64: {
        double a = *(const double *)s, b = *(const double *)d;
        for (int64_t i = 0; i < n; i++) ((double *)y->data)[i] = a + (double)i * b;
        break;
    }
    case FWD_INT64: {
        int64_t a = *(const int64_t *)s, b = *(const int64_t *)d;
        for (int64_t i = 0; i < n; i++) ((int64_t *)y->data)[i] = a + i * b;
        break;
    }
    case FWD_INT32: {
        int32_t a = *(const int32_t *)s, b = *(const int32_t *)d;
        for (int64_t i = 0; i < n; i++) ((int32_t *)y->data)[i] = (int32_t)(a + i * b);
        break;
    }
    case FWD_INT16: {
        int16_t a = *(const int16_t *)s, b = *(const int16_t *)d;
        for (int64_t i = 0; i < n; i++) ((int16_t *)y->data)[i] = (int16_t)(a + i * b);
        break;
    }
    default: return cpu_kernel_error(k, FWD_ERR_DTYPE, "unsupported dtype %s", fwd_dtype_name(y->dtype));
    }
    return FWD_OK;
}

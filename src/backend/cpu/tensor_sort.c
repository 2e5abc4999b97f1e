/* CPU kernels: ordering ops (TopK, ArgMax, ArgMin, Unique) and CumSum. */
#include <stdatomic.h>
#include <stdlib.h>

#include "backend/cpu/tensor_internal.h"
#include "util/threadpool.h"

/* Split a tensor around an axis: outer x len x inner. */
static void axis_split(const ir_shape *s, int axis, int64_t *outer, int64_t *len, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int i = 0; i < axis; i++) *outer *= s->dims[i];
    for (int i = axis + 1; i < s->rank; i++) *inner *= s->dims[i];
    *len = s->dims[axis];
}

/* ---- TopK ---- */

typedef struct {
    double v;
    int64_t i;
} keyed;

/* Larger value first (NaN largest), ties by lower index. */
static int cmp_desc(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    bool xn = x->v != x->v, yn = y->v != y->v;
    if (xn != yn) return xn ? -1 : 1;
    if (x->v > y->v) return -1;
    if (x->v < y->v) return 1;
    return x->i < y->i ? -1 : (x->i > y->i);
}

static int cmp_asc(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    bool xn = x->v != x->v, yn = y->v != y->v;
    if (xn != yn) return xn ? 1 : -1;
    if (x->v < y->v) return -1;
    if (x->v > y->v) return 1;
    return x->i < y->i ? -1 : (x->i > y->i);
}

/* Move the kk first elements in cmp order to the front of buf, sorted: a
 * heap of the kk best seen so far, its root the worst of them. */
static void sift_down(keyed *h, int64_t n, int64_t i, int (*cmp)(const void *, const void *))
{
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && cmp(&h[l], &h[w]) > 0) w = l;
        if (r < n && cmp(&h[r], &h[w]) > 0) w = r;
        if (w == i) return;
        keyed t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void select_top(keyed *buf, int64_t n, int64_t kk, int (*cmp)(const void *, const void *))
{
    for (int64_t i = kk / 2 - 1; i >= 0; i--) sift_down(buf, kk, i, cmp);
    for (int64_t i = kk; i < n; i++) {
        if (cmp(&buf[i], &buf[0]) < 0) {
            buf[0] = buf[i];
            sift_down(buf, kk, 0, cmp);
        }
    }
    qsort(buf, (size_t)kk, sizeof *buf, cmp);
}

typedef struct {
    const ir_tensor *x;
    ir_tensor *vals, *idx;
    int64_t len, inner, kk;
    bool largest;
    atomic_int failed;
} topk_job;

static void topk_lines(void *arg, int64_t b, int64_t e)
{
    topk_job *j = arg;
    keyed *buf = malloc(sizeof(keyed) * (size_t)(j->len + 1));
    if (!buf) {
        atomic_store(&j->failed, 1);
        return;
    }
    size_t es = fwd_dtype_size(j->x->dtype);
    for (int64_t line = b; line < e; line++) {
        int64_t o = line / j->inner, in = line % j->inner;
        int64_t base = o * j->len * j->inner + in, obase = o * j->kk * j->inner + in;
        if (j->x->dtype == FWD_FLOAT32) {
            const float *p = j->x->data;
            for (int64_t a = 0; a < j->len; a++) buf[a] = (keyed){p[base + a * j->inner], a};
        } else {
            for (int64_t a = 0; a < j->len; a++) buf[a] = (keyed){cpu_get_f64(j->x->dtype, j->x->data, base + a * j->inner), a};
        }
        int (*cmp)(const void *, const void *) = j->largest ? cmp_desc : cmp_asc;
        if (j->kk * 8 < j->len)
            select_top(buf, j->len, j->kk, cmp);
        else
            qsort(buf, (size_t)j->len, sizeof *buf, cmp);
        for (int64_t t = 0; t < j->kk; t++) {
            int64_t src = base + buf[t].i * j->inner, dst = obase + t * j->inner;
            if (j->vals)
                memcpy((char *)j->vals->data + dst * (int64_t)es, (const char *)j->x->data + src * (int64_t)es, es);
            if (j->idx) ((int64_t *)j->idx->data)[dst] = buf[t].i;
        }
    }
    free(buf);
}

fwd_status tns_topk(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    const ir_tensor *x = k->in[0], *tk = k->in[1];
    int r = x->shape.rank;
    int axis = (int)ir_attr_int(k->node, "axis", -1);
    if (axis < 0) axis += r;
    if (ir_tensor_numel(tk) != 1) return cpu_kernel_error(k, FWD_ERR_SHAPE, "K must have one element");
    topk_job j = {.x = x, .vals = k->out[0], .idx = k->n_out > 1 ? k->out[1] : NULL};
    int64_t outer;
    axis_split(&x->shape, axis, &outer, &j.len, &j.inner);
    j.kk = cpu_get_index(tk, 0);
    if (j.kk < 0 || j.kk > j.len)
        return cpu_kernel_error(k, FWD_ERR_INVALID_ARGUMENT, "K = %lld out of range [0, %lld]", (long long)j.kk, (long long)j.len);
    j.largest = ir_attr_int(k->node, "largest", 1) != 0;
    atomic_init(&j.failed, 0);
    int64_t lines = outer * j.inner;
    if (lines && j.kk) fwd_parallel_for(lines, 4096 / (j.len + 1) + 1, topk_lines, &j);
    if (atomic_load(&j.failed)) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    return FWD_OK;
}

/* ---- ArgMax / ArgMin ---- */

static fwd_status arg_extreme(fwd_kernel_ctx *k, bool is_max)
{
    FWD_TRY(tns_prepare(k));
    const ir_tensor *x = k->in[0];
    ir_tensor *y = k->out[0];
    int r = x->shape.rank;
    int axis = (int)ir_attr_int(k->node, "axis", 0);
    if (axis < 0) axis += r;
    bool last = ir_attr_int(k->node, "select_last_index", 0) != 0;
    int64_t outer, len, inner;
    axis_split(&x->shape, axis, &outer, &len, &inner);
    if (len == 0) {
        if (outer * inner > 0) return cpu_kernel_error(k, FWD_ERR_SHAPE, "cannot reduce an empty axis");
        return FWD_OK;
    }
    int64_t *out = y->data;
    double *best = malloc(sizeof(double) * (size_t)(inner + 1));
    if (!best) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    for (int64_t o = 0; o < outer; o++) {
        int64_t *oi = out + o * inner;
        if (x->dtype == FWD_FLOAT32) {
            const float *p = (const float *)x->data + o * len * inner;
            float *bf = (float *)best;
            for (int64_t i = 0; i < inner; i++) {
                bf[i] = p[i];
                oi[i] = 0;
            }
            for (int64_t a = 1; a < len; a++) {
                const float *row = p + a * inner;
                for (int64_t i = 0; i < inner; i++) {
                    float v = row[i];
                    bool better = is_max ? (v > bf[i] || (last && v == bf[i])) : (v < bf[i] || (last && v == bf[i]));
                    if (better) {
                        bf[i] = v;
                        oi[i] = a;
                    }
                }
            }
            continue;
        }
        int64_t base = o * len * inner;
        for (int64_t i = 0; i < inner; i++) {
            best[i] = cpu_get_f64(x->dtype, x->data, base + i);
            oi[i] = 0;
        }
        for (int64_t a = 1; a < len; a++)
            for (int64_t i = 0; i < inner; i++) {
                double v = cpu_get_f64(x->dtype, x->data, base + a * inner + i);
                bool better = is_max ? (v > best[i] || (last && v == best[i])) : (v < best[i] || (last && v == best[i]));
                if (better) {
                    best[i] = v;
                    oi[i] = a;
                }
            }
    }
    free(best);
    return FWD_OK;
}

fwd_status tns_argmax(fwd_kernel_ctx *k) { return arg_extreme(k, true); }
fwd_status tns_argmin(fwd_kernel_ctx *k) { return arg_extreme(k, false); }

/* ---- Unique ---- */

typedef struct {
    const ir_tensor *x;
    int64_t len, inner, outer;
} slices;

static _Thread_local const slices *tl_slices;

static int cmp_elem(fwd_dtype dt, const void *p, int64_t a, int64_t b)
{
    switch (dt) {
    case FWD_INT64: {
        int64_t x = ((const int64_t *)p)[a], y = ((const int64_t *)p)[b];
        return (x > y) - (x < y);
    }
    case FWD_INT32: {
        int32_t x = ((const int32_t *)p)[a], y = ((const int32_t *)p)[b];
        return (x > y) - (x < y);
    }
    default: {
        double x = cpu_get_f64(dt, p, a), y = cpu_get_f64(dt, p, b);
        return (x > y) - (x < y);
    }
    }
}

static int cmp_slices(const slices *s, int64_t a, int64_t b)
{
    for (int64_t o = 0; o < s->outer; o++)
        for (int64_t i = 0; i < s->inner; i++) {
            int c = cmp_elem(s->x->dtype, s->x->data, (o * s->len + a) * s->inner + i, (o * s->len + b) * s->inner + i);
            if (c) return c;
        }
    return 0;
}

static int cmp_slice_ids(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    int c = cmp_slices(tl_slices, a, b);
    return c ? c : (a > b) - (a < b);
}

static int cmp_i64(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    return (a > b) - (a < b);
}

fwd_status tns_unique(fwd_kernel_ctx *k)
{
    const ir_tensor *x = k->in[0];
    const ir_attr *aa = ir_node_attr(k->node, "axis");
    bool sorted = ir_attr_int(k->node, "sorted", 1) != 0;
    int r = x->shape.rank;
    slices s = {.x = x, .len = (int64_t)ir_tensor_numel(x), .inner = 1, .outer = 1};
    int axis = 0;
    if (aa) {
        if (aa->i < -r || aa->i >= r) return cpu_kernel_error(k, FWD_ERR_INVALID_ARGUMENT, "axis out of range");
        axis = (int)(aa->i < 0 ? aa->i + r : aa->i);
        axis_split(&x->shape, axis, &s.outer, &s.len, &s.inner);
    }
    int64_t n = s.len;
    /* order: slice ids sorted; first/count per group; inverse per slice */
    int64_t *buf = malloc(sizeof(int64_t) * (size_t)(4 * n + 1));
    if (!buf) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    int64_t *order = buf, *first = buf + n, *count = buf + 2 * n, *inverse = buf + 3 * n;
    for (int64_t i = 0; i < n; i++) order[i] = i;
    tl_slices = &s;
    qsort(order, (size_t)n, sizeof(int64_t), cmp_slice_ids);
    int64_t u = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i == 0 || cmp_slices(&s, order[i - 1], order[i]) != 0) {
            first[u] = order[i];
            count[u] = 0;
            u++;
        }
        count[u - 1]++;
        inverse[order[i]] = u - 1;
    }
    if (!sorted) {
        /* groups in order of first occurrence: renumber through a sort of
         * (first << 0) keys; first values are distinct */
        int64_t *perm = malloc(sizeof(int64_t) * (size_t)(3 * u + 1));
        if (!perm) {
            free(buf);
            return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
        }
        int64_t *nf = perm + u, *nc = perm + 2 * u;
        memcpy(nf, first, sizeof(int64_t) * (size_t)u);
        qsort(nf, (size_t)u, sizeof(int64_t), cmp_i64);
        for (int64_t g = 0; g < u; g++) nc[g] = count[inverse[nf[g]]];
        for (int64_t g = 0; g < u; g++) perm[inverse[nf[g]]] = g; /* old group -> new */
        for (int64_t i = 0; i < n; i++) inverse[i] = perm[inverse[i]];
        memcpy(first, nf, sizeof(int64_t) * (size_t)u);
        memcpy(count, nc, sizeof(int64_t) * (size_t)u);
        free(perm);
    }
    ir_shape ys = {.rank = 1, .dims = {u}};
    if (aa) {
        ys = x->shape;
        ys.dims[axis] = u;
    }
    ir_shape us = {.rank = 1, .dims = {u}}, ns = {.rank = 1, .dims = {n}};
    ir_tensor *ty, *ti, *tinv, *tc;
    fwd_status st = tns_output(k, 0, x->dtype, &ys, &ty);
    if (!st) st = tns_output(k, 1, FWD_INT64, &us, &ti);
    if (!st) st = tns_output(k, 2, FWD_INT64, &ns, &tinv);
    if (!st) st = tns_output(k, 3, FWD_INT64, &us, &tc);
    if (st) {
        free(buf);
        return st;
    }
    size_t blk = (size_t)s.inner * fwd_dtype_size(x->dtype);
    if (ty)
        for (int64_t o = 0; o < s.outer; o++)
            for (int64_t g = 0; g < u; g++)
                memcpy((char *)ty->data + (o * u + g) * (int64_t)blk,
                       (const char *)x->data + (o * s.len + first[g]) * (int64_t)blk, blk);
    if (ti) memcpy(ti->data, first, sizeof(int64_t) * (size_t)u);
    if (tinv) memcpy(tinv->data, inverse, sizeof(int64_t) * (size_t)n);
    if (tc) memcpy(tc->data, count, sizeof(int64_t) * (size_t)u);
    free(buf);
    return FWD_OK;
}

/* ---- CumSum ---- */

fwd_status tns_cumsum(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    const ir_tensor *x = k->in[0], *ta = k->in[1];
    ir_tensor *y = k->out[0];
    int r = x->shape.rank;
    if (ir_tensor_numel(ta) != 1) return cpu_kernel_error(k, FWD_ERR_SHAPE, "axis must be a scalar");
    int64_t axis = cpu_get_index(ta, 0);
    if (axis < -r || axis >= r) return cpu_kernel_error(k, FWD_ERR_INVALID_ARGUMENT, "axis %lld out of range", (long long)axis);
    if (axis < 0) axis += r;
    bool excl = ir_attr_int(k->node, "exclusive", 0) != 0, rev = ir_attr_int(k->node, "reverse", 0) != 0;
    int64_t outer, len, inner;
    axis_split(&x->shape, (int)axis, &outer, &len, &inner);
#define CUMSUM(T)                                                                   \
    {                                                                               \
        const T *src = x->data;                                                     \
        T *dst = y->data;                                                           \
        for (int64_t o = 0; o < outer; o++) {                                       \
            const T *pin = NULL;                                                    \
            T *pout = NULL;                                                         \
            for (int64_t t = 0; t < len; t++) {                                     \
                int64_t a = rev ? len - 1 - t : t;                                  \
                const T *in = src + (o * len + a) * inner;                          \
                T *out = dst + (o * len + a) * inner;                               \
                for (int64_t i = 0; i < inner; i++) {                               \
                    if (excl) out[i] = pout ? (T)(pout[i] + pin[i]) : (T)0;         \
                    else out[i] = pout ? (T)(pout[i] + in[i]) : in[i];              \
                }                                                                   \
                pin = in;                                                           \
                pout = out;                                                         \
            }                                                                       \
        }                                                                           \
        return FWD_OK;                                                              \
    }
    switch (x->dtype) {
    case FWD_FLOAT32: CUMSUM(float)
    case FWD_FLOAT64: CUMSUM(double)
    case FWD_INT32: CUMSUM(int32_t)
    case FWD_INT64: CUMSUM(int64_t)
    case FWD_UINT32: CUMSUM(uint32_t)
    case FWD_UINT64: CUMSUM(uint64_t)
    default: break;
    }
#undef CUMSUM
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double acc = 0;
            for (int64_t t = 0; t < len; t++) {
                int64_t a = rev ? len - 1 - t : t, e = (o * len + a) * inner + i;
                double v = cpu_get_f64(x->dtype, x->data, e);
                if (excl) {
                    cpu_set_f64(y->dtype, y->data, e, acc);
                    acc += v;
                } else {
                    acc += v;
                    cpu_set_f64(y->dtype, y->data, e, acc);
                }
            }
        }
    return FWD_OK;
}

/* CPU kernel: Pad (constant, reflect, edge, wrap; negative pads crop). */
#include <stdlib.h>

#include "backend/cpu/tensor_internal.h"
#include "util/threadpool.h"

enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP };

/* Source index of output position i - pb on an axis of size n, or -1 for
 * the constant. */
static inline int64_t pad_map(int64_t i, int64_t n, int mode)
{
    if (i >= 0 && i < n) return i;
    switch (mode) {
    case PAD_EDGE: return i < 0 ? 0 : n - 1;
    case PAD_WRAP: i %= n; return i < 0 ? i + n : i;
    case PAD_REFLECT: {
        if (n == 1) return 0;
        int64_t period = 2 * (n - 1);
        i %= period;
        if (i < 0) i += period;
        return i >= n ? period - i : i;
    }
    default: return -1;
    }
}

typedef struct {
    const char *src;
    char *dst;
    size_t es;
    int rank, mode;
    const int64_t *in_dims, *out_dims, *pb;
    int64_t in_st[IR_MAX_RANK];
    const void *cval;
} pad_job;

static void pad_rows(void *arg, int64_t b, int64_t e)
{
    const pad_job *j = arg;
    int last = j->rank - 1;
    int64_t W = j->in_dims[last], Wo = j->out_dims[last], pb = j->pb[last];
    int64_t es = (int64_t)j->es;
    /* contiguous middle [x0, x1) of the output row reads src x - pb */
    int64_t x0 = pb > 0 ? pb : 0, x1 = pb + W < Wo ? pb + W : Wo;
    if (x1 < x0) x1 = x0;
    for (int64_t row = b; row < e; row++) {
        char *d = j->dst + row * Wo * es;
        int64_t rem = row, off = 0;
        bool outside = false;
        for (int i = last - 1; i >= 0; i--) {
            int64_t o = rem % j->out_dims[i];
            rem /= j->out_dims[i];
            int64_t s = pad_map(o - j->pb[i], j->in_dims[i], j->mode);
            if (s < 0) {
                outside = true;
                break;
            }
            off += s * j->in_st[i];
        }
        if (outside) {
            tns_fill(d, Wo, j->cval, j->es);
            continue;
        }
        const char *s = j->src + off * es;
        for (int64_t x = 0; x < x0 && x < Wo; x++) {
            int64_t sx = pad_map(x - pb, W, j->mode);
            if (sx < 0) memcpy(d + x * es, j->cval, j->es);
            else memcpy(d + x * es, s + sx * es, j->es);
        }
        if (x1 > x0) memcpy(d + x0 * es, s + (x0 - pb) * es, (size_t)((x1 - x0) * es));
        for (int64_t x = x1 > x0 ? x1 : x0; x < Wo; x++) {
            int64_t sx = pad_map(x - pb, W, j->mode);
            if (sx < 0) memcpy(d + x * es, j->cval, j->es);
            else memcpy(d + x * es, s + sx * es, j->es);
        }
    }
}

fwd_status tns_pad(fwd_kernel_ctx *k)
{
    FWD_TRY(tns_prepare(k));
    const ir_tensor *x = k->in[0], *tp = k->in[1], *tc = tns_in(k, 2);
    ir_tensor *y = k->out[0];
    int r = x->shape.rank;
    const char *ms = ir_attr_string(k->node, "mode", "constant");
    int mode = !strcmp(ms, "reflect") ? PAD_REFLECT : !strcmp(ms, "edge") ? PAD_EDGE : !strcmp(ms, "wrap") ? PAD_WRAP : PAD_CONSTANT;
    if ((int64_t)ir_tensor_numel(tp) != 2 * r) return cpu_kernel_error(k, FWD_ERR_SHAPE, "'pads' must have %d entries", 2 * r);
    int64_t pads[2 * IR_MAX_RANK];
    tns_read_ints(tp, pads, 2 * r);
    size_t es = fwd_dtype_size(x->dtype);
    uint8_t cval[16] = {0};
    if (tc && ir_tensor_numel(tc) >= 1 && es <= sizeof cval) memcpy(cval, tc->data, es);
    int64_t out_n = (int64_t)ir_tensor_numel(y);
    if (out_n == 0) return FWD_OK;
    if (r == 0) {
        memcpy(y->data, x->data, es);
        return FWD_OK;
    }
    for (int i = 0; i < r; i++) {
        if (y->shape.dims[i] != x->shape.dims[i] + pads[i] + pads[i + r])
            return cpu_kernel_error(k, FWD_ERR_INTERNAL, "pad shape mismatch on axis %d", i);
        if (x->shape.dims[i] == 0 && mode != PAD_CONSTANT)
            return cpu_kernel_error(k, FWD_ERR_SHAPE, "cannot %s-pad empty axis %d", ms, i);
    }
    pad_job j = {.src = x->data, .dst = y->data, .es = es, .rank = r, .mode = mode, .in_dims = x->shape.dims,
                 .out_dims = y->shape.dims, .pb = pads, .cval = cval};
    cpu_strides(&x->shape, j.in_st);
    int64_t Wo = y->shape.dims[r - 1];
    fwd_parallel_for(out_n / Wo, (1 << 15) / (Wo * (int64_t)es) + 1, pad_rows, &j);
    return FWD_OK;
}

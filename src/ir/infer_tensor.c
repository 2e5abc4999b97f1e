/* Shape and type inference for the tensor op family: shape-only ops
 * (Reshape, Flatten, Squeeze, ...), data movement (Transpose, Concat,
 * Slice, ...). Gather/scatter and the rest are in infer_tensor_index.c. */
#include "ir/infer_tensor_util.h"

#include <limits.h>
#include <string.h>

#include "util/error.h"

#define E_MODEL FWD_ERR_INVALID_MODEL

/* ---- Shape, Size, ConstantOfShape ---- */

static fwd_status infer_shape(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0);
    if (!x || x->shape.rank < 0) {
        tout_rank(c, 0, FWD_INT64, 1);
        return FWD_OK;
    }
    int r = x->shape.rank;
    int64_t s = ir_attr_int(c->node, "start", 0), e = ir_attr_int(c->node, "end", r);
    if (s < 0) s += r;
    if (e < 0) e += r;
    s = s < 0 ? 0 : (s > r ? r : s);
    e = e < 0 ? 0 : (e > r ? r : e);
    tout_rank(c, 0, FWD_INT64, 1);
    c->out[0].shape.dims[0] = e > s ? e - s : 0;
    return FWD_OK;
}

static fwd_status infer_size(ir_infer_ctx *c)
{
    tout_rank(c, 0, FWD_INT64, 0);
    return FWD_OK;
}

static fwd_status infer_constant_of_shape(ir_infer_ctx *c)
{
    const ir_attr *v = ir_node_attr(c->node, "value");
    fwd_dtype dt = FWD_FLOAT32;
    if (v) {
        if (v->type != IR_ATTR_TENSOR || !v->t || ir_tensor_numel(v->t) != 1 || !v->t->data)
            return ir_infer_error(c, E_MODEL, "attribute 'value' must be a one-element tensor");
        dt = v->t->dtype;
    }
    const ir_tensor *s = tin(c, 0);
    if (s->dtype != FWD_INT64) return ir_infer_error(c, E_MODEL, "input must be int64");
    if (s->shape.rank > 1) return ir_infer_error(c, E_MODEL, "input must be 1-D");
    int64_t d[IR_MAX_RANK + 1];
    int n = tread_ints(s, d, IR_MAX_RANK + 1);
    if (n > IR_MAX_RANK) return ir_infer_error(c, FWD_ERR_UNSUPPORTED, "rank %d exceeds %d", n, IR_MAX_RANK);
    if (n < 0) {
        int r = s->shape.rank == 1 && s->shape.dims[0] >= 0 ? (int)s->shape.dims[0] : -1;
        if (r > IR_MAX_RANK) return ir_infer_error(c, FWD_ERR_UNSUPPORTED, "rank %d exceeds %d", r, IR_MAX_RANK);
        tout_rank(c, 0, dt, r);
        return FWD_OK;
    }
    tout_rank(c, 0, dt, n);
    for (int i = 0; i < n; i++) {
        if (d[i] < 0) return ir_infer_error(c, FWD_ERR_SHAPE, "negative dimension %lld", (long long)d[i]);
        c->out[0].shape.dims[i] = d[i];
    }
    return FWD_OK; /* sizes checked by ir_infer_node */
}

/* ---- Reshape ---- */

/* Fill the -1 dim of out (at index neg) from x's dims when possible,
 * cancelling symbolic dims that appear on both sides. */
static int64_t reshape_infer_neg(const ir_shape *x, const ir_shape *out, int neg)
{
    if (x->rank < 0) return IR_DIM_UNKNOWN;
    int64_t in[IR_MAX_RANK];
    int nin = x->rank;
    memcpy(in, x->dims, sizeof(int64_t) * (size_t)nin);
    int64_t pin = 1, pout = 1;
    for (int i = 0; i < out->rank; i++) {
        if (i == neg) continue;
        int64_t d = out->dims[i];
        if (d >= 0) {
            /* a product past 2^62 cannot match any input */
            if (d > 0 && pout > ((int64_t)1 << 62) / d) return -3;
            pout *= d;
            continue;
        }
        int j;
        for (j = 0; j < nin; j++)
            if (in[j] == d && d <= -2) break;
        if (j == nin) return IR_DIM_UNKNOWN;
        in[j] = 1; /* cancelled */
    }
    for (int j = 0; j < nin; j++) {
        if (in[j] < 0) return IR_DIM_UNKNOWN;
        if (in[j] > 0 && pin > ((int64_t)1 << 62) / in[j]) return IR_DIM_UNKNOWN;
        pin *= in[j];
    }
    if (pout == 0) return IR_DIM_UNKNOWN;
    return pin % pout == 0 ? pin / pout : -3 /* mismatch marker */;
}

static fwd_status infer_reshape(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0), *s = tin(c, 1);
    if (!s || !tis_index_dtype(s->dtype)) return ir_infer_error(c, E_MODEL, "input 'shape' must be int64");
    if (s->shape.rank > 1) return ir_infer_error(c, E_MODEL, "input 'shape' must be 1-D");
    bool allowzero = ir_attr_int(c->node, "allowzero", 0) != 0;
    int64_t v[IR_MAX_RANK + 1];
    int n = tread_ints(s, v, IR_MAX_RANK + 1);
    if (n > IR_MAX_RANK) return ir_infer_error(c, FWD_ERR_UNSUPPORTED, "rank %d exceeds %d", n, IR_MAX_RANK);
    if (n < 0) {
        int r = s->shape.rank == 1 && s->shape.dims[0] >= 0 ? (int)s->shape.dims[0] : -1;
        if (r > IR_MAX_RANK) return ir_infer_error(c, FWD_ERR_UNSUPPORTED, "rank %d exceeds %d", r, IR_MAX_RANK);
        tout_rank(c, 0, x->dtype, r);
        return FWD_OK;
    }
    ir_shape out = {.rank = n};
    int neg = -1;
    for (int i = 0; i < n; i++) {
        if (v[i] == 0 && !allowzero) {
            if (x->shape.rank >= 0 && i >= x->shape.rank)
                return ir_infer_error(c, FWD_ERR_SHAPE, "shape[%d] is 0 but the input has rank %d", i, x->shape.rank);
            out.dims[i] = x->shape.rank >= 0 ? x->shape.dims[i] : IR_DIM_UNKNOWN;
        } else if (v[i] == -1) {
            if (neg >= 0) return ir_infer_error(c, FWD_ERR_SHAPE, "more than one -1 in the shape");
            neg = i;
            out.dims[i] = IR_DIM_UNKNOWN;
        } else if (v[i] < 0) {
            return ir_infer_error(c, FWD_ERR_SHAPE, "invalid dimension %lld in the shape", (long long)v[i]);
        } else {
            out.dims[i] = v[i];
        }
    }
    if (neg >= 0 && allowzero) {
        for (int i = 0; i < n; i++)
            if (v[i] == 0) return ir_infer_error(c, FWD_ERR_SHAPE, "shape has both 0 and -1 with allowzero");
    }
    char b1[128], b2[128];
    if (neg >= 0) {
        int64_t d = reshape_infer_neg(&x->shape, &out, neg);
        if (d == -3)
            return ir_infer_error(c, FWD_ERR_SHAPE, "cannot reshape %s to %s",
                                  tshape_str(&x->shape, b1, sizeof b1),
                                  tshape_str(&out, b2, sizeof b2));
        out.dims[neg] = d;
    }
    tout_shape(c, 0, x->dtype, &out);
    int64_t nin = ir_shape_numel(&x->shape), nout = ir_shape_numel(&out);
    if (nin >= 0 && nout >= 0 && nin != nout)
        return ir_infer_error(c, FWD_ERR_SHAPE, "cannot reshape %s (%lld elements) to %s",
                              tshape_str(&x->shape, b1, sizeof b1), (long long)nin,
                              tshape_str(&out, b2, sizeof b2));
    tout_shape(c, 0, x->dtype, &out);
    return FWD_OK;
}

/* ---- Flatten ---- */

static fwd_status infer_flatten(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0);
    tout_rank(c, 0, x->dtype, 2);
    int r = x->shape.rank;
    if (r < 0) return FWD_OK;
    int64_t a = ir_attr_int(c->node, "axis", 1);
    if (a < -r || a > r) return ir_infer_error(c, E_MODEL, "axis %lld out of range [%d, %d]", (long long)a, -r, r);
    if (a < 0) a += r;
    c->out[0].shape.dims[0] = tdims_product(x->shape.dims, (int)a);
    c->out[0].shape.dims[1] = tdims_product(x->shape.dims + a, r - (int)a);
    return FWD_OK;
}

/* ---- Squeeze / Unsqueeze ---- */

static fwd_status infer_squeeze(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0), *ax = tin(c, 1);
    int r = x->shape.rank;
    int64_t axes[IR_MAX_RANK + 1];
    int na = -1;
    if (ax) {
        if (!tis_index_dtype(ax->dtype)) return ir_infer_error(c, E_MODEL, "input 'axes' must be int64");
        na = tread_ints(ax, axes, IR_MAX_RANK + 1);
        if (na < 0) {
            int64_t len = ax->shape.rank == 1 ? ax->shape.dims[0] : -1;
            tout_rank(c, 0, x->dtype, r >= 0 && len >= 0 ? r - (int)len : -1);
            return FWD_OK;
        }
    }
    if (r < 0) {
        tout_rank(c, 0, x->dtype, -1);
        return FWD_OK;
    }
    bool drop[IR_MAX_RANK] = {false};
    if (na < 0) {
        for (int i = 0; i < r; i++) {
            if (x->shape.dims[i] < 0) {
                tout_rank(c, 0, x->dtype, -1);
                return FWD_OK;
            }
            drop[i] = x->shape.dims[i] == 1;
        }
    } else {
        for (int i = 0; i < na; i++) {
            int a;
            FWD_TRY(ir_infer_axis(c, axes[i], r, &a));
            if (drop[a]) return ir_infer_error(c, E_MODEL, "axis %d repeated", a);
            if (x->shape.dims[a] >= 0 && x->shape.dims[a] != 1)
                return ir_infer_error(c, FWD_ERR_SHAPE, "cannot squeeze axis %d of size %lld", a,
                                      (long long)x->shape.dims[a]);
            drop[a] = true;
        }
    }
    ir_shape out = {.rank = 0};
    for (int i = 0; i < r; i++)
        if (!drop[i]) out.dims[out.rank++] = x->shape.dims[i];
    tout_shape(c, 0, x->dtype, &out);
    return FWD_OK;
}

static fwd_status infer_unsqueeze(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0), *ax = tin(c, 1);
    if (!ax || !tis_index_dtype(ax->dtype)) return ir_infer_error(c, E_MODEL, "input 'axes' must be int64");
    int r = x->shape.rank;
    int64_t axes[IR_MAX_RANK + 1];
    int na = tread_ints(ax, axes, IR_MAX_RANK + 1);
    if (na < 0) {
        int64_t len = ax->shape.rank == 1 ? ax->shape.dims[0] : -1;
        int orank = r >= 0 && len >= 0 ? r + (int)len : -1;
        if (orank > IR_MAX_RANK) return ir_infer_error(c, FWD_ERR_UNSUPPORTED, "rank %d exceeds %d", orank, IR_MAX_RANK);
        tout_rank(c, 0, x->dtype, orank);
        return FWD_OK;
    }
    if (r < 0) {
        tout_rank(c, 0, x->dtype, -1);
        return FWD_OK;
    }
    int orank = r + na;
    if (orank > IR_MAX_RANK) return ir_infer_error(c, FWD_ERR_UNSUPPORTED, "rank %d exceeds %d", orank, IR_MAX_RANK);
    bool ins[IR_MAX_RANK] = {false};
    for (int i = 0; i < na; i++) {
        int a;
        FWD_TRY(ir_infer_axis(c, axes[i], orank, &a));
        if (ins[a]) return ir_infer_error(c, E_MODEL, "axis %d repeated", a);
        ins[a] = true;
    }
    ir_shape out = {.rank = orank};
    for (int i = 0, j = 0; i < orank; i++) out.dims[i] = ins[i] ? 1 : x->shape.dims[j++];
    tout_shape(c, 0, x->dtype, &out);
    return FWD_OK;
}

/* ---- Transpose ---- */

static fwd_status infer_transpose(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0);
    int np;
    const int64_t *perm = ir_attr_ints(c->node, "perm", &np);
    int r = x->shape.rank;
    if (r < 0) {
        tout_rank(c, 0, x->dtype, perm ? np : -1);
        return FWD_OK;
    }
    if (perm && np != r) return ir_infer_error(c, E_MODEL, "perm has %d entries for rank %d", np, r);
    bool seen[IR_MAX_RANK] = {false};
    ir_shape out = {.rank = r};
    for (int i = 0; i < r; i++) {
        int64_t p = perm ? perm[i] : r - 1 - i;
        if (p < 0 || p >= r || seen[p]) return ir_infer_error(c, E_MODEL, "perm is not a permutation of 0..%d", r - 1);
        seen[p] = true;
        out.dims[i] = x->shape.dims[p];
    }
    tout_shape(c, 0, x->dtype, &out);
    return FWD_OK;
}

/* ---- Concat / Split ---- */

static fwd_status infer_concat(ir_infer_ctx *c)
{
    const ir_attr *aa = ir_node_attr(c->node, "axis");
    if (!aa) return ir_infer_error(c, E_MODEL, "attribute 'axis' is required");
    fwd_dtype dt = FWD_DTYPE_UNDEFINED;
    int r = -1;
    for (int i = 0; i < c->n_in; i++) {
        const ir_tensor *t = c->in[i];
        if (!t) return ir_infer_error(c, E_MODEL, "input %d is missing", i);
        if (dt == FWD_DTYPE_UNDEFINED) dt = t->dtype;
        else if (t->dtype != FWD_DTYPE_UNDEFINED && t->dtype != dt)
            return ir_infer_error(c, FWD_ERR_DTYPE, "input %d is %s, input 0 is %s", i, fwd_dtype_name(t->dtype),
                                  fwd_dtype_name(dt));
        if (t->shape.rank >= 0) {
            if (r >= 0 && t->shape.rank != r)
                return ir_infer_error(c, FWD_ERR_SHAPE, "input %d has rank %d, expected %d", i, t->shape.rank, r);
            r = t->shape.rank;
        }
    }
    if (r < 0) {
        tout_rank(c, 0, dt, -1);
        return FWD_OK;
    }
    if (r == 0) return ir_infer_error(c, FWD_ERR_SHAPE, "cannot concatenate scalars");
    int axis;
    FWD_TRY(ir_infer_axis(c, aa->i, r, &axis));
    ir_shape out = {.rank = r};
    for (int d = 0; d < r; d++) out.dims[d] = IR_DIM_UNKNOWN;
    int64_t sum = 0;
    for (int i = 0; i < c->n_in; i++) {
        const ir_shape *s = &c->in[i]->shape;
        if (s->rank < 0) {
            sum = -1;
            continue;
        }
        for (int d = 0; d < r; d++) {
            if (d == axis) continue;
            int64_t v = s->dims[d];
            if (v >= 0 && out.dims[d] >= 0 && v != out.dims[d])
                return ir_infer_error(c, FWD_ERR_SHAPE, "input %d has dim %d = %lld, expected %lld", i, d,
                                      (long long)v, (long long)out.dims[d]);
            if (v >= 0 || out.dims[d] == IR_DIM_UNKNOWN) out.dims[d] = v;
        }
        if (sum >= 0 && s->dims[axis] >= 0)
            sum += s->dims[axis];
        else if (c->n_in == 1)
            sum = s->dims[axis];
        else
            sum = -1;
    }
    out.dims[axis] = sum;
    tout_shape(c, 0, dt, &out);
    return FWD_OK;
}

static fwd_status infer_split(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0), *sp = tin(c, 1);
    int r = x->shape.rank;
    for (int o = 0; o < c->n_out; o++) tout_rank(c, o, x->dtype, r);
    if (r < 0) return FWD_OK;
    int axis;
    FWD_TRY(ir_infer_axis(c, ir_attr_int(c->node, "axis", 0), r, &axis));
    int64_t dim = x->shape.dims[axis];
    for (int o = 0; o < c->n_out; o++) {
        c->out[o].shape = x->shape;
        c->out[o].shape.dims[axis] = IR_DIM_UNKNOWN;
    }
    if (sp) {
        if (!tis_index_dtype(sp->dtype)) return ir_infer_error(c, E_MODEL, "input 'split' must be int64");
        int64_t v[256];
        int n = tread_ints(sp, v, 256);
        if (n < 0) return FWD_OK;
        if (n != c->n_out) return ir_infer_error(c, E_MODEL, "'split' has %d entries for %d outputs", n, c->n_out);
        int64_t sum = 0;
        for (int o = 0; o < n; o++) {
            if (v[o] < 0) return ir_infer_error(c, FWD_ERR_SHAPE, "negative split size %lld", (long long)v[o]);
            if (v[o] > ((int64_t)1 << 62) - sum)
                return ir_infer_error(c, FWD_ERR_SHAPE, "split size %lld is too large", (long long)v[o]);
            sum += v[o];
            c->out[o].shape.dims[axis] = v[o];
        }
        if (dim >= 0 && sum != dim)
            return ir_infer_error(c, FWD_ERR_SHAPE, "split sizes sum to %lld, axis %d has %lld", (long long)sum,
                                  axis, (long long)dim);
        return FWD_OK;
    }
    if (dim < 0) return FWD_OK;
    int64_t n = c->n_out;
    int64_t nattr = ir_attr_int(c->node, "num_outputs", 0);
    if (nattr > 0 && nattr != n) return ir_infer_error(c, E_MODEL, "num_outputs is %lld but the node has %d outputs", (long long)nattr, c->n_out);
    int64_t chunk = (dim + n - 1) / n;
    if (!nattr && dim % n)
        return ir_infer_error(c, FWD_ERR_SHAPE, "axis %d of size %lld does not split into %lld equal parts", axis,
                              (long long)dim, (long long)n);
    for (int o = 0; o < c->n_out; o++) {
        int64_t left = dim - chunk * o;
        c->out[o].shape.dims[axis] = left < 0 ? 0 : (left < chunk ? left : chunk);
    }
    return FWD_OK;
}

/* ---- Slice ---- */

/* Normalised start and output length of one sliced axis (ONNX rules). */
void tns_slice_axis(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *ostart, int64_t *olen)
{
    /* starts and ends anywhere in int64 (INT64_MAX means "to the end"):
     * clamped before any arithmetic; the step's magnitude taken unsigned
     * (-INT64_MIN does not fit) */
    if (start < 0) start = start < -dim ? -1 : start + dim;
    if (end < 0) end = end < -dim ? -1 : end + dim;
    int64_t len;
    uint64_t mag = step > 0 ? (uint64_t)step : (uint64_t)(-(step + 1)) + 1;
    if (step > 0) {
        start = start < 0 ? 0 : (start > dim ? dim : start);
        end = end < 0 ? 0 : (end > dim ? dim : end);
        len = end > start ? (int64_t)(1 + (uint64_t)(end - start - 1) / mag) : 0;
    } else {
        start = start < 0 ? 0 : (start > dim - 1 ? dim - 1 : start);
        end = end < -1 ? -1 : (end > dim - 1 ? dim - 1 : end);
        len = start > end ? (int64_t)(1 + (uint64_t)(start - end - 1) / mag) : 0;
    }
    *ostart = start;
    *olen = len;
}

static fwd_status infer_slice(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0);
    const ir_tensor *ts = tin(c, 1), *te = tin(c, 2), *ta = tin(c, 3), *tp = tin(c, 4);
    if (!ts || !te) return ir_infer_error(c, E_MODEL, "inputs 'starts' and 'ends' are required");
    const ir_tensor *all[4] = {ts, te, ta, tp};
    for (int i = 0; i < 4; i++)
        if (all[i] && !tis_index_dtype(all[i]->dtype))
            return ir_infer_error(c, E_MODEL, "input %d must be int32 or int64", i + 1);
    int r = x->shape.rank;
    tout_rank(c, 0, x->dtype, r);
    if (r < 0) return FWD_OK;
    int64_t st[IR_MAX_RANK + 1], en[IR_MAX_RANK + 1], ax[IR_MAX_RANK + 1], sp[IR_MAX_RANK + 1];
    int ns = tread_ints(ts, st, IR_MAX_RANK + 1), ne = tread_ints(te, en, IR_MAX_RANK + 1);
    int na = ta ? tread_ints(ta, ax, IR_MAX_RANK + 1) : -2;
    int np = tp ? tread_ints(tp, sp, IR_MAX_RANK + 1) : -2;
    if (ns < 0 || ne < 0 || na == -1 || np == -1) {
        /* Axes known but bounds not: the untouched axes keep their dims. */
        if (na >= 0 || !ta) {
            int n = na >= 0 ? na : (ns >= 0 ? ns : (ne >= 0 ? ne : -1));
            if (n < 0) return FWD_OK;
            bool touched[IR_MAX_RANK] = {false};
            for (int i = 0; i < n; i++) {
                int a = i;
                if (na >= 0) FWD_TRY(ir_infer_axis(c, ax[i], r, &a));
                if (a < r) touched[a] = true;
            }
            for (int d = 0; d < r; d++) c->out[0].shape.dims[d] = touched[d] ? IR_DIM_UNKNOWN : x->shape.dims[d];
        }
        return FWD_OK;
    }
    if (ns != ne || (na >= 0 && na != ns) || (np >= 0 && np != ns))
        return ir_infer_error(c, E_MODEL, "starts, ends, axes and steps differ in length");
    if (ns > r) return ir_infer_error(c, E_MODEL, "%d starts for rank %d", ns, r);
    c->out[0].shape = x->shape;
    bool seen[IR_MAX_RANK] = {false};
    for (int i = 0; i < ns; i++) {
        int a = i;
        if (na >= 0) FWD_TRY(ir_infer_axis(c, ax[i], r, &a));
        if (seen[a]) return ir_infer_error(c, E_MODEL, "axis %d repeated", a);
        seen[a] = true;
        int64_t step = np >= 0 ? sp[i] : 1;
        if (step == 0) return ir_infer_error(c, E_MODEL, "step is 0 on axis %d", a);
        int64_t dim = x->shape.dims[a];
        if (dim < 0) {
            /* [0:INT_MAX:1] keeps even a symbolic dim. */
            bool whole = step == 1 && st[i] == 0 && en[i] >= INT32_MAX;
            c->out[0].shape.dims[a] = whole ? dim : IR_DIM_UNKNOWN;
            continue;
        }
        int64_t s0, len;
        tns_slice_axis(dim, st[i], en[i], step, &s0, &len);
        c->out[0].shape.dims[a] = len;
    }
    return FWD_OK;
}

/* ---- Expand / Tile ---- */

static fwd_status infer_expand(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0), *s = tin(c, 1);
    if (!tis_index_dtype(s->dtype)) return ir_infer_error(c, E_MODEL, "input 'shape' must be int64");
    int64_t v[IR_MAX_RANK + 1];
    int n = tread_ints(s, v, IR_MAX_RANK + 1);
    if (n > IR_MAX_RANK) return ir_infer_error(c, FWD_ERR_UNSUPPORTED, "rank %d exceeds %d", n, IR_MAX_RANK);
    if (n < 0) {
        int64_t len = s->shape.rank == 1 ? s->shape.dims[0] : -1;
        if (len < 0 || x->shape.rank < 0 || len > IR_MAX_RANK) {
            tout_rank(c, 0, x->dtype, -1);
            return FWD_OK;
        }
        int r = x->shape.rank > len ? x->shape.rank : (int)len;
        tout_rank(c, 0, x->dtype, r);
        for (int i = 0; i < x->shape.rank; i++) {
            int64_t d = x->shape.dims[i];
            if (d > 1) c->out[0].shape.dims[i + r - x->shape.rank] = d;
        }
        return FWD_OK;
    }
    ir_shape sh = {.rank = n};
    for (int i = 0; i < n; i++) {
        if (v[i] < 0) return ir_infer_error(c, FWD_ERR_SHAPE, "negative dimension %lld in 'shape'", (long long)v[i]);
        sh.dims[i] = v[i];
    }
    ir_shape out;
    char b1[128], b2[128];
    if (ir_broadcast_shapes(&x->shape, &sh, &out) != FWD_OK)
        return ir_infer_error(c, FWD_ERR_SHAPE, "cannot expand %s to %s",
                              tshape_str(&x->shape, b1, sizeof b1), tshape_str(&sh, b2, sizeof b2));
    tout_shape(c, 0, x->dtype, &out);
    return FWD_OK; /* sizes checked by ir_infer_node */
}

static fwd_status infer_tile(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0), *rp = tin(c, 1);
    if (!tis_index_dtype(rp->dtype)) return ir_infer_error(c, E_MODEL, "input 'repeats' must be int64");
    int r = x->shape.rank;
    tout_rank(c, 0, x->dtype, r);
    if (r < 0) return FWD_OK;
    int64_t v[IR_MAX_RANK + 1];
    int n = tread_ints(rp, v, IR_MAX_RANK + 1);
    if (n < 0) return FWD_OK;
    if (n != r) return ir_infer_error(c, E_MODEL, "'repeats' has %d entries for rank %d", n, r);
    for (int i = 0; i < r; i++) {
        if (v[i] < 0) return ir_infer_error(c, FWD_ERR_SHAPE, "negative repeat %lld", (long long)v[i]);
        int64_t d = x->shape.dims[i];
        if (d > 0 && v[i] > ((int64_t)1 << 50) / d) return ir_infer_error(c, FWD_ERR_SHAPE, "output is too large");
        c->out[0].shape.dims[i] = v[i] == 1 ? d : (v[i] == 0 ? 0 : (d >= 0 ? d * v[i] : IR_DIM_UNKNOWN));
    }
    return FWD_OK; /* sizes checked by ir_infer_node */
}

/* ---- Pad ---- */

static fwd_status infer_pad(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0), *p = tin(c, 1), *cv = tin(c, 2);
    if (!p || !tis_index_dtype(p->dtype)) return ir_infer_error(c, E_MODEL, "input 'pads' must be int64");
    if (tin(c, 3)) return ir_infer_error(c, FWD_ERR_UNSUPPORTED, "input 'axes' (opset 18) is not supported");
    const char *mode = ir_attr_string(c->node, "mode", "constant");
    if (strcmp(mode, "constant") && strcmp(mode, "reflect") && strcmp(mode, "edge") && strcmp(mode, "wrap"))
        return ir_infer_error(c, E_MODEL, "unknown mode '%s'", mode);
    if (cv && cv->dtype != x->dtype && cv->dtype != FWD_DTYPE_UNDEFINED && x->dtype != FWD_DTYPE_UNDEFINED)
        return ir_infer_error(c, FWD_ERR_DTYPE, "constant_value is %s but data is %s", fwd_dtype_name(cv->dtype),
                              fwd_dtype_name(x->dtype));
    int r = x->shape.rank;
    tout_rank(c, 0, x->dtype, r);
    if (r < 0) return FWD_OK;
    int64_t v[2 * IR_MAX_RANK + 1];
    int n = tread_ints(p, v, 2 * IR_MAX_RANK + 1);
    if (n < 0) return FWD_OK;
    if (n != 2 * r) return ir_infer_error(c, E_MODEL, "'pads' has %d entries for rank %d", n, r);
    for (int i = 0; i < n; i++)
        if (v[i] > ((int64_t)1 << 50) || v[i] < -((int64_t)1 << 50))
            return ir_infer_error(c, FWD_ERR_SHAPE, "pad %lld is out of range", (long long)v[i]);
    for (int i = 0; i < r; i++) {
        int64_t d = x->shape.dims[i];
        if (v[i] == 0 && v[i + r] == 0) {
            c->out[0].shape.dims[i] = d;
            continue;
        }
        if (d < 0) continue;
        int64_t o = d + v[i] + v[i + r];
        if (o < 0) return ir_infer_error(c, FWD_ERR_SHAPE, "pads make axis %d negative (%lld)", i, (long long)o);
        c->out[0].shape.dims[i] = o;
    }
    return FWD_OK; /* sizes checked by ir_infer_node */
}

/* ---- DepthToSpace / SpaceToDepth ---- */

static fwd_status infer_depth_space(ir_infer_ctx *c, bool to_space)
{
    const ir_tensor *x = tin(c, 0);
    tout_rank(c, 0, x->dtype, 4);
    int64_t b = ir_attr_int(c->node, "blocksize", 0);
    if (b <= 0 || b > (1 << 20)) return ir_infer_error(c, E_MODEL, "attribute 'blocksize' = %lld is invalid", (long long)b);
    if (to_space) {
        const char *mode = ir_attr_string(c->node, "mode", "DCR");
        if (strcmp(mode, "DCR") && strcmp(mode, "CRD")) return ir_infer_error(c, E_MODEL, "unknown mode '%s'", mode);
    }
    if (x->shape.rank < 0) return FWD_OK;
    if (x->shape.rank != 4) return ir_infer_error(c, FWD_ERR_SHAPE, "input must be 4-D, got rank %d", x->shape.rank);
    const int64_t *d = x->shape.dims;
    int64_t *o = c->out[0].shape.dims;
    o[0] = d[0];
    if (to_space) {
        if (d[1] >= 0 && d[1] % (b * b)) return ir_infer_error(c, FWD_ERR_SHAPE, "channels %lld not divisible by blocksize^2", (long long)d[1]);
        o[1] = d[1] >= 0 ? d[1] / (b * b) : IR_DIM_UNKNOWN;
        o[2] = d[2] >= 0 ? d[2] * b : IR_DIM_UNKNOWN;
        o[3] = d[3] >= 0 ? d[3] * b : IR_DIM_UNKNOWN;
    } else {
        if ((d[2] >= 0 && d[2] % b) || (d[3] >= 0 && d[3] % b))
            return ir_infer_error(c, FWD_ERR_SHAPE, "spatial dims not divisible by blocksize %lld", (long long)b);
        o[1] = d[1] >= 0 ? d[1] * b * b : IR_DIM_UNKNOWN;
        o[2] = d[2] >= 0 ? d[2] / b : IR_DIM_UNKNOWN;
        o[3] = d[3] >= 0 ? d[3] / b : IR_DIM_UNKNOWN;
    }
    return FWD_OK;
}

static fwd_status infer_d2s(ir_infer_ctx *c) { return infer_depth_space(c, true); }
static fwd_status infer_s2d(ir_infer_ctx *c) { return infer_depth_space(c, false); }

/* ---- Trilu, EyeLike ---- */

static fwd_status infer_trilu(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0), *k = tin(c, 1);
    if (x->shape.rank >= 0 && x->shape.rank < 2) return ir_infer_error(c, FWD_ERR_SHAPE, "input must have rank >= 2");
    if (k && k->dtype != FWD_INT64) return ir_infer_error(c, E_MODEL, "input 'k' must be int64");
    if (k && k->shape.rank > 0 && ir_shape_numel(&k->shape) != 1) return ir_infer_error(c, FWD_ERR_SHAPE, "input 'k' must be a scalar");
    ir_infer_copy(c, 0, 0);
    return FWD_OK;
}

static fwd_status infer_eyelike(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0);
    fwd_dtype dt = (fwd_dtype)ir_attr_int(c->node, "dtype", x->dtype);
    if (fwd_dtype_size(dt) == 0) return ir_infer_error(c, FWD_ERR_DTYPE, "unsupported dtype %d", (int)dt);
    if (x->shape.rank >= 0 && x->shape.rank != 2) return ir_infer_error(c, FWD_ERR_SHAPE, "input must be 2-D");
    tout_shape(c, 0, dt, &x->shape);
    if (x->shape.rank < 0) tout_rank(c, 0, dt, 2);
    return FWD_OK;
}

const ir_op_schema ir_schemas_tensor[] = {
    {"Shape", 1, 1, 1, 1, infer_shape},
    {"Size", 1, 1, 1, 1, infer_size},
    {"ConstantOfShape", 1, 1, 1, 1, infer_constant_of_shape},
    {"Reshape", 2, 2, 1, 1, infer_reshape},
    {"Flatten", 1, 1, 1, 1, infer_flatten},
    {"Squeeze", 1, 2, 1, 1, infer_squeeze},
    {"Unsqueeze", 2, 2, 1, 1, infer_unsqueeze},
    {"Transpose", 1, 1, 1, 1, infer_transpose},
    {"Concat", 1, -1, 1, 1, infer_concat},
    {"Split", 1, 2, 1, -1, infer_split},
    {"Slice", 3, 5, 1, 1, infer_slice},
    {"Expand", 2, 2, 1, 1, infer_expand},
    {"Tile", 2, 2, 1, 1, infer_tile},
    {"Pad", 2, 4, 1, 1, infer_pad},
    {"DepthToSpace", 1, 1, 1, 1, infer_d2s},
    {"SpaceToDepth", 1, 1, 1, 1, infer_s2d},
    {"Trilu", 1, 2, 1, 1, infer_trilu},
    {"EyeLike", 1, 1, 1, 1, infer_eyelike},
    {"ReverseSequence", 2, 2, 1, 1, tns_infer_reverse_sequence},
    /* infer_tensor_index.c */
    {"Gather", 2, 2, 1, 1, tns_infer_gather},
    {"GatherElements", 2, 2, 1, 1, tns_infer_gather_elements},
    {"GatherND", 2, 2, 1, 1, tns_infer_gather_nd},
    {"ScatterElements", 3, 3, 1, 1, tns_infer_scatter_elements},
    {"ScatterND", 3, 3, 1, 1, tns_infer_scatter_nd},
    {"OneHot", 3, 3, 1, 1, tns_infer_onehot},
    {"NonZero", 1, 1, 1, 1, tns_infer_nonzero},
    {"Compress", 2, 2, 1, 1, tns_infer_compress},
    {"Range", 3, 3, 1, 1, tns_infer_range},
    {"Unique", 1, 1, 1, 4, tns_infer_unique},
    {"TopK", 2, 2, 2, 2, tns_infer_topk},
    {"ArgMax", 1, 1, 1, 1, tns_infer_argminmax},
    {"ArgMin", 1, 1, 1, 1, tns_infer_argminmax},
    {"CumSum", 2, 2, 1, 1, tns_infer_cumsum},
    {"Resize", 1, 4, 1, 1, tns_infer_resize},
    {"GridSample", 2, 2, 1, 1, tns_infer_grid_sample},
    {NULL, 0, 0, 0, 0, NULL},
};

/* Shape and type inference for the tensor family's indexing, sorting and
 * sampling ops (the table is in infer_tensor.c). */
#include <math.h>
#include <string.h>

#include "ir/infer_tensor_util.h"
#include "util/error.h"

#define E_MODEL FWD_ERR_INVALID_MODEL

fwd_status tns_infer_reverse_sequence(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0), *l = tin(c, 1);
    int64_t b = ir_attr_int(c->node, "batch_axis", 1), t = ir_attr_int(c->node, "time_axis", 0);
    if ((b != 0 && b != 1) || (t != 0 && t != 1) || b == t)
        return ir_infer_error(c, E_MODEL, "batch_axis and time_axis must be 0 and 1 in some order");
    if (!tis_index_dtype(l->dtype)) return ir_infer_error(c, E_MODEL, "input 'sequence_lens' must be int64");
    if (x->shape.rank >= 0 && x->shape.rank < 2) return ir_infer_error(c, FWD_ERR_SHAPE, "input must have rank >= 2");
    ir_infer_copy(c, 0, 0);
    return FWD_OK;
}

fwd_status tns_infer_gather(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0), *ix = tin(c, 1);
    if (!tis_index_dtype(ix->dtype)) return ir_infer_error(c, E_MODEL, "input 'indices' must be int32 or int64");
    int r = x->shape.rank, q = ix->shape.rank;
    if (r == 0) return ir_infer_error(c, FWD_ERR_SHAPE, "input 'data' must have rank >= 1");
    if (r < 0 || q < 0) {
        tout_rank(c, 0, x->dtype, -1);
        return FWD_OK;
    }
    if (q + r - 1 > IR_MAX_RANK) return ir_infer_error(c, FWD_ERR_UNSUPPORTED, "output rank exceeds %d", IR_MAX_RANK);
    int axis;
    FWD_TRY(ir_infer_axis(c, ir_attr_int(c->node, "axis", 0), r, &axis));
    ir_shape out = {.rank = q + r - 1};
    int k = 0;
    for (int i = 0; i < axis; i++) out.dims[k++] = x->shape.dims[i];
    for (int i = 0; i < q; i++) out.dims[k++] = ix->shape.dims[i];
    for (int i = axis + 1; i < r; i++) out.dims[k++] = x->shape.dims[i];
    tout_shape(c, 0, x->dtype, &out);
    return FWD_OK;
}

/* GatherElements / ScatterElements: integer indices of data's rank
 * (>= 1), and an axis within it. */
static fwd_status check_elements(ir_infer_ctx *c, const ir_tensor *x, const ir_tensor *ix)
{
    if (!tis_index_dtype(ix->dtype)) return ir_infer_error(c, E_MODEL, "input 'indices' must be int32 or int64");
    int r = x->shape.rank;
    if (r >= 0 && ix->shape.rank >= 0 && r != ix->shape.rank)
        return ir_infer_error(c, FWD_ERR_SHAPE, "data has rank %d, indices rank %d", r, ix->shape.rank);
    if (r == 0) return ir_infer_error(c, FWD_ERR_SHAPE, "input 'data' must have rank >= 1");
    if (r > 0) {
        int a;
        FWD_TRY(ir_infer_axis(c, ir_attr_int(c->node, "axis", 0), r, &a));
    }
    return FWD_OK;
}

fwd_status tns_infer_gather_elements(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0), *ix = tin(c, 1);
    FWD_TRY(check_elements(c, x, ix));
    tout_shape(c, 0, x->dtype, &ix->shape);
    return FWD_OK;
}

fwd_status tns_infer_gather_nd(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0), *ix = tin(c, 1);
    if (ix->dtype != FWD_INT64) return ir_infer_error(c, E_MODEL, "input 'indices' must be int64");
    int64_t b = ir_attr_int(c->node, "batch_dims", 0);
    int r = x->shape.rank, q = ix->shape.rank;
    if (r == 0 || q == 0) return ir_infer_error(c, FWD_ERR_SHAPE, "data and indices must have rank >= 1");
    if (r < 0 || q < 0 || ix->shape.dims[q - 1] < 0) {
        tout_rank(c, 0, x->dtype, -1);
        return FWD_OK;
    }
    int64_t last = ix->shape.dims[q - 1];
    if (b < 0 || b >= q || b >= r) return ir_infer_error(c, E_MODEL, "batch_dims %lld out of range", (long long)b);
    if (b + last > r)
        return ir_infer_error(c, FWD_ERR_SHAPE, "indices' last dim %lld + batch_dims %lld exceeds data rank %d",
                              (long long)last, (long long)b, r);
    for (int i = 0; i < b; i++)
        if (x->shape.dims[i] >= 0 && ix->shape.dims[i] >= 0 && x->shape.dims[i] != ix->shape.dims[i])
            return ir_infer_error(c, FWD_ERR_SHAPE, "batch dim %d differs: %lld vs %lld", i,
                                  (long long)x->shape.dims[i], (long long)ix->shape.dims[i]);
    ir_shape out = {.rank = (int)(q - 1 + r - b - last)};
    if (out.rank > IR_MAX_RANK) return ir_infer_error(c, FWD_ERR_UNSUPPORTED, "output rank exceeds %d", IR_MAX_RANK);
    int k = 0;
    for (int i = 0; i < q - 1; i++) out.dims[k++] = ix->shape.dims[i];
    for (int64_t i = b + last; i < r; i++) out.dims[k++] = x->shape.dims[i];
    tout_shape(c, 0, x->dtype, &out);
    return FWD_OK;
}

static fwd_status check_reduction(ir_infer_ctx *c)
{
    const char *red = ir_attr_string(c->node, "reduction", "none");
    if (strcmp(red, "none") && strcmp(red, "add") && strcmp(red, "mul") && strcmp(red, "max") && strcmp(red, "min"))
        return ir_infer_error(c, E_MODEL, "unknown reduction '%s'", red);
    return FWD_OK;
}

fwd_status tns_infer_scatter_elements(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0), *ix = tin(c, 1), *u = tin(c, 2);
    FWD_TRY(check_elements(c, x, ix));
    if (u->dtype != x->dtype) return ir_infer_error(c, FWD_ERR_DTYPE, "updates and data differ in dtype");
    if (ix->shape.rank >= 0 && u->shape.rank >= 0 && !ir_shape_equal(&ix->shape, &u->shape) &&
        ir_shape_known(&ix->shape) && ir_shape_known(&u->shape))
        return ir_infer_error(c, FWD_ERR_SHAPE, "indices and updates differ in shape");
    FWD_TRY(check_reduction(c));
    ir_infer_copy(c, 0, 0);
    return FWD_OK;
}

fwd_status tns_infer_scatter_nd(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0), *ix = tin(c, 1), *u = tin(c, 2);
    if (ix->dtype != FWD_INT64) return ir_infer_error(c, E_MODEL, "input 'indices' must be int64");
    if (u->dtype != x->dtype) return ir_infer_error(c, FWD_ERR_DTYPE, "updates and data differ in dtype");
    FWD_TRY(check_reduction(c));
    ir_infer_copy(c, 0, 0);
    return FWD_OK;
}

fwd_status tns_infer_onehot(ir_infer_ctx *c)
{
    const ir_tensor *ix = tin(c, 0), *d = tin(c, 1), *v = tin(c, 2);
    if (v->shape.rank >= 0 && ir_shape_numel(&v->shape) >= 0 && ir_shape_numel(&v->shape) != 2)
        return ir_infer_error(c, FWD_ERR_SHAPE, "input 'values' must have 2 elements");
    int q = ix->shape.rank;
    if (q < 0) {
        tout_rank(c, 0, v->dtype, -1);
        return FWD_OK;
    }
    if (q + 1 > IR_MAX_RANK) return ir_infer_error(c, FWD_ERR_UNSUPPORTED, "output rank exceeds %d", IR_MAX_RANK);
    int axis;
    FWD_TRY(ir_infer_axis(c, ir_attr_int(c->node, "axis", -1), q + 1, &axis));
    double dv;
    int64_t depth = IR_DIM_UNKNOWN;
    if (ir_tensor_scalar_f64(d, &dv)) {
        if (!(dv >= 1) || dv > 1e15) return ir_infer_error(c, FWD_ERR_SHAPE, "depth %g must be positive", dv);
        depth = (int64_t)dv;
    }
    ir_shape out = {.rank = q + 1};
    for (int i = 0, j = 0; i <= q; i++) out.dims[i] = i == axis ? depth : ix->shape.dims[j++];
    tout_shape(c, 0, v->dtype, &out);
    return FWD_OK; /* sizes checked by ir_infer_node */
}

fwd_status tns_infer_nonzero(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0);
    tout_rank(c, 0, FWD_INT64, 2);
    c->out[0].shape.dims[0] = x->shape.rank > 0 ? x->shape.rank : (x->shape.rank == 0 ? 1 : IR_DIM_UNKNOWN);
    c->data_dependent = true;
    return FWD_OK;
}

fwd_status tns_infer_compress(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0), *cond = tin(c, 1);
    if (cond->dtype != FWD_BOOL) return ir_infer_error(c, E_MODEL, "input 'condition' must be bool");
    if (cond->shape.rank > 1) return ir_infer_error(c, FWD_ERR_SHAPE, "input 'condition' must be 1-D");
    const ir_attr *aa = ir_node_attr(c->node, "axis");
    int r = x->shape.rank;
    int64_t count = IR_DIM_UNKNOWN;
    if (cond->data && ir_shape_known(&cond->shape)) {
        int64_t n = ir_shape_numel(&cond->shape), limit = -1;
        if (aa && r >= 0) {
            int a;
            FWD_TRY(ir_infer_axis(c, aa->i, r, &a));
            limit = x->shape.dims[a];
        } else if (!aa) {
            limit = ir_shape_numel(&x->shape);
        }
        count = 0;
        const uint8_t *p = cond->data;
        for (int64_t i = 0; i < n; i++) {
            if (limit >= 0 && i >= limit) break; /* entries past the axis are ignored */
            if (p[i]) count++;
        }
        if (limit < 0 && n > 0) count = IR_DIM_UNKNOWN; /* unknown how many entries apply */
    }
    if (!aa) {
        tout_rank(c, 0, x->dtype, 1);
        c->out[0].shape.dims[0] = count;
        return FWD_OK;
    }
    tout_rank(c, 0, x->dtype, r);
    if (r < 0) return FWD_OK;
    int a;
    FWD_TRY(ir_infer_axis(c, aa->i, r, &a));
    c->out[0].shape = x->shape;
    c->out[0].shape.dims[a] = count;
    return FWD_OK;
}

fwd_status tns_infer_range(ir_infer_ctx *c)
{
    const ir_tensor *s = tin(c, 0), *l = tin(c, 1), *d = tin(c, 2);
    fwd_dtype dt = s->dtype;
    if (l->dtype != dt || d->dtype != dt) return ir_infer_error(c, FWD_ERR_DTYPE, "start, limit and delta differ in dtype");
    if (dt != FWD_FLOAT32 && dt != FWD_FLOAT64 && dt != FWD_INT16 && dt != FWD_INT32 && dt != FWD_INT64)
        return ir_infer_error(c, FWD_ERR_DTYPE, "unsupported dtype %s", fwd_dtype_name(dt));
    tout_rank(c, 0, dt, 1);
    double vs, vl, vd;
    if (ir_tensor_scalar_f64(s, &vs) && ir_tensor_scalar_f64(l, &vl) && ir_tensor_scalar_f64(d, &vd)) {
        if (vd == 0) return ir_infer_error(c, FWD_ERR_INVALID_ARGUMENT, "delta is 0");
        double n = ceil((vl - vs) / vd);
        if (!(n < 1e12)) return ir_infer_error(c, FWD_ERR_SHAPE, "range of %g elements is too large", n);
        c->out[0].shape.dims[0] = n > 0 ? (int64_t)n : 0;
    }
    return FWD_OK;
}

fwd_status tns_infer_unique(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0);
    const ir_attr *aa = ir_node_attr(c->node, "axis");
    int r = x->shape.rank;
    c->data_dependent = true;
    int64_t nslices = IR_DIM_UNKNOWN;
    if (!aa) {
        tout_rank(c, 0, x->dtype, 1);
        nslices = ir_shape_numel(&x->shape);
    } else {
        tout_rank(c, 0, x->dtype, r);
        if (r >= 0) {
            int a;
            FWD_TRY(ir_infer_axis(c, aa->i, r, &a));
            c->out[0].shape = x->shape;
            c->out[0].shape.dims[a] = IR_DIM_UNKNOWN;
            nslices = x->shape.dims[a];
        }
    }
    tout_rank(c, 1, FWD_INT64, 1);
    tout_rank(c, 2, FWD_INT64, 1);
    tout_rank(c, 3, FWD_INT64, 1);
    if (c->n_out > 2) c->out[2].shape.dims[0] = nslices;
    return FWD_OK;
}

fwd_status tns_infer_topk(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0), *k = tin(c, 1);
    if (k->dtype != FWD_INT64) return ir_infer_error(c, E_MODEL, "input 'K' must be int64");
    int r = x->shape.rank;
    tout_rank(c, 0, x->dtype, r);
    tout_rank(c, 1, FWD_INT64, r);
    if (r < 0) return FWD_OK;
    if (r == 0) return ir_infer_error(c, FWD_ERR_SHAPE, "input must have rank >= 1");
    int a;
    FWD_TRY(ir_infer_axis(c, ir_attr_int(c->node, "axis", -1), r, &a));
    int64_t kv[2];
    int n = tread_ints(k, kv, 2);
    ir_shape out = x->shape;
    out.dims[a] = IR_DIM_UNKNOWN;
    if (n >= 0) {
        if (n != 1) return ir_infer_error(c, FWD_ERR_SHAPE, "input 'K' must have one element");
        if (kv[0] < 0) return ir_infer_error(c, FWD_ERR_INVALID_ARGUMENT, "K = %lld is negative", (long long)kv[0]);
        if (x->shape.dims[a] >= 0 && kv[0] > x->shape.dims[a])
            return ir_infer_error(c, FWD_ERR_INVALID_ARGUMENT, "K = %lld exceeds axis size %lld", (long long)kv[0],
                                  (long long)x->shape.dims[a]);
        out.dims[a] = kv[0];
    }
    tout_shape(c, 0, x->dtype, &out);
    tout_shape(c, 1, FWD_INT64, &out);
    return FWD_OK;
}

fwd_status tns_infer_argminmax(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0);
    int r = x->shape.rank;
    bool keep = ir_attr_int(c->node, "keepdims", 1) != 0;
    if (r < 0) {
        tout_rank(c, 0, FWD_INT64, -1);
        return FWD_OK;
    }
    if (r == 0) return ir_infer_error(c, FWD_ERR_SHAPE, "input must have rank >= 1");
    int a;
    FWD_TRY(ir_infer_axis(c, ir_attr_int(c->node, "axis", 0), r, &a));
    ir_shape out = {.rank = 0};
    for (int i = 0; i < r; i++) {
        if (i == a) {
            if (keep) out.dims[out.rank++] = 1;
        } else {
            out.dims[out.rank++] = x->shape.dims[i];
        }
    }
    tout_shape(c, 0, FWD_INT64, &out);
    return FWD_OK;
}

fwd_status tns_infer_cumsum(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0), *a = tin(c, 1);
    if (!tis_index_dtype(a->dtype)) return ir_infer_error(c, E_MODEL, "input 'axis' must be int32 or int64");
    if (a->shape.rank > 1 || ir_shape_numel(&a->shape) > 1) return ir_infer_error(c, FWD_ERR_SHAPE, "input 'axis' must be a scalar");
    int64_t av[1];
    if (tread_ints(a, av, 1) == 1 && x->shape.rank >= 0) {
        int ax;
        FWD_TRY(ir_infer_axis(c, av[0], x->shape.rank, &ax));
    }
    ir_infer_copy(c, 0, 0);
    return FWD_OK;
}

fwd_status tns_infer_resize(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0), *sc = tin(c, 2), *sz = tin(c, 3);
    const char *mode = ir_attr_string(c->node, "mode", "nearest");
    if (strcmp(mode, "nearest") && strcmp(mode, "linear") && strcmp(mode, "cubic"))
        return ir_infer_error(c, E_MODEL, "unknown mode '%s'", mode);
    const char *ctm = ir_attr_string(c->node, "coordinate_transformation_mode", "half_pixel");
    static const char *const ctms[] = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                       "tf_half_pixel_for_nn", "tf_crop_and_resize", "half_pixel_symmetric"};
    bool ok = false;
    for (size_t i = 0; i < sizeof ctms / sizeof ctms[0]; i++) ok |= strcmp(ctm, ctms[i]) == 0;
    if (!ok) return ir_infer_error(c, E_MODEL, "unknown coordinate_transformation_mode '%s'", ctm);
    int r = x->shape.rank;
    tout_rank(c, 0, x->dtype, r);
    /* opset 11 passes an empty 'scales' when 'sizes' is used */
    if (sc && ir_shape_numel(&sc->shape) == 0) sc = NULL;
    if (sz && ir_shape_numel(&sz->shape) == 0) sz = NULL;
    if (sc && sz && ir_shape_known(&sc->shape) && ir_shape_known(&sz->shape))
        return ir_infer_error(c, E_MODEL, "only one of 'scales' and 'sizes' may be given");
    if (r < 0) return FWD_OK;
    if (sz) {
        if (sz->dtype != FWD_INT64) return ir_infer_error(c, E_MODEL, "input 'sizes' must be int64");
        int64_t v[IR_MAX_RANK + 1];
        int n = tread_ints(sz, v, IR_MAX_RANK + 1);
        if (n < 0) return FWD_OK;
        if (n != r) return ir_infer_error(c, FWD_ERR_SHAPE, "'sizes' has %d entries for rank %d", n, r);
        for (int i = 0; i < r; i++) {
            if (v[i] < 0) return ir_infer_error(c, FWD_ERR_SHAPE, "negative size %lld", (long long)v[i]);
            c->out[0].shape.dims[i] = v[i];
        }
        return FWD_OK; /* sizes checked by ir_infer_node */
    }
    if (!sc) {
        if (tin(c, 3) || tin(c, 2)) return FWD_OK; /* shapes unknown yet */
        return ir_infer_error(c, E_MODEL, "one of 'scales' and 'sizes' is required");
    }
    if (sc->dtype != FWD_FLOAT32) return ir_infer_error(c, E_MODEL, "input 'scales' must be float32");
    if (!sc->data) return FWD_OK;
    int64_t n = ir_shape_numel(&sc->shape);
    if (n != r) return ir_infer_error(c, FWD_ERR_SHAPE, "'scales' has %lld entries for rank %d", (long long)n, r);
    const float *s = sc->data;
    for (int i = 0; i < r; i++) {
        if (!(s[i] > 0)) return ir_infer_error(c, FWD_ERR_SHAPE, "scale %g must be positive", (double)s[i]);
        int64_t d = x->shape.dims[i];
        if (s[i] == 1.0f)
            c->out[0].shape.dims[i] = d;
        else if (d >= 0) {
            double o = floor((double)d * (double)s[i]);
            if (!(o < 1e15)) return ir_infer_error(c, FWD_ERR_SHAPE, "scale %g makes the output too large", (double)s[i]);
            c->out[0].shape.dims[i] = (int64_t)o;
        }
    }
    return FWD_OK; /* sizes checked by ir_infer_node */
}

fwd_status tns_infer_grid_sample(ir_infer_ctx *c)
{
    const ir_tensor *x = tin(c, 0), *g = tin(c, 1);
    const char *mode = ir_attr_string(c->node, "mode", "bilinear");
    const char *pad = ir_attr_string(c->node, "padding_mode", "zeros");
    if (strcmp(mode, "bilinear") && strcmp(mode, "nearest") && strcmp(mode, "bicubic"))
        return ir_infer_error(c, E_MODEL, "unknown mode '%s'", mode);
    if (strcmp(pad, "zeros") && strcmp(pad, "border") && strcmp(pad, "reflection"))
        return ir_infer_error(c, E_MODEL, "unknown padding_mode '%s'", pad);
    if (g->dtype != x->dtype) return ir_infer_error(c, FWD_ERR_DTYPE, "grid and X differ in dtype");
    tout_rank(c, 0, x->dtype, 4);
    if (x->shape.rank >= 0 && x->shape.rank != 4) return ir_infer_error(c, FWD_ERR_SHAPE, "X must be 4-D");
    if (g->shape.rank >= 0 && g->shape.rank != 4) return ir_infer_error(c, FWD_ERR_SHAPE, "grid must be 4-D");
    if (g->shape.rank == 4 && g->shape.dims[3] >= 0 && g->shape.dims[3] != 2)
        return ir_infer_error(c, FWD_ERR_SHAPE, "grid's last dim must be 2");
    int64_t *o = c->out[0].shape.dims;
    if (x->shape.rank == 4) {
        o[0] = x->shape.dims[0];
        o[1] = x->shape.dims[1];
    }
    if (g->shape.rank == 4) {
        if (o[0] < 0) o[0] = g->shape.dims[0];
        o[2] = g->shape.dims[1];
        o[3] = g->shape.dims[2];
    }
    return FWD_OK;
}

/* Helpers shared by the tensor-family infer files (private). */
#ifndef FWD_IR_INFER_TENSOR_UTIL_H
#define FWD_IR_INFER_TENSOR_UTIL_H

#include <stdio.h>

#include "ir/op_schema.h"

/* Input i, or NULL when absent. */
static inline const ir_tensor *tin(const ir_infer_ctx *c, int i)
{
    return i < c->n_in ? c->in[i] : NULL;
}

/* Output i gets dtype and rank; dims unknown. */
static inline void tout_rank(ir_infer_ctx *c, int o, fwd_dtype dt, int rank)
{
    if (o >= c->n_out) return;
    c->out[o].dtype = dt;
    c->out[o].shape.rank = rank;
    for (int i = 0; i < rank && i < IR_MAX_RANK; i++) c->out[o].shape.dims[i] = IR_DIM_UNKNOWN;
}

static inline void tout_shape(ir_infer_ctx *c, int o, fwd_dtype dt, const ir_shape *s)
{
    if (o >= c->n_out) return;
    c->out[o].dtype = dt;
    c->out[o].shape = *s;
}

/* Product of dims: known value, a lone symbolic dim (other dims 1), or -1. */
static inline int64_t tdims_product(const int64_t *d, int n)
{
    int64_t p = 1, sym = 0;
    int nsym = 0;
    for (int i = 0; i < n; i++) {
        if (d[i] >= 0) {
            p *= d[i];
        } else if (d[i] <= -2 && nsym == 0) {
            sym = d[i];
            nsym = 1;
        } else {
            return IR_DIM_UNKNOWN;
        }
    }
    if (nsym) return p == 1 ? sym : (p == 0 ? 0 : IR_DIM_UNKNOWN);
    return p;
}

/* "[2,?,3]" into buf (symbolic dims shown as '?'). */
static inline const char *tshape_str(const ir_shape *s, char *buf, size_t cap)
{
    size_t n = 0;
    if (s->rank < 0) {
        snprintf(buf, cap, "[?]");
        return buf;
    }
    n += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < s->rank && n < cap; i++) {
        if (s->dims[i] >= 0)
            n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? "," : "", (long long)s->dims[i]);
        else
            n += (size_t)snprintf(buf + n, cap - n, "%s?", i ? "," : "");
    }
    if (n < cap) snprintf(buf + n, cap - n, "]");
    return buf;
}

/* Integer list of a 1-D input with known data: count, or -1 if unknown. */
static inline int tread_ints(const ir_tensor *t, int64_t *vals, int cap)
{
    return ir_tensor_read_ints(t, vals, cap);
}

static inline bool tis_index_dtype(fwd_dtype t) { return t == FWD_INT64 || t == FWD_INT32; }

/* Slice bounds of one axis by the ONNX rules: clamped start and length. */
void tns_slice_axis(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *ostart, int64_t *olen);

/* infer_tensor_index.c */
fwd_status tns_infer_reverse_sequence(ir_infer_ctx *c);
fwd_status tns_infer_gather(ir_infer_ctx *c);
fwd_status tns_infer_gather_elements(ir_infer_ctx *c);
fwd_status tns_infer_gather_nd(ir_infer_ctx *c);
fwd_status tns_infer_scatter_elements(ir_infer_ctx *c);
fwd_status tns_infer_scatter_nd(ir_infer_ctx *c);
fwd_status tns_infer_onehot(ir_infer_ctx *c);
fwd_status tns_infer_nonzero(ir_infer_ctx *c);
fwd_status tns_infer_compress(ir_infer_ctx *c);
fwd_status tns_infer_range(ir_infer_ctx *c);
fwd_status tns_infer_unique(ir_infer_ctx *c);
fwd_status tns_infer_topk(ir_infer_ctx *c);
fwd_status tns_infer_argminmax(ir_infer_ctx *c);
fwd_status tns_infer_cumsum(ir_infer_ctx *c);
fwd_status tns_infer_resize(ir_infer_ctx *c);
fwd_status tns_infer_grid_sample(ir_infer_ctx *c);

#endif

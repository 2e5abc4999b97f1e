/* Shape and type inference for Gelu and FusedAttention (see fused_ops.h). */
#include <string.h>

#include "ir/fused_ops.h"
#include "util/error.h"

static bool is_float_dtype(fwd_dtype t)
{
    return t == FWD_FLOAT32 || t == FWD_FLOAT16 || t == FWD_BFLOAT16 || t == FWD_FLOAT64;
}

/* Input i (present) must be a float tensor when its dtype is known. */
static fwd_status need_float(const ir_infer_ctx *c, int i, const char *what)
{
    const ir_tensor *t = i < c->n_in ? c->in[i] : NULL;
    if (!t) return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "missing input %s", what);
    if (t->dtype == FWD_DTYPE_UNDEFINED || is_float_dtype(t->dtype)) return FWD_OK;
    return ir_infer_error(c, FWD_ERR_DTYPE, "input %s has dtype %s; a float type is needed", what,
                          fwd_dtype_name(t->dtype));
}

static fwd_status infer_gelu(ir_infer_ctx *c)
{
    FWD_TRY(need_float(c, 0, "X"));
    const char *approx = ir_attr_string(c->node, "approximate", "none");
    if (strcmp(approx, "none") != 0 && strcmp(approx, "tanh") != 0)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL,
                              "attribute approximate must be \"none\" or \"tanh\", got \"%s\"", approx);
    ir_infer_copy(c, 0, 0);
    return FWD_OK;
}

/* Two dims that must agree: equal when both known. */
static bool dims_clash(int64_t a, int64_t b) { return ir_dim_known(a) && ir_dim_known(b) && a != b; }

/* The leading (batch) dims of t: all but the last two. */
static ir_shape lead_shape(const ir_tensor *t)
{
    ir_shape l = {.rank = t->shape.rank - 2};
    for (int i = 0; i < l.rank; i++) l.dims[i] = t->shape.dims[i];
    return l;
}

/*
 * The leading dims of Q, K and V broadcast as MatMul's do: scores get
 * broadcast(Q, K), Y gets broadcast(scores, V). The mask broadcasts onto
 * the scores [..., S, S_kv] and must not make them bigger.
 */
static fwd_status infer_attention(ir_infer_ctx *c)
{
    static const char *const names[] = {"Q", "K", "V", "Mask"};
    for (int i = 0; i < 3; i++) FWD_TRY(need_float(c, i, names[i]));
    const ir_tensor *q = c->in[0], *k = c->in[1], *v = c->in[2];
    const ir_tensor *mask = c->n_in > 3 ? c->in[3] : NULL;
    if (mask) FWD_TRY(need_float(c, 3, "Mask"));
    for (int i = 1; i < 4; i++) {
        const ir_tensor *t = i < c->n_in ? c->in[i] : NULL;
        if (t && q->dtype != FWD_DTYPE_UNDEFINED && t->dtype != FWD_DTYPE_UNDEFINED && t->dtype != q->dtype)
            return ir_infer_error(c, FWD_ERR_DTYPE, "%s has dtype %s, Q has %s", names[i],
                                  fwd_dtype_name(t->dtype), fwd_dtype_name(q->dtype));
    }
    const ir_attr *kt_attr = ir_node_attr(c->node, "k_transposed");
    if (kt_attr && (kt_attr->type != IR_ATTR_INT || (kt_attr->i != 0 && kt_attr->i != 1)))
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "attribute k_transposed must be 0 or 1");
    bool kt = kt_attr && kt_attr->i == 1;
    const ir_attr *sc = ir_node_attr(c->node, "scale");
    if (sc && sc->type != IR_ATTR_FLOAT)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "attribute scale must be a float");

    c->out[0].dtype = q->dtype;
    c->out[0].shape.rank = -1;
    const ir_tensor *ts[3] = {q, k, v};
    for (int i = 0; i < 3; i++) {
        int ri = ts[i]->shape.rank;
        if (ri >= 0 && ri < 2)
            return ir_infer_error(c, FWD_ERR_SHAPE, "%s must have rank >= 2, has %d", names[i], ri);
        if (ri < 0) return FWD_OK;
    }
    const ir_shape *qs = &q->shape, *ks = &k->shape, *vs = &v->shape;
    int rk = ks->rank;
    int64_t S = qs->dims[qs->rank - 2], D = qs->dims[qs->rank - 1];
    int64_t kD = ks->dims[kt ? rk - 2 : rk - 1], kS = ks->dims[kt ? rk - 1 : rk - 2];
    int64_t vS = vs->dims[vs->rank - 2], Dv = vs->dims[vs->rank - 1];
    if (dims_clash(D, kD))
        return ir_infer_error(c, FWD_ERR_SHAPE, "Q's depth %lld differs from K's %lld", (long long)D, (long long)kD);
    if (dims_clash(kS, vS))
        return ir_infer_error(c, FWD_ERR_SHAPE, "K has %lld keys, V has %lld", (long long)kS, (long long)vS);
    ir_shape lq = lead_shape(q), lk = lead_shape(k), lv = lead_shape(v), ls, ly;
    if (ir_broadcast_shapes(&lq, &lk, &ls) || ir_broadcast_shapes(&ls, &lv, &ly))
        return ir_infer_error(c, FWD_ERR_SHAPE, "the leading dims of Q, K and V do not broadcast");
    if (mask && mask->shape.rank >= 0) {
        /* scores: ls + [S, S_kv] */
        ir_shape full = ls;
        full.dims[full.rank++] = S;
        full.dims[full.rank++] = ir_dim_known(kS) ? kS : vS;
        if (mask->shape.rank > full.rank)
            return ir_infer_error(c, FWD_ERR_SHAPE, "Mask has rank %d, more than the scores' %d", mask->shape.rank,
                                  full.rank);
        int off = full.rank - mask->shape.rank;
        for (int d = 0; d < mask->shape.rank; d++) {
            int64_t md = mask->shape.dims[d], fd = full.dims[d + off];
            if (md != 1 && ir_dim_known(md) && (dims_clash(md, fd) || fd == 1))
                return ir_infer_error(c, FWD_ERR_SHAPE, "Mask dim %d is %lld, does not broadcast to %lld", d,
                                      (long long)md, (long long)fd);
        }
    }
    ir_shape *y = &c->out[0].shape;
    *y = ly;
    y->dims[y->rank++] = S;
    y->dims[y->rank++] = Dv;
    return FWD_OK;
}

const ir_op_schema ir_schemas_fused_nlp[] = {
    {"Gelu", 1, 1, 1, 1, infer_gelu},
    {"FusedAttention", 3, 4, 1, 1, infer_attention},
    {NULL, 0, 0, 0, 0, NULL},
};

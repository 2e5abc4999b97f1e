/* Shape and type inference for Gelu and FusedAttention (see fused_ops.h). */
#include <stdint.h>
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

/* The mask broadcasts onto the scores full [.., S, S_kv] without growing them. */
static fwd_status check_mask(const ir_infer_ctx *c, const ir_tensor *mask, const ir_shape *full)
{
    if (!mask || mask->shape.rank < 0) return FWD_OK;
    if (mask->shape.rank > full->rank)
        return ir_infer_error(c, FWD_ERR_SHAPE, "Mask has rank %d, more than the scores' %d", mask->shape.rank,
                              full->rank);
    int off = full->rank - mask->shape.rank;
    for (int d = 0; d < mask->shape.rank; d++) {
        int64_t md = mask->shape.dims[d], fd = full->dims[d + off];
        if (md != 1 && ir_dim_known(md) && (dims_clash(md, fd) || fd == 1))
            return ir_infer_error(c, FWD_ERR_SHAPE, "Mask dim %d is %lld, does not broadcast to %lld", d,
                                  (long long)md, (long long)fd);
    }
    return FWD_OK;
}

/* An int attribute that must be >= lo when present; *v gets it or dflt. */
static fwd_status int_attr_min(const ir_infer_ctx *c, const char *name, int64_t dflt, int64_t lo, int64_t *v)
{
    const ir_attr *a = ir_node_attr(c->node, name);
    *v = dflt;
    if (!a) return FWD_OK;
    if (a->type != IR_ATTR_INT || a->i < lo)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "attribute %s must be an int >= %lld", name, (long long)lo);
    *v = a->i;
    return FWD_OK;
}

/* Sequence-major form (num_heads >= 1): Q [B, S, Wq], K [B, S_kv, Wk],
 * V [B, S_kv, Wv], heads at column offsets; Y [B, S, H * Dv]. */
static fwd_status infer_attention_seq(ir_infer_ctx *c, int64_t H, const ir_tensor *const *ts, const ir_tensor *mask)
{
    static const char *const names[] = {"Q", "K", "V"};
    int64_t D, Dv;
    FWD_TRY(int_attr_min(c, "head_dim", -1, 1, &D));
    if (D < 1) return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "num_heads needs attribute head_dim >= 1");
    FWD_TRY(int_attr_min(c, "v_head_dim", D, 1, &Dv));
    if (ir_attr_int(c->node, "k_transposed", 0) != 0)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "k_transposed must be 0 with num_heads");
    int n_off = 0;
    const int64_t *off = ir_attr_ints(c->node, "offsets", &n_off);
    const ir_attr *oa = ir_node_attr(c->node, "offsets");
    if (oa && (oa->type != IR_ATTR_INTS || n_off != 3))
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "attribute offsets must hold 3 ints");
    int64_t width[3] = {D, D, Dv};
    for (int i = 0; i < 3; i++) {
        int64_t o = off ? off[i] : 0;
        const ir_shape *s = &ts[i]->shape;
        if (o < 0 || o > INT64_MAX / 4 || H > INT64_MAX / 4 / width[i])
            return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "offset %lld of %s is out of range", (long long)o,
                                  names[i]);
        if (s->rank >= 0 && s->rank != 3)
            return ir_infer_error(c, FWD_ERR_SHAPE, "%s must have rank 3 with num_heads, has %d", names[i], s->rank);
        if (s->rank == 3 && ir_dim_known(s->dims[2]) && o + H * width[i] > s->dims[2])
            return ir_infer_error(c, FWD_ERR_SHAPE, "%s's %lld columns do not hold %lld heads of %lld at %lld",
                                  names[i], (long long)s->dims[2], (long long)H, (long long)width[i], (long long)o);
    }
    for (int i = 0; i < 3; i++)
        if (ts[i]->shape.rank < 0) return FWD_OK;
    const ir_shape *qs = &ts[0]->shape, *ks = &ts[1]->shape, *vs = &ts[2]->shape;
    if (dims_clash(qs->dims[0], ks->dims[0]) || dims_clash(qs->dims[0], vs->dims[0]))
        return ir_infer_error(c, FWD_ERR_SHAPE, "Q, K and V have different batch sizes");
    if (dims_clash(ks->dims[1], vs->dims[1]))
        return ir_infer_error(c, FWD_ERR_SHAPE, "K has %lld keys, V has %lld", (long long)ks->dims[1],
                              (long long)vs->dims[1]);
    int64_t B = qs->dims[0];
    if (!ir_dim_known(B)) B = ir_dim_known(ks->dims[0]) ? ks->dims[0] : vs->dims[0];
    int64_t S = qs->dims[1], Skv = ir_dim_known(ks->dims[1]) ? ks->dims[1] : vs->dims[1];
    ir_shape full = {.rank = 4, .dims = {B, H, S, Skv}};
    FWD_TRY(check_mask(c, mask, &full));
    ir_shape *y = &c->out[0].shape;
    y->rank = 3;
    y->dims[0] = B;
    y->dims[1] = S;
    y->dims[2] = H * Dv;
    return FWD_OK;
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
    int64_t H;
    FWD_TRY(int_attr_min(c, "num_heads", 0, 0, &H));
    if (H > 0) return infer_attention_seq(c, H, ts, mask);
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
    /* scores: ls + [S, S_kv] */
    ir_shape full = ls;
    full.dims[full.rank++] = S;
    full.dims[full.rank++] = ir_dim_known(kS) ? kS : vS;
    FWD_TRY(check_mask(c, mask, &full));
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

/* Shape and type inference for the recurrent op family: RNN, GRU, LSTM
 * (ONNX opset 14 form, with the layout attribute).
 *
 * Inputs: X, W, R, B?, sequence_lens?, initial_h?, (LSTM: initial_c?, P?)
 *   layout 0: X [seq, batch, input], Y [seq, dirs, batch, hidden],
 *             Y_h / Y_c [dirs, batch, hidden]
 *   layout 1: X [batch, seq, input], Y [batch, seq, dirs, hidden],
 *             Y_h / Y_c [batch, dirs, hidden]
 */
#include <string.h>

#include "ir/op_schema.h"
#include "util/error.h"

/* Known dim d of t must equal want (when both are known). */
static fwd_status check_dim(const ir_infer_ctx *c, const ir_tensor *t, const char *what,
                            int d, int64_t want)
{
    if (t->shape.rank <= d) return FWD_OK;
    int64_t got = t->shape.dims[d];
    if (ir_dim_known(got) && ir_dim_known(want) && got != want)
        return ir_infer_error(c, FWD_ERR_SHAPE, "input '%s' has dimension %d of size %lld, "
                              "expected %lld", what, d, (long long)got, (long long)want);
    return FWD_OK;
}

static fwd_status check_rank(const ir_infer_ctx *c, const ir_tensor *t, const char *what,
                             int rank)
{
    if (t->shape.rank >= 0 && t->shape.rank != rank)
        return ir_infer_error(c, FWD_ERR_SHAPE, "input '%s' must have rank %d, got %d", what,
                              rank, t->shape.rank);
    return FWD_OK;
}

static int64_t dim_of(const ir_tensor *t, int d)
{
    return t->shape.rank > d ? t->shape.dims[d] : IR_DIM_UNKNOWN;
}

/* The direction attribute as a count of directions, or an error. */
static fwd_status rnn_directions(const ir_infer_ctx *c, int *dirs)
{
    const char *dir = ir_attr_string(c->node, "direction", "forward");
    if (!strcmp(dir, "forward") || !strcmp(dir, "reverse"))
        *dirs = 1;
    else if (!strcmp(dir, "bidirectional"))
        *dirs = 2;
    else
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "unknown direction '%s'", dir);
    return FWD_OK;
}

static fwd_status infer_recurrent(ir_infer_ctx *c, int gates)
{
    const ir_tensor *x = c->in[0], *w = c->in[1], *r = c->in[2];
    if (!x || !w || !r)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "inputs X, W and R are required");
    if (x->dtype != FWD_DTYPE_UNDEFINED && !ir_dtype_is_float(x->dtype))
        return ir_infer_error(c, FWD_ERR_DTYPE, "X must be a float tensor, got %s",
                              fwd_dtype_name(x->dtype));
    int dirs = 1;
    FWD_TRY(rnn_directions(c, &dirs));
    int64_t layout = ir_attr_int(c->node, "layout", 0);
    if (layout != 0 && layout != 1)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "layout must be 0 or 1, got %lld",
                              (long long)layout);
    int64_t hidden = ir_attr_int(c->node, "hidden_size", -1);
    if (!ir_node_attr(c->node, "hidden_size")) hidden = dim_of(r, 2);
    else if (hidden < 1 || hidden > ((int64_t)1 << 40)) /* sizes computed from it stay far from overflow */
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "hidden_size must be in [1, 2^40], got %lld",
                              (long long)hidden);
    if (ir_attr_int(c->node, "input_forget", 0) != 0 && gates != 4)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "input_forget is for LSTM only");
    FWD_TRY(check_rank(c, x, "X", 3));
    FWD_TRY(check_rank(c, w, "W", 3));
    FWD_TRY(check_rank(c, r, "R", 3));
    int64_t seq = dim_of(x, layout ? 1 : 0), batch = dim_of(x, layout ? 0 : 1);
    int64_t gh = ir_dim_known(hidden) ? gates * hidden : IR_DIM_UNKNOWN;
    FWD_TRY(check_dim(c, w, "W", 0, dirs));
    FWD_TRY(check_dim(c, w, "W", 1, gh));
    FWD_TRY(check_dim(c, w, "W", 2, dim_of(x, 2)));
    FWD_TRY(check_dim(c, r, "R", 0, dirs));
    FWD_TRY(check_dim(c, r, "R", 1, gh));
    FWD_TRY(check_dim(c, r, "R", 2, hidden));
    const ir_tensor *b = c->n_in > 3 ? c->in[3] : NULL;
    if (b) {
        FWD_TRY(check_rank(c, b, "B", 2));
        FWD_TRY(check_dim(c, b, "B", 0, dirs));
        FWD_TRY(check_dim(c, b, "B", 1, ir_dim_known(gh) ? 2 * gh : IR_DIM_UNKNOWN));
    }
    const ir_tensor *sl = c->n_in > 4 ? c->in[4] : NULL;
    if (sl) {
        if (sl->dtype != FWD_DTYPE_UNDEFINED && sl->dtype != FWD_INT32 && sl->dtype != FWD_INT64)
            return ir_infer_error(c, FWD_ERR_DTYPE, "sequence_lens must be int32");
        FWD_TRY(check_rank(c, sl, "sequence_lens", 1));
        FWD_TRY(check_dim(c, sl, "sequence_lens", 0, batch));
    }
    static const char *const state_names[] = {"initial_h", "initial_c"};
    for (int s = 0; s < (gates == 4 ? 2 : 1); s++) {
        const ir_tensor *h0 = c->n_in > 5 + s ? c->in[5 + s] : NULL;
        if (!h0) continue;
        FWD_TRY(check_rank(c, h0, state_names[s], 3));
        FWD_TRY(check_dim(c, h0, state_names[s], layout ? 1 : 0, dirs));
        FWD_TRY(check_dim(c, h0, state_names[s], layout ? 0 : 1, batch));
        FWD_TRY(check_dim(c, h0, state_names[s], 2, hidden));
    }
    const ir_tensor *p = gates == 4 && c->n_in > 7 ? c->in[7] : NULL;
    if (p) {
        FWD_TRY(check_rank(c, p, "P", 2));
        FWD_TRY(check_dim(c, p, "P", 0, dirs));
        FWD_TRY(check_dim(c, p, "P", 1, ir_dim_known(hidden) ? 3 * hidden : IR_DIM_UNKNOWN));
    }
    for (int o = 0; o < c->n_out; o++) {
        ir_tensor *y = &c->out[o];
        y->dtype = x->dtype;
        if (o == 0) {
            y->shape.rank = 4;
            int64_t d[4] = {seq, dirs, batch, hidden};
            int64_t d1[4] = {batch, seq, dirs, hidden};
            memcpy(y->shape.dims, layout ? d1 : d, sizeof d);
        } else {
            y->shape.rank = 3;
            int64_t d[3] = {dirs, batch, hidden};
            int64_t d1[3] = {batch, dirs, hidden};
            memcpy(y->shape.dims, layout ? d1 : d, sizeof d);
        }
    }
    return FWD_OK;
}

static fwd_status infer_rnn(ir_infer_ctx *c) { return infer_recurrent(c, 1); }
static fwd_status infer_gru(ir_infer_ctx *c) { return infer_recurrent(c, 3); }
static fwd_status infer_lstm(ir_infer_ctx *c) { return infer_recurrent(c, 4); }

const ir_op_schema ir_schemas_rnn[] = {
    {"RNN", 3, 6, 0, 2, infer_rnn},
    {"GRU", 3, 6, 0, 2, infer_gru},
    {"LSTM", 3, 8, 0, 3, infer_lstm},
    {NULL, 0, 0, 0, 0, NULL},
};

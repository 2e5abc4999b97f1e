/* Shape and type inference for the signal op family: DFT, STFT, the
 * window generators and MelWeightMatrix (ONNX opset 17). */
#include "ir/op_schema.h"
#include "util/error.h"

/* A known integer scalar input: 1 and *v set; 0 when data is unknown;
 * an error when it is present but not a one-element integer tensor. */
static fwd_status read_scalar_int(const ir_infer_ctx *c, int idx, const char *what,
                                  int64_t *v, int *known)
{
    *known = 0;
    const ir_tensor *t = idx < c->n_in ? c->in[idx] : NULL;
    if (!t) return FWD_OK;
    if (t->dtype != FWD_INT32 && t->dtype != FWD_INT64)
        return ir_infer_error(c, FWD_ERR_DTYPE, "input '%s' must be int32 or int64, got %s",
                              what, fwd_dtype_name(t->dtype));
    if (t->shape.rank > 1 || (t->shape.rank == 1 && ir_dim_known(t->shape.dims[0]) &&
                              t->shape.dims[0] != 1))
        return ir_infer_error(c, FWD_ERR_SHAPE, "input '%s' must be a scalar", what);
    if (!t->data) return FWD_OK;
    int64_t vals[1];
    if (ir_tensor_read_ints(t, vals, 1) != 1)
        return ir_infer_error(c, FWD_ERR_SHAPE, "input '%s' must hold one value", what);
    *v = vals[0];
    *known = 1;
    return FWD_OK;
}

static fwd_status check_float_input(const ir_infer_ctx *c, int idx, const char *what)
{
    const ir_tensor *t = c->in[idx];
    if (t && t->dtype != FWD_DTYPE_UNDEFINED && !ir_dtype_is_float(t->dtype))
        return ir_infer_error(c, FWD_ERR_DTYPE, "input '%s' must be a float tensor, got %s",
                              what, fwd_dtype_name(t->dtype));
    return FWD_OK;
}

/* The numeric dtypes the generator ops may produce (output_datatype). */
static fwd_status output_datatype(const ir_infer_ctx *c, fwd_dtype *dt)
{
    int64_t v = ir_attr_int(c->node, "output_datatype", FWD_FLOAT32);
    switch (v) {
    case FWD_FLOAT32: case FWD_FLOAT64: case FWD_FLOAT16: case FWD_BFLOAT16:
    case FWD_INT8: case FWD_UINT8: case FWD_INT16: case FWD_UINT16:
    case FWD_INT32: case FWD_UINT32: case FWD_INT64: case FWD_UINT64:
        *dt = (fwd_dtype)v;
        return FWD_OK;
    default:
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "unsupported output_datatype %lld",
                              (long long)v);
    }
}

/* DFT(input, dft_length?) -> [..., n or n/2+1 on axis, ..., 2] */
static fwd_status infer_dft(ir_infer_ctx *c)
{
    const ir_tensor *x = c->in[0];
    FWD_TRY(check_float_input(c, 0, "input"));
    int64_t n = 0;
    int n_known = 0;
    FWD_TRY(read_scalar_int(c, 1, "dft_length", &n, &n_known));
    if (n_known && n < 1)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "dft_length must be >= 1, got %lld",
                              (long long)n);
    bool onesided = ir_attr_int(c->node, "onesided", 0) != 0;
    int64_t axis_attr = ir_attr_int(c->node, "axis", 1);
    ir_tensor *y = &c->out[0];
    y->dtype = x->dtype;
    y->shape.rank = x->shape.rank;
    if (x->shape.rank < 0) return FWD_OK;
    int r = x->shape.rank;
    if (r < 2)
        return ir_infer_error(c, FWD_ERR_SHAPE, "input must have rank >= 2 "
                              "([..., signal, 1 or 2]), got rank %d", r);
    int64_t comp = x->shape.dims[r - 1];
    if (ir_dim_known(comp) && comp != 1 && comp != 2)
        return ir_infer_error(c, FWD_ERR_SHAPE, "last dimension of input must be 1 (real) "
                              "or 2 (complex), got %lld", (long long)comp);
    int64_t a = axis_attr < 0 ? axis_attr + r : axis_attr;
    if (a < 0 || a > r - 2)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "axis %lld out of range for input "
                              "of rank %d (the last dimension holds the components)",
                              (long long)axis_attr, r);
    for (int i = 0; i < r; i++) y->shape.dims[i] = x->shape.dims[i];
    y->shape.dims[r - 1] = 2;
    bool has_len = c->n_in > 1 && c->in[1];
    if (!has_len) {
        n = x->shape.dims[a];
        n_known = ir_dim_known(n);
    }
    if (n_known)
        y->shape.dims[a] = onesided ? n / 2 + 1 : n;
    else
        y->shape.dims[a] = (!has_len && !onesided) ? x->shape.dims[a] : IR_DIM_UNKNOWN;
    return FWD_OK;
}

/* STFT(signal [B, L, 1|2], frame_step, window?, frame_length?)
 *   -> [B, frames, bins, 2] */
static fwd_status infer_stft(ir_infer_ctx *c)
{
    const ir_tensor *x = c->in[0];
    FWD_TRY(check_float_input(c, 0, "signal"));
    int64_t step = 0, flen = 0;
    int step_known = 0, flen_known = 0;
    FWD_TRY(read_scalar_int(c, 1, "frame_step", &step, &step_known));
    FWD_TRY(read_scalar_int(c, 3, "frame_length", &flen, &flen_known));
    if (step_known && step < 1)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "frame_step must be >= 1, got %lld",
                              (long long)step);
    const ir_tensor *w = c->n_in > 2 ? c->in[2] : NULL;
    if (w) {
        FWD_TRY(check_float_input(c, 2, "window"));
        if (w->shape.rank >= 0 && w->shape.rank != 1)
            return ir_infer_error(c, FWD_ERR_SHAPE, "window must be 1-D, got rank %d",
                                  w->shape.rank);
        if (w->shape.rank == 1 && ir_dim_known(w->shape.dims[0])) {
            if (flen_known && flen != w->shape.dims[0])
                return ir_infer_error(c, FWD_ERR_SHAPE, "frame_length %lld differs from the "
                                      "window length %lld", (long long)flen,
                                      (long long)w->shape.dims[0]);
            flen = w->shape.dims[0];
            flen_known = 1;
        }
    } else if (!(c->n_in > 3 && c->in[3])) {
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL,
                              "needs a window or a frame_length input");
    }
    if (flen_known && flen < 1)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "frame_length must be >= 1, got %lld",
                              (long long)flen);
    bool onesided = ir_attr_int(c->node, "onesided", 1) != 0;
    ir_tensor *y = &c->out[0];
    y->dtype = x->dtype;
    y->shape.rank = 4;
    for (int i = 0; i < 4; i++) y->shape.dims[i] = IR_DIM_UNKNOWN;
    y->shape.dims[3] = 2;
    if (x->shape.rank >= 0) {
        if (x->shape.rank != 3)
            return ir_infer_error(c, FWD_ERR_SHAPE, "signal must have rank 3 "
                                  "[batch, length, 1 or 2], got rank %d", x->shape.rank);
        int64_t comp = x->shape.dims[2];
        if (ir_dim_known(comp) && comp != 1 && comp != 2)
            return ir_infer_error(c, FWD_ERR_SHAPE, "last dimension of signal must be 1 or 2, "
                                  "got %lld", (long long)comp);
        if (onesided && comp == 2)
            return ir_infer_error(c, FWD_ERR_INVALID_MODEL,
                                  "onesided output needs a real signal");
        y->shape.dims[0] = x->shape.dims[0];
        int64_t len = x->shape.dims[1];
        if (ir_dim_known(len) && flen_known && step_known) {
            if (len < flen)
                return ir_infer_error(c, FWD_ERR_SHAPE, "signal length %lld is shorter than "
                                      "the frame length %lld", (long long)len, (long long)flen);
            y->shape.dims[1] = (len - flen) / step + 1;
        }
    }
    if (flen_known) y->shape.dims[2] = onesided ? flen / 2 + 1 : flen;
    return FWD_OK;
}

/* HannWindow / HammingWindow / BlackmanWindow(size) -> [size] */
static fwd_status infer_window(ir_infer_ctx *c)
{
    int64_t size = 0;
    int known = 0;
    FWD_TRY(read_scalar_int(c, 0, "size", &size, &known));
    if (known && size < 0)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "size must be >= 0, got %lld",
                              (long long)size);
    ir_tensor *y = &c->out[0];
    FWD_TRY(output_datatype(c, &y->dtype));
    y->shape.rank = 1;
    y->shape.dims[0] = known ? size : IR_DIM_UNKNOWN;
    return FWD_OK;
}

/* MelWeightMatrix(num_mel_bins, dft_length, sample_rate, lower, upper)
 *   -> [dft_length / 2 + 1, num_mel_bins] */
static fwd_status infer_mel(ir_infer_ctx *c)
{
    int64_t bins = 0, dlen = 0, rate = 0;
    int bins_known, dlen_known, rate_known;
    FWD_TRY(read_scalar_int(c, 0, "num_mel_bins", &bins, &bins_known));
    FWD_TRY(read_scalar_int(c, 1, "dft_length", &dlen, &dlen_known));
    FWD_TRY(read_scalar_int(c, 2, "sample_rate", &rate, &rate_known));
    FWD_TRY(check_float_input(c, 3, "lower_edge_hertz"));
    FWD_TRY(check_float_input(c, 4, "upper_edge_hertz"));
    if (bins_known && bins < 1)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "num_mel_bins must be >= 1, got %lld",
                              (long long)bins);
    if (dlen_known && dlen < 1)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "dft_length must be >= 1, got %lld",
                              (long long)dlen);
    if (rate_known && rate < 1)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "sample_rate must be >= 1, got %lld",
                              (long long)rate);
    ir_tensor *y = &c->out[0];
    FWD_TRY(output_datatype(c, &y->dtype));
    y->shape.rank = 2;
    y->shape.dims[0] = dlen_known ? dlen / 2 + 1 : IR_DIM_UNKNOWN;
    y->shape.dims[1] = bins_known ? bins : IR_DIM_UNKNOWN;
    return FWD_OK;
}

const ir_op_schema ir_schemas_signal[] = {
    {"DFT", 1, 2, 1, 1, infer_dft},
    {"STFT", 2, 4, 1, 1, infer_stft},
    {"HannWindow", 1, 1, 1, 1, infer_window},
    {"HammingWindow", 1, 1, 1, 1, infer_window},
    {"BlackmanWindow", 1, 1, 1, 1, infer_window},
    {"MelWeightMatrix", 5, 5, 1, 1, infer_mel},
    {NULL, 0, 0, 0, 0, NULL},
};

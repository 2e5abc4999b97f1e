/* CPU kernels for the nn op family: the table and shared helpers. */
#include <stdlib.h>

#include "backend/cpu/nn_internal.h"

const cpu_kernel_entry cpu_kernels_nn[] = {
    {"Conv", cpu_conv},
    {"ConvTranspose", cpu_conv_transpose},
    {"ConvInteger", cpu_conv_integer},
    {"QLinearConv", cpu_qlinear_conv},
    {"MatMul", cpu_matmul},
    {"Gemm", cpu_gemm},
    {"MatMulInteger", cpu_matmul_integer},
    {"QLinearMatMul", cpu_qlinear_matmul},
    {"MaxPool", cpu_max_pool},
    {"AveragePool", cpu_average_pool},
    {"LpPool", cpu_lp_pool},
    {"GlobalAveragePool", cpu_global_average_pool},
    {"GlobalMaxPool", cpu_global_max_pool},
    {"GlobalLpPool", cpu_global_lp_pool},
    {"MaxUnpool", cpu_max_unpool},
    {"MaxRoiPool", cpu_max_roi_pool},
    {"RoiAlign", cpu_roi_align},
    {"NonMaxSuppression", cpu_non_max_suppression},
    {"QuantizeLinear", cpu_quantize_linear},
    {"DequantizeLinear", cpu_dequantize_linear},
    {"DynamicQuantizeLinear", cpu_dynamic_quantize_linear},
    {NULL, NULL},
};

fwd_status nn_need_inputs(const fwd_kernel_ctx *k, int n)
{
    for (int i = 0; i < n; i++)
        if (!nn_in(k, i) || !nn_in(k, i)->data)
            return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "required input %d is missing", i);
    return FWD_OK;
}

fwd_status nn_window_for(const fwd_kernel_ctx *k, const ir_tensor *x, const int64_t *kernel,
                         bool allow_ceil, nn_window *w)
{
    if (x->shape.rank < 3)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "input X needs rank >= 3, got %d", x->shape.rank);
    nn_msg msg;
    fwd_status s = nn_window_init(w, k->node, x->shape.rank - 2, kernel, allow_ceil, &msg);
    if (s == FWD_OK) s = nn_window_forward(w, x->shape.dims + 2, &msg);
    if (s != FWD_OK) return cpu_kernel_error(k, s, "%s", msg.text);
    return FWD_OK;
}

#define NN_MAX_IO 16

static void to_f32(const ir_tensor *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] = (float)cpu_get_f64(src->dtype, src->data, (int64_t)i);
}

fwd_status nn_run_as_f32(fwd_kernel_ctx *k, cpu_kernel_fn fn)
{
    if (k->n_in > NN_MAX_IO || k->n_out > NN_MAX_IO)
        return cpu_kernel_error(k, FWD_ERR_INTERNAL, "too many inputs or outputs");
    ir_tensor tin[NN_MAX_IO], tout[NN_MAX_IO];
    const ir_tensor *pin[NN_MAX_IO];
    ir_tensor *pout[NN_MAX_IO];
    float *bufs[2 * NN_MAX_IO];
    int nbufs = 0;
    fwd_status s = FWD_OK;
    for (int i = 0; i < k->n_in; i++) {
        const ir_tensor *t = k->in[i];
        pin[i] = t;
        if (!t || !t->data || !nn_is_wide_or_half(t->dtype)) continue;
        size_t n = ir_tensor_numel(t);
        float *buf = malloc((n ? n : 1) * sizeof(float));
        if (!buf) {
            s = cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory converting input %d", i);
            goto done;
        }
        bufs[nbufs++] = buf;
        to_f32(t, buf, n);
        tin[i] = *t;
        tin[i].dtype = FWD_FLOAT32;
        tin[i].data = buf;
        tin[i].nbytes = n * sizeof(float);
        pin[i] = &tin[i];
    }
    for (int i = 0; i < k->n_out; i++) {
        ir_tensor *t = k->out[i];
        pout[i] = t;
        if (!t || !nn_is_wide_or_half(t->dtype)) continue;
        if (!t->data) {
            s = cpu_kernel_error(k, FWD_ERR_INTERNAL, "output %d is not allocated", i);
            goto done;
        }
        size_t n = ir_tensor_numel(t);
        float *buf = malloc((n ? n : 1) * sizeof(float));
        if (!buf) {
            s = cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory converting output %d", i);
            goto done;
        }
        bufs[nbufs++] = buf;
        tout[i] = *t;
        tout[i].dtype = FWD_FLOAT32;
        tout[i].data = buf;
        tout[i].nbytes = n * sizeof(float);
        pout[i] = &tout[i];
    }
    fwd_kernel_ctx k2 = *k;
    k2.in = pin;
    k2.out = pout;
    s = fn(&k2);
    if (s == FWD_OK) {
        for (int i = 0; i < k->n_out; i++) {
            if (!k->out[i] || pout[i] == k->out[i]) continue;
            size_t n = ir_tensor_numel(k->out[i]);
            const float *src = pout[i]->data;
            for (size_t j = 0; j < n; j++) cpu_set_f64(k->out[i]->dtype, k->out[i]->data, (int64_t)j, src[j]);
        }
    }
done:
    for (int i = 0; i < nbufs; i++) free(bufs[i]);
    return s;
}

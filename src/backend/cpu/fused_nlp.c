/* CPU kernels for Gelu and FusedAttention (see ir/fused_ops.h); the
 * attention kernel lives in attention.c. */
#include <string.h>

#include "backend/cpu/attention.h"
#include "backend/cpu/elementwise_fastmath.h"
#include "backend/cpu/nn_internal.h"

/* Elements per block: the erf/tanh argument is staged in a stack buffer
 * so that the array fast-math functions (AVX2/AVX-512) do the work. */
#define GELU_BLOCK 512

typedef struct gelu_job {
    const float *x;
    float *y;
    bool tanh_form;
} gelu_job;

static void gelu_task(void *arg, int64_t beg, int64_t end)
{
    const gelu_job *j = arg;
    float t[GELU_BLOCK];
    for (int64_t b = beg; b < end; b += GELU_BLOCK) {
        int64_t n = end - b < GELU_BLOCK ? end - b : GELU_BLOCK;
        const float *x = j->x + b;
        float *y = j->y + b;
        if (j->tanh_form) {
            /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
            for (int64_t i = 0; i < n; i++) {
                float v = x[i];
                t[i] = 0.7978845608028654f * (v + 0.044715f * v * v * v);
            }
            fm_tanh_n(t, t, n);
        } else {
            /* 0.5 x (1 + erf(x / sqrt(2))) */
            for (int64_t i = 0; i < n; i++) t[i] = x[i] * 0.7071067811865476f;
            fm_erf_n(t, t, n);
        }
        for (int64_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + t[i]);
    }
}

static fwd_status gelu_f32(fwd_kernel_ctx *k)
{
    const ir_tensor *x = k->in[0];
    ir_tensor *y = k->out[0];
    gelu_job j = {.x = x->data, .y = y->data};
    const char *approx = ir_attr_string(k->node, "approximate", "none");
    if (strcmp(approx, "tanh") == 0) j.tanh_form = true;
    else if (strcmp(approx, "none") != 0)
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "attribute approximate must be \"none\" or \"tanh\"");
    int64_t n = (int64_t)ir_tensor_numel(x);
    /* ~16K elements per chunk: some tens of microseconds */
    fwd_parallel_for(n, 16384, gelu_task, &j);
    return FWD_OK;
}

static fwd_status cpu_gelu(fwd_kernel_ctx *k)
{
    FWD_TRY(nn_need_inputs(k, 1));
    if (k->n_out < 1 || !k->out[0]) return FWD_OK;
    const ir_tensor *x = k->in[0];
    if (x->dtype == FWD_FLOAT32) return gelu_f32(k);
    if (nn_is_wide_or_half(x->dtype)) return nn_run_as_f32(k, gelu_f32);
    return cpu_kernel_error(k, FWD_ERR_DTYPE, "input X has dtype %s; a float type is needed",
                            fwd_dtype_name(x->dtype));
}

const cpu_kernel_entry cpu_kernels_fused_nlp[] = {
    {"Gelu", cpu_gelu},
    {"FusedAttention", cpu_fused_attention},
    {NULL, NULL},
};

/* CPU kernels for Gelu and FusedAttention (see ir/fused_ops.h); the
 * attention kernel lives in attention.c. */
#include <string.h>

#include "backend/cpu/attention.h"
#include "backend/cpu/elementwise_fastmath.h"
#include "backend/cpu/nn_internal.h"

typedef struct gelu_job {
    const float *x;
    float *y;
    bool tanh_form;
} gelu_job;

/* Each chunk through the array fast-math functions (AVX2/AVX-512), the
 * same values as the GEMM epilogue's GELU (sgemm_kernel.c). */
static void gelu_task(void *arg, int64_t beg, int64_t end)
{
    const gelu_job *j = arg;
    if (j->tanh_form)
        fm_gelu_tanh_n(j->x + beg, j->y + beg, end - beg);
    else
        fm_gelu_n(j->x + beg, j->y + beg, end - beg);
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

/*
 * SoftmaxCrossEntropyLoss and NegativeLogLikelihoodLoss.
 *
 * Input [N, C, d1..dk] is viewed as [N, C, D]; target [N, D]. Losses are
 * rare at inference time, so one double-precision path serves all dtypes.
 */
#include <stdlib.h>

#include "backend/cpu/reduce_common.h"

static fwd_status loss_run(fwd_kernel_ctx *k, bool sce)
{
    const ir_tensor *x = k->in[0], *t = k->n_in > 1 ? k->in[1] : NULL, *w = k->n_in > 2 ? k->in[2] : NULL;
    if (!t) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "missing target");
    if (!ir_dtype_is_float(x->dtype))
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "input must be a float tensor, got %s", fwd_dtype_name(x->dtype));
    if (t->dtype != FWD_INT32 && t->dtype != FWD_INT64)
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "target must be int32 or int64, got %s", fwd_dtype_name(t->dtype));
    int rank = x->shape.rank;
    if (rank < 2) return cpu_kernel_error(k, FWD_ERR_SHAPE, "input must have rank >= 2, got %d", rank);
    if (t->shape.rank != rank - 1)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "target rank %d does not fit input rank %d", t->shape.rank, rank);
    int64_t N = x->shape.dims[0], C = x->shape.dims[1], D = 1;
    for (int i = 0; i < rank - 1; i++) {
        int64_t a = x->shape.dims[i == 0 ? 0 : i + 1];
        if (t->shape.dims[i] != a)
            return cpu_kernel_error(k, FWD_ERR_SHAPE, "target dim %d is %lld, input has %lld", i,
                                    (long long)t->shape.dims[i], (long long)a);
        if (i > 0) D *= a;
    }
    const char *red = ir_attr_string(k->node, "reduction", "mean");
    int mode = !strcmp(red, "none") ? 0 : !strcmp(red, "sum") ? 1 : !strcmp(red, "mean") ? 2 : -1;
    if (mode < 0) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "unknown reduction '%s'", red);
    const ir_attr *ia = ir_node_attr(k->node, "ignore_index");
    bool has_ii = ia != NULL;
    int64_t ii = ia ? ia->i : 0;

    ir_shape ls = {.rank = 0};
    if (mode == 0) ls = t->shape;
    FWD_TRY(red_ensure_output(k, 0, x->dtype, &ls));
    ir_tensor *lp_out = sce && k->n_out > 1 ? k->out[1] : NULL;
    if (lp_out) FWD_TRY(red_ensure_output(k, 1, x->dtype, &x->shape));

    double *wt = NULL;
    if (w) {
        if (!ir_dtype_is_float(w->dtype))
            return cpu_kernel_error(k, FWD_ERR_DTYPE, "weights must be a float tensor");
        if ((int64_t)ir_tensor_numel(w) != C)
            return cpu_kernel_error(k, FWD_ERR_SHAPE, "weights have %lld elements, expected C = %lld",
                                    (long long)ir_tensor_numel(w), (long long)C);
        wt = malloc(sizeof(double) * (size_t)(C > 0 ? C : 1));
        if (!wt) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
        for (int64_t c = 0; c < C; c++) wt[c] = cpu_get_f64(w->dtype, w->data, c);
    }
    fwd_dtype dt = x->dtype;
    ir_tensor *y = k->out[0];
    double sum_l = 0.0, sum_w = 0.0;
    for (int64_t n = 0; n < N; n++) {
        for (int64_t j = 0; j < D; j++) {
            int64_t base = n * C * D + j;
            double lse = 0.0;
            if (sce) { /* log-sum-exp over the classes */
                double m = -INFINITY;
                for (int64_t c = 0; c < C; c++) {
                    double v = cpu_get_f64(dt, x->data, base + c * D);
                    if (v > m) m = v;
                }
                double s = 0.0;
                for (int64_t c = 0; c < C; c++) s += exp(cpu_get_f64(dt, x->data, base + c * D) - m);
                lse = m + log(s);
                if (lp_out)
                    for (int64_t c = 0; c < C; c++)
                        cpu_set_f64(dt, lp_out->data, base + c * D, cpu_get_f64(dt, x->data, base + c * D) - lse);
            }
            int64_t tv = cpu_get_index(t, n * D + j);
            double l = 0.0, wv = 0.0;
            if (!(has_ii && tv == ii)) {
                if (tv < 0 || tv >= C) {
                    free(wt);
                    return cpu_kernel_error(k, FWD_ERR_RUNTIME, "target %lld out of range [0, %lld) at index %lld",
                                            (long long)tv, (long long)C, (long long)(n * D + j));
                }
                wv = wt ? wt[tv] : 1.0;
                l = -(cpu_get_f64(dt, x->data, base + tv * D) - lse) * wv;
            }
            if (mode == 0) cpu_set_f64(dt, y->data, n * D + j, l);
            sum_l += l;
            sum_w += wv;
        }
    }
    if (mode == 1) cpu_set_f64(dt, y->data, 0, sum_l);
    if (mode == 2) cpu_set_f64(dt, y->data, 0, sum_l / sum_w);
    free(wt);
    return FWD_OK;
}

fwd_status cpu_sce_loss(fwd_kernel_ctx *k) { return loss_run(k, true); }
fwd_status cpu_nll_loss(fwd_kernel_ctx *k) { return loss_run(k, false); }

/* Det: determinants of [..., M, M] by LU with partial pivoting in double. */
#include <stdlib.h>

#include "backend/cpu/reduce_common.h"

static double det_one(double *a, int64_t M)
{
    double det = 1.0;
    for (int64_t c = 0; c < M; c++) {
        int64_t piv = c;
        for (int64_t r = c + 1; r < M; r++)
            if (fabs(a[r * M + c]) > fabs(a[piv * M + c])) piv = r;
        if (a[piv * M + c] == 0.0) return 0.0;
        if (piv != c) {
            for (int64_t i = 0; i < M; i++) {
                double tmp = a[c * M + i];
                a[c * M + i] = a[piv * M + i];
                a[piv * M + i] = tmp;
            }
            det = -det;
        }
        double d = a[c * M + c];
        det *= d;
        for (int64_t r = c + 1; r < M; r++) {
            double f = a[r * M + c] / d;
            if (f == 0.0) continue;
            for (int64_t i = c + 1; i < M; i++) a[r * M + i] -= f * a[c * M + i];
        }
    }
    return det;
}

fwd_status cpu_det(fwd_kernel_ctx *k)
{
    const ir_tensor *x = k->in[0];
    if (!ir_dtype_is_float(x->dtype))
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "X must be a float tensor, got %s", fwd_dtype_name(x->dtype));
    int r = x->shape.rank;
    if (r < 2) return cpu_kernel_error(k, FWD_ERR_SHAPE, "X must have rank >= 2, got %d", r);
    int64_t M = x->shape.dims[r - 1];
    if (x->shape.dims[r - 2] != M)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "matrices must be square, got %lldx%lld",
                                (long long)x->shape.dims[r - 2], (long long)M);
    ir_shape os = {.rank = r - 2};
    int64_t B = 1;
    for (int i = 0; i < r - 2; i++) B *= (os.dims[i] = x->shape.dims[i]);
    FWD_TRY(red_ensure_output(k, 0, x->dtype, &os));
    if (B == 0) return FWD_OK;
    double *a = malloc(sizeof(double) * (size_t)(M * M > 0 ? M * M : 1));
    if (!a) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    for (int64_t b = 0; b < B; b++) {
        for (int64_t i = 0; i < M * M; i++) a[i] = cpu_get_f64(x->dtype, x->data, b * M * M + i);
        cpu_set_f64(x->dtype, k->out[0]->data, b, det_one(a, M));
    }
    free(a);
    return FWD_OK;
}

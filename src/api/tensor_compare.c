/* fwd_tensor_compare: numpy.isclose-style comparison of two tensors. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend/cpu/cpu_util.h"
#include "util/error.h"

fwd_status fwd_tensor_compare(const fwd_tensor *a, const fwd_tensor *b, double rtol, double atol,
                              fwd_compare_result *r)
{
    fwd_error_clear();
    if (!a || !b || !r) return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "fwd_tensor_compare: NULL argument");
    memset(r, 0, sizeof *r);
    if (a->dtype != b->dtype)
        return fwd_errorf(FWD_ERR_DTYPE, "dtype %s differs from the expected %s", fwd_dtype_name(a->dtype),
                          fwd_dtype_name(b->dtype));
    bool same = a->rank == b->rank;
    for (int i = 0; same && i < a->rank; i++) same = a->dims[i] == b->dims[i];
    if (!same) {
        char sa[128] = "[", sb[128] = "[";
        for (int i = 0; i < a->rank && i < FWD_MAX_DIMS; i++)
            snprintf(sa + strlen(sa), sizeof sa - strlen(sa), "%s%lld", i ? "," : "", (long long)a->dims[i]);
        for (int i = 0; i < b->rank && i < FWD_MAX_DIMS; i++)
            snprintf(sb + strlen(sb), sizeof sb - strlen(sb), "%s%lld", i ? "," : "", (long long)b->dims[i]);
        return fwd_errorf(FWD_ERR_SHAPE, "shape %s] differs from the expected %s]", sa, sb);
    }
    int64_t n = fwd_tensor_numel(a);
    size_t need = (size_t)n * fwd_dtype_size(a->dtype);
    if (n < 0 || a->size < need || b->size < need || (need && (!a->data || !b->data)))
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "tensor data smaller than its shape");
    double worst_excess = -1.0;
    r->count = n;
    for (int64_t i = 0; i < n; i++) {
        double x, y;
        if (a->dtype == FWD_INT64) { /* exact, beyond 2^53 too */
            int64_t p = ((const int64_t *)a->data)[i], q = ((const int64_t *)b->data)[i];
            x = (double)p;
            y = (double)q;
            if (p == q) {
                if (fabs(y) > r->max_abs_expected) r->max_abs_expected = fabs(y);
                continue;
            }
        } else {
            x = cpu_get_f64(a->dtype, a->data, i);
            y = cpu_get_f64(b->dtype, b->data, i);
        }
        if (isnan(x) && isnan(y)) continue;
        double d = fabs(x - y);
        if (x == y) d = 0.0; /* equal infinities */
        if (fabs(y) > r->max_abs_expected && !isinf(y)) r->max_abs_expected = fabs(y);
        if (d > r->max_abs_diff || isnan(d)) r->max_abs_diff = isnan(d) ? INFINITY : d;
        double tol = atol + rtol * fabs(y);
        double excess = isnan(d) ? INFINITY : d - tol;
        if (excess > 0) r->mismatches++;
        if (excess > worst_excess) {
            worst_excess = excess;
            r->worst_index = i;
            r->worst_actual = x;
            r->worst_expected = y;
        }
    }
    return FWD_OK;
}

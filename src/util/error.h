/* Thread-local last-error message and log dispatch (internal). */
#ifndef FWD_UTIL_ERROR_H
#define FWD_UTIL_ERROR_H

#include "fwd.h"

#if defined(__GNUC__)
#define FWD_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define FWD_PRINTF(a, b)
#endif

/* Set this thread's last error and return status, e.g.
 *   return fwd_errorf(FWD_ERR_SHAPE, "Conv %s: input X has rank %d", ...); */
fwd_status fwd_errorf(fwd_status status, const char *fmt, ...) FWD_PRINTF(2, 3);
/* Prefix the current message with context ("loading x.onnx: ...") and
 * return status unchanged. */
fwd_status fwd_error_prefix(fwd_status status, const char *fmt, ...) FWD_PRINTF(2, 3);
/* Clear this thread's last error (done on entry to public functions). */
void fwd_error_clear(void);

void fwd_log(fwd_log_level level, const char *fmt, ...) FWD_PRINTF(2, 3);

/* Propagate a non-OK status. */
#define FWD_TRY(expr)                          \
    do {                                       \
        fwd_status fwd_try_s_ = (expr);        \
        if (fwd_try_s_ != FWD_OK) return fwd_try_s_; \
    } while (0)

#endif

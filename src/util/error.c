#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>

#define FWD_ERROR_CAP 2048

static _Thread_local char tl_error[FWD_ERROR_CAP];

fwd_status fwd_errorf(fwd_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tl_error, sizeof tl_error, fmt, ap);
    va_end(ap);
    fwd_log(FWD_LOG_VERBOSE, "error %s: %s", fwd_status_name(status), tl_error);
    return status;
}

fwd_status fwd_error_prefix(fwd_status status, const char *fmt, ...)
{
    char prefix[512], old[FWD_ERROR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, tl_error, sizeof old);
    size_t n = strlen(prefix);
    memcpy(tl_error, prefix, n);
    tl_error[n] = ':';
    tl_error[n + 1] = ' ';
    size_t rest = strlen(old);
    if (n + 2 + rest >= sizeof tl_error) rest = sizeof tl_error - n - 3;
    memcpy(tl_error + n + 2, old, rest);
    tl_error[n + 2 + rest] = '\0';
    return status;
}

void fwd_error_clear(void) { tl_error[0] = '\0'; }

const char *fwd_last_error(void) { return tl_error; }

const char *fwd_status_name(fwd_status s)
{
    switch (s) {
    case FWD_OK: return "FWD_OK";
    case FWD_ERR_INVALID_ARGUMENT: return "FWD_ERR_INVALID_ARGUMENT";
    case FWD_ERR_IO: return "FWD_ERR_IO";
    case FWD_ERR_PARSE: return "FWD_ERR_PARSE";
    case FWD_ERR_INVALID_MODEL: return "FWD_ERR_INVALID_MODEL";
    case FWD_ERR_UNSUPPORTED: return "FWD_ERR_UNSUPPORTED";
    case FWD_ERR_NOT_FOUND: return "FWD_ERR_NOT_FOUND";
    case FWD_ERR_SHAPE: return "FWD_ERR_SHAPE";
    case FWD_ERR_DTYPE: return "FWD_ERR_DTYPE";
    case FWD_ERR_OUT_OF_MEMORY: return "FWD_ERR_OUT_OF_MEMORY";
    case FWD_ERR_RUNTIME: return "FWD_ERR_RUNTIME";
    case FWD_ERR_NOT_YET_SUPPORTED: return "FWD_ERR_NOT_YET_SUPPORTED";
    case FWD_ERR_INTERNAL: return "FWD_ERR_INTERNAL";
    }
    return "FWD_ERR_UNKNOWN";
}

/* ---- logging ---- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static fwd_log_fn log_fn;
static void *log_user;
static fwd_log_level log_level = FWD_LOG_WARNING;

fwd_status fwd_set_log_callback(fwd_log_fn fn, void *user_data)
{
    pthread_mutex_lock(&log_mu);
    log_fn = fn;
    log_user = user_data;
    pthread_mutex_unlock(&log_mu);
    return FWD_OK;
}

fwd_status fwd_set_log_level(fwd_log_level level)
{
    if ((int)level < FWD_LOG_ERROR || level > FWD_LOG_VERBOSE)
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "log level %d out of range 0..3", (int)level);
    pthread_mutex_lock(&log_mu);
    log_level = level;
    pthread_mutex_unlock(&log_mu);
    return FWD_OK;
}

void fwd_log(fwd_log_level level, const char *fmt, ...)
{
    pthread_mutex_lock(&log_mu);
    fwd_log_level max = log_level;
    fwd_log_fn fn = log_fn;
    void *user = log_user;
    pthread_mutex_unlock(&log_mu);
    if (level > max) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (fn) {
        fn(level, msg, user);
    } else {
        static const char *names[] = {"error", "warning", "info", "verbose"};
        fprintf(stderr, "fwd %s: %s\n", names[level], msg);
    }
}

const char *fwd_version(void) { return FWD_VERSION_STRING; }

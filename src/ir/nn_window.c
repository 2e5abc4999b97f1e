/* Sliding-window geometry for Conv, ConvTranspose and the pools. */
#include "ir/nn_window.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"

static fwd_status fail(nn_msg *msg, fwd_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static fwd_status fail(nn_msg *msg, fwd_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg->text, sizeof msg->text, fmt, ap);
    va_end(ap);
    return s;
}

/* Reads an optional ints attribute of exactly `want` entries, each >= lo,
 * into dst; leaves dst untouched when absent. */
static fwd_status read_ints(const ir_node *n, const char *name, int want, int64_t lo,
                            int64_t *dst, nn_msg *msg)
{
    int count = 0;
    const int64_t *v = ir_attr_ints(n, name, &count);
    if (!v) return FWD_OK;
    if (count != want)
        return fail(msg, FWD_ERR_INVALID_MODEL, "attribute '%s' has %d values, expected %d", name,
                    count, want);
    for (int i = 0; i < count; i++) {
        if (v[i] < lo || v[i] > ((int64_t)1 << 40))
            return fail(msg, FWD_ERR_INVALID_MODEL, "attribute '%s' value %lld out of range",
                        name, (long long)v[i]);
        dst[i] = v[i];
    }
    return FWD_OK;
}

fwd_status nn_window_init(nn_window *w, const ir_node *n, int nsp, const int64_t *kernel,
                          bool allow_ceil, nn_msg *msg)
{
    memset(w, 0, sizeof *w);
    if (nsp < 1 || nsp > IR_MAX_RANK - 2)
        return fail(msg, FWD_ERR_SHAPE, "needs 1 to %d spatial dims, input has %d",
                    IR_MAX_RANK - 2, nsp);
    w->nsp = nsp;
    for (int i = 0; i < nsp; i++) {
        w->kernel[i] = kernel ? kernel[i] : -1;
        w->stride[i] = 1;
        w->dilation[i] = 1;
        w->in[i] = w->out[i] = -1;
    }
    int count = 0;
    const int64_t *ks = ir_attr_ints(n, "kernel_shape", &count);
    if (ks) {
        if (count != nsp)
            return fail(msg, FWD_ERR_INVALID_MODEL,
                        "attribute 'kernel_shape' has %d values, expected %d", count, nsp);
        for (int i = 0; i < nsp; i++) {
            if (ks[i] < 1 || ks[i] > ((int64_t)1 << 30))
                return fail(msg, FWD_ERR_INVALID_MODEL, "kernel_shape value %lld out of range",
                            (long long)ks[i]);
            if (w->kernel[i] >= 0 && w->kernel[i] != ks[i])
                return fail(msg, FWD_ERR_SHAPE,
                            "kernel_shape[%d] = %lld does not match the weight's %lld", i,
                            (long long)ks[i], (long long)w->kernel[i]);
            w->kernel[i] = ks[i];
        }
    } else if (!kernel) {
        return fail(msg, FWD_ERR_INVALID_MODEL, "attribute 'kernel_shape' is required");
    }
    for (int i = 0; i < nsp; i++)
        if (w->kernel[i] == 0) return fail(msg, FWD_ERR_SHAPE, "kernel size 0 in dim %d", i);
    FWD_TRY(read_ints(n, "strides", nsp, 1, w->stride, msg));
    FWD_TRY(read_ints(n, "dilations", nsp, 1, w->dilation, msg));
    int64_t pads[2 * IR_MAX_RANK] = {0};
    FWD_TRY(read_ints(n, "pads", 2 * nsp, 0, pads, msg));
    for (int i = 0; i < nsp; i++) {
        w->pad_begin[i] = pads[i];
        w->pad_end[i] = pads[nsp + i];
    }
    const char *ap = ir_attr_string(n, "auto_pad", "NOTSET");
    if (!ap || !*ap || !strcmp(ap, "NOTSET")) w->auto_pad = NN_PAD_NOTSET;
    else if (!strcmp(ap, "SAME_UPPER")) w->auto_pad = NN_PAD_SAME_UPPER;
    else if (!strcmp(ap, "SAME_LOWER")) w->auto_pad = NN_PAD_SAME_LOWER;
    else if (!strcmp(ap, "VALID")) w->auto_pad = NN_PAD_VALID;
    else return fail(msg, FWD_ERR_INVALID_MODEL, "unknown auto_pad '%s'", ap);
    if (allow_ceil) {
        int64_t c = ir_attr_int(n, "ceil_mode", 0);
        if (c != 0 && c != 1)
            return fail(msg, FWD_ERR_INVALID_MODEL, "ceil_mode must be 0 or 1, got %lld",
                        (long long)c);
        w->ceil_mode = c != 0;
    }
    return FWD_OK;
}

fwd_status nn_window_forward(nn_window *w, const int64_t *in, nn_msg *msg)
{
    for (int i = 0; i < w->nsp; i++) {
        w->in[i] = in[i];
        w->out[i] = -1;
        if (in[i] < 0 || w->kernel[i] < 0) continue;
        int64_t s = w->stride[i], ext = nn_window_extent(w, i);
        if (w->auto_pad == NN_PAD_SAME_UPPER || w->auto_pad == NN_PAD_SAME_LOWER) {
            int64_t out = (in[i] + s - 1) / s;
            int64_t total = (out - 1) * s + ext - in[i];
            if (total < 0) total = 0;
            int64_t small = total / 2;
            w->pad_begin[i] = w->auto_pad == NN_PAD_SAME_UPPER ? small : total - small;
            w->pad_end[i] = total - w->pad_begin[i];
            w->out[i] = out;
            continue;
        }
        if (w->auto_pad == NN_PAD_VALID) w->pad_begin[i] = w->pad_end[i] = 0;
        int64_t span = in[i] + w->pad_begin[i] + w->pad_end[i] - ext;
        if (span < 0)
            return fail(msg, FWD_ERR_SHAPE,
                        "kernel extent %lld exceeds the padded input size %lld in spatial dim %d",
                        (long long)ext, (long long)(in[i] + w->pad_begin[i] + w->pad_end[i]), i);
        int64_t out = (w->ceil_mode ? (span + s - 1) / s : span / s) + 1;
        /* ceil mode: the last window must start inside the input or the
         * leading pad (PyTorch's rule, which exported models rely on). */
        if (w->ceil_mode && (out - 1) * s >= in[i] + w->pad_begin[i]) out--;
        w->out[i] = out;
    }
    return FWD_OK;
}

fwd_status nn_window_transpose(nn_window *w, const ir_node *n, const int64_t *in, nn_msg *msg)
{
    int nsp = w->nsp;
    int64_t opad[IR_MAX_RANK] = {0};
    FWD_TRY(read_ints(n, "output_padding", nsp, 0, opad, msg));
    int count = 0;
    const int64_t *oshape = ir_attr_ints(n, "output_shape", &count);
    if (oshape && count != nsp && count != nsp + 2)
        return fail(msg, FWD_ERR_INVALID_MODEL, "attribute 'output_shape' has %d values, expected %d",
                    count, nsp);
    if (oshape && count == nsp + 2) oshape += 2; /* full shape given */
    for (int i = 0; i < nsp; i++) {
        if (opad[i] >= w->stride[i] && opad[i] >= w->dilation[i])
            return fail(msg, FWD_ERR_INVALID_MODEL,
                        "output_padding %lld must be smaller than the stride or dilation",
                        (long long)opad[i]);
        w->in[i] = in[i];
        w->out[i] = -1;
        if (in[i] < 0 || w->kernel[i] < 0) continue;
        int64_t s = w->stride[i];
        int64_t full = s * (in[i] - 1) + opad[i] + nn_window_extent(w, i);
        if (in[i] == 0) full = 0;
        int64_t out;
        if (oshape) {
            out = oshape[i];
            if (out < 0)
                return fail(msg, FWD_ERR_INVALID_MODEL, "output_shape value %lld is negative",
                            (long long)out);
        } else if (w->auto_pad == NN_PAD_SAME_UPPER || w->auto_pad == NN_PAD_SAME_LOWER) {
            out = in[i] * s;
        } else {
            if (w->auto_pad == NN_PAD_VALID) w->pad_begin[i] = w->pad_end[i] = 0;
            out = full - w->pad_begin[i] - w->pad_end[i];
            if (out < 0)
                return fail(msg, FWD_ERR_SHAPE, "pads exceed the output size in spatial dim %d", i);
            w->out[i] = out;
            continue;
        }
        /* The pads follow from the wanted size; a negative total extends
         * the output with zeros. Python-style floor halving. */
        int64_t total = full - out;
        int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
        if (w->auto_pad == NN_PAD_SAME_UPPER) {
            w->pad_begin[i] = half;
            w->pad_end[i] = total - half;
        } else {
            w->pad_begin[i] = total - half;
            w->pad_end[i] = half;
        }
        w->out[i] = out;
    }
    return FWD_OK;
}

/*
 * Sliding-window geometry shared by the shape inference and the CPU
 * kernels of Conv, ConvTranspose, the pools and MaxUnpool: reads
 * kernel_shape / strides / dilations / pads / auto_pad / ceil_mode from a
 * node, validates them and computes output sizes and effective pads.
 *
 * Functions return FWD_OK or an error status with a message (without the
 * node name; callers prefix it) in msg.
 */
#ifndef FWD_IR_NN_WINDOW_H
#define FWD_IR_NN_WINDOW_H

#include "ir/ir.h"

typedef enum nn_auto_pad {
    NN_PAD_NOTSET = 0,
    NN_PAD_SAME_UPPER,
    NN_PAD_SAME_LOWER,
    NN_PAD_VALID
} nn_auto_pad;

typedef struct nn_window {
    int nsp;                          /* number of spatial dims */
    nn_auto_pad auto_pad;
    bool ceil_mode;
    int64_t kernel[IR_MAX_RANK];      /* < 0: unknown (static inference) */
    int64_t stride[IR_MAX_RANK];
    int64_t dilation[IR_MAX_RANK];
    int64_t pad_begin[IR_MAX_RANK];   /* explicit pads, or resolved ones */
    int64_t pad_end[IR_MAX_RANK];
    int64_t in[IR_MAX_RANK];          /* input spatial sizes; < 0 unknown */
    int64_t out[IR_MAX_RANK];         /* output spatial sizes; -1 unknown */
} nn_window;

typedef struct nn_msg {
    char text[256];
} nn_msg;

/*
 * Read the window attributes of node n for nsp spatial dims.
 * kernel: the kernel sizes taken from a weight tensor (Conv), or NULL for
 * the pools (then kernel_shape is required). Unknown entries (< 0) are
 * allowed. allow_ceil: whether ceil_mode is read.
 */
fwd_status nn_window_init(nn_window *w, const ir_node *n, int nsp, const int64_t *kernel,
                          bool allow_ceil, nn_msg *msg);

/* Forward window (Conv, pools): output sizes from input sizes in[] (may
 * hold unknown entries, giving unknown outputs). */
fwd_status nn_window_forward(nn_window *w, const int64_t *in, nn_msg *msg);

/* ConvTranspose: output sizes and pads from input sizes, output_padding
 * and output_shape attributes of n. */
fwd_status nn_window_transpose(nn_window *w, const ir_node *n, const int64_t *in, nn_msg *msg);

/* Effective kernel extent (k-1)*d+1 of dim i. */
static inline int64_t nn_window_extent(const nn_window *w, int i)
{
    return (w->kernel[i] - 1) * w->dilation[i] + 1;
}

#endif

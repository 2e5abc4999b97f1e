/* Helpers shared by the control-flow kernels (control.c, control_scan.c). */
#ifndef FWD_BACKEND_CPU_CONTROL_INTERNAL_H
#define FWD_BACKEND_CPU_CONTROL_INTERNAL_H

#include "backend/cpu/cpu_kernels.h"

/* The graph attribute `name` of the node, or NULL. */
const ir_graph *ctl_graph_attr(const fwd_kernel_ctx *k, const char *name);
/* Bytes of a dense tensor of t's dtype and shape. */
size_t ctl_tensor_bytes(const ir_tensor *t);
/* Allocate output idx (when wanted) as a copy of src. */
fwd_status ctl_emit_output(fwd_kernel_ctx *k, int idx, const ir_tensor *src);

/* The Scan kernel (opset 9+ form, and Scan-8 with its batch axis). */
fwd_status ctl_run_scan(fwd_kernel_ctx *k);

#endif

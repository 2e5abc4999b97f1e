/*
 * CPU kernels, one file per op family (elementwise.c, tensor.c, ...), each
 * exporting a table that ends with {NULL}; cpu_backend.c joins them.
 */
#ifndef FWD_BACKEND_CPU_KERNELS_H
#define FWD_BACKEND_CPU_KERNELS_H

#include "backend/backend.h"
#include "util/error.h"

typedef fwd_status (*cpu_kernel_fn)(fwd_kernel_ctx *k);

typedef struct cpu_kernel_entry {
    const char *op_type;
    cpu_kernel_fn run;
} cpu_kernel_entry;

const cpu_kernel_entry *cpu_kernel_find(const char *op_type);

/* Error naming the node: "<Op> '<name>': <message>". */
fwd_status cpu_kernel_error(const fwd_kernel_ctx *k, fwd_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

extern const cpu_kernel_entry cpu_kernels_elementwise[];
extern const cpu_kernel_entry cpu_kernels_tensor[];
extern const cpu_kernel_entry cpu_kernels_reduce[];
extern const cpu_kernel_entry cpu_kernels_nn[];
extern const cpu_kernel_entry cpu_kernels_control[];
extern const cpu_kernel_entry cpu_kernels_rnn[];
extern const cpu_kernel_entry cpu_kernels_signal[];
extern const cpu_kernel_entry cpu_kernels_fused_linear[];
extern const cpu_kernel_entry cpu_kernels_fused_nlp[];

#endif

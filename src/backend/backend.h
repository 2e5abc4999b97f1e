/*
 * The backend interface: what the engine needs from a device. The CPU
 * backend implements it now; the CUDA backend fits the same struct.
 */
#ifndef FWD_BACKEND_BACKEND_H
#define FWD_BACKEND_BACKEND_H

#include "ir/ir.h"

struct fwd_kernel_ctx;

typedef struct fwd_backend {
    const char *name;
    fwd_device device;
    /* Whether a kernel exists for this node with these input dtypes. */
    bool (*supports_node)(const ir_node *node, const fwd_dtype *in_dtypes, int n_in);
    /* Run one node (see fwd_kernel_ctx). */
    fwd_status (*run_node)(struct fwd_kernel_ctx *k);
    void *(*alloc)(size_t bytes);
    void (*free)(void *p);
    /* Backend-specific build step on the final graph (e.g. packing
     * constant weights into the kernels' layouts); may be NULL. */
    fwd_status (*prepare_graph)(ir_graph *g, int *n_changed);
    /* Copy between host and this device (dir: 0 host->dev, 1 dev->host,
     * 2 dev->dev). */
    fwd_status (*copy)(void *dst, const void *src, size_t bytes, int dir);
    /* Whether node n (of the final graph) may write its first output over
     * the bytes of its input `input` when that input dies at n: its
     * kernel reads each element of that input before it writes the
     * output element at the same index, on the same thread (a residual
     * added in a GEMM epilogue). The memory planner asks only about
     * inputs of the output's size and dtype; NULL: never. */
    bool (*output_over_input)(const ir_graph *g, const ir_node *n, int input);
} fwd_backend;

/*
 * What a kernel sees when it runs one node.
 *  - in[i]: inputs (NULL for absent optional ones), with data.
 *  - out[i]: outputs (NULL for absent optional ones). When the output shape
 *    was inferred before the run, dtype/shape are set and data is
 *    allocated. Otherwise (data-dependent ops) data is NULL and the kernel
 *    calls fwd_kernel_alloc_output once it knows the shape.
 *  - run_graph: runs a subgraph (If/Loop/Scan bodies) in the current scope;
 *    the caller names the subgraph's inputs by position and receives its
 *    outputs as newly allocated tensors it must free with free_tensor.
 */
typedef struct fwd_kernel_ctx {
    const ir_node *node;
    int n_in;
    const ir_tensor *const *in;
    int n_out;
    ir_tensor *const *out;
    void *scope; /* opaque: the executing frame */
    void *impl;  /* opaque: the executor's state for this call (the
                    callbacks below use it, so a kernel may pass a copy
                    of this struct with other tensors) */
    fwd_status (*run_graph)(struct fwd_kernel_ctx *k, const ir_graph *g,
                            const ir_tensor *const *inputs, int n_inputs,
                            ir_tensor *outputs, int n_outputs);
    void (*free_tensor)(struct fwd_kernel_ctx *k, ir_tensor *t);
    fwd_status (*alloc_output)(struct fwd_kernel_ctx *k, int index, fwd_dtype dtype,
                               const ir_shape *shape);
    /* Scratch memory for this call, 64-byte aligned, valid until the
     * kernel returns; NULL when out of memory. It comes from the context's
     * workspace, sized at build time from what the kernels asked for in
     * trial runs, so a run allocates nothing; ask once per call (for all
     * threads) rather than per thread or per tile. */
    void *(*scratch)(struct fwd_kernel_ctx *k, size_t bytes);
} fwd_kernel_ctx;

/* Scratch memory for the running kernel (see fwd_kernel_ctx.scratch). */
static inline void *fwd_kernel_scratch(fwd_kernel_ctx *k, size_t bytes)
{
    return k->scratch(k, bytes);
}

/* Allocate output index with the given dtype and (fully known) shape. */
static inline fwd_status fwd_kernel_alloc_output(fwd_kernel_ctx *k, int index,
                                                 fwd_dtype dtype, const ir_shape *shape)
{
    return k->alloc_output(k, index, dtype, shape);
}

extern const fwd_backend fwd_backend_cpu;

#endif

/* Private helpers and kernel entry points of the tensor op family
 * (tensor.c holds the table; tensor_*.c the kernels). */
#ifndef FWD_BACKEND_CPU_TENSOR_INTERNAL_H
#define FWD_BACKEND_CPU_TENSOR_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/cpu_util.h"

/* Room for views with twice the IR rank (Tile, DepthToSpace). */
#define TNS_MAX_VIEW (2 * IR_MAX_RANK)

static inline const ir_tensor *tns_in(const fwd_kernel_ctx *k, int i)
{
    return i < k->n_in ? k->in[i] : NULL;
}

/* Output i with this dtype and shape: allocates it when the runtime did
 * not, checks it otherwise. *out is NULL for an unwanted output. */
fwd_status tns_output(fwd_kernel_ctx *k, int i, fwd_dtype dt, const ir_shape *s, ir_tensor **out);

/* Allocate the outputs the runtime left unallocated but whose inferred
 * shape is known (a fallback: the runtime normally does it). */
fwd_status tns_prepare(fwd_kernel_ctx *k);

/* n copies of one element of es bytes. */
void tns_fill(void *dst, int64_t n, const void *elem, size_t es);

/* dst (dense, row-major over dims) = src read through element strides
 * src_strides (may be negative or 0). Runs of contiguous source are
 * memcpy'd, transposes are tiled, large copies run in parallel. */
void tns_copy_strided(void *dst, const void *src, size_t esize, int rank, const int64_t *dims,
                      const int64_t *src_strides);

/* memcpy split over threads when large. */
void tns_memcpy(void *dst, const void *src, size_t bytes);

/* Integer values of an int32/int64 input (n elements) into vals. */
static inline void tns_read_ints(const ir_tensor *t, int64_t *vals, int64_t n)
{
    for (int64_t i = 0; i < n; i++) vals[i] = cpu_get_index(t, i);
}

/* Clamped slice start and length of one axis (shared with inference). */
void tns_slice_axis(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *ostart, int64_t *olen);

/* tensor_shape.c */
fwd_status tns_shape(fwd_kernel_ctx *k);
fwd_status tns_size(fwd_kernel_ctx *k);
fwd_status tns_constant_of_shape(fwd_kernel_ctx *k);
fwd_status tns_reshape(fwd_kernel_ctx *k);
fwd_status tns_transpose(fwd_kernel_ctx *k);
fwd_status tns_concat(fwd_kernel_ctx *k);
fwd_status tns_split(fwd_kernel_ctx *k);
fwd_status tns_slice(fwd_kernel_ctx *k);
fwd_status tns_expand(fwd_kernel_ctx *k);
fwd_status tns_tile(fwd_kernel_ctx *k);
fwd_status tns_depth_to_space(fwd_kernel_ctx *k);
fwd_status tns_space_to_depth(fwd_kernel_ctx *k);
fwd_status tns_trilu(fwd_kernel_ctx *k);
fwd_status tns_eyelike(fwd_kernel_ctx *k);
fwd_status tns_range(fwd_kernel_ctx *k);
/* tensor_pad.c */
fwd_status tns_pad(fwd_kernel_ctx *k);
/* tensor_gather.c */
fwd_status tns_gather(fwd_kernel_ctx *k);
fwd_status tns_gather_elements(fwd_kernel_ctx *k);
fwd_status tns_gather_nd(fwd_kernel_ctx *k);
fwd_status tns_scatter_elements(fwd_kernel_ctx *k);
fwd_status tns_scatter_nd(fwd_kernel_ctx *k);
fwd_status tns_onehot(fwd_kernel_ctx *k);
fwd_status tns_nonzero(fwd_kernel_ctx *k);
fwd_status tns_compress(fwd_kernel_ctx *k);
fwd_status tns_reverse_sequence(fwd_kernel_ctx *k);
/* tensor_sort.c */
fwd_status tns_topk(fwd_kernel_ctx *k);
fwd_status tns_argmax(fwd_kernel_ctx *k);
fwd_status tns_argmin(fwd_kernel_ctx *k);
fwd_status tns_unique(fwd_kernel_ctx *k);
fwd_status tns_cumsum(fwd_kernel_ctx *k);
/* tensor_resize.c */
fwd_status tns_resize(fwd_kernel_ctx *k);
fwd_status tns_grid_sample(fwd_kernel_ctx *k);

#endif

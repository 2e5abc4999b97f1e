/*
 * Build-time weight packing for the CPU backend.
 *
 * cpu_prepack_weights rewrites every FusedMatMul whose B is a float32
 * constant matrix so that B is stored already packed in the GEMM's panel
 * layout (sgemm.h): the node gets the attribute "fwd.packed_n" = N and its
 * input B becomes a new constant of shape [ceil(N / 16), K, 16] (transB is
 * folded into the packing). Packing then costs nothing per run, and the
 * engine stays immutable, so contexts on many threads share the packed
 * weights (and engine files store them like any constant).
 *
 * Likewise every FusedConv with group 1 and a float32 constant W [M, C,
 * k...] gets W packed as the GEMM's A operand (sgemm.h, nn_pack_a): a
 * constant [ceil(M / R), C * k..., R] for the R tile rows of this CPU,
 * with the attributes "fwd.packed_w" = R and "fwd.w_shape" = W's shape.
 * A kernel whose tile rows differ (an engine file from another CPU)
 * unpacks it per run.
 *
 * For the builder, after the passes (the graph's final form) and for the
 * CPU device only; the layer list does not change.
 */
#ifndef FWD_BACKEND_CPU_PREPACK_H
#define FWD_BACKEND_CPU_PREPACK_H

#include "ir/ir.h"

/* The attribute that marks a packed B, holding N. */
#define CPU_PACKED_N_ATTR "fwd.packed_n"
/* The attributes of a packed FusedConv weight: tile rows, W's shape. */
#define CPU_PACKED_W_ATTR "fwd.packed_w"
#define CPU_W_SHAPE_ATTR "fwd.w_shape"

fwd_status cpu_prepack_weights(ir_graph *g, int *n_changed);

#endif

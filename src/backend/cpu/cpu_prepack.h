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
 * For the builder, after the passes (the graph's final form) and for the
 * CPU device only; the layer list does not change.
 */
#ifndef FWD_BACKEND_CPU_PREPACK_H
#define FWD_BACKEND_CPU_PREPACK_H

#include "ir/ir.h"

/* The attribute that marks a packed B, holding N. */
#define CPU_PACKED_N_ATTR "fwd.packed_n"

fwd_status cpu_prepack_weights(ir_graph *g, int *n_changed);

#endif

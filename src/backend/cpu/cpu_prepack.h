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
 * Likewise every Conv and FusedConv with group 1 and a float32 constant
 * W [M, C, k...] whose M is a multiple of the R tile rows of this CPU's
 * GEMM kernel gets W packed as the GEMM's A operand (sgemm.h, nn_pack_a):
 * a new constant of W's own shape and size holding the packed layout,
 * and the attribute "fwd.packed_w" = R (shape inference is unchanged). A
 * kernel whose tile rows differ (an engine file from another CPU)
 * unpacks it per run. When the output's pixels are statically known and
 * few (7x7), W^T is packed into B panels instead ("fwd.packed_wt", for
 * nn_conv_transposed), if M is also a multiple of 16.
 *
 * FusedConvs that are 3x3, stride 1, dilation 1, group 1 with M a
 * multiple of the tile rows and a static output size get
 * Winograd-transformed weights instead where that measured faster:
 * F(4x4) (CPU_WINOGRAD4_ATTR) for 16 or more 4x4 output tiles, F(2x2)
 * (CPU_WINOGRAD_ATTR) for 36 or more 2x2 tiles; the choice is in the
 * engine file with the weights. FWD_WINOGRAD=0/2/4 in the environment
 * forces direct / F(2x2) / F(4x4) wherever they apply (for benchmarks and
 * tests).
 *
 * For the builder, after the passes (the graph's final form) and for the
 * CPU device only; the layer list does not change.
 */
#ifndef FWD_BACKEND_CPU_PREPACK_H
#define FWD_BACKEND_CPU_PREPACK_H

#include "ir/ir.h"

/* The attribute that marks a packed B, holding N. */
#define CPU_PACKED_N_ATTR "fwd.packed_n"
/* The attribute of a packed Conv/FusedConv weight: its tile rows. */
#define CPU_PACKED_W_ATTR "fwd.packed_w"
/* The attribute of a Conv/FusedConv weight stored transposed in the
 * GEMM's B panels (W^T, [ceil(M / 16)][C * k...][16], W's own size since
 * M is a multiple of 16): its panel width, 16. Chosen for outputs with few
 * pixels (nn_conv_transposed). */
#define CPU_PACKED_WT_ATTR "fwd.packed_wt"
/* A FusedConv computed by Winograd F(2x2, 3x3): "fwd.winograd" = the tile
 * rows its weight is packed for, the weight input holds the transformed
 * weights [16, M, C] (each [M, C] packed as the GEMM's A), and
 * "fwd.w_shape" keeps the original weight shape for shape inference. */
#define CPU_WINOGRAD_ATTR "fwd.winograd"
#define CPU_W_SHAPE_ATTR "fwd.w_shape"
/* A FusedConv computed by Winograd F(4x4, 3x3): "fwd.winograd4" = the
 * tile rows its weight is packed for, the weight input holds [36, M, C]
 * (each [M, C] packed as the GEMM's A), "fwd.w_shape" as above. */
#define CPU_WINOGRAD4_ATTR "fwd.winograd4"

/* A strided Conv/FusedConv computed on stride-phase planes (conv_phase.c)
 * = the tile rows its weight is packed for; the weight keeps W's shape
 * and size and holds, per tap (kh, kw), the [M][C] matrix packed as the
 * GEMM's A (CPU_PHASE_TAPS_ATTR), or [M][KH*KW*C] with K ordered
 * (kh, kw, c) packed as one A (CPU_PHASE_GATHER_ATTR, for few input
 * channels). Chosen for 2-D group-1 convs with a stride above 1 and a
 * kernel larger than 1x1, when FWD_CONV_PHASE=1 in the environment (it
 * measured no faster than im2col here yet: cpu_prepack.c). */
#define CPU_PHASE_TAPS_ATTR "fwd.phase_taps"
#define CPU_PHASE_GATHER_ATTR "fwd.phase_gather"

fwd_status cpu_prepack_weights(ir_graph *g, int *n_changed);

/* Whether node n may write its output over its input `input` (the
 * backend's output_over_input; cpu_inplace.c). */
bool cpu_output_over_input(const ir_graph *g, const ir_node *n, int input);

#endif

/*
 * Ops that exist only inside Forward: the passes make them, the backends
 * run them. Their names never clash with ONNX op names, and importers never
 * produce them. Every fused node carries the string attribute "fwd.fused"
 * (PASS_FUSED_ATTR) listing the source ops it replaced.
 *
 * FusedConv(X, W, B?, Z?) -> Y
 *   Y = act(Conv(X, W) + B + Z): Conv's attributes (auto_pad, dilations,
 *   group, kernel_shape, pads, strides) and semantics; B the per-channel
 *   bias [M] (optional); Z a tensor of Y's shape added before the activation
 *   (a residual branch; optional).
 *
 * FusedMatMul(A, B, C?) -> Y
 *   Y = act(alpha * op(A) @ op(B) + C): numpy-style batched matmul like
 *   MatMul; op() transposes the last two dims when transA / transB is 1
 *   (both 0 by default); alpha (float, default 1); C (optional) broadcast
 *   onto Y (a bias [N] or Gemm's C).
 *
 * The activation, for both: attribute "activation" (string): "" (none),
 *   "Relu", "Clip" (activation_alpha = min, activation_beta = max),
 *   "LeakyRelu" (activation_alpha = slope), "Sigmoid", "SiLU" (x*sigmoid(x)),
 *   "Gelu" (erf form), "GeluTanh" (tanh form), "HardSwish", "Tanh".
 *
 * Gelu(X) -> Y
 *   ONNX opset 20's Gelu: attribute approximate = "none" (default) or "tanh".
 *
 * FusedAttention(Q, K, V, Mask?) -> Y
 *   Q [B, H, S, D], K [B, H, S_kv, D] (or [B, H, D, S_kv] when attribute
 *   k_transposed = 1), V [B, H, S_kv, Dv];
 *   Y = softmax(scale * Q @ K^T + Mask) @ V, shape [B, H, S, Dv]; softmax
 *   over the last axis in float32; scale (float attribute); Mask (optional)
 *   broadcastable to [B, H, S, S_kv] and added as is.
 */
#ifndef FWD_IR_FUSED_OPS_H
#define FWD_IR_FUSED_OPS_H

#include "ir/op_schema.h"

extern const ir_op_schema ir_schemas_fused_linear[]; /* FusedConv, FusedMatMul */
extern const ir_op_schema ir_schemas_fused_nlp[];    /* Gelu, FusedAttention */

#endif

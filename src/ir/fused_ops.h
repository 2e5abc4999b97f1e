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
 * FusedMatMul(A, B, C?, Z?) -> Y
 *   Y = act(alpha * op(A) @ op(B) + C + Z): numpy-style batched matmul like
 *   MatMul; op() transposes the last two dims when transA / transB is 1
 *   (both 0 by default); alpha (float, default 1); C (optional) broadcast
 *   onto Y (a bias [N] or Gemm's C); Z (optional) a tensor of Y's shape
 *   added before the activation (a residual branch, as FusedConv's Z).
 *   FusedMatMul(A, B, C?, Z?, Scale, Bias?) -> Y adds a
 *   LayerNormalization over Y's last axis after the activation:
 *   Y = LayerNorm(act(...), Scale, Bias) with epsilon = attribute
 *   norm_epsilon (default 1e-5), statistics in float32; Scale and Bias
 *   (optional) hold Y's last dim's elements.
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
 *   Sequence-major form, when attribute num_heads = H >= 1: the heads are
 *   column ranges of [B, S, width] rows, as a projection writes them, so
 *   no Split/Reshape/Transpose copies are needed. Q [B, S, Wq],
 *   K [B, S_kv, Wk], V [B, S_kv, Wv] (rank 3, the same B); head_dim = D,
 *   v_head_dim = Dv (default D); offsets = [oq, ok, ov] (default zeros):
 *   head h of Q is columns [oq + h*D, oq + (h+1)*D) of Q's rows, of K
 *   [ok + h*D, ...), of V [ov + h*Dv, ...), each inside its width. One
 *   packed QKV projection X [B, S, 3*H*D] is passed as Q = K = V = X with
 *   offsets [0, H*D, 2*H*D]. k_transposed must be 0. Y [B, S, H*Dv], head
 *   h in columns [h*Dv, (h+1)*Dv). The Mask broadcasts onto [B, H, S, S_kv]
 *   as in the other form.
 */
#ifndef FWD_IR_FUSED_OPS_H
#define FWD_IR_FUSED_OPS_H

#include "ir/op_schema.h"

extern const ir_op_schema ir_schemas_fused_linear[]; /* FusedConv, FusedMatMul */
extern const ir_op_schema ir_schemas_fused_nlp[];    /* Gelu, FusedAttention */

#endif

/*
 * Graph passes: each a function from graph to graph (in place), one per
 * file. Passes know nothing of backends; evaluation for constant folding
 * comes in as a callback.
 */
#ifndef FWD_PASSES_PASSES_H
#define FWD_PASSES_PASSES_H

#include "ir/ir.h"

/* Evaluate one node on constant inputs; out[j] receive malloc'ed data
 * (freed by the pass with free_fn). */
typedef struct pass_evaluator {
    fwd_status (*eval)(void *user, ir_model *m, const ir_node *n, const ir_tensor *const *in,
                       ir_tensor *out);
    void (*free_fn)(void *user, void *data);
    void *user;
} pass_evaluator;

/* What every pass may use: the evaluator (for folding), the backend query
 * "is there a kernel for this (fused) op computing in this dtype", and the
 * infer mode. */
typedef struct pass_ctx {
    const pass_evaluator *ev;
    bool (*has_kernel)(void *user, const char *op_type, fwd_dtype dtype);
    void *user;
    int mode; /* fwd_mode of the build (engine/engine.h) */
} pass_ctx;

/* Name of the string attribute a fusing pass puts on the node it makes,
 * listing the source ops it absorbed ("Conv+BatchNormalization+Relu"). */
#define PASS_FUSED_ATTR "fwd.fused"

/* Replace nodes whose inputs are all constants by their results, and
 * Shape/Size nodes whose input shape is statically known by constants;
 * repeats shape inference and folding until nothing changes, so the
 * Shape->Gather->Concat->Reshape chains of exporters collapse.
 * *n_folded (may be NULL) counts the nodes removed. */
fwd_status pass_fold_constants(ir_graph *g, const pass_evaluator *ev, int *n_folded);
/* Results larger than this stay computed at run time rather than being
 * stored in the engine (e.g. a ConstantOfShape making a big mask); the
 * builder's evaluator refuses to make larger outputs at all, so they are
 * not even computed. */
#define PASS_FOLD_MAX_BYTES ((size_t)64 << 20)

/* Remove nodes none of whose outputs are used (by a node, a subgraph or
 * as a graph output). */
fwd_status pass_remove_dead_nodes(ir_graph *g, int *n_removed);

/* The optimizing passes, run in this order by the builder (each leaves the
 * graph valid and topologically sorted; *n_changed counts rewrites). */
fwd_status pass_eliminate_identity(ir_graph *g, const pass_ctx *c, int *n_changed);
fwd_status pass_fold_conv_bn(ir_graph *g, const pass_ctx *c, int *n_changed);
fwd_status pass_fuse_layernorm(ir_graph *g, const pass_ctx *c, int *n_changed);
fwd_status pass_fuse_gelu(ir_graph *g, const pass_ctx *c, int *n_changed);
fwd_status pass_fuse_attention(ir_graph *g, const pass_ctx *c, int *n_changed);
fwd_status pass_fuse_bias_activation(ir_graph *g, const pass_ctx *c, int *n_changed);
fwd_status pass_fuse_matmul_layernorm(ir_graph *g, const pass_ctx *c, int *n_changed);
fwd_status pass_eliminate_transpose_reshape(ir_graph *g, const pass_ctx *c, int *n_changed);
fwd_status pass_assign_float16(ir_graph *g, const pass_ctx *c, int *n_changed);

#endif

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

/* Replace nodes whose inputs are all constants by their results, and
 * Shape/Size nodes whose input shape is statically known by constants;
 * repeats shape inference and folding until nothing changes, so the
 * Shape->Gather->Concat->Reshape chains of exporters collapse.
 * *n_folded (may be NULL) counts the nodes removed. */
fwd_status pass_fold_constants(ir_graph *g, const pass_evaluator *ev, int *n_folded);

/* Remove nodes none of whose outputs are used (by a node, a subgraph or
 * as a graph output). */
fwd_status pass_remove_dead_nodes(ir_graph *g, int *n_removed);

#endif

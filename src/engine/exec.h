/*
 * Graph execution: runs a graph's nodes in order on a backend, inferring
 * each node's output shapes from its concrete inputs, allocating outputs
 * and freeing every intermediate after its last use. Subgraphs (If, Loop,
 * Scan bodies) run through the same path with a frame chain, so outer-scope
 * values resolve by name.
 */
#ifndef FWD_ENGINE_EXEC_H
#define FWD_ENGINE_EXEC_H

#include "backend/backend.h"
#include "ir/ir.h"

/* Per-graph facts computed once at build time. */
typedef struct exec_plan {
    const ir_graph *g;
    int *last_use; /* per value: index of the last node reading it; n_nodes
                      for graph outputs (kept), -1 when unread */
} exec_plan;

typedef struct exec_plans {
    exec_plan *items;
    int n, cap;
} exec_plans;

fwd_status exec_plans_build(const ir_graph *g, exec_plans *plans);
void exec_plans_free(exec_plans *plans);

struct mem_plan;

/* Per-context storage for the main graph's frame, so a run allocates
 * nothing of its own (sized for the main graph's values). */
typedef struct exec_scratch {
    int n_values;
    ir_tensor *vals;
    bool *owned;
    bool *ready;
} exec_scratch;

fwd_status exec_scratch_init(exec_scratch *s, const ir_graph *g);
void exec_scratch_free(exec_scratch *s);

typedef struct exec_env {
    const fwd_backend *backend;
    const exec_plans *plans;
    /* For the main graph only (frames without a parent): */
    const struct mem_plan *mem; /* where planned values live in arena */
    void *arena;
    exec_scratch *scratch;      /* frame storage; NULL: allocate */
    int64_t *record_sizes;      /* trial runs: max bytes seen per value */
    void *workspace;            /* kernels' scratch (any frame) */
    size_t workspace_bytes;
    size_t *record_scratch;     /* trial runs: max scratch one node used */
    double *layer_us;           /* profiling: microseconds per node */
    size_t max_output_bytes;    /* > 0: a node output beyond it fails
                                   (constant folding's evaluations) */
} exec_env;

/*
 * Run graph g. inputs[i] binds g->inputs[i]. outputs[i] receives
 * g->outputs[i]. With out_owned NULL, every output's data is allocated by
 * the backend and the caller owns it (frees it with env->backend->free);
 * otherwise out_owned[i] says so per output, and outputs that are not owned
 * live in env->arena. parent is the enclosing frame (NULL for the main
 * graph).
 */
struct exec_frame;
fwd_status exec_graph(const exec_env *env, struct exec_frame *parent, const ir_graph *g,
                      const ir_tensor *const *inputs, int n_inputs, ir_tensor *outputs,
                      bool *out_owned);

/* Ops whose output is a view of input 0's bytes (a planned alias skips
 * the kernel). */
bool exec_is_view_op(const char *op_type);

/* Run one node on inputs (constant folding). Outputs are allocated as in
 * exec_graph; n_out must equal node->n_outputs (absent outputs get no data). */
fwd_status exec_node_once(const exec_env *env, ir_model *model, const ir_node *node,
                          const ir_tensor *const *inputs, int n_in, ir_tensor *outputs);

#endif

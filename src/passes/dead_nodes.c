/* Dead node removal. */
#include <stdlib.h>

#include "passes/passes.h"
#include "util/error.h"

static void set_used(void *user, int id) { ((bool *)user)[id] = true; }

fwd_status pass_remove_dead_nodes(ir_graph *g, int *n_removed)
{
    bool *used = calloc((size_t)g->n_values + 1, sizeof *used);
    bool *drop = calloc((size_t)g->n_nodes + 1, sizeof *drop);
    if (!used || !drop) {
        free(used);
        free(drop);
        return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory removing dead nodes");
    }
    for (int i = 0; i < g->n_outputs; i++) used[g->outputs[i]] = true;
    int removed = 0;
    /* Walk backwards: a node is live if any of its outputs is used. */
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        const ir_node *n = &g->nodes[i];
        bool live = false;
        for (int j = 0; j < n->n_outputs; j++)
            if (n->outputs[j] >= 0 && used[n->outputs[j]]) live = true;
        if (!live) {
            drop[i] = true;
            removed++;
            continue;
        }
        for (int j = 0; j < n->n_inputs; j++)
            if (n->inputs[j] >= 0) used[n->inputs[j]] = true;
        ir_node_visit_outer_reads(g, n, set_used, used);
    }
    fwd_status st = removed ? ir_graph_remove_nodes(g, drop) : FWD_OK;
    free(used);
    free(drop);
    if (n_removed) *n_removed = removed;
    return st;
}

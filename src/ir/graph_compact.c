/* Dropping values nothing refers to any more (constants replaced by
 * folding, outputs of removed nodes), renumbering the rest. */
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "util/error.h"

fwd_status ir_graph_compact(ir_graph *g)
{
    int nv = g->n_values;
    bool *used = calloc((size_t)nv + 1, sizeof *used);
    int *remap = malloc(sizeof(int) * (size_t)(nv + 1));
    if (!used || !remap) {
        free(used);
        free(remap);
        return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory compacting graph '%s'", g->name);
    }
    for (int i = 0; i < g->n_inputs; i++) used[g->inputs[i]] = true;
    for (int i = 0; i < g->n_outputs; i++) used[g->outputs[i]] = true;
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_inputs; j++)
            if (n->inputs[j] >= 0) used[n->inputs[j]] = true;
        for (int j = 0; j < n->n_outputs; j++)
            if (n->outputs[j] >= 0) used[n->outputs[j]] = true;
    }
    ir_graph_mark_outer_reads(g, used);
    int w = 0;
    fwd_strmap_free(&g->by_name);
    fwd_status st = FWD_OK;
    for (int v = 0; v < nv; v++) {
        if (!used[v]) {
            remap[v] = -1;
            continue;
        }
        remap[v] = w;
        if (w != v) g->values[w] = g->values[v];
        if (fwd_strmap_put(&g->by_name, g->values[w].name, w) != 0)
            st = fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory compacting graph '%s'", g->name);
        w++;
    }
    g->n_values = w;
    for (int i = 0; i < g->n_inputs; i++) g->inputs[i] = remap[g->inputs[i]];
    for (int i = 0; i < g->n_outputs; i++) g->outputs[i] = remap[g->outputs[i]];
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_inputs; j++)
            if (n->inputs[j] >= 0) n->inputs[j] = remap[n->inputs[j]];
        for (int j = 0; j < n->n_outputs; j++)
            if (n->outputs[j] >= 0) n->outputs[j] = remap[n->outputs[j]];
    }
    free(used);
    free(remap);
    return st;
}

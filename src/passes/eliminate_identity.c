/*
 * Identity and inference-mode Dropout elimination.
 *
 * For a removable node X -> Y:
 *  - Y keeps no name of its own (not a graph output, not read by a
 *    subgraph): its readers read X instead;
 *  - else, when X is an intermediate value whose name nobody needs (not a
 *    graph output, not read by a subgraph), X's producer writes Y directly
 *    and X's readers read Y;
 *  - else (Y is a graph output fed by a graph input, a constant or another
 *    graph output) the node stays: the output must exist under its name.
 */
#include "passes/passes.h"
#include "passes/pattern.h"
#include "util/error.h"

/* The node copies its first input to its first output and nothing else
 * of it is needed. */
static bool removable(const ir_graph *g, const pat_uses *u, const ir_node *n)
{
    if (n->n_inputs < 1 || n->inputs[0] < 0 || n->n_outputs < 1 || n->outputs[0] < 0) return false;
    if (pat_is_op(n, "Identity")) return n->n_outputs == 1;
    if (!pat_is_op(n, "Dropout")) return false;
    /* Dropout(data, ratio?, training_mode?) -> (output, mask?): an identity
     * unless training_mode may be true or the mask is wanted. */
    int training = pat_input(n, 2);
    if (training >= 0 && !pat_const_all_zero(g, training)) return false;
    return pat_only_first_output_used(u, n);
}

fwd_status pass_eliminate_identity(ir_graph *g, const pass_ctx *c, int *n_changed)
{
    (void)c;
    *n_changed = 0;
    pat_sweep sw;
    FWD_TRY(pat_sweep_begin(g, &sw, "eliminating identities"));
    const pat_uses *u = &sw.u;
    bool *drop = sw.drop;
    int changed = 0;
    /* Nodes are in topological order, so a chain of identities collapses in
     * one walk: inputs rewired by an earlier removal are seen by later ones.
     * Pinned flags stay exact because rewiring never changes which values
     * are graph outputs or read by subgraphs. */
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = &g->nodes[i];
        if (!removable(g, u, n)) continue;
        int x = n->inputs[0], y = n->outputs[0];
        if (x == y) continue;
        if (!pat_pinned(u, y)) {
            pat_replace_uses(g, y, x);
        } else {
            int p = pat_producer(g, x);
            if (pat_pinned(u, x) || g->values[x].kind != IR_VALUE_INTERMEDIATE || p < 0 || drop[p])
                continue;
            ir_node *pn = &g->nodes[p];
            for (int j = 0; j < pn->n_outputs; j++)
                if (pn->outputs[j] == x) pn->outputs[j] = y;
            pat_replace_uses(g, x, y);
            g->values[x].producer = -1;
            g->values[y].producer = p;
        }
        drop[i] = true;
        changed++;
    }
    *n_changed = changed;
    return pat_sweep_end(g, &sw, FWD_OK, changed);
}

/* Which values of a graph a node's subgraphs read by outer reference. */
#include "ir/ir.h"

static void visit_graph(const ir_graph *g, const ir_graph *sg, ir_outer_fn fn, void *user)
{
    for (int v = 0; v < sg->n_values; v++) {
        if (sg->values[v].kind != IR_VALUE_OUTER) continue;
        int id = ir_graph_find(g, sg->values[v].name);
        if (id >= 0) fn(user, id);
    }
    for (int i = 0; i < sg->n_nodes; i++) ir_node_visit_outer_reads(g, &sg->nodes[i], fn, user);
}

void ir_node_visit_outer_reads(const ir_graph *g, const ir_node *n, ir_outer_fn fn, void *user)
{
    for (int a = 0; a < n->n_attrs; a++) {
        const ir_attr *at = &n->attrs[a];
        if (at->type == IR_ATTR_GRAPH && at->g) visit_graph(g, at->g, fn, user);
        if (at->type == IR_ATTR_GRAPHS)
            for (int k = 0; k < at->n; k++)
                if (at->graphs[k]) visit_graph(g, at->graphs[k], fn, user);
    }
}

static void set_true(void *user, int id) { ((bool *)user)[id] = true; }

void ir_graph_mark_outer_reads(const ir_graph *g, bool *used)
{
    for (int i = 0; i < g->n_nodes; i++) ir_node_visit_outer_reads(g, &g->nodes[i], set_true, used);
}

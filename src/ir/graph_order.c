/* Topological ordering of a graph's nodes. */
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "util/error.h"

typedef struct dep_list {
    int *ids;
    int n, cap;
    bool oom;
} dep_list;

static void add_dep(void *user, int id)
{
    dep_list *d = user;
    if (d->n == d->cap) {
        int ncap = d->cap ? d->cap * 2 : 16;
        int *grown = realloc(d->ids, (size_t)ncap * sizeof *grown);
        if (!grown) {
            d->oom = true;
            return;
        }
        d->ids = grown;
        d->cap = ncap;
    }
    d->ids[d->n++] = id;
}

/* All value ids a node reads: its inputs and its subgraphs' outer
 * references. */
static fwd_status node_deps(const ir_graph *g, const ir_node *node, int **deps, int *n)
{
    dep_list d = {0};
    for (int j = 0; j < node->n_inputs; j++)
        if (node->inputs[j] >= 0) add_dep(&d, node->inputs[j]);
    ir_node_visit_outer_reads(g, node, add_dep, &d);
    *deps = d.ids;
    *n = d.n;
    if (d.oom) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
    return FWD_OK;
}

fwd_status ir_graph_toposort(ir_graph *g)
{
    int nn = g->n_nodes;
    if (nn <= 0) return FWD_OK;
    int *indeg = calloc((size_t)nn, sizeof *indeg);
    int **deps = calloc((size_t)nn, sizeof *deps);
    int *ndeps = calloc((size_t)nn, sizeof *ndeps);
    int *order = malloc((size_t)nn * sizeof *order);
    /* consumers: CSR of node -> nodes reading its outputs */
    int *cons_start = calloc((size_t)nn + 1, sizeof *cons_start);
    int *cons = NULL;
    ir_node *sorted = NULL;
    fwd_status st = FWD_OK;
    if (!indeg || !deps || !ndeps || !order || !cons_start) {
        st = fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory sorting graph");
        goto done;
    }
    int total = 0;
    for (int i = 0; i < nn; i++) {
        st = node_deps(g, &g->nodes[i], &deps[i], &ndeps[i]);
        if (st) goto done;
        for (int j = 0; j < ndeps[i]; j++) {
            int p = g->values[deps[i][j]].producer;
            if (p >= 0 && p != i) {
                indeg[i]++;
                cons_start[p + 1]++;
                total++;
            } else if (p == i) {
                st = fwd_errorf(FWD_ERR_INVALID_MODEL, "node '%s' (%s) reads its own output '%s'",
                                g->nodes[i].name, g->nodes[i].op_type, g->values[deps[i][j]].name);
                goto done;
            }
        }
    }
    for (int i = 0; i < nn; i++) cons_start[i + 1] += cons_start[i];
    cons = malloc((size_t)(total + 1) * sizeof *cons);
    int *fill = calloc((size_t)nn, sizeof *fill);
    if (!cons || !fill) {
        free(fill);
        st = fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory sorting graph");
        goto done;
    }
    for (int i = 0; i < nn; i++)
        for (int j = 0; j < ndeps[i]; j++) {
            int p = g->values[deps[i][j]].producer;
            if (p >= 0 && p != i) cons[cons_start[p] + fill[p]++] = i;
        }
    free(fill);
    /* Kahn's algorithm; a FIFO keeps the original order where possible. */
    int head = 0, tail = 0;
    for (int i = 0; i < nn; i++)
        if (indeg[i] == 0) order[tail++] = i;
    while (head < tail) {
        int i = order[head++];
        for (int c = cons_start[i]; c < cons_start[i + 1]; c++)
            if (--indeg[cons[c]] == 0) order[tail++] = cons[c];
    }
    if (tail < nn) {
        for (int i = 0; i < nn; i++)
            if (indeg[i] > 0) {
                st = fwd_errorf(FWD_ERR_INVALID_MODEL,
                                "graph '%s' has a cycle through node '%s' (%s)", g->name,
                                g->nodes[i].name, g->nodes[i].op_type);
                break;
            }
        goto done;
    }
    sorted = malloc((size_t)(unsigned)nn * sizeof *sorted);
    if (!sorted) {
        st = fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory sorting graph");
        goto done;
    }
    for (int i = 0; i < nn; i++) sorted[i] = g->nodes[order[i]];
    memcpy(g->nodes, sorted, (size_t)(unsigned)nn * sizeof *sorted);
    for (int i = 0; i < g->n_values; i++) g->values[i].producer = -1;
    for (int i = 0; i < nn; i++)
        for (int j = 0; j < g->nodes[i].n_outputs; j++)
            if (g->nodes[i].outputs[j] >= 0) g->values[g->nodes[i].outputs[j]].producer = i;
done:
    if (deps)
        for (int i = 0; i < nn; i++) free(deps[i]);
    free(deps);
    free(ndeps);
    free(indeg);
    free(order);
    free(cons_start);
    free(cons);
    free(sorted);
    return st;
}

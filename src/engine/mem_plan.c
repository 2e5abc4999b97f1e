/*
 * Activation memory planning for the main graph.
 *
 * Each intermediate value with a known size bound gets a byte range in one
 * arena. Values join "buffer groups" that share bytes: a view (Reshape,
 * Flatten, Squeeze, Unsqueeze, Identity) joins its input's group, and an
 * elementwise op may write over an input of its output's size whose group
 * is dead after this node (in place), and so may other ops where the
 * backend says their kernel allows it (fwd_backend.output_over_input: a
 * 1x1 conv written over its residual). A group lives from its first
 * producer to its last reader; groups whose lifetimes overlap get disjoint
 * ranges, assigned greedily largest first at the lowest offset that fits.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "util/error.h"

#define PLAN_ALIGN 64

/* Ops that may write their output over input 0 or 1 of the same size:
 * they read each element before writing the element at the same index. */
static bool in_place_op(const char *op)
{
    static const char *const ops[] = {
        "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Neg", "Abs", "Erf", "Gelu",
        "Clip", "HardSwish", "HardSigmoid", "Elu", "Selu", "Celu", "Softplus", "Softsign", "Reciprocal",
        "Add", "Sub", "Mul", "Div", "Floor", "Ceil", "Round", "Sin", "Cos", "ThresholdedRelu", NULL};
    for (int i = 0; ops[i]; i++)
        if (strcmp(op, ops[i]) == 0) return true;
    return false;
}

typedef struct group {
    int first, last;   /* node index range */
    int64_t size;
    int64_t offset;
} group;

typedef struct keep_ctx {
    int *last;
    int end;
} keep_ctx;

static void keep_to_end(void *user, int id)
{
    keep_ctx *k = user;
    k->last[id] = k->end;
}

static int find_root(int *parent, int x)
{
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

static int cmp_size_desc(const void *a, const void *b, void *ctx)
{
    const group *g = ctx;
    int x = *(const int *)a, y = *(const int *)b;
    if (g[x].size != g[y].size) return g[x].size < g[y].size ? 1 : -1;
    return x - y;
}

static int cmp_offset(const void *a, const void *b)
{
    const group *x = *(group *const *)a, *y = *(group *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int64_t align_up(int64_t x) { return (x + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN; }

fwd_status mem_plan_build(const ir_graph *g, const int64_t *sizes, const fwd_backend *backend, mem_plan *out)
{
    int nv = g->n_values, nn = g->n_nodes;
    memset(out, 0, sizeof *out);
    int *parent = malloc(sizeof(int) * (size_t)(nv + 1));
    int *first = malloc(sizeof(int) * (size_t)(nv + 1));
    int *last = malloc(sizeof(int) * (size_t)(nv + 1));
    bool *planned = calloc((size_t)nv + 1, sizeof *planned);
    group *groups = calloc((size_t)nv + 1, sizeof *groups);
    int *order = malloc(sizeof(int) * (size_t)(nv + 1));
    /* the placed roots, then (behind them) those overlapping the root
     * being placed: up to twice the values (found by fuzzing: float16
     * Split and LayerNormalization graphs overran nv + 1) */
    group **placed = malloc(sizeof(group *) * 2 * (size_t)(nv + 1));
    out->offset = malloc(sizeof(int64_t) * (size_t)(nv + 1));
    out->capacity = malloc(sizeof(int64_t) * (size_t)(nv + 1));
    fwd_status st = FWD_OK;
    if (!parent || !first || !last || !planned || !groups || !order || !placed || !out->offset ||
        !out->capacity) {
        st = fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory planning activation memory");
        goto done;
    }
    out->n_values = nv;
    for (int v = 0; v < nv; v++) {
        parent[v] = v;
        const ir_value *val = &g->values[v];
        planned[v] = val->kind == IR_VALUE_INTERMEDIATE && val->producer >= 0 && sizes[v] >= 0;
        first[v] = val->producer;
        last[v] = val->producer;
        out->offset[v] = -1;
        out->capacity[v] = 0;
    }
    for (int i = 0; i < nn; i++)
        for (int j = 0; j < g->nodes[i].n_inputs; j++) {
            int v = g->nodes[i].inputs[j];
            if (v >= 0 && i > last[v]) last[v] = i;
        }
    for (int i = 0; i < g->n_outputs; i++) last[g->outputs[i]] = nn; /* kept to the end */
    keep_ctx keep = {.last = last, .end = nn};
    /* values that subgraphs read from this scope live to the end too */
    for (int i = 0; i < nn; i++) ir_node_visit_outer_reads(g, &g->nodes[i], keep_to_end, &keep);

    /* Groups: per root, the union of its members' lifetimes. Walk nodes in
     * order and merge views / in-place outputs into their input's group. */
    for (int v = 0; v < nv; v++) {
        groups[v].first = first[v];
        groups[v].last = last[v];
        groups[v].size = planned[v] ? sizes[v] : 0;
    }
    for (int i = 0; i < nn; i++) {
        const ir_node *n = &g->nodes[i];
        if (n->n_outputs < 1 || n->outputs[0] < 0 || !planned[n->outputs[0]]) continue;
        int y = n->outputs[0];
        bool view = exec_is_view_op(n->op_type);
        bool elementwise = in_place_op(n->op_type);
        /* other ops may write over an input when the backend says so */
        bool asked = !view && !elementwise && backend && backend->output_over_input;
        bool inplace = elementwise || asked;
        if (!view && !inplace) continue;
        int max_in = view ? 1 : asked ? n->n_inputs : (n->n_inputs < 2 ? n->n_inputs : 2);
        for (int j = 0; j < max_in; j++) {
            int x = n->inputs[j];
            if (x < 0 || !planned[x]) continue;
            if (asked && (sizes[x] != sizes[y] || !backend->output_over_input(g, n, j))) continue;
            int rx = find_root(parent, x);
            if (inplace) {
                /* the input's bytes must be dead after this node and the
                 * output exactly as large */
                if (groups[rx].last > i || sizes[x] != sizes[y]) continue;
                if (g->values[x].t.dtype != g->values[y].t.dtype) continue;
            }
            if (view && sizes[x] < sizes[y]) continue;
            parent[y] = rx;
            if (groups[y].last > groups[rx].last) groups[rx].last = groups[y].last;
            if (groups[y].size > groups[rx].size) groups[rx].size = groups[y].size;
            break;
        }
    }
    /* Offsets: roots by decreasing size, lowest fitting gap among the
     * placed roots whose lifetimes overlap. */
    int nroots = 0;
    for (int v = 0; v < nv; v++)
        if (planned[v] && find_root(parent, v) == v) order[nroots++] = v;
    qsort_r(order, (size_t)nroots, sizeof *order, cmp_size_desc, groups);
    size_t arena = 0;
    int nplaced = 0;
    for (int r = 0; r < nroots; r++) {
        group *gr = &groups[order[r]];
        int nov = 0;
        for (int p = 0; p < nplaced; p++) {
            group *o = placed[p];
            if (o->first <= gr->last && gr->first <= o->last) placed[nplaced + nov++] = o;
        }
        qsort(placed + nplaced, (size_t)nov, sizeof *placed, cmp_offset);
        int64_t off = 0, need = align_up(gr->size);
        for (int k = 0; k < nov; k++) {
            group *o = placed[nplaced + k];
            if (off + need <= o->offset) break;
            int64_t end = o->offset + align_up(o->size);
            if (end > off) off = end;
        }
        gr->offset = off;
        placed[nplaced++] = gr;
        if ((size_t)(off + need) > arena) arena = (size_t)(off + need);
    }
    for (int v = 0; v < nv; v++) {
        if (!planned[v]) continue;
        const group *gr = &groups[find_root(parent, v)];
        out->offset[v] = gr->offset;
        out->capacity[v] = gr->size;
        out->unplanned_bytes += (size_t)sizes[v];
    }
    out->arena_bytes = arena;
done:
    free(parent);
    free(first);
    free(last);
    free(planned);
    free(groups);
    free(order);
    free(placed);
    if (st) mem_plan_free(out);
    return st;
}

void mem_plan_free(mem_plan *p)
{
    free(p->offset);
    free(p->capacity);
    memset(p, 0, sizeof *p);
}

/*
 * Transpose and view-op (Reshape, Flatten, Squeeze, Unsqueeze) chains:
 *  - Transpose(Transpose(x, p1), p2): the composed permutation; when it is
 *    the identity both go, else one Transpose(x, p1 o p2) remains. A single
 *    identity Transpose goes too.
 *  - Reshape(view(x), s) with a constant s free of 0 entries (or with
 *    allowzero) reads x directly: the result depends only on x's data.
 *  - Unsqueeze(x, a) -> Squeeze(., a) and Squeeze(x, a) -> Unsqueeze(., a)
 *    cancel; so does any view op (or view pair) whose static output shape
 *    equals the static shape it started from.
 * Rewrites are made in place (inputs and perm of the second node); nodes
 * left without readers are dropped. Sweeps repeat until nothing changes.
 */
#include <stdlib.h>
#include <string.h>

#include "ir/op_schema.h"
#include "passes/passes.h"
#include "passes/pattern.h"
#include "util/error.h"

#define MAX_SWEEPS 16

static bool is_view(const ir_node *n)
{
    return pat_is_op(n, "Reshape") || pat_is_op(n, "Flatten") || pat_is_op(n, "Squeeze") ||
           pat_is_op(n, "Unsqueeze");
}

/* A static shape every dim of which is a known size or a symbol. */
static bool shape_static(const ir_shape *s)
{
    if (s->rank < 0) return false;
    for (int i = 0; i < s->rank; i++)
        if (s->dims[i] == IR_DIM_UNKNOWN) return false;
    return true;
}

static bool same_static_shape(const ir_graph *g, int a, int b)
{
    const ir_shape *sa = &g->values[a].t.shape, *sb = &g->values[b].t.shape;
    return shape_static(sa) && shape_static(sb) && ir_shape_equal(sa, sb);
}

/* The permutation of Transpose node n (its input of rank `rank`, which may
 * be -1 when perm is given) into perm; returns its length or -1. */
static int transpose_perm(const ir_node *n, int rank, int64_t *perm)
{
    int cnt = 0;
    const int64_t *p = ir_attr_ints(n, "perm", &cnt);
    if (!p) {
        if (rank < 0) return -1;
        for (int i = 0; i < rank; i++) perm[i] = rank - 1 - i;
        return rank;
    }
    if (cnt > IR_MAX_RANK || (rank >= 0 && cnt != rank)) return -1;
    bool seen[IR_MAX_RANK] = {false};
    for (int i = 0; i < cnt; i++) {
        if (p[i] < 0 || p[i] >= cnt || seen[p[i]]) return -1;
        seen[p[i]] = true;
        perm[i] = p[i];
    }
    return cnt;
}

static bool perm_identity(const int64_t *p, int n)
{
    for (int i = 0; i < n; i++)
        if (p[i] != i) return false;
    return true;
}

/* Replace n's perm attribute by p (arena copies; other attrs shared). */
static fwd_status set_perm(ir_graph *g, ir_node *n, const int64_t *p, int len)
{
    ir_attr *attrs = ir_alloc(g->model, sizeof(ir_attr) * (size_t)(n->n_attrs + 1));
    int64_t *ints = ir_alloc(g->model, sizeof(int64_t) * (size_t)(len ? len : 1));
    const char *name = ir_strdup(g->model, "perm");
    if (!attrs || !ints || !name) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory merging Transposes");
    memcpy(ints, p, sizeof(int64_t) * (size_t)len);
    int k = 0;
    for (int a = 0; a < n->n_attrs; a++)
        if (strcmp(n->attrs[a].name, "perm") != 0) attrs[k++] = n->attrs[a];
    memset(&attrs[k], 0, sizeof attrs[k]);
    attrs[k].name = name;
    attrs[k].type = IR_ATTR_INTS;
    attrs[k].n = len;
    attrs[k].ints = ints;
    n->attrs = attrs;
    n->n_attrs = k + 1;
    return FWD_OK;
}

/* Constant int axes of Squeeze/Unsqueeze node n, normalised against
 * rank (when known; negative axes need it), sorted into a bit mask;
 * 0 when unknown. */
static unsigned axes_mask(const ir_graph *g, const ir_node *n, int rank)
{
    int a = pat_input(n, 1);
    if (!pat_is_const(g, a)) return 0;
    int64_t ax[IR_MAX_RANK];
    int cnt = ir_tensor_read_ints(&g->values[a].t, ax, IR_MAX_RANK);
    if (cnt < 1) return 0;
    unsigned m = 0;
    for (int i = 0; i < cnt; i++) {
        int64_t v = ax[i];
        if (v < 0) {
            if (rank < 0) return 0;
            v += rank;
        }
        if (v < 0 || v >= IR_MAX_RANK || (m & (1u << v))) return 0;
        m |= 1u << v;
    }
    return m;
}

/* Whether Reshape node n's shape input is a constant whose result does
 * not depend on its data input's dims (no 0 entries unless allowzero). */
static bool reshape_independent(const ir_graph *g, const ir_node *n)
{
    int s = pat_input(n, 1);
    if (!pat_is_const(g, s)) return false;
    int64_t dims[IR_MAX_RANK];
    int cnt = ir_tensor_read_ints(&g->values[s].t, dims, IR_MAX_RANK);
    if (cnt < 0) return false;
    if (ir_attr_int(n, "allowzero", 0) != 0) return true;
    for (int i = 0; i < cnt; i++)
        if (dims[i] == 0) return false;
    return true;
}

typedef struct sweep {
    ir_graph *g;
    pat_sweep s;   /* the use index; s.drop: nodes to remove at the end */
    bool *touched; /* nodes rewritten or dropped this sweep */
    int changed;
} sweep;

/* Node i's output goes: its readers read `to` instead. Also drops the
 * producer p of i's input when i was its only reader. */
static void bypass(sweep *w, int i, int to, int p)
{
    ir_graph *g = w->g;
    int out = g->nodes[i].outputs[0];
    int in = g->nodes[i].inputs[0];
    pat_replace_uses(g, out, to);
    w->s.drop[i] = w->touched[i] = true;
    if (p >= 0 && pat_single_consumer(&w->s.u, in) == i) w->s.drop[p] = w->touched[p] = true;
    w->changed++;
}

static fwd_status visit_transpose(sweep *w, int i)
{
    ir_graph *g = w->g;
    ir_node *n = &g->nodes[i];
    int in = n->inputs[0], out = n->outputs[0];
    int64_t p2[IR_MAX_RANK], p1[IR_MAX_RANK], c[IR_MAX_RANK];
    int len = transpose_perm(n, g->values[in].t.shape.rank, p2);
    if (len < 0) return FWD_OK;
    if (perm_identity(p2, len)) {
        if (!pat_pinned(&w->s.u, out)) bypass(w, i, in, -1);
        return FWD_OK;
    }
    int pi = pat_producer(g, in);
    if (pi < 0 || w->touched[pi] || !pat_is_op(&g->nodes[pi], "Transpose")) return FWD_OK;
    const ir_node *t1 = &g->nodes[pi];
    int x = t1->inputs[0];
    if (transpose_perm(t1, g->values[x].t.shape.rank, p1) != len) return FWD_OK;
    for (int j = 0; j < len; j++) c[j] = p1[p2[j]];
    if (perm_identity(c, len)) {
        if (!pat_pinned(&w->s.u, out)) bypass(w, i, x, pi);
        return FWD_OK;
    }
    /* merge only when the first Transpose goes away */
    if (pat_single_consumer(&w->s.u, in) != i) return FWD_OK;
    FWD_TRY(set_perm(g, n, c, len));
    n->inputs[0] = x;
    w->touched[i] = true;
    w->s.drop[pi] = w->touched[pi] = true;
    w->changed++;
    return FWD_OK;
}

static void visit_view(sweep *w, int i)
{
    ir_graph *g = w->g;
    ir_node *n = &g->nodes[i];
    int in = n->inputs[0], out = n->outputs[0];
    bool pinned = pat_pinned(&w->s.u, out);
    if (!pinned && same_static_shape(g, in, out)) {
        bypass(w, i, in, -1);
        return;
    }
    int pi = pat_producer(g, in);
    if (pi < 0 || w->touched[pi] || !is_view(&g->nodes[pi]) || g->nodes[pi].n_inputs < 1) return;
    const ir_node *v1 = &g->nodes[pi];
    int x = v1->inputs[0];
    if (!pinned && same_static_shape(g, x, out)) {
        bypass(w, i, x, pi);
        return;
    }
    /* Squeeze/Unsqueeze with the same axes cancel */
    bool sq_un = pat_is_op(v1, "Squeeze") && pat_is_op(n, "Unsqueeze");
    bool un_sq = pat_is_op(v1, "Unsqueeze") && pat_is_op(n, "Squeeze");
    if (!pinned && (sq_un || un_sq)) {
        /* both axis lists count in the rank of the bigger tensor */
        int rank = g->values[sq_un ? x : in].t.shape.rank;
        unsigned a1 = axes_mask(g, v1, rank), a2 = axes_mask(g, n, rank);
        if (a1 && a1 == a2) {
            bypass(w, i, x, pi);
            return;
        }
    }
    /* Reshape(view(x), s) reads x */
    if (pat_is_op(n, "Reshape") && reshape_independent(g, n)) {
        bool only = pat_single_consumer(&w->s.u, in) == i;
        n->inputs[0] = x;
        w->touched[i] = true;
        if (only) w->s.drop[pi] = w->touched[pi] = true;
        w->changed++;
    }
}

fwd_status pass_eliminate_transpose_reshape(ir_graph *g, const pass_ctx *c, int *n_changed)
{
    (void)c;
    *n_changed = 0;
    fwd_status st = FWD_OK;
    for (int s = 0; s < MAX_SWEEPS; s++) {
        sweep w = {.g = g};
        FWD_TRY(pat_sweep_begin(g, &w.s, "simplifying Transposes"));
        w.touched = calloc((size_t)g->n_nodes + 1, sizeof *w.touched);
        if (!w.touched) st = fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory simplifying Transposes");
        for (int i = 0; i < g->n_nodes && !st; i++) {
            ir_node *n = &g->nodes[i];
            if (w.touched[i] || n->n_inputs < 1 || n->n_outputs < 1 || n->inputs[0] < 0 || n->outputs[0] < 0)
                continue;
            if (pat_is_op(n, "Transpose"))
                st = visit_transpose(&w, i);
            else if (is_view(n))
                visit_view(&w, i);
        }
        st = pat_sweep_end(g, &w.s, st, w.changed);
        free(w.touched);
        if (st) return st;
        *n_changed += w.changed;
        if (!w.changed) break;
    }
    return FWD_OK;
}

/*
 * GELU pattern fusion into one Gelu op:
 *   erf form   0.5 * x * (1 + erf(x / sqrt(2)))        (Div by 1.4142 or
 *              Mul by 0.7071)                            -> approximate "none"
 *   tanh form  0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
 *              (x^3 as Pow(x, 3) or a Mul chain)        -> approximate "tanh"
 * Binary ops match in either operand order; the final product may group
 * its three factors (x, 0.5, 1 + erf/tanh) in any way.
 */
#include "passes/passes.h"
#include "passes/pattern.h"
#include "util/error.h"

#define CONST_TOL 1e-4

typedef struct gelu_match {
    int x, y;               /* the input and the value the Gelu replaces */
    pat_nodes nodes;        /* matched nodes, in the order of the chain */
    bool tanh_form;
} gelu_match;

/* Binary node bi has inputs {a, constant near want}; returns a or -1. */
static int operand_with_const(const ir_graph *g, int bi, double want)
{
    const ir_node *n = &g->nodes[bi];
    if (n->n_inputs != 2) return -1;
    for (int s = 0; s < 2; s++)
        if (pat_const_near(g, n->inputs[s], want, CONST_TOL)) return n->inputs[1 - s];
    return -1;
}

/* The final product: b = 1 + erf/tanh(...) of x; finds 0.5 * x * b with
 * its factors grouped any way; sets m->y. */
static bool match_product(const ir_graph *g, const pat_uses *u, int b, gelu_match *m)
{
    int x = m->x;
    int m1 = pat_consumer_op(g, u, b, "Mul");
    if (m1 < 0) return false;
    int o1 = pat_other_input(&g->nodes[m1], b);
    int y1 = g->nodes[m1].outputs[0];
    if (o1 == x || pat_const_near(g, o1, 0.5, CONST_TOL)) {
        /* (x * b) * 0.5  or  (0.5 * b) * x */
        int m2 = pat_consumer_op(g, u, y1, "Mul");
        if (m2 < 0) return false;
        int o2 = pat_other_input(&g->nodes[m2], y1);
        bool ok = o1 == x ? pat_const_near(g, o2, 0.5, CONST_TOL) : o2 == x;
        if (!ok) return false;
        pat_nodes_add(&m->nodes, m1);
        pat_nodes_add(&m->nodes, m2);
        m->y = g->nodes[m2].outputs[0];
        return true;
    }
    /* (x * 0.5) * b */
    int h = pat_single_use_producer(g, u, o1, "Mul");
    if (h < 0 || operand_with_const(g, h, 0.5) != x) return false;
    pat_nodes_add(&m->nodes, h);
    pat_nodes_add(&m->nodes, m1);
    m->y = y1;
    return true;
}

/* erf node ei: Erf(x / sqrt 2) + 1, then the product. */
static bool match_erf(const ir_graph *g, const pat_uses *u, int ei, gelu_match *m)
{
    const ir_node *e = &g->nodes[ei];
    if (e->n_inputs != 1 || e->n_outputs < 1) return false;
    int a = e->inputs[0];
    int d = pat_single_use_producer(g, u, a, "Div");
    int x = -1;
    if (d >= 0) {
        const ir_node *dn = &g->nodes[d];
        if (pat_const_near(g, dn->inputs[1], 1.4142135623730951, CONST_TOL)) x = dn->inputs[0];
    } else {
        d = pat_single_use_producer(g, u, a, "Mul");
        if (d >= 0) x = operand_with_const(g, d, 0.7071067811865476);
    }
    if (x < 0) return false;
    int add = pat_consumer_op(g, u, e->outputs[0], "Add");
    if (add < 0 || !pat_const_near(g, pat_other_input(&g->nodes[add], e->outputs[0]), 1.0, CONST_TOL)) return false;
    m->x = x;
    m->tanh_form = false;
    pat_nodes_add(&m->nodes, d);
    pat_nodes_add(&m->nodes, ei);
    pat_nodes_add(&m->nodes, add);
    return match_product(g, u, g->nodes[add].outputs[0], m);
}

/* v = x^3 as Pow(x, 3), Mul(x, Mul(x, x)) or Mul(Mul(x, x), x); returns x. */
static int match_cube(const ir_graph *g, const pat_uses *u, int v, gelu_match *m)
{
    int p = pat_single_use_producer(g, u, v, "Pow");
    if (p >= 0) {
        const ir_node *pn = &g->nodes[p];
        if (!pat_const_near(g, pn->inputs[1], 3.0, 1e-6)) return -1;
        pat_nodes_add(&m->nodes, p);
        return pn->inputs[0];
    }
    p = pat_single_use_producer(g, u, v, "Mul");
    if (p < 0) return -1;
    const ir_node *pn = &g->nodes[p];
    for (int s = 0; s < 2; s++) {
        int sq = pat_single_use_producer(g, u, pn->inputs[s], "Mul");
        if (sq < 0) continue;
        const ir_node *sn = &g->nodes[sq];
        int x = pn->inputs[1 - s];
        if (sn->inputs[0] == x && sn->inputs[1] == x) {
            pat_nodes_add(&m->nodes, sq);
            pat_nodes_add(&m->nodes, p);
            return x;
        }
    }
    return -1;
}

/* tanh node ti: Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)) + 1, then the product. */
static bool match_tanh(const ir_graph *g, const pat_uses *u, int ti, gelu_match *m)
{
    const ir_node *t = &g->nodes[ti];
    if (t->n_inputs != 1 || t->n_outputs < 1) return false;
    int sm = pat_single_use_producer(g, u, t->inputs[0], "Mul");
    if (sm < 0) return false;
    int inner = operand_with_const(g, sm, 0.7978845608028654);
    int ad = pat_single_use_producer(g, u, inner, "Add");
    if (inner < 0 || ad < 0) return false;
    const ir_node *an = &g->nodes[ad];
    for (int s = 0; s < 2; s++) {
        int x = an->inputs[s];
        int cm = pat_single_use_producer(g, u, an->inputs[1 - s], "Mul");
        if (cm < 0) continue;
        int cube = operand_with_const(g, cm, 0.044715);
        if (cube < 0) continue;
        gelu_match tmp = *m;
        if (match_cube(g, u, cube, &tmp) != x) continue;
        *m = tmp;
        m->x = x;
        pat_nodes_add(&m->nodes, cm);
        pat_nodes_add(&m->nodes, ad);
        pat_nodes_add(&m->nodes, sm);
        pat_nodes_add(&m->nodes, ti);
        int add = pat_consumer_op(g, u, t->outputs[0], "Add");
        if (add < 0 || !pat_const_near(g, pat_other_input(&g->nodes[add], t->outputs[0]), 1.0, CONST_TOL))
            return false;
        pat_nodes_add(&m->nodes, add);
        m->tanh_form = true;
        return match_product(g, u, g->nodes[add].outputs[0], m);
    }
    return false;
}

static fwd_status emit(ir_graph *g, const gelu_match *m, const char *name)
{
    ir_attr attrs[2];
    const char *fused = pat_nodes_fused(g, &m->nodes);
    if (!fused) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory fusing Gelu");
    FWD_TRY(pat_attr_string(g->model, "approximate", m->tanh_form ? "tanh" : "none", &attrs[0]));
    FWD_TRY(pat_attr_string(g->model, PASS_FUSED_ATTR, fused, &attrs[1]));
    return pat_emit_node(g, "Gelu", name, &m->x, 1, &m->y, 1, attrs, 2, NULL);
}

fwd_status pass_fuse_gelu(ir_graph *g, const pass_ctx *c, int *n_changed)
{
    *n_changed = 0;
    pat_sweep sw;
    FWD_TRY(pat_sweep_begin(g, &sw, "fusing Gelu"));
    const pat_uses *u = &sw.u;
    fwd_status st = FWD_OK;
    for (int i = 0; i < sw.n0 && !st; i++) {
        const ir_node *n = &g->nodes[i];
        bool is_erf = pat_is_op(n, "Erf"), is_tanh = pat_is_op(n, "Tanh");
        if (!is_erf && !is_tanh) continue;
        gelu_match m = {.x = -1, .y = -1};
        bool ok = is_erf ? match_erf(g, u, i, &m) : match_tanh(g, u, i, &m);
        if (!ok || m.nodes.n >= PAT_MAX_NODES) continue;
        bool taken = pat_nodes_taken(&m.nodes, sw.drop);
        fwd_dtype dt = g->values[m.x].t.dtype;
        /* the kernel computes in float32: float64 would lose precision */
        if (taken || !ir_dtype_is_float(dt) || dt == FWD_FLOAT64 || g->values[m.y].t.dtype != dt) continue;
        if (c && c->has_kernel && !c->has_kernel(c->user, "Gelu", dt)) continue;
        /* The result must keep x's shape: the one-element constants must
         * not raise its rank. */
        if (g->values[m.x].t.shape.rank < 0 || g->values[m.x].t.shape.rank != g->values[m.y].t.shape.rank)
            continue;
        const char *name = g->nodes[m.nodes.idx[m.nodes.n - 1]].name;
        st = emit(g, &m, name);
        if (st) break;
        pat_nodes_drop(&m.nodes, sw.drop);
        (*n_changed)++;
    }
    return pat_sweep_end(g, &sw, st, *n_changed);
}

/*
 * LayerNormalization pattern fusion. The chain exporters emit:
 *   m = ReduceMean(x, axes)      d = Sub(x, m)
 *   p = Pow(d, 2) | Mul(d, d)    v = ReduceMean(p, axes)
 *   s = Sqrt(Add(v, eps)) | Pow(Add(v, eps), 0.5)
 *   n = Div(d, s) | Mul(d, Reciprocal(s))
 *   y = Add(Mul(n, gamma), beta)   (gamma and beta each optional)
 * becomes LayerNormalization(x, gamma, beta) with axis = the first reduced
 * axis. The reduced axes must be the trailing ones, eps a scalar constant
 * and gamma/beta constants that only vary along the normalised dims.
 */
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"
#include "ir/op_schema.h"
#include "passes/pattern.h"
#include "util/error.h"

typedef struct ln_match {
    int x, gamma, beta, y;
    int axis, rank;
    float eps;
    pat_nodes nodes;
} ln_match;

/* The first reduced axis of ReduceMean node ri when its axes are exactly
 * the trailing ones of a rank-`rank` input and keepdims is on; else -1. */
static int trailing_axis(const ir_graph *g, const ir_node *r, int rank)
{
    if (ir_attr_int(r, "keepdims", 1) != 1 || rank < 1) return -1;
    int64_t axes[IR_MAX_RANK];
    int n = -1;
    int a = pat_input(r, 1);
    if (a >= 0) {
        if (!pat_is_const(g, a)) return -1;
        n = ir_tensor_read_ints(&g->values[a].t, axes, IR_MAX_RANK);
    } else {
        int cnt = 0;
        const int64_t *at = ir_attr_ints(r, "axes", &cnt);
        if (at && cnt <= IR_MAX_RANK) {
            memcpy(axes, at, sizeof(int64_t) * (size_t)cnt);
            n = cnt;
        }
    }
    if (n < 1 || n > rank) return -1;
    bool seen[IR_MAX_RANK] = {false};
    for (int i = 0; i < n; i++) {
        int64_t v = axes[i] < 0 ? axes[i] + rank : axes[i];
        if (v < 0 || v >= rank || seen[v]) return -1;
        seen[v] = true;
    }
    for (int i = rank - n; i < rank; i++)
        if (!seen[i]) return -1;
    return rank - n;
}

/* A gamma/beta constant of x's dtype that only varies along dims
 * [axis, rank) of x (shape s) and does not raise the rank. */
static bool param_fits(const ir_graph *g, int v, const ir_shape *s, int axis, fwd_dtype dt)
{
    if (!pat_is_const(g, v) || g->values[v].t.dtype != dt) return false;
    const ir_shape *ps = &g->values[v].t.shape;
    if (ps->rank < 0 || ps->rank > s->rank) return false;
    int off = s->rank - ps->rank;
    for (int i = 0; i < ps->rank; i++) {
        int64_t d = ps->dims[i];
        if (d == 1) continue;
        if (i + off < axis || d != s->dims[i + off]) return false;
    }
    return true;
}

/* Match the chain from the first ReduceMean node ri. */
static bool match(const ir_graph *g, const pat_uses *u, int ri, ln_match *m)
{
    const ir_node *r1 = &g->nodes[ri];
    if (r1->n_outputs < 1) return false;
    int x = r1->inputs[0];
    const ir_shape *xs = &g->values[x].t.shape;
    int axis = trailing_axis(g, r1, xs->rank);
    if (axis < 0) return false;
    m->x = x;
    m->rank = xs->rank;
    m->axis = axis;
    pat_nodes_add(&m->nodes, ri);
    /* d = x - mean */
    int sub = pat_consumer_op(g, u, r1->outputs[0], "Sub");
    if (sub < 0 || g->nodes[sub].inputs[0] != x || g->nodes[sub].inputs[1] != r1->outputs[0]) return false;
    pat_nodes_add(&m->nodes, sub);
    int d = g->nodes[sub].outputs[0];
    /* d is read by the square and the division only */
    if (pat_pinned(u, d) || pat_num_uses(u, d) < 2 || pat_num_uses(u, d) > 3) return false;
    int sq = -1, div = -1;
    for (int k = 0; k < pat_num_uses(u, d); k++) {
        int c = pat_use(u, d, k);
        const ir_node *cn = &g->nodes[c];
        if (pat_is_op(cn, "Pow") && cn->inputs[0] == d && pat_const_near(g, pat_input(cn, 1), 2.0, 0))
            sq = c;
        else if (pat_is_op(cn, "Mul") && cn->inputs[0] == d && cn->inputs[1] == d)
            sq = c;
        else if ((pat_is_op(cn, "Div") && cn->inputs[0] == d) || pat_is_op(cn, "Mul"))
            div = c;
    }
    if (sq < 0 || div < 0 || sq == div) return false;
    int expect_uses = pat_is_op(&g->nodes[sq], "Mul") ? 3 : 2;
    if (pat_num_uses(u, d) != expect_uses) return false;
    pat_nodes_add(&m->nodes, sq);
    /* variance, eps, sqrt */
    int r2 = pat_consumer_op(g, u, g->nodes[sq].outputs[0], "ReduceMean");
    if (r2 < 0 || trailing_axis(g, &g->nodes[r2], m->rank) != axis) return false;
    pat_nodes_add(&m->nodes, r2);
    int ae = pat_consumer_op(g, u, g->nodes[r2].outputs[0], "Add");
    if (ae < 0) return false;
    double eps;
    int ev = pat_other_input(&g->nodes[ae], g->nodes[r2].outputs[0]);
    if (!pat_const_scalar(g, ev, &eps) || !(eps >= 0) || g->values[ev].t.shape.rank > m->rank) return false;
    m->eps = (float)eps;
    pat_nodes_add(&m->nodes, ae);
    int sr = pat_single_consumer(u, g->nodes[ae].outputs[0]);
    if (sr < 0) return false;
    const ir_node *srn = &g->nodes[sr];
    if (!(pat_is_op(srn, "Sqrt") ||
          (pat_is_op(srn, "Pow") && srn->inputs[0] == g->nodes[ae].outputs[0] &&
           pat_const_near(g, pat_input(srn, 1), 0.5, 0))))
        return false;
    pat_nodes_add(&m->nodes, sr);
    int s = srn->outputs[0];
    /* normalise: d / s  or  d * (1 / s) */
    const ir_node *dn = &g->nodes[div];
    if (pat_is_op(dn, "Div")) {
        if (dn->inputs[1] != s || pat_single_consumer(u, s) != div) return false;
    } else {
        int rc = pat_consumer_op(g, u, s, "Reciprocal");
        if (rc < 0 || pat_other_input(dn, d) != g->nodes[rc].outputs[0] ||
            pat_single_consumer(u, g->nodes[rc].outputs[0]) != div)
            return false;
        pat_nodes_add(&m->nodes, rc);
    }
    pat_nodes_add(&m->nodes, div);
    int y = dn->outputs[0];
    /* optional scale and bias */
    m->gamma = m->beta = -1;
    fwd_dtype dt = g->values[x].t.dtype;
    int mg = pat_consumer_op(g, u, y, "Mul");
    if (mg >= 0) {
        int gv = pat_other_input(&g->nodes[mg], y);
        if (gv >= 0 && param_fits(g, gv, xs, axis, dt)) {
            m->gamma = gv;
            pat_nodes_add(&m->nodes, mg);
            y = g->nodes[mg].outputs[0];
        }
    }
    int ab = pat_consumer_op(g, u, y, "Add");
    if (ab >= 0) {
        int bv = pat_other_input(&g->nodes[ab], y);
        if (bv >= 0 && param_fits(g, bv, xs, axis, dt)) {
            m->beta = bv;
            pat_nodes_add(&m->nodes, ab);
            y = g->nodes[ab].outputs[0];
        }
    }
    m->y = y;
    return m->nodes.n < PAT_MAX_NODES;
}

static fwd_status emit(ir_graph *g, const ln_match *m, const char *name)
{
    const char *fused = pat_nodes_fused(g, &m->nodes);
    if (!fused) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory fusing LayerNormalization");
    int gamma = m->gamma;
    if (gamma < 0) {
        /* LayerNormalization needs a scale: ones over the normalised dims */
        const ir_shape *xs = &g->values[m->x].t.shape;
        ir_shape ps = {.rank = m->rank - m->axis};
        int64_t cnt = 1;
        for (int i = 0; i < ps.rank; i++) cnt *= (ps.dims[i] = xs->dims[m->axis + i]);
        float *ones = malloc(sizeof(float) * (size_t)(cnt ? cnt : 1));
        if (!ones) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory fusing LayerNormalization");
        for (int64_t i = 0; i < cnt; i++) ones[i] = 1.0f;
        fwd_status st = pat_add_f32_const(g, "layernorm_ones", &ps, ones, &gamma);
        free(ones);
        FWD_TRY(st);
    }
    ir_attr attrs[3];
    FWD_TRY(pat_attr_int(g->model, "axis", m->axis, &attrs[0]));
    FWD_TRY(pat_attr_float(g->model, "epsilon", m->eps, &attrs[1]));
    FWD_TRY(pat_attr_string(g->model, PASS_FUSED_ATTR, fused, &attrs[2]));
    int ins[3] = {m->x, gamma, m->beta};
    return pat_emit_node(g, "LayerNormalization", name, ins, m->beta >= 0 ? 3 : 2, &m->y, 1, attrs, 3, NULL);
}

fwd_status pass_fuse_layernorm(ir_graph *g, const pass_ctx *c, int *n_changed)
{
    *n_changed = 0;
    pat_sweep sw;
    FWD_TRY(pat_sweep_begin(g, &sw, "fusing LayerNormalization"));
    fwd_status st = FWD_OK;
    for (int i = 0; i < sw.n0; i++) {
        if (!pat_is_op(&g->nodes[i], "ReduceMean") || g->nodes[i].n_inputs < 1) continue;
        ln_match m = {.x = -1};
        if (!match(g, &sw.u, i, &m)) continue;
        bool taken = pat_nodes_taken(&m.nodes, sw.drop);
        fwd_dtype dt = g->values[m.x].t.dtype;
        if (taken || !ir_dtype_is_float(dt) || g->values[m.y].t.dtype != dt) continue;
        /* without gamma the ones constant needs the normalised dims, and is
         * float32 */
        if (m.gamma < 0) {
            if (dt != FWD_FLOAT32) continue;
            bool known = true;
            for (int k = m.axis; k < m.rank; k++) known &= ir_dim_known(g->values[m.x].t.shape.dims[k]);
            if (!known) continue;
        }
        /* the result keeps x's rank (constants did not broadcast it up) */
        if (g->values[m.y].t.shape.rank != m.rank) continue;
        if (c && c->has_kernel && !c->has_kernel(c->user, "LayerNormalization", dt)) continue;
        st = emit(g, &m, g->nodes[i].name);
        if (st) break;
        pat_nodes_drop(&m.nodes, sw.drop);
        (*n_changed)++;
    }
    return pat_sweep_end(g, &sw, st, *n_changed);
}

/*
 * Scaled dot-product attention fusion:
 *   s = MatMul(Q, KT)  [Div(s, c) | Mul(s, c)]  [Add(s, Mask)]
 *   P = Softmax(s, axis = last)   Y = MatMul(P, V)
 * becomes FusedAttention(Q, K, V, Mask?) -> Y with scale = 1/c or c.
 * When KT is a Transpose swapping the last two dims of K (and read by
 * nothing else) it is absorbed (k_transposed = 0); otherwise KT is passed
 * as is with k_transposed = 1. Other mask forms (Where) are left alone.
 * Every intermediate value must be read by the chain alone, and the mask
 * must not broadcast the scores to a bigger shape.
 * A second sweep (fuse_attention_layout.c) then lets the fused nodes read
 * Q, K, V from the projections' [B, S, H*D] rows and write Y the same way,
 * absorbing the Split/Reshape/Transpose copies around them.
 */
#include "passes/fuse_attention_layout.h"
#include "passes/passes.h"
#include "passes/pattern.h"
#include "util/error.h"

typedef struct att_match {
    int q, k, v, mask, y;
    bool k_transposed;
    float scale;
    pat_nodes nodes; /* at most 6 */
} att_match;

/* Whether dim a of the mask may leave score dim b as it is under
 * broadcasting. Unknown dims pass unless the scores' dim is a known 1
 * (which a mask dim above 1 would grow): dynamic-shape models rarely
 * keep the sequence dims known, and the kernel checks the shapes at run
 * time. */
static bool mask_dim_ok(int64_t a, int64_t b)
{
    if (a == 1 || (a == b && a != IR_DIM_UNKNOWN)) return true;
    if (ir_dim_known(a) && ir_dim_known(b)) return false;
    return b != 1;
}

/* s = the scores before the mask: [Div|Mul by constant] over MatMul(Q, KT). */
static bool match_scores(const ir_graph *g, const pat_uses *u, int s, att_match *m)
{
    m->scale = 1.0f;
    int p = pat_producer(g, s);
    if (p < 0 || pat_single_consumer(u, s) < 0) return false;
    const ir_node *pn = &g->nodes[p];
    int mm_out = s;
    if ((pat_is_op(pn, "Div") || pat_is_op(pn, "Mul")) && pn->n_inputs == 2) {
        int rank = g->values[s].t.shape.rank;
        for (int side = 0; side < 2; side++) {
            int cv = pn->inputs[side];
            double c;
            if (pat_is_op(pn, "Div") && side == 0) continue;
            if (!pat_const_scalar(g, cv, &c) || g->values[cv].t.shape.rank > rank) continue;
            if (pat_is_op(pn, "Div")) {
                if (c == 0) return false;
                c = 1.0 / c;
            }
            m->scale = (float)c;
            mm_out = pn->inputs[1 - side];
            pat_nodes_add(&m->nodes, p);
            break;
        }
        if (mm_out == s) return false;
    }
    int mm = pat_single_use_producer(g, u, mm_out, "MatMul");
    if (mm < 0) return false;
    m->q = g->nodes[mm].inputs[0];
    int kt = g->nodes[mm].inputs[1];
    pat_nodes_add(&m->nodes, mm);
    /* absorb Transpose(K, perm swapping the last two dims) */
    int tr = pat_single_use_producer(g, u, kt, "Transpose");
    int r = g->values[kt].t.shape.rank;
    m->k = kt;
    m->k_transposed = true;
    if (tr >= 0 && r >= 2) {
        int cnt = 0;
        const int64_t *perm = ir_attr_ints(&g->nodes[tr], "perm", &cnt);
        bool swap = perm && cnt == r;
        for (int i = 0; swap && i < r; i++) swap = perm[i] == (i < r - 2 ? i : (i == r - 2 ? r - 1 : r - 2));
        if (swap) {
            m->k = g->nodes[tr].inputs[0];
            m->k_transposed = false;
            pat_nodes_add(&m->nodes, tr);
        }
    }
    return true;
}

/* Match from Softmax node si. */
static bool match(const ir_graph *g, const pat_uses *u, int si, att_match *m)
{
    const ir_node *sm = &g->nodes[si];
    if (sm->n_inputs != 1 || sm->n_outputs < 1) return false;
    int s = sm->inputs[0];
    const ir_shape *ss = &g->values[s].t.shape;
    int rank = ss->rank;
    if (rank < 2) return false;
    int64_t ax = ir_attr_int(sm, "axis", -1);
    if (ax != -1 && ax != rank - 1) return false;
    int pv = sm->outputs[0];
    int mm2 = pat_single_consumer(u, pv);
    if (mm2 < 0 || !pat_is_op(&g->nodes[mm2], "MatMul") || g->nodes[mm2].inputs[0] != pv) return false;
    m->v = g->nodes[mm2].inputs[1];
    m->y = g->nodes[mm2].outputs[0];
    m->mask = -1;
    int p = pat_producer(g, s);
    if (p >= 0 && pat_is_op(&g->nodes[p], "Add") && pat_single_consumer(u, s) == si) {
        const ir_node *an = &g->nodes[p];
        for (int side = 0; side < 2 && m->mask < 0; side++) {
            att_match t = *m;
            if (!match_scores(g, u, an->inputs[side], &t)) continue;
            int mk = an->inputs[1 - side];
            const ir_shape *ms = &g->values[mk].t.shape;
            const ir_shape *sc = &g->values[an->inputs[side]].t.shape;
            if (ms->rank < 0 || ms->rank > rank || sc->rank != rank) return false;
            for (int d = 0; d < ms->rank; d++)
                if (!mask_dim_ok(ms->dims[d], sc->dims[d + rank - ms->rank])) return false;
            *m = t;
            m->mask = mk;
            pat_nodes_add(&m->nodes, p);
        }
        if (m->mask < 0) return false;
    } else if (!match_scores(g, u, s, m)) {
        return false;
    }
    pat_nodes_add(&m->nodes, si);
    pat_nodes_add(&m->nodes, mm2);
    /* the scores' rank is the MatMul's: Q, K^T and V must give it */
    int rq = g->values[m->q].t.shape.rank, rv = g->values[m->v].t.shape.rank;
    int rk = g->values[m->k].t.shape.rank;
    return m->nodes.n < PAT_MAX_NODES && rq >= 2 && rv >= 2 && rk >= 2 && rq <= rank && rk <= rank && rv <= rank &&
           g->values[m->y].t.shape.rank == rank;
}

static fwd_status emit(ir_graph *g, const att_match *m, const char *name)
{
    const char *fused = pat_nodes_fused(g, &m->nodes);
    if (!fused) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory fusing attention");
    ir_attr attrs[3];
    FWD_TRY(pat_attr_float(g->model, "scale", m->scale, &attrs[0]));
    FWD_TRY(pat_attr_int(g->model, "k_transposed", m->k_transposed ? 1 : 0, &attrs[1]));
    FWD_TRY(pat_attr_string(g->model, PASS_FUSED_ATTR, fused, &attrs[2]));
    int ins[4] = {m->q, m->k, m->v, m->mask};
    return pat_emit_node(g, "FusedAttention", name, ins, m->mask >= 0 ? 4 : 3, &m->y, 1, attrs, 3, NULL);
}

fwd_status pass_fuse_attention(ir_graph *g, const pass_ctx *c, int *n_changed)
{
    *n_changed = 0;
    pat_sweep sw;
    FWD_TRY(pat_sweep_begin(g, &sw, "fusing attention"));
    fwd_status st = FWD_OK;
    for (int i = 0; i < sw.n0; i++) {
        if (!pat_is_op(&g->nodes[i], "Softmax")) continue;
        att_match m = {.q = -1};
        if (!match(g, &sw.u, i, &m)) continue;
        bool taken = pat_nodes_taken(&m.nodes, sw.drop);
        fwd_dtype dt = g->values[m.q].t.dtype;
        /* the kernel computes in float32: float64 would lose precision */
        if (taken || !ir_dtype_is_float(dt) || dt == FWD_FLOAT64 || g->values[m.k].t.dtype != dt ||
            g->values[m.v].t.dtype != dt)
            continue;
        if (m.mask >= 0 && g->values[m.mask].t.dtype != dt) continue;
        if (c && c->has_kernel && !c->has_kernel(c->user, "FusedAttention", dt)) continue;
        st = emit(g, &m, g->nodes[i].name);
        if (st) break;
        pat_nodes_drop(&m.nodes, sw.drop);
        (*n_changed)++;
    }
    FWD_TRY(pat_sweep_end(g, &sw, st, *n_changed));
    /* then read the heads where the projections put them */
    int n_layout = 0;
    FWD_TRY(pass_attention_layout(g, &n_layout));
    *n_changed += n_layout;
    return FWD_OK;
}

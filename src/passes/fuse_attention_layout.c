/*
 * Sequence-major attention (ir/fused_ops.h, attribute num_heads): a
 * head-major FusedAttention whose Q, K and V come from [B, S, H*D] rows
 * through
 *   Reshape [B, S, H, D] -> Transpose (0,2,1,3)   (K: (0,2,3,1) when
 *                                                  k_transposed)
 * and whose output goes back through
 *   Transpose (0,2,1,3) -> Reshape [B, S, H*Dv]
 * is rewritten to read and write those rows directly: the Transposes
 * (copies) and Reshapes disappear. When the three row tensors are the
 * outputs of one Split of a packed projection [B, S, Wq + Wk + Wv] along
 * the last axis, the Split goes too: Q = K = V = the projection, with the
 * heads at column offsets.
 *
 * Every absorbed intermediate must be read by the pattern alone (not by
 * other nodes, not a graph output, not read by a subgraph); the Reshapes
 * must keep the batch and sequence dims in place.
 */
#include "passes/fuse_attention_layout.h"

#include "passes/passes.h"
#include "passes/pattern.h"
#include "util/error.h"

/* One of Q, K, V: the row tensor [B, S, H*D] it was split out of. */
typedef struct head_src {
    int x;         /* the row tensor */
    int64_t h, d;  /* heads, head size */
    int tr, rs;    /* the absorbed Transpose and Reshape */
} head_src;

static bool perm_is(const ir_node *n, const int64_t *want, int r)
{
    int cnt = 0;
    const int64_t *perm = ir_attr_ints(n, "perm", &cnt);
    if (!perm || cnt != r) return false;
    for (int i = 0; i < r; i++)
        if (perm[i] != want[i]) return false;
    return true;
}

/* Dims a and b are the same at run time: equal and known, or the same
 * symbol. */
static bool same_dim(int64_t a, int64_t b) { return a == b && a != IR_DIM_UNKNOWN; }

/* Reshape node rs keeps dims 0 and 1 of its input in place and turns the
 * rest into dims of sizes tail[0..n_tail) (known, > 0). Read from the
 * constant target shape when there is one: each of its first two entries
 * copies (0), equals the known input dim, or is the one -1 (then forced
 * to the input's dim, as the tail keeps the rest's size); else from the
 * inferred shapes. */
static bool reshape_keeps_lead(const ir_graph *g, const ir_node *rs, int64_t *tail, int n_tail)
{
    if (rs->n_inputs < 2 || rs->n_outputs < 1 || rs->outputs[0] < 0) return false;
    const ir_shape *xs = &g->values[rs->inputs[0]].t.shape, *ys = &g->values[rs->outputs[0]].t.shape;
    int r = 2 + n_tail;
    if (xs->rank < 3 || ys->rank != r) return false;
    int64_t in_tail = 1;
    for (int i = 2; i < xs->rank; i++) {
        if (!ir_dim_known(xs->dims[i])) return false;
        in_tail *= xs->dims[i];
    }
    int64_t c[IR_MAX_RANK], out_tail = 1;
    if (pat_const_i64s(g, rs->inputs[1], c, r)) {
        bool allow_zero = ir_attr_int(rs, "allowzero", 0) != 0;
        int neg = 0;
        for (int i = 0; i < 2; i++) {
            if (c[i] == -1) neg++;
            else if (!(c[i] == 0 && !allow_zero) && !(ir_dim_known(xs->dims[i]) && c[i] == xs->dims[i])) return false;
        }
        if (neg > 1) return false;
        for (int i = 2; i < r; i++) {
            if (c[i] <= 0) return false;
            tail[i - 2] = c[i];
        }
    } else {
        for (int i = 0; i < 2; i++)
            if (!same_dim(xs->dims[i], ys->dims[i])) return false;
        for (int i = 2; i < r; i++) {
            if (!ir_dim_known(ys->dims[i]) || ys->dims[i] == 0) return false;
            tail[i - 2] = ys->dims[i];
        }
    }
    for (int i = 0; i < n_tail; i++) out_tail *= tail[i];
    return out_tail == in_tail;
}

/* Input x4 of the attention: Transpose(Reshape(x, [B, S, H, D]), perm). */
static bool match_src(const ir_graph *g, const pat_uses *u, int x4, const int64_t *perm, head_src *hs)
{
    hs->tr = pat_single_use_producer(g, u, x4, "Transpose");
    if (hs->tr < 0) return false;
    const ir_node *tr = &g->nodes[hs->tr];
    if (tr->n_inputs != 1 || !perm_is(tr, perm, 4)) return false;
    hs->rs = pat_single_use_producer(g, u, tr->inputs[0], "Reshape");
    if (hs->rs < 0) return false;
    const ir_node *rs = &g->nodes[hs->rs];
    int64_t hd[2];
    if (g->values[rs->inputs[0]].t.shape.rank != 3 || !reshape_keeps_lead(g, rs, hd, 2)) return false;
    hs->x = rs->inputs[0];
    hs->h = hd[0];
    hs->d = hd[1];
    return true;
}

/* The three row tensors are the outputs of one Split along the last
 * axis of a rank-3 tensor, each read by its Reshape alone: *packed gets
 * the Split's input, off[] the column offsets, *split the node. */
static bool match_split(const ir_graph *g, const pat_uses *u, const head_src *src, int *packed, int64_t *off,
                        int *split)
{
    int sp = pat_producer(g, src[0].x);
    if (sp < 0 || !pat_is_op(&g->nodes[sp], "Split")) return false;
    const ir_node *n = &g->nodes[sp];
    if (n->n_outputs != 3 || n->n_inputs < 1) return false;
    const ir_shape *ps = &g->values[n->inputs[0]].t.shape;
    int64_t axis = ir_attr_int(n, "axis", 0);
    if (ps->rank != 3 || (axis != 2 && axis != -1)) return false;
    int64_t col[3], at = 0;
    for (int i = 0; i < 3; i++) {
        int o = n->outputs[i];
        if (o < 0 || !ir_dim_known(g->values[o].t.shape.dims[2]) || g->values[o].t.shape.rank != 3) return false;
        col[i] = at;
        at += g->values[o].t.shape.dims[2];
    }
    for (int k = 0; k < 3; k++) {
        int which = -1;
        for (int i = 0; i < 3; i++)
            if (n->outputs[i] == src[k].x) which = i;
        if (which < 0 || pat_single_consumer(u, src[k].x) != src[k].rs) return false;
        for (int p = 0; p < k; p++)
            if (src[p].x == src[k].x) return false;
        off[k] = col[which];
    }
    *packed = n->inputs[0];
    *split = sp;
    return true;
}

/* The attention's output y [B, H, S, Dv] read by Transpose (0,2,1,3),
 * read by a Reshape to [B, S, H*Dv]; *out gets the Reshape's output. */
static bool match_out(const ir_graph *g, const pat_uses *u, int y, int64_t h, int64_t dv, pat_nodes *nodes,
                      int *out)
{
    static const int64_t perm[4] = {0, 2, 1, 3};
    int tr = pat_consumer_op(g, u, y, "Transpose");
    if (tr < 0 || g->nodes[tr].n_inputs != 1 || !perm_is(&g->nodes[tr], perm, 4)) return false;
    const ir_shape *ts = &g->values[g->nodes[tr].outputs[0]].t.shape;
    if (ts->rank != 4 || ts->dims[2] != h || ts->dims[3] != dv) return false;
    int rs = pat_consumer_op(g, u, g->nodes[tr].outputs[0], "Reshape");
    int64_t w;
    if (rs < 0 || g->nodes[rs].inputs[0] != g->nodes[tr].outputs[0] || !reshape_keeps_lead(g, &g->nodes[rs], &w, 1))
        return false;
    pat_nodes_add(nodes, tr);
    pat_nodes_add(nodes, rs);
    *out = g->nodes[rs].outputs[0];
    return true;
}

typedef struct layout_match {
    int q, k, v, mask, out;
    int64_t h, d, dv, off[3];
    pat_nodes in_nodes;  /* Split, Reshapes, Transposes before the attention */
    pat_nodes out_nodes; /* Transpose, Reshape after it */
} layout_match;

static bool match(const ir_graph *g, const pat_uses *u, int ai, layout_match *m)
{
    static const int64_t heads[4] = {0, 2, 1, 3}, heads_t[4] = {0, 2, 3, 1};
    const ir_node *a = &g->nodes[ai];
    if (a->n_inputs < 3 || a->n_outputs != 1 || a->outputs[0] < 0 || ir_attr_int(a, "num_heads", 0) != 0) return false;
    bool kt = ir_attr_int(a, "k_transposed", 0) != 0;
    int y = a->outputs[0];
    if (g->values[y].t.shape.rank != 4) return false;
    head_src src[3];
    if (!match_src(g, u, a->inputs[0], heads, &src[0]) || !match_src(g, u, a->inputs[1], kt ? heads_t : heads, &src[1]) ||
        !match_src(g, u, a->inputs[2], heads, &src[2]))
        return false;
    if (src[0].h != src[1].h || src[0].h != src[2].h || src[0].d != src[1].d) return false;
    m->h = src[0].h;
    m->d = src[0].d;
    m->dv = src[2].d;
    m->mask = pat_input(a, 3);
    int split = -1, packed = -1;
    if (match_split(g, u, src, &packed, m->off, &split)) {
        m->q = m->k = m->v = packed;
        pat_nodes_add(&m->in_nodes, split);
    } else {
        m->q = src[0].x;
        m->k = src[1].x;
        m->v = src[2].x;
        m->off[0] = m->off[1] = m->off[2] = 0;
        /* the kernel needs one batch size and K, V of one length */
        const ir_shape *qs = &g->values[m->q].t.shape, *ks = &g->values[m->k].t.shape, *vs = &g->values[m->v].t.shape;
        if ((m->k != m->q && !same_dim(qs->dims[0], ks->dims[0])) || (m->v != m->q && !same_dim(qs->dims[0], vs->dims[0])))
            return false;
        if (m->v != m->k && !same_dim(ks->dims[1], vs->dims[1])) return false;
    }
    for (int i = 0; i < 3; i++) {
        pat_nodes_add(&m->in_nodes, src[i].rs);
        pat_nodes_add(&m->in_nodes, src[i].tr);
    }
    return match_out(g, u, y, m->h, m->dv, &m->out_nodes, &m->out);
}

static fwd_status emit(ir_graph *g, int ai, const layout_match *m)
{
    ir_model *md = g->model;
    const ir_node *a = &g->nodes[ai];
    const char *name = a->name;
    float scale = ir_attr_float(a, "scale", 1.0f);
    const char *fused = pat_nodes_fused(g, &m->in_nodes);
    if (fused) fused = pat_fused_join(md, fused, pat_fused_of(a));
    if (fused) fused = pat_fused_join(md, fused, "Transpose+Reshape");
    if (!fused) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory fusing attention '%s'", name);
    ir_attr attrs[7];
    int na = 0;
    FWD_TRY(pat_attr_float(md, "scale", scale, &attrs[na++]));
    FWD_TRY(pat_attr_int(md, "num_heads", m->h, &attrs[na++]));
    FWD_TRY(pat_attr_int(md, "head_dim", m->d, &attrs[na++]));
    if (m->dv != m->d) FWD_TRY(pat_attr_int(md, "v_head_dim", m->dv, &attrs[na++]));
    if (m->off[0] || m->off[1] || m->off[2]) FWD_TRY(pat_attr_ints(md, "offsets", m->off, 3, &attrs[na++]));
    FWD_TRY(pat_attr_string(md, PASS_FUSED_ATTR, fused, &attrs[na++]));
    int ins[4] = {m->q, m->k, m->v, m->mask};
    return pat_emit_node(g, "FusedAttention", name, ins, m->mask >= 0 ? 4 : 3, &m->out, 1, attrs, na, NULL);
}

fwd_status pass_attention_layout(ir_graph *g, int *n_changed)
{
    *n_changed = 0;
    pat_sweep sw;
    FWD_TRY(pat_sweep_begin(g, &sw, "fusing attention layouts"));
    fwd_status st = FWD_OK;
    for (int i = 0; i < sw.n0; i++) {
        if (sw.drop[i] || !pat_is_op(&g->nodes[i], "FusedAttention")) continue;
        layout_match m = {.mask = -1};
        if (!match(g, &sw.u, i, &m)) continue;
        if (pat_nodes_taken(&m.in_nodes, sw.drop) || pat_nodes_taken(&m.out_nodes, sw.drop)) continue;
        st = emit(g, i, &m);
        if (st) break;
        pat_nodes_drop(&m.in_nodes, sw.drop);
        pat_nodes_drop(&m.out_nodes, sw.drop);
        sw.drop[i] = true;
        (*n_changed)++;
    }
    return pat_sweep_end(g, &sw, st, *n_changed);
}

/*
 * Bias and activation fusion into FusedConv / FusedMatMul (ir/fused_ops.h):
 *   Conv -> [Add per-channel constant] -> [Add residual of the same shape]
 *        -> [activation]                        => FusedConv(X, W, B?, Z?)
 *   MatMul -> [Add constant bias] -> [Add residual of the same shape]
 *          -> [activation]                        => FusedMatMul(A, B, C?, Z?)
 *   Gemm -> [Add residual] -> [activation]        => FusedMatMul(A, B, C?, Z?)
 * (the residual joins before the activation, as the contract adds it).
 * At least one step must follow the Conv/MatMul. Every value inside a
 * pattern must be read by the pattern alone (not by other nodes, not a
 * graph output, not read by a subgraph), and only float32 is fused, when
 * the backend has the fused kernel.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"
#include "passes/pattern.h"
#include "util/error.h"

#define MAX_ATTRS 16

/* What a match absorbed after its head node (Conv/MatMul/Gemm). */
typedef struct chain {
    pat_nodes nodes;
    char fused[256];
    int out;            /* the value the fused node produces */
    const char *act;    /* activation attribute; "" for none */
    float alpha, beta;  /* activation_alpha / activation_beta */
    bool has_alpha, has_beta;
} chain;

static void chain_add(chain *ch, int node, const char *ops)
{
    pat_nodes_add(&ch->nodes, node);
    size_t len = strlen(ch->fused);
    snprintf(ch->fused + len, sizeof ch->fused - len, "+%s", ops);
}

/* The node reading v when v has one reader that no earlier match took. */
static int next_node(const pat_uses *u, const bool *drop, int v)
{
    int c = pat_single_consumer(u, v);
    return c >= 0 && !drop[c] ? c : -1;
}

/* The other input of a two-input node that reads v in one slot; -1 if
 * it reads v in both or neither. */
static int other_input(const ir_node *n, int v)
{
    if (n->n_inputs != 2 || n->n_outputs != 1 || n->outputs[0] < 0) return -1;
    if (n->inputs[0] == v && n->inputs[1] != v) return n->inputs[1];
    if (n->inputs[1] == v && n->inputs[0] != v) return n->inputs[0];
    return -1;
}

/* Binary op_type node reading v and a constant near want. */
static bool is_binary_with_const(const ir_graph *g, const ir_node *n, const char *op, int v,
                                 double want)
{
    if (!pat_is_op(n, op)) return false;
    int o = other_input(n, v);
    return o >= 0 && pat_const_near(g, o, want, 1e-3);
}

/* x * 0.5 * (1 + erf(x / sqrt(2))) in the orders exporters write it:
 *   Mul(Mul(x, A), 0.5), Mul(Mul(x, 0.5), A), Mul(x, Mul(A, 0.5))
 * with A = Add(Erf(Div(x, sqrt2) or Mul(x, 1/sqrt2)), 1). */
static bool match_gelu_erf(const ir_graph *g, const pat_uses *u, const bool *drop, int x,
                           chain *ch)
{
    if (pat_pinned(u, x) || pat_num_uses(u, x) != 2) return false;
    int d = -1, other = -1;
    for (int k = 0; k < 2; k++) {
        int c = pat_use(u, x, k);
        const ir_node *n = &g->nodes[c];
        if (drop[c]) return false;
        if (d < 0 && (is_binary_with_const(g, n, "Div", x, sqrt(2.0)) ||
                      is_binary_with_const(g, n, "Mul", x, sqrt(0.5))))
            d = c;
        else
            other = c;
    }
    if (d < 0 || other < 0 || other == d) return false;
    if (pat_is_op(&g->nodes[d], "Div") && g->nodes[d].inputs[0] != x) return false;
    int e = next_node(u, drop, g->nodes[d].outputs[0]);
    if (e < 0 || !pat_is_op(&g->nodes[e], "Erf") || g->nodes[e].n_outputs != 1) return false;
    int ev = g->nodes[e].outputs[0];
    int a = next_node(u, drop, ev);
    if (a < 0 || !is_binary_with_const(g, &g->nodes[a], "Add", ev, 1.0)) return false;
    int av = g->nodes[a].outputs[0];
    int m1 = next_node(u, drop, av);
    if (m1 < 0 || !pat_is_op(&g->nodes[m1], "Mul")) return false;
    int m1v = g->nodes[m1].outputs[0], m1o = other_input(&g->nodes[m1], av);
    int last;
    if (is_binary_with_const(g, &g->nodes[m1], "Mul", av, 0.5)) {
        /* x * (A * 0.5) */
        last = next_node(u, drop, m1v);
        if (last != other || other_input(&g->nodes[last], m1v) != x) return false;
    } else if (m1o == x && m1 == other) {
        /* (x * A) * 0.5 */
        last = next_node(u, drop, m1v);
        if (last < 0 || !is_binary_with_const(g, &g->nodes[last], "Mul", m1v, 0.5)) return false;
    } else {
        /* (x * 0.5) * A */
        if (!is_binary_with_const(g, &g->nodes[other], "Mul", x, 0.5)) return false;
        if (m1o != g->nodes[other].outputs[0] || next_node(u, drop, m1o) != m1) return false;
        last = m1;
    }
    /* absorbed: d, e, a, m1, other and last (some coincide) */
    int list[6] = {d, e, a, m1, other, last};
    for (int i = 0; i < 6; i++) {
        bool dup = false;
        for (int j = 0; j < i; j++) dup |= list[j] == list[i];
        if (!dup) pat_nodes_add(&ch->nodes, list[i]);
    }
    size_t len = strlen(ch->fused);
    snprintf(ch->fused + len, sizeof ch->fused - len, "+%s+Erf+Add+Mul+Mul",
             pat_is_op(&g->nodes[d], "Div") ? "Div" : "Mul");
    ch->act = "Gelu";
    ch->out = g->nodes[last].outputs[0];
    return true;
}

/* An activation reading x (alone); extends ch on success. */
static bool match_activation(const ir_graph *g, const pat_uses *u, const bool *drop, int x,
                             chain *ch)
{
    int c = next_node(u, drop, x);
    if (c < 0) {
        /* x * sigmoid(x): x read by a Sigmoid and the Mul */
        if (!pat_pinned(u, x) && pat_num_uses(u, x) == 2) {
            int s = pat_use(u, x, 0), m = pat_use(u, x, 1);
            if (pat_is_op(&g->nodes[m], "Sigmoid")) {
                int t = s;
                s = m;
                m = t;
            }
            const ir_node *sn = &g->nodes[s], *mn = &g->nodes[m];
            if (!drop[s] && !drop[m] && pat_is_op(sn, "Sigmoid") && pat_is_op(mn, "Mul") &&
                sn->n_inputs == 1 && sn->n_outputs == 1 && sn->outputs[0] >= 0 &&
                other_input(mn, x) == sn->outputs[0] && next_node(u, drop, sn->outputs[0]) == m) {
                chain_add(ch, s, "Sigmoid");
                chain_add(ch, m, "Mul");
                ch->act = "SiLU";
                ch->out = mn->outputs[0];
                return true;
            }
        }
        return match_gelu_erf(g, u, drop, x, ch);
    }
    const ir_node *n = &g->nodes[c];
    if (n->n_outputs < 1 || n->outputs[0] < 0 || n->inputs[0] != x) return false;
    if (!pat_only_first_output_used(u, n)) return false;
    const char *act = NULL;
    if (pat_is_op(n, "Relu") || pat_is_op(n, "Sigmoid") || pat_is_op(n, "Tanh") ||
        pat_is_op(n, "HardSwish")) {
        act = n->op_type;
    } else if (pat_is_op(n, "LeakyRelu")) {
        act = "LeakyRelu";
        ch->alpha = ir_attr_float(n, "alpha", 0.01f);
        ch->has_alpha = true;
    } else if (pat_is_op(n, "Clip")) {
        double lo = -INFINITY, hi = INFINITY;
        int mn = pat_input(n, 1), mx = pat_input(n, 2);
        if (mn >= 0 && !pat_const_scalar(g, mn, &lo)) return false;
        if (mx >= 0 && !pat_const_scalar(g, mx, &hi)) return false;
        act = "Clip";
        ch->alpha = (float)lo;
        ch->beta = (float)hi;
        ch->has_alpha = ch->has_beta = true;
    } else if (pat_is_op(n, "Gelu")) {
        const char *approx = ir_attr_string(n, "approximate", "none");
        if (strcmp(approx, "none") == 0) act = "Gelu";
        else if (strcmp(approx, "tanh") == 0) act = "GeluTanh";
        else return false;
    } else {
        return false;
    }
    chain_add(ch, c, pat_fused_of(n));
    ch->act = act;
    ch->out = n->outputs[0];
    return true;
}

static bool is_f32(const ir_graph *g, int v)
{
    return v >= 0 && g->values[v].t.dtype == FWD_FLOAT32;
}

/* Constant c broadcasts onto y without changing y's shape, in float32. */
static bool fits_onto(const ir_graph *g, int c, const ir_shape *y)
{
    if (!pat_is_const(g, c) || g->values[c].t.dtype != FWD_FLOAT32 || pat_const_numel(g, c) < 0)
        return false;
    const ir_shape *s = &g->values[c].t.shape;
    if (y->rank < 0 || s->rank > y->rank) return false;
    for (int i = 0; i < s->rank; i++) {
        int64_t d = s->dims[i], yd = y->dims[y->rank - s->rank + i];
        if (d != 1 && d != yd) return false;
    }
    return true;
}

/* Constant c holds one value per channel (axis 1 of a rank-r output with m
 * channels) or a single value; fills bias[m] (added to what is there). */
static bool add_channel_bias(const ir_graph *g, int c, int r, int64_t m, float *bias)
{
    if (!pat_is_const(g, c) || g->values[c].t.dtype != FWD_FLOAT32) return false;
    const ir_shape *s = &g->values[c].t.shape;
    int64_t n = pat_const_numel(g, c);
    if (s->rank > r || n < 0 || (n != 1 && n != m)) return false;
    int chan_axis = s->rank - (r - 1); /* axis 1 of the output, in c's dims */
    for (int i = 0; i < s->rank; i++)
        if (s->dims[i] != 1 && i != chan_axis) return false;
    const float *p = g->values[c].t.data;
    for (int64_t k = 0; k < m; k++) bias[k] += p[n == 1 ? 0 : k];
    return true;
}

/* Both shapes known to be the same: equal rank, each dim known and equal
 * or the same symbol. */
static bool same_shape(const ir_shape *a, const ir_shape *b)
{
    if (a->rank < 0 || a->rank != b->rank) return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i] || a->dims[i] == IR_DIM_UNKNOWN) return false;
    return true;
}

/* A residual Add reading *y and a float32 tensor of the same shape: the
 * tensor (Z), with *y and ch moved past the Add; -1 when there is none. */
static int match_residual(const ir_graph *g, const pat_uses *u, const bool *drop, int *y, chain *ch)
{
    int c = next_node(u, drop, *y);
    if (c < 0 || !pat_is_op(&g->nodes[c], "Add")) return -1;
    int o = other_input(&g->nodes[c], *y);
    if (o < 0 || !is_f32(g, o) || !same_shape(&g->values[o].t.shape, &g->values[*y].t.shape) ||
        !is_f32(g, g->nodes[c].outputs[0]))
        return -1;
    chain_add(ch, c, "Add");
    *y = ch->out = g->nodes[c].outputs[0];
    return o;
}

/* Append the activation attributes and the fused string to attrs. */
static fwd_status act_attrs(ir_model *m, const chain *ch, ir_attr *attrs, int *na)
{
    FWD_TRY(pat_attr_string(m, "activation", ch->act, &attrs[(*na)++]));
    if (ch->has_alpha) FWD_TRY(pat_attr_float(m, "activation_alpha", ch->alpha, &attrs[(*na)++]));
    if (ch->has_beta) FWD_TRY(pat_attr_float(m, "activation_beta", ch->beta, &attrs[(*na)++]));
    return pat_attr_string(m, PASS_FUSED_ATTR, ch->fused, &attrs[(*na)++]);
}

static void chain_init(chain *ch, const ir_node *head)
{
    memset(ch, 0, sizeof *ch);
    snprintf(ch->fused, sizeof ch->fused, "%s", pat_fused_of(head));
    ch->act = "";
    ch->out = head->outputs[0];
}

/* Conv at index ci; *done when fused. */
static fwd_status fuse_conv(ir_graph *g, const pat_uses *u, bool *drop, int ci, bool *done)
{
    *done = false;
    const ir_node *conv = &g->nodes[ci];
    if (conv->n_inputs < 2 || conv->n_outputs != 1 || conv->outputs[0] < 0) return FWD_OK;
    int x = conv->inputs[0], w = conv->inputs[1], b = pat_input(conv, 2), y = conv->outputs[0];
    if (!is_f32(g, y) || !is_f32(g, x) || w < 0) return FWD_OK;
    const ir_shape *ws = &g->values[w].t.shape;
    int r = ws->rank;
    int64_t m = r >= 3 ? ws->dims[0] : -1;
    chain ch;
    chain_init(&ch, conv);
    float *bias = NULL;
    fwd_status st = FWD_OK;
    /* per-channel bias Add: needs m and a constant (or absent) conv bias */
    int c = next_node(u, drop, y);
    if (c >= 0 && pat_is_op(&g->nodes[c], "Add") && m > 0 && (b < 0 || pat_is_const(g, b))) {
        int o = other_input(&g->nodes[c], y);
        bias = calloc((size_t)m, sizeof *bias);
        if (!bias) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory fusing Conv '%s'", conv->name);
        double *cb = b >= 0 ? malloc(sizeof *cb * (size_t)m) : NULL;
        bool ok = o >= 0 && (b < 0 || (cb && pat_const_doubles(g, b, cb, m)));
        if (ok && cb)
            for (int64_t k = 0; k < m; k++) bias[k] = (float)cb[k];
        free(cb);
        if (ok && add_channel_bias(g, o, r, m, bias)) {
            chain_add(&ch, c, "Add");
            y = ch.out = g->nodes[c].outputs[0];
        } else {
            free(bias);
            bias = NULL;
        }
    }
    int z = match_residual(g, u, drop, &y, &ch);
    match_activation(g, u, drop, y, &ch);
    if (ch.nodes.n == 0 || !is_f32(g, ch.out)) goto out;

    /* Build: copy what we need first (adding values and nodes moves arrays). */
    const char *name = conv->name;
    ir_attr attrs[MAX_ATTRS + 5];
    int na = pat_copy_attrs(conv, attrs, MAX_ATTRS);
    if (na < 0) goto out;
    int bid = b;
    if (bias) {
        char base[200];
        snprintf(base, sizeof base, "%.180s_bias", name);
        ir_shape bs = {.rank = 1, .dims = {m}};
        if ((st = pat_add_f32_const(g, base, &bs, bias, &bid))) goto out;
    }
    if ((st = act_attrs(g->model, &ch, attrs, &na))) goto out;
    int ins[4] = {x, w, bid, z};
    int n_in = z >= 0 ? 4 : bid >= 0 ? 3 : 2;
    if ((st = pat_emit_node(g, "FusedConv", name, ins, n_in, &ch.out, 1, attrs, na, NULL))) goto out;
    pat_nodes_drop(&ch.nodes, drop);
    drop[ci] = true;
    *done = true;
out:
    free(bias);
    return st;
}

/* MatMul or Gemm at index mi; *done when fused. */
static fwd_status fuse_matmul(ir_graph *g, const pat_uses *u, bool *drop, int mi, bool *done)
{
    *done = false;
    const ir_node *mm = &g->nodes[mi];
    bool gemm = pat_is_op(mm, "Gemm");
    if (mm->n_inputs < 2 || mm->n_outputs != 1 || mm->outputs[0] < 0) return FWD_OK;
    int a = mm->inputs[0], b = mm->inputs[1], y = mm->outputs[0];
    if (!is_f32(g, y) || !is_f32(g, a) || !is_f32(g, b)) return FWD_OK;
    /* FusedMatMul is numpy matmul: keep to operands of rank >= 2 */
    if (g->values[a].t.shape.rank < 2 || g->values[b].t.shape.rank < 2) return FWD_OK;
    chain ch;
    chain_init(&ch, mm);
    int cin = -1;
    float alpha = 1, beta = 1;
    int64_t trans_a = 0, trans_b = 0;
    if (gemm) {
        cin = pat_input(mm, 2);
        alpha = ir_attr_float(mm, "alpha", 1.0f);
        beta = ir_attr_float(mm, "beta", 1.0f);
        trans_a = ir_attr_int(mm, "transA", 0);
        trans_b = ir_attr_int(mm, "transB", 0);
        if (cin >= 0 && beta != 1 && beta != 0 && !pat_is_const(g, cin)) return FWD_OK;
        if (cin >= 0 && !is_f32(g, cin)) return FWD_OK;
        if (beta == 0) cin = -1;
    } else {
        int c = next_node(u, drop, y);
        if (c >= 0 && pat_is_op(&g->nodes[c], "Add")) {
            int o = other_input(&g->nodes[c], y);
            if (o >= 0 && fits_onto(g, o, &g->values[y].t.shape)) {
                cin = o;
                chain_add(&ch, c, "Add");
                y = ch.out = g->nodes[c].outputs[0];
            }
        }
    }
    int z = match_residual(g, u, drop, &y, &ch);
    match_activation(g, u, drop, y, &ch);
    if (ch.nodes.n == 0 || !is_f32(g, ch.out)) return FWD_OK;

    const char *name = mm->name;
    ir_attr attrs[8];
    int na = 0;
    ir_model *md = g->model;
    if (gemm) {
        FWD_TRY(pat_attr_float(md, "alpha", alpha, &attrs[na++]));
        FWD_TRY(pat_attr_int(md, "transA", trans_a, &attrs[na++]));
        FWD_TRY(pat_attr_int(md, "transB", trans_b, &attrs[na++]));
        if (cin >= 0 && beta != 1) {
            /* fold beta into a scaled copy of the constant C */
            const ir_value *cv = &g->values[cin];
            int64_t n = pat_const_numel(g, cin);
            if (n < 0) return FWD_OK;
            float *scaled = malloc(sizeof *scaled * (size_t)(n ? n : 1));
            if (!scaled) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory fusing Gemm '%s'", name);
            const float *p = cv->t.data;
            for (int64_t i = 0; i < n; i++) scaled[i] = p[i] * beta;
            ir_shape cs = cv->t.shape;
            char base[200];
            snprintf(base, sizeof base, "%.180s_C", name);
            fwd_status st = pat_add_f32_const(g, base, &cs, scaled, &cin);
            free(scaled);
            FWD_TRY(st);
        }
    }
    FWD_TRY(act_attrs(md, &ch, attrs, &na));
    int ins[4] = {a, b, cin, z};
    int n_in = z >= 0 ? 4 : cin >= 0 ? 3 : 2;
    FWD_TRY(pat_emit_node(g, "FusedMatMul", name, ins, n_in, &ch.out, 1, attrs, na, NULL));
    pat_nodes_drop(&ch.nodes, drop);
    drop[mi] = true;
    *done = true;
    return FWD_OK;
}

fwd_status pass_fuse_bias_activation(ir_graph *g, const pass_ctx *c, int *n_changed)
{
    *n_changed = 0;
    bool conv_ok = c && c->has_kernel && c->has_kernel(c->user, "FusedConv", FWD_FLOAT32);
    bool mm_ok = c && c->has_kernel && c->has_kernel(c->user, "FusedMatMul", FWD_FLOAT32);
    if (!conv_ok && !mm_ok) return FWD_OK;
    pat_sweep sw;
    FWD_TRY(pat_sweep_begin(g, &sw, "fusing bias and activations"));
    fwd_status st = FWD_OK;
    int changed = 0;
    for (int i = 0; i < sw.n0 && !st; i++) {
        if (sw.drop[i]) continue;
        const ir_node *n = &g->nodes[i];
        bool done = false;
        if (conv_ok && pat_is_op(n, "Conv"))
            st = fuse_conv(g, &sw.u, sw.drop, i, &done);
        else if (mm_ok && (pat_is_op(n, "MatMul") || pat_is_op(n, "Gemm")))
            st = fuse_matmul(g, &sw.u, sw.drop, i, &done);
        if (done) changed++;
    }
    *n_changed = changed;
    return pat_sweep_end(g, &sw, st, changed);
}

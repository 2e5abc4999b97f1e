/*
 * float16 mode: weights converted at build time, activations in float16.
 *
 * The pass runs in two phases over the main graph (subgraph bodies stay in
 * float32):
 *  1. decide, in topological order, which nodes compute in float16: for
 *     each candidate node the float32 inputs are given float16 dtypes and
 *     the op's own inference must accept that; the dtypes it infers for the
 *     outputs are the ones the values get. A node that refuses stays float32.
 *  2. rewrite: float32 constants read by float16 nodes get float16 copies
 *     (converted in place when nothing else reads them), values produced in
 *     float16 and read in float32 (by float32 nodes, as graph outputs or by
 *     subgraphs) get a Cast back, graph inputs read in float16 get a Cast.
 * So the engine's inputs and outputs keep their declared dtypes.
 *
 * Accumulation: the CPU kernels of reductions, Softmax and the norms read
 * float16 into float32/double and accumulate there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/op_schema.h"
#include "passes/passes.h"
#include "util/error.h"
#include "util/half.h"

/* Ops kept in float32: quantisation (scales are float32), random
 * generators, losses, recurrences and position/box arithmetic where float16
 * rounding compounds or changes discrete results, signal processing. */
static const char *const keep_f32_ops[] = {
    "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "RandomNormal",
    "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli",
    "NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss", "Range", "CumSum",
    "NonMaxSuppression", "RoiAlign", "RNN", "LSTM", "GRU", "Det", "DFT", "STFT",
    "MelWeightMatrix", "HannWindow", "HammingWindow", "BlackmanWindow", "CastLike", NULL,
};

static bool in_list(const char *const *list, const char *s)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(list[i], s) == 0) return true;
    return false;
}

/* Input slots that must stay float32 (the op's type constraint for them
 * is float32 only, or a separate type we keep exact). */
static bool slot_must_f32(const char *op, int j)
{
    if (strcmp(op, "Resize") == 0) return j == 1 || j == 2;  /* roi, scales */
    if (strcmp(op, "Upsample") == 0) return j == 1;          /* scales */
    if (strcmp(op, "Dropout") == 0) return j == 1;           /* ratio */
    return false;
}

/* Input slots we would rather keep float32 when the op accepts it:
 * normalisation statistics and sampling coordinates. */
static bool slot_prefer_f32(const char *op, int j)
{
    if (strcmp(op, "BatchNormalization") == 0) return j >= 1;
    if (strcmp(op, "GridSample") == 0) return j == 1;
    if (strcmp(op, "FusedAttention") == 0) return j == 3; /* mask: -inf-free in float32 */
    return slot_must_f32(op, j);
}

static bool has_subgraph(const ir_node *n)
{
    for (int a = 0; a < n->n_attrs; a++)
        if (n->attrs[a].type == IR_ATTR_GRAPH || n->attrs[a].type == IR_ATTR_GRAPHS) return true;
    return false;
}

/* Mark main-graph values that subgraphs (at any depth) refer to by name. */
static void mark_outer_refs(const ir_graph *main, const ir_graph *sub, bool *outer)
{
    for (int i = 0; i < sub->n_values; i++)
        if (sub->values[i].kind == IR_VALUE_OUTER) {
            int id = ir_graph_find(main, sub->values[i].name);
            if (id >= 0) outer[id] = true;
        }
    for (int i = 0; i < sub->n_nodes; i++) {
        const ir_node *n = &sub->nodes[i];
        for (int a = 0; a < n->n_attrs; a++) {
            const ir_attr *at = &n->attrs[a];
            if (at->type == IR_ATTR_GRAPH && at->g) mark_outer_refs(main, at->g, outer);
            if (at->type == IR_ATTR_GRAPHS)
                for (int k = 0; k < at->n; k++) mark_outer_refs(main, at->graphs[k], outer);
        }
    }
}

/* State of the pass over one graph. */
typedef struct f16_state {
    ir_graph *g;
    int n_nodes;        /* nodes before the pass added Casts */
    int n_values;       /* values before the pass */
    fwd_dtype *orig;    /* per value: dtype before the pass */
    bool *prim16;       /* per value: produced in float16 by its node */
    bool *outer;        /* per value: referenced by a subgraph */
    bool *node16;       /* per node: computes in float16 */
    int *in_off;        /* per node: offset of its inputs in want16 */
    bool *want16;       /* per node input: reads the float16 form */
    int *id16, *id32;   /* per value: its float16 / float32 form, or -1 */
    int *n16, *n32;     /* per value: readers of each form */
} f16_state;

/* Trial inference of node i with the given per-input dtypes. On success
 * out_dt receives the inferred output dtypes. */
static bool trial_infer(f16_state *s, int i, const fwd_dtype *in_dt, fwd_dtype *out_dt)
{
    const ir_graph *g = s->g;
    const ir_node *n = &g->nodes[i];
    ir_tensor tin[64], tout[64];
    const ir_tensor *pin[64];
    if (n->n_inputs > 64 || n->n_outputs > 64) return false;
    for (int j = 0; j < n->n_inputs; j++) {
        int v = n->inputs[j];
        pin[j] = NULL;
        if (v < 0) continue;
        tin[j] = g->values[v].t;
        if (tin[j].dtype != in_dt[j]) {
            /* converted data is not available yet; inference of the ops we
             * convert never needs float data for shapes */
            tin[j].dtype = in_dt[j];
            tin[j].data = NULL;
            tin[j].nbytes = 0;
        }
        pin[j] = &tin[j];
    }
    ir_infer_ctx c = {.node = n, .model = g->model, .n_in = n->n_inputs, .in = pin,
                      .n_out = n->n_outputs, .out = tout};
    if (ir_infer_node(&c) != FWD_OK) {
        fwd_error_clear();
        return false;
    }
    for (int j = 0; j < n->n_outputs; j++) {
        int v = n->outputs[j];
        out_dt[j] = tout[j].dtype;
        /* an output whose dtype inference leaves open cannot be retyped */
        if (v >= 0 && s->orig[v] == FWD_FLOAT32 && out_dt[j] == FWD_DTYPE_UNDEFINED) return false;
    }
    return true;
}

/* Phase 1 for node i. */
static void decide_node(f16_state *s, const pass_ctx *c, int i)
{
    const ir_node *n = &s->g->nodes[i];
    bool *want = &s->want16[s->in_off[i]];
    bool any_f32_in = false, any_f32_out = false;
    for (int j = 0; j < n->n_inputs; j++) {
        want[j] = false;
        if (n->inputs[j] >= 0 && s->orig[n->inputs[j]] == FWD_FLOAT32) any_f32_in = true;
    }
    for (int j = 0; j < n->n_outputs; j++)
        if (n->outputs[j] >= 0 && s->orig[n->outputs[j]] == FWD_FLOAT32) any_f32_out = true;
    if (!any_f32_in || n->domain[0] != '\0' || has_subgraph(n) || n->n_inputs > 64 ||
        n->n_outputs > 64 || in_list(keep_f32_ops, n->op_type))
        return;
    if (c->has_kernel && !c->has_kernel(c->user, n->op_type, FWD_FLOAT16)) return;

    fwd_dtype in_dt[64], out_dt[64];
    bool w[64];
    /* Trials, first accepted wins:
     *  0. no float output (Shape, Equal, ArgMax...): each input as it
     *     comes, so no Cast is needed;
     *  1. float16 except the preferred-float32 slots;
     *  2. float16 except the must-float32 slots. */
    /* Cast takes its input as it comes and keeps its "to": a Cast to
     * float32 stays one (its readers convert again if they are float16). */
    bool is_cast = strcmp(n->op_type, "Cast") == 0;
    for (int trial = any_f32_out && !is_cast ? 1 : 0; trial <= (is_cast ? 0 : 2); trial++) {
        for (int j = 0; j < n->n_inputs; j++) {
            int v = n->inputs[j];
            w[j] = false;
            in_dt[j] = v >= 0 ? s->g->values[v].t.dtype : FWD_DTYPE_UNDEFINED;
            if (v < 0 || s->orig[v] != FWD_FLOAT32) continue;
            if (trial == 0)
                w[j] = s->prim16[v];
            else if (trial == 1)
                w[j] = !slot_prefer_f32(n->op_type, j);
            else
                w[j] = !slot_must_f32(n->op_type, j);
            in_dt[j] = w[j] ? FWD_FLOAT16 : FWD_FLOAT32;
        }
        if (!trial_infer(s, i, in_dt, out_dt)) continue;
        bool any16 = false;
        for (int j = 0; j < n->n_inputs; j++) any16 |= w[j];
        for (int j = 0; j < n->n_outputs; j++) any16 |= out_dt[j] == FWD_FLOAT16;
        if (!any16) return; /* nothing in float16: an ordinary float32 node */
        s->node16[i] = true;
        memcpy(want, w, sizeof(bool) * (size_t)n->n_inputs);
        for (int j = 0; j < n->n_outputs; j++) {
            int v = n->outputs[j];
            if (v >= 0 && s->orig[v] == FWD_FLOAT32 && out_dt[j] == FWD_FLOAT16) s->prim16[v] = true;
        }
        return;
    }
}

/* Count the readers of every value in float32 and float16 (node inputs). */
static void count_readers(f16_state *s)
{
    for (int i = 0; i < s->n_nodes; i++) {
        const ir_node *n = &s->g->nodes[i];
        for (int j = 0; j < n->n_inputs; j++) {
            int v = n->inputs[j];
            if (v < 0 || v >= s->n_values) continue;
            if (s->want16[s->in_off[i] + j])
                s->n16[v]++;
            else
                s->n32[v]++;
        }
    }
}

static fwd_status add_cast(ir_graph *g, int src, int dst, fwd_dtype to)
{
    ir_attr at = {.name = "to", .type = IR_ATTR_INT, .i = (int64_t)to};
    const char *name = ir_graph_unique_name(g, to == FWD_FLOAT16 ? "to_f16" : "to_f32");
    if (!name) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory in the float16 pass");
    return ir_graph_add_node(g, "Cast", name, &src, 1, &dst, 1, &at, 1, NULL);
}

/* A new value like v (shape) with dtype dt; *id receives it. */
static fwd_status add_like(ir_graph *g, int v, fwd_dtype dt, const char *suffix, int *id)
{
    char base[200];
    const char *vn = g->values[v].name;
    size_t len = strlen(vn);
    snprintf(base, sizeof base, "%.*s_%s", (int)(len > 150 ? 150 : len), vn, suffix);
    const char *name = ir_graph_unique_name(g, base);
    if (!name) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory in the float16 pass");
    ir_shape shape = g->values[v].t.shape;
    return ir_graph_add_value(g, name, IR_VALUE_INTERMEDIATE, dt, &shape, id);
}

/* float32 -> float16 with finite values beyond the float16 range clamped to
 * +-65504 (so large-negative mask constants stay finite). */
static uint16_t f32_to_f16_sat(float x)
{
    if (x > 65504.0f) return 0x7bff;
    if (x < -65504.0f) return 0xfbff;
    return fwd_f32_to_f16(x);
}

static fwd_status convert_const_data(ir_graph *g, const ir_tensor *src, ir_tensor *dst)
{
    size_t n = src->nbytes / sizeof(float);
    uint16_t *h = ir_alloc(g->model, n ? n * 2 : 2);
    if (!h) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory converting weights to float16");
    const float *f = src->data;
    for (size_t i = 0; i < n; i++) h[i] = f32_to_f16_sat(f[i]);
    *dst = *src;
    dst->dtype = FWD_FLOAT16;
    dst->data = h;
    dst->nbytes = n * 2;
    return FWD_OK;
}

/* A Cast to float32 (from an integer, say) whose readers all want float16
 * casts to float16 instead, saving a second Cast. */
static fwd_status retype_cast(f16_state *s, int v, bool *done)
{
    ir_graph *g = s->g;
    *done = false;
    int p = -1;
    for (int i = 0; i < s->n_nodes && p < 0; i++)
        for (int j = 0; j < g->nodes[i].n_outputs; j++)
            if (g->nodes[i].outputs[j] == v) p = i;
    if (p < 0 || strcmp(g->nodes[p].op_type, "Cast") != 0) return FWD_OK;
    ir_node *n = &g->nodes[p];
    /* new attribute array: the old one may be shared with the source model */
    ir_attr *attrs = ir_alloc(g->model, sizeof(ir_attr) * (size_t)(n->n_attrs + 1));
    if (!attrs) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory in the float16 pass");
    bool found = false;
    for (int a = 0; a < n->n_attrs; a++) {
        attrs[a] = n->attrs[a];
        if (strcmp(attrs[a].name, "to") == 0 && attrs[a].type == IR_ATTR_INT) {
            attrs[a].i = FWD_FLOAT16;
            found = true;
        }
    }
    if (!found) return FWD_OK;
    n->attrs = attrs;
    g->values[v].t.dtype = FWD_FLOAT16;
    s->id16[v] = v;
    s->id32[v] = -1;
    *done = true;
    return FWD_OK;
}

/* Phase 2 for value v (originally float32): set up its forms. */
static fwd_status prepare_value(f16_state *s, int v)
{
    ir_graph *g = s->g;
    ir_value *val = &g->values[v];
    int n32 = s->n32[v], n16 = s->n16[v];
    bool keep32 = val->is_output || s->outer[v];
    if (s->prim16[v]) {
        if (!keep32) {
            g->values[v].t.dtype = FWD_FLOAT16; /* retype in place */
            s->id16[v] = v;
            return FWD_OK;
        }
        /* The producer writes a new float16 value; v becomes its Cast. */
        int nv;
        FWD_TRY(add_like(g, v, FWD_FLOAT16, "f16", &nv));
        /* (the producer field may be stale after reordering: search) */
        for (int i = 0; i < s->n_nodes; i++) {
            ir_node *p = &g->nodes[i];
            for (int j = 0; j < p->n_outputs; j++)
                if (p->outputs[j] == v) {
                    p->outputs[j] = nv;
                    g->values[nv].producer = i;
                }
        }
        s->id16[v] = nv;
        s->id32[v] = v;
        g->values[v].producer = -1; /* the Cast becomes its producer */
        return add_cast(g, nv, v, FWD_FLOAT32);
    }
    s->id32[v] = v;
    if (n16 == 0) return FWD_OK;
    if (n32 == 0 && !keep32 && val->kind == IR_VALUE_INTERMEDIATE) {
        bool retyped;
        FWD_TRY(retype_cast(s, v, &retyped));
        if (retyped) return FWD_OK;
    }
    if (val->kind == IR_VALUE_CONST && val->t.data) {
        ir_tensor t;
        FWD_TRY(convert_const_data(g, &val->t, &t));
        if (n32 == 0 && !keep32) {
            g->values[v].t = t;
            s->id16[v] = v;
            s->id32[v] = -1;
            return FWD_OK;
        }
        int nv;
        FWD_TRY(add_like(g, v, FWD_FLOAT16, "f16", &nv));
        g->values[nv].kind = IR_VALUE_CONST;
        g->values[nv].t = t;
        s->id16[v] = nv;
        return FWD_OK;
    }
    int nv;
    FWD_TRY(add_like(g, v, FWD_FLOAT16, "f16", &nv));
    s->id16[v] = nv;
    return add_cast(g, v, nv, FWD_FLOAT16);
}

/* The float32 form of a float16-produced value, made on first use. */
static fwd_status form32(f16_state *s, int v, int *out)
{
    if (s->id32[v] < 0) {
        int nv;
        FWD_TRY(add_like(s->g, v, FWD_FLOAT32, "f32", &nv));
        FWD_TRY(add_cast(s->g, s->id16[v], nv, FWD_FLOAT32));
        s->id32[v] = nv;
    }
    *out = s->id32[v];
    return FWD_OK;
}

static fwd_status rewrite(f16_state *s, int *n_changed)
{
    ir_graph *g = s->g;
    count_readers(s);
    for (int v = 0; v < s->n_values; v++)
        if (s->orig[v] == FWD_FLOAT32) FWD_TRY(prepare_value(s, v));
    for (int i = 0; i < s->n_nodes; i++) {
        if (s->node16[i]) (*n_changed)++;
        for (int j = 0; j < g->nodes[i].n_inputs; j++) {
            int v = g->nodes[i].inputs[j];
            if (v < 0 || v >= s->n_values || s->orig[v] != FWD_FLOAT32) continue;
            int nv = v;
            if (s->want16[s->in_off[i] + j])
                nv = s->id16[v];
            else
                FWD_TRY(form32(s, v, &nv));
            g->nodes[i].inputs[j] = nv;
        }
    }
    return FWD_OK;
}

static fwd_status run(f16_state *s, const pass_ctx *c, int *n_changed)
{
    ir_graph *g = s->g;
    int total_in = 0;
    for (int i = 0; i < s->n_nodes; i++) {
        s->in_off[i] = total_in;
        total_in += g->nodes[i].n_inputs;
    }
    s->want16 = calloc((size_t)total_in + 1, sizeof *s->want16);
    if (!s->want16) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory in the float16 pass");
    for (int v = 0; v < s->n_values; v++) {
        s->orig[v] = g->values[v].t.dtype;
        s->id16[v] = s->id32[v] = -1;
    }
    for (int i = 0; i < s->n_nodes; i++) {
        const ir_node *n = &g->nodes[i];
        for (int a = 0; a < n->n_attrs; a++) {
            const ir_attr *at = &n->attrs[a];
            if (at->type == IR_ATTR_GRAPH && at->g) mark_outer_refs(g, at->g, s->outer);
            if (at->type == IR_ATTR_GRAPHS)
                for (int k = 0; k < at->n; k++) mark_outer_refs(g, at->graphs[k], s->outer);
        }
    }
    for (int i = 0; i < s->n_nodes; i++) decide_node(s, c, i);
    return rewrite(s, n_changed);
}

fwd_status pass_assign_float16(ir_graph *g, const pass_ctx *c, int *n_changed)
{
    *n_changed = 0;
    if (g->n_nodes == 0) return FWD_OK;
    f16_state s = {.g = g, .n_nodes = g->n_nodes, .n_values = g->n_values};
    size_t nv = (size_t)g->n_values + 1, nn = (size_t)g->n_nodes + 1;
    s.orig = calloc(nv, sizeof *s.orig);
    s.prim16 = calloc(nv, sizeof *s.prim16);
    s.outer = calloc(nv, sizeof *s.outer);
    s.id16 = calloc(nv, sizeof *s.id16);
    s.id32 = calloc(nv, sizeof *s.id32);
    s.n16 = calloc(nv, sizeof *s.n16);
    s.n32 = calloc(nv, sizeof *s.n32);
    s.node16 = calloc(nn, sizeof *s.node16);
    s.in_off = calloc(nn, sizeof *s.in_off);
    fwd_status st;
    if (!s.orig || !s.prim16 || !s.outer || !s.id16 || !s.id32 || !s.n16 || !s.n32 || !s.node16 || !s.in_off)
        st = fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory in the float16 pass");
    else
        st = run(&s, c, n_changed);
    free(s.orig);
    free(s.prim16);
    free(s.outer);
    free(s.id16);
    free(s.id32);
    free(s.n16);
    free(s.n32);
    free(s.node16);
    free(s.in_off);
    free(s.want16);
    return st;
}

/* Build-time packing of constant GEMM operands (see cpu_prepack.h). */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_prepack.h"
#include "backend/cpu/nn_internal.h"
#include "backend/cpu/sgemm.h"
#include "util/error.h"

/* Whether value v is read by node ni only (no other node, not a graph
 * output, and no subgraph in the graph that could name it). */
static bool sole_reader(const ir_graph *g, int v, int ni)
{
    if (g->values[v].is_output) return false;
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = &g->nodes[i];
        for (int a = 0; a < n->n_attrs; a++)
            if (n->attrs[a].type == IR_ATTR_GRAPH || n->attrs[a].type == IR_ATTR_GRAPHS) return false;
        if (i == ni) continue;
        for (int j = 0; j < n->n_inputs; j++)
            if (n->inputs[j] == v) return false;
    }
    int uses = 0;
    for (int j = 0; j < g->nodes[ni].n_inputs; j++) uses += g->nodes[ni].inputs[j] == v;
    return uses == 1;
}

/* The constant holding data (shape) for input slot of node ni: the old
 * constant itself when only this node reads it (so the unpacked weight is
 * not kept beside the packed one), else a new constant. *id receives it. */
static fwd_status replace_const(ir_graph *g, int ni, int slot, const ir_shape *shape, const float *data,
                                int *id)
{
    int old = g->nodes[ni].inputs[slot];
    size_t bytes = (size_t)ir_shape_numel(shape) * sizeof(float);
    if (sole_reader(g, old, ni)) {
        void *copy = ir_alloc(g->model, bytes ? bytes : 1);
        if (!copy) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory packing weights");
        memcpy(copy, data, bytes);
        ir_value *v = &g->values[old];
        v->t.data = copy;
        v->t.nbytes = bytes;
        v->t.shape = *shape;
        *id = old;
        return FWD_OK;
    }
    const char *name = ir_graph_unique_name(g, g->values[old].name);
    if (!name) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
    return ir_graph_add_const(g, name, FWD_FLOAT32, shape, data, id);
}

/* Whether node n's B can be packed: a float32 constant matrix with data,
 * wide enough to fill panels, and A used as it is (no transA). */
static bool packable(const ir_graph *g, const ir_node *n)
{
    if (strcmp(n->op_type, "FusedMatMul") != 0 || n->domain[0] != '\0' || n->n_inputs < 2) return false;
    if (ir_node_attr(n, CPU_PACKED_N_ATTR) || ir_attr_int(n, "transA", 0) != 0) return false;
    int a = n->inputs[0], b = n->inputs[1];
    if (a < 0 || b < 0) return false;
    const ir_value *bv = &g->values[b], *av = &g->values[a];
    if (bv->kind != IR_VALUE_CONST || !bv->t.data || bv->t.dtype != FWD_FLOAT32 || bv->t.shape.rank != 2)
        return false;
    if (av->t.dtype != FWD_FLOAT32 || av->t.shape.rank < 2) return false;
    int64_t d0 = bv->t.shape.dims[0], d1 = bv->t.shape.dims[1];
    if (d0 < 1 || d1 < NN_NR || d0 > INT32_MAX || d1 > INT32_MAX) return false;
    if (bv->t.nbytes < (size_t)(d0 * d1) * sizeof(float)) return false;
    /* products with one or two rows are better served unpacked (GEMV) */
    int64_t m = av->t.shape.dims[av->t.shape.rank - 2];
    return m < 0 || m >= 4;
}

static fwd_status pack_node(ir_graph *g, int ni)
{
    ir_node *n = &g->nodes[ni];
    const ir_value *bv = &g->values[n->inputs[1]];
    bool tb = ir_attr_int(n, "transB", 0) != 0;
    int64_t k = bv->t.shape.dims[tb ? 1 : 0], nn = bv->t.shape.dims[tb ? 0 : 1];
    int64_t panels = (nn + NN_NR - 1) / NN_NR;
    size_t floats = (size_t)nn_packed_b_floats(k, nn);
    float *buf = malloc(floats * sizeof(float));
    if (!buf) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory packing the weights of '%s'", n->name);
    nn_pack_b(bv->t.data, bv->t.shape.dims[1], tb, k, 0, nn, buf);
    ir_shape shape = {.rank = 3, .dims = {panels, k, NN_NR}};
    int id = -1;
    fwd_status st = replace_const(g, ni, 1, &shape, buf, &id);
    free(buf);
    FWD_TRY(st);
    n = &g->nodes[ni]; /* adding a value may not move nodes, but be safe */
    /* a new attribute array (the old one may be shared with the source
     * model): transB dropped (folded into the packing), packed_n added */
    ir_attr *attrs = ir_alloc(g->model, sizeof(ir_attr) * (size_t)(n->n_attrs + 1));
    if (!attrs) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
    int na = 0;
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, "transB") != 0) attrs[na++] = n->attrs[i];
    memset(&attrs[na], 0, sizeof attrs[na]);
    attrs[na].name = CPU_PACKED_N_ATTR;
    attrs[na].type = IR_ATTR_INT;
    attrs[na].i = nn;
    n->attrs = attrs;
    n->n_attrs = na + 1;
    /* inputs: a new array too, for the same reason */
    int *inputs = ir_alloc(g->model, sizeof(int) * (size_t)n->n_inputs);
    if (!inputs) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
    memcpy(inputs, n->inputs, sizeof(int) * (size_t)n->n_inputs);
    inputs[1] = id;
    n->inputs = inputs;
    return FWD_OK;
}

/* ---- Conv / FusedConv: W as the GEMM's A operand ---- */

static bool conv_packable(const ir_graph *g, const ir_node *n)
{
    if ((strcmp(n->op_type, "FusedConv") != 0 && strcmp(n->op_type, "Conv") != 0) ||
        n->domain[0] != '\0' || n->n_inputs < 2)
        return false;
    if (ir_node_attr(n, CPU_PACKED_W_ATTR) || ir_node_attr(n, CPU_PACKED_WT_ATTR) ||
        ir_node_attr(n, CPU_WINOGRAD_ATTR) || ir_node_attr(n, CPU_WINOGRAD4_ATTR) ||
        ir_node_attr(n, CPU_PHASE_TAPS_ATTR) || ir_node_attr(n, CPU_PHASE_GATHER_ATTR) ||
        ir_attr_int(n, "group", 1) != 1)
        return false;
    int w = n->inputs[1];
    if (w < 0) return false;
    const ir_value *wv = &g->values[w];
    if (wv->kind != IR_VALUE_CONST || !wv->t.data || wv->t.dtype != FWD_FLOAT32) return false;
    const ir_shape *s = &wv->t.shape;
    if (s->rank < 3 || s->rank > 5) return false;
    int64_t k = 1;
    for (int i = 1; i < s->rank; i++) k *= s->dims[i];
    /* whole tiles only: the packed weight then has W's own size and shape */
    if (s->dims[0] < 1 || s->dims[0] % nn_gemm_tile_rows() != 0 || k < 1 || s->dims[0] > INT32_MAX ||
        k > INT32_MAX)
        return false;
    return wv->t.nbytes >= (size_t)(s->dims[0] * k) * sizeof(float);
}

/* Whether a conv has a stride above 1. */
static bool strided(const ir_node *n)
{
    int cnt = 0;
    const int64_t *st = ir_attr_ints(n, "strides", &cnt);
    for (int i = 0; st && i < cnt; i++)
        if (st[i] > 1) return true;
    return false;
}

/* Whether the transposed product (nn_conv_transposed) suits a packable
 * conv better: a strided window, or an output with so few pixels (known
 * statically) that the ordinary product wastes vector lanes. */
static bool conv_transposed_suits(const ir_graph *g, const ir_node *n)
{
    int64_t m = g->values[n->inputs[1]].t.shape.dims[0];
    if (m % NN_NR != 0 || m < 2 * NN_NR || n->n_outputs < 1 || n->outputs[0] < 0) return false;
    const ir_shape *ys = &g->values[n->outputs[0]].t.shape;
    if (ys->rank < 3) return false;
    /* strided windows: read in place there with AVX-512, no im2col
     * (ResNet-50's 3x3 stride-2 convs 0.73-0.81x the time; 1x1 ones run
     * as well on their subsampled input) */
    const ir_shape *ws = &g->values[n->inputs[1]].t.shape;
    int64_t taps = 1;
    for (int i = 2; i < ws->rank; i++) taps *= ws->dims[i];
    if (strided(n) && ys->rank <= 4 && taps > 1 && m % (2 * NN_NR) == 0 && nn_gemm_reads_b_in_place()) return true;
    int64_t p = 1;
    for (int i = 2; i < ys->rank; i++) {
        if (ys->dims[i] < 0) return false;
        p *= ys->dims[i];
    }
    return nn_conv_t_worthwhile(p);
}

/* Node ni now reads constant id as its weight (input 1) and carries the
 * int attribute name = value, and extra when not NULL. New arrays for
 * both: the old ones may be shared with the source model. */
static fwd_status mark_packed(ir_graph *g, int ni, int id, const char *name, int64_t value, const ir_attr *extra)
{
    ir_node *n = &g->nodes[ni];
    int added = extra ? 2 : 1;
    ir_attr *attrs = ir_alloc(g->model, sizeof(ir_attr) * (size_t)(n->n_attrs + added));
    int *inputs = ir_alloc(g->model, sizeof(int) * (size_t)n->n_inputs);
    if (!attrs || !inputs) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
    memcpy(attrs, n->attrs, sizeof(ir_attr) * (size_t)n->n_attrs);
    ir_attr *a = &attrs[n->n_attrs];
    memset(a, 0, sizeof *a);
    a->name = name;
    a->type = IR_ATTR_INT;
    a->i = value;
    if (extra) a[1] = *extra;
    memcpy(inputs, n->inputs, sizeof(int) * (size_t)n->n_inputs);
    inputs[1] = id;
    n->attrs = attrs;
    n->n_attrs += added;
    n->inputs = inputs;
    return FWD_OK;
}

/* W as the GEMM's A (tiles of this CPU's rows), or W^T in B panels when
 * transposed. */
static fwd_status pack_conv(ir_graph *g, int ni, bool transposed)
{
    ir_node *n = &g->nodes[ni];
    const ir_value *wv = &g->values[n->inputs[1]];
    const ir_shape ws = wv->t.shape;
    int64_t m = ws.dims[0], k = 1;
    for (int i = 1; i < ws.rank; i++) k *= ws.dims[i];
    size_t floats = (size_t)(transposed ? nn_packed_b_floats(k, m) : nn_packed_a_floats(m, k));
    float *buf = malloc(sizeof(float) * floats);
    if (!buf) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory packing the weights of '%s'", n->name);
    if (transposed)
        nn_pack_b(wv->t.data, k, true, k, 0, m, buf); /* W (m x k) is W^T stored transposed */
    else
        nn_pack_a(wv->t.data, k, m, k, buf);
    int id = -1;
    fwd_status st = replace_const(g, ni, 1, &ws, buf, &id);
    free(buf);
    FWD_TRY(st);
    return mark_packed(g, ni, id, transposed ? CPU_PACKED_WT_ATTR : CPU_PACKED_W_ATTR,
                       transposed ? NN_NR : nn_gemm_tile_rows(), NULL);
}

/* ---- strided convs: weights per tap for the phase planes ---- */

static bool all_ones(const ir_node *n, const char *name);

typedef enum phase_form { PHASE_NONE, PHASE_TAPS, PHASE_GATHER } phase_form;

/* Whether a conv runs on stride-phase planes (conv_phase.c), and how:
 * one product per tap when each tap has enough input channels to fill
 * the GEMM's depth, the taps gathered into one product for few channels
 * (the first conv of a network, C = 3).
 * Opt-in (FWD_CONV_PHASE=1) for now: on this Zen 4 machine (2 threads,
 * ResNet-50's layers in the model and alone) it measured no faster than
 * im2col tiles: 3x3 s2 at 28x28 / 128 ch ~1.38 vs 1.32-1.38 ms, 14x14 /
 * 256 1.43-1.47 vs 1.40, 7x7 / 512 1.44 vs 1.32 (im2col runs the
 * transposed product there), conv1 7x7 s2 1.39-1.45 vs 1.34-1.49; the
 * products dominate (~170 GFLOP/s either way) and per-tap B read in place
 * at odd row offsets is no faster than packed panels. */
static phase_form phase_choice(const ir_graph *g, const ir_node *n)
{
    if (!conv_packable(g, n)) return PHASE_NONE;
    const char *env = getenv("FWD_CONV_PHASE");
    if (!env || strcmp(env, "1") != 0) return PHASE_NONE;
    const ir_shape *s = &g->values[n->inputs[1]].t.shape;
    if (s->rank != 4 || s->dims[2] * s->dims[3] < 2 || !all_ones(n, "dilations")) return PHASE_NONE;
    int cnt = 0;
    const int64_t *st = ir_attr_ints(n, "strides", &cnt);
    if (!st || cnt != 2 || st[0] < 1 || st[1] < 1 || st[0] * st[1] < 2) return PHASE_NONE;
    int64_t c = s->dims[1], taps = s->dims[2] * s->dims[3];
    if (c >= 16) return PHASE_TAPS;
    return c * taps <= 512 ? PHASE_GATHER : PHASE_NONE;
}

static fwd_status pack_phase(ir_graph *g, int ni, phase_form form)
{
    ir_node *n = &g->nodes[ni];
    const ir_value *wv = &g->values[n->inputs[1]];
    const ir_shape ws = wv->t.shape;
    int64_t m = ws.dims[0], c = ws.dims[1], taps = ws.dims[2] * ws.dims[3];
    bool gather = form == PHASE_GATHER;
    float *tmp = malloc(sizeof(float) * (size_t)(m * c * taps));
    float *buf = malloc(sizeof(float) * (size_t)(m * c * taps));
    if (!tmp || !buf) {
        free(tmp);
        free(buf);
        return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory packing the weights of '%s'", n->name);
    }
    nn_conv_phase_weights(wv->t.data, m, c, taps, gather, tmp);
    if (gather)
        nn_pack_a(tmp, c * taps, m, c * taps, buf);
    else
        for (int64_t t = 0; t < taps; t++) nn_pack_a(tmp + t * m * c, c, m, c, buf + t * m * c);
    free(tmp);
    int id = -1;
    fwd_status st = replace_const(g, ni, 1, &ws, buf, &id);
    free(buf);
    FWD_TRY(st);
    return mark_packed(g, ni, id, gather ? CPU_PHASE_GATHER_ATTR : CPU_PHASE_TAPS_ATTR, nn_gemm_tile_rows(), NULL);
}

/* ---- FusedConv 3x3 stride 1: Winograd-transformed weights ---- */

static bool all_ones(const ir_node *n, const char *name)
{
    int cnt = 0;
    const int64_t *v = ir_attr_ints(n, name, &cnt);
    for (int i = 0; v && i < cnt; i++)
        if (v[i] != 1) return false;
    return true;
}

/* The algorithms a 3x3 stride-1 FusedConv can run (winograd_choice). */
typedef enum conv3_algo { CONV3_DIRECT = 0, CONV3_F2 = 2, CONV3_F4 = 4 } conv3_algo;

/* The static output size of node n (*oh, *ow), false when unknown. */
static bool static_output_hw(const ir_graph *g, const ir_node *n, int64_t *oh, int64_t *ow)
{
    if (n->n_outputs < 1 || n->outputs[0] < 0) return false;
    const ir_shape *ys = &g->values[n->outputs[0]].t.shape;
    if (ys->rank != 4 || ys->dims[2] < 0 || ys->dims[3] < 0) return false;
    *oh = ys->dims[2];
    *ow = ys->dims[3];
    return true;
}

/* Which algorithm a FusedConv runs, by what measured fastest on this
 * Zen 4 machine (2 threads; bench/conv_layers.py --winograd 0,2,4 for the
 * layer alone, fwd bench on ResNet-50 for the layer among the others,
 * whose weights then come from memory):
 *   56x56 / 64 ch:  direct 1.5, F(2x2) 0.92, F(4x4) 0.60 ms (alone)
 *   28x28 / 128:    1.27, 0.72, 0.66
 *   14x14 / 256:    1.34, 0.79, 0.63 (in the model F(4x4) streams 9.4 MB
 *                   of weights, F(2x2) 4.2: ~0.95 ms both, F(4x4) a little ahead)
 *   7x7 / 512:      1.29, 0.83-0.90, 2.8 (F(4x4)'s 4 tiles fill a quarter
 *                   of a panel); in the model direct and F(2x2) tie (F(2x2)
 *                   streams 16.8 MB against 9.4): direct, the smaller engine.
 * So F(4x4) from 16 4x4 tiles, F(2x2) from 36 2x2 tiles, else direct.
 * FWD_WINOGRAD=0/2/4 forces one where it applies (for benchmarks/tests). */
static conv3_algo winograd_choice(const ir_graph *g, const ir_node *n)
{
    if (strcmp(n->op_type, "FusedConv") != 0 || !conv_packable(g, n)) return CONV3_DIRECT;
    const ir_shape *s = &g->values[n->inputs[1]].t.shape;
    if (s->rank != 4 || s->dims[2] != 3 || s->dims[3] != 3 || s->dims[1] < 8) return CONV3_DIRECT;
    if (!all_ones(n, "strides") || !all_ones(n, "dilations")) return CONV3_DIRECT;
    int64_t oh, ow;
    if (!static_output_hw(g, n, &oh, &ow)) return CONV3_DIRECT;
    const char *force = getenv("FWD_WINOGRAD");
    if (force && (force[0] == '0' || force[0] == '2' || force[0] == '4') && force[1] == '\0')
        return (conv3_algo)(force[0] - '0');
    int64_t tiles2 = ((oh + 1) / 2) * ((ow + 1) / 2), tiles4 = ((oh + 3) / 4) * ((ow + 3) / 4);
    if (tiles2 < 36) return CONV3_DIRECT;
    return tiles4 >= 16 ? CONV3_F4 : CONV3_F2;
}

/* W transformed for F(2x2) (16 positions) or F(4x4) (36), each [M, C]
 * packed as the GEMM's A; the node marked with the algorithm's attribute. */
static fwd_status pack_winograd(ir_graph *g, int ni, conv3_algo algo)
{
    ir_node *n = &g->nodes[ni];
    const ir_value *wv = &g->values[n->inputs[1]];
    const ir_shape ws = wv->t.shape;
    int64_t m = ws.dims[0], c = ws.dims[1], nxi = algo == CONV3_F4 ? 36 : 16;
    size_t per = (size_t)nn_packed_a_floats(m, c); /* == m * c: m is whole tiles */
    float *u = malloc(sizeof(float) * (size_t)nxi * (size_t)(m * c));
    float *buf = malloc(sizeof(float) * (size_t)nxi * per);
    if (!u || !buf) {
        free(u);
        free(buf);
        return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory transforming the weights of '%s'", n->name);
    }
    if (algo == CONV3_F4)
        nn_winograd4_weights(wv->t.data, m, c, u);
    else
        nn_winograd_weights(wv->t.data, m, c, u);
    for (int64_t xi = 0; xi < nxi; xi++) nn_pack_a(u + xi * m * c, c, m, c, buf + xi * per);
    free(u);
    ir_shape shape = {.rank = 3, .dims = {nxi, m, c}};
    int id = -1;
    fwd_status st = replace_const(g, ni, 1, &shape, buf, &id);
    free(buf);
    FWD_TRY(st);
    int64_t *dims = ir_alloc(g->model, sizeof(int64_t) * 4);
    if (!dims) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
    memcpy(dims, ws.dims, sizeof(int64_t) * 4);
    ir_attr shape_attr = {.name = CPU_W_SHAPE_ATTR, .type = IR_ATTR_INTS, .n = 4, .ints = dims};
    return mark_packed(g, ni, id, algo == CONV3_F4 ? CPU_WINOGRAD4_ATTR : CPU_WINOGRAD_ATTR, nn_gemm_tile_rows(),
                       &shape_attr);
}

fwd_status cpu_prepack_weights(ir_graph *g, int *n_changed)
{
    int changed = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (packable(g, &g->nodes[i])) {
            FWD_TRY(pack_node(g, i));
            changed++;
        } else if (phase_choice(g, &g->nodes[i]) != PHASE_NONE) {
            FWD_TRY(pack_phase(g, i, phase_choice(g, &g->nodes[i])));
            changed++;
        } else if (winograd_choice(g, &g->nodes[i]) != CONV3_DIRECT) {
            FWD_TRY(pack_winograd(g, i, winograd_choice(g, &g->nodes[i])));
            changed++;
        } else if (conv_packable(g, &g->nodes[i])) {
            FWD_TRY(pack_conv(g, i, conv_transposed_suits(g, &g->nodes[i])));
            changed++;
        }
    }
    if (n_changed) *n_changed = changed;
    return FWD_OK;
}

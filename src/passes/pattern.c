/* Graph-matching helpers shared by the fusing passes. */
#include "passes/pattern.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"
#include "util/error.h"
#include "util/half.h"

/* ---- the use index ---- */

/* Pin the values of g that sg (or anything nested in it) reads by name. */
static void pin_outer(const ir_graph *g, const ir_graph *sg, bool *pinned)
{
    for (int v = 0; v < sg->n_values; v++) {
        if (sg->values[v].kind != IR_VALUE_OUTER) continue;
        int id = ir_graph_find(g, sg->values[v].name);
        if (id >= 0) pinned[id] = true;
    }
    for (int i = 0; i < sg->n_nodes; i++)
        for (int a = 0; a < sg->nodes[i].n_attrs; a++) {
            const ir_attr *at = &sg->nodes[i].attrs[a];
            if (at->type == IR_ATTR_GRAPH && at->g) pin_outer(g, at->g, pinned);
            if (at->type == IR_ATTR_GRAPHS)
                for (int k = 0; k < at->n; k++)
                    if (at->graphs[k]) pin_outer(g, at->graphs[k], pinned);
        }
}

fwd_status pat_uses_build(const ir_graph *g, pat_uses *u)
{
    memset(u, 0, sizeof *u);
    int nv = g->n_values;
    size_t slots = 0;
    for (int i = 0; i < g->n_nodes; i++) slots += (size_t)g->nodes[i].n_inputs;
    u->n_values = nv;
    u->n_uses = calloc((size_t)nv + 1, sizeof *u->n_uses);
    u->start = calloc((size_t)nv + 1, sizeof *u->start);
    u->node = calloc(slots + 1, sizeof *u->node);
    u->pinned = calloc((size_t)nv + 1, sizeof *u->pinned);
    int *fill = calloc((size_t)nv + 1, sizeof *fill);
    if (!u->n_uses || !u->start || !u->node || !u->pinned || !fill) {
        free(fill);
        pat_uses_free(u);
        return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory indexing graph '%s'", g->name);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_inputs; j++)
            if (n->inputs[j] >= 0 && n->inputs[j] < nv) u->n_uses[n->inputs[j]]++;
    }
    for (int v = 1; v < nv; v++) u->start[v] = u->start[v - 1] + u->n_uses[v - 1];
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_inputs; j++) {
            int v = n->inputs[j];
            if (v >= 0 && v < nv) u->node[u->start[v] + fill[v]++] = i;
        }
        for (int a = 0; a < n->n_attrs; a++) {
            const ir_attr *at = &n->attrs[a];
            if (at->type == IR_ATTR_GRAPH && at->g) pin_outer(g, at->g, u->pinned);
            if (at->type == IR_ATTR_GRAPHS)
                for (int k = 0; k < at->n; k++)
                    if (at->graphs[k]) pin_outer(g, at->graphs[k], u->pinned);
        }
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] >= 0 && g->outputs[i] < nv) u->pinned[g->outputs[i]] = true;
    for (int v = 0; v < nv; v++)
        if (g->values[v].is_output) u->pinned[v] = true;
    free(fill);
    return FWD_OK;
}

void pat_uses_free(pat_uses *u)
{
    free(u->n_uses);
    free(u->start);
    free(u->node);
    free(u->pinned);
    memset(u, 0, sizeof *u);
}

int pat_num_uses(const pat_uses *u, int v)
{
    return v >= 0 && v < u->n_values ? u->n_uses[v] : 0;
}

int pat_use(const pat_uses *u, int v, int k)
{
    return u->node[u->start[v] + k];
}

bool pat_pinned(const pat_uses *u, int v)
{
    /* Values added after the index was built are unknown: treat as pinned. */
    return v < 0 || v >= u->n_values || u->pinned[v];
}

int pat_single_consumer(const pat_uses *u, int v)
{
    if (pat_pinned(u, v) || u->n_uses[v] != 1) return -1;
    return pat_use(u, v, 0);
}

bool pat_used_only_by(const pat_uses *u, int v, const int *nodes, int n)
{
    if (pat_pinned(u, v) || u->n_uses[v] == 0) return false;
    for (int k = 0; k < u->n_uses[v]; k++) {
        int c = pat_use(u, v, k);
        bool ok = false;
        for (int i = 0; i < n; i++)
            if (nodes[i] == c) ok = true;
        if (!ok) return false;
    }
    return true;
}

/* ---- nodes ---- */

int pat_other_input(const ir_node *n, int v)
{
    if (n->n_inputs != 2) return -1;
    if (n->inputs[0] == v) return n->inputs[1];
    if (n->inputs[1] == v) return n->inputs[0];
    return -1;
}

int pat_single_use_producer(const ir_graph *g, const pat_uses *u, int v, const char *op_type)
{
    int p = pat_producer(g, v);
    if (p < 0 || !pat_is_op(&g->nodes[p], op_type) || pat_single_consumer(u, v) < 0) return -1;
    return p;
}

int pat_consumer_op(const ir_graph *g, const pat_uses *u, int v, const char *op_type)
{
    int c = pat_single_consumer(u, v);
    return c >= 0 && pat_is_op(&g->nodes[c], op_type) && g->nodes[c].n_outputs >= 1 ? c : -1;
}

bool pat_is_op(const ir_node *n, const char *op_type)
{
    return (!n->domain || n->domain[0] == 0 || strcmp(n->domain, "ai.onnx") == 0) &&
           strcmp(n->op_type, op_type) == 0;
}

int pat_producer(const ir_graph *g, int v)
{
    if (v < 0 || v >= g->n_values) return -1;
    return g->values[v].producer;
}

int pat_input(const ir_node *n, int i)
{
    return i < n->n_inputs ? n->inputs[i] : -1;
}

int pat_num_outputs_present(const ir_node *n)
{
    int c = 0;
    for (int j = 0; j < n->n_outputs; j++)
        if (n->outputs[j] >= 0) c++;
    return c;
}

bool pat_only_first_output_used(const pat_uses *u, const ir_node *n)
{
    for (int j = 1; j < n->n_outputs; j++) {
        int o = n->outputs[j];
        if (o >= 0 && (pat_pinned(u, o) || pat_num_uses(u, o) > 0)) return false;
    }
    return true;
}

/* ---- sweeps and matches ---- */

fwd_status pat_sweep_begin(const ir_graph *g, pat_sweep *s, const char *what)
{
    memset(s, 0, sizeof *s);
    FWD_TRY(pat_uses_build(g, &s->u));
    s->n0 = g->n_nodes;
    s->drop = calloc((size_t)s->n0 * 2 + 1, sizeof *s->drop);
    if (!s->drop) {
        pat_uses_free(&s->u);
        return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory %s", what);
    }
    return FWD_OK;
}

fwd_status pat_sweep_end(ir_graph *g, pat_sweep *s, fwd_status st, int n_changed)
{
    if (!st && n_changed) st = ir_graph_remove_nodes(g, s->drop);
    free(s->drop);
    pat_uses_free(&s->u);
    memset(s, 0, sizeof *s);
    return st;
}

void pat_nodes_add(pat_nodes *s, int node)
{
    if (s->n < PAT_MAX_NODES) s->idx[s->n++] = node;
}

bool pat_nodes_taken(const pat_nodes *s, const bool *drop)
{
    bool taken = false;
    for (int k = 0; k < s->n; k++) taken |= drop[s->idx[k]];
    return taken;
}

void pat_nodes_drop(const pat_nodes *s, bool *drop)
{
    for (int k = 0; k < s->n; k++) drop[s->idx[k]] = true;
}

const char *pat_nodes_fused(ir_graph *g, const pat_nodes *s)
{
    int idx[PAT_MAX_NODES];
    int n = s->n;
    memcpy(idx, s->idx, sizeof(int) * (size_t)n);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && idx[j - 1] > idx[j]; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    const char *str = g->nodes[idx[0]].op_type;
    for (int i = 1; i < n && str; i++) str = pat_fused_join(g->model, str, g->nodes[idx[i]].op_type);
    return str;
}

/* ---- constants ---- */

bool pat_is_const(const ir_graph *g, int v)
{
    return v >= 0 && v < g->n_values && g->values[v].kind == IR_VALUE_CONST &&
           g->values[v].t.data != NULL;
}

int64_t pat_const_numel(const ir_graph *g, int v)
{
    if (!pat_is_const(g, v)) return -1;
    int64_t n = ir_shape_numel(&g->values[v].t.shape);
    size_t esz = fwd_dtype_size(g->values[v].t.dtype);
    if (n < 0 || esz == 0 || (size_t)n * esz > g->values[v].t.nbytes) return -1;
    return n;
}

/* Element i of a numeric tensor as a double; false for other dtypes. */
static bool elem_f64(const ir_tensor *t, int64_t i, double *out)
{
    const void *p = t->data;
    switch (t->dtype) {
    case FWD_FLOAT32: *out = ((const float *)p)[i]; return true;
    case FWD_FLOAT64: *out = ((const double *)p)[i]; return true;
    case FWD_FLOAT16: *out = fwd_f16_to_f32(((const uint16_t *)p)[i]); return true;
    case FWD_BFLOAT16: *out = fwd_bf16_to_f32(((const uint16_t *)p)[i]); return true;
    case FWD_INT8: *out = ((const int8_t *)p)[i]; return true;
    case FWD_UINT8: *out = ((const uint8_t *)p)[i]; return true;
    case FWD_BOOL: *out = ((const uint8_t *)p)[i] != 0; return true;
    case FWD_INT16: *out = ((const int16_t *)p)[i]; return true;
    case FWD_UINT16: *out = ((const uint16_t *)p)[i]; return true;
    case FWD_INT32: *out = ((const int32_t *)p)[i]; return true;
    case FWD_UINT32: *out = ((const uint32_t *)p)[i]; return true;
    case FWD_INT64: *out = (double)((const int64_t *)p)[i]; return true;
    case FWD_UINT64: *out = (double)((const uint64_t *)p)[i]; return true;
    default: return false;
    }
}

bool pat_const_doubles(const ir_graph *g, int v, double *out, int64_t n)
{
    if (pat_const_numel(g, v) != n || !ir_dtype_is_float(g->values[v].t.dtype)) return false;
    const ir_tensor *t = &g->values[v].t;
    for (int64_t i = 0; i < n; i++)
        if (!elem_f64(t, i, &out[i])) return false;
    return true;
}

bool pat_const_scalar(const ir_graph *g, int v, double *out)
{
    if (pat_const_numel(g, v) != 1) return false;
    return elem_f64(&g->values[v].t, 0, out);
}

bool pat_const_near(const ir_graph *g, int v, double want, double tol)
{
    double x;
    if (!pat_const_scalar(g, v, &x)) return false;
    double scale = want != 0 ? fabs(want) : 1.0;
    return fabs(x - want) <= tol * scale;
}

bool pat_const_all_zero(const ir_graph *g, int v)
{
    int64_t n = pat_const_numel(g, v);
    if (n < 0) return false;
    for (int64_t i = 0; i < n; i++) {
        double x;
        if (!elem_f64(&g->values[v].t, i, &x) || x != 0) return false;
    }
    return true;
}

bool pat_const_i64s(const ir_graph *g, int v, int64_t *out, int64_t n)
{
    if (pat_const_numel(g, v) != n) return false;
    const ir_tensor *t = &g->values[v].t;
    for (int64_t i = 0; i < n; i++) {
        if (t->dtype == FWD_INT64) out[i] = ((const int64_t *)t->data)[i];
        else if (t->dtype == FWD_INT32) out[i] = ((const int32_t *)t->data)[i];
        else return false;
    }
    return true;
}

fwd_status pat_add_f32_const(ir_graph *g, const char *base, const ir_shape *shape,
                             const float *data, int *id)
{
    const char *name = ir_graph_unique_name(g, base);
    if (!name) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory naming a constant for '%s'", base);
    return ir_graph_add_const(g, name, FWD_FLOAT32, shape, data, id);
}

/* ---- rewiring ---- */

void pat_replace_uses(ir_graph *g, int from, int to)
{
    for (int i = 0; i < g->n_nodes; i++) {
        ir_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_inputs; j++)
            if (n->inputs[j] == from) n->inputs[j] = to;
    }
}

fwd_status pat_emit_node(ir_graph *g, const char *op_type, const char *name, const int *inputs,
                         int n_inputs, const int *outputs, int n_outputs, const ir_attr *attrs,
                         int n_attrs, int *index)
{
    for (int i = 0; i < n_outputs; i++)
        if (outputs[i] >= 0 && outputs[i] < g->n_values) g->values[outputs[i]].producer = -1;
    return ir_graph_add_node(g, op_type, name, inputs, n_inputs, outputs, n_outputs, attrs, n_attrs,
                             index);
}

/* ---- attributes ---- */

static fwd_status attr_base(ir_model *m, const char *name, ir_attr_type type, ir_attr *out)
{
    memset(out, 0, sizeof *out);
    out->name = ir_strdup(m, name);
    out->type = type;
    if (!out->name) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory for attribute '%s'", name);
    return FWD_OK;
}

fwd_status pat_attr_int(ir_model *m, const char *name, int64_t v, ir_attr *out)
{
    FWD_TRY(attr_base(m, name, IR_ATTR_INT, out));
    out->i = v;
    return FWD_OK;
}

fwd_status pat_attr_float(ir_model *m, const char *name, float v, ir_attr *out)
{
    FWD_TRY(attr_base(m, name, IR_ATTR_FLOAT, out));
    out->f = v;
    return FWD_OK;
}

fwd_status pat_attr_string(ir_model *m, const char *name, const char *s, ir_attr *out)
{
    FWD_TRY(attr_base(m, name, IR_ATTR_STRING, out));
    out->s = ir_strdup(m, s);
    if (!out->s) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory for attribute '%s'", name);
    out->s_len = strlen(s);
    return FWD_OK;
}

fwd_status pat_attr_ints(ir_model *m, const char *name, const int64_t *v, int n, ir_attr *out)
{
    FWD_TRY(attr_base(m, name, IR_ATTR_INTS, out));
    out->ints = ir_alloc(m, sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    if (!out->ints) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory for attribute '%s'", name);
    if (n > 0) memcpy(out->ints, v, sizeof(int64_t) * (size_t)n);
    out->n = n;
    return FWD_OK;
}

int pat_copy_attrs(const ir_node *n, ir_attr *dst, int cap)
{
    int k = 0;
    for (int a = 0; a < n->n_attrs; a++) {
        if (strcmp(n->attrs[a].name, PASS_FUSED_ATTR) == 0) continue;
        if (k == cap) return -1;
        dst[k++] = n->attrs[a];
    }
    return k;
}

const char *pat_fused_of(const ir_node *n)
{
    const char *s = ir_attr_string(n, PASS_FUSED_ATTR, NULL);
    return s && s[0] ? s : n->op_type;
}

const char *pat_fused_join(ir_model *m, const char *prefix, const char *op)
{
    size_t len = strlen(prefix) + strlen(op) + 2;
    char *s = ir_alloc(m, len);
    if (!s) return NULL;
    snprintf(s, len, "%s+%s", prefix, op);
    return s;
}

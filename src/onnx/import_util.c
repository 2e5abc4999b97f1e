/* Helpers for op importers: adding nodes and constants by name, fresh
 * names, attribute filtering, errors; and the name scopes of the graphs
 * being imported. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_internal.h"
#include "util/error.h"

/* ---- scopes ---- */

static _Thread_local onnx_scope *tl_scope;

void onnx_scope_push(onnx_scope *s, ir_graph *g)
{
    memset(s, 0, sizeof *s);
    s->g = g;
    s->parent = tl_scope;
    tl_scope = s;
}

void onnx_scope_pop(onnx_scope *s)
{
    if (tl_scope == s) tl_scope = s->parent;
    fwd_strmap_free(&s->defined);
}

onnx_scope *onnx_scope_top(void) { return tl_scope; }

onnx_scope *onnx_scope_of(const ir_graph *g)
{
    for (onnx_scope *s = tl_scope; s; s = s->parent)
        if (s->g == g) return s;
    return NULL;
}

bool onnx_scope_defines(const onnx_scope *s, const char *name)
{
    return fwd_strmap_get(&s->defined, name) >= 0 || ir_graph_find(s->g, name) >= 0;
}

/* Whether graph g (with its scope, if being imported) defines name. */
static bool graph_defines(const ir_graph *g, const char *name)
{
    const onnx_scope *s = onnx_scope_of(g);
    return s ? onnx_scope_defines(s, name) : ir_graph_find(g, name) >= 0;
}

fwd_status onnx_resolve(ir_graph *g, const char *name, int *id)
{
    *id = ir_graph_find(g, name);
    if (*id >= 0) return FWD_OK;
    if (graph_defines(g, name)) /* produced by a later node of g */
        return ir_graph_add_value(g, name, IR_VALUE_INTERMEDIATE, FWD_DTYPE_UNDEFINED, NULL, id);
    for (const ir_graph *p = g->parent; p; p = p->parent) {
        if (!graph_defines(p, name)) continue;
        int pid = ir_graph_find(p, name);
        const ir_tensor *pt = pid >= 0 ? &p->values[pid].t : NULL;
        FWD_TRY(ir_graph_add_value(g, name, IR_VALUE_OUTER,
                                   pt ? pt->dtype : FWD_DTYPE_UNDEFINED,
                                   pt ? &pt->shape : NULL, id));
        return FWD_OK;
    }
    *id = -1;
    return FWD_OK;
}

/* ---- nodes ---- */

fwd_status onnx_import_default(onnx_import_ctx *c, const onnx_node *n)
{
    return onnx_emit(c, n->op_type, n->name, n->inputs, n->n_inputs, n->outputs, n->n_outputs,
                     n->attrs, n->n_attrs);
}

static const char *kind_name(ir_value_kind k)
{
    switch (k) {
    case IR_VALUE_INPUT: return "a graph input";
    case IR_VALUE_CONST: return "an initializer";
    case IR_VALUE_OUTER: return "a value of an enclosing graph";
    default: return "another node's output";
    }
}

fwd_status onnx_emit(onnx_import_ctx *c, const char *op_type, const char *name,
                     const char *const *inputs, int n_inputs, const char *const *outputs,
                     int n_outputs, const ir_attr *attrs, int n_attrs)
{
    ir_graph *g = c->graph;
    if (!name) name = "";
    if (n_inputs < 0 || n_outputs < 0 || n_attrs < 0)
        return fwd_errorf(FWD_ERR_INTERNAL, "%s '%s': negative input/output count", op_type, name);
    int *ids = malloc(sizeof(int) * (size_t)(n_inputs + n_outputs + 1));
    if (!ids) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory adding node '%s'", name);
    int *in_ids = ids, *out_ids = ids + n_inputs;
    fwd_status s = FWD_OK;
    for (int i = 0; i < n_inputs && s == FWD_OK; i++) {
        const char *nm = inputs[i] ? inputs[i] : "";
        in_ids[i] = -1;
        if (!nm[0]) continue;
        s = onnx_resolve(g, nm, &in_ids[i]);
        if (s == FWD_OK && in_ids[i] < 0)
            s = fwd_errorf(FWD_ERR_INVALID_MODEL, "%s '%s': input '%s' is not defined", op_type,
                           name, nm);
    }
    for (int i = 0; i < n_outputs && s == FWD_OK; i++) {
        const char *nm = outputs[i] ? outputs[i] : "";
        out_ids[i] = -1;
        if (!nm[0]) continue;
        int id = ir_graph_find(g, nm);
        if (id < 0) {
            s = ir_graph_add_value(g, nm, IR_VALUE_INTERMEDIATE, FWD_DTYPE_UNDEFINED, NULL, &id);
        } else if (g->values[id].kind != IR_VALUE_INTERMEDIATE || g->values[id].producer >= 0) {
            s = fwd_errorf(FWD_ERR_INVALID_MODEL, "%s '%s': output '%s' is already %s", op_type,
                           name, nm, kind_name(g->values[id].kind));
        }
        for (int j = 0; j < i && s == FWD_OK; j++)
            if (out_ids[j] == id)
                s = fwd_errorf(FWD_ERR_INVALID_MODEL, "%s '%s': output '%s' is listed twice",
                               op_type, name, nm);
        out_ids[i] = id;
    }
    int idx = -1;
    if (s == FWD_OK)
        s = ir_graph_add_node(g, op_type, name, in_ids, n_inputs, out_ids, n_outputs, attrs,
                              n_attrs, &idx);
    free(ids);
    if (s != FWD_OK) return s;
    g->nodes[idx].domain = "";
    g->nodes[idx].opset = (int)c->opset;
    return FWD_OK;
}

/* ---- constants and names ---- */

const char *onnx_fresh_name(onnx_import_ctx *c, const char *base)
{
    static _Thread_local int fallback_counter;
    onnx_scope *sc = onnx_scope_of(c->graph);
    int *counter = sc ? &sc->fresh : &fallback_counter;
    char buf[256];
    for (;;) {
        snprintf(buf, sizeof buf, "%.200s__%d", base && base[0] ? base : "v", (*counter)++);
        bool taken = graph_defines(c->graph, buf);
        for (const ir_graph *p = c->graph->parent; p && !taken; p = p->parent)
            taken = graph_defines(p, buf);
        if (!taken) return ir_strdup(c->model, buf);
    }
}

static fwd_status add_const(onnx_import_ctx *c, const char *base, fwd_dtype dt,
                            const void *vals, int n, const char **name)
{
    ir_shape shape = {0};
    shape.rank = n < 0 ? 0 : 1;
    shape.dims[0] = n < 0 ? 1 : n;
    const char *nm = onnx_fresh_name(c, base);
    if (!nm) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
    int id;
    FWD_TRY(ir_graph_add_const(c->graph, nm, dt, &shape, vals, &id));
    *name = c->graph->values[id].name;
    return FWD_OK;
}

fwd_status onnx_add_const_i64(onnx_import_ctx *c, const char *base, const int64_t *vals, int n,
                              const char **name)
{
    return add_const(c, base, FWD_INT64, vals, n, name);
}

fwd_status onnx_add_const_f32(onnx_import_ctx *c, const char *base, const float *vals, int n,
                              const char **name)
{
    return add_const(c, base, FWD_FLOAT32, vals, n, name);
}

fwd_status onnx_attrs_without(onnx_import_ctx *c, const onnx_node *n, const char *const *drop,
                              int n_drop, ir_attr **attrs, int *n_attrs)
{
    ir_attr *out = ir_alloc(c->model, sizeof(ir_attr) * (size_t)(n->n_attrs + 1));
    if (!out) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
    int k = 0;
    for (int i = 0; i < n->n_attrs; i++) {
        bool dropped = false;
        for (int j = 0; j < n_drop && !dropped; j++)
            dropped = strcmp(n->attrs[i].name, drop[j]) == 0;
        if (!dropped) out[k++] = n->attrs[i];
    }
    *attrs = out;
    *n_attrs = k;
    return FWD_OK;
}

fwd_status onnx_import_error(const onnx_import_ctx *c, const onnx_node *n, fwd_status s,
                             const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fwd_errorf(s, "%s '%s' (opset %lld): %s", n->op_type, n->name, (long long)c->opset,
                      msg);
}

const char *onnx_str(ir_model *m, const pb_msg *msg, const pb_field *f)
{
    return fwd_arena_strndup(&m->arena, (const char *)pb_bytes(msg, f), f->len);
}

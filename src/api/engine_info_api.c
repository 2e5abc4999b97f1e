/* Public API: what an engine holds (layers, summary, profiles, a Graphviz
 * view) and per-layer timing of contexts. */
#include <stdio.h>
#include <string.h>

#include "api/api_internal.h"
#include "engine/engine.h"
#include "passes/passes.h"
#include "util/error.h"

static fwd_dtype layer_precision(const ir_graph *g, const ir_node *n)
{
    /* the dtype of the first floating-point input, else of the output */
    for (int j = 0; j < n->n_inputs; j++)
        if (n->inputs[j] >= 0 && ir_dtype_is_float(g->values[n->inputs[j]].t.dtype))
            return g->values[n->inputs[j]].t.dtype;
    if (n->n_outputs > 0 && n->outputs[0] >= 0) return g->values[n->outputs[0]].t.dtype;
    return FWD_DTYPE_UNDEFINED;
}

fwd_status fwd_engine_layer(const fwd_engine *e, int index, fwd_layer_info *info)
{
    fwd_error_clear();
    if (!e || !info) return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "fwd_engine_layer: NULL argument");
    const ir_graph *g = e->ir->graph;
    if (index < 0 || index >= g->n_nodes)
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "layer index %d out of range [0, %d)", index, g->n_nodes);
    const ir_node *n = &g->nodes[index];
    memset(info, 0, sizeof *info);
    info->name = n->name;
    info->op_type = n->op_type;
    info->fused = ir_attr_string(n, PASS_FUSED_ATTR, "");
    info->precision = layer_precision(g, n);
    info->num_inputs = n->n_inputs;
    info->num_outputs = n->n_outputs;
    info->output_rank = -1;
    if (n->n_outputs > 0 && n->outputs[0] >= 0) {
        const ir_shape *s = &g->values[n->outputs[0]].t.shape;
        info->output_rank = s->rank;
        for (int d = 0; d < s->rank && d < FWD_MAX_DIMS; d++) info->output_dims[d] = s->dims[d] >= 0 ? s->dims[d] : -1;
    }
    return FWD_OK;
}

fwd_status fwd_engine_summarize(const fwd_engine *e, fwd_engine_summary *s)
{
    fwd_error_clear();
    if (!e || !s) return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "fwd_engine_summarize: NULL argument");
    const ir_graph *g = e->ir->graph;
    memset(s, 0, sizeof *s);
    s->mode = fwd_mode_name(e->mode);
    s->device = e->backend->name;
    s->num_layers = g->n_nodes;
    for (int i = 0; i < g->n_nodes; i++)
        if (ir_attr_string(&g->nodes[i], PASS_FUSED_ATTR, "")[0]) s->num_fused++;
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].kind == IR_VALUE_CONST) s->weight_bytes += g->values[v].t.nbytes;
    s->activation_bytes = e->mem.arena_bytes;
    s->unplanned_bytes = e->mem.unplanned_bytes;
    return FWD_OK;
}

fwd_status fwd_engine_input_profile(const fwd_engine *e, int index, int64_t *min, int64_t *opt, int64_t *max)
{
    fwd_error_clear();
    if (!e || !min || !opt || !max)
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "fwd_engine_input_profile: NULL argument");
    const ir_graph *g = e->ir->graph;
    if (index < 0 || index >= g->n_inputs)
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "input index %d out of range [0, %d)", index, g->n_inputs);
    const engine_profile *p = &e->profiles[index];
    for (int d = 0; d < p->rank; d++) {
        min[d] = p->min[d];
        opt[d] = p->opt[d];
        max[d] = p->max[d];
    }
    return FWD_OK;
}

/* A name safe inside a dot string. */
static void dot_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
}

fwd_status fwd_engine_write_dot(const fwd_engine *e, const char *path)
{
    fwd_error_clear();
    if (!e || !path) return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "fwd_engine_write_dot: NULL argument");
    FILE *f = fopen(path, "w");
    if (!f) return fwd_errorf(FWD_ERR_IO, "cannot write '%s'", path);
    const ir_graph *g = e->ir->graph;
    char shp[256];
    fprintf(f, "digraph engine {\n  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\"];\n");
    for (int k = 0; k < g->n_inputs; k++) {
        const ir_value *v = &g->values[g->inputs[k]];
        fprintf(f, "  v%d [shape=ellipse, label=\"", g->inputs[k]);
        dot_escape(f, v->name);
        fprintf(f, "\\n%s %s\"];\n", fwd_dtype_name(v->t.dtype), ir_shape_str(&v->t.shape, e->ir, shp, sizeof shp));
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = &g->nodes[i];
        const char *fused = ir_attr_string(n, PASS_FUSED_ATTR, "");
        fprintf(f, "  n%d [label=\"", i);
        dot_escape(f, n->op_type);
        if (fused[0]) {
            fprintf(f, "\\n(");
            dot_escape(f, fused);
            fprintf(f, ")");
        }
        fprintf(f, "\\n%s\"%s];\n", fwd_dtype_name(layer_precision(g, n)), fused[0] ? ", style=filled, fillcolor=\"#ddeeff\"" : "");
        for (int j = 0; j < n->n_inputs; j++) {
            int v = n->inputs[j];
            if (v < 0 || g->values[v].kind == IR_VALUE_CONST) continue;
            const ir_value *val = &g->values[v];
            if (val->producer >= 0)
                fprintf(f, "  n%d -> n%d [label=\"%s\"];\n", val->producer, i,
                        ir_shape_str(&val->t.shape, e->ir, shp, sizeof shp));
            else if (val->kind == IR_VALUE_INPUT)
                fprintf(f, "  v%d -> n%d;\n", v, i);
        }
    }
    for (int k = 0; k < g->n_outputs; k++) {
        const ir_value *v = &g->values[g->outputs[k]];
        fprintf(f, "  o%d [shape=ellipse, label=\"", k);
        dot_escape(f, v->name);
        fprintf(f, "\\n%s %s\"];\n", fwd_dtype_name(v->t.dtype), ir_shape_str(&v->t.shape, e->ir, shp, sizeof shp));
        if (v->producer >= 0) fprintf(f, "  n%d -> o%d;\n", v->producer, k);
    }
    fprintf(f, "}\n");
    if (fclose(f) != 0) return fwd_errorf(FWD_ERR_IO, "error writing '%s'", path);
    return FWD_OK;
}

fwd_status fwd_context_set_profiling(fwd_context *c, int on)
{
    fwd_error_clear();
    if (!c) return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "fwd_context_set_profiling: NULL context");
    c->profiling = on != 0;
    return FWD_OK;
}

fwd_status fwd_context_layer_time(const fwd_context *c, int index, double *micros)
{
    fwd_error_clear();
    if (!c || !micros) return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "fwd_context_layer_time: NULL argument");
    int n = c->engine->ir->graph->n_nodes;
    if (index < 0 || index >= n)
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "layer index %d out of range [0, %d)", index, n);
    *micros = c->layer_us[index];
    return FWD_OK;
}

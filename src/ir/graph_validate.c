/* Structural validation of a graph and its subgraphs. */
#include "ir/ir.h"
#include "ir/op_schema.h"
#include "util/error.h"

static bool outer_defined(const ir_graph *g, const char *name)
{
    for (const ir_graph *p = g->parent; p; p = p->parent) {
        int id = ir_graph_find(p, name);
        if (id >= 0) return true;
    }
    return false;
}

static fwd_status validate_value_use(const ir_graph *g, const ir_node *n, int id, int node_index,
                                     int slot)
{
    if (id < 0) return FWD_OK;
    if (id >= g->n_values)
        return fwd_errorf(FWD_ERR_INVALID_MODEL, "node '%s' (%s): input %d refers to value %d of %d",
                          n->name, n->op_type, slot, id, g->n_values);
    const ir_value *v = &g->values[id];
    switch (v->kind) {
    case IR_VALUE_INPUT:
    case IR_VALUE_CONST:
        return FWD_OK;
    case IR_VALUE_OUTER:
        if (!outer_defined(g, v->name))
            return fwd_errorf(FWD_ERR_INVALID_MODEL,
                              "node '%s' (%s): input '%s' is not defined in this or any enclosing graph",
                              n->name, n->op_type, v->name);
        return FWD_OK;
    case IR_VALUE_INTERMEDIATE:
        if (v->producer < 0)
            return fwd_errorf(FWD_ERR_INVALID_MODEL,
                              "node '%s' (%s): input '%s' is neither a graph input, an initializer nor a node output",
                              n->name, n->op_type, v->name);
        if (v->producer >= node_index)
            return fwd_errorf(FWD_ERR_INVALID_MODEL,
                              "node '%s' (%s): input '%s' is produced later, by node '%s'",
                              n->name, n->op_type, v->name, g->nodes[v->producer].name);
        return FWD_OK;
    }
    return FWD_OK;
}

fwd_status ir_graph_validate(const ir_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_inputs; j++)
            FWD_TRY(validate_value_use(g, n, n->inputs[j], i, j));
        for (int j = 0; j < n->n_outputs; j++) {
            int id = n->outputs[j];
            if (id >= g->n_values)
                return fwd_errorf(FWD_ERR_INVALID_MODEL, "node '%s' (%s): output %d out of range",
                                  n->name, n->op_type, j);
            if (id >= 0 && g->values[id].producer != i)
                return fwd_errorf(FWD_ERR_INVALID_MODEL, "node '%s' (%s): output '%s' is also produced elsewhere",
                                  n->name, n->op_type, g->values[id].name);
        }
        if (n->domain[0] == '\0') {
            const ir_op_schema *s = ir_op_schema_find(n->op_type);
            if (!s)
                return fwd_errorf(FWD_ERR_UNSUPPORTED, "node '%s': op %s is not supported", n->name,
                                  n->op_type);
            if (n->n_inputs < s->min_inputs || (s->max_inputs >= 0 && n->n_inputs > s->max_inputs))
                return fwd_errorf(FWD_ERR_INVALID_MODEL,
                                  "node '%s' (%s) has %d inputs; the op takes %d to %d",
                                  n->name, n->op_type, n->n_inputs, s->min_inputs, s->max_inputs);
            if (n->n_outputs < s->min_outputs || (s->max_outputs >= 0 && n->n_outputs > s->max_outputs))
                return fwd_errorf(FWD_ERR_INVALID_MODEL,
                                  "node '%s' (%s) has %d outputs; the op gives %d to %d",
                                  n->name, n->op_type, n->n_outputs, s->min_outputs, s->max_outputs);
            /* required inputs (below min) must be present */
            for (int j = 0; j < s->min_inputs && j < n->n_inputs; j++)
                if (n->inputs[j] < 0 && s->max_inputs >= 0)
                    return fwd_errorf(FWD_ERR_INVALID_MODEL, "node '%s' (%s): required input %d is missing",
                                      n->name, n->op_type, j);
        }
        for (int a = 0; a < n->n_attrs; a++) {
            const ir_attr *at = &n->attrs[a];
            if (at->type == IR_ATTR_GRAPH && at->g) FWD_TRY(ir_graph_validate(at->g));
            if (at->type == IR_ATTR_GRAPHS)
                for (int k = 0; k < at->n; k++) FWD_TRY(ir_graph_validate(at->graphs[k]));
        }
    }
    for (int i = 0; i < g->n_outputs; i++) {
        int id = g->outputs[i];
        if (id < 0 || id >= g->n_values)
            return fwd_errorf(FWD_ERR_INVALID_MODEL, "graph '%s': output %d is invalid", g->name, i);
        const ir_value *v = &g->values[id];
        if (v->kind == IR_VALUE_INTERMEDIATE && v->producer < 0)
            return fwd_errorf(FWD_ERR_INVALID_MODEL, "graph '%s': output '%s' is never produced",
                              g->name, v->name);
        if (v->kind == IR_VALUE_OUTER && !outer_defined(g, v->name))
            return fwd_errorf(FWD_ERR_INVALID_MODEL, "graph '%s': output '%s' is not defined",
                              g->name, v->name);
    }
    return FWD_OK;
}

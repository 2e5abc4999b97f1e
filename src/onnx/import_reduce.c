/*
 * ONNX importers for the reduce op family.
 *
 *  - Reduce*: the "axes" attribute (all opsets but ReduceSum >= 13 and
 *    opset >= 18) becomes a constant int64 input 1, the canonical form.
 *  - Softmax/LogSoftmax/Hardmax < 13 coerce the input to 2-D at `axis`;
 *    this becomes Flatten -> op(axis=1) -> Reshape(Shape(x)), or the op
 *    itself when the axis is known to be the last one.
 *  - BatchNormalization < 14 loses is_test/spatial/consumed_inputs.
 */
#include <string.h>

#include "ir/op_schema.h"
#include "onnx/onnx_import.h"
#include "util/error.h"

static const ir_attr *find_attr(const onnx_node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, name)) return &n->attrs[i];
    return NULL;
}

static int64_t attr_int(const onnx_node *n, const char *name, int64_t dflt)
{
    const ir_attr *a = find_attr(n, name);
    return a && a->type == IR_ATTR_INT ? a->i : dflt;
}

static bool has_subgraph(const ir_node *n)
{
    for (int a = 0; a < n->n_attrs; a++)
        if (n->attrs[a].type == IR_ATTR_GRAPH || n->attrs[a].type == IR_ATTR_GRAPHS) return true;
    return false;
}

/*
 * Static rank of a value, or -1. Shapes are inferred only after the whole
 * graph is imported, so when the rank is not known yet, infer the graph
 * built so far (nodes arrive in topological order; failures just leave
 * shapes unknown). Knowing the rank lets Softmax-11 at the last axis
 * become a plain Softmax instead of Flatten/Softmax/Reshape copies.
 */
static int static_rank(onnx_import_ctx *c, const char *name)
{
    ir_graph *g = c->graph;
    int id = ir_graph_find(g, name);
    if (id < 0) return -1;
    if (g->values[id].t.shape.rank >= 0) return g->values[id].t.shape.rank;
    const ir_tensor *ins[64];
    ir_tensor outs[64];
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = &g->nodes[i];
        if (n->domain[0] || n->n_inputs > 64 || n->n_outputs > 64 || has_subgraph(n)) continue;
        bool need = false;
        for (int j = 0; j < n->n_outputs; j++)
            need = need || (n->outputs[j] >= 0 && g->values[n->outputs[j]].t.shape.rank < 0);
        if (!need) continue;
        for (int j = 0; j < n->n_inputs; j++) ins[j] = n->inputs[j] >= 0 ? &g->values[n->inputs[j]].t : NULL;
        for (int j = 0; j < n->n_outputs; j++) outs[j] = (ir_tensor){.shape.rank = -1};
        ir_infer_ctx ic = {.node = n, .model = c->model, .n_in = n->n_inputs, .in = ins,
                           .n_out = n->n_outputs, .out = outs};
        if (ir_infer_node(&ic) != FWD_OK) continue;
        for (int j = 0; j < n->n_outputs; j++) {
            if (n->outputs[j] < 0) continue;
            ir_value *v = &g->values[n->outputs[j]];
            if (v->t.shape.rank < 0 && outs[j].shape.rank >= 0) v->t.shape = outs[j].shape;
            if (v->t.dtype == FWD_DTYPE_UNDEFINED) v->t.dtype = outs[j].dtype;
        }
    }
    return g->values[id].t.shape.rank;
}

static fwd_status import_reduce(onnx_import_ctx *c, const onnx_node *n)
{
    bool axes_is_input = c->opset >= 18 || (!strcmp(n->op_type, "ReduceSum") && c->opset >= 13);
    if (axes_is_input) return onnx_import_default(c, n);
    if (n->n_inputs != 1)
        return onnx_import_error(c, n, FWD_ERR_INVALID_MODEL, "expects 1 input, got %d", n->n_inputs);
    const ir_attr *axes = find_attr(n, "axes");
    if (axes && axes->type != IR_ATTR_INTS)
        return onnx_import_error(c, n, FWD_ERR_INVALID_MODEL, "attribute axes must be a list of ints");
    static const char *const drop[] = {"axes"};
    ir_attr *attrs;
    int n_attrs;
    FWD_TRY(onnx_attrs_without(c, n, drop, 1, &attrs, &n_attrs));
    const char *inputs[2] = {n->inputs[0], NULL};
    int n_in = 1;
    if (axes && axes->n > 0) {
        FWD_TRY(onnx_add_const_i64(c, "axes", axes->ints, axes->n, &inputs[1]));
        n_in = 2;
    }
    return onnx_emit(c, n->op_type, n->name, inputs, n_in, n->outputs, n->n_outputs, attrs, n_attrs);
}

static fwd_status import_softmax(onnx_import_ctx *c, const onnx_node *n)
{
    if (c->opset >= 13) return onnx_import_default(c, n);
    if (n->n_inputs != 1 || n->n_outputs != 1)
        return onnx_import_error(c, n, FWD_ERR_INVALID_MODEL, "expects 1 input and 1 output");
    int64_t axis = attr_int(n, "axis", 1);
    int rank = static_rank(c, n->inputs[0]);
    ir_attr *attr = ir_alloc(c->model, sizeof *attr);
    if (!attr) return onnx_import_error(c, n, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    attr->name = "axis";
    attr->type = IR_ATTR_INT;
    if (rank >= 1) {
        if (axis < -rank || axis >= rank)
            return onnx_import_error(c, n, FWD_ERR_INVALID_MODEL, "axis %lld out of range for rank %d",
                                     (long long)axis, rank);
        if (axis < 0) axis += rank;
        /* Coercing at the last axis is the opset-13 op itself. */
        if (axis == rank - 1) {
            attr->i = -1;
            return onnx_emit(c, n->op_type, n->name, n->inputs, 1, n->outputs, 1, attr, 1);
        }
    }
    const char *shape = onnx_fresh_name(c, "softmax_shape");
    const char *flat = onnx_fresh_name(c, "softmax_flat");
    const char *res = onnx_fresh_name(c, "softmax_2d");
    if (!shape || !flat || !res) return onnx_import_error(c, n, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    ir_attr *fa = ir_alloc(c->model, sizeof *fa);
    ir_attr *ra = ir_alloc(c->model, sizeof *ra);
    if (!fa || !ra) return onnx_import_error(c, n, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    *fa = (ir_attr){.name = "axis", .type = IR_ATTR_INT, .i = axis};
    /* The saved shape may hold zero dims, which must stay zeros. */
    *ra = (ir_attr){.name = "allowzero", .type = IR_ATTR_INT, .i = 1};
    attr->i = 1;
    const char *base = n->name && *n->name ? n->name : n->op_type;
    const char *nm_shape = onnx_fresh_name(c, base);
    const char *nm_flat = onnx_fresh_name(c, base);
    const char *nm_back = onnx_fresh_name(c, base);
    FWD_TRY(onnx_emit(c, "Shape", nm_shape, n->inputs, 1, &shape, 1, NULL, 0));
    FWD_TRY(onnx_emit(c, "Flatten", nm_flat, n->inputs, 1, &flat, 1, fa, 1));
    FWD_TRY(onnx_emit(c, n->op_type, n->name, &flat, 1, &res, 1, attr, 1));
    const char *rin[2] = {res, shape};
    return onnx_emit(c, "Reshape", nm_back, rin, 2, n->outputs, 1, ra, 1);
}

static fwd_status import_batchnorm(onnx_import_ctx *c, const onnx_node *n)
{
    if (c->opset >= 14) return onnx_import_default(c, n);
    if (attr_int(n, "spatial", 1) == 0)
        return onnx_import_error(c, n, FWD_ERR_UNSUPPORTED, "spatial=0 is not supported");
    for (int i = 1; i < n->n_outputs; i++)
        if (n->outputs[i] && *n->outputs[i])
            return onnx_import_error(c, n, FWD_ERR_UNSUPPORTED,
                                     "training outputs (output %d '%s') are not supported before opset 14",
                                     i, n->outputs[i]);
    static const char *const drop[] = {"is_test", "spatial", "consumed_inputs"};
    ir_attr *attrs;
    int n_attrs;
    FWD_TRY(onnx_attrs_without(c, n, drop, 3, &attrs, &n_attrs));
    return onnx_emit(c, n->op_type, n->name, n->inputs, n->n_inputs, n->outputs, 1, attrs, n_attrs);
}

static fwd_status import_drop_consumed(onnx_import_ctx *c, const onnx_node *n)
{
    static const char *const drop[] = {"consumed_inputs"};
    ir_attr *attrs;
    int n_attrs;
    FWD_TRY(onnx_attrs_without(c, n, drop, 1, &attrs, &n_attrs));
    return onnx_emit(c, n->op_type, n->name, n->inputs, n->n_inputs, n->outputs, n->n_outputs, attrs,
                     n_attrs);
}

const onnx_op_importer onnx_importers_reduce[] = {
    {"ReduceSum", import_reduce},
    {"ReduceMean", import_reduce},
    {"ReduceMax", import_reduce},
    {"ReduceMin", import_reduce},
    {"ReduceProd", import_reduce},
    {"ReduceL1", import_reduce},
    {"ReduceL2", import_reduce},
    {"ReduceLogSum", import_reduce},
    {"ReduceLogSumExp", import_reduce},
    {"ReduceSumSquare", import_reduce},
    {"Softmax", import_softmax},
    {"LogSoftmax", import_softmax},
    {"Hardmax", import_softmax},
    {"BatchNormalization", import_batchnorm},
    {"InstanceNormalization", import_drop_consumed},
    {"LayerNormalization", onnx_import_default},
    {"LpNormalization", onnx_import_default},
    {"LRN", onnx_import_default},
    {"MeanVarianceNormalization", onnx_import_default},
    {"SoftmaxCrossEntropyLoss", onnx_import_default},
    {"NegativeLogLikelihoodLoss", onnx_import_default},
    {"Einsum", onnx_import_default},
    {"Det", onnx_import_default},
    {NULL, NULL},
};

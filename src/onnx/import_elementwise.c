/*
 * ONNX importers for the elementwise op family. Most ops are unchanged
 * since opset 7 (later opsets only added dtypes or broadcasting, which the
 * IR form covers); the rewrites are:
 *  - Clip < 11: attributes min/max become constant inputs;
 *  - Dropout < 12: attributes ratio/is_test are dropped (inference
 *    ignores the ratio), and before opset 10 the mask, of the data's dtype
 *    then, is a CastLike of the bool mask;
 *  - ops of opset 1..5 lose the obsolete consumed_inputs attribute.
 */
#include <string.h>

#include "onnx/onnx_import.h"
#include "util/error.h"

/* The node without the named attributes (if it has any of them). */
static fwd_status emit_without(onnx_import_ctx *c, const onnx_node *n, const char *const *drop, int n_drop)
{
    bool has = false;
    for (int i = 0; i < n->n_attrs && !has; i++)
        for (int j = 0; j < n_drop && !has; j++) has = strcmp(n->attrs[i].name, drop[j]) == 0;
    if (!has) return onnx_import_default(c, n);
    ir_attr *attrs;
    int n_attrs;
    FWD_TRY(onnx_attrs_without(c, n, drop, n_drop, &attrs, &n_attrs));
    return onnx_emit(c, n->op_type, n->name, n->inputs, n->n_inputs, n->outputs, n->n_outputs, attrs,
                     n_attrs);
}

static fwd_status import_legacy(onnx_import_ctx *c, const onnx_node *n)
{
    static const char *const drop[] = {"consumed_inputs"};
    return emit_without(c, n, drop, 1);
}

/* dtype of a value visible from the current graph, or undefined. */
static fwd_dtype value_dtype(const onnx_import_ctx *c, const char *name)
{
    for (const ir_graph *g = c->graph; g; g = g->parent) {
        int id = ir_graph_find(g, name);
        if (id >= 0) return g->values[id].t.dtype;
    }
    return FWD_DTYPE_UNDEFINED;
}

/* A constant bound of Clip < 11 with the input's dtype: a float32 scalar,
 * through CastLike when the input is not known to be float32. */
static fwd_status clip_bound(onnx_import_ctx *c, const onnx_node *n, float v, const char **name)
{
    const char *cst;
    FWD_TRY(onnx_add_const_f32(c, n->name && n->name[0] ? n->name : "clip", &v, -1, &cst));
    if (value_dtype(c, n->inputs[0]) == FWD_FLOAT32) {
        *name = cst;
        return FWD_OK;
    }
    const char *out = onnx_fresh_name(c, cst);
    if (!out) return onnx_import_error(c, n, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    const char *ins[2] = {cst, n->inputs[0]};
    const char *outs[1] = {out};
    FWD_TRY(onnx_emit(c, "CastLike", onnx_fresh_name(c, "clip_bound"), ins, 2, outs, 1, NULL, 0));
    *name = out;
    return FWD_OK;
}

static fwd_status import_clip(onnx_import_ctx *c, const onnx_node *n)
{
    if (c->opset >= 11) return onnx_import_default(c, n);
    if (n->n_inputs < 1 || !n->inputs[0][0])
        return onnx_import_error(c, n, FWD_ERR_INVALID_MODEL, "input 'input' is missing");
    const char *ins[3] = {n->inputs[0], "", ""};
    for (int i = 0; i < n->n_attrs; i++) {
        const ir_attr *a = &n->attrs[i];
        int slot = strcmp(a->name, "min") == 0 ? 1 : strcmp(a->name, "max") == 0 ? 2 : 0;
        if (!slot) continue;
        if (a->type != IR_ATTR_FLOAT)
            return onnx_import_error(c, n, FWD_ERR_INVALID_MODEL, "attribute '%s' must be a float", a->name);
        FWD_TRY(clip_bound(c, n, a->f, &ins[slot]));
    }
    static const char *const drop[] = {"min", "max", "consumed_inputs"};
    ir_attr *attrs;
    int n_attrs;
    FWD_TRY(onnx_attrs_without(c, n, drop, 3, &attrs, &n_attrs));
    int n_in = ins[2][0] ? 3 : ins[1][0] ? 2 : 1;
    return onnx_emit(c, "Clip", n->name, ins, n_in, n->outputs, n->n_outputs, attrs, n_attrs);
}

static fwd_status import_dropout(onnx_import_ctx *c, const onnx_node *n)
{
    if (c->opset >= 12) return onnx_import_default(c, n);
    if (n->n_inputs < 1 || !n->inputs[0][0])
        return onnx_import_error(c, n, FWD_ERR_INVALID_MODEL, "input 'data' is missing");
    static const char *const drop[] = {"ratio", "is_test", "consumed_inputs"};
    ir_attr *attrs;
    int n_attrs;
    FWD_TRY(onnx_attrs_without(c, n, drop, 3, &attrs, &n_attrs));
    const char *ins[1] = {n->inputs[0]};
    bool want_mask = n->n_outputs > 1 && n->outputs[1][0];
    if (!want_mask || c->opset >= 10)
        return onnx_emit(c, "Dropout", n->name, ins, 1, n->outputs, n->n_outputs > 2 ? 2 : n->n_outputs,
                         attrs, n_attrs);
    /* opset < 10: the mask has the data's dtype */
    const char *bool_mask = onnx_fresh_name(c, n->outputs[1]);
    if (!bool_mask) return onnx_import_error(c, n, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    const char *outs[2] = {n->outputs[0], bool_mask};
    FWD_TRY(onnx_emit(c, "Dropout", n->name, ins, 1, outs, 2, attrs, n_attrs));
    const char *cl_in[2] = {bool_mask, n->inputs[0]};
    const char *cl_out[1] = {n->outputs[1]};
    return onnx_emit(c, "CastLike", onnx_fresh_name(c, "dropout_mask"), cl_in, 2, cl_out, 1, NULL, 0);
}

const onnx_op_importer onnx_importers_elementwise[] = {
    /* unary math */
    {"Abs", import_legacy},
    {"Neg", import_legacy},
    {"Reciprocal", import_legacy},
    {"Sqrt", import_legacy},
    {"Exp", import_legacy},
    {"Log", import_legacy},
    {"Ceil", import_legacy},
    {"Floor", import_legacy},
    {"Round", onnx_import_default},
    {"Sign", onnx_import_default},
    {"Erf", onnx_import_default},
    {"Sin", onnx_import_default},
    {"Cos", onnx_import_default},
    {"Tan", onnx_import_default},
    {"Asin", onnx_import_default},
    {"Acos", onnx_import_default},
    {"Atan", onnx_import_default},
    {"Sinh", onnx_import_default},
    {"Cosh", onnx_import_default},
    {"Asinh", onnx_import_default},
    {"Acosh", onnx_import_default},
    {"Atanh", onnx_import_default},
    {"Tanh", import_legacy},
    {"Sigmoid", import_legacy},
    {"Not", onnx_import_default},
    {"IsNaN", onnx_import_default},
    {"IsInf", onnx_import_default},
    /* activations */
    {"Relu", import_legacy},
    {"LeakyRelu", import_legacy},
    {"PRelu", import_legacy},
    {"Elu", import_legacy},
    {"Selu", import_legacy},
    {"Celu", onnx_import_default},
    {"HardSigmoid", import_legacy},
    {"HardSwish", onnx_import_default},
    {"Softplus", onnx_import_default},
    {"Softsign", onnx_import_default},
    {"ThresholdedRelu", onnx_import_default},
    {"Shrink", onnx_import_default},
    {"Clip", import_clip},
    /* binary */
    {"Add", import_legacy},
    {"Sub", import_legacy},
    {"Mul", import_legacy},
    {"Div", import_legacy},
    {"Pow", onnx_import_default},
    {"Mod", onnx_import_default},
    {"BitShift", onnx_import_default},
    {"And", onnx_import_default},
    {"Or", onnx_import_default},
    {"Xor", onnx_import_default},
    {"Equal", onnx_import_default},
    {"Less", onnx_import_default},
    {"Greater", onnx_import_default},
    {"LessOrEqual", onnx_import_default},
    {"GreaterOrEqual", onnx_import_default},
    /* variadic */
    {"Sum", import_legacy},
    {"Mean", import_legacy},
    {"Max", import_legacy},
    {"Min", import_legacy},
    /* selection, conversion */
    {"Where", onnx_import_default},
    {"Cast", onnx_import_default},
    {"CastLike", onnx_import_default},
    {"Identity", onnx_import_default},
    {"Dropout", import_dropout},
    {NULL, NULL},
};

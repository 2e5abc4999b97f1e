/*
 * ONNX importers for the nn op family. Most ops import unchanged; older
 * opset forms are rewritten into the opset-17 form here.
 */
#include <math.h>
#include <string.h>

#include "onnx/onnx_import.h"
#include "util/error.h"

static const ir_attr *find_attr(const onnx_node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, name)) return &n->attrs[i];
    return NULL;
}

static fwd_status emit_with_attrs(onnx_import_ctx *c, const onnx_node *n, const ir_attr *attrs,
                                  int n_attrs)
{
    return onnx_emit(c, n->op_type, n->name, n->inputs, n->n_inputs, n->outputs, n->n_outputs,
                     attrs, n_attrs);
}

/* Gemm-1/6 carry a 'broadcast' flag; opset 7+ always broadcasts C. */
static fwd_status import_gemm(onnx_import_ctx *c, const onnx_node *n)
{
    if (c->opset >= 7) return onnx_import_default(c, n);
    static const char *const drop[] = {"broadcast"};
    ir_attr *attrs;
    int n_attrs;
    FWD_TRY(onnx_attrs_without(c, n, drop, 1, &attrs, &n_attrs));
    return emit_with_attrs(c, n, attrs, n_attrs);
}

/* LpPool-1 / GlobalLpPool-1 have a float 'p'; later opsets an int. */
static fwd_status import_lp_pool(onnx_import_ctx *c, const onnx_node *n)
{
    const ir_attr *p = find_attr(n, "p");
    if (!p || p->type != IR_ATTR_FLOAT) return onnx_import_default(c, n);
    if (!(p->f >= 1.0f && p->f <= 64.0f) || p->f != floorf(p->f))
        return onnx_import_error(c, n, FWD_ERR_UNSUPPORTED, "p = %g is not a positive integer",
                                 (double)p->f);
    static const char *const drop[] = {"p"};
    ir_attr *attrs, *all;
    int n_attrs;
    FWD_TRY(onnx_attrs_without(c, n, drop, 1, &attrs, &n_attrs));
    all = ir_alloc(c->model, sizeof(ir_attr) * (size_t)(n_attrs + 1));
    if (!all) return onnx_import_error(c, n, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    if (n_attrs) memcpy(all, attrs, sizeof(ir_attr) * (size_t)n_attrs);
    all[n_attrs] = (ir_attr){.name = "p", .type = IR_ATTR_INT, .i = (int64_t)p->f};
    return emit_with_attrs(c, n, all, n_attrs + 1);
}

/* RoiAlign-10 behaves as coordinate_transformation_mode=output_half_pixel
 * (the opset-16 default is half_pixel). */
static fwd_status import_roi_align(onnx_import_ctx *c, const onnx_node *n)
{
    if (c->opset >= 16 || find_attr(n, "coordinate_transformation_mode"))
        return onnx_import_default(c, n);
    ir_attr *all = ir_alloc(c->model, sizeof(ir_attr) * (size_t)(n->n_attrs + 1));
    if (!all) return onnx_import_error(c, n, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    if (n->n_attrs) memcpy(all, n->attrs, sizeof(ir_attr) * (size_t)n->n_attrs);
    static const char mode[] = "output_half_pixel";
    all[n->n_attrs] = (ir_attr){.name = "coordinate_transformation_mode",
                                .type = IR_ATTR_STRING,
                                .s = mode,
                                .s_len = sizeof mode - 1};
    return emit_with_attrs(c, n, all, n->n_attrs + 1);
}

const onnx_op_importer onnx_importers_nn[] = {
    {"Conv", onnx_import_default},
    {"ConvTranspose", onnx_import_default},
    {"ConvInteger", onnx_import_default},
    {"QLinearConv", onnx_import_default},
    {"MatMul", onnx_import_default},
    {"Gemm", import_gemm},
    {"MatMulInteger", onnx_import_default},
    {"QLinearMatMul", onnx_import_default},
    {"MaxPool", onnx_import_default},
    {"AveragePool", onnx_import_default},
    {"LpPool", import_lp_pool},
    {"GlobalAveragePool", onnx_import_default},
    {"GlobalMaxPool", onnx_import_default},
    {"GlobalLpPool", import_lp_pool},
    {"MaxUnpool", onnx_import_default},
    {"MaxRoiPool", onnx_import_default},
    {"RoiAlign", import_roi_align},
    {"NonMaxSuppression", onnx_import_default},
    {"QuantizeLinear", onnx_import_default},
    {"DequantizeLinear", onnx_import_default},
    {"DynamicQuantizeLinear", onnx_import_default},
    {NULL, NULL},
};

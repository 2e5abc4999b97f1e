/*
 * ONNX importers for the tensor op family. Constant nodes become constant
 * values; older opsets whose parameters were attributes (Reshape-1,
 * Slice-1, Pad-2, Split-2..12, Squeeze/Unsqueeze-1..12, TopK-1) get them
 * as constant inputs; Upsample and Resize-10 become opset-17 Resize;
 * Scatter becomes ScatterElements.
 */
#include <string.h>

#include "onnx/onnx_import.h"
#include "util/error.h"
#include "util/half.h"

static const ir_attr *find_attr(const onnx_node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, name)) return &n->attrs[i];
    return NULL;
}

static fwd_status oom(const onnx_import_ctx *c, const onnx_node *n)
{
    return onnx_import_error(c, n, FWD_ERR_OUT_OF_MEMORY, "out of memory");
}

/* Emit op_type with n's inputs[0..n_keep) followed by extra inputs, and
 * n's attributes minus drop[] plus add[]. */
static fwd_status emit_rewritten(onnx_import_ctx *c, const onnx_node *n, const char *op_type, int n_keep,
                                 const char *const *extra, int n_extra, const char *const *drop, int n_drop,
                                 const ir_attr *add, int n_add)
{
    int nin = n_keep + n_extra;
    const char **ins = ir_alloc(c->model, sizeof(char *) * (size_t)(nin + 1));
    ir_attr *attrs, *all;
    int n_attrs;
    if (!ins) return oom(c, n);
    for (int i = 0; i < n_keep; i++) ins[i] = i < n->n_inputs ? n->inputs[i] : "";
    for (int i = 0; i < n_extra; i++) ins[n_keep + i] = extra[i];
    /* trailing absent inputs are dropped */
    while (nin > 0 && (!ins[nin - 1] || !ins[nin - 1][0])) nin--;
    FWD_TRY(onnx_attrs_without(c, n, drop, n_drop, &attrs, &n_attrs));
    all = ir_alloc(c->model, sizeof(ir_attr) * (size_t)(n_attrs + n_add + 1));
    if (!all) return oom(c, n);
    if (n_attrs) memcpy(all, attrs, sizeof(ir_attr) * (size_t)n_attrs);
    for (int i = 0; i < n_add; i++) all[n_attrs + i] = add[i];
    return onnx_emit(c, op_type, n->name, ins, nin, n->outputs, n->n_outputs, all, n_attrs + n_add);
}

/* An int64 constant from an INTS attribute (NULL name when absent). */
static fwd_status ints_const(onnx_import_ctx *c, const onnx_node *n, const char *attr, const char **name)
{
    const ir_attr *a = find_attr(n, attr);
    *name = "";
    if (!a) return FWD_OK;
    if (a->type != IR_ATTR_INTS && a->type != IR_ATTR_INT)
        return onnx_import_error(c, n, FWD_ERR_INVALID_MODEL, "attribute '%s' must be a list of ints", attr);
    if (a->type == IR_ATTR_INT) return onnx_add_const_i64(c, attr, &a->i, 1, name);
    return onnx_add_const_i64(c, attr, a->ints, a->n, name);
}

static ir_attr str_attr(const char *name, const char *value)
{
    return (ir_attr){.name = name, .type = IR_ATTR_STRING, .s = value, .s_len = strlen(value)};
}

/* ---- Constant ---- */

/* Make value `name` a constant: a new value, or the placeholder created
 * when a node used it before this Constant was seen. */
static fwd_status define_const(onnx_import_ctx *c, const onnx_node *n, const char *name, fwd_dtype dt,
                               const ir_shape *shape, const void *data)
{
    ir_graph *g = c->graph;
    int id = ir_graph_find(g, name);
    if (id < 0) return ir_graph_add_const(g, name, dt, shape, data, NULL);
    ir_value *v = &g->values[id];
    if (v->kind != IR_VALUE_INTERMEDIATE || v->producer >= 0)
        return onnx_import_error(c, n, FWD_ERR_INVALID_MODEL, "output '%s' is defined twice", name);
    size_t bytes = (size_t)ir_shape_numel(shape) * fwd_dtype_size(dt);
    void *copy = ir_alloc(c->model, bytes ? bytes : 1);
    if (!copy) return oom(c, n);
    if (bytes) memcpy(copy, data, bytes);
    v->kind = IR_VALUE_CONST;
    v->t.dtype = dt;
    v->t.shape = *shape;
    v->t.data = copy;
    v->t.nbytes = bytes;
    return FWD_OK;
}

static fwd_status import_constant(onnx_import_ctx *c, const onnx_node *n)
{
    if (n->n_outputs != 1 || !n->outputs[0][0])
        return onnx_import_error(c, n, FWD_ERR_INVALID_MODEL, "Constant must have one output");
    if (n->n_attrs != 1)
        return onnx_import_error(c, n, FWD_ERR_INVALID_MODEL, "Constant needs exactly one value attribute");
    const ir_attr *a = &n->attrs[0];
    const char *out = n->outputs[0];
    ir_shape scalar = {.rank = 0}, vec = {.rank = 1, .dims = {a->n}};
    if (!strcmp(a->name, "value") && a->type == IR_ATTR_TENSOR && a->t) {
        if (a->t->dtype == FWD_STRING || fwd_dtype_size(a->t->dtype) == 0)
            return onnx_import_error(c, n, FWD_ERR_UNSUPPORTED, "%s constants are not supported",
                                     fwd_dtype_name(a->t->dtype));
        if (ir_shape_numel(&a->t->shape) > 0 && !a->t->data)
            return onnx_import_error(c, n, FWD_ERR_INVALID_MODEL, "constant tensor has no data");
        return define_const(c, n, out, a->t->dtype, &a->t->shape, a->t->data);
    }
    if (!strcmp(a->name, "value_float") && a->type == IR_ATTR_FLOAT)
        return define_const(c, n, out, FWD_FLOAT32, &scalar, &a->f);
    if (!strcmp(a->name, "value_int") && a->type == IR_ATTR_INT)
        return define_const(c, n, out, FWD_INT64, &scalar, &a->i);
    if (!strcmp(a->name, "value_floats") && a->type == IR_ATTR_FLOATS)
        return define_const(c, n, out, FWD_FLOAT32, &vec, a->floats);
    if (!strcmp(a->name, "value_ints") && a->type == IR_ATTR_INTS)
        return define_const(c, n, out, FWD_INT64, &vec, a->ints);
    return onnx_import_error(c, n, FWD_ERR_UNSUPPORTED, "Constant attribute '%s' is not supported", a->name);
}

/* ---- ops whose parameters became inputs ---- */

static fwd_status import_reshape(onnx_import_ctx *c, const onnx_node *n)
{
    if (c->opset >= 5) return onnx_import_default(c, n);
    const char *shape;
    FWD_TRY(ints_const(c, n, "shape", &shape));
    if (!shape[0]) return onnx_import_error(c, n, FWD_ERR_INVALID_MODEL, "attribute 'shape' is required");
    static const char *const drop[] = {"shape", "consumed_inputs"};
    return emit_rewritten(c, n, "Reshape", 1, &shape, 1, drop, 2, NULL, 0);
}

static fwd_status import_slice(onnx_import_ctx *c, const onnx_node *n)
{
    if (c->opset >= 10) return onnx_import_default(c, n);
    const char *ex[3];
    FWD_TRY(ints_const(c, n, "starts", &ex[0]));
    FWD_TRY(ints_const(c, n, "ends", &ex[1]));
    FWD_TRY(ints_const(c, n, "axes", &ex[2]));
    if (!ex[0][0] || !ex[1][0]) return onnx_import_error(c, n, FWD_ERR_INVALID_MODEL, "'starts' and 'ends' are required");
    static const char *const drop[] = {"starts", "ends", "axes"};
    return emit_rewritten(c, n, "Slice", 1, ex, 3, drop, 3, NULL, 0);
}

static fwd_status import_squeeze_like(onnx_import_ctx *c, const onnx_node *n)
{
    if (c->opset >= 13) return onnx_import_default(c, n);
    const char *axes;
    FWD_TRY(ints_const(c, n, "axes", &axes));
    if (!axes[0] && !strcmp(n->op_type, "Unsqueeze"))
        return onnx_import_error(c, n, FWD_ERR_INVALID_MODEL, "attribute 'axes' is required");
    static const char *const drop[] = {"axes"};
    return emit_rewritten(c, n, n->op_type, 1, &axes, 1, drop, 1, NULL, 0);
}

static fwd_status import_split(onnx_import_ctx *c, const onnx_node *n)
{
    if (c->opset >= 13 || (n->n_inputs > 1 && n->inputs[1][0])) return onnx_import_default(c, n);
    const char *split;
    FWD_TRY(ints_const(c, n, "split", &split));
    static const char *const drop[] = {"split"};
    return emit_rewritten(c, n, "Split", 1, &split, 1, drop, 1, NULL, 0);
}

static fwd_status import_topk(onnx_import_ctx *c, const onnx_node *n)
{
    if (c->opset >= 10) return onnx_import_default(c, n);
    const ir_attr *a = find_attr(n, "k");
    if (!a || a->type != IR_ATTR_INT) return onnx_import_error(c, n, FWD_ERR_INVALID_MODEL, "attribute 'k' is required");
    const char *k;
    FWD_TRY(onnx_add_const_i64(c, "k", &a->i, 1, &k));
    static const char *const drop[] = {"k"};
    return emit_rewritten(c, n, "TopK", 1, &k, 1, drop, 1, NULL, 0);
}

/* A scalar constant of the dtype of input `like` (float32 when unknown). */
static fwd_status scalar_like(onnx_import_ctx *c, const onnx_node *n, const char *like, float v, const char **name)
{
    int id = ir_graph_find(c->graph, like);
    fwd_dtype dt = id >= 0 ? c->graph->values[id].t.dtype : FWD_FLOAT32;
    if (dt == FWD_FLOAT32 || dt == FWD_DTYPE_UNDEFINED) return onnx_add_const_f32(c, "value", &v, -1, name);
    union {
        double f64;
        int64_t i64;
        int32_t i32;
        int16_t i16;
        int8_t i8;
        uint16_t u16;
        uint8_t u8;
        uint64_t u64;
        uint32_t u32;
    } u = {0};
    switch (dt) {
    case FWD_FLOAT64: u.f64 = v; break;
    case FWD_FLOAT16: u.u16 = fwd_f32_to_f16(v); break;
    case FWD_BFLOAT16: u.u16 = fwd_f32_to_bf16(v); break;
    case FWD_INT64: u.i64 = (int64_t)v; break;
    case FWD_INT32: u.i32 = (int32_t)v; break;
    case FWD_INT16: u.i16 = (int16_t)v; break;
    case FWD_INT8: u.i8 = (int8_t)v; break;
    case FWD_UINT64: u.u64 = (uint64_t)v; break;
    case FWD_UINT32: u.u32 = (uint32_t)v; break;
    case FWD_UINT16: u.u16 = (uint16_t)v; break;
    case FWD_UINT8: case FWD_BOOL: u.u8 = (uint8_t)v; break;
    default: return onnx_import_error(c, n, FWD_ERR_UNSUPPORTED, "unsupported dtype %s", fwd_dtype_name(dt));
    }
    ir_shape s = {.rank = 0};
    *name = onnx_fresh_name(c, "value");
    if (!*name) return oom(c, n);
    return ir_graph_add_const(c->graph, *name, dt, &s, &u, NULL);
}

static fwd_status import_pad(onnx_import_ctx *c, const onnx_node *n)
{
    if (c->opset >= 11) return onnx_import_default(c, n);
    const char *ex[2];
    FWD_TRY(ints_const(c, n, "pads", &ex[0]));
    if (!ex[0][0]) FWD_TRY(ints_const(c, n, "paddings", &ex[0])); /* Pad-1 */
    if (!ex[0][0]) return onnx_import_error(c, n, FWD_ERR_INVALID_MODEL, "attribute 'pads' is required");
    const ir_attr *v = find_attr(n, "value");
    FWD_TRY(scalar_like(c, n, n->inputs[0], v && v->type == IR_ATTR_FLOAT ? v->f : 0.0f, &ex[1]));
    static const char *const drop[] = {"pads", "paddings", "value"};
    return emit_rewritten(c, n, "Pad", 1, ex, 2, drop, 3, NULL, 0);
}

static fwd_status import_concat(onnx_import_ctx *c, const onnx_node *n)
{
    if (c->opset >= 4 || find_attr(n, "axis")) return onnx_import_default(c, n);
    ir_attr axis = {.name = "axis", .type = IR_ATTR_INT, .i = 1}; /* Concat-1 default */
    return emit_rewritten(c, n, "Concat", n->n_inputs, NULL, 0, NULL, 0, &axis, 1);
}

static fwd_status import_scatter(onnx_import_ctx *c, const onnx_node *n)
{
    return emit_rewritten(c, n, "ScatterElements", n->n_inputs, NULL, 0, NULL, 0, NULL, 0);
}

/* ---- Upsample / Resize-10 -> Resize ---- */

/* Resize-10 and Upsample sample at x / scale (asymmetric) and take the
 * floor for nearest. */
static fwd_status emit_resize_v10(onnx_import_ctx *c, const onnx_node *n, const char *scales)
{
    const ir_attr *m = find_attr(n, "mode");
    const char *mode = m && m->type == IR_ATTR_STRING ? m->s : "nearest";
    if (!strcmp(mode, "bilinear") || !strcmp(mode, "trilinear")) mode = "linear";
    if (strcmp(mode, "nearest") && strcmp(mode, "linear"))
        return onnx_import_error(c, n, FWD_ERR_UNSUPPORTED, "mode '%s' is not supported", mode);
    ir_attr add[3] = {str_attr("mode", mode), str_attr("coordinate_transformation_mode", "asymmetric"),
                      str_attr("nearest_mode", "floor")};
    const char *ex[2] = {"", scales};
    static const char *const drop[] = {"mode", "scales", "height_scale", "width_scale"};
    return emit_rewritten(c, n, "Resize", 1, ex, 2, drop, 4, add, 3);
}

static fwd_status import_upsample(onnx_import_ctx *c, const onnx_node *n)
{
    if (c->opset >= 9) {
        if (n->n_inputs < 2 || !n->inputs[1][0]) return onnx_import_error(c, n, FWD_ERR_INVALID_MODEL, "input 'scales' is required");
        return emit_resize_v10(c, n, n->inputs[1]);
    }
    const ir_attr *s = find_attr(n, "scales");
    if (!s || s->type != IR_ATTR_FLOATS)
        return onnx_import_error(c, n, FWD_ERR_UNSUPPORTED, "Upsample needs a 'scales' attribute");
    const char *scales;
    FWD_TRY(onnx_add_const_f32(c, "scales", s->floats, s->n, &scales));
    return emit_resize_v10(c, n, scales);
}

static fwd_status import_resize(onnx_import_ctx *c, const onnx_node *n)
{
    if (c->opset >= 11) return onnx_import_default(c, n);
    if (n->n_inputs < 2 || !n->inputs[1][0]) return onnx_import_error(c, n, FWD_ERR_INVALID_MODEL, "input 'scales' is required");
    return emit_resize_v10(c, n, n->inputs[1]);
}

static fwd_status import_tile(onnx_import_ctx *c, const onnx_node *n)
{
    if (c->opset < 6) return onnx_import_error(c, n, FWD_ERR_UNSUPPORTED, "Tile-1 (tiles, axis) is not supported");
    return onnx_import_default(c, n);
}

const onnx_op_importer onnx_importers_tensor[] = {
    {"Constant", import_constant},
    {"Shape", onnx_import_default},
    {"Size", onnx_import_default},
    {"ConstantOfShape", onnx_import_default},
    {"Reshape", import_reshape},
    {"Flatten", onnx_import_default},
    {"Squeeze", import_squeeze_like},
    {"Unsqueeze", import_squeeze_like},
    {"Transpose", onnx_import_default},
    {"Concat", import_concat},
    {"Split", import_split},
    {"Slice", import_slice},
    {"Expand", onnx_import_default},
    {"Tile", import_tile},
    {"Pad", import_pad},
    {"Gather", onnx_import_default},
    {"GatherElements", onnx_import_default},
    {"GatherND", onnx_import_default},
    {"Scatter", import_scatter},
    {"ScatterElements", onnx_import_default},
    {"ScatterND", onnx_import_default},
    {"Range", onnx_import_default},
    {"OneHot", onnx_import_default},
    {"NonZero", onnx_import_default},
    {"Compress", onnx_import_default},
    {"DepthToSpace", onnx_import_default},
    {"SpaceToDepth", onnx_import_default},
    {"Trilu", onnx_import_default},
    {"EyeLike", onnx_import_default},
    {"ReverseSequence", onnx_import_default},
    {"Unique", onnx_import_default},
    {"TopK", import_topk},
    {"ArgMax", onnx_import_default},
    {"ArgMin", onnx_import_default},
    {"CumSum", onnx_import_default},
    {"Resize", import_resize},
    {"Upsample", import_upsample},
    {"GridSample", onnx_import_default},
    {NULL, NULL},
};

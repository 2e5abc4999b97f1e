/* Shape and type inference for the elementwise op family. */
#include <string.h>

#include "ir/op_schema.h"
#include "util/error.h"

/* ---- dtype sets (bit per fwd_dtype) ---- */

#define DT(t) (1u << (t))
#define DT_FLOAT (DT(FWD_FLOAT32) | DT(FWD_FLOAT64) | DT(FWD_FLOAT16) | DT(FWD_BFLOAT16))
#define DT_SINT (DT(FWD_INT8) | DT(FWD_INT16) | DT(FWD_INT32) | DT(FWD_INT64))
#define DT_UINT (DT(FWD_UINT8) | DT(FWD_UINT16) | DT(FWD_UINT32) | DT(FWD_UINT64))
#define DT_NUM (DT_FLOAT | DT_SINT | DT_UINT)
#define DT_BOOL DT(FWD_BOOL)

typedef struct dtype_rule {
    const char *op;
    unsigned allowed;
} dtype_rule;

/* Input dtypes each op takes (opset 17). */
static const dtype_rule k_rules[] = {
    {"Abs", DT_NUM}, {"Neg", DT_FLOAT | DT_SINT}, {"Sign", DT_NUM}, {"Erf", DT_NUM},
    {"Relu", DT_FLOAT | DT_SINT}, {"Shrink", DT_NUM}, {"Not", DT_BOOL},
    {"Add", DT_NUM}, {"Sub", DT_NUM}, {"Mul", DT_NUM}, {"Div", DT_NUM}, {"Mod", DT_NUM},
    {"BitShift", DT_UINT}, {"And", DT_BOOL}, {"Or", DT_BOOL}, {"Xor", DT_BOOL},
    {"Equal", DT_NUM | DT_BOOL}, {"Less", DT_NUM}, {"Greater", DT_NUM},
    {"LessOrEqual", DT_NUM}, {"GreaterOrEqual", DT_NUM},
    {"Max", DT_NUM}, {"Min", DT_NUM}, {"Sum", DT_FLOAT}, {"Mean", DT_FLOAT},
    {"PRelu", DT_FLOAT | DT_SINT | DT_UINT}, {"Clip", DT_NUM},
    {"Pow", DT_FLOAT | DT_SINT | DT_UINT},
};

static unsigned allowed_dtypes(const char *op)
{
    for (size_t i = 0; i < sizeof k_rules / sizeof k_rules[0]; i++)
        if (strcmp(k_rules[i].op, op) == 0) return k_rules[i].allowed;
    return DT_FLOAT; /* the float-only math and activations */
}

static bool dtype_known(fwd_dtype t) { return t != FWD_DTYPE_UNDEFINED; }

/* Input i's dtype must be in the op's set (unknown dtypes pass). */
static fwd_status check_dtype(const ir_infer_ctx *c, int i, unsigned allowed)
{
    const ir_tensor *t = c->in[i];
    if (!t || !dtype_known(t->dtype)) return FWD_OK;
    if ((unsigned)t->dtype < 32 && (allowed & DT(t->dtype))) return FWD_OK;
    return ir_infer_error(c, FWD_ERR_DTYPE, "input %d has dtype %s, which this op does not take", i,
                          fwd_dtype_name(t->dtype));
}

/* Inputs a and b must have one dtype (when both known). */
static fwd_status check_same(const ir_infer_ctx *c, int a, int b)
{
    const ir_tensor *x = c->in[a], *y = c->in[b];
    if (!x || !y || !dtype_known(x->dtype) || !dtype_known(y->dtype) || x->dtype == y->dtype)
        return FWD_OK;
    return ir_infer_error(c, FWD_ERR_DTYPE, "inputs %d and %d have different dtypes %s and %s", a, b,
                          fwd_dtype_name(x->dtype), fwd_dtype_name(y->dtype));
}

static fwd_status need_input(const ir_infer_ctx *c, int i)
{
    if (i < c->n_in && c->in[i]) return FWD_OK;
    return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "input %d is missing", i);
}

/* Broadcast the shapes of inputs [0, n) into *out. */
static fwd_status broadcast_inputs(const ir_infer_ctx *c, int n, ir_shape *out)
{
    *out = c->in[0]->shape;
    for (int i = 1; i < n; i++) {
        ir_shape r;
        if (ir_broadcast_shapes(out, &c->in[i]->shape, &r) != FWD_OK) {
            char a[128], b[128];
            return ir_infer_error(c, FWD_ERR_SHAPE, "cannot broadcast shapes %s and %s",
                                  ir_shape_str(out, c->model, a, sizeof a),
                                  ir_shape_str(&c->in[i]->shape, c->model, b, sizeof b));
        }
        *out = r;
    }
    return FWD_OK;
}

/* ---- infer functions ---- */

/* Same dtype and shape as the input. */
static fwd_status infer_unary(ir_infer_ctx *c)
{
    FWD_TRY(need_input(c, 0));
    FWD_TRY(check_dtype(c, 0, allowed_dtypes(c->node->op_type)));
    ir_infer_copy(c, 0, 0);
    return FWD_OK;
}

/* IsNaN, IsInf: bool of the input's shape. */
static fwd_status infer_unary_bool(ir_infer_ctx *c)
{
    FWD_TRY(need_input(c, 0));
    FWD_TRY(check_dtype(c, 0, DT_FLOAT));
    c->out[0].dtype = FWD_BOOL;
    c->out[0].shape = c->in[0]->shape;
    return FWD_OK;
}

static fwd_status attr_float_check(const ir_infer_ctx *c)
{
    if (strcmp(c->node->op_type, "Celu") == 0 && ir_attr_float(c->node, "alpha", 1.0f) == 0.0f)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "attribute alpha must not be 0");
    return FWD_OK;
}

static fwd_status infer_activation(ir_infer_ctx *c)
{
    FWD_TRY(attr_float_check(c));
    return infer_unary(c);
}

/* Binary ops: inputs of one dtype, broadcast shape; comparisons and
 * logic give bool. */
static fwd_status infer_binary(ir_infer_ctx *c)
{
    const char *op = c->node->op_type;
    FWD_TRY(need_input(c, 0));
    FWD_TRY(need_input(c, 1));
    unsigned allowed = allowed_dtypes(op);
    FWD_TRY(check_dtype(c, 0, allowed));
    FWD_TRY(check_dtype(c, 1, allowed));
    FWD_TRY(check_same(c, 0, 1));
    if (strcmp(op, "BitShift") == 0) {
        const char *dir = ir_attr_string(c->node, "direction", NULL);
        if (!dir || (strcmp(dir, "LEFT") != 0 && strcmp(dir, "RIGHT") != 0))
            return ir_infer_error(c, FWD_ERR_INVALID_MODEL,
                                  "attribute direction must be \"LEFT\" or \"RIGHT\"");
    }
    bool to_bool = strcmp(op, "Equal") == 0 || strcmp(op, "Less") == 0 || strcmp(op, "Greater") == 0 ||
                   strcmp(op, "LessOrEqual") == 0 || strcmp(op, "GreaterOrEqual") == 0 ||
                   strcmp(op, "And") == 0 || strcmp(op, "Or") == 0 || strcmp(op, "Xor") == 0;
    FWD_TRY(broadcast_inputs(c, 2, &c->out[0].shape));
    fwd_dtype dt = c->in[0]->dtype;
    if (!dtype_known(dt)) dt = c->in[1]->dtype;
    c->out[0].dtype = to_bool ? FWD_BOOL : dt;
    return FWD_OK;
}

/* Pow: base and exponent may differ; the result has the base's dtype. */
static fwd_status infer_pow(ir_infer_ctx *c)
{
    FWD_TRY(need_input(c, 0));
    FWD_TRY(need_input(c, 1));
    FWD_TRY(check_dtype(c, 0, DT_FLOAT | DT_SINT | DT_UINT));
    FWD_TRY(check_dtype(c, 1, DT_NUM));
    FWD_TRY(broadcast_inputs(c, 2, &c->out[0].shape));
    c->out[0].dtype = c->in[0]->dtype;
    return FWD_OK;
}

/* PRelu: slope broadcasts to X in one direction; the output is X's. */
static fwd_status infer_prelu(ir_infer_ctx *c)
{
    FWD_TRY(need_input(c, 0));
    FWD_TRY(need_input(c, 1));
    FWD_TRY(check_dtype(c, 0, allowed_dtypes("PRelu")));
    FWD_TRY(check_same(c, 0, 1));
    ir_shape b;
    FWD_TRY(broadcast_inputs(c, 2, &b));
    const ir_shape *xs = &c->in[0]->shape;
    if (b.rank >= 0 && xs->rank >= 0) {
        bool bad = b.rank != xs->rank;
        for (int i = 0; !bad && i < b.rank; i++)
            if (ir_dim_known(b.dims[i]) && ir_dim_known(xs->dims[i]) && b.dims[i] != xs->dims[i]) bad = true;
        if (bad) {
            char s1[128], s2[128];
            return ir_infer_error(c, FWD_ERR_SHAPE, "slope of shape %s does not broadcast to X's shape %s",
                                  ir_shape_str(&c->in[1]->shape, c->model, s1, sizeof s1),
                                  ir_shape_str(xs, c->model, s2, sizeof s2));
        }
    }
    ir_infer_copy(c, 0, 0);
    return FWD_OK;
}

/* Sum, Mean, Max, Min: any number of inputs of one dtype. */
static fwd_status infer_variadic(ir_infer_ctx *c)
{
    if (c->n_in < 1) return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "takes at least one input");
    unsigned allowed = allowed_dtypes(c->node->op_type);
    for (int i = 0; i < c->n_in; i++) {
        FWD_TRY(need_input(c, i));
        FWD_TRY(check_dtype(c, i, allowed));
        FWD_TRY(check_same(c, 0, i));
    }
    FWD_TRY(broadcast_inputs(c, c->n_in, &c->out[0].shape));
    c->out[0].dtype = c->in[0]->dtype;
    for (int i = 1; i < c->n_in && !dtype_known(c->out[0].dtype); i++) c->out[0].dtype = c->in[i]->dtype;
    return FWD_OK;
}

static fwd_status infer_where(ir_infer_ctx *c)
{
    for (int i = 0; i < 3; i++) FWD_TRY(need_input(c, i));
    FWD_TRY(check_dtype(c, 0, DT_BOOL));
    FWD_TRY(check_same(c, 1, 2));
    FWD_TRY(broadcast_inputs(c, 3, &c->out[0].shape));
    c->out[0].dtype = dtype_known(c->in[1]->dtype) ? c->in[1]->dtype : c->in[2]->dtype;
    return FWD_OK;
}

static bool valid_cast_dtype(int64_t t)
{
    switch (t) {
    case FWD_FLOAT32: case FWD_UINT8: case FWD_INT8: case FWD_UINT16: case FWD_INT16:
    case FWD_INT32: case FWD_INT64: case FWD_STRING: case FWD_BOOL: case FWD_FLOAT16:
    case FWD_FLOAT64: case FWD_UINT32: case FWD_UINT64: case FWD_BFLOAT16:
        return true;
    default:
        return false;
    }
}

static fwd_status infer_cast(ir_infer_ctx *c)
{
    FWD_TRY(need_input(c, 0));
    const ir_attr *a = ir_node_attr(c->node, "to");
    if (!a || a->type != IR_ATTR_INT)
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "attribute 'to' (an int) is missing");
    if (!valid_cast_dtype(a->i))
        return ir_infer_error(c, FWD_ERR_INVALID_MODEL, "attribute 'to' = %lld is not a dtype",
                              (long long)a->i);
    c->out[0].dtype = (fwd_dtype)a->i;
    c->out[0].shape = c->in[0]->shape;
    return FWD_OK;
}

static fwd_status infer_castlike(ir_infer_ctx *c)
{
    FWD_TRY(need_input(c, 0));
    FWD_TRY(need_input(c, 1));
    c->out[0].dtype = c->in[1]->dtype;
    c->out[0].shape = c->in[0]->shape;
    return FWD_OK;
}

/* A scalar bound of Clip / ratio of Dropout: at most one element. */
static fwd_status check_scalar(const ir_infer_ctx *c, int i, const char *name)
{
    if (i >= c->n_in || !c->in[i]) return FWD_OK;
    const ir_shape *s = &c->in[i]->shape;
    int64_t n = ir_shape_numel(s);
    if (s->rank >= 0 && n >= 0 && n != 1) {
        char b[128];
        return ir_infer_error(c, FWD_ERR_SHAPE, "input '%s' must be a scalar, got shape %s", name,
                              ir_shape_str(s, c->model, b, sizeof b));
    }
    return FWD_OK;
}

static fwd_status infer_clip(ir_infer_ctx *c)
{
    FWD_TRY(need_input(c, 0));
    FWD_TRY(check_dtype(c, 0, DT_NUM));
    for (int i = 1; i < 3 && i < c->n_in; i++) {
        if (!c->in[i]) continue;
        FWD_TRY(check_same(c, 0, i));
        FWD_TRY(check_scalar(c, i, i == 1 ? "min" : "max"));
    }
    ir_infer_copy(c, 0, 0);
    return FWD_OK;
}

static fwd_status infer_identity(ir_infer_ctx *c)
{
    FWD_TRY(need_input(c, 0));
    ir_infer_copy(c, 0, 0);
    return FWD_OK;
}

static fwd_status infer_dropout(ir_infer_ctx *c)
{
    FWD_TRY(need_input(c, 0));
    FWD_TRY(check_dtype(c, 0, DT_FLOAT));
    FWD_TRY(check_scalar(c, 1, "ratio"));
    FWD_TRY(check_scalar(c, 2, "training_mode"));
    if (c->n_in > 1 && c->in[1]) FWD_TRY(check_dtype(c, 1, DT_FLOAT));
    if (c->n_in > 2 && c->in[2]) FWD_TRY(check_dtype(c, 2, DT_BOOL));
    ir_infer_copy(c, 0, 0);
    if (c->n_out > 1) {
        c->out[1].dtype = FWD_BOOL;
        c->out[1].shape = c->in[0]->shape;
    }
    return FWD_OK;
}

const ir_op_schema ir_schemas_elementwise[] = {
    /* unary math */
    {"Abs", 1, 1, 1, 1, infer_unary},
    {"Neg", 1, 1, 1, 1, infer_unary},
    {"Reciprocal", 1, 1, 1, 1, infer_unary},
    {"Sqrt", 1, 1, 1, 1, infer_unary},
    {"Exp", 1, 1, 1, 1, infer_unary},
    {"Log", 1, 1, 1, 1, infer_unary},
    {"Ceil", 1, 1, 1, 1, infer_unary},
    {"Floor", 1, 1, 1, 1, infer_unary},
    {"Round", 1, 1, 1, 1, infer_unary},
    {"Sign", 1, 1, 1, 1, infer_unary},
    {"Erf", 1, 1, 1, 1, infer_unary},
    {"Sin", 1, 1, 1, 1, infer_unary},
    {"Cos", 1, 1, 1, 1, infer_unary},
    {"Tan", 1, 1, 1, 1, infer_unary},
    {"Asin", 1, 1, 1, 1, infer_unary},
    {"Acos", 1, 1, 1, 1, infer_unary},
    {"Atan", 1, 1, 1, 1, infer_unary},
    {"Sinh", 1, 1, 1, 1, infer_unary},
    {"Cosh", 1, 1, 1, 1, infer_unary},
    {"Asinh", 1, 1, 1, 1, infer_unary},
    {"Acosh", 1, 1, 1, 1, infer_unary},
    {"Atanh", 1, 1, 1, 1, infer_unary},
    {"Tanh", 1, 1, 1, 1, infer_unary},
    {"Sigmoid", 1, 1, 1, 1, infer_unary},
    {"Not", 1, 1, 1, 1, infer_unary},
    {"IsNaN", 1, 1, 1, 1, infer_unary_bool},
    {"IsInf", 1, 1, 1, 1, infer_unary_bool},
    /* activations */
    {"Relu", 1, 1, 1, 1, infer_unary},
    {"LeakyRelu", 1, 1, 1, 1, infer_activation},
    {"Elu", 1, 1, 1, 1, infer_activation},
    {"Selu", 1, 1, 1, 1, infer_activation},
    {"Celu", 1, 1, 1, 1, infer_activation},
    {"HardSigmoid", 1, 1, 1, 1, infer_activation},
    {"HardSwish", 1, 1, 1, 1, infer_activation},
    {"Softplus", 1, 1, 1, 1, infer_activation},
    {"Softsign", 1, 1, 1, 1, infer_activation},
    {"ThresholdedRelu", 1, 1, 1, 1, infer_activation},
    {"Shrink", 1, 1, 1, 1, infer_activation},
    {"PRelu", 2, 2, 1, 1, infer_prelu},
    {"Clip", 1, 3, 1, 1, infer_clip},
    /* binary */
    {"Add", 2, 2, 1, 1, infer_binary},
    {"Sub", 2, 2, 1, 1, infer_binary},
    {"Mul", 2, 2, 1, 1, infer_binary},
    {"Div", 2, 2, 1, 1, infer_binary},
    {"Mod", 2, 2, 1, 1, infer_binary},
    {"BitShift", 2, 2, 1, 1, infer_binary},
    {"And", 2, 2, 1, 1, infer_binary},
    {"Or", 2, 2, 1, 1, infer_binary},
    {"Xor", 2, 2, 1, 1, infer_binary},
    {"Equal", 2, 2, 1, 1, infer_binary},
    {"Less", 2, 2, 1, 1, infer_binary},
    {"Greater", 2, 2, 1, 1, infer_binary},
    {"LessOrEqual", 2, 2, 1, 1, infer_binary},
    {"GreaterOrEqual", 2, 2, 1, 1, infer_binary},
    {"Pow", 2, 2, 1, 1, infer_pow},
    /* variadic */
    {"Sum", 1, -1, 1, 1, infer_variadic},
    {"Mean", 1, -1, 1, 1, infer_variadic},
    {"Max", 1, -1, 1, 1, infer_variadic},
    {"Min", 1, -1, 1, 1, infer_variadic},
    /* selection, conversion */
    {"Where", 3, 3, 1, 1, infer_where},
    {"Cast", 1, 1, 1, 1, infer_cast},
    {"CastLike", 2, 2, 1, 1, infer_castlike},
    {"Identity", 1, 1, 1, 1, infer_identity},
    {"Dropout", 1, 3, 1, 2, infer_dropout},
    {NULL, 0, 0, 0, 0, NULL},
};

/*
 * Models at default-domain opsets 1..6 are accepted when none of their ops
 * changed between the model's opset and opset 7: such an op means the same
 * as at opset 7, so the importers (written for 7..17) see a form they know.
 *
 * The table lists each (op, version) of the ONNX operator history with a
 * version in 2..7 (taken from the ONNX operator schemas).
 */
#include <string.h>

#include "onnx/onnx_internal.h"

typedef struct op_version {
    const char *op;
    int since;
} op_version;

static const op_version k_changes[] = {
    {"Abs", 6},
    {"Acos", 7},
    {"Add", 6},
    {"Add", 7},
    {"And", 7},
    {"Asin", 7},
    {"Atan", 7},
    {"AveragePool", 7},
    {"BatchNormalization", 6},
    {"BatchNormalization", 7},
    {"Cast", 6},
    {"Ceil", 6},
    {"Clip", 6},
    {"Concat", 4},
    {"Cos", 7},
    {"Div", 6},
    {"Div", 7},
    {"Dropout", 6},
    {"Dropout", 7},
    {"Elu", 6},
    {"Equal", 7},
    {"Exp", 6},
    {"Floor", 6},
    {"GRU", 3},
    {"GRU", 7},
    {"Gemm", 6},
    {"Gemm", 7},
    {"GlobalLpPool", 2},
    {"Greater", 7},
    {"HardSigmoid", 6},
    {"InstanceNormalization", 6},
    {"LSTM", 7},
    {"LeakyRelu", 6},
    {"Less", 7},
    {"Log", 6},
    {"LpPool", 2},
    {"Max", 6},
    {"Mean", 6},
    {"Min", 6},
    {"Mul", 6},
    {"Mul", 7},
    {"Multinomial", 7},
    {"Neg", 6},
    {"Or", 7},
    {"PRelu", 6},
    {"PRelu", 7},
    {"Pad", 2},
    {"Pow", 7},
    {"RNN", 7},
    {"Reciprocal", 6},
    {"Relu", 6},
    {"Reshape", 5},
    {"Selu", 6},
    {"Sigmoid", 6},
    {"Sin", 7},
    {"Split", 2},
    {"Sqrt", 6},
    {"Sub", 6},
    {"Sub", 7},
    {"Sum", 6},
    {"Tan", 7},
    {"Tanh", 6},
    {"Tile", 6},
    {"Upsample", 7},
    {"Xor", 7},
};

bool onnx_op_same_as_opset7(const char *op_type, int64_t opset)
{
    for (size_t i = 0; i < sizeof k_changes / sizeof k_changes[0]; i++)
        if (k_changes[i].since > opset && strcmp(k_changes[i].op, op_type) == 0) return false;
    return true;
}

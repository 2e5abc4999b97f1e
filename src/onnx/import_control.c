/* ONNX importers for the control op family. */
#include "onnx/onnx_import.h"

const onnx_op_importer onnx_importers_control[] = {
    {NULL, NULL},
};

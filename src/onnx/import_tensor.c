/* ONNX importers for the tensor op family. */
#include "onnx/onnx_import.h"

const onnx_op_importer onnx_importers_tensor[] = {
    {NULL, NULL},
};

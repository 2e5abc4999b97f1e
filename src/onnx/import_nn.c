/* ONNX importers for the nn op family. */
#include "onnx/onnx_import.h"

const onnx_op_importer onnx_importers_nn[] = {
    {NULL, NULL},
};

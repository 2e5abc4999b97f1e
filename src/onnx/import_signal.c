/* ONNX importers for the signal op family. */
#include "onnx/onnx_import.h"

const onnx_op_importer onnx_importers_signal[] = {
    {NULL, NULL},
};

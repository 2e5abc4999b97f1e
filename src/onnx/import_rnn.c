/* ONNX importers for the rnn op family. */
#include "onnx/onnx_import.h"

const onnx_op_importer onnx_importers_rnn[] = {
    {NULL, NULL},
};

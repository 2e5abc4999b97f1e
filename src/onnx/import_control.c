/* ONNX importers for the control-flow op family. If and Loop keep their
 * meaning for tensors across opsets 7..16, so they are imported unchanged.
 * Scan-8 (batch axis, sequence_lens input) differs from Scan-9+; it is kept
 * as it is and the kernel and schema recognise it by the node's opset. */
#include "onnx/onnx_import.h"

const onnx_op_importer onnx_importers_control[] = {
    {"If", onnx_import_default},
    {"Loop", onnx_import_default},
    {"Scan", onnx_import_default},
    {NULL, NULL},
};

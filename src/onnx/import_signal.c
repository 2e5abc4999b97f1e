/* ONNX importers for the signal op family. These ops first appeared in
 * opset 17, so the canonical IR form is the only form: no rewriting. */
#include "onnx/onnx_import.h"

const onnx_op_importer onnx_importers_signal[] = {
    {"DFT", onnx_import_default},
    {"STFT", onnx_import_default},
    {"HannWindow", onnx_import_default},
    {"HammingWindow", onnx_import_default},
    {"BlackmanWindow", onnx_import_default},
    {"MelWeightMatrix", onnx_import_default},
    {NULL, NULL},
};

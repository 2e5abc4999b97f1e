/* ONNX importers for the recurrent op family. RNN/GRU/LSTM of opsets 7..13
 * are the opset-14 form without the layout attribute (whose default, 0, is
 * the older behaviour), so nodes are imported unchanged. */
#include "onnx/onnx_import.h"

const onnx_op_importer onnx_importers_rnn[] = {
    {"RNN", onnx_import_default},
    {"GRU", onnx_import_default},
    {"LSTM", onnx_import_default},
    {NULL, NULL},
};

/* Finding an op's importer across the family tables. */
#include <string.h>

#include "onnx/onnx_import.h"

static const onnx_op_importer *const k_tables[] = {
    onnx_importers_elementwise, onnx_importers_tensor, onnx_importers_reduce,
    onnx_importers_nn,          onnx_importers_control, onnx_importers_rnn,
    onnx_importers_signal,
};

/* A linear search: a few hundred string compares per node at load time is
 * negligible next to parsing. */
const onnx_op_importer *onnx_importer_find(const char *op_type)
{
    if (!op_type) return NULL;
    for (size_t t = 0; t < sizeof k_tables / sizeof k_tables[0]; t++)
        for (const onnx_op_importer *e = k_tables[t]; e->op_type; e++)
            if (strcmp(e->op_type, op_type) == 0) return e;
    return NULL;
}

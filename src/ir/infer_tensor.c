/* Shape and type inference for the tensor op family. */
#include "ir/op_schema.h"

const ir_op_schema ir_schemas_tensor[] = {
    {NULL, 0, 0, 0, 0, NULL},
};

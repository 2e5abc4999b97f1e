/* Shape and type inference for the control op family. */
#include "ir/op_schema.h"

const ir_op_schema ir_schemas_control[] = {
    {NULL, 0, 0, 0, 0, NULL},
};

/* Shape and type inference for the nn op family. */
#include "ir/op_schema.h"

const ir_op_schema ir_schemas_nn[] = {
    {NULL, 0, 0, 0, 0, NULL},
};

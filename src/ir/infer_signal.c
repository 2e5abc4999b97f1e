/* Shape and type inference for the signal op family. */
#include "ir/op_schema.h"

const ir_op_schema ir_schemas_signal[] = {
    {NULL, 0, 0, 0, 0, NULL},
};

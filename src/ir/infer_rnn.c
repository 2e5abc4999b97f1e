/* Shape and type inference for the rnn op family. */
#include "ir/op_schema.h"

const ir_op_schema ir_schemas_rnn[] = {
    {NULL, 0, 0, 0, 0, NULL},
};

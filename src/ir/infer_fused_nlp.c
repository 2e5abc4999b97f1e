/* Shape and type inference for Gelu and FusedAttention (see fused_ops.h). */
#include "ir/fused_ops.h"

const ir_op_schema ir_schemas_fused_nlp[] = {
    {NULL, 0, 0, 0, 0, NULL},
};

/* Definitions behind the public opaque handles (internal). */
#ifndef FWD_API_INTERNAL_H
#define FWD_API_INTERNAL_H

#include "fwd.h"
#include "ir/ir.h"

struct fwd_model {
    ir_model *ir;
    /* op histogram for fwd_model_op_type, sorted by op name */
    int n_op_types;
    const char **op_types;
    int64_t *op_counts;
};

/* Fill a public fwd_tensor_info from a graph value. */
void fwd_fill_tensor_info(const ir_model *m, const ir_value *v, fwd_tensor_info *info);

#endif

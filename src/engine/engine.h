/* Builders, engines and contexts behind the public handles. */
#ifndef FWD_ENGINE_ENGINE_H
#define FWD_ENGINE_ENGINE_H

#include "engine/exec.h"
#include "fwd.h"

typedef enum fwd_mode {
    FWD_MODE_FLOAT32 = 0,
    FWD_MODE_FLOAT16 = 1,
    FWD_MODE_INT8 = 2,
    FWD_MODE_INT8_CALIB = 3
} fwd_mode;

struct fwd_builder {
    fwd_mode mode;
    fwd_device device;
};

/* Immutable after the build: shared by all contexts and threads. */
struct fwd_engine {
    ir_model *ir; /* the optimised graph; keeps the weights alive */
    const fwd_backend *backend;
    exec_plans plans;
    fwd_mode mode;
};

struct fwd_context {
    const fwd_engine *engine;
    ir_tensor *outputs; /* last run's outputs, owned (one per graph output) */
    bool has_outputs;
};

/* Build: clone, fold, check kernels, plan. */
fwd_status engine_build(const struct fwd_builder *b, ir_model *model, struct fwd_engine **out);
void engine_free(struct fwd_engine *e);

#endif

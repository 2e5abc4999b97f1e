/* Public API: builders, engines and contexts. */
#include <string.h>
#include <stdlib.h>

#include "api/api_internal.h"
#include "engine/context.h"
#include "util/error.h"

#define CHECK_ARG(cond, what)                                                          \
    do {                                                                               \
        if (!(cond)) return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "%s: %s", __func__, what); \
    } while (0)

fwd_status fwd_builder_create(fwd_builder **out)
{
    fwd_error_clear();
    CHECK_ARG(out, "out is NULL");
    fwd_builder *b = calloc(1, sizeof *b);
    if (!b) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
    b->mode = FWD_MODE_FLOAT32;
    b->device = FWD_DEVICE_CPU;
    b->opt_level = 1;
    *out = b;
    return FWD_OK;
}

fwd_status fwd_builder_free(fwd_builder *b)
{
    if (!b) return FWD_OK;
    for (int i = 0; i < b->n_profiles; i++) free(b->profiles[i].name);
    free(b->profiles);
    free(b);
    return FWD_OK;
}

fwd_status fwd_builder_set_shape(fwd_builder *b, const char *input, int rank, const int64_t *min,
                                 const int64_t *opt, const int64_t *max)
{
    fwd_error_clear();
    CHECK_ARG(b && input && min && opt && max, "builder, input or a shape is NULL");
    if (rank < 0 || rank > FWD_MAX_DIMS)
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "profile of input '%s': rank %d out of range 0..%d",
                          input, rank, FWD_MAX_DIMS);
    for (int i = 0; i < rank; i++)
        if (min[i] < 0 || min[i] > opt[i] || opt[i] > max[i])
            return fwd_errorf(FWD_ERR_INVALID_ARGUMENT,
                              "profile of input '%s': dimension %d needs 0 <= min <= opt <= max, got %lld, %lld, %lld",
                              input, i, (long long)min[i], (long long)opt[i], (long long)max[i]);
    named_profile *np = NULL;
    for (int i = 0; i < b->n_profiles; i++)
        if (strcmp(b->profiles[i].name, input) == 0) np = &b->profiles[i];
    if (!np) {
        named_profile *grown = realloc(b->profiles, sizeof *grown * (size_t)(b->n_profiles + 1));
        if (!grown) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
        b->profiles = grown;
        np = &b->profiles[b->n_profiles];
        np->name = strdup(input);
        if (!np->name) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
        b->n_profiles++;
    }
    np->p.rank = rank;
    for (int i = 0; i < rank; i++) {
        np->p.min[i] = min[i];
        np->p.opt[i] = opt[i];
        np->p.max[i] = max[i];
    }
    return FWD_OK;
}

fwd_status fwd_builder_set_batch(fwd_builder *b, int64_t opt, int64_t max)
{
    fwd_error_clear();
    CHECK_ARG(b, "builder is NULL");
    if (opt < 1 || opt > max)
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "batch needs 1 <= opt <= max, got opt %lld, max %lld",
                          (long long)opt, (long long)max);
    b->batch_opt = opt;
    b->batch_max = max;
    return FWD_OK;
}

fwd_status fwd_builder_set_workspace(fwd_builder *b, size_t bytes)
{
    fwd_error_clear();
    CHECK_ARG(b, "builder is NULL");
    b->workspace = bytes;
    return FWD_OK;
}

fwd_status fwd_builder_set_optimization(fwd_builder *b, int level)
{
    fwd_error_clear();
    CHECK_ARG(b, "builder is NULL");
    if (level < 0 || level > 1)
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "optimization level %d out of range 0..1", level);
    b->opt_level = level;
    return FWD_OK;
}

fwd_status fwd_builder_set_progress(fwd_builder *b, fwd_progress_fn fn, void *user_data)
{
    fwd_error_clear();
    CHECK_ARG(b, "builder is NULL");
    b->progress = fn;
    b->progress_user = user_data;
    return FWD_OK;
}

fwd_status fwd_builder_set_mode(fwd_builder *b, const char *mode)
{
    fwd_error_clear();
    CHECK_ARG(b && mode, "builder or mode is NULL");
    static const char *const names[] = {"float32", "float16", "int8", "int8_calib"};
    for (int i = 0; i < 4; i++)
        if (strcmp(mode, names[i]) == 0) {
            if (i != FWD_MODE_FLOAT32 && i != FWD_MODE_FLOAT16)
                return fwd_errorf(FWD_ERR_NOT_YET_SUPPORTED, "infer mode '%s' is not supported yet", mode);
            b->mode = (fwd_mode)i;
            return FWD_OK;
        }
    return fwd_errorf(FWD_ERR_INVALID_ARGUMENT,
                      "unknown infer mode '%s' (known: float32, float16, int8, int8_calib)", mode);
}

fwd_status fwd_builder_set_device(fwd_builder *b, fwd_device device)
{
    fwd_error_clear();
    CHECK_ARG(b, "builder is NULL");
    if (device == FWD_DEVICE_CPU) {
        b->device = device;
        return FWD_OK;
    }
    if (device == FWD_DEVICE_CUDA)
        return fwd_errorf(FWD_ERR_NOT_YET_SUPPORTED, "the CUDA device is not supported yet");
    return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "unknown device %d", (int)device);
}

fwd_status fwd_builder_build(fwd_builder *b, const fwd_model *model, fwd_engine **out)
{
    fwd_error_clear();
    CHECK_ARG(b && model && out, "builder, model or out is NULL");
    return engine_build(b, model->ir, out);
}

fwd_status fwd_engine_free(fwd_engine *e)
{
    engine_free(e);
    return FWD_OK;
}

static fwd_status graph_io(const fwd_engine *e, bool inputs, int index, fwd_tensor_info *info)
{
    const ir_graph *g = e->ir->graph;
    int n = inputs ? g->n_inputs : g->n_outputs;
    if (index < 0 || index >= n)
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "%s index %d out of range [0, %d)",
                          inputs ? "input" : "output", index, n);
    const int *ids = inputs ? g->inputs : g->outputs;
    fwd_fill_tensor_info(e->ir, &g->values[ids[index]], info);
    return FWD_OK;
}

fwd_status fwd_engine_num_inputs(const fwd_engine *e, int *count)
{
    fwd_error_clear();
    CHECK_ARG(e && count, "engine or count is NULL");
    *count = e->ir->graph->n_inputs;
    return FWD_OK;
}

fwd_status fwd_engine_num_outputs(const fwd_engine *e, int *count)
{
    fwd_error_clear();
    CHECK_ARG(e && count, "engine or count is NULL");
    *count = e->ir->graph->n_outputs;
    return FWD_OK;
}

fwd_status fwd_engine_input(const fwd_engine *e, int index, fwd_tensor_info *info)
{
    fwd_error_clear();
    CHECK_ARG(e && info, "engine or info is NULL");
    return graph_io(e, true, index, info);
}

fwd_status fwd_engine_output(const fwd_engine *e, int index, fwd_tensor_info *info)
{
    fwd_error_clear();
    CHECK_ARG(e && info, "engine or info is NULL");
    return graph_io(e, false, index, info);
}

fwd_status fwd_engine_num_layers(const fwd_engine *e, int *count)
{
    fwd_error_clear();
    CHECK_ARG(e && count, "engine or count is NULL");
    *count = e->ir->graph->n_nodes;
    return FWD_OK;
}

fwd_status fwd_context_create(const fwd_engine *e, fwd_context **out)
{
    fwd_error_clear();
    CHECK_ARG(e && out, "engine or out is NULL");
    return context_create(e, out);
}

fwd_status fwd_context_free(fwd_context *c)
{
    context_free(c);
    return FWD_OK;
}

fwd_status fwd_context_run(fwd_context *c, const fwd_tensor *inputs, int num_inputs, fwd_tensor *outputs,
                           int num_outputs)
{
    fwd_error_clear();
    CHECK_ARG(c, "context is NULL");
    return context_run(c, inputs, num_inputs, outputs, num_outputs);
}

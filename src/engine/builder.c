/* The engine builder: optimise a model's graph, fix the input profiles and
 * plan activation memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "ir/op_schema.h"
#include "passes/passes.h"
#include "util/error.h"

const char *fwd_mode_name(fwd_mode m)
{
    static const char *const names[] = {"float32", "float16", "int8", "int8_calib"};
    return (unsigned)m < 4 ? names[m] : "unknown";
}

static fwd_status fold_eval(void *user, ir_model *m, const ir_node *n, const ir_tensor *const *in,
                            ir_tensor *out)
{
    const exec_env *env = user;
    return exec_node_once(env, m, n, in, n->n_inputs, out);
}

static void fold_free(void *user, void *data)
{
    const exec_env *env = user;
    env->backend->free(data);
}

static bool has_kernel(void *user, const char *op_type, fwd_dtype dtype)
{
    const fwd_backend *be = user;
    ir_node probe = {.op_type = op_type, .domain = "", .name = ""};
    return be->supports_node(&probe, &dtype, 1);
}

/* Collect the ops the backend cannot run, over all graphs, into msg. */
static void unsupported_ops(const fwd_backend *be, const ir_graph *g, char *msg, size_t cap, int *count)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = &g->nodes[i];
        if (!be->supports_node(n, NULL, 0)) {
            char item[256];
            snprintf(item, sizeof item, "%s%s (node '%s')", *count ? "; " : "", n->op_type, n->name);
            if (!strstr(msg, item)) {
                size_t len = strlen(msg);
                if (len + strlen(item) + 1 < cap) strcat(msg, item);
                (*count)++;
            }
        }
        for (int a = 0; a < n->n_attrs; a++) {
            const ir_attr *at = &n->attrs[a];
            if (at->type == IR_ATTR_GRAPH && at->g) unsupported_ops(be, at->g, msg, cap, count);
            if (at->type == IR_ATTR_GRAPHS)
                for (int k = 0; k < at->n; k++) unsupported_ops(be, at->graphs[k], msg, cap, count);
        }
    }
}

/* ---- profiles ---- */

/* The profile of each main-graph input from the builder's settings. A
 * symbolic dim without a setting is unbounded (max -1) with opt 1. */
static fwd_status resolve_profiles(const struct fwd_builder *b, struct fwd_engine *e)
{
    const ir_graph *g = e->ir->graph;
    e->profiles = calloc((size_t)g->n_inputs + 1, sizeof *e->profiles);
    if (!e->profiles) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; i < b->n_profiles; i++) {
        bool found = false;
        for (int k = 0; k < g->n_inputs; k++)
            found |= strcmp(g->values[g->inputs[k]].name, b->profiles[i].name) == 0;
        if (!found)
            return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "profile given for '%s', which is not an input of the model",
                              b->profiles[i].name);
    }
    for (int k = 0; k < g->n_inputs; k++) {
        const ir_value *v = &g->values[g->inputs[k]];
        engine_profile *p = &e->profiles[k];
        const named_profile *np = NULL;
        for (int i = 0; i < b->n_profiles; i++)
            if (strcmp(b->profiles[i].name, v->name) == 0) np = &b->profiles[i];
        if (np) {
            if (v->t.shape.rank >= 0 && np->p.rank != v->t.shape.rank)
                return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "profile of input '%s' has rank %d; the input has rank %d",
                                  v->name, np->p.rank, v->t.shape.rank);
            for (int d = 0; v->t.shape.rank >= 0 && d < np->p.rank; d++) {
                int64_t fixed = v->t.shape.dims[d];
                if (fixed >= 0 && (np->p.min[d] != fixed || np->p.max[d] != fixed))
                    return fwd_errorf(FWD_ERR_INVALID_ARGUMENT,
                                      "profile of input '%s': dimension %d is fixed at %lld by the model, the profile says %lld..%lld",
                                      v->name, d, (long long)fixed, (long long)np->p.min[d], (long long)np->p.max[d]);
            }
            *p = np->p;
            continue;
        }
        if (v->t.shape.rank < 0) {
            p->rank = -1; /* unknown rank: anything goes */
            continue;
        }
        p->rank = v->t.shape.rank;
        for (int d = 0; d < p->rank; d++) {
            int64_t fixed = v->t.shape.dims[d];
            if (fixed >= 0) {
                p->min[d] = p->opt[d] = p->max[d] = fixed;
            } else if (d == 0 && b->batch_max > 0) {
                p->min[d] = 1;
                p->opt[d] = b->batch_opt;
                p->max[d] = b->batch_max;
            } else {
                p->min[d] = 0;
                p->opt[d] = 1;
                p->max[d] = -1;
            }
        }
    }
    return FWD_OK;
}

/* A dimension the profile pins (min == max) is static for this engine:
 * writing it into the graph lets shape folding remove the shape
 * arithmetic that depends on it. */
static void pin_fixed_dims(struct fwd_engine *e)
{
    ir_graph *g = e->ir->graph;
    for (int k = 0; k < g->n_inputs; k++) {
        const engine_profile *p = &e->profiles[k];
        ir_shape *s = &g->values[g->inputs[k]].t.shape;
        if (p->rank < 0 || s->rank != p->rank) continue;
        for (int d = 0; d < p->rank; d++)
            if (s->dims[d] < 0 && p->max[d] >= 0 && p->min[d] == p->max[d]) s->dims[d] = p->min[d];
    }
}

fwd_status engine_check_profile(const struct fwd_engine *e, int k, const ir_value *v, const fwd_tensor *t)
{
    const engine_profile *p = &e->profiles[k];
    if (p->rank < 0) return FWD_OK;
    if (t->rank != p->rank)
        return fwd_errorf(FWD_ERR_SHAPE, "input '%s' has rank %d; the engine takes rank %d", v->name, t->rank,
                          p->rank);
    for (int d = 0; d < p->rank; d++) {
        int64_t x = t->dims[d];
        if (x < p->min[d] || (p->max[d] >= 0 && x > p->max[d])) {
            if (p->max[d] >= 0)
                return fwd_errorf(FWD_ERR_SHAPE, "input '%s': dimension %d is %lld; the engine's profile allows %lld..%lld",
                                  v->name, d, (long long)x, (long long)p->min[d], (long long)p->max[d]);
            return fwd_errorf(FWD_ERR_SHAPE, "input '%s': dimension %d is %lld; the engine's profile allows %lld or more",
                              v->name, d, (long long)x, (long long)p->min[d]);
        }
    }
    return FWD_OK;
}

/* ---- passes ---- */

typedef struct pass_step {
    const char *name;
    fwd_status (*run)(ir_graph *g, const pass_ctx *c, int *n_changed);
} pass_step;

static fwd_status run_fold(ir_graph *g, const pass_ctx *c, int *n) { return pass_fold_constants(g, c->ev, n); }
static fwd_status run_dead(ir_graph *g, const pass_ctx *c, int *n)
{
    (void)c;
    return pass_remove_dead_nodes(g, n);
}

static const pass_step pipeline[] = {
    {"eliminate identity", pass_eliminate_identity},
    {"fold constants", run_fold},
    {"fold conv+batchnorm", pass_fold_conv_bn},
    {"fuse layernorm", pass_fuse_layernorm},
    {"fuse gelu", pass_fuse_gelu},
    {"fuse attention", pass_fuse_attention},
    {"fuse bias+activation", pass_fuse_bias_activation},
    {"fuse matmul+layernorm", pass_fuse_matmul_layernorm},
    {"eliminate transpose/reshape", pass_eliminate_transpose_reshape},
    {"fold constants", run_fold},
    {"remove dead nodes", run_dead},
    {"assign float16", pass_assign_float16},
};

static fwd_status run_passes(const struct fwd_builder *b, struct fwd_engine *e)
{
    ir_graph *g = e->ir->graph;
    exec_plans none = {0};
    /* results beyond what folding keeps are not computed at all (a
     * ConstantOfShape asking for gigabytes fails at once) */
    exec_env env = {.backend = e->backend, .plans = &none, .max_output_bytes = PASS_FOLD_MAX_BYTES};
    pass_evaluator ev = {.eval = fold_eval, .free_fn = fold_free, .user = &env};
    pass_ctx ctx = {.ev = &ev, .has_kernel = has_kernel, .user = (void *)e->backend, .mode = b->mode};
    int nsteps = (int)(sizeof pipeline / sizeof pipeline[0]);
    for (int i = 0; i < nsteps; i++) {
        if (pipeline[i].run == pass_assign_float16 && b->mode != FWD_MODE_FLOAT16) continue;
        if (b->progress) b->progress("passes", i, nsteps, b->progress_user);
        int changed = 0;
        fwd_status ps = pipeline[i].run(g, &ctx, &changed);
        if (ps) return fwd_error_prefix(ps, "pass '%s'", pipeline[i].name);
        FWD_TRY(ir_graph_toposort(g));
        FWD_TRY(ir_graph_infer_shapes(g));
        fwd_log(FWD_LOG_VERBOSE, "pass '%s': %d changes, %d nodes", pipeline[i].name, changed, g->n_nodes);
    }
    if (b->progress) b->progress("passes", nsteps, nsteps, b->progress_user);
    if (e->backend->prepare_graph) {
        int packed = 0;
        FWD_TRY(e->backend->prepare_graph(g, &packed));
        fwd_log(FWD_LOG_VERBOSE, "%s backend prepared %d layers", e->backend->name, packed);
    }
    FWD_TRY(ir_graph_compact(g));
    return ir_graph_validate(g);
}

/* ---- memory plan ---- */

/* Run the graph once on zero inputs at the given profile point (0 min,
 * 1 opt, 2 max), recording every value's size. */
static fwd_status trial_run(struct fwd_engine *e, int point, int64_t *sizes, size_t *scratch)
{
    const ir_graph *g = e->ir->graph;
    ir_tensor *in = calloc((size_t)g->n_inputs + 1, sizeof *in);
    const ir_tensor **ptrs = calloc((size_t)g->n_inputs + 1, sizeof *ptrs);
    ir_tensor *outs = calloc((size_t)g->n_outputs + 1, sizeof *outs);
    fwd_status st = FWD_OK;
    if (!in || !ptrs || !outs) {
        st = fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    for (int k = 0; k < g->n_inputs; k++) {
        const engine_profile *p = &e->profiles[k];
        const ir_value *v = &g->values[g->inputs[k]];
        if (p->rank < 0) {
            st = fwd_errorf(FWD_ERR_UNSUPPORTED, "input '%s' has no known rank", v->name);
            goto done;
        }
        in[k].dtype = v->t.dtype;
        in[k].shape.rank = p->rank;
        for (int d = 0; d < p->rank; d++) {
            int64_t x = point == 0 ? p->min[d] : point == 1 ? p->opt[d] : p->max[d];
            in[k].shape.dims[d] = x < 0 ? p->opt[d] : x;
        }
        size_t bytes = ir_tensor_numel(&in[k]) * fwd_dtype_size(in[k].dtype);
        in[k].data = calloc(bytes ? bytes : 1, 1);
        in[k].nbytes = bytes;
        if (!in[k].data) {
            st = fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory for input '%s' at the profile's shape", v->name);
            goto done;
        }
        ptrs[k] = &in[k];
    }
    exec_env env = {.backend = e->backend, .plans = &e->plans, .record_sizes = sizes,
                    .record_scratch = scratch};
    st = exec_graph(&env, NULL, g, ptrs, g->n_inputs, outs, NULL);
    if (st == FWD_OK)
        for (int i = 0; i < g->n_outputs; i++) e->backend->free(outs[i].data);
done:
    if (in)
        for (int k = 0; k < g->n_inputs; k++) free(in[k].data);
    free(in);
    free(ptrs);
    free(outs);
    return st;
}

static fwd_status plan_memory(const struct fwd_builder *b, struct fwd_engine *e)
{
    const ir_graph *g = e->ir->graph;
    int64_t *sizes = malloc(sizeof(int64_t) * (size_t)(g->n_values + 1));
    if (!sizes) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
    for (int v = 0; v < g->n_values; v++) sizes[v] = -1;
    /* size bounds from runs at the profile's opt and at its max (dims
     * without a max at their opt there: shapes beyond the plan allocate) */
    bool beyond_opt = false;
    for (int k = 0; k < g->n_inputs; k++)
        for (int d = 0; d < e->profiles[k].rank; d++)
            beyond_opt |= e->profiles[k].max[d] >= 0 && e->profiles[k].max[d] != e->profiles[k].opt[d];
    fwd_status st = FWD_OK;
    size_t scratch = 0;
    for (int point = 1; point <= (beyond_opt ? 2 : 1) && st == FWD_OK; point++) {
        if (b->progress) b->progress("plan", point - 1, 2, b->progress_user);
        st = trial_run(e, point, sizes, &scratch);
    }
    if (st != FWD_OK) {
        /* Zeros are not valid input for every model; such engines run
         * unplanned, allocating as they go. */
        fwd_log(FWD_LOG_INFO, "memory plan skipped: the trial run failed: %s", fwd_last_error());
        fwd_error_clear();
        free(sizes);
        return FWD_OK;
    }
    /* values whose size depends on data are allocated when produced */
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = &g->nodes[i];
        bool loops = false;
        for (int a = 0; a < n->n_attrs; a++)
            loops |= n->attrs[a].type == IR_ATTR_GRAPH || n->attrs[a].type == IR_ATTR_GRAPHS;
        if (loops || strcmp(n->op_type, "NonZero") == 0 || strcmp(n->op_type, "Unique") == 0 ||
            strcmp(n->op_type, "NonMaxSuppression") == 0 || strcmp(n->op_type, "Compress") == 0)
            for (int j = 0; j < n->n_outputs; j++)
                if (n->outputs[j] >= 0) sizes[n->outputs[j]] = -1;
    }
    st = mem_plan_build(g, sizes, e->backend, &e->mem);
    free(sizes);
    /* the workspace limit caps the preallocated scratch; kernels that
     * need more get it per call */
    e->mem.scratch_bytes = b->workspace && scratch > b->workspace ? b->workspace : scratch;
    if (b->progress) b->progress("plan", 2, 2, b->progress_user);
    return st;
}

/* ---- build ---- */

fwd_status engine_prepare(struct fwd_engine *e)
{
    exec_plans_free(&e->plans);
    return exec_plans_build(e->ir->graph, &e->plans);
}

fwd_status engine_build(const struct fwd_builder *b, ir_model *model, struct fwd_engine **out)
{
    if (b->device != FWD_DEVICE_CPU)
        return fwd_errorf(FWD_ERR_NOT_YET_SUPPORTED, "the CUDA backend is not built yet; use the CPU");
    struct fwd_engine *e = calloc(1, sizeof *e);
    if (!e) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory building an engine");
    e->backend = &fwd_backend_cpu;
    e->mode = b->mode;
    e->opt_level = b->opt_level;
    e->workspace = b->workspace;
    fwd_status st = ir_model_clone(model, &e->ir);
    if (st) goto fail;
    ir_graph *g = e->ir->graph;

    char msg[2048] = "";
    int bad = 0;
    unsupported_ops(e->backend, g, msg, sizeof msg, &bad);
    if (bad) {
        st = fwd_errorf(FWD_ERR_UNSUPPORTED, "no %s kernel for %d op(s): %s", e->backend->name, bad, msg);
        goto fail;
    }
    if ((st = resolve_profiles(b, e))) goto fail;
    if (b->opt_level >= 1) {
        pin_fixed_dims(e);
        if ((st = run_passes(b, e))) goto fail;
    }
    if ((st = engine_prepare(e))) goto fail;
    if (b->opt_level >= 1 && (st = plan_memory(b, e))) goto fail;
    fwd_log(FWD_LOG_INFO, "build: %d layers, activation arena %zu bytes (unplanned sum %zu)", g->n_nodes,
            e->mem.arena_bytes, e->mem.unplanned_bytes);
    *out = e;
    return FWD_OK;
fail:
    engine_free(e);
    return st;
}

void engine_free(struct fwd_engine *e)
{
    if (!e) return;
    exec_plans_free(&e->plans);
    mem_plan_free(&e->mem);
    free(e->profiles);
    ir_model_unref(e->ir);
    free(e);
}

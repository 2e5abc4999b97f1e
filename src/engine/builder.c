/* The engine builder: optimise a model's graph and plan its execution. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "passes/passes.h"
#include "util/error.h"

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

fwd_status engine_build(const struct fwd_builder *b, ir_model *model, struct fwd_engine **out)
{
    if (b->device != FWD_DEVICE_CPU)
        return fwd_errorf(FWD_ERR_NOT_YET_SUPPORTED, "the CUDA backend is not built yet; use the CPU");
    struct fwd_engine *e = calloc(1, sizeof *e);
    if (!e) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory building an engine");
    e->backend = &fwd_backend_cpu;
    e->mode = b->mode;
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
    /* Folding evaluates nodes through a temporary plan-less environment:
     * exec_node_once needs no plans unless a node has subgraphs, and such
     * nodes are not folded. */
    exec_plans none = {0};
    exec_env env = {.backend = e->backend, .plans = &none};
    pass_evaluator ev = {.eval = fold_eval, .free_fn = fold_free, .user = &env};
    int folded = 0, dead = 0;
    st = pass_fold_constants(g, &ev, &folded);
    if (st) goto fail;
    st = pass_remove_dead_nodes(g, &dead);
    if (st) goto fail;
    fwd_log(FWD_LOG_INFO, "build: %d nodes folded into constants, %d dead nodes removed, %d nodes left",
            folded, dead, g->n_nodes);
    st = exec_plans_build(g, &e->plans);
    if (st) goto fail;
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
    ir_model_unref(e->ir);
    free(e);
}

const char *fwd_mode_name(fwd_mode m)
{
    static const char *const names[] = {"float32", "float16", "int8", "int8_calib"};
    return (unsigned)m < 4 ? names[m] : "unknown";
}

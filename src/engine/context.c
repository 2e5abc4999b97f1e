/* Execution contexts: bind named inputs, run, hand out named outputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/context.h"
#include "util/error.h"

static void free_outputs(fwd_context *c)
{
    if (!c->has_outputs) return;
    const ir_graph *g = c->engine->ir->graph;
    for (int i = 0; i < g->n_outputs; i++) {
        if (c->output_owned[i]) c->engine->backend->free(c->outputs[i].data);
        c->outputs[i].data = NULL;
        c->output_owned[i] = false;
    }
    c->has_outputs = false;
}

fwd_status context_create(const fwd_engine *e, fwd_context **out)
{
    const ir_graph *g = e->ir->graph;
    fwd_context *c = calloc(1, sizeof *c);
    if (!c) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory creating a context");
    c->engine = e;
    c->outputs = calloc((size_t)g->n_outputs + 1, sizeof *c->outputs);
    c->output_owned = calloc((size_t)g->n_outputs + 1, sizeof *c->output_owned);
    c->bound = calloc((size_t)g->n_inputs + 1, sizeof *c->bound);
    c->bound_ptrs = calloc((size_t)g->n_inputs + 1, sizeof *c->bound_ptrs);
    c->layer_us = calloc((size_t)g->n_nodes + 1, sizeof *c->layer_us);
    fwd_status st = FWD_OK;
    if (!c->outputs || !c->output_owned || !c->bound || !c->bound_ptrs || !c->layer_us)
        st = fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory creating a context");
    if (st == FWD_OK) st = exec_scratch_init(&c->scratch, g);
    if (st == FWD_OK && e->mem.arena_bytes) {
        c->arena = e->backend->alloc(e->mem.arena_bytes);
        if (!c->arena)
            st = fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory for the %zu-byte activation arena",
                            e->mem.arena_bytes);
    }
    if (st == FWD_OK && e->mem.scratch_bytes) {
        c->workspace = e->backend->alloc(e->mem.scratch_bytes);
        if (!c->workspace)
            st = fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory for the %zu-byte kernel workspace",
                            e->mem.scratch_bytes);
    }
    if (st) {
        context_free(c);
        return st;
    }
    *out = c;
    return FWD_OK;
}

void context_free(fwd_context *c)
{
    if (!c) return;
    if (c->outputs && c->output_owned) free_outputs(c);
    if (c->arena) c->engine->backend->free(c->arena);
    if (c->workspace) c->engine->backend->free(c->workspace);
    exec_scratch_free(&c->scratch);
    free(c->outputs);
    free(c->output_owned);
    free(c->bound);
    free(c->bound_ptrs);
    free(c->layer_us);
    free(c);
}

static fwd_status input_names(const ir_graph *g, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (int i = 0; i < g->n_inputs; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, "%s'%s'", i ? ", " : "", g->values[g->inputs[i]].name);
    }
    return FWD_OK;
}

/* Check one given input against the graph's declaration. */
static fwd_status check_input(const ir_model *m, const ir_value *v, const fwd_tensor *t)
{
    char want[256];
    if (t->dtype != v->t.dtype)
        return fwd_errorf(FWD_ERR_DTYPE, "input '%s' is %s; the model takes %s", v->name,
                          fwd_dtype_name(t->dtype), fwd_dtype_name(v->t.dtype));
    if (t->rank < 0 || t->rank > FWD_MAX_DIMS)
        return fwd_errorf(FWD_ERR_SHAPE, "input '%s' has rank %d; ranks 0..%d are supported", v->name,
                          t->rank, FWD_MAX_DIMS);
    const ir_shape *s = &v->t.shape;
    if (s->rank >= 0) {
        ir_shape_str(s, m, want, sizeof want);
        if (t->rank != s->rank)
            return fwd_errorf(FWD_ERR_SHAPE, "input '%s' has rank %d; the model takes shape %s", v->name,
                              t->rank, want);
        for (int i = 0; i < s->rank; i++)
            if (s->dims[i] >= 0 && t->dims[i] != s->dims[i])
                return fwd_errorf(FWD_ERR_SHAPE,
                                  "input '%s': dimension %d is %lld; the model takes shape %s", v->name,
                                  i, (long long)t->dims[i], want);
    }
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i] < 0)
            return fwd_errorf(FWD_ERR_SHAPE, "input '%s': dimension %d is negative (%lld)", v->name, i,
                              (long long)t->dims[i]);
        n *= t->dims[i];
    }
    size_t need = (size_t)n * fwd_dtype_size(t->dtype);
    if (need && !t->data)
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "input '%s' has no data", v->name);
    if (t->size < need)
        return fwd_errorf(FWD_ERR_SHAPE, "input '%s' holds %zu bytes; its shape needs %zu", v->name, t->size,
                          need);
    if (t->device != FWD_DEVICE_CPU)
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "input '%s' is on device %d; this engine takes CPU memory",
                          v->name, (int)t->device);
    return FWD_OK;
}

fwd_status context_run(fwd_context *c, const fwd_tensor *inputs, int num_inputs, fwd_tensor *outputs,
                       int num_outputs)
{
    const fwd_engine *e = c->engine;
    const ir_graph *g = e->ir->graph;
    char names[1024];
    if (num_inputs < 0 || num_outputs < 0 || (num_inputs && !inputs) || (num_outputs && !outputs))
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "bad input/output arrays");
    ir_tensor *bound = c->bound;
    const ir_tensor **ptrs = c->bound_ptrs;
    fwd_status st = FWD_OK;
    memset(ptrs, 0, sizeof *ptrs * (size_t)g->n_inputs);
    for (int i = 0; i < num_inputs; i++) {
        const fwd_tensor *t = &inputs[i];
        int k;
        for (k = 0; k < g->n_inputs; k++)
            if (t->name && strcmp(g->values[g->inputs[k]].name, t->name) == 0) break;
        if (k == g->n_inputs) {
            input_names(g, names, sizeof names);
            st = fwd_errorf(FWD_ERR_NOT_FOUND, "unknown input '%s'; the model's inputs are %s",
                            t->name ? t->name : "(null)", names);
            goto done;
        }
        if (ptrs[k]) {
            st = fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "input '%s' is given twice", t->name);
            goto done;
        }
        const ir_value *v = &g->values[g->inputs[k]];
        st = check_input(e->ir, v, t);
        if (st == FWD_OK) st = engine_check_profile(e, k, v, t);
        if (st) goto done;
        bound[k].dtype = t->dtype;
        bound[k].shape.rank = t->rank;
        memcpy(bound[k].shape.dims, t->dims, sizeof(int64_t) * (size_t)t->rank);
        bound[k].data = t->data;
        bound[k].nbytes = ir_tensor_numel(&bound[k]) * fwd_dtype_size(t->dtype);
        ptrs[k] = &bound[k];
    }
    for (int k = 0; k < g->n_inputs; k++)
        if (!ptrs[k]) {
            st = fwd_errorf(FWD_ERR_NOT_FOUND, "input '%s' is missing", g->values[g->inputs[k]].name);
            goto done;
        }
    /* check output names before running */
    for (int i = 0; i < num_outputs; i++) {
        int k;
        for (k = 0; k < g->n_outputs; k++)
            if (outputs[i].name && strcmp(g->values[g->outputs[k]].name, outputs[i].name) == 0) break;
        if (k == g->n_outputs) {
            st = fwd_errorf(FWD_ERR_NOT_FOUND, "unknown output '%s'", outputs[i].name ? outputs[i].name : "(null)");
            goto done;
        }
    }
    /* A descriptor still pointing at memory this context handed out last
     * time means "the context's memory" again, not a caller's buffer. */
    for (int i = 0; i < num_outputs; i++)
        for (int k = 0; c->has_outputs && k < g->n_outputs; k++)
            if (outputs[i].data && outputs[i].data == c->outputs[k].data) outputs[i].data = NULL;
    free_outputs(c);
    exec_env env = {.backend = e->backend, .plans = &e->plans, .mem = &e->mem, .arena = c->arena,
                    .scratch = &c->scratch, .layer_us = c->profiling ? c->layer_us : NULL,
                    .workspace = c->workspace, .workspace_bytes = e->mem.scratch_bytes};
    st = exec_graph(&env, NULL, g, ptrs, g->n_inputs, c->outputs, c->output_owned);
    if (st) goto done;
    c->has_outputs = true;
    for (int i = 0; i < num_outputs; i++) {
        fwd_tensor *o = &outputs[i];
        int k;
        for (k = 0; k < g->n_outputs; k++)
            if (strcmp(g->values[g->outputs[k]].name, o->name) == 0) break;
        const ir_tensor *r = &c->outputs[k];
        if (o->data) {
            if (o->size < r->nbytes) {
                st = fwd_errorf(FWD_ERR_SHAPE, "output '%s' needs %zu bytes; the buffer given holds %zu",
                                o->name, r->nbytes, o->size);
                goto done;
            }
            memcpy(o->data, r->data, r->nbytes);
        } else {
            o->data = r->data;
        }
        o->dtype = r->dtype;
        o->rank = r->shape.rank;
        memcpy(o->dims, r->shape.dims, sizeof(int64_t) * (size_t)r->shape.rank);
        o->size = r->nbytes;
        o->device = FWD_DEVICE_CPU;
        o->device_id = 0;
    }
done:
    return st;
}

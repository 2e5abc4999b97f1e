#include "engine/exec.h"
#include "engine/engine.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ir/op_schema.h"
#include "util/error.h"


/* ---- plans ---- */

typedef struct keep_ctx {
    int *last_use;
    int end;
} keep_ctx;

/* Values that subgraphs read from this scope live to the graph's end. */
static void keep_to_end(void *user, int id)
{
    keep_ctx *k = user;
    k->last_use[id] = k->end;
}

static fwd_status plan_graph(const ir_graph *g, exec_plans *plans)
{
    if (plans->n == plans->cap) {
        int ncap = plans->cap ? plans->cap * 2 : 4;
        exec_plan *ni = realloc(plans->items, (size_t)ncap * sizeof *ni);
        if (!ni) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory planning");
        plans->items = ni;
        plans->cap = ncap;
    }
    int *last_use = malloc(sizeof(int) * (size_t)(g->n_values + 1));
    if (!last_use) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory planning");
    plans->items[plans->n].g = g;
    plans->items[plans->n].last_use = last_use;
    plans->n++;
    for (int i = 0; i < g->n_values; i++) last_use[i] = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_inputs; j++)
            if (n->inputs[j] >= 0) last_use[n->inputs[j]] = i;
    }
    keep_ctx keep = {.last_use = last_use, .end = g->n_nodes};
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = &g->nodes[i];
        ir_node_visit_outer_reads(g, n, keep_to_end, &keep);
        for (int a = 0; a < n->n_attrs; a++) {
            const ir_attr *at = &n->attrs[a];
            if (at->type == IR_ATTR_GRAPH && at->g) FWD_TRY(plan_graph(at->g, plans));
            if (at->type == IR_ATTR_GRAPHS)
                for (int k = 0; k < at->n; k++) FWD_TRY(plan_graph(at->graphs[k], plans));
        }
    }
    for (int i = 0; i < g->n_outputs; i++) last_use[g->outputs[i]] = g->n_nodes;
    return FWD_OK;
}

fwd_status exec_plans_build(const ir_graph *g, exec_plans *plans)
{
    memset(plans, 0, sizeof *plans);
    fwd_status st = plan_graph(g, plans);
    if (st) exec_plans_free(plans);
    return st;
}

void exec_plans_free(exec_plans *plans)
{
    for (int i = 0; i < plans->n; i++) free(plans->items[i].last_use);
    free(plans->items);
    memset(plans, 0, sizeof *plans);
}

static const exec_plan *find_plan(const exec_plans *plans, const ir_graph *g)
{
    for (int i = 0; i < plans->n; i++)
        if (plans->items[i].g == g) return &plans->items[i];
    return NULL;
}

/* ---- frames ---- */

typedef struct exec_frame {
    const exec_env *env;
    const ir_graph *g;
    struct exec_frame *parent;
    ir_tensor *vals;  /* per value id */
    bool *owned;      /* vals[i].data was allocated by this frame */
    bool *ready;      /* vals[i] holds a tensor */
    bool main;        /* the main graph: env's plan, arena, recording apply */
} exec_frame;

fwd_status exec_scratch_init(exec_scratch *s, const ir_graph *g)
{
    size_t nv = (size_t)g->n_values + 1;
    s->n_values = g->n_values;
    s->vals = calloc(nv, sizeof *s->vals);
    s->owned = calloc(nv, sizeof *s->owned);
    s->ready = calloc(nv, sizeof *s->ready);
    if (!s->vals || !s->owned || !s->ready) {
        exec_scratch_free(s);
        return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory for a context");
    }
    return FWD_OK;
}

void exec_scratch_free(exec_scratch *s)
{
    free(s->vals);
    free(s->owned);
    free(s->ready);
    s->vals = NULL;
    s->owned = s->ready = NULL;
}

bool exec_is_view_op(const char *op)
{
    return strcmp(op, "Reshape") == 0 || strcmp(op, "Flatten") == 0 || strcmp(op, "Squeeze") == 0 ||
           strcmp(op, "Unsqueeze") == 0 || strcmp(op, "Identity") == 0;
}

static const ir_tensor *resolve_outer(const exec_frame *f, const char *name)
{
    for (const exec_frame *p = f->parent; p; p = p->parent) {
        int id = ir_graph_find(p->g, name);
        if (id >= 0 && p->ready[id]) return &p->vals[id];
    }
    return NULL;
}

static void release_value(exec_frame *f, int id)
{
    if (f->owned[id]) f->env->backend->free(f->vals[id].data);
    f->owned[id] = false;
    f->ready[id] = false;
    f->vals[id].data = NULL;
}

static fwd_status tensor_bytes(const ir_tensor *t, size_t *bytes)
{
    int64_t n = ir_shape_numel(&t->shape);
    size_t esz = fwd_dtype_size(t->dtype);
    if (n < 0 || esz == 0)
        return fwd_errorf(FWD_ERR_INTERNAL, "allocating a tensor of unknown shape or dtype");
    if (n > 0 && (uint64_t)n > (SIZE_MAX / 2) / esz)
        return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "tensor of %lld elements is too large", (long long)n);
    *bytes = (size_t)n * esz;
    return FWD_OK;
}

/* t->data for its t->nbytes (already set). */
static fwd_status alloc_sized(const fwd_backend *be, ir_tensor *t)
{
    t->data = be->alloc(t->nbytes);
    if (!t->data)
        return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory allocating %zu bytes", t->nbytes);
    return FWD_OK;
}

static fwd_status alloc_tensor(const fwd_backend *be, ir_tensor *t)
{
    FWD_TRY(tensor_bytes(t, &t->nbytes));
    return alloc_sized(be, t);
}

/* Give value id of frame f (shape and dtype set in t) its memory: the
 * planned arena slot when it fits, else a fresh allocation (*owned). */
static fwd_status frame_alloc(const exec_env *env, exec_frame *f, int id, ir_tensor *t, bool *owned)
{
    *owned = false;
    FWD_TRY(tensor_bytes(t, &t->nbytes));
    if (env->max_output_bytes && t->nbytes > env->max_output_bytes)
        return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "an output of %zu bytes is beyond the limit of %zu", t->nbytes,
                          env->max_output_bytes);
    if (f && f->main) {
        if (env->record_sizes && (int64_t)t->nbytes > env->record_sizes[id])
            env->record_sizes[id] = (int64_t)t->nbytes;
        const mem_plan *mp = env->mem;
        if (mp && env->arena && id < mp->n_values && mp->offset[id] >= 0 &&
            (int64_t)t->nbytes <= mp->capacity[id]) {
            t->data = (char *)env->arena + mp->offset[id];
            return FWD_OK;
        }
    }
    FWD_TRY(alloc_sized(env->backend, t)); /* nbytes set above */
    *owned = true;
    return FWD_OK;
}

#define MAX_SCRATCH_ALLOCS 16

typedef struct node_call {
    fwd_kernel_ctx k;
    const ir_node *node;
    exec_frame *frame;  /* NULL for exec_node_once */
    const exec_env *env;
    ir_tensor **outs;
    bool *has_data;     /* per output: data set */
    bool *owned;        /* per output: data allocated here */
    size_t ws_used;     /* bytes of env->workspace handed out */
    size_t ws_asked;    /* bytes asked for in all */
    void *extra[MAX_SCRATCH_ALLOCS]; /* scratch beyond the workspace */
    int n_extra;
} node_call;

static void *kc_scratch(fwd_kernel_ctx *k, size_t bytes)
{
    node_call *c = k->impl;
    size_t need = (bytes + 63) & ~(size_t)63;
    if (need < bytes) return NULL;
    c->ws_asked += need;
    /* Subgraph bodies run inside a node (If/Loop/Scan) and share the
     * workspace with it, so only the main graph's frames bump it. */
    if (c->frame && c->frame->main && c->env->workspace && c->ws_used + need <= c->env->workspace_bytes) {
        void *p = (char *)c->env->workspace + c->ws_used;
        c->ws_used += need;
        return p;
    }
    if (c->n_extra == MAX_SCRATCH_ALLOCS) return NULL;
    void *p = c->env->backend->alloc(need);
    if (p) c->extra[c->n_extra++] = p;
    return p;
}

static int out_value_id(const node_call *c, int index)
{
    return c->frame ? c->node->outputs[index] : -1;
}

static fwd_status kc_alloc_output(fwd_kernel_ctx *k, int index, fwd_dtype dtype, const ir_shape *shape)
{
    node_call *c = k->impl;
    if (index < 0 || index >= k->n_out || !c->outs[index])
        return fwd_errorf(FWD_ERR_INTERNAL, "%s '%s': output %d cannot be allocated", k->node->op_type,
                          k->node->name, index);
    ir_tensor *t = c->outs[index];
    if (c->owned[index]) c->env->backend->free(t->data);
    c->owned[index] = c->has_data[index] = false;
    t->data = NULL;
    if (shape->rank < 0 || shape->rank > IR_MAX_RANK || !ir_shape_known(shape))
        return fwd_errorf(FWD_ERR_INTERNAL, "%s '%s': output %d allocated with an unknown shape",
                          k->node->op_type, k->node->name, index);
    t->dtype = dtype;
    t->shape = *shape;
    FWD_TRY(frame_alloc(c->env, c->frame, out_value_id(c, index), t, &c->owned[index]));
    c->has_data[index] = true;
    return FWD_OK;
}

static void kc_free_tensor(fwd_kernel_ctx *k, ir_tensor *t)
{
    node_call *c = k->impl;
    if (t && t->data) c->env->backend->free(t->data);
    if (t) t->data = NULL;
}

static fwd_status kc_run_graph(fwd_kernel_ctx *k, const ir_graph *g, const ir_tensor *const *inputs,
                               int n_inputs, ir_tensor *outputs, int n_outputs)
{
    node_call *c = k->impl;
    if (n_outputs != g->n_outputs)
        return fwd_errorf(FWD_ERR_INTERNAL, "%s '%s': subgraph has %d outputs, %d requested",
                          k->node->op_type, k->node->name, g->n_outputs, n_outputs);
    return exec_graph(c->env, c->frame, g, inputs, n_inputs, outputs, NULL);
}

/* Infer, allocate and run one node; outs[j] (NULL for absent outputs)
 * receive tensors; owned[j] says whether their data was allocated. */
static fwd_status run_node(const exec_env *env, exec_frame *frame, ir_model *model, const ir_node *n,
                           const ir_tensor *const *ins, ir_tensor **outs, bool *owned)
{
    ir_tensor inferred[64];
    bool has_data[64] = {false};
    if (n->n_outputs > 64)
        return fwd_errorf(FWD_ERR_UNSUPPORTED, "node '%s' has more than 64 outputs", n->name);
    for (int j = 0; j < n->n_outputs; j++) owned[j] = false;
    ir_infer_ctx ic = {.node = n, .model = model, .n_in = n->n_inputs, .in = ins,
                       .n_out = n->n_outputs, .out = inferred};
    FWD_TRY(ir_infer_node(&ic));
    bool known = !ic.data_dependent;
    for (int j = 0; j < n->n_outputs && known; j++)
        if (outs[j] && (!ir_shape_known(&inferred[j].shape) || inferred[j].dtype == FWD_DTYPE_UNDEFINED))
            known = false;
    node_call call = {
        .k = {.node = n, .n_in = n->n_inputs, .in = ins, .n_out = n->n_outputs,
              .out = (ir_tensor *const *)outs, .scope = frame, .run_graph = kc_run_graph,
              .free_tensor = kc_free_tensor, .alloc_output = kc_alloc_output, .scratch = kc_scratch},
        .node = n, .frame = frame, .env = env, .outs = outs, .has_data = has_data, .owned = owned};
    call.k.impl = &call;
    fwd_status st = FWD_OK;
    for (int j = 0; j < n->n_outputs; j++) {
        if (!outs[j]) continue;
        outs[j]->dtype = inferred[j].dtype;
        outs[j]->shape = inferred[j].shape;
        outs[j]->data = NULL;
        outs[j]->nbytes = 0;
        if (known) {
            st = frame_alloc(env, frame, out_value_id(&call, j), outs[j], &owned[j]);
            if (st) goto fail;
            has_data[j] = true;
        }
    }
    /* A view planned onto its input's bytes has nothing to do. */
    bool skip = known && n->n_outputs >= 1 && outs[0] && n->n_inputs >= 1 && ins[0] &&
                outs[0]->data == ins[0]->data && exec_is_view_op(n->op_type);
    if (!skip) st = env->backend->run_node(&call.k);
    for (int x = 0; x < call.n_extra; x++) env->backend->free(call.extra[x]);
    if (frame && frame->main && env->record_scratch && call.ws_asked > *env->record_scratch)
        *env->record_scratch = call.ws_asked;
    if (st) goto fail;
    for (int j = 0; j < n->n_outputs; j++)
        if (outs[j] && !has_data[j]) {
            st = fwd_errorf(FWD_ERR_INTERNAL, "%s '%s': kernel did not produce output %d", n->op_type,
                            n->name, j);
            goto fail;
        }
    return FWD_OK;
fail:
    for (int j = 0; j < n->n_outputs; j++)
        if (outs[j] && owned[j]) {
            env->backend->free(outs[j]->data);
            outs[j]->data = NULL;
            owned[j] = false;
        }
    return st;
}

fwd_status exec_node_once(const exec_env *env, ir_model *model, const ir_node *node,
                          const ir_tensor *const *inputs, int n_in, ir_tensor *outputs)
{
    (void)n_in;
    ir_tensor *outs[64];
    bool owned[64];
    if (node->n_outputs > 64) return fwd_errorf(FWD_ERR_UNSUPPORTED, "too many outputs");
    for (int j = 0; j < node->n_outputs; j++) {
        outputs[j].data = NULL;
        outs[j] = node->outputs[j] >= 0 ? &outputs[j] : NULL;
    }
    return run_node(env, NULL, model, node, inputs, outs, owned);
}

static fwd_status copy_out(const fwd_backend *be, const ir_tensor *src, ir_tensor *dst)
{
    dst->dtype = src->dtype;
    dst->shape = src->shape;
    FWD_TRY(alloc_tensor(be, dst));
    if (dst->nbytes) memcpy(dst->data, src->data, dst->nbytes);
    return FWD_OK;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

fwd_status exec_graph(const exec_env *env, exec_frame *parent, const ir_graph *g,
                      const ir_tensor *const *inputs, int n_inputs, ir_tensor *outputs, bool *out_owned)
{
    const exec_plan *plan = find_plan(env->plans, g);
    if (!plan) return fwd_errorf(FWD_ERR_INTERNAL, "graph '%s' has no execution plan", g->name);
    if (n_inputs != g->n_inputs)
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "graph '%s' takes %d inputs, %d given", g->name,
                          g->n_inputs, n_inputs);
    exec_frame f = {.env = env, .g = g, .parent = parent, .main = parent == NULL};
    size_t nv = (size_t)g->n_values + 1;
    bool scratch = f.main && env->scratch && env->scratch->n_values == g->n_values;
    if (scratch) {
        f.vals = env->scratch->vals;
        f.owned = env->scratch->owned;
        f.ready = env->scratch->ready;
        memset(f.vals, 0, nv * sizeof *f.vals);
        memset(f.owned, 0, nv * sizeof *f.owned);
        memset(f.ready, 0, nv * sizeof *f.ready);
    } else {
        f.vals = calloc(nv, sizeof *f.vals);
        f.owned = calloc(nv, sizeof *f.owned);
        f.ready = calloc(nv, sizeof *f.ready);
    }
    fwd_status st = FWD_OK;
    int n_out_done = 0;
    if (!f.vals || !f.owned || !f.ready) {
        st = fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory running graph '%s'", g->name);
        goto done;
    }
    for (int i = 0; i < g->n_values; i++) {
        const ir_value *v = &g->values[i];
        if (v->kind == IR_VALUE_CONST) {
            f.vals[i] = v->t;
            f.ready[i] = true;
        } else if (v->kind == IR_VALUE_OUTER) {
            const ir_tensor *t = resolve_outer(&f, v->name);
            if (t) {
                f.vals[i] = *t;
                f.ready[i] = true;
            }
        }
    }
    for (int i = 0; i < n_inputs; i++) {
        int id = g->inputs[i];
        if (!inputs[i]) continue;
        f.vals[id] = *inputs[i];
        f.ready[id] = true;
    }
    const ir_tensor *ins[256];
    ir_tensor *outs[64];
    bool owned[64];
    double *times = f.main ? env->layer_us : NULL;
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = &g->nodes[i];
        if (n->n_inputs > 256) {
            st = fwd_errorf(FWD_ERR_UNSUPPORTED, "node '%s' has more than 256 inputs", n->name);
            goto done;
        }
        for (int j = 0; j < n->n_inputs; j++) {
            int id = n->inputs[j];
            if (id < 0) {
                ins[j] = NULL;
                continue;
            }
            if (!f.ready[id]) {
                st = fwd_errorf(FWD_ERR_INTERNAL, "node '%s' (%s): input '%s' has no value", n->name,
                                n->op_type, g->values[id].name);
                goto done;
            }
            ins[j] = &f.vals[id];
        }
        for (int j = 0; j < n->n_outputs; j++) {
            int id = n->outputs[j];
            outs[j] = id >= 0 ? &f.vals[id] : NULL;
        }
        double t0 = times ? now_us() : 0.0;
        st = run_node(env, &f, g->model, n, ins, outs, owned);
        if (times) times[i] = now_us() - t0;
        if (st) goto done;
        for (int j = 0; j < n->n_outputs; j++) {
            int id = n->outputs[j];
            if (id < 0) continue;
            f.owned[id] = owned[j];
            f.ready[id] = true;
            if (plan->last_use[id] < 0) release_value(&f, id); /* unused output */
        }
        /* free intermediates whose last reader was this node */
        for (int j = 0; j < n->n_inputs; j++) {
            int id = n->inputs[j];
            if (id >= 0 && plan->last_use[id] == i && f.owned[id]) release_value(&f, id);
        }
    }
    for (n_out_done = 0; n_out_done < g->n_outputs; n_out_done++) {
        int id = g->outputs[n_out_done];
        ir_tensor *dst = &outputs[n_out_done];
        if (!f.ready[id]) {
            st = fwd_errorf(FWD_ERR_INTERNAL, "graph '%s': output '%s' has no value", g->name,
                            g->values[id].name);
            goto done;
        }
        bool again = false;
        for (int k = 0; k < n_out_done; k++)
            if (g->outputs[k] == id) again = true;
        bool in_arena = out_owned && !f.owned[id] && g->values[id].kind == IR_VALUE_INTERMEDIATE;
        if (f.owned[id] && !again) {
            /* hand over what we own, once */
            *dst = f.vals[id];
            f.owned[id] = false;
            if (out_owned) out_owned[n_out_done] = true;
        } else if (in_arena) {
            *dst = f.vals[id]; /* lives in the context's arena */
            out_owned[n_out_done] = false;
        } else {
            /* borrowed data (a constant, an input) or a repeated output */
            st = copy_out(env->backend, &f.vals[id], dst);
            if (st) goto done;
            if (out_owned) out_owned[n_out_done] = true;
        }
    }
done:
    if (st) {
        for (int k = 0; k < n_out_done; k++)
            if (!out_owned || out_owned[k]) {
                env->backend->free(outputs[k].data);
                outputs[k].data = NULL;
            }
    }
    if (f.owned)
        for (int i = 0; i < g->n_values; i++)
            if (f.owned[i]) env->backend->free(f.vals[i].data);
    if (!scratch) {
        free(f.vals);
        free(f.owned);
        free(f.ready);
    }
    return st;
}

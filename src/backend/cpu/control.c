/*
 * CPU kernels for the control-flow ops If, Loop and Scan.
 *
 * Subgraphs run through k->run_graph; every tensor it returns is ours and
 * goes back through k->free_tensor. Outputs are allocated here (the schema
 * marks these ops data-dependent) and filled by copying.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/control_internal.h"
#include "backend/cpu/cpu_util.h"

const ir_graph *ctl_graph_attr(const fwd_kernel_ctx *k, const char *name)
{
    const ir_attr *a = ir_node_attr(k->node, name);
    return a && a->type == IR_ATTR_GRAPH ? a->g : NULL;
}

size_t ctl_tensor_bytes(const ir_tensor *t)
{
    int64_t n = ir_shape_numel(&t->shape);
    return n > 0 ? (size_t)n * fwd_dtype_size(t->dtype) : 0;
}

fwd_status ctl_emit_output(fwd_kernel_ctx *k, int idx, const ir_tensor *src)
{
    if (idx >= k->n_out || !k->out[idx]) return FWD_OK;
    if (fwd_dtype_size(src->dtype) == 0)
        return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "output %d has dtype %s, which is not "
                                "supported here", idx, fwd_dtype_name(src->dtype));
    FWD_TRY(fwd_kernel_alloc_output(k, idx, src->dtype, &src->shape));
    size_t n = ctl_tensor_bytes(src);
    if (n) memcpy(k->out[idx]->data, src->data, n);
    return FWD_OK;
}

/* A one-element condition input read as true/false. */
static fwd_status read_flag(const fwd_kernel_ctx *k, const ir_tensor *t, const char *what,
                            bool *v)
{
    if (ir_tensor_numel(t) != 1 || fwd_dtype_size(t->dtype) == 0)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "%s must hold exactly one element", what);
    *v = cpu_get_f64(t->dtype, t->data, 0) != 0.0;
    return FWD_OK;
}

static void free_tensors(fwd_kernel_ctx *k, ir_tensor *t, int n)
{
    for (int i = 0; i < n; i++) k->free_tensor(k, &t[i]);
}

/* ---- If ---- */

static fwd_status run_if(fwd_kernel_ctx *k)
{
    if (k->n_in < 1 || !k->in[0])
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "input 'cond' is required");
    bool cond;
    FWD_TRY(read_flag(k, k->in[0], "cond", &cond));
    const ir_graph *g = ctl_graph_attr(k, cond ? "then_branch" : "else_branch");
    if (!g || g->n_outputs != k->n_out)
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "branch graph missing or with a wrong "
                                "number of outputs");
    ir_tensor *res = calloc((size_t)(g->n_outputs > 0 ? g->n_outputs : 1), sizeof *res);
    if (!res) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    fwd_status st = k->run_graph(k, g, NULL, 0, res, g->n_outputs);
    if (st == FWD_OK) {
        for (int i = 0; i < g->n_outputs && st == FWD_OK; i++) st = ctl_emit_output(k, i, &res[i]);
        free_tensors(k, res, g->n_outputs);
    }
    free(res);
    return st;
}

/* ---- scan-output accumulation (Loop) ---- */

/* Equal-shaped elements appended one after another. */
typedef struct accum {
    bool started;
    fwd_dtype dtype;
    ir_shape elem;
    size_t elem_bytes;
    uint8_t *buf;
    size_t cap;
    int64_t count;
} accum;

static fwd_status accum_push(const fwd_kernel_ctx *k, accum *a, const ir_tensor *t, int which)
{
    if (!a->started) {
        if (t->shape.rank >= IR_MAX_RANK)
            return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "scan output %d: rank %d is too high "
                                    "to stack", which, t->shape.rank);
        a->started = true;
        a->dtype = t->dtype;
        a->elem = t->shape;
        a->elem_bytes = ctl_tensor_bytes(t);
    } else if (t->dtype != a->dtype || !ir_shape_equal(&t->shape, &a->elem)) {
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "scan output %d changes shape or dtype "
                                "between iterations", which);
    }
    size_t need = (size_t)(a->count + 1) * a->elem_bytes;
    if (need > a->cap) {
        size_t ncap = a->cap ? a->cap * 2 : a->elem_bytes * 8;
        if (ncap < need) ncap = need;
        uint8_t *nb = realloc(a->buf, ncap);
        if (!nb) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory stacking "
                                         "scan output %d", which);
        a->buf = nb;
        a->cap = ncap;
    }
    if (a->elem_bytes) memcpy(a->buf + (size_t)a->count * a->elem_bytes, t->data, a->elem_bytes);
    a->count++;
    return FWD_OK;
}

/* Output idx = the stacked elements; with none, the body's static element
 * shape (unknown dims as 0) and dtype. */
static fwd_status accum_emit(fwd_kernel_ctx *k, int idx, const accum *a, const ir_value *decl)
{
    if (idx >= k->n_out || !k->out[idx]) return FWD_OK;
    ir_tensor t = {.dtype = a->dtype, .data = a->buf};
    ir_shape elem = a->elem;
    if (!a->started) {
        t.dtype = decl->t.dtype != FWD_DTYPE_UNDEFINED ? decl->t.dtype : FWD_FLOAT32;
        elem = decl->t.shape;
        if (elem.rank < 0 || elem.rank >= IR_MAX_RANK) elem.rank = 0;
        for (int d = 0; d < elem.rank; d++)
            if (!ir_dim_known(elem.dims[d])) elem.dims[d] = 0;
    }
    t.shape.rank = elem.rank + 1;
    t.shape.dims[0] = a->count;
    for (int d = 0; d < elem.rank; d++) t.shape.dims[d + 1] = elem.dims[d];
    return ctl_emit_output(k, idx, &t);
}

/* ---- Loop ---- */

typedef struct loop_state {
    int n_carried, n_scan;
    ir_tensor *cur;      /* carried values */
    bool *owned;         /* cur[i] came from run_graph */
    ir_tensor *res;      /* body outputs of one iteration */
    const ir_tensor **body_in;
    accum *acc;
} loop_state;

static void loop_state_free(fwd_kernel_ctx *k, loop_state *s)
{
    if (s->cur)
        for (int i = 0; i < s->n_carried; i++)
            if (s->owned[i]) k->free_tensor(k, &s->cur[i]);
    if (s->acc)
        for (int j = 0; j < s->n_scan; j++) free(s->acc[j].buf);
    free(s->cur);
    free(s->owned);
    free(s->res);
    free(s->body_in);
    free(s->acc);
}

static fwd_status run_loop(fwd_kernel_ctx *k)
{
    const ir_graph *body = ctl_graph_attr(k, "body");
    int n_carried = k->n_in - 2, n_scan = k->n_out - n_carried;
    if (!body || n_carried < 0 || n_scan < 0 || body->n_inputs != 2 + n_carried ||
        body->n_outputs != 1 + n_carried + n_scan)
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "body graph missing or its inputs/"
                                "outputs do not match the node");
    bool has_m = k->in[0] != NULL, has_cond = k->in[1] != NULL, cond = true;
    int64_t trip = 0;
    if (has_m) {
        const ir_tensor *m = k->in[0];
        if ((m->dtype != FWD_INT64 && m->dtype != FWD_INT32) || ir_tensor_numel(m) != 1)
            return cpu_kernel_error(k, FWD_ERR_SHAPE, "M must be an int64 scalar");
        trip = cpu_get_index(m, 0);
    }
    if (has_cond) FWD_TRY(read_flag(k, k->in[1], "cond", &cond));
    for (int i = 0; i < n_carried; i++)
        if (!k->in[2 + i])
            return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "absent loop-carried input %d", i);

    loop_state s = {.n_carried = n_carried, .n_scan = n_scan};
    int n_res = 1 + n_carried + n_scan;
    s.cur = calloc((size_t)n_carried + 1, sizeof *s.cur);
    s.owned = calloc((size_t)n_carried + 1, sizeof *s.owned);
    s.res = calloc((size_t)n_res, sizeof *s.res);
    s.body_in = calloc((size_t)(2 + n_carried), sizeof *s.body_in);
    s.acc = calloc((size_t)n_scan + 1, sizeof *s.acc);
    fwd_status st = FWD_OK;
    if (!s.cur || !s.owned || !s.res || !s.body_in || !s.acc) {
        st = cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    for (int i = 0; i < n_carried; i++) s.cur[i] = *k->in[2 + i];

    int64_t iter_val = 0;
    uint8_t cond_val = 1;
    ir_tensor iter_t = {.dtype = FWD_INT64, .shape = {.rank = 0}, .data = &iter_val,
                        .nbytes = sizeof iter_val};
    ir_tensor cond_t = {.dtype = FWD_BOOL, .shape = {.rank = 0}, .data = &cond_val,
                        .nbytes = 1};
    for (int64_t it = 0; (!has_m || it < trip) && cond; it++) {
        iter_val = it;
        cond_val = cond;
        s.body_in[0] = &iter_t;
        s.body_in[1] = &cond_t;
        for (int i = 0; i < n_carried; i++) s.body_in[2 + i] = &s.cur[i];
        memset(s.res, 0, (size_t)n_res * sizeof *s.res);
        st = k->run_graph(k, body, s.body_in, 2 + n_carried, s.res, n_res);
        if (st) goto done;
        bool next;
        st = read_flag(k, &s.res[0], "the body's condition output", &next);
        /* The body's condition counts unless only a trip count was given;
         * with neither input it ends the loop too, rather than hanging. */
        if (st == FWD_OK && (has_cond || !has_m)) cond = next;
        k->free_tensor(k, &s.res[0]);
        for (int i = 0; i < n_carried; i++) {
            if (s.owned[i]) k->free_tensor(k, &s.cur[i]);
            s.cur[i] = s.res[1 + i];
            s.owned[i] = true;
        }
        for (int j = 0; j < n_scan; j++) {
            ir_tensor *e = &s.res[1 + n_carried + j];
            if (st == FWD_OK) st = accum_push(k, &s.acc[j], e, j);
            k->free_tensor(k, e);
        }
        if (st) goto done;
    }
    for (int i = 0; i < n_carried && st == FWD_OK; i++) st = ctl_emit_output(k, i, &s.cur[i]);
    for (int j = 0; j < n_scan && st == FWD_OK; j++)
        st = accum_emit(k, n_carried + j, &s.acc[j],
                        &body->values[body->outputs[1 + n_carried + j]]);
done:
    loop_state_free(k, &s);
    return st;
}

const cpu_kernel_entry cpu_kernels_control[] = {
    {"If", run_if},
    {"Loop", run_loop},
    {"Scan", ctl_run_scan},
    {NULL, NULL},
};

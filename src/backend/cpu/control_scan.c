/*
 * The Scan kernel.
 *
 * Scan-9+: inputs (states..., scan_inputs...), each scan input iterated
 * along its scan_input_axes entry (forward or reverse), the body's scan
 * outputs stacked along scan_output_axes (appended or prepended).
 * Scan-8: a leading optional sequence_lens input and a batch axis 0 on
 * every input and output; each batch row runs as its own scan over axis 1
 * of the scan inputs, for sequence_lens[b] steps (outputs padded with 0).
 */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/control_internal.h"
#include "backend/cpu/cpu_util.h"

typedef struct scan_ctx {
    fwd_kernel_ctx *k;
    const ir_graph *body;
    bool v8;
    int n_state, n_in, n_out; /* scan inputs, scan outputs */
    int64_t seq;              /* full sequence length */
    int64_t batch, b;         /* Scan-8: batch size and current row */
    int *in_axis, *in_rev, *out_axis, *out_rev;
    ir_tensor *cur;           /* states */
    bool *owned;              /* cur[i] came from run_graph */
    ir_tensor *res;           /* one iteration's body outputs */
    const ir_tensor **body_in;
    ir_tensor *slice;         /* scan input elements of one iteration */
    uint8_t **gather;         /* per scan input: buffer for a strided slice */
    bool *started;            /* per scan output: allocated */
    ir_shape *elem;           /* per scan output: element shape */
} scan_ctx;

static fwd_status scan_oom(const scan_ctx *s)
{
    return cpu_kernel_error(s->k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
}

/* Sizes around `axis` of shape sh: elements before it, bytes after it. */
static void split_at(const ir_shape *sh, int axis, size_t esz, int64_t *outer, size_t *inner)
{
    int64_t o = 1, in = 1;
    for (int d = 0; d < axis; d++) o *= sh->dims[d];
    for (int d = axis + 1; d < sh->rank; d++) in *= sh->dims[d];
    *outer = o;
    *inner = (size_t)in * esz;
}

/* s->slice[j] = element pos of scan input src along axis. */
static void take_slice(scan_ctx *s, int j, const ir_tensor *src, int axis, int64_t pos)
{
    size_t esz = fwd_dtype_size(src->dtype);
    int64_t outer;
    size_t inner;
    split_at(&src->shape, axis, esz, &outer, &inner);
    int64_t len = src->shape.dims[axis];
    ir_tensor *v = &s->slice[j];
    v->dtype = src->dtype;
    v->shape.rank = src->shape.rank - 1;
    for (int d = 0, o = 0; d < src->shape.rank; d++)
        if (d != axis) v->shape.dims[o++] = src->shape.dims[d];
    v->nbytes = (size_t)outer * inner;
    const uint8_t *base = src->data;
    if (outer == 1) {
        v->data = (void *)(base + (size_t)pos * inner);
        return;
    }
    uint8_t *dst = s->gather[j];
    for (int64_t o = 0; o < outer; o++)
        memcpy(dst + (size_t)o * inner, base + ((size_t)o * (size_t)len + (size_t)pos) * inner,
               inner);
    v->data = dst;
}

/* Shape of scan output o for element shape e. */
static ir_shape scan_out_shape(const scan_ctx *s, int o, const ir_shape *e)
{
    ir_shape sh = {.rank = e->rank + (s->v8 ? 2 : 1)};
    if (s->v8) {
        sh.dims[0] = s->batch;
        sh.dims[1] = s->seq;
        for (int d = 0; d < e->rank; d++) sh.dims[d + 2] = e->dims[d];
        return sh;
    }
    for (int d = 0, i = 0; d < sh.rank; d++) sh.dims[d] = d == s->out_axis[o] ? s->seq : e->dims[i++];
    return sh;
}

static fwd_status start_output(scan_ctx *s, int o, fwd_dtype dt, const ir_shape *e)
{
    int idx = s->n_state + o;
    if (e->rank + (s->v8 ? 2 : 1) > IR_MAX_RANK)
        return cpu_kernel_error(s->k, FWD_ERR_UNSUPPORTED, "scan output %d: rank too high", o);
    if (!s->v8 && (s->out_axis[o] < 0 || s->out_axis[o] > e->rank))
        return cpu_kernel_error(s->k, FWD_ERR_INVALID_MODEL, "scan_output_axes entry %d out of "
                                "range for an element of rank %d", s->out_axis[o], e->rank);
    ir_shape sh = scan_out_shape(s, o, e);
    FWD_TRY(fwd_kernel_alloc_output(s->k, idx, dt, &sh));
    ir_tensor *t = s->k->out[idx];
    memset(t->data, 0, ctl_tensor_bytes(t)); /* Scan-8 padding */
    s->started[o] = true;
    s->elem[o] = *e;
    return FWD_OK;
}

/* Store element e of scan output o produced at iteration t of n_iter. */
static fwd_status store_elem(scan_ctx *s, int o, int64_t t, int64_t n_iter, const ir_tensor *e)
{
    int idx = s->n_state + o;
    if (idx >= s->k->n_out || !s->k->out[idx]) return FWD_OK;
    if (!s->started[o]) FWD_TRY(start_output(s, o, e->dtype, &e->shape));
    ir_tensor *out = s->k->out[idx];
    if (e->dtype != out->dtype || !ir_shape_equal(&e->shape, &s->elem[o]))
        return cpu_kernel_error(s->k, FWD_ERR_SHAPE, "scan output %d changes shape or dtype "
                                "between iterations", o);
    int64_t p = s->out_rev[o] ? n_iter - 1 - t : t;
    size_t eb = ctl_tensor_bytes(e);
    uint8_t *dst = out->data;
    if (s->v8) {
        if (eb) memcpy(dst + ((size_t)s->b * (size_t)s->seq + (size_t)p) * eb, e->data, eb);
        return FWD_OK;
    }
    int a = s->out_axis[o];
    int64_t outer;
    size_t inner;
    ir_shape full = scan_out_shape(s, o, &e->shape);
    split_at(&full, a, fwd_dtype_size(e->dtype), &outer, &inner);
    for (int64_t i = 0; i < outer; i++)
        if (inner)
            memcpy(dst + ((size_t)i * (size_t)s->seq + (size_t)p) * inner,
                   (const uint8_t *)e->data + (size_t)i * inner, inner);
    return FWD_OK;
}

/* Run the body n_iter times over scan inputs src (axes s->in_axis, or 0
 * for Scan-8 rows), updating s->cur. */
static fwd_status scan_sequence(scan_ctx *s, const ir_tensor *const *src, int64_t n_iter)
{
    int n_res = s->n_state + s->n_out;
    for (int64_t t = 0; t < n_iter; t++) {
        for (int j = 0; j < s->n_in; j++) {
            int64_t pos = s->in_rev[j] ? n_iter - 1 - t : t;
            take_slice(s, j, src[j], s->v8 ? 0 : s->in_axis[j], pos);
            s->body_in[s->n_state + j] = &s->slice[j];
        }
        for (int i = 0; i < s->n_state; i++) s->body_in[i] = &s->cur[i];
        memset(s->res, 0, (size_t)n_res * sizeof *s->res);
        FWD_TRY(s->k->run_graph(s->k, s->body, s->body_in, s->n_state + s->n_in, s->res, n_res));
        for (int i = 0; i < s->n_state; i++) {
            if (s->owned[i]) s->k->free_tensor(s->k, &s->cur[i]);
            s->cur[i] = s->res[i];
            s->owned[i] = true;
        }
        fwd_status st = FWD_OK;
        for (int o = 0; o < s->n_out; o++) {
            if (st == FWD_OK) st = store_elem(s, o, t, n_iter, &s->res[s->n_state + o]);
            s->k->free_tensor(s->k, &s->res[s->n_state + o]);
        }
        FWD_TRY(st);
    }
    return FWD_OK;
}

static void release_states(scan_ctx *s)
{
    for (int i = 0; i < s->n_state; i++) {
        if (s->owned[i]) s->k->free_tensor(s->k, &s->cur[i]);
        s->owned[i] = false;
    }
}

/* Scan outputs never started (no iterations): the body's static element
 * shape with unknown dims as 0. */
static fwd_status finish_outputs(scan_ctx *s)
{
    for (int o = 0; o < s->n_out; o++) {
        int idx = s->n_state + o;
        if (s->started[o] || idx >= s->k->n_out || !s->k->out[idx]) continue;
        const ir_tensor *decl = &s->body->values[s->body->outputs[idx]].t;
        ir_shape e = decl->shape;
        if (e.rank < 0) e.rank = 0;
        for (int d = 0; d < e.rank; d++)
            if (!ir_dim_known(e.dims[d])) e.dims[d] = 0;
        fwd_dtype dt = decl->dtype != FWD_DTYPE_UNDEFINED ? decl->dtype : FWD_FLOAT32;
        FWD_TRY(start_output(s, o, dt, &e));
    }
    return FWD_OK;
}

/* Reads an ints attribute into out[n] (default dflt), normalising axes
 * against ranks[i] when ranks is given. */
static fwd_status ints_attr(scan_ctx *s, const char *name, int n, int dflt, const int *ranks,
                            int *out)
{
    int cnt = 0;
    const int64_t *v = ir_attr_ints(s->k->node, name, &cnt);
    if (v && cnt != n)
        return cpu_kernel_error(s->k, FWD_ERR_INVALID_MODEL, "%s has %d entries, expected %d",
                                name, cnt, n);
    for (int i = 0; i < n; i++) {
        int64_t x = v ? v[i] : dflt;
        if (ranks) {
            if (x < -ranks[i] || x >= ranks[i])
                return cpu_kernel_error(s->k, FWD_ERR_INVALID_MODEL, "%s[%d] = %lld out of range "
                                        "for rank %d", name, i, (long long)x, ranks[i]);
            if (x < 0) x += ranks[i];
        } else if (x != 0 && x != 1) {
            return cpu_kernel_error(s->k, FWD_ERR_INVALID_MODEL, "%s[%d] must be 0 or 1", name, i);
        }
        out[i] = (int)x;
    }
    return FWD_OK;
}

static fwd_status scan_v9(scan_ctx *s)
{
    fwd_kernel_ctx *k = s->k;
    const ir_tensor *const *src = k->in + s->n_state;
    int ranks[64];
    for (int j = 0; j < s->n_in; j++) ranks[j] = src[j]->shape.rank;
    FWD_TRY(ints_attr(s, "scan_input_axes", s->n_in, 0, ranks, s->in_axis));
    FWD_TRY(ints_attr(s, "scan_input_directions", s->n_in, 0, NULL, s->in_rev));
    FWD_TRY(ints_attr(s, "scan_output_directions", s->n_out, 0, NULL, s->out_rev));
    int cnt = 0;
    const int64_t *oa = ir_attr_ints(k->node, "scan_output_axes", &cnt);
    if (oa && cnt != s->n_out)
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "scan_output_axes has %d entries, "
                                "expected %d", cnt, s->n_out);
    for (int o = 0; o < s->n_out; o++) s->out_axis[o] = oa ? (int)oa[o] : 0;
    /* negative output axes count from the output's rank: element rank + 1 */
    for (int o = 0; o < s->n_out; o++) {
        if (s->out_axis[o] >= 0) continue;
        const ir_tensor *decl = &s->body->values[s->body->outputs[s->n_state + o]].t;
        if (decl->shape.rank < 0)
            return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "negative scan_output_axes need the "
                                    "body output's rank");
        s->out_axis[o] += decl->shape.rank + 1;
    }
    for (int j = 0; j < s->n_in; j++) {
        int64_t len = src[j]->shape.dims[s->in_axis[j]];
        if (j == 0) s->seq = len;
        if (len != s->seq)
            return cpu_kernel_error(k, FWD_ERR_SHAPE, "scan inputs have different sequence "
                                    "lengths (%lld and %lld)", (long long)s->seq, (long long)len);
        if (src[j]->shape.rank < 1)
            return cpu_kernel_error(k, FWD_ERR_SHAPE, "scan input %d is a scalar", j);
    }
    for (int j = 0; j < s->n_in; j++) {
        int64_t outer;
        size_t inner;
        split_at(&src[j]->shape, s->in_axis[j], fwd_dtype_size(src[j]->dtype), &outer, &inner);
        if (outer > 1 && !(s->gather[j] = malloc((size_t)outer * inner + 1))) return scan_oom(s);
    }
    for (int i = 0; i < s->n_state; i++) s->cur[i] = *k->in[i];
    FWD_TRY(scan_sequence(s, src, s->seq));
    for (int i = 0; i < s->n_state; i++) FWD_TRY(ctl_emit_output(k, i, &s->cur[i]));
    return finish_outputs(s);
}

/* Row b of a batched tensor as a view. */
static ir_tensor batch_row(const ir_tensor *t, int64_t b)
{
    ir_tensor v = {.dtype = t->dtype, .shape = {.rank = t->shape.rank - 1}};
    for (int d = 1; d < t->shape.rank; d++) v.shape.dims[d - 1] = t->shape.dims[d];
    v.nbytes = ctl_tensor_bytes(&v);
    v.data = (uint8_t *)t->data + (size_t)b * v.nbytes;
    return v;
}

static fwd_status scan_v8(scan_ctx *s)
{
    fwd_kernel_ctx *k = s->k;
    const ir_tensor *lens = k->in[0];
    const ir_tensor *const *states = k->in + 1, *const *src = k->in + 1 + s->n_state;
    FWD_TRY(ints_attr(s, "directions", s->n_in, 0, NULL, s->in_rev));
    for (int o = 0; o < s->n_out; o++) s->out_rev[o] = 0;
    for (int j = 0; j < s->n_in; j++) {
        if (src[j]->shape.rank < 2)
            return cpu_kernel_error(k, FWD_ERR_SHAPE, "scan input %d needs [batch, sequence, "
                                    "...]", j);
        if (j == 0) {
            s->batch = src[j]->shape.dims[0];
            s->seq = src[j]->shape.dims[1];
        }
        if (src[j]->shape.dims[0] != s->batch || src[j]->shape.dims[1] != s->seq)
            return cpu_kernel_error(k, FWD_ERR_SHAPE, "scan inputs differ in batch or sequence "
                                    "length");
    }
    for (int i = 0; i < s->n_state; i++)
        if (states[i]->shape.rank < 1 || states[i]->shape.dims[0] != s->batch)
            return cpu_kernel_error(k, FWD_ERR_SHAPE, "state %d needs a batch axis of %lld", i,
                                    (long long)s->batch);
    if (lens && ((lens->dtype != FWD_INT32 && lens->dtype != FWD_INT64) ||
                 (int64_t)ir_tensor_numel(lens) != s->batch))
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "sequence_lens must be int32 [batch]");
    ir_tensor rows[64];
    const ir_tensor *row_ptr[64];
    for (s->b = 0; s->b < s->batch; s->b++) {
        int64_t n = lens ? cpu_get_index(lens, s->b) : s->seq;
        if (n < 0 || n > s->seq)
            return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "sequence_lens[%lld] = %lld out of "
                                    "range [0, %lld]", (long long)s->b, (long long)n,
                                    (long long)s->seq);
        for (int j = 0; j < s->n_in; j++) {
            rows[j] = batch_row(src[j], s->b);
            row_ptr[j] = &rows[j];
        }
        for (int i = 0; i < s->n_state; i++) s->cur[i] = batch_row(states[i], s->b);
        fwd_status st = scan_sequence(s, row_ptr, n);
        for (int i = 0; i < s->n_state && st == FWD_OK; i++) {
            ir_tensor *out = i < k->n_out ? k->out[i] : NULL;
            if (!out) continue;
            const ir_tensor *c = &s->cur[i];
            if (c->shape.rank + 1 > IR_MAX_RANK) {
                st = cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "state %d: rank too high", i);
                break;
            }
            ir_shape sh = {.rank = c->shape.rank + 1, .dims = {s->batch}};
            for (int d = 0; d < c->shape.rank; d++) sh.dims[d + 1] = c->shape.dims[d];
            if (s->b == 0) st = fwd_kernel_alloc_output(k, i, c->dtype, &sh);
            if (st == FWD_OK && (out->dtype != c->dtype || !ir_shape_equal(&out->shape, &sh)))
                st = cpu_kernel_error(k, FWD_ERR_SHAPE, "state %d differs in shape between "
                                      "batch rows", i);
            size_t eb = ctl_tensor_bytes(c);
            if (st == FWD_OK && eb) memcpy((uint8_t *)out->data + (size_t)s->b * eb, c->data, eb);
        }
        release_states(s);
        FWD_TRY(st);
    }
    if (s->batch == 0)
        for (int i = 0; i < s->n_state; i++)
            if (i < k->n_out && k->out[i]) FWD_TRY(ctl_emit_output(k, i, states[i]));
    return finish_outputs(s);
}

fwd_status ctl_run_scan(fwd_kernel_ctx *k)
{
    scan_ctx s = {.k = k, .body = ctl_graph_attr(k, "body")};
    s.v8 = k->node->opset > 0 && k->node->opset < 9;
    int first = s.v8 ? 1 : 0;
    int n_body_in = k->n_in - first;
    int64_t m = ir_attr_int(k->node, "num_scan_inputs", -1);
    if (!s.body || m < 1 || m > n_body_in || s.body->n_inputs != n_body_in ||
        s.body->n_outputs != k->n_out || k->n_out < n_body_in - m)
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "body graph, num_scan_inputs and the "
                                "node's inputs/outputs do not match");
    s.n_in = (int)m;
    s.n_state = n_body_in - s.n_in;
    s.n_out = k->n_out - s.n_state;
    if (s.n_in > 64 || k->n_in > 128)
        return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "too many scan inputs");
    for (int i = first; i < k->n_in; i++)
        if (!k->in[i] || fwd_dtype_size(k->in[i]->dtype) == 0)
            return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "input %d is absent or of an "
                                    "unsupported dtype", i);
    int nn = s.n_in + s.n_out + 1;
    s.in_axis = calloc((size_t)nn, sizeof(int));
    s.in_rev = calloc((size_t)nn, sizeof(int));
    s.out_axis = calloc((size_t)nn, sizeof(int));
    s.out_rev = calloc((size_t)nn, sizeof(int));
    s.cur = calloc((size_t)s.n_state + 1, sizeof *s.cur);
    s.owned = calloc((size_t)s.n_state + 1, sizeof *s.owned);
    s.res = calloc((size_t)k->n_out + 1, sizeof *s.res);
    s.body_in = calloc((size_t)n_body_in + 1, sizeof *s.body_in);
    s.slice = calloc((size_t)s.n_in + 1, sizeof *s.slice);
    s.gather = calloc((size_t)s.n_in + 1, sizeof *s.gather);
    s.started = calloc((size_t)s.n_out + 1, sizeof *s.started);
    s.elem = calloc((size_t)s.n_out + 1, sizeof *s.elem);
    fwd_status st;
    if (!s.in_axis || !s.in_rev || !s.out_axis || !s.out_rev || !s.cur || !s.owned || !s.res ||
        !s.body_in || !s.slice || !s.gather || !s.started || !s.elem)
        st = scan_oom(&s);
    else
        st = s.v8 ? scan_v8(&s) : scan_v9(&s);
    if (s.owned) release_states(&s);
    if (s.gather)
        for (int j = 0; j < s.n_in; j++) free(s.gather[j]);
    free(s.in_axis);
    free(s.in_rev);
    free(s.out_axis);
    free(s.out_rev);
    free(s.cur);
    free(s.owned);
    free(s.res);
    free(s.body_in);
    free(s.slice);
    free(s.gather);
    free(s.started);
    free(s.elem);
    return st;
}

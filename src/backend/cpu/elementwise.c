/* CPU kernels for the elementwise op family: the kernel table and the
 * broadcast driver shared by all of them (see elementwise_internal.h). */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_util.h"
#include "backend/cpu/elementwise_internal.h"
#include "backend/cpu/elementwise_convert.h"
#include "ir/op_schema.h"
#include "util/threadpool.h"

const cpu_kernel_entry cpu_kernels_elementwise[] = {
    /* unary math and activations */
    {"Abs", elt_k_unary},
    {"Neg", elt_k_unary},
    {"Reciprocal", elt_k_unary},
    {"Sqrt", elt_k_unary},
    {"Exp", elt_k_unary},
    {"Log", elt_k_unary},
    {"Ceil", elt_k_unary},
    {"Floor", elt_k_unary},
    {"Round", elt_k_unary},
    {"Sign", elt_k_unary},
    {"Erf", elt_k_unary},
    {"Sin", elt_k_unary},
    {"Cos", elt_k_unary},
    {"Tan", elt_k_unary},
    {"Asin", elt_k_unary},
    {"Acos", elt_k_unary},
    {"Atan", elt_k_unary},
    {"Sinh", elt_k_unary},
    {"Cosh", elt_k_unary},
    {"Asinh", elt_k_unary},
    {"Acosh", elt_k_unary},
    {"Atanh", elt_k_unary},
    {"Tanh", elt_k_unary},
    {"Sigmoid", elt_k_unary},
    {"Not", elt_k_unary},
    {"IsNaN", elt_k_unary},
    {"IsInf", elt_k_unary},
    {"Relu", elt_k_unary},
    {"LeakyRelu", elt_k_unary},
    {"Elu", elt_k_unary},
    {"Selu", elt_k_unary},
    {"Celu", elt_k_unary},
    {"HardSigmoid", elt_k_unary},
    {"HardSwish", elt_k_unary},
    {"Softplus", elt_k_unary},
    {"Softsign", elt_k_unary},
    {"ThresholdedRelu", elt_k_unary},
    {"Shrink", elt_k_unary},
    /* binary with broadcasting */
    {"Add", elt_k_binary},
    {"Sub", elt_k_binary},
    {"Mul", elt_k_binary},
    {"Div", elt_k_binary},
    {"Mod", elt_k_binary},
    {"BitShift", elt_k_binary},
    {"And", elt_k_binary},
    {"Or", elt_k_binary},
    {"Xor", elt_k_binary},
    {"Equal", elt_k_binary},
    {"Less", elt_k_binary},
    {"Greater", elt_k_binary},
    {"LessOrEqual", elt_k_binary},
    {"GreaterOrEqual", elt_k_binary},
    {"Pow", elt_k_pow},
    {"PRelu", elt_k_prelu},
    /* variadic, selection, conversion */
    {"Sum", elt_k_variadic},
    {"Mean", elt_k_variadic},
    {"Max", elt_k_variadic},
    {"Min", elt_k_variadic},
    {"Where", elt_k_where},
    {"Clip", elt_k_clip},
    {"Cast", elt_k_cast},
    {"CastLike", elt_k_castlike},
    {"Identity", elt_k_identity},
    {"Dropout", elt_k_dropout},
    {NULL, NULL},
};

bool elt_is_half(fwd_dtype t) { return t == FWD_FLOAT16 || t == FWD_BFLOAT16; }

fwd_status elt_prepare_out(fwd_kernel_ctx *k, int index, fwd_dtype dtype,
                           const ir_shape *shape, ir_tensor **out)
{
    ir_tensor *t = elt_out(k, index);
    *out = t;
    if (!t) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "output %d is missing", index);
    if (!t->data) {
        FWD_TRY(fwd_kernel_alloc_output(k, index, dtype, shape));
        t = elt_out(k, index);
        *out = t;
        if (!t || (!t->data && ir_shape_numel(shape) != 0))
            return cpu_kernel_error(k, FWD_ERR_INTERNAL, "output %d was not allocated", index);
        return FWD_OK;
    }
    if (t->dtype != dtype || !ir_shape_equal(&t->shape, shape))
        return cpu_kernel_error(k, FWD_ERR_INTERNAL,
                                "output %d was allocated as %s of another shape than computed",
                                index, fwd_dtype_name(t->dtype));
    return FWD_OK;
}

fwd_status elt_broadcast_shape(const fwd_kernel_ctx *k, const ir_tensor *const *in, int n_in,
                               ir_shape *out)
{
    *out = in[0]->shape;
    for (int i = 1; i < n_in; i++) {
        ir_shape r;
        if (ir_broadcast_shapes(out, &in[i]->shape, &r) != FWD_OK) {
            char a[128], b[128];
            return cpu_kernel_error(k, FWD_ERR_SHAPE, "cannot broadcast input shapes %s and %s",
                                    ir_shape_str(out, NULL, a, sizeof a),
                                    ir_shape_str(&in[i]->shape, NULL, b, sizeof b));
        }
        *out = r;
    }
    return FWD_OK;
}

/* ---- the broadcast driver ---- */

typedef struct elt_plan {
    int rank; /* >= 1 after collapsing */
    int n_in;
    int64_t dims[IR_MAX_RANK];
    int64_t str[ELT_MAX_IN][IR_MAX_RANK]; /* element strides, 0 on broadcast dims */
    const char *in_base[ELT_MAX_IN];
    size_t in_size[ELT_MAX_IN];
    char *out_base;
    size_t out_size;
    elt_loop_fn fn;
    elt_loop_ctx ctx;
} elt_plan;

/* Process flat output elements [begin, end): one division to find the
 * starting row, then an odometer over the outer dims. */
static void elt_task(void *arg, int64_t begin, int64_t end)
{
    const elt_plan *p = arg;
    const int R = p->rank, n_in = p->n_in;
    const int64_t inner = p->dims[R - 1];
    int64_t row = begin / inner, col = begin - (begin / inner) * inner;
    int64_t idx[IR_MAX_RANK] = {0}, off[ELT_MAX_IN] = {0};
    for (int d = R - 2; d >= 0; d--) {
        idx[d] = row % p->dims[d];
        row /= p->dims[d];
        for (int k = 0; k < n_in; k++) off[k] += idx[d] * p->str[k][d];
    }
    const void *ins[ELT_MAX_IN] = {NULL};
    for (int64_t pos = begin; pos < end;) {
        int64_t n = inner - col;
        if (n > end - pos) n = end - pos;
        for (int k = 0; k < n_in; k++)
            ins[k] = p->in_base[k] + (size_t)(off[k] + col * p->str[k][R - 1]) * p->in_size[k];
        p->fn(&p->ctx, p->out_base + (size_t)pos * p->out_size, ins, n);
        pos += n;
        col = 0;
        for (int d = R - 2; d >= 0; d--) {
            for (int k = 0; k < n_in; k++) off[k] += p->str[k][d];
            if (++idx[d] < p->dims[d]) break;
            for (int k = 0; k < n_in; k++) off[k] -= p->str[k][d] * p->dims[d];
            idx[d] = 0;
        }
    }
}

fwd_status elt_run(const fwd_kernel_ctx *k, ir_tensor *out, const ir_tensor *const *in,
                   int n_in, elt_loop_fn fn, const elt_loop_ctx *ctx, int64_t grain)
{
    elt_plan p;
    memset(&p, 0, sizeof p);
    p.ctx = *ctx;
    p.ctx.n_in = n_in;
    p.n_in = n_in;
    p.fn = fn;
    const ir_shape *os = &out->shape;
    if (os->rank < 0 || os->rank > IR_MAX_RANK)
        return cpu_kernel_error(k, FWD_ERR_INTERNAL, "output rank %d is not known", os->rank);
    int64_t full[ELT_MAX_IN][IR_MAX_RANK];
    for (int i = 0; i < n_in; i++) {
        const ir_shape *s = &in[i]->shape;
        if (s->rank < 0 || s->rank > os->rank)
            return cpu_kernel_error(k, FWD_ERR_SHAPE, "input %d of rank %d does not broadcast to rank %d",
                                    i, s->rank, os->rank);
        for (int d = 0; d < s->rank; d++) {
            int64_t od = os->dims[d + os->rank - s->rank];
            if (s->dims[d] != od && s->dims[d] != 1) {
                char a[128], b[128];
                return cpu_kernel_error(k, FWD_ERR_SHAPE, "input %d of shape %s does not broadcast to %s",
                                        i, ir_shape_str(s, NULL, a, sizeof a),
                                        ir_shape_str(os, NULL, b, sizeof b));
            }
        }
        cpu_broadcast_strides(s, os, full[i]);
        p.in_base[i] = in[i]->data;
        p.in_size[i] = fwd_dtype_size(in[i]->dtype);
    }
    p.out_base = out->data;
    p.out_size = fwd_dtype_size(out->dtype);

    /* Drop size-1 dims, then merge neighbours that are contiguous for every
     * operand (stride[outer] == stride[inner] * dim[inner]). */
    int64_t total = 1;
    int R = 0;
    for (int d = 0; d < os->rank; d++) {
        int64_t dim = os->dims[d];
        total *= dim;
        if (dim == 1) continue;
        bool merge = R > 0;
        for (int i = 0; merge && i < n_in; i++)
            if (p.str[i][R - 1] != full[i][d] * dim) merge = false;
        if (merge) {
            p.dims[R - 1] *= dim;
            for (int i = 0; i < n_in; i++) p.str[i][R - 1] = full[i][d];
        } else {
            p.dims[R] = dim;
            for (int i = 0; i < n_in; i++) p.str[i][R] = full[i][d];
            R++;
        }
    }
    if (total == 0) return FWD_OK;
    if (R == 0) {
        R = 1;
        p.dims[0] = 1;
    }
    p.rank = R;
    for (int i = 0; i < n_in; i++) p.ctx.scalar[i] = p.str[i][R - 1] == 0;
    if (total <= grain)
        elt_task(&p, 0, total);
    else
        fwd_parallel_for(total, grain, elt_task, &p);
    return FWD_OK;
}

/* ---- float16 / bfloat16 through float32 ---- */

#define ELT_HALF_BLOCK 256

void elt_loop_half(const elt_loop_ctx *c, void *out, const void *const *in, int64_t n)
{
    float buf[ELT_MAX_IN][ELT_HALF_BLOCK];
    float obuf[ELT_HALF_BLOCK];
    const bool out_half = elt_is_half(c->out_dtype);
    const size_t osz = fwd_dtype_size(c->out_dtype);
    for (int64_t s = 0; s < n; s += ELT_HALF_BLOCK) {
        int64_t m = n - s < ELT_HALF_BLOCK ? n - s : ELT_HALF_BLOCK;
        const void *ip[ELT_MAX_IN] = {NULL};
        for (int k = 0; k < c->n_in; k++) {
            fwd_dtype dt = c->in_dtype[k];
            int64_t first = c->scalar[k] ? 0 : s;
            if (elt_is_half(dt)) {
                const uint16_t *src = (const uint16_t *)in[k] + first;
                elt_half_to_f32(dt, src, buf[k], c->scalar[k] ? 1 : m);
                ip[k] = buf[k];
            } else {
                ip[k] = (const char *)in[k] + (size_t)first * fwd_dtype_size(dt);
            }
        }
        void *op = out_half ? (void *)obuf : (void *)((char *)out + (size_t)s * osz);
        c->inner(c, op, ip, m);
        if (out_half) elt_f32_to_half(c->out_dtype, obuf, (uint16_t *)out + s, m);
    }
}

/* ---- rare dtypes through float64 ---- */

void elt_loop_f64(const elt_loop_ctx *c, void *out, const void *const *in, int64_t n)
{
    double buf[ELT_MAX_IN][ELT_HALF_BLOCK];
    double obuf[ELT_HALF_BLOCK];
    const bool out_bool = c->out_dtype == FWD_BOOL;
    for (int64_t s = 0; s < n; s += ELT_HALF_BLOCK) {
        int64_t m = n - s < ELT_HALF_BLOCK ? n - s : ELT_HALF_BLOCK;
        const void *ip[ELT_MAX_IN] = {NULL};
        for (int k = 0; k < c->n_in; k++) {
            int64_t first = c->scalar[k] ? 0 : s, cnt = c->scalar[k] ? 1 : m;
            for (int64_t j = 0; j < cnt; j++) buf[k][j] = cpu_get_f64(c->in_dtype[k], in[k], first + j);
            ip[k] = buf[k];
        }
        if (out_bool) {
            c->inner(c, (uint8_t *)out + s, ip, m);
        } else {
            c->inner(c, obuf, ip, m);
            for (int64_t j = 0; j < m; j++) cpu_set_f64(c->out_dtype, out, s + j, obuf[j]);
        }
    }
}

/*
 * CPU kernels for FusedConv and FusedMatMul (see ir/fused_ops.h): the
 * bias, the addend C, the residual Z and the activation are applied in
 * the GEMM epilogue (sgemm.h), tile by tile while the tile is in L1; a
 * FusedMatMul's LayerNormalization runs on whole rows right after the
 * thread that computed them finished them (nn_gemm_args.rows_done).
 * float32 natively; float16, bfloat16 and float64 through float32 copies.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_prepack.h"
#include "backend/cpu/nn_internal.h"

/* Reads "activation", "activation_alpha" and "activation_beta". */
static fwd_status read_activation(const fwd_kernel_ctx *k, nn_act_kind *act, float *a, float *b)
{
    const char *name = ir_attr_string(k->node, "activation", "");
    if (!nn_act_parse(name, act))
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "unknown activation '%s'", name);
    float da = *act == NN_ACT_CLIP ? -INFINITY : *act == NN_ACT_LEAKY ? 0.01f : 0.0f;
    float db = *act == NN_ACT_CLIP ? INFINITY : 0.0f;
    *a = ir_attr_float(k->node, "activation_alpha", da);
    *b = ir_attr_float(k->node, "activation_beta", db);
    return FWD_OK;
}

/* The epilogue writes each output tile before it reads the addend at the
 * same place, so an addend sharing memory with the output (an in-place
 * plan) is copied first. *copy receives the copy to free, or NULL. */
static fwd_status unalias(const fwd_kernel_ctx *k, const ir_tensor *t, const ir_tensor *y,
                          const float **data, float **copy)
{
    *copy = NULL;
    *data = t ? t->data : NULL;
    if (!t || !t->data || !y->data) return FWD_OK;
    const char *tb = t->data, *yb = y->data;
    size_t tn = ir_tensor_numel(t) * sizeof(float), yn = ir_tensor_numel(y) * sizeof(float);
    if (tb + tn <= yb || yb + yn <= tb) return FWD_OK;
    *copy = malloc(tn ? tn : 1);
    if (!*copy) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    memcpy(*copy, t->data, tn);
    *data = *copy;
    return FWD_OK;
}

/* Whether nn_conv_f32's GEMM reads each element of a residual that is Y
 * itself before writing it: a pointwise conv of one group whose depth
 * fits one k slice (cpu_inplace.c plans exactly those in place). */
static bool writes_over_z_safely(const nn_conv_shape *s, const nn_conv_fuse *f)
{
    if (s->group != 1 || f->wtp || s->g.k_size != 1 || s->cg > NN_GEMM_KC) return false;
    for (int i = 0; i < s->w.nsp; i++)
        if (s->w.stride[i] != 1 || s->w.pad_begin[i] != 0 || s->w.pad_end[i] != 0) return false;
    return true;
}

/* A FusedConv whose weight the builder transformed for Winograd
 * (CPU_WINOGRAD_ATTR). Falls back to the GEMM path on the recovered
 * weight when the run's geometry does not qualify. */
static fwd_status fused_conv_winograd(fwd_kernel_ctx *k, nn_conv_fuse *f)
{
    const ir_tensor *bt = nn_in(k, 2), *ut = k->in[1];
    ir_tensor *y = k->out[0];
    int n = 0;
    const int64_t *dims = ir_attr_ints(k->node, CPU_W_SHAPE_ATTR, &n);
    int64_t mr = ir_attr_int(k->node, CPU_WINOGRAD_ATTR, 0);
    if (!dims || n != 4 || mr < 1 || ut->shape.rank != 3 || ut->shape.dims[0] != 16 ||
        ut->shape.dims[1] != dims[0] || ut->shape.dims[2] != dims[1] || dims[0] % mr != 0)
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "Winograd weight without a valid layout");
    ir_tensor logical = *ut;
    logical.shape.rank = 4;
    memcpy(logical.shape.dims, dims, sizeof(int64_t) * 4);
    nn_conv_shape s;
    FWD_TRY(nn_conv_prepare(k, k->in[0], &logical, bt, y, &s));
    int64_t m = dims[0], c = dims[1], per = m * c;
    const float *u = ut->data;
    float *tmp = NULL;
    fwd_status st = FWD_OK;
    bool packed = mr == nn_gemm_tile_rows();
    if (!packed || !nn_winograd_applies(&s)) {
        /* U row-major: unpack each position's matrix (packed for mr rows) */
        tmp = malloc(sizeof(float) * (size_t)(16 * per + 9 * per + 1));
        if (!tmp) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
        for (int xi = 0; xi < 16; xi++)
            for (int64_t i = 0; i < m; i++)
                for (int64_t p = 0; p < c; p++)
                    tmp[xi * per + i * c + p] = u[xi * per + (i / mr) * mr * c + p * mr + i % mr];
        u = tmp;
    }
    if (nn_winograd_applies(&s)) {
        st = nn_conv_winograd(k, &s, k->in[0]->data, u, packed, bt ? bt->data : NULL, f, y->data);
    } else {
        float *w = tmp + 16 * per;
        nn_winograd_unweights(tmp, m, c, w);
        st = nn_conv_f32(k, &s, k->in[0]->data, w, bt ? bt->data : NULL, f, y->data);
    }
    free(tmp);
    return st;
}

static fwd_status fused_conv_f32(fwd_kernel_ctx *k)
{
    FWD_TRY(nn_need_inputs(k, 2));
    const ir_tensor *bt = nn_in(k, 2), *zt = nn_in(k, 3), *wt = k->in[1];
    ir_tensor *y = k->out[0];
    nn_conv_fuse f = {NULL, NN_ACT_NONE, 0.0f, 0.0f, NULL, NULL};
    if (ir_node_attr(k->node, CPU_WINOGRAD_ATTR)) {
        FWD_TRY(read_activation(k, &f.act, &f.act_a, &f.act_b));
        if (zt && zt->data) {
            if (ir_tensor_numel(zt) != ir_tensor_numel(y) || zt->shape.rank != y->shape.rank)
                return cpu_kernel_error(k, FWD_ERR_SHAPE, "residual Z must have the output's shape");
            for (int i = 0; i < y->shape.rank; i++)
                if (zt->shape.dims[i] != y->shape.dims[i])
                    return cpu_kernel_error(k, FWD_ERR_SHAPE, "residual Z must have the output's shape");
        }
        float *zcopy;
        FWD_TRY(unalias(k, zt, y, &f.z, &zcopy));
        fwd_status st = fused_conv_winograd(k, &f);
        free(zcopy);
        return st;
    }
    nn_conv_shape s;
    FWD_TRY(nn_conv_prepare(k, k->in[0], wt, bt, y, &s));
    const float *wdata;
    float *unpacked;
    FWD_TRY(nn_conv_weight(k, &s, wt, &wdata, &f, &unpacked));
    fwd_status st = FWD_OK;
    st = read_activation(k, &f.act, &f.act_a, &f.act_b);
    if (st == FWD_OK && zt && zt->data) {
        bool same = zt->shape.rank == y->shape.rank;
        for (int i = 0; same && i < y->shape.rank; i++) same = zt->shape.dims[i] == y->shape.dims[i];
        if (!same) st = cpu_kernel_error(k, FWD_ERR_SHAPE, "residual Z must have the output's shape");
    }
    float *zcopy = NULL;
    if (st == FWD_OK && zt && zt->data && zt->data == y->data && writes_over_z_safely(&s, &f))
        f.z = zt->data; /* planned in place: Y is written over Z */
    else if (st == FWD_OK)
        st = unalias(k, zt, y, &f.z, &zcopy);
    if (st == FWD_OK)
        st = nn_conv_f32(k, &s, k->in[0]->data, wdata, bt ? bt->data : NULL, &f, y->data);
    free(zcopy);
    free(unpacked);
    return st;
}

/* Rows below which the product goes through nn_matmul_f32 (its GEMV path). */
#define RESIDUAL_MIN_ROWS 4

/* The LayerNormalization over Y's last axis that follows the product
 * when inputs 4 (scale) and 5 (bias, optional) are present (fused_ops.h). */
typedef struct ln_post {
    const float *scale, *bias;
    float eps;
    float *y;
    int64_t n; /* row length: Y's last dim */
} ln_post;

/* Rows [r0, r1) of Y normalised in place (also a fwd_parallel_for task). */
static void ln_rows(void *arg, int64_t r0, int64_t r1)
{
    const ln_post *p = arg;
    for (int64_t r = r0; r < r1; r++) {
        double mean, inv;
        float *row = p->y + r * p->n;
        cpu_layernorm_row_f32(row, row, p->n, p->scale, p->bias, p->eps, &mean, &inv);
    }
}

/* Reads the normalization's inputs into *ln; *on false when there is none. */
static fwd_status read_norm(const fwd_kernel_ctx *k, ir_tensor *y, ln_post *ln, bool *on)
{
    const ir_tensor *s = nn_in(k, 4), *b = nn_in(k, 5);
    bool has_b = b && b->data;
    *on = s && s->data;
    if (!*on) {
        if (has_b) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "LayerNormalization bias without a scale");
        return FWD_OK;
    }
    int64_t n = y->shape.rank > 0 ? y->shape.dims[y->shape.rank - 1] : 1;
    if ((int64_t)ir_tensor_numel(s) != n || (has_b && (int64_t)ir_tensor_numel(b) != n))
        return cpu_kernel_error(k, FWD_ERR_SHAPE,
                                "LayerNormalization scale and bias must hold %lld elements (Y's last dim), got %lld "
                                "and %lld",
                                (long long)n, (long long)ir_tensor_numel(s), has_b ? (long long)ir_tensor_numel(b) : 0LL);
    *ln = (ln_post){s->data, has_b ? b->data : NULL, ir_attr_float(k->node, "norm_epsilon", 1e-5f), y->data, n};
    return FWD_OK;
}

/* Y = act(alpha * A @ B + C + Z) as one GEMM with the addends in the
 * epilogue and the normalization (ln, or NULL) on each task's rows right
 * after they are computed, when A is dense and not transposed, B one
 * matrix (or packed) and C absent or a bias along the columns. z may be
 * NULL. False (nothing done) when the product does not have that form. */
static bool fused_gemm(const fwd_kernel_ctx *k, const ir_tensor *a, const ir_tensor *b, const nn_mm_fuse *f,
                       const float *z, ln_post *ln, ir_tensor *y, fwd_status *st)
{
    *st = FWD_OK;
    int ra = a->shape.rank;
    if (f->ta || f->tb || ra < 2 || b->shape.rank != 2) return false;
    int64_t K = b->shape.dims[0], N = b->shape.dims[1];
    if (a->shape.dims[ra - 1] != K || K == 0 || N == 0) return false;
    int64_t m = (int64_t)ir_tensor_numel(a) / K;
    if (m < RESIDUAL_MIN_ROWS || (int64_t)ir_tensor_numel(y) != m * N || y->shape.dims[y->shape.rank - 1] != N)
        return false;
    nn_epilogue e = nn_epilogue_plain();
    e.alpha = f->alpha;
    e.act = f->act;
    e.act_a = f->act_a;
    e.act_b = f->act_b;
    const ir_tensor *c = f->c;
    if (c && c->data) {
        int rc = c->shape.rank;
        for (int i = 0; i + 1 < rc; i++)
            if (c->shape.dims[i] != 1) return false;
        int64_t last = rc ? c->shape.dims[rc - 1] : 1;
        if (last != 1 && last != N) return false;
        e.add[0] = (nn_addend){c->data, 0, last == N ? 1 : 0};
    }
    if (z) e.add[1] = (nn_addend){z, N, 1};
    if (!nn_blas_fits(m, N, K)) return false;
    nn_gemm_args g = {m, N, K, a->data, K, false, f->bp ? NULL : b->data, N, false, f->bp, y->data, N, e, NULL,
                      ln ? ln_rows : NULL, ln};
    if (!nn_gemm(&g)) *st = cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    return true;
}

/* The product with the residual zt (Y's shape, or NULL) added before the
 * activation and the normalization ln (or NULL) after it. */
static fwd_status matmul_epilogues(fwd_kernel_ctx *k, const ir_tensor *b, nn_mm_fuse *f, const ir_tensor *zt,
                                   ln_post *ln, ir_tensor *y)
{
    const float *z = NULL;
    float *zcopy = NULL;
    if (zt) {
        if (zt->shape.rank != y->shape.rank)
            return cpu_kernel_error(k, FWD_ERR_SHAPE, "residual Z must have the output's shape");
        for (int i = 0; i < y->shape.rank; i++)
            if (zt->shape.dims[i] != y->shape.dims[i])
                return cpu_kernel_error(k, FWD_ERR_SHAPE, "residual Z must have the output's shape");
        FWD_TRY(unalias(k, zt, y, &z, &zcopy));
    }
    fwd_status st;
    if (!fused_gemm(k, k->in[0], b, f, z, ln, y, &st)) {
        /* any other form: the product (with the activation when there is
         * no Z), then Z and the activation, then the normalization */
        nn_act_kind act = f->act;
        if (z) f->act = NN_ACT_NONE;
        st = nn_matmul_f32(k, k->in[0], b, f, y);
        float *yd = y->data;
        size_t n = ir_tensor_numel(y);
        if (st == FWD_OK && z) {
            for (size_t i = 0; i < n; i++) yd[i] += z[i];
            nn_act_apply(act, f->act_a, f->act_b, yd, (int64_t)n);
        }
        if (st == FWD_OK && ln && ln->n > 0) {
            int64_t rows = (int64_t)n / ln->n, grain = ln->n >= 16384 ? 1 : 16384 / ln->n;
            fwd_parallel_for(rows, grain, ln_rows, ln);
        }
    }
    free(zcopy);
    return st;
}

static fwd_status fused_matmul_f32(fwd_kernel_ctx *k)
{
    FWD_TRY(nn_need_inputs(k, 2));
    const ir_tensor *ct = nn_in(k, 2), *zt = nn_in(k, 3);
    ir_tensor *y = k->out[0];
    nn_mm_fuse f = {ir_attr_int(k->node, "transA", 0) != 0, ir_attr_int(k->node, "transB", 0) != 0,
                    ir_attr_float(k->node, "alpha", 1.0f), NULL, NN_ACT_NONE, 0.0f, 0.0f, NULL};
    FWD_TRY(read_activation(k, &f.act, &f.act_a, &f.act_b));
    const ir_tensor *b = k->in[1];
    ir_tensor logical_b;
    int64_t packed_n = ir_attr_int(k->node, CPU_PACKED_N_ATTR, -1);
    if (packed_n >= 0) {
        /* B packed at build time: [ceil(N / 16), K, 16] holding a K x N matrix */
        const ir_shape *bs = &b->shape;
        if (f.tb || bs->rank != 3 || bs->dims[2] != NN_NR || packed_n < 1 ||
            bs->dims[0] != (packed_n + NN_NR - 1) / NN_NR)
            return cpu_kernel_error(k, FWD_ERR_SHAPE, "packed B of shape rank %d does not hold %lld columns",
                                    bs->rank, (long long)packed_n);
        logical_b = *b;
        logical_b.shape.rank = 2;
        logical_b.shape.dims[0] = bs->dims[1];
        logical_b.shape.dims[1] = packed_n;
        f.bp = b->data;
        b = &logical_b;
    }
    const float *cdata;
    float *ccopy;
    FWD_TRY(unalias(k, ct, y, &cdata, &ccopy));
    ir_tensor c2;
    if (ct && ct->data) {
        c2 = *ct;
        c2.data = (void *)cdata;
        f.c = &c2;
    }
    ln_post ln;
    bool norm = false;
    fwd_status st = read_norm(k, y, &ln, &norm);
    if (st == FWD_OK) {
        if ((zt && zt->data) || norm)
            st = matmul_epilogues(k, b, &f, zt && zt->data ? zt : NULL, norm ? &ln : NULL, y);
        else
            st = nn_matmul_f32(k, k->in[0], b, &f, y);
    }
    free(ccopy);
    return st;
}

/* Checks that every present input has X's dtype, then runs fn natively
 * (float32) or through float32 copies. */
static fwd_status run_float(fwd_kernel_ctx *k, cpu_kernel_fn fn)
{
    FWD_TRY(nn_need_inputs(k, 2));
    fwd_dtype dt = k->in[0]->dtype;
    for (int i = 1; i < k->n_in; i++)
        if (k->in[i] && k->in[i]->dtype != dt)
            return cpu_kernel_error(k, FWD_ERR_DTYPE, "input %d is %s, input 0 is %s", i,
                                    fwd_dtype_name(k->in[i]->dtype), fwd_dtype_name(dt));
    if (!k->out[0] || !k->out[0]->data)
        return cpu_kernel_error(k, FWD_ERR_INTERNAL, "output is not allocated");
    if (k->out[0]->dtype != dt)
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "output is %s, inputs %s",
                                fwd_dtype_name(k->out[0]->dtype), fwd_dtype_name(dt));
    if (dt == FWD_FLOAT32) return fn(k);
    if (nn_is_wide_or_half(dt)) return nn_run_as_f32(k, fn);
    return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "dtype %s not supported", fwd_dtype_name(dt));
}

static fwd_status cpu_fused_conv(fwd_kernel_ctx *k) { return run_float(k, fused_conv_f32); }

static fwd_status cpu_fused_matmul(fwd_kernel_ctx *k) { return run_float(k, fused_matmul_f32); }

const cpu_kernel_entry cpu_kernels_fused_linear[] = {
    {"FusedConv", cpu_fused_conv},
    {"FusedMatMul", cpu_fused_matmul},
    {NULL, NULL},
};

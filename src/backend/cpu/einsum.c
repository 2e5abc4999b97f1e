/*
 * Einsum.
 *
 * Each operand becomes a strided view whose axes carry label ids (see
 * ir/einsum_parse.h): repeated labels in one term become one axis whose
 * stride is the sum (a diagonal), and size-1 dims broadcast with stride 0.
 * Operands are then contracted left to right, two at a time: both are
 * copied into [batch, left, contracted] / [batch, contracted, right]
 * order (labels needed by neither the output nor a later operand are summed
 * during that copy) and multiplied with one GEMM per batch entry. The
 * result is finally permuted (and reduced) into the output order.
 *
 * float32 works in float with cblas_sgemm; every other dtype works in
 * double with cblas_dgemm.
 */
#include <cblas.h>
#include <stdlib.h>

#include "backend/cpu/reduce_common.h"
#include "ir/einsum_parse.h"

typedef struct eop {
    int n;
    unsigned char lab[IR_MAX_RANK];
    int64_t dim[IR_MAX_RANK], stride[IR_MAX_RANK];
    void *data;  /* float* or double* (work type) */
    void *owned; /* freed with the operand; NULL for views of inputs */
} eop;

static void eop_free(eop *e)
{
    free(e->owned);
    e->owned = NULL;
}

static int64_t eop_numel(const eop *e)
{
    int64_t n = 1;
    for (int i = 0; i < e->n; i++) n *= e->dim[i];
    return n;
}

static int find_label(const eop *e, int label)
{
    for (int i = 0; i < e->n; i++)
        if (e->lab[i] == label) return i;
    return -1;
}

/*
 * dst = src permuted to the label order `order` (a subset of src's labels),
 * summing over the labels not in it. dst is contiguous; into: memory to
 * write to, or NULL to allocate.
 */
static fwd_status eop_reduce_perm(fwd_kernel_ctx *k, bool f32, const eop *src, const unsigned char *order, int n,
                                  void *into, eop *dst)
{
    odo keep = {0}, red = {0};
    memset(dst, 0, sizeof *dst);
    bool used[IR_MAX_RANK] = {false};
    for (int i = 0; i < n; i++) {
        int a = find_label(src, order[i]);
        if (a < 0) return cpu_kernel_error(k, FWD_ERR_INTERNAL, "einsum label lost");
        used[a] = true;
        keep.size[keep.n] = src->dim[a];
        keep.stride[keep.n++] = src->stride[a];
        dst->lab[i] = order[i];
        dst->dim[i] = src->dim[a];
    }
    int64_t R = 1;
    for (int a = 0; a < src->n; a++) {
        if (used[a] || src->dim[a] == 1) continue;
        red.size[red.n] = src->dim[a];
        red.stride[red.n++] = src->stride[a];
        R *= src->dim[a];
    }
    dst->n = n;
    int64_t total = eop_numel(dst), acc = 1;
    for (int i = n - 1; i >= 0; i--) {
        dst->stride[i] = acc;
        acc *= dst->dim[i];
    }
    size_t es = f32 ? sizeof(float) : sizeof(double);
    if (!into) {
        dst->owned = malloc(es * (size_t)(total > 0 ? total : 1));
        if (!dst->owned) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "einsum: out of memory");
        into = dst->owned;
    }
    dst->data = into;
    if (total == 0) return FWD_OK;
    odo_seek(&keep, 0);
    if (f32) {
        const float *s = src->data;
        float *d = into;
        for (int64_t f = 0; f < total; f++, odo_next(&keep)) {
            if (R == 1) {
                d[f] = s[keep.off];
                continue;
            }
            double sum = 0.0;
            odo_seek(&red, 0);
            for (int64_t r = 0; r < R; r++, odo_next(&red)) sum += s[keep.off + red.off];
            d[f] = (float)sum;
        }
    } else {
        const double *s = src->data;
        double *d = into;
        for (int64_t f = 0; f < total; f++, odo_next(&keep)) {
            double sum = 0.0;
            odo_seek(&red, 0);
            for (int64_t r = 0; r < R; r++, odo_next(&red)) sum += s[keep.off + red.off];
            d[f] = sum;
        }
    }
    return FWD_OK;
}

/* Contract a and b, keeping the labels with keep[label] set. */
static fwd_status eop_contract(fwd_kernel_ctx *k, bool f32, const eop *a, const eop *b, const bool *keep, eop *out)
{
    unsigned char batch[IR_MAX_RANK], left[IR_MAX_RANK], right[IR_MAX_RANK], con[IR_MAX_RANK];
    int nb = 0, nl = 0, nr = 0, nc = 0;
    int64_t Bt = 1, M = 1, N = 1, K = 1;
    for (int i = 0; i < a->n; i++) {
        int L = a->lab[i];
        bool in_b = find_label(b, L) >= 0;
        if (in_b && keep[L]) batch[nb++] = (unsigned char)L, Bt *= a->dim[i];
        else if (in_b) con[nc++] = (unsigned char)L, K *= a->dim[i];
        else if (keep[L]) left[nl++] = (unsigned char)L, M *= a->dim[i];
    }
    for (int i = 0; i < b->n; i++) {
        int L = b->lab[i];
        if (find_label(a, L) < 0 && keep[L]) right[nr++] = (unsigned char)L, N *= b->dim[i];
    }
    if (nb + nl + nr > IR_MAX_RANK) return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "einsum: intermediate rank > %d", IR_MAX_RANK);
    unsigned char oa[IR_MAX_RANK], ob[IR_MAX_RANK];
    int na = 0, nbb = 0;
    for (int i = 0; i < nb; i++) oa[na++] = batch[i], ob[nbb++] = batch[i];
    for (int i = 0; i < nl; i++) oa[na++] = left[i];
    for (int i = 0; i < nc; i++) oa[na++] = con[i], ob[nbb++] = con[i];
    for (int i = 0; i < nr; i++) ob[nbb++] = right[i];
    eop pa, pb;
    FWD_TRY(eop_reduce_perm(k, f32, a, oa, na, NULL, &pa));
    fwd_status s = eop_reduce_perm(k, f32, b, ob, nbb, NULL, &pb);
    if (s != FWD_OK) {
        eop_free(&pa);
        return s;
    }
    memset(out, 0, sizeof *out);
    for (int i = 0; i < nb; i++) out->lab[out->n] = batch[i], out->dim[out->n++] = pa.dim[i];
    for (int i = 0; i < nl; i++) out->lab[out->n] = left[i], out->dim[out->n++] = pa.dim[nb + i];
    for (int i = 0; i < nr; i++) out->lab[out->n] = right[i], out->dim[out->n++] = pb.dim[nb + nc + i];
    int64_t acc = 1;
    for (int i = out->n - 1; i >= 0; i--) {
        out->stride[i] = acc;
        acc *= out->dim[i];
    }
    size_t es = f32 ? sizeof(float) : sizeof(double);
    int64_t total = Bt * M * N;
    out->owned = calloc((size_t)(total > 0 ? total : 1), es);
    out->data = out->owned;
    if (!out->owned) s = cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "einsum: out of memory");
    if (s == FWD_OK && total > 0 && K > 0) {
        for (int64_t bi = 0; bi < Bt; bi++) {
            if (f32)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f,
                            (const float *)pa.data + bi * M * K, (int)K, (const float *)pb.data + bi * K * N, (int)N,
                            0.0f, (float *)out->data + bi * M * N, (int)N);
            else
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0,
                            (const double *)pa.data + bi * M * K, (int)K, (const double *)pb.data + bi * K * N,
                            (int)N, 0.0, (double *)out->data + bi * M * N, (int)N);
        }
    }
    eop_free(&pa);
    eop_free(&pb);
    return s;
}

/* The view of input i with its labels (diagonals merged, broadcasts set). */
static fwd_status make_view(fwd_kernel_ctx *k, bool f32, const einsum_spec *sp, int i, eop *e)
{
    const ir_tensor *t = k->in[i];
    memset(e, 0, sizeof *e);
    int64_t n = (int64_t)ir_tensor_numel(t);
    if (f32) {
        e->data = t->data;
    } else {
        double *d = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
        if (!d) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "einsum: out of memory");
        for (int64_t j = 0; j < n; j++) d[j] = cpu_get_f64(t->dtype, t->data, j);
        e->data = e->owned = d;
    }
    int64_t st[IR_MAX_RANK];
    cpu_strides(&t->shape, st);
    for (int a = 0; a < sp->rank[i]; a++) {
        int L = sp->labels[i][a];
        int64_t d = t->shape.dims[a], full = sp->label_dim[L];
        int j = find_label(e, L);
        if (j >= 0) { /* repeated label: the diagonal */
            if (d != e->dim[j] && !(d == 1 || e->dim[j] == 1)) {
                eop_free(e);
                return cpu_kernel_error(k, FWD_ERR_SHAPE, "einsum: input %d repeats a subscript over dims %lld and %lld",
                                        i, (long long)e->dim[j], (long long)d);
            }
            if (d == e->dim[j]) e->stride[j] += st[a];
            continue;
        }
        e->lab[e->n] = (unsigned char)L;
        e->dim[e->n] = full;
        e->stride[e->n] = d == 1 && full != 1 ? 0 : st[a];
        e->n++;
    }
    return FWD_OK;
}

fwd_status cpu_einsum(fwd_kernel_ctx *k)
{
    const char *eq = ir_attr_string(k->node, "equation", NULL);
    if (!eq) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "missing attribute equation");
    if (k->n_in > EINSUM_MAX_OPERANDS)
        return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "more than %d operands", EINSUM_MAX_OPERANDS);
    const ir_shape *shapes[EINSUM_MAX_OPERANDS];
    for (int i = 0; i < k->n_in; i++) {
        if (!k->in[i]) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "input %d is absent", i);
        if (k->in[i]->dtype != k->in[0]->dtype)
            return cpu_kernel_error(k, FWD_ERR_DTYPE, "inputs have different dtypes");
        shapes[i] = &k->in[i]->shape;
    }
    fwd_dtype dt = k->in[0]->dtype;
    if (!ir_dtype_is_float(dt) && !ir_dtype_is_int(dt))
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "unsupported dtype %s", fwd_dtype_name(dt));
    einsum_spec sp;
    char msg[160];
    fwd_status s = einsum_parse(eq, k->n_in, shapes, &sp, msg, sizeof msg);
    if (s != FWD_OK) return cpu_kernel_error(k, s, "%s", msg);
    for (int L = 0; L < EINSUM_MAX_LABELS; L++)
        if (sp.label_used[L] && sp.label_dim[L] < 0)
            return cpu_kernel_error(k, FWD_ERR_INTERNAL, "einsum: unknown dim");
    ir_shape os = {.rank = sp.out_rank};
    for (int i = 0; i < sp.out_rank; i++) os.dims[i] = sp.label_dim[sp.out_labels[i]];
    FWD_TRY(red_ensure_output(k, 0, dt, &os));
    ir_tensor *y = k->out[0];
    int64_t out_n = ir_shape_numel(&os);
    bool f32 = dt == FWD_FLOAT32;

    /* last[L]: the last operand using label L. */
    int last[EINSUM_MAX_LABELS];
    for (int L = 0; L < EINSUM_MAX_LABELS; L++) last[L] = -1;
    for (int i = 0; i < sp.n_ops; i++)
        for (int a = 0; a < sp.rank[i]; a++) last[sp.labels[i][a]] = i;
    bool in_out[EINSUM_MAX_LABELS] = {false};
    for (int i = 0; i < sp.out_rank; i++) in_out[sp.out_labels[i]] = true;

    eop cur;
    FWD_TRY(make_view(k, f32, &sp, 0, &cur));
    for (int i = 1; i < sp.n_ops && s == FWD_OK; i++) {
        eop next, res;
        s = make_view(k, f32, &sp, i, &next);
        if (s != FWD_OK) break;
        bool keep[EINSUM_MAX_LABELS];
        for (int L = 0; L < EINSUM_MAX_LABELS; L++) keep[L] = in_out[L] || last[L] > i;
        s = eop_contract(k, f32, &cur, &next, keep, &res);
        eop_free(&next);
        eop_free(&cur);
        cur = res;
    }
    if (s == FWD_OK && out_n > 0) {
        eop fin;
        bool direct = f32 || dt == FWD_FLOAT64;
        s = eop_reduce_perm(k, f32, &cur, sp.out_labels, sp.out_rank, direct ? y->data : NULL, &fin);
        if (s == FWD_OK && !direct)
            for (int64_t j = 0; j < out_n; j++) cpu_set_f64(dt, y->data, j, ((const double *)fin.data)[j]);
        eop_free(&fin);
    }
    eop_free(&cur);
    return s;
}

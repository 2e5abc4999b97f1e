/*
 * Einsum.
 *
 * Each operand becomes a strided view whose axes carry label ids (see
 * ir/einsum_parse.h): repeated labels in one term become one axis whose
 * stride is the sum (a diagonal), and size-1 dims broadcast with stride 0.
 * Operands are then contracted left to right, two at a time, with one GEMM
 * per batch entry over [batch, left, contracted] x [batch, contracted,
 * right]. An operand already laid out that way (or as its transpose) is
 * used in place; otherwise it is copied into that order, summing the labels
 * needed by neither the output nor a later operand. The last product is
 * written straight into the output when its label order matches; else the
 * result is permuted (and reduced) into the output order.
 *
 * float32 works in float with cblas_sgemm; every other dtype works in
 * double with cblas_dgemm.
 */
#include <cblas.h>
#include <stdint.h>
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
    if (R == 0) { /* sums over an empty axis */
        memset(into, 0, es * (size_t)total);
        return FWD_OK;
    }
    if (R == 1 && n > 0) { /* pure gather: odometer over all but the innermost dim */
        int64_t inner = keep.size[keep.n - 1], is = keep.stride[keep.n - 1];
        keep.n--;
        odo_seek(&keep, 0);
        for (int64_t f = 0; f < total; f += inner, odo_next(&keep)) {
            if (f32) {
                const float *sp = (const float *)src->data + keep.off;
                float *d = (float *)into + f;
                if (is == 1) memcpy(d, sp, sizeof(float) * (size_t)inner);
                else for (int64_t i = 0; i < inner; i++) d[i] = sp[i * is];
            } else {
                const double *sp = (const double *)src->data + keep.off;
                double *d = (double *)into + f;
                for (int64_t i = 0; i < inner; i++) d[i] = sp[i * is];
            }
        }
        return FWD_OK;
    }
    odo_seek(&keep, 0);
    for (int64_t f = 0; f < total; f++, odo_next(&keep)) {
        double sum = 0.0;
        odo_seek(&red, 0);
        if (f32)
            for (int64_t r = 0; r < R; r++, odo_next(&red)) sum += ((const float *)src->data)[keep.off + red.off];
        else
            for (int64_t r = 0; r < R; r++, odo_next(&red)) sum += ((const double *)src->data)[keep.off + red.off];
        if (f32) ((float *)into)[f] = (float)sum;
        else ((double *)into)[f] = sum;
    }
    return FWD_OK;
}

/*
 * Whether src can be used in place as a contiguous tensor with the labels
 * in `order` (which must cover all of src's non-trivial axes).
 */
static bool eop_is_contiguous_as(const eop *src, const unsigned char *order, int n)
{
    int covered = 0;
    int64_t expect = 1;
    for (int i = n - 1; i >= 0; i--) {
        int a = find_label(src, order[i]);
        if (a < 0) return false;
        if (src->dim[a] != 1 && src->stride[a] != expect) return false;
        expect *= src->dim[a];
        covered++;
    }
    for (int a = 0; a < src->n; a++) { /* any axis outside order must be trivial */
        bool in = false;
        for (int i = 0; i < n; i++) in = in || order[i] == src->lab[a];
        if (!in && src->dim[a] != 1) return false;
    }
    return covered == n;
}

/* Operand prepared for GEMM: in place (maybe transposed) or a copy. */
static fwd_status gemm_operand(fwd_kernel_ctx *k, bool f32, const eop *src, const unsigned char *o1,
                               const unsigned char *o2, int n, eop *tmp, const void **ptr, bool *trans)
{
    memset(tmp, 0, sizeof *tmp);
    *trans = false;
    if (eop_is_contiguous_as(src, o1, n)) {
        *ptr = src->data;
        return FWD_OK;
    }
    if (eop_is_contiguous_as(src, o2, n)) {
        *ptr = src->data;
        *trans = true;
        return FWD_OK;
    }
    FWD_TRY(eop_reduce_perm(k, f32, src, o1, n, NULL, tmp));
    *ptr = tmp->data;
    return FWD_OK;
}

typedef struct gemm_job {
    bool f32, ta, tb;
    int64_t M, N, K;
    const void *a, *b;
    void *c;
} gemm_job;

static void gemm_task(void *arg, int64_t beg, int64_t end)
{
    const gemm_job *j = arg;
    int64_t M = j->M, N = j->N, K = j->K;
    int lda = (int)(j->ta ? M : K), ldb = (int)(j->tb ? K : N);
    for (int64_t bi = beg; bi < end; bi++) {
        if (j->f32)
            cblas_sgemm(CblasRowMajor, j->ta ? CblasTrans : CblasNoTrans, j->tb ? CblasTrans : CblasNoTrans, (int)M,
                        (int)N, (int)K, 1.0f, (const float *)j->a + bi * M * K, lda,
                        (const float *)j->b + bi * K * N, ldb, 0.0f, (float *)j->c + bi * M * N, (int)N);
        else
            cblas_dgemm(CblasRowMajor, j->ta ? CblasTrans : CblasNoTrans, j->tb ? CblasTrans : CblasNoTrans, (int)M,
                        (int)N, (int)K, 1.0, (const double *)j->a + bi * M * K, lda,
                        (const double *)j->b + bi * K * N, ldb, 0.0, (double *)j->c + bi * M * N, (int)N);
    }
}

/*
 * Contract a and b, keeping the labels with keep[label] set. When the
 * result's label order equals want (n_want labels), it is written to into.
 */
static fwd_status eop_contract(fwd_kernel_ctx *k, bool f32, const eop *a, const eop *b, const bool *keep,
                               const unsigned char *want, int n_want, void *into, eop *out)
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
    if (nb + nl + nr > IR_MAX_RANK)
        return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "einsum: intermediate rank > %d", IR_MAX_RANK);
    if (Bt * M * K >= INT32_MAX || Bt * K * N >= INT32_MAX || Bt * M * N >= INT32_MAX)
        return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "einsum: operands too large");
    /* A as [batch, left, con] (or [batch, con, left] transposed), B as
     * [batch, con, right] (or [batch, right, con] transposed). */
    unsigned char a1[IR_MAX_RANK], a2[IR_MAX_RANK], b1[IR_MAX_RANK], b2[IR_MAX_RANK];
    int na = 0, nbb = 0;
    for (int i = 0; i < nb; i++) a1[na] = a2[na] = batch[i], na++;
    for (int i = 0; i < nl; i++) a1[na + i] = left[i], a2[na + nc + i] = left[i];
    for (int i = 0; i < nc; i++) a1[na + nl + i] = con[i], a2[na + i] = con[i];
    na += nl + nc;
    for (int i = 0; i < nb; i++) b1[nbb] = b2[nbb] = batch[i], nbb++;
    for (int i = 0; i < nc; i++) b1[nbb + i] = con[i], b2[nbb + nr + i] = con[i];
    for (int i = 0; i < nr; i++) b1[nbb + nc + i] = right[i], b2[nbb + i] = right[i];
    nbb += nc + nr;

    memset(out, 0, sizeof *out);
    for (int i = 0; i < nb; i++) out->lab[out->n++] = batch[i];
    for (int i = 0; i < nl; i++) out->lab[out->n++] = left[i];
    for (int i = 0; i < nr; i++) out->lab[out->n++] = right[i];
    for (int i = 0; i < out->n; i++) {
        int ia = find_label(a, out->lab[i]);
        out->dim[i] = ia >= 0 ? a->dim[ia] : b->dim[find_label(b, out->lab[i])];
    }
    int64_t acc = 1;
    for (int i = out->n - 1; i >= 0; i--) {
        out->stride[i] = acc;
        acc *= out->dim[i];
    }
    bool direct = into && n_want == out->n && !memcmp(want, out->lab, (size_t)out->n);
    size_t es = f32 ? sizeof(float) : sizeof(double);
    int64_t total = Bt * M * N;
    if (direct) {
        out->data = into;
    } else {
        out->owned = malloc(es * (size_t)(total > 0 ? total : 1));
        if (!out->owned) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "einsum: out of memory");
        out->data = out->owned;
    }
    if (total == 0) return FWD_OK;
    if (K == 0) {
        memset(out->data, 0, es * (size_t)total);
        return FWD_OK;
    }
    eop ta, tb;
    gemm_job j = {.f32 = f32, .M = M, .N = N, .K = K, .c = out->data};
    fwd_status s = gemm_operand(k, f32, a, a1, a2, na, &ta, &j.a, &j.ta);
    if (s == FWD_OK) {
        s = gemm_operand(k, f32, b, b1, b2, nbb, &tb, &j.b, &j.tb);
        if (s == FWD_OK) {
            /* Small products: one per pool task; large ones: OpenBLAS threads. */
            if (Bt > 1 && M * N * K < (1 << 21)) fwd_parallel_for(Bt, 1, gemm_task, &j);
            else gemm_task(&j, 0, Bt);
            eop_free(&tb);
        }
        eop_free(&ta);
    }
    if (s != FWD_OK) eop_free(out);
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

    bool direct = f32 || dt == FWD_FLOAT64; /* work type == output type */
    eop cur;
    FWD_TRY(make_view(k, f32, &sp, 0, &cur));
    for (int i = 1; i < sp.n_ops && s == FWD_OK; i++) {
        eop next, res;
        s = make_view(k, f32, &sp, i, &next);
        if (s != FWD_OK) break;
        bool keep[EINSUM_MAX_LABELS];
        for (int L = 0; L < EINSUM_MAX_LABELS; L++) keep[L] = in_out[L] || last[L] > i;
        bool last_op = i == sp.n_ops - 1 && direct;
        s = eop_contract(k, f32, &cur, &next, keep, sp.out_labels, sp.out_rank, last_op ? y->data : NULL, &res);
        eop_free(&next);
        eop_free(&cur);
        cur = res;
    }
    if (s == FWD_OK && out_n > 0 && cur.data != y->data) {
        eop fin;
        s = eop_reduce_perm(k, f32, &cur, sp.out_labels, sp.out_rank, direct ? y->data : NULL, &fin);
        if (s == FWD_OK && !direct)
            for (int64_t j = 0; j < out_n; j++) cpu_set_f64(dt, y->data, j, ((const double *)fin.data)[j]);
        eop_free(&fin);
    }
    eop_free(&cur);
    return s;
}

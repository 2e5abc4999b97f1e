/*
 * float32 batched matrix products for MatMul, Gemm and FusedMatMul on
 * Forward's GEMM (sgemm.h): Y = act(alpha * op(A) @ op(B) + C), numpy
 * batch broadcasting, C broadcast onto Y and added in the epilogue.
 *
 * When B is shared by every batch and A is dense, the batch folds into the
 * rows (one large product: BERT's projections). Otherwise tasks take a
 * (batch, row block) each and run the product on their thread. Products
 * with very few rows (a GEMV in disguise: classifier heads) read B in
 * place (nn_gemv, no packing) and get their epilogue afterwards.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/nn_internal.h"
#include "ir/op_schema.h"

/* Rows up to which reading B in place (nn_gemv) beats packing it. */
#define FEW_ROWS NN_GEMV_MAX_ROWS

typedef struct mm32 {
    int64_t m, n, k;
    const float *a, *b;
    float *y;
    int64_t lda, ldb;       /* stored row lengths */
    bool ta, tb;
    int64_t a_mat, b_mat;   /* elements per stored matrix */
    ir_shape batch;
    int64_t a_str[IR_MAX_RANK], b_str[IR_MAX_RANK], c_str[IR_MAX_RANK];
    nn_epilogue epi;        /* addend 0: C at batch 0 (offset per batch) */
    const float *bp;        /* B prepacked, or NULL */
    int64_t rows_per_task, tasks_per_batch;
    _Atomic int failed;
} mm32;

/* A product with few rows (a GEMV): column blocks over the threads, each
 * an nn_gemv on its slice of B (memory-bound: the threads share the
 * reading of B), then the epilogue on the block. */
typedef struct gemv_job {
    const mm32 *p;
    const float *a, *b;
    float *y;
    int64_t rows, cols; /* per task */
    const nn_epilogue *e;
} gemv_job;

static void gemv_blocks(void *arg, int64_t t0, int64_t t1)
{
    const gemv_job *j = arg;
    const mm32 *p = j->p;
    for (int64_t t = t0; t < t1; t++) {
        int64_t c0 = t * j->cols, c1 = c0 + j->cols < p->n ? c0 + j->cols : p->n;
        if (c0 >= c1) continue;
        const float *b = p->tb ? j->b + c0 * p->ldb : j->b + c0;
        nn_gemv(j->rows, c1 - c0, p->k, j->a, p->lda, p->ta, b, p->ldb, p->tb, j->y + c0, p->n);
        nn_epilogue e = nn_epilogue_at(j->e, 0, c0);
        nn_epilogue_apply(&e, j->y + c0, p->n, j->rows, c1 - c0);
    }
}

static void mm_product(const mm32 *p, const float *a, const float *b, float *y, int64_t rows,
                       const nn_epilogue *e, bool parallel)
{
    if (rows <= FEW_ROWS && p->n >= NN_NR && !p->bp) {
        int64_t nt = parallel ? fwd_num_threads() : 1, work = rows * p->n * p->k;
        int64_t tasks = work >= 65536 * nt ? 2 * nt : 1;
        gemv_job j = {p, a, b, y, rows, (p->n + tasks - 1) / tasks, e};
        j.cols = (j.cols + NN_NR - 1) / NN_NR * NN_NR;
        fwd_parallel_for((p->n + j.cols - 1) / j.cols, 1, gemv_blocks, &j);
        return;
    }
    nn_gemm_args g = {rows, p->n, p->k, a, p->lda, p->ta, b, p->ldb, p->tb, p->bp, y, p->n, *e, NULL, NULL, NULL};
    bool ok = parallel ? nn_gemm(&g) : nn_gemm_serial(&g);
    if (!ok) ((mm32 *)p)->failed = 1;
}

static void mm_task(const mm32 *p, int64_t t)
{
    int64_t bi = t / p->tasks_per_batch, part = t % p->tasks_per_batch;
    int64_t r0 = part * p->rows_per_task, r1 = r0 + p->rows_per_task;
    if (r1 > p->m) r1 = p->m;
    if (r0 >= r1) return;
    int64_t ao = cpu_offset(&p->batch, p->a_str, bi), bo = cpu_offset(&p->batch, p->b_str, bi);
    /* row r0 of op(A): row r0 of A, or column r0 when transposed */
    const float *a = p->a + ao * p->a_mat + (p->ta ? r0 : r0 * p->lda);
    const float *b = p->b + bo * p->b_mat;
    nn_epilogue e = p->epi;
    if (e.add[0].p) e.add[0].p += cpu_offset(&p->batch, p->c_str, bi);
    e = nn_epilogue_at(&e, r0, 0);
    mm_product(p, a, b, p->y + (bi * p->m + r0) * p->n, r1 - r0, &e, false);
}

static void mm_tasks(void *arg, int64_t t0, int64_t t1)
{
    for (int64_t t = t0; t < t1; t++) mm_task(arg, t);
}

/* The dims of a stored operand as op() sees them: rows, cols. */
static void op_dims(const ir_tensor *t, bool trans, bool is_a, int64_t *rows, int64_t *cols)
{
    int r = t->shape.rank;
    if (r == 1) { /* a vector: a row of A, a column of B */
        *rows = is_a ? 1 : t->shape.dims[0];
        *cols = is_a ? t->shape.dims[0] : 1;
        return;
    }
    *rows = t->shape.dims[r - (trans ? 1 : 2)];
    *cols = t->shape.dims[r - (trans ? 2 : 1)];
}

fwd_status nn_matmul_f32(const fwd_kernel_ctx *k, const ir_tensor *at, const ir_tensor *bt,
                         const nn_mm_fuse *f, ir_tensor *y)
{
    int ra = at->shape.rank, rb = bt->shape.rank;
    if (ra < 1 || rb < 1) return cpu_kernel_error(k, FWD_ERR_SHAPE, "operands must have rank >= 1");
    mm32 p = {0};
    p.ta = f && f->ta && ra >= 2;
    p.tb = f && f->tb && rb >= 2;
    int64_t kb;
    op_dims(at, p.ta, true, &p.m, &p.k);
    op_dims(bt, p.tb, false, &kb, &p.n);
    if (kb != p.k)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "inner dimensions differ: %lld vs %lld",
                                (long long)p.k, (long long)kb);
    p.lda = at->shape.dims[ra - 1];
    p.ldb = rb == 1 ? 1 : bt->shape.dims[rb - 1];
    p.a_mat = p.m * p.k;
    p.b_mat = p.k * p.n;
    ir_shape ba = {.rank = ra > 2 ? ra - 2 : 0}, bb = {.rank = rb > 2 ? rb - 2 : 0};
    memcpy(ba.dims, at->shape.dims, sizeof(int64_t) * (size_t)ba.rank);
    memcpy(bb.dims, bt->shape.dims, sizeof(int64_t) * (size_t)bb.rank);
    if (ir_broadcast_shapes(&ba, &bb, &p.batch) != FWD_OK)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "batch dimensions do not broadcast");
    int64_t nb = ir_shape_numel(&p.batch);
    if ((int64_t)ir_tensor_numel(y) != nb * p.m * p.n)
        return cpu_kernel_error(k, FWD_ERR_INTERNAL, "output size mismatch");
    if (nb == 0 || p.m == 0 || p.n == 0) return FWD_OK;
    if (!nn_blas_fits(p.m, p.n, p.k) || nb > INT32_MAX)
        return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "matrices too large");
    cpu_broadcast_strides(&ba, &p.batch, p.a_str);
    cpu_broadcast_strides(&bb, &p.batch, p.b_str);
    p.a = at->data;
    p.b = bt->data;
    p.y = y->data;
    p.epi = nn_epilogue_plain();
    p.bp = f ? f->bp : NULL;
    if (p.bp && (rb != 2 || p.tb))
        return cpu_kernel_error(k, FWD_ERR_INTERNAL, "a packed B must be a plain matrix");
    bool c_batched = false;
    if (f) {
        p.epi.alpha = f->alpha;
        p.epi.act = f->act;
        p.epi.act_a = f->act_a;
        p.epi.act_b = f->act_b;
        const ir_tensor *c = f->c;
        if (c && c->data) {
            /* C broadcast onto Y: strides over Y's dims, then split into
             * batch, row and column strides */
            const ir_shape *ys = &y->shape;
            if (c->shape.rank > ys->rank)
                return cpu_kernel_error(k, FWD_ERR_SHAPE, "C has a higher rank than Y");
            for (int i = 0; i < c->shape.rank; i++) {
                int64_t d = c->shape.dims[i], o = ys->dims[ys->rank - c->shape.rank + i];
                if (d != 1 && d != o)
                    return cpu_kernel_error(k, FWD_ERR_SHAPE, "C does not broadcast onto Y");
            }
            int64_t str[IR_MAX_RANK];
            cpu_broadcast_strides(&c->shape, ys, str);
            int yr = ys->rank, nbd = p.batch.rank;
            bool has_m = ra > 1, has_n = rb > 1;
            int64_t rs = 0, cs = 0;
            if (has_m && has_n) {
                rs = str[yr - 2];
                cs = str[yr - 1];
            } else if (has_m) {
                rs = str[yr - 1];
            } else if (has_n) {
                cs = str[yr - 1];
            }
            for (int i = 0; i < nbd; i++) {
                p.c_str[i] = str[i];
                if (str[i] != 0) c_batched = true;
            }
            p.epi.add[0] = (nn_addend){c->data, rs, cs};
        }
    }
    /* B shared by every batch, A dense, C the same for every batch or
     * dense like Y: one product with batch * m rows. */
    int64_t nb_b = ir_shape_numel(&bb), nb_a = ir_shape_numel(&ba);
    bool c_foldable = true;
    if (p.epi.add[0].p) {
        bool dense = ir_tensor_numel(f->c) == ir_tensor_numel(y) && p.epi.add[0].rs == p.n &&
                     p.epi.add[0].cs == 1;
        c_foldable = dense || (!c_batched && p.epi.add[0].rs == 0) || nb == 1;
    }
    if (nb_b == 1 && nb_a == nb && !p.ta && c_foldable) {
        p.m *= nb;
        mm_product(&p, p.a, p.b, p.y, p.m, &p.epi, true);
        if (p.failed) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
        return FWD_OK;
    }
    if (nb == 1) {
        mm_product(&p, p.a, p.b, p.y, p.m, &p.epi, true);
        if (p.failed) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
        return FWD_OK;
    }
    /* Tasks of (batch, row block): enough to occupy the threads, each at
     * least ~256K multiply-adds. */
    int64_t nt = fwd_num_threads(), per_batch = 1;
    if (nb < 4 * nt) per_batch = (4 * nt + nb - 1) / nb;
    int64_t min_rows = 262144 / (p.n * p.k + 1) + 1;
    int64_t mr = nn_gemm_tile_rows();
    if (min_rows < mr) min_rows = mr;
    int64_t rows = (p.m + per_batch - 1) / per_batch;
    if (rows < min_rows) rows = min_rows;
    rows = (rows + mr - 1) / mr * mr;
    if (rows > p.m) rows = p.m;
    p.rows_per_task = rows;
    p.tasks_per_batch = (p.m + rows - 1) / rows;
    fwd_parallel_for(nb * p.tasks_per_batch, 1, mm_tasks, &p);
    if (p.failed) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    return FWD_OK;
}

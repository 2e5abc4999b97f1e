/*
 * MatMul and Gemm, and the OpenBLAS wrappers the other nn kernels use.
 *
 * Threading: OpenBLAS is set to one thread once, and all parallelism
 * comes from our pool: large products are split into column (or row)
 * blocks, batched ones over the batch. So the two pools never compete
 * for the cores, and kernels may call sgemm from inside parallel loops.
 */
#include <cblas.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/nn_internal.h"
#include "ir/op_schema.h"

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_init(void) { openblas_set_num_threads(1); }

/* Work (multiply-adds) below which a product is not split. */
#define SPLIT_MIN_WORK ((int64_t)1 << 21)

bool nn_blas_fits(int64_t m, int64_t n, int64_t k)
{
    return m >= 0 && n >= 0 && k >= 0 && m < INT_MAX && n < INT_MAX && k < INT_MAX &&
           m * k < INT_MAX && k * n < INT_MAX && m * n < INT_MAX;
}

void nn_sgemm_serial(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                     const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                     float *c, int64_t ldc)
{
    pthread_once(&blas_once, blas_init);
    if (m == 0 || n == 0) return;
    if (k == 0) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
        return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha, a, (int)lda, b,
                (int)ldb, beta, c, (int)ldc);
}

typedef struct sgemm_job {
    bool ta, tb, by_cols;
    int64_t m, n, k, lda, ldb, ldc, block;
    float alpha, beta;
    const float *a, *b;
    float *c;
} sgemm_job;

static void sgemm_blocks(void *arg, int64_t t0, int64_t t1)
{
    const sgemm_job *j = arg;
    for (int64_t t = t0; t < t1; t++) {
        int64_t s = t * j->block, len = j->block;
        if (j->by_cols) {
            if (s + len > j->n) len = j->n - s;
            const float *b = j->tb ? j->b + s * j->ldb : j->b + s;
            nn_sgemm_serial(j->ta, j->tb, j->m, len, j->k, j->alpha, j->a, j->lda, b, j->ldb, j->beta,
                            j->c + s, j->ldc);
        } else {
            if (s + len > j->m) len = j->m - s;
            const float *a = j->ta ? j->a + s : j->a + s * j->lda;
            nn_sgemm_serial(j->ta, j->tb, len, j->n, j->k, j->alpha, a, j->lda, j->b, j->ldb, j->beta,
                            j->c + s * j->ldc, j->ldc);
        }
    }
}

void nn_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
              int64_t ldc)
{
    int64_t work = m * n * k, nt = fwd_num_threads();
    if (nt == 1 || work < 2 * SPLIT_MIN_WORK) {
        nn_sgemm_serial(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    /* Blocks of at least SPLIT_MIN_WORK, at most 4 per thread, along the
     * larger of n and m (each block packs the other operand again). */
    int64_t blocks = work / SPLIT_MIN_WORK;
    if (blocks > 4 * nt) blocks = 4 * nt;
    sgemm_job j = {trans_a, trans_b, n >= m, m, n, k, lda, ldb, ldc, 0, alpha, beta, a, b, c};
    int64_t len = j.by_cols ? n : m, unit = j.by_cols ? 16 : 4;
    j.block = (len + blocks - 1) / blocks;
    j.block = (j.block + unit - 1) / unit * unit;
    fwd_parallel_for((len + j.block - 1) / j.block, 1, sgemm_blocks, &j);
}

void nn_dgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
              const double *a, int64_t lda, const double *b, int64_t ldb, double beta, double *c,
              int64_t ldc)
{
    pthread_once(&blas_once, blas_init);
    if (m == 0 || n == 0) return;
    if (k == 0) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0.0 ? 0.0 : beta * c[i * ldc + j];
        return;
    }
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha, a, (int)lda, b,
                (int)ldb, beta, c, (int)ldc);
}

/* ---- MatMul ---- */

typedef struct mm_plan {
    fwd_dtype dt;
    size_t esz;
    int64_t m, n, k;
    const char *a, *b;
    char *y;
    ir_shape batch;                 /* broadcast batch shape */
    int64_t a_str[IR_MAX_RANK];     /* batch strides in matrices */
    int64_t b_str[IR_MAX_RANK];
    int64_t rows_per_task, tasks_per_batch;
} mm_plan;

/* Integer product of rows x k by k x n, wrapping like the hardware. */
#define DEFINE_MM_INT(NAME, T, U)                                                        \
    static void NAME(const T *a, const T *b, T *y, int64_t rows, int64_t n, int64_t k)  \
    {                                                                                    \
        for (int64_t i = 0; i < rows; i++) {                                             \
            U *yr = (U *)(y + i * n);                                                    \
            for (int64_t j = 0; j < n; j++) yr[j] = 0;                                   \
            for (int64_t kk = 0; kk < k; kk++) {                                         \
                U av = (U)a[i * k + kk];                                                 \
                const T *br = b + kk * n;                                                \
                for (int64_t j = 0; j < n; j++) yr[j] += av * (U)br[j];                  \
            }                                                                            \
        }                                                                                \
    }
DEFINE_MM_INT(mm_i32, int32_t, uint32_t)
DEFINE_MM_INT(mm_i64, int64_t, uint64_t)
DEFINE_MM_INT(mm_u32, uint32_t, uint32_t)
DEFINE_MM_INT(mm_u64, uint64_t, uint64_t)

/* y (rows x n) = a (rows x k) * b (k x n), all contiguous. */
static void mm_block(const mm_plan *p, const char *a, const char *b, char *y, int64_t rows)
{
    switch (p->dt) {
    case FWD_FLOAT32:
        nn_sgemm_serial(false, false, rows, p->n, p->k, 1.0f, (const float *)a, p->k, (const float *)b,
                 p->n, 0.0f, (float *)y, p->n);
        break;
    case FWD_FLOAT64:
        nn_dgemm(false, false, rows, p->n, p->k, 1.0, (const double *)a, p->k, (const double *)b,
                 p->n, 0.0, (double *)y, p->n);
        break;
    case FWD_INT32: mm_i32((const int32_t *)a, (const int32_t *)b, (int32_t *)y, rows, p->n, p->k); break;
    case FWD_INT64: mm_i64((const int64_t *)a, (const int64_t *)b, (int64_t *)y, rows, p->n, p->k); break;
    case FWD_UINT32: mm_u32((const uint32_t *)a, (const uint32_t *)b, (uint32_t *)y, rows, p->n, p->k); break;
    case FWD_UINT64: mm_u64((const uint64_t *)a, (const uint64_t *)b, (uint64_t *)y, rows, p->n, p->k); break;
    default: break;
    }
}

static void mm_task(const mm_plan *p, int64_t t)
{
    int64_t bi = t / p->tasks_per_batch, part = t % p->tasks_per_batch;
    int64_t r0 = part * p->rows_per_task, r1 = r0 + p->rows_per_task;
    if (r1 > p->m) r1 = p->m;
    if (r0 >= r1) return;
    int64_t ao = cpu_offset(&p->batch, p->a_str, bi), bo = cpu_offset(&p->batch, p->b_str, bi);
    const char *a = p->a + ((size_t)ao * (size_t)(p->m * p->k) + (size_t)(r0 * p->k)) * p->esz;
    const char *b = p->b + (size_t)bo * (size_t)(p->k * p->n) * p->esz;
    char *y = p->y + ((size_t)bi * (size_t)(p->m * p->n) + (size_t)(r0 * p->n)) * p->esz;
    mm_block(p, a, b, y, r1 - r0);
}

static void mm_tasks(void *arg, int64_t t0, int64_t t1)
{
    for (int64_t t = t0; t < t1; t++) mm_task(arg, t);
}

fwd_status nn_matmul_tensors(const fwd_kernel_ctx *k, const ir_tensor *a, const ir_tensor *b,
                             ir_tensor *y)
{
    int ra = a->shape.rank, rb = b->shape.rank;
    if (ra < 1 || rb < 1)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "operands must have rank >= 1");
    mm_plan p = {.dt = a->dtype, .esz = fwd_dtype_size(a->dtype), .a = a->data, .b = b->data, .y = y->data};
    p.m = ra == 1 ? 1 : a->shape.dims[ra - 2];
    p.k = a->shape.dims[ra - 1];
    p.n = rb == 1 ? 1 : b->shape.dims[rb - 1];
    int64_t kb = rb == 1 ? b->shape.dims[0] : b->shape.dims[rb - 2];
    if (kb != p.k)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "inner dimensions differ: %lld vs %lld",
                                (long long)p.k, (long long)kb);
    ir_shape ba = {.rank = ra > 2 ? ra - 2 : 0}, bb = {.rank = rb > 2 ? rb - 2 : 0};
    memcpy(ba.dims, a->shape.dims, sizeof(int64_t) * (size_t)ba.rank);
    memcpy(bb.dims, b->shape.dims, sizeof(int64_t) * (size_t)bb.rank);
    if (ir_broadcast_shapes(&ba, &bb, &p.batch) != FWD_OK)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "batch dimensions do not broadcast");
    int64_t nb = ir_shape_numel(&p.batch);
    if ((int64_t)ir_tensor_numel(y) != nb * p.m * p.n)
        return cpu_kernel_error(k, FWD_ERR_INTERNAL, "output size mismatch");
    if (p.dt == FWD_FLOAT32) return nn_matmul_f32(k, a, b, NULL, y);
    if (nb == 0 || p.m == 0 || p.n == 0) return FWD_OK;
    if (p.k == 0) {
        memset(y->data, 0, ir_tensor_numel(y) * p.esz);
        return FWD_OK;
    }
    if (!nn_blas_fits(p.m * (ir_shape_numel(&ba) > 0 ? ir_shape_numel(&ba) : 1), p.n, p.k))
        return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "matrices too large");
    cpu_broadcast_strides(&ba, &p.batch, p.a_str);
    cpu_broadcast_strides(&bb, &p.batch, p.b_str);
    int64_t nb_b = ir_shape_numel(&bb), nb_a = ir_shape_numel(&ba);
    /* B shared by every batch and A dense: one product with batch*m rows. */
    if (nb_b == 1 && nb_a == nb) {
        p.m *= nb;
        p.batch.rank = 0;
        nb = 1;
    }
    bool floaty = p.dt == FWD_FLOAT32 || p.dt == FWD_FLOAT64;
    if (nb == 1 && p.dt == FWD_FLOAT32) { /* nn_sgemm splits it over the threads */
        nn_sgemm(false, false, p.m, p.n, p.k, 1.0f, (const float *)p.a, p.k, (const float *)p.b, p.n,
                 0.0f, (float *)p.y, p.n);
        return FWD_OK;
    }
    /* Tasks of (batch, row block): enough of them to occupy the threads,
     * each at least ~64K multiply-adds. */
    int64_t nt = fwd_num_threads(), per_batch = 1;
    if (nb < 4 * nt) per_batch = (4 * nt + nb - 1) / nb;
    int64_t min_rows = 65536 / (p.n * p.k + 1) + 1;
    if (floaty && min_rows < 16) min_rows = 16;
    int64_t rows = (p.m + per_batch - 1) / per_batch;
    if (rows < min_rows) rows = min_rows;
    if (rows > p.m) rows = p.m;
    p.rows_per_task = rows;
    p.tasks_per_batch = (p.m + rows - 1) / rows;
    int64_t work = rows * p.n * p.k;
    fwd_parallel_for(nb * p.tasks_per_batch, 200000 / (work + 1) + 1, mm_tasks, &p);
    return FWD_OK;
}

static fwd_status matmul_f32(fwd_kernel_ctx *k)
{
    return nn_matmul_tensors(k, k->in[0], k->in[1], k->out[0]);
}

fwd_status cpu_matmul(fwd_kernel_ctx *k)
{
    FWD_TRY(nn_need_inputs(k, 2));
    fwd_dtype dt = k->in[0]->dtype;
    if (k->in[1]->dtype != dt)
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "A and B differ in dtype");
    if (dt == FWD_FLOAT16 || dt == FWD_BFLOAT16) return nn_run_as_f32(k, matmul_f32);
    switch (dt) {
    case FWD_FLOAT32: case FWD_FLOAT64: case FWD_INT32: case FWD_INT64: case FWD_UINT32: case FWD_UINT64:
        return nn_matmul_tensors(k, k->in[0], k->in[1], k->out[0]);
    default:
        return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "dtype %s not supported", fwd_dtype_name(dt));
    }
}

/* ---- Gemm ---- */

static fwd_status gemm_f32(fwd_kernel_ctx *k)
{
    const ir_tensor *a = k->in[0], *b = k->in[1], *c = nn_in(k, 2);
    if (a->shape.rank != 2 || b->shape.rank != 2)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "A and B must be 2-D");
    if (c && c->shape.rank > 2) return cpu_kernel_error(k, FWD_ERR_SHAPE, "C must have rank <= 2");
    nn_mm_fuse f = {ir_attr_int(k->node, "transA", 0) != 0, ir_attr_int(k->node, "transB", 0) != 0,
                    ir_attr_float(k->node, "alpha", 1.0f), NULL, NN_ACT_NONE, 0.0f, 0.0f, NULL};
    float beta = ir_attr_float(k->node, "beta", 1.0f);
    if (!c || !c->data || beta == 0.0f) return nn_matmul_f32(k, a, b, &f, k->out[0]);
    if (beta == 1.0f) {
        f.c = c;
        return nn_matmul_f32(k, a, b, &f, k->out[0]);
    }
    /* the epilogue adds C as it is: scale a copy by beta */
    ir_tensor cs = *c;
    size_t n = ir_tensor_numel(c);
    float *buf = malloc((n ? n : 1) * sizeof(float));
    if (!buf) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t i = 0; i < n; i++) buf[i] = beta * ((const float *)c->data)[i];
    cs.data = buf;
    f.c = &cs;
    fwd_status st = nn_matmul_f32(k, a, b, &f, k->out[0]);
    free(buf);
    return st;
}

fwd_status cpu_gemm(fwd_kernel_ctx *k)
{
    FWD_TRY(nn_need_inputs(k, 2));
    fwd_dtype dt = k->in[0]->dtype;
    const ir_tensor *c = nn_in(k, 2);
    if (k->in[1]->dtype != dt || (c && c->dtype != dt))
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "A, B and C must share one dtype");
    if (dt == FWD_FLOAT32) return gemm_f32(k);
    if (nn_is_wide_or_half(dt)) return nn_run_as_f32(k, gemm_f32);
    return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "dtype %s not supported", fwd_dtype_name(dt));
}

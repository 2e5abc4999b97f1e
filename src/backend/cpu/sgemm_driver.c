/*
 * Splitting a GEMM over the thread pool (see sgemm.h), and the per-thread
 * scratch buffers the packing uses.
 *
 * Plan: when B has enough 16-column panels, each task takes a block of
 * columns, packs it into its own scratch (sized for L2) and multiplies all
 * rows of A by it. Otherwise (few columns, many rows) B is packed once and
 * tasks take blocks of rows and columns. Prepacked B skips the packing.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/sgemm.h"
#include "util/threadpool.h"

/* ---- scratch ---- */

#define N_SLOTS 7

typedef struct scratch {
    size_t cap[N_SLOTS];
    float *buf[N_SLOTS];
} scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
/* The largest capacity any thread gave each slot: every thread grows to
 * it when it next picks up a job of the pool, so a thread that happened
 * to get no chunk of some loop during the first runs does not allocate
 * in a later one (after warm-up, no run allocates). */
static _Atomic size_t high_water[N_SLOTS];

static void scratch_free(void *p)
{
    scratch *s = p;
    for (int i = 0; i < N_SLOTS; i++) free(s->buf[i]);
    free(s);
}

static void scratch_sync(void);

static void scratch_init(void)
{
    pthread_key_create(&scratch_key, scratch_free);
    fwd_parallel_set_job_hook(scratch_sync);
}

/* This thread's scratch, created on first use (NULL when out of memory). */
static scratch *thread_scratch(void)
{
    pthread_once(&scratch_once, scratch_init);
    scratch *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || pthread_setspecific(scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    return s;
}

/* Slot slot of s holding at least cap floats (false when out of memory). */
static bool grow(scratch *s, int slot, size_t cap)
{
    if (s->cap[slot] >= cap) return true;
    void *p = NULL;
    if (posix_memalign(&p, 64, cap * sizeof(float)) != 0) return false;
    free(s->buf[slot]);
    s->buf[slot] = p;
    s->cap[slot] = cap;
    size_t hw = atomic_load(&high_water[slot]);
    while (hw < cap) {
        if (atomic_compare_exchange_weak(&high_water[slot], &hw, cap)) {
            fwd_parallel_request_sync(); /* the other threads grow too */
            break;
        }
    }
    return true;
}

/* A pool thread taking a job: its slots to the high-water marks. */
static void scratch_sync(void)
{
    scratch *s = NULL;
    for (int i = 0; i < N_SLOTS; i++) {
        size_t hw = atomic_load_explicit(&high_water[i], memory_order_relaxed);
        if (hw == 0) continue;
        if (!s && !(s = thread_scratch())) return;
        if (s->cap[i] < hw) grow(s, i, hw); /* out of memory: nn_scratch reports it */
    }
}

float *nn_scratch(int slot, size_t floats)
{
    if (slot < 0 || slot >= N_SLOTS) return NULL;
    scratch *s = thread_scratch();
    if (!s) return NULL;
    if (s->cap[slot] < floats) {
        size_t cap = floats + floats / 4 + 1024, hw = atomic_load(&high_water[slot]);
        if (!grow(s, slot, cap > hw ? cap : hw)) return NULL;
    }
    return s->buf[slot];
}

/* ---- planning ---- */

/* Packed B block (floats) one task keeps in L2 while it runs all rows. */
#define BLOCK_FLOATS ((int64_t)96 << 10)
/* Multiply-adds below which a task is not worth a thread. */
#define TASK_MIN_WORK ((int64_t)1 << 19)

/* Columns per packed block for depth k: a multiple of NN_NR. */
static int64_t block_cols(int64_t k)
{
    int64_t nc = BLOCK_FLOATS / (k > 0 ? k : 1) / NN_NR * NN_NR;
    return nc < NN_NR ? NN_NR : nc;
}

typedef struct gemm_job {
    const nn_gemm_args *g;
    const float *a;  /* op(A) row-major */
    int64_t lda;
    const float *ap; /* A packed (nn_pack_a), or NULL */
    const float *bp; /* all of B packed, or NULL */
    int64_t n_row_tasks, n_col_tasks; /* the grid of tasks */
    bool rows_in_tasks; /* each task runs g->rows_done on its (whole) rows */
    _Atomic int failed;
} gemm_job;

/* Part t of parts of a range of units (panels of NN_NR columns, or tiles
 * of rows) of unit size unit, covering [0, len): as even as whole units
 * allow (the task counts are multiples of the thread count, and a split
 * rounded to a common size would leave some threads a task short). */
static void part(int64_t len, int64_t unit, int64_t t, int64_t parts, int64_t *b, int64_t *e)
{
    int64_t units = (len + unit - 1) / unit;
    *b = t * units / parts * unit;
    *e = (t + 1) * units / parts * unit;
    if (*e > len) *e = len;
    if (*b > len) *b = len;
}

/* B matrices up to this size are read in place (where the kernel can):
 * activations just written, still in L2/L3 (ResNet-50's 1x1 convs, up to
 * 3.2 MB: ~1% faster than packing). Larger ones, like weights coming from
 * memory (BERT-base's 7-9 MB matrices at -O0), stream better through the
 * packing's row-by-row reads (measured 8% faster). */
#define IN_PLACE_B_MAX_BYTES ((int64_t)4 << 20)

static bool b_in_place(const nn_gemm_args *g)
{
    return !g->trans_b && g->k * g->ldb * (int64_t)sizeof(float) <= IN_PLACE_B_MAX_BYTES &&
           nn_gemm_reads_b_in_place();
}

/* Columns [j0, j1) of C, all rows, packing B block by block into scratch. */
static bool gemm_cols(const nn_gemm_args *g, const float *a, int64_t lda, const float *ap, int64_t j0,
                      int64_t j1)
{
    if (b_in_place(g)) {
        nn_epilogue e = nn_epilogue_at(&g->epi, 0, j0);
        return nn_gemm_b(g->m, j1 - j0, g->k, a, lda, ap, g->b + j0, g->ldb, g->c + j0, g->ldc, &e);
    }
    /* blocks of at most block_cols columns, evened out in whole panels
     * (no narrow last block) */
    int64_t nc = block_cols(g->k), nb = (j1 - j0 + nc - 1) / nc;
    if (nb > 1) nc = ((j1 - j0 + nb - 1) / nb + NN_NR - 1) / NN_NR * NN_NR;
    for (int64_t j = j0; j < j1; j += nc) {
        int64_t w = j1 - j < nc ? j1 - j : nc;
        float *bp = nn_scratch(0, (size_t)nn_packed_b_floats(g->k, w));
        if (!bp) return false;
        nn_pack_b(g->b, g->ldb, g->trans_b, g->k, j, w, bp);
        nn_epilogue e = nn_epilogue_at(&g->epi, 0, j);
        if (!nn_gemm_packed(g->m, w, g->k, a, lda, ap, bp, g->c + j, g->ldc, &e)) return false;
    }
    return true;
}

static void col_tasks(void *arg, int64_t t0, int64_t t1)
{
    gemm_job *j = arg;
    for (int64_t t = t0; t < t1; t++) {
        int64_t c0, c1;
        /* whole register tiles (32 columns with AVX-512) per task, so
         * only the matrix's last tile is partial */
        int64_t unit = b_in_place(j->g) ? 2 * NN_NR : NN_NR;
        part(j->g->n, unit, t, j->n_col_tasks, &c0, &c1);
        if (c0 < c1 && !gemm_cols(j->g, j->a, j->lda, j->ap, c0, c1)) j->failed = 1;
    }
}

/* Tasks over (row block, column block) of C with B packed once. */
static void grid_tasks(void *arg, int64_t t0, int64_t t1)
{
    gemm_job *j = arg;
    const nn_gemm_args *g = j->g;
    for (int64_t t = t0; t < t1; t++) {
        int64_t r0, r1, c0, c1;
        part(g->m, nn_gemm_tile_rows(), t / j->n_col_tasks, j->n_row_tasks, &r0, &r1);
        part(g->n, NN_NR, t % j->n_col_tasks, j->n_col_tasks, &c0, &c1);
        if (r0 >= r1 || c0 >= c1) continue;
        nn_epilogue e = nn_epilogue_at(&g->epi, r0, c0);
        const float *b = j->bp ? j->bp + c0 * g->k : g->b + c0; /* packed, or in place */
        if (!nn_gemm_b(r1 - r0, c1 - c0, g->k, j->a + r0 * j->lda, j->lda, j->ap ? j->ap + r0 * g->k : NULL, b,
                       j->bp ? 0 : g->ldb, g->c + r0 * g->ldc + c0, g->ldc, &e))
            j->failed = 1;
        else if (j->rows_in_tasks)
            g->rows_done(g->rows_arg, r0, r1); /* whole rows: final */
    }
}

typedef struct pack_job {
    const nn_gemm_args *g;
    float *bp;
    int64_t cols; /* per task, multiple of NN_NR */
} pack_job;

static void pack_tasks(void *arg, int64_t t0, int64_t t1)
{
    const pack_job *p = arg;
    for (int64_t t = t0; t < t1; t++) {
        int64_t c0 = t * p->cols, c1 = c0 + p->cols;
        if (c1 > p->g->n) c1 = p->g->n;
        if (c0 < c1) nn_pack_b(p->g->b, p->g->ldb, p->g->trans_b, p->g->k, c0, c1 - c0, p->bp + c0 * p->g->k);
    }
}

typedef struct pack_a_job {
    const float *a;
    int64_t lda, m, k, rows; /* rows per task: a multiple of the tile rows */
    float *ap;
} pack_a_job;

static void pack_a_tasks(void *arg, int64_t t0, int64_t t1)
{
    const pack_a_job *p = arg;
    for (int64_t t = t0; t < t1; t++) {
        int64_t r0 = t * p->rows, r1 = r0 + p->rows < p->m ? r0 + p->rows : p->m;
        if (r0 < r1) nn_pack_a(p->a + r0 * p->lda, p->lda, r1 - r0, p->k, p->ap + r0 * p->k);
    }
}

/* A packed once (into the caller's scratch slot 6) for tasks that each
 * read all of it; NULL when out of memory: they then read A in place. */
static float *pack_a_shared(const float *a, int64_t lda, int64_t m, int64_t k, int64_t nt)
{
    float *ap = nn_scratch(6, (size_t)nn_packed_a_floats(m, k));
    if (!ap) return NULL;
    int64_t mr = nn_gemm_tile_rows(), tiles = (m + mr - 1) / mr;
    pack_a_job pj = {a, lda, m, k, (tiles + 2 * nt - 1) / (2 * nt) * mr, ap};
    fwd_parallel_for((m + pj.rows - 1) / pj.rows, m * k > 65536 ? 1 : m, pack_a_tasks, &pj);
    return ap;
}

/* Columns a task needs to pack all of A itself (nn_gemm_b, slice by
 * slice) rather than share one packed copy: packing then costs at most
 * ~1/256 of the task's multiply-adds in memory traffic. */
#define OWN_A_MIN_COLS 256

/* Whether each thread's one task of the grid packs A for itself: a
 * shared copy needs a fork-join of its own before the products and has
 * each thread read the other threads' parts from their caches. BERT-
 * base's 128x3072 by 3072x768 products (2 threads, 384 columns each) ran
 * ~0.5% faster packing their own A on a quiet machine, ~10% faster while
 * other work shared the cores (the whole model's products: ~4%). */
static bool packs_own_a(const nn_gemm_args *g, int64_t rtasks, int64_t ctasks, int64_t nt)
{
    return rtasks == 1 && ctasks <= nt && g->n / ctasks >= OWN_A_MIN_COLS;
}

/* op(A) as a row-major matrix: A itself, or a transposed copy in *tmp. */
static const float *row_major_a(const nn_gemm_args *g, int64_t *lda, float **tmp)
{
    *tmp = NULL;
    if (!g->trans_a) {
        *lda = g->lda;
        return g->a;
    }
    float *t = malloc(sizeof(float) * (size_t)(g->m * g->k + 1));
    if (!t) return NULL;
    for (int64_t p = 0; p < g->k; p++)
        for (int64_t i = 0; i < g->m; i++) t[i * g->k + p] = g->a[p * g->lda + i];
    *tmp = t;
    *lda = g->k;
    return t;
}

/* want tasks rounded to a multiple of the nt threads, at most units. */
static int64_t round_tasks(int64_t want, int64_t nt, int64_t units)
{
    int64_t t = (want + nt - 1) / nt * nt;
    if (t > units) t = units;
    return t < 1 ? 1 : t;
}

static bool run(const nn_gemm_args *g, bool parallel)
{
    if (g->m <= 0 || g->n <= 0) return true;
    int64_t lda = 0;
    float *tmp;
    const float *a = row_major_a(g, &lda, &tmp);
    if (!a && !g->ap) return false;
    int64_t nt = parallel ? fwd_num_threads() : 1;
    int64_t work = g->m * g->n * (g->k > 0 ? g->k : 1);
    int64_t want = work / TASK_MIN_WORK;
    if (want > 4 * nt) want = 4 * nt;
    if (want < 1) want = 1;
    gemm_job j = {g, a, lda, g->ap, g->bp, 1, 1, false, 0};
    bool ok = true;
    int64_t panels = (g->n + NN_NR - 1) / NN_NR;
    int64_t mr = nn_gemm_tile_rows(), row_tiles = (g->m + mr - 1) / mr;
    /* a row-wise epilogue runs inside the row tasks when every thread
     * gets a row tile; else once over all rows after the product */
    bool rows_in_tasks = g->rows_done && nt > 1 && want > 1 && row_tiles >= nt;
    if (nt == 1 || want == 1) {
        if (g->bp) {
            grid_tasks(&j, 0, 1);
            ok = !j.failed;
        } else {
            /* several B blocks: pack A once rather than per block */
            const float *ap = g->ap;
            if (!ap && g->n > block_cols(g->k) && g->m * g->k >= 4096) ap = pack_a_shared(a, lda, g->m, g->k, 1);
            ok = gemm_cols(g, a, lda, ap, 0, g->n);
        }
    } else if (!g->bp && panels >= 2 * nt && g->n >= g->m && !rows_in_tasks) {
        /* B the larger operand, enough column blocks: each task packs its
         * own block and reads all of A (the smaller one) */
        int64_t tasks = round_tasks(want, nt, panels);
        j.n_col_tasks = tasks;
        if (!j.ap && tasks > 1 && panels / tasks >= 4) j.ap = pack_a_shared(a, lda, g->m, g->k, nt);
        fwd_parallel_for(tasks, 1, col_tasks, &j);
        ok = !j.failed;
    } else {
        float *packed = NULL;
        if (!g->bp && !b_in_place(g)) {
            packed = nn_scratch(5, (size_t)nn_packed_b_floats(g->k, g->n));
            if (!packed) {
                free(tmp);
                return false;
            }
            pack_job pj = {g, packed, NN_NR * ((panels + 2 * nt - 1) / (2 * nt))};
            int64_t ptasks = (g->n + pj.cols - 1) / pj.cols;
            fwd_parallel_for(ptasks, g->k * pj.cols > 32768 ? 1 : ptasks, pack_tasks, &pj);
            j.bp = packed;
        }
        /* Split the dimension of the larger operand first, so each of its
         * elements is read by one task; the smaller one is shared. */
        int64_t rtasks, ctasks;
        /* Each task streams all of the shared operand: when that is larger
         * than a good part of L2, one task per thread. */
        int64_t shared_floats = g->m * g->k >= g->k * g->n ? g->k * g->n : g->m * g->k;
        int64_t per = shared_floats > BLOCK_FLOATS ? nt : want;
        /* Rows of a prepacked A (weights, from memory) split: one task per
         * thread, so each streams several row blocks and prefetches the
         * next while computing one (nn_gemm_b); with 8 tasks of one block
         * each, ResNet-50's 1024x196x256 products ran 6% slower. */
        if (g->ap && g->m * g->k >= g->k * g->n) per = nt;
        if (g->m * g->k >= g->k * g->n) {
            rtasks = round_tasks(per, nt, row_tiles);
            ctasks = (per + rtasks - 1) / rtasks;
            if (ctasks > panels) ctasks = panels;
        } else {
            ctasks = round_tasks(per, nt, panels);
            rtasks = (per + ctasks - 1) / ctasks;
            if (rtasks > row_tiles) rtasks = row_tiles;
        }
        if (rows_in_tasks) {
            /* whole rows per task, one task per thread: each packs only
             * its own rows of A, and its rows of C stay in its cache for
             * rows_done */
            rtasks = nt;
            ctasks = 1;
            j.rows_in_tasks = true;
        }
        j.n_col_tasks = ctasks;
        j.n_row_tasks = rtasks;
        if (!j.ap && ctasks > 1 && panels / ctasks >= 4 && !packs_own_a(g, rtasks, ctasks, nt))
            j.ap = pack_a_shared(a, lda, g->m, g->k, nt);
        fwd_parallel_for(rtasks * ctasks, 1, grid_tasks, &j);
        ok = !j.failed;
    }
    free(tmp);
    if (ok && g->rows_done && !rows_in_tasks) g->rows_done(g->rows_arg, 0, g->m);
    return ok;
}

bool nn_gemm(const nn_gemm_args *g) { return run(g, true); }

bool nn_gemm_serial(const nn_gemm_args *g) { return run(g, false); }

/* A small fork-join thread pool: one loop at a time; callers that find it
 * busy (another thread's loop, or a nested loop) run serially.
 *
 * The caller waits for the loop's chunks, not for every worker: a worker
 * the OS has not scheduled yet simply finds no job when it wakes. A job
 * lives on the caller's stack; workers take a reference under the lock, so
 * the caller knows when no worker can touch it any more. */
#include "util/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#define SPIN_ITERS 20000

typedef struct job {
    fwd_range_fn fn;
    void *arg;
    int64_t n, nchunks;
    _Atomic int64_t next;  /* next chunk to take */
    _Atomic int64_t done;  /* chunks finished */
    _Atomic int refs;      /* workers inside run_chunks */
} job;

static struct {
    pthread_once_t once;
    pthread_mutex_t mu;
    pthread_cond_t cv_job;
    int nthreads; /* including the caller */
    _Atomic uint64_t gen;
    job *current; /* guarded by mu */
    atomic_flag busy;
} pool = {.once = PTHREAD_ONCE_INIT,
          .mu = PTHREAD_MUTEX_INITIALIZER,
          .cv_job = PTHREAD_COND_INITIALIZER,
          .busy = ATOMIC_FLAG_INIT};

static void run_chunks(job *j)
{
    for (;;) {
        int64_t c = atomic_fetch_add(&j->next, 1);
        if (c >= j->nchunks) break;
        /* chunk sizes differ by at most one item */
        int64_t b = c * j->n / j->nchunks, e = (c + 1) * j->n / j->nchunks;
        j->fn(j->arg, b, e);
        atomic_fetch_add(&j->done, 1);
    }
}

static _Atomic int started; /* workers running their loop */
static void (*_Atomic job_hook)(void);
static _Atomic bool sync_wanted; /* fwd_parallel_request_sync was called */
static _Atomic int sync_acks;    /* workers that ran the hook for the sync */

static void *worker(void *unused)
{
    (void)unused;
    uint64_t seen = 0;
    atomic_fetch_add(&started, 1);
    for (;;) {
        int spins = 0;
        while (atomic_load(&pool.gen) == seen && spins < SPIN_ITERS) {
            CPU_RELAX();
            spins++;
        }
        pthread_mutex_lock(&pool.mu);
        while (atomic_load(&pool.gen) == seen) pthread_cond_wait(&pool.cv_job, &pool.mu);
        seen = atomic_load(&pool.gen);
        job *j = pool.current;
        if (j) atomic_fetch_add(&j->refs, 1);
        pthread_mutex_unlock(&pool.mu);
        void (*hook)(void) = atomic_load(&job_hook);
        if (hook) hook();
        if (j) {
            if (j->nchunks == 0) /* the sync job */
                atomic_fetch_add(&sync_acks, 1);
            else
                run_chunks(j);
            atomic_fetch_sub(&j->refs, 1);
        }
    }
    return NULL;
}

static void pool_init(void)
{
    int n = 0;
    const char *env = getenv("FWD_NUM_THREADS");
    if (env) n = atoi(env);
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    if (n > 256) n = 256;
    pool.nthreads = 1;
    for (int i = 1; i < n; i++) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &attr, worker, NULL);
        pthread_attr_destroy(&attr);
        if (rc != 0) break;
        pool.nthreads++;
    }
    /* Wait until every worker runs: a thread's start-up (its stack, TLS,
     * a sanitizer's bookkeeping) then happens here, not during some
     * later inference (test_no_alloc counts allocations on all threads). */
    while (atomic_load(&started) < pool.nthreads - 1) sched_yield();
}

void fwd_parallel_set_job_hook(void (*hook)(void)) { atomic_store(&job_hook, hook); }

void fwd_parallel_request_sync(void) { atomic_store(&sync_wanted, true); }

/* Posts j as the current job and waits until it is done (done >= target)
 * and no worker holds it. The caller holds pool.busy. */
static void post_and_wait(job *j, _Atomic int64_t *done64, _Atomic int *done32, int64_t target)
{
    pthread_mutex_lock(&pool.mu);
    pool.current = j;
    atomic_fetch_add(&pool.gen, 1);
    pthread_cond_broadcast(&pool.cv_job);
    pthread_mutex_unlock(&pool.mu);
    if (j->nchunks > 0) run_chunks(j);
    /* chunks taken by workers (or the workers' acks): spin briefly, then
     * yield the core */
    int spins = 0;
    while ((done64 ? atomic_load(done64) : (int64_t)atomic_load(done32)) < target) {
        if (spins < SPIN_ITERS) {
            CPU_RELAX();
            spins++;
        } else {
            sched_yield();
        }
    }
    pthread_mutex_lock(&pool.mu);
    pool.current = NULL;
    pthread_mutex_unlock(&pool.mu);
    while (atomic_load(&j->refs) > 0) CPU_RELAX(); /* workers leaving */
}

int fwd_num_threads(void)
{
    pthread_once(&pool.once, pool_init);
    return pool.nthreads;
}

int fwd_parallel_max_calls(void) { return fwd_num_threads() * 4; }

/* fwd_parallel_for with at most max_chunks chunks. */
static void parallel_run(int64_t n, int64_t grain, int64_t max_chunks, fwd_range_fn fn, void *arg)
{
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    int nt = fwd_num_threads();
    if (nt == 1 || n <= grain || atomic_flag_test_and_set(&pool.busy)) {
        fn(arg, 0, n);
        return;
    }
    int64_t nchunks = (n + grain - 1) / grain;
    if (nchunks > max_chunks) nchunks = max_chunks;
    job j = {.fn = fn, .arg = arg, .n = n};
    j.nchunks = nchunks;
    atomic_init(&j.next, 0);
    atomic_init(&j.done, 0);
    atomic_init(&j.refs, 0);
    post_and_wait(&j, &j.done, NULL, j.nchunks);
    if (atomic_exchange(&sync_wanted, false)) {
        /* every worker runs the hook once before the caller goes on */
        job sj = {.fn = NULL, .arg = NULL, .n = 0};
        atomic_init(&sj.next, 0);
        atomic_init(&sj.done, 0);
        atomic_init(&sj.refs, 0);
        atomic_store(&sync_acks, 0);
        post_and_wait(&sj, NULL, &sync_acks, pool.nthreads - 1);
        void (*hook)(void) = atomic_load(&job_hook);
        if (hook) hook(); /* and the caller */
    }
    atomic_flag_clear(&pool.busy);
}

void fwd_parallel_for(int64_t n, int64_t grain, fwd_range_fn fn, void *arg)
{
    parallel_run(n, grain, fwd_parallel_max_calls(), fn, arg);
}

void fwd_parallel_tasks(int64_t n, fwd_range_fn fn, void *arg) { parallel_run(n, 1, n, fn, arg); }

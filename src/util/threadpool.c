/* A small fork-join thread pool: one loop at a time; callers that find it
 * busy (another thread's loop, or a nested loop) run serially. */
#include "util/threadpool.h"

#include <pthread.h>
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

static struct {
    pthread_once_t once;
    pthread_mutex_t mu;
    pthread_cond_t cv_job, cv_done;
    int nthreads; /* including the caller */
    _Atomic uint64_t gen;
    fwd_range_fn fn;
    void *arg;
    int64_t n, chunk, nchunks;
    _Atomic int64_t next;
    _Atomic int active;
    atomic_flag busy;
} pool = {.once = PTHREAD_ONCE_INIT,
          .mu = PTHREAD_MUTEX_INITIALIZER,
          .cv_job = PTHREAD_COND_INITIALIZER,
          .cv_done = PTHREAD_COND_INITIALIZER,
          .busy = ATOMIC_FLAG_INIT};

static void run_chunks(void)
{
    for (;;) {
        int64_t c = atomic_fetch_add(&pool.next, 1);
        if (c >= pool.nchunks) break;
        int64_t b = c * pool.chunk, e = b + pool.chunk;
        if (e > pool.n) e = pool.n;
        pool.fn(pool.arg, b, e);
    }
}

static void *worker(void *unused)
{
    (void)unused;
    uint64_t seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load(&pool.gen) == seen && spins < SPIN_ITERS) {
            CPU_RELAX();
            spins++;
        }
        if (atomic_load(&pool.gen) == seen) {
            pthread_mutex_lock(&pool.mu);
            while (atomic_load(&pool.gen) == seen) pthread_cond_wait(&pool.cv_job, &pool.mu);
            pthread_mutex_unlock(&pool.mu);
        }
        seen = atomic_load(&pool.gen);
        run_chunks();
        if (atomic_fetch_sub(&pool.active, 1) == 1) {
            pthread_mutex_lock(&pool.mu);
            pthread_cond_signal(&pool.cv_done);
            pthread_mutex_unlock(&pool.mu);
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
}

int fwd_num_threads(void)
{
    pthread_once(&pool.once, pool_init);
    return pool.nthreads;
}

void fwd_parallel_for(int64_t n, int64_t grain, fwd_range_fn fn, void *arg)
{
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    int nt = fwd_num_threads();
    if (nt == 1 || n <= grain || atomic_flag_test_and_set(&pool.busy)) {
        fn(arg, 0, n);
        return;
    }
    int64_t max_chunks = (int64_t)nt * 4;
    int64_t nchunks = (n + grain - 1) / grain;
    if (nchunks > max_chunks) nchunks = max_chunks;
    pool.fn = fn;
    pool.arg = arg;
    pool.n = n;
    pool.chunk = (n + nchunks - 1) / nchunks;
    pool.nchunks = (n + pool.chunk - 1) / pool.chunk;
    atomic_store(&pool.next, 0);
    atomic_store(&pool.active, nt - 1);
    pthread_mutex_lock(&pool.mu);
    atomic_fetch_add(&pool.gen, 1);
    pthread_cond_broadcast(&pool.cv_job);
    pthread_mutex_unlock(&pool.mu);
    run_chunks();
    int spins = 0;
    while (atomic_load(&pool.active) > 0 && spins < SPIN_ITERS) {
        CPU_RELAX();
        spins++;
    }
    if (atomic_load(&pool.active) > 0) {
        pthread_mutex_lock(&pool.mu);
        while (atomic_load(&pool.active) > 0) pthread_cond_wait(&pool.cv_done, &pool.mu);
        pthread_mutex_unlock(&pool.mu);
    }
    atomic_flag_clear(&pool.busy);
}

/*
 * The process-wide thread pool the CPU kernels split work on. Its size is
 * FWD_NUM_THREADS (default: all cores). Calls from several threads at once
 * are safe: while the pool is busy with one caller's loop, another caller
 * runs its loop on its own thread.
 */
#ifndef FWD_UTIL_THREADPOOL_H
#define FWD_UTIL_THREADPOOL_H

#include <stdint.h>

typedef void (*fwd_range_fn)(void *arg, int64_t begin, int64_t end);

/* Run fn over [0, n) in chunks of at least grain items, in parallel. */
void fwd_parallel_for(int64_t n, int64_t grain, fwd_range_fn fn, void *arg);
/* Run fn over [0, n), each item its own chunk, taken by whichever thread
 * is free: for a few heavy items whose count is not a multiple of the
 * threads (36 Winograd positions in 8 chunks of 4 or 5 left one thread
 * idle for up to 5 positions at the end of every loop). */
void fwd_parallel_tasks(int64_t n, fwd_range_fn fn, void *arg);
/* The most calls of fn one fwd_parallel_for makes (each on a disjoint
 * range): kernels size per-call scratch by it. */
int fwd_parallel_max_calls(void);
/* A function each pool thread calls when it picks up a loop, before its
 * chunks (NULL: none): the CPU kernels' per-thread scratch keeps up with
 * the sizes other threads needed (sgemm_driver.c). */
void fwd_parallel_set_job_hook(void (*hook)(void));
/* After the next parallel loop, its caller waits until every pool thread
 * has run the hook (a thread that got no chunk of the first runs' loops
 * would otherwise catch up during some later run). */
void fwd_parallel_request_sync(void);
/* Number of threads the pool uses (>= 1). */
int fwd_num_threads(void);

#endif

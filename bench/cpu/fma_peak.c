/*
 * The FMA peak of this machine: what fwd_bench --fma-peak prints, the
 * hardware limit the CPU benchmark holds the models' matrix products
 * against (DESIGN.md: a benchmark names the limit it is measured against).
 *
 * Each thread runs independent chains of vector FMAs (enough of them to
 * cover the FMA latency times the FMA ports of any current x86 core) on
 * registers only, so neither memory nor dependencies slow them; the figure
 * is all threads' FLOPs (an FMA counts two per lane) over the wall time
 * from a common start to the last thread's end, best of three tries. The
 * vector width is the one Forward's GEMM uses: 512 bits where AVX-512 runs
 * and FWD_NO_AVX512 is not 1, else 256 bits.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* clock_gettime, pthread barriers */
#endif
#include "fma_peak.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#endif

#define CHAINS512 16 /* of 32 zmm registers */
#define CHAINS256 12 /* of 16 ymm registers: two more hold the operands */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

#ifdef HAVE_X86
/* a <- a * x + y with x just below 1: the chains settle near y / (1 - x)
 * and never overflow or go subnormal. Returns a sum so the work stays. */
__attribute__((target("avx512f"))) static float chains512(long iters)
{
    __m512 a[CHAINS512];
    const __m512 x = _mm512_set1_ps(0.9999999f), y = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS512; i++) a[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < CHAINS512; i++) a[i] = _mm512_fmadd_ps(a[i], x, y);
    __m512 s = a[0];
    for (int i = 1; i < CHAINS512; i++) s = _mm512_add_ps(s, a[i]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float chains256(long iters)
{
    __m256 a[CHAINS256];
    const __m256 x = _mm256_set1_ps(0.9999999f), y = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS256; i++) a[i] = _mm256_set1_ps((float)i);
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < CHAINS256; i++) a[i] = _mm256_fmadd_ps(a[i], x, y);
    __m256 s = a[0];
    for (int i = 1; i < CHAINS256; i++) s = _mm256_add_ps(s, a[i]);
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    return lanes[0] + lanes[7];
}
#endif

typedef struct peak_run {
    pthread_barrier_t start;
    long iters;
    int wide; /* 512-bit chains */
    volatile float sink;
} peak_run;

static float run_chains(int wide, long iters)
{
#ifdef HAVE_X86
    return wide ? chains512(iters) : chains256(iters);
#else
    (void)wide;
    (void)iters;
    return 0.0f;
#endif
}

static void *peak_thread(void *arg)
{
    peak_run *r = arg;
    pthread_barrier_wait(&r->start);
    r->sink = run_chains(r->wide, r->iters);
    return NULL;
}

/* Seconds for `threads` threads to run iters iterations each (the caller
 * is one of them); negative if a thread could not start. */
static double timed_run(peak_run *r, int threads)
{
    pthread_t tid[FMA_PEAK_MAX_THREADS];
    int started = 0;
    if (pthread_barrier_init(&r->start, NULL, (unsigned)threads)) return -1.0;
    for (; started < threads - 1; started++)
        if (pthread_create(&tid[started], NULL, peak_thread, r)) break;
    if (started < threads - 1) {
        /* the barrier cannot open: nothing ran; the started threads wait
         * on it forever, so they are detached and the process ends them */
        for (int i = 0; i < started; i++) pthread_detach(tid[i]);
        return -1.0;
    }
    pthread_barrier_wait(&r->start);
    double t0 = now();
    r->sink = run_chains(r->wide, r->iters);
    for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
    double t = now() - t0;
    pthread_barrier_destroy(&r->start);
    return t;
}

int fma_peak_measure(int threads, fma_peak *out)
{
    out->gflops = 0.0;
    out->threads = threads;
    out->isa = "none";
#ifndef HAVE_X86
    return -1;
#else
    if (threads < 1 || threads > FMA_PEAK_MAX_THREADS) return -1;
    const char *env = getenv("FWD_NO_AVX512");
    peak_run r = {.wide = __builtin_cpu_supports("avx512f") && !(env && env[0] == '1')};
    if (!r.wide && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return -1;
    out->isa = r.wide ? "avx512" : "avx2";
    const double flops_per_iter = r.wide ? CHAINS512 * 16 * 2 : CHAINS256 * 8 * 2;
    /* iterations for ~0.2 s per try, from a short calibration run */
    r.iters = 1L << 16;
    double t = timed_run(&r, 1);
    if (t < 0) return -1;
    double per_iter = t > 0 ? t / (double)r.iters : 1e-9;
    r.iters = (long)(0.2 / per_iter);
    if (r.iters < (1L << 16)) r.iters = 1L << 16;
    for (int k = 0; k < 3; k++) {
        t = timed_run(&r, threads);
        if (t <= 0) return -1;
        double g = flops_per_iter * (double)r.iters * threads / t * 1e-9;
        if (g > out->gflops) out->gflops = g;
    }
    return 0;
#endif
}

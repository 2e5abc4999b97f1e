/* The machine's float32 FMA peak on some threads (fma_peak.c). */
#ifndef FWD_BENCH_FMA_PEAK_H
#define FWD_BENCH_FMA_PEAK_H

#define FMA_PEAK_MAX_THREADS 256

typedef struct fma_peak {
    double gflops;   /* all threads together */
    int threads;
    const char *isa; /* "avx512", "avx2" or "none" */
} fma_peak;

/* Measures the peak with `threads` threads (about a second); 0 on
 * success, -1 where it cannot (no AVX2+FMA, not x86, a thread that did
 * not start, threads outside 1..FMA_PEAK_MAX_THREADS). */
int fma_peak_measure(int threads, fma_peak *out);

#endif

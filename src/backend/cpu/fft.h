/*
 * Complex FFT of any length on interleaved (re, im) doubles, used by the
 * DFT and STFT kernels: radix-2 for powers of two, a direct O(n^2) sum
 * for short odd lengths and Bluestein's chirp-z algorithm for the rest.
 *
 * A plan is immutable once made, so one plan serves many threads, each
 * with its own scratch buffer of cpu_fft_scratch_len() doubles.
 */
#ifndef FWD_BACKEND_CPU_FFT_H
#define FWD_BACKEND_CPU_FFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fwd.h"

typedef struct cpu_fft_plan cpu_fft_plan;

/* A plan for length n >= 1. inverse: exp(+2 pi i jk/n) without the 1/n
 * scale (the caller applies it). NULL when out of memory. */
cpu_fft_plan *cpu_fft_plan_new(int64_t n, bool inverse);
void cpu_fft_plan_free(cpu_fft_plan *p);
/* Doubles of scratch space cpu_fft_run needs. */
size_t cpu_fft_scratch_len(const cpu_fft_plan *p);
/* Transform data (2n doubles, interleaved) in place. */
void cpu_fft_run(const cpu_fft_plan *p, double *data, double *scratch);

#endif

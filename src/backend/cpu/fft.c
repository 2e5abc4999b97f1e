/* Complex FFT of any length (see fft.h). */
#include "backend/cpu/fft.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { FFT_RADIX2, FFT_DIRECT, FFT_BLUESTEIN };

/* Lengths up to this that are not powers of two use the direct sum. */
#define FFT_DIRECT_MAX 64

struct cpu_fft_plan {
    int kind;
    int64_t n;
    double *tw;    /* radix-2: n/2 twiddles; direct: n roots of unity */
    /* Bluestein */
    int64_t m;     /* power of two >= 2n - 1 */
    double *chirp; /* n values exp(s*pi*i*k^2/n) */
    double *bhat;  /* FFT_m of the conjugate chirp filter, scaled by 1/m */
    cpu_fft_plan *fwd_m, *inv_m;
};

static bool is_pow2(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

/* exp(sign * 2 pi i * num / den) into w[0], w[1]. Computed in long double
 * from an exact integer ratio so large lengths keep full precision. */
static void unit_root(double sign, int64_t num, int64_t den, double *w)
{
    long double ang = sign * 2.0L * 3.14159265358979323846264338327950288L *
                      (long double)num / (long double)den;
    w[0] = (double)cosl(ang);
    w[1] = (double)sinl(ang);
}

void cpu_fft_plan_free(cpu_fft_plan *p)
{
    if (!p) return;
    free(p->tw);
    free(p->chirp);
    free(p->bhat);
    cpu_fft_plan_free(p->fwd_m);
    cpu_fft_plan_free(p->inv_m);
    free(p);
}

static void radix2(const cpu_fft_plan *p, double *d)
{
    int64_t n = p->n;
    for (int64_t i = 1, j = 0; i < n; i++) { /* bit-reversal permutation */
        int64_t bit = n >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j) {
            double t0 = d[2 * i], t1 = d[2 * i + 1];
            d[2 * i] = d[2 * j];
            d[2 * i + 1] = d[2 * j + 1];
            d[2 * j] = t0;
            d[2 * j + 1] = t1;
        }
    }
    const double *tw = p->tw;
    for (int64_t len = 2; len <= n; len <<= 1) {
        int64_t half = len >> 1, step = n / len;
        for (int64_t i = 0; i < n; i += len) {
            double *a = d + 2 * i, *b = d + 2 * (i + half);
            for (int64_t k = 0; k < half; k++) {
                double wr = tw[2 * k * step], wi = tw[2 * k * step + 1];
                double br = b[2 * k], bi = b[2 * k + 1];
                double tr = br * wr - bi * wi, ti = br * wi + bi * wr;
                double ar = a[2 * k], ai = a[2 * k + 1];
                b[2 * k] = ar - tr;
                b[2 * k + 1] = ai - ti;
                a[2 * k] = ar + tr;
                a[2 * k + 1] = ai + ti;
            }
        }
    }
}

static void direct(const cpu_fft_plan *p, double *d, double *scratch)
{
    int64_t n = p->n;
    memcpy(scratch, d, (size_t)n * 2 * sizeof(double));
    for (int64_t k = 0; k < n; k++) {
        double re = 0, im = 0;
        int64_t idx = 0; /* (j * k) mod n, kept incrementally */
        for (int64_t j = 0; j < n; j++) {
            double xr = scratch[2 * j], xi = scratch[2 * j + 1];
            double wr = p->tw[2 * idx], wi = p->tw[2 * idx + 1];
            re += xr * wr - xi * wi;
            im += xr * wi + xi * wr;
            idx += k;
            if (idx >= n) idx -= n;
        }
        d[2 * k] = re;
        d[2 * k + 1] = im;
    }
}

static void bluestein(const cpu_fft_plan *p, double *d, double *a)
{
    int64_t n = p->n, m = p->m;
    const double *c = p->chirp;
    for (int64_t k = 0; k < n; k++) {
        double xr = d[2 * k], xi = d[2 * k + 1];
        a[2 * k] = xr * c[2 * k] - xi * c[2 * k + 1];
        a[2 * k + 1] = xr * c[2 * k + 1] + xi * c[2 * k];
    }
    memset(a + 2 * n, 0, (size_t)(m - n) * 2 * sizeof(double));
    radix2(p->fwd_m, a);
    for (int64_t k = 0; k < m; k++) {
        double ar = a[2 * k], ai = a[2 * k + 1];
        double br = p->bhat[2 * k], bi = p->bhat[2 * k + 1];
        a[2 * k] = ar * br - ai * bi;
        a[2 * k + 1] = ar * bi + ai * br;
    }
    radix2(p->inv_m, a);
    for (int64_t k = 0; k < n; k++) {
        double ar = a[2 * k], ai = a[2 * k + 1];
        d[2 * k] = ar * c[2 * k] - ai * c[2 * k + 1];
        d[2 * k + 1] = ar * c[2 * k + 1] + ai * c[2 * k];
    }
}

static cpu_fft_plan *plan_radix2(int64_t n, double sign)
{
    cpu_fft_plan *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->kind = FFT_RADIX2;
    p->n = n;
    int64_t half = n / 2 > 0 ? n / 2 : 1;
    p->tw = malloc((size_t)half * 2 * sizeof(double));
    if (!p->tw) {
        free(p);
        return NULL;
    }
    for (int64_t k = 0; k < half; k++) unit_root(sign, k, n, p->tw + 2 * k);
    return p;
}

cpu_fft_plan *cpu_fft_plan_new(int64_t n, bool inverse)
{
    if (n < 1) return NULL;
    double sign = inverse ? 1.0 : -1.0;
    if (is_pow2(n)) return plan_radix2(n, sign);
    cpu_fft_plan *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n;
    if (n <= FFT_DIRECT_MAX) {
        p->kind = FFT_DIRECT;
        p->tw = malloc((size_t)n * 2 * sizeof(double));
        if (!p->tw) goto fail;
        for (int64_t k = 0; k < n; k++) unit_root(sign, k, n, p->tw + 2 * k);
        return p;
    }
    p->kind = FFT_BLUESTEIN;
    int64_t m = 1;
    while (m < 2 * n - 1) m <<= 1;
    p->m = m;
    p->chirp = malloc((size_t)n * 2 * sizeof(double));
    p->bhat = calloc((size_t)m * 2, sizeof(double));
    p->fwd_m = plan_radix2(m, -1.0);
    p->inv_m = plan_radix2(m, 1.0);
    if (!p->chirp || !p->bhat || !p->fwd_m || !p->inv_m) goto fail;
    /* chirp_k = exp(s*pi*i*k^2/n) = exp(s*2*pi*i*(k^2 mod 2n)/(2n)) */
    int64_t k2 = 0; /* k^2 mod 2n, kept incrementally: (k+1)^2 = k^2 + 2k + 1 */
    for (int64_t k = 0; k < n; k++) {
        unit_root(sign, k2, 2 * n, p->chirp + 2 * k);
        k2 += 2 * k + 1;
        while (k2 >= 2 * n) k2 -= 2 * n;
    }
    double *b = p->bhat;
    double inv_m = 1.0 / (double)m;
    for (int64_t k = 0; k < n; k++) { /* conj(chirp) at k and -k, scaled */
        double re = p->chirp[2 * k] * inv_m, im = -p->chirp[2 * k + 1] * inv_m;
        b[2 * k] = re;
        b[2 * k + 1] = im;
        if (k) {
            b[2 * (m - k)] = re;
            b[2 * (m - k) + 1] = im;
        }
    }
    radix2(p->fwd_m, b);
    return p;
fail:
    cpu_fft_plan_free(p);
    return NULL;
}

size_t cpu_fft_scratch_len(const cpu_fft_plan *p)
{
    switch (p->kind) {
    case FFT_DIRECT: return (size_t)p->n * 2;
    case FFT_BLUESTEIN: return (size_t)p->m * 2;
    default: return 1;
    }
}

void cpu_fft_run(const cpu_fft_plan *p, double *data, double *scratch)
{
    switch (p->kind) {
    case FFT_RADIX2: radix2(p, data); break;
    case FFT_DIRECT: direct(p, data, scratch); break;
    default: bluestein(p, data, scratch); break;
    }
}

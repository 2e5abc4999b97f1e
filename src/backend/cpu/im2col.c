/*
 * im2col for convolutions (float32 and int32), and the window geometry
 * embedded as 3-D so 1-D, 2-D and 3-D convolutions share one code path.
 */
#include <immintrin.h>
#include <string.h>

#include "backend/cpu/nn_internal.h"

void nn_geom3_from(const nn_window *w, nn_geom3 *g)
{
    int lead = 3 - w->nsp;
    g->in_size = g->out_size = g->k_size = 1;
    for (int j = 0; j < 3; j++) {
        int i = j - lead;
        if (i < 0) {
            g->in[j] = g->out[j] = g->k[j] = g->s[j] = g->d[j] = 1;
            g->p[j] = 0;
        } else {
            g->in[j] = w->in[i];
            g->out[j] = w->out[i];
            g->k[j] = w->kernel[i];
            g->s[j] = w->stride[i];
            g->d[j] = w->dilation[i];
            g->p[j] = w->pad_begin[i];
        }
        g->in_size *= g->in[j];
        g->out_size *= g->out[j];
        g->k_size *= g->k[j];
    }
}

/* floor(a / b) and ceil(a / b) for b > 0 and any sign of a. */
static inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
static inline int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -(-a / b); }

typedef struct im2col_job {
    const void *x;
    void *col;
    int64_t ld, p0, p1; /* column range [p0, p1) of the output, stored with leading dim ld */
    nn_geom3 g;
    int64_t lo[64], hi[64]; /* valid output-w range per kernel w offset */
} im2col_job;

/* Output-w range [lo, hi) whose input w index is inside [0, W). */
static void valid_w_range(const nn_geom3 *g, int64_t kw, int64_t *lo, int64_t *hi)
{
    int64_t off = kw * g->d[2] - g->p[2];
    int64_t a = ceil_div(-off, g->s[2]);
    int64_t b = floor_div(g->in[2] - 1 - off, g->s[2]) + 1;
    if (a < 0) a = 0;
    if (b > g->out[2]) b = g->out[2];
    if (b < a) b = a;
    *lo = a;
    *hi = b;
}

static void job_init(im2col_job *j, const void *x, const nn_window *w, int64_t p0, int64_t p1,
                     void *col)
{
    j->x = x;
    j->col = col;
    nn_geom3_from(w, &j->g);
    j->p0 = p0;
    j->p1 = p1;
    j->ld = p1 - p0;
    for (int64_t kw = 0; kw < 64 && kw < j->g.k[2]; kw++) valid_w_range(&j->g, kw, &j->lo[kw], &j->hi[kw]);
}

/* dst[q] = src[2 * q] for q in [0, n), 32-bit elements: eight at a time
 * from two 256-bit loads. A block is only loaded whole when a valid q
 * follows it, so no load reads past src[2 * (n - 1)]. */
static inline void copy_stride2_32(const void *srcv, int64_t n, void *dstv)
{
    const float *src = srcv;
    float *dst = dstv;
    int64_t q = 0;
    for (; q + 8 < n; q += 8) {
        __m256 lo = _mm256_loadu_ps(src + 2 * q), hi = _mm256_loadu_ps(src + 2 * q + 8);
        /* even lanes: [lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6], then reorder the 64-bit pairs */
        __m256 ev = _mm256_shuffle_ps(lo, hi, 0x88);
        ev = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), 0xD8));
        _mm256_storeu_ps(dst + q, ev);
    }
    for (; q < n; q++) dst[q] = src[2 * q];
}

void nn_copy_stride2_f32(const float *src, int64_t n, float *dst) { copy_stride2_32(src, n, dst); }

/* Row r of the column matrix, columns [p0, p1), into dst. A column p is
 * the output position (od, oh, ow); runs of one output row are handled
 * at once: zeros left of lo, a copy (strided by the w stride), zeros
 * right of hi. */
#define DEFINE_IM2COL(NAME, T)                                                               \
    static void NAME##_row(const im2col_job *j, int64_t r, T *dst)                           \
    {                                                                                        \
        const nn_geom3 *g = &j->g;                                                           \
        const T *x = j->x;                                                                   \
        const int64_t OH = g->out[1], OW = g->out[2];                                        \
        const int64_t D = g->in[0], H = g->in[1], W = g->in[2];                              \
        int64_t kw = r % g->k[2], t = r / g->k[2];                                           \
        int64_t kh = t % g->k[1];                                                            \
        t /= g->k[1];                                                                        \
        int64_t kd = t % g->k[0], c = t / g->k[0];                                           \
        int64_t lo, hi;                                                                      \
        if (kw < 64) {                                                                       \
            lo = j->lo[kw];                                                                  \
            hi = j->hi[kw];                                                                  \
        } else {                                                                             \
            valid_w_range(g, kw, &lo, &hi);                                                  \
        }                                                                                    \
        const int64_t woff = kw * g->d[2] - g->p[2], sw = g->s[2];                           \
        int64_t p = j->p0, ow = p % OW, t2 = p / OW, oh = t2 % OH, od = t2 / OH;             \
        while (p < j->p1) {                                                                  \
            int64_t end = OW - ow < j->p1 - p ? OW : ow + (j->p1 - p);                       \
            int64_t id = od * g->s[0] - g->p[0] + kd * g->d[0];                              \
            int64_t ih = oh * g->s[1] - g->p[1] + kh * g->d[1];                              \
            if (id < 0 || id >= D || ih < 0 || ih >= H) {                                    \
                for (int64_t q = ow; q < end; q++) dst[q - ow] = 0;                          \
            } else {                                                                         \
                const T *src = x + ((c * D + id) * H + ih) * W;                              \
                int64_t a = lo > ow ? lo : ow, b = hi < end ? hi : end;                      \
                if (b < a) b = a;                                                            \
                for (int64_t q = ow; q < a && q < end; q++) dst[q - ow] = 0;                 \
                if (sw == 1) {                                                               \
                    if (b > a) memcpy(dst + (a - ow), src + a + woff, sizeof(T) * (size_t)(b - a)); \
                } else if (sw == 2 && sizeof(T) == 4) {                                      \
                    copy_stride2_32(src + 2 * a + woff, b - a, dst + (a - ow));                           \
                } else {                                                                     \
                    for (int64_t q = a; q < b; q++) dst[q - ow] = src[q * sw + woff];        \
                }                                                                            \
                for (int64_t q = b > a ? b : a; q < end; q++) dst[q - ow] = 0;               \
            }                                                                                \
            dst += end - ow;                                                                 \
            p += end - ow;                                                                   \
            ow = 0;                                                                          \
            if (++oh == OH) {                                                                \
                oh = 0;                                                                      \
                od++;                                                                        \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
    static void NAME##_rows(void *arg, int64_t r0, int64_t r1)                               \
    {                                                                                        \
        const im2col_job *j = arg;                                                           \
        for (int64_t r = r0; r < r1; r++) NAME##_row(j, r, (T *)j->col + r * j->ld);         \
    }                                                                                        \
    void NAME(const T *x, int64_t channels, const nn_window *w, T *col)                      \
    {                                                                                        \
        im2col_job j;                                                                        \
        job_init(&j, x, w, 0, 0, col);                                                       \
        j.p1 = j.ld = j.g.out_size;                                                          \
        int64_t rows = channels * j.g.k_size;                                                \
        int64_t grain = 32768 / (j.g.out_size + 1) + 1;                                      \
        fwd_parallel_for(rows, grain, NAME##_rows, &j);                                      \
    }                                                                                        \
    void NAME##_cols(const T *x, int64_t channels, const nn_window *w, int64_t p0,           \
                     int64_t p1, T *col)                                                     \
    {                                                                                        \
        im2col_job j;                                                                        \
        job_init(&j, x, w, p0, p1, col);                                                     \
        NAME##_rows(&j, 0, channels * j.g.k_size);                                           \
    }

DEFINE_IM2COL(nn_im2col_f32, float)
DEFINE_IM2COL(nn_im2col_i32, int32_t)

bool nn_im2col_pack_panels(const float *x, int64_t channels, const nn_window *w, int64_t p0,
                           int64_t p1, int64_t r0, int64_t r1, int width, float *bp)
{
    im2col_job j;
    job_init(&j, x, w, p0, p1, NULL);
    int64_t n = p1 - p0, rows = channels * j.g.k_size;
    /* each row is made contiguous in a small buffer (L1), then cut into
     * the panels */
    float *row = nn_scratch(2, (size_t)n);
    if (!row) return false;
    int64_t full = n / width * width, pstride = rows * width;
    for (int64_t r = r0; r < r1; r++) {
        nn_im2col_f32_row(&j, r, row);
        float *dst = bp + r * width;
        int64_t q = 0;
        if (width == 16) {
            for (; q < full; q += 16, dst += pstride) {
                _mm256_storeu_ps(dst, _mm256_loadu_ps(row + q));
                _mm256_storeu_ps(dst + 8, _mm256_loadu_ps(row + q + 8));
            }
        } else if (width == 8) {
            for (; q < full; q += 8, dst += pstride) _mm256_storeu_ps(dst, _mm256_loadu_ps(row + q));
        } else {
            for (; q < full; q += width, dst += pstride) memcpy(dst, row + q, sizeof(float) * (size_t)width);
        }
        if (full < n) {
            memcpy(dst, row + full, sizeof(float) * (size_t)(n - full));
            memset(dst + (n - full), 0, sizeof(float) * (size_t)(width - (n - full)));
        }
    }
    return true;
}

bool nn_im2col_pack_f32(const float *x, int64_t channels, const nn_window *w, int64_t p0,
                        int64_t p1, float *bp)
{
    int64_t rows = channels * w->kernel[0];
    for (int i = 1; i < w->nsp; i++) rows *= w->kernel[i];
    return nn_im2col_pack_panels(x, channels, w, p0, p1, 0, rows, NN_NR, bp);
}

typedef struct gemm_i32_job {
    int64_t n, k;
    const int32_t *a, *b;
    int32_t *c;
} gemm_i32_job;

static void gemm_i32_rows(void *arg, int64_t m0, int64_t m1)
{
    const gemm_i32_job *j = arg;
    for (int64_t m = m0; m < m1; m++) {
        int32_t *crow = j->c + m * j->n;
        memset(crow, 0, sizeof(int32_t) * (size_t)j->n);
        const int32_t *arow = j->a + m * j->k;
        for (int64_t kk = 0; kk < j->k; kk++) {
            int32_t av = arow[kk];
            if (!av) continue;
            const int32_t *brow = j->b + kk * j->n;
            /* unsigned arithmetic: wrap-around instead of signed overflow */
            for (int64_t x = 0; x < j->n; x++)
                crow[x] = (int32_t)((uint32_t)crow[x] + (uint32_t)av * (uint32_t)brow[x]);
        }
    }
}

void nn_gemm_i32(int64_t m, int64_t n, int64_t k, const int32_t *a, const int32_t *b, int32_t *c)
{
    gemm_i32_job j = {n, k, a, b, c};
    int64_t grain = 65536 / (n * k + 1) + 1;
    fwd_parallel_for(m, grain, gemm_i32_rows, &j);
}

/*
 * Normalisations: BatchNormalization, InstanceNormalization,
 * LayerNormalization, LpNormalization, LRN, MeanVarianceNormalization.
 *
 * float32 inputs run tight per-plane / per-row loops; float16 LayerNorm
 * rows convert to float32 around the float32 row code; other float dtypes
 * go through double. Per-channel parameters are read once into float or
 * double arrays (they may have their own dtypes).
 */
#include <stdlib.h>

#include "backend/cpu/elementwise_convert.h"
#include "backend/cpu/nn_internal.h"
#include "backend/cpu/reduce_common.h"

static const ir_tensor *opt_in(const fwd_kernel_ctx *k, int i)
{
    return i < k->n_in ? k->in[i] : NULL;
}

static ir_tensor *opt_out(const fwd_kernel_ctx *k, int i)
{
    return i < k->n_out ? k->out[i] : NULL;
}

static fwd_status need_float_in(fwd_kernel_ctx *k, const ir_tensor *t, const char *what)
{
    if (!ir_dtype_is_float(t->dtype))
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "%s must be a float tensor, got %s", what,
                                fwd_dtype_name(t->dtype));
    return FWD_OK;
}

/* Copy a parameter with n elements into a double array. */
static fwd_status read_param(fwd_kernel_ctx *k, const ir_tensor *t, const char *what, int64_t n, double *dst)
{
    FWD_TRY(need_float_in(k, t, what));
    if ((int64_t)ir_tensor_numel(t) != n)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "%s has %lld elements, expected %lld", what,
                                (long long)ir_tensor_numel(t), (long long)n);
    for (int64_t i = 0; i < n; i++) dst[i] = cpu_get_f64(t->dtype, t->data, i);
    return FWD_OK;
}

/* ---------------- per-channel affine: y = x * a[c] + b[c] ---------------- */

typedef struct affine_job {
    const ir_tensor *x;
    ir_tensor *y;
    const double *a, *b;
    int64_t C, S;
} affine_job;

static void affine_task(void *arg, int64_t beg, int64_t end)
{
    const affine_job *j = arg;
    int64_t S = j->S;
    for (int64_t p = beg; p < end; p++) {
        int64_t c = p % j->C;
        if (j->x->dtype == FWD_FLOAT32) {
            const float *x = (const float *)j->x->data + p * S;
            float *y = (float *)j->y->data + p * S;
            float a = (float)j->a[c], b = (float)j->b[c];
            for (int64_t i = 0; i < S; i++) y[i] = x[i] * a + b;
        } else {
            for (int64_t i = p * S; i < (p + 1) * S; i++)
                cpu_set_f64(j->y->dtype, j->y->data, i, cpu_get_f64(j->x->dtype, j->x->data, i) * j->a[c] + j->b[c]);
        }
    }
}

static void run_affine(const ir_tensor *x, ir_tensor *y, const double *a, const double *b, int64_t N,
                       int64_t C, int64_t S)
{
    affine_job j = {x, y, a, b, C, S};
    fwd_parallel_for(N * C, red_grain(S), affine_task, &j);
}

/* Per-(n, c) plane statistics: mean and population variance, in double. */
static void plane_stats(const ir_tensor *x, int64_t p, int64_t S, double *mean, double *var)
{
    if (S == 0) {
        *mean = 0.0;
        *var = 0.0;
        return;
    }
    if (x->dtype == FWD_FLOAT32) {
        const float *xp = (const float *)x->data + p * S;
        float m = red_sum_f32(xp, S) / (float)S;
        *mean = m;
        *var = red_sumsq_centered_f32(xp, S, m) / (double)S;
        return;
    }
    double s = 0.0, ss = 0.0;
    for (int64_t i = p * S; i < (p + 1) * S; i++) s += cpu_get_f64(x->dtype, x->data, i);
    double m = s / (double)S;
    for (int64_t i = p * S; i < (p + 1) * S; i++) {
        double d = cpu_get_f64(x->dtype, x->data, i) - m;
        ss += d * d;
    }
    *mean = m;
    *var = ss / (double)S;
}

/* Shape [N, C, spatial...] -> N, C, S. */
static fwd_status nc_dims(fwd_kernel_ctx *k, const ir_tensor *x, int min_rank, int64_t *N, int64_t *C, int64_t *S)
{
    *N = *C = *S = 0;
    if (x->shape.rank < min_rank)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "input must have rank >= %d, got %d", min_rank, x->shape.rank);
    *N = x->shape.dims[0];
    *C = x->shape.dims[1];
    *S = 1;
    for (int i = 2; i < x->shape.rank; i++) *S *= x->shape.dims[i];
    return FWD_OK;
}

/* ---------------- BatchNormalization ---------------- */

typedef struct stats_job {
    const ir_tensor *x;
    int64_t N, C, S;
    double *mean, *var;
} stats_job;

/* Training statistics of channel c over all of N and S. */
static void bn_stats_task(void *arg, int64_t beg, int64_t end)
{
    const stats_job *j = arg;
    for (int64_t c = beg; c < end; c++) {
        double s = 0.0, ss = 0.0, cnt = (double)(j->N * j->S);
        for (int64_t n = 0; n < j->N; n++) {
            double m, v;
            plane_stats(j->x, n * j->C + c, j->S, &m, &v);
            s += m * (double)j->S;
            ss += (v + m * m) * (double)j->S;
        }
        double mean = cnt > 0 ? s / cnt : 0.0;
        double var = cnt > 0 ? ss / cnt - mean * mean : 0.0;
        j->mean[c] = mean;
        j->var[c] = var > 0 ? var : 0.0;
    }
}

fwd_status cpu_batchnorm(fwd_kernel_ctx *k)
{
    const ir_tensor *x = k->in[0];
    FWD_TRY(need_float_in(k, x, "X"));
    int64_t N, C, S;
    FWD_TRY(nc_dims(k, x, 2, &N, &C, &S));
    FWD_TRY(red_ensure_output(k, 0, x->dtype, &x->shape));
    static const char *names[] = {"X", "scale", "B", "input_mean", "input_var"};
    for (int i = 1; i < 5; i++)
        if (!opt_in(k, i)) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "missing input %s", names[i]);
    double *buf = fwd_kernel_scratch(k, sizeof(double) * (size_t)(C > 0 ? C : 1) * 8);
    if (!buf) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    double *scale = buf, *bias = buf + C, *mean = buf + 2 * C, *var = buf + 3 * C;
    double *a = buf + 4 * C, *b = buf + 5 * C, *bmean = buf + 6 * C, *bvar = buf + 7 * C;
    fwd_status s = FWD_OK;
    for (int i = 1; i < 5 && s == FWD_OK; i++) s = read_param(k, k->in[i], names[i], C, buf + (i - 1) * C);
    if (s != FWD_OK) return s;
    double eps = ir_attr_float(k->node, "epsilon", 1e-5f);
    bool training = ir_attr_int(k->node, "training_mode", 0) != 0;
    const double *use_mean = mean, *use_var = var;
    if (training) {
        stats_job sj = {x, N, C, S, bmean, bvar};
        fwd_parallel_for(C, 1, bn_stats_task, &sj);
        use_mean = bmean;
        use_var = bvar;
    }
    for (int64_t c = 0; c < C; c++) {
        a[c] = scale[c] / sqrt(use_var[c] + eps);
        b[c] = bias[c] - use_mean[c] * a[c];
    }
    run_affine(x, k->out[0], a, b, N, C, S);
    /* running_mean / running_var (training); plain copies in inference. */
    double momentum = ir_attr_float(k->node, "momentum", 0.9f);
    for (int o = 1; o < 3; o++) {
        ir_tensor *rt = opt_out(k, o);
        if (!rt) continue;
        const ir_tensor *src = k->in[o + 2];
        if ((s = red_ensure_output(k, o, src->dtype, &src->shape)) != FWD_OK) break;
        const double *in = o == 1 ? mean : var, *cur = o == 1 ? bmean : bvar;
        for (int64_t c = 0; c < C; c++)
            cpu_set_f64(rt->dtype, rt->data, c, training ? in[c] * momentum + cur[c] * (1.0 - momentum) : in[c]);
    }
    return s;
}

/* ---------------- InstanceNormalization ---------------- */

typedef struct inorm_job {
    const ir_tensor *x;
    ir_tensor *y;
    const double *scale, *bias;
    int64_t C, S;
    double eps;
} inorm_job;

static void inorm_task(void *arg, int64_t beg, int64_t end)
{
    const inorm_job *j = arg;
    for (int64_t p = beg; p < end; p++) {
        int64_t c = p % j->C;
        double m, v;
        plane_stats(j->x, p, j->S, &m, &v);
        double a = j->scale[c] / sqrt(v + j->eps), b = j->bias[c] - m * a;
        if (j->x->dtype == FWD_FLOAT32) {
            const float *x = (const float *)j->x->data + p * j->S;
            float *y = (float *)j->y->data + p * j->S;
            float fa = (float)a, fb = (float)b;
            for (int64_t i = 0; i < j->S; i++) y[i] = x[i] * fa + fb;
        } else {
            for (int64_t i = p * j->S; i < (p + 1) * j->S; i++)
                cpu_set_f64(j->y->dtype, j->y->data, i, cpu_get_f64(j->x->dtype, j->x->data, i) * a + b);
        }
    }
}

fwd_status cpu_instancenorm(fwd_kernel_ctx *k)
{
    const ir_tensor *x = k->in[0];
    FWD_TRY(need_float_in(k, x, "input"));
    int64_t N, C, S;
    FWD_TRY(nc_dims(k, x, 3, &N, &C, &S));
    if (!opt_in(k, 1) || !opt_in(k, 2)) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "needs scale and B");
    FWD_TRY(red_ensure_output(k, 0, x->dtype, &x->shape));
    double *buf = malloc(sizeof(double) * (size_t)(C > 0 ? C : 1) * 2);
    if (!buf) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    fwd_status s = read_param(k, k->in[1], "scale", C, buf);
    if (s == FWD_OK) s = read_param(k, k->in[2], "B", C, buf + C);
    if (s == FWD_OK) {
        inorm_job j = {x, k->out[0], buf, buf + C, C, S, ir_attr_float(k->node, "epsilon", 1e-5f)};
        fwd_parallel_for(N * C, red_grain(S * 2), inorm_task, &j);
    }
    free(buf);
    return s;
}

/* ---------------- LayerNormalization ---------------- */

/* Broadcast a Scale/B tensor to the normalised shape (dims[axis:]),
 * into dst[0..D) as float and double. */
static fwd_status expand_param(fwd_kernel_ctx *k, const ir_tensor *t, const char *what, const ir_shape *ns,
                               int64_t D, float *dstf, double *dstd)
{
    FWD_TRY(need_float_in(k, t, what));
    /* Leading dims beyond the normalised ones must be 1 (one set of
     * parameters for every row). */
    ir_shape ts = {.rank = 0};
    for (int i = 0; i < t->shape.rank; i++) {
        int64_t d = t->shape.dims[i];
        if (i < t->shape.rank - ns->rank) {
            if (d != 1)
                return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "%s dim %d is %lld; only the normalised dims may vary",
                                        what, i, (long long)d);
            continue;
        }
        ts.dims[ts.rank++] = d;
    }
    int off = ns->rank - ts.rank;
    for (int i = 0; i < ts.rank; i++) {
        int64_t d = ts.dims[i];
        if (d != 1 && d != ns->dims[i + off])
            return cpu_kernel_error(k, FWD_ERR_SHAPE, "%s dim %d is %lld, does not broadcast to %lld", what, i,
                                    (long long)d, (long long)ns->dims[i + off]);
    }
    if ((int64_t)ir_tensor_numel(t) == D) {
        for (int64_t i = 0; i < D; i++) dstd[i] = cpu_get_f64(t->dtype, t->data, i);
    } else {
        int64_t st[IR_MAX_RANK];
        cpu_broadcast_strides(&ts, ns, st);
        for (int64_t i = 0; i < D; i++) dstd[i] = cpu_get_f64(t->dtype, t->data, cpu_offset(ns, st, i));
    }
    for (int64_t i = 0; i < D; i++) dstf[i] = (float)dstd[i];
    return FWD_OK;
}

typedef struct ln_job {
    const ir_tensor *x;
    ir_tensor *y, *mean_out, *inv_out;
    const float *sf, *bf;
    const double *sd, *bd;
    int64_t D;
    float eps;
} ln_job;

#ifdef RED_AVX2
/* Elements per float block of the row sums; blocks are added in double
 * so long rows keep their precision. */
#define LN_BLOCK 1024

/* Sum of (x[i] - c) and of (x[i] - c)^2 over n elements: four 8-lane
 * chains per sum so the adds overlap (the reduce helpers' two chains
 * leave a 768-wide BERT row latency-bound). */
static void ln_sums(const float *x, int64_t n, float c, bool squares, double *sum)
{
    __m256 vc = _mm256_set1_ps(c);
    double total = 0.0;
    for (int64_t b = 0; b < n; b += LN_BLOCK) {
        int64_t e = b + LN_BLOCK < n ? b + LN_BLOCK : n, i = b;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (; i + 32 <= e; i += 32) {
            __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), vc);
            __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vc);
            __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 16), vc);
            __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 24), vc);
            if (squares) {
                a0 = _mm256_fmadd_ps(d0, d0, a0);
                a1 = _mm256_fmadd_ps(d1, d1, a1);
                a2 = _mm256_fmadd_ps(d2, d2, a2);
                a3 = _mm256_fmadd_ps(d3, d3, a3);
            } else {
                a0 = _mm256_add_ps(a0, d0);
                a1 = _mm256_add_ps(a1, d1);
                a2 = _mm256_add_ps(a2, d2);
                a3 = _mm256_add_ps(a3, d3);
            }
        }
        for (; i + 8 <= e; i += 8) {
            __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), vc);
            a0 = squares ? _mm256_fmadd_ps(d, d, a0) : _mm256_add_ps(a0, d);
        }
        float t = red_hsum_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        for (; i < e; i++) t += squares ? (x[i] - c) * (x[i] - c) : x[i] - c;
        total += t;
    }
    *sum = total;
}
#endif

/* One float32 row (x and y may be the same buffer): the mean, then the
 * variance around it (two passes over a row that stays in L1), then
 * y = (x - mean) * inv * scale + bias. */
void cpu_layernorm_row_f32(const float *x, float *y, int64_t D, const float *sc, const float *bi, float eps,
                           double *mean, double *inv)
{
#ifdef RED_AVX2
    double s1, s2;
    /* summed around the first element: a mean far from zero keeps its
     * low digits */
    ln_sums(x, D, x[0], false, &s1);
    float m = (float)((double)x[0] + s1 / (double)D);
    ln_sums(x, D, m, true, &s2);
    float iv = 1.0f / sqrtf((float)(s2 / (double)D) + eps);
    __m256 vm = _mm256_set1_ps(m), vi = _mm256_set1_ps(iv);
    int64_t i = 0;
    if (bi) {
        for (; i + 8 <= D; i += 8) {
            __m256 t = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), vi);
            _mm256_storeu_ps(y + i, _mm256_fmadd_ps(t, _mm256_loadu_ps(sc + i), _mm256_loadu_ps(bi + i)));
        }
    } else {
        for (; i + 8 <= D; i += 8) {
            __m256 t = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), vi);
            _mm256_storeu_ps(y + i, _mm256_mul_ps(t, _mm256_loadu_ps(sc + i)));
        }
    }
    for (; i < D; i++) y[i] = bi ? (x[i] - m) * iv * sc[i] + bi[i] : (x[i] - m) * iv * sc[i];
#else
    float m = red_sum_f32(x, D) / (float)D;
    float var = red_sumsq_centered_f32(x, D, m) / (float)D;
    float iv = 1.0f / sqrtf(var + eps);
    if (bi) {
        for (int64_t i = 0; i < D; i++) y[i] = (x[i] - m) * iv * sc[i] + bi[i];
    } else {
        for (int64_t i = 0; i < D; i++) y[i] = (x[i] - m) * iv * sc[i];
    }
#endif
    *mean = m;
    *inv = iv;
}

static void ln_task(void *arg, int64_t beg, int64_t end)
{
    const ln_job *j = arg;
    int64_t D = j->D;
    /* float16 rows go through a float32 row buffer (float32 statistics) */
    float *buf = j->x->dtype == FWD_FLOAT16 ? malloc(sizeof(float) * (size_t)D) : NULL;
    for (int64_t r = beg; r < end; r++) {
        double mean, inv;
        if (j->x->dtype == FWD_FLOAT32) {
            cpu_layernorm_row_f32((const float *)j->x->data + r * D, (float *)j->y->data + r * D, D, j->sf, j->bf,
                                  j->eps, &mean, &inv);
        } else if (buf) {
            elt_f16_to_f32_n((const uint16_t *)j->x->data + r * D, buf, D);
            cpu_layernorm_row_f32(buf, buf, D, j->sf, j->bf, j->eps, &mean, &inv);
            elt_f32_to_f16_n(buf, (uint16_t *)j->y->data + r * D, D);
        } else {
            fwd_dtype dt = j->x->dtype;
            double s = 0.0, ss = 0.0;
            for (int64_t i = r * D; i < (r + 1) * D; i++) s += cpu_get_f64(dt, j->x->data, i);
            mean = s / (double)D;
            for (int64_t i = r * D; i < (r + 1) * D; i++) {
                double d = cpu_get_f64(dt, j->x->data, i) - mean;
                ss += d * d;
            }
            inv = 1.0 / sqrt(ss / (double)D + j->eps);
            for (int64_t i = 0; i < D; i++) {
                double v = (cpu_get_f64(dt, j->x->data, r * D + i) - mean) * inv * j->sd[i];
                cpu_set_f64(dt, j->y->data, r * D + i, j->bd ? v + j->bd[i] : v);
            }
        }
        if (j->mean_out) cpu_set_f64(j->mean_out->dtype, j->mean_out->data, r, mean);
        if (j->inv_out) cpu_set_f64(j->inv_out->dtype, j->inv_out->data, r, inv);
    }
    free(buf);
}

fwd_status cpu_layernorm(fwd_kernel_ctx *k)
{
    const ir_tensor *x = k->in[0];
    FWD_TRY(need_float_in(k, x, "X"));
    int rank = x->shape.rank;
    if (rank < 1) return cpu_kernel_error(k, FWD_ERR_SHAPE, "X must have rank >= 1");
    int64_t axis = ir_attr_int(k->node, "axis", -1);
    if (axis < -rank || axis >= rank)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "axis %lld out of range for rank %d", (long long)axis, rank);
    if (axis < 0) axis += rank;
    if (!opt_in(k, 1)) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "missing Scale");
    int64_t O = 1, D = 1;
    ir_shape ns = {.rank = rank - (int)axis}, st = {.rank = rank};
    for (int i = 0; i < rank; i++) {
        if (i < axis) O *= x->shape.dims[i];
        else D *= x->shape.dims[i], ns.dims[i - axis] = x->shape.dims[i];
        st.dims[i] = i < axis ? x->shape.dims[i] : 1;
    }
    FWD_TRY(red_ensure_output(k, 0, x->dtype, &x->shape));
    fwd_dtype sd = ir_attr_int(k->node, "stash_type", 1) == 1 ? FWD_FLOAT32 : x->dtype;
    for (int o = 1; o < 3; o++) FWD_TRY(red_ensure_output(k, o, sd, &st));
    if (O * D == 0) return FWD_OK;
    const ir_tensor *bt = opt_in(k, 2);
    size_t n = (size_t)D * (bt ? 2 : 1);
    float *f = fwd_kernel_scratch(k, sizeof(float) * n);
    double *d = fwd_kernel_scratch(k, sizeof(double) * n);
    if (!f || !d) {
        return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory");
    }
    fwd_status s = expand_param(k, k->in[1], "Scale", &ns, D, f, d);
    if (s == FWD_OK && bt) s = expand_param(k, bt, "B", &ns, D, f + D, d + D);
    if (s == FWD_OK) {
        ln_job j = {x, k->out[0], opt_out(k, 1), opt_out(k, 2), f, bt ? f + D : NULL, d, bt ? d + D : NULL, D,
                    ir_attr_float(k->node, "epsilon", 1e-5f)};
        fwd_parallel_for(O, red_grain(D * 3), ln_task, &j);
    }
    return s;
}

/* ---------------- LpNormalization ---------------- */

typedef struct lp_job {
    const ir_tensor *x;
    ir_tensor *y;
    int64_t N, I;
    int p;
} lp_job;

static void lp_task(void *arg, int64_t beg, int64_t end)
{
    const lp_job *j = arg;
    int64_t N = j->N, I = j->I;
    fwd_dtype dt = j->x->dtype;
    for (int64_t t = beg; t < end; t++) {
        int64_t base = (t / I) * N * I + t % I;
        if (dt == FWD_FLOAT32 && I == 1) {
            const float *x = (const float *)j->x->data + base;
            float *y = (float *)j->y->data + base;
            float norm = j->p == 1 ? red_sumabs_f32(x, N) : sqrtf(red_sumsq_centered_f32(x, N, 0.0f));
            float inv = norm > 0.0f ? 1.0f / norm : 0.0f;
            for (int64_t i = 0; i < N; i++) y[i] = x[i] * inv;
            continue;
        }
        double acc = 0.0;
        for (int64_t r = 0; r < N; r++) {
            double v = cpu_get_f64(dt, j->x->data, base + r * I);
            acc += j->p == 1 ? fabs(v) : v * v;
        }
        double norm = j->p == 1 ? acc : sqrt(acc), inv = norm > 0.0 ? 1.0 / norm : 0.0;
        for (int64_t r = 0; r < N; r++)
            cpu_set_f64(dt, j->y->data, base + r * I, cpu_get_f64(dt, j->x->data, base + r * I) * inv);
    }
}

fwd_status cpu_lpnorm(fwd_kernel_ctx *k)
{
    const ir_tensor *x = k->in[0];
    FWD_TRY(need_float_in(k, x, "input"));
    int64_t p = ir_attr_int(k->node, "p", 2);
    if (p != 1 && p != 2) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "p must be 1 or 2, got %lld", (long long)p);
    int rank = x->shape.rank, r1 = rank > 0 ? rank : 1;
    int64_t axis = ir_attr_int(k->node, "axis", -1);
    if (axis < -r1 || axis >= r1)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "axis %lld out of range for rank %d", (long long)axis, rank);
    if (axis < 0) axis += r1;
    FWD_TRY(red_ensure_output(k, 0, x->dtype, &x->shape));
    int64_t O = 1, N = 1, I = 1;
    for (int i = 0; i < rank; i++) {
        if (i < axis) O *= x->shape.dims[i];
        else if (i == axis) N = x->shape.dims[i];
        else I *= x->shape.dims[i];
    }
    if (O * N * I == 0) return FWD_OK;
    lp_job j = {x, k->out[0], N, I, (int)p};
    fwd_parallel_for(O * I, red_grain(N * 2), lp_task, &j);
    return FWD_OK;
}

/* ---------------- LRN ---------------- */

typedef struct lrn_job {
    const ir_tensor *x;
    ir_tensor *y;
    int64_t C, S, nblk;
    int64_t lo, hi; /* window: channels [c - lo, c + hi] */
    float alpha_n, beta, bias;
} lrn_job;

#define LRN_BLK 256

static void lrn_task(void *arg, int64_t beg, int64_t end)
{
    const lrn_job *j = arg;
    int64_t C = j->C, S = j->S;
    fwd_dtype dt = j->x->dtype;
    for (int64_t t = beg; t < end; t++) {
        int64_t p = t / j->nblk, s0 = (t % j->nblk) * LRN_BLK;
        int64_t n = p / C, c = p % C, len = S - s0 < LRN_BLK ? S - s0 : LRN_BLK;
        int64_t c0 = c - j->lo < 0 ? 0 : c - j->lo, c1 = c + j->hi > C - 1 ? C - 1 : c + j->hi;
        float acc[LRN_BLK] = {0};
        for (int64_t cc = c0; cc <= c1; cc++) {
            int64_t off = (n * C + cc) * S + s0;
            if (dt == FWD_FLOAT32) {
                const float *x = (const float *)j->x->data + off;
                for (int64_t i = 0; i < len; i++) acc[i] += x[i] * x[i];
            } else {
                for (int64_t i = 0; i < len; i++) {
                    float v = (float)cpu_get_f64(dt, j->x->data, off + i);
                    acc[i] += v * v;
                }
            }
        }
        int64_t off = p * S + s0;
        if (dt == FWD_FLOAT32) {
            const float *x = (const float *)j->x->data + off;
            float *y = (float *)j->y->data + off;
            for (int64_t i = 0; i < len; i++) y[i] = x[i] * powf(j->bias + j->alpha_n * acc[i], -j->beta);
            continue;
        }
        for (int64_t i = 0; i < len; i++) {
            float v = (float)cpu_get_f64(dt, j->x->data, off + i);
            cpu_set_f64(dt, j->y->data, off + i, v * powf(j->bias + j->alpha_n * acc[i], -j->beta));
        }
    }
}

fwd_status cpu_lrn(fwd_kernel_ctx *k)
{
    const ir_tensor *x = k->in[0];
    FWD_TRY(need_float_in(k, x, "X"));
    int64_t N, C, S;
    FWD_TRY(nc_dims(k, x, 3, &N, &C, &S));
    int64_t size = ir_attr_int(k->node, "size", 0);
    if (size < 1) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "attribute size must be positive");
    FWD_TRY(red_ensure_output(k, 0, x->dtype, &x->shape));
    if (N * C * S == 0) return FWD_OK;
    lrn_job j = {x, k->out[0], C, S, (S + LRN_BLK - 1) / LRN_BLK, (size - 1) / 2, size / 2,
                 ir_attr_float(k->node, "alpha", 1e-4f) / (float)size, ir_attr_float(k->node, "beta", 0.75f),
                 ir_attr_float(k->node, "bias", 1.0f)};
    /* the window is clipped to the channels: no more than 2C + 1 of it
     * counts for the work (size itself may be huge) */
    int64_t span = size < 2 * C + 1 ? size : 2 * C + 1;
    fwd_parallel_for(N * C * j.nblk, red_grain(LRN_BLK * span * 2), lrn_task, &j);
    return FWD_OK;
}

/* ---------------- MeanVarianceNormalization ---------------- */

typedef struct mvn_job {
    const ir_tensor *x;
    ir_tensor *y;
    odo keep, red;
    int64_t R;
} mvn_job;

static void mvn_task(void *arg, int64_t beg, int64_t end)
{
    const mvn_job *j = arg;
    odo keep = j->keep, red = j->red;
    fwd_dtype dt = j->x->dtype;
    odo_seek(&keep, beg);
    for (int64_t o = beg; o < end; o++, odo_next(&keep)) {
        double s = 0.0, ss = 0.0;
        odo_seek(&red, 0);
        for (int64_t r = 0; r < j->R; r++, odo_next(&red)) s += cpu_get_f64(dt, j->x->data, keep.off + red.off);
        double m = s / (double)j->R;
        odo_seek(&red, 0);
        for (int64_t r = 0; r < j->R; r++, odo_next(&red)) {
            double d = cpu_get_f64(dt, j->x->data, keep.off + red.off) - m;
            ss += d * d;
        }
        double inv = 1.0 / (sqrt(ss / (double)j->R) + 1e-9);
        odo_seek(&red, 0);
        for (int64_t r = 0; r < j->R; r++, odo_next(&red)) {
            int64_t i = keep.off + red.off;
            cpu_set_f64(dt, j->y->data, i, (cpu_get_f64(dt, j->x->data, i) - m) * inv);
        }
    }
}

fwd_status cpu_mvn(fwd_kernel_ctx *k)
{
    const ir_tensor *x = k->in[0];
    FWD_TRY(need_float_in(k, x, "X"));
    int rank = x->shape.rank, n;
    static const int64_t dflt[] = {0, 2, 3};
    const int64_t *axes = ir_attr_ints(k->node, "axes", &n);
    if (!axes) {
        axes = dflt;
        n = 3;
    }
    bool mask[IR_MAX_RANK] = {false};
    for (int i = 0; i < n; i++) {
        int64_t a = axes[i];
        if (a < -rank || a >= rank)
            return cpu_kernel_error(k, FWD_ERR_SHAPE, "axis %lld out of range for rank %d", (long long)a, rank);
        mask[a < 0 ? a + rank : a] = true;
    }
    FWD_TRY(red_ensure_output(k, 0, x->dtype, &x->shape));
    mvn_job j = {.x = x, .y = k->out[0], .R = 1};
    int64_t strides[IR_MAX_RANK], K = 1;
    cpu_strides(&x->shape, strides);
    for (int i = 0; i < rank; i++) {
        odo *od = mask[i] ? &j.red : &j.keep;
        od->size[od->n] = x->shape.dims[i];
        od->stride[od->n++] = strides[i];
        if (mask[i]) j.R *= x->shape.dims[i];
        else K *= x->shape.dims[i];
    }
    if (K * j.R == 0) return FWD_OK;
    fwd_parallel_for(K, red_grain(j.R * 6), mvn_task, &j);
    return FWD_OK;
}

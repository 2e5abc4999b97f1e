/* CPU kernels for the signal op family: DFT, STFT, HannWindow,
 * HammingWindow, BlackmanWindow and MelWeightMatrix (ONNX opset 17).
 * Transforms run in double precision through fft.c. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/cpu_util.h"
#include "backend/cpu/fft.h"
#include "util/threadpool.h"

#define SIG_PI 3.14159265358979323846

/* An integer scalar input (int32/int64, one element). */
static fwd_status scalar_int_input(const fwd_kernel_ctx *k, int idx, const char *what,
                                   int64_t *v)
{
    const ir_tensor *t = idx < k->n_in ? k->in[idx] : NULL;
    if (!t) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "input '%s' is missing", what);
    if ((t->dtype != FWD_INT32 && t->dtype != FWD_INT64) || ir_tensor_numel(t) != 1)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "input '%s' must be an int32/int64 scalar",
                                what);
    *v = cpu_get_index(t, 0);
    return FWD_OK;
}

static fwd_status scalar_float_input(const fwd_kernel_ctx *k, int idx, const char *what,
                                     double *v)
{
    const ir_tensor *t = idx < k->n_in ? k->in[idx] : NULL;
    if (!t) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "input '%s' is missing", what);
    if (ir_tensor_numel(t) != 1 || t->dtype == FWD_STRING)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "input '%s' must be a scalar", what);
    *v = cpu_get_f64(t->dtype, t->data, 0);
    return FWD_OK;
}

/* ---- transforms of many lines (DFT and STFT share this) ---- */

/* Line `line` reads n_load complex values at x + (in_base + j*in_step)*comp
 * elements, zero pads to n, multiplies by the window (if any), transforms
 * and writes n_out complex values at y + (out_base + j*out_step)*2. */
typedef struct fft_job {
    const cpu_fft_plan *plan;
    fwd_dtype dt;
    const void *x;
    void *y;
    int comp;             /* 1: real input, 2: complex */
    int64_t n, n_load, n_out;
    const double *window; /* n values or NULL */
    double scale;
    /* line -> offsets: DFT splits line into (outer, inner); STFT into
     * (batch, frame) */
    int64_t inner;        /* DFT: lines per outer block; STFT: frames */
    int64_t in_len;       /* DFT: input axis length; STFT: signal length */
    int64_t frame_step;   /* STFT only (0 for DFT) */
    atomic_int oom;
} fft_job;

static void fft_line_offsets(const fft_job *j, int64_t line, int64_t *in_base,
                             int64_t *in_step, int64_t *out_base, int64_t *out_step)
{
    int64_t o = line / j->inner, i = line % j->inner;
    if (j->frame_step) { /* STFT: o = batch, i = frame */
        *in_base = o * j->in_len + i * j->frame_step;
        *in_step = 1;
        *out_base = line * j->n_out;
        *out_step = 1;
    } else {
        *in_base = o * j->in_len * j->inner + i;
        *in_step = j->inner;
        *out_base = o * j->n_out * j->inner + i;
        *out_step = j->inner;
    }
}

static void fft_lines(void *arg, int64_t begin, int64_t end)
{
    fft_job *j = arg;
    size_t scratch_len = cpu_fft_scratch_len(j->plan);
    double *buf = malloc(((size_t)j->n * 2 + scratch_len) * sizeof(double));
    if (!buf) {
        atomic_store(&j->oom, 1);
        return;
    }
    double *scratch = buf + 2 * j->n;
    for (int64_t line = begin; line < end; line++) {
        int64_t ib, is, ob, os;
        fft_line_offsets(j, line, &ib, &is, &ob, &os);
        int64_t c = j->comp;
        if (j->dt == FWD_FLOAT32) {
            const float *x = j->x;
            for (int64_t t = 0; t < j->n_load; t++) {
                const float *p = x + (ib + t * is) * c;
                buf[2 * t] = p[0];
                buf[2 * t + 1] = c == 2 ? p[1] : 0.0;
            }
        } else if (j->dt == FWD_FLOAT64) {
            const double *x = j->x;
            for (int64_t t = 0; t < j->n_load; t++) {
                const double *p = x + (ib + t * is) * c;
                buf[2 * t] = p[0];
                buf[2 * t + 1] = c == 2 ? p[1] : 0.0;
            }
        } else {
            for (int64_t t = 0; t < j->n_load; t++) {
                int64_t off = (ib + t * is) * c;
                buf[2 * t] = cpu_get_f64(j->dt, j->x, off);
                buf[2 * t + 1] = c == 2 ? cpu_get_f64(j->dt, j->x, off + 1) : 0.0;
            }
        }
        for (int64_t t = j->n_load; t < j->n; t++) buf[2 * t] = buf[2 * t + 1] = 0.0;
        if (j->window)
            for (int64_t t = 0; t < j->n_load; t++) {
                buf[2 * t] *= j->window[t];
                buf[2 * t + 1] *= j->window[t];
            }
        cpu_fft_run(j->plan, buf, scratch);
        double s = j->scale;
        if (j->dt == FWD_FLOAT32) {
            float *y = j->y;
            for (int64_t t = 0; t < j->n_out; t++) {
                float *p = y + (ob + t * os) * 2;
                p[0] = (float)(buf[2 * t] * s);
                p[1] = (float)(buf[2 * t + 1] * s);
            }
        } else {
            for (int64_t t = 0; t < j->n_out; t++) {
                int64_t off = (ob + t * os) * 2;
                cpu_set_f64(j->dt, j->y, off, buf[2 * t] * s);
                cpu_set_f64(j->dt, j->y, off + 1, buf[2 * t + 1] * s);
            }
        }
    }
    free(buf);
}

/* Runs the job over n_lines lines; returns an error on allocation failure. */
static fwd_status fft_run_job(const fwd_kernel_ctx *k, fft_job *j, int64_t n_lines,
                              bool inverse)
{
    if (n_lines == 0 || j->n_out == 0) return FWD_OK;
    cpu_fft_plan *plan = cpu_fft_plan_new(j->n, inverse);
    if (!plan)
        return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "no memory for an FFT of length %lld",
                                (long long)j->n);
    j->plan = plan;
    atomic_init(&j->oom, 0);
    int64_t log2n = 1;
    while ((INT64_C(1) << log2n) < j->n && log2n < 62) log2n++;
    int64_t cost = j->n * (log2n + 2) * 4; /* rough flops per line */
    int64_t grain = cost >= 65536 ? 1 : 65536 / cost;
    fwd_parallel_for(n_lines, grain, fft_lines, j);
    cpu_fft_plan_free(plan);
    if (atomic_load(&j->oom))
        return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "no memory for FFT buffers");
    return FWD_OK;
}

static bool float_dtype_ok(fwd_dtype t)
{
    return t == FWD_FLOAT32 || t == FWD_FLOAT64 || t == FWD_FLOAT16 || t == FWD_BFLOAT16;
}

static fwd_status run_dft(fwd_kernel_ctx *k)
{
    const ir_tensor *x = k->in[0];
    ir_tensor *y = k->out[0];
    if (!x || !float_dtype_ok(x->dtype))
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "input must be a float tensor");
    int r = x->shape.rank;
    if (r < 2 || (x->shape.dims[r - 1] != 1 && x->shape.dims[r - 1] != 2))
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "input must be [..., signal, 1 or 2]");
    int64_t axis = ir_attr_int(k->node, "axis", 1);
    if (axis < 0) axis += r;
    if (axis < 0 || axis > r - 2)
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "axis out of range");
    bool inverse = ir_attr_int(k->node, "inverse", 0) != 0;
    bool onesided = ir_attr_int(k->node, "onesided", 0) != 0;
    int64_t len = x->shape.dims[axis], n = len;
    if (k->n_in > 1 && k->in[1]) {
        FWD_TRY(scalar_int_input(k, 1, "dft_length", &n));
        if (n < 1)
            return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "dft_length must be >= 1, got %lld",
                                    (long long)n);
    }
    int64_t n_out = onesided ? n / 2 + 1 : n;
    if (!y->data) {
        ir_shape s = x->shape;
        s.dims[r - 1] = 2;
        s.dims[axis] = n_out;
        FWD_TRY(fwd_kernel_alloc_output(k, 0, x->dtype, &s));
    }
    if (y->dtype != x->dtype || y->shape.rank != r || y->shape.dims[axis] != n_out ||
        y->shape.dims[r - 1] != 2)
        return cpu_kernel_error(k, FWD_ERR_INTERNAL, "output shape does not fit");
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= x->shape.dims[i];
    for (int i = (int)axis + 1; i < r - 1; i++) inner *= x->shape.dims[i];
    if (len == 0 && n > 0) { /* nothing to read: all zeros */
        memset(y->data, 0, y->nbytes);
        return FWD_OK;
    }
    fft_job j = {
        .dt = x->dtype, .x = x->data, .y = y->data, .comp = (int)x->shape.dims[r - 1],
        .n = n, .n_load = len < n ? len : n, .n_out = n_out,
        .scale = inverse ? 1.0 / (double)n : 1.0,
        .inner = inner, .in_len = len, .frame_step = 0,
    };
    if (inner == 0) return FWD_OK;
    return fft_run_job(k, &j, outer * inner, inverse);
}

static fwd_status run_stft(fwd_kernel_ctx *k)
{
    const ir_tensor *x = k->in[0];
    ir_tensor *y = k->out[0];
    if (!x || !float_dtype_ok(x->dtype))
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "signal must be a float tensor");
    if (x->shape.rank != 3 || (x->shape.dims[2] != 1 && x->shape.dims[2] != 2))
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "signal must be [batch, length, 1 or 2]");
    int64_t step = 0, flen = -1;
    FWD_TRY(scalar_int_input(k, 1, "frame_step", &step));
    if (step < 1)
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "frame_step must be >= 1, got %lld",
                                (long long)step);
    const ir_tensor *w = k->n_in > 2 ? k->in[2] : NULL;
    if (k->n_in > 3 && k->in[3]) FWD_TRY(scalar_int_input(k, 3, "frame_length", &flen));
    if (w) {
        if (w->shape.rank != 1 || !float_dtype_ok(w->dtype))
            return cpu_kernel_error(k, FWD_ERR_SHAPE, "window must be a 1-D float tensor");
        if (flen >= 0 && flen != w->shape.dims[0])
            return cpu_kernel_error(k, FWD_ERR_SHAPE, "frame_length %lld differs from the "
                                    "window length %lld", (long long)flen,
                                    (long long)w->shape.dims[0]);
        flen = w->shape.dims[0];
    }
    if (flen < 1)
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL,
                                "needs a window or a frame_length >= 1");
    bool onesided = ir_attr_int(k->node, "onesided", 1) != 0;
    int comp = (int)x->shape.dims[2];
    if (onesided && comp == 2)
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "onesided output needs a real signal");
    int64_t batch = x->shape.dims[0], len = x->shape.dims[1];
    if (len < flen)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "signal length %lld is shorter than the "
                                "frame length %lld", (long long)len, (long long)flen);
    int64_t frames = (len - flen) / step + 1;
    int64_t n_out = onesided ? flen / 2 + 1 : flen;
    if (!y->data) {
        ir_shape s = {.rank = 4, .dims = {batch, frames, n_out, 2}};
        FWD_TRY(fwd_kernel_alloc_output(k, 0, x->dtype, &s));
    }
    if (y->shape.rank != 4 || y->shape.dims[0] != batch || y->shape.dims[1] != frames ||
        y->shape.dims[2] != n_out || y->dtype != x->dtype)
        return cpu_kernel_error(k, FWD_ERR_INTERNAL, "output shape does not fit");
    double *win = NULL;
    if (w) {
        win = malloc((size_t)flen * sizeof(double));
        if (!win) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "no memory for the window");
        for (int64_t i = 0; i < flen; i++) win[i] = cpu_get_f64(w->dtype, w->data, i);
    }
    fft_job j = {
        .dt = x->dtype, .x = x->data, .y = y->data, .comp = comp,
        .n = flen, .n_load = flen, .n_out = n_out, .window = win, .scale = 1.0,
        .inner = frames, .in_len = len, .frame_step = step,
    };
    fwd_status s = fft_run_job(k, &j, batch * frames, false);
    free(win);
    return s;
}

/* ---- window generators ---- */

/* w[i] = a0 - a1 cos(2 pi i / N) + a2 cos(4 pi i / N), N = size (periodic)
 * or size - 1 (symmetric). */
static fwd_status run_window(fwd_kernel_ctx *k, double a0, double a1, double a2)
{
    int64_t size = 0;
    FWD_TRY(scalar_int_input(k, 0, "size", &size));
    if (size < 0)
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "size must be >= 0, got %lld",
                                (long long)size);
    ir_tensor *y = k->out[0];
    if (!y->data) {
        ir_shape s = {.rank = 1, .dims = {size}};
        fwd_dtype dt = (fwd_dtype)ir_attr_int(k->node, "output_datatype", FWD_FLOAT32);
        FWD_TRY(fwd_kernel_alloc_output(k, 0, dt, &s));
    }
    if (y->shape.rank != 1 || y->shape.dims[0] != size)
        return cpu_kernel_error(k, FWD_ERR_INTERNAL, "output shape does not fit");
    bool periodic = ir_attr_int(k->node, "periodic", 1) != 0;
    int64_t den = periodic ? size : size - 1;
    for (int64_t i = 0; i < size; i++) {
        double v = 1.0; /* a one-point symmetric window */
        if (den > 0) {
            double ang = 2.0 * SIG_PI * (double)i / (double)den;
            v = a0 - a1 * cos(ang) + a2 * cos(2.0 * ang);
        }
        cpu_set_f64(y->dtype, y->data, i, v);
    }
    return FWD_OK;
}

static fwd_status run_hann(fwd_kernel_ctx *k) { return run_window(k, 0.5, 0.5, 0.0); }
static fwd_status run_hamming(fwd_kernel_ctx *k)
{
    return run_window(k, 25.0 / 46.0, 21.0 / 46.0, 0.0);
}
static fwd_status run_blackman(fwd_kernel_ctx *k) { return run_window(k, 0.42, 0.5, 0.08); }

/* ---- MelWeightMatrix ---- */

/* Triangular filters between num_mel_bins + 2 points equally spaced on the
 * mel scale, mapped to DFT bins as the ONNX reference does:
 * bin = floor((dft_length + 1) * hz / sample_rate). */
static fwd_status run_mel(fwd_kernel_ctx *k)
{
    int64_t n_mel = 0, dlen = 0, rate = 0;
    double lo = 0.0, hi = 0.0;
    FWD_TRY(scalar_int_input(k, 0, "num_mel_bins", &n_mel));
    FWD_TRY(scalar_int_input(k, 1, "dft_length", &dlen));
    FWD_TRY(scalar_int_input(k, 2, "sample_rate", &rate));
    FWD_TRY(scalar_float_input(k, 3, "lower_edge_hertz", &lo));
    FWD_TRY(scalar_float_input(k, 4, "upper_edge_hertz", &hi));
    if (n_mel < 1 || dlen < 1 || rate < 1)
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "num_mel_bins, dft_length and "
                                "sample_rate must be >= 1");
    if (!(lo >= 0.0) || !(hi >= lo) || !isfinite(hi))
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "need 0 <= lower_edge_hertz (%g) <= "
                                "upper_edge_hertz (%g)", lo, hi);
    int64_t n_spec = dlen / 2 + 1;
    ir_tensor *y = k->out[0];
    if (!y->data) {
        ir_shape s = {.rank = 2, .dims = {n_spec, n_mel}};
        fwd_dtype dt = (fwd_dtype)ir_attr_int(k->node, "output_datatype", FWD_FLOAT32);
        FWD_TRY(fwd_kernel_alloc_output(k, 0, dt, &s));
    }
    if (y->shape.rank != 2 || y->shape.dims[0] != n_spec || y->shape.dims[1] != n_mel)
        return cpu_kernel_error(k, FWD_ERR_INTERNAL, "output shape does not fit");
    int64_t *bins = malloc((size_t)(n_mel + 2) * sizeof(int64_t));
    double *vals = calloc((size_t)(n_spec * n_mel), sizeof(double));
    if (!bins || !vals) {
        free(bins);
        free(vals);
        return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "no memory for the mel matrix");
    }
    double lo_mel = 2595.0 * log10(1.0 + lo / 700.0);
    double hi_mel = 2595.0 * log10(1.0 + hi / 700.0);
    double step = (hi_mel - lo_mel) / (double)(n_mel + 2);
    for (int64_t i = 0; i < n_mel + 2; i++) {
        double hz = 700.0 * (pow(10.0, ((double)i * step + lo_mel) / 2595.0) - 1.0);
        bins[i] = (int64_t)floor((double)(dlen + 1) * hz / (double)rate);
    }
    for (int64_t i = 0; i < n_mel; i++) {
        int64_t left = bins[i], center = bins[i + 1], right = bins[i + 2];
        if (center == left) {
            if (center >= 0 && center < n_spec) vals[center * n_mel + i] = 1.0;
        } else {
            for (int64_t j = left; j <= center; j++)
                if (j >= 0 && j < n_spec)
                    vals[j * n_mel + i] = (double)(j - left) / (double)(center - left);
        }
        for (int64_t j = center; j < right; j++)
            if (j >= 0 && j < n_spec)
                vals[j * n_mel + i] = (double)(right - j) / (double)(right - center);
    }
    for (int64_t i = 0; i < n_spec * n_mel; i++) cpu_set_f64(y->dtype, y->data, i, vals[i]);
    free(bins);
    free(vals);
    return FWD_OK;
}

const cpu_kernel_entry cpu_kernels_signal[] = {
    {"DFT", run_dft},
    {"STFT", run_stft},
    {"HannWindow", run_hann},
    {"HammingWindow", run_hamming},
    {"BlackmanWindow", run_blackman},
    {"MelWeightMatrix", run_mel},
    {NULL, NULL},
};

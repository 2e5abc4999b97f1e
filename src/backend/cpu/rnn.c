/*
 * CPU kernels for the recurrent ops RNN, GRU and LSTM (float32).
 *
 * Per direction, the input projection X * W^T (+ biases) of a chunk of
 * timesteps is one GEMM; each step then adds H_{t-1} * R^T with a GEMM
 * into the same rows and applies the gate equations row by row (split
 * over the batch when it is large). Gate orders are ONNX's: LSTM i,o,f,c;
 * GRU z,r,h. Steps at or beyond a row's sequence length leave its state
 * unchanged and write zeros to Y.
 */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/cpu_util.h"
#include "backend/cpu/rnn_act.h"
#include "util/threadpool.h"

/* Timesteps whose input projection is computed at once are limited so the
 * buffer stays near this many floats. */
#define RNN_XW_CHUNK_FLOATS (4 << 20)

typedef struct rnn_run {
    int gates; /* 1 RNN, 3 GRU, 4 LSTM */
    int64_t seq, batch, isz, hid, ndir, gh; /* S, B, I, H, D, gates*H */
    int layout;
    bool reverse_only; /* direction = "reverse" */
    const float *X, *W, *R, *Bias, *P, *h0, *c0;
    int64_t *lens; /* B sequence lengths */
    float *Y, *Yh, *Yc;
    rnn_act act[6];
    int n_act; /* activations per direction */
    float clip;
    bool input_forget, lbr;
} rnn_run;

/* Offsets (in floats) of row b of Y at step t, direction d, and of the
 * state rows (initial_h/c, Y_h/Y_c), for either layout. */
static inline int64_t y_off(const rnn_run *r, int64_t t, int64_t d, int64_t b)
{
    return r->layout ? ((b * r->seq + t) * r->ndir + d) * r->hid : ((t * r->ndir + d) * r->batch + b) * r->hid;
}

static inline int64_t st_off(const rnn_run *r, int64_t d, int64_t b)
{
    return r->layout ? (b * r->ndir + d) * r->hid : (d * r->batch + b) * r->hid;
}

/* One step's row-wise work, shared through fwd_parallel_for. */
typedef struct rnn_step {
    const rnn_run *r;
    int64_t d, t;
    int phase;              /* GRU: 0 before, 1 after the reset GEMM */
    float *G;               /* B x GH gate pre-activations of this step */
    float *h, *c;           /* B x H state */
    float *tmp;             /* GRU: B x H (r*h) or B x GH (h*R^T) */
} rnn_step;

static void write_y(const rnn_step *s, int64_t b, const float *hb)
{
    const rnn_run *r = s->r;
    if (!r->Y) return;
    float *y = r->Y + y_off(r, s->t, s->d, b);
    if (hb)
        memcpy(y, hb, (size_t)r->hid * sizeof(float));
    else
        memset(y, 0, (size_t)r->hid * sizeof(float));
}

static void rows_rnn(void *arg, int64_t b0, int64_t b1)
{
    const rnn_step *s = arg;
    const rnn_run *r = s->r;
    const rnn_act *f = &r->act[s->d * r->n_act];
    for (int64_t b = b0; b < b1; b++) {
        if (s->t >= r->lens[b]) {
            write_y(s, b, NULL);
            continue;
        }
        float *g = s->G + b * r->gh, *hb = s->h + b * r->hid;
        rnn_act_apply(f, g, r->hid, r->clip);
        memcpy(hb, g, (size_t)r->hid * sizeof(float));
        write_y(s, b, hb);
    }
}

static void rows_lstm(void *arg, int64_t b0, int64_t b1)
{
    const rnn_step *s = arg;
    const rnn_run *r = s->r;
    const rnn_act *act = &r->act[s->d * r->n_act];
    int64_t H = r->hid;
    const float *P = r->P ? r->P + s->d * 3 * H : NULL;
    for (int64_t b = b0; b < b1; b++) {
        if (s->t >= r->lens[b]) {
            write_y(s, b, NULL);
            continue;
        }
        float *g = s->G + b * r->gh, *hb = s->h + b * H, *cb = s->c + b * H;
        float *gi = g, *go = g + H, *gf = g + 2 * H, *gc = g + 3 * H;
        if (P) {
            for (int64_t j = 0; j < H; j++) gi[j] += P[j] * cb[j];
            if (!r->input_forget)
                for (int64_t j = 0; j < H; j++) gf[j] += P[2 * H + j] * cb[j];
        }
        rnn_act_apply(&act[0], gi, H, r->clip);
        if (r->input_forget)
            for (int64_t j = 0; j < H; j++) gf[j] = 1.0f - gi[j];
        else
            rnn_act_apply(&act[0], gf, H, r->clip);
        rnn_act_apply(&act[1], gc, H, r->clip);
        for (int64_t j = 0; j < H; j++) cb[j] = gf[j] * cb[j] + gi[j] * gc[j];
        if (P)
            for (int64_t j = 0; j < H; j++) go[j] += P[H + j] * cb[j];
        rnn_act_apply(&act[0], go, H, r->clip);
        memcpy(gc, cb, (size_t)H * sizeof(float)); /* h(C_t) without the clip */
        rnn_act_apply(&act[2], gc, H, 0.0f);
        for (int64_t j = 0; j < H; j++) hb[j] = go[j] * gc[j];
        write_y(s, b, hb);
    }
}

/* GRU, linear_before_reset = 0. Phase 0: z and r, then tmp = r * h; the
 * caller adds tmp * Rh^T to the candidate; phase 1: the new state. */
static void rows_gru(void *arg, int64_t b0, int64_t b1)
{
    const rnn_step *s = arg;
    const rnn_run *r = s->r;
    const rnn_act *act = &r->act[s->d * r->n_act];
    int64_t H = r->hid;
    const float *rbh = r->lbr && r->Bias ? r->Bias + s->d * 2 * r->gh + r->gh + 2 * H : NULL;
    for (int64_t b = b0; b < b1; b++) {
        float *g = s->G + b * r->gh, *hb = s->h + b * H;
        float *gz = g, *gr = g + H, *gh = g + 2 * H;
        if (r->lbr) { /* tmp row = h * R^T (z, r, h parts) */
            if (s->t >= r->lens[b]) {
                write_y(s, b, NULL);
                continue;
            }
            float *hr = s->tmp + b * r->gh;
            for (int64_t j = 0; j < 2 * H; j++) g[j] += hr[j];
            rnn_act_apply(&act[0], gz, 2 * H, r->clip); /* z and r together */
            for (int64_t j = 0; j < H; j++)
                gh[j] += gr[j] * (hr[2 * H + j] + (rbh ? rbh[j] : 0.0f));
            rnn_act_apply(&act[1], gh, H, r->clip);
            for (int64_t j = 0; j < H; j++) hb[j] = (1.0f - gz[j]) * gh[j] + gz[j] * hb[j];
            write_y(s, b, hb);
        } else if (s->phase == 0) {
            rnn_act_apply(&act[0], gz, 2 * H, r->clip);
            float *rh = s->tmp + b * H;
            for (int64_t j = 0; j < H; j++) rh[j] = gr[j] * hb[j];
        } else {
            if (s->t >= r->lens[b]) {
                write_y(s, b, NULL);
                continue;
            }
            rnn_act_apply(&act[1], gh, H, r->clip);
            for (int64_t j = 0; j < H; j++) hb[j] = (1.0f - gz[j]) * gh[j] + gz[j] * hb[j];
            write_y(s, b, hb);
        }
    }
}

static void run_rows(rnn_step *s, fwd_range_fn fn)
{
    /* Each step's row work is small and steps are sequential: split only
     * when a chunk still has some 64k gate values (tens of microseconds). */
    int64_t grain = 65536 / s->r->gh + 1;
    if (s->r->batch < 2 * grain)
        fn(s, 0, s->r->batch);
    else
        fwd_parallel_for(s->r->batch, grain, fn, s);
}

/* R * h for step: G[:, col0 : col0+n] (+)= A[B x H] * R_d[col0 : col0+n]^T */
static void gemm_hr(const rnn_run *r, const float *A, const float *Rd, int64_t col0,
                    int64_t n, float *C, int64_t ldc, float beta)
{
    if (r->batch == 1) /* GEMV avoids the GEMM set-up cost, which dominates here */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)r->hid, 1.0f, Rd + col0 * r->hid,
                    (int)r->hid, A, 1, beta, C, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)r->batch, (int)n, (int)r->hid,
                    1.0f, A, (int)r->hid, Rd + col0 * r->hid, (int)r->hid, beta, C, (int)ldc);
}

/* Input projection of steps [t0, t1) into xw (rows (t - t0) * B + b) plus
 * the bias folded in for this op. */
static void project_inputs(const rnn_run *r, int64_t d, int64_t t0, int64_t t1, float *xw,
                           const float *bias)
{
    const float *Wd = r->W + d * r->gh * r->isz;
    int64_t steps = t1 - t0;
    if (r->isz == 0) {
        memset(xw, 0, (size_t)(steps * r->batch * r->gh) * sizeof(float));
    } else if (!r->layout) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(steps * r->batch), (int)r->gh,
                    (int)r->isz, 1.0f, r->X + t0 * r->batch * r->isz, (int)r->isz, Wd, (int)r->isz, 0.0f,
                    xw, (int)r->gh);
    } else { /* X is [B, S, I]: one GEMM per batch row, strided output */
        for (int64_t b = 0; b < r->batch; b++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)steps, (int)r->gh,
                        (int)r->isz, 1.0f, r->X + (b * r->seq + t0) * r->isz, (int)r->isz, Wd,
                        (int)r->isz, 0.0f, xw + b * r->gh, (int)(r->batch * r->gh));
    }
    if (!bias) return;
    for (int64_t row = 0; row < steps * r->batch; row++) {
        float *x = xw + row * r->gh;
        for (int64_t j = 0; j < r->gh; j++) x[j] += bias[j];
    }
}

static void run_step(const rnn_run *r, int64_t d, int64_t t, float *G, float *h, float *c,
                     float *tmp)
{
    const float *Rd = r->R + d * r->gh * r->hid;
    rnn_step s = {.r = r, .d = d, .t = t, .G = G, .h = h, .c = c, .tmp = tmp};
    if (r->gates != 3) {
        gemm_hr(r, h, Rd, 0, r->gh, G, r->gh, 1.0f);
        run_rows(&s, r->gates == 4 ? rows_lstm : rows_rnn);
    } else if (r->lbr) {
        gemm_hr(r, h, Rd, 0, r->gh, tmp, r->gh, 0.0f);
        run_rows(&s, rows_gru);
    } else {
        gemm_hr(r, h, Rd, 0, 2 * r->hid, G, r->gh, 1.0f);
        s.phase = 0;
        run_rows(&s, rows_gru);
        gemm_hr(r, tmp, Rd, 2 * r->hid, r->hid, G + 2 * r->hid, r->gh, 1.0f);
        s.phase = 1;
        run_rows(&s, rows_gru);
    }
}

/* Runs direction d (reverse when backward) with workspace ws. */
static void run_direction(const rnn_run *r, int64_t d, bool backward, float *ws,
                          int64_t chunk)
{
    int64_t H = r->hid, B = r->batch, GH = r->gh;
    float *xw = ws, *h = xw + chunk * B * GH, *c = h + B * H, *tmp = c + B * H;
    float *bias = tmp + B * GH;
    bool have_bias = r->Bias != NULL;
    if (have_bias) {
        const float *wb = r->Bias + d * 2 * GH, *rb = wb + GH;
        for (int64_t j = 0; j < GH; j++) /* GRU with lbr keeps Rbh for the reset */
            bias[j] = wb[j] + ((r->gates == 3 && r->lbr && j >= 2 * H) ? 0.0f : rb[j]);
    }
    for (int64_t b = 0; b < B; b++) {
        if (r->h0)
            memcpy(h + b * H, r->h0 + st_off(r, d, b), (size_t)H * sizeof(float));
        else
            memset(h + b * H, 0, (size_t)H * sizeof(float));
        if (r->gates != 4) continue;
        if (r->c0)
            memcpy(c + b * H, r->c0 + st_off(r, d, b), (size_t)H * sizeof(float));
        else
            memset(c + b * H, 0, (size_t)H * sizeof(float));
    }
    int64_t n_chunks = (r->seq + chunk - 1) / chunk;
    for (int64_t ci = 0; ci < n_chunks; ci++) {
        int64_t cidx = backward ? n_chunks - 1 - ci : ci;
        int64_t t0 = cidx * chunk, t1 = t0 + chunk < r->seq ? t0 + chunk : r->seq;
        project_inputs(r, d, t0, t1, xw, have_bias ? bias : NULL);
        for (int64_t k = 0; k < t1 - t0; k++) {
            int64_t t = backward ? t1 - 1 - k : t0 + k;
            run_step(r, d, t, xw + (t - t0) * B * GH, h, c, tmp);
        }
    }
    for (int64_t b = 0; b < B; b++) {
        if (r->Yh) memcpy(r->Yh + st_off(r, d, b), h + b * H, (size_t)H * sizeof(float));
        if (r->Yc) memcpy(r->Yc + st_off(r, d, b), c + b * H, (size_t)H * sizeof(float));
    }
}

/* The activations attribute (with defaults) into r->act. */
static fwd_status parse_activations(const fwd_kernel_ctx *k, rnn_run *r)
{
    static const char *const dflt[3][3] = {
        {"Tanh"}, {"Sigmoid", "Tanh"}, {"Sigmoid", "Tanh", "Tanh"}};
    int per = r->gates == 1 ? 1 : r->gates == 3 ? 2 : 3;
    r->n_act = per;
    const ir_attr *a = ir_node_attr(k->node, "activations");
    int n_alpha = 0, n_beta = 0;
    const float *alpha = ir_attr_floats(k->node, "activation_alpha", &n_alpha);
    const float *beta = ir_attr_floats(k->node, "activation_beta", &n_beta);
    int ia = 0, ib = 0;
    int n_names = a ? a->n : 0;
    if (a && a->type != IR_ATTR_STRINGS)
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "activations must be a string list");
    if (a && n_names != per * r->ndir && n_names != per)
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "activations has %d entries, "
                                "expected %lld", n_names, (long long)(per * r->ndir));
    for (int i = 0; i < per * r->ndir; i++) {
        const char *name = a ? a->strings[i % n_names] : dflt[per - 1][i % per];
        bool ua, ub;
        if (!rnn_act_parse(name, &r->act[i], &ua, &ub))
            return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "unknown activation '%s'", name);
        if (ua && ia < n_alpha) r->act[i].alpha = alpha[ia++];
        if (ub && ib < n_beta) r->act[i].beta = beta[ib++];
    }
    return FWD_OK;
}

static const float *f32_input(const fwd_kernel_ctx *k, int i)
{
    return i < k->n_in && k->in[i] ? k->in[i]->data : NULL;
}

/* Output idx (if wanted) with the given shape; *p its data or NULL. */
static fwd_status rnn_output(fwd_kernel_ctx *k, int idx, const ir_shape *s, float **p)
{
    *p = NULL;
    if (idx >= k->n_out || !k->out[idx]) return FWD_OK;
    ir_tensor *t = k->out[idx];
    if (!t->data) FWD_TRY(fwd_kernel_alloc_output(k, idx, FWD_FLOAT32, s));
    if (t->dtype != FWD_FLOAT32 || !ir_shape_equal(&t->shape, s))
        return cpu_kernel_error(k, FWD_ERR_INTERNAL, "output %d has an unexpected shape", idx);
    *p = t->data;
    return FWD_OK;
}

/* Element counts each input must have; the schema has checked the dims
 * already, this guards the memory we read. */
static fwd_status check_input(const fwd_kernel_ctx *k, int i, const char *what, int64_t numel)
{
    if (i >= k->n_in || !k->in[i]) return FWD_OK;
    if (k->in[i]->dtype != FWD_FLOAT32)
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "input '%s' must be float32 like X, got %s",
                                what, fwd_dtype_name(k->in[i]->dtype));
    if ((int64_t)ir_tensor_numel(k->in[i]) != numel)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "input '%s' has %lld elements, expected %lld",
                                what, (long long)ir_tensor_numel(k->in[i]), (long long)numel);
    return FWD_OK;
}

static fwd_status run_recurrent(fwd_kernel_ctx *k, int gates)
{
    rnn_run r = {.gates = gates};
    const ir_tensor *x = k->in[0];
    if (!x || k->n_in < 3 || !k->in[1] || !k->in[2])
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "inputs X, W and R are required");
    if (x->dtype != FWD_FLOAT32)
        return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "only float32 is supported, X is %s",
                                fwd_dtype_name(x->dtype));
    if (x->shape.rank != 3 || k->in[2]->shape.rank != 3)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "X and R must have rank 3");
    r.layout = ir_attr_int(k->node, "layout", 0) != 0;
    const char *dir = ir_attr_string(k->node, "direction", "forward");
    r.ndir = strcmp(dir, "bidirectional") == 0 ? 2 : 1;
    r.reverse_only = strcmp(dir, "reverse") == 0;
    r.seq = x->shape.dims[r.layout ? 1 : 0];
    r.batch = x->shape.dims[r.layout ? 0 : 1];
    r.isz = x->shape.dims[2];
    r.hid = ir_attr_int(k->node, "hidden_size", k->in[2]->shape.dims[2]);
    r.gh = gates * r.hid;
    if (r.hid < 1 || r.gh > INT32_MAX || r.isz > INT32_MAX || r.seq * r.batch > INT32_MAX)
        return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "sizes out of the supported range");
    FWD_TRY(check_input(k, 1, "W", r.ndir * r.gh * r.isz));
    FWD_TRY(check_input(k, 2, "R", r.ndir * r.gh * r.hid));
    FWD_TRY(check_input(k, 3, "B", r.ndir * 2 * r.gh));
    FWD_TRY(check_input(k, 5, "initial_h", r.ndir * r.batch * r.hid));
    if (gates == 4) {
        FWD_TRY(check_input(k, 6, "initial_c", r.ndir * r.batch * r.hid));
        FWD_TRY(check_input(k, 7, "P", r.ndir * 3 * r.hid));
    }
    r.X = x->data;
    r.W = f32_input(k, 1);
    r.R = f32_input(k, 2);
    r.Bias = f32_input(k, 3);
    r.h0 = f32_input(k, 5);
    r.c0 = gates == 4 ? f32_input(k, 6) : NULL;
    r.P = gates == 4 ? f32_input(k, 7) : NULL;
    r.clip = ir_node_attr(k->node, "clip") ? ir_attr_float(k->node, "clip", 0.0f) : 0.0f;
    if (ir_node_attr(k->node, "clip") && !(r.clip > 0.0f))
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "clip must be > 0");
    r.input_forget = ir_attr_int(k->node, "input_forget", 0) != 0;
    r.lbr = ir_attr_int(k->node, "linear_before_reset", 0) != 0;
    FWD_TRY(parse_activations(k, &r));

    ir_shape ys = {.rank = 4}, hs = {.rank = 3};
    int64_t yd0[4] = {r.seq, r.ndir, r.batch, r.hid}, yd1[4] = {r.batch, r.seq, r.ndir, r.hid};
    int64_t hd0[3] = {r.ndir, r.batch, r.hid}, hd1[3] = {r.batch, r.ndir, r.hid};
    memcpy(ys.dims, r.layout ? yd1 : yd0, sizeof yd0);
    memcpy(hs.dims, r.layout ? hd1 : hd0, sizeof hd0);
    FWD_TRY(rnn_output(k, 0, &ys, &r.Y));
    FWD_TRY(rnn_output(k, 1, &hs, &r.Yh));
    if (gates == 4) FWD_TRY(rnn_output(k, 2, &hs, &r.Yc));

    /* one scratch block from the context's workspace: the sequence
     * lengths, then the float workspace of the directions */
    int64_t per_step = r.batch * r.gh > 0 ? r.batch * r.gh : 1;
    int64_t chunk = RNN_XW_CHUNK_FLOATS / per_step;
    if (chunk < 1) chunk = 1;
    if (chunk > r.seq) chunk = r.seq > 0 ? r.seq : 1;
    size_t ws_floats = (size_t)(chunk * r.batch * r.gh + 2 * r.batch * r.hid + r.batch * r.gh + r.gh);
    size_t lens_bytes = ((size_t)(r.batch > 0 ? r.batch : 1) * sizeof(int64_t) + 63) & ~(size_t)63;
    char *block = fwd_kernel_scratch(k, lens_bytes + ws_floats * sizeof(float));
    if (!block)
        return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory for the %s workspace", k->node->op_type);
    r.lens = (int64_t *)block;
    float *ws = (float *)(block + lens_bytes);
    const ir_tensor *sl = k->n_in > 4 ? k->in[4] : NULL;
    for (int64_t b = 0; b < r.batch; b++) {
        r.lens[b] = r.seq;
        if (!sl) continue;
        if ((sl->dtype != FWD_INT32 && sl->dtype != FWD_INT64) || (int64_t)ir_tensor_numel(sl) != r.batch)
            return cpu_kernel_error(k, FWD_ERR_SHAPE, "sequence_lens must be int32 [batch]");
        int64_t len = cpu_get_index(sl, b);
        if (len < 0 || len > r.seq)
            return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "sequence_lens[%lld] = %lld out "
                                    "of range [0, %lld]", (long long)b, (long long)len,
                                    (long long)r.seq);
        r.lens[b] = len;
    }
    for (int64_t d = 0; d < r.ndir; d++) run_direction(&r, d, d == 1 || r.reverse_only, ws, chunk);
    return FWD_OK;
}

static fwd_status run_rnn(fwd_kernel_ctx *k) { return run_recurrent(k, 1); }
static fwd_status run_gru(fwd_kernel_ctx *k) { return run_recurrent(k, 3); }
static fwd_status run_lstm(fwd_kernel_ctx *k) { return run_recurrent(k, 4); }

const cpu_kernel_entry cpu_kernels_rnn[] = {
    {"RNN", run_rnn},
    {"GRU", run_gru},
    {"LSTM", run_lstm},
    {NULL, NULL},
};

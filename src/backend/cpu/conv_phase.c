/*
 * Strided 2-D convolutions without im2col: the input is split once into
 * its stride-phase planes (for stride 2: even/odd rows x even/odd
 * columns), zero-padded so that for every kernel tap (kh, kw) the input
 * pixels of all output positions are one contiguous run of a plane, when
 * the outputs are laid out on a grid whose row pitch is the plane's
 * (PW = OW + (KW - 1) / sw columns, the extra columns discarded).
 *
 * Two forms, chosen by the builder (cpu_prepack.c) and recorded with the
 * weight:
 *  - per tap (CPU_PHASE_TAPS_ATTR): one GEMM per tap whose B (C rows, a
 *    plane's channel stride apart) is read in place from the plane,
 *    summed into the output grid (the GEMM's accumulate flag), the last
 *    tap carrying the bias and activation. The weight holds one [M][C]
 *    matrix per tap, each packed as the GEMM's A.
 *  - gathered (CPU_PHASE_GATHER_ATTR): few input channels (a network's
 *    first conv, C = 3) make per-tap products too thin, so each task
 *    copies the taps' runs of its output block into one B block of
 *    taps x C rows (plain memcpy of contiguous runs, no per-row index
 *    arithmetic) and runs one GEMM. The weight is [M][KH*KW*C] (K ordered
 *    tap-major) packed as the GEMM's A.
 * Work is split over the threads by output column blocks (each task runs
 * all taps for its block, its C block staying in L2) or, when the weights
 * outweigh the input, by row blocks. The grid's valid columns are then
 * compacted into Y, with the residual and activation of a FusedConv.
 */
#include <stdatomic.h>
#include <string.h>

#include "backend/cpu/cpu_prepack.h"
#include "backend/cpu/nn_internal.h"

/* A task's output-grid block plus its B (floats), sized for L2. */
#define BLOCK_FLOATS ((int64_t)64 << 10)

bool nn_conv_phase_applies(const nn_conv_shape *s)
{
    const nn_window *w = &s->w;
    return w->nsp == 2 && s->group == 1 && w->dilation[0] == 1 && w->dilation[1] == 1 &&
           w->stride[0] >= 1 && w->stride[1] >= 1 && w->stride[0] * w->stride[1] > 1;
}

typedef struct phase_geom {
    int64_t sh, sw, kh, kw, taps;
    int64_t ph, pw;   /* plane rows and row pitch */
    int64_t plane;    /* floats of one channel's plane (the B row stride) */
    int64_t phase;    /* floats of one phase (all channels) */
    int64_t n;        /* grid columns: OH * PW */
    bool direct;      /* PW == OW: the grid is Y itself */
} phase_geom;

static void geom_of(const nn_conv_shape *s, phase_geom *pg)
{
    const nn_geom3 *g = &s->g;
    pg->sh = g->s[1];
    pg->sw = g->s[2];
    pg->kh = g->k[1];
    pg->kw = g->k[2];
    pg->taps = pg->kh * pg->kw;
    pg->ph = g->out[1] + (pg->kh - 1) / pg->sh;
    pg->pw = g->out[2] + (pg->kw - 1) / pg->sw;
    pg->plane = pg->ph * pg->pw;
    pg->phase = s->cg * pg->plane;
    pg->n = g->out[1] * pg->pw;
    pg->direct = pg->pw == g->out[2];
}

/* The first float of tap t's run (channel 0, grid column 0). */
static inline const float *tap_base(const phase_geom *pg, const float *planes, int64_t t)
{
    int64_t kh = t / pg->kw, kw = t % pg->kw;
    return planes + ((kh % pg->sh) * pg->sw + kw % pg->sw) * pg->phase + (kh / pg->sh) * pg->pw + kw / pg->sw;
}

typedef struct phase_job {
    const nn_conv_shape *s;
    phase_geom pg;
    const float *x; /* this image */
    float *planes;
    const float *w;  /* packed (wp) or row-major */
    bool packed, gather;
    nn_epilogue e_grid; /* epilogue of the last product, at (0, 0) of the grid */
    nn_epilogue e_out;  /* applied to Y after compaction (residual), or act NONE and no addend */
    bool post;          /* e_out has work */
    float *grid;        /* M x n, or Y when direct */
    float *y;
    int64_t rtasks, ctasks, nb; /* task grid; nb: columns of a column block */
    _Atomic int failed;
} phase_job;

/* dst[q] = src[s * q] for q in [0, n). */
static inline void copy_strided(const float *src, int64_t s, int64_t n, float *dst)
{
    if (s == 1) {
        memcpy(dst, src, sizeof(float) * (size_t)n);
    } else if (s == 2) {
        nn_copy_stride2_f32(src, n, dst);
    } else {
        for (int64_t q = 0; q < n; q++) dst[q] = src[q * s];
    }
}

/* Units (row phase a, channel c): the sw planes of row phase a. */
static void build_planes(void *arg, int64_t u0, int64_t u1)
{
    phase_job *j = arg;
    const phase_geom *pg = &j->pg;
    const nn_geom3 *g = &j->s->g;
    const int64_t H = g->in[1], W = g->in[2], pt = g->p[1], pl = g->p[2];
    for (int64_t u = u0; u < u1; u++) {
        int64_t a = u / j->s->cg, c = u % j->s->cg;
        const float *xc = j->x + c * g->in_size;
        for (int64_t b = 0; b < pg->sw; b++) {
            float *dst = j->planes + (a * pg->sw + b) * pg->phase + c * pg->plane;
            /* columns q whose source column sw * q + b - pl is in [0, W) */
            int64_t off = b - pl, q0 = off >= 0 ? 0 : (-off + pg->sw - 1) / pg->sw;
            int64_t q1 = W - 1 - off >= 0 ? (W - 1 - off) / pg->sw + 1 : 0;
            if (q1 > pg->pw) q1 = pg->pw;
            if (q0 > q1) q0 = q1;
            for (int64_t i = 0; i < pg->ph; i++, dst += pg->pw) {
                int64_t r = i * pg->sh + a - pt;
                if (r < 0 || r >= H || q0 == q1) {
                    memset(dst, 0, sizeof(float) * (size_t)pg->pw);
                    continue;
                }
                if (q0 > 0) memset(dst, 0, sizeof(float) * (size_t)q0);
                copy_strided(xc + r * W + q0 * pg->sw + off, pg->sw, q1 - q0, dst + q0);
                if (q1 < pg->pw) memset(dst + q1, 0, sizeof(float) * (size_t)(pg->pw - q1));
            }
        }
    }
}

/* One product C (rows x nb) (+)= A (rows x k) @ B (k rows, ldb apart),
 * reading B in place or through panels in scratch slot 1. */
static bool product(int64_t rows, int64_t nb, int64_t k, const float *a, int64_t lda, bool packed, const float *b,
                    int64_t ldb, float *c, int64_t ldc, const nn_epilogue *e)
{
    if (nn_gemm_reads_b_in_place())
        return nn_gemm_b(rows, nb, k, packed ? NULL : a, lda, packed ? a : NULL, b, ldb, c, ldc, e);
    float *bp = nn_scratch(1, (size_t)nn_packed_b_floats(k, nb));
    if (!bp) return false;
    nn_pack_b(b, ldb, false, k, 0, nb, bp);
    return nn_gemm_b(rows, nb, k, packed ? NULL : a, lda, packed ? a : NULL, bp, 0, c, ldc, e);
}

/* Part t of parts of [0, len) in whole units. */
static void part(int64_t len, int64_t unit, int64_t t, int64_t parts, int64_t *b, int64_t *e)
{
    int64_t units = (len + unit - 1) / unit;
    *b = t * units / parts * unit;
    *e = (t + 1) * units / parts * unit;
    if (*e > len) *e = len;
    if (*b > len) *b = len;
}

static bool task_products(phase_job *j, int64_t r0, int64_t r1, int64_t j0, int64_t j1)
{
    const phase_geom *pg = &j->pg;
    const int64_t C = j->s->cg, M = j->s->mg, nb = j1 - j0, rows = r1 - r0;
    float *c = j->grid + r0 * pg->n + j0;
    nn_epilogue last = nn_epilogue_at(&j->e_grid, r0, j0);
    if (j->gather) {
        /* B block [taps * C][nb]: row (t, ci) is tap t's run of channel ci */
        int64_t K = pg->taps * C;
        float *blk = nn_scratch(2, (size_t)(K * nb));
        if (!blk) return false;
        for (int64_t t = 0; t < pg->taps; t++) {
            const float *src = tap_base(pg, j->planes, t) + j0;
            for (int64_t ci = 0; ci < C; ci++)
                memcpy(blk + (t * C + ci) * nb, src + ci * pg->plane, sizeof(float) * (size_t)nb);
        }
        return product(rows, nb, K, j->w + r0 * K, K, j->packed, blk, nb, c, pg->n, &last);
    }
    for (int64_t t = 0; t < pg->taps; t++) {
        nn_epilogue e = nn_epilogue_plain();
        if (t == pg->taps - 1) e = last;
        e.accumulate = t > 0;
        if (!product(rows, nb, C, j->w + t * M * C + r0 * C, C, j->packed, tap_base(pg, j->planes, t) + j0,
                     pg->plane, c, pg->n, &e))
            return false;
    }
    return true;
}

/* Grid columns [j0, j1) of rows [r0, r1) into Y, then e_out on them. */
static void task_compact(phase_job *j, int64_t r0, int64_t r1, int64_t j0, int64_t j1)
{
    const phase_geom *pg = &j->pg;
    const int64_t OW = j->s->g.out[2], P = j->s->g.out_size;
    for (int64_t oh = j0 / pg->pw; oh * pg->pw < j1; oh++) {
        int64_t ow0 = j0 - oh * pg->pw, ow1 = j1 - oh * pg->pw;
        if (ow0 < 0) ow0 = 0;
        if (ow1 > OW) ow1 = OW;
        if (ow1 <= ow0) continue;
        int64_t yo = oh * OW + ow0;
        if (!j->pg.direct)
            for (int64_t m = r0; m < r1; m++)
                memcpy(j->y + m * P + yo, j->grid + m * pg->n + oh * pg->pw + ow0,
                       sizeof(float) * (size_t)(ow1 - ow0));
        if (j->post) {
            nn_epilogue e = nn_epilogue_at(&j->e_out, r0, yo);
            nn_epilogue_apply(&e, j->y + r0 * P + yo, P, r1 - r0, ow1 - ow0);
        }
    }
}

static void phase_tasks(void *arg, int64_t t0, int64_t t1)
{
    phase_job *j = arg;
    int64_t tr = nn_gemm_tile_rows();
    for (int64_t t = t0; t < t1 && !j->failed; t++) {
        int64_t r0, r1, c0, c1;
        part(j->s->mg, tr, t / j->ctasks, j->rtasks, &r0, &r1);
        part(j->pg.n, 2 * NN_NR, t % j->ctasks, j->ctasks, &c0, &c1);
        if (r0 >= r1 || c0 >= c1) continue;
        /* column blocks of at most nb within the task */
        for (int64_t b0 = c0; b0 < c1; b0 += j->nb) {
            int64_t b1 = b0 + j->nb < c1 ? b0 + j->nb : c1;
            if (!task_products(j, r0, r1, b0, b1)) {
                j->failed = 1;
                return;
            }
            if (!j->pg.direct || j->post) task_compact(j, r0, r1, b0, b1);
        }
    }
}

size_t nn_conv_phase_scratch(const nn_conv_shape *s)
{
    phase_geom pg;
    geom_of(s, &pg);
    size_t planes = (size_t)(pg.sh * pg.sw * pg.phase + pg.pw + 16);
    return sizeof(float) * (planes + (pg.direct ? 0 : (size_t)(s->mg * pg.n)));
}

fwd_status nn_conv_phase(const fwd_kernel_ctx *k, const nn_conv_shape *s, const float *x, const float *w,
                         bool packed, bool gather, const float *b, const nn_conv_fuse *f, float *y)
{
    phase_job j;
    memset(&j, 0, sizeof j);
    j.s = s;
    geom_of(s, &j.pg);
    const phase_geom *pg = &j.pg;
    const int64_t M = s->mg, C = s->cg, P = s->g.out_size;
    if (M * P == 0 || s->n == 0) return FWD_OK;
    j.planes = fwd_kernel_scratch((fwd_kernel_ctx *)k, nn_conv_phase_scratch(s));
    if (!j.planes) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory for phase planes");
    /* the slack past the last plane is read (into discarded columns) */
    memset(j.planes + pg->sh * pg->sw * pg->phase, 0, sizeof(float) * (size_t)(pg->pw + 16));
    float *grid = j.planes + pg->sh * pg->sw * pg->phase + pg->pw + 16;
    j.w = w;
    j.packed = packed;
    j.gather = gather;
    /* split: by rows when the weights outweigh the grid's input, else by
     * column blocks; blocks of output plus B of about BLOCK_FLOATS */
    int64_t nt = fwd_num_threads(), tr = nn_gemm_tile_rows();
    int64_t kb = gather ? pg->taps * C : C;
    int64_t row_tiles = (M + tr - 1) / tr, col_units = (pg->n + 2 * NN_NR - 1) / (2 * NN_NR);
    int64_t per_col = kb + M; /* floats per grid column in L2 */
    j.nb = BLOCK_FLOATS / per_col / (2 * NN_NR) * (2 * NN_NR);
    if (j.nb < 2 * NN_NR) j.nb = 2 * NN_NR;
    if (M > pg->n && row_tiles >= nt) {
        j.rtasks = nt;
        j.ctasks = 1;
        j.nb = pg->n;
    } else {
        int64_t blocks = (pg->n + j.nb - 1) / j.nb;
        j.ctasks = (blocks + nt - 1) / nt * nt;
        if (j.ctasks > col_units) j.ctasks = col_units;
        j.rtasks = 1;
    }
    for (int64_t n = 0; n < s->n; n++) {
        j.x = x + n * s->c * s->g.in_size;
        j.y = y + n * s->m * P;
        j.grid = pg->direct ? j.y : grid;
        nn_epilogue e = nn_conv_epilogue(s, b, f, n, 0);
        /* per-row bias and activation fit the grid; a residual is in Y's
         * layout: added after compaction, then the activation */
        j.e_grid = e;
        j.post = false;
        if (e.add[1].p && !pg->direct) {
            j.e_grid.add[1] = (nn_addend){NULL, 0, 0};
            j.e_grid.act = NN_ACT_NONE;
            j.e_out = nn_epilogue_plain();
            j.e_out.add[0] = e.add[1];
            j.e_out.act = e.act;
            j.e_out.act_a = e.act_a;
            j.e_out.act_b = e.act_b;
            j.post = true;
        }
        int64_t units = pg->sh * C;
        fwd_parallel_for(units, 8192 / (pg->plane * pg->sw + 1) + 1, build_planes, &j);
        fwd_parallel_for(j.rtasks * j.ctasks, 1, phase_tasks, &j);
        if (j.failed) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory in a strided convolution");
    }
    return FWD_OK;
}

/* ---- weights ---- */

void nn_conv_phase_weights(const float *w, int64_t m, int64_t c, int64_t taps, bool gather, float *out)
{
    /* w [m][c][taps] -> per tap [m][c] (taps) or [m][taps][c] (gather) */
    for (int64_t i = 0; i < m; i++)
        for (int64_t ci = 0; ci < c; ci++)
            for (int64_t t = 0; t < taps; t++) {
                float v = w[(i * c + ci) * taps + t];
                if (gather)
                    out[(i * taps + t) * c + ci] = v;
                else
                    out[(t * m + i) * c + ci] = v;
            }
}

void nn_conv_phase_unweights(const float *in, int64_t m, int64_t c, int64_t taps, bool gather, float *w)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t ci = 0; ci < c; ci++)
            for (int64_t t = 0; t < taps; t++)
                w[(i * c + ci) * taps + t] = gather ? in[(i * taps + t) * c + ci] : in[(t * m + i) * c + ci];
}

/* ---- 1x1 strided: the sampled pixels as the input of a pointwise conv ---- */

typedef struct sub_job {
    const nn_geom3 *g;
    const float *x;
    float *xs;
} sub_job;

static void subsample_planes(void *arg, int64_t p0, int64_t p1)
{
    const sub_job *j = arg;
    const nn_geom3 *g = j->g;
    for (int64_t p = p0; p < p1; p++) {
        const float *x = j->x + p * g->in_size;
        float *d = j->xs + p * g->out_size;
        for (int64_t od = 0; od < g->out[0]; od++)
            for (int64_t oh = 0; oh < g->out[1]; oh++, d += g->out[2])
                copy_strided(x + (od * g->s[0] * g->in[1] + oh * g->s[1]) * g->in[2], g->s[2], g->out[2], d);
    }
}

const float *nn_conv_subsample(const fwd_kernel_ctx *k, const nn_conv_shape *s, const float *x)
{
    const nn_geom3 *g = &s->g;
    float *xs = fwd_kernel_scratch((fwd_kernel_ctx *)k, sizeof(float) * (size_t)(s->n * s->c * g->out_size + 1));
    if (!xs) return NULL;
    sub_job j = {g, x, xs};
    fwd_parallel_for(s->n * s->c, 16384 / (g->out_size + 1) + 1, subsample_planes, &j);
    return xs;
}

/*
 * FusedAttention: Y = softmax(scale * Q @ K^T + Mask) @ V (ir/fused_ops.h).
 * Both forms of the contract (head-major and sequence-major) come down to
 * one (batch, head) slice table: element offsets and row strides, so
 * the GEMMs read the heads where they lie, without copies.
 *
 * float32 works per (batch*head, block of query rows) in parallel over the
 * pool: the score block [rows, S_kv] is computed with one GEMM (sgemm.h) into a
 * per-chunk scratch buffer, scaled in the sgemm, the mask added, softmax
 * taken row by row with the vectorised exp, and a second GEMM writes the
 * rows of Y directly. Other float dtypes go through float32 copies.
 *
 * The offsets come from the kernel's workspace; each thread computes its
 * score blocks in its own scratch (nn_scratch slot 1; V's packed panels
 * in slot 2), so the work units
 * are dealt into as many chunks as their size allows, taken dynamically.
 */
#include <stdlib.h>
#include <string.h>

#include "util/threadpool.h"

#include "backend/cpu/attention.h"
#include "backend/cpu/elementwise_fastmath512.h"
#include "backend/cpu/nn_internal.h"
#include "backend/cpu/reduce_common.h"
#include "backend/cpu/sgemm.h"

/* Score block size (floats) a work unit aims at: 64K floats = 256 KiB. */
#define ATT_BLOCK_FLOATS ((int64_t)1 << 16)

typedef struct att_job {
    const float *q, *k, *v, *mask;
    float *y;
    int64_t S, D, Skv, Dv;
    int64_t ldq, ldk, ldv, ldy; /* row strides of the slices */
    int64_t rows;     /* query rows per work unit */
    int64_t n_tiles;  /* row blocks per (batch, head) */
    int64_t n_units, n_chunks;
    bool k_trans;
    bool avx512; /* the softmax rows with AVX-512 */
    float scale;
    const int64_t *off; /* per (batch, head): element offsets of its Q, K,
                           V, mask and Y slices (ATT_OFFS entries each) */
    int64_t m_row, m_col; /* the mask's row and column strides */
    _Atomic int failed; /* a product ran out of scratch memory */
} att_job;

#define ATT_OFFS 5

/* Softmax of one score row in place (float32), the scores first scaled
 * and the mask row added: the vectorised max and exp-and-sum passes of
 * the Softmax kernel. */
static void softmax_row(float *s, int64_t n, float scale, const float *m, int64_t m_col)
{
    for (int64_t i = 0; i < n; i++) s[i] *= scale;
    if (m) {
        if (m_col == 1)
            for (int64_t i = 0; i < n; i++) s[i] += m[i];
        else
            for (int64_t i = 0; i < n; i++) s[i] += m[0];
    }
    float mx = red_max_f32(s, n);
    float inv = 1.0f / red_exp_sub_sum_f32(s, s, n, mx);
    for (int64_t i = 0; i < n; i++) s[i] *= inv;
}

/* The same with AVX-512, each pass 16 lanes at a time (the row, 512 B
 * for BERT-base, stays in L1 across the three passes): the same scaled
 * and masked values (a product, then a sum, each rounded), exp of their
 * distance to the row's max, divided by the sum. */
FM_T512 static void softmax_row512(float *s, int64_t n, float scale, const float *m, int64_t m_col)
{
    const __m512 vs = _mm512_set1_ps(scale);
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = fm_mask16(n - i);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, s + i), vs);
        if (m) v = _mm512_add_ps(v, m_col == 1 ? _mm512_maskz_loadu_ps(k, m + i) : _mm512_set1_ps(m[0]));
        _mm512_mask_storeu_ps(s + i, k, v);
        vmax = _mm512_mask_max_ps(vmax, k, vmax, v);
    }
    const __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
    __m512 sum = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = fm_mask16(n - i);
        __m512 e = fm_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + i), mx));
        _mm512_mask_storeu_ps(s + i, k, e);
        sum = _mm512_mask_add_ps(sum, k, sum, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = fm_mask16(n - i);
        _mm512_mask_storeu_ps(s + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, s + i), inv));
    }
}

/* C = A @ op(B) on this thread with Forward's GEMM (B packed into bp
 * when not NULL). */
static bool gemm(bool tb, int64_t m, int64_t n, int64_t kd, const float *a, int64_t lda, const float *b,
                 int64_t ldb, float *bp, float *c, int64_t ldc)
{
    if (bp) nn_pack_b(b, ldb, tb, kd, 0, n, bp);
    nn_gemm_args g = {m, n, kd, a, lda, false, b, ldb, tb, bp, c, ldc, nn_epilogue_plain(), NULL, NULL, NULL};
    return nn_gemm_serial(&g);
}

static void att_units(att_job *j, float *sc, float *vp, int64_t beg, int64_t end)
{
    int64_t S = j->S, D = j->D, Skv = j->Skv, Dv = j->Dv;
    for (int64_t u = beg; u < end; u++) {
        int64_t bh = u / j->n_tiles, r0 = (u % j->n_tiles) * j->rows;
        int64_t nr = S - r0 < j->rows ? S - r0 : j->rows;
        const int64_t *o = j->off + ATT_OFFS * bh;
        const float *q = j->q + o[0] + r0 * j->ldq;
        const float *kk = j->k + o[1];
        const float *v = j->v + o[2];
        float *y = j->y + o[4] + r0 * j->ldy;
        /* scores = Q_rows @ K^T (scaled in the softmax): K is [Skv, D]
         * (transposed in the product) or already [D, Skv] */
        bool ok = gemm(!j->k_trans, nr, Skv, D, q, j->ldq, kk, j->ldk, NULL, sc, Skv);
        const float *m = j->mask ? j->mask + o[3] + r0 * j->m_row : NULL;
        for (int64_t r = 0; ok && r < nr; r++) {
            const float *mr = m ? m + r * j->m_row : NULL;
            if (j->avx512)
                softmax_row512(sc + r * Skv, Skv, j->scale, mr, j->m_col);
            else
                softmax_row(sc + r * Skv, Skv, j->scale, mr, j->m_col);
        }
        if (!ok || !gemm(false, nr, Dv, Skv, sc, Skv, v, j->ldv, vp, y, j->ldy)) {
            j->failed = 1;
            return;
        }
    }
}

static void att_task(void *arg, int64_t c0, int64_t c1)
{
    att_job *j = arg;
    /* this thread's score block (scratch slot 1: the products use 0 and 3) */
    float *sc = nn_scratch(1, (size_t)(j->rows * j->Skv));
    if (!sc) {
        j->failed = 1;
        return;
    }
    /* V packed per unit: in place, its rows (often a multiple of 1 KB
     * apart, 9 KB in BERT's fused QKV) crowd a few L1 sets */
    float *vp = nn_scratch(2, (size_t)nn_packed_b_floats(j->Skv, j->Dv));
    if (!vp) {
        j->failed = 1;
        return;
    }
    for (int64_t c = c0; c < c1; c++)
        att_units(j, sc, vp, c * j->n_units / j->n_chunks, (c + 1) * j->n_units / j->n_chunks);
}


/* The leading (batch) dims of t: all but the last two. */
static ir_shape lead_shape(const ir_shape *s)
{
    ir_shape l = {.rank = s->rank - 2};
    for (int i = 0; i < l.rank; i++) l.dims[i] = s->dims[i];
    return l;
}

/* Leading dims of a over b (numpy broadcasting) into out; false on clash. */
static bool broadcast(const ir_shape *a, const ir_shape *b, ir_shape *out)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    out->rank = r;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1) return false;
        out->dims[i] = da == 1 ? db : da;
    }
    return true;
}

/* Where the (batch, head) slices of one run lie: the sizes, the row
 * strides, and the leading dims the slices are numbered over. */
typedef struct att_geom {
    int64_t S, D, Skv, Dv, BH;
    int64_t ldq, ldk, ldv, ldy;
    bool k_trans;
    int64_t H, oq, ok, ov; /* sequence-major form: heads and column offsets (H 0: head-major) */
    ir_shape lq, lk, lv;   /* head-major form: the leading dims of Q, K, V */
    ir_shape lead;         /* Y's leading dims: one (batch, head) slice per element */
    ir_shape sc;           /* the scores the mask must not grow */
    ir_shape full;         /* the scores over lead */
} att_geom;

/* Per (batch, head) index: the element offset of the slice of a tensor
 * with leading dims t_lead broadcast onto lead; slice = its elements. */
static void slice_offsets(const ir_shape *t_lead, const ir_shape *lead, int64_t slice, int64_t BH,
                          int64_t *off, int which)
{
    int64_t st[IR_MAX_RANK];
    cpu_broadcast_strides(t_lead, lead, st);
    for (int64_t b = 0; b < BH; b++)
        off[ATT_OFFS * b + which] = (lead->rank ? cpu_offset(lead, st, b) : 0) * slice;
}

/* Head-major form: Q [.., S, D], K [.., Skv, D] (or [.., D, Skv]), V [.., Skv, Dv]. */
static fwd_status geom_head_major(fwd_kernel_ctx *k, const ir_tensor *q, const ir_tensor *kt, const ir_tensor *v,
                                  const ir_tensor *yt, att_geom *g)
{
    g->k_trans = ir_attr_int(k->node, "k_transposed", 0) != 0;
    const ir_shape *qs = &q->shape, *ks = &kt->shape, *vs = &v->shape;
    if (qs->rank < 2 || ks->rank < 2 || vs->rank < 2)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "Q, K and V must have rank >= 2");
    g->S = qs->dims[qs->rank - 2];
    g->D = qs->dims[qs->rank - 1];
    g->Skv = ks->dims[g->k_trans ? ks->rank - 1 : ks->rank - 2];
    int64_t kD = ks->dims[g->k_trans ? ks->rank - 2 : ks->rank - 1];
    g->Dv = vs->dims[vs->rank - 1];
    if (kD != g->D || vs->dims[vs->rank - 2] != g->Skv)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "K or V does not match Q's depth or each other's length");
    g->lq = lead_shape(qs);
    g->lk = lead_shape(ks);
    g->lv = lead_shape(vs);
    ir_shape ls;
    if (!broadcast(&g->lq, &g->lk, &ls) || !broadcast(&ls, &g->lv, &g->lead))
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "the leading dims of Q, K and V do not broadcast");
    int r = g->lead.rank + 2;
    if (yt->shape.rank != r || yt->shape.dims[r - 2] != g->S || yt->shape.dims[r - 1] != g->Dv)
        return cpu_kernel_error(k, FWD_ERR_INTERNAL, "output shape does not match");
    g->sc = ls;
    g->ldq = g->D;
    g->ldk = g->k_trans ? g->Skv : g->D;
    g->ldv = g->ldy = g->Dv;
    return FWD_OK;
}

/* Heads of w columns from column o fit in a row of W columns. */
static bool heads_fit(int64_t o, int64_t H, int64_t w, int64_t W)
{
    return o >= 0 && o <= W && w >= 1 && H <= (W - o) / w;
}

/* Sequence-major form (num_heads = H): Q [B, S, Wq], K [B, Skv, Wk],
 * V [B, Skv, Wv], heads at column offsets; Y [B, S, H * Dv]. */
static fwd_status geom_seq_major(fwd_kernel_ctx *k, const ir_tensor *q, const ir_tensor *kt, const ir_tensor *v,
                                 const ir_tensor *yt, int64_t H, att_geom *g)
{
    const ir_shape *qs = &q->shape, *ks = &kt->shape, *vs = &v->shape;
    if (qs->rank != 3 || ks->rank != 3 || vs->rank != 3)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "Q, K and V must have rank 3 with num_heads");
    if (ir_attr_int(k->node, "k_transposed", 0) != 0)
        return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "k_transposed must be 0 with num_heads");
    int n_off = 0;
    const int64_t *off = ir_attr_ints(k->node, "offsets", &n_off);
    if (off && n_off != 3) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "attribute offsets must hold 3 ints");
    int64_t B = qs->dims[0];
    g->H = H;
    g->S = qs->dims[1];
    g->Skv = ks->dims[1];
    g->D = ir_attr_int(k->node, "head_dim", 0);
    g->Dv = ir_attr_int(k->node, "v_head_dim", g->D);
    g->oq = off ? off[0] : 0;
    g->ok = off ? off[1] : 0;
    g->ov = off ? off[2] : 0;
    if (ks->dims[0] != B || vs->dims[0] != B || vs->dims[1] != g->Skv)
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "Q, K and V differ in batch size or K and V in length");
    if (!heads_fit(g->oq, H, g->D, qs->dims[2]) || !heads_fit(g->ok, H, g->D, ks->dims[2]) ||
        !heads_fit(g->ov, H, g->Dv, vs->dims[2]))
        return cpu_kernel_error(k, FWD_ERR_SHAPE, "%lld heads of %lld (values %lld) do not fit the rows of Q, K or V",
                                (long long)H, (long long)g->D, (long long)g->Dv);
    const ir_shape *ys = &yt->shape;
    if (ys->rank != 3 || ys->dims[0] != B || ys->dims[1] != g->S || ys->dims[2] != H * g->Dv)
        return cpu_kernel_error(k, FWD_ERR_INTERNAL, "output shape does not match");
    g->lead = (ir_shape){.rank = 2, .dims = {B, H}};
    g->sc = g->lead;
    g->ldq = qs->dims[2];
    g->ldk = ks->dims[2];
    g->ldv = vs->dims[2];
    g->ldy = ys->dims[2];
    return FWD_OK;
}

/* The element offsets of every (batch, head) slice into off. */
static void fill_offsets(const att_geom *g, int64_t *off)
{
    if (g->H > 0) {
        for (int64_t bh = 0; bh < g->BH; bh++) {
            int64_t b = bh / g->H, h = bh % g->H;
            int64_t *o = off + ATT_OFFS * bh;
            o[0] = b * g->S * g->ldq + g->oq + h * g->D;
            o[1] = b * g->Skv * g->ldk + g->ok + h * g->D;
            o[2] = b * g->Skv * g->ldv + g->ov + h * g->Dv;
            o[4] = b * g->S * g->ldy + h * g->Dv;
        }
        return;
    }
    slice_offsets(&g->lq, &g->lead, g->S * g->D, g->BH, off, 0);
    slice_offsets(&g->lk, &g->lead, g->Skv * g->D, g->BH, off, 1);
    slice_offsets(&g->lv, &g->lead, g->Skv * g->Dv, g->BH, off, 2);
    for (int64_t bh = 0; bh < g->BH; bh++) off[ATT_OFFS * bh + 4] = bh * g->S * g->Dv;
}

/* float32 attention of q, kt, v, mask (NULL or float32) into y. */
static fwd_status attention_f32(fwd_kernel_ctx *k, const ir_tensor *q, const ir_tensor *kt, const ir_tensor *v,
                                const ir_tensor *mask, ir_tensor *yt)
{
    att_geom g = {0};
    int64_t H = ir_attr_int(k->node, "num_heads", 0);
    if (H < 0) return cpu_kernel_error(k, FWD_ERR_INVALID_MODEL, "num_heads must be >= 0");
    FWD_TRY(H > 0 ? geom_seq_major(k, q, kt, v, yt, H, &g) : geom_head_major(k, q, kt, v, yt, &g));
    int64_t S = g.S, D = g.D, Skv = g.Skv, Dv = g.Dv;
    if (!nn_blas_fits(S, Skv, D) || !nn_blas_fits(S, Dv, Skv))
        return cpu_kernel_error(k, FWD_ERR_UNSUPPORTED, "attention dimensions too large for BLAS");
    g.BH = ir_shape_numel(&g.lead);
    if (g.BH == 0 || S == 0 || Dv == 0) return FWD_OK;
    if (Skv == 0) { /* softmax over nothing: every weight sum is 0 */
        memset(yt->data, 0, ir_tensor_numel(yt) * sizeof(float));
        return FWD_OK;
    }
    g.full = g.lead;
    g.full.dims[g.full.rank++] = S;
    g.full.dims[g.full.rank++] = Skv;
    g.sc.dims[g.sc.rank++] = S;
    g.sc.dims[g.sc.rank++] = Skv;
    if (mask) {
        /* the mask broadcasts onto the scores without growing them */
        const ir_shape *ms = &mask->shape;
        bool ok = ms->rank <= g.sc.rank;
        for (int d = 0; ok && d < ms->rank; d++) {
            int64_t md = ms->dims[d];
            ok = md == 1 || md == g.sc.dims[d + g.sc.rank - ms->rank];
        }
        if (!ok) return cpu_kernel_error(k, FWD_ERR_SHAPE, "Mask does not broadcast to the scores");
    }

    att_job j = {.q = q->data, .k = kt->data, .v = v->data, .y = yt->data, .S = S, .D = D, .Skv = Skv, .Dv = Dv,
                 .ldq = g.ldq, .ldk = g.ldk, .ldv = g.ldv, .ldy = g.ldy, .k_trans = g.k_trans,
                 .scale = ir_attr_float(k->node, "scale", 1.0f),
                 .avx512 = nn_gemm_tile_rows() == 8 /* the AVX-512 kernels run */};
    int64_t BH = g.BH;
    int64_t rows = ATT_BLOCK_FLOATS / Skv;
    rows = rows < 1 ? 1 : rows;
    rows = rows > S ? S : rows;
    j.rows = rows;
    j.n_tiles = (S + rows - 1) / rows;
    j.n_units = BH * j.n_tiles;
    /* chunks of at least ~100K multiply-adds, taken one at a time by
     * whichever thread is free (BERT-base: one head each; two chunks per
     * thread of 3 heads left one thread up to 3 heads idle) */
    int64_t work = BH * S * Skv * (D + Dv);
    int64_t chunks = work / 100000;
    chunks = chunks > j.n_units ? j.n_units : chunks;
    j.n_chunks = chunks < 1 ? 1 : chunks;
    int64_t *off = fwd_kernel_scratch(k, (size_t)BH * ATT_OFFS * sizeof(int64_t));
    if (!off) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory for the head offsets");
    fill_offsets(&g, off);
    if (mask) {
        int64_t st[IR_MAX_RANK];
        int r = g.full.rank;
        cpu_broadcast_strides(&mask->shape, &g.full, st);
        for (int64_t b = 0; b < BH; b++) off[ATT_OFFS * b + 3] = g.lead.rank ? cpu_offset(&g.lead, st, b) : 0;
        j.mask = mask->data;
        j.m_row = st[r - 2];
        j.m_col = st[r - 1];
    }
    j.off = off;
    fwd_parallel_tasks(j.n_chunks, att_task, &j);
    if (j.failed) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory in the attention products");
    return FWD_OK;
}

/* A float32 copy of t (malloc'ed data) for the non-float32 path. */
static fwd_status to_f32(fwd_kernel_ctx *k, const ir_tensor *t, ir_tensor *out)
{
    *out = *t;
    if (t->dtype == FWD_FLOAT32) return FWD_OK;
    size_t n = ir_tensor_numel(t);
    float *buf = malloc((n ? n : 1) * sizeof(float));
    if (!buf) return cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory converting to float32");
    for (size_t i = 0; i < n; i++) buf[i] = (float)cpu_get_f64(t->dtype, t->data, (int64_t)i);
    out->dtype = FWD_FLOAT32;
    out->data = buf;
    out->nbytes = n * sizeof(float);
    return FWD_OK;
}

fwd_status cpu_fused_attention(fwd_kernel_ctx *k)
{
    FWD_TRY(nn_need_inputs(k, 3));
    if (k->n_out < 1 || !k->out[0]) return FWD_OK;
    const ir_tensor *mask = k->n_in > 3 ? k->in[3] : NULL;
    const ir_tensor *q = k->in[0];
    for (int i = 1; i < 4; i++) {
        const ir_tensor *t = i < k->n_in ? k->in[i] : NULL;
        if (t && t->dtype != q->dtype)
            return cpu_kernel_error(k, FWD_ERR_DTYPE, "input %d has dtype %s, Q has %s", i,
                                    fwd_dtype_name(t->dtype), fwd_dtype_name(q->dtype));
    }
    if (q->dtype == FWD_FLOAT32) return attention_f32(k, q, k->in[1], k->in[2], mask, k->out[0]);
    if (!nn_is_wide_or_half(q->dtype))
        return cpu_kernel_error(k, FWD_ERR_DTYPE, "input Q has dtype %s; a float type is needed",
                                fwd_dtype_name(q->dtype));
    /* float16, bfloat16, float64: through float32 copies */
    ir_tensor t[5] = {{0}};
    fwd_status st = FWD_OK;
    int n = 0;
    for (; n < 4 && !st; n++) {
        if (n >= k->n_in || !k->in[n]) continue;
        /* one packed QKV tensor read as Q, K and V: converted once */
        int same = -1;
        for (int p = 0; p < n && same < 0; p++)
            if (k->in[p] && k->in[p]->data == k->in[n]->data && ir_shape_equal(&k->in[p]->shape, &k->in[n]->shape))
                same = p;
        if (same >= 0) t[n] = t[same];
        else st = to_f32(k, k->in[n], &t[n]);
    }
    ir_tensor *y = k->out[0];
    size_t ny = ir_tensor_numel(y);
    if (!st) {
        t[4] = *y;
        t[4].dtype = FWD_FLOAT32;
        t[4].data = malloc((ny ? ny : 1) * sizeof(float));
        t[4].nbytes = ny * sizeof(float);
        if (!t[4].data) st = cpu_kernel_error(k, FWD_ERR_OUT_OF_MEMORY, "out of memory converting to float32");
    }
    if (!st) st = attention_f32(k, &t[0], &t[1], &t[2], mask ? &t[3] : NULL, &t[4]);
    if (!st)
        for (size_t i = 0; i < ny; i++) cpu_set_f64(y->dtype, y->data, (int64_t)i, ((float *)t[4].data)[i]);
    for (int i = 0; i < 4; i++) {
        bool shared = false;
        for (int p = 0; p < i; p++) shared |= t[p].data == t[i].data;
        if (i < k->n_in && k->in[i] && t[i].data != k->in[i]->data && !shared) free(t[i].data);
    }
    free(t[4].data);
    return st;
}

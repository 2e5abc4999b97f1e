/* CPU kernels for the tensor op family: the kernel table and the shared
 * data-movement helpers (strided copy, parallel memcpy, output set-up). */
#include "backend/cpu/tensor_internal.h"

#include "util/threadpool.h"

fwd_status tns_output(fwd_kernel_ctx *k, int i, fwd_dtype dt, const ir_shape *s, ir_tensor **out)
{
    *out = NULL;
    if (i >= k->n_out || !k->out[i]) return FWD_OK;
    ir_tensor *t = k->out[i];
    if (!t->data) {
        FWD_TRY(fwd_kernel_alloc_output(k, i, dt, s));
    } else if (t->dtype != dt || !ir_shape_equal(&t->shape, s)) {
        return cpu_kernel_error(k, FWD_ERR_INTERNAL, "output %d was allocated with another shape or dtype", i);
    }
    *out = t;
    return FWD_OK;
}

fwd_status tns_prepare(fwd_kernel_ctx *k)
{
    for (int i = 0; i < k->n_out; i++) {
        ir_tensor *t = k->out[i];
        if (!t || t->data) continue;
        if (!ir_shape_known(&t->shape) || t->dtype == FWD_DTYPE_UNDEFINED)
            return cpu_kernel_error(k, FWD_ERR_INTERNAL, "output %d has no known shape", i);
        ir_shape s = t->shape;
        FWD_TRY(fwd_kernel_alloc_output(k, i, t->dtype, &s));
    }
    return FWD_OK;
}

void tns_fill(void *dst, int64_t n, const void *elem, size_t es)
{
    bool zero = true;
    for (size_t i = 0; i < es; i++) zero &= ((const uint8_t *)elem)[i] == 0;
    if (zero) {
        memset(dst, 0, (size_t)n * es);
        return;
    }
    char *d = dst;
    switch (es) {
    case 1: memset(dst, *(const uint8_t *)elem, (size_t)n); break;
    case 2: { uint16_t v; memcpy(&v, elem, 2); for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = v; } break;
    case 4: { uint32_t v; memcpy(&v, elem, 4); for (int64_t i = 0; i < n; i++) ((uint32_t *)dst)[i] = v; } break;
    case 8: { uint64_t v; memcpy(&v, elem, 8); for (int64_t i = 0; i < n; i++) ((uint64_t *)dst)[i] = v; } break;
    default: for (int64_t i = 0; i < n; i++) memcpy(d + i * (int64_t)es, elem, es);
    }
}

/* ---- parallel memcpy ---- */

typedef struct {
    char *dst;
    const char *src;
    size_t bytes;
} memcpy_job;

#define MEMCPY_CHUNK ((size_t)1 << 18)

static void memcpy_range(void *arg, int64_t b, int64_t e)
{
    memcpy_job *j = arg;
    size_t lo = (size_t)b * MEMCPY_CHUNK, hi = (size_t)e * MEMCPY_CHUNK;
    if (hi > j->bytes) hi = j->bytes;
    memcpy(j->dst + lo, j->src + lo, hi - lo);
}

void tns_memcpy(void *dst, const void *src, size_t bytes)
{
    if (dst == src || bytes == 0) return;
    const char *d = dst, *s = src;
    if (d < s + bytes && s < d + bytes) {
        /* overlapping (an engine file whose memory plan was altered, its
         * checksum made to match): defined, if not meaningful */
        memmove(dst, src, bytes);
        return;
    }
    if (bytes < 4 * MEMCPY_CHUNK) {
        memcpy(dst, src, bytes);
        return;
    }
    memcpy_job j = {dst, src, bytes};
    fwd_parallel_for((int64_t)((bytes + MEMCPY_CHUNK - 1) / MEMCPY_CHUNK), 1, memcpy_range, &j);
}

/* ---- strided copy ---- */

typedef struct {
    char *dst;
    const char *src;
    size_t es;
    int rank;
    int64_t d[TNS_MAX_VIEW];
    int64_t ss[TNS_MAX_VIEW]; /* source strides, bytes */
    int64_t ds[TNS_MAX_VIEW]; /* destination strides, bytes */
    int p;                    /* tiled mode: the source-contiguous dim */
    int64_t ptiles;
} strided_job;

#define TILE 32

/* Offsets of row `row` over dims [0, nd) skipping dims skip1/skip2. */
static void row_offsets(const strided_job *j, int nd, int skip1, int skip2, int64_t row, int64_t *so, int64_t *dof,
                        int64_t *idx)
{
    *so = 0;
    *dof = 0;
    for (int i = nd - 1; i >= 0; i--) {
        if (i == skip1 || i == skip2) {
            idx[i] = 0;
            continue;
        }
        idx[i] = row % j->d[i];
        row /= j->d[i];
        *so += idx[i] * j->ss[i];
        *dof += idx[i] * j->ds[i];
    }
}

/* Step the odometer over dims [0, nd) (skipping skip1/skip2). */
static inline void row_next(const strided_job *j, int nd, int skip1, int skip2, int64_t *idx, int64_t *so,
                            int64_t *dof)
{
    for (int i = nd - 1; i >= 0; i--) {
        if (i == skip1 || i == skip2) continue;
        if (++idx[i] < j->d[i]) {
            *so += j->ss[i];
            *dof += j->ds[i];
            return;
        }
        idx[i] = 0;
        *so -= (j->d[i] - 1) * j->ss[i];
        *dof -= (j->d[i] - 1) * j->ds[i];
    }
}

static void copy_run(char *d, const char *s, int64_t n, int64_t st, size_t es)
{
#define RUN(T)                                 \
    for (int64_t x = 0; x < n; x++) {          \
        T v;                                   \
        memcpy(&v, s + x * st, sizeof v);      \
        memcpy(d + x * (int64_t)sizeof v, &v, sizeof v); \
    }
    switch (es) {
    case 1: RUN(uint8_t); break;
    case 2: RUN(uint16_t); break;
    case 4: RUN(uint32_t); break;
    case 8: RUN(uint64_t); break;
    default:
        for (int64_t x = 0; x < n; x++) memcpy(d + x * (int64_t)es, s + x * st, es);
    }
#undef RUN
}

/* n elements from contiguous s to d with a byte stride. */
static void copy_run_to_strided(char *d, int64_t dst_stride, const char *s, int64_t n, size_t es)
{
#define RUN(T)                                            \
    for (int64_t x = 0; x < n; x++) {                     \
        T v;                                              \
        memcpy(&v, s + x * (int64_t)sizeof v, sizeof v);  \
        memcpy(d + x * dst_stride, &v, sizeof v);         \
    }
    switch (es) {
    case 1: RUN(uint8_t); break;
    case 2: RUN(uint16_t); break;
    case 4: RUN(uint32_t); break;
    case 8: RUN(uint64_t); break;
    default:
        for (int64_t x = 0; x < n; x++) memcpy(d + x * dst_stride, s + x * (int64_t)es, es);
    }
#undef RUN
}

static void rows_memcpy(void *arg, int64_t b, int64_t e)
{
    const strided_job *j = arg;
    int last = j->rank - 1;
    int64_t idx[TNS_MAX_VIEW], so, dof;
    row_offsets(j, last, -1, -1, b, &so, &dof, idx);
    size_t run = (size_t)j->d[last] * j->es;
    for (int64_t r = b; r < e; r++) {
        memcpy(j->dst + dof, j->src + so, run);
        row_next(j, last, -1, -1, idx, &so, &dof);
    }
}

static void rows_strided(void *arg, int64_t b, int64_t e)
{
    const strided_job *j = arg;
    int last = j->rank - 1;
    int64_t idx[TNS_MAX_VIEW], so, dof;
    row_offsets(j, last, -1, -1, b, &so, &dof, idx);
    for (int64_t r = b; r < e; r++) {
        copy_run(j->dst + dof, j->src + so, j->d[last], j->ss[last], j->es);
        row_next(j, last, -1, -1, idx, &so, &dof);
    }
}

#ifdef __AVX2__
#include "backend/cpu/transpose8.h"
/* dst[i][l] = src[i + l*sl] for an 8x8 block of 4-byte elements: src is
 * contiguous along i, dst along l (row stride dp bytes). */
static inline void transpose8x8_f32(char *dst, int64_t dp, const char *src, int64_t sl)
{
    nn_transpose8x8((const float *)src, sl / 4, (float *)dst, dp / 4); /* 4-byte strides */
}
#endif

/* One tile [p0, p1) x [l0, l1): 8x8 vector blocks where they fit. */
static void tile_block(const strided_job *j, char *dbase, const char *sbase, int64_t p0, int64_t p1, int64_t l0,
                       int64_t l1)
{
    int64_t sl = j->ss[j->rank - 1], dp = j->ds[j->p], es = (int64_t)j->es;
    int64_t pv = p0, lv = l1;
#ifdef __AVX2__
    if (es == 4) {
        lv = l0 + (l1 - l0) / 8 * 8;
        pv = p0 + (p1 - p0) / 8 * 8;
        for (int64_t i = p0; i < pv; i += 8)
            for (int64_t l = l0; l < lv; l += 8)
                transpose8x8_f32(dbase + i * dp + l * es, dp, sbase + i * es + l * sl, sl);
        /* right strip of the vector rows */
        for (int64_t i = p0; i < pv && lv < l1; i++)
            copy_run(dbase + i * dp + lv * es, sbase + i * es + lv * sl, l1 - lv, sl, j->es);
        lv = l1;
    }
#endif
    if (lv - l0 < 8) { /* short rows: read along i (contiguous), write with stride dp */
        for (int64_t l = l0; l < lv; l++)
            copy_run_to_strided(dbase + pv * dp + l * es, dp, sbase + pv * es + l * sl, p1 - pv, j->es);
        return;
    }
    for (int64_t i = pv; i < p1; i++) copy_run(dbase + i * dp + l0 * es, sbase + i * es + l0 * sl, lv - l0, sl, j->es);
}

/* One item: one p-tile of one outer position, all of the last dim. */
static void tiles_copy(void *arg, int64_t b, int64_t e)
{
    const strided_job *j = arg;
    int last = j->rank - 1, p = j->p;
    int64_t np = j->d[p], nl = j->d[last];
    for (int64_t it = b; it < e; it++) {
        int64_t outer = it / j->ptiles, pt = it % j->ptiles;
        int64_t idx[TNS_MAX_VIEW], so, dof;
        row_offsets(j, last, p, -1, outer, &so, &dof, idx);
        int64_t p0 = pt * TILE, p1 = p0 + TILE < np ? p0 + TILE : np;
        for (int64_t l0 = 0; l0 < nl; l0 += TILE) {
            int64_t l1 = l0 + TILE < nl ? l0 + TILE : nl;
            tile_block(j, j->dst + dof, j->src + so, p0, p1, l0, l1);
        }
    }
}

void tns_copy_strided(void *dst, const void *src, size_t esize, int rank, const int64_t *dims,
                      const int64_t *src_strides)
{
    strided_job j = {.dst = dst, .src = src, .es = esize};
    int r = 0;
    for (int i = 0; i < rank; i++) {
        if (dims[i] == 0) return;
        if (dims[i] == 1) continue;
        int64_t s = src_strides[i] * (int64_t)esize;
        if (r > 0 && j.ss[r - 1] == s * dims[i]) { /* contiguous with the dim before */
            j.d[r - 1] *= dims[i];
            j.ss[r - 1] = s;
        } else {
            j.d[r] = dims[i];
            j.ss[r] = s;
            r++;
        }
    }
    if (r == 0) {
        memcpy(dst, src, esize);
        return;
    }
    j.rank = r;
    int64_t acc = (int64_t)esize, total = 1;
    for (int i = r - 1; i >= 0; i--) {
        j.ds[i] = acc;
        acc *= j.d[i];
        total *= j.d[i];
    }
    int last = r - 1;
    int64_t rows = total / j.d[last];
    int64_t row_bytes = j.d[last] * (int64_t)esize;
    if (j.ss[last] == (int64_t)esize) {
        if (r == 1) {
            tns_memcpy(dst, src, (size_t)row_bytes);
            return;
        }
        int64_t grain = (1 << 16) / row_bytes + 1;
        fwd_parallel_for(rows, grain, rows_memcpy, &j);
        return;
    }
    j.p = -1;
    for (int i = 0; i < last; i++)
        if (j.ss[i] == (int64_t)esize && j.d[i] >= 8) j.p = i;
    if (j.p >= 0) {
        j.ptiles = (j.d[j.p] + TILE - 1) / TILE;
        int64_t items = rows / j.d[j.p] * j.ptiles;
        int64_t per_item = TILE * row_bytes;
        fwd_parallel_for(items, (1 << 16) / per_item + 1, tiles_copy, &j);
        return;
    }
    fwd_parallel_for(rows, (1 << 15) / (j.d[last] + 1) + 1, rows_strided, &j);
}

const cpu_kernel_entry cpu_kernels_tensor[] = {
    {"Shape", tns_shape},
    {"Size", tns_size},
    {"ConstantOfShape", tns_constant_of_shape},
    {"Reshape", tns_reshape},
    {"Flatten", tns_reshape},
    {"Squeeze", tns_reshape},
    {"Unsqueeze", tns_reshape},
    {"Transpose", tns_transpose},
    {"Concat", tns_concat},
    {"Split", tns_split},
    {"Slice", tns_slice},
    {"Expand", tns_expand},
    {"Tile", tns_tile},
    {"Pad", tns_pad},
    {"DepthToSpace", tns_depth_to_space},
    {"SpaceToDepth", tns_space_to_depth},
    {"Trilu", tns_trilu},
    {"EyeLike", tns_eyelike},
    {"Range", tns_range},
    {"Gather", tns_gather},
    {"GatherElements", tns_gather_elements},
    {"GatherND", tns_gather_nd},
    {"ScatterElements", tns_scatter_elements},
    {"ScatterND", tns_scatter_nd},
    {"OneHot", tns_onehot},
    {"NonZero", tns_nonzero},
    {"Compress", tns_compress},
    {"ReverseSequence", tns_reverse_sequence},
    {"TopK", tns_topk},
    {"ArgMax", tns_argmax},
    {"ArgMin", tns_argmin},
    {"Unique", tns_unique},
    {"CumSum", tns_cumsum},
    {"Resize", tns_resize},
    {"GridSample", tns_grid_sample},
    {NULL, NULL},
};

/*
 * The vector steps of Winograd F(4x4, 3x3) (conv_winograd4.c), written
 * once over GCC vector types and included once per instruction set with
 *
 *   WK_L       lanes (tiles per step): 16 (AVX-512) or 8 (AVX2)
 *   WK_TARGET  the function attribute selecting the instruction set
 *   WK(name)   the name of this instantiation's function
 *   VF, VI     float / int32 vector types of WK_L lanes
 *   WK_IOTA    the VI constant {0, 1, ..., WK_L - 1}
 *   wk_load_n(p, n), wk_load_range(p, lo, hi), wk_store_range(p, v, lo, hi)
 *              lanes [0, n) / [lo, hi) loaded (the rest zero) / lanes
 *              [lo, hi) stored, lane l at p + l (only those lanes touched)
 *
 * (undefined again at the end of this file).
 *
 * One step handles WK_L consecutive tiles of one tile row (n of them
 * valid): the input step turns the 6x6 patches of one channel into the
 * 36 values of V = B^T d B each and stores them into the GEMM's panels;
 * the output step turns the 36 products of one filter into 4x4 outputs
 * per tile, Y = A^T M A, written to the output rows.
 */

/* y = B^T x for six vectors (B^T of conv_winograd4.c). */
#define WK_BT(x, y)                                                            \
    do {                                                                       \
        y[0] = 2.0f * (x[0] + x[4]) - 4.0f * x[2] + 3.0f * (x[3] - x[1]);     \
        y[1] = 2.0f * (x[4] - x[1]) + x[2] + 5.0f * x[3];                      \
        y[2] = 2.0f * (x[1] + x[4]) - 5.0f * x[2] + x[3];                      \
        y[3] = 2.0f * (x[3] - x[1]) - x[2] + x[4];                             \
        y[4] = x[1] - x[3] + 2.0f * (x[4] - x[2]);                             \
        y[5] = 2.0f * (x[1] + x[5]) - 4.0f * x[3] + 3.0f * (x[4] - x[2]);     \
    } while (0)

/* y = A^T x: four vectors from six. */
#define WK_AT(x, y)                                                            \
    do {                                                                       \
        VF s12_ = x[1] + x[2], d12_ = x[1] - x[2];                             \
        y[0] = s12_ + x[0] + x[3] + x[4];                                      \
        y[1] = d12_ + 0.5f * x[3] - 2.0f * x[4];                               \
        y[2] = s12_ + 0.25f * x[3] + 4.0f * x[4];                              \
        y[3] = d12_ + 0.125f * x[3] - 8.0f * x[4] + x[5];                      \
    } while (0)

/* V for tiles t0.. (n valid) of one channel plane xp (h x w): the patch
 * of tile t0 starts at input row iy0, column ix0, and values outside the
 * plane (the convolution's padding) are zero, read through masked loads
 * rather than copied into a padded plane. v holds 36 positions, ldv
 * apart, each in panels of NN_NR tiles x c channels. */
WK_TARGET static void WK(input_step)(const float *xp, int64_t h, int64_t w, int64_t iy0, int64_t ix0, float *v,
                                     int64_t ldv, int64_t c, int64_t ch, int64_t t0, int64_t n)
{
    const VI iota = WK_IOTA, half = iota >= WK_L / 2;
    const VI cat = iota + (half & (WK_L / 2)); /* low halves of two vectors */
    /* the 8 loads of a patch row: columns 0..3 of WK_L tiles in 4 vectors
     * from ix0, then columns 4..5 from ix0 + 4; lanes [lo, hi) inside */
    int lo[8], hi[8];
    for (int l = 0; l < 8; l++) {
        int64_t col = ix0 + 4 * (l / 4) + (l % 4) * WK_L;
        lo[l] = col >= 0 ? 0 : (-col < WK_L ? (int)-col : WK_L);
        hi[l] = w - col >= WK_L ? WK_L : (w - col > 0 ? (int)(w - col) : 0);
    }
    VF s[6][6]; /* (d B) per patch row */
    for (int r = 0; r < 6; r++) {
        int64_t iy = iy0 + r;
        if (iy < 0 || iy >= h) {
            for (int q = 0; q < 6; q++) s[r][q] = (VF){0};
            continue;
        }
        /* as an integer: the first columns may lie before the plane */
        uintptr_t row = (uintptr_t)(xp + iy * w) + (uintptr_t)(ix0 * (int64_t)sizeof(float));
        VF d[6], a[4];
        for (int sh = 0; sh < 2; sh++) { /* columns 0..3, then 4..5 (one tile on) */
            for (int i = 0; i < 4; i++) {
                int l = 4 * sh + i;
                const float *p = (const float *)(row + (uintptr_t)((4 * sh + i * WK_L) * (int64_t)sizeof(float)));
                a[i] = lo[l] < hi[l] ? wk_load_range(p, lo[l], hi[l]) : (VF){0};
            }
            for (int q = 0; q < (sh ? 2 : 4); q++) {
                VI idx = 4 * iota + q; /* lanes below WK_L / 2: column q of each tile */
                VF lo2 = __builtin_shuffle(a[0], a[1], idx), hi2 = __builtin_shuffle(a[2], a[3], idx);
                d[4 * sh + q] = __builtin_shuffle(lo2, hi2, cat);
            }
        }
        WK_BT(d, s[r]);
    }
    int64_t o = t0 % NN_NR, first = NN_NR - o < n ? NN_NR - o : n;
    float *dst = v + t0 / NN_NR * c * NN_NR + ch * NN_NR + o;
    for (int j = 0; j < 6; j++) {
        VF col[6], out[6];
        for (int r = 0; r < 6; r++) col[r] = s[r][j];
        WK_BT(col, out);
        for (int k = 0; k < 6; k++) {
            float *p = dst + (k * 6 + j) * ldv;
            wk_store_range(p, out[k], 0, first);
            /* the lanes past this panel start the next one */
            if (n > first) wk_store_range(p + c * NN_NR - NN_NR, out[k], first, n);
        }
    }
}

/* Output rows of tiles t0.. (n valid) of one filter: m points at the
 * filter's product for the first tile at position 0, xs apart per
 * position; writes rows (<= 4) output rows of w (<= 4 * n) values from y,
 * ldy apart. */
WK_TARGET static void WK(output_step)(const float *m, int64_t xs, int64_t n, float *y, int64_t ldy,
                                      int rows, int64_t w)
{
    const VI iota = WK_IOTA;
    const VI zip = (iota >> 1) + ((iota & 1) * WK_L);                   /* a0 b0 a1 b1 ... */
    const VI pair = 2 * (iota >> 2) + (iota & 1) + ((iota >> 1) & 1) * WK_L; /* a0 a1 b0 b1 a2 ... */
    VF t[4][6];
    for (int q = 0; q < 6; q++) {
        VF x[6];
        for (int r = 0; r < 6; r++) x[r] = wk_load_n(m + (r * 6 + q) * xs, n);
        VF o4[4];
        WK_AT(x, o4);
        for (int i = 0; i < 4; i++) t[i][q] = o4[i];
    }
    for (int i = 0; i < rows; i++) {
        VF o[4];
        WK_AT(t[i], o);
        /* interleave: output column 4 l + j is o[j] lane l */
        VF p01[2], p23[2], out[4];
        p01[0] = __builtin_shuffle(o[0], o[1], zip);
        p01[1] = __builtin_shuffle(o[0], o[1], zip + WK_L / 2);
        p23[0] = __builtin_shuffle(o[2], o[3], zip);
        p23[1] = __builtin_shuffle(o[2], o[3], zip + WK_L / 2);
        for (int h = 0; h < 2; h++) {
            out[2 * h] = __builtin_shuffle(p01[h], p23[h], pair);
            out[2 * h + 1] = __builtin_shuffle(p01[h], p23[h], pair + WK_L / 2);
        }
        float *yr = y + i * ldy;
        for (int k = 0; k < 4; k++) {
            int64_t lo = k * WK_L, cnt = w - lo;
            if (cnt <= 0) break;
            wk_store_range(yr + lo, out[k], 0, cnt < WK_L ? cnt : WK_L);
        }
    }
}

#undef WK_BT
#undef WK_AT
/* the parameters too: the next instantiation defines its own */
#undef WK_L
#undef WK_TARGET
#undef WK
#undef VF
#undef VI
#undef WK_IOTA
#undef wk_load_n
#undef wk_load_range
#undef wk_store_range

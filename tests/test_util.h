/*
 * Helpers shared by the C tests (public API only): PASS/FAIL checks with
 * the closing count, status expectations, reading files, pseudo-random
 * bits for fuzzing, building an engine from a model file, the layer list
 * string, fixed pseudo-random inputs, and comparing an engine at
 * optimization level 1 against level 0.
 *
 * Header-only (static functions): each test is one executable made from
 * one .c file.
 */
#ifndef FWD_TESTS_TEST_UTIL_H
#define FWD_TESTS_TEST_UTIL_H

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwd.h"

#define TU_MAX_IO 8

/* ---- checks ---- */

static int tu_passed, tu_failed;

/* Print "PASS <message>" or "FAIL <message>" and count it. */
static inline void tu_check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void tu_check(bool ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", ok ? "PASS" : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    if (ok)
        tu_passed++;
    else
        tu_failed++;
}

/* The closing "N passed, M failed" line; returns the exit code. */
static inline int tu_summary(void)
{
    printf("%d passed, %d failed\n", tu_passed, tu_failed);
    return tu_failed ? 1 : 0;
}

/* st must be want and the last error must contain every needle given
 * (NULL: none). */
static inline void tu_expect(fwd_status st, fwd_status want, const char *what, const char *n1, const char *n2,
                             const char *n3)
{
    const char *msg = fwd_last_error();
    bool ok = st == want && (!n1 || strstr(msg, n1)) && (!n2 || strstr(msg, n2)) && (!n3 || strstr(msg, n3));
    tu_check(ok, "%s: got %s, want %s; message: %s", what, fwd_status_name(st), fwd_status_name(want), msg);
}

/* ---- files and fuzzing ---- */

/* The whole file (malloc'ed; *size its length), or NULL. */
static inline unsigned char *tu_read_file(const char *path, size_t *size)
{
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc(n > 0 ? (size_t)n : 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return p;
}

/* Fixed pseudo-random 64-bit numbers (xorshift) for fuzzing. */
static uint64_t tu_bits_state = 0x9e3779b97f4a7c15ull;
static inline uint64_t tu_bits(void)
{
    tu_bits_state ^= tu_bits_state << 13;
    tu_bits_state ^= tu_bits_state >> 7;
    tu_bits_state ^= tu_bits_state << 17;
    return tu_bits_state;
}

/* ---- engines ---- */

/* The message of the last tu_build ("ok" when it succeeded). */
static char tu_build_error[1024];

/* Build the model at path in mode (NULL: the default) at optimization
 * level `level`. */
static inline fwd_status tu_build(const char *path, const char *mode, int level, fwd_engine **e)
{
    fwd_model *m = NULL;
    fwd_builder *b = NULL;
    *e = NULL;
    fwd_status st = fwd_model_load(path, &m);
    if (!st) st = fwd_builder_create(&b);
    if (!st && mode) st = fwd_builder_set_mode(b, mode);
    if (!st) st = fwd_builder_set_optimization(b, level);
    if (!st) st = fwd_builder_build(b, m, e);
    snprintf(tu_build_error, sizeof tu_build_error, "%s", st ? fwd_last_error() : "ok");
    fwd_builder_free(b);
    fwd_model_free(m);
    return st;
}

/* "Op,Op[fused],..." of an engine's layers (fused: the layer's fused
 * string when not empty). Returns the number of layers. */
static inline int tu_layer_list(const fwd_engine *e, char *buf, size_t cap)
{
    int n = 0;
    size_t len = 0;
    buf[0] = 0;
    if (fwd_engine_num_layers(e, &n) != FWD_OK) return 0;
    for (int i = 0; i < n && len + 1 < cap; i++) {
        fwd_layer_info li;
        if (fwd_engine_layer(e, i, &li) != FWD_OK) {
            snprintf(buf, cap, "(layer %d: %s)", i, fwd_last_error());
            return n;
        }
        int w = li.fused && li.fused[0]
                    ? snprintf(buf + len, cap - len, "%s%s[%s]", i ? "," : "", li.op_type, li.fused)
                    : snprintf(buf + len, cap - len, "%s%s", i ? "," : "", li.op_type);
        if (w < 0) break;
        len += (size_t)w;
    }
    return n;
}

/* ---- inputs and runs ---- */

/* Fixed pseudo-random numbers in [-1, 1). */
static uint32_t tu_rng_state;
static inline void tu_seed(uint32_t seed) { tu_rng_state = seed; }
static inline float tu_rnd(void)
{
    tu_rng_state = tu_rng_state * 1664525u + 1013904223u;
    return (float)(tu_rng_state >> 8) / (float)(1u << 23) - 1.0f;
}

/* Make input t for info: unknown dims 2, float32 data from tu_rnd, bools
 * `flag`, other dtypes zero. t->data is malloc'ed (NULL when out of
 * memory). */
static inline void tu_make_input(const fwd_tensor_info *info, int flag, fwd_tensor *t)
{
    memset(t, 0, sizeof *t);
    t->name = info->name;
    t->dtype = info->dtype;
    t->rank = info->rank < 0 ? 0 : info->rank;
    for (int d = 0; d < t->rank; d++) t->dims[d] = info->dims[d] < 0 ? 2 : info->dims[d];
    int64_t count = fwd_tensor_numel(t);
    size_t esz = fwd_dtype_size(info->dtype);
    t->size = (size_t)count * esz;
    t->data = calloc((size_t)count + 1, esz ? esz : 1);
    if (!t->data) return;
    if (info->dtype == FWD_FLOAT32)
        for (int64_t k = 0; k < count; k++) ((float *)t->data)[k] = tu_rnd();
    if (info->dtype == FWD_BOOL)
        for (int64_t k = 0; k < count; k++) ((uint8_t *)t->data)[k] = (uint8_t)flag;
}

/* Run e once. Inputs: the given tensors (matched by name), the others made
 * by tu_make_input (flag 0) from the stream seeded with seed. The outputs
 * are copied into out[] (at most TU_MAX_IO; free each data). */
static inline fwd_status tu_run(const fwd_engine *e, uint32_t seed, const fwd_tensor *given, int n_given,
                                fwd_tensor *out, int *n_out)
{
    fwd_tensor in[TU_MAX_IO];
    void *owned[TU_MAX_IO] = {0};
    int n_in = 0;
    fwd_engine_num_inputs(e, &n_in);
    if (n_in > TU_MAX_IO) n_in = TU_MAX_IO;
    tu_seed(seed);
    for (int i = 0; i < n_in; i++) {
        fwd_tensor_info info;
        fwd_engine_input(e, i, &info);
        bool found = false;
        for (int g = 0; g < n_given && !found; g++)
            if (strcmp(given[g].name, info.name) == 0) {
                in[i] = given[g];
                found = true;
            }
        if (found) continue;
        tu_make_input(&info, 0, &in[i]);
        owned[i] = in[i].data;
    }
    fwd_engine_num_outputs(e, n_out);
    if (*n_out > TU_MAX_IO) *n_out = TU_MAX_IO;
    for (int i = 0; i < *n_out; i++) {
        fwd_tensor_info info;
        fwd_engine_output(e, i, &info);
        memset(&out[i], 0, sizeof out[i]);
        out[i].name = info.name;
    }
    fwd_context *c = NULL;
    fwd_status st = fwd_context_create(e, &c);
    if (!st) st = fwd_context_run(c, in, n_in, out, *n_out);
    for (int i = 0; i < *n_out; i++) {
        void *copy = NULL;
        if (!st && out[i].data && (copy = malloc(out[i].size + 1))) memcpy(copy, out[i].data, out[i].size);
        out[i].data = copy;
    }
    fwd_context_free(c);
    for (int i = 0; i < n_in; i++) free(owned[i]);
    return st;
}

/* Worst error of got against ref over n floats, relative to
 * max(1, |ref|); NaN counts as infinite. *at (may be NULL) receives its
 * index. */
static inline double tu_max_rel_error(const float *ref, const float *got, int64_t n, int64_t *at)
{
    double worst = 0;
    int64_t where = 0;
    for (int64_t k = 0; k < n; k++) {
        double err = fabs((double)ref[k] - (double)got[k]) / fmax(1.0, fabs((double)ref[k]));
        if (!(err <= worst)) {
            worst = isnan(err) ? INFINITY : err;
            where = k;
        }
    }
    if (at) *at = where;
    return worst;
}

/* Level-1 outputs against level 0's: same name, dtype and shape; float32
 * within tol * max(1, |ref|), other dtypes bit-equal. */
static inline void tu_compare_outputs(const char *what, const fwd_tensor *ref, const fwd_tensor *got, int n,
                                      double tol)
{
    for (int i = 0; i < n; i++) {
        const fwd_tensor *r = &ref[i], *g = &got[i];
        bool ok = r->dtype == g->dtype && r->rank == g->rank && r->data && g->data && r->size == g->size &&
                  strcmp(r->name, g->name) == 0;
        for (int d = 0; ok && d < r->rank; d++) ok = r->dims[d] == g->dims[d];
        if (!ok) {
            tu_check(false, "%s: output '%s' has the level-0 name, dtype and shape", what, r->name);
            continue;
        }
        if (r->dtype != FWD_FLOAT32) {
            tu_check(memcmp(r->data, g->data, r->size) == 0, "%s: output '%s' equals level 0", what, r->name);
            continue;
        }
        double worst = tu_max_rel_error(r->data, g->data, fwd_tensor_numel(r), NULL);
        tu_check(worst <= tol, "%s: output '%s' matches level 0 (max error %.2e)", what, r->name, worst);
    }
}

/* Run e0 (level 0) and e1 (level 1) on the same inputs (the given ones,
 * the rest random from seeds 1 and 2) and compare their outputs. */
static inline void tu_compare_levels(const char *what, const fwd_engine *e0, const fwd_engine *e1,
                                     const fwd_tensor *given, int n_given, double tol)
{
    for (uint32_t seed = 1; seed <= 2; seed++) {
        fwd_tensor r0[TU_MAX_IO], r1[TU_MAX_IO];
        int n0 = 0, n1 = 0;
        fwd_status s0 = tu_run(e0, seed, given, n_given, r0, &n0);
        char msg[512];
        snprintf(msg, sizeof msg, "%s", s0 ? fwd_last_error() : "");
        fwd_status s1 = tu_run(e1, seed, given, n_given, r1, &n1);
        if (s1) snprintf(msg, sizeof msg, "%s", fwd_last_error());
        tu_check(!s0 && !s1 && n0 == n1, "%s: runs at both levels (seed %u)%s%s", what, seed, msg[0] ? ": " : "",
                 msg);
        if (!s0 && !s1 && n0 == n1) tu_compare_outputs(what, r0, r1, n0, tol);
        for (int i = 0; i < n0; i++) free(r0[i].data);
        for (int i = 0; i < n1; i++) free(r1[i].data);
    }
}

#endif

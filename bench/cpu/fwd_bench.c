/*
 * fwd_bench: time one model with the public API.
 *
 *   fwd_bench MODEL [--shape NAME:D0xD1x...]... [--fill NAME:LO:HI]...
 *             [--warmup N] [--iters N] [--mode float32]
 *
 * Every graph input gets fixed pseudo-random data: floats uniform in
 * [-1, 1), integers uniform in [0, 1] (safe as indices, masks and type
 * ids), unless --fill gives an inclusive range for that input. Shapes come
 * from --shape, else from the model when all its dims are fixed.
 * Prints the median and p90 latency of the timed runs in milliseconds.
 * The thread count is the library's: set FWD_NUM_THREADS.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* clock_gettime in strict C11 */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fwd.h"

#define MAX_INPUTS 64

typedef struct input_spec {
    const char *name;
    int rank; /* -1: not given */
    int64_t dims[FWD_MAX_DIMS];
    int has_range;
    double lo, hi;
} input_spec;

typedef struct bench_opts {
    const char *model;
    const char *mode;
    int warmup, iters;
    input_spec specs[MAX_INPUTS];
    int n_specs;
} bench_opts;

static void usage(void)
{
    fprintf(stderr,
            "usage: fwd_bench MODEL [--shape NAME:D0xD1x...]... [--fill NAME:LO:HI]...\n"
            "                 [--warmup N] [--iters N] [--mode float32]\n"
            "threads: FWD_NUM_THREADS (default: all cores)\n");
}

static input_spec *spec_for(bench_opts *o, const char *name, size_t len)
{
    for (int i = 0; i < o->n_specs; i++)
        if (strlen(o->specs[i].name) == len && strncmp(o->specs[i].name, name, len) == 0)
            return &o->specs[i];
    if (o->n_specs == MAX_INPUTS) return NULL;
    input_spec *s = &o->specs[o->n_specs++];
    char *copy = malloc(len + 1);
    if (!copy) return NULL;
    memcpy(copy, name, len);
    copy[len] = '\0';
    s->name = copy;
    s->rank = -1;
    return s;
}

/* "NAME:1x3x224x224" (the name may itself hold ':'; the last one splits). */
static int parse_shape(bench_opts *o, const char *arg)
{
    const char *colon = strrchr(arg, ':');
    if (!colon || colon == arg) return -1;
    input_spec *s = spec_for(o, arg, (size_t)(colon - arg));
    if (!s) return -1;
    const char *p = colon + 1;
    s->rank = 0;
    if (*p == '\0') return 0; /* a scalar */
    for (;;) {
        char *end;
        long long d = strtoll(p, &end, 10);
        if (end == p || d < 0 || s->rank == FWD_MAX_DIMS) return -1;
        s->dims[s->rank++] = d;
        if (*end == '\0') return 0;
        if (*end != 'x' && *end != 'X' && *end != ',') return -1;
        p = end + 1;
    }
}

/* "NAME:LO:HI" */
static int parse_fill(bench_opts *o, const char *arg)
{
    const char *hi_colon = strrchr(arg, ':');
    if (!hi_colon || hi_colon == arg) return -1;
    const char *lo_colon = hi_colon - 1;
    while (lo_colon > arg && *lo_colon != ':') lo_colon--;
    if (lo_colon == arg) return -1;
    input_spec *s = spec_for(o, arg, (size_t)(lo_colon - arg));
    if (!s) return -1;
    char *end;
    s->lo = strtod(lo_colon + 1, &end);
    if (end != hi_colon) return -1;
    s->hi = strtod(hi_colon + 1, &end);
    if (*end != '\0' || s->hi < s->lo) return -1;
    s->has_range = 1;
    return 0;
}

static int parse_args(int argc, char **argv, bench_opts *o)
{
    o->warmup = 5;
    o->iters = 30;
    o->mode = "float32";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-') {
            if (o->model) return -1;
            o->model = a;
            continue;
        }
        if (i + 1 >= argc) return -1;
        const char *v = argv[++i];
        if (strcmp(a, "--shape") == 0) {
            if (parse_shape(o, v)) {
                fprintf(stderr, "fwd_bench: bad --shape '%s' (want NAME:D0xD1...)\n", v);
                return -1;
            }
        } else if (strcmp(a, "--fill") == 0) {
            if (parse_fill(o, v)) {
                fprintf(stderr, "fwd_bench: bad --fill '%s' (want NAME:LO:HI)\n", v);
                return -1;
            }
        } else if (strcmp(a, "--warmup") == 0) {
            o->warmup = atoi(v);
        } else if (strcmp(a, "--iters") == 0) {
            o->iters = atoi(v);
        } else if (strcmp(a, "--mode") == 0) {
            o->mode = v;
        } else {
            return -1;
        }
    }
    if (!o->model || o->warmup < 0 || o->iters < 1) return -1;
    return 0;
}

/* xorshift64*: fixed, fast, and the same on every machine. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0); }

static int fill(fwd_tensor *t, const input_spec *s, uint64_t *rng)
{
    int64_t n = fwd_tensor_numel(t);
    int is_float = t->dtype == FWD_FLOAT32 || t->dtype == FWD_FLOAT64;
    double lo = s && s->has_range ? s->lo : is_float ? -1.0 : 0.0;
    double hi = s && s->has_range ? s->hi : 1.0;
    for (int64_t i = 0; i < n; i++) {
        double u = rng_unit(rng);
        double f = lo + u * (hi - lo);
        int64_t k = (int64_t)lo + (int64_t)(u * (double)((int64_t)hi - (int64_t)lo + 1));
        switch (t->dtype) {
        case FWD_FLOAT32: ((float *)t->data)[i] = (float)f; break;
        case FWD_FLOAT64: ((double *)t->data)[i] = f; break;
        case FWD_INT64: ((int64_t *)t->data)[i] = k; break;
        case FWD_INT32: ((int32_t *)t->data)[i] = (int32_t)k; break;
        case FWD_INT8: ((int8_t *)t->data)[i] = (int8_t)k; break;
        case FWD_UINT8: ((uint8_t *)t->data)[i] = (uint8_t)k; break;
        case FWD_BOOL: ((uint8_t *)t->data)[i] = k != 0; break;
        default:
            fprintf(stderr, "fwd_bench: input '%s': cannot fill dtype %s\n", t->name,
                    fwd_dtype_name(t->dtype));
            return -1;
        }
    }
    return 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The value at fraction q of the sorted samples (nearest rank). */
static double quantile(const double *sorted, int n, double q)
{
    int i = (int)(q * (double)n + 0.999999) - 1;
    if (i < 0) i = 0;
    if (i >= n) i = n - 1;
    return sorted[i];
}

static int check(fwd_status st, const char *what)
{
    if (st == FWD_OK) return 0;
    fprintf(stderr, "fwd_bench: %s: %s (%s)\n", what, fwd_last_error(), fwd_status_name(st));
    return -1;
}

/* Set up inputs per the model and the options; returns their count or -1. */
static int make_inputs(const fwd_engine *e, bench_opts *o, fwd_tensor *ins)
{
    int n = 0;
    if (check(fwd_engine_num_inputs(e, &n), "reading inputs")) return -1;
    if (n > MAX_INPUTS) {
        fprintf(stderr, "fwd_bench: %d inputs, at most %d supported\n", n, MAX_INPUTS);
        return -1;
    }
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    for (int k = 0; k < n; k++) {
        fwd_tensor_info info;
        if (check(fwd_engine_input(e, k, &info), "reading inputs")) return -1;
        input_spec *s = NULL;
        for (int i = 0; i < o->n_specs; i++)
            if (strcmp(o->specs[i].name, info.name) == 0) s = &o->specs[i];
        fwd_tensor *t = &ins[k];
        memset(t, 0, sizeof *t);
        t->name = info.name;
        t->dtype = info.dtype;
        if (s && s->rank >= 0) {
            t->rank = s->rank;
            memcpy(t->dims, s->dims, sizeof t->dims);
        } else {
            if (info.rank < 0) goto need_shape;
            t->rank = info.rank;
            for (int d = 0; d < info.rank; d++) {
                if (info.dims[d] < 0) goto need_shape;
                t->dims[d] = info.dims[d];
            }
        }
        size_t esz = fwd_dtype_size(t->dtype);
        if (esz == 0) {
            fprintf(stderr, "fwd_bench: input '%s' has dtype %s\n", t->name, fwd_dtype_name(t->dtype));
            return -1;
        }
        t->size = (size_t)fwd_tensor_numel(t) * esz;
        t->data = malloc(t->size ? t->size : 1);
        if (!t->data) {
            fprintf(stderr, "fwd_bench: out of memory for input '%s'\n", t->name);
            return -1;
        }
        if (fill(t, s, &rng)) return -1;
        continue;
    need_shape:
        fprintf(stderr, "fwd_bench: input '%s' has no fixed shape; give --shape %s:D0xD1...\n",
                info.name, info.name);
        return -1;
    }
    for (int i = 0; i < o->n_specs; i++) {
        int found = 0;
        for (int k = 0; k < n; k++) found |= strcmp(o->specs[i].name, ins[k].name) == 0;
        if (!found) {
            fprintf(stderr, "fwd_bench: the model has no input '%s'\n", o->specs[i].name);
            return -1;
        }
    }
    return n;
}

static void free_specs(bench_opts *o)
{
    for (int i = 0; i < o->n_specs; i++) free((char *)o->specs[i].name);
    o->n_specs = 0;
}

int main(int argc, char **argv)
{
    bench_opts o;
    memset(&o, 0, sizeof o);
    if (parse_args(argc, argv, &o)) {
        usage();
        free_specs(&o);
        return 2;
    }
    fwd_model *m = NULL;
    fwd_builder *b = NULL;
    fwd_engine *e = NULL;
    fwd_context *c = NULL;
    fwd_tensor ins[MAX_INPUTS];
    fwd_tensor *outs = NULL;
    double *times = NULL;
    int n_in = 0, n_out = 0, rc = 1;
    memset(ins, 0, sizeof ins);

    double t_load = now_ms();
    if (check(fwd_model_load(o.model, &m), "loading the model")) goto done;
    if (check(fwd_builder_create(&b), "creating a builder")) goto done;
    if (check(fwd_builder_set_mode(b, o.mode), "setting the mode")) goto done;
    if (check(fwd_builder_build(b, m, &e), "building the engine")) goto done;
    if (check(fwd_context_create(e, &c), "creating a context")) goto done;
    t_load = now_ms() - t_load;

    if ((n_in = make_inputs(e, &o, ins)) < 0) goto done;
    if (check(fwd_engine_num_outputs(e, &n_out), "reading outputs")) goto done;
    outs = calloc((size_t)(n_out > 0 ? n_out : 1), sizeof *outs);
    times = malloc((size_t)o.iters * sizeof *times);
    if (!outs || !times) {
        fprintf(stderr, "fwd_bench: out of memory\n");
        goto done;
    }
    for (int k = 0; k < n_out; k++) {
        fwd_tensor_info info;
        if (check(fwd_engine_output(e, k, &info), "reading outputs")) goto done;
        outs[k].name = info.name;
    }
    for (int i = 0; i < o.warmup + o.iters; i++) {
        for (int k = 0; k < n_out; k++) outs[k].data = NULL; /* library-owned each run */
        double t0 = now_ms();
        if (check(fwd_context_run(c, ins, n_in, outs, n_out), "running")) goto done;
        double dt = now_ms() - t0;
        if (i >= o.warmup) times[i - o.warmup] = dt;
    }
    qsort(times, (size_t)o.iters, sizeof *times, cmp_double);
    printf("model: %s\n", o.model);
    printf("load+build: %.1f ms\n", t_load);
    printf("runs: %d (after %d warmup)\n", o.iters, o.warmup);
    printf("min: %.3f ms\n", times[0]);
    printf("median: %.3f ms\n", quantile(times, o.iters, 0.5));
    printf("p90: %.3f ms\n", quantile(times, o.iters, 0.9));
    rc = 0;
done:
    for (int k = 0; k < MAX_INPUTS; k++) free(ins[k].data); /* zeroed when unused */
    free_specs(&o);
    free(outs);
    free(times);
    fwd_context_free(c);
    fwd_engine_free(e);
    fwd_builder_free(b);
    fwd_model_free(m);
    return rc;
}

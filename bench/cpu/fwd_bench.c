/*
 * fwd_bench: time one model or engine file with the public API.
 *
 *   fwd_bench MODEL|ENGINE [--shape NAME:D0xD1x...]... [--fill NAME:LO:HI]...
 *             [--warmup N] [--iters N] [--mode float32] [--opt-level N]
 *             [--batch OPT,MAX] [--profile NAME:MIN,OPT,MAX]...
 *             [--save-engine PATH] [--load-iters N]
 *   fwd_bench --fma-peak
 *
 * The path is tried as an engine file first (fwd_engine_load) and built
 * from the model otherwise. Every graph input gets fixed pseudo-random
 * data: floats uniform in [-1, 1), integers uniform in [0, 1] (safe as
 * indices, masks and type ids), unless --fill gives an inclusive range for
 * that input. Shapes come from --shape, else from the model when all its
 * dims are fixed, else from the engine's profile (opt shape).
 *
 * Build options: --opt-level (0: no passes and no memory plan, 1: all;
 * default 1), --batch and --profile (MIN, OPT, MAX are shapes D0xD1...).
 * An input with a --shape but no profile gets the profile
 * min = opt = max = that shape, so the engine is built for what it runs.
 *
 * --save-engine builds, saves the engine to PATH, times --load-iters
 * (default 20) fwd_engine_load calls of it (file cache warm) and prints
 * their median; the timed runs then use the last loaded engine.
 *
 * Prints the engine summary, then the median and p90 latency of the timed
 * runs in milliseconds. The thread count is the library's: set
 * FWD_NUM_THREADS.
 *
 * --fma-peak measures the machine's float32 FMA peak on that many threads
 * instead (fma_peak.c) and prints it in GFLOP/s.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* clock_gettime in strict C11 */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include "fma_peak.h"
#include "fwd.h"

#define MAX_INPUTS 64

typedef struct shape {
    int rank; /* -1: not given */
    int64_t dims[FWD_MAX_DIMS];
} shape;

typedef struct input_spec {
    const char *name;
    shape run;           /* --shape */
    shape min, opt, max; /* --profile; min.rank -1 when not given */
    int has_range;
    double lo, hi;
} input_spec;

typedef struct bench_opts {
    const char *path;
    const char *mode;
    const char *save_engine;
    int warmup, iters, load_iters;
    int opt_level;
    int64_t batch_opt, batch_max; /* 0: not given */
    input_spec specs[MAX_INPUTS];
    int n_specs;
} bench_opts;

static void usage(void)
{
    fprintf(stderr,
            "usage: fwd_bench MODEL|ENGINE [--shape NAME:D0xD1x...]... [--fill NAME:LO:HI]...\n"
            "                 [--warmup N] [--iters N] [--mode float32] [--opt-level N]\n"
            "                 [--batch OPT,MAX] [--profile NAME:MIN,OPT,MAX]...\n"
            "                 [--save-engine PATH] [--load-iters N]\n"
            "       fwd_bench --fma-peak\n"
            "threads: FWD_NUM_THREADS (default: all cores)\n");
}

/* ---- options ---- */

static input_spec *spec_for(bench_opts *o, const char *name, size_t len)
{
    for (int i = 0; i < o->n_specs; i++)
        if (strlen(o->specs[i].name) == len && strncmp(o->specs[i].name, name, len) == 0)
            return &o->specs[i];
    if (o->n_specs == MAX_INPUTS) return NULL;
    char *copy = malloc(len + 1);
    if (!copy) return NULL;
    memcpy(copy, name, len);
    copy[len] = '\0';
    input_spec *s = &o->specs[o->n_specs++];
    memset(s, 0, sizeof *s);
    s->name = copy;
    s->run.rank = -1;
    s->min.rank = s->opt.rank = s->max.rank = -1;
    return s;
}

/* "D0xD1x..." up to the end or to `stop` (empty: a scalar); returns the
 * end of what was read or NULL. */
static const char *parse_dims(const char *p, char stop, shape *out)
{
    out->rank = 0;
    if (*p == '\0' || *p == stop) return p;
    for (;;) {
        char *end;
        long long d = strtoll(p, &end, 10);
        if (end == p || d < 0 || out->rank == FWD_MAX_DIMS) return NULL;
        out->dims[out->rank++] = d;
        if (*end == '\0' || *end == stop) return end;
        if (*end != 'x' && *end != 'X') return NULL;
        p = end + 1;
    }
}

/* "NAME:1x3x224x224" (the name may itself hold ':'; the last one splits). */
static int parse_shape(bench_opts *o, const char *arg)
{
    const char *colon = strrchr(arg, ':');
    if (!colon || colon == arg) return -1;
    input_spec *s = spec_for(o, arg, (size_t)(colon - arg));
    if (!s) return -1;
    const char *end = parse_dims(colon + 1, ',', &s->run);
    return end && *end == '\0' ? 0 : -1;
}

/* "NAME:1x16,1x128,1x256": min, opt and max of the same rank. */
static int parse_profile(bench_opts *o, const char *arg)
{
    const char *colon = strrchr(arg, ':');
    if (!colon || colon == arg) return -1;
    input_spec *s = spec_for(o, arg, (size_t)(colon - arg));
    if (!s) return -1;
    const char *p = parse_dims(colon + 1, ',', &s->min);
    if (!p || *p != ',') return -1;
    p = parse_dims(p + 1, ',', &s->opt);
    if (!p || *p != ',') return -1;
    p = parse_dims(p + 1, ',', &s->max);
    if (!p || *p != '\0') return -1;
    if (s->opt.rank != s->min.rank || s->max.rank != s->min.rank) return -1;
    return 0;
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

/* A whole decimal integer in [lo, hi]. */
static int parse_int(const char *v, long lo, long hi, int *out)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (end == v || *end != '\0' || x < lo || x > hi) return -1;
    *out = (int)x;
    return 0;
}

static int parse_batch(const char *v, bench_opts *o)
{
    char *end;
    long long opt = strtoll(v, &end, 10);
    if (end == v || *end != ',') return -1;
    const char *p = end + 1;
    long long max = strtoll(p, &end, 10);
    if (end == p || *end != '\0' || opt < 1 || max < opt) return -1;
    o->batch_opt = opt;
    o->batch_max = max;
    return 0;
}

static int parse_args(int argc, char **argv, bench_opts *o)
{
    o->warmup = 5;
    o->iters = 30;
    o->load_iters = 20;
    o->opt_level = 1;
    o->mode = "float32";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-') {
            if (o->path) return -1;
            o->path = a;
            continue;
        }
        if (i + 1 >= argc) return -1;
        const char *v = argv[++i];
        int bad = 0;
        if (strcmp(a, "--shape") == 0) bad = parse_shape(o, v);
        else if (strcmp(a, "--profile") == 0) bad = parse_profile(o, v);
        else if (strcmp(a, "--fill") == 0) bad = parse_fill(o, v);
        else if (strcmp(a, "--batch") == 0) bad = parse_batch(v, o);
        else if (strcmp(a, "--warmup") == 0) bad = parse_int(v, 0, 1000000, &o->warmup);
        else if (strcmp(a, "--iters") == 0) bad = parse_int(v, 1, 1000000, &o->iters);
        else if (strcmp(a, "--load-iters") == 0) bad = parse_int(v, 1, 100000, &o->load_iters);
        else if (strcmp(a, "--opt-level") == 0) bad = parse_int(v, 0, 99, &o->opt_level);
        else if (strcmp(a, "--mode") == 0) o->mode = v;
        else if (strcmp(a, "--save-engine") == 0) o->save_engine = v;
        else {
            fprintf(stderr, "fwd_bench: unknown option '%s'\n", a);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "fwd_bench: bad value '%s' for %s\n", v, a);
            return -1;
        }
    }
    return o->path ? 0 : -1;
}

static void free_specs(bench_opts *o)
{
    for (int i = 0; i < o->n_specs; i++) free((char *)o->specs[i].name);
    o->n_specs = 0;
}

/* ---- input data ---- */

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

static int check(fwd_status st, const char *what)
{
    if (st == FWD_OK) return 0;
    fprintf(stderr, "fwd_bench: %s: %s (%s)\n", what, fwd_last_error(), fwd_status_name(st));
    return -1;
}

static input_spec *find_spec(bench_opts *o, const char *name)
{
    for (int i = 0; i < o->n_specs; i++)
        if (strcmp(o->specs[i].name, name) == 0) return &o->specs[i];
    return NULL;
}

/* The shape input k runs at: --shape, else the model's fixed dims, else
 * the engine profile's opt shape. Returns 0 when all dims are known. */
static int run_shape(const fwd_engine *e, int k, const fwd_tensor_info *info, const input_spec *s,
                     fwd_tensor *t)
{
    if (s && s->run.rank >= 0) {
        t->rank = s->run.rank;
        memcpy(t->dims, s->run.dims, sizeof t->dims);
        return 0;
    }
    if (info->rank < 0) return -1;
    t->rank = info->rank;
    int fixed = 1;
    for (int d = 0; d < info->rank; d++) {
        t->dims[d] = info->dims[d];
        fixed &= info->dims[d] >= 0;
    }
    if (fixed) return 0;
    int64_t min[FWD_MAX_DIMS], opt[FWD_MAX_DIMS], max[FWD_MAX_DIMS];
    for (int d = 0; d < FWD_MAX_DIMS; d++) opt[d] = -1;
    if (fwd_engine_input_profile(e, k, min, opt, max) != FWD_OK) return -1;
    for (int d = 0; d < info->rank; d++) {
        if (opt[d] < 0) return -1;
        t->dims[d] = opt[d];
    }
    return 0;
}

/* Set up inputs per the engine and the options; returns their count or -1. */
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
        input_spec *s = find_spec(o, info.name);
        fwd_tensor *t = &ins[k];
        memset(t, 0, sizeof *t);
        t->name = info.name;
        t->dtype = info.dtype;
        if (run_shape(e, k, &info, s, t)) {
            fprintf(stderr, "fwd_bench: input '%s' has no fixed shape; give --shape %s:D0xD1...\n",
                    info.name, info.name);
            return -1;
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
    }
    return n;
}

/* Every --shape/--profile/--fill names an input of the engine. */
static int check_spec_names(const fwd_engine *e, const bench_opts *o)
{
    int n = 0;
    if (check(fwd_engine_num_inputs(e, &n), "reading inputs")) return -1;
    for (int i = 0; i < o->n_specs; i++) {
        int found = 0;
        for (int k = 0; k < n && !found; k++) {
            fwd_tensor_info info;
            if (check(fwd_engine_input(e, k, &info), "reading inputs")) return -1;
            found = strcmp(o->specs[i].name, info.name) == 0;
        }
        if (!found) {
            fprintf(stderr, "fwd_bench: the model has no input '%s'\n", o->specs[i].name);
            return -1;
        }
    }
    return 0;
}

/* ---- timing ---- */

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

/* ---- getting an engine ---- */

/* Whether the file starts with the engine-file magic: tells "not an
 * engine, build it from the model" apart from "a broken engine file". */
static int looks_like_engine(const char *path)
{
    char magic[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    return got == sizeof magic && memcmp(magic, "FWDENGN", 8) == 0;
}

static int configure_builder(fwd_builder *b, const bench_opts *o)
{
    if (check(fwd_builder_set_mode(b, o->mode), "setting the mode")) return -1;
    if (check(fwd_builder_set_optimization(b, o->opt_level), "setting the optimization level")) return -1;
    if (o->batch_max > 0 && check(fwd_builder_set_batch(b, o->batch_opt, o->batch_max), "setting the batch"))
        return -1;
    for (int i = 0; i < o->n_specs; i++) {
        const input_spec *s = &o->specs[i];
        fwd_status st = FWD_OK;
        if (s->min.rank >= 0)
            st = fwd_builder_set_shape(b, s->name, s->min.rank, s->min.dims, s->opt.dims, s->max.dims);
        else if (s->run.rank >= 0 && o->batch_max == 0) /* built for the shape it runs */
            st = fwd_builder_set_shape(b, s->name, s->run.rank, s->run.dims, s->run.dims, s->run.dims);
        if (check(st, "setting a profile")) return -1;
    }
    return 0;
}

/* Build from the model file; *build_ms gets the load+build time. */
static int build_engine(const bench_opts *o, fwd_engine **e, double *load_ms, double *build_ms)
{
    fwd_model *m = NULL;
    fwd_builder *b = NULL;
    int rc = -1;
    double t0 = now_ms();
    if (check(fwd_model_load(o->path, &m), "loading the model")) goto done;
    double t1 = now_ms();
    if (check(fwd_builder_create(&b), "creating a builder")) goto done;
    if (configure_builder(b, o)) goto done;
    if (check(fwd_builder_build(b, m, e), "building the engine")) goto done;
    *load_ms = t1 - t0;
    *build_ms = now_ms() - t1;
    rc = 0;
done:
    fwd_builder_free(b);
    fwd_model_free(m);
    return rc;
}

/* Save *e to path, time o->load_iters loads of it, and replace *e by the
 * last loaded engine. Prints the median load time. */
static int save_and_time_loads(const bench_opts *o, fwd_engine **e)
{
    double t0 = now_ms();
    if (check(fwd_engine_save(*e, o->save_engine), "saving the engine")) return -1;
    double save_ms = now_ms() - t0;
    double *times = malloc((size_t)o->load_iters * sizeof *times);
    if (!times) {
        fprintf(stderr, "fwd_bench: out of memory\n");
        return -1;
    }
    fwd_engine *loaded = NULL;
    int rc = -1;
    /* one untimed load first: the file cache is warm for every timed one */
    if (check(fwd_engine_load(o->save_engine, &loaded), "loading the saved engine")) goto done;
    for (int i = 0; i < o->load_iters; i++) {
        fwd_engine_free(loaded);
        loaded = NULL;
        double t = now_ms();
        if (check(fwd_engine_load(o->save_engine, &loaded), "loading the saved engine")) goto done;
        times[i] = now_ms() - t;
    }
    qsort(times, (size_t)o->load_iters, sizeof *times, cmp_double);
    printf("engine saved: %s (%.1f ms)\n", o->save_engine, save_ms);
    printf("engine load: median %.3f ms, min %.3f ms over %d loads\n",
           quantile(times, o->load_iters, 0.5), times[0], o->load_iters);
    fwd_engine_free(*e);
    *e = loaded;
    loaded = NULL;
    rc = 0;
done:
    fwd_engine_free(loaded);
    free(times);
    return rc;
}

/* Try the path as an engine file, else build it from the model. */
static int get_engine(const bench_opts *o, fwd_engine **e)
{
    double t0 = now_ms();
    fwd_status st = fwd_engine_load(o->path, e);
    if (st == FWD_OK) {
        printf("engine file: %s\n", o->path);
        printf("load+build: %.1f ms (engine load)\n", now_ms() - t0);
        if (o->save_engine) fprintf(stderr, "fwd_bench: --save-engine ignored for an engine file\n");
        return 0;
    }
    *e = NULL;
    if (looks_like_engine(o->path)) return check(st, "loading the engine file");
    double load_ms = 0, build_ms = 0;
    if (build_engine(o, e, &load_ms, &build_ms)) return -1;
    printf("model: %s\n", o->path);
    printf("opt level: %d\n", o->opt_level);
    printf("load+build: %.1f ms (model load %.1f ms, build %.1f ms)\n", load_ms + build_ms, load_ms,
           build_ms);
    if (o->save_engine) return save_and_time_loads(o, e);
    return 0;
}

static int print_summary(const fwd_engine *e)
{
    fwd_engine_summary s;
    if (check(fwd_engine_summarize(e, &s), "summarizing the engine")) return -1;
    double ratio = s.unplanned_bytes ? (double)s.activation_bytes / (double)s.unplanned_bytes : 0.0;
    /* one line, key=value, for bench_cpu.py */
    printf("engine: mode=%s layers=%d fused=%d weight_bytes=%zu activation_bytes=%zu "
           "unplanned_bytes=%zu activation_ratio=%.4f\n",
           s.mode, s.num_layers, s.num_fused, s.weight_bytes, s.activation_bytes, s.unplanned_bytes, ratio);
    return 0;
}

/* ---- main ---- */

/* The library's thread count: FWD_NUM_THREADS, else the online cores. */
static int bench_threads(void)
{
    const char *env = getenv("FWD_NUM_THREADS");
    int n = env ? atoi(env) : 0;
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    return n > FMA_PEAK_MAX_THREADS ? FMA_PEAK_MAX_THREADS : n;
}

static int print_fma_peak(void)
{
    fma_peak pk;
    if (fma_peak_measure(bench_threads(), &pk)) {
        fprintf(stderr, "fwd_bench: the FMA peak cannot be measured here (needs x86 with AVX2 and FMA)\n");
        return 1;
    }
    printf("fma peak: %.1f GFLOP/s (threads: %d, %s)\n", pk.gflops, pk.threads, pk.isa);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--fma-peak") == 0) return print_fma_peak();
    bench_opts o;
    memset(&o, 0, sizeof o);
    if (parse_args(argc, argv, &o)) {
        usage();
        free_specs(&o);
        return 2;
    }
    fwd_engine *e = NULL;
    fwd_context *c = NULL;
    fwd_tensor ins[MAX_INPUTS];
    fwd_tensor *outs = NULL;
    double *times = NULL;
    int n_in = 0, n_out = 0, rc = 1;
    memset(ins, 0, sizeof ins);

    if (get_engine(&o, &e) || check_spec_names(e, &o) || print_summary(e)) goto done;
    if (check(fwd_context_create(e, &c), "creating a context")) goto done;
    if ((n_in = make_inputs(e, &o, ins)) < 0) goto done;
    printf("inputs:");
    for (int k = 0; k < n_in; k++) {
        printf(" %s %s ", ins[k].name, fwd_dtype_name(ins[k].dtype));
        for (int d = 0; d < ins[k].rank; d++) printf("%s%lld", d ? "x" : "", (long long)ins[k].dims[d]);
        if (ins[k].rank == 0) printf("scalar");
    }
    printf("\n");
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
    return rc;
}

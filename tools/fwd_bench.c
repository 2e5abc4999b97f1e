/*
 * fwd bench MODEL|ENGINE [--shape NAME:AxB]... [--fill NAME:LO:HI]...
 *                        [--iters N] [--warmup N] [--threads N] [--profile]
 *                        [build options]
 *
 * Every input gets fixed pseudo-random data (floats in [-1, 1), integers
 * in [0, 1] unless --fill says otherwise) of its --shape, else of the
 * profile's opt shape. N threads, each with its own context over the one
 * engine, run concurrently: each does the warmup runs, then all start
 * the timed runs together. Reports latency percentiles over all timed
 * runs and the throughput of the whole; --profile adds per-layer times.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fwd_cli.h"

typedef struct bench_opts {
    const char *path;
    cli_build_opts build;
    cli_fill fills[CLI_MAX_IO];
    int n_fills;
    long iters, warmup, threads;
    bool profile;
} bench_opts;

/* The timed runs of all workers start together: each reports ready after
 * its warmup and waits for the main thread's go. */
typedef struct start_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long ready;
    bool go;
} start_gate;

typedef struct worker {
    pthread_t thread;
    fwd_context *ctx;
    const fwd_tensor *ins;
    int n_ins;
    fwd_tensor *outs; /* names set; library-owned data */
    int n_outs;
    long warmup, iters;
    struct start_gate *gate;
    double *latency_ms; /* iters entries */
    double *layer_us;   /* per layer, summed over the timed runs (profiling) */
    int n_layers;
    long done;          /* timed runs finished */
    fwd_status status;
    char error[1024];
} worker;

static void usage_bench(void)
{
    fprintf(stderr, "usage: fwd bench MODEL|ENGINE [--shape NAME:AxB]... [--fill NAME:LO:HI]... [--iters N]\n"
                    "                 [--warmup N] [--threads N] [--profile] [build options]\n");
}

static int parse_bench(int argc, char **argv, bench_opts *o)
{
    o->iters = 100;
    o->warmup = 10;
    o->threads = 1;
    for (int i = 0; i < argc; i++) {
        cli_arg arg;
        int r = cli_next_arg("bench", "model", argc, argv, &i, &o->path, &o->build, &arg);
        if (r == CLI_ARG_ERROR) return -1;
        if (r == CLI_ARG_DONE) continue;
        const char *a = argv[i], *v = arg.val;
        if (strcmp(arg.key, "--profile") == 0) {
            o->profile = true;
            continue;
        }
        bool ok = true;
        if (strcmp(arg.key, "--iters") == 0) {
            ok = cli_parse_count("bench", "--iters", v, 1, &o->iters);
        } else if (strcmp(arg.key, "--warmup") == 0) {
            ok = cli_parse_count("bench", "--warmup", v, 0, &o->warmup);
        } else if (strcmp(arg.key, "--threads") == 0) {
            ok = cli_parse_count("bench", "--threads", v, 1, &o->threads);
            if (ok && o->threads > 1024) {
                fprintf(stderr, "fwd bench: --threads %ld is too many (at most 1024)\n", o->threads);
                ok = false;
            }
        } else if (strcmp(arg.key, "--fill") == 0) {
            if (!v) {
                fprintf(stderr, "fwd bench: --fill needs a value\n");
                return -1;
            }
            if (o->n_fills == CLI_MAX_IO) {
                fprintf(stderr, "fwd bench: too many --fill options\n");
                return -1;
            }
            ok = cli_parse_fill("bench", v, &o->fills[o->n_fills]);
            if (ok) o->n_fills++;
        } else {
            fprintf(stderr, "fwd bench: unknown option '%s'\n", a);
            return -1;
        }
        if (!ok) return -1;
        cli_arg_used(&arg, &i);
    }
    if (!o->path) {
        fprintf(stderr, "fwd bench: no model or engine given\n");
        usage_bench();
        return -1;
    }
    return 0;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (long i = 0; i < w->warmup && w->status == FWD_OK; i++)
        w->status = fwd_context_run(w->ctx, w->ins, w->n_ins, w->outs, w->n_outs);
    if (w->status) snprintf(w->error, sizeof w->error, "%s", fwd_last_error());
    pthread_mutex_lock(&w->gate->mu); /* every worker reports, even a failed one */
    w->gate->ready++;
    pthread_cond_broadcast(&w->gate->cv);
    while (!w->gate->go) pthread_cond_wait(&w->gate->cv, &w->gate->mu);
    pthread_mutex_unlock(&w->gate->mu);
    for (long i = 0; i < w->iters && w->status == FWD_OK; i++) {
        double t0 = cli_now();
        w->status = fwd_context_run(w->ctx, w->ins, w->n_ins, w->outs, w->n_outs);
        w->latency_ms[i] = (cli_now() - t0) * 1e3;
        if (w->status) {
            snprintf(w->error, sizeof w->error, "%s", fwd_last_error());
            break;
        }
        w->done++;
        for (int l = 0; w->layer_us && l < w->n_layers; l++) {
            double us = 0;
            if (fwd_context_layer_time(w->ctx, l, &us) == FWD_OK) w->layer_us[l] += us;
        }
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const double *sorted, long n, double p)
{
    long k = (long)(p / 100.0 * (double)(n - 1) + 0.5);
    if (k < 0) k = 0;
    if (k >= n) k = n - 1;
    return sorted[k];
}

static const double *g_layer_us; /* for qsort of layer indices */

static int cmp_layer(const void *a, const void *b)
{
    double x = g_layer_us[*(const int *)a], y = g_layer_us[*(const int *)b];
    return (x < y) - (x > y);
}

static void print_profile(const fwd_engine *e, const double *sum_us, int n_layers, long runs, bool all)
{
    int *order = malloc(sizeof(int) * (size_t)(n_layers ? n_layers : 1));
    if (!order) return;
    double total = 0;
    for (int l = 0; l < n_layers; l++) {
        order[l] = l;
        total += sum_us[l];
    }
    g_layer_us = sum_us;
    qsort(order, (size_t)n_layers, sizeof *order, cmp_layer);
    printf("\nper-layer time (mean of %ld runs, sorted by time):\n", runs);
    printf("  %-36s %-18s %-28s %10s %7s\n", "layer", "op", "fused", "time us", "%");
    int limit = all || n_layers <= 40 ? n_layers : 30;
    double rest = 0;
    for (int k = 0; k < n_layers; k++) {
        int l = order[k];
        double mean = sum_us[l] / (double)runs;
        if (k >= limit) {
            rest += mean;
            continue;
        }
        fwd_layer_info li;
        if (fwd_engine_layer(e, l, &li)) memset(&li, 0, sizeof li);
        printf("  %-36.36s %-18.18s %-28.28s %10.1f %6.1f%%\n", li.name ? li.name : "?",
               li.op_type ? li.op_type : "?", li.fused ? li.fused : "", mean,
               total > 0 ? 100.0 * sum_us[l] / total : 0.0);
    }
    if (limit < n_layers)
        printf("  %-36s %-18s %-28s %10.1f %6.1f%%\n", "(other layers)", "", "", rest,
               total > 0 ? 100.0 * rest * (double)runs / total : 0.0);
    printf("  %-36s %-18s %-28s %10.1f %6.1f%%\n", "total", "", "", total / (double)runs, 100.0);
    free(order);
}

int cmd_bench(int argc, char **argv)
{
    bench_opts o;
    memset(&o, 0, sizeof o);
    cli_build_opts_init(&o.build);
    fwd_engine *e = NULL;
    fwd_model *m = NULL;
    fwd_tensor ins[CLI_MAX_IO];
    memset(ins, 0, sizeof ins);
    worker *ws = NULL;
    int n_ins = 0, n_outs = 0, n_layers = 0, rc = CLI_OK;
    long n_workers = 0;
    double *all_lat = NULL, *layer_sum = NULL;
    fwd_status st;

    if (parse_bench(argc, argv, &o)) { rc = CLI_USAGE; goto done; }
    if ((rc = cli_open("bench", o.path, &e, &m))) goto done;
    if (m) {
        /* Build with the --shape shapes as profiles (one shape: exactly it). */
        if ((rc = cli_build("bench", m, &o.build, NULL, 0, o.build.verbose, &e))) goto done;
    } else if (o.build.mode || o.build.batch_opt || o.build.workspace_mb >= 0 || o.build.opt_level >= 0) {
        fprintf(stderr, "fwd bench: note: '%s' is an engine; build options other than --shape are ignored\n",
                o.path);
    }

    /* Inputs: the --shape shape (its OPT for a range), else the profile's opt. */
    fwd_engine_num_inputs(e, &n_ins);
    if (n_ins > CLI_MAX_IO) n_ins = CLI_MAX_IO;
    for (int i = 0; i < o.build.n_shapes; i++)
        if (cli_engine_input_index("bench", e, o.build.shapes[i].name, "--shape") < 0) { rc = CLI_USAGE; goto done; }
    for (int i = 0; i < o.n_fills; i++)
        if (cli_engine_input_index("bench", e, o.fills[i].name, "--fill") < 0) { rc = CLI_USAGE; goto done; }
    printf("model:   %s\n", o.path);
    for (int k = 0; k < n_ins; k++) {
        fwd_tensor_info info;
        fwd_engine_input(e, k, &info);
        fwd_tensor *t = &ins[k];
        t->name = info.name;
        t->dtype = info.dtype;
        const cli_shape *given = NULL;
        for (int i = 0; i < o.build.n_shapes; i++)
            if (strcmp(o.build.shapes[i].name, info.name) == 0) given = &o.build.shapes[i];
        int64_t mn[FWD_MAX_DIMS], op[FWD_MAX_DIMS], mx[FWD_MAX_DIMS];
        if (given) {
            t->rank = given->rank;
            memcpy(t->dims, given->opt, sizeof t->dims);
        } else if (info.rank >= 0 && fwd_engine_input_profile(e, k, mn, op, mx) == FWD_OK) {
            t->rank = info.rank;
            memcpy(t->dims, op, sizeof t->dims);
            bool unbounded = false;
            for (int d = 0; d < info.rank; d++) unbounded |= mx[d] < 0;
            if (unbounded)
                fprintf(stderr, "fwd bench: note: input '%s' has no profile; timing its default shape (give "
                                "--shape %s:AxB)\n", info.name, info.name);
        } else if (info.rank >= 0) {
            t->rank = info.rank;
            for (int d = 0; d < info.rank; d++) t->dims[d] = info.dims[d] >= 0 ? info.dims[d] : 1;
        } else {
            fprintf(stderr, "fwd bench: input '%s' has no known rank; give it with --shape %s:AxB\n", info.name,
                    info.name);
            rc = CLI_USAGE;
            goto done;
        }
        const cli_fill *range = NULL;
        for (int i = 0; i < o.n_fills; i++)
            if (strcmp(o.fills[i].name, info.name) == 0) range = &o.fills[i];
        if (!cli_fill_random(t, range, (uint64_t)k + 1)) {
            fprintf(stderr, "fwd bench: cannot make data for input '%s' (%s)\n", info.name,
                    fwd_dtype_name(info.dtype));
            rc = CLI_FAILURE;
            goto done;
        }
        char shp[256];
        cli_shape_str(t->dims, NULL, t->rank, shp, sizeof shp);
        if (range)
            printf("input:   %-24s %-8s %s values in [%g, %g]\n", info.name, fwd_dtype_name(info.dtype), shp,
                   range->lo, range->hi);
        else
            printf("input:   %-24s %-8s %s\n", info.name, fwd_dtype_name(info.dtype), shp);
    }
    fwd_engine_num_outputs(e, &n_outs);
    if (o.profile) fwd_engine_num_layers(e, &n_layers);

    ws = calloc((size_t)o.threads, sizeof *ws);
    all_lat = malloc(sizeof(double) * (size_t)(o.threads * o.iters));
    layer_sum = calloc((size_t)(n_layers ? n_layers : 1), sizeof(double));
    if (!ws || !all_lat || !layer_sum) {
        fprintf(stderr, "fwd bench: out of memory for %ld threads x %ld iterations\n", o.threads, o.iters);
        rc = CLI_FAILURE;
        goto done;
    }
    for (long t = 0; t < o.threads; t++) {
        worker *w = &ws[t];
        w->ins = ins;
        w->n_ins = n_ins;
        w->n_outs = n_outs;
        w->warmup = o.warmup;
        w->iters = o.iters;
        w->n_layers = n_layers;
        w->outs = calloc((size_t)(n_outs ? n_outs : 1), sizeof(fwd_tensor));
        w->latency_ms = all_lat + t * o.iters;
        w->layer_us = n_layers ? calloc((size_t)n_layers, sizeof(double)) : NULL;
        n_workers++;
        if (!w->outs || (n_layers && !w->layer_us)) {
            fprintf(stderr, "fwd bench: out of memory\n");
            rc = CLI_FAILURE;
            goto done;
        }
        cli_name_outputs(e, w->outs, n_outs);
        if ((st = fwd_context_create(e, &w->ctx))) {
            rc = cli_fail("bench", "creating a context", st, CLI_FAILURE);
            goto done;
        }
        if (o.profile && (st = fwd_context_set_profiling(w->ctx, 1))) {
            rc = cli_fail("bench", "turning profiling on", st, CLI_FAILURE);
            goto done;
        }
    }

    /* One run first, on this thread: input errors show once and clearly. */
    if ((st = fwd_context_run(ws[0].ctx, ins, n_ins, ws[0].outs, n_outs))) {
        rc = cli_fail("bench", "running", st, cli_run_failure_code(st));
        goto done;
    }
    for (int k = 0; k < n_outs; k++) {
        char shp[256];
        cli_shape_str(ws[0].outs[k].dims, NULL, ws[0].outs[k].rank, shp, sizeof shp);
        printf("output:  %-24s %-8s %s\n", ws[0].outs[k].name, fwd_dtype_name(ws[0].outs[k].dtype), shp);
    }

    start_gate gate = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    long started = 0;
    for (long t = 0; t < o.threads; t++) {
        ws[t].gate = &gate;
        if (pthread_create(&ws[t].thread, NULL, worker_main, &ws[t])) {
            fprintf(stderr, "fwd bench: could only start %ld of %ld threads\n", started, o.threads);
            rc = CLI_FAILURE;
            break;
        }
        started++;
    }
    pthread_mutex_lock(&gate.mu);
    while (gate.ready < started) pthread_cond_wait(&gate.cv, &gate.mu);
    double t0 = cli_now();
    gate.go = true;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
    for (long t = 0; t < started; t++) pthread_join(ws[t].thread, NULL);
    double wall = cli_now() - t0;
    if (rc) goto done;

    long total = 0;
    for (long t = 0; t < o.threads; t++) {
        if (ws[t].status) {
            fprintf(stderr, "fwd bench: thread %ld: running: %s (%s)\n", t, ws[t].error,
                    fwd_status_name(ws[t].status));
            rc = CLI_FAILURE;
        }
        /* Gather the finished runs' latencies in front. */
        memmove(all_lat + total, ws[t].latency_ms, sizeof(double) * (size_t)ws[t].done);
        total += ws[t].done;
        for (int l = 0; l < n_layers; l++) layer_sum[l] += ws[t].layer_us[l];
    }
    if (rc || total == 0) {
        rc = CLI_FAILURE;
        goto done;
    }
    qsort(all_lat, (size_t)total, sizeof(double), cmp_double);
    double sum = 0;
    for (long i = 0; i < total; i++) sum += all_lat[i];
    printf("threads: %ld (each its own context), warmup %ld, iterations %ld per thread\n", o.threads, o.warmup,
           o.iters);
    printf("latency (ms): min %.3f  mean %.3f  p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", all_lat[0],
           sum / (double)total, percentile(all_lat, total, 50), percentile(all_lat, total, 90),
           percentile(all_lat, total, 99), all_lat[total - 1]);
    printf("throughput: %.1f inferences/s (%ld runs in %.3f s)\n", (double)total / wall, total, wall);
    if (o.profile && n_layers > 0) print_profile(e, layer_sum, n_layers, total, o.build.verbose);
done:
    for (long t = 0; t < n_workers; t++) {
        fwd_context_free(ws[t].ctx);
        free(ws[t].outs);
        free(ws[t].layer_us);
    }
    free(ws);
    free(all_lat);
    free(layer_sum);
    for (int k = 0; k < CLI_MAX_IO; k++) free(ins[k].data);
    for (int i = 0; i < o.n_fills; i++) free(o.fills[i].name);
    cli_build_opts_free(&o.build);
    fwd_engine_free(e);
    fwd_model_free(m);
    return rc;
}

/*
 * Many threads over one engine: each of 8 threads holds 2 contexts and
 * runs them alternately, cycling through a fixed list of input shapes
 * inside the engine's dynamic profile (so consecutive runs of a context
 * change shape) and alternating library-owned and caller-given output
 * memory. Every output must equal, bit for bit, a single-threaded run of
 * the same input made before the threads start.
 *
 * Models: the digits example (batch 1..8) and, when the zoo cache holds
 * it (tests/zoo/run_zoo.py --only bert), BERT (batch 1..2, sequence
 * 8..32).
 *
 *   test_threads [--quick] [--runs N] [REPO_DIR]
 *
 * --quick makes few runs (for the sanitizer builds). Public API only.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fwd.h"
#include "test_util.h"

#define N_THREADS 8
#define CONTEXTS_PER_THREAD 2
#define MAX_CASES 8
#define MAX_IO 4

static int skipped;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One input set and the single-threaded outputs for it. */
typedef struct test_case {
    fwd_tensor in[MAX_IO];
    fwd_tensor ref[MAX_IO]; /* data owned here (copied) */
} test_case;

typedef struct model_test {
    const char *label;
    fwd_engine *engine;
    int n_in, n_out;
    const char *out_names[MAX_IO];
    test_case cases[MAX_CASES];
    int n_cases;
    size_t max_out_bytes[MAX_IO]; /* over the cases: for caller-given buffers */
    long runs;                    /* per context */
} model_test;

typedef struct thread_job {
    const model_test *mt;
    int tid;
    long runs_done, mismatches, errors;
    char problem[768]; /* the first one */
} thread_job;

static uint64_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static void set_tensor(fwd_tensor *t, const char *name, fwd_dtype dt, int rank, const int64_t *dims)
{
    memset(t, 0, sizeof *t);
    t->name = name;
    t->dtype = dt;
    t->rank = rank;
    memcpy(t->dims, dims, sizeof(int64_t) * (size_t)rank);
    t->size = (size_t)fwd_tensor_numel(t) * fwd_dtype_size(dt);
    t->data = xmalloc(t->size);
}

static void describe_shape(const fwd_tensor *t, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < t->rank && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", d ? "," : "", (long long)t->dims[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

/* Compare out with ref exactly; on a difference write why into why. */
static bool same_bits(const fwd_tensor *out, const fwd_tensor *ref, char *why, size_t cap)
{
    char a[128], b[128];
    describe_shape(out, a, sizeof a);
    describe_shape(ref, b, sizeof b);
    if (out->dtype != ref->dtype || out->rank != ref->rank || strcmp(a, b) != 0) {
        snprintf(why, cap, "output '%s' is %s %s, want %s %s", ref->name, fwd_dtype_name(out->dtype), a,
                 fwd_dtype_name(ref->dtype), b);
        return false;
    }
    if (memcmp(out->data, ref->data, ref->size) != 0) {
        size_t es = fwd_dtype_size(ref->dtype), i = 0;
        while (i < ref->size / es && memcmp((char *)out->data + i * es, (char *)ref->data + i * es, es) == 0) i++;
        if (ref->dtype == FWD_FLOAT32)
            snprintf(why, cap, "output '%s' %s differs at element %zu: %.9g vs %.9g single-threaded", ref->name, b,
                     i, (double)((float *)out->data)[i], (double)((float *)ref->data)[i]);
        else
            snprintf(why, cap, "output '%s' %s differs at element %zu", ref->name, b, i);
        return false;
    }
    return true;
}

static void *thread_main(void *arg)
{
    thread_job *job = arg;
    const model_test *mt = job->mt;
    fwd_context *ctx[CONTEXTS_PER_THREAD] = {0};
    void *bufs[MAX_IO] = {0};
    for (int c = 0; c < CONTEXTS_PER_THREAD; c++)
        if (fwd_context_create(mt->engine, &ctx[c]) != FWD_OK) {
            snprintf(job->problem, sizeof job->problem, "context create: %s", fwd_last_error());
            job->errors++;
            goto done;
        }
    for (int k = 0; k < mt->n_out; k++) bufs[k] = xmalloc(mt->max_out_bytes[k]);
    long total = mt->runs * CONTEXTS_PER_THREAD;
    for (long i = 0; i < total; i++) {
        fwd_context *c = ctx[i % CONTEXTS_PER_THREAD];
        /* Each thread starts elsewhere in the list; each context sees the
         * shapes change from one of its runs to the next. */
        const test_case *tc = &mt->cases[(job->tid + i) % mt->n_cases];
        bool own = i % 3 == 2; /* every third run into caller memory */
        fwd_tensor outs[MAX_IO];
        memset(outs, 0, sizeof outs);
        for (int k = 0; k < mt->n_out; k++) {
            outs[k].name = mt->out_names[k];
            if (own) {
                outs[k].data = bufs[k];
                outs[k].size = mt->max_out_bytes[k];
            }
        }
        fwd_status st = fwd_context_run(c, tc->in, mt->n_in, outs, mt->n_out);
        job->runs_done++;
        if (st != FWD_OK) {
            if (!job->errors++)
                snprintf(job->problem, sizeof job->problem, "run %ld: %s: %s", i, fwd_status_name(st),
                         fwd_last_error());
            continue;
        }
        for (int k = 0; k < mt->n_out; k++) {
            char why[512];
            if (!same_bits(&outs[k], &tc->ref[k], why, sizeof why)) {
                if (!job->mismatches++ && !job->errors)
                    snprintf(job->problem, sizeof job->problem, "run %ld (%s): %s", i,
                             own ? "caller memory" : "library memory", why);
            }
        }
    }
done:
    for (int c = 0; c < CONTEXTS_PER_THREAD; c++) fwd_context_free(ctx[c]);
    for (int k = 0; k < MAX_IO; k++) free(bufs[k]);
    return NULL;
}

/* Single-threaded references, then the threads. */
static void run_model_test(model_test *mt)
{
    fwd_context *c = NULL;
    fwd_status st = fwd_context_create(mt->engine, &c);
    tu_check(st == FWD_OK, "%s: reference context: %s", mt->label, st ? fwd_last_error() : "ok");
    if (st) return;
    bool refs_ok = true;
    for (int i = 0; i < mt->n_cases; i++) {
        test_case *tc = &mt->cases[i];
        fwd_tensor outs[MAX_IO];
        memset(outs, 0, sizeof outs);
        for (int k = 0; k < mt->n_out; k++) outs[k].name = mt->out_names[k];
        char shp[128];
        describe_shape(&tc->in[0], shp, sizeof shp);
        st = fwd_context_run(c, tc->in, mt->n_in, outs, mt->n_out);
        if (st) {
            tu_check(false, "%s: reference run of input %s: %s: %s", mt->label, shp, fwd_status_name(st),
                  fwd_last_error());
            refs_ok = false;
            continue;
        }
        for (int k = 0; k < mt->n_out; k++) {
            tc->ref[k] = outs[k];
            tc->ref[k].name = mt->out_names[k];
            tc->ref[k].data = xmalloc(outs[k].size);
            memcpy(tc->ref[k].data, outs[k].data, outs[k].size);
            if (outs[k].size > mt->max_out_bytes[k]) mt->max_out_bytes[k] = outs[k].size;
        }
    }
    fwd_context_free(c);
    if (!refs_ok) return;
    tu_check(true, "%s: %d single-threaded reference runs", mt->label, mt->n_cases);

    thread_job jobs[N_THREADS];
    pthread_t th[N_THREADS];
    memset(jobs, 0, sizeof jobs);
    double t0 = now_s();
    int started = 0;
    for (int t = 0; t < N_THREADS; t++) {
        jobs[t].mt = mt;
        jobs[t].tid = t;
        if (pthread_create(&th[t], NULL, thread_main, &jobs[t]) != 0) break;
        started++;
    }
    tu_check(started == N_THREADS, "%s: started %d of %d threads", mt->label, started, N_THREADS);
    for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
    double secs = now_s() - t0;
    for (int t = 0; t < started; t++) {
        const thread_job *j = &jobs[t];
        bool ok = j->errors == 0 && j->mismatches == 0 && j->runs_done == mt->runs * CONTEXTS_PER_THREAD;
        tu_check(ok, "%s: thread %d: %ld runs on %d contexts, %ld errors, %ld outputs differing%s%s", mt->label, t,
              j->runs_done, CONTEXTS_PER_THREAD, j->errors, j->mismatches, j->problem[0] ? "; first: " : "",
              j->problem);
    }
    printf("     %s: %d threads x %d contexts x %ld runs in %.2f s\n", mt->label, started, CONTEXTS_PER_THREAD,
           mt->runs, secs);
}

static void free_model_test(model_test *mt)
{
    for (int i = 0; i < mt->n_cases; i++) {
        for (int k = 0; k < MAX_IO; k++) {
            free(mt->cases[i].in[k].data);
            free(mt->cases[i].ref[k].data);
        }
    }
    fwd_engine_free(mt->engine);
}

/* Load and build with one profile per input (all of the same min/opt/max). */
static fwd_engine *build(const char *label, const char *path, const char *const *inputs, int n_inputs, int rank,
                         const int64_t *min, const int64_t *opt, const int64_t *max)
{
    fwd_model *m = NULL;
    fwd_builder *b = NULL;
    fwd_engine *e = NULL;
    fwd_status st = fwd_model_load(path, &m);
    if (st == FWD_OK) st = fwd_builder_create(&b);
    for (int i = 0; i < n_inputs && st == FWD_OK; i++)
        st = fwd_builder_set_shape(b, inputs[i], rank, min, opt, max);
    if (st == FWD_OK) st = fwd_builder_build(b, m, &e);
    tu_check(st == FWD_OK, "%s: build with a dynamic profile: %s", label, st ? fwd_last_error() : "ok");
    fwd_builder_free(b);
    fwd_model_free(m);
    return st == FWD_OK ? e : NULL;
}

static void test_digits(const char *root, long runs)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/examples/digits/digits.onnx", root);
    static const char *const in_names[] = {"image"};
    const int64_t min[] = {1, 1, 8, 8}, opt[] = {4, 1, 8, 8}, max[] = {8, 1, 8, 8};
    model_test mt = {.label = "digits", .n_in = 1, .n_out = 1, .out_names = {"scores"}, .runs = runs};
    mt.engine = build(mt.label, path, in_names, 1, 4, min, opt, max);
    if (!mt.engine) return;
    static const int64_t batches[] = {1, 3, 8, 2, 5, 4, 7};
    uint64_t seed = 7;
    for (int i = 0; i < (int)(sizeof batches / sizeof batches[0]); i++) {
        test_case *tc = &mt.cases[mt.n_cases++];
        const int64_t dims[] = {batches[i], 1, 8, 8};
        set_tensor(&tc->in[0], "image", FWD_FLOAT32, 4, dims);
        float *x = tc->in[0].data;
        for (int64_t j = 0; j < batches[i] * 64; j++) x[j] = (float)(rng_next(&seed) % 1000) / 1000.0f;
    }
    run_model_test(&mt);
    free_model_test(&mt);
}

static void test_bert(const char *root, long runs)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/zoo/models/bert/model.onnx", root);
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("SKIP bert: %s not found (make it with tests/zoo/run_zoo.py --only bert)\n", path);
        skipped++;
        return;
    }
    fclose(f);
    static const char *const in_names[] = {"input_ids", "attention_mask", "token_type_ids"};
    const int64_t min[] = {1, 8}, opt[] = {1, 16}, max[] = {2, 32};
    model_test mt = {.label = "bert", .n_in = 3, .n_out = 2,
                     .out_names = {"last_hidden_state", "pooler_output"}, .runs = runs};
    mt.engine = build(mt.label, path, in_names, 3, 2, min, opt, max);
    if (!mt.engine) return;
    static const int64_t shapes[][2] = {{1, 8}, {2, 32}, {1, 17}, {2, 11}, {1, 32}, {2, 24}};
    uint64_t seed = 11;
    for (int i = 0; i < (int)(sizeof shapes / sizeof shapes[0]); i++) {
        test_case *tc = &mt.cases[mt.n_cases++];
        int64_t b = shapes[i][0], s = shapes[i][1];
        for (int k = 0; k < 3; k++) set_tensor(&tc->in[k], in_names[k], FWD_INT64, 2, shapes[i]);
        int64_t *ids = tc->in[0].data, *mask = tc->in[1].data, *types = tc->in[2].data;
        for (int64_t r = 0; r < b; r++) {
            int64_t pad = r == b - 1 ? (int64_t)(rng_next(&seed) % 4) : 0; /* padding in the last row */
            for (int64_t j = 0; j < s; j++) {
                ids[r * s + j] = (int64_t)(rng_next(&seed) % 1000);
                mask[r * s + j] = j < s - pad;
                types[r * s + j] = j >= s / 2;
            }
        }
    }
    run_model_test(&mt);
    free_model_test(&mt);
}

int main(int argc, char **argv)
{
    char root[2048];
    snprintf(root, sizeof root, "%s/..", FWD_TESTS_DIR);
    long digits_runs = 1000, bert_runs = 500; /* per context; BERT keeps the test near 15 s */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            digits_runs = 50;
            bert_runs = 10;
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            digits_runs = bert_runs = atol(argv[++i]);
        } else if (argv[i][0] != '-') {
            snprintf(root, sizeof root, "%s", argv[i]);
        } else {
            fprintf(stderr, "usage: test_threads [--quick] [--runs N] [REPO_DIR]\n");
            return 2;
        }
    }
    test_digits(root, digits_runs);
    test_bert(root, bert_runs);
    printf("%d passed, %d failed, %d skipped\n", tu_passed, tu_failed, skipped);
    return tu_failed ? 1 : 0;
}

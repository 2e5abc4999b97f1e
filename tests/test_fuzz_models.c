/*
 * Bit-flip fuzzing of every ONNX node-test model and of the pass tests'
 * small graphs (public API only): each
 * model is built and run as it is at optimization levels 0 and 1 in
 * float32 and float16 mode, then copied a number of times with 1 to 3
 * random bits flipped, and each copy that still loads is built (level and
 * mode in turn) and run on pseudo-random inputs of its declared shapes
 * (at times out-of-range integers, NaN and infinities). Every step must
 * succeed or fail with a message; none may crash, hang, leak or do
 * anything the sanitizers report (run in the AddressSanitizer build).
 *
 * Then the engine file of each model (level 1) has 1 to 3 bytes of its
 * structure changed as many times, the checksum made consistent again, and
 * each copy that loads is run the same way.
 *
 * Each model runs in a child process with a time limit, so a crash or a
 * hang is reported with the model and the copy that caused it; the copy
 * can then be written out alone (a time-out can also be a valid but long
 * computation, such as an average pool whose kernel a flip made 2^20
 * wide: the copy says which):
 *
 *   test_fuzz_models [--data DIR] [--copies N] [--seed S]
 *   test_fuzz_models --data DIR --only TEST --copy I --save FILE
 *
 * The seed is fixed and each model's copies depend on its name only, so
 * a run is reproducible. The models that crashed an earlier build
 * (tests/fuzz_crashers: an input without an element type, ScatterElements'
 * axis unchecked, Einsum over an empty axis, MaxUnpool's output_shape of
 * the wrong length, and shape values near 2^63 in Reshape, Split, Slice
 * and MaxUnpool, a rank-0 GatherND index, RoiAlign boxes of NaN, LRN's
 * size, LSTM's hidden_size and Conv's group near 2^62: make_crashers.py;
 * a plain Split
 * whose float16 memory plan overran) run first, each as it is.
 */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fwd.h"
#include "engine_format.h"
#include "test_util.h"

#define TIME_LIMIT_S 60 /* per model, all its copies (ASan build) */
#define MAX_IO 8

static uint64_t rng;
static uint64_t next_bits(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Copy number `copy` of the model named name: its own stream of bits. */
static void seed_copy(uint64_t seed, const char *name, int copy)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *c = name; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
    rng = seed ^ h ^ ((uint64_t)(copy + 1) * 0xD1B54A32D192ED03ull);
    if (!rng) rng = 1;
    for (int i = 0; i < 4; i++) next_bits();
}

static void flip_bits(unsigned char *p, size_t n)
{
    int nb = 1 + (int)(next_bits() % 3);
    for (int k = 0; k < nb; k++) {
        size_t bit = (size_t)(next_bits() % (n * 8));
        p[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
}

/* An integer input value: mostly small (indices, counts and axes in
 * range often enough to get past the checks into the kernels), at times
 * negative or huge (out-of-range indices must be refused), but only small
 * in a scalar: a trip count or a Range's limit of 2^40 is a valid, long
 * run, not a hang. */
static int64_t int_value(bool scalar)
{
    uint64_t r = next_bits();
    switch (scalar ? 4 : r % 32) {
    case 0: return -1;
    case 1: return -(int64_t)(r >> 40);
    case 2: return (int64_t)(r >> 20);
    case 3: return INT64_MAX;
    default: return (int64_t)((r >> 8) % 4);
    }
}

/* A float input value: in [-2, 2], at times NaN or an infinity. */
static double float_value(void)
{
    uint64_t r = next_bits();
    switch (r % 64) {
    case 0: return NAN;
    case 1: return INFINITY;
    case 2: return -INFINITY;
    default: return (double)((int)((r >> 8) % 4001) - 2000) / 1000.0;
    }
}

static void fill(void *p, fwd_dtype dt, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t v = int_value(n == 1);
        switch (dt) {
        case FWD_FLOAT32: ((float *)p)[i] = (float)float_value(); break;
        case FWD_FLOAT64: ((double *)p)[i] = float_value(); break;
        case FWD_INT64: ((int64_t *)p)[i] = v; break;
        case FWD_INT32: ((int32_t *)p)[i] = (int32_t)v; break;
        case FWD_INT16: case FWD_UINT16: ((uint16_t *)p)[i] = (uint16_t)v; break;
        case FWD_BOOL: ((uint8_t *)p)[i] = (uint8_t)(v & 1); break;
        case FWD_INT8: case FWD_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
        default: break; /* zeros (calloc) */
        }
    }
}

/* Run engine e once on pseudo-random inputs of its input shapes: 1 when
 * it ran, 0 when a step failed with a message, -1 when one failed
 * without. */
static int run_engine(const fwd_engine *e)
{
    fwd_context *c = NULL;
    fwd_tensor in[MAX_IO], out[MAX_IO];
    void *bufs[MAX_IO] = {0};
    int ni = 0, no = 0, result = 0;
    fwd_status st = fwd_context_create(e, &c);
    if (!st) st = fwd_engine_num_inputs(e, &ni);
    if (!st) st = fwd_engine_num_outputs(e, &no);
    if (st) {
        result = fwd_last_error()[0] ? 0 : -1;
        goto done;
    }
    if (ni > MAX_IO || no > MAX_IO) goto done;
    for (int k = 0; k < ni; k++) {
        fwd_tensor_info inf;
        if (fwd_engine_input(e, k, &inf)) goto done;
        memset(&in[k], 0, sizeof in[k]);
        in[k].name = inf.name;
        in[k].dtype = inf.dtype;
        in[k].rank = inf.rank < 0 ? 1 : inf.rank;
        int64_t numel = 1;
        for (int j = 0; j < in[k].rank; j++) {
            in[k].dims[j] = inf.dims[j] < 0 ? 2 : inf.dims[j] > 64 ? 64 : inf.dims[j];
            numel *= in[k].dims[j];
        }
        size_t es = fwd_dtype_size(inf.dtype);
        if (es == 0 || numel > (1 << 20)) goto done;
        bufs[k] = calloc((size_t)numel * es + 1, 1);
        if (!bufs[k]) goto done;
        fill(bufs[k], inf.dtype, numel);
        in[k].data = bufs[k];
        in[k].size = (size_t)numel * es;
    }
    for (int k = 0; k < no; k++) {
        fwd_tensor_info inf;
        if (fwd_engine_output(e, k, &inf)) goto done;
        memset(&out[k], 0, sizeof out[k]);
        out[k].name = inf.name;
    }
    st = fwd_context_run(c, in, ni, out, no);
    result = !st ? 1 : fwd_last_error()[0] ? 0 : -1;
done:
    for (int k = 0; k < MAX_IO; k++) free(bufs[k]);
    fwd_context_free(c);
    return result;
}

/* Build m at level (in float16 mode when half) into *e (NULL on failure):
 * 0 when it failed with a message or was built, -1 when it failed
 * without. */
static int build(const fwd_model *m, int level, bool half, fwd_engine **e)
{
    fwd_builder *b = NULL;
    *e = NULL;
    fwd_status st = fwd_builder_create(&b);
    if (!st) st = fwd_builder_set_optimization(b, level);
    if (!st && half) st = fwd_builder_set_mode(b, "float16");
    if (!st) st = fwd_builder_build(b, m, e);
    int r = st && !fwd_last_error()[0] ? -1 : 0;
    fwd_builder_free(b);
    return r;
}

/* Build m and run it once: 1 when it ran, 0 when a step failed with a
 * message, -1 when one failed without. */
static int build_and_run(const fwd_model *m, int level, bool half)
{
    fwd_engine *e = NULL;
    int r = build(m, level, half, &e);
    if (e) r = run_engine(e);
    fwd_engine_free(e);
    return r;
}

typedef struct tally {
    int loaded, ran, silent; /* silent: a failure without a message */
} tally;

/* One flipped copy of data: load, summarise, build and run. */
static void try_copy(const unsigned char *copy, size_t n, int level, bool half, tally *t)
{
    fwd_model *m = NULL;
    fwd_status st = fwd_model_load_memory(copy, n, NULL, &m);
    if (st) {
        if (!fwd_last_error()[0]) t->silent++;
        return;
    }
    t->loaded++;
    fwd_model_summary sum;
    if (fwd_model_summarize(m, &sum) && !fwd_last_error()[0]) t->silent++;
    int r = build_and_run(m, level, half);
    t->ran += r > 0;
    t->silent += r < 0;
    fwd_model_free(m);
}

/* The engine file of model (built at level 1): saved, read back, then
 * `copies` copies with 1 to 3 bytes of its structure (everything before
 * the weights) changed and the checksum made consistent again, each
 * loaded and, when it loads, run. Progress ENGINE_COPY + c. */
#define ENGINE_COPY 1000000
static void engine_copies(const unsigned char *model, size_t n, const char *label, uint64_t seed, int copies,
                          volatile int *progress, tally *t)
{
    fwd_model *m = NULL;
    fwd_engine *e = NULL;
    if (fwd_model_load_memory(model, n, NULL, &m) != FWD_OK) return;
    build(m, 1, false, &e);
    fwd_model_free(m);
    if (!e) return;
    char path[64];
    snprintf(path, sizeof path, "/tmp/fwd_fuzz_%d.fwe", (int)getpid());
    fwd_status st = fwd_engine_save(e, path);
    fwd_engine_free(e);
    size_t size = 0;
    unsigned char *file = st ? NULL : tu_read_file(path, &size);
    remove(path);
    if (!file) return;
    size_t span = (size_t)weights_offset(file, size);
    unsigned char *copy = span > 0 ? malloc(size) : NULL;
    for (int c = 0; copy && c < copies; c++) {
        *progress = ENGINE_COPY + c;
        memcpy(copy, file, size);
        seed_copy(seed ^ 0x5eedull, label, c);
        int nb = 1 + (int)(next_bits() % 3);
        for (int k = 0; k < nb; k++) {
            size_t at = (size_t)(next_bits() % span);
            if (at >= OFF_CHECKSUM && at < OFF_CHECKSUM + 8) at = OFF_CHECKSUM + 8 < span ? OFF_CHECKSUM + 8 : 0;
            copy[at] ^= (unsigned char)(1 + next_bits() % 255);
        }
        fix_checksum(copy, size);
        fwd_engine *f = NULL;
        if (fwd_engine_load_memory(copy, size, &f) != FWD_OK) {
            if (!fwd_last_error()[0]) t->silent++;
            continue;
        }
        t->loaded++;
        int r = run_engine(f);
        t->ran += r > 0;
        t->silent += r < 0;
        fwd_engine_free(f);
    }
    free(copy);
    free(file);
}

/* In a child process with a time limit: data itself at both levels in
 * both modes (progress -4 to -1), then copies [0, copies) of it with bits
 * flipped, through try_copy. Reports a crash, a hang, a sanitizer report
 * or a silent failure as a failed check; adds to *sum. */
static void run_in_child(const char *label, const unsigned char *data, size_t n, uint64_t seed, int copies,
                         volatile int *progress, tally *sum)
{
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        tu_check(false, "%s: pipe failed", label);
        return;
    }
    fflush(stdout);
    *progress = -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        alarm(TIME_LIMIT_S);
        unsigned char *copy = malloc(n);
        tally t = {0, 0, 0};
        for (int c = -4; copy && c < copies; c++) {
            *progress = c;
            memcpy(copy, data, n);
            if (c >= 0) {
                seed_copy(seed, label, c);
                flip_bits(copy, n);
            }
            try_copy(copy, n, c & 1, (c & 2) != 0, &t); /* both levels, both modes */
        }
        if (copies > 0) engine_copies(data, n, label, seed, copies, progress, &t);
        free(copy);
        ssize_t w = write(pipefd[1], &t, sizeof t);
        close(pipefd[1]);
        exit(w == (ssize_t)sizeof t ? 0 : 1); /* exit, not _exit: LeakSanitizer runs */
    }
    close(pipefd[1]);
    tally t = {0, 0, -1};
    ssize_t got = pid > 0 ? read(pipefd[0], &t, sizeof t) : -1;
    close(pipefd[0]);
    int status = 0;
    if (pid > 0) waitpid(pid, &status, 0);
    if (pid <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || got != (ssize_t)sizeof t) {
        const char *how = pid <= 0 ? "could not fork"
                          : WIFSIGNALED(status) ? (WTERMSIG(status) == SIGALRM ? "timed out" : "crashed")
                                                : "exited with a sanitizer report";
        if (*progress >= ENGINE_COPY)
            tu_check(false, "%s: %s on engine copy %d (seed %llu)", label, how, *progress - ENGINE_COPY,
                     (unsigned long long)seed);
        else if (*progress >= 0)
            tu_check(false, "%s: %s on copy %d (seed %llu; --only %s --copy %d --save FILE writes it)", label, how,
                     *progress, (unsigned long long)seed, label, *progress);
        else
            tu_check(false, "%s: %s as it is, at level %d in %s mode", label, how, *progress & 1,
                     *progress & 2 ? "float16" : "float32");
        return;
    }
    if (t.silent) tu_check(false, "%s: %d copies failed without a message", label, t.silent);
    if (!copies) tu_check(t.silent == 0, "crasher %s: loads, builds and runs or fails with a message", label);
    sum->loaded += t.loaded;
    sum->ran += t.ran;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The entries of dir (sorted) whose name ends in suffix, or that are
 * folders holding `suffix` when it starts with '/'. */
static char **list_dir(const char *dir, const char *suffix, int *count)
{
    *count = 0;
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char **names = NULL;
    int cap = 0;
    struct dirent *de;
    size_t sl = strlen(suffix);
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        size_t nl = strlen(de->d_name);
        if (suffix[0] != '/' && (nl < sl || strcmp(de->d_name + nl - sl, suffix) != 0)) continue;
        if (*count == cap) {
            cap = cap ? 2 * cap : 256;
            char **p = realloc(names, sizeof *names * (size_t)cap);
            if (!p) break;
            names = p;
        }
        names[(*count)++] = strdup(de->d_name);
    }
    closedir(d);
    if (names) qsort(names, (size_t)*count, sizeof *names, cmp_str);
    return names;
}

static void free_list(char **names, int n)
{
    for (int k = 0; k < n; k++) free(names[k]);
    free(names);
}

/* Fuzzes the models of dir (folders holding model.onnx, the ONNX node-test
 * layout, or .onnx files); only: just that one; only_copy >= 0: write that
 * copy to save instead. Counts into *fuzzed and *sum. */
static void fuzz_dir(const char *dir, const char *only, int only_copy, const char *save, uint64_t seed, int copies,
                     volatile int *progress, tally *sum, int *fuzzed)
{
    int n_models;
    char **names = list_dir(dir, "/", &n_models);
    tu_check(n_models > 0, "models found in %s (%d)", dir, n_models);
    for (int i = 0; i < n_models; i++) {
        if (only && strcmp(names[i], only) != 0) continue;
        char path[4096];
        size_t nl = strlen(names[i]);
        if (nl > 5 && !strcmp(names[i] + nl - 5, ".onnx"))
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        else
            snprintf(path, sizeof path, "%s/%s/model.onnx", dir, names[i]);
        size_t n;
        unsigned char *data = tu_read_file(path, &n);
        if (!data || n == 0) {
            free(data);
            continue;
        }
        (*fuzzed)++;
        if (only_copy >= 0) { /* write out one copy to look at */
            seed_copy(seed, names[i], only_copy);
            flip_bits(data, n);
            FILE *f = save ? fopen(save, "wb") : NULL;
            bool ok = f && fwrite(data, 1, n, f) == n;
            if (f) fclose(f);
            tu_check(ok, "copy %d of %s written to %s", only_copy, names[i], save ? save : "(no --save)");
        } else {
            run_in_child(names[i], data, n, seed, copies, progress, sum);
        }
        free(data);
    }
    free_list(names, n_models);
}

int main(int argc, char **argv)
{
    /* the ONNX node tests, and the small graphs of the pass tests (the
     * patterns the fusing passes match) */
    const char *dirs[4] = {"/usr/share/libonnx-testdata/data/node", FWD_TESTS_DIR "/passes/pa",
                           FWD_TESTS_DIR "/passes/pb", FWD_TESTS_DIR "/passes/perf"};
    int n_dirs = 4;
    const char *only = NULL, *save = NULL;
    const char *crashers = FWD_TESTS_DIR "/fuzz_crashers";
    int copies = 40, only_copy = -1;
    uint64_t seed = 20261206;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc) {
            dirs[0] = argv[++i];
            n_dirs = 1;
        }
        else if (!strcmp(argv[i], "--copies") && i + 1 < argc) copies = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--copy") && i + 1 < argc) only_copy = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--save") && i + 1 < argc) save = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--data DIR] [--copies N] [--seed S] [--only NAME [--copy I --save FILE]]\n",
                    argv[0]);
            return 2;
        }
    }
    if (copies < 1) copies = 1;
    /* where the child notes the copy it is on, for the report of a crash */
    volatile int *progress = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (progress == MAP_FAILED) return 2;
    tally sum = {0, 0, 0};
    if (!only) {
        int nc;
        char **files = list_dir(crashers, ".onnx", &nc);
        tu_check(nc > 0, "crashers found in %s (%d)", crashers, nc);
        for (int i = 0; i < nc; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", crashers, files[i]);
            size_t n;
            unsigned char *data = tu_read_file(path, &n);
            tu_check(data && n > 0, "crasher %s read", files[i]);
            if (data && n > 0) run_in_child(files[i], data, n, seed, 0, progress, &sum);
            free(data);
        }
        free_list(files, nc);
    }
    int fuzzed = 0;
    sum.loaded = sum.ran = 0;
    for (int d = 0; d < n_dirs; d++) fuzz_dir(dirs[d], only, only_copy, save, seed, copies, progress, &sum, &fuzzed);
    if (only_copy < 0)
        tu_check(fuzzed > 0,
                 "%d models fuzzed, %d copies each: %d loaded, %d built and ran, the rest failed with a message",
                 fuzzed, copies, sum.loaded, sum.ran);
    return tu_summary();
}

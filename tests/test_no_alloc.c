/*
 * After a context is created, running it allocates nothing (issue 3's
 * memory plan): every model is built at optimization level 1, a context
 * runs it WARMUP times (threads' GEMM scratch grows to its size then),
 * and the next RUNS runs must make no call to malloc, calloc, realloc,
 * posix_memalign, aligned_alloc or memalign, on any thread.
 *
 * Counting: in a plain build this executable defines the allocation
 * functions itself (they forward to glibc's __libc_* entry points), which
 * interposes them for libfwd, OpenBLAS and libc alike; under a sanitizer,
 * which owns those symbols, the sanitizer's allocation hook counts.
 *
 *   test_no_alloc [MODEL.onnx ...]
 *
 * Without arguments: the digits example, tests/models, tests/passes and,
 * when the zoo suite has exported them, tests/zoo/models/NAME/model.onnx.
 * Models whose outputs have data-dependent shapes (their kernels allocate
 * by design) are listed in `allocating` below with the reason.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_list.h"
#include "test_util.h"

#define WARMUP 3
#define RUNS 5
#define MAX_BATCH 2
#define MAX_IO 64

static atomic_bool counting;
static atomic_long n_allocs;

__attribute__((noinline)) static void count(void)
{
    if (atomic_load_explicit(&counting, memory_order_relaxed)) atomic_fetch_add(&n_allocs, 1);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FWD_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define FWD_SANITIZED 1
#endif
#endif

#ifdef FWD_SANITIZED
/* The sanitizer runtime's allocation hooks (declared here: GCC installs
 * no header for them). */
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));

static void on_malloc(const volatile void *p, size_t n)
{
    (void)p;
    (void)n;
    count();
}

static void on_free(const volatile void *p) { (void)p; }

static void install_counter(void) { __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free); }
#else
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

void *malloc(size_t n)
{
    count();
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    count();
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    count();
    return __libc_realloc(p, n);
}

void free(void *p) { __libc_free(p); }

void *memalign(size_t align, size_t n)
{
    count();
    return __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    count();
    return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    count();
    if (align < sizeof(void *) || (align & (align - 1)) != 0) return 22; /* EINVAL */
    void *p = __libc_memalign(align, n);
    if (!p) return 12; /* ENOMEM */
    *out = p;
    return 0;
}

static void install_counter(void) {}
#endif

/* Models whose runs allocate by design: an output of a data-dependent
 * shape (NonZero, Loop, Scan, ...) is allocated when its size is known. */
static const struct {
    const char *name;
    const char *why;
} allocating[] = {
    {"test_loop11", "Loop: the scan outputs grow per iteration"},
    {"test_scan9_sum", "Scan: the body runs as a subgraph with its own values"},
    {"test_if", "If: the taken branch runs as a subgraph with its own values"},
    {"zoo/models/dlrm/", "its embedding bags export as a Loop over the bags"},
};

static const char *allocates_by_design(const char *path)
{
    for (size_t i = 0; i < sizeof allocating / sizeof *allocating; i++)
        if (strstr(path, allocating[i].name)) return allocating[i].why;
    return NULL;
}

#define NODE_DIR "/usr/share/libonnx-testdata/data/node"

static void default_models(tu_list *l)
{
    tu_list_add(l, FWD_TESTS_DIR "/../examples/digits/digits.onnx");
    tu_list_add_dir(l, FWD_TESTS_DIR "/models", ".onnx", NULL);
    tu_list_add_dir(l, FWD_TESTS_DIR "/passes", ".onnx", NULL);
    static const char *const node_tests[] = {"test_loop11", "test_scan9_sum", "test_if"};
    for (size_t i = 0; i < sizeof node_tests / sizeof *node_tests; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s/model.onnx", NODE_DIR, node_tests[i]);
        if (tu_exists(path)) tu_list_add(l, path);
    }
    tu_list_add_dir(l, FWD_TESTS_DIR "/zoo/models", NULL, "model.onnx");
}

/* path built at optimization level 1 with batch profile opt 1, max
 * MAX_BATCH (memory is planned for the profile's max shapes). */
static fwd_status build(const char *path, fwd_engine **e)
{
    fwd_model *m = NULL;
    fwd_builder *b = NULL;
    *e = NULL;
    fwd_status st = fwd_model_load(path, &m);
    if (!st) st = fwd_builder_create(&b);
    if (!st) st = fwd_builder_set_batch(b, 1, MAX_BATCH);
    if (!st) st = fwd_builder_build(b, m, e);
    if (st) printf("     %s: build failed: %s\n", path, fwd_last_error());
    fwd_builder_free(b);
    fwd_model_free(m);
    return st;
}

/* Input index of e at its profile's largest planned shape: max where the
 * profile bounds a dim, else opt. */
static void make_input(const fwd_engine *e, int index, fwd_tensor *t)
{
    fwd_tensor_info info;
    fwd_engine_input(e, index, &info);
    int64_t mn[FWD_MAX_DIMS], opt[FWD_MAX_DIMS], mx[FWD_MAX_DIMS];
    if (info.rank > 0 && fwd_engine_input_profile(e, index, mn, opt, mx) == FWD_OK)
        for (int d = 0; d < info.rank; d++) info.dims[d] = mx[d] >= 0 ? mx[d] : opt[d];
    tu_make_input(&info, 1, t);
}

/* Allocations during RUNS runs of path's engine after WARMUP runs; -1
 * when the model does not build or run (the reason is printed). */
static long allocations_per_runs(const char *path)
{
    fwd_engine *e = NULL;
    if (build(path, &e) != FWD_OK) return -1;
    fwd_tensor in[MAX_IO], out[MAX_IO];
    int n_in = 0, n_out = 0;
    fwd_engine_num_inputs(e, &n_in);
    fwd_engine_num_outputs(e, &n_out);
    if (n_in > MAX_IO) n_in = MAX_IO;
    if (n_out > MAX_IO) n_out = MAX_IO;
    tu_seed(7);
    for (int i = 0; i < n_in; i++) make_input(e, i, &in[i]);
    fwd_context *c = NULL;
    fwd_status st = fwd_context_create(e, &c);
    long result = -1;
    for (int r = 0; !st && r < WARMUP + RUNS; r++) {
        if (r == WARMUP) {
            atomic_store(&n_allocs, 0);
            atomic_store(&counting, true);
        }
        for (int i = 0; i < n_out; i++) {
            fwd_tensor_info info;
            fwd_engine_output(e, i, &info);
            memset(&out[i], 0, sizeof out[i]);
            out[i].name = info.name;
        }
        st = fwd_context_run(c, in, n_in, out, n_out);
    }
    atomic_store(&counting, false);
    if (st)
        printf("     %s: run failed: %s\n", path, fwd_last_error());
    else
        result = atomic_load(&n_allocs);
    fwd_context_free(c);
    for (int i = 0; i < n_in; i++) free(in[i].data);
    fwd_engine_free(e);
    return result;
}

int main(int argc, char **argv)
{
    install_counter();
    tu_list models = {0};
    for (int i = 1; i < argc; i++) tu_list_add(&models, argv[i]);
    if (argc < 2) default_models(&models);
    for (int i = 0; i < models.n; i++) {
        const char *path = models.items[i];
        long n = allocations_per_runs(path);
        const char *why = allocates_by_design(path);
        if (why && n >= 0) {
            /* listed: it must still run, and the list must stay true */
            tu_check(n > 0, "%s allocates by design (%s): %ld allocations in %d runs", path, why, n, RUNS);
        } else {
            tu_check(n == 0, "%s: %ld allocations in %d runs after %d warmup runs", path, n, RUNS, WARMUP);
        }
    }
    tu_list_free(&models);
    return tu_summary();
}

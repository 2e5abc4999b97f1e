/*
 * Conformance runner over the ONNX backend node tests.
 *
 *   node_tests [--data DIR] [--excluded FILE] [--filter SUBSTR]... [-v]
 *              [--timeout SECONDS]
 *
 * Each test directory holds model.onnx and test_data_set_N/ with
 * input_K.pb and output_K.pb. Every test runs in a child process with a
 * time limit, so a crash or hang fails that test and no other. Tests listed
 * in the excluded file (tests/node_excluded.txt: training ops, sequence and
 * optional types, string ops, random generators) are skipped. Closes with
 * `N passed, M failed, K skipped` and exits 1 if anything failed.
 */
#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fwd.h"

#define MAX_IO 64

static const char *default_data = "/usr/share/libonnx-testdata/data/node";

/* File-scope so the children forked per test still reach them at exit
 * (LeakSanitizer runs then). */
static char **names, **failures, *excluded, *xfails;

/* Read the first word of each non-comment line into " a b c " form, so
 * strstr(list, " name ") tells membership. */
static int read_name_list(const char *path, char **out)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "node_tests: cannot open %s\n", path);
        return -1;
    }
    size_t len = 1;
    char *list = malloc(2);
    strcpy(list, " ");
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char nm[256];
        if (line[0] == '#' || sscanf(line, "%255s", nm) != 1) continue;
        size_t l = strlen(nm);
        char *grown = realloc(list, len + l + 2);
        if (!grown) break;
        list = grown;
        memcpy(list + len, nm, l);
        len += l;
        list[len++] = ' ';
        list[len] = '\0';
    }
    fclose(f);
    *out = list;
    return 0;
}

static bool in_list(const char *list, const char *name)
{
    char key[300];
    snprintf(key, sizeof key, " %s ", name);
    return list && strstr(list, key) != NULL;
}

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Run one data set of one test; returns 0 on pass, writes why to msg. */
static int run_data_set(fwd_context *c, const fwd_engine *e, const char *dir, char *msg, size_t cap)
{
    int n_in = 0, n_out = 0, rc = 0;
    fwd_engine_num_inputs(e, &n_in);
    fwd_engine_num_outputs(e, &n_out);
    if (n_in > MAX_IO || n_out > MAX_IO) {
        snprintf(msg, cap, "too many inputs/outputs");
        return 1;
    }
    fwd_tensor files[MAX_IO], ins[MAX_IO], outs[MAX_IO];
    memset(files, 0, sizeof files);
    memset(outs, 0, sizeof outs);
    int given = 0;
    for (int k = 0; k < n_in; k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/input_%d.pb", dir, k);
        if (!exists(path)) break;
        if (fwd_tensor_read_file(path, &files[k])) {
            snprintf(msg, cap, "reading %.500s: %.1000s", path, fwd_last_error());
            rc = 1;
            goto done;
        }
        fwd_tensor_info info;
        fwd_engine_input(e, k, &info);
        ins[k] = files[k];
        ins[k].name = info.name;
        /* The onnx package stores bfloat16 test data as uint16 bit
         * patterns (numpy has no bfloat16): read it as what it is. */
        if (info.dtype == FWD_BFLOAT16 && ins[k].dtype == FWD_UINT16) ins[k].dtype = FWD_BFLOAT16;
        given++;
    }
    for (int k = 0; k < n_out; k++) {
        fwd_tensor_info info;
        fwd_engine_output(e, k, &info);
        outs[k].name = info.name;
    }
    if (fwd_context_run(c, ins, given, outs, n_out)) {
        snprintf(msg, cap, "run: %s", fwd_last_error());
        rc = 1;
        goto done;
    }
    for (int k = 0; k < n_out; k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/output_%d.pb", dir, k);
        if (!exists(path)) continue;
        fwd_tensor ref;
        if (fwd_tensor_read_file(path, &ref)) {
            snprintf(msg, cap, "reading %.500s: %.1000s", path, fwd_last_error());
            rc = 1;
            goto done;
        }
        if (outs[k].dtype == FWD_BFLOAT16 && ref.dtype == FWD_UINT16) ref.dtype = FWD_BFLOAT16;
        fwd_compare_result r;
        fwd_status st = fwd_tensor_compare(&outs[k], &ref, 1e-3, 1e-7, &r);
        if (st) {
            snprintf(msg, cap, "output '%s': %s", outs[k].name, fwd_last_error());
            rc = 1;
        } else if (r.mismatches) {
            snprintf(msg, cap, "output '%s': %lld/%lld mismatches, worst [%lld] got %.9g expected %.9g",
                     outs[k].name, (long long)r.mismatches, (long long)r.count, (long long)r.worst_index,
                     r.worst_actual, r.worst_expected);
            rc = 1;
        }
        fwd_tensor_release(&ref);
        if (rc) break;
    }
done:
    for (int k = 0; k < MAX_IO; k++) fwd_tensor_release(&files[k]);
    return rc;
}

/* The whole test, in the child process. */
static int run_test(const char *root, const char *name, char *msg, size_t cap)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/model.onnx", root, name);
    fwd_model *m = NULL;
    fwd_builder *b = NULL;
    fwd_engine *e = NULL;
    fwd_context *c = NULL;
    int rc = 1;
    if (fwd_model_load(path, &m)) {
        snprintf(msg, cap, "load: %s", fwd_last_error());
        goto done;
    }
    fwd_builder_create(&b);
    if (fwd_builder_build(b, m, &e)) {
        snprintf(msg, cap, "build: %s", fwd_last_error());
        goto done;
    }
    if (fwd_context_create(e, &c)) {
        snprintf(msg, cap, "context: %s", fwd_last_error());
        goto done;
    }
    rc = 0;
    for (int ds = 0; rc == 0; ds++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s/test_data_set_%d", root, name, ds);
        if (!exists(dir)) {
            if (ds == 0) {
                snprintf(msg, cap, "no test data");
                rc = 1;
            }
            break;
        }
        rc = run_data_set(c, e, dir, msg, cap);
    }
done:
    fwd_context_free(c);
    fwd_engine_free(e);
    fwd_builder_free(b);
    fwd_model_free(m);
    return rc;
}

/* Fork, run, collect the verdict through a pipe; kill after timeout_s. */
static int run_isolated(const char *root, const char *name, int timeout_s, char *msg, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(msg, cap, "pipe failed");
        return 1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        char m[2048] = "";
        int rc = run_test(root, name, m, sizeof m);
        ssize_t w = write(fds[1], m, strlen(m));
        (void)w;
        close(fds[1]);
        exit(rc); /* exit, not _exit: LeakSanitizer checks at exit */
    }
    close(fds[1]);
    int status = 0;
    time_t start = time(NULL);
    bool timed_out = false;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (time(NULL) - start > timeout_s) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            timed_out = true;
            break;
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    ssize_t n = read(fds[0], msg, cap - 1);
    msg[n > 0 ? n : 0] = '\0';
    close(fds[0]);
    if (timed_out) {
        snprintf(msg, cap, "timed out after %d s", timeout_s);
        return 1;
    }
    if (WIFSIGNALED(status)) {
        snprintf(msg + strlen(msg), cap - strlen(msg), "%scrashed with signal %d", msg[0] ? "; " : "",
                 WTERMSIG(status));
        return 1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv)
{
    const char *root = default_data, *excluded_path = NULL;
    const char *filters[256];
    int n_filters = 0, timeout_s = 60;
    bool verbose = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            root = argv[++i];
        else if (strcmp(argv[i], "--excluded") == 0 && i + 1 < argc)
            excluded_path = argv[++i];
        else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc && n_filters < 256)
            filters[n_filters++] = argv[++i];
        else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
            timeout_s = atoi(argv[++i]);
        else if (strcmp(argv[i], "-v") == 0)
            verbose = true;
        else {
            fprintf(stderr, "usage: %s [--data DIR] [--excluded FILE] [--filter SUBSTR]... [-v] [--timeout S]\n",
                    argv[0]);
            return 2;
        }
    }
    /* the excluded list and the expected failures: beside this source */
    char excluded_default[4096], xfail_path[4096];
    if (!excluded_path) {
        snprintf(excluded_default, sizeof excluded_default, "%s/node_excluded.txt", FWD_TESTS_DIR);
        excluded_path = excluded_default;
    }
    snprintf(xfail_path, sizeof xfail_path, "%s/node_expected_failures.txt", FWD_TESTS_DIR);
    if (read_name_list(excluded_path, &excluded) != 0 || read_name_list(xfail_path, &xfails) != 0) {
        free(excluded);
        free(xfails);
        return 2;
    }
    DIR *d = opendir(root);
    if (!d) {
        fprintf(stderr, "node_tests: cannot open %s\n", root);
        free(excluded);
        return 2;
    }
    int n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "test_", 5) != 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            names = realloc(names, (size_t)cap * sizeof *names);
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);

    int passed = 0, failed = 0, skipped = 0, xfailed = 0;
    failures = calloc((size_t)n + 1, sizeof *failures);
    for (int i = 0; i < n; i++) {
        const char *name = names[i];
        if (n_filters) {
            bool hit = false;
            for (int f = 0; f < n_filters; f++) hit |= strstr(name, filters[f]) != NULL;
            if (!hit) continue;
        }
        if (in_list(excluded, name)) {
            skipped++;
            if (verbose) printf("SKIP %s (excluded group)\n", name);
            continue;
        }
        char msg[2048];
        int rc = run_isolated(root, name, timeout_s, msg, sizeof msg);
        bool expected_fail = in_list(xfails, name);
        if (expected_fail && rc != 0) {
            xfailed++;
            printf("XFAIL %s: %s\n", name, msg);
        } else if (expected_fail) {
            char line[512];
            snprintf(line, sizeof line, "%s: passes now; remove it from node_expected_failures.txt", name);
            failures[failed++] = strdup(line);
            printf("FAIL %s\n", line);
        } else if (rc == 0) {
            passed++;
            if (verbose) printf("PASS %s\n", name);
        } else {
            char line[2400];
            snprintf(line, sizeof line, "%s: %s", name, msg);
            failures[failed++] = strdup(line);
            printf("FAIL %s\n", line);
        }
        fflush(stdout);
    }
    if (failed) {
        printf("\nfailures:\n");
        for (int i = 0; i < failed; i++) printf("  %s\n", failures[i]);
    }
    if (xfailed)
        printf("%d expected failures (tests/node_expected_failures.txt says why); "
               "%d skipped tests are the excluded groups (tests/node_excluded.txt)\n",
               xfailed, skipped);
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    for (int i = 0; i < failed; i++) free(failures[i]);
    for (int i = 0; i < n; i++) free(names[i]);
    free(failures);
    free(names);
    free(excluded);
    free(xfails);
    return failed ? 1 : 0;
}

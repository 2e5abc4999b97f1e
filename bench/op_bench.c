/*
 * op_bench: time one model with random float32 inputs through the public
 * API. Prints the median and best run time in milliseconds.
 *
 *   op_bench MODEL [ITERS]
 *
 * Dims that are not fixed are taken as 1. Built by bench/conv_layers.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fwd.h"

#define MAX_IO 32

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define CHECK(call)                                                          \
    do {                                                                     \
        fwd_status s_ = (call);                                              \
        if (s_ != FWD_OK) {                                                  \
            fprintf(stderr, "%s: %s\n", #call, fwd_last_error());            \
            return 1;                                                        \
        }                                                                    \
    } while (0)

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL [ITERS]\n", argv[0]);
        return 2;
    }
    int iters = argc > 2 ? atoi(argv[2]) : 20;
    if (iters < 1) iters = 1;
    fwd_model *m;
    fwd_builder *b;
    fwd_engine *e;
    fwd_context *c;
    CHECK(fwd_model_load(argv[1], &m));
    CHECK(fwd_builder_create(&b));
    CHECK(fwd_builder_build(b, m, &e));
    CHECK(fwd_context_create(e, &c));
    int n_in, n_out;
    CHECK(fwd_engine_num_inputs(e, &n_in));
    CHECK(fwd_engine_num_outputs(e, &n_out));
    if (n_in > MAX_IO || n_out > MAX_IO) return 2;
    fwd_tensor in[MAX_IO], out[MAX_IO];
    fwd_tensor_info info[MAX_IO], oinfo[MAX_IO];
    srand(1);
    for (int i = 0; i < n_in; i++) {
        CHECK(fwd_engine_input(e, i, &info[i]));
        memset(&in[i], 0, sizeof in[i]);
        in[i].name = info[i].name;
        in[i].dtype = info[i].dtype;
        in[i].rank = info[i].rank;
        int64_t n = 1;
        for (int d = 0; d < info[i].rank; d++) {
            in[i].dims[d] = info[i].dims[d] >= 0 ? info[i].dims[d] : 1;
            n *= in[i].dims[d];
        }
        size_t es = fwd_dtype_size(info[i].dtype);
        in[i].size = (size_t)n * es;
        in[i].data = calloc((size_t)n + 1, es);
        if (info[i].dtype == FWD_FLOAT32)
            for (int64_t j = 0; j < n; j++) ((float *)in[i].data)[j] = (float)rand() / RAND_MAX - 0.5f;
    }
    for (int i = 0; i < n_out; i++) {
        CHECK(fwd_engine_output(e, i, &oinfo[i]));
        memset(&out[i], 0, sizeof out[i]);
        out[i].name = oinfo[i].name;
    }
    for (int w = 0; w < 3; w++) {
        for (int i = 0; i < n_out; i++) out[i].data = NULL;
        CHECK(fwd_context_run(c, in, n_in, out, n_out));
    }
    double *t = malloc(sizeof(double) * (size_t)iters);
    for (int it = 0; it < iters; it++) {
        for (int i = 0; i < n_out; i++) out[i].data = NULL;
        double t0 = now_ms();
        CHECK(fwd_context_run(c, in, n_in, out, n_out));
        t[it] = now_ms() - t0;
    }
    qsort(t, (size_t)iters, sizeof(double), cmp_double);
    printf("median_ms %.4f best_ms %.4f\n", t[iters / 2], t[0]);
    free(t);
    for (int i = 0; i < n_in; i++) free(in[i].data);
    fwd_context_free(c);
    fwd_engine_free(e);
    fwd_builder_free(b);
    fwd_model_free(m);
    return 0;
}

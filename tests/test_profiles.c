/*
 * Optimization profiles through the public API: shapes inside an input's
 * profile run, shapes outside it and wrong dtypes fail with a message that
 * names the input and the allowed range; bad profiles given to the
 * builder (fwd_builder_set_shape / set_batch, checked there or when
 * building) are FWD_ERR_INVALID_ARGUMENT naming the input. Uses the
 * digits example (image: [batch, 1, 8, 8] float32).
 *
 *   test_profiles [REPO_DIR]
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fwd.h"
#include "test_util.h"

static char model_path[4096];
static float image[16 * 64]; /* room for batch 16 */

static fwd_model *load(void)
{
    fwd_model *m = NULL;
    fwd_status st = fwd_model_load(model_path, &m);
    if (st) tu_check(false, "load %s: %s", model_path, fwd_last_error());
    return m;
}

/* Build digits with one image profile (rank 4; NULL: none) and a batch
 * setting (opt 0: none). Returns the status; *out the engine. */
static fwd_status build(const int64_t *min, const int64_t *opt, const int64_t *max, int64_t batch_opt,
                        int64_t batch_max, fwd_engine **out)
{
    *out = NULL;
    fwd_model *m = load();
    if (!m) return FWD_ERR_IO;
    fwd_builder *b = NULL;
    fwd_status st = fwd_builder_create(&b);
    if (!st && batch_opt) st = fwd_builder_set_batch(b, batch_opt, batch_max);
    if (!st && min) st = fwd_builder_set_shape(b, "image", 4, min, opt, max);
    if (!st) st = fwd_builder_build(b, m, out);
    fwd_builder_free(b);
    fwd_model_free(m);
    return st;
}

/* Run one image input of the given shape and dtype. */
static fwd_status run(fwd_context *c, fwd_dtype dt, int rank, const int64_t *dims, fwd_tensor *out)
{
    fwd_tensor in = {.name = "image", .dtype = dt, .rank = rank, .data = image};
    memcpy(in.dims, dims, sizeof(int64_t) * (size_t)rank);
    in.size = (size_t)fwd_tensor_numel(&in) * fwd_dtype_size(dt);
    if (in.size > sizeof image) in.size = sizeof image; /* caught by the shape checks first */
    memset(out, 0, sizeof *out);
    out->name = "scores";
    return fwd_context_run(c, &in, 1, out, 1);
}

static void expect_runs(fwd_context *c, int64_t batch, const char *label)
{
    const int64_t dims[] = {batch, 1, 8, 8};
    fwd_tensor out;
    fwd_status st = run(c, FWD_FLOAT32, 4, dims, &out);
    bool ok = st == FWD_OK && out.rank == 2 && out.dims[0] == batch && out.dims[1] == 10;
    tu_check(ok, "%s: batch %lld runs, output [%lld,%lld]: %s", label, (long long)batch,
          (long long)(out.rank > 0 ? out.dims[0] : -1), (long long)(out.rank > 1 ? out.dims[1] : -1),
          st ? fwd_last_error() : "ok");
}

static void test_inside_and_outside(void)
{
    const int64_t min[] = {1, 1, 8, 8}, opt[] = {4, 1, 8, 8}, max[] = {8, 1, 8, 8};
    fwd_engine *e;
    fwd_status st = build(min, opt, max, 0, 0, &e);
    tu_expect(st, FWD_OK, "build with image 1..8 (opt 4)", NULL, NULL, NULL);
    if (st) return;

    int64_t pmin[FWD_MAX_DIMS], popt[FWD_MAX_DIMS], pmax[FWD_MAX_DIMS];
    st = fwd_engine_input_profile(e, 0, pmin, popt, pmax);
    tu_check(st == FWD_OK && memcmp(pmin, min, sizeof min) == 0 && memcmp(popt, opt, sizeof opt) == 0 &&
              memcmp(pmax, max, sizeof max) == 0,
          "fwd_engine_input_profile gives the profile set: %s", st ? fwd_last_error() : "ok");
    tu_expect(fwd_engine_input_profile(e, 1, pmin, popt, pmax), FWD_ERR_INVALID_ARGUMENT,
           "fwd_engine_input_profile of input 1 (of 1)", NULL, NULL, NULL);

    fwd_context *c = NULL;
    st = fwd_context_create(e, &c);
    tu_expect(st, FWD_OK, "context", NULL, NULL, NULL);
    if (st) {
        fwd_engine_free(e);
        return;
    }
    for (int64_t b = 1; b <= 8; b++) expect_runs(c, b, "inside the profile");

    fwd_tensor out;
    const int64_t b9[] = {9, 1, 8, 8}, b0[] = {0, 1, 8, 8}, h9[] = {1, 1, 9, 8}, c2[] = {1, 2, 8, 8};
    tu_expect(run(c, FWD_FLOAT32, 4, b9, &out), FWD_ERR_SHAPE, "batch 9 above the profile", "'image'",
           "dimension 0 is 9", "1..8");
    tu_expect(run(c, FWD_FLOAT32, 4, b0, &out), FWD_ERR_SHAPE, "batch 0 below the profile", "'image'",
           "dimension 0 is 0", "1..8");
    tu_expect(run(c, FWD_FLOAT32, 4, h9, &out), FWD_ERR_SHAPE, "height 9 where the model fixes 8", "'image'",
           "dimension 2", NULL);
    tu_expect(run(c, FWD_FLOAT32, 4, c2, &out), FWD_ERR_SHAPE, "2 channels where the model fixes 1", "'image'",
           "dimension 1", NULL);
    const int64_t r3[] = {1, 8, 8}, r5[] = {1, 1, 1, 8, 8};
    tu_expect(run(c, FWD_FLOAT32, 3, r3, &out), FWD_ERR_SHAPE, "rank 3 for a rank-4 input", "'image'", "rank 3",
           NULL);
    tu_expect(run(c, FWD_FLOAT32, 5, r5, &out), FWD_ERR_SHAPE, "rank 5 for a rank-4 input", "'image'", "rank 5",
           NULL);
    const int64_t one[] = {1, 1, 8, 8};
    tu_expect(run(c, FWD_FLOAT64, 4, one, &out), FWD_ERR_DTYPE, "float64 for a float32 input", "'image'", "float64",
           "float32");
    tu_expect(run(c, FWD_INT64, 4, one, &out), FWD_ERR_DTYPE, "int64 for a float32 input", "'image'", "int64",
           "float32");
    tu_expect(run(c, FWD_FLOAT16, 4, one, &out), FWD_ERR_DTYPE, "float16 for a float32 input", "'image'", "float16",
           "float32");
    /* Errors leave the context usable, at any shape of the profile. */
    expect_runs(c, 8, "after the errors");
    expect_runs(c, 1, "after the errors");
    fwd_context_free(c);
    fwd_engine_free(e);
}

static void test_batch_setting(void)
{
    fwd_builder *b = NULL;
    fwd_builder_create(&b);
    tu_expect(fwd_builder_set_batch(b, 4, 2), FWD_ERR_INVALID_ARGUMENT, "set_batch opt 4 > max 2", NULL, NULL, NULL);
    tu_expect(fwd_builder_set_batch(b, 0, 4), FWD_ERR_INVALID_ARGUMENT, "set_batch opt 0", NULL, NULL, NULL);
    tu_expect(fwd_builder_set_batch(NULL, 1, 4), FWD_ERR_INVALID_ARGUMENT, "set_batch on NULL", NULL, NULL, NULL);
    fwd_builder_free(b);

    fwd_engine *e;
    fwd_status st = build(NULL, NULL, NULL, 2, 4, &e);
    tu_expect(st, FWD_OK, "build with batch 2,4", NULL, NULL, NULL);
    if (st) return;
    int64_t pmin[FWD_MAX_DIMS], popt[FWD_MAX_DIMS], pmax[FWD_MAX_DIMS];
    st = fwd_engine_input_profile(e, 0, pmin, popt, pmax);
    tu_check(st == FWD_OK && pmin[0] == 1 && popt[0] == 2 && pmax[0] == 4 && pmin[2] == 8 && pmax[2] == 8,
          "batch 2,4 gives image profile [1..4 opt 2, 1, 8, 8]: %s", st ? fwd_last_error() : "ok");
    fwd_context *c = NULL;
    if (fwd_context_create(e, &c) == FWD_OK) {
        expect_runs(c, 1, "batch profile");
        expect_runs(c, 4, "batch profile");
        fwd_tensor out;
        const int64_t b5[] = {5, 1, 8, 8};
        tu_expect(run(c, FWD_FLOAT32, 4, b5, &out), FWD_ERR_SHAPE, "batch 5 above set_batch's max 4", "'image'",
               "1..4", NULL);
    }
    fwd_context_free(c);
    fwd_engine_free(e);

    /* A profile set with set_shape takes precedence over set_batch. */
    const int64_t min[] = {1, 1, 8, 8}, opt[] = {3, 1, 8, 8}, max[] = {8, 1, 8, 8};
    st = build(min, opt, max, 2, 4, &e);
    tu_expect(st, FWD_OK, "build with batch 2,4 and image 1..8", NULL, NULL, NULL);
    if (st) return;
    c = NULL;
    if (fwd_context_create(e, &c) == FWD_OK) expect_runs(c, 8, "set_shape over set_batch");
    fwd_context_free(c);
    fwd_engine_free(e);
}

static void test_no_profile(void)
{
    /* No profile: the symbolic batch takes any size. */
    fwd_engine *e;
    fwd_status st = build(NULL, NULL, NULL, 0, 0, &e);
    tu_expect(st, FWD_OK, "build without a profile", NULL, NULL, NULL);
    if (st) return;
    fwd_context *c = NULL;
    if (fwd_context_create(e, &c) == FWD_OK) {
        expect_runs(c, 1, "no profile");
        expect_runs(c, 3, "no profile");
        expect_runs(c, 16, "no profile");
    }
    fwd_context_free(c);
    fwd_engine_free(e);
}

/* A saved engine keeps its profile: loaded, it runs inside and refuses
 * outside it with the same message. */
static void test_saved_engine(void)
{
    const int64_t min[] = {2, 1, 8, 8}, opt[] = {4, 1, 8, 8}, max[] = {6, 1, 8, 8};
    fwd_engine *e, *loaded = NULL;
    fwd_status st = build(min, opt, max, 0, 0, &e);
    tu_expect(st, FWD_OK, "build with image 2..6", NULL, NULL, NULL);
    if (st) return;
    char path[256];
    snprintf(path, sizeof path, "/tmp/fwd_test_profiles_%ld.fwd", (long)getpid());
    st = fwd_engine_save(e, path);
    tu_expect(st, FWD_OK, "save the engine", NULL, NULL, NULL);
    fwd_engine_free(e);
    if (st) return;
    st = fwd_engine_load(path, &loaded);
    tu_expect(st, FWD_OK, "load the engine", NULL, NULL, NULL);
    remove(path);
    if (st) return;
    int64_t pmin[FWD_MAX_DIMS], popt[FWD_MAX_DIMS], pmax[FWD_MAX_DIMS];
    st = fwd_engine_input_profile(loaded, 0, pmin, popt, pmax);
    tu_check(st == FWD_OK && memcmp(pmin, min, sizeof min) == 0 && memcmp(popt, opt, sizeof opt) == 0 &&
              memcmp(pmax, max, sizeof max) == 0,
          "loaded engine keeps the profile [2..6 opt 4, 1, 8, 8]: %s", st ? fwd_last_error() : "ok");
    fwd_context *c = NULL;
    if (fwd_context_create(loaded, &c) == FWD_OK) {
        expect_runs(c, 2, "loaded engine");
        expect_runs(c, 6, "loaded engine");
        fwd_tensor out;
        const int64_t b1[] = {1, 1, 8, 8}, b7[] = {7, 1, 8, 8};
        tu_expect(run(c, FWD_FLOAT32, 4, b1, &out), FWD_ERR_SHAPE, "loaded engine: batch 1 below 2..6", "'image'",
               "dimension 0 is 1", "2..6");
        tu_expect(run(c, FWD_FLOAT32, 4, b7, &out), FWD_ERR_SHAPE, "loaded engine: batch 7 above 2..6", "'image'",
               "dimension 0 is 7", "2..6");
        tu_expect(run(c, FWD_INT32, 4, b1, &out), FWD_ERR_DTYPE, "loaded engine: int32 for float32", "'image'",
               "int32", "float32");
    }
    fwd_context_free(c);
    fwd_engine_free(loaded);
}

/* A bad profile fails in set_shape or at the latest in the build. */
static void expect_bad_profile(const char *input, int rank, const int64_t *min, const int64_t *opt,
                               const int64_t *max, const char *what, const char *needle)
{
    fwd_model *m = load();
    if (!m) return;
    fwd_builder *b = NULL;
    fwd_engine *e = NULL;
    fwd_builder_create(&b);
    fwd_status st = fwd_builder_set_shape(b, input, rank, min, opt, max);
    if (st == FWD_OK) st = fwd_builder_build(b, m, &e);
    tu_expect(st, FWD_ERR_INVALID_ARGUMENT, what, needle, NULL, NULL);
    fwd_engine_free(e);
    fwd_builder_free(b);
    fwd_model_free(m);
}

static void test_bad_profiles(void)
{
    /* FWD_MAX_DIMS entries each: the wrong-rank cases read past 4. */
    const int64_t min[FWD_MAX_DIMS] = {1, 1, 8, 8, 8}, opt[FWD_MAX_DIMS] = {4, 1, 8, 8, 8},
                  max[FWD_MAX_DIMS] = {8, 1, 8, 8, 8};
    const int64_t big[] = {9, 1, 8, 8}, neg[] = {-1, 1, 8, 8};
    expect_bad_profile("image", 4, big, opt, max, "min > opt", "'image'");
    expect_bad_profile("image", 4, min, big, max, "opt > max", "'image'");
    expect_bad_profile("image", 4, neg, opt, max, "negative min", "'image'");
    expect_bad_profile("image", 3, min, opt, max, "rank 3 for a rank-4 input", "'image'");
    expect_bad_profile("image", 5, min, opt, max, "rank 5 for a rank-4 input", "'image'");
    expect_bad_profile("image", FWD_MAX_DIMS + 1, min, opt, max, "rank above FWD_MAX_DIMS", "'image'");
    const int64_t c1[] = {1, 1, 8, 8}, c2[] = {1, 2, 8, 8}, h16[] = {8, 1, 16, 8};
    expect_bad_profile("image", 4, c1, c1, c2, "channels 1..2 where the model fixes 1", "'image'");
    expect_bad_profile("image", 4, min, opt, h16, "height up to 16 where the model fixes 8", "'image'");
    expect_bad_profile("nope", 4, min, opt, max, "unknown input name", "'nope'");

    fwd_builder *b = NULL;
    fwd_builder_create(&b);
    tu_expect(fwd_builder_set_shape(b, NULL, 4, min, opt, max), FWD_ERR_INVALID_ARGUMENT, "NULL input name", NULL,
           NULL, NULL);
    tu_expect(fwd_builder_set_shape(b, "image", 4, NULL, opt, max), FWD_ERR_INVALID_ARGUMENT, "NULL min", NULL,
           NULL, NULL);
    tu_expect(fwd_builder_set_shape(NULL, "image", 4, min, opt, max), FWD_ERR_INVALID_ARGUMENT, "NULL builder", NULL,
           NULL, NULL);
    fwd_builder_free(b);
}

int main(int argc, char **argv)
{
    snprintf(model_path, sizeof model_path, "%s/examples/digits/digits.onnx",
             argc > 1 ? argv[1] : FWD_TESTS_DIR "/..");
    for (int i = 0; i < (int)(sizeof image / sizeof image[0]); i++) image[i] = (float)(i % 17) / 17.0f;
    test_inside_and_outside();
    test_batch_setting();
    test_no_profile();
    test_saved_engine();
    test_bad_profiles();
    return tu_summary();
}

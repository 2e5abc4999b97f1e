/*
 * Engine files through the public API: round trips (build, save, load, run
 * both engines, outputs identical bit for bit, saving the loaded engine
 * gives the same bytes) and corrupted files (truncations, byte flips, bad
 * headers: an error every time, never a crash).
 *
 *   test_engine_file [-v] [--bench MODEL.onnx] [--flips N] [MODEL.onnx ...]
 *
 * Without models it takes examples/digits/digits.onnx, the .onnx files of
 * tests/models and tests/passes, a few node-test models with subgraphs and,
 * when that cache exists, tests/zoo/models/NAME/model.onnx. Each is built
 * at optimization levels 1 and 0 (zoo models: 1 only); the small ones also
 * in float16 mode and with a batch profile. With -v it also builds the
 * ResNet-50 of the CPU benchmark (or --bench MODEL) and prints the median
 * load time of its engine over 20 loads. --flips sets the number of random
 * byte flips on small engines (3000).
 *
 * The file layout used for the corruption cases (header offsets, section
 * table, checksum) is the documented format of src/engine/engine_file.h and
 * src/util/hash.h, implemented here again from that description.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fwd.h"
#include "engine_format.h"
#include "model_list.h"
#include "test_util.h"

#ifndef FWD_TESTS_DIR
#define FWD_TESTS_DIR "tests"
#endif
#define NODE_DIR "/usr/share/libonnx-testdata/data/node"

static int n_pass, n_fail;
static bool verbose;
static int n_flips_small = 3000; /* --flips N */
static char tmpdir[256];

static void check(bool ok, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void check(bool ok, const char *name, const char *fmt, ...)
{
    if (ok) {
        n_pass++;
        if (verbose) printf("PASS %s\n", name);
        return;
    }
    n_fail++;
    printf("FAIL %s: ", name);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

/* ---- file helpers ---- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- inputs ---- */

/* Fill t (dtype, rank, dims set) with fixed pseudo-random data. */
static bool random_tensor(fwd_tensor *t)
{
    size_t esz = fwd_dtype_size(t->dtype);
    int64_t n = fwd_tensor_numel(t);
    if (esz == 0 || n < 0) return false;
    t->size = (size_t)n * esz;
    t->data = malloc(t->size ? t->size : 1);
    if (!t->data) return false;
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = tu_bits();
        double u = (double)(r >> 11) / 9007199254740992.0 * 2.0 - 1.0;
        unsigned char *p = (unsigned char *)t->data + (size_t)i * esz;
        switch (t->dtype) {
        case FWD_FLOAT32: { float v = (float)u; memcpy(p, &v, 4); break; }
        case FWD_FLOAT64: memcpy(p, &u, 8); break;
        case FWD_FLOAT16: case FWD_BFLOAT16: {
            uint16_t v = t->dtype == FWD_FLOAT16 ? (uint16_t)(0x3C00 | (r & 0x3FF)) : (uint16_t)(0x3F80 | (r & 0x7F));
            memcpy(p, &v, 2);
            break;
        }
        case FWD_BOOL: p[0] = (unsigned char)(r & 1); break;
        default: { /* integers: small non-negative values, valid as indices */
            uint64_t v = r % 3;
            memcpy(p, &v, esz);
            break;
        }
        }
    }
    return true;
}

/* The inputs of engine e: from test_data_set_0 or in/NAME.npy beside the
 * model when present, else random at the profile's opt shape. */
static bool make_inputs(const fwd_engine *e, const char *model_path, fwd_tensor *ins, int n_in)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", model_path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0'; else strcpy(dir, ".");
    for (int i = 0; i < n_in; i++) {
        fwd_tensor_info info;
        if (fwd_engine_input(e, i, &info) != FWD_OK) return false;
        memset(&ins[i], 0, sizeof ins[i]);
        char path[1200];
        snprintf(path, sizeof path, "%s/test_data_set_0/input_%d.pb", dir, i);
        if (!tu_exists(path)) snprintf(path, sizeof path, "%s/in/%s.npy", dir, info.name);
        if (tu_exists(path) && fwd_tensor_read_file(path, &ins[i]) == FWD_OK) {
            /* keep the name alive as the engine's */
            free((void *)ins[i].name);
            ins[i].name = info.name;
            continue;
        }
        ins[i].name = info.name;
        ins[i].dtype = info.dtype;
        int64_t mn[FWD_MAX_DIMS], opt[FWD_MAX_DIMS], mx[FWD_MAX_DIMS];
        bool prof = info.rank >= 0 && fwd_engine_input_profile(e, i, mn, opt, mx) == FWD_OK;
        ins[i].rank = info.rank < 0 ? 1 : info.rank;
        for (int d = 0; d < ins[i].rank; d++) {
            int64_t v = info.rank < 0 ? 1 : info.dims[d];
            if (prof) v = opt[d];
            ins[i].dims[d] = v < 0 ? 1 : v;
        }
        if (!random_tensor(&ins[i])) return false;
    }
    return true;
}

static void free_inputs(fwd_tensor *ins, int n)
{
    for (int i = 0; i < n; i++) {
        ins[i].name = NULL;
        free(ins[i].data);
        ins[i].data = NULL;
    }
}

/* Run e on inputs; outputs point into the context (kept alive by *ctx). */
static fwd_status run_engine(const fwd_engine *e, const fwd_tensor *ins, int n_in, fwd_tensor *outs,
                             int n_out, fwd_context **ctx)
{
    fwd_status st = fwd_context_create(e, ctx);
    if (st) return st;
    for (int i = 0; i < n_out; i++) {
        fwd_tensor_info info;
        memset(&outs[i], 0, sizeof outs[i]);
        if ((st = fwd_engine_output(e, i, &info))) return st;
        outs[i].name = info.name;
    }
    return fwd_context_run(*ctx, ins, n_in, outs, n_out);
}

/* ---- round trip ---- */

static bool same_files(const char *a, const char *b)
{
    size_t na, nb;
    unsigned char *pa = tu_read_file(a, &na), *pb = tu_read_file(b, &nb);
    bool same = pa && pb && na == nb && memcmp(pa, pb, na) == 0;
    free(pa);
    free(pb);
    return same;
}

/* Build, save, load, run both; save the loaded engine and compare bytes.
 * The saved file stays at saved (for the corruption cases). */
static void round_trip(const char *model_path, int level, const char *mode, int64_t batch, const char *saved)
{
    char name[1200], again[512], tag[64];
    snprintf(tag, sizeof tag, "O%d%s%s", level, strcmp(mode, "float32") ? " " : "", strcmp(mode, "float32") ? mode : "");
    if (batch) snprintf(tag + strlen(tag), sizeof tag - strlen(tag), " batch %lld", (long long)batch);
    snprintf(name, sizeof name, "roundtrip[%s] %s", tag, model_path);
    snprintf(again, sizeof again, "%s/again.fwe", tmpdir);
    fwd_model *m = NULL;
    fwd_builder *b = NULL;
    fwd_engine *e1 = NULL, *e2 = NULL;
    fwd_context *c1 = NULL, *c2 = NULL;
    fwd_tensor ins[16], o1[16], o2[16];
    int n_in = 0, n_out = 0;
    if (fwd_model_load(model_path, &m) != FWD_OK) {
        printf("SKIP %s: model does not load: %s\n", name, fwd_last_error());
        return;
    }
    fwd_builder_create(&b);
    fwd_builder_set_optimization(b, level);
    if (batch) fwd_builder_set_batch(b, batch, 2 * batch);
    if (fwd_builder_set_mode(b, mode) != FWD_OK) {
        printf("SKIP %s: mode %s: %s\n", name, mode, fwd_last_error());
        goto done;
    }
    if (fwd_builder_build(b, m, &e1) != FWD_OK) {
        printf("SKIP %s: engine does not build: %s\n", name, fwd_last_error());
        goto done;
    }
    fwd_status st = fwd_engine_save(e1, saved);
    if (st) {
        check(false, name, "save: %s", fwd_last_error());
        goto done;
    }
    size_t fsize;
    unsigned char *bytes = tu_read_file(saved, &fsize);
    bool sum_ok = bytes && fsize >= 32 && get_u64(bytes + OFF_CHECKSUM) == file_checksum(bytes, fsize);
    free(bytes);
    char name_sum[1300];
    snprintf(name_sum, sizeof name_sum, "checksum[%s] %s", tag, model_path);
    check(sum_ok, name_sum, "the stored checksum differs from the documented hash of the file");
    st = fwd_engine_load(saved, &e2);
    if (st) {
        check(false, name, "load: %s", fwd_last_error());
        goto done;
    }
    fwd_engine_num_inputs(e1, &n_in);
    fwd_engine_num_outputs(e1, &n_out);
    if (n_in > 16 || n_out > 16) {
        printf("SKIP %s: too many inputs/outputs\n", name);
        goto done;
    }
    int n_in2 = -1, n_out2 = -1, l1 = -1, l2 = -2;
    fwd_engine_num_inputs(e2, &n_in2);
    fwd_engine_num_outputs(e2, &n_out2);
    fwd_engine_num_layers(e1, &l1);
    fwd_engine_num_layers(e2, &l2);
    if (n_in2 != n_in || n_out2 != n_out || l1 != l2) {
        check(false, name, "the loaded engine has %d inputs, %d outputs, %d layers; the built one %d, %d, %d", n_in2,
              n_out2, l2, n_in, n_out, l1);
        goto done;
    }
    for (int i = 0; i < l1; i++) {
        fwd_layer_info a, c;
        if (fwd_engine_layer(e1, i, &a) || fwd_engine_layer(e2, i, &c) || strcmp(a.op_type, c.op_type) ||
            strcmp(a.name, c.name) || strcmp(a.fused, c.fused)) {
            check(false, name, "layer %d differs after loading", i);
            goto done;
        }
    }
    fwd_engine_summary s1, s2;
    if (fwd_engine_summarize(e1, &s1) || fwd_engine_summarize(e2, &s2) || strcmp(s1.mode, s2.mode) ||
        strcmp(s1.device, s2.device) || s1.num_layers != s2.num_layers || s1.num_fused != s2.num_fused ||
        s1.weight_bytes != s2.weight_bytes || s1.activation_bytes != s2.activation_bytes ||
        s1.unplanned_bytes != s2.unplanned_bytes) {
        check(false, name, "the summaries differ (mode %s/%s, weights %zu/%zu, arena %zu/%zu)", s1.mode, s2.mode,
              s1.weight_bytes, s2.weight_bytes, s1.activation_bytes, s2.activation_bytes);
        goto done;
    }
    for (int i = 0; i < n_in; i++) {
        int64_t p1[3][FWD_MAX_DIMS], p2[3][FWD_MAX_DIMS];
        memset(p1, 0, sizeof p1);
        memset(p2, 0, sizeof p2);
        fwd_status a = fwd_engine_input_profile(e1, i, p1[0], p1[1], p1[2]);
        fwd_status c = fwd_engine_input_profile(e2, i, p2[0], p2[1], p2[2]);
        if (a != c || memcmp(p1, p2, sizeof p1)) {
            check(false, name, "the profile of input %d differs after loading", i);
            goto done;
        }
    }
    if (!make_inputs(e1, model_path, ins, n_in)) {
        check(false, name, "cannot make inputs");
        free_inputs(ins, n_in);
        goto done;
    }
    fwd_status r1 = run_engine(e1, ins, n_in, o1, n_out, &c1);
    char err1[512];
    snprintf(err1, sizeof err1, "%s", fwd_last_error());
    fwd_status r2 = run_engine(e2, ins, n_in, o2, n_out, &c2);
    free_inputs(ins, n_in);
    if (r1 || r2) {
        check(r1 == r2, name, "runs differ: built %s (%s), loaded %s (%s)", fwd_status_name(r1), err1,
              fwd_status_name(r2), fwd_last_error());
        if (verbose && r1 == r2) printf("     both engines fail alike on the test inputs: %s\n", err1);
    } else {
        bool same = true;
        for (int i = 0; i < n_out && same; i++) {
            same = o1[i].dtype == o2[i].dtype && o1[i].rank == o2[i].rank && o1[i].size == o2[i].size &&
                   memcmp(o1[i].dims, o2[i].dims, sizeof o1[i].dims) == 0 &&
                   (o1[i].size == 0 || memcmp(o1[i].data, o2[i].data, o1[i].size) == 0);
            if (!same) check(false, name, "output '%s' differs between the built and the loaded engine", o1[i].name);
        }
        if (same) {
            size_t bytes = 0;
            for (int i = 0; i < n_out; i++) bytes += o1[i].size;
            check(true, name, "%s", "");
            if (verbose) printf("     %d outputs, %zu bytes identical\n", n_out, bytes);
        }
    }
    char name2[1300];
    snprintf(name2, sizeof name2, "resave[%s] %s", tag, model_path);
    st = fwd_engine_save(e2, again);
    check(!st && same_files(saved, again), name2, "%s", st ? fwd_last_error() : "the bytes differ");
    remove(again);
done:
    fwd_context_free(c1);
    fwd_context_free(c2);
    fwd_engine_free(e1);
    fwd_engine_free(e2);
    fwd_builder_free(b);
    fwd_model_free(m);
}

/* ---- corruption ---- */

static fwd_status load_bytes(const unsigned char *p, size_t n)
{
    fwd_engine *e = NULL;
    fwd_status st = fwd_engine_load_memory(p, n, &e);
    if (st == FWD_OK && !e) return FWD_ERR_INTERNAL;
    fwd_engine_free(e);
    return st;
}

static void corrupt_header(const unsigned char *file, size_t size, const char *label)
{
    unsigned char *p = malloc(size);
    char name[600];
    struct {
        const char *what;
        size_t off;
        const char *bytes;
        size_t len;
        fwd_status want;
        const char *msg;
    } cases[] = {
        {"bad magic", 0, "FWDENGX", 8, FWD_ERR_PARSE, "magic"},
        {"newer version", OFF_VERSION, "\x07\0\0\0", 4, FWD_ERR_UNSUPPORTED, "version 7 is newer"},
        {"other device", OFF_DEVICE, "cuda\0", 5, FWD_ERR_UNSUPPORTED, "cuda"},
        {"other architecture", OFF_ARCH, "aarch64\0", 8, FWD_ERR_UNSUPPORTED, "aarch64"},
        {"missing ISA feature", OFF_ISA, "avx2,fma,f16c,warp9\0", 20, FWD_ERR_UNSUPPORTED, "warp9"},
        {"wrong checksum", OFF_CHECKSUM + 3, "\x5a", 1, FWD_ERR_PARSE, "checksum mismatch"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        memcpy(p, file, size);
        if (cases[c].off == OFF_CHECKSUM + 3) p[cases[c].off] ^= 0x5a;
        else memcpy(p + cases[c].off, cases[c].bytes, cases[c].len);
        fwd_status st = load_bytes(p, size);
        snprintf(name, sizeof name, "%s %s", cases[c].what, label);
        check(st == cases[c].want && strstr(fwd_last_error(), cases[c].msg), name, "got %s: %s (wanted %s, '%s')",
              fwd_status_name(st), fwd_last_error(), fwd_status_name(cases[c].want), cases[c].msg);
        if (verbose) printf("     %s\n", fwd_last_error());
    }
    free(p);
}

static void truncations(const unsigned char *file, size_t size, bool every_byte, const char *label)
{
    char name[600];
    snprintf(name, sizeof name, "truncations%s %s", every_byte ? " (every byte)" : " (section boundaries)", label);
    int bad = 0, tried = 0;
    size_t worst = 0;
    fwd_status worst_st = FWD_OK;
    uint32_t n_sec = get_u32(file + OFF_N_SECTIONS);
    size_t cuts[3 * 64 + 8];
    int n_cuts = 0;
    cuts[n_cuts++] = 0;
    cuts[n_cuts++] = 7;
    cuts[n_cuts++] = FIXED_HEADER - 1;
    cuts[n_cuts++] = FIXED_HEADER + SECTION_ENTRY * n_sec - 1;
    for (uint32_t s = 0; s < n_sec && s < 64; s++) {
        const unsigned char *ent = file + FIXED_HEADER + SECTION_ENTRY * s;
        uint64_t off = get_u64(ent + 8), sz = get_u64(ent + 16);
        cuts[n_cuts++] = (size_t)off;
        cuts[n_cuts++] = (size_t)(off + sz / 2);
        if (off + sz > 0) cuts[n_cuts++] = (size_t)(off + sz - 1);
    }
    size_t total = every_byte ? size : (size_t)n_cuts;
    for (size_t i = 0; i < total; i++) {
        size_t cut = every_byte ? i : cuts[i];
        if (cut >= size) continue;
        fwd_status st = load_bytes(file, cut ? cut : 1);
        tried++;
        if (st == FWD_OK) {
            bad++;
            worst = cut;
            worst_st = st;
        }
    }
    check(bad == 0, name, "%d of %d truncated files loaded (e.g. at %zu bytes: %s)", bad, tried, worst,
          fwd_status_name(worst_st));
}

/* Random byte flips: with the stored checksum every one must fail; with a
 * recomputed checksum (structure fuzzing) none may crash. */
static void flips(const unsigned char *file, size_t size, int count, bool fix_sum, const char *label)
{
    char name[600];
    snprintf(name, sizeof name, "%d byte flips%s %s", count, fix_sum ? " with fixed checksum" : "", label);
    unsigned char *p = malloc(size);
    uint64_t weights_off = weights_offset(file, size);
    /* structure fuzzing aims at the bytes before the weights */
    size_t span = fix_sum ? (size_t)weights_off : size;
    int loaded = 0;
    fwd_engine *intact = NULL;
    fwd_tensor ins[8];
    int n_in = 0;
    bool have_inputs = false;
    /* Only small engines run: a flipped pad or stride of a real model may
     * legitimately ask for minutes of work. */
    bool run = fix_sum && size <= 64 * 1024;
    if (run && fwd_engine_load_memory(file, size, &intact) == FWD_OK) {
        fwd_engine_num_inputs(intact, &n_in);
        have_inputs = n_in <= 8 && make_inputs(intact, "", ins, n_in);
    }
    tu_bits_state = 12345;
    for (int i = 0; i < count; i++) {
        memcpy(p, file, size);
        size_t at = (size_t)(tu_bits() % span);
        if (fix_sum && at >= OFF_CHECKSUM && at < OFF_CHECKSUM + 8) at += 8;
        unsigned char x = (unsigned char)(1 + tu_bits() % 255);
        p[at] ^= x;
        if (fix_sum) fix_checksum(p, size);
        if (!fix_sum) {
            if (load_bytes(p, size) == FWD_OK) loaded++;
            continue;
        }
        /* an engine that loads must also run (on the intact engine's
         * inputs), or fail cleanly */
        fwd_engine *e = NULL;
        if (fwd_engine_load_memory(p, size, &e) != FWD_OK) continue;
        loaded++;
        fwd_context *c = NULL;
        fwd_tensor outs[8];
        int n_out = 0;
        fwd_engine_num_outputs(e, &n_out);
        if (have_inputs && n_out <= 8) run_engine(e, ins, n_in, outs, n_out, &c);
        fwd_context_free(c);
        fwd_engine_free(e);
    }
    if (have_inputs) free_inputs(ins, n_in);
    fwd_engine_free(intact);
    if (fix_sum) {
        check(true, name, "%s", "");
        if (verbose) printf("     %d of %d loaded%s without a crash (flips in names and values)\n", loaded, count,
                   run ? " and ran" : "");
    } else {
        check(loaded == 0, name, "%d of %d corrupted files loaded", loaded, count);
    }
    free(p);
}

static void corruption_tests(const char *path)
{
    size_t size;
    unsigned char *file = tu_read_file(path, &size);
    if (!file || size < FIXED_HEADER) {
        check(false, "corruption", "cannot read %s", path);
        free(file);
        return;
    }
    const char *label = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    /* every case copies the whole engine: fewer cases for big ones */
    corrupt_header(file, size, label);
    if (size <= 16 * 1024 * 1024) truncations(file, size, false, label);
    if (size <= 64 * 1024) truncations(file, size, true, label);
    int n_flips = size <= 1024 * 1024 ? n_flips_small : size <= 16 * 1024 * 1024 ? 300 : 0;
    if (n_flips) {
        flips(file, size, n_flips, false, label);
        flips(file, size, n_flips, true, label);
    }
    /* a file that grew */
    unsigned char *big = malloc(size + 64);
    memcpy(big, file, size);
    memset(big + size, 0, 64);
    fwd_status st = load_bytes(big, size + 64);
    check(st == FWD_ERR_PARSE, "trailing bytes", "got %s: %s", fwd_status_name(st), fwd_last_error());
    free(big);
    free(file);
}

static void api_errors(const char *engine_path)
{
    fwd_engine *e = NULL;
    fwd_status st = fwd_engine_load("/nonexistent/dir/x.fwe", &e);
    check(st == FWD_ERR_IO && strstr(fwd_last_error(), "/nonexistent/dir/x.fwe"), "load missing file", "got %s: %s",
          fwd_status_name(st), fwd_last_error());
    st = fwd_engine_load(tmpdir, &e);
    check(st != FWD_OK, "load a directory", "got %s", fwd_status_name(st));
    if (fwd_engine_load(engine_path, &e) != FWD_OK) {
        check(false, "load for save errors", "%s", fwd_last_error());
        return;
    }
    st = fwd_engine_save(e, "/nonexistent/dir/y.fwe");
    check(st == FWD_ERR_IO && strstr(fwd_last_error(), "/nonexistent/dir/y.fwe"), "save to a missing directory",
          "got %s: %s", fwd_status_name(st), fwd_last_error());
    fwd_engine_free(e);
    st = fwd_engine_load_memory("FWDENGN", 3, &e);
    check(st == FWD_ERR_PARSE, "load 3 bytes", "got %s", fwd_status_name(st));
}

/* ---- load time ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void load_time(const char *model_path)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bench.fwe", tmpdir);
    fwd_model *m = NULL;
    fwd_builder *b = NULL;
    fwd_engine *e = NULL;
    if (fwd_model_load(model_path, &m) || fwd_builder_create(&b) || fwd_builder_build(b, m, &e) ||
        fwd_engine_save(e, path)) {
        check(false, "load time", "%s: %s", model_path, fwd_last_error());
        goto done;
    }
    fwd_engine_free(e);
    e = NULL;
    double t[20];
    fwd_status st = FWD_OK;
    for (int i = 0; i < 21 && !st; i++) { /* the first one warms the file cache */
        double t0 = now_ms();
        st = fwd_engine_load(path, &e);
        double t1 = now_ms();
        if (i) t[i - 1] = t1 - t0;
        fwd_engine_free(e);
        e = NULL;
    }
    struct stat sb;
    stat(path, &sb);
    if (st) {
        check(false, "load time", "%s", fwd_last_error());
    } else {
        qsort(t, 20, sizeof *t, cmp_double);
        printf("load time of the engine of %s (%.1f MB): median %.1f ms over 20 loads (min %.1f, max %.1f; "
               "target <= 50 ms)\n",
               model_path, sb.st_size / 1e6, (t[9] + t[10]) / 2, t[0], t[19]);
        check(true, "load time", "%s", "");
    }
    remove(path);
done:
    fwd_engine_free(e);
    fwd_builder_free(b);
    fwd_model_free(m);
}

/* ---- model lists ---- */

static void default_models(tu_list *l)
{
    tu_list_add(l, FWD_TESTS_DIR "/../examples/digits/digits.onnx");
    tu_list_add_dir(l, FWD_TESTS_DIR "/models", ".onnx", NULL);
    tu_list_add_dir(l, FWD_TESTS_DIR "/passes", ".onnx", NULL);
    static const char *const node_tests[] = {"test_if", "test_loop11", "test_scan9_sum", "test_scan_sum",
                                             "test_range_float_type_positive_delta_expanded"};
    for (size_t i = 0; i < sizeof node_tests / sizeof *node_tests; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s/model.onnx", NODE_DIR, node_tests[i]);
        if (tu_exists(path)) tu_list_add(l, path);
    }
    tu_list_add_dir(l, FWD_TESTS_DIR "/zoo/models", NULL, "model.onnx");
}

/* The benchmark's ResNet-50 export: bench_models/resnet50.onnx in one of
 * the repository's build directories. */
static bool find_resnet50(char *out, size_t cap)
{
    DIR *d = opendir(FWD_TESTS_DIR "/..");
    if (!d) return false;
    struct dirent *de;
    bool found = false;
    while (!found && (de = readdir(d))) {
        if (strncmp(de->d_name, "build", 5) != 0) continue;
        snprintf(out, cap, "%s/../%s/bench_models/resnet50.onnx", FWD_TESTS_DIR, de->d_name);
        found = tu_exists(out);
    }
    closedir(d);
    return found;
}

int main(int argc, char **argv)
{
    tu_list models = {0};
    const char *bench = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v")) verbose = true;
        else if (!strcmp(argv[i], "--bench") && i + 1 < argc) bench = argv[++i];
        else if (!strcmp(argv[i], "--flips") && i + 1 < argc) n_flips_small = atoi(argv[++i]);
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: %s [-v] [--bench MODEL.onnx] [--flips N] [MODEL.onnx ...]\n", argv[0]);
            return 2;
        } else tu_list_add(&models, argv[i]);
    }
    if (!models.n) default_models(&models);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fwd_efile_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    char small[512] = "", path[512];
    size_t small_size = SIZE_MAX;
    bool small_is_loop = false;
    for (int i = 0; i < models.n; i++) {
        for (int level = 1; level >= 0; level--) {
            bool zoo = strstr(models.items[i], "/zoo/") != NULL;
            if (level == 0 && zoo) continue; /* O0 of big models adds little */
            snprintf(path, sizeof path, "%s/m%d_O%d.fwe", tmpdir, i, level);
            round_trip(models.items[i], level, "float32", 0, path);
            struct stat sb;
            if (stat(path, &sb) != 0) continue;
            /* the corruption cases use the engine of test_loop11 (it has
             * a subgraph), else the smallest engine */
            bool loop = strstr(models.items[i], "test_loop11") != NULL;
            if (level == 1 && (loop || (!small_is_loop && (size_t)sb.st_size < small_size))) {
                snprintf(small, sizeof small, "%s/small.fwe", tmpdir);
                rename(path, small);
                small_size = (size_t)sb.st_size;
                small_is_loop = loop;
                if (verbose) printf("     corruption cases use the engine of %s\n", models.items[i]);
            } else {
                if (level == 1 && sb.st_size < 16 * 1024 * 1024) {
                    size_t size;
                    unsigned char *file = tu_read_file(path, &size);
                    if (file) truncations(file, size, false, models.items[i]);
                    free(file);
                }
                remove(path);
            }
        }
    }
    /* float16 engines (converted weights, Casts) of the small models */
    for (int i = 0; i < models.n; i++) {
        if (strstr(models.items[i], "/zoo/")) continue;
        snprintf(path, sizeof path, "%s/m%d_f16.fwe", tmpdir, i);
        round_trip(models.items[i], 1, "float16", 0, path);
        remove(path);
        /* a batch profile: planned for batch 6, run at 3 */
        if (strstr(models.items[i], "/node/")) continue;
        round_trip(models.items[i], 1, "float32", 3, path);
        remove(path);
    }
    if (small[0]) {
        corruption_tests(small);
        api_errors(small);
        remove(small);
    } else {
        check(false, "corruption", "no engine was saved");
    }
    char r50[1024];
    if (bench) load_time(bench);
    else if (verbose && find_resnet50(r50, sizeof r50)) load_time(r50);
    else if (verbose) printf("SKIP load time: no resnet50.onnx under build*/bench_models (see bench/cpu/bench_cpu.py)\n");
    rmdir(tmpdir);
    tu_list_free(&models);
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}

/* fwd CLI: option parsing, loading and building shared by the commands. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fwd_cli.h"

void cli_build_opts_init(cli_build_opts *o)
{
    memset(o, 0, sizeof *o);
    o->opt_level = -1;
    o->workspace_mb = -1;
}

void cli_build_opts_free(cli_build_opts *o)
{
    for (int i = 0; i < o->n_shapes; i++) free(o->shapes[i].name);
    o->n_shapes = 0;
}

void cli_arg_split(int argc, char **argv, int i, cli_arg *out)
{
    const char *a = argv[i];
    const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
    if (eq && (size_t)(eq - a) < sizeof out->key) {
        memcpy(out->key, a, (size_t)(eq - a));
        out->key[eq - a] = '\0';
        out->val = eq + 1;
        out->inline_val = true;
    } else {
        snprintf(out->key, sizeof out->key, "%s", a);
        out->val = i + 1 < argc ? argv[i + 1] : NULL;
        out->inline_val = false;
    }
}

void cli_arg_used(const cli_arg *a, int *i)
{
    if (!a->inline_val) (*i)++;
}

int cli_next_arg(const char *cmd, const char *noun, int argc, char **argv, int *i, const char **path,
                 cli_build_opts *o, cli_arg *arg)
{
    const char *a = argv[*i];
    if (a[0] != '-') {
        if (*path) {
            fprintf(stderr, "fwd %s: unexpected argument '%s' (the %s is '%s')\n", cmd, a, noun, *path);
            return CLI_ARG_ERROR;
        }
        *path = a;
        return CLI_ARG_DONE;
    }
    cli_arg_split(argc, argv, *i, arg);
    int r = cli_parse_build_option(cmd, arg->key, arg->val, o);
    if (r < 0) return CLI_ARG_ERROR;
    if (r == 1) cli_arg_used(arg, i);
    return r ? CLI_ARG_DONE : CLI_ARG_OPTION;
}

bool cli_parse_dims(const char *s, int64_t *dims, int *rank)
{
    int r = 0;
    const char *p = s;
    if (!*p) return false;
    for (;;) {
        if (*p < '0' || *p > '9') return false;
        errno = 0;
        char *end;
        long long d = strtoll(p, &end, 10);
        if (errno || d < 0 || r == FWD_MAX_DIMS) return false;
        dims[r++] = d;
        p = end;
        if (!*p) break;
        if (*p != 'x' && *p != 'X') return false;
        p++;
    }
    *rank = r;
    return true;
}

bool cli_parse_shape(const char *cmd, const char *v, cli_shape *out)
{
    memset(out, 0, sizeof *out);
    /* The last ':' splits: names such as "input:0" keep their colons. */
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v) {
        fprintf(stderr, "fwd %s: --shape wants NAME:AxB or NAME:MIN,OPT,MAX (e.g. image:1x3x224x224), got '%s'\n",
                cmd, v);
        return false;
    }
    const char *spec = colon + 1;
    char part[3][256];
    int n = 0;
    const char *p = spec;
    while (n < 3) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len >= sizeof part[0]) break;
        memcpy(part[n], p, len);
        part[n++][len] = '\0';
        if (!comma) { p = NULL; break; }
        p = comma + 1;
    }
    if (p != NULL || (n != 1 && n != 3)) {
        fprintf(stderr, "fwd %s: --shape '%s': give one shape AxB or three MIN,OPT,MAX\n", cmd, v);
        return false;
    }
    int64_t *dst[3] = {out->min, out->opt, out->max};
    static const char *const what[3] = {"MIN", "OPT", "MAX"};
    int ranks[3];
    for (int k = 0; k < n; k++) {
        if (!cli_parse_dims(part[k], dst[k], &ranks[k])) {
            fprintf(stderr, "fwd %s: --shape '%s': %s '%s' is not a shape like 1x3x224x224 (at most %d dims)\n",
                    cmd, v, n == 3 ? what[k] : "shape", part[k], FWD_MAX_DIMS);
            return false;
        }
    }
    if (n == 3 && (ranks[0] != ranks[1] || ranks[1] != ranks[2])) {
        fprintf(stderr, "fwd %s: --shape '%s': MIN, OPT and MAX have different ranks\n", cmd, v);
        return false;
    }
    out->rank = ranks[0];
    out->is_range = n == 3;
    if (n == 1) {
        memcpy(out->opt, out->min, sizeof out->min);
        memcpy(out->max, out->min, sizeof out->min);
    }
    out->name = strndup(v, (size_t)(colon - v));
    return out->name != NULL;
}

bool cli_parse_fill(const char *cmd, const char *v, cli_fill *out)
{
    /* NAME:LO:HI; the name may hold colons, so split at the last two. */
    const char *c2 = strrchr(v, ':');
    const char *c1 = NULL;
    for (const char *p = v; c2 && p < c2; p++)
        if (*p == ':') c1 = p;
    char *end1 = NULL, *end2 = NULL;
    if (c1 && c1 != v) {
        out->lo = strtod(c1 + 1, &end1);
        out->hi = strtod(c2 + 1, &end2);
    }
    if (!c1 || c1 == v || end1 != c2 || end1 == c1 + 1 || *end2 || end2 == c2 + 1 ||
        !(out->lo <= out->hi)) {
        fprintf(stderr, "fwd %s: --fill wants NAME:LO:HI with LO <= HI (e.g. input_ids:0:999), got '%s'\n", cmd,
                v);
        return false;
    }
    out->name = strndup(v, (size_t)(c1 - v));
    return out->name != NULL;
}

bool cli_parse_count(const char *cmd, const char *opt, const char *v, long min, long *out)
{
    char *end;
    errno = 0;
    long n = v ? strtol(v, &end, 10) : 0;
    if (!v || errno || *end || end == v || n < min) {
        fprintf(stderr, "fwd %s: %s wants an integer >= %ld, got '%s'\n", cmd, opt, min, v ? v : "");
        return false;
    }
    *out = n;
    return true;
}

int cli_parse_build_option(const char *cmd, const char *a, const char *v, cli_build_opts *o)
{
    bool takes_value = strcmp(a, "--mode") == 0 || strcmp(a, "--device") == 0 || strcmp(a, "--shape") == 0 ||
                       strcmp(a, "--batch") == 0 || strcmp(a, "--workspace") == 0 ||
                       strcmp(a, "--opt-level") == 0;
    if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
        o->verbose = true;
        return 2;
    }
    if (!takes_value) return 0;
    if (!v) {
        fprintf(stderr, "fwd %s: %s needs a value\n", cmd, a);
        return -1;
    }
    o->any_given = true;
    if (strcmp(a, "--mode") == 0) {
        o->mode = v; /* checked by the library when building */
    } else if (strcmp(a, "--device") == 0) {
        if (strcmp(v, "cpu") != 0) {
            fprintf(stderr, "fwd %s: --device '%s' is not supported (only cpu for now)\n", cmd, v);
            return -1;
        }
        o->device_given = true;
    } else if (strcmp(a, "--shape") == 0) {
        if (o->n_shapes == CLI_MAX_IO) {
            fprintf(stderr, "fwd %s: too many --shape options\n", cmd);
            return -1;
        }
        cli_shape s;
        if (!cli_parse_shape(cmd, v, &s)) return -1;
        for (int i = 0; i < o->n_shapes; i++)
            if (strcmp(o->shapes[i].name, s.name) == 0) {
                fprintf(stderr, "fwd %s: --shape given twice for input '%s'\n", cmd, s.name);
                free(s.name);
                return -1;
            }
        o->shapes[o->n_shapes++] = s;
    } else if (strcmp(a, "--batch") == 0) {
        long long opt = 0, max = 0;
        char tail;
        int n = sscanf(v, "%lld,%lld%c", &opt, &max, &tail);
        if (n == 1) max = opt;
        if ((n != 1 && n != 2) || opt < 1 || max < opt) {
            fprintf(stderr, "fwd %s: --batch wants OPT,MAX with 1 <= OPT <= MAX (e.g. 4,16), got '%s'\n", cmd, v);
            return -1;
        }
        o->batch_opt = opt;
        o->batch_max = max;
    } else if (strcmp(a, "--workspace") == 0) {
        char *end;
        double mb = strtod(v, &end);
        if (*end || end == v || !(mb >= 0) || mb > 1e9) {
            fprintf(stderr, "fwd %s: --workspace wants a size in MiB (0: no limit), got '%s'\n", cmd, v);
            return -1;
        }
        o->workspace_mb = mb;
    } else { /* --opt-level */
        if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
            fprintf(stderr, "fwd %s: --opt-level wants 0 or 1, got '%s'\n", cmd, v);
            return -1;
        }
        o->opt_level = v[0] - '0';
    }
    return 1;
}

void cli_shape_str(const int64_t *dims, const char *const *names, int rank, char *buf, size_t cap)
{
    if (rank < 0) {
        snprintf(buf, cap, "[?]");
        return;
    }
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < rank && n < cap; i++) {
        const char *sep = i ? "," : "";
        if (dims[i] >= 0)
            n += (size_t)snprintf(buf + n, cap - n, "%s%lld", sep, (long long)dims[i]);
        else
            n += (size_t)snprintf(buf + n, cap - n, "%s%s", sep, names && names[i] ? names[i] : "?");
    }
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

void cli_bytes_str(double bytes, char *buf, size_t cap)
{
    if (bytes >= 1024.0 * 1024.0 * 1024.0)
        snprintf(buf, cap, "%.2f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
    else if (bytes >= 1024.0 * 1024.0)
        snprintf(buf, cap, "%.2f MiB", bytes / (1024.0 * 1024.0));
    else if (bytes >= 1024.0)
        snprintf(buf, cap, "%.1f KiB", bytes / 1024.0);
    else
        snprintf(buf, cap, "%.0f B", bytes);
}

int cli_fail(const char *cmd, const char *what, fwd_status st, int code)
{
    fflush(stdout); /* keep the order of what was printed before */
    fprintf(stderr, "fwd %s: %s: %s (%s)\n", cmd, what, fwd_last_error(), fwd_status_name(st));
    return code;
}

int cli_run_failure_code(fwd_status st)
{
    bool usage = st == FWD_ERR_SHAPE || st == FWD_ERR_DTYPE || st == FWD_ERR_NOT_FOUND ||
                 st == FWD_ERR_INVALID_ARGUMENT;
    return usage ? CLI_USAGE : CLI_FAILURE;
}

int cli_open(const char *cmd, const char *path, fwd_engine **engine, fwd_model **model)
{
    *engine = NULL;
    *model = NULL;
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "fwd %s: cannot read '%s': %s\n", cmd, path, strerror(errno));
        return CLI_USAGE;
    }
    fwd_status est = fwd_engine_load(path, engine);
    if (est == FWD_OK) return CLI_OK;
    char engine_msg[1024];
    snprintf(engine_msg, sizeof engine_msg, "%s", fwd_last_error());
    fwd_status mst = fwd_model_load(path, model);
    if (mst == FWD_OK) return CLI_OK;
    fprintf(stderr,
            "fwd %s: cannot load '%s'\n"
            "  as an engine: %s (%s)\n"
            "  as a model:   %s (%s)\n",
            cmd, path, engine_msg, fwd_status_name(est), fwd_last_error(), fwd_status_name(mst));
    return CLI_USAGE;
}

/* ---- build progress ------------------------------------------------ */

typedef struct progress_state {
    bool tty;
    bool every_step; /* plain lines: one per step, not only per stage */
    bool line_open;  /* a bar is on the terminal without its newline */
    char stage[64];
    double start;
} progress_state;

static void progress_cb(const char *stage, int done, int total, void *user)
{
    progress_state *p = user;
    if (!stage) stage = "";
    if (p->tty) {
        /* One line for the whole build: \r overwrites; the stage name
         * is padded so a shorter one leaves no residue. */
        enum { WIDTH = 30 };
        int fill = total > 0 ? (int)((long long)done * WIDTH / total) : WIDTH;
        if (fill > WIDTH) fill = WIDTH;
        if (fill < 0) fill = 0;
        char bar[WIDTH + 1];
        for (int i = 0; i < WIDTH; i++) bar[i] = i < fill ? '#' : '.';
        bar[WIDTH] = '\0';
        fprintf(stderr, "\r  %-28.28s [%s] %d/%d  %.1f s ", stage, bar, done, total, cli_now() - p->start);
        p->line_open = true;
    } else if (p->every_step || done >= total) {
        /* Not a terminal (a log): one line per stage, each step with --verbose. */
        fprintf(stderr, "  %s: %d/%d (%.1f s)\n", stage, done, total, cli_now() - p->start);
    }
    fflush(stderr);
    snprintf(p->stage, sizeof p->stage, "%s", stage);
}

static fwd_status set_profile(fwd_builder *b, const cli_shape *s)
{
    return fwd_builder_set_shape(b, s->name, s->rank, s->min, s->opt, s->max);
}

int cli_build(const char *cmd, const fwd_model *model, const cli_build_opts *o, const cli_shape *extra,
              int n_extra, bool show_progress, fwd_engine **out)
{
    fwd_builder *b = NULL;
    fwd_status st;
    int rc = CLI_OK;
    char what[512];
    *out = NULL;
    if ((st = fwd_builder_create(&b))) return cli_fail(cmd, "creating a builder", st, CLI_FAILURE);
    if (o->mode && (st = fwd_builder_set_mode(b, o->mode))) {
        snprintf(what, sizeof what, "--mode %s", o->mode);
        rc = cli_fail(cmd, what, st, CLI_USAGE);
        goto done;
    }
    if (o->device_given && (st = fwd_builder_set_device(b, FWD_DEVICE_CPU))) {
        rc = cli_fail(cmd, "--device cpu", st, CLI_USAGE);
        goto done;
    }
    if (o->opt_level >= 0 && (st = fwd_builder_set_optimization(b, o->opt_level))) {
        snprintf(what, sizeof what, "--opt-level %d", o->opt_level);
        rc = cli_fail(cmd, what, st, CLI_USAGE);
        goto done;
    }
    if (o->workspace_mb >= 0 &&
        (st = fwd_builder_set_workspace(b, (size_t)(o->workspace_mb * 1024.0 * 1024.0)))) {
        snprintf(what, sizeof what, "--workspace %g", o->workspace_mb);
        rc = cli_fail(cmd, what, st, CLI_USAGE);
        goto done;
    }
    if (o->batch_opt > 0 && (st = fwd_builder_set_batch(b, o->batch_opt, o->batch_max))) {
        snprintf(what, sizeof what, "--batch %lld,%lld", (long long)o->batch_opt, (long long)o->batch_max);
        rc = cli_fail(cmd, what, st, CLI_USAGE);
        goto done;
    }
    for (int i = 0; i < o->n_shapes; i++)
        if ((st = set_profile(b, &o->shapes[i]))) {
            snprintf(what, sizeof what, "--shape for input '%s'", o->shapes[i].name);
            rc = cli_fail(cmd, what, st, CLI_USAGE);
            goto done;
        }
    for (int i = 0; i < n_extra; i++) {
        bool named = false;
        for (int k = 0; k < o->n_shapes; k++) named |= strcmp(o->shapes[k].name, extra[i].name) == 0;
        if (named) continue;
        if ((st = set_profile(b, &extra[i]))) {
            snprintf(what, sizeof what, "the shape of input '%s'", extra[i].name);
            rc = cli_fail(cmd, what, st, CLI_USAGE);
            goto done;
        }
    }
    progress_state prog = {.tty = isatty(STDERR_FILENO) != 0, .every_step = o->verbose, .start = cli_now()};
    if (show_progress || o->verbose) fwd_builder_set_progress(b, progress_cb, &prog);
    st = fwd_builder_build(b, model, out);
    if (prog.line_open) fputc('\n', stderr);
    /* A bad profile is only found by the build: the caller's error. */
    if (st) rc = cli_fail(cmd, "building the engine", st, st == FWD_ERR_INVALID_ARGUMENT ? CLI_USAGE : CLI_FAILURE);
done:
    fwd_builder_free(b);
    return rc;
}

void cli_name_outputs(const fwd_engine *e, fwd_tensor *outs, int n)
{
    for (int k = 0; k < n; k++) {
        fwd_tensor_info info;
        fwd_engine_output(e, k, &info);
        outs[k].name = info.name;
    }
}

int cli_engine_input_index(const char *cmd, const fwd_engine *e, const char *name, const char *opt)
{
    int n = 0;
    fwd_engine_num_inputs(e, &n);
    for (int i = 0; i < n; i++) {
        fwd_tensor_info info;
        if (fwd_engine_input(e, i, &info) == FWD_OK && strcmp(info.name, name) == 0) return i;
    }
    fprintf(stderr, "fwd %s: %s names '%s', which is not an input of the model (inputs:", cmd, opt, name);
    for (int i = 0; i < n; i++) {
        fwd_tensor_info info;
        if (fwd_engine_input(e, i, &info) == FWD_OK) fprintf(stderr, "%s '%s'", i ? "," : "", info.name);
    }
    fprintf(stderr, ")\n");
    return -1;
}

/* ---- random inputs --------------------------------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double unit(uint64_t *s) { return (double)(splitmix64(s) >> 11) * (1.0 / 9007199254740992.0); }

/* float32 -> float16 bits for values of the fill ranges (truncating the
 * mantissa is fine for random data; tiny values become zero). */
static uint16_t to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    int e = (int)((x >> 23) & 0xff) - 127 + 15;
    if (e <= 0) return sign;
    if (e >= 31) return (uint16_t)(sign | 0x7c00);
    return (uint16_t)(sign | (e << 10) | ((x >> 13) & 0x3ff));
}

bool cli_fill_random(fwd_tensor *t, const cli_fill *range, uint64_t seed)
{
    size_t es = fwd_dtype_size(t->dtype);
    int64_t n = fwd_tensor_numel(t);
    if (es == 0 || n < 0) return false;
    t->size = (size_t)n * es;
    t->data = malloc(t->size ? t->size : 1);
    if (!t->data) return false;
    bool is_float = t->dtype == FWD_FLOAT32 || t->dtype == FWD_FLOAT64 || t->dtype == FWD_FLOAT16 ||
                    t->dtype == FWD_BFLOAT16;
    double lo = range ? range->lo : is_float ? -1.0 : 0.0;
    double hi = range ? range->hi : 1.0;
    uint64_t s = seed * 0x2545f4914f6cdd1dull + 1;
    for (int64_t i = 0; i < n; i++) {
        /* Floats: uniform in [lo, hi); integers: uniform in [lo, hi]. */
        double v = is_float ? lo + (hi - lo) * unit(&s) : floor(lo + (hi - lo + 1.0) * unit(&s));
        if (!is_float && v > hi) v = hi;
        float f = (float)v;
        /* Integers go through int64 (clamped): no undefined conversions
         * when a --fill range exceeds the dtype; narrower types wrap. */
        int64_t iv = is_float ? 0 : (int64_t)fmax(fmin(v, 9.2e18), -9.2e18);
        uint32_t fb;
        switch (t->dtype) {
        case FWD_FLOAT32: ((float *)t->data)[i] = f; break;
        case FWD_FLOAT64: ((double *)t->data)[i] = v; break;
        case FWD_FLOAT16: ((uint16_t *)t->data)[i] = to_f16(f); break;
        case FWD_BFLOAT16:
            memcpy(&fb, &f, 4);
            ((uint16_t *)t->data)[i] = (uint16_t)(fb >> 16);
            break;
        case FWD_INT8: ((int8_t *)t->data)[i] = (int8_t)iv; break;
        case FWD_UINT8: ((uint8_t *)t->data)[i] = (uint8_t)iv; break;
        case FWD_BOOL: ((uint8_t *)t->data)[i] = iv != 0; break;
        case FWD_INT16: ((int16_t *)t->data)[i] = (int16_t)iv; break;
        case FWD_UINT16: ((uint16_t *)t->data)[i] = (uint16_t)iv; break;
        case FWD_INT32: ((int32_t *)t->data)[i] = (int32_t)iv; break;
        case FWD_UINT32: ((uint32_t *)t->data)[i] = (uint32_t)iv; break;
        case FWD_INT64: ((int64_t *)t->data)[i] = (int64_t)iv; break;
        case FWD_UINT64: ((uint64_t *)t->data)[i] = (uint64_t)iv; break;
        default:
            free(t->data);
            t->data = NULL;
            return false;
        }
    }
    return true;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

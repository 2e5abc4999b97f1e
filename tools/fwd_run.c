/*
 * fwd run MODEL|ENGINE [--input NAME=FILE]... [--inputs DIR] [--outputs DIR]
 *                      [--compare DIR] [--rtol R] [--atol A] [build options]
 *
 * A model is built first; inputs with symbolic dims get a profile of
 * exactly the given tensors' shapes unless --shape/--batch say otherwise.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fwd_cli.h"

typedef struct run_opts {
    const char *path;
    const char *inputs_dir, *outputs_dir, *compare_dir;
    char *in_names[CLI_MAX_IO];
    const char *in_files[CLI_MAX_IO];
    int n_in;
    double rtol, atol;
    cli_build_opts build;
} run_opts;

static bool file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static double elem(const fwd_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case FWD_FLOAT32: return ((const float *)t->data)[i];
    case FWD_FLOAT64: return ((const double *)t->data)[i];
    case FWD_INT8: return ((const int8_t *)t->data)[i];
    case FWD_UINT8: case FWD_BOOL: return ((const uint8_t *)t->data)[i];
    case FWD_INT16: return ((const int16_t *)t->data)[i];
    case FWD_UINT16: return ((const uint16_t *)t->data)[i];
    case FWD_INT32: return ((const int32_t *)t->data)[i];
    case FWD_UINT32: return ((const uint32_t *)t->data)[i];
    case FWD_INT64: return (double)((const int64_t *)t->data)[i];
    case FWD_UINT64: return (double)((const uint64_t *)t->data)[i];
    default: return NAN;
    }
}

/* One line per output: shape, a few values, and for score-like outputs the
 * arg-max of each row (what a classifier "sees"). */
static void print_output(const fwd_tensor *t)
{
    char shp[256];
    cli_shape_str(t->dims, NULL, t->rank, shp, sizeof shp);
    int64_t n = fwd_tensor_numel(t);
    printf("output '%s': %s %s", t->name, fwd_dtype_name(t->dtype), shp);
    bool printable = t->dtype != FWD_FLOAT16 && t->dtype != FWD_BFLOAT16 && t->dtype != FWD_STRING;
    if (printable && n > 0) {
        printf(" =");
        int64_t show = n < 8 ? n : 8;
        for (int64_t i = 0; i < show; i++) printf(" %.6g", elem(t, i));
        if (show < n) printf(" ...");
    }
    printf("\n");
    if (printable && t->rank >= 1 && t->rank <= 2 && n > 1 && t->dims[t->rank - 1] > 1 &&
        (t->dtype == FWD_FLOAT32 || t->dtype == FWD_FLOAT64)) {
        int64_t cols = t->dims[t->rank - 1], rows = n / cols;
        for (int64_t r = 0; r < rows && r < 16; r++) {
            int64_t best = 0;
            for (int64_t c = 1; c < cols; c++)
                if (elem(t, r * cols + c) > elem(t, r * cols + best)) best = c;
            printf("  row %lld: argmax %lld (score %.6g)\n", (long long)r, (long long)best,
                   elem(t, r * cols + best));
        }
    }
}

/* File name of a tensor name (tests/zoo/run_zoo.py mirrors this). */
static void safe_name(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    for (; in[i] && i + 1 < cap; i++) {
        char c = in[i];
        out[i] = (c == '/' || c == '\\' || c == ':' || c == ' ') ? '_' : c;
    }
    out[i] = '\0';
}

/* DIR/PREFIX_K.pb when it exists, else DIR/NAME.npy (name made safe). */
static void data_file(const char *dir, const char *prefix, int k, const char *name, char *path, size_t cap)
{
    char nm[1024];
    snprintf(path, cap, "%s/%s_%d.pb", dir, prefix, k);
    if (!file_exists(path)) {
        safe_name(name, nm, sizeof nm);
        snprintf(path, cap, "%s/%s.npy", dir, nm);
    }
}

/* Read input name from path into *file (owning the memory) and bind a
 * copy of it to the name in *in. Returns an exit code. */
static int read_input(const char *name, const char *path, fwd_tensor *file, fwd_tensor *in)
{
    fwd_status st = fwd_tensor_read_file(path, file);
    if (st) {
        char what[4200];
        snprintf(what, sizeof what, "reading input '%s' from %s", name, path);
        return cli_fail("run", what, st, CLI_USAGE);
    }
    *in = *file;
    in->name = name;
    return CLI_OK;
}

static int parse_run(int argc, char **argv, run_opts *o)
{
    o->rtol = 1e-3;
    o->atol = 1e-5;
    for (int i = 0; i < argc; i++) {
        cli_arg arg;
        int r = cli_next_arg("run", "model", argc, argv, &i, &o->path, &o->build, &arg);
        if (r == CLI_ARG_ERROR) return -1;
        if (r == CLI_ARG_DONE) continue;
        const char *a = argv[i], *v = arg.val;
        if (!v) {
            fprintf(stderr, "fwd run: unknown option '%s' or missing value\n", a);
            return -1;
        }
        if (strcmp(arg.key, "--input") == 0) {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v || !eq[1]) {
                fprintf(stderr, "fwd run: --input wants NAME=FILE, got '%s'\n", v);
                return -1;
            }
            if (o->n_in == CLI_MAX_IO) {
                fprintf(stderr, "fwd run: too many --input options\n");
                return -1;
            }
            o->in_names[o->n_in] = strndup(v, (size_t)(eq - v));
            o->in_files[o->n_in++] = eq + 1;
        } else if (strcmp(arg.key, "--inputs") == 0) {
            o->inputs_dir = v;
        } else if (strcmp(arg.key, "--outputs") == 0) {
            o->outputs_dir = v;
        } else if (strcmp(arg.key, "--compare") == 0) {
            o->compare_dir = v;
        } else if (strcmp(arg.key, "--rtol") == 0 || strcmp(arg.key, "--atol") == 0) {
            char *end;
            double x = strtod(v, &end);
            if (*end || end == v || !(x >= 0)) {
                fprintf(stderr, "fwd run: %s wants a number >= 0, got '%s'\n", arg.key, v);
                return -1;
            }
            *(arg.key[2] == 'r' ? &o->rtol : &o->atol) = x;
        } else {
            fprintf(stderr, "fwd run: unknown option '%s'\n", a);
            return -1;
        }
        cli_arg_used(&arg, &i);
    }
    if (!o->path) {
        fprintf(stderr, "fwd run: no model or engine given\n");
        return -1;
    }
    return 0;
}

/* Compare output k against DIR/output_k.pb or DIR/NAME.npy; 0 when equal. */
static int compare_output(const run_opts *o, int k, const fwd_tensor *out)
{
    char path[4096];
    data_file(o->compare_dir, "output", k, out->name, path, sizeof path);
    fwd_tensor ref = {0};
    fwd_status st = fwd_tensor_read_file(path, &ref);
    if (st) {
        fprintf(stderr, "fwd run: reading reference for '%s' (%s): %s\n", out->name, path, fwd_last_error());
        return 1;
    }
    fwd_compare_result r;
    st = fwd_tensor_compare(out, &ref, o->rtol, o->atol, &r);
    int bad = 0;
    if (st) {
        printf("MISMATCH '%s': %s\n", out->name, fwd_last_error());
        bad = 1;
    } else if (r.mismatches) {
        printf("MISMATCH '%s': %lld of %lld elements outside rtol=%g atol=%g; worst at index %lld: "
               "got %.9g, expected %.9g (max abs diff %.3g)\n",
               out->name, (long long)r.mismatches, (long long)r.count, o->rtol, o->atol,
               (long long)r.worst_index, r.worst_actual, r.worst_expected, r.max_abs_diff);
        bad = 1;
    } else {
        printf("match '%s': %lld elements, max abs diff %.3g\n", out->name, (long long)r.count,
               r.max_abs_diff);
    }
    fwd_tensor_release(&ref);
    return bad;
}

/* The graph inputs, from the engine or (before building) the model. */
static int num_graph_inputs(const fwd_engine *e, const fwd_model *m)
{
    int n = 0;
    if (e)
        fwd_engine_num_inputs(e, &n);
    else
        fwd_model_num_inputs(m, &n);
    return n;
}

static bool graph_input(const fwd_engine *e, const fwd_model *m, int k, fwd_tensor_info *info)
{
    return (e ? fwd_engine_input(e, k, info) : fwd_model_input(m, k, info)) == FWD_OK;
}

int cmd_run(int argc, char **argv)
{
    run_opts o;
    memset(&o, 0, sizeof o);
    cli_build_opts_init(&o.build);
    fwd_model *m = NULL;
    fwd_engine *e = NULL;
    fwd_context *c = NULL;
    fwd_tensor files[CLI_MAX_IO]; /* as read, owning their memory */
    fwd_tensor ins[CLI_MAX_IO];   /* the same, bound to graph input names */
    fwd_tensor outs[CLI_MAX_IO];
    cli_shape extra[CLI_MAX_IO];  /* profiles from the given tensors */
    int n_ins = 0, n_outs = 0, n_extra = 0, rc = CLI_OK;
    fwd_status st;
    memset(files, 0, sizeof files);
    memset(ins, 0, sizeof ins);
    memset(outs, 0, sizeof outs);

    if (parse_run(argc, argv, &o)) { rc = CLI_USAGE; goto done; }
    if ((rc = cli_open("run", o.path, &e, &m))) goto done;
    if (e && o.build.any_given)
        fprintf(stderr, "fwd run: note: '%s' is an engine; build options are ignored\n", o.path);

    int n_graph_in = num_graph_inputs(e, m);
    for (int i = 0; i < o.n_in; i++) {
        bool known = false;
        fwd_tensor_info info;
        for (int k = 0; k < n_graph_in; k++)
            known |= graph_input(e, m, k, &info) && strcmp(info.name, o.in_names[i]) == 0;
        if (!known) {
            fprintf(stderr, "fwd run: --input names '%s', which is not an input of '%s'\n", o.in_names[i], o.path);
            rc = CLI_USAGE;
            goto done;
        }
        if ((rc = read_input(o.in_names[i], o.in_files[i], &files[n_ins], &ins[n_ins]))) goto done;
        n_ins++;
    }
    if (o.inputs_dir) {
        for (int k = 0; k < n_graph_in && n_ins < CLI_MAX_IO; k++) {
            fwd_tensor_info info;
            if (!graph_input(e, m, k, &info)) continue;
            bool given = false;
            for (int i = 0; i < n_ins; i++) given |= strcmp(ins[i].name, info.name) == 0;
            if (given) continue;
            char path[4096];
            data_file(o.inputs_dir, "input", k, info.name, path, sizeof path);
            if (!file_exists(path)) continue; /* reported as missing by the run */
            if ((rc = read_input(info.name, path, &files[n_ins], &ins[n_ins]))) goto done;
            n_ins++;
        }
    }
    if (m) {
        /* Inputs with symbolic dims: a profile of exactly the given shape. */
        for (int k = 0; k < n_graph_in; k++) {
            fwd_tensor_info info;
            if (!graph_input(e, m, k, &info) || info.rank < 0) continue;
            bool fixed = true;
            for (int d = 0; d < info.rank; d++) fixed &= info.dims[d] >= 0;
            if (fixed) continue;
            for (int i = 0; i < n_ins; i++) {
                if (strcmp(ins[i].name, info.name) != 0 || ins[i].rank != info.rank) continue;
                if (o.build.batch_opt > 0) break; /* --batch covers the symbolic dims */
                cli_shape *s = &extra[n_extra++];
                memset(s, 0, sizeof *s);
                s->name = (char *)info.name;
                s->rank = ins[i].rank;
                memcpy(s->min, ins[i].dims, sizeof s->min);
                memcpy(s->opt, ins[i].dims, sizeof s->opt);
                memcpy(s->max, ins[i].dims, sizeof s->max);
                break;
            }
        }
        if ((rc = cli_build("run", m, &o.build, extra, n_extra, false, &e))) goto done;
    }
    if ((st = fwd_context_create(e, &c))) { rc = cli_fail("run", "creating a context", st, CLI_FAILURE); goto done; }

    fwd_engine_num_outputs(e, &n_outs);
    if (n_outs > CLI_MAX_IO) n_outs = CLI_MAX_IO;
    cli_name_outputs(e, outs, n_outs);
    if ((st = fwd_context_run(c, ins, n_ins, outs, n_outs))) {
        rc = cli_fail("run", "running", st, cli_run_failure_code(st));
        goto done;
    }
    for (int k = 0; k < n_outs; k++) print_output(&outs[k]);
    if (o.outputs_dir) {
        mkdir(o.outputs_dir, 0755);
        for (int k = 0; k < n_outs; k++) {
            char path[4096], nm[1024];
            safe_name(outs[k].name, nm, sizeof nm);
            snprintf(path, sizeof path, "%s/%s.npy", o.outputs_dir, nm);
            if ((st = fwd_tensor_write_npy(path, &outs[k]))) {
                char what[4200];
                snprintf(what, sizeof what, "writing output '%s' to %s", outs[k].name, path);
                rc = cli_fail("run", what, st, CLI_FAILURE);
                goto done;
            }
        }
    }
    if (o.compare_dir) {
        int bad = 0;
        for (int k = 0; k < n_outs; k++) bad += compare_output(&o, k, &outs[k]);
        if (bad) rc = CLI_FAILURE;
    }
done:
    for (int i = 0; i < CLI_MAX_IO; i++) fwd_tensor_release(&files[i]);
    for (int i = 0; i < o.n_in; i++) free(o.in_names[i]);
    cli_build_opts_free(&o.build);
    fwd_context_free(c);
    fwd_engine_free(e);
    fwd_model_free(m);
    return rc;
}

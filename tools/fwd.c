/*
 * fwd: the command-line tool, a thin layer over include/fwd.h.
 *
 *   fwd run MODEL [--input NAME=FILE]... [--inputs DIR] [--outputs DIR]
 *                 [--compare DIR] [--rtol R] [--atol A] [--device cpu]
 *   fwd inspect MODEL
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fwd.h"

#define MAX_IO 256

static int fail(const char *what, fwd_status st)
{
    fprintf(stderr, "fwd: %s: %s (%s)\n", what, fwd_last_error(), fwd_status_name(st));
    return 2;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fwd <command> [options]\n"
            "\n"
            "commands:\n"
            "  run MODEL      run a model once on given inputs\n"
            "      --input NAME=FILE   an input from a .npy or TensorProto .pb file (repeatable)\n"
            "      --inputs DIR        inputs from DIR/input_N.pb (graph-input order) or DIR/NAME.npy\n"
            "      --outputs DIR       write each output as DIR/NAME.npy\n"
            "      --compare DIR       check outputs against DIR/output_N.pb or DIR/NAME.npy;\n"
            "                          exit 1 on a mismatch\n"
            "      --rtol R --atol A   tolerances for --compare (default 1e-3 and 1e-5)\n"
            "      --device cpu        the device to run on (only cpu for now)\n"
            "  inspect MODEL  inputs, outputs, opset, op histogram and parameter size\n"
            "  version        print the library version\n");
}

static bool file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static void shape_str(const int64_t *dims, const char *const *names, int rank, char *buf, size_t cap)
{
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
    shape_str(t->dims, NULL, t->rank, shp, sizeof shp);
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

static void safe_name(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    for (; in[i] && i + 1 < cap; i++) {
        char c = in[i];
        out[i] = (c == '/' || c == '\\' || c == ':' || c == ' ') ? '_' : c;
    }
    out[i] = '\0';
}

typedef struct run_opts {
    const char *model;
    const char *inputs_dir, *outputs_dir, *compare_dir;
    const char *in_names[MAX_IO], *in_files[MAX_IO];
    int n_in;
    double rtol, atol;
} run_opts;

static int parse_run(int argc, char **argv, run_opts *o)
{
    o->rtol = 1e-3;
    o->atol = 1e-5;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-') {
            if (o->model) {
                fprintf(stderr, "fwd run: unexpected argument '%s'\n", a);
                return -1;
            }
            o->model = a;
            continue;
        }
        if (!v) {
            fprintf(stderr, "fwd run: %s needs a value\n", a);
            return -1;
        }
        i++;
        if (strcmp(a, "--input") == 0) {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v) {
                fprintf(stderr, "fwd run: --input wants NAME=FILE, got '%s'\n", v);
                return -1;
            }
            if (o->n_in == MAX_IO) {
                fprintf(stderr, "fwd run: too many --input options\n");
                return -1;
            }
            char *name = strndup(v, (size_t)(eq - v));
            o->in_names[o->n_in] = name;
            o->in_files[o->n_in++] = eq + 1;
        } else if (strcmp(a, "--inputs") == 0) {
            o->inputs_dir = v;
        } else if (strcmp(a, "--outputs") == 0) {
            o->outputs_dir = v;
        } else if (strcmp(a, "--compare") == 0) {
            o->compare_dir = v;
        } else if (strcmp(a, "--rtol") == 0) {
            o->rtol = atof(v);
        } else if (strcmp(a, "--atol") == 0) {
            o->atol = atof(v);
        } else if (strcmp(a, "--device") == 0) {
            if (strcmp(v, "cpu") != 0) {
                fprintf(stderr, "fwd run: device '%s' is not supported yet (only cpu)\n", v);
                return -1;
            }
        } else {
            fprintf(stderr, "fwd run: unknown option '%s'\n", a);
            return -1;
        }
    }
    if (!o->model) {
        fprintf(stderr, "fwd run: no model given\n");
        return -1;
    }
    return 0;
}

/* Compare output k against DIR/output_k.pb or DIR/NAME.npy; 0 when equal. */
static int compare_output(const run_opts *o, int k, const fwd_tensor *out)
{
    char path[4096], nm[1024];
    snprintf(path, sizeof path, "%s/output_%d.pb", o->compare_dir, k);
    if (!file_exists(path)) {
        safe_name(out->name, nm, sizeof nm);
        snprintf(path, sizeof path, "%s/%s.npy", o->compare_dir, nm);
    }
    fwd_tensor ref = {0};
    fwd_status st = fwd_tensor_read_file(path, &ref);
    if (st) {
        fprintf(stderr, "fwd: reading reference for '%s' (%s): %s\n", out->name, path, fwd_last_error());
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

static int cmd_run(int argc, char **argv)
{
    run_opts o = {0};
    if (parse_run(argc, argv, &o)) return 2;
    fwd_model *m = NULL;
    fwd_builder *b = NULL;
    fwd_engine *e = NULL;
    fwd_context *c = NULL;
    fwd_tensor files[MAX_IO]; /* as read, owning their memory */
    fwd_tensor ins[MAX_IO];   /* the same, bound to graph input names */
    fwd_tensor outs[MAX_IO];
    int n_ins = 0, n_outs = 0, rc = 0;
    fwd_status st;
    memset(files, 0, sizeof files);
    memset(ins, 0, sizeof ins);
    memset(outs, 0, sizeof outs);

    if ((st = fwd_model_load(o.model, &m))) { rc = fail("loading the model", st); goto done; }
    if ((st = fwd_builder_create(&b))) { rc = fail("creating a builder", st); goto done; }
    if ((st = fwd_builder_build(b, m, &e))) { rc = fail("building the engine", st); goto done; }
    if ((st = fwd_context_create(e, &c))) { rc = fail("creating a context", st); goto done; }

    int n_graph_in = 0;
    fwd_engine_num_inputs(e, &n_graph_in);
    for (int i = 0; i < o.n_in; i++) {
        if ((st = fwd_tensor_read_file(o.in_files[i], &files[n_ins]))) {
            char what[1200];
            snprintf(what, sizeof what, "reading input '%s' from %s", o.in_names[i], o.in_files[i]);
            rc = fail(what, st);
            goto done;
        }
        ins[n_ins] = files[n_ins];
        ins[n_ins++].name = o.in_names[i];
    }
    if (o.inputs_dir) {
        for (int k = 0; k < n_graph_in && n_ins < MAX_IO; k++) {
            fwd_tensor_info info;
            fwd_engine_input(e, k, &info);
            bool given = false;
            for (int i = 0; i < n_ins; i++) given |= strcmp(ins[i].name, info.name) == 0;
            if (given) continue;
            char path[4096], nm[1024];
            snprintf(path, sizeof path, "%s/input_%d.pb", o.inputs_dir, k);
            if (!file_exists(path)) {
                safe_name(info.name, nm, sizeof nm);
                snprintf(path, sizeof path, "%s/%s.npy", o.inputs_dir, nm);
            }
            if (!file_exists(path)) continue; /* reported as missing below */
            if ((st = fwd_tensor_read_file(path, &files[n_ins]))) {
                char what[4200];
                snprintf(what, sizeof what, "reading input '%s' from %s", info.name, path);
                rc = fail(what, st);
                goto done;
            }
            ins[n_ins] = files[n_ins];
            ins[n_ins++].name = info.name;
        }
    }
    fwd_engine_num_outputs(e, &n_outs);
    if (n_outs > MAX_IO) n_outs = MAX_IO;
    for (int k = 0; k < n_outs; k++) {
        fwd_tensor_info info;
        fwd_engine_output(e, k, &info);
        outs[k].name = info.name;
    }
    if ((st = fwd_context_run(c, ins, n_ins, outs, n_outs))) { rc = fail("running", st); goto done; }
    for (int k = 0; k < n_outs; k++) print_output(&outs[k]);
    if (o.outputs_dir) {
        mkdir(o.outputs_dir, 0755);
        for (int k = 0; k < n_outs; k++) {
            char path[4096], nm[1024];
            safe_name(outs[k].name, nm, sizeof nm);
            snprintf(path, sizeof path, "%s/%s.npy", o.outputs_dir, nm);
            if ((st = fwd_tensor_write_npy(path, &outs[k]))) { rc = fail("writing outputs", st); goto done; }
        }
    }
    if (o.compare_dir) {
        int bad = 0;
        for (int k = 0; k < n_outs; k++) bad += compare_output(&o, k, &outs[k]);
        if (bad) rc = 1;
    }
done:
    for (int i = 0; i < MAX_IO; i++) fwd_tensor_release(&files[i]);
    for (int i = 0; i < o.n_in; i++) free((char *)o.in_names[i]);
    fwd_context_free(c);
    fwd_engine_free(e);
    fwd_builder_free(b);
    fwd_model_free(m);
    return rc;
}

static void print_info(const char *kind, const fwd_tensor_info *info)
{
    char shp[512];
    if (info->rank < 0)
        snprintf(shp, sizeof shp, "[?]");
    else
        shape_str(info->dims, info->dim_names, info->rank, shp, sizeof shp);
    printf("  %s %-24s %-8s %s\n", kind, info->name, fwd_dtype_name(info->dtype), shp);
}

static int cmd_inspect(int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "usage: fwd inspect MODEL\n");
        return 2;
    }
    fwd_model *m;
    fwd_status st = fwd_model_load(argv[0], &m);
    if (st) return fail("loading the model", st);
    fwd_model_summary s;
    fwd_model_summarize(m, &s);
    printf("model:      %s\n", argv[0]);
    printf("format:     %s (IR version %lld), opset %lld\n", s.format, (long long)s.ir_version,
           (long long)s.opset);
    if (s.producer && s.producer[0]) printf("producer:   %s\n", s.producer);
    printf("nodes:      %lld\n", (long long)s.num_nodes);
    printf("parameters: %lld (%.2f MiB)\n", (long long)s.num_parameters,
           (double)s.parameter_bytes / (1024.0 * 1024.0));
    int n;
    fwd_tensor_info info;
    fwd_model_num_inputs(m, &n);
    printf("inputs:\n");
    for (int i = 0; i < n; i++)
        if (fwd_model_input(m, i, &info) == FWD_OK) print_info("", &info);
    fwd_model_num_outputs(m, &n);
    printf("outputs:\n");
    for (int i = 0; i < n; i++)
        if (fwd_model_output(m, i, &info) == FWD_OK) print_info("", &info);
    printf("ops:\n");
    for (int i = 0; i < s.num_op_types; i++) {
        const char *op;
        int64_t count;
        if (fwd_model_op_type(m, i, &op, &count) == FWD_OK) printf("  %-28s %lld\n", op, (long long)count);
    }
    fwd_model_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0) return cmd_run(argc - 2, argv + 2);
    if (strcmp(cmd, "inspect") == 0) return cmd_inspect(argc - 2, argv + 2);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("fwd %s\n", fwd_version());
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "fwd: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}

/*
 * fwd inspect MODEL|ENGINE [--dot FILE] [build options]
 *
 * For an engine file: its summary, profiles, inputs/outputs and layers
 * after fusion. For a model: the file's facts and op histogram (and with
 * --dot, the graph of an engine built from it with the given options).
 * Also the engine printing that `fwd build` shares.
 */
#include <stdlib.h>
#include <string.h>

#include "fwd_cli.h"

static void print_info(const char *kind, const fwd_tensor_info *info)
{
    char shp[512];
    cli_shape_str(info->dims, info->dim_names, info->rank, shp, sizeof shp);
    printf("  %s%-24s %-8s %s\n", kind, info->name, fwd_dtype_name(info->dtype), shp);
}

void cli_print_engine_summary(const fwd_engine *e)
{
    fwd_engine_summary s;
    fwd_status st = fwd_engine_summarize(e, &s);
    if (st) {
        fprintf(stderr, "fwd: summarizing the engine: %s\n", fwd_last_error());
        return;
    }
    char w[64], a[64], u[64];
    cli_bytes_str((double)s.weight_bytes, w, sizeof w);
    cli_bytes_str((double)s.activation_bytes, a, sizeof a);
    cli_bytes_str((double)s.unplanned_bytes, u, sizeof u);
    printf("mode:        %s on %s\n", s.mode ? s.mode : "?", s.device ? s.device : "?");
    printf("layers:      %d (%d fused)\n", s.num_layers, s.num_fused);
    printf("weights:     %s\n", w);
    if (s.unplanned_bytes > 0)
        printf("activations: %s per context (planned peak) vs %s unplanned sum: %.1f%% saved\n", a, u,
               100.0 * (1.0 - (double)s.activation_bytes / (double)s.unplanned_bytes));
    else
        printf("activations: %s per context (planned peak)\n", a);

    /* Layers per precision. */
    int n = 0;
    fwd_engine_num_layers(e, &n);
    int counts[32] = {0};
    for (int i = 0; i < n; i++) {
        fwd_layer_info li;
        if (fwd_engine_layer(e, i, &li) == FWD_OK && (unsigned)li.precision < 32) counts[li.precision]++;
    }
    printf("precisions: ");
    for (int d = 0; d < 32; d++)
        if (counts[d]) printf(" %s %d", fwd_dtype_name((fwd_dtype)d), counts[d]);
    printf("\n");
}

void cli_print_profiles(const fwd_engine *e)
{
    int n = 0;
    fwd_engine_num_inputs(e, &n);
    printf("inputs (profile min / opt / max):\n");
    for (int i = 0; i < n; i++) {
        fwd_tensor_info info;
        if (fwd_engine_input(e, i, &info)) continue;
        int64_t mn[FWD_MAX_DIMS], op[FWD_MAX_DIMS], mx[FWD_MAX_DIMS];
        char s0[256], s1[256], s2[256];
        if (info.rank >= 0 && fwd_engine_input_profile(e, i, mn, op, mx) == FWD_OK) {
            cli_shape_str(mn, NULL, info.rank, s0, sizeof s0);
            cli_shape_str(op, NULL, info.rank, s1, sizeof s1);
            static const char *const unbounded[FWD_MAX_DIMS] = {"inf", "inf", "inf", "inf",
                                                                 "inf", "inf", "inf", "inf"};
            cli_shape_str(mx, unbounded, info.rank, s2, sizeof s2); /* max -1: no bound */
            printf("  %-24s %-8s %s / %s / %s\n", info.name, fwd_dtype_name(info.dtype), s0, s1, s2);
        } else {
            print_info("", &info);
        }
    }
    fwd_engine_num_outputs(e, &n);
    printf("outputs:\n");
    for (int i = 0; i < n; i++) {
        fwd_tensor_info info;
        if (fwd_engine_output(e, i, &info) == FWD_OK) print_info("", &info);
    }
}

void cli_print_layers(const fwd_engine *e, bool only_fused)
{
    int n = 0;
    fwd_engine_num_layers(e, &n);
    int shown = 0;
    for (int i = 0; i < n; i++) {
        fwd_layer_info li;
        if (fwd_engine_layer(e, i, &li)) continue;
        bool fused = li.fused && li.fused[0];
        if (only_fused && !fused) continue;
        if (shown++ == 0)
            printf("  %4s  %-32s %-18s %-8s %-20s %s\n", "#", "layer", "op", "dtype", "output (?: by input)", "fused");
        char shp[256];
        cli_shape_str(li.output_dims, NULL, li.output_rank, shp, sizeof shp);
        printf("  %4d  %-32.32s %-18s %-8s %-20s %s\n", i, li.name ? li.name : "", li.op_type,
               fwd_dtype_name(li.precision), shp, fused ? li.fused : "");
    }
    if (shown == 0) printf("  (none)\n");
}

static int inspect_model(const char *path, fwd_model *m)
{
    fwd_model_summary s;
    fwd_status st = fwd_model_summarize(m, &s);
    if (st) return cli_fail("inspect", "summarizing the model", st, CLI_FAILURE);
    printf("model:      %s\n", path);
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
    return CLI_OK;
}

static int write_dot(const fwd_engine *e, const char *dot)
{
    fwd_status st = fwd_engine_write_dot(e, dot);
    if (st) {
        char what[4200];
        snprintf(what, sizeof what, "writing --dot %s", dot);
        return cli_fail("inspect", what, st, CLI_FAILURE);
    }
    printf("graph written to %s (render: dot -Tsvg %s -o graph.svg)\n", dot, dot);
    return CLI_OK;
}

int cmd_inspect(int argc, char **argv)
{
    const char *path = NULL, *dot = NULL;
    cli_build_opts bo;
    cli_build_opts_init(&bo);
    int rc = CLI_OK;
    fwd_engine *e = NULL;
    fwd_model *m = NULL;
    for (int i = 0; i < argc; i++) {
        cli_arg arg;
        int r = cli_next_arg("inspect", "file", argc, argv, &i, &path, &bo, &arg);
        if (r == CLI_ARG_ERROR) { rc = CLI_USAGE; goto done; }
        if (r == CLI_ARG_DONE) continue;
        const char *a = argv[i];
        if (strcmp(arg.key, "--dot") == 0 && arg.val) {
            dot = arg.val;
            cli_arg_used(&arg, &i);
        } else {
            fprintf(stderr, "fwd inspect: unknown option '%s'%s\n", a,
                    strcmp(arg.key, "--dot") == 0 ? " (--dot needs a FILE)" : "");
            rc = CLI_USAGE;
            goto done;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: fwd inspect MODEL|ENGINE [--dot FILE]\n");
        rc = CLI_USAGE;
        goto done;
    }
    if ((rc = cli_open("inspect", path, &e, &m))) goto done;
    if (m) {
        if ((rc = inspect_model(path, m))) goto done;
        if (dot) {
            if ((rc = cli_build("inspect", m, &bo, NULL, 0, false, &e))) goto done;
            rc = write_dot(e, dot);
        }
        goto done;
    }
    printf("engine:      %s\n", path);
    cli_print_engine_summary(e);
    cli_print_profiles(e);
    printf("layers:\n");
    cli_print_layers(e, false);
    if (dot) rc = write_dot(e, dot);
done:
    cli_build_opts_free(&bo);
    fwd_engine_free(e);
    fwd_model_free(m);
    return rc;
}

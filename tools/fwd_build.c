/*
 * fwd build MODEL -o ENGINE [--mode float32|float16] [--device cpu]
 *           [--shape NAME:MIN,OPT,MAX]... [--batch OPT,MAX] [--workspace MB]
 *           [--opt-level 0|1] [--verbose]
 *
 * Builds an engine with a progress display, prints a summary (layers,
 * fusions, precisions, weights, activation memory) and saves it.
 */
#include <string.h>

#include "fwd_cli.h"

int cmd_build(int argc, char **argv)
{
    const char *model_path = NULL, *out_path = NULL;
    cli_build_opts bo;
    cli_build_opts_init(&bo);
    fwd_model *m = NULL;
    fwd_engine *e = NULL;
    int rc = CLI_OK;
    fwd_status st;
    for (int i = 0; i < argc; i++) {
        cli_arg arg;
        int r = cli_next_arg("build", "model", argc, argv, &i, &model_path, &bo, &arg);
        if (r == CLI_ARG_ERROR) { rc = CLI_USAGE; goto done; }
        if (r == CLI_ARG_DONE) continue;
        const char *a = argv[i];
        if ((strcmp(arg.key, "-o") == 0 || strcmp(arg.key, "--output") == 0) && arg.val) {
            out_path = arg.val;
            cli_arg_used(&arg, &i);
        } else {
            fprintf(stderr, "fwd build: unknown option '%s'%s\n", a,
                    strcmp(arg.key, "-o") == 0 ? " (-o needs a FILE)" : "");
            rc = CLI_USAGE;
            goto done;
        }
    }
    if (!model_path || !out_path) {
        fprintf(stderr, "fwd build: %s\nusage: fwd build MODEL -o ENGINE [options] (fwd help for the options)\n",
                !model_path ? "no model given" : "no output file given (-o ENGINE)");
        rc = CLI_USAGE;
        goto done;
    }
    if (bo.verbose) fwd_set_log_level(FWD_LOG_VERBOSE);
    if ((st = fwd_model_load(model_path, &m))) {
        char what[4200];
        snprintf(what, sizeof what, "loading the model %s", model_path);
        rc = cli_fail("build", what, st, CLI_USAGE);
        goto done;
    }
    fprintf(stderr, "building %s\n", model_path);
    double t0 = cli_now();
    if ((rc = cli_build("build", m, &bo, NULL, 0, true, &e))) goto done;
    double secs = cli_now() - t0;

    printf("built %s in %.2f s\n", model_path, secs);
    cli_print_engine_summary(e);
    cli_print_profiles(e);
    printf(bo.verbose ? "layers:\n" : "fused layers:\n");
    cli_print_layers(e, !bo.verbose);

    if ((st = fwd_engine_save(e, out_path))) {
        char what[4200];
        snprintf(what, sizeof what, "saving the engine to %s", out_path);
        rc = cli_fail("build", what, st, CLI_FAILURE);
        goto done;
    }
    printf("engine saved to %s\n", out_path);
done:
    cli_build_opts_free(&bo);
    fwd_engine_free(e);
    fwd_model_free(m);
    return rc;
}

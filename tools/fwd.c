/*
 * fwd: the command-line tool, a thin layer over include/fwd.h.
 * The commands live in tools/fwd_<command>.c; shared parts in
 * tools/fwd_common.c. Exit codes: 0 ok, 1 mismatch or failure, 2 usage or
 * load errors.
 */
#include <string.h>

#include "fwd_cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fwd <command> [options]\n"
            "\n"
            "commands:\n"
            "  build MODEL -o ENGINE   optimize a model into an engine file\n"
            "  run MODEL|ENGINE        run once on given inputs\n"
            "      --input NAME=FILE   an input from a .npy or TensorProto .pb file (repeatable)\n"
            "      --inputs DIR        inputs from DIR/input_N.pb (graph-input order) or DIR/NAME.npy\n"
            "      --outputs DIR       write each output as DIR/NAME.npy\n"
            "      --compare DIR       check outputs against DIR/output_N.pb or DIR/NAME.npy;\n"
            "                          exit 1 on a mismatch\n"
            "      --rtol R --atol A   tolerances for --compare (default 1e-3 and 1e-5)\n"
            "  bench MODEL|ENGINE      time runs on fixed random inputs\n"
            "      --shape NAME:AxB    the shape of an input (default: the profile's opt shape)\n"
            "      --fill NAME:LO:HI   value range of an input (default: floats in [-1, 1),\n"
            "                          integers in [0, 1])\n"
            "      --iters N           timed runs per thread (default 100)\n"
            "      --warmup N          untimed runs per thread first (default 10)\n"
            "      --threads N         threads running at once, each its own context (default 1)\n"
            "      --profile           per-layer time table\n"
            "  inspect MODEL|ENGINE    facts about a model, or an engine's layers, memory and\n"
            "                          profiles\n"
            "      --dot FILE          write the (optimized) graph in Graphviz format\n"
            "  version                 print the library version\n"
            "\n"
            "build options (build; run, bench and inspect when given a model):\n"
            "  --mode float32|float16  infer mode (default float32)\n"
            "  --device cpu            the device (only cpu for now)\n"
            "  --shape NAME:MIN,OPT,MAX  an input's profile, each shape AxBxC (repeatable);\n"
            "                          NAME:AxB is a profile of that one shape\n"
            "  --batch OPT,MAX         profile of every symbolic leading dim: 1..MAX, tuned for OPT\n"
            "  --workspace MB          scratch memory limit of a kernel (0: none)\n"
            "  --opt-level 0|1         0: run the graph as imported; 1: optimize (default)\n"
            "  --verbose, -v           library log, all layers, build progress\n"
            "Options also take the form --name=value. The intra-op thread count is\n"
            "FWD_NUM_THREADS (default: all cores).\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0) return cmd_run(argc - 2, argv + 2);
    if (strcmp(cmd, "build") == 0) return cmd_build(argc - 2, argv + 2);
    if (strcmp(cmd, "bench") == 0) return cmd_bench(argc - 2, argv + 2);
    if (strcmp(cmd, "inspect") == 0) return cmd_inspect(argc - 2, argv + 2);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("fwd %s\n", fwd_version());
        return CLI_OK;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    fprintf(stderr, "fwd: unknown command '%s'\n", cmd);
    usage(stderr);
    return CLI_USAGE;
}

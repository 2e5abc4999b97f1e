/*
 * Shared pieces of the fwd command-line tool: option parsing for shapes
 * and build settings, loading a model or an engine, building with a
 * progress display, and filling inputs with fixed pseudo-random data.
 * Everything goes through the public API (include/fwd.h) only.
 */
#ifndef FWD_TOOLS_FWD_CLI_H
#define FWD_TOOLS_FWD_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fwd.h"

#define CLI_MAX_IO 256

/* Exit codes of every command. */
enum { CLI_OK = 0, CLI_FAILURE = 1, CLI_USAGE = 2 };

/* --shape NAME:AxB (one shape: min = opt = max) or NAME:MIN,OPT,MAX. */
typedef struct cli_shape {
    char *name;
    int rank;
    int64_t min[FWD_MAX_DIMS], opt[FWD_MAX_DIMS], max[FWD_MAX_DIMS];
    bool is_range; /* given as MIN,OPT,MAX */
} cli_shape;

/* --fill NAME:LO:HI, an inclusive range of values for one input. */
typedef struct cli_fill {
    char *name;
    double lo, hi;
} cli_fill;

/* Builder settings shared by build, run and bench. */
typedef struct cli_build_opts {
    const char *mode;      /* NULL: the library's default */
    bool device_given;
    int opt_level;         /* -1: default */
    int64_t batch_opt, batch_max; /* 0: not given */
    double workspace_mb;   /* < 0: not given */
    cli_shape shapes[CLI_MAX_IO];
    int n_shapes;
    bool verbose;
    bool any_given;        /* some builder option was given */
} cli_build_opts;

void cli_build_opts_init(cli_build_opts *o);
void cli_build_opts_free(cli_build_opts *o);

/*
 * Try option a (with value v, possibly NULL) as a build option of command
 * cmd. Returns 1 (consumed a and v), 2 (consumed a only), 0 (not a build
 * option) or -1 (bad value; reported on stderr).
 */
int cli_parse_build_option(const char *cmd, const char *a, const char *v, cli_build_opts *o);

/*
 * One command-line option: "--key value" or "--key=value". key is the
 * part before '='; val is the inline value or the next argument (NULL
 * when none). After using val, call cli_arg_used to step over it.
 */
typedef struct cli_arg {
    char key[64];
    const char *val;
    bool inline_val;
} cli_arg;
void cli_arg_split(int argc, char **argv, int i, cli_arg *out);
/* Advance *i past the value of a (when it came from the next argument). */
void cli_arg_used(const cli_arg *a, int *i);

/* What cli_next_arg did with argv[*i]. */
enum { CLI_ARG_ERROR = -1, CLI_ARG_DONE = 0, CLI_ARG_OPTION = 1 };

/*
 * One step of a command's argument loop: a plain argument becomes *path (a
 * second one is an error: "(the NOUN is 'PATH')"); an option is split into
 * *arg and, when it is a build option, parsed into o (stepping *i over its
 * value). Returns CLI_ARG_DONE when handled, CLI_ARG_OPTION when arg is
 * left to the command, CLI_ARG_ERROR when reported on stderr.
 */
int cli_next_arg(const char *cmd, const char *noun, int argc, char **argv, int *i, const char **path,
                 cli_build_opts *o, cli_arg *arg);

/* Parse "AxBxC" into dims; returns false on a malformed string. */
bool cli_parse_dims(const char *s, int64_t *dims, int *rank);
/* Parse a --shape value (see cli_shape); reports errors on stderr. */
bool cli_parse_shape(const char *cmd, const char *v, cli_shape *out);
/* Parse a --fill value NAME:LO:HI; reports errors on stderr. */
bool cli_parse_fill(const char *cmd, const char *v, cli_fill *out);
/* Parse a positive integer option value; reports errors on stderr. */
bool cli_parse_count(const char *cmd, const char *opt, const char *v, long min, long *out);

/* "[1,3,224,224]"; negative dims print as the symbolic name or "?". */
void cli_shape_str(const int64_t *dims, const char *const *names, int rank, char *buf, size_t cap);
/* "12.3 MiB" and the like. */
void cli_bytes_str(double bytes, char *buf, size_t cap);

/* Print "fwd CMD: WHAT: <last error> (STATUS)" and return code. */
int cli_fail(const char *cmd, const char *what, fwd_status st, int code);
/* The exit code for a failed fwd_context_run: inputs that do not fit
 * (shape, dtype, unknown or missing names) are the caller's error. */
int cli_run_failure_code(fwd_status st);

/*
 * Open PATH as an engine file, or else as a model. Exactly one of *engine
 * and *model is set on success. On failure prints why (naming the file)
 * and returns CLI_USAGE.
 */
int cli_open(const char *cmd, const char *path, fwd_engine **engine, fwd_model **model);

/*
 * Build an engine from a model with the given options (profiles from
 * o->shapes, then extra[] for inputs o->shapes does not name). Shows
 * progress when o->verbose or when show_progress. Returns an exit code.
 */
int cli_build(const char *cmd, const fwd_model *model, const cli_build_opts *o,
              const cli_shape *extra, int n_extra, bool show_progress, fwd_engine **out);

/* Name outs[0..n) after the engine's outputs (other fields untouched). */
void cli_name_outputs(const fwd_engine *e, fwd_tensor *outs, int n);

/* Index of input name in the engine, or -1 (with a message on stderr
 * listing the inputs, naming the option). */
int cli_engine_input_index(const char *cmd, const fwd_engine *e, const char *name, const char *opt);

/*
 * Fill t (dtype, rank and dims set; data NULL) with fixed pseudo-random
 * data: floats uniform in [-1, 1), integers and bools in [0, 1], or
 * [lo, hi] when a fill range is given. seed picks the stream.
 * Allocates t->data (free() it) and sets t->size. Returns false when out
 * of memory or the dtype cannot be filled.
 */
bool cli_fill_random(fwd_tensor *t, const cli_fill *range, uint64_t seed);

/* Monotonic time in seconds. */
double cli_now(void);

/* Engine printing shared by build and inspect. */
void cli_print_engine_summary(const fwd_engine *e);
void cli_print_profiles(const fwd_engine *e);
void cli_print_layers(const fwd_engine *e, bool only_fused);

/* Command entry points (argv excludes the command name). */
int cmd_run(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_inspect(int argc, char **argv);

#endif

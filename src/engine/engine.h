/* Builders, engines and contexts behind the public handles. */
#ifndef FWD_ENGINE_ENGINE_H
#define FWD_ENGINE_ENGINE_H

#include "engine/exec.h"
#include "fwd.h"

typedef enum fwd_mode {
    FWD_MODE_FLOAT32 = 0,
    FWD_MODE_FLOAT16 = 1,
    FWD_MODE_INT8 = 2,
    FWD_MODE_INT8_CALIB = 3
} fwd_mode;

const char *fwd_mode_name(fwd_mode m);

/* min/opt/max shape of one graph input. */
typedef struct engine_profile {
    int rank;
    int64_t min[FWD_MAX_DIMS], opt[FWD_MAX_DIMS], max[FWD_MAX_DIMS];
} engine_profile;

typedef struct named_profile {
    char *name;
    engine_profile p;
} named_profile;

struct fwd_builder {
    fwd_mode mode;
    fwd_device device;
    int opt_level;        /* 0: as imported; 1: passes + memory plan */
    size_t workspace;     /* 0: no limit */
    named_profile *profiles;
    int n_profiles;
    int64_t batch_opt, batch_max; /* 0 when not set */
    fwd_progress_fn progress;
    void *progress_user;
};

/*
 * The activation memory plan of the main graph: every planned value has a
 * byte offset in one arena per context. Values a node may overwrite in
 * place, and views (Reshape, Flatten, Squeeze, Unsqueeze, Identity) share
 * their source's offset. Values not planned (offset -1: data-dependent
 * sizes, or bigger at run time than planned) are allocated when produced.
 */
typedef struct mem_plan {
    int n_values;         /* the main graph's n_values when planned */
    int64_t *offset;      /* per value, or -1 */
    int64_t *capacity;    /* per value: bytes reserved at offset */
    size_t arena_bytes;   /* peak: the arena size */
    size_t unplanned_bytes; /* sum of all planned values' sizes */
    size_t scratch_bytes; /* kernels' workspace per context */
} mem_plan;

/* Immutable after the build: shared by all contexts and threads. */
struct fwd_engine {
    ir_model *ir; /* the optimised graph; keeps the weights alive */
    const fwd_backend *backend;
    exec_plans plans;
    fwd_mode mode;
    int opt_level;
    size_t workspace;
    engine_profile *profiles; /* one per main-graph input */
    mem_plan mem;
};

/* Everything a run needs is allocated here, at creation. */
struct fwd_context {
    const fwd_engine *engine;
    void *arena;          /* mem.arena_bytes */
    exec_scratch scratch; /* the main graph's frame */
    void *workspace;      /* mem.scratch_bytes for the kernels */
    ir_tensor *bound;     /* the run's inputs, in graph-input order */
    const ir_tensor **bound_ptrs;
    ir_tensor *outputs;   /* last run's outputs (one per graph output) */
    bool *output_owned;   /* outputs[i].data was allocated for the run */
    bool has_outputs;
    bool profiling;
    double *layer_us;     /* per main-graph node, when profiling */
};

/* Build: clone, run the passes, check kernels, plan. */
fwd_status engine_build(const struct fwd_builder *b, ir_model *model, struct fwd_engine **out);
/* Fill exec plans, profiles and the memory plan's derived fields of an
 * engine whose graph is final (used by the builder and the loader). */
fwd_status engine_prepare(struct fwd_engine *e);
void engine_free(struct fwd_engine *e);

/* Check a run's input shape against the profile; the error names the
 * input and the allowed range. */
fwd_status engine_check_profile(const struct fwd_engine *e, int input_index, const ir_value *v,
                                const fwd_tensor *t);

/* Plan activation memory for graph g with per-value byte sizes (-1 for
 * values to allocate at run time). */
fwd_status mem_plan_build(const ir_graph *g, const int64_t *sizes, const fwd_backend *backend, mem_plan *out);
void mem_plan_free(mem_plan *p);

#endif

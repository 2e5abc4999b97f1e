/*
 * fwd.h -- the public C API of Forward, a deep learning inference library.
 *
 * The flow is: load a model (fwd_model), configure a builder (fwd_builder),
 * build an engine (fwd_engine), create one context per thread
 * (fwd_context) and run it with named input and output tensors.
 *
 *     fwd_model *m;  fwd_builder *b;  fwd_engine *e;  fwd_context *c;
 *     if (fwd_model_load("net.onnx", &m) != FWD_OK) puts(fwd_last_error());
 *     fwd_builder_create(&b);
 *     fwd_builder_set_mode(b, "float32");
 *     fwd_builder_build(b, m, &e);
 *     fwd_context_create(e, &c);
 *     fwd_tensor in = {.name = "x", .dtype = FWD_FLOAT32, .rank = 2,
 *                      .dims = {1, 64}, .data = buf, .size = sizeof buf};
 *     fwd_tensor out = {.name = "y"};           // data NULL: library-owned
 *     fwd_context_run(c, &in, 1, &out, 1);
 *
 * Conventions:
 *  - Every function returns a fwd_status. On failure the calling thread's
 *    last-error message (fwd_last_error) names the cause: the op, the input,
 *    the byte offset in the file.
 *  - Handles are opaque. A model, a builder and a context are used by one
 *    thread at a time; an engine is immutable once built and may be shared
 *    by any number of threads, each running its own context.
 *  - Strings returned by the library stay valid as long as the handle they
 *    came from.
 *  - The *_free functions accept NULL and return FWD_OK.
 */
#ifndef FWD_H
#define FWD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FWD_VERSION_MAJOR 0
#define FWD_VERSION_MINOR 1
#define FWD_VERSION_PATCH 0
#define FWD_VERSION_STRING "0.1.0"
/* One number that grows with each release: major*10000 + minor*100 + patch. */
#define FWD_VERSION_NUMBER \
    (FWD_VERSION_MAJOR * 10000 + FWD_VERSION_MINOR * 100 + FWD_VERSION_PATCH)

/* Largest tensor rank the library handles. */
#define FWD_MAX_DIMS 8

#if defined(__GNUC__)
#define FWD_API __attribute__((visibility("default")))
#else
#define FWD_API
#endif

/* ------------------------------------------------------------------ */
/* Status codes                                                         */
/* ------------------------------------------------------------------ */

typedef enum fwd_status {
    FWD_OK = 0,
    FWD_ERR_INVALID_ARGUMENT = 1, /* a NULL handle, a bad enum value, ...  */
    FWD_ERR_IO = 2,               /* a file cannot be opened or read        */
    FWD_ERR_PARSE = 3,            /* a model/tensor file is malformed       */
    FWD_ERR_INVALID_MODEL = 4,    /* parsed, but the graph is inconsistent  */
    FWD_ERR_UNSUPPORTED = 5,      /* an op, dtype or feature we lack        */
    FWD_ERR_NOT_FOUND = 6,        /* an unknown input/output name           */
    FWD_ERR_SHAPE = 7,            /* a shape does not fit                   */
    FWD_ERR_DTYPE = 8,            /* a dtype does not fit                   */
    FWD_ERR_OUT_OF_MEMORY = 9,
    FWD_ERR_RUNTIME = 10,         /* a kernel failed on its data            */
    FWD_ERR_NOT_YET_SUPPORTED = 11, /* a named feature not built yet        */
    FWD_ERR_INTERNAL = 12
} fwd_status;

/* A constant English name for a status, e.g. "FWD_ERR_SHAPE". */
FWD_API const char *fwd_status_name(fwd_status status);

/*
 * The message of the last failed call made by this thread, or "" if none.
 * The string is thread-local and stays valid until this thread's next call
 * into the library.
 */
FWD_API const char *fwd_last_error(void);

/* The library's version string, e.g. "0.1.0" (FWD_VERSION_STRING). */
FWD_API const char *fwd_version(void);

/* ------------------------------------------------------------------ */
/* Logging                                                              */
/* ------------------------------------------------------------------ */

typedef enum fwd_log_level {
    FWD_LOG_ERROR = 0,
    FWD_LOG_WARNING = 1,
    FWD_LOG_INFO = 2,
    FWD_LOG_VERBOSE = 3
} fwd_log_level;

typedef void (*fwd_log_fn)(fwd_log_level level, const char *message,
                           void *user_data);

/*
 * Install a process-wide log callback (NULL restores the default, which
 * writes warnings and errors to stderr). Messages above the level set with
 * fwd_set_log_level are not delivered. May be called from any thread; the
 * callback may be called from any thread.
 */
FWD_API fwd_status fwd_set_log_callback(fwd_log_fn fn, void *user_data);
FWD_API fwd_status fwd_set_log_level(fwd_log_level level);

/* ------------------------------------------------------------------ */
/* Tensors                                                              */
/* ------------------------------------------------------------------ */

/* Element types; the numbers are those of ONNX's TensorProto.DataType. */
typedef enum fwd_dtype {
    FWD_DTYPE_UNDEFINED = 0,
    FWD_FLOAT32 = 1,
    FWD_UINT8 = 2,
    FWD_INT8 = 3,
    FWD_UINT16 = 4,
    FWD_INT16 = 5,
    FWD_INT32 = 6,
    FWD_INT64 = 7,
    FWD_STRING = 8, /* recognised in files, not computed on */
    FWD_BOOL = 9,   /* one byte per element, 0 or 1 */
    FWD_FLOAT16 = 10,
    FWD_FLOAT64 = 11,
    FWD_UINT32 = 12,
    FWD_UINT64 = 13,
    FWD_BFLOAT16 = 16
} fwd_dtype;

/* "float32", "int64", ... ; "undefined" for unknown values. */
FWD_API const char *fwd_dtype_name(fwd_dtype dtype);
/* Bytes per element; 0 for FWD_DTYPE_UNDEFINED, FWD_STRING and unknowns. */
FWD_API size_t fwd_dtype_size(fwd_dtype dtype);

typedef enum fwd_device { FWD_DEVICE_CPU = 0, FWD_DEVICE_CUDA = 1 } fwd_device;

/*
 * A tensor descriptor: a view of memory the caller (or the library, where a
 * function says so) owns. Data is dense, row-major (C order).
 *  - name: the graph input/output it binds to (for fwd_context_run).
 *  - size: bytes available at data (for outputs given by the caller) or
 *          bytes used (for tensors the library fills in).
 */
typedef struct fwd_tensor {
    const char *name;
    fwd_dtype dtype;
    int rank;
    int64_t dims[FWD_MAX_DIMS];
    void *data;
    size_t size;
    fwd_device device;
    int device_id;
} fwd_tensor;

/* Number of elements of a descriptor (product of dims; 1 for rank 0). */
FWD_API int64_t fwd_tensor_numel(const fwd_tensor *t);

/*
 * Read a tensor from a file: NumPy ".npy" (version 1-3, C order, little
 * endian) or an ONNX TensorProto ".pb", chosen by content. On success *out
 * describes newly allocated memory that fwd_tensor_release frees; out->name
 * is the TensorProto's name (or NULL), owned by the tensor too.
 */
FWD_API fwd_status fwd_tensor_read_file(const char *path, fwd_tensor *out);
/* Write a tensor as a NumPy ".npy" file (version 1.0). */
FWD_API fwd_status fwd_tensor_write_npy(const char *path, const fwd_tensor *t);
/* Free what fwd_tensor_read_file allocated and zero the descriptor. */
FWD_API fwd_status fwd_tensor_release(fwd_tensor *t);

/*
 * Compare two tensors elementwise as numpy.isclose does:
 * |actual - expected| <= atol + rtol * |expected|, NaN equal to NaN.
 * Returns FWD_ERR_DTYPE or FWD_ERR_SHAPE (with a message) when the tensors
 * differ in dtype or shape; otherwise FWD_OK with the figures in *result.
 */
typedef struct fwd_compare_result {
    int64_t count;          /* elements compared */
    int64_t mismatches;     /* elements outside the tolerance */
    int64_t worst_index;    /* flat index of the largest violation (or of
                               the largest difference when none) */
    double worst_actual, worst_expected;
    double max_abs_diff;    /* over all elements */
    double max_abs_expected;
} fwd_compare_result;

FWD_API fwd_status fwd_tensor_compare(const fwd_tensor *actual, const fwd_tensor *expected,
                                      double rtol, double atol, fwd_compare_result *result);

/* ------------------------------------------------------------------ */
/* Models                                                               */
/* ------------------------------------------------------------------ */

typedef struct fwd_model fwd_model;

/*
 * Load a model file. The format is found from the content (ONNX for now).
 * The file is memory-mapped; large weights are used in place. External
 * data files are looked up beside the model file.
 */
FWD_API fwd_status fwd_model_load(const char *path, fwd_model **out);
/*
 * Load a model from memory. The bytes are copied. External data files are
 * looked up in base_dir (NULL: the current directory).
 */
FWD_API fwd_status fwd_model_load_memory(const void *data, size_t size,
                                 const char *base_dir, fwd_model **out);
FWD_API fwd_status fwd_model_free(fwd_model *model);

/*
 * Description of a graph input or output. A dimension that is not fixed
 * is -1 in dims, and dim_names[i] holds its symbolic name (or NULL).
 */
typedef struct fwd_tensor_info {
    const char *name;
    fwd_dtype dtype;
    int rank; /* -1 when the rank is not known */
    int64_t dims[FWD_MAX_DIMS];
    const char *dim_names[FWD_MAX_DIMS];
} fwd_tensor_info;

FWD_API fwd_status fwd_model_num_inputs(const fwd_model *model, int *count);
FWD_API fwd_status fwd_model_num_outputs(const fwd_model *model, int *count);
FWD_API fwd_status fwd_model_input(const fwd_model *model, int index,
                           fwd_tensor_info *info);
FWD_API fwd_status fwd_model_output(const fwd_model *model, int index,
                            fwd_tensor_info *info);

/* Facts about a model, for inspection tools. */
typedef struct fwd_model_summary {
    const char *format;       /* "onnx" */
    int64_t ir_version;       /* the file's IR version */
    int64_t opset;            /* opset of the default domain */
    const char *producer;     /* producer name and version, or "" */
    int64_t num_nodes;        /* in the main graph */
    int64_t num_parameters;   /* elements of all initializers */
    int64_t parameter_bytes;  /* bytes of all initializers */
    int num_op_types;         /* distinct op types, see fwd_model_op_type */
} fwd_model_summary;

FWD_API fwd_status fwd_model_summarize(const fwd_model *model,
                               fwd_model_summary *summary);
/* The index-th distinct op type (sorted by name) and how many nodes use it. */
FWD_API fwd_status fwd_model_op_type(const fwd_model *model, int index,
                             const char **op_type, int64_t *count);

/* ------------------------------------------------------------------ */
/* Builders and engines                                                 */
/* ------------------------------------------------------------------ */

typedef struct fwd_builder fwd_builder;
typedef struct fwd_engine fwd_engine;

FWD_API fwd_status fwd_builder_create(fwd_builder **out);
FWD_API fwd_status fwd_builder_free(fwd_builder *builder);
/*
 * Infer mode by name: "float32" (default), "float16", "int8",
 * "int8_calib". A name the library does not know is FWD_ERR_INVALID_ARGUMENT;
 * a known mode not built yet is FWD_ERR_NOT_YET_SUPPORTED.
 */
FWD_API fwd_status fwd_builder_set_mode(fwd_builder *builder, const char *mode);
/*
 * An optimization profile for one input, as TensorRT has them: the engine
 * runs any shape with min[i] <= dims[i] <= max[i] for every dimension and
 * is tuned and planned for opt (memory is planned for max). rank must match
 * the input's rank; dimensions the model fixes must be given their fixed
 * value. Inputs without a profile take their fixed dims; a symbolic dim
 * not covered by fwd_builder_set_batch is unbounded (min 0, opt 1, no max):
 * any size runs, and memory is planned for the opt size, so larger sizes
 * allocate when they run.
 */
FWD_API fwd_status fwd_builder_set_shape(fwd_builder *builder, const char *input, int rank,
                                         const int64_t *min, const int64_t *opt,
                                         const int64_t *max);
/*
 * Shortcut for the leading (batch) dimension of every input whose first
 * dimension is symbolic: min 1, opt and max as given (Forward's builders'
 * opt/max batch). Profiles set with fwd_builder_set_shape take precedence.
 */
FWD_API fwd_status fwd_builder_set_batch(fwd_builder *builder, int64_t opt, int64_t max);
/* Upper bound on scratch memory a kernel may use, in bytes (0: no limit). */
FWD_API fwd_status fwd_builder_set_workspace(fwd_builder *builder, size_t bytes);
/*
 * Optimization level: 0 runs the graph as imported (no passes, no memory
 * plan; for comparisons), 1 (default) runs every pass and plans memory.
 */
FWD_API fwd_status fwd_builder_set_optimization(fwd_builder *builder, int level);
/*
 * Progress of a build: called with a stage name ("passes", "plan", ...),
 * the step done and the steps in the stage. Called on the building thread.
 */
typedef void (*fwd_progress_fn)(const char *stage, int done, int total, void *user_data);
FWD_API fwd_status fwd_builder_set_progress(fwd_builder *builder, fwd_progress_fn fn,
                                            void *user_data);
/* Target device; FWD_DEVICE_CPU is the default. */
FWD_API fwd_status fwd_builder_set_device(fwd_builder *builder, fwd_device device);
/*
 * Build an engine for the model. The engine does not refer to the builder
 * afterwards; it keeps the model's weights alive on its own, so the model
 * may be freed once the build returns.
 */
FWD_API fwd_status fwd_builder_build(fwd_builder *builder, const fwd_model *model,
                             fwd_engine **out);

FWD_API fwd_status fwd_engine_free(fwd_engine *engine);
FWD_API fwd_status fwd_engine_num_inputs(const fwd_engine *engine, int *count);
FWD_API fwd_status fwd_engine_num_outputs(const fwd_engine *engine, int *count);
FWD_API fwd_status fwd_engine_input(const fwd_engine *engine, int index,
                            fwd_tensor_info *info);
FWD_API fwd_status fwd_engine_output(const fwd_engine *engine, int index,
                             fwd_tensor_info *info);
/* Number of layers (nodes of the main graph) after the builder's passes. */
FWD_API fwd_status fwd_engine_num_layers(const fwd_engine *engine, int *count);

/* One layer of an engine, for inspection. */
typedef struct fwd_layer_info {
    const char *name;
    const char *op_type;    /* e.g. "Conv", "FusedConv", "FusedAttention" */
    const char *fused;      /* what was fused into it, e.g. "BatchNormalization+Relu", or "" */
    fwd_dtype precision;    /* the dtype it computes in */
    int num_inputs, num_outputs;
    int64_t output_dims[FWD_MAX_DIMS]; /* first output's static shape; -1 where it
                                          depends on the input shapes */
    int output_rank;
} fwd_layer_info;
FWD_API fwd_status fwd_engine_layer(const fwd_engine *engine, int index, fwd_layer_info *info);

/* Facts about an engine for summaries. */
typedef struct fwd_engine_summary {
    const char *mode;            /* "float32", ... */
    const char *device;          /* "cpu" */
    int num_layers;
    int num_fused;               /* layers that hold more than one source op */
    size_t weight_bytes;
    size_t activation_bytes;     /* peak planned activation memory per context */
    size_t unplanned_bytes;      /* sum of all activation sizes at max shapes */
} fwd_engine_summary;
FWD_API fwd_status fwd_engine_summarize(const fwd_engine *engine, fwd_engine_summary *summary);
/* The optimization profile of input index (min/opt/max; rank dims each). */
FWD_API fwd_status fwd_engine_input_profile(const fwd_engine *engine, int index,
                                            int64_t *min, int64_t *opt, int64_t *max);
/* Write the optimized graph in Graphviz dot format. */
FWD_API fwd_status fwd_engine_write_dot(const fwd_engine *engine, const char *path);

/*
 * Engine files. fwd_engine_save writes a versioned file (format version,
 * producer version, device and architecture, infer mode, profiles, builder
 * options, graph, kernel choices, weights aligned for mapping, checksum).
 * fwd_engine_load maps a file, checks its checksum and every offset and
 * size before use; a file of a newer format, of another device, or a
 * corrupted one gives FWD_ERR_PARSE / FWD_ERR_UNSUPPORTED with the cause.
 */
FWD_API fwd_status fwd_engine_save(const fwd_engine *engine, const char *path);
FWD_API fwd_status fwd_engine_load(const char *path, fwd_engine **out);
FWD_API fwd_status fwd_engine_load_memory(const void *data, size_t size, fwd_engine **out);

/* ------------------------------------------------------------------ */
/* Contexts                                                             */
/* ------------------------------------------------------------------ */

typedef struct fwd_context fwd_context;

/* A context holds the per-run state of one engine; one thread at a time. */
FWD_API fwd_status fwd_context_create(const fwd_engine *engine, fwd_context **out);
FWD_API fwd_status fwd_context_free(fwd_context *context);

/*
 * Run the engine once.
 *  - inputs: one descriptor per graph input, matched by name (all graph
 *    inputs must be given; order does not matter). Dtypes must match the
 *    graph; shapes must fit its fixed dimensions.
 *  - outputs: the graph outputs wanted, by name. If outputs[i].data is
 *    NULL the library points it at memory owned by the context, valid until
 *    the next run or fwd_context_free, and fills dtype, rank, dims and size.
 *    If data is given, size must be at least the output's byte size
 *    (else FWD_ERR_SHAPE, with the needed size in the message).
 */
FWD_API fwd_status fwd_context_run(fwd_context *context, const fwd_tensor *inputs,
                           int num_inputs, fwd_tensor *outputs,
                           int num_outputs);

/*
 * Per-layer timing: when on, each run records the time of every layer;
 * fwd_context_layer_time gives the last run's time of layer index in
 * microseconds.
 */
FWD_API fwd_status fwd_context_set_profiling(fwd_context *context, int on);
FWD_API fwd_status fwd_context_layer_time(const fwd_context *context, int index, double *micros);

#ifdef __cplusplus
}
#endif
#endif /* FWD_H */

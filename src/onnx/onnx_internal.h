/* Internals shared by the ONNX importer's files (not for op importers). */
#ifndef FWD_ONNX_INTERNAL_H
#define FWD_ONNX_INTERNAL_H

#include "onnx/onnx_import.h"
#include "onnx/onnx_proto.h"

/* Deepest nesting of subgraphs (and of any recursive message) we accept. */
#define ONNX_MAX_DEPTH 64

/* An external data file mapped during one import. */
typedef struct onnx_ext_file {
    char *path;          /* as written in the model (malloc'ed) */
    const uint8_t *data; /* mapping (owned by the model once recorded) */
    size_t size;
} onnx_ext_file;

/* State of one model import. */
typedef struct onnx_loader {
    ir_model *m;
    const uint8_t *buf;
    size_t size;
    const char *base_dir;
    onnx_ext_file *ext;
    int n_ext, cap_ext;
    int64_t opset; /* of the default domain */
} onnx_loader;

/* A TensorProto's header fields, with views into the buffer. */
typedef struct onnx_tensor_hdr {
    const char *name; /* NUL-terminated copy made by the caller's allocator, or NULL */
    const uint8_t *name_ptr;
    size_t name_len;
    int64_t data_type;
    ir_shape shape;
    size_t numel;
    bool has_raw;
    const uint8_t *raw;
    size_t raw_len;
    bool external;
    const uint8_t *location;
    size_t location_len;
    int64_t ext_offset, ext_length; /* -1 when absent */
} onnx_tensor_hdr;

/* The dtype of ONNX element type et when it is a numeric type Forward
 * supports (the numbers are the same); false otherwise. */
bool onnx_numeric_dtype(int64_t et, fwd_dtype *out);

/* Decode a TensorProto's header (dims, type, name, where the data is). */
fwd_status onnx_tensor_header(const pb_msg *msg, onnx_tensor_hdr *h);

/*
 * Fill t (dtype, shape, data, nbytes) from a TensorProto. L may be NULL
 * (then external data is unsupported). With an arena, small conversions
 * go there and raw data suitably aligned is used in place; without one
 * (arena NULL), data is malloc'ed and owned by the caller.
 */
fwd_status onnx_tensor_load(onnx_loader *L, fwd_arena *arena, const pb_msg *msg,
                            const onnx_tensor_hdr *h, const char *what, ir_tensor *t);

/* Map (once) an external data file and return the bytes of one tensor. */
fwd_status onnx_external_bytes(onnx_loader *L, const char *location, int64_t offset,
                               int64_t length, const char *tensor, const uint8_t **data,
                               size_t *size);
/* Release mapping records not handed to the model (on any exit). */
void onnx_loader_cleanup(onnx_loader *L);

/*
 * The names a GraphProto defines (inputs, initializers, node outputs),
 * known before its nodes are imported: a node may use a value produced by
 * a later node (ir_graph_toposort orders them), and a subgraph may use a
 * value of an enclosing graph that is produced after the subgraph's node.
 * Scopes of the graphs being imported form a thread-local stack.
 */
typedef struct onnx_scope {
    struct onnx_scope *parent;
    ir_graph *g;
    fwd_strmap defined; /* keys live in the model's arena */
    int fresh;          /* counter for onnx_fresh_name */
} onnx_scope;

void onnx_scope_push(onnx_scope *s, ir_graph *g);
void onnx_scope_pop(onnx_scope *s);
/* The innermost scope being imported (NULL outside an import). */
onnx_scope *onnx_scope_top(void);
/* The scope of graph g, or NULL. */
onnx_scope *onnx_scope_of(const ir_graph *g);
/* Whether name is defined in s's graph (declared or already created). */
bool onnx_scope_defines(const onnx_scope *s, const char *name);
/*
 * Resolve a name used in graph g: an existing value, a placeholder for a
 * value produced later in g, or a new IR_VALUE_OUTER value when an
 * enclosing graph defines it. -1 in *id when no graph defines it.
 */
fwd_status onnx_resolve(ir_graph *g, const char *name, int *id);

/* Collect every op the importer lacks (whole model, subgraphs included);
 * FWD_ERR_UNSUPPORTED listing them all. */
fwd_status onnx_check_ops(const ir_model *m, const pb_msg *graph);

/* Whether op_type means the same at default-domain opset (1..6) as at 7. */
bool onnx_op_same_as_opset7(const char *op_type, int64_t opset);
/* The oldest default-domain opset importers are written for; models at
 * 1..6 are accepted when all their ops are as at this one. */
#define ONNX_MIN_OPSET 7
#define ONNX_MAX_OPSET 17

/* Import a GraphProto into a new graph (parent NULL for the main one). */
fwd_status onnx_import_graph(onnx_loader *L, const pb_msg *msg, ir_graph *parent, int depth,
                             const char *default_name, ir_graph **out);

/* A NUL-terminated arena copy of a LEN field (NULL when out of memory). */
const char *onnx_str(ir_model *m, const pb_msg *msg, const pb_field *f);

#endif

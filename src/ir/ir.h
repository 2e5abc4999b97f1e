/*
 * The graph IR: models, graphs, values (tensors), nodes and attributes.
 *
 * Ops in the IR have the semantics of the newest ONNX opset we support for
 * the default domain ("" / ai.onnx); importers rewrite older forms (for
 * example Reshape-1's "shape" attribute) into that canonical form, so
 * kernels and passes see one version of each op.
 *
 * Memory: everything a model owns (strings, attributes, node arrays,
 * constant data that does not live in the mapped file) comes from the
 * model's arena and goes away with the model. Values and nodes live in
 * growable arrays of their graph and are referred to by index.
 */
#ifndef FWD_IR_IR_H
#define FWD_IR_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fwd.h"
#include "util/arena.h"
#include "util/strmap.h"

#define IR_MAX_RANK FWD_MAX_DIMS

struct ir_model;

/* A dimension: >= 0 is a known size; IR_DIM_UNKNOWN is an anonymous
 * unknown; values <= -2 are symbolic, ir_dim_sym() gives the symbol id
 * (an index into ir_model.sym_names). */
#define IR_DIM_UNKNOWN ((int64_t)-1)
static inline bool ir_dim_known(int64_t d) { return d >= 0; }
static inline int64_t ir_dim_from_sym(int sym) { return -2 - (int64_t)sym; }
static inline int ir_dim_sym(int64_t d) { return d <= -2 ? (int)(-2 - d) : -1; }

typedef struct ir_shape {
    int rank; /* -1 when unknown */
    int64_t dims[IR_MAX_RANK];
} ir_shape;

/* Element count; -1 if any dim (or the rank) is unknown, or the count
 * would pass 2^62. */
int64_t ir_shape_numel(const ir_shape *s);
bool ir_shape_known(const ir_shape *s);
bool ir_shape_equal(const ir_shape *a, const ir_shape *b);
/* "[1,3,224,224]" or "[N,3,?,?]" into buf; returns buf. */
const char *ir_shape_str(const ir_shape *s, const struct ir_model *m, char *buf, size_t cap);

/* Quantisation parameters attached to a value (filled by the int8 work). */
typedef struct ir_quant {
    int axis;          /* -1: per tensor */
    int count;         /* number of scales */
    const float *scale;
    const int32_t *zero_point;
} ir_quant;

/* A tensor: dtype, shape and (for constants and at run time) data. */
typedef struct ir_tensor {
    fwd_dtype dtype;
    ir_shape shape;
    void *data;    /* NULL when not known */
    size_t nbytes; /* bytes at data */
} ir_tensor;

size_t ir_tensor_numel(const ir_tensor *t);

typedef enum ir_value_kind {
    IR_VALUE_INTERMEDIATE = 0, /* produced by a node */
    IR_VALUE_INPUT = 1,        /* a graph input */
    IR_VALUE_CONST = 2,        /* an initializer or folded constant */
    IR_VALUE_OUTER = 3         /* a subgraph's reference to an enclosing
                                  scope's value of the same name */
} ir_value_kind;

typedef struct ir_value {
    const char *name;
    ir_value_kind kind;
    ir_tensor t;        /* dtype and static shape; data for constants */
    int producer;       /* node index, or -1 */
    bool is_output;     /* a graph output */
    ir_quant *quant;    /* NULL unless quantisation scales are known */
} ir_value;

/* Attribute types; numbers as ONNX AttributeProto.AttributeType. */
typedef enum ir_attr_type {
    IR_ATTR_UNDEFINED = 0,
    IR_ATTR_FLOAT = 1,
    IR_ATTR_INT = 2,
    IR_ATTR_STRING = 3,
    IR_ATTR_TENSOR = 4,
    IR_ATTR_GRAPH = 5,
    IR_ATTR_FLOATS = 6,
    IR_ATTR_INTS = 7,
    IR_ATTR_STRINGS = 8,
    IR_ATTR_TENSORS = 9,
    IR_ATTR_GRAPHS = 10
} ir_attr_type;

struct ir_graph;

typedef struct ir_attr {
    const char *name;
    ir_attr_type type;
    float f;
    int64_t i;
    const char *s; /* NUL-terminated; s_len excludes the NUL */
    size_t s_len;
    ir_tensor *t;
    struct ir_graph *g;
    int n; /* element count of the list types */
    float *floats;
    int64_t *ints;
    const char **strings;
    ir_tensor *tensors;
    struct ir_graph **graphs;
} ir_attr;

typedef struct ir_node {
    const char *name;
    const char *op_type;
    const char *domain; /* "" for the default domain */
    int opset;          /* the domain's opset the node was imported at */
    int n_inputs;
    int *inputs;        /* value ids; -1 for an absent optional input */
    int n_outputs;
    int *outputs;       /* value ids; -1 for an absent optional output */
    int n_attrs;
    ir_attr *attrs;
} ir_node;

typedef struct ir_graph {
    struct ir_model *model;
    struct ir_graph *parent; /* enclosing graph for subgraphs */
    const char *name;
    ir_value *values;
    int n_values, cap_values;
    ir_node *nodes;
    int n_nodes, cap_nodes;
    int *inputs; /* graph inputs (not initializers), in declared order */
    int n_inputs;
    int *outputs;
    int n_outputs;
    fwd_strmap by_name; /* value name -> id */
} ir_graph;

typedef struct ir_opset {
    const char *domain;
    int64_t version;
} ir_opset;

typedef struct ir_model {
    int refcount;
    fwd_arena arena;
    ir_graph *graph;
    const char *format; /* "onnx" */
    int64_t ir_version;
    const char *producer;
    ir_opset *opsets;
    int n_opsets;
    const char **sym_names; /* symbolic dim names */
    int n_syms, cap_syms;
    /* the mapped model file and mapped external data files */
    void **maps;
    size_t *map_sizes;
    int n_maps, cap_maps;
    struct ir_model *weights_owner; /* model whose data we point into */
    struct graph_list *graphs;      /* every graph of the model, for freeing */
} ir_model;

/* ---- models ---- */

fwd_status ir_model_new(ir_model **out);
void ir_model_ref(ir_model *m);
void ir_model_unref(ir_model *m);
/* Record a mapping (munmap'ed when the model is freed). */
fwd_status ir_model_add_map(ir_model *m, void *addr, size_t size);
/* Intern a symbolic dim name; returns the dim value (<= -2) or, when out
 * of memory, IR_DIM_UNKNOWN. */
int64_t ir_model_sym(ir_model *m, const char *name);
const char *ir_model_sym_name(const ir_model *m, int64_t dim);
int64_t ir_model_opset(const ir_model *m, const char *domain);

/* Arena helpers (NULL when out of memory). */
void *ir_alloc(ir_model *m, size_t size);
const char *ir_strdup(ir_model *m, const char *s);

/* ---- graphs ---- */

/* A new empty graph owned by m (freed with m); parent for subgraphs. */
ir_graph *ir_graph_new(ir_model *m, ir_graph *parent, const char *name);
/* Frees a graph's own arrays; ir_model_unref does this for all graphs. */
void ir_graph_free(ir_graph *g);

/* Value id by name in this graph (not enclosing ones), or -1. */
int ir_graph_find(const ir_graph *g, const char *name);
/* Add a value; name must be unique in the graph (FWD_ERR_INVALID_MODEL).
 * The name is copied. *id receives the new index. */
fwd_status ir_graph_add_value(ir_graph *g, const char *name, ir_value_kind kind,
                              fwd_dtype dtype, const ir_shape *shape, int *id);
/* A fresh unique name "<base>_<n>", for values and nodes made by passes. */
const char *ir_graph_unique_name(ir_graph *g, const char *base);
/* Add a constant value with data copied into the arena (data may be NULL:
 * zeroed storage is allocated). */
fwd_status ir_graph_add_const(ir_graph *g, const char *name, fwd_dtype dtype,
                              const ir_shape *shape, const void *data, int *id);
/* Add a node; inputs/outputs are value ids (copied). attrs are copied
 * shallowly (their payloads must already live in the model's arena). The
 * outputs' producer field is set. *index may be NULL. */
fwd_status ir_graph_add_node(ir_graph *g, const char *op_type, const char *name,
                             const int *inputs, int n_inputs,
                             const int *outputs, int n_outputs,
                             const ir_attr *attrs, int n_attrs, int *index);
/* Call fn(user, id) for each value id of g that node n's subgraphs (at
 * any depth) read by outer reference (a name they do not define). */
typedef void (*ir_outer_fn)(void *user, int id);
void ir_node_visit_outer_reads(const ir_graph *g, const ir_node *n, ir_outer_fn fn, void *user);
/* Set used[id] for every value of g read by outer reference from any of
 * its nodes' subgraphs. */
void ir_graph_mark_outer_reads(const ir_graph *g, bool *used);

/* Drop values nothing refers to (not an input, output, node operand or
 * subgraph outer reference) and renumber the rest; producers stay valid. */
fwd_status ir_graph_compact(ir_graph *g);
/* Remove nodes whose flag is set in drop[] (array of n_nodes), keeping the
 * order of the rest; producers are recomputed. Values are kept. */
fwd_status ir_graph_remove_nodes(ir_graph *g, const bool *drop);

/* Order nodes so each comes after the producers of its inputs (including
 * values its subgraphs take from this scope). FWD_ERR_INVALID_MODEL on a
 * cycle, naming a node on it. */
fwd_status ir_graph_toposort(ir_graph *g);
/* Check references, unique names, that every used value has a producer,
 * is an input, a constant or an outer value, and the op's input/output
 * counts. Recurses into subgraphs. */
fwd_status ir_graph_validate(const ir_graph *g);

/* Deep copy of a model's graph into a new model; constant data is shared
 * (the new model keeps a reference to src). */
fwd_status ir_model_clone(ir_model *src, ir_model **out);

/* ---- attributes ---- */

const ir_attr *ir_node_attr(const ir_node *n, const char *name);
int64_t ir_attr_int(const ir_node *n, const char *name, int64_t dflt);
float ir_attr_float(const ir_node *n, const char *name, float dflt);
/* NULL when absent. */
const char *ir_attr_string(const ir_node *n, const char *name, const char *dflt);
/* Sets *count (0 when absent) and returns the list (NULL when absent). */
const int64_t *ir_attr_ints(const ir_node *n, const char *name, int *count);
const float *ir_attr_floats(const ir_node *n, const char *name, int *count);

/* ---- dtypes ---- */

bool ir_dtype_is_float(fwd_dtype t);   /* f16, bf16, f32, f64 */
bool ir_dtype_is_int(fwd_dtype t);     /* signed or unsigned integers */
bool ir_dtype_is_signed(fwd_dtype t);

#endif

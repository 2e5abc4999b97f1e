/*
 * The ONNX importer: ModelProto bytes -> IR model.
 *
 * The protobuf wire format is decoded by our own reader (onnx_proto.c), so
 * that initializer data is used in place inside the memory-mapped file
 * (no copy of the weights) and errors can name the byte offset.
 *
 * Each NodeProto is first decoded into an onnx_node (names as strings,
 * attributes already as ir_attr) and then handed to the importer function
 * of its op, found through the family tables below. Most ops use
 * onnx_import_default, which adds the node unchanged; ops whose older
 * opsets differ from the newest form have their own function that rewrites
 * them into the canonical IR form (see ir/ir.h).
 */
#ifndef FWD_ONNX_IMPORT_H
#define FWD_ONNX_IMPORT_H

#include "ir/ir.h"

typedef struct onnx_node {
    const char *name;
    const char *op_type;
    const char *domain; /* "" for the default domain */
    int n_inputs;
    const char **inputs;  /* "" for an absent optional input */
    int n_outputs;
    const char **outputs; /* "" for an absent optional output */
    int n_attrs;
    ir_attr *attrs;
} onnx_node;

typedef struct onnx_import_ctx {
    ir_model *model;
    ir_graph *graph;  /* the graph (or subgraph) being filled */
    int64_t opset;    /* opset of the node's domain */
} onnx_import_ctx;

typedef fwd_status (*onnx_import_fn)(onnx_import_ctx *c, const onnx_node *n);

typedef struct onnx_op_importer {
    const char *op_type;
    onnx_import_fn fn;
} onnx_op_importer;

/* Add the node as it is (inputs resolved by name, outputs created). */
fwd_status onnx_import_default(onnx_import_ctx *c, const onnx_node *n);

/* Add an IR node by names: inputs must exist ("" for absent), outputs are
 * created (or reused when a value of that name already exists without a
 * producer). attrs are copied shallowly. */
fwd_status onnx_emit(onnx_import_ctx *c, const char *op_type, const char *name,
                     const char *const *inputs, int n_inputs,
                     const char *const *outputs, int n_outputs,
                     const ir_attr *attrs, int n_attrs);
/* Add an int64 constant (1-D of n values, or a scalar when n < 0 with one
 * value) under a fresh name derived from base; *name receives it. */
fwd_status onnx_add_const_i64(onnx_import_ctx *c, const char *base,
                              const int64_t *vals, int n, const char **name);
fwd_status onnx_add_const_f32(onnx_import_ctx *c, const char *base,
                              const float *vals, int n, const char **name);
/* A fresh value name unique in the graph. */
const char *onnx_fresh_name(onnx_import_ctx *c, const char *base);
/* Attributes of n minus the named ones (into the model's arena). */
fwd_status onnx_attrs_without(onnx_import_ctx *c, const onnx_node *n,
                              const char *const *drop, int n_drop,
                              ir_attr **attrs, int *n_attrs);
/* Error naming the node, its op and opset. */
fwd_status onnx_import_error(const onnx_import_ctx *c, const onnx_node *n,
                             fwd_status s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Find the importer for a default-domain op, or NULL. */
const onnx_op_importer *onnx_importer_find(const char *op_type);

/* The family tables (each ends with {NULL}). */
extern const onnx_op_importer onnx_importers_elementwise[];
extern const onnx_op_importer onnx_importers_tensor[];
extern const onnx_op_importer onnx_importers_reduce[];
extern const onnx_op_importer onnx_importers_nn[];
extern const onnx_op_importer onnx_importers_control[];
extern const onnx_op_importer onnx_importers_rnn[];
extern const onnx_op_importer onnx_importers_signal[];

/*
 * Parse an ONNX ModelProto. data must stay valid for the model's lifetime
 * (the caller maps the file and records the mapping in the model, or copies
 * the bytes into the model's arena). base_dir locates external data files
 * (NULL: current directory).
 */
fwd_status onnx_import_model(ir_model *m, const uint8_t *data, size_t size,
                             const char *base_dir);

/* Parse a TensorProto (a ".pb" tensor file) into t; data is malloc'ed and
 * owned by the caller; *name (may be NULL) receives a malloc'ed name. */
fwd_status onnx_read_tensor_proto(const uint8_t *data, size_t size, ir_tensor *t,
                                  char **name);

#endif

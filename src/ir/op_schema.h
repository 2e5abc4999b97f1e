/*
 * Op schemas: for each IR op, its input/output arity and its shape and type
 * inference function.
 *
 * Inference runs in two settings with one function:
 *  - statically (import, passes): inputs have dtypes and possibly partial
 *    shapes (unknown/symbolic dims, rank -1); data is set only for
 *    constants. The function fills what it can and leaves the rest unknown.
 *  - at run time: every input is concrete and has data; the output shapes
 *    must come out fully known, except for ops whose output shape depends on
 *    computed values (NonZero, Unique, Loop, ...), which set
 *    data_dependent and let the kernel choose the shape.
 *
 * Schemas are grouped by op family, one file each (src/ir/infer_*.c), each
 * exporting an array that ends with a {NULL} entry; op_schema.c joins them.
 */
#ifndef FWD_IR_OP_SCHEMA_H
#define FWD_IR_OP_SCHEMA_H

#include "ir/ir.h"

typedef struct ir_infer_ctx {
    const ir_node *node;
    ir_model *model;          /* for symbolic dim names; may be NULL */
    int n_in;
    const ir_tensor *const *in; /* NULL entries: absent optional inputs */
    int n_out;
    ir_tensor *out;           /* fill dtype and shape; data stays NULL */
    bool data_dependent;      /* set by ops whose shapes need the result */
} ir_infer_ctx;

typedef fwd_status (*ir_infer_fn)(ir_infer_ctx *c);

typedef struct ir_op_schema {
    const char *op_type;
    int min_inputs, max_inputs;   /* max -1: variadic */
    int min_outputs, max_outputs;
    ir_infer_fn infer;
} ir_op_schema;

/* The schema of a default-domain op, or NULL if the IR does not know it. */
const ir_op_schema *ir_op_schema_find(const char *op_type);

/* Run the op's inference: checks arity, then calls infer. Errors name the
 * node and op. */
fwd_status ir_infer_node(ir_infer_ctx *c);

/* Static shape/type inference over a graph in topological order (and its
 * subgraphs), updating each value's dtype and shape. */
fwd_status ir_graph_infer_shapes(ir_graph *g);

/* ---- helpers for infer functions ---- */

/* Error naming the node: "Op 'name': <message>". */
fwd_status ir_infer_error(const ir_infer_ctx *c, fwd_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Output i gets input j's dtype and shape. */
void ir_infer_copy(ir_infer_ctx *c, int out, int in);
/* Numpy-style multidirectional broadcast of a and b into out.
 * FWD_ERR_SHAPE when known dims clash. */
fwd_status ir_broadcast_shapes(const ir_shape *a, const ir_shape *b, ir_shape *out);
/* Normalise an axis in [-rank, rank) to [0, rank); FWD_ERR_INVALID_MODEL
 * (named after the node) when out of range. */
fwd_status ir_infer_axis(const ir_infer_ctx *c, int64_t axis, int rank, int *out);
/* Read an integer tensor (int32/int64) with known data into vals
 * (at most cap); returns the count, or -1 when data is unknown or it is
 * not an integer tensor. */
int ir_tensor_read_ints(const ir_tensor *t, int64_t *vals, int cap);
/* The same for a scalar float/integer/bool tensor of any numeric dtype. */
bool ir_tensor_scalar_f64(const ir_tensor *t, double *v);

/* The family arrays (each ends with {NULL}). */
extern const ir_op_schema ir_schemas_elementwise[];
extern const ir_op_schema ir_schemas_tensor[];
extern const ir_op_schema ir_schemas_reduce[];
extern const ir_op_schema ir_schemas_nn[];
extern const ir_op_schema ir_schemas_control[];
extern const ir_op_schema ir_schemas_rnn[];
extern const ir_op_schema ir_schemas_signal[];

#endif

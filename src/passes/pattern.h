/*
 * Graph-matching helpers shared by the fusing passes (private to passes/).
 *
 * A pass usually works in sweeps: build a pat_uses index of the graph,
 * walk the nodes looking for its pattern (skipping nodes already taken by
 * an earlier match of the sweep), append a replacement node whose outputs
 * are the pattern's final values (so consumers and graph outputs need no
 * rewiring), mark the matched nodes in a drop[] array, and at the end of
 * the sweep call ir_graph_remove_nodes. The builder re-sorts and re-infers
 * afterwards.
 *
 * Beware: ir_graph_add_node may move g->nodes, so copy what you need out of
 * an ir_node before adding one, and index nodes by number, not pointer.
 */
#ifndef FWD_PASSES_PATTERN_H
#define FWD_PASSES_PATTERN_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/ir.h"

/* Who reads each value of one graph (its nodes' input slots), and which
 * values must keep their name: graph outputs and values read by name from
 * a subgraph (IR_VALUE_OUTER references, at any depth). */
typedef struct pat_uses {
    int n_values;  /* the graph's n_values when built */
    int *n_uses;   /* per value: input slots reading it */
    int *start;    /* per value: first entry in node[] */
    int *node;     /* consumer node indices grouped by value; a node reading
                      a value in two slots appears twice */
    bool *pinned;  /* per value: graph output or read by a subgraph */
} pat_uses;

fwd_status pat_uses_build(const ir_graph *g, pat_uses *u);
void pat_uses_free(pat_uses *u);

/* Input slots of the graph's nodes that read v (0 for v outside the index). */
int pat_num_uses(const pat_uses *u, int v);
/* The k-th consumer node of v (0 <= k < pat_num_uses). */
int pat_use(const pat_uses *u, int v, int k);
/* v is a graph output or read from a subgraph. */
bool pat_pinned(const pat_uses *u, int v);
/* The node reading v when exactly one input slot of one node reads it and
 * v is not pinned; -1 otherwise. The test for an intermediate value that a
 * fusion may make disappear. */
int pat_single_consumer(const pat_uses *u, int v);
/* v is not pinned and every slot reading it belongs to one of nodes[0..n)
 * (and it has at least one reader). For patterns like x*sigmoid(x). */
bool pat_used_only_by(const pat_uses *u, int v, const int *nodes, int n);

/* The other input of two-input node n when one of its inputs is v (the
 * second when both are); -1 otherwise. */
int pat_other_input(const ir_node *n, int v);
/* The node producing v when it is op_type and v is read by one input slot
 * only (and is not pinned); -1 otherwise. */
int pat_single_use_producer(const ir_graph *g, const pat_uses *u, int v, const char *op_type);
/* The single consumer of v (pat_single_consumer) when it is op_type with
 * at least one output; -1 otherwise. */
int pat_consumer_op(const ir_graph *g, const pat_uses *u, int v, const char *op_type);

/* n is the default-domain op op_type. */
bool pat_is_op(const ir_node *n, const char *op_type);
/* Producer node index of value v (-1 for inputs, constants, absent). */
int pat_producer(const ir_graph *g, int v);
/* Input slot i of node n, or -1 when absent. */
int pat_input(const ir_node *n, int i);
/* Number of outputs of n that are present (id >= 0). */
int pat_num_outputs_present(const ir_node *n);
/* The node's outputs past the first are absent or not used at all. */
bool pat_only_first_output_used(const pat_uses *u, const ir_node *n);

/* ---- sweeps and matches ---- */

/* One sweep of a pass: the use index and the nodes to remove, with room
 * for the nodes present at the start (n0) and one appended node per
 * match. */
typedef struct pat_sweep {
    pat_uses u;
    bool *drop;
    int n0;
} pat_sweep;

/* Build the index and the drop marks; what names the pass in the
 * out-of-memory message ("out of memory <what>"). */
fwd_status pat_sweep_begin(const ir_graph *g, pat_sweep *s, const char *what);
/* End the sweep: when st is FWD_OK and n_changed > 0 remove the dropped
 * nodes; free everything. Returns st or the removal's status. */
fwd_status pat_sweep_end(ir_graph *g, pat_sweep *s, fwd_status st, int n_changed);

/* The nodes a match absorbed (further ones past the room are not kept:
 * callers treat a full list as no match where that matters). */
#define PAT_MAX_NODES 12
typedef struct pat_nodes {
    int idx[PAT_MAX_NODES];
    int n;
} pat_nodes;

void pat_nodes_add(pat_nodes *s, int node);
/* Some node of s is already marked in drop (taken by an earlier match). */
bool pat_nodes_taken(const pat_nodes *s, const bool *drop);
/* Mark every node of s in drop. */
void pat_nodes_drop(const pat_nodes *s, bool *drop);
/* "MatMul+Div+..." from the op types of s's nodes in graph order, in the
 * model's arena (NULL when out of memory; s must not be empty). */
const char *pat_nodes_fused(ir_graph *g, const pat_nodes *s);

/* ---- constants ---- */

/* v is a constant with data. */
bool pat_is_const(const ir_graph *g, int v);
/* Element count of a constant; -1 when v is not a constant. */
int64_t pat_const_numel(const ir_graph *g, int v);
/* Copy a constant of a float dtype (f16, bf16, f32, f64) with exactly n
 * elements into out as doubles; false otherwise. */
bool pat_const_doubles(const ir_graph *g, int v, double *out, int64_t n);
/* The value of a one-element constant of any numeric dtype (f16/bf16
 * included); false otherwise. */
bool pat_const_scalar(const ir_graph *g, int v, double *out);
/* A one-element constant within tol (relative to want, or absolute when
 * want is 0) of want. */
bool pat_const_near(const ir_graph *g, int v, double want, double tol);
/* A constant with every element equal to zero / false (integer or float
 * dtypes). */
bool pat_const_all_zero(const ir_graph *g, int v);
/* Copy an int64 or int32 constant of exactly n elements into out; false
 * otherwise. */
bool pat_const_i64s(const ir_graph *g, int v, int64_t *out, int64_t n);
/* Add a float32 constant of the given shape (data copied) under a fresh
 * name derived from base; *id receives it. */
fwd_status pat_add_f32_const(ir_graph *g, const char *base, const ir_shape *shape,
                             const float *data, int *id);

/* ---- rewiring ---- */

/* Make every input slot of g's nodes that reads from read to instead
 * (subgraphs are not touched: callers check pat_pinned first). */
void pat_replace_uses(ir_graph *g, int from, int to);
/* Append a node whose outputs may still be produced by nodes the caller
 * is about to drop: their producer link is cleared first. Same arguments
 * as ir_graph_add_node. */
fwd_status pat_emit_node(ir_graph *g, const char *op_type, const char *name, const int *inputs,
                         int n_inputs, const int *outputs, int n_outputs, const ir_attr *attrs,
                         int n_attrs, int *index);

/* ---- attributes (names and strings copied into the model's arena) ---- */

fwd_status pat_attr_int(ir_model *m, const char *name, int64_t v, ir_attr *out);
fwd_status pat_attr_float(ir_model *m, const char *name, float v, ir_attr *out);
fwd_status pat_attr_string(ir_model *m, const char *name, const char *s, ir_attr *out);
fwd_status pat_attr_ints(ir_model *m, const char *name, const int64_t *v, int n, ir_attr *out);
/* Copy n's attributes except PASS_FUSED_ATTR into dst (room for cap);
 * returns the count, or -1 when cap is too small. Payloads are shared. */
int pat_copy_attrs(const ir_node *n, ir_attr *dst, int cap);
/* What n already stands for: its PASS_FUSED_ATTR string, else its
 * op_type. */
const char *pat_fused_of(const ir_node *n);
/* "<prefix>+<op>" in the model's arena (NULL when out of memory). */
const char *pat_fused_join(ir_model *m, const char *prefix, const char *op);

#endif

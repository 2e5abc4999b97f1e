/*
 * LayerNormalization into the FusedMatMul that produces its input:
 *   y = LayerNormalization(FusedMatMul(A, B, C?, Z?), scale, bias?)
 * over the last axis becomes FusedMatMul(A, B, C?, Z?, scale, bias?) with
 * attribute norm_epsilon (fused_ops.h). The pattern is a post-LN
 * transformer's "projection + bias + residual, then LayerNorm" (BERT has
 * two per layer). The kernel normalises each thread's rows of the product
 * as soon as they are final, while they are in that core's cache, instead
 * of a separate pass over the whole output that reads half of every row
 * from the other cores (the product splits its columns over the threads).
 *
 * Runs after fuse_bias_activation (which makes the FusedMatMul) and
 * fuse_layernorm (which makes the LayerNormalization from exporters'
 * chains). Conditions: the product's output is read only by the
 * LayerNormalization; the normalised axis is the last one (axis -1 or
 * rank - 1) of a float32 tensor; scale and bias are float32 with that
 * dim's element count; stash_type is float32 (the default); only Y, not
 * the mean or inverse deviation outputs, is used.
 */

#include "passes/passes.h"
#include "passes/pattern.h"
#include "util/error.h"

/* Room for a FusedMatMul's attributes (alpha, transA, transB, the
 * activation's three) plus norm_epsilon and the fused string. */
#define MAX_ATTRS 16

/* v is float32 with n elements (n known). */
static bool f32_holding(const ir_graph *g, int v, int64_t n)
{
    if (v < 0) return true;
    const ir_tensor *t = &g->values[v].t;
    return t->dtype == FWD_FLOAT32 && ir_shape_numel(&t->shape) == n;
}

/* LayerNormalization at index li; *done when fused. */
static fwd_status fuse_one(ir_graph *g, const pat_uses *u, bool *drop, int li, bool *done)
{
    *done = false;
    const ir_node *ln = &g->nodes[li];
    if (ln->n_inputs < 2 || ln->n_outputs < 1 || ln->outputs[0] < 0 || !pat_only_first_output_used(u, ln))
        return FWD_OK;
    int x = ln->inputs[0], scale = ln->inputs[1], bias = pat_input(ln, 2), y = ln->outputs[0];
    if (x < 0 || scale < 0) return FWD_OK;
    const ir_shape *xs = &g->values[x].t.shape;
    if (xs->rank < 1 || g->values[x].t.dtype != FWD_FLOAT32 || g->values[y].t.dtype != FWD_FLOAT32) return FWD_OK;
    int64_t axis = ir_attr_int(ln, "axis", -1);
    if (axis != -1 && axis != xs->rank - 1) return FWD_OK;
    if (ir_attr_int(ln, "stash_type", 1) != 1) return FWD_OK;
    int64_t n = xs->dims[xs->rank - 1];
    if (n < 1 || !f32_holding(g, scale, n) || !f32_holding(g, bias, n)) return FWD_OK;
    int pi = pat_single_use_producer(g, u, x, "FusedMatMul");
    if (pi < 0 || drop[pi]) return FWD_OK;
    const ir_node *mm = &g->nodes[pi];
    if (mm->n_inputs > 4 || mm->n_outputs != 1) return FWD_OK;

    /* copy what is needed before adding anything (arrays may move) */
    ir_model *md = g->model;
    ir_attr attrs[MAX_ATTRS];
    int na = pat_copy_attrs(mm, attrs, MAX_ATTRS - 2);
    if (na < 0) return FWD_OK;
    FWD_TRY(pat_attr_float(md, "norm_epsilon", ir_attr_float(ln, "epsilon", 1e-5f), &attrs[na++]));
    const char *fused = pat_fused_join(md, pat_fused_of(mm), pat_fused_of(ln));
    if (!fused) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory fusing LayerNormalization '%s'", ln->name);
    FWD_TRY(pat_attr_string(md, PASS_FUSED_ATTR, fused, &attrs[na++]));
    int ins[6] = {-1, -1, -1, -1, scale, bias};
    for (int i = 0; i < mm->n_inputs; i++) ins[i] = mm->inputs[i];
    const char *name = mm->name;
    FWD_TRY(pat_emit_node(g, "FusedMatMul", name, ins, bias >= 0 ? 6 : 5, &y, 1, attrs, na, NULL));
    drop[pi] = true;
    drop[li] = true;
    *done = true;
    return FWD_OK;
}

fwd_status pass_fuse_matmul_layernorm(ir_graph *g, const pass_ctx *c, int *n_changed)
{
    *n_changed = 0;
    if (!c || !c->has_kernel || !c->has_kernel(c->user, "FusedMatMul", FWD_FLOAT32)) return FWD_OK;
    pat_sweep sw;
    FWD_TRY(pat_sweep_begin(g, &sw, "fusing LayerNormalization into FusedMatMul"));
    fwd_status st = FWD_OK;
    int changed = 0;
    for (int i = 0; i < sw.n0 && !st; i++) {
        if (sw.drop[i] || !pat_is_op(&g->nodes[i], "LayerNormalization")) continue;
        bool done = false;
        st = fuse_one(g, &sw.u, sw.drop, i, &done);
        if (done) changed++;
    }
    *n_changed = changed;
    return pat_sweep_end(g, &sw, st, changed);
}

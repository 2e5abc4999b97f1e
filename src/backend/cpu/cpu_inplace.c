/*
 * Which CPU kernels may write their output over an input (see
 * fwd_backend.output_over_input): a FusedConv that runs as one GEMM
 * pass over its residual Z. Writing the block's output into the bytes of
 * its residual halves that layer's memory traffic for the output (no
 * separate lines to fetch for writing), as the residual's lines are
 * already in cache when the result goes back.
 *
 * Safe when: the conv is pointwise (1x1, stride 1, no padding, one
 * group), so the GEMM reads the input X, not Z, as B; its depth (input
 * channels) fits one k slice of the GEMM (NN_GEMM_KC), so no partial sum
 * is stored into C before Z is read; and the weights are not packed for
 * the transposed small-image path. Each element of Z is then read by the
 * tile's epilogue right before the same element of Y is stored (the
 * AVX-512 tiles in registers; the AVX2 tile through a small buffer when
 * C and an addend alias, sgemm_kernel.c).
 */
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/cpu_prepack.h"
#include "backend/cpu/sgemm.h"

static bool all_equal(const ir_node *n, const char *name, int64_t want, bool absent_ok)
{
    int cnt = 0;
    const int64_t *v = ir_attr_ints(n, name, &cnt);
    if (!v) return absent_ok;
    for (int i = 0; i < cnt; i++)
        if (v[i] != want) return false;
    return true;
}

bool cpu_output_over_input(const ir_graph *g, const ir_node *n, int input)
{
    if (strcmp(n->op_type, "FusedConv") != 0 || n->domain[0] != '\0' || input != 3) return false;
    if (n->n_inputs < 4 || n->n_outputs < 1 || n->inputs[0] < 0 || n->inputs[3] < 0 || n->outputs[0] < 0) return false;
    const ir_value *x = &g->values[n->inputs[0]], *z = &g->values[n->inputs[3]], *y = &g->values[n->outputs[0]];
    if (x->t.dtype != FWD_FLOAT32 || z->t.dtype != FWD_FLOAT32 || y->t.dtype != FWD_FLOAT32) return false;
    if (ir_attr_int(n, "group", 1) != 1) return false;
    const char *ap = ir_attr_string(n, "auto_pad", "NOTSET");
    if (strcmp(ap, "NOTSET") != 0 && strcmp(ap, "VALID") != 0) return false;
    /* kernel_shape must be stated (a packed weight no longer shows it) */
    if (!all_equal(n, "kernel_shape", 1, false) || !all_equal(n, "strides", 1, true) ||
        !all_equal(n, "pads", 0, true))
        return false;
    if (ir_node_attr(n, CPU_PACKED_WT_ATTR) || ir_node_attr(n, CPU_WINOGRAD_ATTR) ||
        ir_node_attr(n, CPU_WINOGRAD4_ATTR) || ir_node_attr(n, CPU_PHASE_TAPS_ATTR) ||
        ir_node_attr(n, CPU_PHASE_GATHER_ATTR))
        return false;
    /* the depth: X's channels, known */
    if (x->t.shape.rank < 3 || x->t.shape.dims[1] < 1 || x->t.shape.dims[1] > NN_GEMM_KC) return false;
    return true;
}

/* The second step of the attention fusion (fuse_attention.c): head-major
 * FusedAttention nodes between Split/Reshape/Transpose chains become the
 * sequence-major form (fuse_attention_layout.c). */
#ifndef FWD_PASSES_FUSE_ATTENTION_LAYOUT_H
#define FWD_PASSES_FUSE_ATTENTION_LAYOUT_H

#include "ir/ir.h"

/* *n_changed counts the rewritten attention nodes. */
fwd_status pass_attention_layout(ir_graph *g, int *n_changed);

#endif

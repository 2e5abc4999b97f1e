/*
 * Einsum equation parsing, shared by shape inference and the CPU kernel.
 *
 * Every distinct subscript gets a label id: 'a'..'z' are 0..25, 'A'..'Z'
 * 26..51, and the dims an ellipsis stands for are 52.. (right-aligned, so
 * operands with fewer ellipsis dims broadcast against those with more).
 */
#ifndef FWD_IR_EINSUM_PARSE_H
#define FWD_IR_EINSUM_PARSE_H

#include <stddef.h>

#include "ir/ir.h"

#define EINSUM_MAX_OPERANDS 16
#define EINSUM_ELL_BASE 52
#define EINSUM_MAX_LABELS (EINSUM_ELL_BASE + IR_MAX_RANK)

typedef struct einsum_spec {
    int n_ops;
    bool ranks_known;          /* false: some ellipsis operand has unknown rank */
    int rank[EINSUM_MAX_OPERANDS];
    unsigned char labels[EINSUM_MAX_OPERANDS][IR_MAX_RANK];
    int out_rank;
    unsigned char out_labels[IR_MAX_RANK];
    int64_t label_dim[EINSUM_MAX_LABELS]; /* broadcast size; < 0 unknown */
    bool label_used[EINSUM_MAX_LABELS];
} einsum_spec;

/*
 * Parse eq for n_ops operands of the given (possibly partial) shapes.
 * On failure returns FWD_ERR_INVALID_MODEL or FWD_ERR_SHAPE and writes a
 * message (without the node name) into msg.
 */
fwd_status einsum_parse(const char *eq, int n_ops, const ir_shape *const *shapes,
                        einsum_spec *spec, char *msg, size_t msg_cap);

#endif

/* The FusedAttention CPU kernel (attention.c), joined into the fused_nlp
 * kernel table. */
#ifndef FWD_BACKEND_CPU_ATTENTION_H
#define FWD_BACKEND_CPU_ATTENTION_H

#include "backend/cpu/cpu_kernels.h"

fwd_status cpu_fused_attention(fwd_kernel_ctx *k);

#endif

/* CPU kernels for FusedConv and FusedMatMul (see ir/fused_ops.h). */
#include "backend/cpu/cpu_kernels.h"

const cpu_kernel_entry cpu_kernels_fused_linear[] = {
    {NULL, NULL},
};

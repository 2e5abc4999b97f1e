/* CPU kernels for the control op family. */
#include "backend/cpu/cpu_kernels.h"

const cpu_kernel_entry cpu_kernels_control[] = {
    {NULL, NULL},
};

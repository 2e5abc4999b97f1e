/* CPU kernels for the signal op family. */
#include "backend/cpu/cpu_kernels.h"

const cpu_kernel_entry cpu_kernels_signal[] = {
    {NULL, NULL},
};

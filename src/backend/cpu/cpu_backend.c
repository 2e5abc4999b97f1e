/* The CPU backend: kernel lookup over the family tables and host memory. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/cpu_prepack.h"
#include "util/strmap.h"

static const cpu_kernel_entry *const families[] = {
    cpu_kernels_elementwise, cpu_kernels_tensor, cpu_kernels_reduce, cpu_kernels_nn,
    cpu_kernels_control,     cpu_kernels_rnn,    cpu_kernels_signal, cpu_kernels_fused_linear,
    cpu_kernels_fused_nlp,
};

/* name -> entry, built once; entries are addressed as (family << 16 | i). */
static fwd_strmap kernel_index;
static pthread_once_t kernel_index_once = PTHREAD_ONCE_INIT;

static void build_index(void)
{
    for (int f = 0; f < (int)(sizeof families / sizeof families[0]); f++)
        for (int i = 0; families[f][i].op_type; i++)
            if (fwd_strmap_get(&kernel_index, families[f][i].op_type) < 0)
                fwd_strmap_put(&kernel_index, families[f][i].op_type, f << 16 | i);
}

const cpu_kernel_entry *cpu_kernel_find(const char *op_type)
{
    pthread_once(&kernel_index_once, build_index);
    int v = fwd_strmap_get(&kernel_index, op_type);
    if (v < 0) return NULL;
    return &families[v >> 16][v & 0xffff];
}

fwd_status cpu_kernel_error(const fwd_kernel_ctx *k, fwd_status s, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fwd_errorf(s, "%s '%s': %s", k->node->op_type, k->node->name, msg);
}

static bool cpu_supports_node(const ir_node *node, const fwd_dtype *in_dtypes, int n_in)
{
    (void)in_dtypes;
    (void)n_in;
    return node->domain[0] == '\0' && cpu_kernel_find(node->op_type) != NULL;
}

static fwd_status cpu_run_node(fwd_kernel_ctx *k)
{
    const cpu_kernel_entry *e = cpu_kernel_find(k->node->op_type);
    if (!e)
        return fwd_errorf(FWD_ERR_UNSUPPORTED, "%s '%s': no CPU kernel", k->node->op_type,
                          k->node->name);
    return e->run(k);
}

static void *cpu_alloc(size_t bytes)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) return NULL;
    return p;
}

static void cpu_free(void *p) { free(p); }

static fwd_status cpu_copy(void *dst, const void *src, size_t bytes, int dir)
{
    (void)dir;
    if (bytes) memcpy(dst, src, bytes);
    return FWD_OK;
}

const fwd_backend fwd_backend_cpu = {
    .name = "cpu",
    .device = FWD_DEVICE_CPU,
    .supports_node = cpu_supports_node,
    .run_node = cpu_run_node,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .prepare_graph = cpu_prepack_weights,
    .copy = cpu_copy,
    .output_over_input = cpu_output_over_input,
};

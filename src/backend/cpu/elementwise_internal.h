/*
 * Private interface of the elementwise CPU kernels (elementwise_*.c).
 *
 * Every elementwise kernel is an "inner loop" function that processes n
 * consecutive output elements, run by one broadcast driver
 * (elt_run). The driver collapses the output shape into as few dims as
 * possible, so that the innermost run is one plain loop in which each input
 * is either contiguous (stride 1) or a single repeated element (stride 0);
 * the loop is told which through ctx->scalar[].
 */
#ifndef FWD_BACKEND_CPU_ELEMENTWISE_INTERNAL_H
#define FWD_BACKEND_CPU_ELEMENTWISE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/cpu/cpu_kernels.h"

#define ELT_MAX_IN 3

/* Scalar parameters of an op (attribute values, Clip bounds, ...). */
typedef struct elt_params {
    float f[4];
    double d[4];
    int64_t i[4];
    uint64_t u[2];
} elt_params;

struct elt_loop_ctx;
typedef void (*elt_loop_fn)(const struct elt_loop_ctx *c, void *out,
                            const void *const *in, int64_t n);

typedef struct elt_loop_ctx {
    bool scalar[ELT_MAX_IN]; /* input k repeats one element (set by the driver) */
    int n_in;
    const elt_params *p;
    /* for wrapper loops (float16/bfloat16 via float32, generic paths) */
    elt_loop_fn inner;
    fwd_dtype in_dtype[ELT_MAX_IN];
    fwd_dtype out_dtype;
} elt_loop_ctx;

/* Elements per parallel chunk, so that each chunk takes some tens of
 * microseconds: memory-bound ops (add, relu, cast), vectorised
 * transcendentals (exp, erf, tanh, sigmoid) and scalar libm calls or
 * integer division (sin, pow, int Div/Mod). */
#define ELT_GRAIN_CHEAP ((int64_t)65536)
#define ELT_GRAIN_FAST ((int64_t)32768)
#define ELT_GRAIN_COSTLY ((int64_t)4096)

/*
 * Run fn over every element of out, with the n_in inputs broadcast to out's
 * shape (numpy rules; an input's rank may be lower). ctx supplies p, inner
 * and dtypes; scalar[] and n_in are filled here. Inputs of rank above out's
 * or with clashing dims are an error naming the node.
 */
fwd_status elt_run(const fwd_kernel_ctx *k, ir_tensor *out, const ir_tensor *const *in,
                   int n_in, elt_loop_fn fn, const elt_loop_ctx *ctx, int64_t grain);

/* Wrapper loop: converts float16/bfloat16 inputs (per in_dtype) to float32
 * in blocks, runs ctx->inner on them and converts a float16/bfloat16 result
 * back (per out_dtype; other out dtypes are written directly). */
void elt_loop_half(const elt_loop_ctx *c, void *out, const void *const *in, int64_t n);

/* Wrapper loop for rare dtypes: reads every input through double, runs
 * ctx->inner (a float64 loop) and writes the result through double
 * (a bool out_dtype is written directly by inner). int64 beyond 2^53
 * loses precision, so hot and exact paths use typed loops instead. */
void elt_loop_f64(const elt_loop_ctx *c, void *out, const void *const *in, int64_t n);

/* Input i if present, else NULL. */
static inline const ir_tensor *elt_in(const fwd_kernel_ctx *k, int i)
{
    return (i < k->n_in) ? k->in[i] : NULL;
}
static inline ir_tensor *elt_out(const fwd_kernel_ctx *k, int i)
{
    return (i < k->n_out) ? k->out[i] : NULL;
}

/* Checks an output exists and, for data-dependent runs, allocates it. */
fwd_status elt_prepare_out(fwd_kernel_ctx *k, int index, fwd_dtype dtype,
                           const ir_shape *shape, ir_tensor **out);
/* Broadcast shape of the inputs (error names the node). */
fwd_status elt_broadcast_shape(const fwd_kernel_ctx *k, const ir_tensor *const *in,
                               int n_in, ir_shape *out);

bool elt_is_half(fwd_dtype t);

/* Kernels, by file. */
/* elementwise_unary.c */
fwd_status elt_k_unary(fwd_kernel_ctx *k);      /* dispatches on op_type */
/* elementwise_binary.c */
fwd_status elt_k_binary(fwd_kernel_ctx *k);     /* Add ... GreaterOrEqual */
fwd_status elt_k_pow(fwd_kernel_ctx *k);
fwd_status elt_k_prelu(fwd_kernel_ctx *k);
/* The broadcast loop of binary op `name` ("Add", "Max", ...) on dtype dt,
 * or NULL; sets ctx's dtypes (and inner for float16/bfloat16). */
elt_loop_fn elt_binary_loop(const char *name, fwd_dtype dt, elt_loop_ctx *ctx);
/* elementwise_misc.c */
fwd_status elt_k_variadic(fwd_kernel_ctx *k);   /* Sum Mean Max Min */
fwd_status elt_k_where(fwd_kernel_ctx *k);
fwd_status elt_k_clip(fwd_kernel_ctx *k);
fwd_status elt_k_identity(fwd_kernel_ctx *k);
fwd_status elt_k_dropout(fwd_kernel_ctx *k);
/* elementwise_cast.c */
fwd_status elt_k_cast(fwd_kernel_ctx *k);
fwd_status elt_k_castlike(fwd_kernel_ctx *k);
/* Convert n elements between numeric dtypes (no broadcasting). */
fwd_status elt_cast_buffer(fwd_dtype from, const void *src, fwd_dtype to, void *dst, int64_t n);

#endif

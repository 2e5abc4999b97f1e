/* Helpers shared by the CPU kernels: strides, broadcasting, generic
 * element access for slow paths. */
#ifndef FWD_BACKEND_CPU_UTIL_H
#define FWD_BACKEND_CPU_UTIL_H

#include <math.h>
#include <string.h>

#include "ir/ir.h"
#include "util/half.h"

/* Row-major strides (in elements) of a shape. */
static inline void cpu_strides(const ir_shape *s, int64_t *strides)
{
    int64_t acc = 1;
    for (int i = s->rank - 1; i >= 0; i--) {
        strides[i] = acc;
        acc *= s->dims[i];
    }
}

/* Strides to read `in` as if broadcast to `out` (numpy rules, right
 * aligned): 0 on broadcast dims. strides has out->rank entries. */
static inline void cpu_broadcast_strides(const ir_shape *in, const ir_shape *out, int64_t *strides)
{
    int64_t own[IR_MAX_RANK];
    cpu_strides(in, own);
    int off = out->rank - in->rank;
    for (int i = 0; i < out->rank; i++) {
        int j = i - off;
        strides[i] = (j < 0 || in->dims[j] == 1) ? 0 : own[j];
    }
}

/* Offset of flat index `flat` of shape `s`, read through `strides`. */
static inline int64_t cpu_offset(const ir_shape *s, const int64_t *strides, int64_t flat)
{
    int64_t off = 0;
    for (int i = s->rank - 1; i >= 0; i--) {
        int64_t d = s->dims[i];
        if (d == 0) return 0;
        off += (flat % d) * strides[i];
        flat /= d;
    }
    return off;
}

/* Generic element access through double (slow paths and odd dtypes).
 * int64 values beyond 2^53 lose precision; fast paths avoid this. */
static inline double cpu_get_f64(fwd_dtype t, const void *p, int64_t i)
{
    switch (t) {
    case FWD_FLOAT32: return ((const float *)p)[i];
    case FWD_FLOAT64: return ((const double *)p)[i];
    case FWD_FLOAT16: return fwd_f16_to_f32(((const uint16_t *)p)[i]);
    case FWD_BFLOAT16: return fwd_bf16_to_f32(((const uint16_t *)p)[i]);
    case FWD_INT8: return ((const int8_t *)p)[i];
    case FWD_UINT8: return ((const uint8_t *)p)[i];
    case FWD_INT16: return ((const int16_t *)p)[i];
    case FWD_UINT16: return ((const uint16_t *)p)[i];
    case FWD_INT32: return ((const int32_t *)p)[i];
    case FWD_UINT32: return ((const uint32_t *)p)[i];
    case FWD_INT64: return (double)((const int64_t *)p)[i];
    case FWD_UINT64: return (double)((const uint64_t *)p)[i];
    case FWD_BOOL: return ((const uint8_t *)p)[i] ? 1.0 : 0.0;
    default: return 0.0;
    }
}

static inline void cpu_set_f64(fwd_dtype t, void *p, int64_t i, double v)
{
    switch (t) {
    case FWD_FLOAT32: ((float *)p)[i] = (float)v; break;
    case FWD_FLOAT64: ((double *)p)[i] = v; break;
    case FWD_FLOAT16: ((uint16_t *)p)[i] = fwd_f32_to_f16((float)v); break;
    case FWD_BFLOAT16: ((uint16_t *)p)[i] = fwd_f32_to_bf16((float)v); break;
    case FWD_INT8: ((int8_t *)p)[i] = (int8_t)v; break;
    case FWD_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case FWD_INT16: ((int16_t *)p)[i] = (int16_t)v; break;
    case FWD_UINT16: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case FWD_INT32: ((int32_t *)p)[i] = (int32_t)v; break;
    case FWD_UINT32: ((uint32_t *)p)[i] = (uint32_t)v; break;
    case FWD_INT64: ((int64_t *)p)[i] = (int64_t)v; break;
    case FWD_UINT64: ((uint64_t *)p)[i] = (uint64_t)v; break;
    case FWD_BOOL: ((uint8_t *)p)[i] = v != 0.0; break;
    default: break;
    }
}

/* Exact element access for integer and bool tensors (no trip through
 * double, so int64 values beyond 2^53 survive). */
static inline int64_t cpu_get_i64(fwd_dtype t, const void *p, int64_t i)
{
    switch (t) {
    case FWD_INT8: return ((const int8_t *)p)[i];
    case FWD_UINT8: return ((const uint8_t *)p)[i];
    case FWD_INT16: return ((const int16_t *)p)[i];
    case FWD_UINT16: return ((const uint16_t *)p)[i];
    case FWD_INT32: return ((const int32_t *)p)[i];
    case FWD_UINT32: return ((const uint32_t *)p)[i];
    case FWD_INT64: return ((const int64_t *)p)[i];
    case FWD_UINT64: return (int64_t)((const uint64_t *)p)[i];
    case FWD_BOOL: return ((const uint8_t *)p)[i] != 0;
    default: return 0;
    }
}

static inline void cpu_set_i64(fwd_dtype t, void *p, int64_t i, int64_t v)
{
    switch (t) {
    case FWD_INT8: ((int8_t *)p)[i] = (int8_t)v; break;
    case FWD_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case FWD_INT16: ((int16_t *)p)[i] = (int16_t)v; break;
    case FWD_UINT16: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case FWD_INT32: ((int32_t *)p)[i] = (int32_t)v; break;
    case FWD_UINT32: ((uint32_t *)p)[i] = (uint32_t)v; break;
    case FWD_INT64: ((int64_t *)p)[i] = v; break;
    case FWD_UINT64: ((uint64_t *)p)[i] = (uint64_t)v; break;
    case FWD_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    default: break;
    }
}

/* Integer index read from an int32/int64 tensor. */
static inline int64_t cpu_get_index(const ir_tensor *t, int64_t i)
{
    return t->dtype == FWD_INT32 ? ((const int32_t *)t->data)[i] : ((const int64_t *)t->data)[i];
}

#endif

/*
 * A minimal reader of the protobuf wire format, enough for ONNX files.
 *
 * A message is a byte range [start, end) of the whole file buffer, so
 * every error can report an absolute byte offset. Nothing is copied:
 * strings and bytes fields are (pointer, length) views into the buffer.
 * All reads are bounds-checked; unknown fields are skipped by the caller
 * simply not asking for them.
 */
#ifndef FWD_ONNX_PROTO_H
#define FWD_ONNX_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fwd.h"

/* Wire types. */
enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

typedef struct pb_msg {
    const uint8_t *buf; /* the whole file */
    size_t start, end;  /* this message's bytes */
    const char *type;   /* message type name for errors, e.g. "NodeProto" */
} pb_msg;

typedef struct pb_field {
    uint32_t num;
    int wire;
    uint64_t u;        /* VARINT, I64 and I32 values (raw bits) */
    size_t off;        /* offset of the field's key in buf */
    size_t data_off;   /* LEN: payload offset in buf */
    size_t len;        /* LEN: payload length */
} pb_field;

typedef struct pb_iter {
    const pb_msg *m;
    size_t pos;
} pb_iter;

static inline pb_msg pb_root(const uint8_t *buf, size_t size, const char *type)
{
    pb_msg m = {buf, 0, size, type};
    return m;
}
static inline pb_iter pb_begin(const pb_msg *m)
{
    pb_iter it = {m, m->start};
    return it;
}

/* Next field; *has = false at the end. FWD_ERR_PARSE on malformed bytes. */
fwd_status pb_next(pb_iter *it, pb_field *f, bool *has);

/* A LEN field as a sub-message of the given type. */
fwd_status pb_sub(const pb_msg *m, const pb_field *f, const char *type, pb_msg *out);

/* A LEN field's bytes (view into the buffer). */
static inline const uint8_t *pb_bytes(const pb_msg *m, const pb_field *f)
{
    return m->buf + f->data_off;
}

/* Error for field f of m: "<Type>.<field name> (field N) at byte OFF: ...". */
fwd_status pb_error(const pb_msg *m, const pb_field *f, fwd_status s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Check the wire type of f (FWD_ERR_PARSE naming the field otherwise). */
fwd_status pb_expect(const pb_msg *m, const pb_field *f, int wire);

/* Element kinds of repeated scalar fields. */
typedef enum { PB_ELEM_VARINT, PB_ELEM_FIXED32, PB_ELEM_FIXED64 } pb_elem;

/*
 * Repeated scalar field num of m, packed or not (both may be mixed).
 * With out == NULL only counts into *count. Otherwise writes at most cap
 * values (uint64_t each: varints as read, fixed32 as the low 32 bits).
 */
fwd_status pb_repeated(const pb_msg *m, uint32_t num, pb_elem kind, uint64_t *out,
                       size_t cap, size_t *count);

/* Count occurrences of field num in m (any wire type). */
fwd_status pb_count(const pb_msg *m, uint32_t num, size_t *count);

#endif

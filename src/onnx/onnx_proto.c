/* Protobuf wire-format reader (see onnx_proto.h). */
#include "onnx/onnx_proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"

/* Field names of the ONNX messages, for error messages only. */
typedef struct field_name {
    const char *type;
    uint32_t num;
    const char *name;
} field_name;

static const field_name k_field_names[] = {
    {"ModelProto", 1, "ir_version"},        {"ModelProto", 2, "producer_name"},
    {"ModelProto", 3, "producer_version"},  {"ModelProto", 7, "graph"},
    {"ModelProto", 8, "opset_import"},      {"OperatorSetIdProto", 1, "domain"},
    {"OperatorSetIdProto", 2, "version"},   {"GraphProto", 1, "node"},
    {"GraphProto", 2, "name"},              {"GraphProto", 5, "initializer"},
    {"GraphProto", 11, "input"},            {"GraphProto", 12, "output"},
    {"GraphProto", 13, "value_info"},       {"GraphProto", 15, "sparse_initializer"},
    {"NodeProto", 1, "input"},              {"NodeProto", 2, "output"},
    {"NodeProto", 3, "name"},               {"NodeProto", 4, "op_type"},
    {"NodeProto", 5, "attribute"},          {"NodeProto", 7, "domain"},
    {"AttributeProto", 1, "name"},          {"AttributeProto", 2, "f"},
    {"AttributeProto", 3, "i"},             {"AttributeProto", 4, "s"},
    {"AttributeProto", 5, "t"},             {"AttributeProto", 6, "g"},
    {"AttributeProto", 7, "floats"},        {"AttributeProto", 8, "ints"},
    {"AttributeProto", 9, "strings"},       {"AttributeProto", 10, "tensors"},
    {"AttributeProto", 11, "graphs"},       {"AttributeProto", 20, "type"},
    {"AttributeProto", 21, "ref_attr_name"}, {"TensorProto", 1, "dims"},          {"TensorProto", 3, "segment"},
    {"TensorProto", 2, "data_type"},        {"TensorProto", 4, "float_data"},
    {"TensorProto", 5, "int32_data"},       {"TensorProto", 6, "string_data"},
    {"TensorProto", 7, "int64_data"},       {"TensorProto", 8, "name"},
    {"TensorProto", 9, "raw_data"},         {"TensorProto", 10, "double_data"},
    {"TensorProto", 11, "uint64_data"},     {"TensorProto", 13, "external_data"},
    {"TensorProto", 14, "data_location"},   {"ValueInfoProto", 1, "name"},
    {"ValueInfoProto", 2, "type"},          {"TypeProto", 1, "tensor_type"},
    {"TypeProto", 4, "sequence_type"},      {"TypeProto", 5, "map_type"},
    {"TypeProto", 8, "sparse_tensor_type"}, {"TypeProto", 9, "optional_type"},
    {"TypeProto.Tensor", 1, "elem_type"},   {"TypeProto.Tensor", 2, "shape"},
    {"TensorShapeProto", 1, "dim"},         {"TensorShapeProto.Dimension", 1, "dim_value"},
    {"TensorShapeProto.Dimension", 2, "dim_param"},
    {"StringStringEntryProto", 1, "key"},   {"StringStringEntryProto", 2, "value"},
};

static const char *field_name_of(const char *type, uint32_t num)
{
    for (size_t i = 0; i < sizeof k_field_names / sizeof k_field_names[0]; i++)
        if (k_field_names[i].num == num && strcmp(k_field_names[i].type, type) == 0)
            return k_field_names[i].name;
    return NULL;
}

fwd_status pb_error(const pb_msg *m, const pb_field *f, fwd_status s, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *fname = field_name_of(m->type, f->num);
    return fwd_errorf(s, "%s.%s (field %u) at byte %zu: %s", m->type, fname ? fname : "?",
                      (unsigned)f->num, f->off, msg);
}

/* Read a varint at *pos (< end); advances *pos. Returns false when it is
 * truncated or longer than 10 bytes. */
static bool read_varint(const uint8_t *buf, size_t end, size_t *pos, uint64_t *v)
{
    uint64_t x = 0;
    size_t p = *pos;
    for (int shift = 0; shift < 70; shift += 7) {
        if (p >= end) return false;
        uint8_t b = buf[p++];
        if (shift == 63 && (b & 0x7e)) return false; /* over 64 bits */
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *pos = p;
            *v = x;
            return true;
        }
    }
    return false;
}

static uint64_t load_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

fwd_status pb_next(pb_iter *it, pb_field *f, bool *has)
{
    const pb_msg *m = it->m;
    *has = false;
    if (it->pos >= m->end) return FWD_OK;
    memset(f, 0, sizeof *f);
    f->off = it->pos;
    uint64_t key;
    size_t p = it->pos;
    if (!read_varint(m->buf, m->end, &p, &key))
        return fwd_errorf(FWD_ERR_PARSE, "%s at byte %zu: truncated or malformed field key",
                          m->type, f->off);
    uint64_t num = key >> 3;
    f->wire = (int)(key & 7);
    if (num == 0 || num > 0x1fffffff)
        return fwd_errorf(FWD_ERR_PARSE, "%s at byte %zu: invalid field number %llu", m->type,
                          f->off, (unsigned long long)num);
    f->num = (uint32_t)num;
    switch (f->wire) {
    case PB_VARINT:
        if (!read_varint(m->buf, m->end, &p, &f->u))
            return pb_error(m, f, FWD_ERR_PARSE, "truncated or malformed varint");
        break;
    case PB_I64:
        if (m->end - p < 8) return pb_error(m, f, FWD_ERR_PARSE, "truncated 64-bit value");
        f->u = load_le(m->buf + p, 8);
        p += 8;
        break;
    case PB_I32:
        if (m->end - p < 4) return pb_error(m, f, FWD_ERR_PARSE, "truncated 32-bit value");
        f->u = load_le(m->buf + p, 4);
        p += 4;
        break;
    case PB_LEN: {
        uint64_t len;
        if (!read_varint(m->buf, m->end, &p, &len))
            return pb_error(m, f, FWD_ERR_PARSE, "truncated or malformed length");
        if (len > m->end - p)
            return pb_error(m, f, FWD_ERR_PARSE,
                            "length %llu runs past the end of the %s (%zu bytes left)",
                            (unsigned long long)len, m->type, m->end - p);
        f->data_off = p;
        f->len = (size_t)len;
        p += (size_t)len;
        break;
    }
    default:
        return pb_error(m, f, FWD_ERR_PARSE, "unsupported wire type %d", f->wire);
    }
    it->pos = p;
    *has = true;
    return FWD_OK;
}

fwd_status pb_expect(const pb_msg *m, const pb_field *f, int wire)
{
    if (f->wire == wire) return FWD_OK;
    return pb_error(m, f, FWD_ERR_PARSE, "wire type %d where %d was expected", f->wire, wire);
}

fwd_status pb_sub(const pb_msg *m, const pb_field *f, const char *type, pb_msg *out)
{
    FWD_TRY(pb_expect(m, f, PB_LEN));
    out->buf = m->buf;
    out->start = f->data_off;
    out->end = f->data_off + f->len;
    out->type = type;
    return FWD_OK;
}

fwd_status pb_count(const pb_msg *m, uint32_t num, size_t *count)
{
    pb_iter it = pb_begin(m);
    pb_field f;
    bool has;
    size_t n = 0;
    for (;;) {
        FWD_TRY(pb_next(&it, &f, &has));
        if (!has) break;
        if (f.num == num) n++;
    }
    *count = n;
    return FWD_OK;
}

static int elem_wire(pb_elem kind)
{
    return kind == PB_ELEM_VARINT ? PB_VARINT : kind == PB_ELEM_FIXED32 ? PB_I32 : PB_I64;
}

/* Store v at out[n] if there is room; count regardless. */
static inline void put(uint64_t *out, size_t cap, size_t *n, uint64_t v)
{
    if (out && *n < cap) out[*n] = v;
    (*n)++;
}

fwd_status pb_repeated(const pb_msg *m, uint32_t num, pb_elem kind, uint64_t *out, size_t cap,
                       size_t *count)
{
    pb_iter it = pb_begin(m);
    pb_field f;
    bool has;
    size_t n = 0;
    for (;;) {
        FWD_TRY(pb_next(&it, &f, &has));
        if (!has) break;
        if (f.num != num) continue;
        if (f.wire == elem_wire(kind)) {
            put(out, cap, &n, f.u);
            continue;
        }
        if (f.wire != PB_LEN) return pb_expect(m, &f, elem_wire(kind));
        /* packed */
        const uint8_t *b = m->buf;
        size_t p = f.data_off, e = f.data_off + f.len;
        if (kind == PB_ELEM_VARINT) {
            while (p < e) {
                uint64_t v;
                if (!read_varint(b, e, &p, &v))
                    return pb_error(m, &f, FWD_ERR_PARSE, "malformed packed varint at byte %zu", p);
                put(out, cap, &n, v);
            }
        } else {
            size_t w = kind == PB_ELEM_FIXED32 ? 4 : 8;
            if (f.len % w)
                return pb_error(m, &f, FWD_ERR_PARSE,
                                "packed length %zu is not a multiple of %zu", f.len, w);
            if (!out) {
                n += f.len / w;
                continue;
            }
            for (; p < e; p += w) put(out, cap, &n, load_le(b + p, (int)w));
        }
    }
    *count = n;
    return FWD_OK;
}

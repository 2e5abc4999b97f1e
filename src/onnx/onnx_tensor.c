/* TensorProto decoding: header, raw/typed/external data, and the public
 * onnx_read_tensor_proto for ".pb" tensor files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_internal.h"
#include "util/error.h"

enum {
    TP_DIMS = 1, TP_DATA_TYPE = 2, TP_SEGMENT = 3, TP_FLOAT_DATA = 4, TP_INT32_DATA = 5,
    TP_STRING_DATA = 6, TP_INT64_DATA = 7, TP_NAME = 8, TP_RAW_DATA = 9, TP_DOUBLE_DATA = 10,
    TP_UINT64_DATA = 11, TP_EXTERNAL_DATA = 13, TP_DATA_LOCATION = 14
};

/* Parse one StringStringEntryProto of external_data into h. */
static fwd_status external_entry(const pb_msg *msg, const pb_field *f, onnx_tensor_hdr *h)
{
    pb_msg e;
    FWD_TRY(pb_sub(msg, f, "StringStringEntryProto", &e));
    pb_iter it = pb_begin(&e);
    pb_field kf;
    bool has;
    const uint8_t *key = NULL, *val = NULL;
    size_t key_len = 0, val_len = 0;
    for (;;) {
        FWD_TRY(pb_next(&it, &kf, &has));
        if (!has) break;
        if (kf.num == 1 || kf.num == 2) {
            FWD_TRY(pb_expect(&e, &kf, PB_LEN));
            if (kf.num == 1) key = pb_bytes(&e, &kf), key_len = kf.len;
            else val = pb_bytes(&e, &kf), val_len = kf.len;
        }
    }
    if (!key) return FWD_OK;
    if (key_len == 8 && memcmp(key, "location", 8) == 0) {
        h->location = val;
        h->location_len = val ? val_len : 0;
    } else if ((key_len == 6 && memcmp(key, "offset", 6) == 0) ||
               (key_len == 6 && memcmp(key, "length", 6) == 0)) {
        int64_t v = 0;
        if (!val || val_len == 0 || val_len > 18)
            return pb_error(msg, f, FWD_ERR_PARSE, "external data '%.*s' is not a number",
                            (int)key_len, (const char *)key);
        for (size_t i = 0; i < val_len; i++) {
            if (val[i] < '0' || val[i] > '9')
                return pb_error(msg, f, FWD_ERR_PARSE, "external data '%.*s' is not a number",
                                (int)key_len, (const char *)key);
            v = v * 10 + (val[i] - '0');
        }
        if (key[0] == 'o') h->ext_offset = v;
        else h->ext_length = v;
    }
    return FWD_OK;
}

fwd_status onnx_tensor_header(const pb_msg *msg, onnx_tensor_hdr *h)
{
    memset(h, 0, sizeof *h);
    h->ext_offset = h->ext_length = -1;
    uint64_t dims[IR_MAX_RANK + 1];
    size_t rank;
    FWD_TRY(pb_repeated(msg, TP_DIMS, PB_ELEM_VARINT, dims, IR_MAX_RANK + 1, &rank));
    pb_iter it = pb_begin(msg);
    pb_field f;
    bool has;
    for (;;) {
        FWD_TRY(pb_next(&it, &f, &has));
        if (!has) break;
        switch (f.num) {
        case TP_DATA_TYPE:
            FWD_TRY(pb_expect(msg, &f, PB_VARINT));
            h->data_type = (int64_t)f.u;
            break;
        case TP_SEGMENT:
            return pb_error(msg, &f, FWD_ERR_UNSUPPORTED, "segmented tensors are not supported");
        case TP_NAME:
            FWD_TRY(pb_expect(msg, &f, PB_LEN));
            h->name_ptr = pb_bytes(msg, &f);
            h->name_len = f.len;
            break;
        case TP_RAW_DATA:
            FWD_TRY(pb_expect(msg, &f, PB_LEN));
            h->has_raw = true;
            h->raw = pb_bytes(msg, &f);
            h->raw_len = f.len;
            break;
        case TP_EXTERNAL_DATA:
            FWD_TRY(external_entry(msg, &f, h));
            break;
        case TP_DATA_LOCATION:
            FWD_TRY(pb_expect(msg, &f, PB_VARINT));
            if (f.u > 1) return pb_error(msg, &f, FWD_ERR_PARSE, "unknown data location %llu",
                                         (unsigned long long)f.u);
            h->external = f.u == 1;
            break;
        default:
            break;
        }
    }
    char label[160]; /* "tensor 'w'" or "unnamed tensor" */
    if (h->name_len)
        snprintf(label, sizeof label, "tensor '%.*s'", (int)(h->name_len > 100 ? 100 : h->name_len),
                 (const char *)h->name_ptr);
    else
        snprintf(label, sizeof label, "unnamed tensor");
    if (rank > IR_MAX_RANK)
        return fwd_errorf(FWD_ERR_UNSUPPORTED, "%s at byte %zu has rank %zu (at most %d supported)",
                          label, msg->start, rank, IR_MAX_RANK);
    h->shape.rank = (int)rank;
    uint64_t numel = 1;
    for (size_t i = 0; i < rank; i++) {
        if (dims[i] > ((uint64_t)1 << 48))
            return fwd_errorf(FWD_ERR_PARSE, "%s at byte %zu: dimension %zu is %lld",
                              label, msg->start, i,
                              (long long)(int64_t)dims[i]);
        h->shape.dims[i] = (int64_t)dims[i];
        numel *= dims[i];
        if (numel > ((uint64_t)1 << 48))
            return fwd_errorf(FWD_ERR_PARSE, "%s at byte %zu: too many elements",
                              label, msg->start);
    }
    h->numel = (size_t)numel;
    return FWD_OK;
}

bool onnx_numeric_dtype(int64_t et, fwd_dtype *out)
{
    switch (et) {
    case FWD_FLOAT32: case FWD_UINT8: case FWD_INT8: case FWD_UINT16: case FWD_INT16:
    case FWD_INT32: case FWD_INT64: case FWD_BOOL: case FWD_FLOAT16: case FWD_FLOAT64:
    case FWD_UINT32: case FWD_UINT64: case FWD_BFLOAT16:
        *out = (fwd_dtype)et;
        return true;
    default:
        return false;
    }
}

/* Map the ONNX data type to ours. */
static fwd_status check_dtype(int64_t dt, const char *what, fwd_dtype *out)
{
    if (onnx_numeric_dtype(dt, out)) return FWD_OK;
    switch (dt) {
    case FWD_STRING:
        return fwd_errorf(FWD_ERR_UNSUPPORTED, "%s: string tensors are not supported", what);
    case 14: case 15:
        return fwd_errorf(FWD_ERR_UNSUPPORTED, "%s: complex tensors are not supported", what);
    case 0:
        return fwd_errorf(FWD_ERR_PARSE, "%s: data_type is missing", what);
    default:
        return fwd_errorf(FWD_ERR_UNSUPPORTED, "%s: unknown data_type %lld", what, (long long)dt);
    }
}

static void *alloc_bytes(fwd_arena *arena, size_t n)
{
    if (n == 0) n = 1; /* a non-NULL pointer for empty tensors */
    return arena ? fwd_arena_alloc(arena, n) : calloc(1, n);
}

/* Which typed field holds the values of dtype dt. */
static void typed_field(fwd_dtype dt, uint32_t *field, pb_elem *kind, const char **fname)
{
    *kind = PB_ELEM_VARINT;
    switch (dt) {
    case FWD_FLOAT32: *field = TP_FLOAT_DATA; *kind = PB_ELEM_FIXED32; *fname = "float_data"; break;
    case FWD_FLOAT64: *field = TP_DOUBLE_DATA; *kind = PB_ELEM_FIXED64; *fname = "double_data"; break;
    case FWD_INT64: *field = TP_INT64_DATA; *fname = "int64_data"; break;
    case FWD_UINT32: case FWD_UINT64: *field = TP_UINT64_DATA; *fname = "uint64_data"; break;
    default: *field = TP_INT32_DATA; *fname = "int32_data"; break;
    }
}

/* Check that the typed field has exactly numel values (before anything
 * is allocated, so a corrupt shape cannot ask for huge memory). */
static fwd_status check_typed(const pb_msg *msg, fwd_dtype dt, size_t numel, const char *what)
{
    uint32_t field;
    pb_elem kind;
    const char *fname;
    typed_field(dt, &field, &kind, &fname);
    size_t count;
    FWD_TRY(pb_repeated(msg, field, kind, NULL, 0, &count));
    if (count != numel)
        return fwd_errorf(FWD_ERR_PARSE, "%s at byte %zu: %s has %zu values, the shape needs %zu",
                          what, msg->start, count ? fname : "data", count, numel);
    return FWD_OK;
}

/* Convert the typed field's numel values into dst (checked before). */
static fwd_status load_typed(const pb_msg *msg, fwd_dtype dt, size_t numel, const char *what,
                             void *dst)
{
    uint32_t field;
    pb_elem kind;
    const char *fname;
    typed_field(dt, &field, &kind, &fname);
    if (numel == 0) return FWD_OK;
    uint64_t *tmp = malloc(numel * sizeof *tmp);
    if (!tmp) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
    size_t count;
    fwd_status s = pb_repeated(msg, field, kind, tmp, numel, &count);
    if (s != FWD_OK) {
        free(tmp);
        return s;
    }
    size_t esz = fwd_dtype_size(dt);
    for (size_t i = 0; i < numel; i++) {
        uint64_t v = tmp[i];
        uint8_t *p = (uint8_t *)dst + i * esz;
        if (dt == FWD_BOOL) {
            *p = v != 0;
        } else if (esz == 1) {
            *p = (uint8_t)v;
        } else if (esz == 2) {
            uint16_t x = (uint16_t)v;
            memcpy(p, &x, 2);
        } else if (esz == 4) {
            uint32_t x = (uint32_t)v;
            memcpy(p, &x, 4);
        } else {
            memcpy(p, &v, 8);
        }
    }
    free(tmp);
    return FWD_OK;
}

fwd_status onnx_tensor_load(onnx_loader *L, fwd_arena *arena, const pb_msg *msg,
                            const onnx_tensor_hdr *h, const char *what, ir_tensor *t)
{
    memset(t, 0, sizeof *t);
    fwd_dtype dt = FWD_DTYPE_UNDEFINED;
    FWD_TRY(check_dtype(h->data_type, what, &dt));
    size_t esz = fwd_dtype_size(dt);
    size_t nbytes = h->numel * esz;
    t->dtype = dt;
    t->shape = h->shape;
    t->nbytes = nbytes;

    const uint8_t *src = NULL;
    if (h->external) {
        if (!L)
            return fwd_errorf(FWD_ERR_UNSUPPORTED, "%s: external data is not supported here", what);
        if (!h->location || h->location_len == 0)
            return fwd_errorf(FWD_ERR_INVALID_MODEL, "%s: external data without a location", what);
        char loc[1024];
        if (h->location_len >= sizeof loc || memchr(h->location, 0, h->location_len))
            return fwd_errorf(FWD_ERR_INVALID_MODEL, "%s: invalid external data location", what);
        memcpy(loc, h->location, h->location_len);
        loc[h->location_len] = '\0';
        size_t got;
        FWD_TRY(onnx_external_bytes(L, loc, h->ext_offset < 0 ? 0 : h->ext_offset,
                                    h->ext_length < 0 ? (int64_t)nbytes : h->ext_length, what,
                                    &src, &got));
        if (got != nbytes)
            return fwd_errorf(FWD_ERR_INVALID_MODEL,
                              "%s: external data has %zu bytes, dtype %s and shape need %zu", what,
                              got, fwd_dtype_name(dt), nbytes);
    } else if (h->has_raw) {
        if (h->raw_len != nbytes)
            return fwd_errorf(FWD_ERR_PARSE,
                              "%s at byte %zu: raw_data has %zu bytes, dtype %s and shape need %zu",
                              what, msg->start, h->raw_len, fwd_dtype_name(dt), nbytes);
        src = h->raw;
    }

    if (src) {
        /* Use the file's bytes in place when aligned for the element type
         * (kernels dereference typed pointers); otherwise copy. */
        if (arena && ((uintptr_t)src % esz) == 0 && nbytes > 0) {
            t->data = (void *)src;
            return FWD_OK;
        }
        t->data = alloc_bytes(arena, nbytes);
        if (!t->data) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
        if (nbytes) memcpy(t->data, src, nbytes);
        return FWD_OK;
    }
    FWD_TRY(check_typed(msg, dt, h->numel, what));
    t->data = alloc_bytes(arena, nbytes);
    if (!t->data) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
    fwd_status s = load_typed(msg, dt, h->numel, what, t->data);
    if (s != FWD_OK && !arena) {
        free(t->data);
        t->data = NULL;
    }
    return s;
}

fwd_status onnx_read_tensor_proto(const uint8_t *data, size_t size, ir_tensor *t, char **name)
{
    if (name) *name = NULL;
    memset(t, 0, sizeof *t);
    if (!data && size) return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "NULL tensor data");
    pb_msg msg = pb_root(data, size, "TensorProto");
    onnx_tensor_hdr h;
    FWD_TRY(onnx_tensor_header(&msg, &h));
    char what[160];
    snprintf(what, sizeof what, "tensor '%.*s'", (int)(h.name_len > 100 ? 100 : h.name_len),
             h.name_ptr ? (const char *)h.name_ptr : "");
    FWD_TRY(onnx_tensor_load(NULL, NULL, &msg, &h, what, t));
    if (name && h.name_len) {
        *name = malloc(h.name_len + 1);
        if (!*name) {
            free(t->data);
            t->data = NULL;
            return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
        }
        memcpy(*name, h.name_ptr, h.name_len);
        (*name)[h.name_len] = '\0';
    }
    return FWD_OK;
}

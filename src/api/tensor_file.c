/* Tensor files: NumPy ".npy" (read v1-3, write v1.0) and ONNX TensorProto
 * ".pb"; dtype names and sizes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwd.h"
#include "onnx/onnx_import.h"
#include "util/error.h"

const char *fwd_dtype_name(fwd_dtype dtype)
{
    switch (dtype) {
    case FWD_FLOAT32: return "float32";
    case FWD_FLOAT16: return "float16";
    case FWD_BFLOAT16: return "bfloat16";
    case FWD_FLOAT64: return "float64";
    case FWD_INT8: return "int8";
    case FWD_UINT8: return "uint8";
    case FWD_INT16: return "int16";
    case FWD_UINT16: return "uint16";
    case FWD_INT32: return "int32";
    case FWD_UINT32: return "uint32";
    case FWD_INT64: return "int64";
    case FWD_UINT64: return "uint64";
    case FWD_BOOL: return "bool";
    case FWD_STRING: return "string";
    default: return "undefined";
    }
}

size_t fwd_dtype_size(fwd_dtype dtype)
{
    switch (dtype) {
    case FWD_INT8: case FWD_UINT8: case FWD_BOOL: return 1;
    case FWD_FLOAT16: case FWD_BFLOAT16: case FWD_INT16: case FWD_UINT16: return 2;
    case FWD_FLOAT32: case FWD_INT32: case FWD_UINT32: return 4;
    case FWD_FLOAT64: case FWD_INT64: case FWD_UINT64: return 8;
    default: return 0;
    }
}

int64_t fwd_tensor_numel(const fwd_tensor *t)
{
    if (!t || t->rank < 0 || t->rank > FWD_MAX_DIMS) return 0;
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= t->dims[i];
    return n;
}

fwd_status fwd_tensor_release(fwd_tensor *t)
{
    fwd_error_clear();
    if (!t) return FWD_OK;
    free(t->data);
    free((char *)t->name);
    memset(t, 0, sizeof *t);
    return FWD_OK;
}

/* ---- .npy ---- */

/* NumPy type codes of our dtypes ("f4" etc.; NULL when NumPy has none). */
static const char *npy_code(fwd_dtype dt)
{
    switch (dt) {
    case FWD_FLOAT32: return "f4";
    case FWD_FLOAT16: return "f2";
    case FWD_FLOAT64: return "f8";
    case FWD_INT8: return "i1";
    case FWD_UINT8: return "u1";
    case FWD_INT16: return "i2";
    case FWD_UINT16: return "u2";
    case FWD_INT32: return "i4";
    case FWD_UINT32: return "u4";
    case FWD_INT64: return "i8";
    case FWD_UINT64: return "u8";
    case FWD_BOOL: return "b1";
    default: return NULL;
    }
}

static fwd_status npy_descr(const char *d, size_t n, fwd_dtype *out)
{
    if (n < 3 || n > 4)
        return fwd_errorf(FWD_ERR_UNSUPPORTED, "npy dtype '%.*s' is not supported", (int)n, d);
    char order = d[0];
    static const fwd_dtype k_types[] = {FWD_FLOAT32, FWD_FLOAT16, FWD_FLOAT64, FWD_INT8,
                                        FWD_UINT8,   FWD_INT16,   FWD_UINT16,  FWD_INT32,
                                        FWD_UINT32,  FWD_INT64,   FWD_UINT64,  FWD_BOOL};
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++) {
        const char *c = npy_code(k_types[i]);
        if (n - 1 != strlen(c) || memcmp(d + 1, c, n - 1) != 0) continue;
        bool one_byte = c[1] == '1';
        if (order == '>' && !one_byte)
            return fwd_errorf(FWD_ERR_UNSUPPORTED, "npy dtype '%.*s' is big-endian (not supported)",
                              (int)n, d);
        if (order != '<' && order != '|' && order != '=' && order != '>')
            break;
        *out = k_types[i];
        return FWD_OK;
    }
    return fwd_errorf(FWD_ERR_UNSUPPORTED, "npy dtype '%.*s' is not supported", (int)n, d);
}

typedef struct hdr_parser {
    const char *p, *end;
} hdr_parser;

static void skip_ws(hdr_parser *h)
{
    while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r'))
        h->p++;
}

static bool eat(hdr_parser *h, char c)
{
    skip_ws(h);
    if (h->p < h->end && *h->p == c) {
        h->p++;
        return true;
    }
    return false;
}

static bool parse_quoted(hdr_parser *h, const char **s, size_t *n)
{
    skip_ws(h);
    if (h->p >= h->end || (*h->p != '\'' && *h->p != '"')) return false;
    char q = *h->p++;
    const char *start = h->p;
    while (h->p < h->end && *h->p != q) h->p++;
    if (h->p >= h->end) return false;
    *s = start;
    *n = (size_t)(h->p - start);
    h->p++;
    return true;
}

static bool parse_word(hdr_parser *h, const char *w)
{
    skip_ws(h);
    size_t n = strlen(w);
    if ((size_t)(h->end - h->p) < n || memcmp(h->p, w, n) != 0) return false;
    h->p += n;
    return true;
}

static bool parse_shape(hdr_parser *h, int *rank, int64_t *dims)
{
    if (!eat(h, '(')) return false;
    *rank = 0;
    for (;;) {
        if (eat(h, ')')) return true;
        skip_ws(h);
        if (h->p >= h->end || *h->p < '0' || *h->p > '9') return false;
        int64_t v = 0;
        while (h->p < h->end && *h->p >= '0' && *h->p <= '9') {
            if (v > ((int64_t)1 << 48)) return false;
            v = v * 10 + (*h->p++ - '0');
        }
        if (h->p < h->end && *h->p == 'L') h->p++; /* Python 2 longs */
        if (*rank >= FWD_MAX_DIMS) {
            *rank = FWD_MAX_DIMS + 1;
            return true;
        }
        dims[(*rank)++] = v;
        if (!eat(h, ',')) {
            if (!eat(h, ')')) return false;
            return true;
        }
    }
}

static fwd_status parse_npy(const uint8_t *buf, size_t size, fwd_tensor *out)
{
    if (size < 10) return fwd_errorf(FWD_ERR_PARSE, "truncated npy header");
    int major = buf[6];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12) return fwd_errorf(FWD_ERR_PARSE, "truncated npy header");
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 |
               (size_t)buf[11] << 24;
        hstart = 12;
    } else {
        return fwd_errorf(FWD_ERR_UNSUPPORTED, "npy version %d is not supported", major);
    }
    if (hlen > size - hstart) return fwd_errorf(FWD_ERR_PARSE, "truncated npy header");
    hdr_parser h = {(const char *)buf + hstart, (const char *)buf + hstart + hlen};
    bool have_descr = false, have_order = false, have_shape = false;
    fwd_dtype dt = FWD_DTYPE_UNDEFINED;
    int rank = 0;
    int64_t dims[FWD_MAX_DIMS] = {0};
    if (!eat(&h, '{')) return fwd_errorf(FWD_ERR_PARSE, "npy header is not a dict");
    while (!eat(&h, '}')) {
        const char *key, *val;
        size_t kn, vn;
        if (!parse_quoted(&h, &key, &kn) || !eat(&h, ':'))
            return fwd_errorf(FWD_ERR_PARSE, "malformed npy header near byte %zu",
                              (size_t)(h.p - (const char *)buf));
        if (kn == 5 && memcmp(key, "descr", 5) == 0) {
            if (!parse_quoted(&h, &val, &vn)) {
                skip_ws(&h);
                if (h.p < h.end && *h.p == '[')
                    return fwd_errorf(FWD_ERR_UNSUPPORTED, "npy structured dtypes are not supported");
                return fwd_errorf(FWD_ERR_PARSE, "malformed npy descr");
            }
            FWD_TRY(npy_descr(val, vn, &dt));
            have_descr = true;
        } else if (kn == 13 && memcmp(key, "fortran_order", 13) == 0) {
            if (parse_word(&h, "True"))
                return fwd_errorf(FWD_ERR_UNSUPPORTED, "npy arrays in Fortran order are not supported");
            if (!parse_word(&h, "False")) return fwd_errorf(FWD_ERR_PARSE, "malformed npy fortran_order");
            have_order = true;
        } else if (kn == 5 && memcmp(key, "shape", 5) == 0) {
            if (!parse_shape(&h, &rank, dims)) return fwd_errorf(FWD_ERR_PARSE, "malformed npy shape");
            if (rank > FWD_MAX_DIMS)
                return fwd_errorf(FWD_ERR_UNSUPPORTED, "npy array has more than %d dimensions",
                                  FWD_MAX_DIMS);
            have_shape = true;
        } else {
            return fwd_errorf(FWD_ERR_PARSE, "unknown npy header key '%.*s'", (int)kn, key);
        }
        if (!eat(&h, ',')) {
            if (!eat(&h, '}')) return fwd_errorf(FWD_ERR_PARSE, "malformed npy header");
            break;
        }
    }
    if (!have_descr || !have_order || !have_shape)
        return fwd_errorf(FWD_ERR_PARSE, "npy header lacks descr, fortran_order or shape");
    size_t esz = fwd_dtype_size(dt);
    uint64_t numel = 1;
    for (int i = 0; i < rank; i++) {
        numel *= (uint64_t)dims[i];
        if (numel > ((uint64_t)1 << 48)) return fwd_errorf(FWD_ERR_PARSE, "npy array too large");
    }
    size_t nbytes = (size_t)numel * esz, dstart = hstart + hlen;
    if (size - dstart < nbytes)
        return fwd_errorf(FWD_ERR_PARSE, "npy data has %zu bytes, the shape needs %zu",
                          size - dstart, nbytes);
    void *data = malloc(nbytes ? nbytes : 1);
    if (!data) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
    memcpy(data, buf + dstart, nbytes);
    memset(out, 0, sizeof *out);
    out->dtype = dt;
    out->rank = rank;
    memcpy(out->dims, dims, sizeof dims);
    out->data = data;
    out->size = nbytes;
    return FWD_OK;
}

static fwd_status parse_pb(const uint8_t *buf, size_t size, fwd_tensor *out)
{
    ir_tensor t;
    char *name = NULL;
    FWD_TRY(onnx_read_tensor_proto(buf, size, &t, &name));
    memset(out, 0, sizeof *out);
    out->name = name;
    out->dtype = t.dtype;
    out->rank = t.shape.rank;
    memcpy(out->dims, t.shape.dims, sizeof out->dims);
    out->data = t.data;
    out->size = t.nbytes;
    return FWD_OK;
}

static fwd_status read_all(const char *path, uint8_t **buf, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return fwd_errorf(FWD_ERR_IO, "cannot open: %s", strerror(errno));
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap) break;
        uint8_t *nb = realloc(b, cap * 2);
        if (!nb) {
            free(b);
            b = NULL;
            break;
        }
        b = nb;
        cap *= 2;
    }
    bool err = ferror(f) != 0;
    fclose(f);
    if (!b) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
    if (err) {
        free(b);
        return fwd_errorf(FWD_ERR_IO, "read error");
    }
    *buf = b;
    *size = n;
    return FWD_OK;
}

fwd_status fwd_tensor_read_file(const char *path, fwd_tensor *out)
{
    fwd_error_clear();
    if (!path || !out)
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "fwd_tensor_read_file: NULL argument");
    memset(out, 0, sizeof *out);
    uint8_t *buf = NULL;
    size_t size = 0;
    fwd_status s = read_all(path, &buf, &size);
    if (s == FWD_OK) {
        if (size == 0)
            s = fwd_errorf(FWD_ERR_PARSE, "empty file");
        else if (size >= 6 && memcmp(buf, "\x93NUMPY", 6) == 0)
            s = parse_npy(buf, size, out);
        else
            s = parse_pb(buf, size, out);
        free(buf);
    }
    if (s != FWD_OK) {
        memset(out, 0, sizeof *out);
        return fwd_error_prefix(s, "reading tensor '%s'", path);
    }
    return FWD_OK;
}

fwd_status fwd_tensor_write_npy(const char *path, const fwd_tensor *t)
{
    fwd_error_clear();
    if (!path || !t)
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "fwd_tensor_write_npy: NULL argument");
    const char *code = npy_code(t->dtype);
    if (!code)
        return fwd_errorf(FWD_ERR_UNSUPPORTED, "writing '%s': dtype %s has no npy form", path,
                          fwd_dtype_name(t->dtype));
    if (t->rank < 0 || t->rank > FWD_MAX_DIMS)
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "writing '%s': rank %d out of range", path,
                          t->rank);
    char hdr[512];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '%c%s', 'fortran_order': False, 'shape': (",
                     code[1] == '1' ? '|' : '<', code);
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i] < 0)
            return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "writing '%s': dimension %d is negative",
                              path, i);
        n += snprintf(hdr + n, sizeof hdr - (size_t)n, "%lld%s", (long long)t->dims[i],
                      t->rank == 1 ? "," : (i + 1 < t->rank ? ", " : ""));
    }
    n += snprintf(hdr + n, sizeof hdr - (size_t)n, "), }");
    /* pad with spaces so the data starts on a 64-byte boundary */
    size_t total = 10 + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    memset(hdr + n, ' ', pad);
    hdr[n + pad] = '\n';
    size_t hlen = (size_t)n + pad + 1;
    size_t nbytes = (size_t)fwd_tensor_numel(t) * fwd_dtype_size(t->dtype);
    if (nbytes && (!t->data || t->size < nbytes))
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT,
                          "writing '%s': tensor has %zu bytes of data, its shape needs %zu", path,
                          t->data ? t->size : 0, nbytes);
    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(hlen & 0xff),
                       (uint8_t)(hlen >> 8)};
    FILE *f = fopen(path, "wb");
    if (!f) return fwd_errorf(FWD_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
    bool ok = fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, hlen, f) == hlen &&
              (nbytes == 0 || fwrite(t->data, 1, nbytes, f) == nbytes);
    if (fclose(f) != 0) ok = false;
    if (!ok) return fwd_errorf(FWD_ERR_IO, "writing '%s' failed", path);
    return FWD_OK;
}

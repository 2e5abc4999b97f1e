/* External tensor data: files beside the model, each mapped once per import
 * and kept mapped for the model's lifetime. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx/onnx_internal.h"
#include "util/error.h"

/* A location must stay below base_dir: relative, without ".." parts. */
static bool location_is_safe(const char *loc)
{
    if (loc[0] == '/' || loc[0] == '\\') return false;
    const char *p = loc;
    while (*p) {
        size_t n = strcspn(p, "/\\");
        if (n == 2 && p[0] == '.' && p[1] == '.') return false;
        p += n;
        if (*p) p++;
    }
    return true;
}

static fwd_status map_file(onnx_loader *L, const char *loc, const char *tensor,
                           onnx_ext_file *out)
{
    char path[4096];
    const char *dir = L->base_dir && L->base_dir[0] ? L->base_dir : ".";
    int n = snprintf(path, sizeof path, "%s/%s", dir, loc);
    if (n < 0 || (size_t)n >= sizeof path)
        return fwd_errorf(FWD_ERR_INVALID_MODEL, "%s: external data path too long", tensor);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fwd_errorf(FWD_ERR_IO, "%s: cannot open external data file '%s': %s", tensor,
                          path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fwd_errorf(FWD_ERR_IO, "%s: external data file '%s' is not a regular file",
                          tensor, path);
    }
    out->size = (size_t)st.st_size;
    out->data = NULL;
    if (out->size > 0) {
        void *p = mmap(NULL, out->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return fwd_errorf(FWD_ERR_IO, "%s: cannot map external data file '%s': %s", tensor,
                              path, strerror(e));
        }
        if (ir_model_add_map(L->m, p, out->size) != FWD_OK) {
            munmap(p, out->size);
            close(fd);
            return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
        }
        out->data = p;
    }
    close(fd);
    out->path = strdup(loc);
    if (!out->path) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
    return FWD_OK;
}

fwd_status onnx_external_bytes(onnx_loader *L, const char *location, int64_t offset,
                               int64_t length, const char *tensor, const uint8_t **data,
                               size_t *size)
{
    if (!location_is_safe(location))
        return fwd_errorf(FWD_ERR_INVALID_MODEL,
                          "%s: external data location '%s' must be a relative path without '..'",
                          tensor, location);
    onnx_ext_file *f = NULL;
    for (int i = 0; i < L->n_ext; i++)
        if (strcmp(L->ext[i].path, location) == 0) f = &L->ext[i];
    if (!f) {
        if (L->n_ext == L->cap_ext) {
            int ncap = L->cap_ext ? 2 * L->cap_ext : 4;
            onnx_ext_file *ne = realloc(L->ext, (size_t)ncap * sizeof *ne);
            if (!ne) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
            L->ext = ne;
            L->cap_ext = ncap;
        }
        onnx_ext_file nf = {0};
        FWD_TRY(map_file(L, location, tensor, &nf));
        L->ext[L->n_ext] = nf;
        f = &L->ext[L->n_ext++];
    }
    if (offset < 0 || length < 0 || (uint64_t)offset > f->size ||
        (uint64_t)length > f->size - (uint64_t)offset)
        return fwd_errorf(FWD_ERR_INVALID_MODEL,
                          "%s: external data [%lld, +%lld) lies outside '%s' (%zu bytes)", tensor,
                          (long long)offset, (long long)length, location, f->size);
    static const uint8_t empty[8];
    *data = f->data ? f->data + offset : empty;
    *size = (size_t)length;
    return FWD_OK;
}

void onnx_loader_cleanup(onnx_loader *L)
{
    /* the mappings belong to the model; only our records go */
    for (int i = 0; i < L->n_ext; i++) free(L->ext[i].path);
    free(L->ext);
    L->ext = NULL;
    L->n_ext = L->cap_ext = 0;
}

/* Public model API: loading (mmap or memory copy), inputs/outputs and
 * summaries. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "onnx/onnx_import.h"
#include "util/error.h"

void fwd_fill_tensor_info(const ir_model *m, const ir_value *v, fwd_tensor_info *info)
{
    memset(info, 0, sizeof *info);
    info->name = v->name;
    info->dtype = v->t.dtype;
    info->rank = v->t.shape.rank;
    for (int i = 0; i < v->t.shape.rank && i < FWD_MAX_DIMS; i++) {
        int64_t d = v->t.shape.dims[i];
        info->dims[i] = d >= 0 ? d : -1;
        info->dim_names[i] = d < 0 && m ? ir_model_sym_name(m, d) : NULL;
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The op histogram of the main graph, sorted by op name. */
static fwd_status build_histogram(fwd_model *fm)
{
    ir_model *m = fm->ir;
    const ir_graph *g = m->graph;
    int n = g->n_nodes;
    const char **ops = ir_alloc(m, sizeof(char *) * (size_t)(n + 1));
    fm->op_types = ir_alloc(m, sizeof(char *) * (size_t)(n + 1));
    fm->op_counts = ir_alloc(m, sizeof(int64_t) * (size_t)(n + 1));
    if (!ops || !fm->op_types || !fm->op_counts)
        return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; i < n; i++) ops[i] = g->nodes[i].op_type;
    qsort(ops, (size_t)n, sizeof *ops, cmp_str);
    fm->n_op_types = 0;
    for (int i = 0; i < n; i++) {
        if (fm->n_op_types && strcmp(fm->op_types[fm->n_op_types - 1], ops[i]) == 0) {
            fm->op_counts[fm->n_op_types - 1]++;
            continue;
        }
        fm->op_types[fm->n_op_types] = ops[i];
        fm->op_counts[fm->n_op_types++] = 1;
    }
    return FWD_OK;
}

/* Import into m (consumed: freed on failure) and wrap it. */
static fwd_status finish_load(ir_model *m, const uint8_t *data, size_t size,
                              const char *base_dir, fwd_model **out)
{
    fwd_status s = onnx_import_model(m, data, size, base_dir);
    fwd_model *fm = NULL;
    if (s == FWD_OK) {
        fm = calloc(1, sizeof *fm);
        if (!fm) s = fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (s == FWD_OK) {
        fm->ir = m;
        s = build_histogram(fm);
    }
    if (s != FWD_OK) {
        free(fm);
        ir_model_unref(m);
        return s;
    }
    *out = fm;
    return FWD_OK;
}

static fwd_status load_path(const char *path, fwd_model **out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fwd_errorf(FWD_ERR_IO, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fwd_errorf(FWD_ERR_IO, "not a regular file");
    }
    size_t size = (size_t)st.st_size;
    if (size == 0) {
        close(fd);
        return fwd_errorf(FWD_ERR_PARSE, "empty file (not an ONNX model)");
    }
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (p == MAP_FAILED) return fwd_errorf(FWD_ERR_IO, "cannot map the file: %s", strerror(err));
    ir_model *m;
    fwd_status s = ir_model_new(&m);
    if (s != FWD_OK) {
        munmap(p, size);
        return s;
    }
    if ((s = ir_model_add_map(m, p, size)) != FWD_OK) {
        munmap(p, size);
        ir_model_unref(m);
        return s;
    }
    /* external data lives beside the model file */
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof dir) n = sizeof dir - 1;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    return finish_load(m, p, size, dir, out);
}

fwd_status fwd_model_load(const char *path, fwd_model **out)
{
    fwd_error_clear();
    if (!out) return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "fwd_model_load: out is NULL");
    *out = NULL;
    if (!path) return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "fwd_model_load: path is NULL");
    fwd_status s = load_path(path, out);
    if (s != FWD_OK) return fwd_error_prefix(s, "loading '%s'", path);
    return FWD_OK;
}

fwd_status fwd_model_load_memory(const void *data, size_t size, const char *base_dir,
                                 fwd_model **out)
{
    fwd_error_clear();
    if (!out) return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "fwd_model_load_memory: out is NULL");
    *out = NULL;
    if (!data && size)
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "fwd_model_load_memory: data is NULL");
    if (size == 0)
        return fwd_errorf(FWD_ERR_PARSE, "loading model from memory: empty buffer");
    ir_model *m;
    FWD_TRY(ir_model_new(&m));
    /* the importer points into these bytes, so they live in the arena */
    void *copy = fwd_arena_memdup(&m->arena, data, size);
    if (!copy) {
        ir_model_unref(m);
        return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "loading model from memory: out of memory");
    }
    fwd_status s = finish_load(m, copy, size, base_dir ? base_dir : ".", out);
    if (s != FWD_OK) return fwd_error_prefix(s, "loading model from memory");
    return FWD_OK;
}

fwd_status fwd_model_free(fwd_model *model)
{
    fwd_error_clear();
    if (!model) return FWD_OK;
    ir_model_unref(model->ir);
    free(model);
    return FWD_OK;
}

fwd_status fwd_model_num_inputs(const fwd_model *model, int *count)
{
    fwd_error_clear();
    if (!model || !count)
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "fwd_model_num_inputs: NULL argument");
    *count = model->ir->graph->n_inputs;
    return FWD_OK;
}

fwd_status fwd_model_num_outputs(const fwd_model *model, int *count)
{
    fwd_error_clear();
    if (!model || !count)
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "fwd_model_num_outputs: NULL argument");
    *count = model->ir->graph->n_outputs;
    return FWD_OK;
}

static fwd_status io_info(const fwd_model *model, int index, fwd_tensor_info *info, bool input)
{
    const char *fn = input ? "fwd_model_input" : "fwd_model_output";
    if (!model || !info) return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "%s: NULL argument", fn);
    const ir_graph *g = model->ir->graph;
    int n = input ? g->n_inputs : g->n_outputs;
    if (index < 0 || index >= n)
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "%s: index %d out of range [0, %d)", fn,
                          index, n);
    int id = input ? g->inputs[index] : g->outputs[index];
    fwd_fill_tensor_info(model->ir, &g->values[id], info);
    return FWD_OK;
}

fwd_status fwd_model_input(const fwd_model *model, int index, fwd_tensor_info *info)
{
    fwd_error_clear();
    return io_info(model, index, info, true);
}

fwd_status fwd_model_output(const fwd_model *model, int index, fwd_tensor_info *info)
{
    fwd_error_clear();
    return io_info(model, index, info, false);
}

/* Constants of g and of its subgraphs. */
static void count_params(const ir_graph *g, int64_t *elems, int64_t *bytes)
{
    for (int i = 0; i < g->n_values; i++) {
        const ir_value *v = &g->values[i];
        if (v->kind != IR_VALUE_CONST) continue;
        *elems += (int64_t)ir_tensor_numel(&v->t);
        *bytes += (int64_t)v->t.nbytes;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = &g->nodes[i];
        for (int a = 0; a < n->n_attrs; a++) {
            if (n->attrs[a].type == IR_ATTR_GRAPH && n->attrs[a].g)
                count_params(n->attrs[a].g, elems, bytes);
            if (n->attrs[a].type == IR_ATTR_GRAPHS)
                for (int k = 0; k < n->attrs[a].n; k++)
                    if (n->attrs[a].graphs[k]) count_params(n->attrs[a].graphs[k], elems, bytes);
        }
    }
}

fwd_status fwd_model_summarize(const fwd_model *model, fwd_model_summary *summary)
{
    fwd_error_clear();
    if (!model || !summary)
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "fwd_model_summarize: NULL argument");
    const ir_model *m = model->ir;
    memset(summary, 0, sizeof *summary);
    summary->format = m->format;
    summary->ir_version = m->ir_version;
    summary->opset = ir_model_opset(m, "");
    summary->producer = m->producer ? m->producer : "";
    summary->num_nodes = m->graph->n_nodes;
    count_params(m->graph, &summary->num_parameters, &summary->parameter_bytes);
    summary->num_op_types = model->n_op_types;
    return FWD_OK;
}

fwd_status fwd_model_op_type(const fwd_model *model, int index, const char **op_type,
                             int64_t *count)
{
    fwd_error_clear();
    if (!model || !op_type || !count)
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "fwd_model_op_type: NULL argument");
    if (index < 0 || index >= model->n_op_types)
        return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "fwd_model_op_type: index %d out of range [0, %d)",
                          index, model->n_op_types);
    *op_type = model->op_types[index];
    *count = model->op_counts[index];
    return FWD_OK;
}

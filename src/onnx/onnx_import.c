/* ModelProto -> ir_model: header fields, opsets, then the main graph. */
#include <stdio.h>
#include <string.h>

#include "ir/op_schema.h"
#include "onnx/onnx_internal.h"
#include "util/error.h"

enum { M_IR_VERSION = 1, M_PRODUCER_NAME = 2, M_PRODUCER_VERSION = 3, M_GRAPH = 7,
       M_OPSET_IMPORT = 8 };

static fwd_status oom(void) { return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory"); }

static fwd_status parse_opset(ir_model *m, const pb_msg *om, ir_opset *o)
{
    o->domain = "";
    o->version = 1; /* the version field's default */
    pb_iter it = pb_begin(om);
    pb_field f;
    bool has;
    for (;;) {
        FWD_TRY(pb_next(&it, &f, &has));
        if (!has) break;
        if (f.num == 1) {
            FWD_TRY(pb_expect(om, &f, PB_LEN));
            if (!(o->domain = onnx_str(m, om, &f))) return oom();
        } else if (f.num == 2) {
            FWD_TRY(pb_expect(om, &f, PB_VARINT));
            o->version = (int64_t)f.u;
        }
    }
    if (strcmp(o->domain, "ai.onnx") == 0) o->domain = "";
    return FWD_OK;
}

/* Header fields, opsets and the graph's location. */
static fwd_status parse_model(ir_model *m, const pb_msg *root, pb_msg *graph, bool *has_graph)
{
    size_t n_opsets;
    FWD_TRY(pb_count(root, M_OPSET_IMPORT, &n_opsets));
    if (n_opsets > 4096)
        return fwd_errorf(FWD_ERR_UNSUPPORTED, "model imports %zu opsets", n_opsets);
    m->opsets = ir_alloc(m, (n_opsets + 1) * sizeof *m->opsets);
    if (!m->opsets) return oom();
    const char *pname = "", *pversion = "";
    *has_graph = false;
    pb_iter it = pb_begin(root);
    pb_field f;
    bool has;
    for (;;) {
        FWD_TRY(pb_next(&it, &f, &has));
        if (!has) break;
        switch (f.num) {
        case M_IR_VERSION:
            FWD_TRY(pb_expect(root, &f, PB_VARINT));
            m->ir_version = (int64_t)f.u;
            break;
        case M_PRODUCER_NAME:
        case M_PRODUCER_VERSION: {
            FWD_TRY(pb_expect(root, &f, PB_LEN));
            const char *s = onnx_str(m, root, &f);
            if (!s) return oom();
            if (f.num == M_PRODUCER_NAME) pname = s;
            else pversion = s;
            break;
        }
        case M_GRAPH:
            FWD_TRY(pb_sub(root, &f, "GraphProto", graph));
            *has_graph = true;
            break;
        case M_OPSET_IMPORT: {
            pb_msg om;
            FWD_TRY(pb_sub(root, &f, "OperatorSetIdProto", &om));
            FWD_TRY(parse_opset(m, &om, &m->opsets[m->n_opsets++]));
            break;
        }
        default:
            break;
        }
    }
    char buf[512];
    snprintf(buf, sizeof buf, "%.250s%s%.250s", pname, pname[0] && pversion[0] ? " " : "",
             pversion);
    if (!(m->producer = ir_strdup(m, buf))) return oom();
    m->format = "onnx";
    return FWD_OK;
}

static fwd_status check_opsets(const ir_model *m, int64_t *opset)
{
    *opset = -1;
    for (int i = 0; i < m->n_opsets; i++) {
        const ir_opset *o = &m->opsets[i];
        if (o->domain[0]) continue;
        /* 1..6: accepted op by op in onnx_check_ops */
        if (o->version < 1 || o->version > ONNX_MAX_OPSET)
            return fwd_errorf(FWD_ERR_UNSUPPORTED,
                              "opset %lld of the default ONNX domain is not supported (%d to %d are)",
                              (long long)o->version, ONNX_MIN_OPSET, ONNX_MAX_OPSET);
        if (*opset < 0) *opset = o->version;
    }
    return FWD_OK;
}

fwd_status onnx_import_model(ir_model *m, const uint8_t *data, size_t size, const char *base_dir)
{
    if (!m || (!data && size)) return fwd_errorf(FWD_ERR_INVALID_ARGUMENT, "NULL model or data");
    if (size == 0) return fwd_errorf(FWD_ERR_PARSE, "empty file (not an ONNX model)");
    pb_msg root = pb_root(data, size, "ModelProto");
    pb_msg gmsg = {0};
    bool has_graph = false;
    FWD_TRY(parse_model(m, &root, &gmsg, &has_graph));
    if (!has_graph) return fwd_errorf(FWD_ERR_INVALID_MODEL, "the model has no graph");
    onnx_loader L = {0};
    L.m = m;
    L.buf = data;
    L.size = size;
    L.base_dir = base_dir;
    FWD_TRY(check_opsets(m, &L.opset));
    FWD_TRY(onnx_check_ops(m, &gmsg)); /* names ops of other domains first */
    if (L.opset < 0)
        return fwd_errorf(FWD_ERR_INVALID_MODEL,
                          "the model imports no opset of the default ONNX domain");
    if (L.opset < ONNX_MIN_OPSET) L.opset = ONNX_MIN_OPSET; /* same ops, see onnx_check_ops */

    ir_graph *g = NULL;
    fwd_status s = onnx_import_graph(&L, &gmsg, NULL, 0, "main", &g);
    onnx_loader_cleanup(&L);
    FWD_TRY(s);
    m->graph = g;
    FWD_TRY(ir_graph_validate(g));
    return ir_graph_infer_shapes(g);
}

/* Before importing: find every op of the model (subgraphs included) that
 * we cannot import, so one error lists them all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_internal.h"
#include "util/error.h"

typedef struct str_view {
    const char *p;
    size_t n;
} str_view;

typedef struct missing_op {
    str_view op, domain, node;
    int index; /* node position, naming unnamed nodes like the importer does */
} missing_op;

typedef struct missing_list {
    missing_op *items;
    int n, cap;
} missing_list;

static bool view_eq(str_view a, str_view b) { return a.n == b.n && memcmp(a.p, b.p, a.n) == 0; }

static bool is_default_domain(str_view d)
{
    return d.n == 0 || (d.n == 7 && memcmp(d.p, "ai.onnx", 7) == 0);
}

static fwd_status note_missing(missing_list *l, str_view op, str_view domain, str_view node,
                               int index)
{
    for (int i = 0; i < l->n; i++)
        if (view_eq(l->items[i].op, op) &&
            (view_eq(l->items[i].domain, domain) ||
             (is_default_domain(domain) && is_default_domain(l->items[i].domain))))
            return FWD_OK;
    if (l->n == l->cap) {
        int ncap = l->cap ? 2 * l->cap : 8;
        missing_op *ni = realloc(l->items, (size_t)ncap * sizeof *ni);
        if (!ni) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory");
        l->items = ni;
        l->cap = ncap;
    }
    l->items[l->n++] = (missing_op){op, domain, node, index};
    return FWD_OK;
}

/* What the walk collects: ops without importer, and (for models at
 * opsets 1..6) ops that changed before opset 7. */
typedef struct walk_state {
    int64_t opset; /* of the default domain */
    missing_list missing, changed;
} walk_state;

static fwd_status walk_graph(const pb_msg *g, int depth, walk_state *w);

static fwd_status walk_node(const pb_msg *nm, int depth, int index, walk_state *w)
{
    pb_iter it = pb_begin(nm);
    pb_field f;
    bool has;
    str_view op = {"", 0}, domain = {"", 0}, name = {"", 0};
    for (;;) {
        FWD_TRY(pb_next(&it, &f, &has));
        if (!has) break;
        if (f.num == 3 || f.num == 4 || f.num == 7) {
            FWD_TRY(pb_expect(nm, &f, PB_LEN));
            str_view v = {(const char *)pb_bytes(nm, &f), f.len};
            if (f.num == 3) name = v;
            else if (f.num == 4) op = v;
            else domain = v;
        } else if (f.num == 5) { /* attributes: recurse into g and graphs */
            pb_msg am;
            FWD_TRY(pb_sub(nm, &f, "AttributeProto", &am));
            pb_iter ai = pb_begin(&am);
            pb_field af;
            bool ahas;
            for (;;) {
                FWD_TRY(pb_next(&ai, &af, &ahas));
                if (!ahas) break;
                if (af.num != 6 && af.num != 11) continue;
                pb_msg gm;
                FWD_TRY(pb_sub(&am, &af, "GraphProto", &gm));
                FWD_TRY(walk_graph(&gm, depth + 1, w));
            }
        }
    }
    if (op.n == 0)
        return fwd_errorf(FWD_ERR_INVALID_MODEL, "node '%.*s' at byte %zu has no op_type",
                          (int)name.n, name.p, nm->start);
    bool known = false, changed = false;
    if (is_default_domain(domain)) {
        char buf[128];
        if (op.n < sizeof buf) {
            memcpy(buf, op.p, op.n);
            buf[op.n] = '\0';
            known = onnx_importer_find(buf) != NULL;
            changed = w->opset < ONNX_MIN_OPSET && !onnx_op_same_as_opset7(buf, w->opset);
        }
    }
    if (!known) FWD_TRY(note_missing(&w->missing, op, domain, name, index));
    else if (changed) FWD_TRY(note_missing(&w->changed, op, domain, name, index));
    return FWD_OK;
}

static fwd_status walk_graph(const pb_msg *g, int depth, walk_state *w)
{
    if (depth > ONNX_MAX_DEPTH)
        return fwd_errorf(FWD_ERR_PARSE, "GraphProto at byte %zu: subgraphs nested deeper than %d",
                          g->start, ONNX_MAX_DEPTH);
    pb_iter it = pb_begin(g);
    pb_field f;
    bool has;
    int index = 0;
    for (;;) {
        FWD_TRY(pb_next(&it, &f, &has));
        if (!has) break;
        if (f.num != 1) continue;
        pb_msg nm;
        FWD_TRY(pb_sub(g, &f, "NodeProto", &nm));
        FWD_TRY(walk_node(&nm, depth, index++, w));
    }
    return FWD_OK;
}

/* "Op (domain 'd', opset N, first node 'x'); ..." into msg. */
static void list_ops(const ir_model *m, const missing_list *l, char *msg, size_t cap)
{
    size_t n = strlen(msg);
    for (int i = 0; i < l->n && n < cap; i++) {
        const missing_op *o = &l->items[i];
        char dom[128];
        size_t dn = o->domain.n < sizeof dom - 1 ? o->domain.n : sizeof dom - 1;
        memcpy(dom, o->domain.p, dn);
        dom[dn] = '\0';
        long long opset = (long long)ir_model_opset(m, dom);
        int on = (int)(o->op.n > 100 ? 100 : o->op.n);
        char node[160];
        if (o->node.n)
            snprintf(node, sizeof node, "%.*s", (int)(o->node.n > 100 ? 100 : o->node.n), o->node.p);
        else
            snprintf(node, sizeof node, "%.*s_%d", on, o->op.p, o->index);
        n += (size_t)snprintf(msg + n, cap - n, "%s%.*s (domain '%s', opset %lld, first node '%s')",
                              i ? "; " : "", on, o->op.p, dom, opset, node);
    }
}

fwd_status onnx_check_ops(const ir_model *m, const pb_msg *graph)
{
    walk_state w = {0};
    w.opset = ir_model_opset(m, "");
    fwd_status s = walk_graph(graph, 0, &w);
    char msg[1800];
    if (s == FWD_OK && w.missing.n) {
        snprintf(msg, sizeof msg, "unsupported ops: ");
        list_ops(m, &w.missing, msg, sizeof msg);
        s = fwd_errorf(FWD_ERR_UNSUPPORTED, "%s", msg);
    } else if (s == FWD_OK && w.changed.n) {
        snprintf(msg, sizeof msg,
                 "opset %lld of the default ONNX domain is not supported (%d to %d are) for ops "
                 "that changed by opset %d: ",
                 (long long)w.opset, ONNX_MIN_OPSET, ONNX_MAX_OPSET, ONNX_MIN_OPSET);
        list_ops(m, &w.changed, msg, sizeof msg);
        s = fwd_errorf(FWD_ERR_UNSUPPORTED, "%s", msg);
    }
    free(w.missing.items);
    free(w.changed.items);
    return s;
}

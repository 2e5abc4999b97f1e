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

static fwd_status walk_graph(const pb_msg *g, int depth, missing_list *l);

static fwd_status walk_node(const pb_msg *nm, int depth, int index, missing_list *l)
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
                FWD_TRY(walk_graph(&gm, depth + 1, l));
            }
        }
    }
    if (op.n == 0)
        return fwd_errorf(FWD_ERR_INVALID_MODEL, "node '%.*s' at byte %zu has no op_type",
                          (int)name.n, name.p, nm->start);
    bool known = false;
    if (is_default_domain(domain)) {
        char buf[128];
        if (op.n < sizeof buf) {
            memcpy(buf, op.p, op.n);
            buf[op.n] = '\0';
            known = onnx_importer_find(buf) != NULL;
        }
    }
    if (!known) FWD_TRY(note_missing(l, op, domain, name, index));
    return FWD_OK;
}

static fwd_status walk_graph(const pb_msg *g, int depth, missing_list *l)
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
        FWD_TRY(walk_node(&nm, depth, index++, l));
    }
    return FWD_OK;
}

fwd_status onnx_check_ops(const ir_model *m, const pb_msg *graph)
{
    missing_list l = {0};
    fwd_status s = walk_graph(graph, 0, &l);
    if (s != FWD_OK || l.n == 0) {
        free(l.items);
        return s;
    }
    char msg[1800];
    size_t n = (size_t)snprintf(msg, sizeof msg, "unsupported ops: ");
    for (int i = 0; i < l.n && n < sizeof msg; i++) {
        const missing_op *o = &l.items[i];
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
        n += (size_t)snprintf(msg + n, sizeof msg - n,
                              "%s%.*s (domain '%s', opset %lld, first node '%s')", i ? "; " : "",
                              on, o->op.p, dom, opset, node);
    }
    free(l.items);
    return fwd_errorf(FWD_ERR_UNSUPPORTED, "%s", msg);
}

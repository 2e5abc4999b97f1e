/*
 * Conv (or ConvTranspose) followed by inference BatchNormalization becomes
 * one Conv with rescaled weights and a new bias:
 *   s[m] = scale[m] / sqrt(var[m] + epsilon)
 *   W'[m, ...] = W[m, ...] * s[m]
 *   B'[m] = (B[m] - mean[m]) * s[m] + bias[m]
 * computed in double and stored as float32. Needs W, B and the BN
 * parameters constant, and the Conv output read by the BN alone.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"
#include "passes/pattern.h"
#include "util/error.h"

#define MAX_ATTRS 16

/* The constant float32 weight of a conv node, or NULL. */
static const ir_tensor *const_weight(const ir_graph *g, const ir_node *n)
{
    int w = pat_input(n, 1);
    if (!pat_is_const(g, w)) return NULL;
    const ir_tensor *t = &g->values[w].t;
    if (t->dtype != FWD_FLOAT32 || t->shape.rank < 3 || !ir_shape_known(&t->shape)) return NULL;
    if ((size_t)ir_shape_numel(&t->shape) * sizeof(float) > t->nbytes) return NULL;
    return t;
}

/* Output channel of each (dim0, dim1) weight slice: Conv's W is [M, C/g,
 * ...], ConvTranspose's is [C, M/g, ...]. Fills chan (dims[0]*dims[1]
 * entries) and returns M, or -1 when the grouping does not fit. */
static int64_t slice_channels(const ir_node *n, const ir_tensor *w, int64_t *chan)
{
    int64_t d0 = w->shape.dims[0], d1 = w->shape.dims[1];
    if (pat_is_op(n, "Conv")) {
        for (int64_t a = 0; a < d0; a++)
            for (int64_t b = 0; b < d1; b++) chan[a * d1 + b] = a;
        return d0;
    }
    int64_t group = ir_attr_int(n, "group", 1);
    if (group < 1 || d0 % group) return -1;
    int64_t per_group_in = d0 / group;
    for (int64_t a = 0; a < d0; a++)
        for (int64_t b = 0; b < d1; b++) chan[a * d1 + b] = (a / per_group_in) * d1 + b;
    return group * d1;
}

/* Fold conv node ci into the BN node bi when everything fits; *done tells. */
static fwd_status try_fold(ir_graph *g, const pat_uses *u, int ci, int bi, bool *done)
{
    *done = false;
    const ir_node *conv = &g->nodes[ci];
    const ir_node *bn = &g->nodes[bi];
    if (bn->n_inputs != 5 || bn->n_outputs < 1 || bn->outputs[0] < 0) return FWD_OK;
    if (ir_attr_int(bn, "training_mode", 0) != 0 || !pat_only_first_output_used(u, bn)) return FWD_OK;
    if (bn->inputs[0] != conv->outputs[0]) return FWD_OK;
    const ir_tensor *w = const_weight(g, conv);
    if (!w) return FWD_OK;
    int64_t d0 = w->shape.dims[0], d1 = w->shape.dims[1];
    if (d0 <= 0 || d1 <= 0) return FWD_OK;
    int64_t numel = ir_shape_numel(&w->shape), inner = numel / (d0 * d1);

    fwd_status st = FWD_OK;
    int64_t *chan = malloc(sizeof *chan * (size_t)(d0 * d1));
    double *p = NULL;
    float *nw = NULL, *nb = NULL;
    if (!chan) return fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory folding BatchNormalization '%s'", bn->name);
    int64_t m = slice_channels(conv, w, chan);
    if (m <= 0) goto out;
    /* p: scale, bias, mean, var, conv bias, each m doubles */
    p = calloc((size_t)m * 5, sizeof *p);
    nw = malloc(sizeof *nw * (size_t)numel);
    nb = malloc(sizeof *nb * (size_t)m);
    if (!p || !nw || !nb) {
        st = fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory folding BatchNormalization '%s'", bn->name);
        goto out;
    }
    for (int k = 0; k < 4; k++)
        if (!pat_const_doubles(g, bn->inputs[1 + k], p + k * m, m)) goto out;
    int b = pat_input(conv, 2);
    if (b >= 0 && !pat_const_doubles(g, b, p + 4 * m, m)) goto out;
    double eps = ir_attr_float(bn, "epsilon", 1e-5f);
    const double *scale = p, *bias = p + m, *mean = p + 2 * m, *var = p + 3 * m, *cb = p + 4 * m;
    double *s = malloc(sizeof *s * (size_t)m);
    if (!s) {
        st = fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory folding BatchNormalization '%s'", bn->name);
        goto out;
    }
    bool ok = true;
    for (int64_t c = 0; c < m; c++) {
        double d = var[c] + eps;
        if (!(d > 0) || !isfinite(d)) ok = false;
        s[c] = ok ? scale[c] / sqrt(d) : 0;
        nb[c] = (float)((cb[c] - mean[c]) * s[c] + bias[c]);
    }
    if (ok) {
        const float *src = w->data;
        for (int64_t k = 0; k < d0 * d1; k++) {
            double f = s[chan[k]];
            for (int64_t i = 0; i < inner; i++) nw[k * inner + i] = (float)(src[k * inner + i] * f);
        }
    }
    free(s);
    if (!ok) goto out;

    /* Everything checked: make the new constants and node. Copy what we
     * need from conv/bn first (adding values and nodes moves arrays). */
    ir_shape wshape = w->shape, bshape = {.rank = 1, .dims = {m}};
    char base[200];
    const char *cname = conv->name, *ctype = conv->op_type;
    int x = conv->inputs[0], z = bn->outputs[0];
    ir_attr attrs[MAX_ATTRS + 1];
    int na = pat_copy_attrs(conv, attrs, MAX_ATTRS);
    if (na < 0) goto out;
    const char *fused = pat_fused_join(g->model, pat_fused_of(conv), "BatchNormalization");
    if (!fused) {
        st = fwd_errorf(FWD_ERR_OUT_OF_MEMORY, "out of memory folding BatchNormalization '%s'", bn->name);
        goto out;
    }
    int wid, bid;
    snprintf(base, sizeof base, "%.180s_bn_W", cname);
    if ((st = pat_add_f32_const(g, base, &wshape, nw, &wid))) goto out;
    snprintf(base, sizeof base, "%.180s_bn_B", cname);
    if ((st = pat_add_f32_const(g, base, &bshape, nb, &bid))) goto out;
    if ((st = pat_attr_string(g->model, PASS_FUSED_ATTR, fused, &attrs[na]))) goto out;
    int ins[3] = {x, wid, bid};
    if ((st = pat_emit_node(g, ctype, cname, ins, 3, &z, 1, attrs, na + 1, NULL))) goto out;
    *done = true;
out:
    free(chan);
    free(p);
    free(nw);
    free(nb);
    return st;
}

fwd_status pass_fold_conv_bn(ir_graph *g, const pass_ctx *c, int *n_changed)
{
    (void)c;
    *n_changed = 0;
    pat_sweep sw;
    FWD_TRY(pat_sweep_begin(g, &sw, "folding BatchNormalization"));
    const pat_uses *u = &sw.u;
    bool *drop = sw.drop;
    fwd_status st = FWD_OK;
    int changed = 0;
    for (int i = 0; i < sw.n0 && !st; i++) {
        const ir_node *n = &g->nodes[i];
        if (!pat_is_op(n, "Conv") && !pat_is_op(n, "ConvTranspose")) continue;
        if (n->n_outputs != 1 || n->outputs[0] < 0 || n->n_inputs < 2) continue;
        int bi = pat_single_consumer(u, n->outputs[0]);
        if (bi < 0 || drop[bi] || !pat_is_op(&g->nodes[bi], "BatchNormalization")) continue;
        bool done;
        st = try_fold(g, u, i, bi, &done);
        if (!st && done) {
            drop[i] = drop[bi] = true;
            changed++;
        }
    }
    *n_changed = changed;
    return pat_sweep_end(g, &sw, st, changed);
}

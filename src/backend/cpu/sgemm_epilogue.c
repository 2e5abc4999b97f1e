/*
 * The GEMM epilogue: alpha, the addends (bias, residual, Gemm's C) and the
 * activations of the fused ops, applied to a tile in place.
 */
#include <string.h>

#include "backend/cpu/elementwise_fastmath.h"
#include "backend/cpu/sgemm.h"

bool nn_act_parse(const char *name, nn_act_kind *out)
{
    static const struct {
        const char *name;
        nn_act_kind kind;
    } acts[] = {
        {"", NN_ACT_NONE},           {"Relu", NN_ACT_RELU},         {"Clip", NN_ACT_CLIP},
        {"LeakyRelu", NN_ACT_LEAKY}, {"Sigmoid", NN_ACT_SIGMOID},   {"SiLU", NN_ACT_SILU},
        {"Gelu", NN_ACT_GELU},       {"GeluTanh", NN_ACT_GELU_TANH}, {"HardSwish", NN_ACT_HARDSWISH},
        {"Tanh", NN_ACT_TANH},
    };
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (strcmp(name ? name : "", acts[i].name) == 0) {
            *out = acts[i].kind;
            return true;
        }
    return false;
}

nn_epilogue nn_epilogue_at(const nn_epilogue *e, int64_t i0, int64_t j0)
{
    nn_epilogue r = *e;
    for (int t = 0; t < 2; t++)
        if (r.add[t].p) r.add[t].p += i0 * r.add[t].rs + j0 * r.add[t].cs;
    return r;
}

/* The loops below keep NaN where the ONNX ops keep it (Relu, Clip of NaN
 * is NaN) and vectorise (the fm_* helpers are branch-free inline code). */
void nn_act_apply(nn_act_kind act, float a, float b, float *x, int64_t n)
{
    switch (act) {
    case NN_ACT_NONE: break;
    case NN_ACT_RELU:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] < 0.0f ? 0.0f : x[i];
        break;
    case NN_ACT_CLIP:
        for (int64_t i = 0; i < n; i++) {
            float v = x[i] < a ? a : x[i];
            x[i] = v > b ? b : v;
        }
        break;
    case NN_ACT_LEAKY:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] < 0.0f ? a * x[i] : x[i];
        break;
    case NN_ACT_SIGMOID: fm_sigmoid_n(x, x, n); break;
    case NN_ACT_SILU: fm_silu_n(x, x, n); break;
    case NN_ACT_GELU: fm_gelu_n(x, x, n); break;
    case NN_ACT_GELU_TANH: fm_gelu_tanh_n(x, x, n); break;
    case NN_ACT_HARDSWISH:
        for (int64_t i = 0; i < n; i++) {
            float v = x[i], h = v * (1.0f / 6.0f) + 0.5f;
            h = h < 0.0f ? 0.0f : h;
            h = h > 1.0f ? 1.0f : h;
            x[i] = v * h;
        }
        break;
    case NN_ACT_TANH: fm_tanh_n(x, x, n); break;
    }
}

static void add_row(float *c, const nn_addend *ad, int64_t i, int64_t cols)
{
    const float *q = ad->p + i * ad->rs;
    if (ad->cs == 0) {
        float v = q[0];
        for (int64_t j = 0; j < cols; j++) c[j] += v;
    } else if (ad->cs == 1) {
        for (int64_t j = 0; j < cols; j++) c[j] += q[j];
    } else {
        for (int64_t j = 0; j < cols; j++) c[j] += q[j * ad->cs];
    }
}

void nn_epilogue_apply(const nn_epilogue *e, float *c, int64_t ldc, int64_t rows, int64_t cols)
{
    if (e->alpha == 1.0f && !e->add[0].p && !e->add[1].p && e->act == NN_ACT_NONE) return;
    for (int64_t i = 0; i < rows; i++) {
        float *cr = c + i * ldc;
        if (e->alpha != 1.0f)
            for (int64_t j = 0; j < cols; j++) cr[j] *= e->alpha;
        for (int t = 0; t < 2; t++)
            if (e->add[t].p) add_row(cr, &e->add[t], i, cols);
        nn_act_apply(e->act, e->act_a, e->act_b, cr, cols);
    }
}

/* Activation functions of the recurrent ops (see rnn_act.h). */

/* Without this, GCC keeps the selects inside the fast-math functions as
 * branches (they could raise FP exceptions) and does not vectorise. */
#pragma GCC optimize("no-trapping-math")
#include "backend/cpu/rnn_act.h"

#include <math.h>
#include <strings.h>

/* branch-free expf/tanhf that let the loops below vectorise */
#include "backend/cpu/elementwise_fastmath.h"

bool rnn_act_parse(const char *name, rnn_act *act, bool *uses_alpha, bool *uses_beta)
{
    static const struct {
        const char *name;
        rnn_act_kind kind;
        bool alpha, beta;
        float dflt_alpha, dflt_beta;
    } table[] = {
        {"Sigmoid", RNN_ACT_SIGMOID, false, false, 0.f, 0.f},
        {"Tanh", RNN_ACT_TANH, false, false, 0.f, 0.f},
        {"Relu", RNN_ACT_RELU, false, false, 0.f, 0.f},
        {"Affine", RNN_ACT_AFFINE, true, true, 1.f, 0.f},
        {"LeakyRelu", RNN_ACT_LEAKY_RELU, true, false, 0.01f, 0.f},
        {"ThresholdedRelu", RNN_ACT_THRESHOLDED_RELU, true, false, 1.f, 0.f},
        {"ScaledTanh", RNN_ACT_SCALED_TANH, true, true, 1.f, 1.f},
        {"HardSigmoid", RNN_ACT_HARD_SIGMOID, true, true, 0.2f, 0.5f},
        {"Elu", RNN_ACT_ELU, true, false, 1.f, 0.f},
        {"Softsign", RNN_ACT_SOFTSIGN, false, false, 0.f, 0.f},
        {"Softplus", RNN_ACT_SOFTPLUS, false, false, 0.f, 0.f},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcasecmp(name, table[i].name) != 0) continue;
        act->kind = table[i].kind;
        act->alpha = table[i].dflt_alpha;
        act->beta = table[i].dflt_beta;
        *uses_alpha = table[i].alpha;
        *uses_beta = table[i].beta;
        return true;
    }
    return false;
}

void rnn_act_apply(const rnn_act *act, float *x, int64_t n, float clip)
{
    if (clip > 0.0f)
        for (int64_t i = 0; i < n; i++) x[i] = fminf(fmaxf(x[i], -clip), clip);
    float a = act->alpha, b = act->beta;
    switch (act->kind) {
    case RNN_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) x[i] = fm_sigmoidf(x[i]);
        break;
    case RNN_ACT_TANH:
        for (int64_t i = 0; i < n; i++) x[i] = fm_tanhf(x[i]);
        break;
    case RNN_ACT_RELU:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0.f ? x[i] : 0.f;
        break;
    case RNN_ACT_AFFINE:
        for (int64_t i = 0; i < n; i++) x[i] = a * x[i] + b;
        break;
    case RNN_ACT_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] >= 0.f ? x[i] : a * x[i];
        break;
    case RNN_ACT_THRESHOLDED_RELU:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] > a ? x[i] : 0.f;
        break;
    case RNN_ACT_SCALED_TANH:
        for (int64_t i = 0; i < n; i++) x[i] = a * fm_tanhf(b * x[i]);
        break;
    case RNN_ACT_HARD_SIGMOID:
        for (int64_t i = 0; i < n; i++) x[i] = fminf(fmaxf(a * x[i] + b, 0.f), 1.f);
        break;
    case RNN_ACT_ELU:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] >= 0.f ? x[i] : a * (expf(x[i]) - 1.f);
        break;
    case RNN_ACT_SOFTSIGN:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] / (1.f + fabsf(x[i]));
        break;
    case RNN_ACT_SOFTPLUS:
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] > 20.f ? x[i] : log1pf(expf(x[i]));
        break;
    }
}

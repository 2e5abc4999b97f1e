/* Activation functions of the recurrent ops (the names ONNX allows in the
 * activations attribute), applied to float vectors. */
#ifndef FWD_BACKEND_CPU_RNN_ACT_H
#define FWD_BACKEND_CPU_RNN_ACT_H

#include <stdbool.h>
#include <stdint.h>

typedef enum rnn_act_kind {
    RNN_ACT_SIGMOID,
    RNN_ACT_TANH,
    RNN_ACT_RELU,
    RNN_ACT_AFFINE,
    RNN_ACT_LEAKY_RELU,
    RNN_ACT_THRESHOLDED_RELU,
    RNN_ACT_SCALED_TANH,
    RNN_ACT_HARD_SIGMOID,
    RNN_ACT_ELU,
    RNN_ACT_SOFTSIGN,
    RNN_ACT_SOFTPLUS
} rnn_act_kind;

typedef struct rnn_act {
    rnn_act_kind kind;
    float alpha, beta;
} rnn_act;

/* Look up a name (case-insensitive). Sets *uses_alpha / *uses_beta to say
 * which of the activation_alpha / activation_beta lists it draws from, and
 * fills the defaults. false for an unknown name. */
bool rnn_act_parse(const char *name, rnn_act *act, bool *uses_alpha, bool *uses_beta);

/* x[i] = act(clip(x[i])) for i < n; clip <= 0 means no clipping. */
void rnn_act_apply(const rnn_act *act, float *x, int64_t n, float clip);

#endif

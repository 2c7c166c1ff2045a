/* The registry of layer kinds: one table entry per kind, defined in the file that
 * implements it. Adding a kind is one entry here and one file. */
#include "layer_internal.h"

#include <stddef.h>

static const lam_kind *const kinds[] = {
    &lam__kind_conv2d,  &lam__kind_linear,  &lam__kind_relu,    &lam__kind_leaky_relu,
    &lam__kind_sigmoid, &lam__kind_tanh,    &lam__kind_gelu,    &lam__kind_maxpool,
    &lam__kind_avgpool, &lam__kind_gap,     &lam__kind_flatten, &lam__kind_dropout,
    &lam__kind_batchnorm, &lam__kind_add,   &lam__kind_concat,  &lam__kind_mul,
    &lam__kind_embedding, &lam__kind_rnn,   &lam__kind_lstm,    &lam__kind_gru,
    &lam__kind_layernorm, &lam__kind_gelu_tanh, &lam__kind_posembed, &lam__kind_attention,
};

const lam_kind *lam__kind_of(lam_layer_kind id)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (kinds[i]->id == id) {
            return kinds[i];
        }
    }
    return NULL;
}

const char *lam__kind_name(lam_layer_kind id)
{
    const lam_kind *k = lam__kind_of(id);
    return k != NULL ? k->name : "?";
}

/* Built-in models. Each adapts to the input shape through shape inference; `out` is the
 * number of classes (or regression targets). */
#include "model_internal.h"

#include <string.h>

typedef struct builtin {
    const char *name;
    const char *spec;
} builtin;

static const builtin builtins[] = {
    /* The seed CNN of the design: 406,270 parameters on 1x28x28, 522,046 on 3x32x32. */
    {"seed-cnn", "conv:32,3,pad=1 relu maxpool:2 conv:64,3,pad=1 relu maxpool:2 flatten "
                 "linear:120 relu linear:84 relu linear:out"},
    /* LeNet-5 with ReLU and max-pooling, padded so 28x28 inputs keep the classic 5x5 maps. */
    {"lenet5", "conv:6,5,pad=2 relu maxpool:2 conv:16,5 relu maxpool:2 flatten linear:120 relu "
               "linear:84 relu linear:out"},
    /* The MLP of the speed issue: 784-512-256-10 on 1x28x28. */
    {"mlp", "flatten linear:512 relu linear:256 relu linear:out"},
};

const char *lam_model_builtin_spec(const char *name)
{
    if (name == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
        if (strcmp(builtins[i].name, name) == 0) {
            return builtins[i].spec;
        }
    }
    return NULL;
}

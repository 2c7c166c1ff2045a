/* Model-spec parser, shape inference and the memory plan: the input is the spec text, built
 * for an image, a sequence (T,D) and a feature-vector input, then run forward, loss and
 * backward once when it builds (the plan's shared buffers are written and read). */
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) {
        return 0;
    }
    char *spec = malloc(size + 1);
    lam_ctx *ctx = fuzz_ctx();
    if (spec == NULL || ctx == NULL) {
        free(spec);
        lam_ctx_destroy(ctx);
        return 0;
    }
    memcpy(spec, data, size);
    spec[size] = '\0';
    static const int64_t shapes[3][3] = {{2, 9, 7}, {12, 1, 1}, {3, 4, 1}};
    static const int ndims[3] = {3, 1, 2};
    static const float zeros[2 * 2 * 9 * 7]; /* read only */
    const int32_t labels[2] = {0, 2};
    const lam_loss_desc ld = {LAM_LOSS_SOFTMAX_XENT, 0.0f, 0.0f};
    for (int k = 0; k < 3; k++) {
        lam_model *m = NULL;
        if (lam_model_create(ctx, spec, ndims[k], shapes[k], 3, 2, &m) == LAM_OK) {
            const float *out;
            double loss;
            /* the loss needs 3 outputs per sample; other graphs stop after forward */
            if (lam_model_forward(m, zeros, 2, 1, &out) == LAM_OK &&
                lam_model_output_shape(m).ndim == 1 && lam_model_output_shape(m).dim[0] == 3 &&
                lam_model_loss(m, &ld, labels, NULL, &loss, NULL) == LAM_OK) {
                lam_model_backward(m);
            }
            lam_model_destroy(m);
        }
    }
    free(spec);
    lam_ctx_destroy(ctx);
    return 0;
}

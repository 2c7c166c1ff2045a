/* Model-spec parser and shape inference: the input is the spec text, built for an image and
 * for a feature-vector input, then run forward once on zeros when it builds. */
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
    const int64_t img[3] = {2, 9, 7}, feat[1] = {12};
    static const float zeros[2 * 2 * 9 * 7]; /* read only */
    for (int k = 0; k < 2; k++) {
        lam_model *m = NULL;
        if (lam_model_create(ctx, spec, k ? 1 : 3, k ? feat : img, 3, 2, &m) == LAM_OK) {
            const float *out;
            lam_model_forward(m, zeros, 2, 1, &out);
            lam_model_destroy(m);
        }
    }
    free(spec);
    lam_ctx_destroy(ctx);
    return 0;
}

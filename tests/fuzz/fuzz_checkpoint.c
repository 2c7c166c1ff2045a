/* Checkpoint reader: open and validate, then (when the described model is small) build the
 * model it names and load its weights, optimizer-free. */
#include "fuzz_common.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lam_ctx *ctx = fuzz_ctx();
    const char *p = fuzz_file(data, size, ".safetensors");
    if (ctx == NULL || p == NULL) {
        lam_ctx_destroy(ctx);
        return 0;
    }
    lam_checkpoint *ck = NULL;
    if (lam_checkpoint_open(ctx, p, &ck) == LAM_OK) {
        lam_model *m = NULL;
        /* the capped allocator bounds what a hostile spec or input shape can ask for */
        if (lam_checkpoint_model(ck, 2, &m) == LAM_OK) {
            int64_t v;
            lam_checkpoint_int(ck, "train.epoch", &v);
            lam_model_destroy(m);
        }
        lam_checkpoint_close(ck);
    }
    remove(p);
    lam_ctx_destroy(ctx);
    return 0;
}

/* NPY reader: X alone, then X with the same bytes as y (count and dtype cross-checks). */
#include "fuzz_common.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lam_ctx *ctx = fuzz_ctx();
    const char *p = fuzz_file(data, size, ".npy");
    if (ctx == NULL || p == NULL) {
        lam_ctx_destroy(ctx);
        return 0;
    }
    lam_dataset *ds = NULL;
    if (lam_dataset_load_npy(ctx, p, NULL, NULL, &ds) == LAM_OK) {
        lam_dataset_destroy(ds);
        ds = NULL;
    }
    if (lam_dataset_load_npy(ctx, p, p, NULL, &ds) == LAM_OK) {
        lam_dataset_destroy(ds);
    }
    remove(p);
    lam_ctx_destroy(ctx);
    return 0;
}

/* IDX reader: the input is an images file; a labels file is derived from its tail so both
 * parsers and their cross-checks run. */
#include "fuzz_common.h"

#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lam_ctx *ctx = fuzz_ctx();
    const char *p = fuzz_file(data, size, ".idx");
    if (ctx == NULL || p == NULL) {
        lam_ctx_destroy(ctx);
        return 0;
    }
    char images[256];
    snprintf(images, sizeof images, "%s", p);
    lam_dataset *ds = NULL;
    if (lam_dataset_load_idx(ctx, images, NULL, NULL, &ds) == LAM_OK) {
        lam_dataset_destroy(ds);
        ds = NULL;
    }
    size_t half = size / 2;
    const char *q = fuzz_file(data + half, size - half, ".lbl");
    if (q != NULL && lam_dataset_load_idx(ctx, images, q, NULL, &ds) == LAM_OK) {
        lam_dataset_destroy(ds);
    }
    remove(images);
    if (q != NULL) {
        remove(q);
    }
    lam_ctx_destroy(ctx);
    return 0;
}

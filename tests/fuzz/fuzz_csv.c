/* CSV reader with its automatic task detection, then with an explicit target column. */
#include "fuzz_common.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lam_ctx *ctx = fuzz_ctx();
    const char *p = fuzz_file(data, size, ".csv");
    if (ctx == NULL || p == NULL) {
        lam_ctx_destroy(ctx);
        return 0;
    }
    lam_dataset *ds = NULL;
    if (lam_dataset_load_csv(ctx, p, NULL, &ds) == LAM_OK) {
        lam_dataset_destroy(ds);
        ds = NULL;
    }
    lam_data_options o;
    lam_data_options_init(&o);
    o.target = "0";
    o.task = LAM_DATA_REGRESS;
    if (lam_dataset_load_csv(ctx, p, &o, &ds) == LAM_OK) {
        lam_dataset_destroy(ds);
    }
    remove(p);
    lam_ctx_destroy(ctx);
    return 0;
}

/* Load a PyTorch model's weights into lamina from C: build the same network from its spec
 * (here the built-in resnet20, whose names are torchvision's), import a state_dict saved as
 * safetensors by tools/export_torch.py, and classify a batch. lamina_import_torch FILE. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <lamina.h>

enum { N = 4, C = 3, H = 32, W = 32, CLASSES = 10 };

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: import_torch STATE_DICT.safetensors\n");
        return 2;
    }
    lam_ctx *ctx = NULL;
    lam_model *model = NULL;
    const int64_t in_shape[3] = {C, H, W};
    static float x[N * C * H * W], logits[N * CLASSES];
    for (int i = 0; i < N * C * H * W; i++) {
        x[i] = lam_rng_normal(7, 0, (uint64_t)i); /* stands for the caller's images */
    }
    lam_import_report rep;
    lam_status st = lam_ctx_create(NULL, &ctx);
    if (st == LAM_OK) {
        st = lam_model_create(ctx, "resnet20", 3, in_shape, CLASSES, N, &model);
    }
    if (st == LAM_OK) {
        /* by name: "layer1.0.conv1.weight" in the file goes to the node named layer1.0.conv1;
         * a missing, extra or mis-shaped tensor is an error naming it, and nothing is copied */
        st = lam_model_import(model, argv[1], NULL, &rep);
    }
    if (st == LAM_OK) {
        printf("imported %d tensors (%lld values), ignored %d\n", rep.tensors,
               (long long)rep.floats, rep.ignored);
        st = lam_model_predict(model, x, N, logits); /* inference: running statistics */
    }
    int finite = 1;
    for (int i = 0; st == LAM_OK && i < N; i++) {
        int best = 0;
        for (int k = 1; k < CLASSES; k++) {
            best = logits[i * CLASSES + k] > logits[i * CLASSES + best] ? k : best;
        }
        for (int k = 0; k < CLASSES; k++) {
            finite &= isfinite(logits[i * CLASSES + k]) != 0;
        }
        printf("image %d: class %d\n", i, best);
    }
    if (st != LAM_OK) {
        fprintf(stderr, "import_torch: %s: %s\n", lam_strerror(st), lam_ctx_errmsg(ctx));
    }
    lam_model_destroy(model);
    lam_ctx_destroy(ctx);
    return st == LAM_OK && finite ? 0 : 1;
}

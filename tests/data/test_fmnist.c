/* data: the real Fashion-MNIST files of Debian's dataset-fashion-mnist package, when
 * installed (else skipped with 77): counts, shapes, class balance, pixel statistics. */
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "data_util.h"

#define DIR "/usr/share/datasets/fashion-mnist"

int main(void)
{
    if (access(DIR "/train-images-idx3-ubyte.gz", R_OK) != 0 ||
        access(DIR "/t10k-labels-idx1-ubyte.gz", R_OK) != 0) {
        printf("skip: %s not installed\n", DIR);
        return T_SKIP;
    }
    t_alloc a;
    lam_ctx *ctx = t_ctx_counting(&a);
    static const struct {
        const char *split;
        int64_t n, per_class;
    } splits[2] = {{"train", 60000, 6000}, {"t10k", 10000, 1000}};
    for (int s = 0; s < 2; s++) {
        lam_dataset *ds = NULL;
        double t0 = lam_time_now();
        a.max_size = 0;
        lam_status st = lam_dataset_load_mnist_dir(ctx, DIR, splits[s].split, NULL, &ds);
        double dt = lam_time_now() - t0;
        if (!T_CHECK(st == LAM_OK, "%s: %s", splits[s].split, lam_ctx_errmsg(ctx))) {
            continue;
        }
        printf("%s: %lld samples loaded in %.3f s\n", splits[s].split, (long long)ds->n, dt);
        T_CHECK(ds->n == splits[s].n && ds->sample_ndim == 3 && ds->sample_shape[0] == 1 &&
                    ds->sample_shape[1] == 28 && ds->sample_shape[2] == 28,
                "%s: N x 1 x 28 x 28", splits[s].split);
        T_CHECK(a.max_size == (size_t)(splits[s].n * 784 * 4),
                "%s: largest allocation is the float array (%zu)", splits[s].split,
                a.max_size);
        T_CHECK(ds->task == LAM_DATA_CLASSIFY && ds->n_classes == 10, "%s: 10 classes",
                splits[s].split);
        int64_t count[10] = {0};
        for (int64_t i = 0; i < ds->n; i++) {
            count[ds->labels[i]]++;
        }
        int balanced = 1;
        for (int c = 0; c < 10; c++) {
            balanced &= count[c] == splits[s].per_class;
        }
        T_CHECK(balanced, "%s: %lld images per class", splits[s].split,
                (long long)splits[s].per_class);
        float lo = 1, hi = 0;
        for (int64_t i = 0; i < ds->n * 784; i++) {
            lo = ds->x[i] < lo ? ds->x[i] : lo;
            hi = ds->x[i] > hi ? ds->x[i] : hi;
        }
        T_CHECK(lo == 0.0f && hi == 1.0f, "%s: pixels span [0, 1]", splits[s].split);
        lam_norm_stats ns;
        if (T_CHECK(lam_norm_stats_compute(ctx, ds, &ns) == LAM_OK, "stats")) {
            printf("%s: mean %.4f std %.4f\n", splits[s].split, (double)ns.mean[0],
                   (double)ns.std[0]);
            /* the values torchvision users quote for Fashion-MNIST: 0.2860 and 0.3530 */
            T_CHECK(s != 0 || (fabs(ns.mean[0] - 0.2860) < 5e-4 && fabs(ns.std[0] - 0.3530) < 5e-4),
                    "train mean/std match the published 0.2860/0.3530");
            lam_norm_stats_free(ctx, &ns);
        }
        lam_dataset_destroy(ds);
    }
    T_CHECK(a.live == 1, "no leak");
    lam_ctx_destroy(ctx);
    return t_exit("data/fmnist");
}

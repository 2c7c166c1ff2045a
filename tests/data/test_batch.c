/* data: in-memory datasets, subsets, validation splits, normalization statistics,
 * per-epoch permutations and mini-batch gathering. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_util.h"

static int is_permutation(const int64_t *p, int64_t n)
{
    char *seen = calloc((size_t)n + 1, 1);
    int ok = 1;
    for (int64_t i = 0; i < n && ok; i++) {
        ok = p[i] >= 0 && p[i] < n && !seen[p[i]];
        if (ok) {
            seen[p[i]] = 1;
        }
    }
    free(seen);
    return ok;
}

static void test_permutation(void)
{
    static int64_t a[1000], b[1000];
    const int64_t sizes[5] = {0, 1, 2, 7, 1000};
    for (int s = 0; s < 5; s++) {
        const int64_t n = sizes[s];
        T_CHECK(lam_data_permutation(42, 3, n, a) == LAM_OK, "perm n=%lld", (long long)n);
        T_CHECK(is_permutation(a, n), "n=%lld is a permutation", (long long)n);
        /* interleave other calls: the result depends only on (seed, epoch, n) */
        lam_data_permutation(43, 3, n, b);
        lam_data_permutation(42, 4, n, b);
        lam_data_permutation(42, 3, n, b);
        T_CHECK(memcmp(a, b, (size_t)n * sizeof *a) == 0, "n=%lld reproducible", (long long)n);
    }
    lam_data_permutation(42, 3, 1000, a);
    lam_data_permutation(42, 4, 1000, b);
    T_CHECK(memcmp(a, b, sizeof a) != 0, "another epoch, another order");
    lam_data_permutation(7, 3, 1000, b);
    T_CHECK(memcmp(a, b, sizeof a) != 0, "another seed, another order");
    int64_t fixed = 0;
    for (int64_t i = 0; i < 1000; i++) {
        fixed += a[i] == i;
    }
    T_CHECK(fixed < 10, "a shuffle moves almost everything (%lld fixed points)", (long long)fixed);
    /* pinned values: shuffles must stay reproducible across versions and platforms */
    lam_data_permutation(42, 3, 10, a);
    printf("perm(42, 3, 10) =");
    for (int i = 0; i < 10; i++) {
        printf(" %lld", (long long)a[i]);
    }
    printf("\n");
    const int64_t pinned[10] = {6, 1, 9, 2, 8, 0, 7, 4, 5, 3};
    T_CHECK(memcmp(a, pinned, sizeof pinned) == 0, "perm(42, 3, 10) matches the pinned order");
    T_CHECK(lam_data_permutation(1, 1, -1, a) == LAM_ERR_ARG, "n < 0");
    T_CHECK(lam_data_permutation(1, 1, 3, NULL) == LAM_ERR_ARG, "NULL perm");
    T_CHECK(lam_data_permutation(1, 1, 0, NULL) == LAM_OK, "empty permutation");

    /* uniform: the 6 orders of 3 items over 6000 epochs; 5 sigma is about +-145 */
    int64_t count[6] = {0};
    for (uint64_t e = 0; e < 6000; e++) {
        int64_t p[3];
        lam_data_permutation(99, e, 3, p);
        count[p[0] * 2 + (p[1] > p[2])]++;
    }
    for (int k = 0; k < 6; k++) {
        T_CHECK(count[k] > 855 && count[k] < 1145, "order %d drawn %lld of 6000 times", k,
                (long long)count[k]);
    }
    /* every item lands in every position about equally often */
    int64_t pos[10][10] = {{0}};
    for (uint64_t e = 0; e < 5000; e++) {
        int64_t p[10];
        lam_data_permutation(5, e, 10, p);
        for (int i = 0; i < 10; i++) {
            pos[i][p[i]]++;
        }
    }
    int64_t lo = 5000, hi = 0;
    for (int i = 0; i < 10; i++) {
        for (int j = 0; j < 10; j++) {
            lo = pos[i][j] < lo ? pos[i][j] : lo;
            hi = pos[i][j] > hi ? pos[i][j] : hi;
        }
    }
    T_CHECK(lo > 400 && hi < 600, "position counts within [%lld, %lld] around 500",
            (long long)lo, (long long)hi);
}

/* n samples of shape (2, 3, 1) whose values encode the sample index: x = 100*i + j. */
static lam_dataset *indexed(lam_ctx *ctx, int64_t n, int classify)
{
    float *x = malloc((size_t)n * 6 * sizeof *x), *t = malloc((size_t)n * 2 * sizeof *t);
    int32_t *l = malloc((size_t)n * sizeof *l);
    for (int64_t i = 0; i < n; i++) {
        for (int j = 0; j < 6; j++) {
            x[i * 6 + j] = (float)(100 * i + j);
        }
        l[i] = (int32_t)(i % 4);
        t[2 * i] = (float)i;
        t[2 * i + 1] = -(float)i;
    }
    const int64_t shape[3] = {2, 3, 1};
    lam_dataset *ds = NULL;
    lam_status st = lam_dataset_create(ctx, n, 3, shape, x, classify ? l : NULL, classify ? 5 : 0,
                                       classify ? NULL : t, 2, &ds);
    T_CHECK(st == LAM_OK, "create: %s", lam_ctx_errmsg(ctx));
    free(x);
    free(t);
    free(l);
    return ds;
}

static void test_create_gather(lam_ctx *ctx)
{
    lam_dataset *ds = indexed(ctx, 10, 1);
    if (ds == NULL) {
        return;
    }
    T_CHECK(ds->n == 10 && ds->sample_numel == 6 && ds->n_classes == 5 &&
                ds->task == LAM_DATA_CLASSIFY,
            "create fields");
    const int64_t idx[3] = {3, 0, 3};
    float xb[18];
    int32_t lb[3];
    T_CHECK(lam_dataset_gather(ds, idx, 3, xb, lb, NULL) == LAM_OK, "gather");
    T_CHECK(xb[0] == 300 && xb[5] == 305 && xb[6] == 0 && xb[12] == 300 && lb[0] == 3 &&
                lb[1] == 0 && lb[2] == 3,
            "gathered rows and labels");
    float tb[6];
    T_EXPECT(ctx, lam_dataset_gather(ds, idx, 3, xb, NULL, tb), LAM_ERR_ARG, "targets",
             "targets from a classification set");
    const int64_t badidx[2] = {1, 10};
    T_EXPECT(ctx, lam_dataset_gather(ds, badidx, 2, xb, lb, NULL), LAM_ERR_RANGE, "index 10",
             "index out of range");
    T_CHECK(lam_dataset_gather(ds, idx, 0, NULL, NULL, NULL) == LAM_OK, "empty gather");
    lam_dataset_destroy(ds);

    ds = indexed(ctx, 10, 0);
    if (ds != NULL) {
        T_CHECK(lam_dataset_gather(ds, idx, 3, NULL, NULL, tb) == LAM_OK, "gather targets");
        T_CHECK(tb[0] == 3 && tb[1] == -3 && tb[2] == 0 && tb[4] == 3, "gathered targets");
        lam_dataset_destroy(ds);
    }

    /* create: argument checks, label ranges, non-finite values, zero-filled x */
    const int64_t shp[1] = {2};
    const float xv[4] = {1, 2, 3, NAN};
    const int32_t lv[2] = {0, 3};
    lam_dataset *o = NULL;
    T_EXPECT(ctx, lam_dataset_create(ctx, 0, 1, shp, NULL, NULL, 0, NULL, 0, &o), LAM_ERR_ARG,
             "lam_dataset_create", "n = 0");
    T_EXPECT(ctx, lam_dataset_create(ctx, 2, 2, shp, NULL, NULL, 0, NULL, 0, &o), LAM_ERR_ARG,
             "sample_ndim", "ndim 2");
    T_EXPECT(ctx, lam_dataset_create(ctx, 2, 1, shp, NULL, lv, 0, xv, 1, &o), LAM_ERR_ARG,
             "at most one", "labels and targets");
    T_EXPECT(ctx, lam_dataset_create(ctx, 2, 1, shp, NULL, lv, 3, NULL, 0, &o), LAM_ERR_RANGE,
             "label 3", "label >= n_classes");
    T_EXPECT(ctx, lam_dataset_create(ctx, 2, 1, shp, xv, NULL, 0, NULL, 0, &o), LAM_ERR_FORMAT,
             "NaN", "NaN input");
    T_CHECK(o == NULL, "out untouched on failure");
    T_CHECK(lam_dataset_create(ctx, 2, 1, shp, NULL, lv, 0, NULL, 0, &o) == LAM_OK, "zero x");
    if (o != NULL) {
        T_CHECK(o->x[0] == 0 && o->x[3] == 0 && o->n_classes == 4, "zero-filled, 4 classes");
        lam_dataset_destroy(o);
    }
    lam_dataset_destroy(NULL);
}

static void test_subset_split(lam_ctx *ctx)
{
    lam_dataset *ds = indexed(ctx, 101, 1);
    if (ds == NULL) {
        return;
    }
    const int64_t idx[4] = {100, 5, 5, 0};
    lam_dataset *sub = NULL;
    if (T_CHECK(lam_dataset_subset(ctx, ds, idx, 4, &sub) == LAM_OK, "subset")) {
        T_CHECK(sub->n == 4 && sub->x[0] == 10000 && sub->x[6] == 500 && sub->x[18] == 0 &&
                    sub->labels[0] == 0 && sub->labels[1] == 1 && sub->n_classes == 5,
                "subset rows");
        lam_dataset_destroy(sub);
    }
    const int64_t bad[1] = {101};
    T_EXPECT(ctx, lam_dataset_subset(ctx, ds, bad, 1, &sub), LAM_ERR_RANGE, "index 101",
             "subset index");

    lam_dataset *tr = NULL, *va = NULL, *tr2 = NULL, *va2 = NULL;
    lam_status st = lam_dataset_split(ctx, ds, 0.2, 1234, &tr, &va);
    if (T_CHECK(st == LAM_OK, "split: %s", lam_ctx_errmsg(ctx))) {
        T_CHECK(tr->n == 81 && va->n == 20, "sizes 81 + 20 (round(0.2 * 101))");
        char seen[101] = {0};
        int ordered = 1, once = 1;
        for (int64_t i = 0; i < tr->n + va->n; i++) {
            const lam_dataset *p = i < tr->n ? tr : va;
            const int64_t k = i < tr->n ? i : i - tr->n;
            int64_t s = (int64_t)p->x[k * 6] / 100;
            once &= !seen[s];
            seen[s] = 1;
            ordered &= k == 0 || p->x[(k - 1) * 6] < p->x[k * 6];
            once &= p->labels[k] == s % 4;
        }
        T_CHECK(once, "every sample in exactly one part, labels follow");
        T_CHECK(ordered, "each part keeps the original order");
        T_CHECK(tr->n_classes == 5 && va->n_classes == 5, "n_classes kept");
        st = lam_dataset_split(ctx, ds, 0.2, 1234, &tr2, &va2);
        T_CHECK(st == LAM_OK && memcmp(va->x, va2->x, 20 * 6 * sizeof(float)) == 0 &&
                    memcmp(tr->x, tr2->x, 81 * 6 * sizeof(float)) == 0,
                "same seed, same split");
        lam_dataset_destroy(tr2);
        lam_dataset_destroy(va2);
        st = lam_dataset_split(ctx, ds, 0.2, 1235, &tr2, &va2);
        T_CHECK(st == LAM_OK && memcmp(va->x, va2->x, 20 * 6 * sizeof(float)) != 0,
                "another seed, another split");
        lam_dataset_destroy(tr2);
        lam_dataset_destroy(va2);
        lam_dataset_destroy(tr);
        lam_dataset_destroy(va);
    }
    tr = va = NULL;
    T_EXPECT(ctx, lam_dataset_split(ctx, ds, 0.0, 1, &tr, &va), LAM_ERR_ARG, "fraction",
             "fraction 0");
    T_EXPECT(ctx, lam_dataset_split(ctx, ds, 1.0, 1, &tr, &va), LAM_ERR_ARG, "fraction",
             "fraction 1");
    T_EXPECT(ctx, lam_dataset_split(ctx, ds, NAN, 1, &tr, &va), LAM_ERR_ARG, "fraction",
             "fraction NaN");
    T_EXPECT(ctx, lam_dataset_split(ctx, ds, 0.001, 1, &tr, &va), LAM_ERR_ARG, "empty",
             "empty validation part");
    T_CHECK(tr == NULL && va == NULL, "outputs untouched on failure");
    lam_dataset_destroy(ds);
}

static void test_normalize(lam_ctx *ctx)
{
    /* 3 channels of 4x5 with different offsets and scales */
    enum { N = 200, C = 3, HW = 20 };
    static float x[N * C * HW];
    for (int64_t i = 0; i < N * C * HW; i++) {
        int64_t c = i / HW % C;
        x[i] = (float)(c * 50 - 20) +
               (float)(c + 1) * 3.0f * lam_rng_normal(11, 0, (uint64_t)i);
    }
    const int64_t shape[3] = {C, 4, 5};
    lam_dataset *ds = NULL;
    if (!T_CHECK(lam_dataset_create(ctx, N, 3, shape, x, NULL, 0, NULL, 0, &ds) == LAM_OK,
                 "create image set")) {
        return;
    }
    lam_norm_stats st;
    T_CHECK(lam_norm_stats_compute(ctx, ds, &st) == LAM_OK && st.n == C, "stats per channel");
    for (int c = 0; c < C; c++) {
        double s = 0, q = 0;
        for (int64_t i = 0; i < N; i++) {
            for (int p = 0; p < HW; p++) {
                s += x[(i * C + c) * HW + p];
            }
        }
        double m = s / (N * HW);
        for (int64_t i = 0; i < N; i++) {
            for (int p = 0; p < HW; p++) {
                double d = x[(i * C + c) * HW + p] - m;
                q += d * d;
            }
        }
        double sd = sqrt(q / (N * HW));
        T_CHECK(fabs(st.mean[c] - m) < 1e-4 && fabs(st.std[c] - sd) < 1e-4 * sd,
                "channel %d: mean %g std %g, want %g %g", c, (double)st.mean[c],
                (double)st.std[c], m, sd);
    }
    T_CHECK(lam_dataset_normalize(ds, &st) == LAM_OK, "normalize");
    lam_norm_stats after;
    T_CHECK(lam_norm_stats_compute(ctx, ds, &after) == LAM_OK, "stats after");
    for (int c = 0; c < C; c++) {
        T_CHECK(fabs(after.mean[c]) < 1e-5 && fabs(after.std[c] - 1.0f) < 1e-5,
                "channel %d normalized: mean %g std %g", c, (double)after.mean[c],
                (double)after.std[c]);
    }
    lam_norm_stats_free(ctx, &after);
    lam_norm_stats wrong = {2, st.mean, st.std};
    T_EXPECT(ctx, lam_dataset_normalize(ds, &wrong), LAM_ERR_SHAPE, "3", "wrong group count");
    float zero[3] = {1, 0, 1};
    lam_norm_stats zs = {3, st.mean, zero};
    T_EXPECT(ctx, lam_dataset_normalize(ds, &zs), LAM_ERR_ARG, "std 0", "zero std");
    lam_norm_stats_free(ctx, &st);
    T_CHECK(st.mean == NULL && st.n == 0, "stats cleared");
    lam_norm_stats_free(ctx, NULL);
    lam_dataset_destroy(ds);

    /* features: one constant column gets std 1 and maps to 0 */
    const float f[8] = {1, 5, 10, 5, 3, 5, 6, 5};
    const int64_t fs[1] = {2};
    if (T_CHECK(lam_dataset_create(ctx, 4, 1, fs, f, NULL, 0, NULL, 0, &ds) == LAM_OK,
                "feature set")) {
        T_CHECK(lam_norm_stats_compute(ctx, ds, &st) == LAM_OK && st.n == 2, "per feature");
        T_CHECK(st.mean[0] == 5.0f && st.mean[1] == 5.0f && st.std[1] == 1.0f &&
                    fabsf(st.std[0] - sqrtf(11.5f)) < 1e-6f,
                "feature stats %g %g %g %g", (double)st.mean[0], (double)st.std[0],
                (double)st.mean[1], (double)st.std[1]);
        lam_dataset_normalize(ds, &st);
        T_CHECK(ds->x[1] == 0 && ds->x[7] == 0 && fabsf(ds->x[0] + 4.0f / sqrtf(11.5f)) < 1e-6f,
                "constant feature maps to 0");
        lam_norm_stats_free(ctx, &st);
        lam_dataset_destroy(ds);
    }
}

int main(void)
{
    t_alloc a;
    lam_ctx *ctx = t_ctx_counting(&a);
    test_permutation();
    test_create_gather(ctx);
    test_subset_split(ctx);
    test_normalize(ctx);
    T_CHECK(a.live == 1, "only the context is live at the end (%lld)", (long long)a.live);
    lam_ctx_destroy(ctx);
    return t_exit("data/batch");
}

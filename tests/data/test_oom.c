/* data: every load and create path, with the k-th allocation failing for k = 1, 2, ...:
 * each failure must return LAM_ERR_NOMEM and free everything it had allocated. */
#include <stdio.h>
#include <string.h>

#include "data_util.h"

typedef struct paths {
    const char *a, *b;
    lam_data_options o;
} paths;

static lam_status run_idx(lam_ctx *ctx, void *arg)
{
    paths *p = arg;
    lam_dataset *ds = NULL;
    lam_status st = lam_dataset_load_idx(ctx, p->a, p->b, &p->o, &ds);
    lam_dataset_destroy(ds);
    return st;
}

static lam_status run_mnist(lam_ctx *ctx, void *arg)
{
    paths *p = arg;
    lam_dataset *ds = NULL;
    lam_status st = lam_dataset_load_mnist_dir(ctx, p->a, "train", NULL, &ds);
    lam_dataset_destroy(ds);
    return st;
}

static lam_status run_csv(lam_ctx *ctx, void *arg)
{
    paths *p = arg;
    lam_dataset *ds = NULL;
    lam_status st = lam_dataset_load_csv(ctx, p->a, &p->o, &ds);
    lam_dataset_destroy(ds);
    return st;
}

static lam_status run_npy(lam_ctx *ctx, void *arg)
{
    paths *p = arg;
    lam_dataset *ds = NULL;
    lam_status st = lam_dataset_load_npy(ctx, p->a, p->b, &p->o, &ds);
    lam_dataset_destroy(ds);
    return st;
}

static lam_status run_load(lam_ctx *ctx, void *arg)
{
    paths *p = arg;
    lam_dataset *ds = NULL;
    lam_status st = lam_dataset_load(ctx, p->a, NULL, &ds);
    lam_dataset_destroy(ds);
    return st;
}

/* create, subset, split, normalization statistics on one in-memory set */
static lam_status run_memory(lam_ctx *ctx, void *arg)
{
    const int kind = *(const int *)arg;
    float x[40];
    int32_t l[10];
    for (int i = 0; i < 40; i++) {
        x[i] = (float)i;
    }
    for (int i = 0; i < 10; i++) {
        l[i] = i % 3;
    }
    const int64_t shape[3] = {2, 2, 1};
    lam_dataset *ds = NULL, *a = NULL, *b = NULL;
    lam_status st = lam_dataset_create(ctx, 10, 3, shape, x, kind == 0 ? l : NULL, 0,
                                       kind == 1 ? x : NULL, 4, &ds);
    if (st != LAM_OK) {
        return st;
    }
    const int64_t idx[3] = {9, 0, 4};
    lam_norm_stats ns;
    switch (kind) {
    case 0:
    case 1:
        st = lam_dataset_subset(ctx, ds, idx, 3, &a);
        break;
    case 2:
        st = lam_dataset_split(ctx, ds, 0.3, 5, &a, &b);
        break;
    default:
        st = lam_norm_stats_compute(ctx, ds, &ns);
        if (st == LAM_OK) {
            lam_norm_stats_free(ctx, &ns);
        }
        break;
    }
    lam_dataset_destroy(a);
    lam_dataset_destroy(b);
    lam_dataset_destroy(ds);
    return st;
}

static const char *write_idx_u8(const char *name, int ndim, const uint32_t *dims, int gz)
{
    t_buf b = {0};
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        n *= dims[i];
    }
    t_idx_header(&b, 0x08, ndim, dims);
    for (int64_t i = 0; i < n; i++) {
        unsigned char v = (unsigned char)(i % 7);
        t_buf_put(&b, &v, 1);
    }
    const char *p = t_write(name, b.p, b.n, gz);
    t_buf_free(&b);
    return p;
}

static const char *write_npy(const char *name, const char *descr, int ndim,
                             const int64_t *shape, int64_t bytes)
{
    t_buf b = {0};
    t_npy_header(&b, 1, descr, 0, ndim, shape);
    for (int64_t i = 0; i < bytes; i++) {
        unsigned char v = (unsigned char)(i % 8 == 0 ? i / 8 % 3 : 0); /* LE ints 0..2 */
        t_buf_put(&b, &v, 1);
    }
    const char *p = t_write(name, b.p, b.n, 0);
    t_buf_free(&b);
    return p;
}

int main(void)
{
    printf("fixtures in %s\n", t_tmpdir());
    const uint32_t di[3] = {6, 4, 4}, dl = 6;
    paths p;
    lam_data_options_init(&p.o);

    p.a = write_idx_u8("train-images-idx3-ubyte", 3, di, 0);
    p.b = write_idx_u8("train-labels-idx1-ubyte.gz", 1, &dl, 1);
    int64_t n = t_oom_sweep("idx raw+gz", run_idx, &p, 50);
    printf("idx: %lld allocations\n", (long long)n);
    p.a = write_idx_u8("img.gz", 3, di, 1);
    t_oom_sweep("idx gz", run_idx, &p, 50);
    p.o.task = LAM_DATA_REGRESS;
    t_oom_sweep("idx labels as targets", run_idx, &p, 50);
    lam_data_options_init(&p.o);
    p.a = t_tmpdir();
    t_oom_sweep("mnist dir", run_mnist, &p, 50);
    t_oom_sweep("load(dir)", run_load, &p, 50);

    const char *csv = "a,b,c,label\n1,2,3,0\n4,5,6,1\n\n7,8,9,2\n";
    p.a = t_write("oom.csv", csv, strlen(csv), 0);
    t_oom_sweep("csv classify", run_csv, &p, 50);
    t_oom_sweep("load(csv)", run_load, &p, 50);
    p.a = t_write("oom.csv.gz", csv, strlen(csv), 1);
    p.o.target = "a,label";
    t_oom_sweep("csv.gz regress", run_csv, &p, 50);
    lam_data_options_init(&p.o);

    const int64_t xs[2] = {5, 3}, ys = 5, ys2[2] = {5, 2};
    p.a = write_npy("X.npy", "<f4", 2, xs, 60);
    p.b = write_npy("y.npy", "<i8", 1, &ys, 40);
    t_oom_sweep("npy classify", run_npy, &p, 50);
    p.b = write_npy("yt.npy", "<f8", 2, ys2, 80);
    t_oom_sweep("npy regress", run_npy, &p, 50);
    p.b = NULL;
    t_oom_sweep("npy unlabeled", run_npy, &p, 50);

    static const char *names[4] = {"create+subset", "create(targets)+subset", "split", "stats"};
    for (int kind = 0; kind < 4; kind++) {
        t_oom_sweep(names[kind], run_memory, &kind, 50);
    }
    t_tmp_cleanup();
    return t_exit("data/oom");
}

/* data: IDX reader (MNIST format), raw and gzip; MNIST directories; bad headers and payloads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_util.h"

/* Append n values of IDX type `type` big-endian. */
static void put_values(t_buf *b, int type, const double *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        unsigned char q[8];
        int size = 0;
        uint64_t bits = 0;
        switch (type) {
        case 0x08: bits = (uint64_t)(uint8_t)v[i]; size = 1; break;
        case 0x09: bits = (uint64_t)(uint8_t)(int8_t)v[i]; size = 1; break;
        case 0x0B: bits = (uint64_t)(uint16_t)(int16_t)v[i]; size = 2; break;
        case 0x0C: bits = (uint64_t)(uint32_t)(int32_t)v[i]; size = 4; break;
        case 0x0D: {
            float f = (float)v[i];
            uint32_t u;
            memcpy(&u, &f, 4);
            bits = u;
            size = 4;
            break;
        }
        default: {
            memcpy(&bits, &v[i], 8);
            size = 8;
            break;
        }
        }
        for (int k = 0; k < size; k++) {
            q[k] = (unsigned char)(bits >> (8 * (size - 1 - k)));
        }
        t_buf_put(b, q, (size_t)size);
    }
}

static const char *write_idx(const char *name, int type, int ndim, const uint32_t *dims,
                             const double *v, int gz)
{
    t_buf b = {0};
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        n *= dims[i];
    }
    t_idx_header(&b, type, ndim, dims);
    put_values(&b, type, v, n);
    const char *p = t_write(name, b.p, b.n, gz);
    t_buf_free(&b);
    return p;
}

static void test_good_u8(lam_ctx *ctx, int gz)
{
    const uint32_t dims[3] = {3, 2, 4};
    double img[24], lab[3] = {2, 0, 5};
    for (int i = 0; i < 24; i++) {
        img[i] = (i * 37) % 256;
    }
    const char *ip = write_idx(gz ? "u8-images.gz" : "u8-images", 0x08, 3, dims, img, gz);
    const uint32_t ldim = 3;
    const char *lp = write_idx(gz ? "u8-labels.gz" : "u8-labels", 0x08, 1, &ldim, lab, gz);
    lam_dataset *ds = NULL;
    lam_status st = lam_dataset_load_idx(ctx, ip, lp, NULL, &ds);
    if (!T_CHECK(st == LAM_OK, "load u8 gz=%d: %s", gz, lam_ctx_errmsg(ctx))) {
        return;
    }
    T_CHECK(ds->n == 3 && ds->sample_ndim == 3 && ds->sample_shape[0] == 1 &&
                ds->sample_shape[1] == 2 && ds->sample_shape[2] == 4 && ds->sample_numel == 8,
            "u8 shape (1,2,4)");
    float want[24];
    for (int i = 0; i < 24; i++) {
        want[i] = (float)img[i] / 255.0f;
    }
    t_equal("u8 images scaled by 1/255", ds->x, want, 24);
    T_CHECK(ds->task == LAM_DATA_CLASSIFY && ds->n_classes == 6, "classify, n_classes 6");
    T_CHECK(ds->labels[0] == 2 && ds->labels[1] == 0 && ds->labels[2] == 5, "labels");
    T_CHECK(ds->targets == NULL && ds->n_targets == 0, "no targets");
    lam_dataset_destroy(ds);

    lam_data_options o;
    lam_data_options_init(&o);
    o.scale_u8 = 0;
    o.n_classes = 10;
    st = lam_dataset_load_idx(ctx, ip, NULL, &o, &ds);
    if (T_CHECK(st == LAM_OK, "load unlabeled: %s", lam_ctx_errmsg(ctx))) {
        for (int i = 0; i < 24; i++) {
            want[i] = (float)img[i];
        }
        t_equal("u8 images unscaled", ds->x, want, 24);
        T_CHECK(ds->task == LAM_DATA_UNLABELED && ds->labels == NULL, "unlabeled");
        lam_dataset_destroy(ds);
    }
    st = lam_dataset_load_idx(ctx, ip, lp, &o, &ds);
    if (T_CHECK(st == LAM_OK, "load with n_classes: %s", lam_ctx_errmsg(ctx))) {
        T_CHECK(ds->n_classes == 10, "n_classes from options");
        lam_dataset_destroy(ds);
    }
    o.task = LAM_DATA_REGRESS;
    st = lam_dataset_load_idx(ctx, ip, lp, &o, &ds);
    if (T_CHECK(st == LAM_OK, "labels as targets: %s", lam_ctx_errmsg(ctx))) {
        const float tw[3] = {2, 0, 5};
        T_CHECK(ds->task == LAM_DATA_REGRESS && ds->n_targets == 1, "regress task");
        t_equal("targets", ds->targets, tw, 3);
        lam_dataset_destroy(ds);
    }
}

/* Every element type and 1..4 dimensions round-trip exactly. */
static void test_types(lam_ctx *ctx)
{
    static const struct {
        int type;
        double lo, step;
    } types[] = {
        {0x09, -100, 3}, {0x0B, -30000, 1000}, {0x0C, -2000000000, 70000001},
        {0x0D, -3.5, 0.25}, {0x0E, -1e30, 1.5e28},
    };
    static const uint32_t shapes[4][4] = {{5}, {5, 3}, {5, 2, 3}, {5, 2, 3, 2}};
    char name[64];
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        for (int nd = 1; nd <= 4; nd++) {
            int64_t n = 1;
            for (int i = 0; i < nd; i++) {
                n *= shapes[nd - 1][i];
            }
            double v[60];
            float want[60];
            for (int64_t i = 0; i < n; i++) {
                v[i] = types[t].lo + types[t].step * (double)i;
                want[i] = (float)v[i];
            }
            snprintf(name, sizeof name, "type%02x-%dd%s", types[t].type, nd, nd == 2 ? ".gz" : "");
            const char *p = write_idx(name, types[t].type, nd, shapes[nd - 1], v, nd == 2);
            lam_dataset *ds = NULL;
            lam_status st = lam_dataset_load_idx(ctx, p, NULL, NULL, &ds);
            if (!T_CHECK(st == LAM_OK, "%s: %s", name, lam_ctx_errmsg(ctx))) {
                continue;
            }
            int64_t numel = n / 5;
            T_CHECK(ds->n == 5 && ds->sample_numel == numel, "%s: n and numel", name);
            T_CHECK(ds->sample_ndim == (nd <= 2 ? 1 : 3), "%s: sample ndim", name);
            if (nd == 4) {
                T_CHECK(ds->sample_shape[0] == 2 && ds->sample_shape[1] == 3 &&
                            ds->sample_shape[2] == 2,
                        "%s: (C,H,W) from (N,C,H,W)", name);
            }
            t_equal(name, ds->x, want, n);
            lam_dataset_destroy(ds);
        }
    }
}

/* Two concatenated gzip members: the trailer's ISIZE covers only the last one, so the reader
 * must count the stream before trusting the header, then rewind. */
static void test_multi_member(lam_ctx *ctx)
{
    const uint32_t dims[2] = {3, 5};
    double v[15];
    float want[15];
    for (int i = 0; i < 15; i++) {
        v[i] = i * 16;
        want[i] = (float)v[i] / 255.0f;
    }
    t_buf h = {0}, payload = {0}, all = {0};
    t_idx_header(&h, 0x08, 2, dims);
    put_values(&payload, 0x08, v, 15);
    const char *p1 = t_write("member1.gz", h.p, h.n, 1);
    const char *p2 = t_write("member2.gz", payload.p, payload.n, 1);
    const char *parts[2] = {p1, p2};
    for (int k = 0; k < 2; k++) {
        FILE *f = fopen(parts[k], "rb");
        unsigned char buf[4096];
        size_t n = f != NULL ? fread(buf, 1, sizeof buf, f) : 0;
        if (f != NULL) {
            fclose(f);
        }
        t_buf_put(&all, buf, n);
    }
    const char *p = t_write("multi.gz", all.p, all.n, 0);
    lam_dataset *ds = NULL;
    lam_status st = lam_dataset_load_idx(ctx, p, NULL, NULL, &ds);
    if (T_CHECK(st == LAM_OK, "two gzip members: %s", lam_ctx_errmsg(ctx))) {
        T_CHECK(ds->n == 3 && ds->sample_numel == 5, "two members: shape");
        t_equal("two members: values", ds->x, want, 15);
        lam_dataset_destroy(ds);
    }
    t_buf_free(&h);
    t_buf_free(&payload);
    t_buf_free(&all);
}

static void test_mnist_dir(lam_ctx *ctx)
{
    const uint32_t dims[3] = {4, 3, 3}, ld = 4;
    double img[36], lab[4] = {1, 9, 0, 3};
    for (int i = 0; i < 36; i++) {
        img[i] = 255 - i;
    }
    write_idx("train-images-idx3-ubyte.gz", 0x08, 3, dims, img, 1);
    write_idx("train-labels-idx1-ubyte", 0x08, 1, &ld, lab, 0);
    write_idx("t10k-images.idx3-ubyte", 0x08, 3, dims, img, 0);
    write_idx("t10k-labels.idx1-ubyte.gz", 0x08, 1, &ld, lab, 1);
    const char *splits[3] = {"train", "t10k", "test"};
    for (int s = 0; s < 3; s++) {
        lam_dataset *ds = NULL;
        lam_status st = lam_dataset_load_mnist_dir(ctx, t_tmpdir(), splits[s], NULL, &ds);
        if (T_CHECK(st == LAM_OK, "mnist dir %s: %s", splits[s], lam_ctx_errmsg(ctx))) {
            T_CHECK(ds->n == 4 && ds->n_classes == 10 && ds->labels[1] == 9, "%s labels",
                    splits[s]);
            T_CHECK(ds->x[0] == 1.0f && ds->x[35] == 220.0f / 255.0f, "%s pixels", splits[s]);
            lam_dataset_destroy(ds);
        }
    }
    lam_dataset *ds = NULL;
    T_EXPECT(ctx, lam_dataset_load_mnist_dir(ctx, t_tmpdir(), "valid", NULL, &ds), LAM_ERR_ARG,
             "valid", "unknown split");
    T_EXPECT(ctx, lam_dataset_load_mnist_dir(ctx, t_path("nowhere"), "train", NULL, &ds),
             LAM_ERR_IO, "nowhere", "missing directory");
    T_CHECK(ds == NULL, "out untouched on failure");

    /* lam_dataset_load: a directory, and an "images,labels" pair */
    lam_data_options o;
    lam_data_options_init(&o);
    o.split = "t10k";
    lam_status st = lam_dataset_load(ctx, t_tmpdir(), &o, &ds);
    if (T_CHECK(st == LAM_OK, "load(dir): %s", lam_ctx_errmsg(ctx))) {
        T_CHECK(ds->n == 4 && ds->labels[3] == 3, "load(dir) content");
        lam_dataset_destroy(ds);
    }
    char spec[1100];
    snprintf(spec, sizeof spec, "%s,%s", t_path("t10k-images.idx3-ubyte"),
             t_path("t10k-labels.idx1-ubyte.gz"));
    st = lam_dataset_load(ctx, spec, NULL, &ds);
    if (T_CHECK(st == LAM_OK, "load(pair): %s", lam_ctx_errmsg(ctx))) {
        T_CHECK(ds->n == 4 && ds->labels[0] == 1, "load(pair) content");
        lam_dataset_destroy(ds);
    }
    T_EXPECT(ctx, lam_dataset_load(ctx, t_path("missing.idx"), NULL, &ds), LAM_ERR_IO,
             "missing.idx", "load(missing)");
}

/* Load `images` (+labels) expecting `want` and a message naming `needle`. */
static void expect_bad(lam_ctx *ctx, t_alloc *a, const char *images, const char *labels,
                       const lam_data_options *o, lam_status want, const char *needle,
                       const char *what)
{
    lam_dataset *ds = NULL;
    int64_t live = a->live;
    a->max_size = 0;
    lam_status st = lam_dataset_load_idx(ctx, images, labels, o, &ds);
    T_EXPECT(ctx, st, want, needle, what);
    T_CHECK(ds == NULL && a->live == live, "%s: nothing allocated remains", what);
}

static void test_bad(lam_ctx *ctx, t_alloc *a)
{
    t_buf b = {0};
    const uint32_t d3[3] = {10, 28, 28};
    double zeros[64] = {0};

    /* truncated in the magic and in the dims */
    const char *p = t_write("short1", "\0\0", 2, 0);
    expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_FORMAT, p, "truncated in magic");
    t_idx_header(&b, 0x08, 3, d3);
    p = t_write("short2", b.p, 10, 0);
    expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_FORMAT, "truncated", "truncated in dims");
    p = t_write("short2.gz", b.p, 10, 1);
    expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_FORMAT, p, "gz truncated in dims");

    /* header promises 10x28x28 but the payload holds 64 bytes: rejected before any
     * allocation as large as the file (here: before any allocation at all) */
    t_buf_put(&b, zeros, 64);
    p = t_write("promise", b.p, b.n, 0);
    expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_FORMAT, "promises", "payload truncated");
    T_CHECK(a->max_size <= (size_t)t_file_size(p), "raw: largest allocation %zu > file %lld",
            a->max_size, (long long)t_file_size(p));
    p = t_write("promise.gz", b.p, b.n, 1);
    expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_FORMAT, "promise.gz", "gz payload truncated");
    T_CHECK(a->max_size <= (size_t)t_file_size(p), "gz: largest allocation %zu > file %lld",
            a->max_size, (long long)t_file_size(p));
    t_buf_free(&b);

    /* a huge promise in a tiny gzip file fails on the 1032:1 deflate bound */
    const uint32_t big[3] = {60000, 280, 280};
    t_idx_header(&b, 0x08, 3, big);
    t_buf_put(&b, zeros, 64);
    p = t_write("bomb.gz", b.p, b.n, 1);
    expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_FORMAT, "bomb.gz", "gz bound");
    T_CHECK(a->max_size == 0, "no allocation for an impossible gzip promise");
    t_buf_free(&b);

    /* trailing bytes */
    const uint32_t d1[3] = {1, 2, 2};
    t_idx_header(&b, 0x08, 3, d1);
    t_buf_put(&b, zeros, 5);
    p = t_write("trailing", b.p, b.n, 0);
    expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_FORMAT, "holds 5", "trailing bytes");
    p = t_write("trailing.gz", b.p, b.n, 1);
    expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_FORMAT, "trailing.gz", "gz trailing bytes");
    t_buf_free(&b);

    /* wrong magic, unknown type, bad ndim */
    p = t_write("zip", "PK\3\4\0\0\0\0", 8, 0);
    expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_FORMAT, "not an IDX", "wrong magic");
    t_idx_header(&b, 0x0A, 1, d1);
    p = t_write("type0a", b.p, b.n, 0);
    expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_FORMAT, "type 0x0a", "unknown type");
    t_buf_free(&b);
    t_idx_header(&b, 0x08, 0, d1);
    p = t_write("ndim0", b.p, b.n, 0);
    expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_FORMAT, "ndim0", "0 dims");
    t_buf_free(&b);
    const uint32_t d5[5] = {1, 1, 1, 1, 1};
    t_idx_header(&b, 0x08, 5, d5);
    t_buf_put(&b, zeros, 1);
    p = t_write("ndim5", b.p, b.n, 0);
    expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_FORMAT, "5 dimensions", "5 dims");
    t_buf_free(&b);

    /* a zero dimension; dims whose product overflows int64; a product over the limit */
    const uint32_t dz[3] = {10, 0, 28};
    t_idx_header(&b, 0x08, 3, dz);
    p = t_write("zerodim", b.p, b.n, 0);
    expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_FORMAT, "dimension 1 is 0", "zero dim");
    t_buf_free(&b);
    const uint32_t dov[4] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
    t_idx_header(&b, 0x0E, 4, dov);
    p = t_write("overflow", b.p, b.n, 0);
    expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_RANGE, "overflow", "dims overflow int64");
    t_buf_free(&b);
    const uint32_t dbig[3] = {65536, 65536, 4};
    t_idx_header(&b, 0x08, 3, dbig);
    p = t_write("overlimit", b.p, b.n, 0);
    expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_RANGE, "limit", "over the size limit");
    T_CHECK(a->max_size == 0, "no allocation for an over-limit header");
    t_buf_free(&b);

    /* NaN in float32 images */
    const uint32_t df[2] = {2, 2};
    double vf[4] = {1, 2, NAN, 4};
    p = write_idx("nan-f32", 0x0D, 2, df, vf, 0);
    expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_FORMAT, "sample 1 element 0 is NaN", "NaN");
    vf[2] = 1e300;
    p = write_idx("big-f64", 0x0E, 2, df, vf, 0);
    expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_FORMAT, "beyond float32", "f64 beyond float");

    /* labels: count mismatch, 2-D, float, out of range, negative */
    const uint32_t di[3] = {4, 2, 2}, l3 = 3, l4 = 4, l22[2] = {4, 1};
    double lab[4] = {0, 1, 2, 7};
    const char *img = write_idx("img4", 0x08, 3, di, zeros, 0);
    p = write_idx("lab3", 0x08, 1, &l3, lab, 0);
    expect_bad(ctx, a, img, p, NULL, LAM_ERR_SHAPE, "lab3", "label count mismatch");
    p = write_idx("lab2d", 0x08, 2, l22, lab, 0);
    expect_bad(ctx, a, img, p, NULL, LAM_ERR_SHAPE, "lab2d", "2-D labels");
    p = write_idx("labf", 0x0D, 1, &l4, lab, 0);
    expect_bad(ctx, a, img, p, NULL, LAM_ERR_FORMAT, "labf", "float labels");
    p = write_idx("lab4", 0x08, 1, &l4, lab, 0);
    lam_data_options o;
    lam_data_options_init(&o);
    o.n_classes = 5;
    expect_bad(ctx, a, img, p, &o, LAM_ERR_RANGE, "lab4", "label >= n_classes");
    lab[2] = -1;
    p = write_idx("labneg", 0x09, 1, &l4, lab, 0);
    expect_bad(ctx, a, img, p, NULL, LAM_ERR_RANGE, "negative", "negative label");
    expect_bad(ctx, a, img, t_path("nolabels"), NULL, LAM_ERR_IO, "nolabels", "missing labels");
    expect_bad(ctx, a, t_tmpdir(), NULL, NULL, LAM_ERR_IO, "not a regular file", "directory");

    /* corrupt and cut gzip streams */
    const uint32_t dg[3] = {50, 10, 10};
    double vg[5000];
    for (int i = 0; i < 5000; i++) {
        vg[i] = (i * 7919) % 251;
    }
    p = write_idx("good.gz", 0x08, 3, dg, vg, 1);
    int64_t n = t_file_size(p);
    unsigned char *raw = malloc((size_t)n);
    FILE *f = fopen(p, "rb");
    T_CHECK(f != NULL && fread(raw, 1, (size_t)n, f) == (size_t)n, "read back gz");
    if (f != NULL) {
        fclose(f);
    }
    p = t_write("cut.gz", raw, (size_t)n / 2, 0);
    expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_FORMAT, "cut.gz", "cut gzip stream");
    for (int64_t i = n / 3; i < n / 3 + 16; i++) {
        raw[i] ^= 0x5a;
    }
    p = t_write("corrupt.gz", raw, (size_t)n, 0);
    expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_FORMAT, "corrupt.gz", "corrupt gzip stream");
    free(raw);
    t_buf_free(&b);
}

int main(void)
{
    t_alloc a;
    lam_ctx *ctx = t_ctx_counting(&a);
    printf("fixtures in %s\n", t_tmpdir());
    test_good_u8(ctx, 0);
    test_good_u8(ctx, 1);
    test_types(ctx);
    test_multi_member(ctx);
    test_mnist_dir(ctx);
    test_bad(ctx, &a);
    T_CHECK(a.live == 1, "only the context is live at the end (%lld)", (long long)a.live);
    lam_ctx_destroy(ctx);
    t_tmp_cleanup();
    return t_exit("data/idx");
}

/* data: NPY reader: versions 1.0/2.0/3.0, dtypes, X/y pairs, and bad headers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_util.h"

/* Append n values as little-endian `descr`. */
static void put_le(t_buf *b, const char *descr, const double *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint64_t bits = 0;
        int size = descr[2] - '0';
        switch (descr[1]) {
        case 'f':
            if (size == 4) {
                float f = (float)v[i];
                uint32_t u;
                memcpy(&u, &f, 4);
                bits = u;
            } else {
                memcpy(&bits, &v[i], 8);
            }
            break;
        case 'u': bits = (uint64_t)v[i]; break;
        default: {
            int64_t s = (int64_t)v[i];
            memcpy(&bits, &s, 8);
            break;
        }
        }
        unsigned char q[8];
        for (int k = 0; k < size; k++) {
            q[k] = (unsigned char)(bits >> (8 * k));
        }
        t_buf_put(b, q, (size_t)size);
    }
}

static const char *write_npy(const char *name, int major, const char *descr, int ndim,
                             const int64_t *shape, const double *v, int gz)
{
    t_buf b = {0};
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        n *= shape[i];
    }
    t_npy_header(&b, major, descr, 0, ndim, shape);
    put_le(&b, descr, v, n);
    const char *p = t_write(name, b.p, b.n, gz);
    t_buf_free(&b);
    return p;
}

static void test_good(lam_ctx *ctx)
{
    static const char *descrs[] = {"<f4", "<f8", "|u1", "|i1", "<i2", "<i4", "<i8"};
    static const int64_t shapes[4][4] = {{6}, {6, 4}, {6, 2, 2}, {6, 2, 1, 2}};
    char name[64];
    for (size_t d = 0; d < sizeof descrs / sizeof descrs[0]; d++) {
        for (int nd = 1; nd <= 4; nd++) {
            const int major = 1 + (int)((d + (size_t)nd) % 3);
            int64_t n = 1;
            for (int i = 0; i < nd; i++) {
                n *= shapes[nd - 1][i];
            }
            double v[24];
            float want[24];
            for (int64_t i = 0; i < n; i++) {
                v[i] = descrs[d][1] == 'u' ? (double)(i * 11 % 256)
                       : descrs[d][1] == 'f' ? -2.0 + 0.375 * (double)i
                                             : (double)(i * 5 - 40);
                want[i] = descrs[d][1] == 'u' ? (float)v[i] / 255.0f : (float)v[i];
            }
            snprintf(name, sizeof name, "X-%c%c-%dd-v%d.npy%s", descrs[d][1], descrs[d][2], nd,
                     major, nd == 3 ? ".gz" : "");
            const char *p = write_npy(name, major, descrs[d], nd, shapes[nd - 1], v, nd == 3);
            lam_dataset *ds = NULL;
            lam_status st = lam_dataset_load_npy(ctx, p, NULL, NULL, &ds);
            if (!T_CHECK(st == LAM_OK, "%s: %s", name, lam_ctx_errmsg(ctx))) {
                continue;
            }
            T_CHECK(ds->n == 6 && ds->sample_numel == n / 6 &&
                        ds->sample_ndim == (nd <= 2 ? 1 : 3),
                    "%s: shape", name);
            t_equal(name, ds->x, want, n);
            lam_dataset_destroy(ds);
        }
    }
}

static void test_pairs(lam_ctx *ctx)
{
    const int64_t xs[2] = {4, 3}, y1 = 4, y2[2] = {4, 2}, y21[2] = {4, 1};
    double x[12], yl[4] = {3, 0, 1, 3}, yt[8] = {0.5, -1, 2, 3.25, 4, 5, 6, 7};
    for (int i = 0; i < 12; i++) {
        x[i] = i * 0.5;
    }
    const char *xp = write_npy("X.npy", 1, "<f4", 2, xs, x, 0);
    /* integer y: labels; uint8 y too; float y: targets; (N, 1) int y: labels */
    const char *ylp = write_npy("y-i8.npy", 1, "<i8", 1, &y1, yl, 0);
    const char *yup = write_npy("y-u1.npy", 1, "|u1", 1, &y1, yl, 0);
    const char *ytp = write_npy("y-f8.npy", 1, "<f8", 2, y2, yt, 0);
    const char *yc1 = write_npy("y-i4-col.npy", 2, "<i4", 2, y21, yl, 0);
    const char *ycls[3] = {ylp, yup, yc1};
    for (int k = 0; k < 3; k++) {
        lam_dataset *ds = NULL;
        lam_status st = lam_dataset_load_npy(ctx, xp, ycls[k], NULL, &ds);
        if (T_CHECK(st == LAM_OK, "pair %s: %s", ycls[k], lam_ctx_errmsg(ctx))) {
            T_CHECK(ds->task == LAM_DATA_CLASSIFY && ds->n_classes == 4 && ds->labels[0] == 3 &&
                        ds->labels[1] == 0,
                    "labels from %s", ycls[k]);
            T_CHECK(ds->x[5] == 2.5f && ds->sample_numel == 3, "X of the pair");
            lam_dataset_destroy(ds);
        }
    }
    lam_dataset *ds = NULL;
    lam_status st = lam_dataset_load_npy(ctx, xp, ytp, NULL, &ds);
    if (T_CHECK(st == LAM_OK, "float y: %s", lam_ctx_errmsg(ctx))) {
        float want[8];
        for (int i = 0; i < 8; i++) {
            want[i] = (float)yt[i];
        }
        T_CHECK(ds->task == LAM_DATA_REGRESS && ds->n_targets == 2, "float y: regress");
        t_equal("float y targets", ds->targets, want, 8);
        lam_dataset_destroy(ds);
    }
    lam_data_options o;
    lam_data_options_init(&o);
    o.task = LAM_DATA_REGRESS;
    st = lam_dataset_load_npy(ctx, xp, ylp, &o, &ds);
    if (T_CHECK(st == LAM_OK, "int y as targets: %s", lam_ctx_errmsg(ctx))) {
        T_CHECK(ds->task == LAM_DATA_REGRESS && ds->targets[0] == 3.0f, "int y regress");
        lam_dataset_destroy(ds);
    }
    /* lam_dataset_load("X.npy,y.npy") */
    char spec[1100];
    snprintf(spec, sizeof spec, "%s,%s", xp, ylp);
    st = lam_dataset_load(ctx, spec, NULL, &ds);
    if (T_CHECK(st == LAM_OK, "load(X.npy,y.npy): %s", lam_ctx_errmsg(ctx))) {
        T_CHECK(ds->n == 4 && ds->labels[3] == 3, "load(pair) content");
        lam_dataset_destroy(ds);
    }
}

static void expect_bad(lam_ctx *ctx, t_alloc *a, const char *x, const char *y,
                       const lam_data_options *o, lam_status want, const char *needle,
                       const char *what)
{
    lam_dataset *ds = NULL;
    int64_t live = a->live;
    a->max_size = 0;
    T_EXPECT(ctx, lam_dataset_load_npy(ctx, x, y, o, &ds), want, needle, what);
    T_CHECK(ds == NULL && a->live == live, "%s: nothing allocated remains", what);
}

/* A file made of a raw header text (v1.0) and `payload` bytes of zeros. */
static const char *raw_npy(const char *name, const char *dict, size_t payload)
{
    t_buf b = {0};
    size_t n = strlen(dict);
    unsigned char m[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)n,
                           (unsigned char)(n >> 8)};
    t_buf_put(&b, m, 10);
    t_buf_put(&b, dict, n);
    for (size_t i = 0; i < payload; i++) {
        t_buf_put(&b, "", 1);
    }
    const char *p = t_write(name, b.p, b.n, 0);
    t_buf_free(&b);
    return p;
}

static void test_bad(lam_ctx *ctx, t_alloc *a)
{
    const char *p;
    p = t_write("magic.npy", "\x93NUMPZ\1\0\4\0{}  ", 14, 0);
    expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_FORMAT, "bad magic", "bad magic");
    p = t_write("ver.npy", "\x93NUMPY\4\0\4\0{}  ", 14, 0);
    expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_FORMAT, "version 4.0", "bad version");
    p = t_write("trunc1.npy", "\x93NUM", 4, 0);
    expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_FORMAT, "truncated", "truncated magic");
    p = t_write("trunc2.npy", "\x93NUMPY\1\0\x76\0{'descr'", 18, 0);
    expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_FORMAT, "truncated in the NPY header",
               "truncated header");

    const char *f4 = "'fortran_order': False";
    char d[256];
    snprintf(d, sizeof d, "{'descr': '>f4', %s, 'shape': (2,), }\n", f4);
    expect_bad(ctx, a, raw_npy("be.npy", d, 8), NULL, NULL, LAM_ERR_FORMAT, "'>f4'", "big-endian");
    snprintf(d, sizeof d, "{'descr': '<c8', %s, 'shape': (2,), }\n", f4);
    expect_bad(ctx, a, raw_npy("c8.npy", d, 16), NULL, NULL, LAM_ERR_FORMAT,
               "unsupported NPY dtype '<c8'", "unknown dtype");
    snprintf(d, sizeof d, "{'descr': [('a', '<f4')], %s, 'shape': (2,), }\n", f4);
    expect_bad(ctx, a, raw_npy("struct.npy", d, 8), NULL, NULL, LAM_ERR_FORMAT, "structured",
               "structured dtype");
    expect_bad(ctx, a,
               raw_npy("fortran.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                       24),
               NULL, NULL, LAM_ERR_FORMAT, "Fortran", "fortran order");
    static const struct {
        const char *name, *dict, *needle;
    } headers[] = {
        {"nodict.npy", "['descr', '<f4']", "not a Python dict"},
        {"nokey.npy", "{'descr': '<f4', 'shape': (2,), }", "missing"},
        {"extra.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}",
         "unexpected"},
        {"twice.npy", "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
         "repeated"},
        {"shapestr.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': '2', }",
         "not a tuple"},
        {"shapeneg.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }",
         "non-negative"},
        {"bool.npy", "{'descr': '<f4', 'fortran_order': false, 'shape': (2,), }",
         "neither True"},
        {"unclosed.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,", "not closed"},
        {"after.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", "after"},
        {"scalar.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", "0-dim"},
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        p = raw_npy(headers[i].name, headers[i].dict, 8);
        expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_FORMAT, headers[i].needle, headers[i].name);
        T_CHECK(strstr(lam_ctx_errmsg(ctx), p) != NULL, "%s: message names the file",
                headers[i].name);
    }
    snprintf(d, sizeof d, "{'descr': '<f4', %s, 'shape': (3, 0), }\n", f4);
    expect_bad(ctx, a, raw_npy("zero.npy", d, 0), NULL, NULL, LAM_ERR_FORMAT, "dimension 1 is 0",
               "zero dim");
    snprintf(d, sizeof d, "{'descr': '<f8', %s, 'shape': (4294967296, 4294967296), }\n", f4);
    expect_bad(ctx, a, raw_npy("ovf.npy", d, 8), NULL, NULL, LAM_ERR_RANGE, "overflows",
               "product overflows int64");
    snprintf(d, sizeof d, "{'descr': '<f8', %s, 'shape': (99999999999999999999,), }\n", f4);
    expect_bad(ctx, a, raw_npy("ovf2.npy", d, 8), NULL, NULL, LAM_ERR_RANGE, "overflows",
               "entry overflows int64");
    snprintf(d, sizeof d, "{'descr': '<f4', %s, 'shape': (1, 1, 1, 1, 1), }\n", f4);
    expect_bad(ctx, a, raw_npy("dim5.npy", d, 4), NULL, NULL, LAM_ERR_FORMAT, "1 to 4",
               "5 dims");
    snprintf(d, sizeof d, "{'descr': '<f4', %s, 'shape': (1000, 1000), }\n", f4);
    p = raw_npy("promise.npy", d, 64);
    expect_bad(ctx, a, p, NULL, NULL, LAM_ERR_FORMAT, "promises 1000x1000 float32",
               "payload truncated");
    T_CHECK(a->max_size <= (size_t)t_file_size(p), "largest allocation %zu > file %lld",
            a->max_size, (long long)t_file_size(p));

    /* X/y mismatches; bad label values */
    const int64_t xs[2] = {4, 2}, y3 = 3, y4 = 4, y3d[3] = {4, 1, 1}, y42[2] = {4, 2};
    double v[8] = {0, 1, 2, 3, 4, 5, 6, NAN};
    const char *xp = write_npy("Xbad.npy", 1, "<f4", 2, xs, v, 0);
    expect_bad(ctx, a, xp, NULL, NULL, LAM_ERR_FORMAT, "sample 3 element 1 is NaN", "NaN in X");
    v[7] = 7;
    xp = write_npy("Xok.npy", 1, "<f4", 2, xs, v, 0);
    p = write_npy("y3.npy", 1, "<i8", 1, &y3, v, 0);
    expect_bad(ctx, a, xp, p, NULL, LAM_ERR_SHAPE, "y3.npy", "count mismatch");
    p = write_npy("y3d.npy", 1, "<i8", 3, y3d, v, 0);
    expect_bad(ctx, a, xp, p, NULL, LAM_ERR_SHAPE, "y3d.npy", "3-D y");
    lam_data_options o;
    lam_data_options_init(&o);
    o.task = LAM_DATA_CLASSIFY;
    p = write_npy("y42.npy", 1, "<i8", 2, y42, v, 0);
    expect_bad(ctx, a, xp, p, &o, LAM_ERR_SHAPE, "y42.npy", "classify 2 columns");
    double yv[4] = {0, 1, 2.5, 3};
    p = write_npy("yfrac.npy", 1, "<f8", 1, &y4, yv, 0);
    expect_bad(ctx, a, xp, p, &o, LAM_ERR_FORMAT, "not an integer", "classify float labels");
    yv[2] = -1;
    p = write_npy("yneg.npy", 1, "<i8", 1, &y4, yv, 0);
    expect_bad(ctx, a, xp, p, NULL, LAM_ERR_RANGE, "negative", "negative label");
    yv[2] = 1e12;
    p = write_npy("ybig.npy", 1, "<i8", 1, &y4, yv, 0);
    expect_bad(ctx, a, xp, p, NULL, LAM_ERR_RANGE, "ybig.npy", "label beyond the class limit");
    o.n_classes = 3;
    yv[2] = 2;
    p = write_npy("y3cls.npy", 1, "<i8", 1, &y4, yv, 0);
    expect_bad(ctx, a, xp, p, &o, LAM_ERR_RANGE, ">= n_classes 3", "label >= n_classes");
    expect_bad(ctx, a, xp, t_path("nope.npy"), NULL, LAM_ERR_IO, "nope.npy", "missing y");
}

int main(void)
{
    t_alloc a;
    lam_ctx *ctx = t_ctx_counting(&a);
    printf("fixtures in %s\n", t_tmpdir());
    test_good(ctx);
    test_pairs(ctx);
    test_bad(ctx, &a);
    T_CHECK(a.live == 1, "only the context is live at the end (%lld)", (long long)a.live);
    lam_ctx_destroy(ctx);
    t_tmp_cleanup();
    return t_exit("data/npy");
}

/* data: CSV reader: headers, target selection, task detection, quoting, exact round trips,
 * locale independence, and bad files reported with file:line:column. */
#define _POSIX_C_SOURCE 200809L
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_util.h"

static lam_dataset *load(lam_ctx *ctx, const char *name, const char *text, int gz,
                         const lam_data_options *o)
{
    const char *p = t_write(name, text, strlen(text), gz);
    lam_dataset *ds = NULL;
    lam_status st = lam_dataset_load_csv(ctx, p, o, &ds);
    T_CHECK(st == LAM_OK, "%s: %s (%s)", name, lam_strerror(st), lam_ctx_errmsg(ctx));
    return st == LAM_OK ? ds : NULL;
}

static void test_basic(lam_ctx *ctx)
{
    lam_dataset *ds = load(ctx, "cls.csv", "a,b,label\n1.5,-2,0\n3e2,.5,2\n", 0, NULL);
    if (ds != NULL) {
        const float x[4] = {1.5f, -2.0f, 300.0f, 0.5f};
        T_CHECK(ds->n == 2 && ds->sample_ndim == 1 && ds->sample_shape[0] == 2, "cls shape");
        t_equal("cls x", ds->x, x, 4);
        T_CHECK(ds->task == LAM_DATA_CLASSIFY && ds->n_classes == 3 && ds->labels[0] == 0 &&
                    ds->labels[1] == 2,
                "cls labels");
        lam_dataset_destroy(ds);
    }
    /* no header, float targets: regression; the same file gzip-compressed */
    for (int gz = 0; gz < 2; gz++) {
        ds = load(ctx, gz ? "reg.csv.gz" : "reg.csv", "1,2,0.5\n3,4,1.25\n", gz, NULL);
        if (ds != NULL) {
            const float x[4] = {1, 2, 3, 4}, t[2] = {0.5f, 1.25f};
            T_CHECK(ds->n == 2 && ds->task == LAM_DATA_REGRESS && ds->n_targets == 1,
                    "reg task gz=%d", gz);
            t_equal("reg x", ds->x, x, 4);
            t_equal("reg t", ds->targets, t, 2);
            lam_dataset_destroy(ds);
        }
    }
    /* targets by name, in the order given; features keep file order */
    lam_data_options o;
    lam_data_options_init(&o);
    o.target = "y2, y1";
    ds = load(ctx, "multi.csv", "x1,y1,x2,y2\n1,2,3,4\n5,6,7,8\n", 0, &o);
    if (ds != NULL) {
        const float x[4] = {1, 3, 5, 7}, t[4] = {4, 2, 8, 6};
        T_CHECK(ds->task == LAM_DATA_REGRESS && ds->n_targets == 2, "two targets: regress");
        t_equal("multi x", ds->x, x, 4);
        t_equal("multi t", ds->targets, t, 4);
        lam_dataset_destroy(ds);
    }
    /* label first (the Kaggle MNIST layout) by index, and by a negative index */
    const char *idx[2] = {"0", "-3"};
    for (int k = 0; k < 2; k++) {
        o.target = idx[k];
        ds = load(ctx, "first.csv", "label,p0,p1\n7,0,255\n3,128,64\n", 0, &o);
        if (ds != NULL) {
            const float x[4] = {0, 255, 128, 64};
            T_CHECK(ds->task == LAM_DATA_CLASSIFY && ds->labels[0] == 7 && ds->labels[1] == 3 &&
                        ds->n_classes == 8,
                    "label column %s", idx[k]);
            t_equal("first x", ds->x, x, 4);
            lam_dataset_destroy(ds);
        }
    }
    /* quoting, padding, CRLF, BOM, blank lines, no final newline, tab and ';' delimiters */
    lam_data_options_init(&o);
    ds = load(ctx, "quoted.csv",
              "\xEF\xBB\xBF\"f,1\", \"f \"\"2\"\"\" ,y\r\n\r\n \"1.25\" ,  2 ,1\r\n\n  \n3,4,0", 0,
              NULL);
    if (ds != NULL) {
        const float x[4] = {1.25f, 2, 3, 4};
        T_CHECK(ds->n == 2 && ds->task == LAM_DATA_CLASSIFY && ds->labels[0] == 1, "quoted");
        t_equal("quoted x", ds->x, x, 4);
        lam_dataset_destroy(ds);
    }
    o.target = "f \"2\"";
    ds = load(ctx, "quoted.csv", "\"f,1\",\"f \"\"2\"\"\",y\n1,2,3\n", 0, &o);
    if (ds != NULL) {
        T_CHECK(ds->labels != NULL && ds->labels[0] == 2 && ds->x[1] == 3.0f,
                "target named with escaped quotes");
        lam_dataset_destroy(ds);
    }
    ds = load(ctx, "tab.tsv", "a\tb\tc\n1\t2\t3\n", 0, NULL);
    if (ds != NULL) {
        T_CHECK(ds->n == 1 && ds->sample_shape[0] == 2 && ds->x[1] == 2.0f, "tab delimiter");
        lam_dataset_destroy(ds);
    }
    ds = load(ctx, "semi.csv", "1;2;3\n4;5;6\n", 0, NULL);
    if (ds != NULL) {
        T_CHECK(ds->n == 2 && ds->sample_shape[0] == 2 && ds->x[3] == 5.0f, "';' delimiter");
        lam_dataset_destroy(ds);
    }
    /* forced header / no header */
    lam_data_options_init(&o);
    o.header = 1;
    ds = load(ctx, "hdr1.csv", "1,2\n3,4\n", 0, &o);
    if (ds != NULL) {
        T_CHECK(ds->n == 1 && ds->labels[0] == 4, "header forced");
        lam_dataset_destroy(ds);
    }
}

static void test_task(lam_ctx *ctx)
{
    lam_data_options o;
    lam_data_options_init(&o);
    lam_dataset *ds = load(ctx, "c999.csv", "1,0\n2,999\n", 0, NULL);
    if (ds != NULL) {
        T_CHECK(ds->task == LAM_DATA_CLASSIFY && ds->n_classes == 1000, "auto: 999 classify");
        lam_dataset_destroy(ds);
    }
    ds = load(ctx, "c1000.csv", "1,0\n2,1000\n", 0, NULL);
    if (ds != NULL) {
        T_CHECK(ds->task == LAM_DATA_REGRESS, "auto: 1000 regress");
        lam_dataset_destroy(ds);
    }
    ds = load(ctx, "cneg.csv", "1,0\n2,-1\n", 0, NULL);
    if (ds != NULL) {
        T_CHECK(ds->task == LAM_DATA_REGRESS, "auto: negative regress");
        lam_dataset_destroy(ds);
    }
    ds = load(ctx, "cfrac.csv", "1,0\n2,1.0000001\n", 0, NULL);
    if (ds != NULL) {
        T_CHECK(ds->task == LAM_DATA_REGRESS, "auto: 1.0000001 is not an integer");
        lam_dataset_destroy(ds);
    }
    o.task = LAM_DATA_REGRESS;
    ds = load(ctx, "c999.csv", "1,0\n2,999\n", 0, &o);
    if (ds != NULL) {
        T_CHECK(ds->task == LAM_DATA_REGRESS && ds->targets[1] == 999.0f, "forced regress");
        lam_dataset_destroy(ds);
    }
    o.task = LAM_DATA_CLASSIFY;
    o.n_classes = 4000;
    ds = load(ctx, "c1000.csv", "1,0\n2,3000.0\n", 0, &o);
    if (ds != NULL) {
        T_CHECK(ds->task == LAM_DATA_CLASSIFY && ds->labels[1] == 3000 && ds->n_classes == 4000,
                "forced classify");
        lam_dataset_destroy(ds);
    }
}

/* Floats printed with 9 significant digits read back bit-exactly. */
static void test_roundtrip(lam_ctx *ctx)
{
    enum { ROWS = 300, COLS = 6 };
    static float want[ROWS * COLS];
    static float tw[ROWS];
    size_t cap = ROWS * COLS * 20 + 100, len = 0;
    char *text = malloc(cap);
    len += (size_t)snprintf(text + len, cap - len, "c0,c1,c2,c3,c4,c5,target\n");
    for (int r = 0; r < ROWS; r++) {
        for (int c = 0; c < COLS; c++) {
            uint64_t u = lam_rng_u64(7, 1, (uint64_t)(r * COLS + c));
            float v = (float)ldexp((double)(u >> 40) / (double)(1 << 24), (int)(u % 80) - 40);
            if (u & 1) {
                v = -v;
            }
            if ((r + c) % 17 == 0) {
                v = 1e-40f; /* subnormal */
            }
            want[r * COLS + c] = v;
            len += (size_t)snprintf(text + len, cap - len, "%.9g,", (double)v);
        }
        tw[r] = (float)r * 0.1f;
        len += (size_t)snprintf(text + len, cap - len, "%.9g\n", (double)tw[r]);
    }
    lam_dataset *ds = load(ctx, "roundtrip.csv", text, 0, NULL);
    if (ds != NULL) {
        T_CHECK(ds->n == ROWS && ds->sample_numel == COLS, "roundtrip shape");
        t_equal("roundtrip x", ds->x, want, ROWS * COLS);
        t_equal("roundtrip targets", ds->targets, tw, ROWS);
        lam_dataset_destroy(ds);
    }
    free(text);
}

/* Under a locale whose decimal point is ',', "1.5" must still read as 1.5. glibc only has
 * C locales installed here, so build de_DE with localedef into the temp dir if possible. */
static void test_locale(lam_ctx *ctx)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "localedef -i de_DE -f UTF-8 %s/de_DE.UTF-8 >/dev/null 2>&1 || true", t_tmpdir());
    const char *have = setlocale(LC_NUMERIC, "de_DE.UTF-8");
    if (have == NULL && system(cmd) >= 0) {
        setenv("LOCPATH", t_tmpdir(), 1);
        have = setlocale(LC_NUMERIC, "de_DE.UTF-8");
    }
    char probe[16];
    snprintf(probe, sizeof probe, "%.1f", 1.5);
    if (have == NULL || strcmp(probe, "1,5") != 0) {
        printf("note: no comma-decimal locale available; locale check skipped\n");
        setlocale(LC_NUMERIC, "C");
        return;
    }
    printf("locale check under %s\n", have);
    lam_dataset *ds = load(ctx, "locale.csv", "a,b,y\n1.5,-2.25e1,0.75\n", 0, NULL);
    if (ds != NULL) {
        const float x[2] = {1.5f, -22.5f}, t[1] = {0.75f};
        t_equal("x under a comma locale", ds->x, x, 2);
        t_equal("targets under a comma locale", ds->targets, t, 1);
        lam_dataset_destroy(ds);
    }
    T_CHECK(strcmp(setlocale(LC_NUMERIC, NULL), have) == 0, "the reader left the locale alone");
    setlocale(LC_NUMERIC, "C");
    char rm[600];
    snprintf(rm, sizeof rm, "rm -rf %s/de_DE.UTF-8", t_tmpdir());
    if (system(rm) != 0) {
        printf("note: could not remove the test locale\n");
    }
}

static void bad(lam_ctx *ctx, t_alloc *a, const char *name, const char *text,
                const lam_data_options *o, lam_status want, const char *needle)
{
    const char *p = t_write(name, text, strlen(text), 0);
    lam_dataset *ds = NULL;
    int64_t live = a->live;
    char full[600];
    snprintf(full, sizeof full, "%s%s", p, needle);
    T_EXPECT(ctx, lam_dataset_load_csv(ctx, p, o, &ds), want, full, name);
    T_CHECK(ds == NULL && a->live == live, "%s: nothing allocated remains", name);
}

static void test_bad(lam_ctx *ctx, t_alloc *a)
{
    bad(ctx, a, "empty.csv", "", NULL, LAM_ERR_FORMAT, ": empty file");
    bad(ctx, a, "blank.csv", "\n  \r\n\n", NULL, LAM_ERR_FORMAT, ": empty file");
    bad(ctx, a, "hdronly.csv", "a,b,c\n", NULL, LAM_ERR_FORMAT, ": no data rows");
    bad(ctx, a, "word.csv", "1,2,3\n4,abc,6\n", NULL, LAM_ERR_FORMAT,
        ":2:3: cell \"abc\" is not a number");
    bad(ctx, a, "comma.csv", "a,b\n\"1,5\",2\n", NULL, LAM_ERR_FORMAT, ":2:1: cell \"1,5\"");
    bad(ctx, a, "hex.csv", "1,2\n0x10,2\n", NULL, LAM_ERR_FORMAT, ":2:1: cell \"0x10\"");
    bad(ctx, a, "dot.csv", "1,2\n.,2\n", NULL, LAM_ERR_FORMAT, ":2:1:");
    bad(ctx, a, "exp.csv", "1,2\n1e,2\n", NULL, LAM_ERR_FORMAT, ":2:1:");
    bad(ctx, a, "emptycell.csv", "1,2,3\n4,,6\n", NULL, LAM_ERR_FORMAT, ":2:3: cell is empty");
    bad(ctx, a, "short.csv", "1,2,3\n4,5\n", NULL, LAM_ERR_FORMAT,
        ":2:4: row has 2 cells, expected 3");
    bad(ctx, a, "long.csv", "1,2,3\n\n4,5,6,7\n", NULL, LAM_ERR_FORMAT,
        ":3:7: row has more than the 3 cells");
    bad(ctx, a, "nan.csv", "a,b\n1,2\n3,NaN\n", NULL, LAM_ERR_FORMAT, ":3:3: cell \"NaN\" is NaN");
    bad(ctx, a, "inf.csv", "1,-inf\n", NULL, LAM_ERR_FORMAT, ":1:3: cell \"-inf\" is infinite");
    bad(ctx, a, "infinity.csv", "1,2\n+Infinity,2\n", NULL, LAM_ERR_FORMAT, ":2:1:");
    bad(ctx, a, "huge.csv", "1,2\n1e39,2\n", NULL, LAM_ERR_FORMAT, ":2:1: cell \"1e39\" is beyond");
    bad(ctx, a, "quote.csv", "1,2\n\"3,2\n", NULL, LAM_ERR_FORMAT, ":2:1: unterminated quote");
    bad(ctx, a, "afterq.csv", "1,2\n\"3\"x,2\n", NULL, LAM_ERR_FORMAT, ":2:4: text after");

    lam_data_options o;
    lam_data_options_init(&o);
    o.task = LAM_DATA_CLASSIFY;
    bad(ctx, a, "frac.csv", "1,0\n2,2.5\n", &o, LAM_ERR_FORMAT,
        ":2:3: label 2.5 is not an integer");
    bad(ctx, a, "negl.csv", "1,0\n2,-1\n", &o, LAM_ERR_RANGE, ":2:3: label -1 is negative");
    o.n_classes = 3;
    bad(ctx, a, "range.csv", "1,0\n2,2\n3,5\n", &o, LAM_ERR_RANGE, ":3:3: label 5 is too large");
    o.target = "a,b";
    bad(ctx, a, "cls2.csv", "a,b,c\n1,2,3\n", &o, LAM_ERR_ARG, ": classification takes one");
    lam_data_options_init(&o);
    o.target = "nope";
    bad(ctx, a, "name.csv", "a,b,c\n1,2,3\n", &o, LAM_ERR_ARG, ": no column named \"nope\"");
    o.target = "3";
    bad(ctx, a, "idx.csv", "a,b,c\n1,2,3\n", &o, LAM_ERR_ARG, ": target column 3 is outside");
    o.target = "-4";
    bad(ctx, a, "idxneg.csv", "a,b,c\n1,2,3\n", &o, LAM_ERR_ARG, ": target column -4");
    o.target = "a,0";
    bad(ctx, a, "dup.csv", "a,b,c\n1,2,3\n", &o, LAM_ERR_ARG, ": target column 0 is given twice");
    o.target = "a,b,c";
    bad(ctx, a, "all.csv", "a,b,c\n1,2,3\n", &o, LAM_ERR_ARG, ": targets \"a,b,c\" leave");
    bad(ctx, a, "onecol.csv", "1\n2\n", NULL, LAM_ERR_ARG, ": targets");
    o.target = NULL;
    o.delimiter = '.';
    bad(ctx, a, "delim.csv", "1,2\n", &o, LAM_ERR_ARG, ": delimiter");

    lam_dataset *ds = NULL;
    T_EXPECT(ctx, lam_dataset_load_csv(ctx, t_path("absent.csv"), NULL, &ds), LAM_ERR_IO,
             "absent.csv", "missing csv");
}

static void test_dispatch(lam_ctx *ctx)
{
    const char *p = t_write("via-load.csv", "x,y\n1,0\n2,1\n", 12, 0);
    lam_dataset *ds = NULL;
    lam_status st = lam_dataset_load(ctx, p, NULL, &ds);
    if (T_CHECK(st == LAM_OK, "load(csv): %s", lam_ctx_errmsg(ctx))) {
        T_CHECK(ds->n == 2 && ds->task == LAM_DATA_CLASSIFY, "load(csv) content");
        lam_dataset_destroy(ds);
    }
}

int main(void)
{
    t_alloc a;
    lam_ctx *ctx = t_ctx_counting(&a);
    printf("fixtures in %s\n", t_tmpdir());
    test_basic(ctx);
    test_task(ctx);
    test_roundtrip(ctx);
    test_locale(ctx);
    test_bad(ctx, &a);
    test_dispatch(ctx);
    T_CHECK(a.live == 1, "only the context is live at the end (%lld)", (long long)a.live);
    lam_ctx_destroy(ctx);
    t_tmp_cleanup();
    return t_exit("data/csv");
}

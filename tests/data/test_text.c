/* data: byte-level text for language models: vocabulary and tokens, renumbering to a given
 * vocabulary, the 90/5/5 split by position, truncated-BPTT streams against a hand
 * computation, bad files named in the message, the fortunes file selection, and
 * out-of-memory paths. The real fortunes corpus is test_fortunes.c. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data_util.h"

static lam_text *load(lam_ctx *ctx, const char *name, const void *data, size_t n)
{
    const char *p = t_write(name, data, n, 0);
    lam_text *t = NULL;
    lam_status st = lam_text_load(ctx, p, &t);
    T_CHECK(st == LAM_OK, "%s: %s (%s)", name, lam_strerror(st), lam_ctx_errmsg(ctx));
    return st == LAM_OK ? t : NULL;
}

/* The text's tokens mapped back through its vocabulary equal want[0..n). */
static int decodes_to(const lam_text *t, const void *want, int64_t n)
{
    const unsigned char *w = want;
    if (t->n != n) {
        return 0;
    }
    for (int64_t i = 0; i < n; i++) {
        if (t->tokens[i] < 0 || t->tokens[i] >= t->vocab || t->bytes[t->tokens[i]] != w[i]) {
            return 0;
        }
    }
    return 1;
}

static void test_vocab(lam_ctx *ctx)
{
    lam_text *t = load(ctx, "hello.txt", "hello world", 11);
    if (t != NULL) {
        /* sorted distinct bytes: ' ' d e h l o r w */
        const int32_t want[11] = {3, 2, 4, 4, 5, 0, 7, 5, 6, 4, 1};
        T_CHECK(t->n == 11 && t->vocab == 8 && memcmp(t->bytes, " dehlorw", 8) == 0,
                "hello: vocab %d \"%.8s\"", t->vocab, (const char *)t->bytes);
        T_CHECK(memcmp(t->tokens, want, sizeof want) == 0, "hello: tokens");
        T_CHECK(t->bytes[8] == 0 && t->bytes[255] == 0, "hello: unused ids are 0");
        lam_text_destroy(t);
    }
    /* bytes, not characters: NUL, 0xff and a UTF-8 sequence are tokens like any other */
    const unsigned char bin[6] = {0xff, 0x00, 'a', 0xc3, 0xa9, 0x00};
    t = load(ctx, "binary.txt", bin, sizeof bin);
    if (t != NULL) {
        const int32_t want[6] = {4, 0, 1, 3, 2, 0};
        const unsigned char voc[5] = {0x00, 'a', 0xa9, 0xc3, 0xff};
        T_CHECK(t->vocab == 5 && memcmp(t->bytes, voc, 5) == 0, "binary: vocab");
        T_CHECK(memcmp(t->tokens, want, sizeof want) == 0, "binary: tokens");
        lam_text_destroy(t);
    }
    /* all 256 values, in reverse: ids are 255 - position */
    unsigned char all[256];
    for (int i = 0; i < 256; i++) {
        all[i] = (unsigned char)(255 - i);
    }
    t = load(ctx, "all.bin", all, sizeof all);
    if (t != NULL) {
        int ok = t->vocab == 256;
        for (int i = 0; ok && i < 256; i++) {
            ok = t->tokens[i] == 255 - i && t->bytes[i] == i;
        }
        T_CHECK(ok, "all 256 bytes: vocab %d", t->vocab);
        lam_text_destroy(t);
    }
    lam_text_destroy(NULL);
}

static void test_set_vocab(lam_ctx *ctx)
{
    lam_text *t = load(ctx, "abca.txt", "abca", 4);
    if (t == NULL) {
        return;
    }
    /* a checkpoint's vocabulary: a superset in another order */
    const unsigned char v[5] = {'c', 'x', 'a', 'b', 'z'};
    lam_status st = lam_text_set_vocab(t, v, 5);
    const int32_t want[4] = {2, 3, 0, 2};
    T_CHECK(st == LAM_OK && t->vocab == 5 && memcmp(t->bytes, v, 5) == 0 &&
                memcmp(t->tokens, want, sizeof want) == 0,
            "set_vocab remap: %s", lam_ctx_errmsg(ctx));
    T_CHECK(decodes_to(t, "abca", 4), "set_vocab keeps the text");

    /* 'b' is missing: RANGE naming the byte and its first position; the text is unchanged */
    const unsigned char v2[3] = {'a', 'c', 'x'};
    T_EXPECT(ctx, lam_text_set_vocab(t, v2, 3), LAM_ERR_RANGE,
             "text: byte 0x62 at position 1 is not in the model's vocabulary", "missing byte");
    T_CHECK(t->vocab == 5 && memcmp(t->tokens, want, sizeof want) == 0,
            "failed set_vocab changed the text");
    const unsigned char dup[3] = {'a', 'b', 'a'};
    T_EXPECT(ctx, lam_text_set_vocab(t, dup, 3), LAM_ERR_ARG, "appears twice", "duplicate");
    T_EXPECT(ctx, lam_text_set_vocab(t, v, 0), LAM_ERR_ARG, "0 bytes", "vocab 0");
    T_EXPECT(ctx, lam_text_set_vocab(t, v, 257), LAM_ERR_ARG, "257 bytes", "vocab 257");
    T_EXPECT(ctx, lam_text_set_vocab(t, NULL, 3), LAM_ERR_ARG, "NULL", "NULL bytes");
    T_CHECK(lam_text_set_vocab(NULL, v, 3) == LAM_ERR_ARG, "NULL text");
    T_CHECK(decodes_to(t, "abca", 4), "failed calls kept the text");
    /* back to the text's own vocabulary */
    st = lam_text_set_vocab(t, (const unsigned char *)"abc", 3);
    const int32_t own[4] = {0, 1, 2, 0};
    T_CHECK(st == LAM_OK && t->vocab == 3 && memcmp(t->tokens, own, sizeof own) == 0 &&
                t->bytes[3] == 0 && t->bytes[4] == 0,
            "set_vocab back to abc");
    lam_text_destroy(t);
}

static void test_split(lam_ctx *ctx)
{
    /* n, then [begin, end) of parts 0, 1, 2 */
    static const int64_t cases[][7] = {
        {2, 0, 1, 1, 1, 1, 2},
        {19, 0, 17, 17, 18, 18, 19},
        {20, 0, 18, 18, 19, 19, 20},
        {21, 0, 18, 18, 19, 19, 21},
        {1000, 0, 900, 900, 950, 950, 1000},
        {1019, 0, 917, 917, 968, 968, 1019},
    };
    char buf[1019];
    for (int i = 0; i < 1019; i++) {
        buf[i] = (char)('a' + i % 7);
    }
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char name[32];
        snprintf(name, sizeof name, "split%lld.txt", (long long)cases[c][0]);
        lam_text *t = load(ctx, name, buf, (size_t)cases[c][0]);
        for (int part = 0; t != NULL && part < 3; part++) {
            int64_t b = -1, e = -1;
            lam_status st = lam_text_split(t, part, &b, &e);
            T_CHECK(st == LAM_OK && b == cases[c][1 + 2 * part] && e == cases[c][2 + 2 * part],
                    "n=%lld part %d: [%lld, %lld), want [%lld, %lld)", (long long)cases[c][0],
                    part, (long long)b, (long long)e, (long long)cases[c][1 + 2 * part],
                    (long long)cases[c][2 + 2 * part]);
        }
        if (t != NULL) {
            int64_t b, e;
            T_EXPECT(ctx, lam_text_split(t, 3, &b, &e), LAM_ERR_ARG, "part 3", "part 3");
            T_EXPECT(ctx, lam_text_split(t, -1, &b, &e), LAM_ERR_ARG, "part -1", "part -1");
            T_EXPECT(ctx, lam_text_split(t, 0, NULL, &e), LAM_ERR_ARG, "NULL", "NULL begin");
        }
        lam_text_destroy(t);
    }
    /* sizes no file here reaches: exact integer arithmetic without overflow (n * 90 would
     * overflow int64; floor(n * 0.90) in double would be off by hundreds) */
    lam_text big;
    memset(&big, 0, sizeof big);
    big.ctx = ctx;
    static const int64_t huge[2][3] = {
        {(int64_t)1 << 62, 4150517416584649113LL, 4381101717506018508LL},
        {INT64_MAX, 8301034833169298226LL, 8762203435012037016LL},
    };
    for (int k = 0; k < 2; k++) {
        big.n = huge[k][0];
        int64_t b0, e0, b1, e1, b2, e2;
        lam_text_split(&big, 0, &b0, &e0);
        lam_text_split(&big, 1, &b1, &e1);
        lam_text_split(&big, 2, &b2, &e2);
        T_CHECK(b0 == 0 && e0 == huge[k][1] && b1 == e0 && e1 == huge[k][2] && b2 == e1 &&
                    e2 == huge[k][0],
                "n=%lld: cuts %lld %lld", (long long)big.n, (long long)e0, (long long)e1);
    }
}

static void test_batches_count(void)
{
    /* begin, end, rows, T -> batches; L = (end - begin) / rows, batches = (L - 1) / T */
    static const int64_t cases[][5] = {
        {0, 20, 2, 3, 3},   /* L 10 */
        {5, 25, 2, 3, 3},   /* the same range shifted */
        {0, 21, 2, 3, 3},   /* L 10, one token dropped */
        {0, 8, 2, 3, 1},    /* L 4 = T + 1: exactly one */
        {0, 7, 2, 3, 0},    /* L 3 = T: no label for the last input */
        {0, 1000, 1, 10, 99},
        {0, 1001, 1, 10, 100},
        {0, 2, 1, 1, 1},    /* the smallest text */
        {0, 5, 5, 1, 0},    /* L 1 */
        {0, 4, 5, 1, 0},    /* L 0 */
        {0, 20, 0, 3, 0},   /* rows 0 */
        {0, 20, 2, 0, 0},   /* T 0 */
        {0, 20, -2, 3, 0},
        {0, 20, 2, -3, 0},
        {-1, 20, 2, 3, 0},
        {20, 0, 2, 3, 0},
        {7, 7, 1, 1, 0},
        {0, INT64_MAX, 1, INT64_MAX, 0},
        {0, INT64_MAX, 1, 1, INT64_MAX - 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t got = lam_lm_batches(cases[c][0], cases[c][1], cases[c][2], cases[c][3]);
        T_CHECK(got == cases[c][4], "lm_batches(%lld, %lld, %lld, %lld) = %lld, want %lld",
                (long long)cases[c][0], (long long)cases[c][1], (long long)cases[c][2],
                (long long)cases[c][3], (long long)got, (long long)cases[c][4]);
    }
}

static void test_batch_content(lam_ctx *ctx)
{
    /* "utsr...a": the byte at position p has id 20 - p, so ids are not positions */
    lam_text *t = load(ctx, "stream.txt", "utsrqponmlkjihgfedcba", 21);
    if (t == NULL) {
        return;
    }
    /* rows 2, T 3 over [0, 21): L 10, streams at positions 0..9 and 10..19 (20 dropped),
     * 3 batches; batch b, row r takes positions 10r + 3b .. +2, labels one further */
    static const float x[3][6] = {
        {20, 19, 18, 10, 9, 8}, {17, 16, 15, 7, 6, 5}, {14, 13, 12, 4, 3, 2}};
    static const int32_t y[3][6] = {
        {19, 18, 17, 9, 8, 7}, {16, 15, 14, 6, 5, 4}, {13, 12, 11, 3, 2, 1}};
    T_CHECK(lam_lm_batches(0, 21, 2, 3) == 3, "three batches");
    for (int b = 0; b < 3; b++) {
        float xb[6];
        int32_t yb[6];
        lam_status st = lam_lm_batch(t, 0, 21, 2, 3, b, xb, yb);
        T_CHECK(st == LAM_OK, "batch %d: %s", b, lam_ctx_errmsg(ctx));
        char what[32];
        snprintf(what, sizeof what, "batch %d x", b);
        t_equal(what, xb, x[b], 6);
        T_CHECK(memcmp(yb, y[b], sizeof yb) == 0, "batch %d labels", b);
    }
    /* from position 1: streams 1..10 and 11..20, so the last label is the last token */
    static const float x1[6] = {13, 12, 11, 3, 2, 1};
    static const int32_t y1[6] = {12, 11, 10, 2, 1, 0};
    float xb[6];
    int32_t yb[6];
    T_CHECK(lam_lm_batch(t, 1, 21, 2, 3, 2, xb, yb) == LAM_OK, "offset batch");
    t_equal("offset batch x", xb, x1, 6);
    T_CHECK(memcmp(yb, y1, sizeof yb) == 0, "offset batch labels");

    /* batch b + 1 continues batch b in every row (what carrying the state relies on) */
    float xa[8], xn[8];
    int32_t ya[8], yn[8];
    for (int b = 0; b + 1 < lam_lm_batches(0, 21, 2, 4); b++) {
        lam_lm_batch(t, 0, 21, 2, 4, b, xa, ya);
        lam_lm_batch(t, 0, 21, 2, 4, b + 1, xn, yn);
        for (int r = 0; r < 2; r++) {
            T_CHECK(xn[4 * r] == (float)ya[4 * r + 3] && xa[4 * r + 1] == (float)ya[4 * r],
                    "rows continue: batch %d row %d", b, r);
        }
    }

    T_EXPECT(ctx, lam_lm_batch(t, 0, 21, 2, 3, 3, xb, yb), LAM_ERR_ARG, "batch 3 outside",
             "b = batches");
    T_EXPECT(ctx, lam_lm_batch(t, 0, 21, 2, 3, -1, xb, yb), LAM_ERR_ARG, "batch -1", "b < 0");
    T_EXPECT(ctx, lam_lm_batch(t, 0, 7, 2, 3, 0, xb, yb), LAM_ERR_ARG, "outside [0, 0)",
             "no batch in a short range");
    T_EXPECT(ctx, lam_lm_batch(t, 0, 22, 2, 3, 0, xb, yb), LAM_ERR_ARG, "[0, 22) outside",
             "end past the text");
    T_EXPECT(ctx, lam_lm_batch(t, -1, 21, 2, 3, 0, xb, yb), LAM_ERR_ARG, "[-1, 21)",
             "negative begin");
    T_EXPECT(ctx, lam_lm_batch(t, 0, 21, 2, 3, 0, NULL, yb), LAM_ERR_ARG, "NULL", "NULL x");
    T_EXPECT(ctx, lam_lm_batch(t, 0, 21, 2, 3, 0, xb, NULL), LAM_ERR_ARG, "NULL",
             "NULL labels");
    T_CHECK(lam_lm_batch(NULL, 0, 21, 2, 3, 0, xb, yb) == LAM_ERR_ARG, "NULL text");
    lam_text_destroy(t);
}

static void test_bad_files(lam_ctx *ctx)
{
    lam_text *t = NULL;
    const char *p = t_write("empty.txt", "", 0, 0);
    T_EXPECT(ctx, lam_text_load(ctx, p, &t), LAM_ERR_FORMAT, "empty.txt: empty", "empty");
    p = t_write("one.txt", "x", 1, 0);
    T_EXPECT(ctx, lam_text_load(ctx, p, &t), LAM_ERR_FORMAT,
             "one.txt: 1 byte; a language model needs at least 2", "1 byte");
    T_EXPECT(ctx, lam_text_load(ctx, t_path("absent.txt"), &t), LAM_ERR_IO,
             "absent.txt: cannot open: No such file", "missing");
    T_EXPECT(ctx, lam_text_load(ctx, t_tmpdir(), &t), LAM_ERR_IO, ": not a regular file (a directory)",
             "directory");
    /* a FIFO is refused at once, not read (or waited on until a writer comes) */
    if (mkfifo(t_path("fifo"), 0600) == 0) {
        T_EXPECT(ctx, lam_text_load(ctx, t_path("fifo"), &t), LAM_ERR_IO,
                 "fifo: not a regular file", "fifo");
        unlink(t_path("fifo"));
    }
    T_EXPECT(ctx, lam_text_load(ctx, NULL, &t), LAM_ERR_ARG, "NULL", "NULL path");
    T_EXPECT(ctx, lam_text_load(ctx, p, NULL), LAM_ERR_ARG, "NULL", "NULL out");
    T_CHECK(lam_text_load(NULL, p, &t) == LAM_ERR_ARG, "NULL ctx");
    T_CHECK(t == NULL, "failed loads left *out alone");

    /* over the limit: a sparse file of 2^31 + 1 bytes, whose int32 tokens would exceed
     * LAM_DATA_MAX_BYTES; refused from its size before anything is read or allocated */
    p = t_write("huge.txt", "ab", 2, 0);
    int fd = open(p, O_WRONLY);
    if (fd >= 0 && ftruncate(fd, ((off_t)1 << 31) + 1) == 0) {
        T_EXPECT(ctx, lam_text_load(ctx, p, &t), LAM_ERR_RANGE, "huge.txt: 2147483649 bytes",
                 "over the limit");
    } else {
        printf("note: cannot make a sparse 2 GiB file; limit check skipped\n");
    }
    if (fd >= 0) {
        close(fd);
    }
    t_write("huge.txt", "", 0, 0); /* no 2 GiB file left behind if cleanup is skipped */
}

/* A fortunes-like directory; every entry is removed by fortunes_cleanup(). */
static const char *const fort_files[][2] = {
    {"fort/b", "beta\n%\n"},
    {"fort/a", "alpha\n%\n"},
    {"fort/Zed", "zed\n"},        /* 'Z' < 'a': byte order of names, not the locale's */
    {"fort/a.dat", "\x01\x02\x03"}, /* the strfile index */
    {"fort/.hidden", "!!!"},
    {"fort/sub/c", "###"},
    {"outside", "@@@"},
};
#define N_FORT (sizeof fort_files / sizeof fort_files[0])

static void put_file(const char *rel, const char *data)
{
    FILE *f = fopen(t_path(rel), "wb");
    if (f == NULL || fwrite(data, 1, strlen(data), f) != strlen(data) || fclose(f) != 0) {
        printf("FAIL: cannot write %s\n", t_path(rel));
        exit(1);
    }
}

static void fortunes_cleanup(void)
{
    for (size_t i = 0; i < N_FORT; i++) {
        unlink(t_path(fort_files[i][0]));
    }
    unlink(t_path("fort/a.u8"));
    unlink(t_path("fort/link"));
    unlink(t_path("fort/dangling"));
    rmdir(t_path("fort/sub"));
    rmdir(t_path("fort"));
    unlink(t_path("only/x.dat"));
    unlink(t_path("only/x.u8"));
    rmdir(t_path("only"));
}

static lam_status load_fortunes_dir(lam_ctx *ctx, void *arg)
{
    lam_text *t = NULL;
    lam_status st = lam_text_load_fortunes(ctx, arg, &t);
    lam_text_destroy(t);
    return st;
}

static lam_status load_text_file(lam_ctx *ctx, void *arg)
{
    lam_text *t = NULL;
    lam_status st = lam_text_load(ctx, arg, &t);
    lam_text_destroy(t);
    return st;
}

static void test_fortunes_dir(lam_ctx *ctx)
{
    mkdir(t_path("fort"), 0700);
    mkdir(t_path("fort/sub"), 0700);
    for (size_t i = 0; i < N_FORT; i++) {
        put_file(fort_files[i][0], fort_files[i][1]);
    }
    int links = symlink("a", t_path("fort/a.u8")) == 0 &&
                symlink("../outside", t_path("fort/link")) == 0 &&
                symlink("nowhere", t_path("fort/dangling")) == 0;
    T_CHECK(links, "cannot make the symbolic links");

    lam_text *t = NULL;
    lam_status st = lam_text_load_fortunes(ctx, t_path("fort"), &t);
    if (T_CHECK(st == LAM_OK, "fortunes dir: %s", lam_ctx_errmsg(ctx))) {
        const char *want = "zed\nalpha\n%\nbeta\n%\n";
        T_CHECK(decodes_to(t, want, (int64_t)strlen(want)),
                "fortunes: only Zed, a, b, in that order (n = %lld)", (long long)t->n);
        T_CHECK(t->vocab == 11 && memcmp(t->bytes, "\n%abdehlptz", 11) == 0,
                "fortunes vocab %d \"%.*s\"", t->vocab, t->vocab, (const char *)t->bytes);
        lam_text_destroy(t);
    }
    t_oom_sweep("fortunes", load_fortunes_dir, (void *)t_path("fort"), 20);
    t_oom_sweep("text", load_text_file, (void *)t_path("fort/a"), 20);

    /* a missing directory names it and the package; a file is not a directory */
    t = NULL;
    T_EXPECT(ctx, lam_text_load_fortunes(ctx, t_path("nofort"), &t), LAM_ERR_IO,
             "nofort: No such file or directory (install Debian's fortunes package",
             "missing fortunes dir");
    T_EXPECT(ctx, lam_text_load_fortunes(ctx, t_path("fort/a"), &t), LAM_ERR_IO,
             "fort/a: Not a directory", "fortunes dir is a file");
    /* only an index and a link: nothing to read */
    mkdir(t_path("only"), 0700);
    put_file("only/x.dat", "\x01\x02");
    T_CHECK(symlink("../fort/a", t_path("only/x.u8")) == 0, "symlink only/x.u8");
    T_EXPECT(ctx, lam_text_load_fortunes(ctx, t_path("only"), &t), LAM_ERR_IO,
             "only: no text files", "no fortunes files");
    /* a single 1-byte file: too short, naming the directory */
    put_file("only/y", "y");
    T_EXPECT(ctx, lam_text_load_fortunes(ctx, t_path("only"), &t), LAM_ERR_FORMAT,
             "only: 1 byte", "1-byte corpus");
    unlink(t_path("only/y"));
    T_EXPECT(ctx, lam_text_load_fortunes(NULL, NULL, &t), LAM_ERR_ARG, NULL, "NULL ctx");
    T_EXPECT(ctx, lam_text_load_fortunes(ctx, NULL, NULL), LAM_ERR_ARG, "NULL", "NULL out");
    T_CHECK(t == NULL, "failed fortunes loads left *out alone");
    fortunes_cleanup();
}

int main(void)
{
    t_alloc a;
    lam_ctx *ctx = t_ctx_counting(&a);
    printf("fixtures in %s\n", t_tmpdir());
    test_vocab(ctx);
    test_set_vocab(ctx);
    test_split(ctx);
    test_batches_count();
    test_batch_content(ctx);
    test_bad_files(ctx);
    test_fortunes_dir(ctx);
    T_CHECK(a.live == 1, "only the context is live at the end (%lld)", (long long)a.live);
    lam_ctx_destroy(ctx);
    t_tmp_cleanup();
    return t_exit("data/text");
}

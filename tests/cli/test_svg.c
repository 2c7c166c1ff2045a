/* cli/svg.c: charts are well-formed XML (crude checker below), text is escaped, NaN and
 * infinities never reach the file, NaN points break lines, degenerate data (one point, all
 * equal, no points, no panels) draws, and the atomic replacement leaves no temporary file and
 * never damages the old file on failure.
 *
 * Set LAMINA_SVG_KEEP=1 to keep the temporary directory (its path is printed) and look at
 * the sample charts in a browser. */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "svg.h"

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf != NULL && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf != NULL) {
        buf[n] = '\0';
    }
    return buf;
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(s, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

/* Crude XML well-formedness: a prolog or <svg> first, exactly one <svg> element, every start
 * tag closed in order, quoted attributes, only known entities, no raw '<' or '>' in text, no
 * control bytes or invalid UTF-8 lead bytes, no "nan"/"inf" anywhere. Returns 1 if ok. */
static int check_xml(const char *what, const char *s)
{
    if (!T_CHECK(s != NULL, "%s: file not readable", what)) {
        return 0;
    }
    int ok = T_CHECK(strncmp(s, "<?xml", 5) == 0 || strncmp(s, "<svg", 4) == 0,
                     "%s: does not start with <?xml or <svg", what);
    ok &= T_CHECK(count(s, "<svg") == 1 && count(s, "</svg>") == 1, "%s: <svg> count", what);
    ok &= T_CHECK(strstr(s, "xmlns=\"http://www.w3.org/2000/svg\"") != NULL, "%s: xmlns", what);
    char stack[64][32];
    int depth = 0, roots = 0;
    for (const char *p = s; *p != '\0' && ok; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 && c != '\n' && c != '\t') {
            ok = T_CHECK(0, "%s: control byte %u at %ld", what, c, (long)(p - s));
        } else if (c == 0xFF || c == 0xFE || c == 0xC0 || c == 0xC1) {
            ok = T_CHECK(0, "%s: invalid UTF-8 byte at %ld", what, (long)(p - s));
        } else if (c == '&') {
            const char *ents[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#"};
            int known = 0;
            for (int i = 0; i < 6; i++) {
                known |= strncmp(p, ents[i], strlen(ents[i])) == 0;
            }
            ok = T_CHECK(known, "%s: bad entity at %ld: %.10s", what, (long)(p - s), p);
        } else if (c == '>') {
            ok = T_CHECK(0, "%s: raw '>' in text at %ld", what, (long)(p - s));
        } else if (c == '<' && p[1] == '?') {
            p = strstr(p, "?>");
            ok = T_CHECK(p != NULL, "%s: unterminated <?", what);
            p = p != NULL ? p + 1 : s;
        } else if (c == '<' && p[1] == '/') {
            size_t n = strcspn(p + 2, ">");
            ok = T_CHECK(depth > 0 && strlen(stack[depth - 1]) == n &&
                             strncmp(stack[depth - 1], p + 2, n) == 0,
                         "%s: mismatched end tag at %ld: %.20s", what, (long)(p - s), p);
            depth -= depth > 0;
            p += 2 + n;
        } else if (c == '<') {
            size_t n = strcspn(p + 1, " />\n");
            int quotes = 0;
            const char *q = p + 1;
            int lt = 0;
            while (*q != '\0' && (*q != '>' || quotes % 2 != 0)) {
                quotes += *q == '"';
                lt |= *q == '<';
                q++;
            }
            ok = T_CHECK(*q == '>' && quotes % 2 == 0 && !lt, "%s: bad tag at %ld: %.30s", what,
                         (long)(p - s), p);
            if (ok && q[-1] != '/') {
                ok = T_CHECK(depth < 64 && n < 32, "%s: too deep", what);
                if (ok) {
                    memcpy(stack[depth], p + 1, n);
                    stack[depth++][n] = '\0';
                    roots += depth == 1;
                }
            }
            p = *q != '\0' ? q : p;
        }
    }
    ok &= T_CHECK(depth == 0 && roots == 1, "%s: %d unclosed elements, %d roots", what, depth,
                  roots);
    char *low = strdup(s);
    for (char *p = low; *p != '\0'; p++) {
        *p = (char)tolower((unsigned char)*p);
    }
    ok &= T_CHECK(strstr(low, "nan") == NULL && strstr(low, "inf") == NULL,
                  "%s: \"nan\" or \"inf\" in the output", what);
    free(low);
    return ok;
}

static char dir[64];

static const char *in_dir(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
    return buf;
}

/* Number of directory entries whose name contains needle ("" counts all but . and ..). */
static int dir_entries(const char *path, const char *needle)
{
    DIR *d = opendir(path);
    int n = 0;
    for (struct dirent *e = d != NULL ? readdir(d) : NULL; e != NULL; e = readdir(d)) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
             strstr(e->d_name, needle) != NULL;
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

static void test_lines(void)
{
    const double nan = NAN, inf = INFINITY;
    const double x5[] = {1, 2, 3, 4, 5};
    const double train[] = {2.3, 1.1, nan, 0.4, 0.2};
    const double val[] = {2.5, 1.3, 0.9, 0.0, -1.0}; /* <= 0 are gaps on the log axis */
    const double flat[] = {0.5, 0.5, 0.5, 0.5, 0.5};
    const double one_x[] = {3}, one_y[] = {0.75};
    const double wild[] = {inf, -inf, 0.9, nan, 1e301};
    svg_series loss[] = {{"train <a&b>", x5, train, 5}, {"val \"q\" 'x'", x5, val, 5}};
    svg_series acc[] = {{"flat", x5, flat, 5}, {"single", one_x, one_y, 1},
                        {"empty", NULL, NULL, 0}, {"wild", x5, wild, 5},
                        {"bad \xff\xfe utf8 \xc3\x28", x5, flat, 5}};
    svg_panel panels[] = {{"loss", "epoch", "loss (log)", loss, 2, 1},
                          {"accuracy & more", "epoch", "accuracy", acc, 5, 0}};
    char path[128];
    in_dir(path, sizeof path, "lines.svg");
    T_CHECK(svg_write_lines(path, "Run <1> & \"2\"", panels, 2) == 0, "write lines: %s",
            strerror(errno));
    char *s = read_all(path);
    if (check_xml("lines", s)) {
        T_CHECK(strstr(s, "train &lt;a&amp;b&gt;") != NULL, "escaped label 1");
        T_CHECK(strstr(s, "val &quot;q&quot; &apos;x&apos;") != NULL, "escaped label 2");
        T_CHECK(strstr(s, "Run &lt;1&gt; &amp; &quot;2&quot;") != NULL, "escaped title");
        T_CHECK(strstr(s, "accuracy &amp; more") != NULL, "escaped panel title");
        T_CHECK(strstr(s, "bad ?? utf8 ?(") != NULL, "invalid UTF-8 replaced");
        T_CHECK(strstr(s, "stroke-dasharray") == NULL, "no dashes in line charts");
    }
    free(s);

    /* NaN in the middle: two polylines; NaN at the ends: one; all NaN: none */
    const double gap[] = {1, 2, nan, 3, 4}, ends[] = {nan, 1, 2, 3, nan};
    const double none[] = {nan, nan, nan, nan, nan};
    const double lone[] = {1, nan, 2, nan, 3};
    struct {
        const double *y;
        int polylines;
    } cases[] = {{gap, 2}, {ends, 1}, {none, 0}, {lone, 0}, {flat, 1}};
    for (int i = 0; i < 5; i++) {
        svg_series ser = {"s", x5, cases[i].y, 5};
        svg_panel p = {"gaps", "x", "y", &ser, 1, i == 4};
        T_CHECK(svg_write_lines(path, NULL, &p, 1) == 0, "write gaps %d", i);
        s = read_all(path);
        if (check_xml("gaps", s)) {
            T_CHECK(count(s, "<polyline") == cases[i].polylines, "case %d: %d polylines, want %d",
                    i, count(s, "<polyline"), cases[i].polylines);
        }
        free(s);
    }
    T_CHECK(svg_write_lines(path, "", &(svg_panel){"lone", "x", "y", &(svg_series){"s", x5,
                                lone, 5}, 1, 0}, 1) == 0, "lone points");
    s = read_all(path);
    T_CHECK(s != NULL && count(s, "<circle") == 3 + 1, "lone points get markers (+1 legend)");
    free(s);

    /* extreme magnitudes, negative values, many points, many series: still clean */
    enum { N = 300 };
    static double xs[N], big[N], tiny[N], neg[N];
    for (int i = 0; i < N; i++) {
        xs[i] = 1e7 + i * 1e5;
        big[i] = 1e20 * (1 + i);
        tiny[i] = 1e-9 * (1 + i);
        neg[i] = -50 + i * 1e-3;
    }
    svg_series many[10];
    for (int i = 0; i < 10; i++) {
        many[i] = (svg_series){"a rather long series label that will wrap", xs, neg, N};
    }
    svg_series sb = {"big", xs, big, N}, st = {"tiny", xs, tiny, N};
    svg_panel ext[] = {{"big", "step", "loss", &sb, 1, 0}, {"tiny", "step", "loss", &st, 1, 1},
                       {"tiny linear", "step", "loss", &st, 1, 0}, {"many", "x", "y", many, 10,
                       0}, {"nothing", "x", "y", NULL, 0, 1}};
    in_dir(path, sizeof path, "extremes.svg");
    T_CHECK(svg_write_lines(path, "extremes", ext, 5) == 0, "write extremes");
    s = read_all(path);
    if (check_xml("extremes", s)) {
        T_CHECK(strstr(s, "e22") != NULL && strstr(s, "e-9") != NULL, "scientific labels");
    }
    free(s);

    in_dir(path, sizeof path, "no_panels.svg");
    T_CHECK(svg_write_lines(path, "no panels", NULL, 0) == 0, "write no panels");
    s = read_all(path);
    check_xml("no panels", s);
    free(s);
}

static void test_bars(void)
{
    svg_bar bars[] = {{"conv <3x3>", 12.34}, {"gemm & co", 0.5}, {"broken", NAN},
                      {"unbounded", INFINITY}, {"neg", -2}, {"big", 1234567}};
    char path[128];
    in_dir(path, sizeof path, "bars.svg");
    T_CHECK(svg_write_bars(path, "speedup <vs naive>", "speedup (x)", bars, 6, 1.0) == 0,
            "write bars");
    char *s = read_all(path);
    if (check_xml("bars", s)) {
        T_CHECK(strstr(s, "conv &lt;3x3&gt;") != NULL && strstr(s, "gemm &amp; co") != NULL,
                "escaped categories");
        T_CHECK(strstr(s, ">12.3x<") != NULL, "value text 12.3x");
        T_CHECK(strstr(s, ">0.500x<") != NULL, "value text 0.500x");
        T_CHECK(strstr(s, ">1.00x<") != NULL, "reference label");
        T_CHECK(count(s, "stroke-dasharray") == 1, "one dashed reference line");
        T_CHECK(count(s, "n/a") == 2, "NaN and inf bars marked n/a");
    }
    free(s);
    T_CHECK(svg_write_bars(path, NULL, "time (ms)", bars, 1, 0) == 0, "write bars, no ref");
    s = read_all(path);
    if (check_xml("bars no ref", s)) {
        T_CHECK(strstr(s, ">12.3 ms<") != NULL, "unit with a space");
        T_CHECK(strstr(s, "stroke-dasharray") == NULL, "no reference line");
    }
    free(s);
    T_CHECK(svg_write_bars(path, "empty", NULL, NULL, 0, 1.0) == 0, "write no bars");
    s = read_all(path);
    check_xml("no bars", s);
    free(s);
}

static void test_atomic(void)
{
    char path[128], sub[128];
    svg_bar bar = {"a", 2};
    int before = dir_entries(dir, "");

    /* a directory that does not exist: -1/ENOENT, nothing created anywhere */
    in_dir(path, sizeof path, "missing/out.svg");
    errno = 0;
    T_CHECK(svg_write_bars(path, "t", "x", &bar, 1, 0) == -1 && errno == ENOENT,
            "missing directory: errno %d", errno);
    T_CHECK(dir_entries(dir, "") == before, "nothing left by the failed write");

    /* an existing file is replaced */
    in_dir(path, sizeof path, "old.svg");
    FILE *f = fopen(path, "w");
    T_CHECK(f != NULL && fputs("OLD", f) >= 0 && fclose(f) == 0, "write old file");
    T_CHECK(svg_write_bars(path, "t", "x", &bar, 1, 0) == 0, "replace: %s", strerror(errno));
    char *s = read_all(path);
    T_CHECK(s != NULL && strncmp(s, "<?xml", 5) == 0, "old file replaced");
    free(s);

    /* the rename fails (target is a non-empty directory): the directory survives, the
     * temporary file is removed, errno tells why */
    in_dir(sub, sizeof sub, "isdir");
    T_CHECK(mkdir(sub, 0700) == 0, "mkdir");
    in_dir(path, sizeof path, "isdir/keep");
    f = fopen(path, "w");
    T_CHECK(f != NULL && fclose(f) == 0, "file inside the directory");
    errno = 0;
    T_CHECK(svg_write_lines(sub, "t", NULL, 0) == -1 && errno != 0, "rename onto a directory");
    struct stat st;
    T_CHECK(stat(path, &st) == 0, "the directory and its file are untouched");
    T_CHECK(dir_entries(dir, ".tmp.") == 0, "no temporary file left");

    /* bad arguments: EINVAL before any file is created */
    in_dir(path, sizeof path, "einval.svg");
    svg_series bad = {"b", NULL, NULL, 3};
    svg_panel p = {"p", "x", "y", &bad, 1, 0};
    errno = 0;
    T_CHECK(svg_write_lines(path, "t", &p, 1) == -1 && errno == EINVAL, "NULL data: EINVAL");
    errno = 0;
    T_CHECK(svg_write_bars(NULL, "t", "x", &bar, 1, 0) == -1 && errno == EINVAL, "NULL path");
    T_CHECK(access(path, F_OK) != 0 && dir_entries(dir, ".tmp.") == 0, "no file for EINVAL");
}

/* Realistic charts to look at (LAMINA_SVG_KEEP=1). */
static void write_samples(void)
{
    enum { E = 20 };
    double ep[E], tl[E], vl[E], ta[E], va[E];
    for (int i = 0; i < E; i++) {
        ep[i] = i + 1;
        tl[i] = 2.3 * exp(-0.25 * i) + 0.02;
        vl[i] = 2.3 * exp(-0.22 * i) + 0.08 + 0.002 * i * i;
        ta[i] = 1 - 0.9 * exp(-0.3 * i);
        va[i] = 1 - 0.9 * exp(-0.27 * i) - 0.02;
    }
    vl[7] = NAN;
    svg_series loss[] = {{"train", ep, tl, E}, {"validation", ep, vl, E}};
    svg_series acc[] = {{"train", ep, ta, E}, {"validation", ep, va, E}};
    svg_panel panels[] = {{"Loss", "epoch", "cross-entropy", loss, 2, 1},
                          {"Accuracy", "epoch", "accuracy", acc, 2, 0}};
    char path[128];
    T_CHECK(svg_write_lines(in_dir(path, sizeof path, "sample_curves.svg"),
                            "lenet5 on MNIST <demo>", panels, 2) == 0, "sample curves");
    svg_bar bars[] = {{"conv2d 3x3 forward", 12.34}, {"conv2d backward", 7.8},
                      {"linear 784x128", 3.05}, {"max pool", 1.6}, {"softmax", 0.82},
                      {"batch norm", 2.2}};
    T_CHECK(svg_write_bars(in_dir(path, sizeof path, "sample_bars.svg"),
                           "Speedup over the naive kernels (8 threads)", "speedup (x)", bars, 6,
                           1.0) == 0, "sample bars");
    double th[] = {1, 2, 4, 8, 16}, sp[] = {1, 1.9, 3.6, 6.4, 9.5}, ideal[] = {1, 2, 4, 8, 16};
    svg_series sc[] = {{"measured", th, sp, 5}, {"ideal", th, ideal, 5}};
    svg_panel scp = {"Scaling", "threads", "speedup", sc, 2, 0};
    T_CHECK(svg_write_lines(in_dir(path, sizeof path, "sample_scaling.svg"), "conv2 scaling",
                            &scp, 1) == 0, "sample scaling");
}

static void remove_dir(const char *path)
{
    DIR *d = opendir(path);
    for (struct dirent *e = d != NULL ? readdir(d) : NULL; e != NULL; e = readdir(d)) {
        char sub[512];
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode)) {
            remove_dir(sub);
        } else {
            unlink(sub);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    rmdir(path);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/lam_svg_XXXXXX", tmp != NULL && strlen(tmp) < 40 ? tmp
                                                                                   : "/tmp");
    if (mkdtemp(dir) == NULL) {
        printf("mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    test_lines();
    test_bars();
    test_atomic();
    write_samples();
    const char *keep = getenv("LAMINA_SVG_KEEP");
    if (keep != NULL && keep[0] == '1') {
        printf("charts kept in %s\n", dir);
    } else {
        remove_dir(dir);
    }
    return t_exit("svg");
}

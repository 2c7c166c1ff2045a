/* CSV files of numbers: one sample per row, feature columns and target columns.
 *
 * The whole file is read into one buffer (its size is known and checked first), then
 * scanned twice: once to count rows, once to parse into the final arrays, so the arrays are
 * allocated once at their exact size.
 *
 * Numbers: the cell is checked against a plain decimal grammar
 *   [+-] (digits [. digits] | . digits) [(e|E) [+-] digits]
 * and only then converted with strtof_l/strtod_l under a "C" locale object made for this
 * call, so '.' is the decimal point whatever the process locale is (a German locale makes
 * plain strtod read "1.5" as 1), nothing global is touched, and hex floats, "inf" and "nan"
 * never slip through strtod's wider grammar. */
#define _GNU_SOURCE /* strtod_l, strtof_l */
#include "data_internal.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cell {
    const char *s; /* content, without quotes and padding */
    int64_t len;
    int quoted;
    int64_t col;   /* 1-based byte column of the cell in its line, for messages */
} cell;

typedef struct csv {
    lam_ctx *ctx;
    const char *path;
    const char *p, *end; /* unread part of the buffer */
    int64_t lineno;      /* of the line last returned */
    char delim;
    locale_t loc;
} csv;

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_pad(char c, char delim)
{
    return (c == ' ' || c == '\t') && c != delim;
}

static int next_line(csv *f, const char **ls, const char **le)
{
    if (f->p >= f->end) {
        return 0;
    }
    const char *nl = memchr(f->p, '\n', (size_t)(f->end - f->p));
    *ls = f->p;
    *le = nl != NULL ? nl : f->end;
    f->p = nl != NULL ? nl + 1 : f->end;
    f->lineno++;
    if (*le > *ls && (*le)[-1] == '\r') {
        (*le)--;
    }
    return 1;
}

static int is_blank(const char *ls, const char *le)
{
    for (const char *q = ls; q < le; q++) {
        if (*q != ' ' && *q != '\t') {
            return 0;
        }
    }
    return 1;
}

/* Cut the next cell at *pp in [ls, le). Returns 1, 0 for an unterminated quote, -1 for text
 * after a closing quote. *more tells whether a delimiter followed. */
static int next_cell(const char **pp, const char *ls, const char *le, char delim, cell *c,
                     int *more)
{
    const char *p = *pp;
    while (p < le && is_pad(*p, delim)) {
        p++;
    }
    c->col = (int64_t)(p - ls) + 1;
    if (p < le && *p == '"') {
        const char *s = ++p;
        for (;;) {
            if (p >= le) {
                return 0;
            }
            if (*p == '"') {
                if (p + 1 < le && p[1] == '"') {
                    p += 2; /* "" is an escaped quote */
                    continue;
                }
                break;
            }
            p++;
        }
        c->s = s;
        c->len = (int64_t)(p - s);
        c->quoted = 1;
        p++;
        while (p < le && is_pad(*p, delim)) {
            p++;
        }
        if (p < le && *p != delim) {
            c->col = (int64_t)(p - ls) + 1;
            return -1;
        }
    } else {
        const char *s = p;
        while (p < le && *p != delim) {
            p++;
        }
        const char *e = p;
        while (e > s && is_pad(e[-1], delim)) {
            e--;
        }
        c->s = s;
        c->len = (int64_t)(e - s);
        c->quoted = 0;
    }
    *more = p < le;
    *pp = p < le ? p + 1 : p;
    return 1;
}

/* Compare a cell's content (with "" unescaped when quoted) with name[0..n). */
static int cell_is(const cell *c, const char *name, size_t n)
{
    size_t k = 0;
    for (int64_t i = 0; i < c->len; i++, k++) {
        if (k >= n || c->s[i] != name[k]) {
            return 0;
        }
        if (c->quoted && c->s[i] == '"') {
            i++; /* skip the second quote of "" */
        }
    }
    return k == n;
}

static int word_is(const char *s, int64_t n, const char *w)
{
    if ((int64_t)strlen(w) != n) {
        return 0;
    }
    for (int64_t i = 0; i < n; i++) {
        char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
        if (c != w[i]) {
            return 0;
        }
    }
    return 1;
}

enum { NUM_OK, NUM_EMPTY, NUM_BAD, NUM_NAN, NUM_INF, NUM_RANGE };

static int num_syntax(const char *s, int64_t n)
{
    int64_t i = 0, digits = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        i++;
    }
    for (; i < n && is_digit(s[i]); i++) {
        digits++;
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && is_digit(s[i]); i++) {
            digits++;
        }
    }
    if (digits == 0) {
        return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        int64_t ed = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) {
            i++;
        }
        for (; i < n && is_digit(s[i]); i++) {
            ed++;
        }
        if (ed == 0) {
            return 0;
        }
    }
    return i == n;
}

/* Classify and convert a cell. The buffer is NUL-terminated and a cell is followed by a
 * quote, delimiter, pad, line end or NUL, none of which continues a decimal number, so
 * strto*_l stop exactly at the cell's end (checked). d is set only when want_d. */
static int parse_num(const csv *f, const cell *c, float *x, double *d, int want_d)
{
    if (c->len == 0) {
        return NUM_EMPTY;
    }
    if (!num_syntax(c->s, c->len)) {
        const char *s = c->s;
        int64_t n = c->len;
        if (s[0] == '+' || s[0] == '-') {
            s++;
            n--;
        }
        if (word_is(s, n, "nan")) {
            return NUM_NAN;
        }
        if (word_is(s, n, "inf") || word_is(s, n, "infinity")) {
            return NUM_INF;
        }
        return NUM_BAD;
    }
    char *endp = NULL;
    *x = strtof_l(c->s, &endp, f->loc);
    if (endp != c->s + c->len) {
        return NUM_BAD;
    }
    if (!isfinite(*x)) {
        return NUM_RANGE;
    }
    if (want_d) {
        *d = strtod_l(c->s, NULL, f->loc);
    }
    return NUM_OK;
}

static lam_status cell_error(const csv *f, const cell *c, int kind)
{
    const char *why = kind == NUM_EMPTY ? "is empty, not a number"
                      : kind == NUM_NAN ? "is NaN"
                      : kind == NUM_INF ? "is infinite"
                      : kind == NUM_RANGE ? "is beyond float32 range"
                                          : "is not a number";
    if (kind == NUM_EMPTY) {
        return lam__error(f->ctx, LAM_ERR_FORMAT, "%s:%lld:%lld: cell %s", f->path,
                          (long long)f->lineno, (long long)c->col, why);
    }
    return lam__error(f->ctx, LAM_ERR_FORMAT, "%s:%lld:%lld: cell \"%.*s\" %s", f->path,
                      (long long)f->lineno, (long long)c->col,
                      (int)(c->len < 24 ? c->len : 24), c->s, why);
}

static lam_status quote_error(const csv *f, const cell *c, int rc)
{
    return lam__error(f->ctx, LAM_ERR_FORMAT, "%s:%lld:%lld: %s", f->path, (long long)f->lineno,
                      (long long)c->col,
                      rc == 0 ? "unterminated quote (cells cannot span lines)"
                              : "text after a closing quote");
}

/* Most frequent of ',', '\t', ';' outside quotes in the line; ',' on a tie or none. */
static char guess_delim(const char *ls, const char *le)
{
    static const char cand[3] = {',', '\t', ';'};
    int64_t count[3] = {0, 0, 0};
    int inq = 0;
    for (const char *q = ls; q < le; q++) {
        inq ^= *q == '"';
        for (int k = 0; k < 3 && !inq; k++) {
            count[k] += *q == cand[k];
        }
    }
    int best = 0;
    for (int k = 1; k < 3; k++) {
        best = count[k] > count[best] ? k : best;
    }
    return cand[best];
}

/* Resolve opts->target into colmap: colmap[j] = feature index >= 0, or -1 - k for the k-th
 * target. Returns the number of targets in *nt. */
static lam_status map_columns(const csv *f, const char *spec, const char *hs, const char *he,
                              int64_t ncols, int64_t *colmap, int64_t *nt)
{
    for (int64_t j = 0; j < ncols; j++) {
        colmap[j] = 0;
    }
    *nt = 0;
    if (spec == NULL) {
        colmap[ncols - 1] = -1;
        *nt = 1;
    }
    for (const char *s = spec; s != NULL && *s != '\0';) {
        const char *comma = strchr(s, ',');
        const char *e = comma != NULL ? comma : s + strlen(s);
        const char *a = s, *b = e;
        while (a < b && (*a == ' ' || *a == '\t')) {
            a++;
        }
        while (b > a && (b[-1] == ' ' || b[-1] == '\t')) {
            b--;
        }
        int64_t col = -1;
        if (hs != NULL) {
            const char *q = hs;
            int more = 1;
            for (int64_t j = 0; more && col < 0; j++) {
                cell c;
                if (next_cell(&q, hs, he, f->delim, &c, &more) == 1 &&
                    cell_is(&c, a, (size_t)(b - a))) {
                    col = j;
                }
            }
        }
        if (col < 0) {
            const char *q = a;
            int neg = q < b && *q == '-';
            q += neg;
            int64_t v = 0;
            int ok = q < b;
            for (; q < b && ok; q++) {
                ok = is_digit(*q) && v < ncols + 1;
                v = v * 10 + (*q - '0');
            }
            if (!ok) {
                return lam__error(f->ctx, LAM_ERR_ARG, "%s: no column named \"%.*s\"", f->path,
                                  (int)(b - a), a);
            }
            col = neg ? ncols - v : v;
            if (col < 0 || col >= ncols) {
                return lam__error(f->ctx, LAM_ERR_ARG,
                                  "%s: target column %.*s is outside the %lld columns", f->path,
                                  (int)(b - a), a, (long long)ncols);
            }
        }
        if (colmap[col] != 0) {
            return lam__error(f->ctx, LAM_ERR_ARG, "%s: target column %lld is given twice",
                              f->path, (long long)col);
        }
        colmap[col] = -1 - *nt;
        (*nt)++;
        s = comma != NULL ? comma + 1 : e;
    }
    if (*nt == 0 || *nt >= ncols) {
        return lam__error(f->ctx, LAM_ERR_ARG,
                          "%s: targets \"%s\" leave %lld target and %lld feature columns",
                          f->path, spec != NULL ? spec : "(last column)", (long long)*nt,
                          (long long)(ncols - *nt));
    }
    int64_t k = 0;
    for (int64_t j = 0; j < ncols; j++) {
        if (colmap[j] == 0) {
            colmap[j] = k++;
        }
    }
    return LAM_OK;
}

/* The first target cell that cannot be a class label, for messages. */
typedef struct label_check {
    int ok;          /* every target so far is an integer in [0, limit) */
    int auto_ok;     /* ... and below LAM_DATA_AUTO_MAX_CLASS */
    lam_status st;   /* status of the first failure */
    char msg[160];
} label_check;

static void check_label(const csv *f, const cell *c, double d, int64_t limit, label_check *lc)
{
    const char *why = NULL;
    lam_status st = LAM_ERR_RANGE;
    if (d != floor(d)) {
        why = "is not an integer";
        st = LAM_ERR_FORMAT;
    } else if (d < 0) {
        why = "is negative";
    } else if (d >= (double)limit) {
        why = "is too large";
    }
    if (why == NULL) {
        lc->auto_ok &= d < LAM_DATA_AUTO_MAX_CLASS;
        return;
    }
    lc->auto_ok = 0;
    if (lc->ok) {
        lc->ok = 0;
        lc->st = st;
        snprintf(lc->msg, sizeof lc->msg, "%s:%lld:%lld: label %.*s %s (classes 0..%lld)",
                 f->path, (long long)f->lineno, (long long)c->col,
                 (int)(c->len < 24 ? c->len : 24), c->s, why, (long long)limit - 1);
    }
}

/* Parse one data row into x (F floats) and t (nt floats). */
static lam_status parse_row(const csv *f, const char *ls, const char *le, int64_t ncols,
                            const int64_t *colmap, float *x, float *t, int64_t limit,
                            label_check *lc)
{
    const char *q = ls;
    int more = 1;
    int64_t j = 0;
    while (more) {
        cell c;
        int rc = next_cell(&q, ls, le, f->delim, &c, &more);
        if (rc != 1) {
            return quote_error(f, &c, rc);
        }
        if (j >= ncols) {
            return lam__error(f->ctx, LAM_ERR_FORMAT,
                              "%s:%lld:%lld: row has more than the %lld cells of the first row",
                              f->path, (long long)f->lineno, (long long)c.col, (long long)ncols);
        }
        float v = 0.0f;
        double d = 0.0;
        const int is_target = colmap[j] < 0;
        int kind = parse_num(f, &c, &v, &d, is_target);
        if (kind != NUM_OK) {
            return cell_error(f, &c, kind);
        }
        if (is_target) {
            t[-1 - colmap[j]] = v;
            if (lc != NULL) {
                check_label(f, &c, d, limit, lc);
            }
        } else {
            x[colmap[j]] = v;
        }
        j++;
    }
    if (j != ncols) {
        return lam__error(f->ctx, LAM_ERR_FORMAT, "%s:%lld:%lld: row has %lld cells, expected %lld",
                          f->path, (long long)f->lineno, (long long)(le - ls) + 1, (long long)j,
                          (long long)ncols);
    }
    return LAM_OK;
}

/* Parse the buffer [text, end) (NUL at end) into a dataset. */
static lam_status parse_csv(csv *f, const lam_data_options *o, lam_dataset **out)
{
    const char *ls = NULL, *le = NULL;
    do {
        if (!next_line(f, &ls, &le)) {
            return lam__error(f->ctx, LAM_ERR_FORMAT, "%s: empty file", f->path);
        }
    } while (is_blank(ls, le));
    const int64_t first_line = f->lineno;
    f->delim = o->delimiter != 0 ? o->delimiter : guess_delim(ls, le);
    int64_t ncols = 0;
    int header = o->header;
    for (const char *q = ls; ;) {
        cell c;
        int more = 0;
        int rc = next_cell(&q, ls, le, f->delim, &c, &more);
        if (rc != 1) {
            return quote_error(f, &c, rc);
        }
        float v = 0.0f;
        if (header < 0 && parse_num(f, &c, &v, NULL, 0) == NUM_BAD) {
            header = 1;
        }
        ncols++;
        if (!more) {
            break;
        }
    }
    header = header == 1;
    const char *hs = header ? ls : NULL, *he = le;
    /* count data rows without parsing them */
    const char *data_p = header ? f->p : ls;
    const int64_t data_line = header ? f->lineno : first_line - 1;
    int64_t rows = header ? 0 : 1;
    const char *a = NULL, *b = NULL;
    while (next_line(f, &a, &b)) {
        rows += !is_blank(a, b);
    }
    if (rows == 0) {
        return lam__error(f->ctx, LAM_ERR_FORMAT, "%s: no data rows", f->path);
    }
    int64_t *colmap = lam__data_alloc(f->ctx, ncols * (int64_t)sizeof(int64_t), f->path);
    if (colmap == NULL) {
        return LAM_ERR_NOMEM;
    }
    int64_t nt = 0;
    lam_data_task task = o->task;
    lam_status st = map_columns(f, o->target, hs, he, ncols, colmap, &nt);
    if (st == LAM_OK && task == LAM_DATA_CLASSIFY && nt != 1) {
        st = lam__error(f->ctx, LAM_ERR_ARG, "%s: classification takes one target column, "
                        "%lld given", f->path, (long long)nt);
    }
    lam_dataset *ds = NULL;
    float *t = NULL;
    int64_t tbytes = 0;
    if (st == LAM_OK && (lam__mul_i64(rows, nt * 4, &tbytes) || tbytes > LAM_DATA_MAX_BYTES)) {
        st = lam__error(f->ctx, LAM_ERR_RANGE, "%s: too many rows", f->path);
    }
    if (st == LAM_OK) {
        const int64_t nf = ncols - nt;
        st = lam__dataset_new(f->ctx, f->path, rows, 1, &nf, &ds);
    }
    if (st == LAM_OK) {
        t = lam__data_alloc(f->ctx, tbytes, f->path);
        st = t != NULL ? LAM_OK : LAM_ERR_NOMEM;
    }
    const int64_t limit = o->n_classes > 0 ? o->n_classes : LAM_DATA_MAX_CLASSES;
    label_check lc = {1, 1, LAM_OK, ""};
    f->p = data_p;
    f->lineno = data_line;
    for (int64_t r = 0; st == LAM_OK && r < rows;) {
        next_line(f, &a, &b);
        if (is_blank(a, b)) {
            continue;
        }
        st = parse_row(f, a, b, ncols, colmap, ds->x + r * ds->sample_numel, t + r * nt, limit,
                       nt == 1 ? &lc : NULL);
        r++;
    }
    lam_free(f->ctx, colmap);
    if (st == LAM_OK && task == LAM_DATA_AUTO) {
        task = nt == 1 && lc.auto_ok ? LAM_DATA_CLASSIFY : LAM_DATA_REGRESS;
    }
    if (st == LAM_OK && task == LAM_DATA_CLASSIFY && !lc.ok) {
        st = lam__error(f->ctx, lc.st, "%s", lc.msg);
    }
    if (st == LAM_OK) {
        st = lam__dataset_attach_y(ds, f->path, t, nt, task, o->n_classes);
        t = NULL; /* attach took it */
    }
    lam_free(f->ctx, t);
    if (st != LAM_OK) {
        lam_dataset_destroy(ds);
        return st;
    }
    *out = ds;
    return LAM_OK;
}

lam_status lam_dataset_load_csv(lam_ctx *ctx, const char *path, const lam_data_options *opts,
                                lam_dataset **out)
{
    if (ctx == NULL || path == NULL || out == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "lam_dataset_load_csv: NULL argument");
    }
    lam_data_options tmp;
    const lam_data_options *o = lam__data_opts(opts, &tmp);
    const char d = o->delimiter;
    if (d != 0 && (is_digit(d) || strchr(".+-eE\"\r\n", d) != NULL)) {
        return lam__error(ctx, LAM_ERR_ARG, "%s: delimiter '%c' cannot separate numbers", path,
                          d);
    }
    lam__rd r;
    lam_status st = lam__rd_open(ctx, path, &r);
    if (st != LAM_OK) {
        return st;
    }
    int64_t size = 0;
    st = lam__rd_remaining(&r, &size);
    if (st == LAM_OK && size > LAM_DATA_MAX_BYTES) {
        st = lam__error(ctx, LAM_ERR_RANGE, "%s: file is larger than %lld bytes", path,
                        (long long)LAM_DATA_MAX_BYTES);
    }
    if (st == LAM_OK && size == 0) {
        st = lam__error(ctx, LAM_ERR_FORMAT, "%s: empty file", path);
    }
    char *buf = NULL;
    if (st == LAM_OK) {
        buf = lam__data_alloc(ctx, size + 1, path);
        st = buf != NULL ? LAM_OK : LAM_ERR_NOMEM;
    }
    if (st == LAM_OK) {
        st = lam__rd_exact(&r, buf, size, "data");
    }
    lam__rd_close(&r);
    /* no pointer arithmetic on a NULL buffer (an empty or unreadable file) */
    csv f = {ctx, path, buf, buf != NULL ? buf + size : NULL, 0, ',', (locale_t)0};
    if (st == LAM_OK) {
        buf[size] = '\0';
        if (size >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
            f.p += 3; /* UTF-8 byte-order mark, as spreadsheet exports write */
        }
        /* glibc returns its static C locale object here without allocating */
        f.loc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
        if (f.loc == (locale_t)0) {
            st = lam__error(ctx, LAM_ERR_NOMEM, "%s: cannot create a C locale object", path);
        }
    }
    if (st == LAM_OK) {
        st = parse_csv(&f, o, out);
    }
    if (f.loc != (locale_t)0) {
        freelocale(f.loc);
    }
    lam_free(ctx, buf);
    return st;
}

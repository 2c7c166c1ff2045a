/* SVG charts for the command-line programs (see svg.h).
 *
 * The chart is written straight to `<path>.tmp.<pid>`, which is flushed, fsynced and renamed
 * onto path: a browser reloading the file never sees half a chart, and a failure leaves the
 * previous file untouched.
 *
 * Numbers never go through %f or %g: coordinates and labels are rounded to scaled integers and
 * printed with %llu, so the output keeps its '.' even if a caller someday runs setlocale().
 * Text widths are estimated (CHAR_W per character of 12 px sans-serif); a plain C program has
 * no font metrics, so margins and legend wrapping err on the wide side.
 *
 * Conventions the header leaves open:
 * - x or y values that are NaN, infinite or beyond +-1e300 are gaps (they break the line);
 *   so are y <= 0 on a log axis. A point with no valid neighbour still gets a marker.
 * - Bar value texts take their unit from trailing parentheses in value_label:
 *   "speedup (x)" prints "12.3x", "time (ms)" prints "4.20 ms". With ref > 0, bars below ref
 *   are drawn in a second colour (slower than the baseline). */
#define _POSIX_C_SOURCE 200809L

#include "svg.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    PANEL_W = 480, PANEL_H = 320, /* one line-chart panel, legend rows come below */
    TITLE_H = 36,                 /* overall title band */
    PAD_TOP = 32, PAD_BOTTOM = 50, PAD_RIGHT = 24,
    LEGEND_ROW = 18,
    BAR_W = 640, BAR_ROW = 26, BAR_RIGHT = 80, /* bar chart: width, row pitch, value text room */
    MAX_TICKS = 48,
    MAX_LABEL = 28 /* category labels are cut to this many characters */
};
#define CHAR_W 7.0    /* estimated advance of one 12 px character */
#define BIG 1e300     /* beyond this, spans of values could overflow to inf */

/* Okabe-Ito: distinguishable with the common colour-vision deficiencies; yellow comes last
 * because it is faint on white. Shapes cycle too, so series stay apart in grey print. */
static const char *const PALETTE[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                      "#CC79A7", "#56B4E9", "#000000", "#F0E442"};
#define N_COLOURS ((int)(sizeof PALETTE / sizeof PALETTE[0]))

typedef struct out {
    FILE *f;
    int err; /* first errno; later writes are skipped so that errno is the cause */
} out;

__attribute__((format(printf, 2, 3))) static void put(out *o, const char *fmt, ...)
{
    if (o->err != 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    errno = 0;
    int r = vfprintf(o->f, fmt, ap);
    va_end(ap);
    if (r < 0) {
        o->err = errno != 0 ? errno : EIO;
    }
}

/* A formatted number, returned by value so several can appear in one put() call. */
typedef struct num {
    char s[40];
} num;

/* v with d (0..15) decimals, built from integers so no locale can change the '.'. */
static num fixed(double v, int d)
{
    num r;
    unsigned long long scale = 1;
    for (int i = 0; i < d; i++) {
        scale *= 10;
    }
    double sv = v * (double)scale;
    if (!(fabs(sv) < 9e15)) { /* callers keep values in range; NaN must not reach the file */
        sv = 0;
    }
    long long q = llround(sv);
    unsigned long long a = q < 0 ? (unsigned long long)-q : (unsigned long long)q;
    const char *sign = q < 0 ? "-" : "";
    if (d == 0) {
        snprintf(r.s, sizeof r.s, "%s%llu", sign, a);
    } else {
        snprintf(r.s, sizeof r.s, "%s%llu.%0*llu", sign, a / scale, d, a % scale);
    }
    return r;
}

/* Drop trailing zeros after the '.', and the '.' itself. */
static num trim(num r)
{
    if (strchr(r.s, '.') != NULL) {
        size_t n = strlen(r.s);
        while (r.s[n - 1] == '0') {
            r.s[--n] = '\0';
        }
        if (r.s[n - 1] == '.') {
            r.s[n - 1] = '\0';
        }
    }
    return r;
}

/* Scientific notation with sig significant digits, e.g. "1.5e-7". */
static num sci(double v, int sig)
{
    if (v == 0 || !isfinite(v)) {
        return fixed(0, 0);
    }
    int e = (int)floor(log10(fabs(v)));
    double m = v / pow(10, e);
    if (fabs(m) * pow(10, sig - 1) + 0.5 >= pow(10, sig)) { /* 9.99 rounds up to 10.0 */
        m /= 10;
        e++;
    }
    num r = trim(fixed(m, sig - 1));
    size_t n = strlen(r.s);
    snprintf(r.s + n, sizeof r.s - n, "e%d", e);
    return r;
}

/* Pixel coordinate, to 0.1 px. */
static num px(double v)
{
    return trim(fixed(v, 1));
}

/* About three significant digits, for values printed next to bars. */
static num sig3(double v)
{
    double a = fabs(v);
    if (a == 0) {
        return fixed(0, 0);
    }
    if (a >= 1e6 || a < 1e-3) {
        return sci(v, 3);
    }
    return fixed(v, a >= 99.95 ? 0 : a >= 9.995 ? 1 : a >= 0.9995 ? 2 : 3);
}

/* Length of the valid UTF-8 sequence at s, or 0. Overlong forms, surrogates and U+FFFE/FFFF
 * are rejected because XML parsers refuse the whole file over them. */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    int n = c < 0x80 ? 1 : c >= 0xC2 && c < 0xE0 ? 2 : (c >> 4) == 0xE ? 3
          : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
    }
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0) ||
        (c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90) ||
        (c == 0xEF && s[1] == 0xBF && s[2] >= 0xBE)) {
        return 0;
    }
    return n;
}

/* Characters (code points, invalid bytes count one each) in s. */
static int text_len(const char *s)
{
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; n++) {
        int k = utf8_len(p);
        p += k > 0 ? k : 1;
    }
    return n;
}

/* s as XML character data, at most maxc characters (an ellipsis marks a cut). Invalid UTF-8
 * and control characters become '?': either would make the file ill-formed. */
static void put_text(out *o, const char *s, int maxc)
{
    if (s == NULL) {
        return;
    }
    int cut = text_len(s) > maxc;
    int keep = cut ? maxc - 1 : maxc;
    const unsigned char *p = (const unsigned char *)s;
    for (int i = 0; i < keep && *p != '\0'; i++) {
        int k = utf8_len(p);
        if (k == 0 || *p < 0x20) {
            put(o, "?");
            p++;
        } else if (k > 1) {
            put(o, "%.*s", k, (const char *)p);
            p += k;
        } else {
            const char *e = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;"
                          : *p == '"' ? "&quot;" : *p == '\'' ? "&apos;" : NULL;
            if (e != NULL) {
                put(o, "%s", e);
            } else {
                put(o, "%c", *p);
            }
            p++;
        }
    }
    if (cut && maxc > 0) {
        put(o, "&#8230;");
    }
}

/* <text> element; anchor is "start", "middle" or "end", extra any further attributes. */
static void put_label(out *o, double x, double y, const char *anchor, const char *extra,
                      const char *s, int maxc)
{
    put(o, "<text x=\"%s\" y=\"%s\" text-anchor=\"%s\"%s>", px(x).s, px(y).s, anchor, extra);
    put_text(o, s, maxc);
    put(o, "</text>\n");
}

static int max_chars(double width)
{
    return width < CHAR_W ? 1 : (int)(width / CHAR_W);
}

static int finite_value(double v)
{
    return isfinite(v) && fabs(v) <= BIG;
}

/* An axis in transformed units (log10 of the value on a log axis); hi > lo always. */
typedef struct axis {
    double lo, hi, step;
    int dec;   /* decimals of linear tick labels */
    int sig;   /* > 0: linear tick labels in scientific notation with this many digits */
    int log;
    int every; /* log: label every k-th decade */
} axis;

/* Nice linear axis over [lo, hi] (lo > hi: no data) with about target intervals of 1, 2 or 5
 * times a power of ten, widened to whole steps. */
static axis lin_axis(double lo, double hi, int integral, int target)
{
    axis a = {0};
    if (!(lo <= hi)) {
        lo = 0;
        hi = 1;
    }
    double mag = fmax(fabs(lo), fabs(hi));
    if (hi - lo <= mag * 1e-9) { /* one point or all equal: invent a span around it */
        double c = 0.5 * lo + 0.5 * hi;
        double pad = c != 0 ? fabs(c) * 0.1 : 1;
        if (integral && pad < 1) {
            pad = 1;
        }
        lo = c - pad;
        hi = c + pad;
    }
    double raw = (hi - lo) / target;
    int e = (int)floor(log10(raw));
    double f = raw / pow(10, e);
    int m = f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10;
    if (m == 10) {
        m = 1;
        e++;
    }
    if (integral && e < 0) { /* epochs 1..3 should not get ticks at 1.5 */
        m = 1;
        e = 0;
    }
    a.step = m * pow(10, e);
    /* the slack keeps 2.0000000001 steps from adding an empty interval */
    a.lo = floor(lo / a.step + 1e-9) * a.step;
    a.hi = ceil(hi / a.step - 1e-9) * a.step;
    a.dec = e < 0 ? -e : 0;
    mag = fmax(fabs(a.lo), fabs(a.hi));
    if (mag >= 1e6 || mag < 1e-4) {
        int s = (int)floor(log10(mag)) - e + 1;
        a.sig = s < 1 ? 1 : s > 6 ? 6 : s;
    }
    return a;
}

/* Log axis over whole decades covering [lo, hi] (positive; lo > hi: no data). */
static axis log_axis(double lo, double hi)
{
    axis a = {0};
    if (!(lo <= hi)) {
        lo = 1;
        hi = 10;
    }
    a.log = 1;
    a.lo = floor(log10(lo) + 1e-9);
    a.hi = ceil(log10(hi) - 1e-9);
    if (a.hi <= a.lo) {
        a.hi = a.lo + 1;
    }
    a.every = ((int)(a.hi - a.lo) + 5) / 6;
    return a;
}

/* Position in [0, 1] along the axis. */
static double frac(const axis *a, double v)
{
    double t = a->log ? log10(v) : v;
    return (t - a->lo) / (a->hi - a->lo);
}

typedef struct ticks {
    int n, maxlen;
    double v[MAX_TICKS]; /* values (not transformed) */
    num lab[MAX_TICKS];
} ticks;

static void add_tick(ticks *t, double v, num lab)
{
    if (t->n < MAX_TICKS) {
        t->v[t->n] = v;
        t->lab[t->n] = lab;
        int len = (int)strlen(lab.s);
        t->maxlen = len > t->maxlen ? len : t->maxlen;
        t->n++;
    }
}

static num log_label(double v, int e)
{
    return e >= -4 && e <= 5 ? fixed(v, e < 0 ? -e : 0) : sci(v, 1);
}

static void make_ticks(const axis *a, ticks *t)
{
    t->n = 0;
    t->maxlen = 0;
    if (a->log) {
        for (int e = (int)a->lo; e <= (int)a->hi; e += a->every) {
            add_tick(t, pow(10, e), log_label(pow(10, e), e));
        }
        if (a->hi - a->lo == 1) { /* one decade: two labels are too few to read values */
            int e = (int)a->lo;
            add_tick(t, 2 * pow(10, e), log_label(2 * pow(10, e), e));
            add_tick(t, 5 * pow(10, e), log_label(5 * pow(10, e), e));
        }
        return;
    }
    long long n = llround((a->hi - a->lo) / a->step);
    for (long long i = 0; i <= n; i++) {
        double v = a->lo + (double)i * a->step;
        if (fabs(v) < a->step * 1e-6) { /* no "-0.0" from rounding */
            v = 0;
        }
        add_tick(t, v, a->sig > 0 ? sci(v, a->sig) : fixed(v, a->dec));
    }
}

/* Bounds of a panel's valid points; returns their count. */
static int data_range(const svg_panel *p, double *xlo, double *xhi, double *ylo, double *yhi,
                      int *integral)
{
    int count = 0;
    *xlo = *ylo = INFINITY;
    *xhi = *yhi = -INFINITY;
    *integral = 1;
    for (int s = 0; s < p->n_series; s++) {
        const svg_series *ser = &p->series[s];
        for (int i = 0; i < ser->n; i++) {
            double x = ser->x[i], y = ser->y[i];
            if (!finite_value(x) || !finite_value(y) || (p->log_y && !(y > 0))) {
                continue;
            }
            count++;
            *xlo = fmin(*xlo, x);
            *xhi = fmax(*xhi, x);
            *ylo = fmin(*ylo, y);
            *yhi = fmax(*yhi, y);
            *integral = *integral && x == floor(x);
        }
    }
    return count;
}

static int valid_point(const svg_panel *p, const svg_series *s, int i)
{
    return finite_value(s->x[i]) && finite_value(s->y[i]) && (!p->log_y || s->y[i] > 0);
}

static void marker(out *o, int shape, const char *colour, double x, double y)
{
    if (shape == 0) {
        put(o, "<circle cx=\"%s\" cy=\"%s\" r=\"3.5\" fill=\"%s\"/>\n", px(x).s, px(y).s,
            colour);
    } else if (shape == 1) {
        put(o, "<rect x=\"%s\" y=\"%s\" width=\"6.5\" height=\"6.5\" fill=\"%s\"/>\n",
            px(x - 3.25).s, px(y - 3.25).s, colour);
    } else if (shape == 2) {
        put(o, "<path d=\"M%s %sL%s %sL%s %sZ\" fill=\"%s\"/>\n", px(x).s, px(y - 4.5).s,
            px(x + 4.5).s, px(y + 3.5).s, px(x - 4.5).s, px(y + 3.5).s, colour);
    } else {
        put(o, "<path d=\"M%s %sL%s %sL%s %sL%s %sZ\" fill=\"%s\"/>\n", px(x).s, px(y - 4.5).s,
            px(x + 4.5).s, px(y).s, px(x).s, px(y + 4.5).s, px(x - 4.5).s, px(y).s, colour);
    }
}

/* Lays out the legend in rows of the given width; draws it when o is not NULL. Returns the
 * number of rows. */
static int legend(out *o, const svg_panel *p, double x, double y, double width)
{
    int rows = p->n_series > 0 ? 1 : 0;
    double cx = 0;
    for (int s = 0; s < p->n_series; s++) {
        const char *label = p->series[s].label != NULL ? p->series[s].label : "";
        int maxc = max_chars(width - 44);
        int len = text_len(label);
        double w = 28 + CHAR_W * (len < maxc ? len : maxc) + 16;
        if (cx > 0 && cx + w > width) {
            rows++;
            cx = 0;
        }
        if (o != NULL) {
            const char *c = PALETTE[s % N_COLOURS];
            double lx = x + cx, ly = y + (rows - 1) * LEGEND_ROW;
            put(o, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"%s\" "
                   "stroke-width=\"2\"/>\n",
                px(lx).s, px(ly - 4).s, px(lx + 22).s, px(ly - 4).s, c);
            marker(o, s % 4, c, lx + 11, ly - 4);
            put_label(o, lx + 28, ly, "start", "", label, maxc);
        }
        cx += w;
    }
    return rows;
}

static void draw_panel(out *o, const svg_panel *p, double ox, double oy)
{
    double xlo, xhi, ylo, yhi;
    int integral;
    int count = data_range(p, &xlo, &xhi, &ylo, &yhi, &integral);
    axis ax = lin_axis(xlo, xhi, integral, 6);
    axis ay = p->log_y ? log_axis(ylo, yhi) : lin_axis(ylo, yhi, 0, 5);
    ticks tx, ty;
    make_ticks(&ax, &tx);
    make_ticks(&ay, &ty);

    /* the y tick labels decide the left margin; the rotated y label sits left of them */
    double left = fmax(56, 32 + CHAR_W * ty.maxlen + 8);
    double x0 = ox + left, x1 = ox + PANEL_W - PAD_RIGHT;
    double y0 = oy + PAD_TOP, y1 = oy + PANEL_H - PAD_BOTTOM;
    double pw = x1 - x0, ph = y1 - y0;

    put(o, "<g stroke=\"#e3e3e3\" stroke-width=\"1\">\n");
    if (ay.log && ay.hi - ay.lo <= 8) { /* minor grid 2..9 while decades are wide enough */
        for (int e = (int)ay.lo; e < (int)ay.hi; e++) {
            for (int m = 2; m <= 9; m++) {
                double y = y1 - ph * frac(&ay, m * pow(10, e));
                put(o, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"#f2f2f2\"/>\n",
                    px(x0).s, px(y).s, px(x1).s, px(y).s);
            }
        }
    }
    for (int i = 0; i < ty.n; i++) {
        double y = y1 - ph * frac(&ay, ty.v[i]);
        put(o, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>\n", px(x0).s, px(y).s,
            px(x1).s, px(y).s);
    }
    for (int i = 0; i < tx.n; i++) {
        double x = x0 + pw * frac(&ax, tx.v[i]);
        put(o, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>\n", px(x).s, px(y0).s,
            px(x).s, px(y1).s);
    }
    put(o, "</g>\n<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"none\" "
           "stroke=\"#555555\"/>\n",
        px(x0).s, px(y0).s, px(pw).s, px(ph).s);

    put(o, "<g font-size=\"11\" fill=\"#333333\">\n");
    for (int i = 0; i < ty.n; i++) {
        double y = y1 - ph * frac(&ay, ty.v[i]);
        put(o, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"#555555\"/>\n",
            px(x0 - 4).s, px(y).s, px(x0).s, px(y).s);
        put_label(o, x0 - 7, y + 4, "end", "", ty.lab[i].s, 40);
    }
    /* thin out x labels that would collide (long scientific labels, many ticks) */
    double spacing = tx.n > 1 ? pw / (tx.n - 1) : pw;
    int skip = (int)ceil((CHAR_W * tx.maxlen + 10) / spacing);
    for (int i = 0; i < tx.n; i++) {
        double x = x0 + pw * frac(&ax, tx.v[i]);
        put(o, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"#555555\"/>\n",
            px(x).s, px(y1).s, px(x).s, px(y1 + 4).s);
        if (i % skip == 0) {
            put_label(o, x, y1 + 17, "middle", "", tx.lab[i].s, 40);
        }
    }
    put(o, "</g>\n");
    put_label(o, (x0 + x1) / 2, y1 + 38, "middle", "", p->x_label, max_chars(pw));
    put(o, "<text transform=\"translate(%s,%s) rotate(-90)\" text-anchor=\"middle\">",
        px(ox + 16).s, px((y0 + y1) / 2).s);
    put_text(o, p->y_label, max_chars(ph));
    put(o, "</text>\n");
    put_label(o, (x0 + x1) / 2, oy + 20, "middle", " font-size=\"14\" font-weight=\"bold\"",
              p->title, max_chars(PANEL_W - 16));
    if (count == 0) {
        put_label(o, (x0 + x1) / 2, (y0 + y1) / 2, "middle", " fill=\"#888888\"", "no data",
                  20);
    }

    for (int s = 0; s < p->n_series; s++) {
        const svg_series *ser = &p->series[s];
        const char *c = PALETTE[s % N_COLOURS];
        int valid = 0;
        for (int i = 0; i < ser->n; i++) {
            valid += valid_point(p, ser, i);
        }
        /* markers on every point until they would merge into a thick line */
        int all_markers = valid <= pw / 6;
        for (int i = 0; i < ser->n;) {
            if (!valid_point(p, ser, i)) {
                i++;
                continue;
            }
            int end = i;
            while (end < ser->n && valid_point(p, ser, end)) {
                end++;
            }
            if (end - i >= 2) {
                put(o, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                       "stroke-linejoin=\"round\" points=\"", c);
                for (int k = i; k < end; k++) {
                    put(o, "%s%s,%s", k > i ? " " : "", px(x0 + pw * frac(&ax, ser->x[k])).s,
                        px(y1 - ph * frac(&ay, ser->y[k])).s);
                }
                put(o, "\"/>\n");
            }
            for (int k = i; k < end; k++) {
                if (all_markers || end - i == 1) { /* a lone point is invisible otherwise */
                    marker(o, s % 4, c, x0 + pw * frac(&ax, ser->x[k]),
                           y1 - ph * frac(&ay, ser->y[k]));
                }
            }
            i = end;
        }
    }
    legend(o, p, ox + 24, oy + PANEL_H + 8, PANEL_W - 44);
}

static void put_header(out *o, double w, double h, const char *title)
{
    put(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
           "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%s\" "
           "height=\"%s\" viewBox=\"0 0 %s %s\" font-family=\"DejaVu Sans, Arial, Helvetica, "
           "sans-serif\" font-size=\"12\" fill=\"#222222\">\n",
        px(w).s, px(h).s, px(w).s, px(h).s);
    if (title != NULL && title[0] != '\0') {
        put(o, "<title>");
        put_text(o, title, 200);
        put(o, "</title>\n");
    }
    put(o, "<rect width=\"%s\" height=\"%s\" fill=\"#ffffff\"/>\n", px(w).s, px(h).s);
    if (title != NULL && title[0] != '\0') {
        put_label(o, w / 2, 25, "middle", " font-size=\"16\" font-weight=\"bold\"", title,
                  max_chars(w - 16) * 12 / 16);
    }
}

static double title_h(const char *title)
{
    return title != NULL && title[0] != '\0' ? TITLE_H : 8;
}

typedef struct lines_job {
    const char *title;
    const svg_panel *panels;
    int n;
} lines_job;

static void render_lines(out *o, const void *arg)
{
    const lines_job *j = arg;
    int rows = 0;
    for (int i = 0; i < j->n; i++) {
        int r = legend(NULL, &j->panels[i], 0, 0, PANEL_W - 44);
        rows = r > rows ? r : rows;
    }
    double top = title_h(j->title);
    double w = PANEL_W * (j->n > 0 ? j->n : 1);
    put_header(o, w, top + PANEL_H + rows * LEGEND_ROW + 8, j->title);
    for (int i = 0; i < j->n; i++) {
        put(o, "<g>\n");
        draw_panel(o, &j->panels[i], (double)PANEL_W * i, top);
        put(o, "</g>\n");
    }
    put(o, "</svg>\n");
}

typedef struct bars_job {
    const char *title, *value_label;
    const svg_bar *bars;
    int n;
    double ref;
} bars_job;

static void render_bars(out *o, const void *arg)
{
    const bars_job *j = arg;
    /* unit for value texts: the inside of trailing parentheses, "speedup (x)" -> "x" */
    char unit[16] = "";
    const char *vl = j->value_label != NULL ? j->value_label : "";
    const char *open = strrchr(vl, '(');
    size_t vn = strlen(vl);
    if (open != NULL && vn > 0 && vl[vn - 1] == ')' && (size_t)(vl + vn - 1 - open) < 16) {
        snprintf(unit, sizeof unit, "%.*s", (int)(vl + vn - 2 - open), open + 1);
    }
    const char *gap = strlen(unit) == 1 ? "" : " "; /* "12.3x" and "40%", but "4.20 ms" */

    int has_ref = finite_value(j->ref) && j->ref != 0;
    double lo = 0, hi = 0;
    int maxlab = 0;
    for (int i = 0; i < j->n; i++) {
        if (finite_value(j->bars[i].value)) {
            lo = fmin(lo, j->bars[i].value);
            hi = fmax(hi, j->bars[i].value);
        }
        int len = j->bars[i].label != NULL ? text_len(j->bars[i].label) : 0;
        maxlab = len > maxlab ? len : maxlab;
    }
    if (has_ref) {
        lo = fmin(lo, j->ref);
        hi = fmax(hi, j->ref);
    }
    if (lo == 0 && hi == 0) { /* all zero or no data: a positive axis, not -1..1 */
        hi = 1;
    }
    axis ax = lin_axis(lo, hi, 0, 6);
    ticks tx;
    make_ticks(&ax, &tx);

    maxlab = maxlab < MAX_LABEL ? maxlab : MAX_LABEL;
    double x0 = fmax(60, 16 + CHAR_W * maxlab + 10), x1 = BAR_W - BAR_RIGHT;
    double y0 = title_h(j->title) + 16; /* room for the reference label */
    double y1 = y0 + BAR_ROW * (j->n > 0 ? j->n : 1);
    double pw = x1 - x0;
    put_header(o, BAR_W, y1 + 52, j->title);

    put(o, "<g stroke=\"#e3e3e3\" stroke-width=\"1\">\n");
    for (int i = 0; i < tx.n; i++) {
        double x = x0 + pw * frac(&ax, tx.v[i]);
        put(o, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>\n", px(x).s, px(y0).s,
            px(x).s, px(y1).s);
    }
    put(o, "</g>\n<g font-size=\"11\" fill=\"#333333\">\n");
    double spacing = tx.n > 1 ? pw / (tx.n - 1) : pw;
    int skip = (int)ceil((CHAR_W * tx.maxlen + 10) / spacing);
    for (int i = 0; i < tx.n; i++) {
        double x = x0 + pw * frac(&ax, tx.v[i]);
        put(o, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"#555555\"/>\n",
            px(x).s, px(y1).s, px(x).s, px(y1 + 4).s);
        if (i % skip == 0) {
            put_label(o, x, y1 + 17, "middle", "", tx.lab[i].s, 40);
        }
    }
    put(o, "</g>\n");
    put_label(o, (x0 + x1) / 2, y1 + 38, "middle", "", j->value_label, max_chars(pw));

    double xz = x0 + pw * frac(&ax, 0);
    if (j->n == 0) {
        put_label(o, (x0 + x1) / 2, y0 + BAR_ROW / 2.0 + 4, "middle", " fill=\"#888888\"",
                  "no data", 20);
    }
    for (int i = 0; i < j->n; i++) {
        double v = j->bars[i].value;
        double yc = y0 + BAR_ROW * (i + 0.5);
        put_label(o, x0 - 8, yc + 4, "end", "", j->bars[i].label, MAX_LABEL);
        if (!finite_value(v)) {
            put_label(o, xz + 4, yc + 4, "start", " fill=\"#888888\"", "n/a", 8);
            continue;
        }
        double xv = x0 + pw * frac(&ax, v);
        const char *c = has_ref && j->ref > 0 && v < j->ref ? PALETTE[3] : PALETTE[0];
        put(o, "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"%s\"/>\n",
            px(fmin(xz, xv)).s, px(yc - (BAR_ROW - 8) / 2.0).s, px(fabs(xv - xz)).s,
            px(BAR_ROW - 8.0).s, c);
        /* negative bars: text right of zero, the left side belongs to the category labels */
        put(o, "<text x=\"%s\" y=\"%s\" font-size=\"11\">%s%s", px(fmax(xz, xv) + 4).s,
            px(yc + 4).s, sig3(v).s, gap);
        put_text(o, unit, 16);
        put(o, "</text>\n");
    }
    put(o, "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"none\" "
           "stroke=\"#555555\"/>\n",
        px(x0).s, px(y0).s, px(pw).s, px(y1 - y0).s);
    if (lo < 0) {
        put(o, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"#555555\"/>\n",
            px(xz).s, px(y0).s, px(xz).s, px(y1).s);
    }
    if (has_ref) {
        double xr = x0 + pw * frac(&ax, j->ref);
        put(o, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"#333333\" "
               "stroke-width=\"1.5\" stroke-dasharray=\"5,4\"/>\n",
            px(xr).s, px(y0 - 4).s, px(xr).s, px(y1).s);
        put(o, "<text x=\"%s\" y=\"%s\" text-anchor=\"middle\" font-size=\"11\">%s%s",
            px(xr).s, px(y0 - 7).s, sig3(j->ref).s, gap);
        put_text(o, unit, 16);
        put(o, "</text>\n");
    }
    put(o, "</svg>\n");
}

/* Best effort: make the rename durable. Some file systems cannot fsync a directory, and the
 * chart is already in place, so errors are ignored. */
static void sync_dir(char *buf, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        strcpy(buf, ".");
    } else if (slash == path) {
        strcpy(buf, "/");
    } else {
        memcpy(buf, path, (size_t)(slash - path));
        buf[slash - path] = '\0';
    }
    int fd = open(buf, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

static int write_atomic(const char *path, void (*render)(out *, const void *), const void *arg)
{
    size_t cap = strlen(path) + 32; /* ".tmp." + a pid */
    char *tmp = malloc(cap);
    if (tmp == NULL) {
        errno = ENOMEM;
        return -1;
    }
    snprintf(tmp, cap, "%s.tmp.%ld", path, (long)getpid());
    /* O_NOFOLLOW: a planted symlink at the temporary name must not redirect the write */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        errno = e;
        return -1;
    }
    out o = {fdopen(fd, "w"), 0};
    if (o.f == NULL) {
        o.err = errno;
        close(fd);
    } else {
        render(&o, arg);
        if (o.err == 0 && fflush(o.f) != 0) {
            o.err = errno;
        }
        if (o.err == 0 && fsync(fd) != 0) {
            o.err = errno;
        }
        if (fclose(o.f) != 0 && o.err == 0) {
            o.err = errno;
        }
    }
    if (o.err == 0 && rename(tmp, path) != 0) {
        o.err = errno;
    }
    if (o.err != 0) {
        unlink(tmp);
        free(tmp);
        errno = o.err;
        return -1;
    }
    sync_dir(tmp, path);
    free(tmp);
    return 0;
}

int svg_write_lines(const char *path, const char *title, const svg_panel *panels, int n_panels)
{
    /* checked before the file is created, so bad arguments leave nothing behind */
    if (path == NULL || n_panels < 0 || (n_panels > 0 && panels == NULL)) {
        errno = EINVAL;
        return -1;
    }
    for (int i = 0; i < n_panels; i++) {
        const svg_panel *p = &panels[i];
        if (p->n_series < 0 || (p->n_series > 0 && p->series == NULL)) {
            errno = EINVAL;
            return -1;
        }
        for (int s = 0; s < p->n_series; s++) {
            const svg_series *ser = &p->series[s];
            if (ser->n < 0 || (ser->n > 0 && (ser->x == NULL || ser->y == NULL))) {
                errno = EINVAL;
                return -1;
            }
        }
    }
    lines_job j = {title, panels, n_panels};
    return write_atomic(path, render_lines, &j);
}

int svg_write_bars(const char *path, const char *title, const char *value_label,
                   const svg_bar *bars, int n_bars, double ref)
{
    if (path == NULL || n_bars < 0 || (n_bars > 0 && bars == NULL)) {
        errno = EINVAL;
        return -1;
    }
    bars_job j = {title, value_label, bars, n_bars, ref};
    return write_atomic(path, render_bars, &j);
}

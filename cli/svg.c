/* SVG charts for the command-line programs (see svg.h).
 *
 * The chart goes to `<path>.tmp.<pid>`, which is flushed, fsynced and renamed onto path, so a
 * browser never sees half a chart and a failure leaves the previous file untouched. Numbers go
 * through integers and %llu, never %f or %g, so the '.' survives a future setlocale(). Text
 * widths are estimates (CHAR_W per character): margins and legend wrapping err on the wide side.
 *
 * Left open by the header: x or y values that are NaN, infinite or beyond 1e300 in magnitude
 * are gaps, and so are y <= 0 on a log axis. Bar value texts take their unit from trailing
 * parentheses in value_label ("speedup (x)" prints "12.3x", "time (ms)" "4.20 ms"); with
 * ref > 0, bars below ref get a second colour (slower than the baseline). */
#define _POSIX_C_SOURCE 200809L

#include "svg.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    PANEL_W = 480, PANEL_H = 320, PAD_TOP = 32, PAD_BOTTOM = 50, PAD_RIGHT = 24,
    TITLE_H = 36, LEGEND_ROW = 18, /* legend rows go below the panels */
    BAR_W = 640, BAR_ROW = 26, BAR_RIGHT = 80, /* bar chart width, row pitch, value text room */
    MAX_TICKS = 48, MAX_LABEL = 28             /* bar category labels are cut to MAX_LABEL */
};
#define CHAR_W 7.0 /* estimated advance of one 12 px character */
#define BIG 1e300  /* beyond this, spans of values could overflow to inf */

/* Okabe-Ito: distinguishable with the common colour-vision deficiencies; yellow comes last
 * because it is faint on white. Marker shapes cycle too, so series stay apart in grey. */
static const char *const PALETTE[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                      "#CC79A7", "#56B4E9", "#000000", "#F0E442"};
#define N_COLOURS ((int)(sizeof PALETTE / sizeof PALETTE[0]))
#define GRID " stroke=\"#e3e3e3\""
#define TICK " stroke=\"#555555\""
#define SMALL " font-size=\"11\" fill=\"#333333\""

typedef struct out {
    FILE *f;
    int err; /* first errno; later writes are skipped so that errno names the cause */
} out;

__attribute__((format(printf, 2, 3))) static void put(out *o, const char *fmt, ...)
{
    if (o->err == 0) {
        va_list ap;
        va_start(ap, fmt);
        errno = 0;
        int r = vfprintf(o->f, fmt, ap);
        va_end(ap);
        o->err = r >= 0 ? 0 : errno != 0 ? errno : EIO;
    }
}

/* A formatted number, returned by value so several can appear in one put() call. */
typedef struct num {
    char s[40];
} num;

/* v with d (0..15) decimals, trailing zeros cut if asked. A zero precision prints no digits
 * for a zero value, so d == 0 gives a plain integer. */
static num fixed(double v, int d, int cut)
{
    num r;
    unsigned long long scale = (unsigned long long)pow(10, d); /* exact up to 10^22 */
    double sv = v * (double)scale;
    long long q = fabs(sv) < 9e15 ? llround(sv) : 0; /* callers stay in range; never NaN */
    unsigned long long a = q < 0 ? (unsigned long long)-q : (unsigned long long)q;
    size_t n = (size_t)snprintf(r.s, sizeof r.s, "%s%llu%s%.*llu", q < 0 ? "-" : "", a / scale,
                                d > 0 ? "." : "", d, a % scale);
    while (cut && d > 0 && (r.s[n - 1] == '0' || r.s[n - 1] == '.')) {
        cut = r.s[--n] != '.'; /* stop after the '.' */
        r.s[n] = '\0';
    }
    return r;
}

/* Scientific notation with sig significant digits, e.g. "1.5e-7". */
static num sci(double v, int sig)
{
    if (v == 0) {
        return fixed(0, 0, 0);
    }
    /* the exponent of the rounded value: 9.996 with 3 digits is 1.00e1, not 10.0e0 */
    int e = (int)floor(log10(fabs(v) / (1 - 0.5 * pow(10, -sig))));
    num r = fixed(v / pow(10, e), sig - 1, 1);
    size_t n = strlen(r.s);
    snprintf(r.s + n, sizeof r.s - n, "e%d", e);
    return r;
}

static num px(double v) /* a coordinate, to 0.1 px */
{
    return fixed(v, 1, 1);
}

/* About three significant digits, for values printed next to bars. */
static num sig3(double v)
{
    double a = fabs(v);
    return a == 0 ? fixed(0, 0, 0) : a >= 1e6 || a < 1e-3 ? sci(v, 3)
         : fixed(v, a >= 99.95 ? 0 : a >= 9.995 ? 1 : a >= 0.9995 ? 2 : 3, 0);
}

/* Length of the valid UTF-8 sequence at s, or 0. Overlong forms, surrogates and U+FFFE/FFFF
 * are rejected because XML parsers refuse the whole file over them. */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    int n = c < 0x80 ? 1 : c >= 0xC2 && c < 0xE0 ? 2 : (c >> 4) == 0xE ? 3
          : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    int bad = 0;
    for (int i = 1; i < n && !bad; i++) { /* a NUL is no continuation byte: no overrun */
        bad = (s[i] & 0xC0) != 0x80;
    }
    bad |= (c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0) ||
           (c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90) ||
           (c == 0xEF && s[1] == 0xBF && s[2] >= 0xBE);
    return bad ? 0 : n;
}

static int text_len(const char *s) /* characters; an invalid byte counts as one */
{
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; p != NULL && *p != '\0'; n++) {
        int k = utf8_len(p);
        p += k > 0 ? k : 1;
    }
    return n;
}

/* s as XML character data, at most maxc characters (an ellipsis marks a cut). Invalid UTF-8
 * and control characters become '?': either would make the file ill-formed. */
static void put_text(out *o, const char *s, int maxc)
{
    int cut = text_len(s) > maxc;
    const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
    for (int i = 0; i < (cut ? maxc - 1 : maxc) && *p != '\0'; i++) {
        int k = utf8_len(p);
        const char *e = k == 0 || *p < 0x20 ? "?" : *p == '&' ? "&amp;" : *p == '<' ? "&lt;"
                      : *p == '>' ? "&gt;" : *p == '"' ? "&quot;" : *p == '\'' ? "&apos;" : NULL;
        if (e != NULL) {
            put(o, "%s", e);
        } else {
            put(o, "%.*s", k, (const char *)p);
        }
        p += k > 0 ? k : 1;
    }
    put(o, "%s", cut && maxc > 0 ? "&#8230;" : "");
}

/* <text> element; anchor is "start", "middle" or "end", attrs any further attributes. */
static void put_label(out *o, double x, double y, const char *anchor, const char *attrs,
                      const char *s, int maxc)
{
    put(o, "<text x=\"%s\" y=\"%s\" text-anchor=\"%s\"%s>", px(x).s, px(y).s, anchor, attrs);
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
    double l = lo <= hi ? lo : 0, h = lo <= hi ? hi : 1;
    double mag = fmax(fabs(l), fabs(h));
    if (h - l <= mag * 1e-9) { /* one point or all equal: invent a span around it */
        double c = 0.5 * l + 0.5 * h, pad = fmax(c != 0 ? 0.1 * fabs(c) : 1, integral);
        l = c - pad;
        h = c + pad;
    }
    double raw = (h - l) / target, p10 = pow(10, floor(log10(raw)));
    double f = raw / p10;
    a.step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p10;
    a.step = integral ? fmax(a.step, 1) : a.step; /* epochs 1..3: no tick at 1.5 */
    /* the slack keeps 2.0000000001 steps from adding an empty interval */
    a.lo = floor(l / a.step + 1e-9) * a.step;
    a.hi = ceil(h / a.step - 1e-9) * a.step;
    int e = (int)floor(log10(a.step) + 1e-9); /* step = 1, 2 or 5 times 10^e */
    a.dec = e < 0 ? -e : 0;
    mag = fmax(fabs(a.lo), fabs(a.hi));
    a.sig = mag >= 1e6 || mag < 1e-4 ? (int)fmin(6, fmax(1, floor(log10(mag)) - e + 1)) : 0;
    return a;
}

/* Log axis over whole decades covering [lo, hi] (positive; lo > hi: no data). */
static axis log_axis(double lo, double hi)
{
    axis a = {0};
    a.log = 1;
    a.lo = lo <= hi ? floor(log10(lo) + 1e-9) : 0;
    a.hi = lo <= hi ? fmax(ceil(log10(hi) - 1e-9), a.lo + 1) : 1;
    a.every = ((int)(a.hi - a.lo) + 5) / 6; /* at most about six labels */
    return a;
}

static double frac(const axis *a, double v) /* position in [0, 1] along the axis */
{
    return ((a->log ? log10(v) : v) - a->lo) / (a->hi - a->lo);
}

typedef struct ticks {
    int n, maxlen;
    double v[MAX_TICKS]; /* values, not transformed */
    num lab[MAX_TICKS];
} ticks;

static void add_tick(ticks *t, double v, num lab)
{
    if (t->n < MAX_TICKS) {
        int len = (int)strlen(lab.s);
        t->maxlen = len > t->maxlen ? len : t->maxlen;
        t->v[t->n] = v;
        t->lab[t->n++] = lab;
    }
}

static void make_ticks(const axis *a, ticks *t)
{
    t->n = t->maxlen = 0;
    if (a->log) {
        for (int e = (int)a->lo; e <= (int)a->hi; e += a->every) { /* "0.001", "1e-7" */
            double v = pow(10, e);
            add_tick(t, v, e >= -4 && e <= 5 ? fixed(v, e < 0 ? -e : 0, 0) : sci(v, 1));
        }
        return;
    }
    long long n = llround((a->hi - a->lo) / a->step);
    for (long long i = 0; i <= n; i++) {
        double v = a->lo + (double)i * a->step;
        v = fabs(v) < a->step * 1e-6 ? 0 : v; /* no "-0.0" from rounding */
        add_tick(t, v, a->sig > 0 ? sci(v, a->sig) : fixed(v, a->dec, 0));
    }
}

static int valid_point(const svg_panel *p, const svg_series *s, int i)
{
    return finite_value(s->x[i]) && finite_value(s->y[i]) && (!p->log_y || s->y[i] > 0);
}

/* Bounds of a panel's valid points (lo > hi when there are none). */
static void data_range(const svg_panel *p, double *xlo, double *xhi, double *ylo, double *yhi,
                       int *integral)
{
    *xlo = *ylo = INFINITY;
    *xhi = *yhi = -INFINITY;
    *integral = 1;
    for (int s = 0; s < p->n_series; s++) {
        const svg_series *ser = &p->series[s];
        for (int i = 0; i < ser->n; i++) {
            if (valid_point(p, ser, i)) {
                *xlo = fmin(*xlo, ser->x[i]);
                *xhi = fmax(*xhi, ser->x[i]);
                *ylo = fmin(*ylo, ser->y[i]);
                *yhi = fmax(*yhi, ser->y[i]);
                *integral = *integral && ser->x[i] == floor(ser->x[i]);
            }
        }
    }
}

static void line(out *o, double xa, double ya, double xb, double yb, const char *attrs)
{
    put(o, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"%s/>\n", px(xa).s, px(ya).s,
        px(xb).s, px(yb).s, attrs);
}

static void rect(out *o, double x, double y, double w, double h, const char *fill)
{
    put(o, "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"%s\"%s/>\n", px(x).s,
        px(y).s, px(w).s, px(h).s, fill, strcmp(fill, "none") == 0 ? TICK : "");
}

/* Filled circle, square, triangle or diamond centred on (x, y). */
static void marker(out *o, int shape, const char *colour, double x, double y)
{
    static const double poly[3][4][2] = {{{-3.2, -3.2}, {3.2, -3.2}, {3.2, 3.2}, {-3.2, 3.2}},
                                         {{0, -4.5}, {4.5, 3.5}, {-4.5, 3.5}, {0, -4.5}},
                                         {{0, -4.5}, {4.5, 0}, {0, 4.5}, {-4.5, 0}}};
    if (shape == 0) {
        put(o, "<circle cx=\"%s\" cy=\"%s\" r=\"3.5\" fill=\"%s\"/>\n", px(x).s, px(y).s,
            colour);
        return;
    }
    put(o, "<path fill=\"%s\" d=\"M", colour);
    for (int k = 0; k < 4; k++) {
        put(o, "%s%s %s", k > 0 ? "L" : "", px(x + poly[shape - 1][k][0]).s,
            px(y + poly[shape - 1][k][1]).s);
    }
    put(o, "Z\"/>\n");
}

/* Lays out the legend in rows of the given width; draws it when o is not NULL. Returns the
 * number of rows. */
static int legend(out *o, const svg_panel *p, double x, double y, double width)
{
    int rows = p->n_series > 0, maxc = max_chars(width - 44);
    double cx = 0;
    for (int s = 0; s < p->n_series; s++) {
        const char *label = p->series[s].label, *c = PALETTE[s % N_COLOURS];
        double w = 44 + CHAR_W * fmin(text_len(label), maxc);
        if (cx > 0 && cx + w > width) {
            rows++;
            cx = 0;
        }
        double lx = x + cx, ly = y + (rows - 1) * LEGEND_ROW;
        if (o != NULL) {
            put(o, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"%s\" "
                   "stroke-width=\"2\"/>\n", px(lx).s, px(ly - 4).s, px(lx + 22).s,
                px(ly - 4).s, c);
            marker(o, s % 4, c, lx + 11, ly - 4);
            put_label(o, lx + 28, ly, "start", "", label, maxc);
        }
        cx += w;
    }
    return rows;
}

/* Grid, tick marks and labels of a horizontal axis (x0, width pw) under a plot spanning
 * y0..y1, and the axis title. */
static void x_axis(out *o, const axis *a, double x0, double pw, double y0, double y1,
                   const char *title)
{
    ticks t;
    make_ticks(a, &t);
    /* thin out labels that would collide (long scientific labels, many ticks) */
    int skip = (int)ceil((CHAR_W * t.maxlen + 10) / (t.n > 1 ? pw / (t.n - 1) : pw));
    for (int i = 0; i < t.n; i++) {
        double x = x0 + pw * frac(a, t.v[i]);
        line(o, x, y0, x, y1, GRID);
        line(o, x, y1, x, y1 + 4, TICK);
        if (i % skip == 0) {
            put_label(o, x, y1 + 17, "middle", SMALL, t.lab[i].s, 40);
        }
    }
    put_label(o, x0 + pw / 2, y1 + 38, "middle", "", title, max_chars(pw));
}

/* One series: a polyline per run of valid points (gaps break the line), and markers. */
static void draw_series(out *o, const svg_panel *p, int s, const axis *ax, const axis *ay,
                        double x0, double pw, double y1, double ph)
{
    const svg_series *ser = &p->series[s];
    const char *c = PALETTE[s % N_COLOURS];
    int all_markers = ser->n <= pw / 6; /* until they would merge into a thick line */
    for (int i = 0; i < ser->n;) {
        int end = i;
        while (end < ser->n && valid_point(p, ser, end)) {
            end++;
        }
        if (end - i >= 2) {
            put(o, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                   "stroke-linejoin=\"round\" points=\"", c);
            for (int k = i; k < end; k++) {
                put(o, "%s%s,%s", k > i ? " " : "", px(x0 + pw * frac(ax, ser->x[k])).s,
                    px(y1 - ph * frac(ay, ser->y[k])).s);
            }
            put(o, "\"/>\n");
        }
        /* a point between two gaps gets its marker regardless: it would be invisible */
        for (int k = i; k < end && (all_markers || end - i == 1); k++) {
            marker(o, s % 4, c, x0 + pw * frac(ax, ser->x[k]), y1 - ph * frac(ay, ser->y[k]));
        }
        i = end > i ? end : i + 1;
    }
}

static void draw_panel(out *o, const svg_panel *p, double ox, double oy)
{
    double xlo, xhi, ylo, yhi;
    int integral;
    data_range(p, &xlo, &xhi, &ylo, &yhi, &integral);
    axis ax = lin_axis(xlo, xhi, integral, 6);
    axis ay = p->log_y ? log_axis(ylo, yhi) : lin_axis(ylo, yhi, 0, 5);
    ticks ty;
    make_ticks(&ay, &ty);
    /* the y tick labels decide the left margin; the rotated y label sits left of them */
    double x0 = ox + fmax(56, 32 + CHAR_W * ty.maxlen + 8), x1 = ox + PANEL_W - PAD_RIGHT;
    double y0 = oy + PAD_TOP, y1 = oy + PANEL_H - PAD_BOTTOM, pw = x1 - x0, ph = y1 - y0;
    for (int e = (int)ay.lo; ay.log && ay.hi - ay.lo <= 8 && e < (int)ay.hi; e++) {
        for (int m = 2; m <= 9; m++) { /* minor grid while decades are tall enough */
            double y = y1 - ph * frac(&ay, m * pow(10, e));
            line(o, x0, y, x1, y, " stroke=\"#f3f3f3\"");
        }
    }
    for (int i = 0; i < ty.n; i++) {
        double y = y1 - ph * frac(&ay, ty.v[i]);
        line(o, x0, y, x1, y, GRID);
        line(o, x0 - 4, y, x0, y, TICK);
        put_label(o, x0 - 7, y + 4, "end", SMALL, ty.lab[i].s, 40);
    }
    x_axis(o, &ax, x0, pw, y0, y1, p->x_label);
    rect(o, x0, y0, pw, ph, "none");
    char rot[128];
    snprintf(rot, sizeof rot, " transform=\"rotate(-90 %s %s)\"", px(ox + 16).s, px(y0 + ph / 2).s);
    put_label(o, ox + 16, y0 + ph / 2, "middle", rot, p->y_label, max_chars(ph));
    put_label(o, (x0 + x1) / 2, oy + 20, "middle", " font-size=\"14\" font-weight=\"bold\"",
              p->title, max_chars(PANEL_W - 16));
    for (int s = 0; s < p->n_series; s++) {
        draw_series(o, p, s, &ax, &ay, x0, pw, y1, ph);
    }
    legend(o, p, ox + 24, oy + PANEL_H + 8, PANEL_W - 44);
}

/* Prolog, background and overall title, for a chart of width w and height h below the
 * title. Returns the height the title takes. */
static double put_header(out *o, double w, double h, const char *title)
{
    double top = title != NULL && title[0] != '\0' ? TITLE_H : 8;
    h += top;
    put(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
           "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%s\" "
           "height=\"%s\" viewBox=\"0 0 %s %s\" font-family=\"DejaVu Sans, Arial, Helvetica, "
           "sans-serif\" font-size=\"12\" fill=\"#222222\">\n<title>",
        px(w).s, px(h).s, px(w).s, px(h).s);
    put_text(o, title, 200);
    put(o, "</title>\n");
    rect(o, 0, 0, w, h, "#ffffff");
    put_label(o, w / 2, 25, "middle", " font-size=\"16\" font-weight=\"bold\"", title,
              (int)(w / 10));
    return top;
}

/* What one call draws; the render functions see it through write_atomic's void pointer. */
typedef struct job {
    const char *title, *value_label;
    const svg_panel *panels;
    const svg_bar *bars;
    int n_panels, n_bars;
    double ref;
} job;

static void render_lines(out *o, const void *arg)
{
    const job *j = arg;
    int rows = 0;
    for (int i = 0; i < j->n_panels; i++) {
        int r = legend(NULL, &j->panels[i], 0, 0, PANEL_W - 44);
        rows = r > rows ? r : rows;
    }
    double top = put_header(o, PANEL_W * fmax(1, j->n_panels), PANEL_H + rows * LEGEND_ROW + 8,
                            j->title);
    for (int i = 0; i < j->n_panels; i++) {
        draw_panel(o, &j->panels[i], (double)PANEL_W * i, top);
    }
    put(o, "</svg>\n");
}

/* A bar value or the reference, with its unit: "12.3x" and "40%", but "4.20 ms"; "n/a" for
 * NaN. A value text (anchor "start") that the reference line at xr would cross moves right. */
static void put_value(out *o, double x, double y, const char *anchor, double v,
                      const char *unit, double xr)
{
    int ok = finite_value(v);
    num t = ok ? sig3(v) : (num){"n/a"};
    double w = CHAR_W * (double)(strlen(t.s) + strlen(unit) + 1);
    x = anchor[0] == 's' && x - 4 <= xr && xr < x + w ? xr + 4 : x;
    put(o, "<text x=\"%s\" y=\"%s\" text-anchor=\"%s\" font-size=\"11\">%s%s", px(x).s,
        px(y).s, anchor, t.s, ok && strlen(unit) > 1 ? " " : "");
    put_text(o, ok ? unit : "", 16);
    put(o, "</text>\n");
}

static void render_bars(out *o, const void *arg)
{
    const job *j = arg;
    /* the unit for value texts is inside trailing parentheses: "speedup (x)" -> "x" */
    char unit[16] = "";
    const char *vl = j->value_label != NULL ? j->value_label : "", *open = strrchr(vl, '(');
    size_t n = strlen(vl);
    if (open != NULL && vl[n - 1] == ')' && (size_t)(vl + n - 1 - open) < sizeof unit) {
        snprintf(unit, sizeof unit, "%.*s", (int)(vl + n - 2 - open), open + 1);
    }
    int has_ref = finite_value(j->ref) && j->ref != 0, maxlab = 0;
    double lo = has_ref ? fmin(0, j->ref) : 0, hi = has_ref ? fmax(0, j->ref) : 0;
    for (int i = 0; i < j->n_bars; i++) {
        double v = finite_value(j->bars[i].value) ? j->bars[i].value : 0;
        lo = fmin(lo, v);
        hi = fmax(hi, v);
        maxlab = (int)fmax(maxlab, fmin(text_len(j->bars[i].label), MAX_LABEL));
    }
    /* all zero or no data: a positive axis rather than -1..1 */
    axis ax = lin_axis(lo, lo == 0 && hi == 0 ? 1 : hi, 0, 6);
    double x0 = fmax(60, 16 + CHAR_W * maxlab + 10), pw = BAR_W - BAR_RIGHT - x0;
    double rows_h = BAR_ROW * fmax(1, j->n_bars), xz = x0 + pw * frac(&ax, 0);
    double y0 = put_header(o, BAR_W, rows_h + 68, j->title) + 16; /* 16: the reference label */
    double y1 = y0 + rows_h, xr = has_ref ? x0 + pw * frac(&ax, j->ref) : -1e9;
    x_axis(o, &ax, x0, pw, y0, y1, j->value_label);
    for (int i = 0; i < j->n_bars; i++) {
        double v = j->bars[i].value, yc = y0 + BAR_ROW * (i + 0.5);
        double xv = finite_value(v) ? x0 + pw * frac(&ax, v) : xz; /* NaN: no bar, "n/a" */
        put_label(o, x0 - 8, yc + 4, "end", "", j->bars[i].label, MAX_LABEL);
        /* with a positive reference (a baseline speed), bars below it stand out */
        rect(o, fmin(xz, xv), yc - (BAR_ROW - 8) / 2.0, fabs(xv - xz), BAR_ROW - 8.0,
             has_ref && j->ref > 0 && v < j->ref ? PALETTE[3] : PALETTE[0]);
        /* negative bars: text right of zero, the left side belongs to the category labels */
        put_value(o, fmax(xz, xv) + 4, yc + 4, "start", v, unit, xr);
    }
    rect(o, x0, y0, pw, y1 - y0, "none");
    if (has_ref) {
        line(o, xr, y0 - 4, xr, y1, " stroke=\"#333333\" stroke-width=\"1.5\" "
                                   "stroke-dasharray=\"5,4\"");
        put_value(o, xr, y0 - 7, "middle", j->ref, unit, xr);
    }
    put(o, "</svg>\n");
}

static int write_atomic(const char *path, void (*render)(out *, const void *), const void *arg)
{
    char *tmp = malloc(strlen(path) + 32); /* ".tmp." + a pid */
    if (tmp == NULL) {
        errno = ENOMEM;
        return -1;
    }
    sprintf(tmp, "%s.tmp.%ld", path, (long)getpid());
    /* The name is ours: a leftover is from a crashed run with the same pid. "x" (O_EXCL) then
     * refuses whatever appears in between, including a planted symlink. */
    unlink(tmp);
    out o = {fopen(tmp, "wx"), 0};
    if (o.f == NULL) {
        o.err = errno;
    } else {
        render(&o, arg);
        /* fsync before rename: otherwise a crash can leave an empty file in place of the old
         * chart. No directory fsync: a chart lost to a power cut is redrawn by the next run. */
        if (o.err == 0 && (fflush(o.f) != 0 || fsync(fileno(o.f)) != 0)) {
            o.err = errno;
        }
        if (fclose(o.f) != 0 && o.err == 0) {
            o.err = errno;
        }
        if (o.err == 0 && rename(tmp, path) != 0) {
            o.err = errno;
        }
        if (o.err != 0) {
            unlink(tmp);
        }
    }
    free(tmp);
    errno = o.err != 0 ? o.err : errno;
    return o.err != 0 ? -1 : 0;
}

int svg_write_lines(const char *path, const char *title, const svg_panel *panels, int n_panels)
{
    /* checked before the file is created, so bad arguments leave nothing behind */
    int bad = path == NULL || n_panels < 0 || (n_panels > 0 && panels == NULL);
    for (int i = 0; !bad && i < n_panels; i++) {
        const svg_panel *p = &panels[i];
        bad = p->n_series < 0 || (p->n_series > 0 && p->series == NULL);
        for (int s = 0; !bad && s < p->n_series; s++) {
            const svg_series *r = &p->series[s];
            bad = r->n < 0 || (r->n > 0 && (r->x == NULL || r->y == NULL));
        }
    }
    if (bad) {
        errno = EINVAL;
        return -1;
    }
    job j = {.title = title, .panels = panels, .n_panels = n_panels};
    return write_atomic(path, render_lines, &j);
}

int svg_write_bars(const char *path, const char *title, const char *value_label,
                   const svg_bar *bars, int n_bars, double ref)
{
    if (path == NULL || n_bars < 0 || (n_bars > 0 && bars == NULL)) {
        errno = EINVAL;
        return -1;
    }
    job j = {.title = title, .value_label = value_label, .bars = bars, .n_bars = n_bars,
             .ref = ref};
    return write_atomic(path, render_bars, &j);
}

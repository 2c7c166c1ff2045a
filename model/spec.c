/* The model spec language: whitespace-separated layers, each NAME[:ARG,ARG,...], where an ARG
 * is a positional number or key=value, '#' starts a comment, and the size word `out` means
 * the model's output size. Example: "conv:32,3,pad=1 relu maxpool:2 flatten linear:out".
 * The README documents every layer and key; this parser is the one source of truth for it. */
#define _POSIX_C_SOURCE 200809L
#include "model_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

typedef struct spec_tok {
    const char *s; /* token text, not NUL-terminated */
    size_t len;
    int index;     /* 1-based position, for messages */
} spec_tok;

static lam_status tok_error(lam_ctx *ctx, const spec_tok *t, const char *why)
{
    return lam__error(ctx, LAM_ERR_FORMAT, "model spec: layer %d '%.*s': %s", t->index,
                      (int)(t->len > 60 ? 60 : t->len), t->s, why);
}

/* Parse a non-negative integer (or `out`) from [s, s+len). Locale-free. */
static int parse_int(const char *s, size_t len, int64_t n_out, int64_t *v)
{
    if (len == 3 && memcmp(s, "out", 3) == 0) {
        *v = n_out;
        return n_out > 0;
    }
    if (len == 0 || len > 12) {
        return 0;
    }
    int64_t r = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
        r = r * 10 + (s[i] - '0');
    }
    *v = r;
    return 1;
}

/* Parse a decimal fraction like 0.25, 1e-5 or 5 without strtod (locale-independent). */
static int parse_real(const char *s, size_t len, float *v)
{
    double r = 0.0, scale = 1.0;
    size_t i = 0;
    int digits = 0, seen_dot = 0;
    for (; i < len && (isdigit((unsigned char)s[i]) || s[i] == '.'); i++) {
        if (s[i] == '.') {
            if (seen_dot) {
                return 0;
            }
            seen_dot = 1;
            continue;
        }
        digits++;
        if (seen_dot) {
            scale /= 10.0;
            r += (s[i] - '0') * scale;
        } else {
            r = r * 10.0 + (s[i] - '0');
        }
    }
    if (digits == 0 || digits > 15) {
        return 0;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        int sign = 1, e = 0, ed = 0;
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+')) {
            sign = s[i] == '-' ? -1 : 1;
            i++;
        }
        for (; i < len && isdigit((unsigned char)s[i]) && ed < 3; i++, ed++) {
            e = e * 10 + (s[i] - '0');
        }
        if (ed == 0) {
            return 0;
        }
        for (int k = 0; k < e; k++) {
            r = sign > 0 ? r * 10.0 : r / 10.0;
        }
    }
    if (i != len) {
        return 0;
    }
    *v = (float)r;
    return 1;
}

/* Parse "3" or "3x5" into a pair. */
static int parse_pair(const char *s, size_t len, int64_t n_out, int64_t *a, int64_t *b)
{
    const char *x = memchr(s, 'x', len);
    if (x == NULL) {
        if (!parse_int(s, len, n_out, a)) {
            return 0;
        }
        *b = *a;
        return 1;
    }
    size_t l1 = (size_t)(x - s);
    return parse_int(s, l1, n_out, a) && parse_int(x + 1, len - l1 - 1, n_out, b);
}

typedef struct kind_entry {
    const char *name;
    lam_layer_kind kind;
    const char *positional; /* names of positional args in order, space-separated */
} kind_entry;

static const kind_entry kinds[] = {
    {"conv", LAM_LAYER_CONV2D, "out k stride pad"},
    {"linear", LAM_LAYER_LINEAR, "out"},
    {"relu", LAM_LAYER_RELU, ""},
    {"leakyrelu", LAM_LAYER_LEAKY_RELU, "slope"},
    {"sigmoid", LAM_LAYER_SIGMOID, ""},
    {"tanh", LAM_LAYER_TANH, ""},
    {"gelu", LAM_LAYER_GELU, ""},
    {"maxpool", LAM_LAYER_MAXPOOL, "k stride pad"},
    {"avgpool", LAM_LAYER_AVGPOOL, "k stride pad"},
    {"gap", LAM_LAYER_GLOBAL_AVGPOOL, ""},
    {"flatten", LAM_LAYER_FLATTEN, ""},
    {"dropout", LAM_LAYER_DROPOUT, "p"},
    {"batchnorm", LAM_LAYER_BATCHNORM, "eps momentum"},
    {"bn", LAM_LAYER_BATCHNORM, "eps momentum"},
};

/* The k-th word of a space-separated list into buf; 0 if there is none. */
static int nth_word(const char *list, int k, char *buf, size_t size)
{
    const char *p = list;
    for (int i = 0; *p != '\0'; i++) {
        const char *e = strchr(p, ' ');
        size_t len = e != NULL ? (size_t)(e - p) : strlen(p);
        if (i == k) {
            if (len + 1 > size) {
                return 0;
            }
            memcpy(buf, p, len);
            buf[len] = '\0';
            return 1;
        }
        p += len;
        while (*p == ' ') {
            p++;
        }
    }
    return 0;
}

static int key_is(const char *key, size_t klen, const char *a, const char *b)
{
    return (strlen(a) == klen && memcmp(key, a, klen) == 0) ||
           (b != NULL && strlen(b) == klen && memcmp(key, b, klen) == 0);
}

/* Apply one key=value to the descriptor. */
static lam_status apply_arg(lam_ctx *ctx, const spec_tok *t, lam_layer_desc *d, const char *key,
                            size_t klen, const char *val, size_t vlen, int64_t n_out)
{
    lam_layer_kind k = d->kind;
    int conv = k == LAM_LAYER_CONV2D, pool = k == LAM_LAYER_MAXPOOL || k == LAM_LAYER_AVGPOOL;
    int ok = 0;
    if ((conv || k == LAM_LAYER_LINEAR) && key_is(key, klen, "out", NULL)) {
        ok = parse_int(val, vlen, n_out, &d->out) && d->out > 0;
    } else if ((conv || pool) && key_is(key, klen, "k", "kernel")) {
        ok = parse_pair(val, vlen, n_out, &d->kh, &d->kw) && d->kh > 0 && d->kw > 0;
    } else if ((conv || pool) && key_is(key, klen, "stride", "s")) {
        ok = parse_pair(val, vlen, n_out, &d->sh, &d->sw) && d->sh > 0 && d->sw > 0;
    } else if ((conv || pool) && key_is(key, klen, "pad", "p")) {
        ok = parse_pair(val, vlen, n_out, &d->ph, &d->pw);
    } else if (conv && key_is(key, klen, "dil", "dilation")) {
        ok = parse_pair(val, vlen, n_out, &d->dh, &d->dw) && d->dh > 0 && d->dw > 0;
    } else if (conv && key_is(key, klen, "groups", "g")) {
        ok = parse_int(val, vlen, n_out, &d->groups) && d->groups > 0;
    } else if ((conv || k == LAM_LAYER_LINEAR) && key_is(key, klen, "bias", NULL)) {
        int64_t b = 0;
        ok = parse_int(val, vlen, n_out, &b) && b <= 1;
        d->bias = (int)b;
    } else if (k == LAM_LAYER_LEAKY_RELU && key_is(key, klen, "slope", NULL)) {
        ok = parse_real(val, vlen, &d->alpha);
    } else if (k == LAM_LAYER_DROPOUT && key_is(key, klen, "p", NULL)) {
        ok = parse_real(val, vlen, &d->alpha) && d->alpha < 1.0f;
    } else if (k == LAM_LAYER_BATCHNORM && key_is(key, klen, "eps", NULL)) {
        ok = parse_real(val, vlen, &d->alpha) && d->alpha > 0.0f;
    } else if (k == LAM_LAYER_BATCHNORM && key_is(key, klen, "momentum", NULL)) {
        ok = parse_real(val, vlen, &d->momentum) && d->momentum <= 1.0f;
    } else {
        char why[96];
        snprintf(why, sizeof why, "unknown option '%.*s'", (int)(klen > 40 ? 40 : klen), key);
        return tok_error(ctx, t, why);
    }
    if (!ok) {
        char why[96];
        snprintf(why, sizeof why, "bad value '%.*s' for %.*s", (int)(vlen > 30 ? 30 : vlen), val,
                 (int)(klen > 30 ? 30 : klen), key);
        return tok_error(ctx, t, why);
    }
    return LAM_OK;
}

static lam_status parse_token(lam_ctx *ctx, const spec_tok *t, int64_t n_out,
                              lam_layer_desc *d)
{
    const char *colon = memchr(t->s, ':', t->len);
    size_t nlen = colon != NULL ? (size_t)(colon - t->s) : t->len;
    const kind_entry *e = NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strlen(kinds[i].name) == nlen && memcmp(kinds[i].name, t->s, nlen) == 0) {
            e = &kinds[i];
        }
    }
    if (e == NULL) {
        return tok_error(ctx, t, "unknown layer (conv, linear, relu, leakyrelu, sigmoid, tanh, "
                         "gelu, maxpool, avgpool, gap, flatten, dropout, batchnorm)");
    }
    lam_layer_desc_init(d, e->kind);
    if (colon == NULL) {
        if (e->kind == LAM_LAYER_CONV2D || e->kind == LAM_LAYER_LINEAR ||
            e->kind == LAM_LAYER_MAXPOOL || e->kind == LAM_LAYER_AVGPOOL) {
            return tok_error(ctx, t, "needs arguments, e.g. conv:32,3 linear:10 maxpool:2");
        }
        return LAM_OK;
    }
    const char *p = colon + 1, *end = t->s + t->len;
    int pos = 0;
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *item_end = comma != NULL ? comma : end;
        size_t ilen = (size_t)(item_end - p);
        if (ilen == 0) {
            return tok_error(ctx, t, "empty argument");
        }
        const char *eq = memchr(p, '=', ilen);
        lam_status st;
        if (eq != NULL) {
            st = apply_arg(ctx, t, d, p, (size_t)(eq - p), eq + 1, (size_t)(item_end - eq - 1),
                           n_out);
        } else {
            char key[16];
            if (!nth_word(e->positional, pos, key, sizeof key)) {
                return tok_error(ctx, t, "too many positional arguments");
            }
            pos++;
            st = apply_arg(ctx, t, d, key, strlen(key), p, ilen, n_out);
        }
        if (st != LAM_OK) {
            return st;
        }
        if (comma == NULL) {
            break;
        }
        p = comma + 1;
    }
    int conv = e->kind == LAM_LAYER_CONV2D;
    if ((conv || e->kind == LAM_LAYER_LINEAR) && d->out < 1) {
        return tok_error(ctx, t, "output size missing");
    }
    if ((conv || e->kind == LAM_LAYER_MAXPOOL || e->kind == LAM_LAYER_AVGPOOL) && d->kh < 1) {
        return tok_error(ctx, t, "kernel size missing");
    }
    return LAM_OK;
}

lam_status lam__spec_parse(lam_ctx *ctx, const char *spec, int64_t n_out, lam_layer_desc *descs,
                           int cap, int *count)
{
    if (spec == NULL || descs == NULL || count == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "model spec: NULL argument");
    }
    size_t total = strnlen(spec, LAM_SPEC_MAX_LEN + 1);
    if (total > LAM_SPEC_MAX_LEN) {
        return lam__error(ctx, LAM_ERR_FORMAT, "model spec: longer than %d bytes",
                          LAM_SPEC_MAX_LEN);
    }
    int n = 0;
    const char *p = spec;
    while (*p != '\0') {
        if (*p == '#') { /* comment to end of line */
            while (*p != '\0' && *p != '\n') {
                p++;
            }
            continue;
        }
        if (isspace((unsigned char)*p) || *p == ';') {
            p++;
            continue;
        }
        const char *start = p;
        while (*p != '\0' && !isspace((unsigned char)*p) && *p != ';' && *p != '#') {
            p++;
        }
        spec_tok t = {start, (size_t)(p - start), n + 1};
        if (n == cap) {
            return tok_error(ctx, &t, "too many layers");
        }
        lam_status st = parse_token(ctx, &t, n_out, &descs[n]);
        if (st != LAM_OK) {
            return st;
        }
        n++;
    }
    if (n == 0) {
        return lam__error(ctx, LAM_ERR_FORMAT, "model spec: no layers");
    }
    *count = n;
    return LAM_OK;
}

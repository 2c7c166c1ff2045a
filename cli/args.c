/* Table-driven flag parsing: --name VALUE, --name=VALUE, boolean --name; unknown flags,
 * bad numbers and numbers outside their option's range are usage errors (exit 2). No exit
 * or print here so the fuzzer can drive it. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Up to 40 bytes of user text for a message, control characters shown as '?', so that an
 * argument holding a newline cannot split the one-line error (found by fuzz_args). */
static const char *shown(const char *s, size_t len, char out[48])
{
    size_t n = len < 40 ? len : 40;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    out[n] = '\0';
    return out;
}

const char *cli_range_text(const cli_opt *o, char *buf, size_t size)
{
    const cli_range *r = &o->range;
    if (o->type == ARG_INT) {
        snprintf(buf, size, "%lld..%lld", (long long)r->lo, (long long)r->hi);
    } else {
        snprintf(buf, size, "%c%g, %g%c", r->open & CLI_OPEN_LO ? '(' : '[', r->lo, r->hi,
                 r->open & CLI_OPEN_HI ? ')' : ']');
    }
    return buf;
}

/* The placeholder a message and the help show for a number: "N", "X", ... */
static const char *meta_of(const cli_opt *o)
{
    return o->meta != NULL ? o->meta : "value";
}

static int in_range(const cli_range *r, double x)
{
    int above = r->open & CLI_OPEN_LO ? x > r->lo : x >= r->lo;
    int below = r->open & CLI_OPEN_HI ? x < r->hi : x <= r->hi;
    return above && below; /* false for NaN */
}

static int parse_value(const cli_opt *o, const char *v, char *err, size_t err_size)
{
    char *end = NULL, txt[48], range[64];
    errno = 0;
    switch (o->type) {
    case ARG_STR:
        *(const char **)o->dest = v;
        return 0;
    case ARG_INT: {
        long long x = strtoll(v, &end, 10);
        cli_range_text(o, range, sizeof range);
        if (end == v || *end != '\0') {
            snprintf(err, err_size, "%s expects an integer in %s, got '%s'", o->name, range,
                     shown(v, strlen(v), txt));
            return -1;
        }
        /* an overflow (ERANGE) is a number too, just far out of any range */
        if (errno == ERANGE || !in_range(&o->range, (double)x)) {
            snprintf(err, err_size, "%s %s is out of range: %s in %s", o->name,
                     shown(v, strlen(v), txt), meta_of(o), range);
            return -1;
        }
        *(cli_int *)o->dest = (cli_int){x, 1};
        return 0;
    }
    case ARG_REAL: {
        /* the CLI never calls setlocale, so strtod always reads '.' as the decimal point;
         * errno is not read: an underflow to 0 or a denormal is still checked by value */
        double x = strtod(v, &end);
        cli_range_text(o, range, sizeof range);
        if (end == v || *end != '\0') {
            snprintf(err, err_size, "%s expects a number in %s, got '%s'", o->name, range,
                     shown(v, strlen(v), txt));
            return -1;
        }
        if (!in_range(&o->range, x)) {
            snprintf(err, err_size, "%s %s is %s: %s in %s", o->name, shown(v, strlen(v), txt),
                     isfinite(x) ? "out of range" : "not a finite number", meta_of(o), range);
            return -1;
        }
        *(cli_real *)o->dest = (cli_real){x, 1};
        return 0;
    }
    case ARG_FLAG:
        *(int *)o->dest = 1;
        return 0;
    }
    return -1;
}

int cli_parse(int argc, char **argv, int first, const cli_opt *opts, int n_opts,
              const char **pos, int max_pos, int *n_pos, char *err, size_t err_size)
{
    char txt[48];
    *n_pos = 0;
    err[0] = '\0';
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (a == NULL) {
            break;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            return 1;
        }
        if (a[0] != '-' || a[1] == '\0') {
            if (*n_pos >= max_pos) {
                snprintf(err, err_size, "unexpected argument '%s'", shown(a, strlen(a), txt));
                return -1;
            }
            pos[(*n_pos)++] = a;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq != NULL ? (size_t)(eq - a) : strlen(a);
        const cli_opt *o = NULL;
        for (int k = 0; k < n_opts; k++) {
            if (strlen(opts[k].name) == len && strncmp(opts[k].name, a, len) == 0) {
                o = &opts[k];
            }
        }
        if (o == NULL) {
            snprintf(err, err_size, "unknown option '%s'", shown(a, len, txt));
            return -1;
        }
        const char *v = NULL;
        if (o->type == ARG_FLAG) {
            if (eq != NULL) {
                snprintf(err, err_size, "%s takes no value", o->name);
                return -1;
            }
        } else if (eq != NULL) {
            v = eq + 1;
        } else if (i + 1 < argc && argv[i + 1] != NULL) {
            v = argv[++i];
        } else {
            snprintf(err, err_size, "%s needs a value (%s)", o->name, o->meta ? o->meta : "");
            return -1;
        }
        if (parse_value(o, v, err, err_size) != 0) {
            return -1;
        }
    }
    return 0;
}

void cli_print_help(const char *usage, const char *about, const cli_opt *opts, int n_opts)
{
    printf("usage: %s\n\n%s\n\noptions:\n", usage, about);
    for (int k = 0; k < n_opts; k++) {
        const cli_opt *o = &opts[k];
        char left[64], range[64];
        snprintf(left, sizeof left, "%s%s%s", o->name, o->meta ? " " : "",
                 o->meta ? o->meta : "");
        if (o->type == ARG_INT || o->type == ARG_REAL) {
            printf("  %-26s %s; %s in %s\n", left, o->help, meta_of(o),
                   cli_range_text(o, range, sizeof range));
        } else {
            printf("  %-26s %s\n", left, o->help);
        }
    }
    printf("  %-26s %s\n", "--help", "show this help");
}

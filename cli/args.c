/* Table-driven flag parsing: --name VALUE, --name=VALUE, boolean --name; unknown flags and
 * bad numbers are usage errors (exit 2). No exit or print here so the fuzzer can drive it. */
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

static int parse_value(const cli_opt *o, const char *v, char *err, size_t err_size)
{
    char *end = NULL, txt[48];
    errno = 0;
    switch (o->type) {
    case ARG_STR:
        *(const char **)o->dest = v;
        return 0;
    case ARG_INT: {
        long long x = strtoll(v, &end, 10);
        if (end == v || *end != '\0' || errno == ERANGE) {
            snprintf(err, err_size, "%s expects an integer, got '%s'", o->name,
                     shown(v, strlen(v), txt));
            return -1;
        }
        *(int64_t *)o->dest = x;
        return 0;
    }
    case ARG_REAL: {
        /* the CLI never calls setlocale, so strtod always reads '.' as the decimal point */
        double x = strtod(v, &end);
        if (end == v || *end != '\0' || !isfinite(x)) {
            snprintf(err, err_size, "%s expects a number, got '%s'", o->name,
                     shown(v, strlen(v), txt));
            return -1;
        }
        *(double *)o->dest = x;
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
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", opts[k].name, opts[k].meta ? " " : "",
                 opts[k].meta ? opts[k].meta : "");
        printf("  %-26s %s\n", left, opts[k].help);
    }
    printf("  %-26s %s\n", "--help", "show this help");
}

/* The comparison every golden test makes (golden_util.h). */
#include "golden_util.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

double golden_compare(const char *what, const float *got, const float *want, int64_t n, double rtol,
                      double atol, int verbose)
{
    double dmax = 0.0, ref = 0.0;
    int64_t at = 0;
    int finite = 1;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        finite &= isfinite(got[i]) != 0;
        if (d > dmax || d != d) {
            dmax = d;
            at = i;
        }
        ref = fmax(ref, fabs((double)want[i]));
    }
    const double rel = ref > 0.0 ? dmax / ref : dmax;
    const int ok = finite && dmax <= rtol * ref + atol;
    if (verbose || !ok) {
        printf("  %-52s max|ref| %.3e  rel %.3e%s\n", what, ref, rel, ok ? "" : "  FAIL");
    }
    T_CHECK(ok, "%s: element %lld is %.9g, want %.9g (rel %.3e > %.0e)", what, (long long)at,
            (double)got[at], (double)want[at], rel, rtol);
    return finite ? rel : INFINITY;
}

lam_st_file *golden_open(const char *prog, const char *path, lam_ctx **ctx)
{
    lam_st_file *st = NULL;
    *ctx = NULL;
    if (lam_ctx_create(NULL, ctx) != LAM_OK || lam__st_open(*ctx, path, &st) != LAM_OK) {
        fprintf(stderr, "%s: cannot read %s: %s\n", prog, path,
                *ctx != NULL ? lam_ctx_errmsg(*ctx) : "no context");
        lam_ctx_destroy(*ctx);
        *ctx = NULL;
        return NULL;
    }
    return st;
}

const float *golden_f32(const lam_st_file *st, const char *name, int64_t n)
{
    const lam_st_tensor *t = lam__st_find(st, name);
    if (!T_CHECK(t != NULL && t->dtype == LAM_ST_F32 && t->numel == n,
                 "fixture tensor '%s' missing, not F32 or not of %lld elements", name,
                 (long long)n)) {
        return NULL;
    }
    return t->data;
}

int golden_count_prefix(const lam_st_file *st, const char *prefix)
{
    const size_t len = strlen(prefix);
    int count = 0;
    for (int i = 0; i < lam__st_count(st); i++) {
        count += strncmp(lam__st_at(st, i)->name, prefix, len) == 0;
    }
    return count;
}

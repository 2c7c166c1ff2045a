#define _POSIX_C_SOURCE 200809L
#include "data_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[256];
static char written[256][64];
static int n_written;

const char *t_tmpdir(void)
{
    if (tmpdir[0] == '\0') {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/lamina-data-XXXXXX",
                 base != NULL && base[0] != '\0' ? base : "/tmp");
        if (mkdtemp(tmpdir) == NULL) {
            printf("FAIL: mkdtemp %s\n", tmpdir);
            exit(1);
        }
    }
    return tmpdir;
}

const char *t_path(const char *name)
{
    static char bufs[8][512];
    static int slot;
    char *b = bufs[slot++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", t_tmpdir(), name);
    return b;
}

void t_tmp_cleanup(void)
{
    for (int i = 0; i < n_written; i++) {
        unlink(t_path(written[i]));
    }
    if (tmpdir[0] != '\0') {
        rmdir(tmpdir);
    }
}

const char *t_write(const char *name, const void *data, size_t n, int gz)
{
    const char *path = t_path(name);
    int seen = 0;
    for (int i = 0; i < n_written; i++) {
        seen |= strcmp(written[i], name) == 0;
    }
    if (!seen && n_written < 256) {
        snprintf(written[n_written++], sizeof written[0], "%s", name);
    }
    if (gz) {
        gzFile g = gzopen(path, "wb");
        if (g == NULL || (n > 0 && gzwrite(g, data, (unsigned)n) != (int)n) ||
            gzclose(g) != Z_OK) {
            printf("FAIL: cannot write %s\n", path);
            exit(1);
        }
    } else {
        FILE *f = fopen(path, "wb");
        if (f == NULL || (n > 0 && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
            printf("FAIL: cannot write %s\n", path);
            exit(1);
        }
    }
    return path;
}

int64_t t_file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

void t_buf_put(t_buf *b, const void *data, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) {
            cap *= 2;
        }
        unsigned char *p = realloc(b->p, cap);
        if (p == NULL) {
            printf("FAIL: out of memory in the test\n");
            exit(1);
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

void t_buf_u32be(t_buf *b, uint32_t v)
{
    unsigned char q[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    t_buf_put(b, q, 4);
}

void t_buf_free(t_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

void t_idx_header(t_buf *b, int type, int ndim, const uint32_t *dims)
{
    unsigned char m[4] = {0, 0, (unsigned char)type, (unsigned char)ndim};
    t_buf_put(b, m, 4);
    for (int i = 0; i < ndim; i++) {
        t_buf_u32be(b, dims[i]);
    }
}

void t_npy_header(t_buf *b, int major, const char *descr, int fortran, int ndim,
                  const int64_t *shape)
{
    char dict[512], shp[256];
    size_t k = 0;
    shp[0] = '\0';
    for (int i = 0; i < ndim; i++) {
        k += (size_t)snprintf(shp + k, sizeof shp - k, "%lld, ", (long long)shape[i]);
    }
    if (ndim > 1) {
        shp[k - 2] = '\0'; /* numpy writes (3, 4) but (3,) */
    } else if (ndim == 1) {
        shp[k - 1] = '\0';
    }
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }",
                     descr, fortran ? "True" : "False", shp);
    size_t pre = major == 1 ? 10 : 12;
    size_t total = pre + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)n + pad + 1;
    unsigned char m[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)major, 0};
    t_buf_put(b, m, 8);
    unsigned char l[4] = {(unsigned char)hlen, (unsigned char)(hlen >> 8),
                          (unsigned char)(hlen >> 16), (unsigned char)(hlen >> 24)};
    t_buf_put(b, l, major == 1 ? 2 : 4);
    t_buf_put(b, dict, (size_t)n);
    for (size_t i = 0; i < pad; i++) {
        t_buf_put(b, " ", 1);
    }
    t_buf_put(b, "\n", 1);
}

int t_expect_at(lam_ctx *ctx, lam_status st, lam_status want, const char *needle,
                const char *file, int line, const char *what)
{
    const char *msg = lam_ctx_errmsg(ctx);
    int ok = st == want && (needle == NULL || strstr(msg, needle) != NULL);
    t_check_at(ok, file, line, "%s: got %s (%d) \"%s\", want %s (%d) naming \"%s\"", what,
               lam_strerror(st), (int)st, msg, lam_strerror(want), (int)want,
               needle != NULL ? needle : "");
    if (getenv("LAM_TEST_VERBOSE") != NULL) {
        printf("  %-40s -> %s\n", what, msg);
    }
    return ok;
}

int64_t t_oom_sweep(const char *what, t_load_fn load, void *arg, int64_t max_k)
{
    t_alloc a;
    lam_ctx *ctx = t_ctx_counting(&a);
    const int64_t base_live = a.live, base_calls = a.calls;
    int64_t full = -1;
    for (int64_t k = 1; k <= max_k; k++) {
        a.fail_at = a.calls + k;
        a.failed = 0;
        lam_status st = load(ctx, arg);
        if (!a.failed) {
            T_CHECK(st == LAM_OK, "%s: run without a failed allocation gave %s (%s)", what,
                    lam_strerror(st), lam_ctx_errmsg(ctx));
            full = k - 1;
            break;
        }
        T_CHECK(st == LAM_ERR_NOMEM, "%s: allocation %lld failed, got %s (%s)", what,
                (long long)k, lam_strerror(st), lam_ctx_errmsg(ctx));
        T_CHECK(a.live == base_live, "%s: allocation %lld failed, %lld blocks leaked", what,
                (long long)k, (long long)(a.live - base_live));
    }
    T_CHECK(full >= 1, "%s: no successful run within %lld failing allocations", what,
            (long long)max_k);
    T_CHECK(a.live == base_live, "%s: leak after the successful run", what);
    (void)base_calls;
    lam_ctx_destroy(ctx);
    return full;
}

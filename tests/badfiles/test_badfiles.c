/* trust: every handcrafted bad input in tests/badfiles/manifest.txt is rejected with its
 * exact status, a message naming the file at fault, no leak and no oversized allocation.
 *
 * Usage: test_badfiles DIR  (DIR = tests/badfiles; the manifest format is documented in
 * make_badfiles.py, which writes both the files and the manifest).
 *
 * Allocation rule. Each loader runs on a context whose allocator records the largest single
 * request and the sum of all requests (and refuses anything above 256 MiB, so a bug cannot
 * take the machine down). With S the bytes the files of the case can deliver:
 *   S = sum over the case's files of their size, where a gzip file (magic 1f 8b) of n bytes
 *       counts as 1032 * n, zlib's documented deflate expansion bound that data/reader.c
 *       relies on (a gzip file of n bytes cannot hold more than 1032 * n bytes of data);
 * the case must satisfy
 *   largest single allocation <= max(64 KiB, 4 * S)   (a uint8, CSV or text byte may become
 *                                                       a float or an int32 token)
 *   sum of all allocations    <= max(256 KiB, 16 * S)
 * and every block must be freed once the objects are destroyed. For checkpoint-into and
 * checkpoint-optim the target model or optimizer the test builds itself is not counted
 * (its size is the test's choice, not the file's); everything the load calls allocate is.
 * zlib's and jansson's internal state come from malloc, outside the context (documented in
 * data/reader.c and model/safetensors.h), and are bounded by their own limits.
 *
 * Also checked: after a failed lam_checkpoint_load_weights() the model's weights are
 * unchanged, and after a failed lam_checkpoint_load_optim() the optimizer's step is 0. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "lamina.h"

#define CAP_BYTES ((size_t)256 << 20)
#define GZ_RATIO 1032

typedef struct counting {
    int64_t live;     /* blocks not yet freed */
    int64_t total;    /* bytes requested while counting */
    size_t max;       /* largest request while counting */
    int paused;       /* 1: the test's own objects, not counted in total/max */
} counting;

static void *c_alloc(void *user, size_t size, size_t align)
{
    counting *a = user;
    if (!a->paused) {
        a->total += (int64_t)size;
        a->max = size > a->max ? size : a->max;
    }
    if (size > CAP_BYTES) {
        return NULL;
    }
    void *p = aligned_alloc(align, (size + align - 1) / align * align);
    a->live += p != NULL;
    return p;
}

static void c_free(void *user, void *p)
{
    counting *a = user;
    if (p != NULL) {
        a->live--;
        free(p);
    }
}

static const struct {
    const char *name;
    lam_status st;
} status_names[] = {
    {"LAM_OK", LAM_OK},           {"LAM_ERR_ARG", LAM_ERR_ARG},
    {"LAM_ERR_SHAPE", LAM_ERR_SHAPE}, {"LAM_ERR_LAYOUT", LAM_ERR_LAYOUT},
    {"LAM_ERR_NOMEM", LAM_ERR_NOMEM}, {"LAM_ERR_IO", LAM_ERR_IO},
    {"LAM_ERR_FORMAT", LAM_ERR_FORMAT}, {"LAM_ERR_NUMERIC", LAM_ERR_NUMERIC},
    {"LAM_ERR_RANGE", LAM_ERR_RANGE}, {"LAM_ERR_STATE", LAM_ERR_STATE},
};

static const char *status_name(lam_status st)
{
    for (size_t i = 0; i < sizeof status_names / sizeof status_names[0]; i++) {
        if (status_names[i].st == st) {
            return status_names[i].name;
        }
    }
    return "?";
}

static int status_from_name(const char *s, lam_status *st)
{
    for (size_t i = 0; i < sizeof status_names / sizeof status_names[0]; i++) {
        if (strcmp(status_names[i].name, s) == 0) {
            *st = status_names[i].st;
            return 1;
        }
    }
    return 0;
}

typedef struct entry {
    int line;
    char path[2048];  /* full path of the file under test */
    char loader[32];  /* part of the loader field before ':' */
    char arg[2048];   /* after ':' (a companion file, made a full path, or a spec) */
    int arg_is_file;
    lam_status want;
    char frag[512];
} entry;

/* Bytes the file can deliver for the allocation rule (see the top of this file). */
static int64_t justified(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        return 0;
    }
    unsigned char m[2] = {0, 0};
    FILE *f = fopen(path, "rb");
    if (f != NULL) {
        if (fread(m, 1, 2, f) != 2) {
            m[0] = 0;
        }
        fclose(f);
    }
    int gz = m[0] == 0x1f && m[1] == 0x8b;
    return (int64_t)sb.st_size * (gz ? GZ_RATIO : 1);
}

/* Parse "CxHxW" or "F" (checkpoint metadata). */
static int parse_input(const char *s, int *ndim, int64_t shape[3])
{
    *ndim = 0;
    while (s != NULL && *ndim < 3) {
        char *end;
        long long v = strtoll(s, &end, 10);
        if (end == s || v < 1) {
            return 0;
        }
        shape[(*ndim)++] = v;
        if (*end != 'x') {
            return *end == '\0' && (*ndim == 1 || *ndim == 3);
        }
        s = end + 1;
    }
    return 0;
}

/* Copy every parameter of m into a malloc'd buffer (to check a failed load left them). */
static float *snapshot(lam_model *m, int64_t *n_out)
{
    lam_param *p;
    int n;
    lam_model_params(m, &p, &n);
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        total += p[i].n;
    }
    float *s = malloc((size_t)(total > 0 ? total : 1) * sizeof *s);
    int64_t k = 0;
    for (int i = 0; s != NULL && i < n; i++) {
        memcpy(s + k, p[i].w, (size_t)p[i].n * sizeof *s);
        k += p[i].n;
    }
    *n_out = total;
    return s;
}

static int same_as_snapshot(lam_model *m, const float *s)
{
    lam_param *p;
    int n;
    lam_model_params(m, &p, &n);
    int64_t k = 0;
    for (int i = 0; i < n; i++) {
        if (memcmp(s + k, p[i].w, (size_t)p[i].n * sizeof *s) != 0) {
            return 0;
        }
        k += p[i].n;
    }
    return 1;
}

static lam_status run_checkpoint(lam_ctx *ctx, counting *a, const entry *e)
{
    lam_checkpoint *ck = NULL;
    lam_model *m = NULL;
    lam_optim *opt = NULL;
    float *snap = NULL;
    lam_status st = lam_checkpoint_open(ctx, e->path, &ck);
    if (st == LAM_OK && strcmp(e->loader, "checkpoint-into") == 0) {
        int ndim = 0;
        int64_t shape[3];
        const char *n_out = lam_checkpoint_meta(ck, "lamina.n_out");
        if (!T_CHECK(parse_input(lam_checkpoint_meta(ck, "lamina.input"), &ndim, shape) &&
                     n_out != NULL, "line %d: checkpoint-into needs valid metadata", e->line)) {
            lam_checkpoint_close(ck);
            return LAM_ERR_ARG;
        }
        a->paused = 1;
        st = lam_model_create(ctx, e->arg, ndim, shape, atoll(n_out), 2, &m);
        a->paused = 0;
        T_CHECK(st == LAM_OK, "line %d: cannot build '%s': %s", e->line, e->arg,
                lam_ctx_errmsg(ctx));
        int64_t n = 0;
        snap = st == LAM_OK ? snapshot(m, &n) : NULL;
        if (st == LAM_OK) {
            st = lam_checkpoint_load_weights(ck, m);
        }
        if (st != LAM_OK && snap != NULL) {
            T_CHECK(same_as_snapshot(m, snap), "line %d: failed load changed the weights",
                    e->line);
        }
    } else if (st == LAM_OK) {
        st = lam_checkpoint_model(ck, 2, &m);
    }
    if (st == LAM_OK && strcmp(e->loader, "checkpoint-optim") == 0) {
        lam_optim_desc od;
        int sgd = strcmp(e->arg, "sgd-momentum") == 0;
        lam_optim_desc_init(&od, sgd ? LAM_OPTIM_SGD : LAM_OPTIM_ADAM);
        od.momentum = sgd ? 0.9 : 0.0;
        lam_param *p;
        int n;
        lam_model_params(m, &p, &n);
        a->paused = 1;
        st = lam_optim_create(ctx, &od, p, n, &opt);
        a->paused = 0;
        T_CHECK(st == LAM_OK, "line %d: cannot create the optimizer", e->line);
        if (st == LAM_OK) {
            st = lam_checkpoint_load_optim(ck, opt);
            if (st != LAM_OK) {
                T_CHECK(lam_optim_get_step(opt) == 0, "line %d: failed load set the step",
                        e->line);
            }
        }
    }
    free(snap);
    lam_optim_destroy(opt);
    lam_model_destroy(m);
    lam_checkpoint_close(ck);
    return st;
}

/* import:<input>:<spec>: the model is the test's (not counted); the import is counted, and
 * a failed one must leave the weights unchanged. */
static lam_status run_import(lam_ctx *ctx, counting *a, const entry *e)
{
    const char *colon = strchr(e->arg, ':');
    char in[32];
    int ndim = 0;
    int64_t shape[3];
    if (!T_CHECK(colon != NULL && (size_t)(colon - e->arg) < sizeof in, "line %d: import needs "
                 "<input>:<spec>", e->line)) {
        return LAM_ERR_ARG;
    }
    memcpy(in, e->arg, (size_t)(colon - e->arg));
    in[colon - e->arg] = '\0';
    if (!T_CHECK(parse_input(in, &ndim, shape), "line %d: bad input '%s'", e->line, in)) {
        return LAM_ERR_ARG;
    }
    lam_model *m = NULL;
    a->paused = 1;
    lam_status st = lam_model_create(ctx, colon + 1, ndim, shape, 3, 2, &m);
    a->paused = 0;
    if (!T_CHECK(st == LAM_OK, "line %d: cannot build '%s': %s", e->line, colon + 1,
                 lam_ctx_errmsg(ctx))) {
        return st;
    }
    int64_t n = 0;
    float *snap = snapshot(m, &n);
    lam_import_report rep;
    st = lam_model_import(m, e->path, NULL, &rep);
    if (st != LAM_OK && snap != NULL) {
        T_CHECK(same_as_snapshot(m, snap), "line %d: failed import changed the weights",
                e->line);
    }
    free(snap);
    lam_model_destroy(m);
    return st;
}

/* text: lam_text_load(path); fortunes: lam_text_load_fortunes(path), path a directory. */
static lam_status run_text(lam_ctx *ctx, const entry *e)
{
    lam_text *t = NULL;
    lam_status st = strcmp(e->loader, "text") == 0 ? lam_text_load(ctx, e->path, &t)
                                                   : lam_text_load_fortunes(ctx, e->path, &t);
    T_CHECK(st != LAM_OK || (t != NULL && t->n >= 2 && t->vocab >= 1),
            "line %d: LAM_OK without a text", e->line);
    T_CHECK(st == LAM_OK || t == NULL, "line %d: a failed load wrote its output", e->line);
    lam_text_destroy(t);
    return st;
}

static lam_status run_entry(lam_ctx *ctx, counting *a, const entry *e)
{
    lam_dataset *ds = NULL;
    int no_dataset = 0; /* loaders that make no lam_dataset check their own output */
    lam_data_options o;
    lam_data_options_init(&o);
    lam_status st = LAM_ERR_ARG;
    if (strcmp(e->loader, "idx-images") == 0) {
        st = lam_dataset_load_idx(ctx, e->path, NULL, &o, &ds);
    } else if (strcmp(e->loader, "idx-pair") == 0) {
        st = lam_dataset_load_idx(ctx, e->path, e->arg, &o, &ds);
    } else if (strcmp(e->loader, "csv") == 0 || strcmp(e->loader, "csv-classify") == 0) {
        o.task = e->loader[3] == '-' ? LAM_DATA_CLASSIFY : LAM_DATA_AUTO;
        st = lam_dataset_load_csv(ctx, e->path, &o, &ds);
    } else if (strcmp(e->loader, "npy") == 0) {
        st = lam_dataset_load_npy(ctx, e->path, NULL, &o, &ds);
    } else if (strcmp(e->loader, "npy-pair") == 0) {
        st = lam_dataset_load_npy(ctx, e->path, e->arg, &o, &ds);
    } else if (strncmp(e->loader, "checkpoint", 10) == 0) {
        st = run_checkpoint(ctx, a, e);
        no_dataset = 1;
    } else if (strcmp(e->loader, "import") == 0) {
        st = run_import(ctx, a, e);
        no_dataset = 1;
    } else if (strcmp(e->loader, "text") == 0 || strcmp(e->loader, "fortunes") == 0) {
        st = run_text(ctx, e);
        no_dataset = 1;
    } else {
        T_CHECK(0, "line %d: unknown loader '%s'", e->line, e->loader);
    }
    T_CHECK(st != LAM_OK || ds != NULL || no_dataset, "line %d: LAM_OK without a dataset",
            e->line);
    lam_dataset_destroy(ds);
    return st;
}

/* Split "a | b | c | d" in place; returns the number of fields. */
static int split_fields(char *s, char **f, int cap)
{
    int n = 0;
    while (n < cap) {
        f[n++] = s;
        char *sep = strstr(s, " | ");
        if (sep == NULL) {
            break;
        }
        *sep = '\0';
        s = sep + 3;
    }
    return n;
}

static int parse_line(const char *dir, char *line, int lineno, entry *e)
{
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '\0' || line[0] == '#') {
        return 0;
    }
    char *f[4] = {NULL, NULL, NULL, ""};
    int n = split_fields(line, f, 4);
    memset(e, 0, sizeof *e);
    e->line = lineno;
    if (!T_CHECK(n >= 3 && status_from_name(f[2], &e->want), "manifest line %d is malformed",
                 lineno)) {
        return 0;
    }
    snprintf(e->path, sizeof e->path, "%s/%s", dir, f[0]);
    char *colon = strchr(f[1], ':');
    if (colon != NULL) {
        *colon = '\0';
        e->arg_is_file = strstr(f[1], "pair") != NULL;
        snprintf(e->arg, sizeof e->arg, e->arg_is_file ? "%s/%s" : "%s%s",
                 e->arg_is_file ? dir : "", colon + 1);
    }
    snprintf(e->loader, sizeof e->loader, "%s", f[1]);
    snprintf(e->frag, sizeof e->frag, "%s", strcmp(f[3], "-") == 0 ? "" : f[3]);
    return 1;
}

static const char *base(const char *p)
{
    const char *s = strrchr(p, '/');
    return s != NULL ? s + 1 : p;
}

/* Every file under DIR/<format>/ must be used by some manifest line. */
static int count_unused(const char *dir, const char *fmt, const char *manifest_text)
{
    char d[600];
    snprintf(d, sizeof d, "%s/%s", dir, fmt);
    DIR *h = opendir(d);
    if (!T_CHECK(h != NULL, "cannot list %s", d)) {
        return 0;
    }
    int n = 0;
    struct dirent *de;
    while ((de = readdir(h)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        char rel[600];
        snprintf(rel, sizeof rel, "%s/%s", fmt, de->d_name);
        T_CHECK(strstr(manifest_text, rel) != NULL, "%s is in no manifest line", rel);
        n++;
    }
    closedir(h);
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        printf("usage: %s TESTS/BADFILES\n", argv[0]);
        return 1;
    }
    const char *dir = argv[1];
    char mpath[600];
    snprintf(mpath, sizeof mpath, "%s/manifest.txt", dir);
    FILE *mf = fopen(mpath, "rb");
    if (mf == NULL) {
        printf("FAIL: cannot open %s\n", mpath);
        return 1;
    }
    static char text[1 << 16];
    size_t text_len = fread(text, 1, sizeof text - 1, mf);
    text[text_len] = '\0';
    T_CHECK(text_len < sizeof text - 1, "manifest larger than the test's buffer");
    rewind(mf);

    counting a = {0};
    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    cfg.alloc = c_alloc;
    cfg.free = c_free;
    cfg.alloc_user = &a;
    cfg.n_threads = 1;
    lam_ctx *ctx = NULL;
    if (lam_ctx_create(&cfg, &ctx) != LAM_OK) {
        printf("FAIL: context\n");
        return 1;
    }
    const int verbose = getenv("LAM_TEST_VERBOSE") != NULL;
    char line[1024];
    int lineno = 0, cases = 0, bad_cases = 0;
    while (fgets(line, sizeof line, mf) != NULL) {
        entry e;
        if (!parse_line(dir, line, ++lineno, &e)) {
            continue;
        }
        cases++;
        bad_cases += e.want != LAM_OK;
        int64_t s = justified(e.path);
        if (e.arg_is_file) {
            s += justified(e.arg);
        }
        const int64_t live0 = a.live;
        a.max = 0;
        a.total = 0;
        lam_status st = run_entry(ctx, &a, &e);
        const char *msg = lam_ctx_errmsg(ctx);
        T_CHECK(st == e.want, "%s (line %d, %s): got %s, want %s: %s", base(e.path), e.line,
                e.loader, status_name(st), status_name(e.want), msg);
        if (e.want != LAM_OK) {
            /* the fragment must name a file of the case, and the message must hold it */
            T_CHECK(strstr(e.frag, base(e.path)) != NULL ||
                    (e.arg_is_file && strstr(e.frag, base(e.arg)) != NULL),
                    "line %d: fragment '%s' names no file", e.line, e.frag);
            T_CHECK(strstr(msg, e.frag) != NULL, "%s (line %d): message \"%s\" lacks \"%s\"",
                    base(e.path), e.line, msg, e.frag);
        }
        const int64_t lim_max = 4 * s > 65536 ? 4 * s : 65536;
        const int64_t lim_total = 16 * s > 262144 ? 16 * s : 262144;
        T_CHECK((int64_t)a.max <= lim_max && a.total <= lim_total,
                "%s (line %d): largest allocation %zu (limit %lld), total %lld (limit %lld)",
                base(e.path), e.line, a.max, (long long)lim_max, (long long)a.total,
                (long long)lim_total);
        T_CHECK(a.live == live0, "%s (line %d): %lld blocks leaked", base(e.path), e.line,
                (long long)(a.live - live0));
        if (verbose) {
            printf("  %-40s %-16s max %8zu total %8lld  %s\n", base(e.path), status_name(st),
                   a.max, (long long)a.total, msg);
        }
    }
    fclose(mf);
    lam_ctx_destroy(ctx);
    T_CHECK(a.live == 0, "%lld blocks live after destroying the context", (long long)a.live);

    static const char *formats[] = {"idx", "csv", "npy", "ckpt", "weights", "text"};
    int files = 0;
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        int n = count_unused(dir, formats[i], text);
        printf("%s: %d bad files\n", formats[i], n);
        files += n;
    }
    printf("%d manifest cases (%d expected to fail), %d bad files\n", cases, bad_cases, files);
    T_CHECK(files >= 60, "only %d bad files", files);
    return t_exit("trust/badfiles");
}

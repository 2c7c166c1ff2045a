/* The fortunes corpus (Debian's `fortunes` package, LAM_FORTUNES_DIR) as one byte-level
 * text: the directory holds the fortune files (`art`, `computers`, ...), each with a strfile
 * index (`art.dat`, binary) and a symbolic link `art.u8` -> `art`. The corpus is every
 * regular file, selected by lstat so that links (which would repeat a file) and
 * subdirectories are skipped, without hidden names and .dat indexes, concatenated in strcmp
 * order of the names: the same bytes in the same order on every machine, whatever the
 * locale or readdir's order. */
#define _POSIX_C_SOURCE 200809L
#include "data_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LAM__PATH_MAX 4096

static lam_status no_files(lam_ctx *ctx, const char *dir)
{
    return lam__error(ctx, LAM_ERR_IO,
                      "fortunes: %s: no text files (regular files other than .dat)", dir);
}

/* Names of a fortunes directory that may be text: not hidden, not a .dat index. */
static int fortune_name(const char *name)
{
    size_t len = strlen(name);
    return name[0] != '.' && !(len >= 4 && strcmp(name + len - 4, ".dat") == 0);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Pass over the directory: with names == NULL count the entries and their name bytes (with
 * terminators); else copy at most *count names into pool (cap bytes). */
static lam_status scan_dir(lam_ctx *ctx, const char *dir, DIR *h, char **names, char *pool,
                           int64_t cap, int64_t *count, int64_t *bytes)
{
    int64_t n = 0, used = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(h);
        if (de == NULL) {
            if (errno != 0) {
                return lam__io_error(ctx, dir, "cannot list", errno);
            }
            break;
        }
        if (!fortune_name(de->d_name)) {
            continue;
        }
        int64_t len = (int64_t)strlen(de->d_name) + 1;
        if (names != NULL) {
            if (n == *count || used + len > cap) {
                break; /* the directory grew between the passes */
            }
            names[n] = pool + used;
            memcpy(pool + used, de->d_name, (size_t)len);
        }
        n++;
        used += len;
    }
    *count = n;
    *bytes = used;
    return LAM_OK;
}

/* "dir/name" in buf (LAM__PATH_MAX bytes); ARG when it does not fit. */
static lam_status join(lam_ctx *ctx, char *buf, const char *dir, const char *name)
{
    int k = snprintf(buf, LAM__PATH_MAX, "%s/%s", dir, name);
    if (k < 0 || k >= LAM__PATH_MAX) {
        return lam__error(ctx, LAM_ERR_ARG, "fortunes: path of %s in %.100s is too long", name,
                          dir);
    }
    return LAM_OK;
}

/* The regular files among names[0..n) (sorted), compacted in place with their sizes. */
static lam_status select_files(lam_ctx *ctx, const char *dir, char **names, int64_t *sizes,
                               int64_t *n, int64_t *total)
{
    char path[LAM__PATH_MAX];
    int64_t k = 0, sum = 0;
    for (int64_t i = 0; i < *n; i++) {
        lam_status st = join(ctx, path, dir, names[i]);
        if (st != LAM_OK) {
            return st;
        }
        struct stat sb;
        if (lstat(path, &sb) != 0) {
            return lam__io_error(ctx, path, "cannot stat", errno);
        }
        if (S_ISREG(sb.st_mode)) {
            names[k] = names[i];
            sizes[k++] = (int64_t)sb.st_size;
            sum = lam__sat_add(sum, (int64_t)sb.st_size);
        }
    }
    *n = k;
    *total = sum;
    if (k == 0) {
        return no_files(ctx, dir);
    }
    return LAM_OK;
}

/* Read the selected files one after another into t->tokens. */
static lam_status read_files(lam_ctx *ctx, const char *dir, char *const *names,
                             const int64_t *sizes, int64_t n, lam_text *t)
{
    char path[LAM__PATH_MAX];
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        lam_status st = join(ctx, path, dir, names[i]);
        int fd = -1;
        int64_t size = 0;
        if (st == LAM_OK) {
            st = lam__open_regular(ctx, path, 1, &fd, &size);
        }
        if (st != LAM_OK) {
            return st;
        }
        if (size != sizes[i]) {
            st = lam__error(ctx, LAM_ERR_IO, "%s: changed size while the corpus was read "
                            "(%lld bytes, then %lld)", path, (long long)sizes[i],
                            (long long)size);
        } else {
            st = lam__text_read(ctx, path, fd, size, t->tokens + at);
        }
        close(fd);
        if (st != LAM_OK) {
            return st;
        }
        at += size;
    }
    return LAM_OK;
}

lam_status lam_text_load_fortunes(lam_ctx *ctx, const char *dir, lam_text **out)
{
    if (ctx == NULL || out == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "lam_text_load_fortunes: NULL argument");
    }
    if (dir == NULL) {
        dir = LAM_FORTUNES_DIR;
    }
    DIR *h = opendir(dir);
    if (h == NULL) {
        int e = errno;
        char buf[128];
        return lam__error(ctx, LAM_ERR_IO, "fortunes: %s: %s%s", dir,
                          lam__strerror(e, buf, sizeof buf),
                          e == ENOENT ? " (install Debian's fortunes package: apt-get install "
                                        "fortunes)" : "");
    }
    /* two passes: count, then copy the names into one block (pointers, sizes, characters) */
    int64_t count = 0, bytes = 0;
    char *block = NULL;
    lam_text *t = NULL;
    lam_status st = scan_dir(ctx, dir, h, NULL, NULL, 0, &count, &bytes);
    if (st == LAM_OK && count == 0) {
        st = no_files(ctx, dir);
    }
    const int64_t head = count * (int64_t)(sizeof(char *) + sizeof(int64_t));
    if (st == LAM_OK) {
        block = lam__data_alloc(ctx, head + bytes, dir);
        st = block == NULL ? LAM_ERR_NOMEM : LAM_OK;
    }
    char **names = (char **)(void *)block;
    int64_t *sizes = block != NULL ? (int64_t *)(void *)(block + count * sizeof(char *)) : NULL;
    if (st == LAM_OK) {
        rewinddir(h);
        st = scan_dir(ctx, dir, h, names, block + head, bytes, &count, &bytes);
    }
    closedir(h);
    int64_t total = 0;
    if (st == LAM_OK) {
        qsort(names, (size_t)count, sizeof *names, cmp_names);
        st = select_files(ctx, dir, names, sizes, &count, &total);
    }
    if (st == LAM_OK) {
        st = lam__text_new(ctx, dir, total, &t);
    }
    if (st == LAM_OK) {
        st = read_files(ctx, dir, names, sizes, count, t);
    }
    lam_free(ctx, block);
    if (st != LAM_OK) {
        lam_text_destroy(t);
        return st;
    }
    lam__text_vocab(t);
    *out = t;
    return LAM_OK;
}

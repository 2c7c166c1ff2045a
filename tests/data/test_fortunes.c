/* data: the real fortunes corpus of Debian's `fortunes` package (LAM_FORTUNES_DIR), when
 * installed (else skipped with 77): size and vocabulary, the files it is made of (counted
 * here independently: regular, not hidden, not .dat, in strcmp order), one allocation of
 * 4 bytes per token, and the first and last bytes against the files themselves. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data_util.h"

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The corpus files by the rule, sorted; returns their count and total size. */
static int list_files(char **names, int cap, int64_t *total)
{
    DIR *h = opendir(LAM_FORTUNES_DIR);
    int n = 0;
    *total = 0;
    struct dirent *de;
    while (h != NULL && (de = readdir(h)) != NULL) {
        size_t len = strlen(de->d_name);
        char path[1024];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", LAM_FORTUNES_DIR, de->d_name);
        if (de->d_name[0] == '.' || (len >= 4 && strcmp(de->d_name + len - 4, ".dat") == 0) ||
            lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || n == cap) {
            continue;
        }
        names[n++] = strdup(de->d_name);
        *total += (int64_t)sb.st_size;
    }
    if (h != NULL) {
        closedir(h);
    }
    qsort(names, (size_t)n, sizeof *names, by_name);
    return n;
}

/* The text from position `at` decodes to the first (or last) k bytes of file `name`. */
static int matches_file(const lam_text *t, int64_t at, const char *name, int from_end, int k)
{
    char path[1024];
    unsigned char buf[64];
    snprintf(path, sizeof path, "%s/%s", LAM_FORTUNES_DIR, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL || (from_end && fseek(f, -k, SEEK_END) != 0) ||
        fread(buf, 1, (size_t)k, f) != (size_t)k) {
        if (f != NULL) {
            fclose(f);
        }
        return 0;
    }
    fclose(f);
    for (int i = 0; i < k; i++) {
        if (t->bytes[t->tokens[at + i]] != buf[i]) {
            return 0;
        }
    }
    return 1;
}

int main(void)
{
    DIR *probe = opendir(LAM_FORTUNES_DIR);
    if (probe == NULL) {
        printf("skip: %s not installed (apt-get install fortunes)\n", LAM_FORTUNES_DIR);
        return T_SKIP;
    }
    closedir(probe);
    char *names[1024];
    int64_t total = 0;
    int nf = list_files(names, 1024, &total);
    t_alloc a;
    lam_ctx *ctx = t_ctx_counting(&a);
    lam_text *t = NULL;
    double t0 = lam_time_now();
    lam_status st = lam_text_load_fortunes(ctx, NULL, &t);
    double dt = lam_time_now() - t0;
    if (T_CHECK(st == LAM_OK, "load: %s", lam_ctx_errmsg(ctx))) {
        printf("%d files, %lld bytes, vocabulary %d, loaded in %.3f s\n", nf, (long long)t->n,
               t->vocab, dt);
        T_CHECK(t->n > 2000000, "corpus of %lld bytes, want > 2,000,000", (long long)t->n);
        T_CHECK(t->vocab >= 60 && t->vocab <= 256, "vocabulary %d", t->vocab);
        T_CHECK(t->n == total, "corpus %lld bytes, the %d files hold %lld", (long long)t->n, nf,
                (long long)total);
        T_CHECK(a.max_size == (size_t)t->n * 4, "largest allocation %zu, want 4n", a.max_size);
        int sorted = 1, used = 0;
        for (int v = 1; v < t->vocab; v++) {
            sorted &= t->bytes[v - 1] < t->bytes[v];
        }
        int64_t count[256] = {0};
        for (int64_t i = 0; i < t->n; i++) {
            count[t->tokens[i]]++;
        }
        for (int v = 0; v < t->vocab; v++) {
            used += count[v] > 0;
        }
        T_CHECK(sorted && used == t->vocab, "vocabulary sorted and every id used");
        T_CHECK(nf > 0 && matches_file(t, 0, names[0], 0, 64) &&
                    matches_file(t, t->n - 64, names[nf - 1], 1, 64),
                "starts with %s and ends with %s", nf > 0 ? names[0] : "?",
                nf > 0 ? names[nf - 1] : "?");
        int64_t b = 0, e = 0;
        lam_text_split(t, 1, &b, &e);
        printf("validation [%lld, %lld): %lld batches of 32 x 64\n", (long long)b,
               (long long)e, (long long)lam_lm_batches(b, e, 32, 64));
        lam_text_destroy(t);
    }
    for (int i = 0; i < nf; i++) {
        free(names[i]);
    }
    T_CHECK(a.live == 1, "only the context is live at the end (%lld)", (long long)a.live);
    lam_ctx_destroy(ctx);
    return t_exit("data/fortunes");
}

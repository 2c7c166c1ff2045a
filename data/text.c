/* Byte-level text for character language models: a file (or Debian's fortunes corpus) read
 * as bytes, renumbered densely, split 90/5/5 by position, and cut into the contiguous streams
 * of truncated backpropagation through time.
 *
 * Streams follow PyTorch's examples/word_language_model (batchify, get_batch): the tokens
 * [begin, end) are cut into `rows` streams of L = (end - begin) / rows tokens, stream r
 * starting at begin + r*L (the remainder is dropped); batch b is, for every stream,
 *     x[r][j]      = tokens[begin + r*L + b*T + j]
 *     labels[r][j] = tokens[begin + r*L + b*T + j + 1]        j = 0 .. T-1,
 * so row r of batch b + 1 continues row r of batch b, and a recurrent state carried from
 * one batch to the next sees one unbroken text per row. Unlike get_batch we make only whole
 * batches: b*T + T <= L - 1, so there are (L - 1) / T of them.
 *
 * Memory: the tokens are int32 (4 bytes per byte of text), and that array must stay within
 * LAM_DATA_MAX_BYTES like every array a reader builds; it is the only large allocation.
 * Files are read through a 32 KiB stack buffer, never copied whole. The fortunes corpus
 * (a directory of files) is fortunes.c. */
#define _POSIX_C_SOURCE 200809L
#include "data_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LAM__TEXT_CHUNK (1 << 15)

/* Refuse texts a language model cannot use or that would exceed the token array's limit. */
static lam_status check_length(lam_ctx *ctx, const char *what, int64_t n)
{
    if (n == 0) {
        return lam__error(ctx, LAM_ERR_FORMAT,
                          "%s: empty; a language model needs at least 2 bytes", what);
    }
    if (n == 1) {
        return lam__error(ctx, LAM_ERR_FORMAT,
                          "%s: 1 byte; a language model needs at least 2", what);
    }
    if (n > LAM_DATA_MAX_BYTES / (int64_t)sizeof(int32_t)) {
        return lam__error(ctx, LAM_ERR_RANGE,
                          "%s: %lld bytes of text take %lld bytes as int32 tokens, over the "
                          "limit of %lld",
                          what, (long long)n, (long long)lam__sat_mul(n, sizeof(int32_t)),
                          (long long)LAM_DATA_MAX_BYTES);
    }
    return LAM_OK;
}

lam_status lam__text_new(lam_ctx *ctx, const char *what, int64_t n, lam_text **out)
{
    lam_status st = check_length(ctx, what, n);
    if (st != LAM_OK) {
        return st;
    }
    lam_text *t = lam__data_alloc(ctx, (int64_t)sizeof *t, what);
    if (t == NULL) {
        return LAM_ERR_NOMEM;
    }
    memset(t, 0, sizeof *t);
    t->ctx = ctx;
    t->n = n;
    t->tokens = lam__data_alloc(ctx, n * (int64_t)sizeof(int32_t), what);
    if (t->tokens == NULL) {
        lam_free(ctx, t);
        return LAM_ERR_NOMEM;
    }
    *out = t;
    return LAM_OK;
}

void lam_text_destroy(lam_text *t)
{
    if (t == NULL) {
        return;
    }
    lam_free(t->ctx, t->tokens);
    lam_free(t->ctx, t);
}

void lam__text_vocab(lam_text *t)
{
    unsigned char seen[256] = {0};
    int32_t id[256];
    for (int64_t i = 0; i < t->n; i++) {
        seen[t->tokens[i]] = 1;
    }
    int v = 0;
    memset(t->bytes, 0, sizeof t->bytes);
    for (int b = 0; b < 256; b++) {
        id[b] = v;
        if (seen[b]) {
            t->bytes[v++] = (unsigned char)b;
        }
    }
    t->vocab = v;
    for (int64_t i = 0; i < t->n; i++) {
        t->tokens[i] = id[t->tokens[i]];
    }
}

lam_status lam__text_read(lam_ctx *ctx, const char *path, int fd, int64_t size, int32_t *dst)
{
    unsigned char buf[LAM__TEXT_CHUNK];
    int64_t done = 0;
    while (done < size) {
        size_t want = size - done < LAM__TEXT_CHUNK ? (size_t)(size - done) : LAM__TEXT_CHUNK;
        ssize_t k = read(fd, buf, want);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k < 0) {
            return lam__io_error(ctx, path, "cannot read", errno);
        }
        if (k == 0) {
            return lam__error(ctx, LAM_ERR_IO,
                              "%s: file shrank while being read (%lld of %lld bytes)", path,
                              (long long)done, (long long)size);
        }
        for (ssize_t i = 0; i < k; i++) {
            dst[done + i] = buf[i];
        }
        done += k;
    }
    return LAM_OK;
}

lam_status lam_text_load(lam_ctx *ctx, const char *path, lam_text **out)
{
    if (ctx == NULL || path == NULL || out == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "lam_text_load: NULL argument");
    }
    int fd = -1;
    int64_t size = 0;
    lam_status st = lam__open_regular(ctx, path, 0, &fd, &size);
    if (st != LAM_OK) {
        return st;
    }
    lam_text *t = NULL;
    st = lam__text_new(ctx, path, size, &t);
    if (st == LAM_OK) {
        st = lam__text_read(ctx, path, fd, size, t->tokens);
    }
    close(fd);
    if (st != LAM_OK) {
        lam_text_destroy(t);
        return st;
    }
    lam__text_vocab(t);
    *out = t;
    return LAM_OK;
}

/* --------------------------------------------------------- vocabulary, splits */

lam_status lam_text_set_vocab(lam_text *t, const unsigned char *bytes, int vocab)
{
    lam_ctx *ctx = t != NULL ? t->ctx : NULL;
    if (t == NULL || bytes == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "lam_text_set_vocab: NULL argument");
    }
    if (vocab < 1 || vocab > 256) {
        return lam__error(ctx, LAM_ERR_ARG,
                          "lam_text_set_vocab: a vocabulary of %d bytes (1 to 256 expected)",
                          vocab);
    }
    int32_t id[256];
    for (int b = 0; b < 256; b++) {
        id[b] = -1;
    }
    for (int i = 0; i < vocab; i++) {
        if (id[bytes[i]] >= 0) {
            return lam__error(ctx, LAM_ERR_ARG,
                              "lam_text_set_vocab: byte 0x%02x appears twice in the "
                              "vocabulary (ids %d and %d)", bytes[i], id[bytes[i]], i);
        }
        id[bytes[i]] = i;
    }
    /* old id -> new id; check every token before changing any */
    int32_t map[256];
    for (int i = 0; i < t->vocab; i++) {
        map[i] = id[t->bytes[i]];
    }
    for (int64_t i = 0; i < t->n; i++) {
        if (map[t->tokens[i]] < 0) {
            return lam__error(ctx, LAM_ERR_RANGE,
                              "text: byte 0x%02x at position %lld is not in the model's "
                              "vocabulary", t->bytes[t->tokens[i]], (long long)i);
        }
    }
    for (int64_t i = 0; i < t->n; i++) {
        t->tokens[i] = map[t->tokens[i]];
    }
    memset(t->bytes, 0, sizeof t->bytes);
    memcpy(t->bytes, bytes, (size_t)vocab);
    t->vocab = vocab;
    return LAM_OK;
}

/* floor(n * pct / 100), exact and without overflow for any n >= 0. */
static int64_t percent(int64_t n, int64_t pct)
{
    return n / 100 * pct + n % 100 * pct / 100;
}

lam_status lam_text_split(const lam_text *t, int part, int64_t *begin, int64_t *end)
{
    if (t == NULL || begin == NULL || end == NULL) {
        return lam__error(t != NULL ? t->ctx : NULL, LAM_ERR_ARG,
                          "lam_text_split: NULL argument");
    }
    if (part < 0 || part > 2) {
        return lam__error(t->ctx, LAM_ERR_ARG,
                          "lam_text_split: part %d (0 training, 1 validation, 2 test)", part);
    }
    const int64_t cut[4] = {0, percent(t->n, 90), percent(t->n, 95), t->n};
    *begin = cut[part];
    *end = cut[part + 1];
    return LAM_OK;
}

/* ------------------------------------------------------------------ streams */

int64_t lam_lm_batches(int64_t begin, int64_t end, int64_t rows, int64_t T)
{
    if (begin < 0 || end <= begin || rows < 1 || T < 1) {
        return 0;
    }
    const int64_t L = (end - begin) / rows;
    return L < 1 ? 0 : (L - 1) / T;
}

lam_status lam_lm_batch(const lam_text *t, int64_t begin, int64_t end, int64_t rows,
                        int64_t T, int64_t b, float *x, int32_t *labels)
{
    if (t == NULL || x == NULL || labels == NULL) {
        return lam__error(t != NULL ? t->ctx : NULL, LAM_ERR_ARG, "lam_lm_batch: NULL argument");
    }
    if (begin < 0 || end > t->n || begin > end) {
        return lam__error(t->ctx, LAM_ERR_ARG,
                          "lam_lm_batch: tokens [%lld, %lld) outside the text's [0, %lld)",
                          (long long)begin, (long long)end, (long long)t->n);
    }
    const int64_t nb = lam_lm_batches(begin, end, rows, T);
    if (b < 0 || b >= nb) {
        return lam__error(t->ctx, LAM_ERR_ARG,
                          "lam_lm_batch: batch %lld outside [0, %lld) for tokens [%lld, %lld) "
                          "in %lld rows of %lld", (long long)b, (long long)nb, (long long)begin,
                          (long long)end, (long long)rows, (long long)T);
    }
    /* nb > 0: rows, T >= 1 and rows * (b*T + T + 1) <= end - begin, so nothing overflows */
    const int64_t L = (end - begin) / rows;
    for (int64_t r = 0; r < rows; r++) {
        const int32_t *s = t->tokens + begin + r * L + b * T;
        for (int64_t j = 0; j < T; j++) {
            x[r * T + j] = (float)s[j];
            labels[r * T + j] = s[j + 1];
        }
    }
    return LAM_OK;
}

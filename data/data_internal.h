/* Internal API of the data floor: a byte reader over raw or gzip files that always knows
 * how much the file can still deliver, element decoding, and dataset construction shared by
 * the IDX, NPY and CSV readers. Not installed. */
#ifndef LAM_DATA_INTERNAL_H
#define LAM_DATA_INTERNAL_H

#include "core_internal.h"
#include "lamina/data.h"

#include <zlib.h>

/* Element types of IDX and NPY payloads. */
typedef enum lam__dtype {
    LAM__U8,
    LAM__I8,
    LAM__I16,
    LAM__I32,
    LAM__I64,
    LAM__F32,
    LAM__F64,
} lam__dtype;

int lam__dtype_size(lam__dtype t);
const char *lam__dtype_name(lam__dtype t);
int lam__dtype_is_int(lam__dtype t);

/*
 * A sequential reader. Raw and gzip files go through zlib's gz* functions (which read raw
 * files transparently), so every format also works compressed. `pos` counts uncompressed
 * bytes consumed, which is what messages report as offsets.
 */
typedef struct lam__rd {
    lam_ctx *ctx;
    const char *path;   /* as given by the caller, for messages */
    gzFile gz;
    int compressed;     /* 1: gzip stream, 0: raw file */
    int64_t file_size;  /* bytes on disk */
    uint32_t isize;     /* gzip trailer: uncompressed size mod 2^32 (last member) */
    int64_t pos;        /* uncompressed bytes consumed */
} lam__rd;

/* Open a regular file (reader.c) and give its size; IO otherwise ("not a regular file",
 * also for a directory or a FIFO, which is not waited on). nofollow: refuse a symbolic link
 * (fortunes.c: an entry replaced by a link after it was listed). Every reader opens here. */
lam_status lam__open_regular(lam_ctx *ctx, const char *path, int nofollow, int *fd,
                             int64_t *size);
/* Open `path` for reading. IO: cannot open / not a regular file; NOMEM: zlib state. */
lam_status lam__rd_open(lam_ctx *ctx, const char *path, lam__rd *r);
void lam__rd_close(lam__rd *r);
/* Read up to n bytes; *got < n only at the end of the data. FORMAT on corrupt gzip. */
lam_status lam__rd_read(lam__rd *r, void *buf, int64_t n, int64_t *got);
/* Read exactly n bytes of a header part named `what`; FORMAT "truncated in <what>". */
lam_status lam__rd_exact(lam__rd *r, void *buf, int64_t n, const char *what);
/* Check that exactly `want` more bytes remain before anything is allocated for them.
 * `promise` describes the header's claim for the message ("60000x28x28 uint8").
 * RANGE: want beyond LAM_DATA_MAX_BYTES; FORMAT: the file holds a different amount. */
lam_status lam__rd_expect(lam__rd *r, int64_t want, const char *promise);
/* Count the bytes that remain (decompressing a gzip file once without storing it), then
 * return to the current position. */
lam_status lam__rd_remaining(lam__rd *r, int64_t *out);

/* Decode `count` elements of type `dt` into floats (uint8 / 255 when scale_u8). Values that
 * are NaN/Inf (or beyond float32) give FORMAT naming sample = element / numel. The caller
 * has checked the size with lam__rd_expect(); a short read is still reported as FORMAT. */
lam_status lam__rd_decode(lam__rd *r, lam__dtype dt, int big_endian, int64_t count,
                          int64_t numel, int scale_u8, float *dst, const char *what);

/* Options with NULL resolved to the defaults. */
const lam_data_options *lam__data_opts(const lam_data_options *o, lam_data_options *tmp);

/* "60000x28x28" into buf. */
void lam__format_dims(char *buf, size_t cap, int ndim, const int64_t *dims);

/* Map a file array's dims (N, ...) to a sample shape: (N)->(1), (N,F)->(F), (N,H,W)->(1,H,W),
 * (N,C,H,W)->(C,H,W). ndim must be 1..4. */
void lam__sample_shape(int ndim, const int64_t *dims, int *sample_ndim, int64_t *shape);

/* Allocate a dataset with `n` samples of the given shape; x is uninitialised and labels /
 * targets unset (task UNLABELED). RANGE if x would exceed LAM_DATA_MAX_BYTES. `what` names
 * the file or call for messages. */
lam_status lam__dataset_new(lam_ctx *ctx, const char *what, int64_t n, int sample_ndim,
                            const int64_t *sample_shape, lam_dataset **out);

/* Attach outputs to ds from `y` (n x cols floats, allocated from ds->ctx; ownership passes
 * to this call, which keeps or frees it). task must be CLASSIFY or REGRESS. For CLASSIFY
 * the values must be integers in [0, limit) where limit = n_classes or LAM_DATA_MAX_CLASSES;
 * n_classes 0 means largest + 1. */
lam_status lam__dataset_attach_y(lam_dataset *ds, const char *what, float *y, int64_t cols,
                                 lam_data_task task, int64_t n_classes);

/* lam__permute and the shuffle/split RNG streams live in core_internal.h (lam_fit shuffles
 * the same way). */

/* Allocate `bytes` for the file `what`; NOMEM with a message naming it. */
void *lam__data_alloc(lam_ctx *ctx, int64_t bytes, const char *what);

/* The text of errno `err` in buf (thread-safe strerror_r; "errno N" if unknown); returns buf. */
const char *lam__strerror(int err, char *buf, size_t cap);
/* IO "<path>: <what>: <strerror(err)>". */
lam_status lam__io_error(lam_ctx *ctx, const char *path, const char *what, int err);

/* Byte-level text (text.c); fortunes.c reads a directory through these. */
/* A text of n tokens, uninitialised. FORMAT when n < 2, RANGE when its int32 tokens would
 * exceed LAM_DATA_MAX_BYTES; `what` names the file or directory in messages. */
lam_status lam__text_new(lam_ctx *ctx, const char *what, int64_t n, lam_text **out);
/* Read exactly `size` bytes of fd into dst as int32 byte values; IO on error or when the
 * file ends early. */
lam_status lam__text_read(lam_ctx *ctx, const char *path, int fd, int64_t size,
                          int32_t *dst);
/* The tokens hold byte values: renumber them to the bytes that occur, in byte order. */
void lam__text_vocab(lam_text *t);

#endif

/* Shared helpers of the data suite: a temp directory for fixtures, file writers (raw, gzip,
 * IDX, NPY) and status checks that also require the error message to name the file. */
#ifndef LAM_TEST_DATA_UTIL_H
#define LAM_TEST_DATA_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "harness.h"
#include "lamina/data.h"

/* Make a fresh temp directory (mkdtemp) and return its path; removed by t_tmp_cleanup. */
const char *t_tmpdir(void);
/* "<tmpdir>/<name>" in a static rotating buffer (8 slots). */
const char *t_path(const char *name);
/* Remove every file written through these helpers, then the directory. */
void t_tmp_cleanup(void);

/* Write bytes to <tmpdir>/name, raw or gzip-compressed (gz != 0). Returns the path. */
const char *t_write(const char *name, const void *data, size_t n, int gz);
/* File size in bytes. */
int64_t t_file_size(const char *path);

/* Growable byte buffer for building fixtures. */
typedef struct t_buf {
    unsigned char *p;
    size_t n, cap;
} t_buf;
void t_buf_put(t_buf *b, const void *data, size_t n);
void t_buf_u32be(t_buf *b, uint32_t v);
void t_buf_free(t_buf *b);

/* IDX header: type code and dims; the caller appends the payload. */
void t_idx_header(t_buf *b, int type, int ndim, const uint32_t *dims);
/* NPY header for a dtype string, fortran flag and shape ("(3, 4)" style built here), with
 * format version major (1, 2 or 3); padded to a 64-byte multiple as numpy does. */
void t_npy_header(t_buf *b, int major, const char *descr, int fortran, int ndim,
                  const int64_t *shape);

/* Check st == want and that the context message contains `needle` (typically the file path);
 * prints the message either way on failure. Returns 1 if ok. */
int t_expect_at(lam_ctx *ctx, lam_status st, lam_status want, const char *needle,
                const char *file, int line, const char *what);
#define T_EXPECT(ctx, st, want, needle, what) \
    t_expect_at((ctx), (st), (want), (needle), __FILE__, __LINE__, (what))

/* Run `load` with the k-th allocation failing for k = 1.. until it succeeds; each failure
 * must give LAM_ERR_NOMEM and leave no live allocation. `load` returns a status and frees
 * whatever it made on success. Returns the number of allocations of a full run. */
typedef lam_status (*t_load_fn)(lam_ctx *ctx, void *arg);
int64_t t_oom_sweep(const char *what, t_load_fn load, void *arg, int64_t max_k);

#endif

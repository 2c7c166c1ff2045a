/* safetensors reader and writer (internal, not installed). The generic storage layer that
 * checkpoints are built on; it knows nothing about models.
 *
 * Format (https://github.com/huggingface/safetensors): an 8-byte little-endian u64 N, then
 * N bytes of UTF-8 JSON, then the data region. The JSON is an object mapping each tensor
 * name to {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]} (byte offsets
 * into the data region, end - begin = numel * dtype size), plus an optional "__metadata__"
 * object of string -> string. Data is little-endian, row-major (C order).
 *
 * Writer: tensors are laid out by decreasing dtype size (then in the caller's order), so
 * every tensor starts at a multiple of its element size; the header is padded with spaces
 * so the data region starts at an 8-byte file offset. The file is replaced atomically
 * (atomic_file.h): a failed write leaves the old file untouched.
 *
 * Reader: the whole file is read and validated before lam__st_open() returns: header
 * length within the file and at most LAM_ST_MAX_HEADER, strict JSON (RFC 8259, duplicate
 * keys rejected, UTF-8 checked), known dtypes, non-negative integer shapes of at most
 * LAM_ST_MAX_DIM dims with overflow-checked products, data_offsets consistent with the
 * shape, inside the data region, and tiling it exactly (no overlap, no hole, no trailing
 * bytes; sorted by begin, as the reference implementation checks), string-only metadata,
 * no keys other than dtype/shape/data_offsets in a tensor entry. Any violation is
 * LAM_ERR_FORMAT with a one-line message naming the file and the problem.
 *
 * Memory: everything the reader keeps comes from lam_alloc() (the data region is copied
 * into one 64-byte-aligned block, so a tensor's data is aligned to its element size
 * whenever its begin offset is, which holds for files from this writer and from the
 * reference implementation; callers that accept foreign files should memcpy, e.g. with
 * lam__st_copy). jansson's parse tree is allocated with malloc (jansson's allocator hooks
 * are process-global, so we do not install ours) and freed before lam__st_open() returns;
 * LAM_ST_MAX_HEADER bounds it.
 *
 * Host byte order: only little-endian hosts are supported (data bytes are not swapped);
 * on a big-endian host every entry point returns LAM_ERR_RANGE.
 *
 * Sub-byte dtypes of newer safetensors versions (F4, F6_*) and complex types are not
 * supported: a file containing them is rejected as having an unknown dtype.
 */
#ifndef LAM_SAFETENSORS_H
#define LAM_SAFETENSORS_H

#include <stdint.h>

#include "atomic_file.h"
#include "core_internal.h"

#define LAM_ST_MAX_DIM 8
/* Largest JSON header accepted (the reference implementation's limit). */
#define LAM_ST_MAX_HEADER ((int64_t)100 * 1000 * 1000)
/* Largest file accepted: a sanity bound, far above any CPU-trained model. */
#define LAM_ST_MAX_FILE ((int64_t)1 << 36)

/* Element types. The values are lamina's own; names in files are the strings in the
 * comments. */
typedef enum lam_st_dtype {
    LAM_ST_BOOL = 0, /* "BOOL", 1 byte */
    LAM_ST_U8,       /* "U8" */
    LAM_ST_I8,       /* "I8" */
    LAM_ST_F8_E5M2,  /* "F8_E5M2" */
    LAM_ST_F8_E4M3,  /* "F8_E4M3" */
    LAM_ST_I16,      /* "I16", 2 bytes */
    LAM_ST_U16,      /* "U16" */
    LAM_ST_F16,      /* "F16" */
    LAM_ST_BF16,     /* "BF16" */
    LAM_ST_I32,      /* "I32", 4 bytes */
    LAM_ST_U32,      /* "U32" */
    LAM_ST_F32,      /* "F32" */
    LAM_ST_I64,      /* "I64", 8 bytes */
    LAM_ST_U64,      /* "U64" */
    LAM_ST_F64,      /* "F64" */
    LAM_ST_NUM_DTYPES
} lam_st_dtype;

/* Name of a dtype as written in files, or NULL when dtype is not a lam_st_dtype. */
const char *lam__st_dtype_name(int dtype);
/* Bytes per element, or 0 when dtype is not a lam_st_dtype. */
int64_t lam__st_dtype_size(int dtype);
/* dtype for a file's name ("F32" -> LAM_ST_F32), or -1 when unknown. */
int lam__st_dtype_from_name(const char *name);

/* ------------------------------------------------------------------ writer */

/* One tensor to write. The writer copies nothing: `name` and `data` are read during the
 * call only. */
typedef struct lam_st_entry {
    const char *name;               /* UTF-8, unique, not "__metadata__" */
    int dtype;                      /* a lam_st_dtype */
    int ndim;                       /* 0 (a scalar) .. LAM_ST_MAX_DIM */
    int64_t shape[LAM_ST_MAX_DIM];  /* each >= 0; a 0 gives an empty tensor */
    const void *data;               /* numel * dtype size bytes, little-endian, row-major;
                                       may be NULL when that is 0 */
} lam_st_entry;

/*
 * Write `n` tensors and `n_meta` metadata strings (meta_keys[i] -> meta_vals[i], UTF-8,
 * keys unique) to `path`, replacing any existing file atomically.
 * @param io  fault-injection hooks for the atomic writer; NULL = real system calls.
 * @return LAM_OK; LAM_ERR_ARG (NULL pointers, duplicate or reserved names, unknown dtype,
 *         bad ndim or shape, invalid UTF-8, NULL data for a non-empty tensor: nothing is
 *         written); LAM_ERR_RANGE (sizes overflow, header above LAM_ST_MAX_HEADER, or a
 *         big-endian host); LAM_ERR_NOMEM; LAM_ERR_IO (the old file at path is untouched and
 *         no temporary file remains; the message names path and the reason).
 */
lam_status lam__st_write(lam_ctx *ctx, const char *path, const lam_st_entry *entries, int n,
                         const char *const *meta_keys, const char *const *meta_vals,
                         int n_meta, const lam_io_hooks *io);

/* ------------------------------------------------------------------ reader */

/* One tensor of an open file; valid until lam__st_close(). */
typedef struct lam_st_tensor {
    const char *name;
    int dtype;                      /* a lam_st_dtype */
    int ndim;                       /* 0 for a scalar */
    int64_t shape[LAM_ST_MAX_DIM];  /* entries past ndim are 1 */
    int64_t numel;                  /* product of shape (1 for a scalar) */
    int64_t nbytes;                 /* numel * dtype size */
    int64_t offset;                 /* begin within the data region */
    const void *data;               /* nbytes bytes; NULL when nbytes is 0 */
} lam_st_tensor;

typedef struct lam_st_file lam_st_file;

/*
 * Read and validate a whole safetensors file.
 * @param[out] out  the open file, written only on success; close with lam__st_close().
 * @return LAM_OK; LAM_ERR_IO (cannot open or read, not a regular file); LAM_ERR_FORMAT
 *         (anything malformed, see the top of this header); LAM_ERR_NOMEM; LAM_ERR_ARG
 *         (NULL arguments); LAM_ERR_RANGE (file above LAM_ST_MAX_FILE, big-endian host).
 *         Messages start with path. Allocations: the header buffer (freed before return)
 *         and one block holding the entries, names and the data region.
 */
lam_status lam__st_open(lam_ctx *ctx, const char *path, lam_st_file **out);

/*
 * Same as lam__st_open() for a file image already in memory (fuzzing, embedded blobs).
 * `name` is used in messages only. The bytes are copied; `buf` is not kept.
 */
lam_status lam__st_open_mem(lam_ctx *ctx, const char *name, const void *buf, int64_t size,
                            lam_st_file **out);

/* Release an open file. NULL is a no-op. `ctx` must be the context it was opened with. */
void lam__st_close(lam_ctx *ctx, lam_st_file *st);

/* Number of tensors (0 for NULL). */
int lam__st_count(const lam_st_file *st);
/* The i-th tensor in name order (bytewise strcmp), or NULL when i is out of range. */
const lam_st_tensor *lam__st_at(const lam_st_file *st, int i);
/* The tensor called `name`, or NULL. O(log n). */
const lam_st_tensor *lam__st_find(const lam_st_file *st, const char *name);

/* Number of metadata entries (0 for NULL or none). */
int lam__st_meta_count(const lam_st_file *st);
/* The i-th metadata entry in key order; returns its key and writes the value to *val, or
 * returns NULL when i is out of range. */
const char *lam__st_meta_at(const lam_st_file *st, int i, const char **val);
/* The metadata value for `key`, or NULL. */
const char *lam__st_meta(const lam_st_file *st, const char *key);

/* The name the file was opened under (for callers' messages). */
const char *lam__st_path(const lam_st_file *st);

/* The checks of lam__st_copy() without the copy: a loader validates every tensor first so
 * that a bad file leaves its destination unchanged. */
lam_status lam__st_check(lam_ctx *ctx, const lam_st_file *st, const char *name, int dtype,
                         int ndim, const int64_t *shape, int64_t dst_bytes);

/*
 * Copy tensor `name` into dst after checking that it exists, has `dtype` and exactly the
 * shape shape[0..ndim), and that dst_bytes is its size. dst needs no particular alignment.
 * @return LAM_OK; LAM_ERR_FORMAT (missing tensor or other dtype); LAM_ERR_SHAPE (other
 *         shape or size); LAM_ERR_ARG (NULL arguments). The message names the file, the
 *         tensor, and what was found and expected.
 */
lam_status lam__st_copy(lam_ctx *ctx, const lam_st_file *st, const char *name, int dtype,
                        int ndim, const int64_t *shape, void *dst, int64_t dst_bytes);

#endif

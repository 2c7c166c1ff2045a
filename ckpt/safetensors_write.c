/* safetensors writer (format and guarantees: safetensors.h): validates every entry and the
 * metadata, builds the JSON header with jansson (why jansson: safetensors.c), and writes
 * header and data through an atomic file, so a failed write never damages a good file. */
#define _POSIX_C_SOURCE 200809L

#include "safetensors_impl.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* 1 if s is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF):
 * checked here so that a jansson failure afterwards can only mean out of memory. */
static int utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p != 0) {
        unsigned c = *p;
        int len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
                : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (len == 0) {
            return 0;
        }
        uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
        for (int i = 1; i < len; i++) {
            if ((p[i] & 0xC0) != 0x80) {
                return 0;
            }
            cp = cp << 6 | (p[i] & 0x3F);
        }
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return 0;
        }
        p += len;
    }
    return 1;
}

static lam_status check_entry(lam_ctx *ctx, const char *path, const lam_st_entry *e,
                              int64_t *nbytes)
{
    if (e->name == NULL || !utf8_ok(e->name) || strcmp(e->name, "__metadata__") == 0) {
        return lam__error(ctx, LAM_ERR_ARG, P ": tensor name '" N "' is %s", path,
                          e->name ? e->name : "(null)",
                          e->name == NULL ? "NULL" : utf8_ok(e->name) ? "reserved"
                                                                      : "not UTF-8");
    }
    if (lam__st_dtype_name(e->dtype) == NULL) {
        return lam__st_tensor_err(ctx, LAM_ERR_ARG, path, e->name, "unknown dtype %d", e->dtype);
    }
    if (e->ndim < 0 || e->ndim > LAM_ST_MAX_DIM) {
        return lam__st_tensor_err(ctx, LAM_ERR_ARG, path, e->name, "ndim %d not in 0..%d", e->ndim,
                          LAM_ST_MAX_DIM);
    }
    for (int i = 0; i < e->ndim; i++) {
        if (e->shape[i] < 0) {
            return lam__st_tensor_err(ctx, LAM_ERR_ARG, path, e->name, "shape[%d] is %lld", i,
                              (long long)e->shape[i]);
        }
    }
    int64_t numel;
    if (lam__st_shape_bytes(e->dtype, e->ndim, e->shape, &numel, nbytes)) {
        return lam__st_tensor_err(ctx, LAM_ERR_RANGE, path, e->name, "size overflows int64");
    }
    if (e->data == NULL && *nbytes > 0) {
        return lam__st_tensor_err(ctx, LAM_ERR_ARG, path, e->name, "NULL data");
    }
    return LAM_OK;
}

/* Build the JSON header for entries laid out in `order`. Sets *root; LAM_ERR_ARG for a
 * duplicate name or metadata key. */
static lam_status build_header(lam_ctx *ctx, const char *path, const lam_st_entry *entries,
                               const int *order, int n, const char *const *mk,
                               const char *const *mv, int n_meta, json_t **root)
{
    json_t *r = json_object();
    int oom = r == NULL;
    if (!oom && n_meta > 0) {
        json_t *m = json_object();
        oom = m == NULL || json_object_set_new(r, "__metadata__", m) != 0;
        for (int i = 0; !oom && i < n_meta; i++) {
            if (json_object_get(m, mk[i]) != NULL) {
                json_decref(r);
                return lam__error(ctx, LAM_ERR_ARG, P ": duplicate metadata key '" N "'",
                                  path, mk[i]);
            }
            oom = json_object_set_new(m, mk[i], json_string(mv[i])) != 0;
        }
    }
    int64_t pos = 0;
    for (int k = 0; !oom && k < n; k++) {
        const lam_st_entry *e = &entries[order[k]];
        if (json_object_get(r, e->name) != NULL) {
            json_decref(r);
            return lam__error(ctx, LAM_ERR_ARG, P ": duplicate tensor name '" N "'", path,
                              e->name);
        }
        int64_t numel = 0, nbytes = 0;
        lam__st_shape_bytes(e->dtype, e->ndim, e->shape, &numel, &nbytes); /* checked already */
        json_t *t = json_object(), *shape = json_array(), *offs = json_array();
        oom = t == NULL || shape == NULL || offs == NULL;
        for (int i = 0; !oom && i < e->ndim; i++) {
            oom = json_array_append_new(shape, json_integer(e->shape[i])) != 0;
        }
        if (!oom) {
            oom = json_array_append_new(offs, json_integer(pos)) != 0 ||
                  json_array_append_new(offs, json_integer(pos + nbytes)) != 0 ||
                  json_object_set_new(t, "dtype", json_string(lam__st_dtype_name(e->dtype))) != 0 ||
                  json_object_set(t, "shape", shape) != 0 ||
                  json_object_set(t, "data_offsets", offs) != 0 ||
                  json_object_set(r, e->name, t) != 0;
        }
        json_decref(t);
        json_decref(shape);
        json_decref(offs);
        pos += nbytes; /* the caller checked that the total fits */
    }
    if (oom) {
        json_decref(r);
        return lam__error(ctx, LAM_ERR_NOMEM, P ": out of memory building the header", path);
    }
    *root = r;
    return LAM_OK;
}

lam_status lam__st_write(lam_ctx *ctx, const char *path, const lam_st_entry *entries, int n,
                         const char *const *meta_keys, const char *const *meta_vals,
                         int n_meta, const lam_io_hooks *io)
{
    if (path == NULL || n < 0 || n_meta < 0 || (entries == NULL && n > 0) ||
        (n_meta > 0 && (meta_keys == NULL || meta_vals == NULL))) {
        return lam__error(ctx, LAM_ERR_ARG, "safetensors write: bad argument");
    }
    if (ST_BIG_ENDIAN) {
        return lam__error(ctx, LAM_ERR_RANGE, P ": big-endian hosts are not supported", path);
    }
    for (int i = 0; i < n_meta; i++) {
        if (meta_keys[i] == NULL || meta_vals[i] == NULL || !utf8_ok(meta_keys[i]) ||
            !utf8_ok(meta_vals[i])) {
            return lam__error(ctx, LAM_ERR_ARG, P ": metadata entry %d is NULL or not UTF-8",
                              path, i);
        }
    }
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        int64_t nbytes = 0;
        lam_status st = check_entry(ctx, path, &entries[i], &nbytes);
        if (st != LAM_OK) {
            return st;
        }
        if (lam__add_i64(total, nbytes, &total) || total > LAM_ST_MAX_FILE) {
            return lam__error(ctx, LAM_ERR_RANGE, P ": tensors exceed the %lld-byte limit",
                              path, (long long)LAM_ST_MAX_FILE);
        }
    }
    /* Largest elements first: every size is a multiple of its element size, so each tensor
     * then starts at a multiple of its own element size (aligned reads after loading). */
    int *order = n > 0 ? lam_alloc(ctx, (size_t)n * sizeof *order) : NULL;
    if (n > 0 && order == NULL) {
        return lam__error(ctx, LAM_ERR_NOMEM, P ": out of memory", path);
    }
    int k = 0;
    for (int64_t size = 8; size >= 1; size /= 2) {
        for (int i = 0; i < n; i++) {
            if (lam__st_dtype_size(entries[i].dtype) == size) {
                order[k++] = i;
            }
        }
    }
    json_t *root = NULL;
    char *hdr = NULL;
    lam_status st = build_header(ctx, path, entries, order, n, meta_keys, meta_vals, n_meta,
                                 &root);
    if (st != LAM_OK) {
        goto done;
    }
    size_t jlen = json_dumpb(root, NULL, 0, JSON_COMPACT);
    /* pad with spaces so the data region starts at an 8-byte file offset */
    int64_t hlen = (int64_t)((jlen + 7) / 8 * 8);
    if (jlen == 0 || hlen > LAM_ST_MAX_HEADER || total + hlen + 8 > LAM_ST_MAX_FILE) {
        st = lam__error(ctx, jlen == 0 ? LAM_ERR_NOMEM : LAM_ERR_RANGE,
                        P ": header of %zu bytes cannot be written", path, jlen);
        goto done;
    }
    hdr = lam_alloc(ctx, (size_t)hlen + 8);
    if (hdr == NULL) {
        st = lam__error(ctx, LAM_ERR_NOMEM, P ": out of memory for the header", path);
        goto done;
    }
    uint64_t len64 = (uint64_t)hlen; /* little-endian host: its bytes are the file's */
    memcpy(hdr, &len64, 8);
    if (json_dumpb(root, hdr + 8, jlen, JSON_COMPACT) != jlen) {
        st = lam__error(ctx, LAM_ERR_NOMEM, P ": out of memory writing the header", path);
        goto done;
    }
    memset(hdr + 8 + jlen, ' ', (size_t)hlen - jlen);
    json_decref(root);
    root = NULL;
    lam_afile af;
    st = lam__afile_begin(ctx, path, io, &af);
    if (st == LAM_OK) {
        st = lam__afile_write(&af, hdr, hlen + 8);
    }
    for (int i = 0; st == LAM_OK && i < n; i++) {
        const lam_st_entry *e = &entries[order[i]];
        int64_t numel = 0, nbytes = 0;
        lam__st_shape_bytes(e->dtype, e->ndim, e->shape, &numel, &nbytes);
        st = lam__afile_write(&af, e->data, nbytes);
    }
    if (st == LAM_OK) {
        st = lam__afile_commit(&af);
    } else {
        lam__afile_abort(&af);
    }
done:
    json_decref(root);
    lam_free(ctx, hdr);
    lam_free(ctx, order);
    return st;
}

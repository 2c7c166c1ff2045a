/* safetensors reader (format and guarantees: safetensors.h; the writer is
 * safetensors_write.c).
 *
 * JSON is handled by jansson (Debian libjansson-dev) because it is a well-kept, widely
 * packaged library with a strict RFC 8259 parser that reports byte offsets in its errors,
 * validates UTF-8, rejects duplicate object keys with JSON_REJECT_DUPLICATES (the
 * "which of two entries wins" aliasing trick on safetensors headers) and limits nesting
 * depth. It could route its allocations through our allocator, but json_set_alloc_funcs()
 * is process-global, which the library must not touch; instead the header is bounded
 * (LAM_ST_MAX_HEADER) before it is parsed, and the parse tree is freed before returning.
 *
 * The reader validates the whole header before anything is handed out, so later code can
 * index the data region with the offsets without further checks. */
#define _POSIX_C_SOURCE 200809L

#include "safetensors_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


typedef struct st_meta {
    const char *key;
    const char *val;
} st_meta;

struct lam_st_file {
    int n;
    int n_meta;
    lam_st_tensor *t;        /* sorted by name */
    st_meta *meta;           /* sorted by key */
    const char *path;
    unsigned char *data;     /* the data region, 64-byte aligned, in the same block */
};

/* In lam_st_dtype order. */
static const char *const dtype_names[] = {"BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16",
                                          "U16", "F16", "BF16", "I32", "U32", "F32", "I64",
                                          "U64", "F64"};
static const int64_t dtype_sizes[] = {1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8};
_Static_assert(sizeof dtype_names / sizeof dtype_names[0] == LAM_ST_NUM_DTYPES &&
               sizeof dtype_sizes / sizeof dtype_sizes[0] == LAM_ST_NUM_DTYPES,
               "one name and size per lam_st_dtype");

const char *lam__st_dtype_name(int dtype)
{
    return dtype >= 0 && dtype < LAM_ST_NUM_DTYPES ? dtype_names[dtype] : NULL;
}

int64_t lam__st_dtype_size(int dtype)
{
    return dtype >= 0 && dtype < LAM_ST_NUM_DTYPES ? dtype_sizes[dtype] : 0;
}

int lam__st_dtype_from_name(const char *name)
{
    for (int i = 0; name != NULL && i < LAM_ST_NUM_DTYPES; i++) {
        if (strcmp(name, dtype_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

static void fmt_shape(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && used < cap; i++) {
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", i > 0 ? ", " : "",
                                 (long long)shape[i]);
    }
    if (used < cap) {
        snprintf(buf + used, cap - used, "]");
    }
}

int lam__st_shape_bytes(int dtype, int ndim, const int64_t *shape, int64_t *numel,
                       int64_t *nbytes)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (lam__mul_i64(n, shape[i], &n)) {
            return 1;
        }
    }
    *numel = n;
    return lam__mul_i64(n, lam__st_dtype_size(dtype), nbytes);
}

/* ================================================================= reader */

static int cmp_by_offset(const void *a, const void *b)
{
    const lam_st_tensor *x = a, *y = b;
    if (x->offset != y->offset || x->nbytes != y->nbytes) {
        return x->offset != y->offset ? (x->offset > y->offset) - (x->offset < y->offset)
                                      : (x->nbytes > y->nbytes) - (x->nbytes < y->nbytes);
    }
    return strcmp(x->name, y->name);
}

static int cmp_by_name(const void *a, const void *b)
{
    return strcmp(((const lam_st_tensor *)a)->name, ((const lam_st_tensor *)b)->name);
}

static int cmp_meta(const void *a, const void *b)
{
    return strcmp(((const st_meta *)a)->key, ((const st_meta *)b)->key);
}

/* A JSON integer >= 0, or -1. (jansson rejects integers beyond long long while parsing.) */
static int64_t json_nonneg(const json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 0 ? json_integer_value(v) : -1;
}

lam_status lam__st_tensor_err(lam_ctx *ctx, lam_status st, const char *file, const char *name,
                              const char *fmt, ...)
{
    char msg[LAM_ERRMSG_MAX];
    int k = snprintf(msg, sizeof msg, P ": tensor '" N "': ", file, name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + k, sizeof msg - (size_t)k, fmt, ap);
    va_end(ap);
    return lam__error(ctx, st, "%s", msg);
}

/* Validate one tensor entry against a data region of data_len bytes and fill t (name is
 * set by the caller). */
static lam_status parse_entry(lam_ctx *ctx, const char *file, const char *name,
                              json_t *e, int64_t data_len, lam_st_tensor *t)
{
    if (!json_is_object(e)) {
        return lam__st_tensor_err(ctx, LAM_ERR_FORMAT, file, name, "entry is not an object");
    }
    const char *key;
    json_t *v;
    json_object_foreach(e, key, v) {
        if (strcmp(key, "dtype") != 0 && strcmp(key, "shape") != 0 &&
            strcmp(key, "data_offsets") != 0) {
            return lam__st_tensor_err(ctx, LAM_ERR_FORMAT, file, name, "unexpected key '%.32s'",
                                      key);
        }
    }
    const json_t *jd = json_object_get(e, "dtype");
    const json_t *js = json_object_get(e, "shape");
    const json_t *jo = json_object_get(e, "data_offsets");
    if (jd == NULL || js == NULL || jo == NULL) {
        return lam__st_tensor_err(ctx, LAM_ERR_FORMAT, file, name, "missing \"%s\"",
                          jd == NULL ? "dtype" : js == NULL ? "shape" : "data_offsets");
    }
    const char *dn = json_string_value(jd); /* NULL when not a string */
    t->dtype = lam__st_dtype_from_name(dn);
    if (t->dtype < 0) {
        return lam__st_tensor_err(ctx, LAM_ERR_FORMAT, file, name, "unknown dtype '%.16s'",
                          dn ? dn : "(not a string)");
    }
    if (!json_is_array(js) || json_array_size(js) > LAM_ST_MAX_DIM) {
        return lam__st_tensor_err(ctx, LAM_ERR_FORMAT, file, name,
                          "shape is not an array of at most %d sizes", LAM_ST_MAX_DIM);
    }
    t->ndim = (int)json_array_size(js);
    for (int i = 0; i < LAM_ST_MAX_DIM; i++) {
        t->shape[i] = i < t->ndim ? json_nonneg(json_array_get(js, (size_t)i)) : 1;
        if (t->shape[i] < 0) {
            return lam__st_tensor_err(ctx, LAM_ERR_FORMAT, file, name,
                              "shape[%d] is not a non-negative integer", i);
        }
    }
    char sbuf[96];
    fmt_shape(sbuf, sizeof sbuf, t->ndim, t->shape);
    if (lam__st_shape_bytes(t->dtype, t->ndim, t->shape, &t->numel, &t->nbytes)) {
        return lam__st_tensor_err(ctx, LAM_ERR_FORMAT, file, name, "shape %s overflows int64",
                                  sbuf);
    }
    int64_t b = -1, end = -1;
    if (json_is_array(jo) && json_array_size(jo) == 2) {
        b = json_nonneg(json_array_get(jo, 0));
        end = json_nonneg(json_array_get(jo, 1));
    }
    if (b < 0 || end < 0) {
        return lam__st_tensor_err(ctx, LAM_ERR_FORMAT, file, name,
                          "data_offsets is not two non-negative integers");
    }
    if (b > end) {
        return lam__st_tensor_err(ctx, LAM_ERR_FORMAT, file, name,
                          "data_offsets [%lld, %lld] are reversed", (long long)b, (long long)end);
    }
    if (end > data_len) {
        return lam__st_tensor_err(ctx, LAM_ERR_FORMAT, file, name,
                          "data_offsets [%lld, %lld] end past the %lld-byte data region "
                          "(truncated file?)", (long long)b, (long long)end, (long long)data_len);
    }
    if (end - b != t->nbytes) {
        return lam__st_tensor_err(ctx, LAM_ERR_FORMAT, file, name,
                          "data_offsets [%lld, %lld] hold %lld bytes, %s shape %s needs %lld",
                          (long long)b, (long long)end, (long long)(end - b),
                          dtype_names[t->dtype], sbuf, (long long)t->nbytes);
    }
    t->offset = b;
    t->data = NULL;
    return LAM_OK;
}

/* Tensors sorted by offset must tile [0, data_len) exactly. */
static lam_status check_tiling(lam_ctx *ctx, const char *file, const lam_st_tensor *t, int n,
                               int64_t data_len)
{
    int64_t pos = 0;
    for (int i = 0; i < n; i++) {
        if (t[i].offset < pos) {
            const lam_st_tensor *p = &t[i - 1]; /* pos > 0, so i > 0 and pos = p's end */
            return lam__error(ctx, LAM_ERR_FORMAT,
                              P ": tensor '" N "' data_offsets [%lld, %lld] overlap '" N
                              "' [%lld, %lld]",
                              file, p->name, (long long)p->offset,
                              (long long)(p->offset + p->nbytes), t[i].name,
                              (long long)t[i].offset, (long long)(t[i].offset + t[i].nbytes));
        }
        if (t[i].offset > pos) {
            return lam__error(ctx, LAM_ERR_FORMAT,
                              P ": data bytes [%lld, %lld) belong to no tensor (hole before '"
                              N "')", file, (long long)pos, (long long)t[i].offset, t[i].name);
        }
        pos = t[i].offset + t[i].nbytes;
    }
    if (pos != data_len) {
        return lam__error(ctx, LAM_ERR_FORMAT,
                          P ": data region has %lld bytes, but tensors cover only %lld", file,
                          (long long)data_len, (long long)pos);
    }
    return LAM_OK;
}

static size_t round16(size_t x)
{
    return (x + 15) & ~(size_t)15;
}

/* Copy src to *s, advance *s past its NUL, return the copy. */
static const char *put_str(char **s, const char *src)
{
    size_t len = strlen(src) + 1;
    char *d = memcpy(*s, src, len);
    *s += len;
    return d;
}

/* Parse and validate a header of hlen bytes for a data region of data_len bytes; build the
 * file object with room for the data region (not filled). */
static lam_status st_build(lam_ctx *ctx, const char *file, const char *hdr, int64_t hlen,
                           int64_t data_len, lam_st_file **out)
{
    if (hlen == 0 || hdr[0] != '{') {
        return lam__error(ctx, LAM_ERR_FORMAT, P ": header is not a JSON object", file);
    }
    json_error_t jerr;
    json_t *root = json_loadb(hdr, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        if (json_error_code(&jerr) == json_error_out_of_memory) {
            return lam__error(ctx, LAM_ERR_NOMEM, P ": out of memory parsing the header",
                              file);
        }
        return lam__error(ctx, LAM_ERR_FORMAT, P ": invalid JSON header at byte %lld: %.80s",
                          file, (long long)jerr.position, jerr.text);
    }
    lam_status st = LAM_OK;
    lam_st_file *f = NULL;
    if (!json_is_object(root)) {
        st = lam__error(ctx, LAM_ERR_FORMAT, P ": header is not a JSON object", file);
        goto done;
    }
    /* Pass 1: count and size the strings; metadata is validated here. */
    size_t n = 0, n_meta = 0, strbytes = strlen(file) + 1;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "__metadata__") != 0) {
            n++;
            strbytes += strlen(key) + 1;
            continue;
        }
        if (!json_is_object(v)) {
            st = lam__error(ctx, LAM_ERR_FORMAT, P ": __metadata__ is not an object", file);
            goto done;
        }
        const char *mk;
        json_t *mv;
        json_object_foreach(v, mk, mv) {
            if (!json_is_string(mv)) {
                st = lam__error(ctx, LAM_ERR_FORMAT,
                                P ": __metadata__ value of '" N "' is not a string", file, mk);
                goto done;
            }
            n_meta++;
            strbytes += strlen(mk) + 1 + strlen(json_string_value(mv)) + 1;
        }
    }
    /* Everything counted lives in the header, which is at most LAM_ST_MAX_HEADER bytes, so
     * these sizes cannot overflow; the check documents it. */
    if (n > INT32_MAX || n_meta > INT32_MAX) {
        st = lam__error(ctx, LAM_ERR_FORMAT, P ": too many entries", file);
        goto done;
    }
    size_t off_tn = round16(sizeof *f);
    size_t off_m = off_tn + round16(n * sizeof(lam_st_tensor));
    size_t off_s = off_m + round16(n_meta * sizeof(st_meta));
    size_t off_d = (off_s + strbytes + LAM_ALIGN - 1) / LAM_ALIGN * LAM_ALIGN;
    /* one block for everything (the size check matters where size_t has 32 bits) */
    unsigned char *block = (uint64_t)data_len <= SIZE_MAX - off_d
                               ? lam_alloc(ctx, off_d + (size_t)data_len) : NULL;
    if (block == NULL) {
        st = lam__error(ctx, LAM_ERR_NOMEM, P ": out of memory for %zu tensors and %lld bytes",
                        file, n, (long long)data_len);
        goto done;
    }
    f = (lam_st_file *)block;
    memset(f, 0, sizeof *f);
    f->t = (lam_st_tensor *)(block + off_tn);
    f->meta = (st_meta *)(block + off_m);
    f->data = block + off_d;
    char *s = (char *)(block + off_s);
    f->path = put_str(&s, file);
    /* Pass 2: fill and validate tensors. */
    json_object_foreach(root, key, v) {
        if (strcmp(key, "__metadata__") == 0) {
            const char *mk;
            json_t *mv;
            json_object_foreach(v, mk, mv) {
                f->meta[f->n_meta].key = put_str(&s, mk);
                f->meta[f->n_meta++].val = put_str(&s, json_string_value(mv));
            }
            continue;
        }
        lam_st_tensor *t = &f->t[f->n];
        st = parse_entry(ctx, file, key, v, data_len, t);
        if (st != LAM_OK) {
            goto done;
        }
        t->name = put_str(&s, key);
        t->data = t->nbytes > 0 ? f->data + t->offset : NULL;
        f->n++;
    }
    qsort(f->t, (size_t)f->n, sizeof *f->t, cmp_by_offset);
    st = check_tiling(ctx, file, f->t, f->n, data_len);
    if (st != LAM_OK) {
        goto done;
    }
    qsort(f->t, (size_t)f->n, sizeof *f->t, cmp_by_name);
    qsort(f->meta, (size_t)f->n_meta, sizeof *f->meta, cmp_meta);
done:
    json_decref(root);
    if (st != LAM_OK) {
        lam_free(ctx, f);
        return st;
    }
    *out = f;
    return LAM_OK;
}

/* Checks on the file size and the header length; *hlen is set on success. */
static lam_status check_lengths(lam_ctx *ctx, const char *file, const unsigned char *len8,
                                int64_t size, int64_t *hlen)
{
    if (ST_BIG_ENDIAN) {
        return lam__error(ctx, LAM_ERR_RANGE, P ": big-endian hosts are not supported", file);
    }
    if (size < 8) {
        return lam__error(ctx, LAM_ERR_FORMAT,
                          P ": file is %lld bytes, too short for the 8-byte header length",
                          file, (long long)size);
    }
    if (size > LAM_ST_MAX_FILE) {
        return lam__error(ctx, LAM_ERR_RANGE, P ": file is %lld bytes, above the %lld limit",
                          file, (long long)size, (long long)LAM_ST_MAX_FILE);
    }
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--) {
        h = h << 8 | len8[i];
    }
    if (h > (uint64_t)LAM_ST_MAX_HEADER) {
        return lam__error(ctx, LAM_ERR_FORMAT,
                          P ": header length %llu is above the %lld-byte limit", file,
                          (unsigned long long)h, (long long)LAM_ST_MAX_HEADER);
    }
    if ((int64_t)h > size - 8) {
        return lam__error(ctx, LAM_ERR_FORMAT,
                          P ": header length %llu exceeds the %lld bytes after it (truncated "
                          "file?)", file, (unsigned long long)h, (long long)(size - 8));
    }
    *hlen = (int64_t)h;
    return LAM_OK;
}

lam_status lam__st_open(lam_ctx *ctx, const char *path, lam_st_file **out)
{
    if (path == NULL || out == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "safetensors open: NULL argument");
    }
    char reason[64];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block */
    if (fd < 0) {
        lam__io_strerror(errno, reason, sizeof reason);
        return lam__error(ctx, LAM_ERR_IO, P ": cannot open: %s", path, reason);
    }
    lam_status st;
    lam_st_file *f = NULL;
    char *hdr = NULL;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = lam__error(ctx, LAM_ERR_IO, P ": not a regular file", path);
        goto fail;
    }
    int64_t size = (int64_t)sb.st_size, hlen = 0;
    unsigned char len8[8] = {0};
    st = size >= 8 ? lam__read_all(ctx, path, fd, len8, 8) : LAM_OK;
    if (st == LAM_OK) {
        st = check_lengths(ctx, path, len8, size, &hlen);
    }
    if (st != LAM_OK) {
        goto fail;
    }
    hdr = hlen > 0 ? lam_alloc(ctx, (size_t)hlen) : NULL;
    if (hlen > 0 && hdr == NULL) {
        st = lam__error(ctx, LAM_ERR_NOMEM, P ": out of memory for the header", path);
        goto fail;
    }
    st = lam__read_all(ctx, path, fd, hdr, hlen);
    if (st == LAM_OK) {
        st = st_build(ctx, path, hdr, hlen, size - 8 - hlen, &f);
    }
    if (st == LAM_OK) {
        st = lam__read_all(ctx, path, fd, f->data, size - 8 - hlen);
    }
    if (st != LAM_OK) {
        goto fail;
    }
    close(fd);
    lam_free(ctx, hdr);
    *out = f;
    return LAM_OK;
fail:
    close(fd);
    lam_free(ctx, hdr);
    lam_free(ctx, f);
    return st;
}

lam_status lam__st_open_mem(lam_ctx *ctx, const char *name, const void *buf, int64_t size,
                            lam_st_file **out)
{
    if (name == NULL || out == NULL || size < 0 || (buf == NULL && size > 0)) {
        return lam__error(ctx, LAM_ERR_ARG, "safetensors open: bad argument");
    }
    const unsigned char *b = buf;
    int64_t hlen = 0;
    lam_status st = check_lengths(ctx, name, b, size, &hlen);
    if (st != LAM_OK) {
        return st;
    }
    lam_st_file *f = NULL;
    st = st_build(ctx, name, (const char *)b + 8, hlen, size - 8 - hlen, &f);
    if (st != LAM_OK) {
        return st;
    }
    memcpy(f->data, b + 8 + hlen, (size_t)(size - 8 - hlen));
    *out = f;
    return LAM_OK;
}

void lam__st_close(lam_ctx *ctx, lam_st_file *st)
{
    lam_free(ctx, st);
}

int lam__st_count(const lam_st_file *st)
{
    return st != NULL ? st->n : 0;
}

const lam_st_tensor *lam__st_at(const lam_st_file *st, int i)
{
    return st != NULL && i >= 0 && i < st->n ? &st->t[i] : NULL;
}

const lam_st_tensor *lam__st_find(const lam_st_file *st, const char *name)
{
    if (st == NULL || name == NULL || st->n == 0) {
        return NULL;
    }
    lam_st_tensor key;
    key.name = name;
    return bsearch(&key, st->t, (size_t)st->n, sizeof *st->t, cmp_by_name);
}

int lam__st_meta_count(const lam_st_file *st)
{
    return st != NULL ? st->n_meta : 0;
}

const char *lam__st_meta_at(const lam_st_file *st, int i, const char **val)
{
    int ok = st != NULL && i >= 0 && i < st->n_meta;
    if (val != NULL) {
        *val = ok ? st->meta[i].val : NULL;
    }
    return ok ? st->meta[i].key : NULL;
}

const char *lam__st_meta(const lam_st_file *st, const char *key)
{
    if (st == NULL || key == NULL || st->n_meta == 0) {
        return NULL;
    }
    st_meta k = {key, NULL};
    const st_meta *m = bsearch(&k, st->meta, (size_t)st->n_meta, sizeof *st->meta, cmp_meta);
    return m != NULL ? m->val : NULL;
}

const char *lam__st_path(const lam_st_file *st)
{
    return st != NULL ? st->path : NULL;
}

lam_status lam__st_check(lam_ctx *ctx, const lam_st_file *st, const char *name, int dtype,
                         int ndim, const int64_t *shape, int64_t dst_bytes)
{
    if (st == NULL || name == NULL || (shape == NULL && ndim > 0) || ndim < 0) {
        return lam__error(ctx, LAM_ERR_ARG, "safetensors check: bad argument");
    }
    const lam_st_tensor *t = lam__st_find(st, name);
    if (t == NULL) {
        return lam__error(ctx, LAM_ERR_FORMAT, P ": no tensor '" N "'", st->path, name);
    }
    if (t->dtype != dtype) {
        const char *want = lam__st_dtype_name(dtype);
        return lam__error(ctx, LAM_ERR_FORMAT, P ": tensor '" N "' is %s, expected %s",
                          st->path, name, dtype_names[t->dtype], want ? want : "?");
    }
    int same = ndim == t->ndim;
    for (int i = 0; same && i < ndim; i++) {
        same = shape[i] == t->shape[i];
    }
    if (!same) {
        char got[96], want[96];
        fmt_shape(got, sizeof got, t->ndim, t->shape);
        fmt_shape(want, sizeof want, ndim < LAM_ST_MAX_DIM ? ndim : LAM_ST_MAX_DIM, shape);
        return lam__error(ctx, LAM_ERR_SHAPE, P ": tensor '" N "' has shape %s, expected %s",
                          st->path, name, got, want);
    }
    if (dst_bytes != t->nbytes) {
        return lam__error(ctx, LAM_ERR_SHAPE,
                          P ": tensor '" N "' has %lld bytes, destination holds %lld",
                          st->path, name, (long long)t->nbytes, (long long)dst_bytes);
    }
    return LAM_OK;
}

lam_status lam__st_copy(lam_ctx *ctx, const lam_st_file *st, const char *name, int dtype,
                        int ndim, const int64_t *shape, void *dst, int64_t dst_bytes)
{
    if (dst == NULL && dst_bytes > 0) {
        return lam__error(ctx, LAM_ERR_ARG, "safetensors copy: bad argument");
    }
    lam_status s = lam__st_check(ctx, st, name, dtype, ndim, shape, dst_bytes);
    if (s == LAM_OK && dst_bytes > 0) {
        memcpy(dst, lam__st_find(st, name)->data, (size_t)dst_bytes);
    }
    return s;
}

/* A sequential byte reader over raw or gzip files, and element decoding into float32.
 *
 * Every reader of the data floor checks a header's promised payload against what the file
 * can really deliver before it allocates (lam__rd_expect). For a raw file that is exact
 * arithmetic on the file size. For gzip the uncompressed length is not known up front, so:
 *  1. deflate never expands more than 1032:1, so a gzip file of S bytes cannot hold more
 *     than 1032*S bytes: larger promises are rejected at once;
 *  2. the gzip trailer (ISIZE) holds the uncompressed length mod 2^32; when it agrees with
 *     the promise we trust it, since decoding verifies the CRC and the length anyway;
 *  3. otherwise we decompress the rest once into a small stack buffer, counting bytes and
 *     stopping one byte past the promise, and reject a mismatch before allocating.
 * So no allocation is ever sized by a number the file cannot back up.
 *
 * zlib's gz* functions keep their own state with malloc; that is the one allocation here not
 * made through the context's allocator (gz* offer no allocator hook).
 */
#define _POSIX_C_SOURCE 200809L
#include "data_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest expansion of deflate (zlib's documented 1032:1 bound for a single stream). */
#define LAM__GZ_MAX_RATIO 1032
/* Chunk for decoding and counting: small enough for any thread's stack. */
#define LAM__CHUNK (1 << 15)

int lam__dtype_size(lam__dtype t)
{
    switch (t) {
    case LAM__U8:
    case LAM__I8: return 1;
    case LAM__I16: return 2;
    case LAM__I32:
    case LAM__F32: return 4;
    case LAM__I64:
    case LAM__F64: return 8;
    }
    return 1;
}

const char *lam__dtype_name(lam__dtype t)
{
    switch (t) {
    case LAM__U8: return "uint8";
    case LAM__I8: return "int8";
    case LAM__I16: return "int16";
    case LAM__I32: return "int32";
    case LAM__I64: return "int64";
    case LAM__F32: return "float32";
    case LAM__F64: return "float64";
    }
    return "?";
}

int lam__dtype_is_int(lam__dtype t)
{
    return t != LAM__F32 && t != LAM__F64;
}

void *lam__data_alloc(lam_ctx *ctx, int64_t bytes, const char *what)
{
    if (bytes <= 0 || (uint64_t)bytes > SIZE_MAX) {
        lam__error(ctx, LAM_ERR_RANGE, "%s: cannot allocate %lld bytes", what, (long long)bytes);
        return NULL;
    }
    void *p = lam_alloc(ctx, (size_t)bytes);
    if (p == NULL) {
        lam__error(ctx, LAM_ERR_NOMEM, "%s: allocation of %lld bytes failed", what,
                   (long long)bytes);
    }
    return p;
}

const char *lam__strerror(int err, char *buf, size_t cap)
{
    /* XSI strerror_r (we do not define _GNU_SOURCE here): thread-safe, unlike strerror */
    if (strerror_r(err, buf, cap) != 0) {
        snprintf(buf, cap, "errno %d", err);
    }
    return buf;
}

lam_status lam__io_error(lam_ctx *ctx, const char *path, const char *what, int err)
{
    char buf[128];
    return lam__error(ctx, LAM_ERR_IO, "%s: %s: %s", path, what,
                      lam__strerror(err, buf, sizeof buf));
}

lam_status lam__open_regular(lam_ctx *ctx, const char *path, int nofollow, int *fd_out,
                             int64_t *size)
{
    /* O_NONBLOCK: a FIFO gives "not a regular file" instead of waiting for a writer */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (nofollow ? O_NOFOLLOW : 0));
    if (fd < 0) {
        return lam__io_error(ctx, path, "cannot open", errno);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return lam__io_error(ctx, path, "cannot stat", e);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return lam__error(ctx, LAM_ERR_IO, "%s: not a regular file%s", path,
                          S_ISDIR(st.st_mode) ? " (a directory)" : "");
    }
    *fd_out = fd;
    *size = (int64_t)st.st_size;
    return LAM_OK;
}

lam_status lam__rd_open(lam_ctx *ctx, const char *path, lam__rd *r)
{
    memset(r, 0, sizeof *r);
    r->ctx = ctx;
    r->path = path;
    int fd = -1;
    lam_status rc = lam__open_regular(ctx, path, 0, &fd, &r->file_size);
    if (rc != LAM_OK) {
        return rc;
    }
    unsigned char m[4];
    if (r->file_size >= 2) {
        ssize_t k = pread(fd, m, 2, 0);
        if (k < 0) {
            int e = errno;
            close(fd);
            return lam__io_error(ctx, path, "cannot read", e);
        }
        r->compressed = k == 2 && m[0] == 0x1f && m[1] == 0x8b;
    }
    /* 18 = smallest gzip member (10-byte header, empty deflate block, 8-byte trailer) */
    if (r->compressed && r->file_size >= 18) {
        ssize_t k = pread(fd, m, 4, (off_t)(r->file_size - 4));
        if (k == 4) {
            r->isize = (uint32_t)m[0] | (uint32_t)m[1] << 8 | (uint32_t)m[2] << 16 |
                       (uint32_t)m[3] << 24;
        }
    }
    r->gz = gzdopen(fd, "rb");
    if (r->gz == NULL) {
        close(fd);
        return lam__error(ctx, LAM_ERR_NOMEM, "%s: zlib could not allocate its state", path);
    }
    /* larger than zlib's 8 KiB default: fewer read() calls on 50 MB image files */
    gzbuffer(r->gz, 1u << 17);
    return LAM_OK;
}

void lam__rd_close(lam__rd *r)
{
    if (r != NULL && r->gz != NULL) {
        gzclose(r->gz);
        r->gz = NULL;
    }
}

static lam_status gz_failure(lam__rd *r)
{
    int errnum = Z_OK;
    const char *msg = gzerror(r->gz, &errnum);
    if (errnum == Z_ERRNO) {
        return lam__io_error(r->ctx, r->path, "read failed", errno);
    }
    if (errnum == Z_MEM_ERROR) {
        return lam__error(r->ctx, LAM_ERR_NOMEM, "%s: zlib ran out of memory", r->path);
    }
    /* zlib prefixes its message with the stream's name, "<fd:3>" for gzdopen: drop it */
    const char *sep = msg != NULL ? strstr(msg, ": ") : NULL;
    msg = sep != NULL ? sep + 2 : msg != NULL ? msg : "?";
    return lam__error(r->ctx, LAM_ERR_FORMAT, "%s: corrupt gzip data: %s", r->path, msg);
}

lam_status lam__rd_read(lam__rd *r, void *buf, int64_t n, int64_t *got)
{
    unsigned char *p = buf;
    int64_t done = 0;
    while (done < n) {
        int64_t want = n - done;
        if (want > (1 << 30)) {
            want = 1 << 30; /* gzread takes an unsigned and returns an int */
        }
        int k = gzread(r->gz, p + done, (unsigned)want);
        if (k < 0) {
            r->pos += done;
            return gz_failure(r);
        }
        if (k == 0) {
            break;
        }
        done += k;
    }
    r->pos += done;
    *got = done;
    if (done < n && r->compressed) {
        /* zlib reports a cut-off stream as Z_BUF_ERROR and returns what it has */
        int errnum = Z_OK;
        gzerror(r->gz, &errnum);
        if (errnum == Z_BUF_ERROR) {
            return lam__error(r->ctx, LAM_ERR_FORMAT,
                              "%s: gzip stream is truncated (ends after %lld bytes of data)",
                              r->path, (long long)r->pos);
        }
        if (errnum != Z_OK) {
            return gz_failure(r);
        }
    }
    return LAM_OK;
}

lam_status lam__rd_exact(lam__rd *r, void *buf, int64_t n, const char *what)
{
    int64_t start = r->pos, got = 0;
    lam_status st = lam__rd_read(r, buf, n, &got);
    if (st != LAM_OK) {
        return st;
    }
    if (got < n) {
        return lam__error(r->ctx, LAM_ERR_FORMAT,
                          "%s: truncated in the %s: needs %lld bytes at offset %lld, "
                          "data ends at %lld",
                          r->path, what, (long long)n, (long long)start, (long long)r->pos);
    }
    return LAM_OK;
}

/* Decompress the rest of the file without storing it; count at most cap bytes (stops early
 * so that a gzip bomb costs no more than the promise it is checked against), then return
 * to the current position. */
static lam_status count_rest(lam__rd *r, int64_t cap, int64_t *out)
{
    unsigned char buf[LAM__CHUNK];
    int64_t start = r->pos, total = 0;
    lam_status st = LAM_OK;
    while (total < cap) {
        int64_t want = cap - total < LAM__CHUNK ? cap - total : LAM__CHUNK;
        int64_t got = 0;
        st = lam__rd_read(r, buf, want, &got);
        if (st != LAM_OK) {
            return st;
        }
        total += got;
        if (got < want) {
            break;
        }
    }
    if (gzrewind(r->gz) != 0 || gzseek(r->gz, (z_off_t)start, SEEK_SET) != (z_off_t)start) {
        return gz_failure(r);
    }
    r->pos = start;
    *out = total;
    return LAM_OK;
}

lam_status lam__rd_remaining(lam__rd *r, int64_t *out)
{
    if (!r->compressed) {
        *out = r->file_size - r->pos;
        return LAM_OK;
    }
    return count_rest(r, LAM_DATA_MAX_BYTES + 1, out);
}

lam_status lam__rd_expect(lam__rd *r, int64_t want, const char *promise)
{
    if (want > LAM_DATA_MAX_BYTES) {
        return lam__error(r->ctx, LAM_ERR_RANGE,
                          "%s: header promises %s = %lld bytes, over the limit of %lld",
                          r->path, promise, (long long)want, (long long)LAM_DATA_MAX_BYTES);
    }
    int64_t have = 0;
    if (!r->compressed) {
        have = r->file_size - r->pos;
    } else {
        int64_t bound = 0;
        if (lam__mul_i64(r->file_size, LAM__GZ_MAX_RATIO, &bound) == 0 && want > bound) {
            return lam__error(r->ctx, LAM_ERR_FORMAT,
                              "%s: header promises %s = %lld bytes but a gzip file of %lld "
                              "bytes holds at most %lld",
                              r->path, promise, (long long)want, (long long)r->file_size,
                              (long long)bound);
        }
        if ((uint32_t)((uint64_t)(r->pos + want) & 0xffffffffu) == r->isize) {
            return LAM_OK;
        }
        lam_status st = count_rest(r, want + 1, &have);
        if (st != LAM_OK) {
            return st;
        }
        if (have > want) {
            return lam__error(r->ctx, LAM_ERR_FORMAT,
                              "%s: header promises %s = %lld bytes but file holds more",
                              r->path, promise, (long long)want);
        }
    }
    if (have != want) {
        return lam__error(r->ctx, LAM_ERR_FORMAT,
                          "%s: header promises %s = %lld bytes but file holds %lld", r->path,
                          promise, (long long)want, (long long)have);
    }
    return LAM_OK;
}

static uint64_t load_bits(const unsigned char *p, int size, int big_endian)
{
    uint64_t v = 0;
    if (big_endian) {
        for (int b = 0; b < size; b++) {
            v = v << 8 | p[b];
        }
    } else {
        for (int b = size - 1; b >= 0; b--) {
            v = v << 8 | p[b];
        }
    }
    return v;
}

/* Two's complement value of the low `bits` bits; int64_t is two's complement by C11. */
static int64_t load_int(const unsigned char *p, int size, int big_endian)
{
    uint64_t v = load_bits(p, size, big_endian);
    int bits = 8 * size;
    if (bits < 64 && (v >> (bits - 1) & 1u)) {
        v |= ~(((uint64_t)1 << bits) - 1);
    }
    int64_t s;
    memcpy(&s, &v, sizeof s);
    return s;
}

static lam_status bad_value(lam__rd *r, const char *what, int64_t elem, int64_t numel,
                            double v)
{
    const char *kind = isnan(v) ? "NaN" : isinf(v) ? "infinite" : "beyond float32 range";
    return lam__error(r->ctx, LAM_ERR_FORMAT, "%s: %s sample %lld element %lld is %s", r->path,
                      what, (long long)(elem / numel), (long long)(elem % numel), kind);
}

/* Convert k elements at `buf` to floats at dst; elem0 is the index of the first, for
 * messages. Returns LAM_OK or FORMAT on a non-finite value. */
static lam_status convert(lam__rd *r, const unsigned char *buf, int64_t k, lam__dtype dt,
                          int big, int scale_u8, float *dst, int64_t elem0, int64_t numel,
                          const char *what)
{
    const int es = lam__dtype_size(dt);
    switch (dt) {
    case LAM__U8:
        for (int64_t i = 0; i < k; i++) {
            dst[i] = scale_u8 ? (float)buf[i] / 255.0f : (float)buf[i];
        }
        break;
    case LAM__I8:
    case LAM__I16:
    case LAM__I32:
    case LAM__I64:
        for (int64_t i = 0; i < k; i++) {
            dst[i] = (float)load_int(buf + i * es, es, big);
        }
        break;
    case LAM__F32:
        for (int64_t i = 0; i < k; i++) {
            uint32_t bits = (uint32_t)load_bits(buf + i * 4, 4, big);
            float f;
            memcpy(&f, &bits, sizeof f);
            if (!isfinite(f)) {
                return bad_value(r, what, elem0 + i, numel, f);
            }
            dst[i] = f;
        }
        break;
    case LAM__F64:
        for (int64_t i = 0; i < k; i++) {
            uint64_t bits = load_bits(buf + i * 8, 8, big);
            double d;
            memcpy(&d, &bits, sizeof d);
            /* converting a double beyond float range is undefined in C: check first */
            if (!isfinite(d) || fabs(d) > FLT_MAX) {
                return bad_value(r, what, elem0 + i, numel, d);
            }
            dst[i] = (float)d;
        }
        break;
    }
    return LAM_OK;
}

lam_status lam__rd_decode(lam__rd *r, lam__dtype dt, int big_endian, int64_t count,
                          int64_t numel, int scale_u8, float *dst, const char *what)
{
    unsigned char buf[LAM__CHUNK];
    const int es = lam__dtype_size(dt);
    const int64_t per = LAM__CHUNK / es;
    int64_t done = 0;
    while (done < count) {
        int64_t k = count - done < per ? count - done : per;
        int64_t got = 0;
        lam_status st = lam__rd_read(r, buf, k * es, &got);
        if (st != LAM_OK) {
            return st;
        }
        if (got != k * es) {
            return lam__error(r->ctx, LAM_ERR_FORMAT,
                              "%s: %s truncated: file ends after %lld of %lld elements",
                              r->path, what, (long long)(done + got / es), (long long)count);
        }
        st = convert(r, buf, k, dt, big_endian, scale_u8, dst + done, done, numel, what);
        if (st != LAM_OK) {
            return st;
        }
        done += k;
    }
    if (r->compressed) {
        /* the size check may have trusted the gzip trailer: confirm nothing follows */
        int64_t got = 0;
        lam_status st = lam__rd_read(r, buf, 1, &got);
        if (st != LAM_OK) {
            return st;
        }
        if (got != 0) {
            return lam__error(r->ctx, LAM_ERR_FORMAT,
                              "%s: data continues after the %lld elements of the %s", r->path,
                              (long long)count, what);
        }
    }
    return LAM_OK;
}

void lam__format_dims(char *buf, size_t cap, int ndim, const int64_t *dims)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < ndim && len < cap; i++) {
        int k = snprintf(buf + len, cap - len, i == 0 ? "%lld" : "x%lld", (long long)dims[i]);
        if (k < 0) {
            break;
        }
        len += (size_t)k;
    }
}

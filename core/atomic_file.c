/* Atomic file replacement: temporary sibling, fsync, rename, directory fsync (see
 * atomic_file.h). The rename is what makes the replacement atomic on POSIX file systems;
 * the fsyncs before and after it are what make it survive a power cut: without the first,
 * the rename can reach the disk before the data (a zero-length "new" file after a crash),
 * without the second the rename itself can be lost. */
#define _POSIX_C_SOURCE 200809L

#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define AFILE_BUF_BYTES ((int64_t)1 << 16)
/* Attempts at a fresh temporary name before giving up (EEXIST each time). */
#define AFILE_NAME_TRIES 32
/* Largest single write(): Linux transfers at most ~2 GiB per call anyway. */
#define AFILE_MAX_CHUNK ((int64_t)1 << 30)

const char *lam__io_strerror(int err, char *buf, size_t n)
{
    /* A fixed table rather than strerror_r: the text must not depend on the host's locale
     * (messages end up in logs and tests compare them), and strerror_r comes in two
     * incompatible flavours depending on feature macros. */
    const char *s = NULL;
    switch (err) {
    case EPERM: s = "Operation not permitted"; break;
    case ENOENT: s = "No such file or directory"; break;
    case EINTR: s = "Interrupted system call"; break;
    case EIO: s = "Input/output error"; break;
    case EBADF: s = "Bad file descriptor"; break;
    case EAGAIN: s = "Resource temporarily unavailable"; break;
    case ENOMEM: s = "Cannot allocate memory"; break;
    case EACCES: s = "Permission denied"; break;
    case EBUSY: s = "Device or resource busy"; break;
    case EEXIST: s = "File exists"; break;
    case EXDEV: s = "Invalid cross-device link"; break;
    case ENOTDIR: s = "Not a directory"; break;
    case EISDIR: s = "Is a directory"; break;
    case EINVAL: s = "Invalid argument"; break;
    case ENFILE: s = "Too many open files in system"; break;
    case EMFILE: s = "Too many open files"; break;
    case ETXTBSY: s = "Text file busy"; break;
    case EFBIG: s = "File too large"; break;
    case ENOSPC: s = "No space left on device"; break;
    case ESPIPE: s = "Illegal seek"; break;
    case EROFS: s = "Read-only file system"; break;
    case EMLINK: s = "Too many links"; break;
    case ENAMETOOLONG: s = "File name too long"; break;
    case ELOOP: s = "Too many levels of symbolic links"; break;
    case EDQUOT: s = "Disk quota exceeded"; break;
    case ENOTSUP: s = "Operation not supported"; break;
    default: break;
    }
    if (buf == NULL || n == 0) {
        return "";
    }
    if (s != NULL) {
        snprintf(buf, n, "%s", s);
    } else {
        snprintf(buf, n, "errno %d", err);
    }
    return buf;
}

static lam_status io_error(lam_afile *af, const char *what, int err)
{
    char reason[64];
    lam__io_strerror(err, reason, sizeof reason);
    return lam__error(af->ctx, LAM_ERR_IO, "%.160s: %s: %s", af->path, what, reason);
}

/* Close and free everything; remove the temporary file when it still exists. */
static void afile_release(lam_afile *af, int remove_tmp)
{
    if (af->fd >= 0) {
        close(af->fd);
        af->fd = -1;
    }
    if (af->tmp != NULL) {
        if (remove_tmp) {
            unlink(af->tmp);
        }
        lam_free(af->ctx, af->tmp);
        af->tmp = NULL;
    }
    lam_free(af->ctx, af->buf);
    af->buf = NULL;
    af->buf_used = 0;
}

void lam__afile_abort(lam_afile *af)
{
    if (af != NULL) {
        afile_release(af, 1);
    }
}

/* Record the first failure and remove the temporary file at once, so a caller that forgets
 * to abort still leaves nothing behind. */
static lam_status afile_fail(lam_afile *af, const char *what, int err)
{
    lam_status st = io_error(af, what, err);
    af->status = st;
    afile_release(af, 1);
    return st;
}

lam_status lam__afile_begin(lam_ctx *ctx, const char *path, const lam_io_hooks *io,
                            lam_afile *af)
{
    if (af == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "atomic write: NULL file handle");
    }
    memset(af, 0, sizeof *af);
    af->fd = -1;
    af->ctx = ctx;
    af->io = io;
    af->path = path;
    if (path == NULL || path[0] == '\0') {
        af->path = "(null)";
        af->status = LAM_ERR_ARG;
        return lam__error(ctx, LAM_ERR_ARG, "atomic write: empty or NULL path");
    }
    /* ".tmp." + pid (<= 20 digits) + "." + 16 hex digits + NUL, with room to spare */
    size_t len = strlen(path);
    size_t cap = len + 64;
    af->tmp = lam_alloc(ctx, cap);
    af->buf = lam_alloc(ctx, (size_t)AFILE_BUF_BYTES);
    if (af->tmp == NULL || af->buf == NULL) {
        afile_release(af, 0);
        af->status = LAM_ERR_NOMEM;
        return lam__error(ctx, LAM_ERR_NOMEM, "%.160s: out of memory preparing the write",
                          path);
    }
    /* Unique per process and per attempt: the pid separates concurrent writers, the clock
     * and the handle's address separate this run from a killed earlier one with the same
     * pid; O_EXCL turns any remaining collision into a retry, never into reuse. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t seed = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    long pid = (long)getpid();
    int err = 0;
    for (int attempt = 0; attempt < AFILE_NAME_TRIES; attempt++) {
        uint64_t r = lam_rng_u64(seed, (uint64_t)(uintptr_t)af ^ (uint64_t)pid,
                                 (uint64_t)attempt);
        snprintf(af->tmp, cap, "%s.tmp.%ld.%016llx", path, pid, (unsigned long long)r);
        af->fd = open(af->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (af->fd >= 0) {
            return LAM_OK;
        }
        err = errno;
        if (err != EEXIST && err != EINTR) {
            break;
        }
    }
    /* nothing was created: do not unlink a name that may be someone else's file */
    afile_release(af, 0);
    af->status = io_error(af, "cannot create a temporary file next to it", err);
    return af->status;
}

static int raw_write_all(lam_afile *af, const unsigned char *p, int64_t n)
{
    while (n > 0) {
        size_t chunk = (size_t)(n < AFILE_MAX_CHUNK ? n : AFILE_MAX_CHUNK);
        int64_t w;
        if (af->io != NULL && af->io->write != NULL) {
            w = af->io->write(af->io->user, af->fd, p, chunk);
        } else {
            w = (int64_t)write(af->fd, p, chunk);
        }
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno != 0 ? errno : EIO;
        }
        if (w == 0 || w > (int64_t)chunk) {
            return EIO; /* would loop forever, or a broken hook */
        }
        p += w;
        n -= w;
    }
    return 0;
}

static lam_status afile_flush(lam_afile *af)
{
    if (af->buf_used > 0) {
        int err = raw_write_all(af, af->buf, af->buf_used);
        af->buf_used = 0;
        if (err != 0) {
            return afile_fail(af, "write failed", err);
        }
    }
    return LAM_OK;
}

lam_status lam__afile_write(lam_afile *af, const void *p, int64_t n)
{
    if (af == NULL) {
        return LAM_ERR_ARG;
    }
    if (af->status != LAM_OK) {
        return af->status;
    }
    if (af->fd < 0 || n < 0 || (p == NULL && n > 0)) {
        af->status = lam__error(af->ctx, LAM_ERR_ARG, "%.160s: bad atomic write call",
                                af->path);
        afile_release(af, 1);
        return af->status;
    }
    const unsigned char *src = p;
    if (n <= AFILE_BUF_BYTES - af->buf_used) {
        if (n > 0) {
            memcpy(af->buf + af->buf_used, src, (size_t)n);
            af->buf_used += n;
        }
        return LAM_OK;
    }
    lam_status st = afile_flush(af);
    if (st != LAM_OK) {
        return st;
    }
    if (n < AFILE_BUF_BYTES) {
        memcpy(af->buf, src, (size_t)n);
        af->buf_used = n;
        return LAM_OK;
    }
    int err = raw_write_all(af, src, n);
    if (err != 0) {
        return afile_fail(af, "write failed", err);
    }
    return LAM_OK;
}

static int do_fsync(const lam_afile *af, int fd)
{
    int r;
    if (af->io != NULL && af->io->fsync != NULL) {
        r = af->io->fsync(af->io->user, fd);
    } else {
        r = fsync(fd);
    }
    return r == 0 ? 0 : (errno != 0 ? errno : EIO);
}

/* fsync the directory holding `path`, so that the rename is durable. Reuses af->tmp (no
 * longer needed after the rename) for the directory name, so this step cannot fail on
 * memory. */
static int sync_dir(lam_afile *af)
{
    const char *slash = strrchr(af->path, '/');
    if (slash == NULL) {
        snprintf(af->tmp, 2, ".");
    } else if (slash == af->path) {
        snprintf(af->tmp, 2, "/");
    } else {
        size_t dlen = (size_t)(slash - af->path);
        memcpy(af->tmp, af->path, dlen);
        af->tmp[dlen] = '\0';
    }
    int dfd = open(af->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        return errno;
    }
    int err = do_fsync(af, dfd);
    close(dfd);
    /* Some file systems cannot fsync a directory; there is nothing better to do there. */
    if (err == EINVAL || err == ENOTSUP || err == EBADF) {
        err = 0;
    }
    return err;
}

lam_status lam__afile_commit(lam_afile *af)
{
    if (af == NULL) {
        return LAM_ERR_ARG;
    }
    if (af->status != LAM_OK) {
        afile_release(af, 1);
        return af->status;
    }
    if (af->fd < 0) {
        return lam__error(af->ctx, LAM_ERR_ARG, "%.160s: commit without begin", af->path);
    }
    lam_status st = afile_flush(af);
    if (st != LAM_OK) {
        return st;
    }
    int err = do_fsync(af, af->fd);
    if (err != 0) {
        return afile_fail(af, "fsync failed", err);
    }
    int fd = af->fd;
    af->fd = -1;
    if (close(fd) != 0 && errno != EINTR) {
        /* after EINTR Linux has released the descriptor and the data is already synced */
        return afile_fail(af, "close failed", errno);
    }
    int r;
    if (af->io != NULL && af->io->rename != NULL) {
        r = af->io->rename(af->io->user, af->tmp, af->path);
    } else {
        r = rename(af->tmp, af->path);
    }
    if (r != 0) {
        err = errno != 0 ? errno : EIO;
        return afile_fail(af, "cannot replace it with the new file", err);
    }
    err = sync_dir(af);
    afile_release(af, 0);
    if (err != 0) {
        af->status = io_error(af, "written, but syncing its directory failed", err);
        return af->status;
    }
    return LAM_OK;
}

lam_status lam__atomic_write(lam_ctx *ctx, const char *path, const void *p, int64_t n,
                             const lam_io_hooks *io)
{
    lam_afile af;
    lam_status st = lam__afile_begin(ctx, path, io, &af);
    if (st == LAM_OK) {
        st = lam__afile_write(&af, p, n);
    }
    if (st == LAM_OK) {
        return lam__afile_commit(&af);
    }
    lam__afile_abort(&af);
    return st;
}

lam_status lam__read_all(lam_ctx *ctx, const char *path, int fd, void *p, int64_t n)
{
    unsigned char *dst = p;
    while (n > 0) {
        size_t chunk = (size_t)(n < AFILE_MAX_CHUNK ? n : AFILE_MAX_CHUNK);
        ssize_t r = read(fd, dst, chunk);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            char reason[64];
            lam__io_strerror(r == 0 ? 0 : errno, reason, sizeof reason);
            return lam__error(ctx, LAM_ERR_IO, "%.160s: read failed: %s", path,
                              r == 0 ? "file shrank while being read" : reason);
        }
        dst += r;
        n -= r;
    }
    return LAM_OK;
}

lam_status lam_file_write_atomic(lam_ctx *ctx, const char *path, const void *data, size_t n)
{
    if (ctx == NULL) {
        return LAM_ERR_ARG;
    }
    if (n > (size_t)INT64_MAX || (data == NULL && n > 0)) {
        return lam__error(ctx, LAM_ERR_ARG, "%.160s: atomic write of %zu bytes from NULL",
                          path != NULL ? path : "(null)", n);
    }
    return lam__atomic_write(ctx, path, data, (int64_t)n, NULL);
}

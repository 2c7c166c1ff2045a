/* Atomic file replacement (internal, not installed).
 *
 * A file is written to a temporary sibling `<path>.tmp.<pid>.<random>` (created with O_EXCL,
 * mode 0666 minus the umask), flushed, fsync'd and closed, then rename()d over `path`, and
 * finally the directory is fsync'd so the rename itself survives a crash. Readers therefore
 * see either the complete old file or the complete new one, never a mix. On any failure the
 * temporary file is removed and the old file at `path` is left untouched.
 *
 * Stale temporary files of a killed earlier run are never reused (each run picks a fresh
 * unique name and retries on EEXIST) and never deleted (they might belong to a live writer).
 * `path` itself may be a symlink: rename() replaces the link, not its target.
 *
 * Fault injection without globals: every function takes an optional ::lam_io_hooks; NULL (or
 * a NULL member) means the real system call. Tests use it to simulate ENOSPC or a failed
 * rename and check that the old file survives.
 */
#ifndef LAM_ATOMIC_FILE_H
#define LAM_ATOMIC_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "core_internal.h"

/* Replacements for the system calls the writer makes. Each returns what the system call
 * returns and sets errno on failure. `fsync` is called for the file and for its directory. */
typedef struct lam_io_hooks {
    int64_t (*write)(void *user, int fd, const void *buf, size_t n);
    int (*fsync)(void *user, int fd);
    int (*rename)(void *user, const char *from, const char *to);
    void *user;
} lam_io_hooks;

/* One file being written. Fields are private to atomic_file.c. */
typedef struct lam_afile {
    lam_ctx *ctx;
    const lam_io_hooks *io;
    const char *path;       /* the caller's string; must outlive the lam_afile */
    char *tmp;              /* temporary path (lam_alloc), NULL when none exists */
    int fd;                 /* -1 when closed */
    unsigned char *buf;     /* staging buffer, so many small writes make few syscalls */
    int64_t buf_used;
    lam_status status;      /* first failure; sticky */
} lam_afile;

/*
 * Start writing `path`: create the temporary file next to it.
 * @return LAM_OK, LAM_ERR_ARG (NULL argument), LAM_ERR_NOMEM, LAM_ERR_IO (message names
 *         the temporary path and the reason). On failure nothing is left on disk and
 *         lam__afile_abort(af) is a harmless no-op.
 */
lam_status lam__afile_begin(lam_ctx *ctx, const char *path, const lam_io_hooks *io,
                            lam_afile *af);

/*
 * Append n bytes. On failure the temporary file is removed at once and every later call
 * returns the same status.
 * @return LAM_OK, LAM_ERR_ARG, LAM_ERR_IO.
 */
lam_status lam__afile_write(lam_afile *af, const void *p, int64_t n);

/*
 * Flush, fsync, close, rename over the destination, fsync the directory. Always releases
 * af's resources. On failure before the rename the temporary file is removed and the old
 * file is untouched; a failure of the final directory fsync (the new file is in place but
 * its durability is not guaranteed) is also reported as LAM_ERR_IO.
 * @return LAM_OK, LAM_ERR_IO, or the sticky status of an earlier failed write.
 */
lam_status lam__afile_commit(lam_afile *af);

/* Give up: close and remove the temporary file, release af. Idempotent; NULL-safe. */
void lam__afile_abort(lam_afile *af);

/* Write one buffer to `path` atomically (begin + write + commit). */
lam_status lam__atomic_write(lam_ctx *ctx, const char *path, const void *p, int64_t n,
                             const lam_io_hooks *io);

/* Read exactly n bytes from fd (retrying short reads and EINTR).
 * @return LAM_OK, LAM_ERR_IO (message names path; a premature end of file is an error). */
lam_status lam__read_all(lam_ctx *ctx, const char *path, int fd, void *p, int64_t n);

/* Locale-independent description of an errno value ("No space left on device"), written to
 * buf; returns buf. Unknown values give "errno N". */
const char *lam__io_strerror(int err, char *buf, size_t n);

#endif

/**
 * @file lamina/core.h
 * @brief Status codes, contexts, tensors, the counter-based RNG and the timer.
 *
 * Error model: every fallible call returns a ::lam_status (0 = ::LAM_OK). The
 * context that a call ran on keeps a one-line detail message, read with
 * lam_ctx_errmsg(); lam_strerror() names a code. The library never prints,
 * exits, aborts, or changes the host's OpenMP or BLAS thread settings.
 *
 * Thread safety: calls on different contexts and on objects created from
 * different contexts may run concurrently. One context, and the objects made
 * from it, must not be used by two threads at once unless a function's doc says
 * "thread-safe".
 */
#ifndef LAMINA_CORE_H
#define LAMINA_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(LAM_BUILDING) && defined(__GNUC__)
#define LAM_API __attribute__((visibility("default")))
#else
#define LAM_API
#endif

/** Status codes. Values are never reused or renumbered. */
typedef enum lam_status {
    LAM_OK = 0,
    LAM_ERR_ARG = -1,     /**< invalid argument; details in lam_ctx_errmsg() */
    LAM_ERR_SHAPE = -2,   /**< operand shapes do not conform */
    LAM_ERR_LAYOUT = -3,  /**< strides/contiguity not supported by this op */
    LAM_ERR_NOMEM = -4,   /**< an allocation failed */
    LAM_ERR_IO = -5,      /**< a read, write, open or rename failed */
    LAM_ERR_FORMAT = -6,  /**< malformed checkpoint, model spec or data file */
    LAM_ERR_NUMERIC = -7, /**< NaN/Inf found where a finite value is required */
    LAM_ERR_RANGE = -8,   /**< a size or value is out of the supported range */
    LAM_ERR_STATE = -9,   /**< call out of order (e.g. backward before forward) */
    LAM_ERR_COMM = -10,   /**< the communication hook (lam_comm) reported a failure */
} lam_status;

/** Static text for a status code; never NULL (unknown codes give "unknown status"). */
LAM_API const char *lam_strerror(int status);

/** The library's version, "MAJOR.MINOR.PATCH" (static text). Compare it with the header's
 *  LAM_VERSION_STRING to detect a program running against another build. */
LAM_API const char *lam_version(void);
/** The same as one number, MAJOR * 10000 + MINOR * 100 + PATCH. */
LAM_API int lam_version_number(void);
#define LAM_VERSION_MAJOR 0
#define LAM_VERSION_MINOR 2
#define LAM_VERSION_PATCH 0
#define LAM_VERSION_STRING "0.2.0"

/* ------------------------------------------------------------------ context */

typedef struct lam_ctx lam_ctx;

/** Allocation hook: return `size` bytes aligned to `align` (a power of two, >= 64), or NULL. */
typedef void *(*lam_alloc_fn)(void *user, size_t size, size_t align);
/** Free hook for memory returned by the matching ::lam_alloc_fn; p may be NULL. */
typedef void (*lam_free_fn)(void *user, void *p);
/** Log hook; level 0 = error, 1 = warning, 2 = info. `msg` is valid during the call only. */
typedef void (*lam_log_fn)(void *user, int level, const char *msg);

/** Which kernel implementations a context runs. */
typedef enum lam_kernel_set {
    LAM_KERNELS_FAST = 0, /**< BLAS-backed, OpenMP over the batch */
    LAM_KERNELS_REF = 1,  /**< naive loops accumulating in double: slow, for debugging */
} lam_kernel_set;

/**
 * How to make a context. Fill with lam_ctx_desc_init(), then change fields. Like every
 * descriptor of lamina, it ends in reserved words that must stay zero, so a field added
 * later does not change the struct's size or break a program built against this header.
 */
typedef struct lam_ctx_desc {
    int n_threads;      /**< threads for lamina's own parallel loops; 0 = OpenMP's default */
    uint64_t seed;      /**< seed of every random stream drawn from this context */
    lam_kernel_set kernels;
    lam_alloc_fn alloc; /**< NULL: aligned_alloc/free from libc */
    lam_free_fn free;
    void *alloc_user;   /**< passed to alloc/free */
    lam_log_fn log;     /**< NULL: messages are dropped */
    void *log_user;
    uint64_t reserved[8]; /**< must be zero */
} lam_ctx_desc;

/** Fill `d` with defaults: n_threads 0, seed 0, fast kernels, libc allocator, no log,
 *  reserved words zero. NULL is a no-op. */
LAM_API void lam_ctx_desc_init(lam_ctx_desc *d);

/** The name this descriptor had before every descriptor was called `_desc`; kept so that
 *  existing programs compile unchanged. New code uses lam_ctx_desc. */
typedef lam_ctx_desc lam_ctx_config;
/** Same as lam_ctx_desc_init(); kept for existing callers. */
LAM_API void lam_ctx_config_init(lam_ctx_config *cfg);

/**
 * Create a context.
 * @param[in]  desc  configuration, or NULL for the defaults; copied.
 * @param[out] out   the new context, written only on success.
 * @return LAM_OK, LAM_ERR_ARG (out is NULL, n_threads < 0, alloc without free, an unknown
 *         kernel set, a reserved word not zero), LAM_ERR_NOMEM.
 */
LAM_API lam_status lam_ctx_create(const lam_ctx_desc *desc, lam_ctx **out);

/** Destroy a context. NULL is a no-op. Objects created from it must be destroyed first. */
LAM_API void lam_ctx_destroy(lam_ctx *ctx);

/** The detail message of the last failed call on `ctx` ("" if none); valid until the next call. */
LAM_API const char *lam_ctx_errmsg(const lam_ctx *ctx);

/** The thread count the context's parallel loops use (resolved from 0 to OpenMP's default). */
LAM_API int lam_ctx_threads(const lam_ctx *ctx);

/** The seed the context was created with. */
LAM_API uint64_t lam_ctx_seed(const lam_ctx *ctx);

/**
 * Allocate `size` bytes, 64-byte aligned, through the context's allocator.
 * @return NULL when the allocator fails or size is 0; the context's message says why.
 */
LAM_API void *lam_alloc(lam_ctx *ctx, size_t size);

/** Free memory from lam_alloc(). NULL is a no-op. */
LAM_API void lam_free(lam_ctx *ctx, void *p);

/* ------------------------------------------------------- data-parallel hook */

/**
 * How a context reaches its peers in data-parallel training (liblamina_mpi fills one from an
 * MPI communicator; a caller may write its own). lamina never sums floats in the transport:
 * the hook only moves bytes, and every sum is taken by lamina in one tree over the chunks
 * of the global batch, so the weights are the same bits on any number of ranks.
 *
 * alltoallv starts an exchange: this rank sends scounts[d] bytes from send + sdispls[d] to
 * rank d and receives rcounts[s] bytes from rank s at recv + rdispls[s] (the send regions
 * may overlap). It returns 0 and sets *request, or a non-zero error code. wait completes a
 * request: done == NULL blocks; otherwise it sets *done to 1 when the exchange finished (and
 * then the request is gone) or 0 while it runs, without blocking. The buffers stay untouched
 * by lamina until the request completes. Every rank must make the same calls in the same
 * order, as with MPI collectives.
 */
typedef struct lam_comm {
    int rank;                /**< this rank, 0 <= rank < size */
    int size;                /**< ranks taking part, >= 1 */
    void *user;              /**< passed to the calls */
    int (*alltoallv)(void *user, const void *send, const int64_t *scounts,
                     const int64_t *sdispls, void *recv, const int64_t *rcounts,
                     const int64_t *rdispls, void **request);
    int (*wait)(void *user, void *request, int *done);
    uint64_t reserved[4];    /**< must be zero */
} lam_comm;

/**
 * Attach a communication hook to the context (copied; NULL detaches). Training steps with
 * lam_step_desc.chunk set then take this rank's chunks of the global batch and combine the
 * gradients, the batch-norm statistics and the loss with the other ranks.
 * @return LAM_OK, LAM_ERR_ARG (a NULL call, size < 1, rank outside [0, size), a reserved
 *         word not zero).
 */
LAM_API lam_status lam_ctx_set_comm(lam_ctx *ctx, const lam_comm *comm);

/** The context's rank and rank count (0 and 1 without a hook). NULL-safe. */
LAM_API int lam_ctx_rank(const lam_ctx *ctx);
LAM_API int lam_ctx_ranks(const lam_ctx *ctx);

/**
 * This rank's share of a global batch of n samples cut into chunks of `chunk`: the samples
 * [*first, *first + *count), i.e. the chunks [k*r/R, k*(r+1)/R) of k = n / chunk. What a
 * data-parallel step (lam_step_desc.chunk) expects the rank to pass; alone, the whole batch.
 * @return LAM_OK, LAM_ERR_ARG (NULL outputs, chunk < 1, n not a multiple of chunk).
 */
LAM_API lam_status lam_ctx_batch_share(const lam_ctx *ctx, int64_t n, int64_t chunk,
                                       int64_t *first, int64_t *count);

/* ------------------------------------------------------------------- tensor */

#define LAM_MAX_DIM 4
#define LAM_TENSOR_OWNED 1u

/**
 * A float32 tensor view: row-major, dim 0 outermost (N, C, H, W). Owns its data only if
 * `flags & LAM_TENSOR_OWNED` (set only by lam_tensor_alloc()).
 */
typedef struct lam_tensor {
    float *data;
    int ndim;                     /**< 1..LAM_MAX_DIM */
    int64_t shape[LAM_MAX_DIM];   /**< unused trailing entries are 1 */
    int64_t stride[LAM_MAX_DIM];  /**< in elements, not bytes */
    uint32_t flags;
} lam_tensor;

/**
 * Product of `ndim` sizes, with overflow and range checks.
 * @return LAM_OK, LAM_ERR_ARG (ndim out of 1..LAM_MAX_DIM, a negative size or NULL),
 *         LAM_ERR_RANGE (the product exceeds INT64_MAX / sizeof(float)).
 */
LAM_API lam_status lam_shape_numel(int ndim, const int64_t *shape, int64_t *out);

/**
 * Describe caller-owned memory as a contiguous tensor; no copy, no allocation.
 * The caller keeps ownership of `data`, which must outlive every use of `t`.
 * @return LAM_OK, LAM_ERR_ARG, LAM_ERR_RANGE.
 */
LAM_API lam_status lam_tensor_wrap(lam_tensor *t, float *data, int ndim, const int64_t *shape);

/**
 * Allocate a zero-filled contiguous tensor from the context's allocator.
 * @return LAM_OK, LAM_ERR_ARG, LAM_ERR_RANGE, LAM_ERR_NOMEM. `t` is untouched on failure.
 */
LAM_API lam_status lam_tensor_alloc(lam_ctx *ctx, lam_tensor *t, int ndim, const int64_t *shape);

/** Free an owned tensor's data and clear it; a borrowed tensor is only cleared. NULL is a no-op. */
LAM_API void lam_tensor_free(lam_ctx *ctx, lam_tensor *t);

/** Number of elements of a tensor (product of its shape). */
LAM_API int64_t lam_tensor_numel(const lam_tensor *t);

/** 1 if the tensor's strides are the contiguous row-major ones, else 0. */
LAM_API int lam_tensor_is_contiguous(const lam_tensor *t);

/** Most dimensions of one sample: (D), (T, D) or (C, H, W). */
#define LAM_MAX_SAMPLE_DIM 3

/** The shape of one sample (a batch adds the outer dimension N). dim[0] is outermost;
 *  entries past ndim are ignored. */
typedef struct lam_shape {
    int ndim;                         /**< 1, 2 or 3 */
    int64_t dim[LAM_MAX_SAMPLE_DIM];
} lam_shape;

/**
 * A view of one parameter tensor and its gradient, as flat arrays (owned by a layer or a
 * model; valid until that object is destroyed). Optimizers work on arrays of these.
 */
typedef struct lam_param {
    const char *name;  /**< e.g. "layer1.0.conv1.weight" or "conv2d#0.weight"; owned by the
                            layer or model */
    float *w;          /**< values, n floats */
    float *g;          /**< gradient, n floats */
    int64_t n;
    int64_t fan_in;    /**< inputs feeding one output (for initializers); 0 for biases */
    int64_t fan_out;   /**< outputs fed by one input */
    int is_bias;       /**< 1 for biases and norm shifts (weight decay usually skips them) */
} lam_param;

/* ---------------------------------------------------------------------- rng */

/**
 * Counter-based random numbers (Philox4x32-10). The value depends only on
 * (seed, stream, index): never on thread count or call order. Thread-safe.
 */
LAM_API uint64_t lam_rng_u64(uint64_t seed, uint64_t stream, uint64_t index);
/** Uniform float in [0, 1), 24 random bits. Thread-safe. */
LAM_API float lam_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index);
/** Standard normal (Box-Muller on one Philox block). Thread-safe. */
LAM_API float lam_rng_normal(uint64_t seed, uint64_t stream, uint64_t index);

/* -------------------------------------------------------------------- timer */

/** Seconds from an arbitrary fixed point, from CLOCK_MONOTONIC. Thread-safe. */
LAM_API double lam_time_now(void);

/**
 * Write a file atomically, as lamina writes its checkpoints: the bytes go to a new
 * temporary file next to `path` (created exclusively, so a planted symlink is refused),
 * which is flushed, fsynced and renamed over `path`; then the directory is fsynced. A
 * reader sees the old file or the new one, never a mix, and on any failure the old file
 * is untouched and no temporary file remains.
 * @return LAM_OK, LAM_ERR_ARG (NULL or empty path, NULL data with n > 0), LAM_ERR_NOMEM,
 *         LAM_ERR_IO (the message names the path and the reason).
 */
LAM_API lam_status lam_file_write_atomic(lam_ctx *ctx, const char *path, const void *data,
                                         size_t n);

/** Output size of a convolution or pooling window: (in + 2*pad - dil*(k-1) - 1) / stride + 1.
 *  Returns 0 or less when the window does not fit, and 0 when a term overflows int64. */
LAM_API int64_t lam_conv_out(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil);

#ifdef __cplusplus
}
#endif
#endif

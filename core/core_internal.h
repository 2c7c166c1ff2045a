/* Internal core API shared by every floor of the library. Not installed. */
#ifndef LAM_CORE_INTERNAL_H
#define LAM_CORE_INTERNAL_H

#include "lamina/core.h"

#include <stdarg.h>

#define LAM_ERRMSG_MAX 256
#define LAM_ALIGN 64

struct lam_ctx {
    lam_ctx_desc cfg;        /* alloc/free always non-NULL after create */
    int n_threads;           /* resolved, >= 1 */
    int gemm_strategy;       /* 0: by the BLAS build (lam__gemm_outside); 1: GEMMs outside
                              * lamina's regions (conv "batched", linear "blas"); 2: inside
                              * ("chunked", "split"). Only tests set it, before building. */
    int plan_no_share;       /* 1: models give every buffer memory of its own (no in-place,
                              * no alias, no reuse), so a test can hold the memory plan to
                              * the unshared result. Only tests set it. */
    lam_comm comm;           /* the data-parallel hook; size 1 and no calls without one */
    char errmsg[LAM_ERRMSG_MAX];
};

#if defined(__GNUC__)
#define LAM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LAM_PRINTF(a, b)
#endif

/* Record "what: detail" as the context's last error and return `st`. ctx may be NULL
 * (then only the status is returned). Also forwarded to the log hook at level 0. */
lam_status lam__error(lam_ctx *ctx, lam_status st, const char *fmt, ...) LAM_PRINTF(3, 4);
lam_status lam__verror(lam_ctx *ctx, lam_status st, const char *fmt, va_list ap);
void lam__clear_error(lam_ctx *ctx);
void lam__log(lam_ctx *ctx, int level, const char *fmt, ...) LAM_PRINTF(3, 4);

/* 1 when the n reserved words of a descriptor are all zero (see lamina/core.h). */
int lam__reserved_zero(const uint64_t *words, int n);

/* Overflow-checked size arithmetic: return 0 and set *out, or return 1 on overflow. */
int lam__mul_i64(int64_t a, int64_t b, int64_t *out);
int lam__add_i64(int64_t a, int64_t b, int64_t *out);
/* a*b and a+b for a, b >= 0, saturating at INT64_MAX: for sizes that are only compared
 * (a file's claims against its bytes), never allocated. */
int64_t lam__sat_mul(int64_t a, int64_t b);
int64_t lam__sat_add(int64_t a, int64_t b);

/* 1 when x[0..n) holds no NaN or Inf. */
int lam__all_finite(const float *x, int64_t n);

/* Allocate n floats, zero-filled, checked; message names `what` on failure. */
float *lam__alloc_floats(lam_ctx *ctx, int64_t n, const char *what);

/*
 * Arena: one aligned block carved by a bump pointer. Sized once (reserve pass, then
 * lam__arena_commit), so a training step never allocates. Committing advises huge pages
 * and touches every page once: first touch costs ~11 us per 4 KiB page on the dev machine.
 */
typedef struct lam_arena {
    char *base;
    size_t size;   /* bytes committed */
    size_t used;   /* bytes handed out */
    size_t want;   /* bytes reserved before commit */
} lam_arena;

/* Reserve pass: account for `bytes` (rounded to 64) and return the offset it will have. */
size_t lam__arena_reserve(lam_arena *a, size_t bytes);
/* Allocate the reserved total (zeroed). */
lam_status lam__arena_commit(lam_ctx *ctx, lam_arena *a);
/* Pointer of a reserved offset after commit. */
void *lam__arena_at(const lam_arena *a, size_t offset);
void lam__arena_release(lam_ctx *ctx, lam_arena *a);

/* Four uniforms in [0, 1) from one Philox block of (seed, stream, index): out[0] is
 * lam_rng_uniform's value, out[1..3] the block's other words, for callers that draw many
 * (a recurrent layer's dropout masks). */
void lam__rng_uniform4(uint64_t seed, uint64_t stream, uint64_t index, float out[4]);
/* Fisher-Yates permutation of 0..n-1 drawn from lam_rng_u64(seed, stream, .). */
void lam__permute(uint64_t seed, uint64_t stream, int64_t n, int64_t *perm);
/* RNG streams of epoch shuffles (SHUFFLE + epoch: lam_data_permutation, lam_fit) and of
 * dataset splits, kept apart from each other and from the small stream numbers layers use. */
#define LAM__STREAM_SHUFFLE 0x5348554600000000ull /* "SHUF" */
#define LAM__STREAM_SPLIT 0x53504c4954000000ull   /* "SPLIT" */

/* Parallel phases (core/par.c): the one way lamina's loops use OpenMP. */
/* Work item `item` of a phase; `lane` (< threads) picks per-thread scratch only. */
typedef void (*lam_item_fn)(const void *arg, int64_t item, int lane);
typedef struct lam_phase {
    lam_item_fn fn;
    int64_t n;        /* items */
    int dynamic;      /* schedule(dynamic, 1): for uneven items or a busy machine; else
                       * static, which gives a thread the same items in two phases of the
                       * same length (what it wrote in the first is still in its cache) */
} lam_phase;
/* Run the phases in order in one parallel region of `threads` threads (a barrier after each
 * phase); one thread runs plain loops without any OpenMP call (core/par.c). */
void lam__run_phases(int threads, const void *arg, const lam_phase *ph, int nph);
/* y = a + b elementwise over n floats (y may be a or b), in blocks on up to `threads`
 * threads when n is large (a residual stream's sum and gradient); the same bits on any. */
void lam__add_arrays(int threads, float *y, const float *a, const float *b, int64_t n);

#endif

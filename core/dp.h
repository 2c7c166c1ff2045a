/* Data-parallel steps (core/dp.c): how a global batch is cut into chunks and shared among
 * the ranks, the one tree in which values of chunks are summed, and the exchanges through
 * the context's hook (lam_comm). Not installed.
 *
 * The global batch of n samples is k chunks of `chunk` samples. Rank r takes the chunks
 * [k*r/R, k*(r+1)/R), a contiguous run. A sum over chunks (a gradient, batch-norm
 * statistics, the loss) is always taken in one binary tree over the chunk indices 0..k-1:
 * the node [lo, hi) adds its children [lo, lo + p) and [lo + p, hi), p the largest power
 * of two below hi - lo. A rank sums the largest nodes that lie inside its run (its cover,
 * usually one node), and the ranks' nodes are then combined in the same tree. Each chunk's
 * value is computed by the same calls whatever rank holds it, and float addition of two
 * values is commutative, so the result is the same bits for any rank count and any thread
 * count: only the chunk size decides it. */
#ifndef LAM_DP_H
#define LAM_DP_H

#include "core_internal.h"

typedef struct lam_dp {
    lam_ctx *ctx;
    int64_t global_n, chunk, k;
    int rank, size;
    int64_t first, count;     /* this rank's chunks */
    int n_nodes;              /* every rank's cover nodes, in rank order */
    int64_t *lo, *hi;         /* [n_nodes] */
    int *rank_first;          /* [size + 1]: rank r's nodes are rank_first[r] .. [r + 1] - 1 */
    int64_t *counts;          /* 4 * size: the count arrays of blocking exchanges */
    double *leaves;           /* count * small_cap doubles: a small reduction's chunk values */
    double *small;            /* its exchange scratch: (count + n_nodes) * small_cap */
    int64_t small_cap;        /* doubles per value they can take */
    int64_t wait_ns;          /* time spent blocked in the hook's wait (lamina-bench) */
    int64_t comm_bytes;       /* bytes this rank sent */
} lam_dp;

/* A combine: left = left (+) right over len values; nl and nr are the chunks on each side. */
typedef void (*lam_dp_op)(void *left, const void *right, int64_t len, int64_t nl, int64_t nr,
                          const void *arg);

/* Lay out a global batch of n samples in chunks of `chunk` for the context's ranks, with
 * scratch for small reductions of up to small_cap doubles per value. Errors say why the
 * batch does not divide. Frees what a previous layout held. */
lam_status lam__dp_init(lam_ctx *ctx, lam_dp *dp, int64_t n, int64_t chunk, int64_t small_cap);
void lam__dp_free(lam_dp *dp);

/* This rank's cover nodes: [rank_first[rank], rank_first[rank + 1]). */
static inline int lam__dp_my_nodes(const lam_dp *dp)
{
    return dp->rank_first[dp->rank + 1] - dp->rank_first[dp->rank];
}

/* Sum this rank's chunk values in place: leaves holds `count` values of `stride` bytes;
 * afterwards the value of each of its cover nodes [lo, hi) sits in slot lo - first. */
void lam__dp_tree_local(const lam_dp *dp, char *leaves, size_t stride, int64_t len,
                        lam_dp_op op, const void *arg);
/* Sum every rank's cover nodes (n_nodes values of `stride` bytes, in order) into slot 0. */
void lam__dp_tree_global(const lam_dp *dp, char *nodes, size_t stride, int64_t len,
                         lam_dp_op op, const void *arg);

/* The sum over all chunks of a small vector of doubles (batch-norm statistics, the loss):
 * leaves holds this rank's count values of len doubles (it is overwritten); out gets the
 * sum, the same on every rank. Blocks until the exchange is done. */
lam_status lam__dp_allreduce(lam_dp *dp, double *leaves, int64_t len, lam_dp_op op,
                             const void *arg, double *out);
/* Plain sums for lam__dp_allreduce. */
void lam__dp_add_f64(void *left, const void *right, int64_t len, int64_t nl, int64_t nr,
                     const void *arg);

/* A gradient's bucket: its chunks' values summed locally, then a reduce-scatter (each rank
 * sums one segment of every node in tree order) and an allgather, both started without
 * blocking so backward goes on while they run. */
typedef struct lam_dp_bucket {
    int64_t len;              /* floats */
    float *leaves;            /* count * len: chunk gradients, then this rank's nodes */
    float *send;              /* nodes packed by segment (several nodes only) */
    float *recv;              /* every node's segment of this rank */
    float *out;               /* len: the sum */
    int64_t *counts;          /* 4 * size: alive while an exchange runs */
    void *req;
    int stage;                /* 0 idle, 1 reduce-scatter, 2 allgather, 3 done */
    int done;                 /* a poll saw the running stage complete */
} lam_dp_bucket;

/* Floats a bucket of len floats needs (lam__dp_bucket_bind's memory, 64-byte rounded). */
int64_t lam__dp_bucket_floats(const lam_dp *dp, int64_t len);
/* Carve a bucket out of mem (lam__dp_bucket_floats floats, 64-byte aligned) and counts
 * (4 * size int64). */
void lam__dp_bucket_bind(const lam_dp *dp, lam_dp_bucket *b, int64_t len, float *mem,
                         int64_t *counts);
/* Every rank must start exchanges in the same order (they are collectives), so a stage
 * never starts because a poll found the previous one done: the caller advances buckets at
 * points fixed by the model (graph/dp_pass.c: the previous bucket when the next starts).
 *
 * Once leaves hold this rank's chunk gradients: sum them locally, start the reduce-scatter. */
lam_status lam__dp_bucket_start(lam_dp *dp, lam_dp_bucket *b);
/* Let the transport progress (MPI moves data only inside its calls); never blocks. */
lam_status lam__dp_bucket_poll(lam_dp *dp, lam_dp_bucket *b);
/* Finish the reduce-scatter, sum this rank's segment, start the allgather. */
lam_status lam__dp_bucket_advance(lam_dp *dp, lam_dp_bucket *b);
/* Wait until out holds the sum (stage 3). */
lam_status lam__dp_bucket_finish(lam_dp *dp, lam_dp_bucket *b);

#endif

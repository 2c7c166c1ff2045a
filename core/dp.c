/* Data-parallel steps: the chunk layout, the fixed tree over chunks, and the exchanges
 * through the context's hook (see dp.h for the rules that make the result rank-free). */
#include "dp.h"

#include <string.h>

/* The left child of a node of n >= 2 chunks has p chunks: the largest power of two < n. */
static int64_t left_size(int64_t n)
{
    int64_t p = 1;
    while (2 * p < n) {
        p *= 2;
    }
    return p;
}

/* Append the largest tree nodes inside [a, b) under node [lo, hi); returns the new count. */
static int cover(int64_t lo, int64_t hi, int64_t a, int64_t b, int64_t *clo, int64_t *chi,
                 int n)
{
    if (b <= lo || hi <= a) {
        return n;
    }
    if (a <= lo && hi <= b) {
        if (clo != NULL) {
            clo[n] = lo;
            chi[n] = hi;
        }
        return n + 1;
    }
    const int64_t mid = lo + left_size(hi - lo);
    n = cover(lo, mid, a, b, clo, chi, n);
    return cover(mid, hi, a, b, clo, chi, n);
}

static int64_t rank_start(int64_t k, int r, int size)
{
    return k * r / size;
}

lam_status lam_ctx_batch_share(const lam_ctx *ctx, int64_t n, int64_t chunk, int64_t *first,
                               int64_t *count)
{
    if (first == NULL || count == NULL || chunk < 1 || n < 0 || n % chunk != 0) {
        return LAM_ERR_ARG;
    }
    const int r = lam_ctx_rank(ctx), size = lam_ctx_ranks(ctx);
    const int64_t k = n / chunk;
    *first = rank_start(k, r, size) * chunk;
    *count = (rank_start(k, r + 1, size) - rank_start(k, r, size)) * chunk;
    return LAM_OK;
}

void lam__dp_free(lam_dp *dp)
{
    if (dp != NULL && dp->ctx != NULL) {
        lam_free(dp->ctx, dp->lo);
        lam_free(dp->ctx, dp->leaves);
    }
    if (dp != NULL) {
        memset(dp, 0, sizeof *dp);
    }
}

lam_status lam__dp_init(lam_ctx *ctx, lam_dp *dp, int64_t n, int64_t chunk, int64_t small_cap)
{
    lam__dp_free(dp);
    const int size = ctx->comm.size, rank = ctx->comm.rank;
    if (chunk < 1 || n % chunk != 0) {
        return lam__error(ctx, LAM_ERR_ARG, "data-parallel step: the global batch of %lld "
                          "samples does not divide into chunks of %lld", (long long)n,
                          (long long)chunk);
    }
    const int64_t k = n / chunk;
    if (k < size) {
        return lam__error(ctx, LAM_ERR_ARG, "data-parallel step: the global batch of %lld "
                          "samples makes %lld chunk%s of %lld, fewer than the %d ranks: use a "
                          "smaller chunk or a larger batch", (long long)n, (long long)k,
                          k == 1 ? "" : "s", (long long)chunk, size);
    }
    int total = 0;
    for (int r = 0; r < size; r++) {
        total = cover(0, k, rank_start(k, r, size), rank_start(k, r + 1, size), NULL, NULL,
                      total);
    }
    /* one block: lo, hi (total), counts (4 * size), rank_first (size + 1) */
    const size_t bytes = (size_t)(2 * total + 4 * size) * sizeof(int64_t) +
                         (size_t)(size + 1) * sizeof(int);
    int64_t *blk = lam_alloc(ctx, bytes);
    int64_t cnt = rank_start(k, rank + 1, size) - rank_start(k, rank, size);
    double *small = small_cap > 0 ? lam_alloc(ctx, (size_t)((2 * cnt + total) * small_cap) *
                                                       sizeof(double))
                                  : NULL;
    if (blk == NULL || (small_cap > 0 && small == NULL)) {
        lam_free(ctx, blk);
        lam_free(ctx, small);
        return LAM_ERR_NOMEM;
    }
    *dp = (lam_dp){.ctx = ctx, .global_n = n, .chunk = chunk, .k = k, .rank = rank,
                   .size = size, .first = rank_start(k, rank, size), .count = cnt,
                   .n_nodes = total, .lo = blk, .hi = blk + total, .counts = blk + 2 * total,
                   .rank_first = (int *)(void *)(blk + 2 * total + 4 * size), .leaves = small,
                   .small = small != NULL ? small + cnt * small_cap : NULL,
                   .small_cap = small_cap};
    int at = 0;
    for (int r = 0; r < size; r++) {
        dp->rank_first[r] = at;
        at = cover(0, k, rank_start(k, r, size), rank_start(k, r + 1, size), dp->lo, dp->hi,
                   at);
    }
    dp->rank_first[size] = at;
    return LAM_OK;
}

/* ------------------------------------------------------------ the tree */

typedef struct tree_walk {
    char *slots;
    size_t stride;
    int64_t len;
    lam_dp_op op;
    const void *arg;
    const int64_t *lo, *hi; /* the given nodes (global tree), or NULL (leaves) */
    int next;
    int64_t base;           /* leaves: the chunk of slot 0 */
} tree_walk;

/* Sum node [lo, hi) into the slot of its leftmost given node; returns that slot. */
static int64_t reduce(tree_walk *w, int64_t lo, int64_t hi)
{
    if (w->lo != NULL && w->lo[w->next] == lo && w->hi[w->next] == hi) {
        return w->next++;
    }
    if (w->lo == NULL && hi - lo == 1) {
        return lo - w->base;
    }
    const int64_t mid = lo + left_size(hi - lo);
    const int64_t a = reduce(w, lo, mid), b = reduce(w, mid, hi);
    w->op(w->slots + (size_t)a * w->stride, w->slots + (size_t)b * w->stride, w->len,
          mid - lo, hi - mid, w->arg);
    return a;
}

void lam__dp_tree_local(const lam_dp *dp, char *leaves, size_t stride, int64_t len,
                        lam_dp_op op, const void *arg)
{
    tree_walk w = {leaves, stride, len, op, arg, NULL, NULL, 0, dp->first};
    for (int i = dp->rank_first[dp->rank]; i < dp->rank_first[dp->rank + 1]; i++) {
        (void)reduce(&w, dp->lo[i], dp->hi[i]);
    }
}

void lam__dp_tree_global(const lam_dp *dp, char *nodes, size_t stride, int64_t len,
                         lam_dp_op op, const void *arg)
{
    tree_walk w = {nodes, stride, len, op, arg, dp->lo, dp->hi, 0, 0};
    (void)reduce(&w, 0, dp->k);
}

void lam__dp_add_f64(void *left, const void *right, int64_t len, int64_t nl, int64_t nr,
                     const void *arg)
{
    (void)nl;
    (void)nr;
    (void)arg;
    double *a = left;
    const double *b = right;
    for (int64_t i = 0; i < len; i++) {
        a[i] += b[i];
    }
}

static void add_f32(void *left, const void *right, int64_t len, int64_t nl, int64_t nr,
                    const void *arg)
{
    (void)nl;
    (void)nr;
    const lam_dp *dp = arg;
    lam__add_arrays(lam_ctx_threads(dp->ctx), left, left, right, len);
}

/* ------------------------------------------------------------ exchanges */

static lam_status hook_failed(lam_dp *dp, const char *what, int code)
{
    return lam__error(dp->ctx, LAM_ERR_COMM, "rank %d of %d: %s failed (hook error %d): a "
                      "rank stopped or the transport failed", dp->rank, dp->size, what, code);
}

static lam_status start(lam_dp *dp, const void *send, const int64_t *c, void *recv,
                        void **req, const char *what)
{
    const int64_t sz = dp->size;
    for (int64_t r = 0; r < sz; r++) {
        dp->comm_bytes += r != dp->rank ? c[r] : 0;
    }
    lam_comm *h = &dp->ctx->comm;
    int e = h->alltoallv(h->user, send, c, c + sz, recv, c + 2 * sz, c + 3 * sz, req);
    return e != 0 ? hook_failed(dp, what, e) : LAM_OK;
}

static lam_status dp_wait(lam_dp *dp, void *req, int *done, const char *what)
{
    lam_comm *h = &dp->ctx->comm;
    const double t0 = done == NULL ? lam_time_now() : 0.0;
    int e = h->wait(h->user, req, done);
    if (done == NULL) {
        dp->wait_ns += (int64_t)((lam_time_now() - t0) * 1e9);
    }
    return e != 0 ? hook_failed(dp, what, e) : LAM_OK;
}

lam_status lam__dp_allreduce(lam_dp *dp, double *leaves, int64_t len, lam_dp_op op,
                             const void *arg, double *out)
{
    lam__dp_tree_local(dp, (char *)leaves, (size_t)len * sizeof(double), len, op, arg);
    if (dp->size == 1) {
        memcpy(out, leaves, (size_t)len * sizeof(double)); /* one node: [0, k) in slot 0 */
        return LAM_OK;
    }
    if (len > dp->small_cap) {
        return lam__error(dp->ctx, LAM_ERR_STATE, "data-parallel step: a reduction of %lld "
                          "values exceeds its scratch of %lld", (long long)len,
                          (long long)dp->small_cap);
    }
    /* send this rank's nodes packed; receive every rank's, in order (an allgather) */
    const int mine = dp->rank_first[dp->rank], nm = lam__dp_my_nodes(dp);
    double *send = dp->small, *recv = dp->small + dp->count * dp->small_cap;
    for (int i = 0; i < nm; i++) {
        memcpy(send + i * len, leaves + (dp->lo[mine + i] - dp->first) * len,
               (size_t)len * sizeof(double));
    }
    int64_t *c = dp->counts;
    const int64_t vb = len * (int64_t)sizeof(double);
    for (int r = 0; r < dp->size; r++) {
        c[r] = nm * vb;
        c[dp->size + r] = 0;
        c[2 * dp->size + r] = (dp->rank_first[r + 1] - dp->rank_first[r]) * vb;
        c[3 * dp->size + r] = dp->rank_first[r] * vb;
    }
    void *req = NULL;
    lam_status st = start(dp, send, c, recv, &req, "a batch-statistics exchange");
    if (st == LAM_OK) {
        st = dp_wait(dp, req, NULL, "a batch-statistics exchange");
    }
    if (st != LAM_OK) {
        return st;
    }
    lam__dp_tree_global(dp, (char *)recv, (size_t)vb, len, op, arg);
    memcpy(out, recv, (size_t)vb);
    return LAM_OK;
}

/* ------------------------------------------------------------ gradient buckets */

static int64_t seg_start(const lam_dp *dp, int64_t len, int r)
{
    return len * r / dp->size;
}

static int64_t round16(int64_t n)
{
    return (n + 15) / 16 * 16;
}

int64_t lam__dp_bucket_floats(const lam_dp *dp, int64_t len)
{
    const int64_t seg = (len + dp->size - 1) / dp->size;
    const int64_t send = lam__dp_my_nodes(dp) > 1 ? round16(lam__dp_my_nodes(dp) * len) : 0;
    const int64_t recv = dp->size > 1 ? round16(dp->n_nodes * seg) : 0;
    return round16(dp->count * len) + send + recv + round16(len);
}

void lam__dp_bucket_bind(const lam_dp *dp, lam_dp_bucket *b, int64_t len, float *mem,
                         int64_t *counts)
{
    const int64_t seg = (len + dp->size - 1) / dp->size;
    const int nm = lam__dp_my_nodes(dp);
    b->len = len;
    b->leaves = mem;
    mem += round16(dp->count * len);
    b->send = nm > 1 ? mem : NULL;
    mem += nm > 1 ? round16(nm * len) : 0;
    b->recv = dp->size > 1 ? mem : NULL;
    mem += dp->size > 1 ? round16(dp->n_nodes * seg) : 0;
    b->out = mem;
    b->counts = counts;
    b->req = NULL;
    b->stage = 0;
}

/* Stage 1: segment s of every node of this rank goes to rank s. */
static lam_status start_scatter(lam_dp *dp, lam_dp_bucket *b)
{
    const int sz = dp->size, nm = lam__dp_my_nodes(dp), mine = dp->rank_first[dp->rank];
    const int64_t len = b->len, fb = (int64_t)sizeof(float);
    const int64_t my_seg = seg_start(dp, len, dp->rank + 1) - seg_start(dp, len, dp->rank);
    const float *send = b->leaves;
    int64_t *c = b->counts, at = 0;
    for (int s = 0; s < sz; s++) {
        const int64_t s0 = seg_start(dp, len, s), sl = seg_start(dp, len, s + 1) - s0;
        if (nm > 1) {
            for (int i = 0; i < nm; i++) {
                memcpy(b->send + at + i * sl, b->leaves + (dp->lo[mine + i] - dp->first) * len +
                                                  s0, (size_t)sl * sizeof(float));
            }
        }
        c[s] = nm * sl * fb;
        c[sz + s] = (nm > 1 ? at : s0) * fb;
        at += nm * sl;
        c[2 * sz + s] = (dp->rank_first[s + 1] - dp->rank_first[s]) * my_seg * fb;
        c[3 * sz + s] = dp->rank_first[s] * my_seg * fb;
    }
    if (nm > 1) {
        send = b->send;
    }
    b->stage = 1;
    return start(dp, send, c, b->recv, &b->req, "a gradient exchange");
}

/* Stage 2: sum this rank's segment over every node in tree order, then send it to all. */
static lam_status start_gather(lam_dp *dp, lam_dp_bucket *b)
{
    const int sz = dp->size;
    const int64_t len = b->len, fb = (int64_t)sizeof(float);
    const int64_t m0 = seg_start(dp, len, dp->rank);
    const int64_t ml = seg_start(dp, len, dp->rank + 1) - m0;
    lam__dp_tree_global(dp, (char *)b->recv, (size_t)(ml * fb), ml, add_f32, dp);
    int64_t *c = b->counts;
    for (int r = 0; r < sz; r++) {
        const int64_t r0 = seg_start(dp, len, r);
        c[r] = ml * fb;
        c[sz + r] = 0;
        c[2 * sz + r] = (seg_start(dp, len, r + 1) - r0) * fb;
        c[3 * sz + r] = r0 * fb;
    }
    b->stage = 2;
    return start(dp, b->recv, c, b->out, &b->req, "a gradient exchange");
}

lam_status lam__dp_bucket_start(lam_dp *dp, lam_dp_bucket *b)
{
    lam__dp_tree_local(dp, (char *)b->leaves, (size_t)b->len * sizeof(float), b->len, add_f32,
                       dp);
    b->done = 0;
    if (dp->size == 1) {
        memcpy(b->out, b->leaves, (size_t)b->len * sizeof(float));
        b->stage = 3;
        return LAM_OK;
    }
    return start_scatter(dp, b);
}

lam_status lam__dp_bucket_poll(lam_dp *dp, lam_dp_bucket *b)
{
    if ((b->stage == 1 || b->stage == 2) && !b->done) {
        return dp_wait(dp, b->req, &b->done, "a gradient exchange");
    }
    return LAM_OK;
}

/* Complete the running stage (blocking unless a poll saw it done). */
static lam_status complete(lam_dp *dp, lam_dp_bucket *b)
{
    lam_status st = LAM_OK;
    if (!b->done) {
        st = dp_wait(dp, b->req, NULL, "a gradient exchange");
    }
    b->req = NULL;
    b->done = 0;
    return st;
}

lam_status lam__dp_bucket_advance(lam_dp *dp, lam_dp_bucket *b)
{
    if (b->stage != 1) {
        return LAM_OK;
    }
    lam_status st = complete(dp, b);
    return st == LAM_OK ? start_gather(dp, b) : st;
}

lam_status lam__dp_bucket_finish(lam_dp *dp, lam_dp_bucket *b)
{
    lam_status st = lam__dp_bucket_advance(dp, b);
    if (st == LAM_OK && b->stage == 2) {
        st = complete(dp, b);
        b->stage = 3;
    }
    return st;
}

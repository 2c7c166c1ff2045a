/*
 * Parallel loops over parameter arrays: the optimizer update, zeroing the gradients and the
 * train step's finiteness check are elementwise passes over every parameter (or gradient),
 * each 2-11 MB of memory traffic on a 0.5 M-parameter model. Run serially they were the
 * part of a two-thread MLP step where the second core waited (perf: the update alone 5.6% of
 * a one-thread step, twice that share on two).
 */
#include "param_blocks.h"

#include "core_internal.h"

/* Below this many elements in all a pass stays on the calling thread: a parallel region
 * costs more than the work. */
#define PARALLEL_MIN 65536

typedef struct blocks_arg {
    const lam_param *params;
    int n;
    lam_param_block_fn fn[2];
    const void *arg[2];
} blocks_arg;

static int64_t blocks_of(int64_t n)
{
    return (n + LAM_PARAM_BLOCK - 1) / LAM_PARAM_BLOCK;
}

static void run_block(const blocks_arg *a, int pass, int64_t item)
{
    int i = 0; /* few parameters per model: a scan is cheaper than a table */
    while (i < a->n - 1 && item >= blocks_of(a->params[i].n)) {
        item -= blocks_of(a->params[i].n);
        i++;
    }
    const int64_t off = item * LAM_PARAM_BLOCK, left = a->params[i].n - off;
    a->fn[pass](a->arg[pass], i, off, left < LAM_PARAM_BLOCK ? left : LAM_PARAM_BLOCK);
}

static void item_first(const void *varg, int64_t item, int lane)
{
    (void)lane;
    run_block(varg, 0, item);
}

static void item_second(const void *varg, int64_t item, int lane)
{
    (void)lane;
    run_block(varg, 1, item);
}

/* One region: the first pass, then (fn2 != NULL) the second after a barrier. One pass is
 * scheduled dynamically (even on a busy machine); two are static, so each thread meets in
 * the second pass the blocks it read in the first, still in its cache. */
static void run_passes(lam_ctx *ctx, const lam_param *params, int n, lam_param_block_fn fn1,
                       const void *arg1, lam_param_block_fn fn2, const void *arg2)
{
    int64_t items = 0, elements = 0;
    for (int i = 0; i < n; i++) {
        items += blocks_of(params[i].n);
        elements += params[i].n;
    }
    const blocks_arg a = {params, n, {fn1, fn2}, {arg1, arg2}};
    const int two = fn2 != NULL;
    const lam_phase ph[2] = {{item_first, items, !two}, {item_second, two ? items : 0, 0}};
    lam__run_phases(elements >= PARALLEL_MIN ? lam_ctx_threads(ctx) : 1, &a, ph, 2);
}

void lam__param_blocks(lam_ctx *ctx, const lam_param *params, int n, lam_param_block_fn fn,
                       const void *arg)
{
    run_passes(ctx, params, n, fn, arg, NULL, NULL);
}

void lam__param_blocks2(lam_ctx *ctx, const lam_param *params, int n, lam_param_block_fn fn1,
                        const void *arg1, lam_param_block_fn fn2, const void *arg2)
{
    run_passes(ctx, params, n, fn1, arg1, fn2, arg2);
}

/*
 * Parallel loops over parameter arrays: the optimizer update, zeroing the gradients and the
 * train step's finiteness check are elementwise passes over every parameter (or gradient),
 * each 2-11 MB of memory traffic on a 0.5 M-parameter model. Run serially they were the
 * part of a two-thread MLP step where the second core waited (perf: the update alone 5.6% of
 * a one-thread step, twice that share on two).
 */
#include "param_blocks.h"

#include "kernels.h"

/* Below this many elements in all a pass stays on the calling thread: a parallel region
 * costs more than the work. */
#define PARALLEL_MIN 65536

typedef struct blocks_arg {
    const lam_param *params;
    int n;
    lam_param_block_fn fn;
    const void *arg;
} blocks_arg;

static int64_t blocks_of(int64_t n)
{
    return (n + LAM_PARAM_BLOCK - 1) / LAM_PARAM_BLOCK;
}

static void item_block(const void *varg, int64_t item, int lane)
{
    const blocks_arg *a = varg;
    (void)lane;
    int i = 0; /* few parameters per model: a scan is cheaper than a table */
    while (i < a->n - 1 && item >= blocks_of(a->params[i].n)) {
        item -= blocks_of(a->params[i].n);
        i++;
    }
    const int64_t off = item * LAM_PARAM_BLOCK, left = a->params[i].n - off;
    a->fn(a->arg, i, off, left < LAM_PARAM_BLOCK ? left : LAM_PARAM_BLOCK);
}

void lam__param_blocks(lam_ctx *ctx, const lam_param *params, int n, lam_param_block_fn fn,
                       const void *arg)
{
    int64_t items = 0, elements = 0;
    for (int i = 0; i < n; i++) {
        items += blocks_of(params[i].n);
        elements += params[i].n;
    }
    const blocks_arg a = {params, n, fn, arg};
    const lam_phase ph = {item_block, items, 0};
    lam__run_phases(elements >= PARALLEL_MIN ? lam_ctx_threads(ctx) : 1, &a, &ph, 1);
}

/* Parallel loops over parameter arrays (optim/param_blocks.c). Not installed. */
#ifndef LAM_PARAM_BLOCKS_H
#define LAM_PARAM_BLOCKS_H

#include "core_internal.h"

/* Elements per block: 64 KiB of each array, large enough that scheduling is noise, small
 * enough that a 0.5 M-parameter model splits evenly over a few threads. */
#define LAM_PARAM_BLOCK 16384

/* Elements [off, off + len) of parameter `param`. */
typedef void (*lam_param_block_fn)(const void *arg, int param, int64_t off, int64_t len);

/* Call fn on every parameter's elements in blocks of LAM_PARAM_BLOCK (a parameter's last
 * block shorter), spread over the context's threads through lam__run_phases, or all on the
 * calling thread when the parameters are small. Blocks depend on the sizes alone, never on
 * the thread count, so elementwise work gives the same bits on any number of threads. */
void lam__param_blocks(lam_ctx *ctx, const lam_param *params, int n, lam_param_block_fn fn,
                       const void *arg);

/* fn1 on every block, then fn2 on every block, in one parallel region with a barrier between
 * (one fork/join for both), each thread taking the same blocks in both passes. */
void lam__param_blocks2(lam_ctx *ctx, const lam_param *params, int n, lam_param_block_fn fn1,
                        const void *arg1, lam_param_block_fn fn2, const void *arg2);

#endif

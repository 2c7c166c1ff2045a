/* What the training step needs of the optimizer beyond the public API. Not installed. */
#ifndef LAM_OPTIM_INTERNAL_H
#define LAM_OPTIM_INTERNAL_H

#include <stdatomic.h>

#include "lamina/optim.h"
#include "param_blocks.h"

/* lam_optim_step preceded, in the same parallel region, by `check` over every block of the
 * optimizer's parameters. A check that sets *stop stops the update: then no weight or state
 * changes and the result is LAM_ERR_NUMERIC (with no message: the caller knows what the check
 * found). One fork/join instead of two, and each thread updates the gradient blocks it has
 * just read. */
lam_status lam__optim_step_guarded(lam_optim *opt, double lr, lam_param_block_fn check,
                                   const void *check_arg, const atomic_int *stop);

/* Whether opt was created over exactly these parameter views (same arrays, same order). */
int lam__optim_covers(const lam_optim *opt, const lam_param *params, int n);

#endif

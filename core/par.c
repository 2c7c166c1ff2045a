/*
 * Parallel phases: the one way lamina's kernels use OpenMP.
 *
 * A pass is a short list of phases; each phase is an `omp for` over independent items with
 * the implicit barrier after it, and all phases of a pass share one parallel region, so a
 * layer pass costs one fork/join however many steps it has. Items never depend on which
 * thread runs them (`lane` only selects per-thread scratch), so chunks can be scheduled
 * dynamically and results stay bitwise the same for any thread count.
 *
 * With one thread there is no OpenMP call at all: libgomp allocates (and frees) a team for
 * every region of one thread, which would break the promise that a training step makes no
 * allocation.
 *
 * Barriers are kept to the ones the data needs: a phase without items has none, and the last
 * phase relies on the end of the region. On a machine shared with other jobs a barrier whose
 * partner thread is descheduled costs a scheduler time slice (measured ~4 ms), so callers do
 * tiny serial set-up work before the region rather than in a phase of its own.
 */
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core_internal.h"

void lam__run_phases(int threads, const void *arg, const lam_phase *ph, int nph)
{
    if (threads <= 1) {
        for (int k = 0; k < nph; k++) {
            for (int64_t i = 0; i < ph[k].n; i++) {
                ph[k].fn(arg, i, 0);
            }
        }
        return;
    }
    int last = -1; /* the last phase with items */
    for (int k = 0; k < nph; k++) {
        last = ph[k].n > 0 ? k : last;
    }
    if (last < 0) {
        return;
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
    {
#ifdef _OPENMP
        const int lane = omp_get_thread_num();
#else
        const int lane = 0;
#endif
        for (int k = 0; k < nph; k++) {
            const lam_item_fn fn = ph[k].fn;
            const int64_t n = ph[k].n;
            if (n == 0) {
                continue; /* every thread skips it alike: no barrier for nothing */
            }
            if (k == last && ph[k].dynamic) {
                /* the end of the region is the barrier: the loop's own would be a second */
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1) nowait
#endif
                for (int64_t i = 0; i < n; i++) {
                    fn(arg, i, lane);
                }
            } else if (k == last) {
#ifdef _OPENMP
#pragma omp for schedule(static) nowait
#endif
                for (int64_t i = 0; i < n; i++) {
                    fn(arg, i, lane);
                }
            } else if (ph[k].dynamic) {
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
                for (int64_t i = 0; i < n; i++) {
                    fn(arg, i, lane);
                }
            } else {
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
                for (int64_t i = 0; i < n; i++) {
                    fn(arg, i, lane);
                }
            }
        }
    }
}

/* ------------------------------------------------------------ parallel sums */

/* Floats per item of lam__add_arrays, and the fewest worth a parallel region. */
#define ADD_BLOCK 16384
#define ADD_PARALLEL_MIN (4 * ADD_BLOCK)

typedef struct add_pass {
    float *y;
    const float *a, *b;
    int64_t n;
} add_pass;

static void item_add(const void *arg, int64_t blk, int lane)
{
    (void)lane;
    const add_pass *p = arg;
    const int64_t i1 = (blk + 1) * ADD_BLOCK < p->n ? (blk + 1) * ADD_BLOCK : p->n;
    for (int64_t i = blk * ADD_BLOCK; i < i1; i++) {
        p->y[i] = p->a[i] + p->b[i];
    }
}

void lam__add_arrays(int threads, float *y, const float *a, const float *b, int64_t n)
{
    const add_pass p = {y, a, b, n};
    const lam_phase ph = {item_add, (n + ADD_BLOCK - 1) / ADD_BLOCK, 0};
    lam__run_phases(n >= ADD_PARALLEL_MIN ? threads : 1, &p, &ph, 1);
}

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
 */
#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels.h"

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
            if (ph[k].dynamic) {
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

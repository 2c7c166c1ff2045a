/**
 * @file lamina_mpi.h
 * @brief liblamina_mpi: lamina's data-parallel hook (lam_comm) on an MPI communicator.
 *
 * liblamina itself never links MPI. This small library fills a lam_comm with calls on a
 * duplicate of the caller's communicator (errors returned, never fatal), so a physics code
 * keeps its own communicator: lamina never calls MPI_Init or MPI_Finalize, and
 * MPI_COMM_WORLD is only what the caller chooses to pass.
 *
 *     MPI_Init(&argc, &argv);
 *     lam_mpi *h;
 *     lam_mpi_attach(ctx, my_comm, &h);     // ctx now trains with my_comm's ranks
 *     ... lam_model_train_batch with lam_step_desc.chunk set ...
 *     lam_mpi_detach(h);
 */
#ifndef LAMINA_MPI_H
#define LAMINA_MPI_H

#include <mpi.h>

#include "lamina.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lam_mpi lam_mpi;

/** Attach ctx to the ranks of comm (duplicated; MPI must be initialised). *out is the
 *  handle to detach with. @return LAM_OK, LAM_ERR_ARG, LAM_ERR_NOMEM, LAM_ERR_COMM. */
LAM_API lam_status lam_mpi_attach(lam_ctx *ctx, MPI_Comm comm, lam_mpi **out);
/** The same from a Fortran communicator handle (MPI_Comm_c2f's integer). */
LAM_API lam_status lam_mpi_attach_f(lam_ctx *ctx, MPI_Fint comm, lam_mpi **out);
/** Detach the context (lam_ctx_set_comm(ctx, NULL)) and free the duplicate: before the
 *  context is destroyed, and before MPI_Finalize. NULL: no-op. */
LAM_API void lam_mpi_detach(lam_mpi *h);

/** Exact sums of integers over the ranks, in place (evaluation counts). */
LAM_API lam_status lam_mpi_sum_i64(lam_mpi *h, int64_t *v, int n);
/** Sums of doubles over the ranks where each element is non-zero on at most one rank, so
 *  the sum is exact and the same for any rank count (x + 0 = x). */
LAM_API lam_status lam_mpi_sum_disjoint(lam_mpi *h, double *v, int n);
/** Every rank's value of v into all[size]; *same is 1 when they all equal rank 0's. */
LAM_API lam_status lam_mpi_gather_u64(lam_mpi *h, uint64_t v, uint64_t *all, int *same);

#ifdef __cplusplus
}
#endif
#endif

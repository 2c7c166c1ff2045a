/* liblamina_mpi: the lam_comm hook on an MPI communicator (see include/lamina_mpi.h).
 * Exchanges are MPI_Ialltoallv on bytes: lamina sums the floats itself, in its chunk tree,
 * so MPI's reduction order is never relied on. The communicator is a duplicate with
 * MPI_ERRORS_RETURN, so a failure comes back as a status instead of ending the caller's
 * process. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "lamina_mpi.h"

struct lam_mpi {
    lam_ctx *ctx;
    MPI_Comm comm;
    int size;
};

/* One running exchange: MPI's int count arrays must outlive the call. */
typedef struct request {
    MPI_Request req;
    int counts[]; /* 4 * size */
} request;

static int alltoallv(void *user, const void *send, const int64_t *sc, const int64_t *sd,
                     void *recv, const int64_t *rc, const int64_t *rd, void **out)
{
    lam_mpi *h = user;
    const int n = h->size;
    request *r = malloc(sizeof *r + (size_t)(4 * n) * sizeof(int));
    if (r == NULL) {
        return MPI_ERR_NO_MEM;
    }
    const int64_t *src[4] = {sc, sd, rc, rd};
    for (int a = 0; a < 4; a++) {
        for (int i = 0; i < n; i++) {
            if (src[a][i] < 0 || src[a][i] > INT_MAX) {
                free(r);
                return MPI_ERR_COUNT; /* more than 2 GiB in one exchange */
            }
            r->counts[a * n + i] = (int)src[a][i];
        }
    }
    int e = MPI_Ialltoallv(send, r->counts, r->counts + n, MPI_BYTE, recv, r->counts + 2 * n,
                           r->counts + 3 * n, MPI_BYTE, h->comm, &r->req);
    if (e != MPI_SUCCESS) {
        free(r);
        return e;
    }
    *out = r;
    return 0;
}

static int comm_wait(void *user, void *p, int *done)
{
    (void)user;
    request *r = p;
    int flag = 1, e;
    if (done == NULL) {
        e = MPI_Wait(&r->req, MPI_STATUS_IGNORE);
    } else {
        e = MPI_Test(&r->req, &flag, MPI_STATUS_IGNORE);
        *done = flag;
    }
    if (e != MPI_SUCCESS || flag) {
        free(r);
    }
    return e == MPI_SUCCESS ? 0 : e;
}

lam_status lam_mpi_attach(lam_ctx *ctx, MPI_Comm comm, lam_mpi **out)
{
    int init = 0;
    if (ctx == NULL || out == NULL || MPI_Initialized(&init) != MPI_SUCCESS || !init ||
        comm == MPI_COMM_NULL) {
        return LAM_ERR_ARG;
    }
    lam_mpi *h = malloc(sizeof *h);
    if (h == NULL) {
        return LAM_ERR_NOMEM;
    }
    h->ctx = ctx;
    int rank = 0;
    if (MPI_Comm_dup(comm, &h->comm) != MPI_SUCCESS) {
        free(h);
        return LAM_ERR_COMM;
    }
    MPI_Comm_set_errhandler(h->comm, MPI_ERRORS_RETURN);
    MPI_Comm_size(h->comm, &h->size);
    MPI_Comm_rank(h->comm, &rank);
    lam_comm c;
    memset(&c, 0, sizeof c);
    c.rank = rank;
    c.size = h->size;
    c.user = h;
    c.alltoallv = alltoallv;
    c.wait = comm_wait;
    lam_status st = lam_ctx_set_comm(ctx, &c);
    if (st != LAM_OK) {
        MPI_Comm_free(&h->comm);
        free(h);
        return st;
    }
    *out = h;
    return LAM_OK;
}

lam_status lam_mpi_attach_f(lam_ctx *ctx, MPI_Fint comm, lam_mpi **out)
{
    return lam_mpi_attach(ctx, MPI_Comm_f2c(comm), out);
}

void lam_mpi_detach(lam_mpi *h)
{
    if (h == NULL) {
        return;
    }
    lam_ctx_set_comm(h->ctx, NULL);
    MPI_Comm_free(&h->comm);
    free(h);
}

lam_status lam_mpi_sum_i64(lam_mpi *h, int64_t *v, int n)
{
    if (h == NULL || (v == NULL && n > 0)) {
        return LAM_ERR_ARG;
    }
    return MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_INT64_T, MPI_SUM, h->comm) == MPI_SUCCESS
               ? LAM_OK
               : LAM_ERR_COMM;
}

lam_status lam_mpi_sum_disjoint(lam_mpi *h, double *v, int n)
{
    if (h == NULL || (v == NULL && n > 0)) {
        return LAM_ERR_ARG;
    }
    return MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, h->comm) == MPI_SUCCESS
               ? LAM_OK
               : LAM_ERR_COMM;
}

lam_status lam_mpi_gather_u64(lam_mpi *h, uint64_t v, uint64_t *all, int *same)
{
    if (h == NULL || all == NULL || same == NULL) {
        return LAM_ERR_ARG;
    }
    if (MPI_Allgather(&v, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, h->comm) != MPI_SUCCESS) {
        return LAM_ERR_COMM;
    }
    *same = 1;
    for (int r = 1; r < h->size; r++) {
        *same &= all[r] == all[0];
    }
    return LAM_OK;
}

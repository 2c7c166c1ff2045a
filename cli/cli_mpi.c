/* mpirun support of the lamina command: a run started by mpirun (Open MPI sets
 * OMPI_COMM_WORLD_SIZE, PMIx PMIX_RANK) initialises MPI and attaches the context to
 * MPI_COMM_WORLD through liblamina_mpi. Rank 0 alone prints progress and writes files;
 * the other ranks' stdout goes to /dev/null, their errors still reach stderr with their
 * rank. Built without MPI (-Dmpi=disabled), every call is the single process's. */
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#include "cli.h"

#ifdef LAM_HAVE_MPI
#include "lamina_mpi.h"

static lam_mpi *handle;
static int started;
#endif
static int rank_, size_ = 1;

static int under_mpirun(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") != NULL || getenv("PMIX_RANK") != NULL ||
           getenv("PMI_RANK") != NULL;
}

int cli_mpi_begin(void)
{
    if (!under_mpirun()) {
        return EXIT_OK;
    }
#ifdef LAM_HAVE_MPI
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS) {
        cli_error("mpirun: MPI_Init failed");
        return EXIT_RUNTIME;
    }
    started = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    if (rank_ != 0 && freopen("/dev/null", "w", stdout) == NULL) {
        cli_error("cannot silence stdout");
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
#else
    cli_error("started by mpirun, but this lamina was built without MPI (install "
              "libopenmpi-dev and rebuild, or run it alone)");
    return EXIT_USAGE;
#endif
}

void cli_mpi_end(int rc)
{
#ifdef LAM_HAVE_MPI
    if (!started) {
        return;
    }
    cli_mpi_detach();
    if (rc != EXIT_OK && size_ > 1) {
        /* a rank that stops alone would leave the others waiting in an exchange */
        fflush(NULL);
        MPI_Abort(MPI_COMM_WORLD, rc);
    }
    MPI_Finalize();
#else
    (void)rc;
#endif
}

void cli_mpi_detach(void)
{
#ifdef LAM_HAVE_MPI
    lam_mpi_detach(handle);
    handle = NULL;
#endif
}

int cli_mpi_rank(void)
{
    return rank_;
}

int cli_mpi_size(void)
{
    return size_;
}

lam_status cli_mpi_attach(lam_ctx *ctx)
{
#ifdef LAM_HAVE_MPI
    if (started && size_ > 1) {
        lam_mpi_detach(handle);
        handle = NULL;
        return lam_mpi_attach(ctx, MPI_COMM_WORLD, &handle);
    }
#else
    (void)ctx;
#endif
    return LAM_OK;
}

lam_status cli_mpi_sum_i64(int64_t *v, int n)
{
#ifdef LAM_HAVE_MPI
    if (handle != NULL) {
        return lam_mpi_sum_i64(handle, v, n);
    }
#else
    (void)v;
    (void)n;
#endif
    return LAM_OK;
}

lam_status cli_mpi_sum_disjoint(double *v, int n)
{
#ifdef LAM_HAVE_MPI
    if (handle != NULL) {
        return lam_mpi_sum_disjoint(handle, v, n);
    }
#else
    (void)v;
    (void)n;
#endif
    return LAM_OK;
}

/* CRC-32 of a dataset's samples and targets (zlib's: fast, and a changed file shows). */
static uint64_t data_crc(const lam_dataset *d)
{
    if (d == NULL) {
        return 0;
    }
    uLong c = crc32(0L, Z_NULL, 0);
    const unsigned char *x = (const unsigned char *)d->x;
    size_t left = (size_t)(d->n * d->sample_numel) * sizeof(float);
    while (left > 0) { /* crc32 takes a uInt length */
        const uInt part = left > (1u << 30) ? (1u << 30) : (uInt)left;
        c = crc32(c, x, part);
        x += part;
        left -= part;
    }
    if (d->labels != NULL) {
        c = crc32(c, (const unsigned char *)d->labels, (uInt)((size_t)d->n * sizeof(int32_t)));
    }
    if (d->targets != NULL) {
        c = crc32(c, (const unsigned char *)d->targets,
                  (uInt)((size_t)(d->n * d->n_targets) * sizeof(float)));
    }
    return ((uint64_t)d->n << 32) ^ (uint64_t)c;
}

int cli_mpi_check_data(const lam_dataset *train, const lam_dataset *test, const char *what)
{
#ifdef LAM_HAVE_MPI
    if (handle == NULL) {
        return 0;
    }
    const uint64_t mine = data_crc(train) * 31u + data_crc(test);
    uint64_t *all = malloc((size_t)size_ * sizeof *all);
    int same = 0;
    if (all == NULL || lam_mpi_gather_u64(handle, mine, all, &same) != LAM_OK) {
        free(all);
        cli_error("cannot compare the data of the ranks");
        return -1;
    }
    if (!same) {
        int other = 1;
        while (other < size_ && all[other] == all[0]) {
            other++;
        }
        if (rank_ == 0 || all[rank_] != all[0]) {
            cli_error("%s: rank %d reads different data than rank 0 (checksum %016llx vs "
                      "%016llx): every rank must read the same files", what,
                      rank_ != 0 ? rank_ : other,
                      (unsigned long long)all[rank_ != 0 ? rank_ : other],
                      (unsigned long long)all[0]);
        }
    }
    free(all);
    return same ? 0 : -1;
#else
    (void)train;
    (void)test;
    (void)what;
    return 0;
#endif
}

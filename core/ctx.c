/* Contexts: everything that would otherwise be global (threads, seed, allocator, log,
 * last error) lives here, so two contexts in one process never interfere. */
#include "core_internal.h"

#include <stdlib.h>
#include <string.h>
#ifdef LAM_HAVE_OPENMP
#include <omp.h>
#endif

static void *libc_alloc(void *user, size_t size, size_t align)
{
    (void)user;
    /* aligned_alloc wants size to be a multiple of the alignment */
    size_t rounded = (size + align - 1) / align * align;
    if (rounded < size) {
        return NULL;
    }
    return aligned_alloc(align, rounded);
}

static void libc_free(void *user, void *p)
{
    (void)user;
    free(p);
}

void lam_ctx_desc_init(lam_ctx_desc *d)
{
    if (d == NULL) {
        return;
    }
    memset(d, 0, sizeof *d);
    d->kernels = LAM_KERNELS_FAST;
}

void lam_ctx_config_init(lam_ctx_config *cfg)
{
    lam_ctx_desc_init(cfg);
}

const char *lam_version(void)
{
    return LAM_VERSION;
}

int lam_version_number(void)
{
    return LAM_VERSION_MAJOR * 10000 + LAM_VERSION_MINOR * 100 + LAM_VERSION_PATCH;
}

/* Whether every reserved word of a descriptor is zero: a program built against a newer
 * header that sets a field this library does not know must fail, not be ignored. */
int lam__reserved_zero(const uint64_t *words, int n)
{
    for (int i = 0; i < n; i++) {
        if (words[i] != 0) {
            return 0;
        }
    }
    return 1;
}

lam_status lam_ctx_create(const lam_ctx_desc *desc, lam_ctx **out)
{
    lam_ctx_desc c;
    if (out == NULL) {
        return LAM_ERR_ARG;
    }
    if (desc != NULL) {
        c = *desc;
    } else {
        lam_ctx_desc_init(&c);
    }
    if (c.n_threads < 0 || (c.alloc == NULL) != (c.free == NULL) ||
        (c.kernels != LAM_KERNELS_FAST && c.kernels != LAM_KERNELS_REF) ||
        !lam__reserved_zero(c.reserved, 8)) {
        return LAM_ERR_ARG;
    }
    if (c.alloc == NULL) {
        c.alloc = libc_alloc;
        c.free = libc_free;
    }
    lam_ctx *ctx = c.alloc(c.alloc_user, sizeof *ctx, LAM_ALIGN);
    if (ctx == NULL) {
        return LAM_ERR_NOMEM;
    }
    memset(ctx, 0, sizeof *ctx);
    ctx->cfg = c;
    ctx->comm.size = 1;
    ctx->n_threads = c.n_threads;
    if (ctx->n_threads == 0) {
#ifdef LAM_HAVE_OPENMP
        ctx->n_threads = omp_get_max_threads();
#else
        ctx->n_threads = 1;
#endif
    }
    *out = ctx;
    return LAM_OK;
}

void lam_ctx_destroy(lam_ctx *ctx)
{
    if (ctx != NULL) {
        ctx->cfg.free(ctx->cfg.alloc_user, ctx);
    }
}

int lam_ctx_threads(const lam_ctx *ctx)
{
    return ctx != NULL ? ctx->n_threads : 1;
}

uint64_t lam_ctx_seed(const lam_ctx *ctx)
{
    return ctx != NULL ? ctx->cfg.seed : 0;
}

void *lam_alloc(lam_ctx *ctx, size_t size)
{
    if (ctx == NULL || size == 0) {
        return NULL;
    }
    void *p = ctx->cfg.alloc(ctx->cfg.alloc_user, size, LAM_ALIGN);
    if (p == NULL) {
        lam__error(ctx, LAM_ERR_NOMEM, "allocation of %zu bytes failed", size);
    }
    return p;
}

void lam_free(lam_ctx *ctx, void *p)
{
    if (ctx != NULL && p != NULL) {
        ctx->cfg.free(ctx->cfg.alloc_user, p);
    }
}

float *lam__alloc_floats(lam_ctx *ctx, int64_t n, const char *what)
{
    if (n <= 0 || (uint64_t)n > SIZE_MAX / sizeof(float)) {
        lam__error(ctx, LAM_ERR_RANGE, "%s: cannot allocate %lld floats", what, (long long)n);
        return NULL;
    }
    float *p = lam_alloc(ctx, (size_t)n * sizeof(float));
    if (p == NULL) {
        lam__error(ctx, LAM_ERR_NOMEM, "%s: allocation of %lld floats failed", what,
                   (long long)n);
        return NULL;
    }
    memset(p, 0, (size_t)n * sizeof(float));
    return p;
}

lam_status lam_ctx_set_comm(lam_ctx *ctx, const lam_comm *comm)
{
    if (ctx == NULL) {
        return LAM_ERR_ARG;
    }
    if (comm == NULL) {
        memset(&ctx->comm, 0, sizeof ctx->comm);
        ctx->comm.size = 1;
        return LAM_OK;
    }
    if (comm->alltoallv == NULL || comm->wait == NULL || comm->size < 1 || comm->rank < 0 ||
        comm->rank >= comm->size || !lam__reserved_zero(comm->reserved, 4)) {
        return lam__error(ctx, LAM_ERR_ARG, "communication hook: need alltoallv and wait, "
                          "0 <= rank < size and zero reserved words");
    }
    ctx->comm = *comm;
    return LAM_OK;
}

int lam_ctx_rank(const lam_ctx *ctx)
{
    return ctx != NULL ? ctx->comm.rank : 0;
}

int lam_ctx_ranks(const lam_ctx *ctx)
{
    return ctx != NULL ? ctx->comm.size : 1;
}

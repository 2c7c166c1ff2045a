/* Arena: size everything a training step needs once, allocate it in one block, touch it once.
 * Why: on the dev machine the first touch of a fresh 4 KiB page costs ~11 us, so a step that
 * allocates (or a glibc that returns freed memory to the OS) loses most of its time there. */
#include "core_internal.h"

#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

static size_t round64(size_t n)
{
    return (n + (LAM_ALIGN - 1)) & ~(size_t)(LAM_ALIGN - 1);
}

size_t lam__arena_reserve(lam_arena *a, size_t bytes)
{
    size_t off = a->want;
    a->want += round64(bytes);
    return off;
}

lam_status lam__arena_commit(lam_ctx *ctx, lam_arena *a)
{
    if (a->base != NULL) {
        return lam__error(ctx, LAM_ERR_STATE, "arena: already committed");
    }
    if (a->want == 0) {
        return LAM_OK;
    }
    /* 2 MiB alignment lets the kernel back the block with huge pages */
    const size_t huge = (size_t)2 << 20;
    size_t size = a->want >= huge ? (a->want + huge - 1) / huge * huge : a->want;
    char *p = ctx->cfg.alloc(ctx->cfg.alloc_user, size, a->want >= huge ? huge : LAM_ALIGN);
    if (p == NULL) {
        return lam__error(ctx, LAM_ERR_NOMEM, "arena: allocation of %zu bytes failed", size);
    }
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (size >= huge) {
        madvise(p, size, MADV_HUGEPAGE); /* advisory: failure only costs speed */
    }
#endif
    memset(p, 0, size); /* the one first touch */
    a->base = p;
    a->size = size;
    a->used = a->want;
    return LAM_OK;
}

void *lam__arena_at(const lam_arena *a, size_t offset)
{
    return a->base + offset;
}

void lam__arena_release(lam_ctx *ctx, lam_arena *a)
{
    if (a->base != NULL) {
        ctx->cfg.free(ctx->cfg.alloc_user, a->base);
    }
    memset(a, 0, sizeof *a);
}

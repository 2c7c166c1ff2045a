#define _POSIX_C_SOURCE 200809L
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *capped_alloc(void *user, size_t size, size_t align)
{
    (void)user;
    if (size > FUZZ_MAX_ALLOC) {
        return NULL;
    }
    return aligned_alloc(align, (size + align - 1) / align * align);
}

static void capped_free(void *user, void *p)
{
    (void)user;
    free(p);
}

lam_ctx *fuzz_ctx(void)
{
    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    cfg.alloc = capped_alloc;
    cfg.free = capped_free;
    cfg.n_threads = 1;
    lam_ctx *ctx = NULL;
    return lam_ctx_create(&cfg, &ctx) == LAM_OK ? ctx : NULL;
}

const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix)
{
    static char path[256]; /* test program state, not library state */
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof path, "%s/lamina-fuzz-%ld%s", dir, (long)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        return NULL;
    }
    if (size > 0 && fwrite(data, 1, size, f) != size) {
        fclose(f);
        return NULL;
    }
    fclose(f);
    return path;
}

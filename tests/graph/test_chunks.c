/* Chunked training steps (lam_step_desc.chunk) in one process, without MPI: the chunk tree
 * gives the same bits on 1 and 2 threads, follows the unchunked step closely, allocates
 * nothing once sized, survives failing allocations, and refuses what cannot be chunked. The
 * rank-count side is tests/mpi (mpirun). */
#include <string.h>

#include "harness.h"
#include "lamina.h"

#define N 16
#define IN (2 * 8 * 8)
#define STEPS 5

static const char *spec = "conv:4,3,pad=1 bn relu maxpool:2 flatten linear:16 relu dropout:0.3 "
                          "linear:out";

/* Train STEPS steps; weights to w (count floats). allocs (when non-NULL) gets the allocator
 * calls of the steps after the first. */
static lam_status train(lam_ctx *ctx, const char *sp, int64_t chunk, float *w, int64_t *count,
                        const t_alloc *a, int64_t *allocs)
{
    static float x[N * IN];
    static int32_t y[N];
    t_fill_case(x, N * IN, 0, 11, 1);
    for (int i = 0; i < N; i++) {
        y[i] = i % 3;
    }
    const int64_t shape[3] = {2, 8, 8};
    lam_model *m = NULL;
    lam_optim *opt = NULL;
    lam_param *p = NULL;
    int np = 0;
    lam_status st = lam_model_create(ctx, sp, 3, shape, 3, N, &m);
    if (st == LAM_OK) {
        st = lam_model_params(m, &p, &np);
    }
    lam_optim_desc od;
    lam_optim_desc_init(&od, LAM_OPTIM_SGD);
    od.lr = 0.05;
    od.momentum = 0.9;
    if (st == LAM_OK) {
        st = lam_optim_create(ctx, &od, p, np, &opt);
    }
    int64_t before = 0;
    for (int s = 0; s < STEPS && st == LAM_OK; s++) {
        if (s == 1 && a != NULL) {
            before = a->calls;
        }
        lam_step_desc d;
        lam_step_desc_init(&d);
        d.x = x;
        d.labels = y;
        d.n = N;
        d.lr = 0.05;
        d.chunk = chunk;
        st = lam_model_train_batch(m, opt, &d, NULL);
    }
    if (allocs != NULL && a != NULL) {
        *allocs = a->calls - before;
    }
    *count = 0;
    for (int i = 0; st == LAM_OK && i < np; i++) {
        memcpy(w + *count, p[i].w, (size_t)p[i].n * sizeof(float));
        *count += p[i].n;
    }
    lam_optim_destroy(opt);
    lam_model_destroy(m);
    return st;
}

static lam_ctx *ctx_of(int threads, t_alloc *a)
{
    lam_ctx_desc cd;
    lam_ctx_desc_init(&cd);
    cd.n_threads = threads;
    cd.seed = 3;
    if (a != NULL) {
        memset(a, 0, sizeof *a);
        t_alloc_hook(&cd, a);
    }
    lam_ctx *ctx = NULL;
    return lam_ctx_create(&cd, &ctx) == LAM_OK ? ctx : NULL;
}

int main(void)
{
    static float w1[8192], w2[8192], w0[8192];
    int64_t n1 = 0, n2 = 0, n0 = 0, allocs = -1;
    t_alloc a;
    lam_ctx *c1 = ctx_of(1, &a), *c2 = ctx_of(2, NULL);
    T_CHECK(c1 != NULL && c2 != NULL, "contexts");
    T_CHECK(train(c1, spec, 4, w1, &n1, &a, &allocs) == LAM_OK, "chunked step: %s",
            lam_ctx_errmsg(c1));
    T_CHECK(allocs == 0, "steady chunked steps allocate nothing (%lld calls)",
            (long long)allocs);
    T_CHECK(train(c2, spec, 4, w2, &n2, NULL, NULL) == LAM_OK, "2 threads");
    T_CHECK(n1 == n2 && n1 > 0, "parameter counts %lld %lld", (long long)n1, (long long)n2);
    t_equal("chunks of 4: 1 thread = 2 threads", w2, w1, n1);
    /* the unchunked step sums the same gradients in another order: close, not equal */
    T_CHECK(train(c2, spec, 0, w0, &n0, NULL, NULL) == LAM_OK, "unchunked");
    t_close("chunks of 4 ~ one chunk", w1, w0, n0, 1e-5, 1e-3);
    T_CHECK(memcmp(w1, w0, (size_t)n0 * sizeof(float)) != 0,
            "the chunk tree is a different summation (the comparison above can fail)");
    /* a chunk that does not divide the batch, and a layer that cannot run in chunks */
    lam_status st = train(c1, spec, 5, w2, &n2, NULL, NULL);
    T_CHECK(st == LAM_ERR_ARG && strstr(lam_ctx_errmsg(c1), "does not divide") != NULL,
            "chunk 5 of 16: %s", lam_ctx_errmsg(c1));
    st = train(c1, "flatten linear:8 lstm:8 linear:out", 4, w2, &n2, NULL, NULL);
    T_CHECK(st != LAM_OK, "a recurrent model in chunks is refused: %s", lam_ctx_errmsg(c1));
    lam_ctx_destroy(c1);
    /* every allocation of a first chunked step failing in turn: an error, never a crash */
    int nomem = 0;
    for (int64_t fail = 1; fail < 400; fail++) {
        lam_ctx *cf = ctx_of(1, &a);
        a.fail_at = a.calls + fail; /* counted from after the context */
        st = train(cf, spec, 4, w2, &n2, NULL, NULL);
        lam_ctx_destroy(cf);
        if (!a.failed) {
            T_CHECK(st == LAM_OK, "no allocation failed: the run succeeds");
            break;
        }
        nomem += st == LAM_ERR_NOMEM;
        if (st != LAM_ERR_NOMEM) {
            T_CHECK(0, "allocation %lld failed: status %d", (long long)fail, (int)st);
        }
    }
    T_CHECK(nomem > 0, "failed allocations give LAM_ERR_NOMEM (%d)", nomem);
    lam_ctx_destroy(c2);
    return t_exit("chunks");
}

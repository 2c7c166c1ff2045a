/* An outside program built against an installed lamina, as tests/install/run.sh does:
 *
 *     cc app.c $(pkg-config --cflags --libs lamina) -lm -o app
 *
 * It fits y = sin(2 x0) * x1 on its own row-major (samples x features) arrays with Adam,
 * saves the model, loads it back and predicts again, and checks the status of every call.
 * Usage: app CHECKPOINT_PATH. Exits 0 on success, 1 on any failure.
 * (docs/embedding.md shows this file verbatim; a test keeps the two identical.)
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <lamina.h>

enum { N = 512, BATCH = 32 };

/* Report a failed call with the context's detail message. */
static int failed(lam_ctx *ctx, lam_status st, const char *what)
{
    if (st == LAM_OK) {
        return 0;
    }
    fprintf(stderr, "app: %s: %s: %s\n", what, lam_strerror(st), lam_ctx_errmsg(ctx));
    return 1;
}

int main(int argc, char **argv)
{
    static float x[N][2], y[N][1], pred[N], again[N]; /* the program's own arrays */
    const char *path = argc > 1 ? argv[1] : "app.safetensors";
    for (int i = 0; i < N; i++) {
        x[i][0] = (float)(i % 32) / 16.0f - 1.0f;
        x[i][1] = (float)(i / 32) / 8.0f - 1.0f;
        y[i][0] = sinf(2.0f * x[i][0]) * x[i][1];
    }

    /* One thread for lamina's loops: the host decides how its cores are shared. */
    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    cfg.n_threads = 1;
    cfg.seed = 42;
    lam_ctx *ctx = NULL;
    lam_model *model = NULL, *loaded = NULL;
    lam_optim *opt = NULL;
    lam_checkpoint *ck = NULL;
    lam_status st = lam_ctx_create(&cfg, &ctx);
    if (st != LAM_OK) {
        fprintf(stderr, "app: context: %s\n", lam_strerror(st));
        return 1;
    }
    int rc = 1;
    const int64_t in_shape[1] = {2};
    if (failed(ctx, lam_model_create(ctx, "linear:32 tanh linear:out", 1, in_shape, 1, 64,
                                     &model), "model")) {
        goto done;
    }
    lam_param *params = NULL;
    int n_params = 0;
    lam_optim_desc od;
    lam_optim_desc_init(&od, LAM_OPTIM_ADAM);
    od.lr = 1e-2;
    if (failed(ctx, lam_model_params(model, &params, &n_params), "params") ||
        failed(ctx, lam_optim_create(ctx, &od, params, n_params, &opt), "optimizer")) {
        goto done;
    }

    /* Train on the arrays in place: lamina gathers batches, never copies or writes them. */
    const lam_array xa = {&x[0][0], N, 2, 0, 0}; /* rows, cols, ld (0: tight), row-major */
    const lam_array ya = {&y[0][0], N, 1, 0, 0};
    lam_fit_desc fd;
    lam_fit_desc_init(&fd);
    fd.epochs = 150;
    fd.batch = BATCH;
    fd.lr = od.lr;
    lam_fit_report rep;
    if (failed(ctx, lam_fit(model, opt, &fd, &xa, &ya, NULL, &rep), "fit") ||
        failed(ctx, lam_predict_array(model, &xa, pred), "predict")) {
        goto done;
    }
    double mse = 0.0;
    for (int i = 0; i < N; i++) {
        mse += (pred[i] - y[i][0]) * (pred[i] - y[i][0]) / N;
    }
    printf("trained %lld steps in %.2f s: MSE %.2e\n", (long long)rep.steps, rep.seconds, mse);

    /* Save, load into a new model, and predict again: the results must be identical. */
    if (failed(ctx, lam_checkpoint_save(model, NULL, path, NULL), "save") ||
        failed(ctx, lam_checkpoint_open(ctx, path, &ck), "open") ||
        failed(ctx, lam_checkpoint_model(ck, 64, &loaded), "load") ||
        failed(ctx, lam_predict_array(loaded, &xa, again), "predict (loaded)")) {
        goto done;
    }
    if (memcmp(pred, again, sizeof pred) != 0) {
        fprintf(stderr, "app: the loaded model predicts differently\n");
        goto done;
    }

    /* Errors come back as a status and a message, never as output or an exit. */
    lam_model *bad = NULL;
    st = lam_model_create(ctx, "linear:8 no-such-layer", 1, in_shape, 1, 64, &bad);
    if (st != LAM_ERR_FORMAT || bad != NULL || lam_ctx_errmsg(ctx)[0] == '\0') {
        fprintf(stderr, "app: a bad spec was not reported\n");
        goto done;
    }
    printf("a bad spec gives %s: %s\n", lam_strerror(st), lam_ctx_errmsg(ctx));
    rc = mse < 0.01 ? 0 : 1;
done:
    lam_checkpoint_close(ck);
    lam_model_destroy(loaded);
    lam_optim_destroy(opt);
    lam_model_destroy(model);
    lam_ctx_destroy(ctx);
    return rc;
}

/* C side of the Fortran binding (module `lamina`, fortran/lamina.f90).
 *
 * Functions of the C API whose arguments are plain handles, scalars and arrays are bound
 * from Fortran directly. The ones that take descriptor structs (lam_ctx_config,
 * lam_optim_desc, lam_array, lam_fit_desc, lam_lm_desc, lam_lbfgs_desc) go through the flat
 * functions below instead of Fortran mirrors of those structs: the C compiler then lays the
 * structs out, so a field added to a header can never silently shift a Fortran mirror.
 *
 * Arrays come from Fortran as column-major (samples x features) with a tight leading
 * dimension, and are passed on with col_major = 1: lamina gathers batches from them in
 * place, no copy of the whole set is made and the caller's memory is never written.
 */
#include <string.h>

#include <lamina.h>
#include <lamina/fit.h>

/* Called from lamina.f90 only; the prototypes keep -Werror=missing-prototypes honest.
 * Each array comes as (pointer, rows, cols): x is (xr x xc), y is (yr x yc). */
lam_status lam__f_ctx_create(int n_threads, int64_t seed, lam_ctx **out);
lam_status lam__f_optim_create(lam_ctx *ctx, lam_model *m, int kind, double lr,
                               double momentum, double weight_decay, lam_optim **out);
lam_status lam__f_fit(lam_model *m, lam_optim *opt, const float *x, int64_t xr, int64_t xc,
                      const float *y, int64_t yr, int64_t yc, const int32_t *labels,
                      int loss_kind, int64_t epochs, int64_t batch, double lr, int shuffle,
                      int64_t shuffle_seed, int64_t chunk, double *final_loss, int64_t *steps,
                      int64_t *evals, double *seconds);
lam_status lam__f_fit_lm(lam_model *m, const float *x, int64_t xr, int64_t xc, const float *y,
                         int64_t yr, int64_t yc, int64_t max_iters, double max_seconds,
                         double *final_loss, int64_t *steps, int64_t *evals,
                         double *seconds);
lam_status lam__f_fit_lbfgs(lam_model *m, const float *x, int64_t xr, int64_t xc,
                            const float *y, int64_t yr, int64_t yc, int64_t max_iters,
                            double max_seconds, double *final_loss, int64_t *steps,
                            int64_t *evals, double *seconds);
lam_status lam__f_predict(lam_model *m, const float *x, int64_t xr, int64_t xc, float *out);
size_t lam__f_strlen(const char *s);

/* A Fortran array a(rows, cols): column-major, leading dimension rows. */
static lam_array fortran_array(const float *data, int64_t rows, int64_t cols)
{
    lam_array a;
    memset(&a, 0, sizeof a);
    a.data = data;
    a.rows = rows;
    a.cols = cols;
    a.ld = rows;
    a.col_major = 1;
    return a;
}

static void copy_report(const lam_fit_report *rep, double *final_loss, int64_t *steps,
                        int64_t *evals, double *seconds)
{
    *final_loss = rep->final_loss;
    *steps = rep->steps;
    *evals = rep->evaluations;
    *seconds = rep->seconds;
}

lam_status lam__f_ctx_create(int n_threads, int64_t seed, lam_ctx **out)
{
    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    cfg.n_threads = n_threads;
    /* Fortran has no unsigned integers; the bits of a negative seed are as good a seed. */
    cfg.seed = (uint64_t)seed;
    return lam_ctx_create(&cfg, out);
}

lam_status lam__f_optim_create(lam_ctx *ctx, lam_model *m, int kind, double lr,
                               double momentum, double weight_decay, lam_optim **out)
{
    lam_param *params = NULL;
    int n_params = 0;
    lam_status st = lam_model_params(m, &params, &n_params);
    if (st != LAM_OK) {
        return st;
    }
    lam_optim_desc od;
    lam_optim_desc_init(&od, (lam_optim_kind)kind);
    od.lr = lr;
    /* Only overwrite defaults the caller set: lam_optim_create() rejects a momentum given
     * to Adam, and that message is the one the Fortran caller should see. */
    if (momentum != 0.0) {
        od.momentum = momentum;
    }
    if (weight_decay != 0.0) {
        od.weight_decay = weight_decay;
    }
    return lam_optim_create(ctx, &od, params, n_params, out);
}

lam_status lam__f_fit(lam_model *m, lam_optim *opt, const float *x, int64_t xr, int64_t xc,
                      const float *y, int64_t yr, int64_t yc, const int32_t *labels,
                      int loss_kind, int64_t epochs, int64_t batch, double lr, int shuffle,
                      int64_t shuffle_seed, int64_t chunk, double *final_loss, int64_t *steps,
                      int64_t *evals, double *seconds)
{
    lam_array xa = fortran_array(x, xr, xc);
    lam_array ya = fortran_array(y, yr, yc);
    lam_fit_desc d;
    lam_fit_desc_init(&d);
    d.epochs = epochs;
    d.batch = batch;
    d.lr = lr;
    d.loss.kind = (lam_loss_kind)loss_kind;
    d.shuffle = shuffle;
    d.shuffle_seed = (uint64_t)shuffle_seed;
    d.chunk = chunk;
    lam_fit_report rep;
    memset(&rep, 0, sizeof rep);
    lam_status st = lam_fit(m, opt, &d, &xa, y != NULL ? &ya : NULL, labels, &rep);
    copy_report(&rep, final_loss, steps, evals, seconds);
    return st;
}

lam_status lam__f_fit_lm(lam_model *m, const float *x, int64_t xr, int64_t xc, const float *y,
                         int64_t yr, int64_t yc, int64_t max_iters, double max_seconds,
                         double *final_loss, int64_t *steps, int64_t *evals, double *seconds)
{
    lam_array xa = fortran_array(x, xr, xc);
    lam_array ya = fortran_array(y, yr, yc);
    lam_lm_desc d;
    lam_lm_desc_init(&d);
    d.max_iters = max_iters;
    d.max_seconds = max_seconds;
    lam_fit_report rep;
    memset(&rep, 0, sizeof rep);
    lam_status st = lam_fit_lm(m, &d, &xa, &ya, &rep);
    copy_report(&rep, final_loss, steps, evals, seconds);
    return st;
}

lam_status lam__f_fit_lbfgs(lam_model *m, const float *x, int64_t xr, int64_t xc,
                            const float *y, int64_t yr, int64_t yc, int64_t max_iters,
                            double max_seconds, double *final_loss, int64_t *steps,
                            int64_t *evals, double *seconds)
{
    lam_array xa = fortran_array(x, xr, xc);
    lam_array ya = fortran_array(y, yr, yc);
    lam_lbfgs_desc d;
    lam_lbfgs_desc_init(&d);
    d.max_iters = max_iters;
    d.max_seconds = max_seconds;
    lam_fit_report rep;
    memset(&rep, 0, sizeof rep);
    lam_status st = lam_fit_lbfgs(m, &d, &xa, &ya, &rep);
    copy_report(&rep, final_loss, steps, evals, seconds);
    return st;
}

lam_status lam__f_predict(lam_model *m, const float *x, int64_t xr, int64_t xc, float *out)
{
    lam_array xa = fortran_array(x, xr, xc);
    return lam_predict_array(m, &xa, out);
}

/* The Fortran side turns lam_ctx_errmsg()/lam_strerror() into Fortran strings. */
size_t lam__f_strlen(const char *s)
{
    return s != NULL ? strlen(s) : 0;
}

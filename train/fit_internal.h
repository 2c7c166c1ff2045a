/* Shared by the fit files (fit.c, lm.c, lbfgs.c, clone.c): argument checks for caller
 * arrays, the gathering buffers of one call, flat parameter vectors and full-batch passes.
 * Not installed. */
#ifndef LAM_FIT_INTERNAL_H
#define LAM_FIT_INTERNAL_H

#include "lamina/fit.h"
#include "model_internal.h"

/* Floats per input sample and per output sample of a model. */
int64_t lam__model_in_numel(const lam_model *m);
int64_t lam__model_out_numel(const lam_model *m);

/* Check a caller array (non-NULL data, rows >= min_rows, cols >= 1, ld, no overflow of the
 * largest index) and, when cols > 0, that it has `cols` columns. The message names `what`
 * ("lm: y"). Returns LAM_OK, LAM_ERR_ARG or LAM_ERR_SHAPE (column count). */
lam_status lam__array_check(lam_ctx *ctx, const lam_array *a, int64_t min_rows, int64_t cols,
                            const char *what);

/* The buffers one fit call gathers batches into, sized once for `chunk` samples. */
typedef struct lam_fit_io {
    const lam_array *x, *y;  /* caller arrays, read only; y may be NULL */
    int64_t n;               /* samples (x->rows) */
    int64_t in, out;         /* floats per sample of x and of y (the model's outputs) */
    int64_t chunk;           /* samples per pass, <= the model's max_batch */
    int64_t *idx;            /* chunk indices */
    float *xb, *yb, *dy;     /* (chunk, in), (chunk, out), (chunk, out); yb, dy NULL
                                without y */
} lam_fit_io;

/* Allocate io's buffers from m's context. Returns LAM_OK or LAM_ERR_NOMEM. */
lam_status lam__fit_io_init(lam_model *m, const lam_array *x, const lam_array *y,
                            int64_t chunk, lam_fit_io *io);
void lam__fit_io_free(lam_model *m, lam_fit_io *io);
/* Gather samples first..first+n-1 (in order) into xb (and yb). */
lam_status lam__fit_io_gather(lam_fit_io *io, int64_t first, int64_t n);

/* The checks LM and L-BFGS share: x (rows x inputs) and y (rows x outputs) are valid arrays
 * with the same rows, and the loss is deterministic (no dropout or batch norm, whose
 * training-mode output depends on the draw or on the chunking). `what` prefixes the
 * message. Returns LAM_OK, LAM_ERR_ARG or LAM_ERR_SHAPE. */
lam_status lam__fit_check_full_batch(lam_model *m, const lam_array *x, const lam_array *y,
                                     const char *what);

/* The frame every full-batch method (L-BFGS, Levenberg-Marquardt) shares: clear the report
 * (a local one when rep is NULL), check the method's settings and the arrays, gather x and y
 * through a lam_fit_io of the model's batch, run, free, and record the wall time. run gets
 * the start time for its max_seconds limit. */
typedef struct lam_full_batch_method {
    lam_status (*check)(lam_model *m, const void *desc, const lam_array *x, const lam_array *y);
    lam_status (*run)(lam_model *m, const void *desc, lam_fit_io *io, double t0,
                      lam_fit_report *rep);
} lam_full_batch_method;
lam_status lam__fit_full_batch(lam_model *m, const lam_full_batch_method *method,
                               const void *desc, const lam_array *x, const lam_array *y,
                               lam_fit_report *rep);

/* Copy every parameter (w) or gradient (g) into one flat vector, in lam_model_params order,
 * and back. */
void lam__params_get(lam_model *m, float *flat);
void lam__params_set(lam_model *m, const float *flat);


/*
 * Mean squared error over every sample of io (mean over samples * outputs, in double),
 * evaluated in chunks of io->chunk. With grad != NULL also its gradient, flat in parameter
 * order (P doubles): each chunk backpropagates dy = 2 (f - y) / (N K), which weights the
 * chunk by its size / N, and the chunk's parameter gradients are added in double, so the
 * result is the exact full-batch mean however the samples are chunked (up to rounding).
 * Returns LAM_OK, a forward/backward status, or LAM_ERR_NUMERIC (non-finite loss).
 */
lam_status lam__fit_mse(lam_model *m, lam_fit_io *io, double *grad, double *mse);

#endif

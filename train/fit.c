/* Training and inference on the caller's arrays (lamina/fit.h): gathering rows of row-major
 * or column-major (Fortran) matrices into lamina's buffers, the first-order loop lam_fit,
 * lam_predict_array, and the helpers the second-order methods share (fit_internal.h).
 *
 * The caller's arrays are only read, one batch of rows at a time: nothing here writes them
 * or copies them whole. Gathering produces the same row-major batch from either layout, so
 * every result downstream (weights, losses) is bitwise the same for both. */
#include "fit_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int64_t lam__model_in_numel(const lam_model *m)
{
    return m->in_numel;
}

int64_t lam__model_out_numel(const lam_model *m)
{
    return m->out_numel;
}

/* ------------------------------------------------------------------ arrays */

static int64_t eff_ld(const lam_array *a)
{
    if (a->ld != 0) {
        return a->ld;
    }
    return a->col_major ? a->rows : a->cols;
}

/* Why the array is unusable, or NULL. Also rejects a largest element index past INT64. */
static const char *array_problem(const lam_array *a)
{
    if (a->data == NULL) {
        return "data is NULL";
    }
    if (a->rows < 0 || a->cols < 1) {
        return "needs rows >= 0 and cols >= 1";
    }
    int64_t ld = eff_ld(a), need = a->col_major ? a->rows : a->cols;
    if (ld < 0 || ld < need || ld < 1) {
        return a->col_major ? "column-major ld is below rows" : "row-major ld is below cols";
    }
    int64_t outer = a->col_major ? a->cols : a->rows, inner = need, last;
    if (outer > 0 && (lam__mul_i64(outer - 1, ld, &last) != 0 ||
                      lam__add_i64(last, inner, &last) != 0)) {
        return "rows x ld overflows a 64-bit index";
    }
    return NULL;
}

/* Rows idx[0..n) of a into out (n, cols), row-major; arguments already checked. */
static void gather_rows(const lam_array *a, const int64_t *idx, int64_t n, float *out)
{
    const int64_t ld = eff_ld(a), cols = a->cols;
    if (!a->col_major) {
        for (int64_t i = 0; i < n; i++) {
            memcpy(out + i * cols, a->data + idx[i] * ld, (size_t)cols * sizeof(float));
        }
        return;
    }
    /* Column-major: walk one column at a time so the reads of a column stay in one
     * contiguous stretch of the caller's memory. */
    for (int64_t j = 0; j < cols; j++) {
        const float *col = a->data + j * ld;
        for (int64_t i = 0; i < n; i++) {
            out[i * cols + j] = col[idx[i]];
        }
    }
}

lam_status lam_array_gather(const lam_array *a, const int64_t *idx, int64_t n, float *out)
{
    if (a == NULL || n < 0 || (n > 0 && (idx == NULL || out == NULL))) {
        return LAM_ERR_ARG;
    }
    if (array_problem(a) != NULL) {
        return LAM_ERR_ARG;
    }
    for (int64_t i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= a->rows) {
            return LAM_ERR_ARG;
        }
    }
    gather_rows(a, idx, n, out);
    return LAM_OK;
}

lam_status lam__array_check(lam_ctx *ctx, const lam_array *a, int64_t min_rows, int64_t cols,
                            const char *what)
{
    if (a == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "%s is NULL", what);
    }
    const char *why = array_problem(a);
    if (why != NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "%s: %s (rows %lld, cols %lld, ld %lld)", what, why,
                          (long long)a->rows, (long long)a->cols, (long long)a->ld);
    }
    if (a->rows < min_rows) {
        return lam__error(ctx, LAM_ERR_ARG, "%s has %lld rows, needs at least %lld", what,
                          (long long)a->rows, (long long)min_rows);
    }
    if (cols > 0 && a->cols != cols) {
        return lam__error(ctx, LAM_ERR_SHAPE, "%s has %lld columns, the model takes %lld", what,
                          (long long)a->cols, (long long)cols);
    }
    return LAM_OK;
}

/* --------------------------------------------------------------- fit buffers */

lam_status lam__fit_io_init(lam_model *m, const lam_array *x, const lam_array *y,
                            int64_t chunk, lam_fit_io *io)
{
    memset(io, 0, sizeof *io);
    io->x = x;
    io->y = y;
    io->n = x->rows;
    io->in = lam__model_in_numel(m);
    io->out = lam__model_out_numel(m);
    io->chunk = chunk;
    /* chunk <= max_batch, so these products are below sizes the model already holds */
    io->idx = lam_alloc(m->ctx, (size_t)chunk * sizeof *io->idx);
    io->xb = lam_alloc(m->ctx, (size_t)(chunk * io->in) * sizeof(float));
    if (y != NULL) {
        io->yb = lam_alloc(m->ctx, (size_t)(chunk * io->out) * sizeof(float));
        io->dy = lam_alloc(m->ctx, (size_t)(chunk * io->out) * sizeof(float));
    }
    if (io->idx == NULL || io->xb == NULL || (y != NULL && (io->yb == NULL || io->dy == NULL))) {
        lam__fit_io_free(m, io);
        return lam__error(m->ctx, LAM_ERR_NOMEM, "fit: no memory for %lld-sample batches",
                          (long long)chunk);
    }
    return LAM_OK;
}

void lam__fit_io_free(lam_model *m, lam_fit_io *io)
{
    lam_free(m->ctx, io->idx);
    lam_free(m->ctx, io->xb);
    lam_free(m->ctx, io->yb);
    lam_free(m->ctx, io->dy);
    memset(io, 0, sizeof *io);
}

lam_status lam__fit_io_gather(lam_fit_io *io, int64_t first, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        io->idx[i] = first + i;
    }
    gather_rows(io->x, io->idx, n, io->xb);
    if (io->y != NULL) {
        gather_rows(io->y, io->idx, n, io->yb);
    }
    return LAM_OK;
}

lam_status lam__fit_check_full_batch(lam_model *m, const lam_array *x, const lam_array *y,
                                     const char *what)
{
    char name[32];
    snprintf(name, sizeof name, "%s: x", what);
    lam_status st = lam__array_check(m->ctx, x, 1, lam__model_in_numel(m), name);
    if (st == LAM_OK) {
        snprintf(name, sizeof name, "%s: y", what);
        st = lam__array_check(m->ctx, y, 1, lam__model_out_numel(m), name);
    }
    if (st == LAM_OK && y->rows != x->rows) {
        st = lam__error(m->ctx, LAM_ERR_SHAPE, "%s: x has %lld rows but y has %lld", what,
                        (long long)x->rows, (long long)y->rows);
    }
    if (st != LAM_OK) {
        return st;
    }
    for (int i = 0; i < m->n_nodes; i++) {
        lam_layer_kind k = m->layers[i]->desc.kind;
        if (k == LAM_LAYER_DROPOUT || k == LAM_LAYER_BATCHNORM) {
            return lam__error(m->ctx, LAM_ERR_ARG, "%s: layer %d (%s) makes the full-batch loss "
                              "depend on random draws or on the chunking; remove it", what, i,
                              m->layers[i]->name);
        }
    }
    return LAM_OK;
}

lam_status lam__fit_full_batch(lam_model *m, const lam_full_batch_method *method,
                               const void *desc, const lam_array *x, const lam_array *y,
                               lam_fit_report *rep)
{
    if (m == NULL) {
        return LAM_ERR_ARG;
    }
    const double t0 = lam_time_now();
    lam_fit_report local;
    rep = rep != NULL ? rep : &local;
    memset(rep, 0, sizeof *rep);
    lam_status st = method->check(m, desc, x, y);
    if (st != LAM_OK) {
        return st;
    }
    lam_fit_io io;
    st = lam__fit_io_init(m, x, y, m->max_batch, &io);
    if (st != LAM_OK) {
        return st;
    }
    st = method->run(m, desc, &io, t0, rep);
    lam__fit_io_free(m, &io);
    rep->seconds = lam_time_now() - t0;
    return st;
}

void lam__params_get(lam_model *m, float *flat)
{
    for (int i = 0; i < m->n_params; i++) {
        memcpy(flat, m->params[i].w, (size_t)m->params[i].n * sizeof(float));
        flat += m->params[i].n;
    }
}

void lam__params_set(lam_model *m, const float *flat)
{
    for (int i = 0; i < m->n_params; i++) {
        memcpy(m->params[i].w, flat, (size_t)m->params[i].n * sizeof(float));
        flat += m->params[i].n;
    }
}

lam_status lam__fit_mse(lam_model *m, lam_fit_io *io, double *grad, double *mse)
{
    const int64_t k = io->out, p_total = lam_model_param_count(m);
    const double inv = 1.0 / ((double)io->n * (double)k);
    double sum = 0.0;
    if (grad != NULL) {
        memset(grad, 0, (size_t)p_total * sizeof *grad);
        lam_model_zero_grad(m);
    }
    for (int64_t first = 0; first < io->n; first += io->chunk) {
        int64_t n = io->n - first < io->chunk ? io->n - first : io->chunk;
        lam__fit_io_gather(io, first, n);
        const float *f = NULL;
        lam_status st = lam_model_forward(m, io->xb, n, grad != NULL, &f);
        if (st != LAM_OK) {
            return st;
        }
        for (int64_t i = 0; i < n * k; i++) {
            double d = (double)f[i] - (double)io->yb[i];
            sum += d * d;
            io->dy[i] = (float)(2.0 * d * inv);
        }
        if (grad == NULL) {
            continue;
        }
        st = lam__model_backward_dy(m, io->dy);
        if (st != LAM_OK) {
            return st;
        }
        /* chunk sums are added in double: near a minimum they cancel */
        double *gp = grad;
        for (int j = 0; j < m->n_params; j++) {
            const float *g = m->params[j].g;
            for (int64_t e = 0; e < m->params[j].n; e++) {
                gp[e] += (double)g[e];
            }
            gp += m->params[j].n;
        }
        lam_model_zero_grad(m);
    }
    *mse = sum * inv;
    if (!isfinite(*mse)) {
        return lam__error(m->ctx, LAM_ERR_NUMERIC, "fit: the loss is %g", *mse);
    }
    return LAM_OK;
}

/* ------------------------------------------------------------------- lam_fit */

void lam_fit_desc_init(lam_fit_desc *d)
{
    if (d == NULL) {
        return;
    }
    memset(d, 0, sizeof *d);
    d->epochs = 1;
    d->batch = 32;
    d->lr = 1e-3;
    d->loss.kind = LAM_LOSS_MSE;
    d->loss.delta = 1.0f;
    d->shuffle = 1;
}

static lam_status fit_check(lam_model *m, const lam_optim *opt, const lam_fit_desc *d,
                            const lam_array *x, const lam_array *y, const int32_t *labels)
{
    lam_ctx *ctx = m->ctx;
    if (opt == NULL || d == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "fit: needs an optimizer and a desc");
    }
    if (d->epochs < 1 || d->batch < 1 || d->batch > m->max_batch) {
        return lam__error(ctx, LAM_ERR_ARG, "fit: epochs %lld must be >= 1 and batch %lld in "
                          "1..%lld (the model's max_batch)", (long long)d->epochs,
                          (long long)d->batch, (long long)m->max_batch);
    }
    if (!(d->lr >= 0.0 && isfinite(d->lr)) || !(d->clip_norm >= 0.0 && isfinite(d->clip_norm))) {
        return lam__error(ctx, LAM_ERR_ARG, "fit: lr and clip_norm must be finite and >= 0");
    }
    if (d->schedule != NULL) {
        lam_status st = lam_schedule_check(ctx, d->schedule);
        if (st != LAM_OK) {
            return st;
        }
    }
    lam_status st = lam__array_check(ctx, x, 1, lam__model_in_numel(m), "fit: x");
    if (st != LAM_OK) {
        return st;
    }
    if (d->loss.kind == LAM_LOSS_SOFTMAX_XENT) {
        if (labels == NULL || y != NULL) {
            return lam__error(ctx, LAM_ERR_ARG, "fit: cross-entropy takes labels (and y NULL)");
        }
        return LAM_OK;
    }
    if (y == NULL || labels != NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "fit: a regression loss takes y (and labels NULL)");
    }
    st = lam__array_check(ctx, y, 1, lam__model_out_numel(m), "fit: y");
    if (st == LAM_OK && y->rows != x->rows) {
        st = lam__error(ctx, LAM_ERR_SHAPE, "fit: x has %lld rows but y has %lld",
                        (long long)x->rows, (long long)y->rows);
    }
    return st;
}

lam_status lam_fit(lam_model *m, lam_optim *opt, const lam_fit_desc *d, const lam_array *x,
                   const lam_array *y, const int32_t *labels, lam_fit_report *rep)
{
    if (m == NULL) {
        return LAM_ERR_ARG;
    }
    const double t0 = lam_time_now();
    if (rep != NULL) {
        memset(rep, 0, sizeof *rep);
    }
    lam_status st = fit_check(m, opt, d, x, y, labels);
    if (st != LAM_OK) {
        return st;
    }
    const int64_t n_all = x->rows, b = d->batch, chunk = d->chunk, ranks = lam_ctx_ranks(m->ctx);
    /* a data-parallel fit: this rank's run of the chunks of every whole batch */
    int64_t off = 0, mine = b;
    const int64_t used = chunk > 0 ? n_all / b * b : n_all;
    if (chunk < 0 ||
        (chunk > 0 && (lam_ctx_batch_share(m->ctx, b, chunk, &off, &mine) != LAM_OK ||
                       b / chunk < ranks || used == 0)) ||
        (chunk == 0 && ranks > 1)) {
        return lam__error(m->ctx, LAM_ERR_ARG, "fit: chunk %lld of batch %lld on %lld rank(s) "
                          "over %lld samples: the chunk must divide the batch into at least one "
                          "chunk per rank, and a fit over several ranks needs one",
                          (long long)chunk, (long long)b, (long long)ranks, (long long)n_all);
    }
    lam_fit_io io;
    st = lam__fit_io_init(m, x, y, b, &io);
    if (st != LAM_OK) {
        return st;
    }
    int64_t *perm = lam_alloc(m->ctx, (size_t)n_all * sizeof *perm);
    int32_t *lb = labels != NULL ? lam_alloc(m->ctx, (size_t)b * sizeof *lb) : NULL;
    if (perm == NULL || (labels != NULL && lb == NULL)) {
        st = lam__error(m->ctx, LAM_ERR_NOMEM, "fit: no memory for a %lld-sample permutation",
                        (long long)n_all);
    }
    int64_t steps = 0;
    double epoch_loss = NAN;
    for (int64_t e = 0; st == LAM_OK && e < d->epochs; e++) {
        if (d->shuffle) {
            lam__permute(d->shuffle_seed, LAM__STREAM_SHUFFLE + (uint64_t)e, n_all, perm);
        } else {
            for (int64_t i = 0; i < n_all; i++) {
                perm[i] = i;
            }
        }
        double sum = 0.0;
        for (int64_t first = 0; st == LAM_OK && first < used; first += b) {
            const int64_t n = used - first < b ? used - first : b;
            const int64_t ln = chunk > 0 ? mine : n, *rows = perm + first + off;
            gather_rows(x, rows, ln, io.xb);
            if (y != NULL) {
                gather_rows(y, rows, ln, io.yb);
            }
            for (int64_t i = 0; lb != NULL && i < ln; i++) {
                lb[i] = labels[rows[i]];
            }
            /* the optimizer's step count drives the schedule, so consecutive calls go on */
            double lr = d->schedule != NULL
                            ? lam_schedule_lr(d->schedule, lam_optim_get_step(opt))
                            : d->lr;
            lam_step_desc sd;
            lam_step_desc_init(&sd);
            sd.x = io.xb;
            sd.labels = lb;
            sd.targets = io.yb;
            sd.n = ln;
            sd.loss = d->loss;
            sd.lr = lr;
            sd.clip_norm = d->clip_norm;
            sd.chunk = chunk;
            sd.global_n = chunk > 0 ? n : 0;
            lam_step_result res;
            st = lam_model_train_batch(m, opt, &sd, &res);
            if (st == LAM_OK) {
                sum += res.loss * (double)n; /* the global batch's loss */
                steps++;
            }
        }
        if (st == LAM_OK) {
            epoch_loss = sum / (double)used;
        }
    }
    if (rep != NULL) {
        rep->final_loss = epoch_loss;
        rep->steps = steps;
        rep->seconds = lam_time_now() - t0;
    }
    lam_free(m->ctx, lb);
    lam_free(m->ctx, perm);
    lam__fit_io_free(m, &io);
    return st;
}

/* ---------------------------------------------------------------- inference */

lam_status lam_predict_array(lam_model *m, const lam_array *x, float *out)
{
    if (m == NULL) {
        return LAM_ERR_ARG;
    }
    lam_status st = lam__array_check(m->ctx, x, 0, lam__model_in_numel(m), "predict: x");
    if (st != LAM_OK) {
        return st;
    }
    if (out == NULL) {
        return lam__error(m->ctx, LAM_ERR_ARG, "predict: out is NULL");
    }
    if (!x->col_major && eff_ld(x) == x->cols) {
        /* contiguous row-major: the model reads the caller's rows in place (read only) */
        return lam_model_predict(m, x->data, x->rows, out);
    }
    lam_fit_io io;
    st = lam__fit_io_init(m, x, NULL, m->max_batch, &io);
    const int64_t k = io.out;
    for (int64_t first = 0; st == LAM_OK && first < x->rows; first += io.chunk) {
        int64_t n = x->rows - first < io.chunk ? x->rows - first : io.chunk;
        lam__fit_io_gather(&io, first, n);
        const float *f = NULL;
        st = lam_model_forward(m, io.xb, n, 0, &f);
        if (st == LAM_OK) {
            memcpy(out + first * k, f, (size_t)(n * k) * sizeof(float));
        }
    }
    if (io.xb != NULL) {
        lam__fit_io_free(m, &io);
    }
    return st;
}

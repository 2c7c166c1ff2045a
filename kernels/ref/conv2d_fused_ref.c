/*
 * Naive twin of the fused convolution: the reference ops run one after the other on whole
 * batches, exactly as the unfused layers would (ws holds the intermediates, nt is ignored).
 *
 *   forward   c = conv(x) + b;  a = act(c);  y = maxpool(a) (argmax) or y = a
 *   backward  da = maxpool_bwd(dy) or dy;  dc = da * [a > 0] (relu);  conv backward on dc
 *
 * The relu mask uses the block output: with a pool, dy reaches only argmax taps, where the
 * pooled output equals a, so [y > 0] masked before routing is the same as [a > 0] after.
 * Workspace: N*C_out*OH*OW floats for c/da, plus N*C_out*PH*PW for the masked dy.
 */
#include <string.h>

#include "kernels.h"

static lam_pool_geom batch_pool(const lam_conv_geom *g, const lam_conv_fusion *f)
{
    lam_pool_geom pg = *f->pool;
    pg.n = g->n;
    pg.c = g->c_out;
    return pg;
}

int64_t lam__conv2d_fused_workspace_ref(const lam_conv_geom *g, const lam_conv_fusion *f,
                                        int nt)
{
    (void)nt;
    const int64_t conv_out = g->n * g->c_out * g->oh * g->ow;
    const int64_t pooled = f != NULL && f->pool != NULL
                               ? g->n * g->c_out * f->pool->oh * f->pool->ow
                               : conv_out;
    return conv_out + pooled;
}

void lam__conv2d_fused_fwd_ref(const lam_conv_geom *g, const lam_conv_fusion *f, const float *x,
                               const float *w, const float *b, float *y, int32_t *argmax,
                               float *ws, int nt)
{
    (void)nt;
    const int64_t conv_out = g->n * g->c_out * g->oh * g->ow;
    const lam_act act = f != NULL ? f->act : LAM_ACT_NONE;
    if (f == NULL || f->pool == NULL) {
        lam__conv2d_fwd_ref(g, x, w, b, y, NULL, 1);
        lam__act_fwd_ref(act, 0.0f, conv_out, y, y);
        return;
    }
    lam__conv2d_fwd_ref(g, x, w, b, ws, NULL, 1);
    lam__act_fwd_ref(act, 0.0f, conv_out, ws, ws);
    lam_pool_geom pg = batch_pool(g, f);
    lam__maxpool_fwd_ref(&pg, ws, y, argmax, 1);
}

void lam__conv2d_fused_bwd_ref(const lam_conv_geom *g, const lam_conv_fusion *f,
                               const float *x, const float *w, const float *y,
                               const int32_t *argmax, const float *dy, float *dx, float *dw,
                               float *db, float *ws, int nt)
{
    (void)nt;
    const int64_t conv_out = g->n * g->c_out * g->oh * g->ow;
    const lam_act act = f != NULL ? f->act : LAM_ACT_NONE;
    const int pooled = f != NULL && f->pool != NULL;
    const int64_t ny = pooled ? g->n * g->c_out * f->pool->oh * f->pool->ow : conv_out;
    float *dc = ws, *dym = ws + conv_out;
    /* masked dy: zero where the block output is not positive */
    for (int64_t i = 0; i < ny; i++) {
        dym[i] = act == LAM_ACT_RELU && !(y[i] > 0.0f) ? 0.0f : dy[i];
    }
    if (pooled) {
        lam_pool_geom pg = batch_pool(g, f);
        lam__maxpool_bwd_ref(&pg, dym, argmax, dc, 1);
    } else {
        memcpy(dc, dym, (size_t)conv_out * sizeof(float));
    }
    if (dw != NULL || db != NULL) {
        if (dw != NULL) {
            lam__conv2d_bwd_weight_ref(g, x, dc, dw, db, NULL, 1);
        } else {
            /* db alone: the bias gradient is the sum of dc per channel */
            const int64_t p = g->oh * g->ow;
            for (int64_t co = 0; co < g->c_out; co++) {
                double s = 0.0;
                for (int64_t n = 0; n < g->n; n++) {
                    for (int64_t i = 0; i < p; i++) {
                        s += dc[(n * g->c_out + co) * p + i];
                    }
                }
                db[co] = (float)((double)db[co] + s);
            }
        }
    }
    if (dx != NULL) {
        lam__conv2d_bwd_data_acc_ref(g, dc, w, dx, f != NULL && f->dx_acc);
    }
}

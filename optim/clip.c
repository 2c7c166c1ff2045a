/* Gradient clipping by global L2 norm (PyTorch 1.13 torch.nn.utils.clip_grad_norm_ with
 * norm_type 2). The sum of squares is accumulated in double in parameter order, then
 * element order, so the norm is the same for every thread count and close to exact even
 * for millions of elements. Unlike PyTorch's default (error_if_nonfinite=False, which
 * multiplies every gradient by NaN), a non-finite norm is reported and nothing is scaled. */
#include "core_internal.h"
#include "lamina/optim.h"

#include <math.h>

lam_status lam_clip_grad_norm(lam_ctx *ctx, const lam_param *params, int n_params,
                              double max_norm, double *norm_out)
{
    if (n_params < 0 || (params == NULL && n_params > 0)) {
        return lam__error(ctx, LAM_ERR_ARG, "clip_grad_norm: params NULL or n_params = %d",
                          n_params);
    }
    if (!isfinite(max_norm) || max_norm <= 0.0) {
        return lam__error(ctx, LAM_ERR_ARG, "clip_grad_norm: max_norm = %g, must be finite "
                          "and > 0", max_norm);
    }
    for (int i = 0; i < n_params; i++) {
        if (params[i].n < 0 || (params[i].g == NULL && params[i].n > 0)) {
            return lam__error(ctx, LAM_ERR_ARG, "clip_grad_norm: param %d (%s) has no gradient "
                              "or n = %lld", i, params[i].name != NULL ? params[i].name : "unnamed",
                              (long long)params[i].n);
        }
    }
    double sum = 0.0;
    for (int i = 0; i < n_params; i++) {
        const float *g = params[i].g;
        for (int64_t j = 0; j < params[i].n; j++) {
            sum += (double)g[j] * (double)g[j];
        }
    }
    double norm = sqrt(sum);
    if (norm_out != NULL) {
        *norm_out = norm;
    }
    if (!isfinite(norm)) {
        return lam__error(ctx, LAM_ERR_NUMERIC, "clip_grad_norm: gradient norm is %g", norm);
    }
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
        const float c = (float)coef;
        for (int i = 0; i < n_params; i++) {
            float *g = params[i].g;
            for (int64_t j = 0; j < params[i].n; j++) {
                g[j] *= c;
            }
        }
    }
    return LAM_OK;
}

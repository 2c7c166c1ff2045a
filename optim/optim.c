/* Optimizers: SGD (momentum, dampening, Nesterov), Adam, AdamW, RMSprop (centered, momentum).
 *
 * Reference: PyTorch 1.13 torch/optim/{sgd,adam,adamw,rmsprop}.py, the single-tensor
 * ("foreach=False") paths. We follow them in semantics and in the order of float
 * operations: every scalar (1 - beta1, lr / (1 - beta1^t), ...) is computed in double, as
 * Python does, and rounded to float once, as a Python scalar applied to a float tensor
 * is; the per-element arithmetic is float, in the order of PyTorch's kernels
 * (add with alpha: a + alpha*b; addcmul: a + (value*b)*c; addcdiv: a + (value*b)/c).
 * PyTorch's AVX2 kernels fuse some of these multiply-adds; we do not (no -march by
 * default, and fused results would depend on the build), so agreement is ~1e-6, not bitwise.
 *
 * All state lives in one block from lam_alloc(), sized at create time, so a step never
 * allocates; the update formulas are written out in include/lamina/optim.h.
 *
 * A step is elementwise, so it runs in fixed blocks over the context's threads
 * (lam__param_blocks): each element's arithmetic is the same whichever thread does it, so
 * the result is bitwise the same for any thread count. */
#include "core_internal.h"
#include "lamina/optim.h"
#include "optim_internal.h"
#include "param_blocks.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Most state arrays any optimizer keeps per parameter (RMSprop: square_avg, momentum,
 * grad_avg). */
#define MAX_SLOTS 3

struct lam_optim {
    lam_ctx *ctx;
    lam_optim_desc desc;
    int n_params;
    int n_slots;          /* state arrays per parameter */
    int64_t t;            /* steps taken */
    lam_param *params;    /* copies of the caller's views */
    float **state;        /* n_params * n_slots arrays, parameter-major */
    const char **names;   /* names of the state arrays, same order */
};

void lam_optim_desc_init(lam_optim_desc *desc, lam_optim_kind kind)
{
    if (desc == NULL) {
        return;
    }
    memset(desc, 0, sizeof *desc);
    desc->kind = kind;
    desc->decay_bias = 1;
    switch (kind) {
    case LAM_OPTIM_SGD:
        desc->lr = 0.01;
        break;
    case LAM_OPTIM_ADAM:
    case LAM_OPTIM_ADAMW:
        desc->lr = 1e-3;
        desc->beta1 = 0.9;
        desc->beta2 = 0.999;
        desc->eps = 1e-8;
        if (kind == LAM_OPTIM_ADAMW) {
            desc->decoupled_weight_decay = 1e-2;
        }
        break;
    case LAM_OPTIM_RMSPROP:
        desc->lr = 0.01;
        desc->alpha = 0.99;
        desc->eps = 1e-8;
        break;
    default:
        break;
    }
}

static const char *kind_name(lam_optim_kind k)
{
    switch (k) {
    case LAM_OPTIM_SGD: return "sgd";
    case LAM_OPTIM_ADAM: return "adam";
    case LAM_OPTIM_ADAMW: return "adamw";
    case LAM_OPTIM_RMSPROP: return "rmsprop";
    default: return "?";
    }
}

/* Names of the per-parameter state arrays, in storage order; returns how many. */
static int slot_prefixes(const lam_optim_desc *d, const char *out[MAX_SLOTS])
{
    int n = 0;
    switch (d->kind) {
    case LAM_OPTIM_SGD:
        if (d->momentum > 0.0) {
            out[n++] = "sgd.momentum.";
        }
        break;
    case LAM_OPTIM_ADAM:
        out[n++] = "adam.m.";
        out[n++] = "adam.v.";
        break;
    case LAM_OPTIM_ADAMW:
        out[n++] = "adamw.m.";
        out[n++] = "adamw.v.";
        break;
    case LAM_OPTIM_RMSPROP:
        out[n++] = "rmsprop.square_avg.";
        if (d->momentum > 0.0) {
            out[n++] = "rmsprop.momentum.";
        }
        if (d->centered) {
            out[n++] = "rmsprop.grad_avg.";
        }
        break;
    default:
        break;
    }
    return n;
}

/* Finite and >= 0; otherwise records "optim_create: <kind>.<field> = v ..." */
static lam_status check_nonneg(lam_ctx *ctx, const lam_optim_desc *d, const char *field,
                               double v)
{
    if (!isfinite(v) || v < 0.0) {
        return lam__error(ctx, LAM_ERR_ARG, "optim_create: %s.%s = %g, must be finite and >= 0",
                          kind_name(d->kind), field, v);
    }
    return LAM_OK;
}

/* A field the algorithm does not use must stay 0, so a misplaced setting is not silent. */
static lam_status check_unused(lam_ctx *ctx, const lam_optim_desc *d, const char *field,
                               double v)
{
    if (v != 0.0) {
        return lam__error(ctx, LAM_ERR_ARG, "optim_create: %s does not use %s (got %g, want 0)",
                          kind_name(d->kind), field, v);
    }
    return LAM_OK;
}

static lam_status check_beta(lam_ctx *ctx, const lam_optim_desc *d, const char *field, double v)
{
    if (!(v >= 0.0 && v < 1.0)) {
        return lam__error(ctx, LAM_ERR_ARG, "optim_create: %s.%s = %g, must be in [0, 1)",
                          kind_name(d->kind), field, v);
    }
    return LAM_OK;
}

static lam_status check_flag(lam_ctx *ctx, const char *field, int v)
{
    if (v != 0 && v != 1) {
        return lam__error(ctx, LAM_ERR_ARG, "optim_create: %s = %d, must be 0 or 1", field, v);
    }
    return LAM_OK;
}

#define TRY(expr)                                                                             \
    do {                                                                                      \
        lam_status st_ = (expr);                                                              \
        if (st_ != LAM_OK) {                                                                  \
            return st_;                                                                       \
        }                                                                                     \
    } while (0)

static lam_status check_desc(lam_ctx *ctx, const lam_optim_desc *d)
{
    lam_optim_kind k = d->kind;
    if (k != LAM_OPTIM_SGD && k != LAM_OPTIM_ADAM && k != LAM_OPTIM_ADAMW &&
        k != LAM_OPTIM_RMSPROP) {
        return lam__error(ctx, LAM_ERR_ARG, "optim_create: unknown kind %d", (int)k);
    }
    TRY(check_nonneg(ctx, d, "lr", d->lr));
    TRY(check_nonneg(ctx, d, "weight_decay", d->weight_decay));
    TRY(check_flag(ctx, "decay_bias", d->decay_bias));
    int sgd = k == LAM_OPTIM_SGD, adam = k == LAM_OPTIM_ADAM || k == LAM_OPTIM_ADAMW;
    int rms = k == LAM_OPTIM_RMSPROP;
    if (sgd || rms) {
        TRY(check_nonneg(ctx, d, "momentum", d->momentum));
        TRY(check_unused(ctx, d, "beta1", d->beta1));
        TRY(check_unused(ctx, d, "beta2", d->beta2));
    } else {
        TRY(check_unused(ctx, d, "momentum", d->momentum));
    }
    if (sgd) {
        TRY(check_nonneg(ctx, d, "dampening", d->dampening));
        TRY(check_flag(ctx, "nesterov", d->nesterov));
        if (d->nesterov && (d->momentum <= 0.0 || d->dampening != 0.0)) {
            return lam__error(ctx, LAM_ERR_ARG,
                              "optim_create: nesterov needs momentum > 0 and dampening 0 "
                              "(momentum %g, dampening %g)", d->momentum, d->dampening);
        }
        TRY(check_unused(ctx, d, "eps", d->eps));
    } else {
        TRY(check_unused(ctx, d, "dampening", d->dampening));
        TRY(check_unused(ctx, d, "nesterov", d->nesterov));
        TRY(check_nonneg(ctx, d, "eps", d->eps));
    }
    if (adam) {
        TRY(check_beta(ctx, d, "beta1", d->beta1));
        TRY(check_beta(ctx, d, "beta2", d->beta2));
    }
    if (k == LAM_OPTIM_ADAMW) {
        TRY(check_nonneg(ctx, d, "decoupled_weight_decay", d->decoupled_weight_decay));
        if (d->weight_decay != 0.0) {
            return lam__error(ctx, LAM_ERR_ARG,
                              "optim_create: adamw takes decoupled_weight_decay, not "
                              "weight_decay (got %g)", d->weight_decay);
        }
    } else {
        TRY(check_unused(ctx, d, "decoupled_weight_decay", d->decoupled_weight_decay));
    }
    if (rms) {
        if (!(d->alpha >= 0.0 && d->alpha <= 1.0)) {
            return lam__error(ctx, LAM_ERR_ARG, "optim_create: rmsprop.alpha = %g, must be in "
                              "[0, 1]", d->alpha);
        }
        TRY(check_flag(ctx, "centered", d->centered));
    } else {
        TRY(check_unused(ctx, d, "alpha", d->alpha));
        TRY(check_unused(ctx, d, "centered", d->centered));
    }
    return LAM_OK;
}

/* Length of "<prefix><name>" without the NUL; unnamed parameters are "#<index>". */
static size_t state_name(char *buf, size_t cap, const char *prefix, const lam_param *p,
                         int index)
{
    int len = p->name != NULL ? snprintf(buf, cap, "%s%s", prefix, p->name)
                              : snprintf(buf, cap, "%s#%d", prefix, index);
    return len > 0 ? (size_t)len : 0;
}

static size_t round_up(size_t x, size_t a)
{
    return (x + a - 1) / a * a;
}

/* Add b to *a; 1 on size_t overflow. */
static int add_size(size_t *a, size_t b)
{
    if (*a > SIZE_MAX - b) {
        return 1;
    }
    *a += b;
    return 0;
}

lam_status lam_optim_create(lam_ctx *ctx, const lam_optim_desc *desc, const lam_param *params,
                            int n_params, lam_optim **out)
{
    if (ctx == NULL) {
        return LAM_ERR_ARG;
    }
    if (desc == NULL || params == NULL || out == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "optim_create: %s is NULL",
                          desc == NULL ? "desc" : params == NULL ? "params" : "out");
    }
    if (n_params < 1) {
        return lam__error(ctx, LAM_ERR_ARG, "optim_create: n_params = %d, need >= 1",
                          n_params);
    }
    TRY(check_desc(ctx, desc));

    const char *prefix[MAX_SLOTS];
    int n_slots = slot_prefixes(desc, prefix);
    size_t n_arrays = (size_t)n_params * (size_t)n_slots;

    /* Layout of the one block: struct, param views, state pointers, name pointers, name
     * characters, then 64-byte aligned float arrays (aligned so the loops vectorise). */
    size_t name_chars = 0, float_bytes = 0;
    for (int i = 0; i < n_params; i++) {
        const lam_param *p = &params[i];
        if (p->w == NULL || p->g == NULL || p->n <= 0) {
            return lam__error(ctx, LAM_ERR_ARG, "optim_create: param %d (%s): %s", i,
                              p->name != NULL ? p->name : "unnamed",
                              p->n <= 0 ? "n must be > 0" : "w or g is NULL");
        }
        if ((uint64_t)p->n > (SIZE_MAX - LAM_ALIGN) / sizeof(float)) {
            return lam__error(ctx, LAM_ERR_RANGE, "optim_create: param %d has %lld elements",
                              i, (long long)p->n);
        }
        size_t bytes = round_up((size_t)p->n * sizeof(float), LAM_ALIGN);
        for (int s = 0; s < n_slots; s++) {
            if (add_size(&float_bytes, bytes) ||
                add_size(&name_chars, state_name(NULL, 0, prefix[s], p, i) + 1)) {
                return lam__error(ctx, LAM_ERR_RANGE, "optim_create: state too large");
            }
        }
    }
    size_t off_params = round_up(sizeof(lam_optim), sizeof(void *));
    size_t off_state = off_params + (size_t)n_params * sizeof(lam_param);
    size_t off_names = off_state + n_arrays * sizeof(float *);
    size_t off_chars = off_names + n_arrays * sizeof(char *);
    size_t off_floats = round_up(off_chars + name_chars, LAM_ALIGN);
    size_t total = off_floats;
    if (add_size(&total, float_bytes)) {
        return lam__error(ctx, LAM_ERR_RANGE, "optim_create: state too large");
    }

    char *block = lam_alloc(ctx, total);
    if (block == NULL) {
        return lam__error(ctx, LAM_ERR_NOMEM, "optim_create: allocation of %zu bytes of %s "
                          "state failed", total, kind_name(desc->kind));
    }
    memset(block, 0, total);
    lam_optim *o = (lam_optim *)(void *)block;
    o->ctx = ctx;
    o->desc = *desc;
    o->n_params = n_params;
    o->n_slots = n_slots;
    o->t = 0;
    o->params = (lam_param *)(void *)(block + off_params);
    o->state = (float **)(void *)(block + off_state);
    o->names = (const char **)(void *)(block + off_names);
    memcpy(o->params, params, (size_t)n_params * sizeof(lam_param));
    char *chars = block + off_chars;
    char *floats = block + off_floats;
    for (int i = 0; i < n_params; i++) {
        size_t bytes = round_up((size_t)params[i].n * sizeof(float), LAM_ALIGN);
        for (int s = 0; s < n_slots; s++) {
            size_t k = (size_t)i * (size_t)n_slots + (size_t)s;
            size_t len = state_name(chars, name_chars, prefix[s], &params[i], i);
            o->names[k] = chars;
            chars += len + 1;
            name_chars -= len + 1;
            o->state[k] = (float *)(void *)floats;
            floats += bytes;
        }
    }
    *out = o;
    return LAM_OK;
}

void lam_optim_destroy(lam_optim *opt)
{
    if (opt != NULL) {
        lam_free(opt->ctx, opt);
    }
}

/* ------------------------------------------------------------ update kernels */

/* Scalars of one step, rounded to float once (see the file comment). */
typedef struct step_scalars {
    float lr_neg;   /* -lr */
    float wd;       /* coupled L2 */
    float mom, one_minus_damp;
    float b1, omb1, b2, omb2, step_size_neg, bc2_sqrt, eps, decay;
    float alpha, oma;
} step_scalars;

static void sgd_update(const lam_optim *o, const step_scalars *c, int64_t n, float *w,
                       const float *g, float *buf)
{
    const int nesterov = o->desc.nesterov, first = o->t == 0;
    for (int64_t i = 0; i < n; i++) {
        float d = g[i];
        if (c->wd != 0.0f) {
            d = d + c->wd * w[i];
        }
        if (buf != NULL) {
            /* PyTorch creates the buffer as a copy of the first gradient (no dampening) */
            float b = first ? d : buf[i] * c->mom + c->one_minus_damp * d;
            buf[i] = b;
            d = nesterov ? d + c->mom * b : b;
        }
        w[i] = w[i] + c->lr_neg * d;
    }
}

static void adam_update(const step_scalars *c, int64_t n, float *w, const float *g, float *m,
                        float *v, int decoupled)
{
    for (int64_t i = 0; i < n; i++) {
        float d = g[i];
        float p = w[i];
        if (decoupled) {
            p = p * c->decay;
        } else if (c->wd != 0.0f) {
            d = d + c->wd * p;
        }
        float mi = m[i] * c->b1 + c->omb1 * d;
        float vi = v[i] * c->b2 + (c->omb2 * d) * d;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / c->bc2_sqrt + c->eps;
        w[i] = p + (c->step_size_neg * mi) / denom;
    }
}

static void rmsprop_update(const step_scalars *c, int64_t n, float *w, const float *g,
                           float *sq, float *buf, float *gavg)
{
    for (int64_t i = 0; i < n; i++) {
        float d = g[i];
        if (c->wd != 0.0f) {
            d = d + c->wd * w[i];
        }
        float s = sq[i] * c->alpha + (c->oma * d) * d;
        sq[i] = s;
        float avg;
        if (gavg != NULL) {
            float a = gavg[i] * c->alpha + c->oma * d;
            gavg[i] = a;
            avg = sqrtf(s + (-1.0f * a) * a);
        } else {
            avg = sqrtf(s);
        }
        avg = avg + c->eps;
        if (buf != NULL) {
            float b = buf[i] * c->mom + d / avg;
            buf[i] = b;
            w[i] = w[i] + c->lr_neg * b;
        } else {
            w[i] = w[i] + (c->lr_neg * d) / avg;
        }
    }
}

/* One block of a step: elements [off, off + n) of parameter `lo`. */
typedef struct step_arg {
    const lam_optim *opt;
    const step_scalars *c;
} step_arg;

static void update_block(const void *varg, int lo, int64_t off, int64_t n)
{
    const step_arg *a = varg;
    const lam_optim *o = a->opt;
    const lam_optim_desc *d = &o->desc;
    const lam_param *p = &o->params[lo];
    float *w = p->w + off;
    const float *g = p->g + off;
    float *s[MAX_SLOTS] = {NULL, NULL, NULL};
    for (int k = 0; k < o->n_slots; k++) {
        s[k] = o->state[(size_t)lo * (size_t)o->n_slots + (size_t)k] + off;
    }
    const int decays = d->decay_bias || !p->is_bias;
    step_scalars c = *a->c;
    c.wd = decays ? (float)d->weight_decay : 0.0f;
    switch (d->kind) {
    case LAM_OPTIM_SGD:
        sgd_update(o, &c, n, w, g, s[0]);
        break;
    case LAM_OPTIM_ADAM:
        adam_update(&c, n, w, g, s[0], s[1], 0);
        break;
    case LAM_OPTIM_ADAMW:
        c.decay = decays ? c.decay : 1.0f;
        adam_update(&c, n, w, g, s[0], s[1], 1);
        break;
    case LAM_OPTIM_RMSPROP: {
        int k = 1;
        float *buf = d->momentum > 0.0 ? s[k++] : NULL;
        float *gavg = d->centered ? s[k] : NULL;
        rmsprop_update(&c, n, w, g, s[0], buf, gavg);
        break;
    }
    default:
        break;
    }
}

/* The per-step scalars of lr, or LAM_ERR_ARG for a bad lr. */
static lam_status step_scalars_of(const lam_optim *opt, double lr, step_scalars *c)
{
    if (!isfinite(lr) || lr < 0.0) {
        return lam__error(opt->ctx, LAM_ERR_ARG, "optim_step: lr = %g, must be finite and >= 0",
                          lr);
    }
    const lam_optim_desc *d = &opt->desc;
    const double t = (double)(opt->t + 1);
    memset(c, 0, sizeof *c);
    c->lr_neg = (float)-lr;
    c->mom = (float)d->momentum;
    c->one_minus_damp = (float)(1.0 - d->dampening);
    c->b1 = (float)d->beta1;
    c->omb1 = (float)(1.0 - d->beta1);
    c->b2 = (float)d->beta2;
    c->omb2 = (float)(1.0 - d->beta2);
    c->eps = (float)d->eps;
    c->alpha = (float)d->alpha;
    c->oma = (float)(1.0 - d->alpha);
    if (d->kind == LAM_OPTIM_ADAM || d->kind == LAM_OPTIM_ADAMW) {
        double bc1 = 1.0 - pow(d->beta1, t);
        double bc2 = 1.0 - pow(d->beta2, t);
        c->step_size_neg = (float)-(lr / bc1);
        c->bc2_sqrt = (float)sqrt(bc2);
        c->decay = (float)(1.0 - lr * d->decoupled_weight_decay);
    }
    return LAM_OK;
}

lam_status lam_optim_step(lam_optim *opt, double lr)
{
    if (opt == NULL) {
        return LAM_ERR_ARG;
    }
    step_scalars c;
    lam_status st = step_scalars_of(opt, lr, &c);
    if (st != LAM_OK) {
        return st;
    }
    const step_arg arg = {opt, &c};
    lam__param_blocks(opt->ctx, opt->params, opt->n_params, update_block, &arg);
    opt->t++;
    return LAM_OK;
}

typedef struct guarded_arg {
    step_arg step;
    const atomic_int *stop;
} guarded_arg;

static void update_unless_stopped(const void *varg, int lo, int64_t off, int64_t n)
{
    const guarded_arg *a = varg;
    /* the barrier after the check pass orders this load after every check's store */
    if (!atomic_load_explicit(a->stop, memory_order_relaxed)) {
        update_block(&a->step, lo, off, n);
    }
}

lam_status lam__optim_step_guarded(lam_optim *opt, double lr, lam_param_block_fn check,
                                   const void *check_arg, const atomic_int *stop)
{
    if (opt == NULL || check == NULL || stop == NULL) {
        return LAM_ERR_ARG;
    }
    step_scalars c;
    lam_status st = step_scalars_of(opt, lr, &c);
    if (st != LAM_OK) {
        return st;
    }
    const guarded_arg arg = {{opt, &c}, stop};
    lam__param_blocks2(opt->ctx, opt->params, opt->n_params, check, check_arg,
                       update_unless_stopped, &arg);
    if (atomic_load(stop)) {
        return LAM_ERR_NUMERIC; /* nothing was updated; the caller says why */
    }
    opt->t++;
    return LAM_OK;
}

int lam__optim_covers(const lam_optim *opt, const lam_param *params, int n)
{
    if (opt == NULL || opt->n_params != n) {
        return 0;
    }
    for (int i = 0; i < n; i++) {
        if (opt->params[i].w != params[i].w || opt->params[i].g != params[i].g ||
            opt->params[i].n != params[i].n) {
            return 0;
        }
    }
    return 1;
}

/* -------------------------------------------------------- state and accessors */

double lam_optim_base_lr(const lam_optim *opt)
{
    return opt != NULL ? opt->desc.lr : NAN;
}

int lam_optim_state_count(const lam_optim *opt)
{
    return opt != NULL ? opt->n_params * opt->n_slots : 0;
}

lam_status lam_optim_state_get(lam_optim *opt, int i, const char **name, float **data,
                               int64_t *n)
{
    if (opt == NULL) {
        return LAM_ERR_ARG;
    }
    int count = lam_optim_state_count(opt);
    if (i < 0 || i >= count) {
        return lam__error(opt->ctx, LAM_ERR_ARG, "optim_state_get: index %d, have %d arrays",
                          i, count);
    }
    if (name != NULL) {
        *name = opt->names[i];
    }
    if (data != NULL) {
        *data = opt->state[i];
    }
    if (n != NULL) {
        *n = opt->params[i / opt->n_slots].n;
    }
    return LAM_OK;
}

int64_t lam_optim_get_step(const lam_optim *opt)
{
    return opt != NULL ? opt->t : 0;
}

lam_status lam_optim_set_step(lam_optim *opt, int64_t t)
{
    if (opt == NULL) {
        return LAM_ERR_ARG;
    }
    if (t < 0) {
        return lam__error(opt->ctx, LAM_ERR_ARG, "optim_set_step: t = %lld, must be >= 0",
                          (long long)t);
    }
    opt->t = t;
    return LAM_OK;
}

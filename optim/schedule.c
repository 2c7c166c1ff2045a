/* Learning-rate schedules as pure functions of the step number, so a resumed run gets
 * exactly the rates the uninterrupted one would have (PyTorch's schedulers are stateful
 * and resume only through their state_dict; we need no state at all).
 *
 * Closed forms (PyTorch 1.13 lr_scheduler.py): LinearLR for the warm-up, StepLR
 * base * gamma^floor(s / step_size), CosineAnnealingLR's _get_closed_form_lr
 * eta_min + (base - eta_min) * (1 + cos(pi * s / T_max)) / 2, held at eta_min after T_max. */
#include "core_internal.h"
#include "lamina/optim.h"

#include <math.h>
#include <string.h>

void lam_schedule_init(lam_schedule *s, lam_schedule_kind kind, double base_lr)
{
    if (s == NULL) {
        return;
    }
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->base_lr = base_lr;
    s->step_size = 1;
    s->gamma = 0.1;
}

/* Same checks as lam_schedule_check, without a message: lam_schedule_lr has no context. */
static const char *schedule_problem(const lam_schedule *s)
{
    if (s->kind != LAM_SCHED_CONSTANT && s->kind != LAM_SCHED_STEP &&
        s->kind != LAM_SCHED_COSINE) {
        return "unknown kind";
    }
    if (!isfinite(s->base_lr) || s->base_lr < 0.0) {
        return "base_lr must be finite and >= 0";
    }
    if (s->warmup_steps < 0) {
        return "warmup_steps must be >= 0";
    }
    if (!(s->warmup_start_factor >= 0.0 && s->warmup_start_factor <= 1.0)) {
        return "warmup_start_factor must be in [0, 1]";
    }
    if (s->kind == LAM_SCHED_STEP) {
        if (s->step_size <= 0) {
            return "step_size must be > 0";
        }
        if (!isfinite(s->gamma) || s->gamma <= 0.0) {
            return "gamma must be finite and > 0";
        }
    }
    if (s->kind == LAM_SCHED_COSINE) {
        if (s->total_steps <= s->warmup_steps) {
            return "total_steps must be > warmup_steps";
        }
        if (!(s->min_lr >= 0.0 && s->min_lr <= s->base_lr)) {
            return "min_lr must be in [0, base_lr]";
        }
    }
    return NULL;
}

lam_status lam_schedule_check(lam_ctx *ctx, const lam_schedule *s)
{
    if (s == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "schedule: NULL schedule");
    }
    const char *why = schedule_problem(s);
    if (why != NULL) {
        return lam__error(ctx, LAM_ERR_ARG,
                          "schedule: %s (kind %d, base_lr %g, step_size %lld, gamma %g, "
                          "total_steps %lld, min_lr %g, warmup_steps %lld, start factor %g)",
                          why, (int)s->kind, s->base_lr, (long long)s->step_size, s->gamma,
                          (long long)s->total_steps, s->min_lr, (long long)s->warmup_steps,
                          s->warmup_start_factor);
    }
    return LAM_OK;
}

double lam_schedule_lr(const lam_schedule *s, int64_t step)
{
    if (s == NULL || schedule_problem(s) != NULL) {
        return NAN;
    }
    if (step < 0) {
        step = 0;
    }
    if (step < s->warmup_steps) {
        double f = s->warmup_start_factor;
        return s->base_lr * (f + (1.0 - f) * (double)step / (double)s->warmup_steps);
    }
    int64_t k = step - s->warmup_steps;
    switch (s->kind) {
    case LAM_SCHED_STEP:
        return s->base_lr * pow(s->gamma, (double)(k / s->step_size));
    case LAM_SCHED_COSINE: {
        int64_t span = s->total_steps - s->warmup_steps;
        if (k >= span) {
            return s->min_lr;
        }
        const double pi = 3.14159265358979323846;
        return s->min_lr + (s->base_lr - s->min_lr) *
                               (1.0 + cos(pi * (double)k / (double)span)) / 2.0;
    }
    case LAM_SCHED_CONSTANT:
    default:
        return s->base_lr;
    }
}

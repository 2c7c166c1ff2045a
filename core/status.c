/* Status names and the per-context error message. */
#include "core_internal.h"

#include <stdio.h>
#include <string.h>

const char *lam_strerror(int status)
{
    switch (status) {
    case LAM_OK: return "ok";
    case LAM_ERR_ARG: return "invalid argument";
    case LAM_ERR_SHAPE: return "shape mismatch";
    case LAM_ERR_LAYOUT: return "unsupported memory layout";
    case LAM_ERR_NOMEM: return "out of memory";
    case LAM_ERR_IO: return "input/output error";
    case LAM_ERR_FORMAT: return "malformed file or spec";
    case LAM_ERR_NUMERIC: return "non-finite value";
    case LAM_ERR_RANGE: return "value out of range";
    case LAM_ERR_STATE: return "call out of order";
    case LAM_ERR_COMM: return "communication failed";
    default: return "unknown status";
    }
}

lam_status lam__verror(lam_ctx *ctx, lam_status st, const char *fmt, va_list ap)
{
    if (ctx == NULL) {
        return st;
    }
    vsnprintf(ctx->errmsg, sizeof ctx->errmsg, fmt, ap);
    if (ctx->cfg.log != NULL) {
        ctx->cfg.log(ctx->cfg.log_user, 0, ctx->errmsg);
    }
    return st;
}

lam_status lam__error(lam_ctx *ctx, lam_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lam__verror(ctx, st, fmt, ap);
    va_end(ap);
    return st;
}

void lam__clear_error(lam_ctx *ctx)
{
    if (ctx != NULL) {
        ctx->errmsg[0] = '\0';
    }
}

void lam__log(lam_ctx *ctx, int level, const char *fmt, ...)
{
    if (ctx == NULL || ctx->cfg.log == NULL) {
        return;
    }
    char buf[LAM_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ctx->cfg.log(ctx->cfg.log_user, level, buf);
}

const char *lam_ctx_errmsg(const lam_ctx *ctx)
{
    return ctx != NULL ? ctx->errmsg : "no context";
}

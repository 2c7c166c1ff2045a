/* What the safetensors reader (safetensors.c) and writer (safetensors_write.c) share.
 * Not installed. */
#ifndef LAM_SAFETENSORS_IMPL_H
#define LAM_SAFETENSORS_IMPL_H

#include "safetensors.h"

#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && \
    __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define ST_BIG_ENDIAN 1
#else
#define ST_BIG_ENDIAN 0
#endif

/* Message field widths, so that the problem (at the end of a message) survives the
 * LAM_ERRMSG_MAX-byte buffer even with long paths or names. */
#define P "%.100s"
#define N "%.48s"

/* numel and nbytes of a shape; 1 on overflow. */
int lam__st_shape_bytes(int dtype, int ndim, const int64_t *shape, int64_t *numel,
                        int64_t *nbytes);

/* Record "file: tensor 'name': <problem>" and return st. */
lam_status lam__st_tensor_err(lam_ctx *ctx, lam_status st, const char *file, const char *name,
                              const char *fmt, ...) LAM_PRINTF(5, 6);

#endif

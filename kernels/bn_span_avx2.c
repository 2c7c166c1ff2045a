/*
 * Batch normalisation's span loops (bn_span_v16.h) compiled for AVX2 (two ymm halves per
 * vector, the same bits). Only lam__bn_spans hands them out, and only where lam__best_isa()
 * allows.
 */
#define LAM_V16_AVX2 1
#include "bn_span.h"

#if defined(__GNUC__) && defined(__x86_64__)

#include "v16.h"

#include "bn_span_v16.h"

#endif

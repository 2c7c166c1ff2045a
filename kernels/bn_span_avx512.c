/*
 * Batch normalisation's span loops (bn_span_v16.h) compiled for AVX-512. Only lam__bn_spans
 * hands them out, and only where lam__best_isa() allows.
 */
#include "bn_span.h"

#if defined(__GNUC__) && defined(__x86_64__)

#include "v16.h"

#include "bn_span_v16.h"

#endif

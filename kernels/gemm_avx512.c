/*
 * The convolution GEMM tiles (gemm_v16.h) compiled for AVX-512. Only conv_gemm.c calls
 * them, and only where lam__best_isa() allows.
 */
#include "kernels.h"

#if defined(__GNUC__) && defined(__x86_64__)

#include "v16.h"

#include "gemm_v16.h"

#endif

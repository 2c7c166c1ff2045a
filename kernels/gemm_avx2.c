/*
 * The convolution GEMM tiles (gemm_v16.h) compiled for AVX2 + FMA (each 16-float vector is
 * two ymm halves, the same bits). Only conv_gemm.c calls them, and only where lam__best_isa()
 * allows.
 */
#define LAM_V16_AVX2 1
#include "kernels.h"

#if defined(__GNUC__) && defined(__x86_64__)

#include "v16.h"

#include "gemm_v16.h"

#endif

/*
 * Winograd F(2x2, 3x3) (conv2d_winograd_v16.h) compiled for AVX2 (two ymm halves per vector,
 * the same bits). Only conv2d_winograd.c calls it, by the plan's instruction set.
 */
#define LAM_V16_AVX2 1
#include "conv2d_plan.h"

#if defined(__GNUC__) && defined(__x86_64__)

#include "v16.h"

#include "conv2d_winograd_v16.h"

#endif

/* What the golden tests share: the comparison of a tensor with PyTorch's. */
#ifndef LAM_TEST_GOLDEN_UTIL_H
#define LAM_TEST_GOLDEN_UTIL_H

#include <stdint.h>

#include "lamina.h"
#include "safetensors.h"

/* max|got - want| <= rtol * max|want| + atol over every element (a relative measure: the
 * largest reference value sets the scale, so elements near 0 are not held to their own
 * size). Prints a line (always when verbose, else on failure), fails the test with the worst
 * element otherwise, and returns the relative error dmax / max|want|, or INFINITY when got
 * holds a NaN or an infinity. */
double golden_compare(const char *what, const float *got, const float *want, int64_t n, double rtol,
                      double atol, int verbose);

/* The fixture's F32 tensor `name` of n elements, or NULL after a failed check saying why. */
const float *golden_f32(const lam_st_file *st, const char *name, int64_t n);
/* How many of the fixture's tensors have names starting with prefix. */
int golden_count_prefix(const lam_st_file *st, const char *prefix);

/* A context and the golden file at path, opened; NULL (and the context destroyed) after a
 * one-line message naming prog and the file. The caller closes both. */
lam_st_file *golden_open(const char *prog, const char *path, lam_ctx **ctx);

#endif

/* Test harness shared by every suite: deterministic random fills, tolerance checks that
 * report the worst element, and Meson's exit codes (0 pass, 1 fail, 77 skip). */
#ifndef LAM_TEST_HARNESS_H
#define LAM_TEST_HARNESS_H

#include <stdint.h>
#include <stdio.h>

#define T_SKIP 77

/* Count of failed checks in this process; main returns t_exit(). */
extern int t_failures;
extern int t_checks;

/* Fill with uniform values in [lo, hi) from (seed, stream), independent of call order. */
void t_fill_uniform(float *x, int64_t n, float lo, float hi, uint64_t seed, uint64_t stream);
/* Fill with small integers in [lo, hi]: products and sums stay exact in float. */
void t_fill_int(float *x, int64_t n, int lo, int hi, uint64_t seed, uint64_t stream);

/* The kernel suites' two kinds of data: integers in [-2, 2] (ints != 0; products and sums
 * stay exact in float, so any summation order agrees bitwise) or uniform in [-1, 1). */
void t_fill_case(float *x, int64_t n, int ints, uint64_t seed, uint64_t stream);
/* The inputs of a layer-pass test, each with t_fill_case from its own stream: x (xn), w and
 * the weight-gradient accumulator dw (wn), b and db (bn), dy (yn), from streams first,
 * first + 1 (w), + 2 (b), + 3 (dy), + 4 (dw), + 5 (db). */
typedef struct t_pass_data {
    float *x, *w, *b, *dy, *dw, *db;
    int64_t xn, wn, bn, yn;
} t_pass_data;
void t_fill_pass(const t_pass_data *d, int ints, uint64_t seed, uint64_t first);

/* Zeroed arrays of max(n, 1) elements; print FAIL and exit 1 when out of memory. */
float *t_alloc_floats(int64_t n);
int32_t *t_alloc_ints(int64_t n);

/* |got - want| <= atol + rtol*|want| for every element; on failure print the worst index,
 * both values and the errors, prefixed with `what`. Returns 1 if ok. */
int t_close(const char *what, const float *got, const float *want, int64_t n, double atol,
            double rtol);
/* Bitwise-equal floats (NaN compared by bits too). Returns 1 if ok. */
int t_equal(const char *what, const float *got, const float *want, int64_t n);
/* Generic assertion; prints file:line and the message when cond is false. Returns cond. */
int t_check_at(int cond, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define T_CHECK(cond, ...) t_check_at(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* A counting allocator for lam_ctx_config hooks: counts calls, live blocks and the largest
 * request; fails call number fail_at (1-based) when fail_at > 0. Shared by every suite that
 * checks allocation counts, leaks or out-of-memory paths. */
typedef struct t_alloc {
    int64_t calls;
    int64_t live;
    int64_t fail_at;
    int failed;      /* set when a call was failed */
    size_t max_size; /* largest request seen (including the failed one) */
} t_alloc;

struct lam_ctx_desc;
/* Point cfg's allocator hooks at the counting allocator on `a` (a is not reset). */
void t_alloc_hook(struct lam_ctx_desc *cfg, t_alloc *a);
/* A context whose allocator is the counting hook on `a` (reset first; NULL: the library's
 * own allocator), default config otherwise. Exits 1 on failure. */
struct lam_ctx *t_ctx_counting(t_alloc *a);
/* The same with cfg.seed = seed. */
struct lam_ctx *t_ctx_counting_seed(t_alloc *a, uint64_t seed);

/* Print "N passed, M failed" and return the process exit code. */
int t_exit(const char *suite);

#endif

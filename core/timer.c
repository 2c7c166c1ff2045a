/* Monotonic wall clock for benches and progress lines. */
#define _POSIX_C_SOURCE 200809L
#include "lamina/core.h"

#include <time.h>

double lam_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

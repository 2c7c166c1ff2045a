/*
 * Which instruction set the run-time-dispatched kernels may use on this CPU. The library is
 * built for baseline x86-64 (Debian's packages run anywhere), so the AVX-512 and AVX2 loops
 * (compiled with a target attribute: pool_avx512.c, gemm_avx2.c, ...) run only where this
 * says so. A kernel that has no loop for the level given falls to the next lower one it has
 * (most AVX-512 loops have no AVX2 twin yet: an AVX2 CPU runs their portable loops).
 * Callers resolve it once per pass, never per plane or row.
 */
#include "kernels.h"

#if defined(__GNUC__) && defined(__x86_64__)

#include <cpuid.h>

#if defined(__has_include)
#if __has_include(<sys/platform/x86.h>)
#include <sys/platform/x86.h> /* glibc >= 2.33: the loader's CPU feature table */
#define LAM_HAVE_X86_PLATFORM 1
#endif
#endif

/* CPUID and XGETBV directly (without glibc's table): __builtin_cpu_supports would link
 * libgcc's writable __cpu_model into the library, which keeps no global state. */
#ifndef LAM_HAVE_X86_PLATFORM
static int cpu_best_isa(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || __get_cpuid_max(0, 0) < 7) {
        return LAM_ISA_SSE2;
    }
    const int fma = (c & bit_FMA) != 0;
    __cpuid_count(7, 0, a, b, c, d);
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    /* the OS saves XMM, YMM, opmask and both ZMM halves (XCR0 bits 1, 2, 5, 6, 7) */
    if ((b & bit_AVX512F) && (lo & 0xe6u) == 0xe6u) {
        return LAM_ISA_AVX512;
    }
    /* XMM and YMM (XCR0 bits 1, 2) */
    return (b & bit_AVX2) && fma && (lo & 0x6u) == 0x6u ? LAM_ISA_AVX2 : LAM_ISA_SSE2;
}
#endif

int lam__best_isa(void)
{
#ifdef LAM_HAVE_X86_PLATFORM
    /* glibc asked the CPU once at start-up; "active" includes the OS saving ZMM (YMM) state.
     * A CPUID instruction traps to the hypervisor in a VM: ~14 us each on the dev machine. */
    if (CPU_FEATURE_ACTIVE(AVX512F)) {
        return LAM_ISA_AVX512;
    }
    return CPU_FEATURE_ACTIVE(AVX2) && CPU_FEATURE_ACTIVE(FMA) ? LAM_ISA_AVX2 : LAM_ISA_SSE2;
#else
    return cpu_best_isa();
#endif
}

#else

int lam__best_isa(void)
{
#if defined(__SSE2__)
    return LAM_ISA_SSE2;
#else
    return LAM_ISA_SCALAR;
#endif
}

#endif

#!/usr/bin/env bash
# Embedding hygiene of the shared library:
#  - every exported symbol is a lam_ function;
#  - it imports none of the calls a host cannot afford from a library (exit, abort, printing,
#    locale or global RNG changes, signal handlers, global thread settings);
#  - it has no writable global data (a library with state in .data/.bss is not reentrant).
set -u
lib="$1"
fail=0
exports=$(nm -D --defined-only "$lib" | awk '$2 ~ /[TWDBRV]/ {print $3}')
bad=$(echo "$exports" | grep -v -E '^(lam_|_init$|_fini$)' || true)
if [ -n "$bad" ]; then
    echo "FAIL exported symbols without the lam_ prefix:"; echo "$bad"; fail=1
fi
imports=$(nm -D --undefined-only "$lib" | awk '{print $2}' | sed 's/@.*//')
for f in exit _exit abort printf puts fprintf vprintf putchar perror setlocale rand srand \
         signal sigaction omp_set_num_threads openblas_set_num_threads goto_set_num_threads \
         omp_set_dynamic omp_set_nested omp_set_max_active_levels; do
    if echo "$imports" | grep -qx "$f"; then
        echo "FAIL the library imports $f"; fail=1
    fi
done
# Objects in .data or .bss (not .data.rel.ro: const tables with pointers land there and are
# made read-only after relocation).
writable=$(objdump -t "$lib" | awk '$4 == ".data" || $4 == ".bss" {print $NF}' | \
    grep -v -E '^(__dso_handle|__TMC_END__|completed\.[0-9]+|\.data|\.bss)$' || true)
if [ -n "$writable" ]; then
    echo "FAIL writable global data:"; echo "$writable"; fail=1
fi
n=$(echo "$exports" | wc -l)
if [ $fail -eq 0 ]; then
    echo "exports: $n lam_ symbols, no forbidden imports, no writable globals"
    echo "1 passed, 0 failed"
else
    echo "0 passed, 1 failed"
fi
exit $fail

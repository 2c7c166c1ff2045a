/* Shared by the fuzz targets: a context whose allocator refuses large blocks (so a hostile
 * header that passed the size checks still cannot make the fuzzer allocate gigabytes), and a
 * helper that writes the input to a file, since the readers take paths. */
#ifndef LAM_FUZZ_COMMON_H
#define LAM_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include <lamina.h>

#define FUZZ_MAX_ALLOC ((size_t)64 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A context with the capped allocator; NULL on failure. */
lam_ctx *fuzz_ctx(void);
/* Write data to a per-process file with the given suffix and return its path (static). */
const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix);

#endif

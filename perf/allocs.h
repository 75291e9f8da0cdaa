/* SPDX-License-Identifier: MIT */
/* The harness's heap allocation counter: how many allocations the whole
 * process made between start and stop, counted per thread. */
#ifndef PERF_ALLOCS_H
#define PERF_ALLOCS_H

#include <stdbool.h>

/* False in sanitizer builds, whose allocator must not be bypassed: the
 * allocs/op column is then empty. */
bool perf_alloc_count_available(void);

/* Start counting every malloc/calloc/realloc/aligned_alloc/posix_memalign of
 * any thread; stop returns how many there were, including those of threads
 * that exited in between. Main thread only, not concurrently with each other. */
void perf_alloc_count_start(void);
long perf_alloc_count_stop(void);

#endif

/* SPDX-License-Identifier: MIT */
/* Count heap allocations made by the whole process between start and stop,
 * and make chosen threads' allocations fail. */
#ifndef RESPIO_TEST_ALLOC_COUNT_H
#define RESPIO_TEST_ALLOC_COUNT_H

#include <stdbool.h>

/* False in sanitizer builds, whose allocator must not be bypassed: tests
 * that count then skip with a reason. */
bool alloc_count_available(void);

/* Start counting every malloc/calloc/realloc/aligned_alloc/posix_memalign
 * and anonymous mmap/mremap from any thread; stop returns how many there
 * were. */
void alloc_count_start(void);
long alloc_count_stop(void);

/* Of the allocations counted between the last start and stop: the bytes
 * they asked for (realloc and mremap count the new size), and the largest
 * single request. Requested, not touched: an allocation of 1 GB that is
 * never written counts 1 GB, where resident memory or mallinfo's in-use
 * bytes would barely move (glibc serves it with mmap). */
unsigned long long alloc_count_bytes(void);
unsigned long long alloc_count_largest(void);

/* Until alloc_fail_stop, every allocation by a thread whose name begins
 * with thread_prefix (at most 15 bytes) fails with ENOMEM: "respio-" picks
 * the engine's threads and spares the test's own. stop returns how many
 * failed. Not available where alloc_count_available() is false. */
void alloc_fail_start(const char *thread_prefix);
long alloc_fail_stop(void);

#endif

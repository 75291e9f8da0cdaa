/* SPDX-License-Identifier: MIT */
/* Count heap allocations made by the whole process between start and stop. */
#ifndef RESPIO_TEST_ALLOC_COUNT_H
#define RESPIO_TEST_ALLOC_COUNT_H

#include <stdbool.h>

/* False in sanitizer builds, whose allocator must not be bypassed: tests
 * that count then skip with a reason. */
bool alloc_count_available(void);

/* Start counting every malloc/calloc/realloc/aligned_alloc/posix_memalign
 * from any thread; stop returns how many there were. */
void alloc_count_start(void);
long alloc_count_stop(void);

#endif

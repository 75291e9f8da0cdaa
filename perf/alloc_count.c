/* SPDX-License-Identifier: MIT */
/* Counts the process's heap allocations during a measured phase, by
 * defining malloc and friends in the executable (glibc's own stay reachable
 * as __libc_*), so allocations per request can be reported. */
#include "perf.h"

#include <errno.h>
#include <stdatomic.h>

/* Sanitizers replace the allocator; there, count nothing. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)

bool perf_alloc_count_available(void)
{
	return false;
}

void perf_alloc_count_start(void)
{
}

long perf_alloc_count_stop(void)
{
	return 0;
}

#else

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t sz);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);

/* Relaxed: the count is read after the threads that allocate have been
 * told to stop; a straggler at the edge of the window does not matter. */
static atomic_int counting;
static atomic_long allocs;

static inline void counted(void)
{
	if (atomic_load_explicit(&counting, memory_order_relaxed))
		atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
}

bool perf_alloc_count_available(void)
{
	return true;
}

void perf_alloc_count_start(void)
{
	atomic_store(&allocs, 0);
	atomic_store(&counting, 1);
}

long perf_alloc_count_stop(void)
{
	atomic_store(&counting, 0);
	return atomic_load(&allocs);
}

void *malloc(size_t n)
{
	counted();
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t sz)
{
	counted();
	return __libc_calloc(n, sz);
}

void *realloc(void *p, size_t n)
{
	counted();
	return __libc_realloc(p, n);
}

void *aligned_alloc(size_t align, size_t n)
{
	counted();
	return __libc_memalign(align, n);
}

void *memalign(size_t align, size_t n)
{
	counted();
	return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	void *p;

	counted();
	p = __libc_memalign(align, n);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

void free(void *p)
{
	__libc_free(p);
}

#endif

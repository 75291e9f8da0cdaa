/* SPDX-License-Identifier: MIT */
/* Count heap allocations made by the whole process between start and stop,
 * and make chosen threads' allocations fail. */
#include "alloc_count.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * Defining malloc and friends in the executable interposes them for the
 * whole process (glibc exports the real ones as __libc_*). This file is
 * linked only into the tests that count. Sanitizer builds bring their own
 * allocator, which this would bypass, so there it defines nothing.
 * Anonymous mmap and mremap are counted too (made here by system call), so
 * memory taken straight from the kernel does not escape the count; glibc's
 * own malloc maps through an internal call and is counted once, as the
 * malloc.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)

bool alloc_count_available(void)
{
	return false;
}

void alloc_count_start(void)
{
}

long alloc_count_stop(void)
{
	return 0;
}

unsigned long long alloc_count_bytes(void)
{
	return 0;
}

unsigned long long alloc_count_largest(void)
{
	return 0;
}

void alloc_fail_start(const char *thread_prefix)
{
	(void)thread_prefix;
}

long alloc_fail_stop(void)
{
	return 0;
}

#else

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t sz);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);

static atomic_int counting;
static atomic_long n_allocs;
static atomic_ullong n_bytes, largest;
static atomic_int failing;
static atomic_long n_failed;
static char fail_prefix[16]; /* written before failing is set, read after */

static void count_alloc(size_t bytes)
{
	unsigned long long top;

	if (!atomic_load_explicit(&counting, memory_order_relaxed))
		return;
	atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&n_bytes, bytes, memory_order_relaxed);
	top = atomic_load_explicit(&largest, memory_order_relaxed);
	while (bytes > top &&
	       !atomic_compare_exchange_weak_explicit(&largest, &top, bytes, memory_order_relaxed,
						      memory_order_relaxed))
		;
}

/* Should this allocation fail? The thread's name comes from prctl, a
 * system call that allocates nothing. */
static bool fail_alloc(void)
{
	char name[16] = "";

	if (!atomic_load(&failing) || prctl(PR_GET_NAME, name) != 0 ||
	    strncmp(name, fail_prefix, strlen(fail_prefix)) != 0)
		return false;
	atomic_fetch_add_explicit(&n_failed, 1, memory_order_relaxed);
	errno = ENOMEM;
	return true;
}

void alloc_fail_start(const char *thread_prefix)
{
	strncpy(fail_prefix, thread_prefix, sizeof(fail_prefix) - 1);
	atomic_store(&n_failed, 0);
	atomic_store(&failing, 1);
}

long alloc_fail_stop(void)
{
	atomic_store(&failing, 0);
	return atomic_load(&n_failed);
}

bool alloc_count_available(void)
{
	return true;
}

void alloc_count_start(void)
{
	atomic_store(&n_allocs, 0);
	atomic_store(&n_bytes, 0);
	atomic_store(&largest, 0);
	atomic_store(&counting, 1);
}

long alloc_count_stop(void)
{
	atomic_store(&counting, 0);
	return atomic_load(&n_allocs);
}

unsigned long long alloc_count_bytes(void)
{
	return atomic_load(&n_bytes);
}

unsigned long long alloc_count_largest(void)
{
	return atomic_load(&largest);
}

void *malloc(size_t n)
{
	count_alloc(n);
	if (fail_alloc())
		return NULL;
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t sz)
{
	count_alloc(sz && n > SIZE_MAX / sz ? SIZE_MAX : n * sz);
	if (fail_alloc())
		return NULL;
	return __libc_calloc(n, sz);
}

void *realloc(void *p, size_t n)
{
	count_alloc(n);
	if (fail_alloc())
		return NULL;
	return __libc_realloc(p, n);
}

void *aligned_alloc(size_t align, size_t n)
{
	count_alloc(n);
	if (fail_alloc())
		return NULL;
	return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	void *p;

	count_alloc(n);
	if (fail_alloc())
		return ENOMEM;
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

/* Mappings are counted, never failed: alloc_fail is about the heap. */
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (flags & MAP_ANONYMOUS)
		count_alloc(len);
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *fixed = NULL;
	va_list ap;

	if (flags & MREMAP_FIXED) {
		va_start(ap, flags);
		fixed = va_arg(ap, void *);
		va_end(ap);
	}
	if (new_len > old_len)
		count_alloc(new_len);
	return (void *)syscall(SYS_mremap, old, old_len, new_len, flags, fixed);
}

#endif

/* SPDX-License-Identifier: MIT */
/* Counts the process's heap allocations for the allocs/op column, each
 * thread in a counter of its own, so counting costs every client the same. */
#include "allocs.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

/*
 * Defining malloc and friends in the executable interposes them for the
 * whole process (glibc exports the real ones as __libc_*). Sanitizer builds
 * bring their own allocator, which this would bypass, so there it defines
 * nothing.
 *
 * Why per thread: the counter must not slow down the client it counts. One
 * shared atomic counter costs a locked add per allocation, and a cache line
 * bounced between the threads that allocate: nothing for respio's request
 * path, which does not allocate, but a real cost for a peer that allocates
 * a few times per request (hiredis builds a reply object per reply). Here a
 * thread bumps a counter only it writes, on a cache line of its own: a
 * relaxed load and store, no locked instruction. stop sums the counters.
 *
 * Counters live in a fixed table (an allocator cannot allocate its own
 * bookkeeping). A thread takes a free one at its first counted allocation
 * and gives it back when it exits, through a thread-specific key whose
 * destructor adds the count to `retired` under `sum_lock`: stop sums under
 * the same lock, so an exiting thread's allocations are counted once, either
 * in its counter or in `retired`. Should the table be full, or the thread be
 * exiting, the allocation is counted in `retired` with an atomic add.
 */
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

#define SLOTS 1024

struct counter {
	_Atomic long n;	  /* written by its owner only */
	_Atomic int used; /* owned by a live thread */
} __attribute__((aligned(64)));

static struct counter counters[SLOTS];
static _Atomic long retired;
static atomic_int counting;
static pthread_mutex_t sum_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static _Thread_local struct counter *mine;
static _Thread_local bool exiting;

/* At thread exit: the count moves to `retired` and the counter is free. */
static void release(void *p)
{
	struct counter *c = p;

	exiting = true;
	mine = NULL;
	pthread_mutex_lock(&sum_lock);
	atomic_fetch_add_explicit(&retired, atomic_load_explicit(&c->n, memory_order_relaxed),
				  memory_order_relaxed);
	atomic_store_explicit(&c->n, 0, memory_order_relaxed);
	pthread_mutex_unlock(&sum_lock);
	/* Release: the next owner's counting starts after this reset. */
	atomic_store_explicit(&c->used, 0, memory_order_release);
}

static void make_key(void)
{
	pthread_key_create(&exit_key, release);
}

static struct counter *claim(void)
{
	for (int i = 0; i < SLOTS; i++) {
		struct counter *c = &counters[i];
		int free_ = 0;

		if (atomic_load_explicit(&c->used, memory_order_relaxed) ||
		    !atomic_compare_exchange_strong_explicit(
			&c->used, &free_, 1, memory_order_acquire, memory_order_relaxed))
			continue;
		/* Set before pthread_setspecific, which may allocate. */
		mine = c;
		pthread_setspecific(exit_key, c);
		return c;
	}
	return NULL;
}

static inline void count_alloc(void)
{
	struct counter *c;

	if (!atomic_load_explicit(&counting, memory_order_relaxed))
		return;
	c = mine;
	if (!c && !exiting)
		c = claim();
	if (c)
		atomic_store_explicit(&c->n, atomic_load_explicit(&c->n, memory_order_relaxed) + 1,
				      memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&retired, 1, memory_order_relaxed);
}

bool perf_alloc_count_available(void)
{
	return true;
}

void perf_alloc_count_start(void)
{
	pthread_once(&key_once, make_key);
	pthread_mutex_lock(&sum_lock);
	atomic_store_explicit(&retired, 0, memory_order_relaxed);
	for (int i = 0; i < SLOTS; i++)
		atomic_store_explicit(&counters[i].n, 0, memory_order_relaxed);
	pthread_mutex_unlock(&sum_lock);
	atomic_store(&counting, 1);
}

long perf_alloc_count_stop(void)
{
	long sum;

	atomic_store(&counting, 0);
	pthread_mutex_lock(&sum_lock);
	sum = atomic_load_explicit(&retired, memory_order_relaxed);
	for (int i = 0; i < SLOTS; i++)
		sum += atomic_load_explicit(&counters[i].n, memory_order_relaxed);
	pthread_mutex_unlock(&sum_lock);
	return sum;
}

void *malloc(size_t n)
{
	count_alloc();
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t sz)
{
	count_alloc();
	return __libc_calloc(n, sz);
}

void *realloc(void *p, size_t n)
{
	count_alloc();
	return __libc_realloc(p, n);
}

void *aligned_alloc(size_t align, size_t n)
{
	count_alloc();
	return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	void *p;

	count_alloc();
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

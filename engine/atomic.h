/* SPDX-License-Identifier: MIT */
/* The one place respio's own atomics, fences and futex calls go through. */
#ifndef RESPIO_ATOMIC_H
#define RESPIO_ATOMIC_H

/*
 * Thin wrappers over C11 <stdatomic.h>. The ordering is part of every name,
 * so a reader sees it at the call site and ThreadSanitizer sees every access
 * (it understands C11 atomics, not ck_pr's inline assembly). Keep ck for its
 * rings; use these for everything the project writes itself.
 *
 * Naming: respio__<op>_<order>_<type>, type u32, u64 or ptr. Every call site
 * says in a comment what the ordering orders and what it pairs with.
 */

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define RESPIO__CACHELINE 64

/* --- uint32_t ------------------------------------------------------------ */

static inline uint32_t respio__load_relaxed_u32(const _Atomic uint32_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

static inline uint32_t respio__load_acquire_u32(const _Atomic uint32_t *p)
{
	return atomic_load_explicit(p, memory_order_acquire);
}

static inline uint32_t respio__load_seq_cst_u32(const _Atomic uint32_t *p)
{
	return atomic_load_explicit(p, memory_order_seq_cst);
}

static inline void respio__store_relaxed_u32(_Atomic uint32_t *p, uint32_t v)
{
	atomic_store_explicit(p, v, memory_order_relaxed);
}

static inline void respio__store_release_u32(_Atomic uint32_t *p, uint32_t v)
{
	atomic_store_explicit(p, v, memory_order_release);
}

static inline void respio__store_seq_cst_u32(_Atomic uint32_t *p, uint32_t v)
{
	atomic_store_explicit(p, v, memory_order_seq_cst);
}

static inline uint32_t respio__exchange_acq_rel_u32(_Atomic uint32_t *p, uint32_t v)
{
	return atomic_exchange_explicit(p, v, memory_order_acq_rel);
}

static inline uint32_t respio__fetch_or_acq_rel_u32(_Atomic uint32_t *p, uint32_t v)
{
	return atomic_fetch_or_explicit(p, v, memory_order_acq_rel);
}

static inline uint32_t respio__exchange_seq_cst_u32(_Atomic uint32_t *p, uint32_t v)
{
	return atomic_exchange_explicit(p, v, memory_order_seq_cst);
}

/* Strong CAS; on failure *expected gets the current value (acquire). */
static inline bool respio__cas_acq_rel_u32(_Atomic uint32_t *p, uint32_t *expected, uint32_t v)
{
	return atomic_compare_exchange_strong_explicit(p, expected, v, memory_order_acq_rel,
						       memory_order_acquire);
}

static inline bool respio__cas_relaxed_u32(_Atomic uint32_t *p, uint32_t *expected, uint32_t v)
{
	return atomic_compare_exchange_strong_explicit(p, expected, v, memory_order_relaxed,
						       memory_order_relaxed);
}

static inline uint32_t respio__fetch_add_relaxed_u32(_Atomic uint32_t *p, uint32_t v)
{
	return atomic_fetch_add_explicit(p, v, memory_order_relaxed);
}

static inline uint32_t respio__fetch_add_release_u32(_Atomic uint32_t *p, uint32_t v)
{
	return atomic_fetch_add_explicit(p, v, memory_order_release);
}

static inline uint32_t respio__fetch_add_acq_rel_u32(_Atomic uint32_t *p, uint32_t v)
{
	return atomic_fetch_add_explicit(p, v, memory_order_acq_rel);
}

static inline uint32_t respio__fetch_add_seq_cst_u32(_Atomic uint32_t *p, uint32_t v)
{
	return atomic_fetch_add_explicit(p, v, memory_order_seq_cst);
}

static inline uint32_t respio__fetch_sub_relaxed_u32(_Atomic uint32_t *p, uint32_t v)
{
	return atomic_fetch_sub_explicit(p, v, memory_order_relaxed);
}

static inline uint32_t respio__fetch_sub_release_u32(_Atomic uint32_t *p, uint32_t v)
{
	return atomic_fetch_sub_explicit(p, v, memory_order_release);
}

static inline uint32_t respio__fetch_sub_acq_rel_u32(_Atomic uint32_t *p, uint32_t v)
{
	return atomic_fetch_sub_explicit(p, v, memory_order_acq_rel);
}

/* --- uint64_t ------------------------------------------------------------ */

static inline uint64_t respio__load_relaxed_u64(const _Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

static inline uint64_t respio__load_acquire_u64(const _Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_acquire);
}

static inline uint64_t respio__load_seq_cst_u64(const _Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_seq_cst);
}

static inline void respio__store_relaxed_u64(_Atomic uint64_t *p, uint64_t v)
{
	atomic_store_explicit(p, v, memory_order_relaxed);
}

static inline void respio__store_release_u64(_Atomic uint64_t *p, uint64_t v)
{
	atomic_store_explicit(p, v, memory_order_release);
}

static inline uint64_t respio__exchange_acq_rel_u64(_Atomic uint64_t *p, uint64_t v)
{
	return atomic_exchange_explicit(p, v, memory_order_acq_rel);
}

/* Strong CAS; on failure *expected gets the current value. */
static inline bool respio__cas_acq_rel_u64(_Atomic uint64_t *p, uint64_t *expected, uint64_t v)
{
	return atomic_compare_exchange_strong_explicit(p, expected, v, memory_order_acq_rel,
						       memory_order_acquire);
}

static inline bool respio__cas_acquire_u64(_Atomic uint64_t *p, uint64_t *expected, uint64_t v)
{
	return atomic_compare_exchange_strong_explicit(p, expected, v, memory_order_acquire,
						       memory_order_acquire);
}

static inline bool respio__cas_seq_cst_u64(_Atomic uint64_t *p, uint64_t *expected, uint64_t v)
{
	return atomic_compare_exchange_strong_explicit(p, expected, v, memory_order_seq_cst,
						       memory_order_seq_cst);
}

static inline uint64_t respio__fetch_add_relaxed_u64(_Atomic uint64_t *p, uint64_t v)
{
	return atomic_fetch_add_explicit(p, v, memory_order_relaxed);
}

static inline uint64_t respio__fetch_add_acq_rel_u64(_Atomic uint64_t *p, uint64_t v)
{
	return atomic_fetch_add_explicit(p, v, memory_order_acq_rel);
}

static inline uint64_t respio__fetch_sub_acq_rel_u64(_Atomic uint64_t *p, uint64_t v)
{
	return atomic_fetch_sub_explicit(p, v, memory_order_acq_rel);
}

/* --- pointers ------------------------------------------------------------ */

static inline void *respio__load_relaxed_ptr(_Atomic(void *) const *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

static inline void *respio__load_acquire_ptr(_Atomic(void *) const *p)
{
	return atomic_load_explicit(p, memory_order_acquire);
}

static inline void respio__store_relaxed_ptr(_Atomic(void *) *p, void *v)
{
	atomic_store_explicit(p, v, memory_order_relaxed);
}

static inline void respio__store_release_ptr(_Atomic(void *) *p, void *v)
{
	atomic_store_explicit(p, v, memory_order_release);
}

static inline void respio__store_seq_cst_ptr(_Atomic(void *) *p, void *v)
{
	atomic_store_explicit(p, v, memory_order_seq_cst);
}

static inline void *respio__exchange_acq_rel_ptr(_Atomic(void *) *p, void *v)
{
	return atomic_exchange_explicit(p, v, memory_order_acq_rel);
}

static inline bool respio__cas_acq_rel_ptr(_Atomic(void *) *p, void **expected, void *v)
{
	return atomic_compare_exchange_strong_explicit(p, expected, v, memory_order_acq_rel,
						       memory_order_acquire);
}

/* --- fences -------------------------------------------------------------- */

static inline void respio__fence_acquire(void)
{
	atomic_thread_fence(memory_order_acquire);
}

static inline void respio__fence_release(void)
{
	atomic_thread_fence(memory_order_release);
}

/* The store-load fence of "announce, then check the other side" protocols
 * (Dekker): the only fence that orders a store before a later load. */
static inline void respio__fence_seq_cst(void)
{
	atomic_thread_fence(memory_order_seq_cst);
}

/* --- spinning ------------------------------------------------------------ */

/* A hint inside a spin loop: lets the sibling hyperthread run and avoids a
 * memory-order machine clear on loop exit. A compiler builtin, not asm. */
static inline void respio__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

/* --- ThreadSanitizer hand-off annotations -------------------------------- */

/*
 * ck_ring moves pointers with ck_pr's inline assembly, which TSan cannot
 * see, so an object handed through a ck_ring looks unsynchronised to it.
 * Call respio__tsan_release(obj) right before the enqueue and
 * respio__tsan_acquire(obj) right after the dequeue: that tells TSan about
 * the release/acquire pair the ring really provides. No-ops otherwise.
 */
#if defined(__SANITIZE_THREAD__)
#define RESPIO__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RESPIO__TSAN 1
#endif
#endif

#ifdef RESPIO__TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#endif

static inline void respio__tsan_release(void *addr)
{
#ifdef RESPIO__TSAN
	__tsan_release(addr);
#else
	(void)addr;
#endif
}

static inline void respio__tsan_acquire(void *addr)
{
#ifdef RESPIO__TSAN
	__tsan_acquire(addr);
#else
	(void)addr;
#endif
}

/* --- futex --------------------------------------------------------------- */

/*
 * Sleep while *word == expected, until woken or until the absolute
 * CLOCK_MONOTONIC deadline deadline_ns (< 0: no limit). Returns 0 when woken
 * (maybe spuriously), -EAGAIN when *word != expected already, -ETIMEDOUT,
 * or -EINTR. Process-private futexes only. The futex itself orders nothing:
 * callers re-read the word (or what it guards) with acquire after waking.
 */
static inline int respio__futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t deadline_ns)
{
	struct timespec ts, *tsp = NULL;
	long rc;

	if (deadline_ns >= 0) {
		ts.tv_sec = (time_t)(deadline_ns / 1000000000);
		ts.tv_nsec = (long)(deadline_ns % 1000000000);
		tsp = &ts;
	}
	/* WAIT_BITSET takes an absolute timeout (CLOCK_MONOTONIC unless
	 * FUTEX_CLOCK_REALTIME), so loops need not recompute a relative one. */
	rc = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected,
		     tsp, NULL, FUTEX_BITSET_MATCH_ANY);
	return rc == 0 ? 0 : -errno;
}

/* Wake up to n sleepers on word (INT_MAX: all). Returns how many woke. */
static inline int respio__futex_wake(_Atomic uint32_t *word, int n)
{
	long rc =
	    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, NULL, NULL, 0);

	return rc < 0 ? -errno : (int)rc;
}

#endif

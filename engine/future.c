/* SPDX-License-Identifier: MIT */
/* Futures: the pool they are recycled through, completion, and the public wait API. */

/*
 * Ownership and lifetime
 * ----------------------
 * A future is allocated once (lazily, one at a time, never more than the
 * pool's capacity) and then lives on the pool's free stack or in someone's
 * hands until the pool is closed. respio__future_acquire() hands it out with
 * refs == 2: one reference for the caller, one for the engine. The caller
 * drops its own with respio_future_release() (any thread, before or after
 * completion); the engine drops its own at the very end of
 * respio__future_complete(), after the callback. Whoever takes refs to 0
 * recycles it: the reply arena is freed, a request buffer above 64 KiB is
 * freed (smaller ones stay for reuse, so a pool never retains more than
 * capacity * 64 KiB of request buffers), and the future is pushed on the
 * free stack. Because the engine's reference is dropped last, a completer
 * may touch the future (futex wake, callback) and its pool (wait_any wake)
 * after publishing DONE.
 *
 * The free stack
 * --------------
 * A Treiber stack of 32-bit indices, not pointers, so that the head word can
 * carry an ABA tag: head = tag << 32 | flag | index. Every push and pop
 * increments the tag, so a popper that read (A, next B) and was preempted
 * while A was popped and pushed again fails its CAS instead of installing a
 * stale B. pool->slots maps an index to its future; a slot is written once,
 * before its index can ever be pushed. A free future's free_next is an
 * atomic because a stalled popper may read it while its new owner pushes it
 * again; the tag makes such a read harmless.
 *
 * Why not a ck_ring of free pointers: ck's MPMC enqueue reserves a slot and
 * then waits for earlier producers to publish, so one releaser preempted in
 * that window stalls every other releaser; a Treiber push is lock-free. The
 * stack is LIFO, so the future reused next is the one just released, still
 * hot in cache; and it is plain C11 atomics, which ThreadSanitizer sees.
 *
 * Exhaustion: an acquirer that finds the stack empty and the pool at
 * capacity sets RESPIO__HEAD_WAITERS in the head (only while the index is
 * NIL) and sleeps on the low 32 bits of the head with FUTEX_WAIT, expecting
 * NIL | WAITERS. A push always clears the flag; the pusher whose CAS
 * replaced a flagged head issues FUTEX_WAKE. Since flag and index share the
 * futex word, no push can slip between the acquirer's check and its sleep,
 * and the releaser learns whether to wake from the CAS it does anyway: a
 * release costs one CAS on the head, nothing else. After a successful push
 * the releaser touches no pool memory (the pool may be closed and freed the
 * moment the push lands); the FUTEX_WAKE only passes the address to the
 * kernel, which does not access the memory of a private futex on wake.
 *
 * Close: respio__future_pool_close() swaps RESPIO__HEAD_CLOSED into the head,
 * which detaches the whole stack at once; it frees the detached futures. A
 * push that finds CLOSED frees the future instead. pool->live counts the
 * futures not yet freed plus one for "not closed yet"; whoever takes it to 0
 * frees the pool. So callers keep reading the futures they hold after
 * close, and the pool goes with the last of them. Acquire must not run
 * concurrently with or after close (the client is gone by then); release
 * and complete may.
 *
 * Completion and waiting: future.h (the state word's protocol), the
 * completer's half below, the waiter's in future_wait.c.
 */

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "bigbuf.h"
#include "future.h"
#include "reply_internal.h"

/* Everything a request writes fits its future's first cache line. */
_Static_assert(offsetof(struct respio_future, pool) == RESPIO__CACHELINE,
	       "the per-request fields outgrew the first cache line");

#define RESPIO__HEAD_INDEX   0x3fffffffu
#define RESPIO__HEAD_NIL     0x3fffffffu /* empty stack */
#define RESPIO__HEAD_CLOSED  0x3ffffffeu /* pool closed: pushes free instead */
#define RESPIO__HEAD_WAITERS 0x80000000u /* an acquirer sleeps on the head */
/* Indices run from 0 to capacity - 1 and must never read as NIL or CLOSED. */
#define RESPIO__POOL_MAX RESPIO__HEAD_CLOSED
_Static_assert(RESPIO__POOL_MAX - 1 < RESPIO__HEAD_CLOSED && RESPIO__HEAD_CLOSED < RESPIO__HEAD_NIL,
	       "a future's index collides with a marker of the free stack's head");

/* Request buffers up to this size are kept when a future is recycled. */
#define RESPIO__REQ_KEEP_MAX (64u << 10)

static inline uint64_t head_make(uint64_t old, uint32_t low)
{
	return (((old >> 32) + 1) << 32) | low;
}

/* The half of the head that holds index and flag: the acquirers' futex. */
static inline _Atomic uint32_t *head_futex(struct respio__future_pool *pool)
{
	_Atomic uint32_t *w = (_Atomic uint32_t *)(void *)&pool->head;

#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w++;
#endif
	return w;
}

/* --- the free stack ------------------------------------------------------ */

static respio_future *stack_pop(struct respio__future_pool *pool)
{
	/* Acquire pairs with the release CAS in stack_push() (and, through the
	 * release sequence, with every push whose future is still below): the
	 * slot, free_next and everything the releaser wrote before pushing
	 * happen-before our use of the future. */
	uint64_t h = respio__load_acquire_u64(&pool->head);
	respio_future *f;
	uint32_t idx, next;

	for (;;) {
		idx = (uint32_t)h & RESPIO__HEAD_INDEX;
		if (idx == RESPIO__HEAD_NIL || idx == RESPIO__HEAD_CLOSED)
			return NULL;
		/* Relaxed: ordered by the acquire load of head above. */
		f = respio__load_relaxed_ptr(&pool->slots[idx]);
		/* May be stale if f was popped meanwhile; the tag in h then makes
		 * the CAS fail. */
		next = respio__load_relaxed_u32(&f->free_next);
		/* Acquire on success for the same reason as the first load; the
		 * failure path reloads h with acquire. */
		if (respio__cas_acquire_u64(&pool->head, &h, head_make(h, next)))
			return f;
	}
}

/* Push f; false when the pool is closed (f is then not on the stack). */
static bool stack_push(struct respio__future_pool *pool, respio_future *f)
{
	uint64_t h = respio__load_relaxed_u64(&pool->head);
	uint32_t low;

	for (;;) {
		low = (uint32_t)h;
		if ((low & RESPIO__HEAD_INDEX) == RESPIO__HEAD_CLOSED)
			return false;
		respio__store_relaxed_u32(&f->free_next, low & RESPIO__HEAD_INDEX);
		/* Release: our reset of f and the free_next store above happen-
		 * before the popper's acquire. The new head drops the WAITERS
		 * flag: we take over the duty to wake. */
		if (respio__cas_acq_rel_u64(&pool->head, &h, head_make(h, f->pool_index)))
			break;
	}
	/* The pool may be freed from here on (close + last release): only
	 * the address goes to the kernel, nothing is read from it. */
	if (low & RESPIO__HEAD_WAITERS)
		respio__futex_wake(head_futex(pool), INT_MAX);
	return true;
}

/* --- allocation and lifetime ------------------------------------------------ */

static void pool_free(struct respio__future_pool *pool)
{
	free(pool->slots);
	free(pool);
}

/* Drop n from live; the last one frees the pool. */
static void pool_put(struct respio__future_pool *pool, uint32_t n)
{
	/* Release: our last touch of the pool and its futures happens-before
	 * the final decrement; acquire on the final one pairs with every
	 * earlier decrement, so pool_free() runs after all of them. */
	if (respio__fetch_sub_acq_rel_u32(&pool->live, n) == n)
		pool_free(pool);
}

static void future_free(respio_future *f)
{
	respio__bigbuf_free(f->req_heap, f->req_heap_cap);
	free(f->reply_heap);
	free(f);
}

/* Allocate a new future if the pool is below capacity: 0, -EAGAIN when at
 * capacity, -ENOMEM. Allocating first and reserving after means a failed
 * malloc reserves nothing. */
static int pool_grow(struct respio__future_pool *pool, respio_future **out)
{
	uint32_t n = respio__load_relaxed_u32(&pool->nalloc);
	respio_future *f;

	if (n >= pool->capacity)
		return -EAGAIN;
	f = aligned_alloc(alignof(respio_future), sizeof(*f));
	if (!f)
		return -ENOMEM;
	/* Relaxed: nalloc only hands out distinct indices; the slot and the
	 * future are published by the release paths that hand f on. */
	do {
		if (n >= pool->capacity) {
			free(f);
			return -EAGAIN;
		}
	} while (!respio__cas_relaxed_u32(&pool->nalloc, &n, n + 1));

	memset(f, 0, sizeof(*f));
	f->pool = pool;
	f->pool_index = n;
	/* Relaxed: the matching decrement comes after this in happens-before
	 * order (f has to reach its freer first), hence later in live's
	 * modification order. Close does not run concurrently with acquire. */
	respio__fetch_add_relaxed_u32(&pool->live, 1);
	/* Release pairs with nothing directly: poppers reach the slot only
	 * through a push of n, which is ordered after this store. */
	respio__store_release_ptr(&pool->slots[n], f);
	*out = f;
	return 0;
}

/* The last reference is gone: clean f and make it free again. */
static void future_recycle(respio_future *f)
{
	struct respio__future_pool *pool = f->pool;

	/* The second cache line is only written when something there is set,
	 * so small requests leave it shared between the caller and shard. */
	if (f->reply_heap) {
		free(f->reply_heap);
		f->reply_heap = NULL;
	}
	f->reply = NULL;
	if (f->req_heap_cap > RESPIO__REQ_KEEP_MAX) {
		respio__bigbuf_free(f->req_heap, f->req_heap_cap);
		f->req_heap = NULL;
		f->req_heap_cap = 0;
	}
	f->req = NULL;
	f->req_len = 0;
	if (f->cb) {
		f->cb = NULL;
		f->cb_arg = NULL;
	}
	if (f->kind) {
		f->kind = RESPIO__REQ_PLAIN;
		f->skip_replies = 0;
		f->unit_error = false;
	}
	if (!stack_push(pool, f)) {
		/* Closed: f still counts in live, so the pool is alive until
		 * our pool_put. */
		future_free(f);
		pool_put(pool, 1);
	}
}

static void future_put(respio_future *f)
{
	/* Release: everything this holder did with f happens-before the last
	 * holder's recycle; acquire on the last decrement pairs with it. */
	if (respio__fetch_sub_acq_rel_u32(&f->refs, 1) == 1)
		future_recycle(f);
}

int respio__future_pool_create(uint32_t capacity, struct respio__future_pool **out)
{
	struct respio__future_pool *pool;

	if (!out)
		return RESPIO_E_INVAL;
	*out = NULL;
	if (capacity == 0 || capacity > RESPIO__POOL_MAX)
		return RESPIO_E_INVAL;
	pool = aligned_alloc(RESPIO__CACHELINE, sizeof(*pool));
	if (!pool)
		return -ENOMEM;
	memset(pool, 0, sizeof(*pool));
	pool->slots = calloc(capacity, sizeof(*pool->slots));
	if (!pool->slots) {
		free(pool);
		return -ENOMEM;
	}
	pool->capacity = capacity;
	pool->spin_ns = respio__cpu_count() > RESPIO__SPIN_MIN_CPUS ? RESPIO__SPIN_NS : 0;
	/* Relaxed: the pool is published to other threads by the caller. */
	respio__store_relaxed_u64(&pool->head, RESPIO__HEAD_NIL);
	respio__store_relaxed_u32(&pool->live, 1);
	*out = pool;
	return 0;
}

void respio__future_pool_close(struct respio__future_pool *pool)
{
	uint64_t h;
	uint32_t idx, n = 0;
	respio_future *f;

	if (!pool)
		return;
	/* Acquire pairs with the release CAS of every push, so the detached
	 * futures are fully written by their releasers; from here on pushes
	 * see CLOSED and free their future themselves. */
	h = respio__exchange_acq_rel_u64(&pool->head, RESPIO__HEAD_CLOSED);
	idx = (uint32_t)h & RESPIO__HEAD_INDEX;
	while (idx != RESPIO__HEAD_NIL && idx != RESPIO__HEAD_CLOSED) {
		f = respio__load_relaxed_ptr(&pool->slots[idx]);
		idx = respio__load_relaxed_u32(&f->free_next);
		future_free(f);
		n++;
	}
	pool_put(pool, n + 1);
}

/* --- acquire ------------------------------------------------------------- */

static int acquire_slow(struct respio__future_pool *pool, int64_t deadline_ns, respio_future **out)
{
	const uint32_t sleeping = RESPIO__HEAD_NIL | RESPIO__HEAD_WAITERS;
	uint64_t h;
	int rc;

	for (;;) {
		if (respio__load_relaxed_u32(&pool->aborting))
			return RESPIO_E_SHUTDOWN;
		rc = pool_grow(pool, out);
		if (rc != -EAGAIN)
			return rc;

		/* At capacity: flag the empty head so the next push wakes us.
		 * The flag goes in only while the index is NIL; a push in
		 * between makes the CAS fail and we pop instead. */
		h = respio__load_acquire_u64(&pool->head);
		if (((uint32_t)h & RESPIO__HEAD_INDEX) == RESPIO__HEAD_CLOSED)
			return RESPIO_E_SHUTDOWN; /* misuse: acquire after close */
		while ((uint32_t)h == RESPIO__HEAD_NIL) {
			/* Acq_rel for symmetry with stack_push; the flag itself
			 * publishes no data. */
			if (respio__cas_acq_rel_u64(&pool->head, &h, h | RESPIO__HEAD_WAITERS))
				h |= RESPIO__HEAD_WAITERS;
		}
		if ((uint32_t)h == sleeping) {
			if (respio__deadline_passed(deadline_ns))
				return RESPIO_E_BACKPRESSURE;
			/* Sleeps only while the head is still empty and flagged:
			 * any push changes the word (and clears the flag). */
			respio__futex_wait(head_futex(pool), sleeping, deadline_ns);
		}
		*out = stack_pop(pool);
		if (*out)
			return 0;
		if (respio__deadline_passed(deadline_ns))
			return RESPIO_E_BACKPRESSURE;
	}
}

void respio__future_pool_abort_waits(struct respio__future_pool *pool)
{
	respio__store_relaxed_u32(&pool->aborting, 1);
	/* An acquirer that checked the flag just before may fall asleep after
	 * this wake: the caller repeats it until no acquirer is left. */
	respio__futex_wake(head_futex(pool), INT_MAX);
}

int respio__future_acquire(struct respio__future_pool *pool, int64_t deadline_ns,
			   respio_future **out)
{
	respio_future *f;
	int rc;

	if (!out)
		return RESPIO_E_INVAL;
	*out = NULL;
	if (!pool)
		return RESPIO_E_INVAL;
	f = stack_pop(pool);
	if (!f) {
		rc = acquire_slow(pool, deadline_ns, &f);
		if (rc)
			return rc;
	}
	/* Relaxed: f is ours alone until the caller publishes it (ring
	 * enqueue, a release operation). */
	respio__store_relaxed_u32(&f->state, RESPIO__FUT_PENDING);
	respio__store_relaxed_u32(&f->refs, 2);
	f->status = 0;
	f->fate = 0;
	f->reply = NULL;
	f->deadline_ns = deadline_ns;
	f->fifo.next = NULL;
	f->link_index = 0;
	f->expired = false;
	f->stream_end = 0;
	*out = f;
	return 0;
}

void respio__future_discard(respio_future *f)
{
	if (!f)
		return;
	/* Never published: no other thread can hold a reference. */
	respio__store_relaxed_u32(&f->refs, 0);
	future_recycle(f);
}

/* --- request and reply memory ---------------------------------------------- */

int respio__future_encode_inline(respio_future *f, int argc, const char *const *argv,
				 const size_t *argvlen, size_t *need)
{
	int rc;

	if (!f)
		return RESPIO_E_INVAL;
	rc = respio_encode_argv((char *)f->inline_buf, sizeof(f->inline_buf), argc, argv, argvlen,
				need);
	if (rc == 0) {
		f->req = (char *)f->inline_buf;
		f->req_len = (uint32_t)*need;
	}
	return rc;
}

/* Make f's request buffer hold need bytes. 0 or -ENOMEM. */
static int reserve_req_heap(respio_future *f, size_t need)
{
	size_t cap;
	char *buf;

	if (need > f->req_heap_cap) {
		/* Kept buffers are powers of two, so they fit the next command
		 * of about the same size; larger ones are exact and dropped on
		 * recycle anyway. */
		cap = need;
		if (cap <= RESPIO__REQ_KEEP_MAX) {
			cap = 2 * RESPIO__INLINE;
			while (cap < need)
				cap *= 2;
		}
		buf = respio__bigbuf_alloc(cap);
		if (!buf)
			return -ENOMEM;
		respio__bigbuf_free(f->req_heap, f->req_heap_cap);
		f->req_heap = buf;
		f->req_heap_cap = (uint32_t)cap;
	}
	return 0;
}

/* cmds[0..n) one after another into buf: their total size in *need, and
 * RESPIO_E_NOBUFS with buf untouched when it is short (or NULL). */
static int encode_unit(char *buf, size_t cap, int n, const respio_argv *cmds, size_t *need)
{
	size_t total = 0, len;
	int rc;

	for (int i = 0; i < n; i++) {
		rc = respio_encode_argv(NULL, 0, cmds[i].argc, cmds[i].argv, cmds[i].argvlen, &len);
		if (rc != RESPIO_E_NOBUFS)
			return rc < 0 ? rc : RESPIO_E_INVAL;
		if (len > SIZE_MAX - total)
			return RESPIO_E_LIMIT;
		total += len;
	}
	*need = total;
	if (!buf || cap < total)
		return RESPIO_E_NOBUFS;
	for (int i = 0; i < n; i++) {
		rc =
		    respio_encode_argv(buf, cap, cmds[i].argc, cmds[i].argv, cmds[i].argvlen, &len);
		if (rc < 0)
			return rc;
		buf += len;
		cap -= len;
	}
	return 0;
}

int respio__future_encode_unit_inline(respio_future *f, int n, const respio_argv *cmds,
				      size_t *need)
{
	int rc = encode_unit((char *)f->inline_buf, sizeof(f->inline_buf), n, cmds, need);

	if (rc == 0) {
		f->req = (char *)f->inline_buf;
		f->req_len = (uint32_t)*need;
	}
	return rc;
}

int respio__future_encode_unit_heap(respio_future *f, int n, const respio_argv *cmds, size_t need)
{
	int rc;

	if (need > UINT32_MAX)
		return RESPIO_E_LIMIT;
	rc = reserve_req_heap(f, need);
	if (rc < 0)
		return rc;
	rc = encode_unit(f->req_heap, f->req_heap_cap, n, cmds, &need);
	if (rc)
		return rc;
	f->req = f->req_heap;
	f->req_len = (uint32_t)need;
	return 0;
}

int respio__future_encode_heap(respio_future *f, int argc, const char *const *argv,
			       const size_t *argvlen, size_t need)
{
	return respio__future_encode_unit_heap(f, 1, &(respio_argv){argc, argv, argvlen}, need);
}

int respio__future_set_request(respio_future *f, int argc, const char *const *argv,
			       const size_t *argvlen)
{
	size_t need;
	int rc = respio__future_encode_inline(f, argc, argv, argvlen, &need);

	if (rc == RESPIO_E_NOBUFS)
		rc = respio__future_encode_heap(f, argc, argv, argvlen, need);
	return rc;
}

void respio__future_drop_request(respio_future *f)
{
	if (f->req_heap_cap > RESPIO__REQ_KEEP_MAX) {
		respio__bigbuf_free(f->req_heap, f->req_heap_cap);
		f->req_heap = NULL;
		f->req_heap_cap = 0;
	}
	f->req = NULL;
}

void *respio__future_reply_mem(respio_future *f, size_t size)
{
	unsigned char *mem;

	/* Every reply is preceded by a pointer back to its future, so a reply
	 * handed out by the synchronous path can release the future when it
	 * is freed (respio__future_adopt_reply). */
	if (size <= sizeof(f->inline_buf) - RESPIO__REPLY_HDR) {
		mem = f->inline_buf;
	} else {
		if (f->reply_heap) {
			free(f->reply_heap);
			f->reply_heap = NULL;
		}
		if (size > SIZE_MAX - 15 - RESPIO__REPLY_HDR)
			return NULL;
		/* aligned_alloc wants a multiple of the alignment. */
		f->reply_heap = aligned_alloc(16, (size + RESPIO__REPLY_HDR + 15) & ~(size_t)15);
		if (!f->reply_heap)
			return NULL;
		mem = f->reply_heap;
	}
	*(respio_future **)(void *)mem = f;
	return mem + RESPIO__REPLY_HDR;
}

respio_reply *respio__future_adopt_reply(respio_future *f)
{
	struct respio_reply *r = (struct respio_reply *)f->reply;

	if (!r) {
		respio_future_release(f);
		return NULL;
	}
	r->flags |= RESPIO__REPLY_ADOPTED;
	return r;
}

void respio__future_release_adopted(respio_reply *r)
{
	respio_future *f = *(respio_future **)(void *)((unsigned char *)r - RESPIO__REPLY_HDR);

	respio_future_release(f);
}

/* --- completion ---------------------------------------------------------- */

void respio__wakes_flush(struct respio__wakes *w)
{
	uint32_t i = 0;

	if (w->wake_batch && w->n) {
		i = w->wake_batch(w->wake_ctx, w->words, w->n);
		w->calls += i > 0;
	}
	w->calls += w->n - i;
	for (; i < w->n; i++)
		respio__futex_wake(w->words[i], INT_MAX);
	w->woken += w->n;
	w->n = 0;
}

void respio__future_publish(respio_future *f, int status, int fate, struct respio__wakes *w)
{
	struct respio__future_pool *pool = f->pool;
	uint32_t old;

	f->status = status;
	f->fate = (uint8_t)fate;
	/* Release: status, fate, reply and the reply's bytes happen-before
	 * whatever reader sees DONE with an acquire load (wait, ready,
	 * status...). Acquire: pairs with the release CAS a waiter used to
	 * set WAITERS / ANY_WAITERS, so the any_waiters increment it made
	 * before is visible below. */
	old = respio__exchange_acq_rel_u32(&f->state, RESPIO__FUT_DONE);

	if ((old & RESPIO__FUT_WAITERS) && !w) {
		respio__futex_wake(&f->state, INT_MAX);
	} else if (old & RESPIO__FUT_WAITERS) {
		/* Held for the caller's flush; a full batch goes now. */
		if (w->n == RESPIO__WAKE_BATCH)
			respio__wakes_flush(w);
		w->words[w->n++] = &f->state;
	}

	/* The engine's reference (dropped by our caller afterwards) keeps f
	 * and its pool alive through the callback, even if the callback
	 * releases the caller's reference. */
	if (f->cb)
		f->cb(f, f->cb_arg);

	/* Relaxed load: ordered by the exchange's acquire (see above). A stale
	 * flag left by a wait_any that already returned finds 0 here and
	 * costs no syscall. */
	if ((old & RESPIO__FUT_ANY_WAITERS) && respio__load_relaxed_u32(&pool->any_waiters)) {
		/* The waiter read any_seq before its CAS on f->state, which
		 * happens-before this increment, so its futex_wait sees the
		 * new value or gets the wake: no lost wakeup. */
		respio__fetch_add_relaxed_u32(&pool->any_seq, 1);
		respio__futex_wake(&pool->any_seq, INT_MAX);
	}
}

void respio__future_unref(respio_future *f)
{
	future_put(f);
}

void respio__future_complete(respio_future *f, int status, int fate, struct respio__wakes *w)
{
	respio__future_publish(f, status, fate, w);
	future_put(f);
}

/* --- release (the caller's; waiting is in future_wait.c) ---------------- */

void respio_future_release(respio_future *f)
{
	if (f)
		future_put(f);
}

/* SPDX-License-Identifier: MIT */
/* Futures: the object a request travels in and its result comes back in. */
#ifndef RESPIO_FUTURE_H
#define RESPIO_FUTURE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "atomic.h"
#include "internal.h"
#include "queue.h"

/* Small commands are encoded into the future itself, and small replies are
 * built into the same bytes once the command is on the wire (a request the
 * kernel has taken is never resent), so steady state needs no allocation
 * per request and a round trip touches few cache lines. */
#define RESPIO__INLINE 384

/*
 * Completion and waiting
 * ----------------------
 * f->state goes PENDING -> DONE exactly once, by one exchange (the
 * completer: respio__future_publish, future.c). Waiters OR flags into it
 * with a CAS (never once it is DONE, so DONE stays exactly DONE; the
 * waiters are in future_wait.c): WAITERS when respio_future_wait() sleeps
 * on the state word, ANY_WAITERS when respio_future_wait_any() sleeps on
 * the pool's any_seq word. The completer learns from the value its exchange
 * returns whether anyone needs waking: a completion nobody waits on is one
 * exchange. Each load, CAS and exchange on the word says what it pairs
 * with where it is.
 */
enum {
	RESPIO__FUT_PENDING = 0,
	RESPIO__FUT_WAITERS = 1,
	RESPIO__FUT_DONE = 2,
	RESPIO__FUT_ANY_WAITERS = 4,
};

struct respio__future_pool;

/* link_index of a request the shard must look at more closely (its kind). */
#define RESPIO__LINK_SPECIAL 0xffffu

/* What a request is, when it is not one plain command (link_index is then
 * RESPIO__LINK_SPECIAL and the link is target_link). Rare: transactions,
 * sessions' ends, automatic leases and the pool's own requests. */
enum respio__request_kind {
	RESPIO__REQ_PLAIN = 0,
	RESPIO__REQ_UNIT,   /* several commands; skip_replies replies come before its own */
	RESPIO__REQ_LEASED, /* a blocking command on an automatic lease: the lease ends with it */
	RESPIO__REQ_END,   /* a session's reset unit: closes instead when anything is outstanding */
	RESPIO__REQ_CLOSE, /* no bytes: close the link's connection */
};

/*
 * The layout follows who writes what. A request's round trip moves its
 * future between the caller's core and the shard's twice, so what every
 * request writes sits in the first cache line, the inline bytes start on
 * their own line, and the second line holds what small requests only read
 * (written when a callback, a large command or a large reply comes along).
 * Measured: the future's cache misses were most of the engine's CPU per
 * request at 8 threads x 64 in flight.
 */
struct respio_future {
	/* ---- line 0: written by every request ---- */
	/* The link in its connection's FIFO, first so that a node is its
	 * future: next is the same pointer typed as a future, for code that
	 * chains futures without the queue (the tests' own queues). */
	union {
		struct respio__queue_node fifo;
		struct respio_future *next;
	};
	_Atomic uint32_t state;
	/* One reference for the caller, one for the engine; the last one to
	 * drop returns the future to its pool. */
	_Atomic uint32_t refs;
	/* Written by the completer before state becomes DONE (release), read
	 * by others after they observe DONE (acquire). */
	int status;
	uint32_t req_len;
	/* Pool-private: while the future sits on the free stack, the index of
	 * the next free one. */
	_Atomic uint32_t free_next;
	/* The link (connection) within the shard (taken modulo its count),
	 * set by the submitter before the hand-off; from here on the fields
	 * are the shard's alone until the future completes. */
	uint16_t link_index;
	uint8_t fate;
	bool expired; /* completed early (deadline); reply still due */
	const respio_reply *reply;
	char *req;	     /* the encoded command: inline or req_heap */
	uint64_t stream_end; /* end offset of this request in its connection's stream */
	int64_t deadline_ns; /* CLOCK_MONOTONIC */

	/* ---- line 1: read per request, written rarely ---- */
	alignas(RESPIO__CACHELINE) struct respio__future_pool *pool;
	respio_future_cb cb;
	void *cb_arg;
	void *reply_heap; /* arena when the reply did not fit inline */
	/* req_heap (capacity req_heap_cap) survives recycling when it is at
	 * most 64 KiB. */
	char *req_heap;
	uint32_t req_heap_cap;
	uint32_t pool_index; /* this future's index in the pool */
	/* Set only for a request that is not one plain command for its
	 * link_index (then RESPIO__LINK_SPECIAL): what it is, the link it is
	 * for, and for a unit the replies before the one that completes it. */
	uint32_t target_link;
	uint32_t skip_replies;
	uint8_t kind;	 /* enum respio__request_kind */
	bool unit_error; /* a reply skipped in a unit was an error */

	/* ---- the command, then the reply (after RESPIO__REPLY_HDR) ---- */
	alignas(RESPIO__CACHELINE) unsigned char inline_buf[RESPIO__INLINE];
};

/* How long waiters spin before they sleep: replies on loopback often come
 * back within a few microseconds, and a futex sleep + wake costs tens. Only
 * where there are cores to spare (more than RESPIO__SPIN_MIN_CPUS): on two
 * cores the spinning waiters took the CPU the shards and the server needed
 * (measured: 32 synchronous threads ran 1.8x faster without the spin). */
#define RESPIO__SPIN_NS	      4000
#define RESPIO__SPIN_MIN_CPUS 2

/* A pool of futures, one per client (the free stack: future.c). Its fields
 * are future.c's, except that future_wait.c reads spin_ns and the wait_any
 * words. */
struct respio__future_pool {
	/* The free stack: written by every acquire and release. */
	alignas(RESPIO__CACHELINE) _Atomic uint64_t head;

	/* Read-mostly in steady state. */
	alignas(RESPIO__CACHELINE) uint32_t capacity;
	int64_t spin_ns;	      /* RESPIO__SPIN_NS, or 0 without spare cores */
	_Atomic uint32_t nalloc;      /* futures ever allocated, <= capacity */
	_Atomic uint32_t live;	      /* futures not freed + 1 until close */
	_Atomic uint32_t any_waiters; /* wait_any calls asleep or about to be */
	_Atomic uint32_t aborting;    /* the client shuts down: acquirers give up */
	_Atomic(void *) *slots;	      /* index -> future, written once per index */

	/* Written only when a wait_any sleeps. */
	alignas(RESPIO__CACHELINE) _Atomic uint32_t any_seq;
};

_Static_assert(offsetof(struct respio_future, fifo) == 0, "a FIFO node is its future");

/* The future whose FIFO node n is (NULL for NULL: the node is the future's
 * first member). */
static inline respio_future *respio__future_of(struct respio__queue_node *n)
{
	return (respio_future *)(void *)n;
}

static inline int64_t respio__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A deadline (CLOCK_MONOTONIC, < 0: none) has passed. */
static inline bool respio__deadline_passed(int64_t deadline_ns)
{
	return deadline_ns >= 0 && respio__now_ns() >= deadline_ns;
}

/* CLOCK_MONOTONIC_COARSE: the same clock at kernel-tick resolution (about
 * 4 ms), several times cheaper to read. Deadlines from it may fire up to a
 * tick early against respio__now_ns. */
static inline int64_t respio__coarse_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A pool of at most capacity futures, shared by every thread of a client. */
int respio__future_pool_create(uint32_t capacity, struct respio__future_pool **out);

/* The client is going away: free the idle futures now; the pool itself goes
 * with the last future the caller still holds. Call once. */
void respio__future_pool_close(struct respio__future_pool *pool);

/* Make acquirers waiting on an exhausted pool, and every later one that
 * would wait, return RESPIO_E_SHUTDOWN. A waiter that was about to sleep
 * may miss the wake: call again until none is left. Any thread. */
void respio__future_pool_abort_waits(struct respio__future_pool *pool);

/* Take a fresh future (refs 2, PENDING, no reply, no callback; deadline_ns
 * stored in it). Waits while the pool is exhausted, up to deadline_ns (< 0:
 * no limit), then RESPIO_E_BACKPRESSURE; -ENOMEM when a lazy allocation
 * fails; RESPIO_E_SHUTDOWN once _abort_waits was called. Any thread, but not concurrently with or
 * after _pool_close. */
int respio__future_acquire(struct respio__future_pool *pool, int64_t deadline_ns,
			   respio_future **out);

/* Encode argv into f (inline, or one allocation for large commands): sets
 * f->req / f->req_len. 0, RESPIO_E_INVAL (bad argv), RESPIO_E_LIMIT (over
 * 4 GiB) or -ENOMEM. Thread that owns f before it is submitted. */
int respio__future_set_request(respio_future *f, int argc, const char *const *argv,
			       const size_t *argvlen);

/* The two halves of respio__future_set_request, for a caller that counts
 * large commands' bytes in between: _inline encodes into f's own space (0),
 * or says how much a command that does not fit needs (RESPIO_E_NOBUFS,
 * *need set); _heap then encodes it into a buffer of f's. */
int respio__future_encode_inline(respio_future *f, int argc, const char *const *argv,
				 const size_t *argvlen, size_t *need);
int respio__future_encode_heap(respio_future *f, int argc, const char *const *argv,
			       const size_t *argvlen, size_t need);

/* The same for a unit of several commands, one after another (a
 * transaction, a session's reset). */
int respio__future_encode_unit_inline(respio_future *f, int n, const respio_argv *cmds,
				      size_t *need);
int respio__future_encode_unit_heap(respio_future *f, int n, const respio_argv *cmds, size_t need);

/* The shard has copied f's command to its connection: a command buffer too
 * large to keep for reuse (over 64 KiB) is freed now, so its bytes are held
 * once, not twice, and f->req no longer points at them. Shard thread. */
void respio__future_drop_request(respio_future *f);

/* Memory for a reply of size bytes (from respio_parser_reply_size), 16-byte
 * aligned: the inline space, or a new allocation owned by f (freed when f
 * is recycled). NULL on -ENOMEM. The inline space is the command's: call
 * this only once f's command is no longer needed (handed to the kernel).
 * The completer then stores the built reply in f->reply before
 * respio__future_complete. Completer thread only. */
void *respio__future_reply_mem(respio_future *f, size_t size);

/* Bytes before each reply in reply memory: a pointer back to the future. */
#define RESPIO__REPLY_HDR 16

/* Hand f's reply to a caller who frees it with respio_reply_free, which then
 * releases f (the caller's reference moves into the reply). NULL, with f
 * released, when f has no reply. */
respio_reply *respio__future_adopt_reply(respio_future *f);

/*
 * Futex wakes a completer holds back until the end of its batch: a thread
 * waiting on the oldest of many futures then wakes once to find the whole
 * batch done, instead of once per future (each wake and sleep costs several
 * microseconds of CPU). Waking a future that was recycled meanwhile is
 * harmless: a private futex wake reads no memory, and a waiter of the new
 * request rechecks its state and sleeps again.
 */
#define RESPIO__WAKE_BATCH 64

struct respio__wakes {
	uint32_t n;
	/* Set by a completer that can wake many words at once (a shard, through
	 * its io_uring): wakes words[0..n) and returns how many it took; the
	 * rest get one futex call each. NULL: every word by futex call. */
	uint32_t (*wake_batch)(void *ctx, _Atomic uint32_t *const *words, uint32_t n);
	void *wake_ctx;
	uint64_t woken, calls; /* words woken so far, and the calls that did it */
	_Atomic uint32_t *words[RESPIO__WAKE_BATCH];
};

/* Wake everything held in w. */
void respio__wakes_flush(struct respio__wakes *w);

/* Publish the result and drop the engine's reference: status/fate/reply are
 * visible to whoever sees DONE; a sleeping waiter is woken, or its wake is
 * left in w (NULL: now) for the caller to flush before it sleeps; the
 * callback runs here, on the completing thread. Exactly once per future. */
void respio__future_complete(respio_future *f, int status, int fate, struct respio__wakes *w);

/* The two halves of respio__future_complete, for a shard that completes a
 * request early (its deadline passed) but must still read and drop the late
 * reply: _publish does everything but drop the engine's reference (f stays
 * the engine's, do not build a reply into it afterwards: the caller may be
 * reading it); _unref drops it later. Completer thread only. */
void respio__future_publish(respio_future *f, int status, int fate, struct respio__wakes *w);
void respio__future_unref(respio_future *f);

/* Give back a future that was acquired but never published to a shard
 * (e.g. the submit failed): drops both references without completing it
 * and without running its callback. Owner thread only. */
void respio__future_discard(respio_future *f);

#endif

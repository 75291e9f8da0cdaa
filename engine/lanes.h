/* SPDX-License-Identifier: MIT */
/* A shard's lanes: the submit side's enqueue with its backoff, the shard's
 * dequeue and drain, and the memory ordering between them. */
#ifndef RESPIO_LANES_H
#define RESPIO_LANES_H

#include <ck_ring.h>
#include <sched.h>
#include <stdalign.h>
#include <stdbool.h>
#include <time.h>

#include "atomic.h"
#include "future.h"

/*
 * A shard's request queue is several ck_rings ("lanes"); a thread always
 * uses the same lane (route.h). ck_ring's MPMC enqueue publishes in
 * reservation order, so a producer preempted between reserving and
 * publishing stalls every producer behind it; with many more threads than
 * cores that turns into a convoy that runs at one hand-off per scheduler
 * tick. Spreading threads over lanes keeps each ring at about one producer,
 * and a thread's order is kept because its lane (like its link) never
 * changes.
 *
 * A lane has any number of producers (ck_ring_enqueue_mpmc: a CAS reserves
 * a slot, the producer writes the slot, then publishes p_tail with a store
 * fence between) and one consumer ever, the shard that owns it (which also
 * drains it at shutdown, on its own thread).
 *
 * Invariants:
 *  - c_head is written by the consumer only; p_tail by producers only.
 *  - A slot between c_head and p_tail holds a published pointer; the
 *    consumer may read it, and no producer writes it until c_head moves
 *    past it.
 *  - What a producer wrote into the object it enqueues (a future: its
 *    command, deadline, link) happens before the consumer reads it: the
 *    producer's store fence before p_tail, the consumer's acquire on it.
 *
 * ck 0.7.1's _ck_ring_dequeue_sc reads the slot, then stores c_head with
 * only a store fence in between. That orders stores, not the load before
 * the store: on arm64 the store of c_head may become visible first, a
 * producer may then reuse the slot, and the consumer reads the newer
 * pointer (one request lost, another taken twice). x86 never reorders a
 * load with a later store, so the bug does not show there. The dequeue
 * below is the same operation with the orderings it needs:
 *  - acquire on p_tail: pairs with the producer's store fence before it
 *    publishes p_tail, so the slot's pointer is read after it was written;
 *  - release on c_head: our read of the slot happens before the store
 *    that hands the slot back; it pairs with the producer's load of
 *    c_head, on which its write of the slot depends (through the CAS that
 *    reserves the slot).
 * GCC's __atomic builtins act on ck's plain unsigned fields, and
 * ThreadSanitizer sees them (ck_pr's inline assembly, used by the enqueue,
 * it does not: respio__lane_enqueue and respio__lanes_take annotate the
 * hand-off for it, a release of the object before the enqueue paired with
 * an acquire after the dequeue).
 *
 * After an enqueue the producer wakes the shard if it is about to sleep;
 * that handshake (the sleeping flag) is the shard's, in shard.c.
 */
#define RESPIO__LANES 16

struct respio__lane {
	alignas(64) ck_ring_t ring;
	ck_ring_buffer_t *buf;
};

/* How a submitter waits for room the shards will make, in a lane or in the
 * byte budget: spin first, then yield, then sleep 50 us at a time. */
static inline void respio__lane_pause(uint32_t round)
{
	if (round < 64) {
		respio__cpu_relax();
	} else if (round < 128) {
		sched_yield();
	} else {
		struct timespec ts = {0, 50000};

		nanosleep(&ts, NULL);
	}
}

/*
 * Enqueue p for the shard (any thread). A full lane is backpressure: wake
 * the shard with wake(wake_arg) and wait (respio__lane_pause) for it to make
 * room, up to deadline (CLOCK_MONOTONIC_COARSE; at once when nowait), then
 * RESPIO_E_BACKPRESSURE; RESPIO_E_SHUTDOWN once *stop is set. 0 when p is
 * in: the caller then wakes the shard itself (respio__shard_wake). On an
 * error p was not enqueued and is still the caller's.
 */
static inline int respio__lane_enqueue(struct respio__lane *lane, void *p, int64_t deadline,
				       bool nowait, _Atomic uint32_t *stop, void (*wake)(void *),
				       void *wake_arg)
{
	/* For ThreadSanitizer: p's contents are published here; pairs with
	 * the acquire in respio__lanes_take. */
	respio__tsan_release(p);
	for (uint32_t round = 0; !ck_ring_enqueue_mpmc(&lane->ring, lane->buf, p); round++) {
		wake(wake_arg);
		if (respio__load_relaxed_u32(stop))
			return RESPIO_E_SHUTDOWN;
		if (nowait || respio__coarse_now_ns() >= deadline)
			return RESPIO_E_BACKPRESSURE;
		respio__lane_pause(round);
	}
	return 0;
}

/* Take the oldest pointer of a lane into *out: false when it is empty.
 * The lane's one consumer only (see above for the orderings). */
static inline bool respio__lane_dequeue(struct ck_ring *ring, struct ck_ring_buffer *buf,
					void **out)
{
	unsigned int consumer = ring->c_head; /* ours alone */
	unsigned int producer = __atomic_load_n(&ring->p_tail, __ATOMIC_ACQUIRE);

	if (consumer == producer)
		return false;
	*out = __atomic_load_n(&buf[consumer & ring->mask].value, __ATOMIC_RELAXED);
	__atomic_store_n(&ring->c_head, consumer + 1, __ATOMIC_RELEASE);
	return true;
}

/*
 * One drain of a shard's lanes: up to max pointers, lane after lane from
 * lane start, each lane until it is empty. The shard starts each drain one
 * lane further on, so no lane waits behind busier ones for good.
 */
struct respio__lanes_pass {
	struct respio__lane *lanes; /* RESPIO__LANES of them */
	uint32_t start, i, left;
};

static inline struct respio__lanes_pass respio__lanes_pass(struct respio__lane *lanes,
							   uint32_t start, uint32_t max)
{
	return (struct respio__lanes_pass){.lanes = lanes, .start = start, .left = max};
}

/* The next pointer of the pass into *out, or false when the pass is over.
 * The lanes' consumer only. */
static inline bool respio__lanes_take(struct respio__lanes_pass *ps, void **out)
{
	while (ps->left && ps->i < RESPIO__LANES) {
		struct respio__lane *lane = &ps->lanes[(ps->start + ps->i) % RESPIO__LANES];

		if (respio__lane_dequeue(&lane->ring, lane->buf, out)) {
			/* Pairs with the release in respio__lane_enqueue. */
			respio__tsan_acquire(*out);
			ps->left--;
			return true;
		}
		ps->i++;
	}
	return false;
}

/* Whether every lane is empty (a moment's view). Any thread. */
static inline bool respio__lanes_empty(struct respio__lane *lanes)
{
	for (uint32_t i = 0; i < RESPIO__LANES; i++)
		if (ck_ring_size(&lanes[i].ring) > 0)
			return false;
	return true;
}

/* Pointers waiting in the lanes (a moment's view). Any thread. */
static inline uint32_t respio__lanes_depth(struct respio__lane *lanes)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < RESPIO__LANES; i++)
		n += ck_ring_size(&lanes[i].ring);
	return n;
}

#endif

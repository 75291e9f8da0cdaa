/* SPDX-License-Identifier: MIT */
/* The shard's side of its lanes: a single-consumer dequeue with its memory
 * ordering spelled out for weakly ordered CPUs. */
#ifndef RESPIO_LANES_H
#define RESPIO_LANES_H

#include <ck_ring.h>
#include <stdbool.h>

/*
 * A lane is a ck_ring: any number of producers (ck_ring_enqueue_mpmc, which
 * writes the slot, then publishes p_tail with a store fence between), and
 * one consumer ever, the shard that owns it.
 *
 * Invariants:
 *  - c_head is written by the consumer only; p_tail by producers only.
 *  - A slot between c_head and p_tail holds a published pointer; the
 *    consumer may read it, and no producer writes it until c_head moves
 *    past it.
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
 * ThreadSanitizer sees them (ck_pr's inline assembly it does not).
 */
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

#endif

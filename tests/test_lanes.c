/* SPDX-License-Identifier: MIT */
/* The shard's lane dequeue against ck's multi-producer enqueue: order,
 * wrap-around, and every pointer taken exactly once under contention. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lanes.h"

#define CAP 8 /* small, so the tests wrap around many times */

struct lane {
	ck_ring_t ring;
	ck_ring_buffer_t buf[CAP];
};

static void lane_init(struct lane *l)
{
	memset(l, 0, sizeof(*l));
	ck_ring_init(&l->ring, CAP);
}

Test(lanes, fifo_and_wraparound)
{
	struct lane l;
	void *p;
	uintptr_t next_in = 1, next_out = 1;

	lane_init(&l);
	cr_assert_not(respio__lane_dequeue(&l.ring, l.buf, &p), "empty lane gave a pointer");
	/* ck keeps one slot free: CAP - 1 fit. Fill, drain part, refill, for
	 * many turns of the counters around the ring. */
	for (int turn = 0; turn < 1000; turn++) {
		while (ck_ring_enqueue_mpmc(&l.ring, l.buf, (void *)next_in))
			next_in++;
		cr_assert_eq(next_in - next_out, CAP - 1, "a lane holds CAP - 1");
		for (int i = 0; i < 1 + turn % (CAP - 1); i++) {
			cr_assert(respio__lane_dequeue(&l.ring, l.buf, &p));
			cr_assert_eq((uintptr_t)p, next_out, "got %zu, want %zu", (size_t)p,
				     (size_t)next_out);
			next_out++;
		}
	}
	while (respio__lane_dequeue(&l.ring, l.buf, &p))
		cr_assert_eq((uintptr_t)p, next_out++);
	cr_assert_eq(next_out, next_in);
	cr_assert_eq(ck_ring_size(&l.ring), 0);
}

#define PRODUCERS    4
#define PER_PRODUCER 200000

static struct lane shared;

static void *produce(void *arg)
{
	uintptr_t id = (uintptr_t)arg;

	for (uintptr_t seq = 1; seq <= PER_PRODUCER; seq++) {
		void *v = (void *)(id << 32 | seq);

		while (!ck_ring_enqueue_mpmc(&shared.ring, shared.buf, v))
			sched_yield();
	}
	return NULL;
}

/* Each producer's pointers arrive in its order, none lost, none twice. */
Test(lanes, many_producers_one_consumer, .timeout = 120)
{
	pthread_t th[PRODUCERS];
	uintptr_t last[PRODUCERS] = {0};
	long taken = 0;

	lane_init(&shared);
	for (uintptr_t i = 0; i < PRODUCERS; i++)
		pthread_create(&th[i], NULL, produce, (void *)i);
	while (taken < (long)PRODUCERS * PER_PRODUCER) {
		void *p;
		uintptr_t v, id, seq;

		if (!respio__lane_dequeue(&shared.ring, shared.buf, &p)) {
			sched_yield();
			continue;
		}
		v = (uintptr_t)p;
		id = v >> 32;
		seq = v & 0xffffffffu;
		cr_assert_lt(id, PRODUCERS, "a pointer nobody enqueued: %zx", (size_t)v);
		cr_assert_eq(seq, last[id] + 1, "producer %zu: got %zu after %zu", (size_t)id,
			     (size_t)seq, (size_t)last[id]);
		last[id] = seq;
		taken++;
	}
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(ck_ring_size(&shared.ring), 0);
}

/* SPDX-License-Identifier: MIT */
/* Routing alone: a thread's route never changes, threads spread over shards,
 * lanes and links before any two share, and thread numbers are unique. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>

#include "route.h"

/* The same number, the same route: a thread's requests keep one path. */
Test(route, a_thread_keeps_its_route)
{
	for (uint32_t no = 0; no < 1000; no++) {
		struct respio__route a = respio__route_pick(no, 3, 16, 5);
		struct respio__route b = respio__route_pick(no, 3, 16, 5);

		cr_assert(a.shard == b.shard && a.lane == b.lane && a.link == b.link);
		cr_assert_lt(a.shard, 3);
		cr_assert_lt(a.lane, 16);
		cr_assert_lt(a.link, 5);
	}
}

/*
 * Threads are spread evenly: nshards consecutive threads take one shard
 * each, and the threads of one shard take its links (and lanes) in turn,
 * so no two share a link while a link of that shard is unused.
 */
Test(route, threads_spread_before_they_share)
{
	static const uint32_t shapes[][3] = {{1, 16, 1},  {2, 16, 4},  {4, 16, 2}, {3, 16, 7},
					     {8, 16, 32}, {1, 16, 64}, {5, 16, 3}};

	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		uint32_t nshards = shapes[s][0], nlanes = shapes[s][1], nlinks = shapes[s][2];
		uint32_t nthreads = nshards * nlinks * 3;
		uint32_t *per_link = calloc((size_t)nshards * nlinks, sizeof(*per_link));
		uint32_t *per_lane = calloc((size_t)nshards * nlanes, sizeof(*per_lane));

		cr_assert(per_link && per_lane);
		for (uint32_t no = 0; no < nthreads; no++) {
			struct respio__route r = respio__route_pick(no, nshards, nlanes, nlinks);

			cr_assert_eq(r.shard, no % nshards, "thread %u went to shard %u of %u", no,
				     r.shard, nshards);
			per_link[r.shard * nlinks + r.link]++;
			per_lane[r.shard * nlanes + r.lane]++;
			/* After every full round, each link holds the same count. */
			if ((no + 1) % (nshards * nlinks) == 0)
				for (uint32_t i = 0; i < nshards * nlinks; i++)
					cr_assert_eq(per_link[i], (no + 1) / (nshards * nlinks),
						     "%u shards x %u links: link %u holds %u "
						     "threads after %u",
						     nshards, nlinks, i, per_link[i], no + 1);
		}
		/* Lanes: as even as the thread count allows. */
		for (uint32_t i = 0; i < nshards * nlanes; i++) {
			uint32_t want = nthreads / nshards / nlanes;

			cr_assert(per_lane[i] == want || per_lane[i] == want + 1,
				  "%u shards: lane %u holds %u threads", nshards, i, per_lane[i]);
		}
		free(per_link);
		free(per_lane);
	}
}

#define THREADS 16

static void *take_number(void *arg)
{
	uint32_t *out = arg;

	out[0] = respio__route_thread_no();
	out[1] = respio__route_thread_no();
	return NULL;
}

/* Every thread gets a number of its own, the same on every call. */
Test(route, thread_numbers_are_unique_and_stable)
{
	pthread_t th[THREADS];
	uint32_t got[THREADS][2];
	uint32_t mine = respio__route_thread_no();

	cr_assert_eq(respio__route_thread_no(), mine);
	for (int i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, take_number, got[i]), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < THREADS; i++) {
		cr_assert_eq(got[i][0], got[i][1], "a thread's number changed");
		cr_assert_neq(got[i][0], mine);
		for (int j = 0; j < i; j++)
			cr_assert_neq(got[i][0], got[j][0], "threads %d and %d share number %u", i,
				      j, got[i][0]);
	}
}

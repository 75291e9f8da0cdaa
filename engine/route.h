/* SPDX-License-Identifier: MIT */
/* Where a request goes: thread -> shard -> lane -> link, a pure function of
 * the submitting thread's number. */
#ifndef RESPIO_ROUTE_H
#define RESPIO_ROUTE_H

#include <stdint.h>

/*
 * Each thread gets a number on its first submission, and its number alone
 * picks the shard, the lane within the shard and the link within the
 * shard. So a thread's requests always travel through one lane onto one
 * connection, which is what keeps them in submission order (a SET then a
 * GET from one thread, both in flight, sees the SET). Consecutive numbers
 * go to different shards first, then to different lanes and links within
 * a shard, so threads spread over everything before any two share.
 */
struct respio__route {
	uint32_t shard; /* below nshards */
	uint32_t lane;	/* below nlanes */
	uint32_t link;	/* below nlinks */
};

/* The route of thread number no through nshards shards of nlanes lanes
 * and nlinks links each (all at least 1). */
static inline struct respio__route respio__route_pick(uint32_t no, uint32_t nshards,
						      uint32_t nlanes, uint32_t nlinks)
{
	uint32_t within = no / nshards;

	return (struct respio__route){
	    .shard = no % nshards, .lane = within % nlanes, .link = within % nlinks};
}

/* The calling thread's number plus one, 0 before its first submission.
 * Hidden: the library's own, so reading it costs what a static does. */
extern __attribute__((visibility("hidden"))) _Thread_local uint32_t respio__route_thread_no1;

/* Number the calling thread (its first submission). */
uint32_t respio__route_number_thread(void);

/* The calling thread's number: 0, 1, 2... in order of first submission,
 * for the life of the process. Any thread. */
static inline uint32_t respio__route_thread_no(void)
{
	uint32_t n = respio__route_thread_no1;

	return n ? n - 1 : respio__route_number_thread();
}

#endif

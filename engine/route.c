/* SPDX-License-Identifier: MIT */
/* Routing: the numbers threads are routed by (route.h has the route). */
#include "route.h"

#include "atomic.h"

static _Atomic uint32_t respio__route_threads;
_Thread_local uint32_t respio__route_thread_no1;

uint32_t respio__route_number_thread(void)
{
	/* Relaxed: the number only has to be unique; nothing is published
	 * with it. */
	respio__route_thread_no1 = respio__fetch_add_relaxed_u32(&respio__route_threads, 1) + 1;
	return respio__route_thread_no1 - 1;
}

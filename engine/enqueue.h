/* SPDX-License-Identifier: MIT */
/* Putting a request on a shard's lane: the future, its command's bytes
 * (counted against max_inflight_bytes), its deadline, the lane, the wake.
 * Every way into the engine goes through here (submits, transactions,
 * sessions, automatic leases). */
#ifndef RESPIO_ENQUEUE_H
#define RESPIO_ENQUEUE_H

#include <stdint.h>

#include "client_internal.h"
#include "future.h"
#include "lanes.h"
#include "route.h"

/* Where a request goes and what it is. */
struct respio__dest {
	uint32_t shard, lane;
	uint32_t link;	       /* the link, within the shard */
	uint8_t kind;	       /* enum respio__request_kind; PLAIN: one command for link */
	uint32_t skip_replies; /* a unit's replies before its own */
};

/* The calling thread's shared link: its route (route.h) over the shards
 * and each shard's shared links. */
static inline struct respio__dest respio__dest_shared(const struct respio_client *c)
{
	uint32_t no = respio__route_thread_no();
	struct respio__route r =
	    respio__route_pick(no, c->nshards, RESPIO__LANES, c->shards[no % c->nshards].nshared);

	return (struct respio__dest){.shard = r.shard, .lane = r.lane, .link = r.link};
}

/* timeout_ms as respio_submit_opts reads it (0: the client's default,
 * < 0: none; huge: none) in nanoseconds, 0 meaning none. */
int64_t respio__timeout_ns(const struct respio_client *c, int64_t timeout_ms);

/* The deadline timeout_ns (> 0) from now, from the clock that suits it;
 * INT64_MAX for 0 (none). */
int64_t respio__deadline_after(const struct respio_client *c, int64_t timeout_ns);

/*
 * Queue cmds[0..n) (n > 1: one unit, its bytes contiguous) for d, with
 * deadline_ns (INT64_MAX: none) and opts' callback (opts may be NULL). The
 * caller is inside a submit guard (submit_guard.h). Waits for a future,
 * for byte budget and for lane space up to the deadline (not at all on a
 * shard thread). 0 with *out, or a negative code with nothing sent.
 */
int respio__enqueue(struct respio_client *c, const struct respio__dest *d, int64_t deadline_ns,
		    const respio_submit_opts *opts, int n, const respio_argv *cmds,
		    respio_future **out);

#endif

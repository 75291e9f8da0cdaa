/* SPDX-License-Identifier: MIT */
/* Where a shard's requests end: counted, completed with their wakes held for
 * the batch, and their counted bytes given back to the client's budget. */
#ifndef RESPIO_SINK_H
#define RESPIO_SINK_H

#include <errno.h>
#include <stdint.h>

#include "atomic.h"
#include "future.h"

struct respio__deadlines;

/* Counters a shard alone writes (relaxed) and anyone reads. */
struct respio__shard_counters {
	_Atomic uint64_t submitted, completed, failed, timed_out;
	_Atomic uint64_t reconnects, dial_failures, batches, batched, sleeps;
	_Atomic uint64_t health_checks, health_failures;
	_Atomic uint64_t waiter_wakes, wake_calls; /* copied from the shard's wakes */
	_Atomic uint64_t wakeups; /* the one counter submitters write (fetch_add) */
	_Atomic uint32_t inflight, conns_up, conns_busy;
};

/* Add to a counter of the calling shard. Single writer: a relaxed load and
 * store is enough and cheaper than a locked add; readers only want a
 * recent value. */
static inline void respio__counter_add(_Atomic uint64_t *c, uint64_t n)
{
	respio__store_relaxed_u64(c, respio__load_relaxed_u64(c) + n);
}

static inline void respio__gauge_add(_Atomic uint32_t *g, int32_t d)
{
	respio__store_relaxed_u32(g, (uint32_t)((int32_t)respio__load_relaxed_u32(g) + d));
}

/*
 * One per shard, shared by its links and whatever else completes its
 * requests: where completions are counted, where their futex wakes wait
 * for the end of the batch (respio__wakes), the deadline set every request
 * of the shard is in (one queue per link), and the client's count of large
 * commands' bytes (cfg.max_inflight_bytes), which the shard gives back as
 * the kernel takes them or they are dropped. The shard's thread only.
 */
struct respio__sink {
	struct respio__shard_counters *stats;
	struct respio__deadlines *deadlines;
	_Atomic uint64_t *budget;
	struct respio__wakes wakes;
	/* A reply said the server is no longer the master (-READONLY,
	 * -MASTERDOWN): the shard tells the control side after the batch. */
	bool suspect;
};

/* What a request counts against cfg.max_inflight_bytes: the bytes of a
 * command too large for the future's inline space. */
static inline uint32_t respio__counted_bytes(const respio_future *f)
{
	return f->req_len > RESPIO__INLINE ? f->req_len : 0;
}

/* Give counted bytes back to a budget: they were sent, or dropped unsent.
 * Any thread. */
static inline void respio__budget_release(_Atomic uint64_t *budget, uint64_t n)
{
	if (n)
		respio__fetch_sub_acq_rel_u64(budget, n);
}

/* A request came in from a lane: it is in flight until it is finished. */
static inline void respio__sink_accepted(struct respio__sink *s)
{
	respio__gauge_add(&s->stats->inflight, 1);
	respio__counter_add(&s->stats->submitted, 1);
}

/* Complete f for its caller and let go of it. */
static inline void respio__sink_finish(struct respio__sink *s, respio_future *f, int status,
				       int fate)
{
	if (status == -ETIMEDOUT)
		respio__counter_add(&s->stats->timed_out, 1);
	if (status == 0 || status == RESPIO_E_SERVER)
		respio__counter_add(&s->stats->completed, 1);
	else
		respio__counter_add(&s->stats->failed, 1);
	respio__gauge_add(&s->stats->inflight, -1);
	respio__future_complete(f, status, fate, &s->wakes);
}

/* Complete f for its caller, timed out, but keep the engine's reference:
 * its reply is still coming and must be read and dropped to keep the
 * stream aligned (respio__future_unref then lets go). */
static inline void respio__sink_finish_early(struct respio__sink *s, respio_future *f, int fate)
{
	respio__counter_add(&s->stats->timed_out, 1);
	respio__counter_add(&s->stats->failed, 1);
	respio__gauge_add(&s->stats->inflight, -1);
	respio__future_publish(f, -ETIMEDOUT, fate, &s->wakes);
}

/* Complete f, accepted but never put on a link: its counted bytes go back
 * as it goes. */
static inline void respio__sink_finish_unsent(struct respio__sink *s, respio_future *f, int err)
{
	respio__budget_release(s->budget, respio__counted_bytes(f));
	respio__sink_finish(s, f, err, RESPIO_FATE_NOT_SENT);
}

#endif

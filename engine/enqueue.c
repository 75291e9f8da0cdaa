/* SPDX-License-Identifier: MIT */
/* Putting a request on a shard's lane (enqueue.h). */
#include <errno.h>

#include "atomic.h"
#include "enqueue.h"
#include "lanes.h"
#include "shard.h"
#include "sink.h"

/* Longer timeouts mean none: their deadline could not be added to a clock
 * reading without overflow, and no request waits for decades. */
#define RESPIO__TIMEOUT_MAX_MS (INT64_MAX / 4 / 1000000)

static int64_t timeout_to_ns(int64_t timeout_ms)
{
	return timeout_ms > 0 && timeout_ms < RESPIO__TIMEOUT_MAX_MS ? timeout_ms * 1000000 : 0;
}

int64_t respio__timeout_ns(const struct respio_client *c, int64_t timeout_ms)
{
	return timeout_ms ? timeout_to_ns(timeout_ms) : c->timeout_ns;
}

/*
 * The coarse clock costs a fifth of the precise one but lags it by up to a
 * tick: a deadline taken from it gets one tick added, so it never fires
 * before timeout_ns has passed (at most a tick late). Below a few ticks
 * that lateness would be most of the timeout: those deadlines read the
 * precise clock.
 */
int64_t respio__deadline_after(const struct respio_client *c, int64_t timeout_ns)
{
	if (timeout_ns <= 0)
		return INT64_MAX;
	if (timeout_ns < c->precise_below_ns)
		return respio__now_ns() + timeout_ns;
	return respio__coarse_now_ns() + c->coarse_tick_ns + timeout_ns;
}

/*
 * Count need bytes of a large command against cfg.max_inflight_bytes,
 * waiting for the shards to send (or drop) others while the bound is
 * reached: RESPIO_E_BACKPRESSURE at the deadline (at once when nowait),
 * RESPIO_E_SHUTDOWN when the client stops. A command larger than the whole
 * bound goes through alone.
 */
static int reserve_bytes(struct respio_client *c, uint64_t need, int64_t deadline, bool nowait)
{
	uint64_t cur = respio__load_relaxed_u64(&c->heap_bytes);

	for (uint32_t round = 0;; round++) {
		if (cur == 0 || cur + need <= c->cfg.max_inflight_bytes) {
			if (respio__cas_acq_rel_u64(&c->heap_bytes, &cur, cur + need))
				return 0;
			continue;
		}
		if (respio__load_relaxed_u32(&c->shutting_down))
			return RESPIO_E_SHUTDOWN;
		if (nowait || respio__now_ns() >= deadline)
			return RESPIO_E_BACKPRESSURE;
		respio__lane_pause(round);
		cur = respio__load_relaxed_u64(&c->heap_bytes);
	}
}

/* Encode into f: inline, or, for a command that does not fit, into a
 * buffer of f's once its bytes are counted. A unit (n > 1) goes the same
 * way, its commands one after another. */
static int encode(struct respio_client *c, respio_future *f, int n, const respio_argv *cmds,
		  int64_t deadline, bool nowait)
{
	size_t need;
	int rc = n == 1
		     ? respio__future_encode_inline(f, cmds->argc, cmds->argv, cmds->argvlen, &need)
		     : respio__future_encode_unit_inline(f, n, cmds, &need);

	if (rc != RESPIO_E_NOBUFS)
		return rc;
	if (need > UINT32_MAX)
		return RESPIO_E_LIMIT;
	rc = reserve_bytes(c, need, deadline, nowait);
	if (rc < 0)
		return rc;
	rc = n == 1 ? respio__future_encode_heap(f, cmds->argc, cmds->argv, cmds->argvlen, need)
		    : respio__future_encode_unit_heap(f, n, cmds, need);
	if (rc < 0)
		respio__budget_release(&c->heap_bytes, need);
	return rc;
}

/* A future that never reached a shard: its counted bytes go back too. */
static void discard(struct respio_client *c, respio_future *f)
{
	respio__budget_release(&c->heap_bytes, respio__counted_bytes(f));
	respio__future_discard(f);
}

static void wake_shard(void *sh)
{
	respio__shard_wake(sh);
}

int respio__enqueue(struct respio_client *c, const struct respio__dest *d, int64_t deadline,
		    const respio_submit_opts *opts, int n, const respio_argv *cmds,
		    respio_future **out)
{
	struct respio__shard *sh = &c->shards[d->shard];
	respio_future *f;
	/* A callback on a shard thread never waits: the pool and the lanes it
	 * would wait for are emptied by the shards, maybe by this very thread. */
	bool nowait = respio__on_shard_thread;
	int64_t wait_until = nowait ? 0 : deadline;
	int rc;

	rc = respio__future_acquire(c->pool, wait_until, &f);
	if (rc < 0)
		return rc;
	rc = n > 0 ? encode(c, f, n, cmds, wait_until, nowait) : 0;
	if (rc < 0) {
		respio__future_discard(f);
		return rc;
	}
	f->deadline_ns = deadline;
	/* A fresh future has no callback (recycling clears it): leave its
	 * cache line unwritten unless there is one. */
	if (opts && opts->cb) {
		f->cb = opts->cb;
		f->cb_arg = opts->cb_arg;
	}
	if (d->kind == RESPIO__REQ_PLAIN) {
		/* Below 2^16 for any pool size in use. */
		f->link_index = (uint16_t)d->link;
	} else {
		f->link_index = RESPIO__LINK_SPECIAL;
		f->kind = d->kind;
		f->target_link = d->link;
		f->skip_replies = d->skip_replies;
	}

	/* A full lane is backpressure: wait for the shard, up to the deadline. */
	rc = respio__lane_enqueue(&sh->lanes[d->lane], f, deadline, nowait, &c->shutting_down,
				  wake_shard, sh);
	if (rc < 0) {
		discard(c, f);
		return rc;
	}
	respio__shard_wake(sh);
	*out = f;
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* The engine client: create and destroy shards and the control thread,
 * submit from any thread onto a shard's lane, and report stats. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atomic.h"
#include "client_internal.h"
#include "command_policy.h"
#include "control.h"
#include "dial.h"
#include "lanes.h"
#include "reply_internal.h"
#include "route.h"
#include "shard.h"
#include "sink.h"
#include "slice.h"
#include "submit_guard.h"

#define RESPIO__CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static int copy_strings(struct respio_client *c, const respio_config *cfg)
{
	const char *src[3] = {cfg->host, cfg->username, cfg->password};
	const char **dst[3] = {&c->cfg.host, &c->cfg.username, &c->cfg.password};
	size_t total = 0;
	char *p;

	for (int i = 0; i < 3; i++)
		total += src[i] ? strlen(src[i]) + 1 : 0;
	c->strings = p = malloc(total ? total : 1);
	if (!p)
		return -ENOMEM;
	for (int i = 0; i < 3; i++) {
		if (!src[i]) {
			*dst[i] = NULL;
			continue;
		}
		*dst[i] = strcpy(p, src[i]);
		p += strlen(src[i]) + 1;
	}
	return 0;
}

static int client_run(respio_target *t, int argc, const char *const *argv, const size_t *argvlen,
		      respio_reply **out);

/* Error details of the synchronous path are per thread: many threads share
 * one client target. */
static _Thread_local char respio__client_detail[256];

static void client_set_errdetail(respio_target *t, const char *msg)
{
	(void)t;
	snprintf(respio__client_detail, sizeof(respio__client_detail), "%s", msg);
}

const char *respio_client_errdetail(const respio_client *c)
{
	(void)c;
	return respio__client_detail;
}

static const struct respio_target_ops respio__client_ops = {
    .run = client_run,
    .set_errdetail = client_set_errdetail,
};

static void client_free(struct respio_client *c)
{
	for (uint32_t i = 0; i < c->nshards; i++)
		respio__shard_fini(&c->shards[i]);
	free(c->shards);
	if (c->pool)
		respio__future_pool_close(c->pool);
	pthread_mutex_destroy(&c->gate.lock);
	pthread_cond_destroy(&c->gate.cond);
	pthread_mutex_destroy(&c->shutdown_lock);
	free(c->strings);
	free(c);
}

/* Longer timeouts mean none: their deadline could not be added to a clock
 * reading without overflow, and no request waits for decades. */
#define RESPIO__TIMEOUT_MAX_MS (INT64_MAX / 4 / 1000000)

static int64_t timeout_to_ns(int64_t timeout_ms)
{
	return timeout_ms > 0 && timeout_ms < RESPIO__TIMEOUT_MAX_MS ? timeout_ms * 1000000 : 0;
}

/*
 * The coarse clock costs a fifth of the precise one but lags it by up to a
 * tick: a deadline taken from it gets one tick added, so it never fires
 * before timeout_ns has passed (at most a tick late). Below a few ticks
 * that lateness would be most of the timeout: those deadlines read the
 * precise clock.
 */
static int64_t deadline_after(const struct respio_client *c, int64_t timeout_ns)
{
	if (timeout_ns < c->precise_below_ns)
		return respio__now_ns() + timeout_ns;
	return respio__coarse_now_ns() + c->coarse_tick_ns + timeout_ns;
}

static int validate(const respio_config *cfg)
{
	if (!cfg || !cfg->host || cfg->port <= 0 || cfg->port > 65535 || cfg->shards < 0 ||
	    cfg->shards > 1024 || (cfg->protocol != 2 && cfg->protocol != 3) || cfg->db < 0 ||
	    cfg->pool.max_connections < 1 || cfg->pool.min_connections < 0 ||
	    cfg->pool.min_connections > cfg->pool.max_connections)
		return RESPIO_E_INVAL;
	return 0;
}

int respio_client_create(const respio_config *cfg, respio_client **out)
{
	struct respio_client *c;
	uint32_t nshards, per_shard;
	char detail[RESPIO__DETAIL_SIZE] = "";
	int rc, fd = -1;

	/* No client comes back on failure: the reason goes to the thread's
	 * error detail, respio_client_errdetail(NULL). */
	respio__client_detail[0] = '\0';
	if (!out)
		return RESPIO_E_INVAL;
	*out = NULL;
	rc = validate(cfg);
	if (rc < 0)
		return rc;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->target.ops = &respio__client_ops;
	c->cfg = *cfg;
	respio__limits_fill(&c->cfg.limits, &cfg->limits);
	if (!c->cfg.ring_capacity)
		c->cfg.ring_capacity = 1024;
	if (!c->cfg.max_inflight)
		c->cfg.max_inflight = 65536;
	if (!c->cfg.max_inflight_bytes)
		c->cfg.max_inflight_bytes = 256ull << 20;
	if (c->cfg.pool.connection_timeout_ms <= 0)
		c->cfg.pool.connection_timeout_ms = 5000;
	c->timeout_ns = timeout_to_ns(cfg->timeout_ms);
	{
		struct timespec res;

		c->coarse_tick_ns = clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0
					? (int64_t)res.tv_sec * 1000000000 + res.tv_nsec
					: 10000000;
		c->precise_below_ns = 4 * c->coarse_tick_ns;
	}
	pthread_mutex_init(&c->gate.lock, NULL);
	pthread_cond_init(&c->gate.cond, NULL);
	pthread_mutex_init(&c->shutdown_lock, NULL);

	nshards = cfg->shards ? (uint32_t)cfg->shards : (uint32_t)respio__cpu_count();
	if (nshards < 1)
		nshards = 1;
	/* max_connections bounds the sockets, and every shard needs one of
	 * its own: fewer connections than shards means fewer shards. */
	if (nshards > (uint32_t)cfg->pool.max_connections)
		nshards = (uint32_t)cfg->pool.max_connections;
	/* The pool's minimum is spread over the shards, at least one each;
	 * min <= max and shards <= max keep the total within the maximum. */
	per_shard = (uint32_t)cfg->pool.min_connections / nshards;
	if (per_shard < 1)
		per_shard = 1;
	c->nshards = nshards;
	c->links_per_shard = per_shard;

	rc = copy_strings(c, cfg);
	if (rc == 0)
		rc = respio__future_pool_create(c->cfg.max_inflight, &c->pool);
	if (rc == 0) {
		c->shards = calloc(nshards, sizeof(*c->shards));
		if (!c->shards)
			rc = -ENOMEM;
	}
	for (uint32_t i = 0; rc == 0 && i < nshards; i++) {
		struct respio__shard_config sc = {.index = i,
						  .nlinks = per_shard,
						  .ring_capacity = c->cfg.ring_capacity,
						  .timeout_ns = c->timeout_ns,
						  .limits = &c->cfg.limits,
						  .budget = &c->heap_bytes,
						  .gate = &c->gate};

		rc = respio__shard_init(&c->shards[i], &sc);
	}
	/* Dial the first connection here, synchronously: a wrong address or
	 * password fails create with a clear error instead of every request
	 * failing later. */
	if (rc == 0)
		rc = respio__dial_now(&c->cfg, &fd, detail, sizeof(detail));
	if (rc < 0) {
		snprintf(respio__client_detail, sizeof(respio__client_detail), "%s",
			 detail[0] ? detail : respio_strerror(rc));
		client_free(c);
		return rc;
	}
	respio__slice_hand_over(&c->shards[0].slice, 0, fd);

	rc = respio__control_start(&c->cfg, nshards * per_shard, &c->control);
	for (uint32_t i = 0; rc == 0 && i < nshards; i++) {
		rc = respio__shard_start(&c->shards[i], c->control);
		if (rc == 0)
			c->shards[i].running = true;
	}
	/* Wait until every started shard has its io_uring (or failed to). */
	pthread_mutex_lock(&c->gate.lock);
	for (;;) {
		uint32_t running = 0;

		for (uint32_t i = 0; i < nshards; i++)
			running += c->shards[i].running;
		if (c->gate.started >= running)
			break;
		pthread_cond_wait(&c->gate.cond, &c->gate.lock);
	}
	pthread_mutex_unlock(&c->gate.lock);
	for (uint32_t i = 0; rc == 0 && i < nshards; i++)
		if (c->shards[i].init_rc < 0)
			rc = c->shards[i].init_rc;
	if (rc < 0) {
		snprintf(respio__client_detail, sizeof(respio__client_detail), "%s",
			 respio_strerror(rc));
		respio_client_destroy(c);
		return rc;
	}
	*out = c;
	return 0;
}

int respio_client_last_error(const respio_client *c, char *buf, size_t cap, int64_t *when_ms)
{
	if (buf && cap)
		buf[0] = '\0';
	if (when_ms)
		*when_ms = 0;
	if (!c)
		return RESPIO_E_INVAL;
	return respio__control_last_error(c->control, buf, cap, when_ms);
}

/* Wake submitters that wait for a future (the lanes' waiters look at
 * shutting_down on their own every round). */
static void abort_pool_waits(void *c)
{
	respio__future_pool_abort_waits(((struct respio_client *)c)->pool);
}

void respio_client_shutdown(respio_client *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->shutdown_lock);
	if (c->shut_down) {
		pthread_mutex_unlock(&c->shutdown_lock);
		return;
	}
	/* Seq_cst: pairs with respio__guard_enter (submit_guard.h). */
	respio__store_seq_cst_u32(&c->shutting_down, 1);
	respio__guard_wait(c, abort_pool_waits, c);
	/* The control thread goes first, so no connection is handed to a
	 * shard that has already left. */
	respio__control_stop(c->control);
	for (uint32_t i = 0; i < c->nshards; i++) {
		struct respio__shard *sh = &c->shards[i];

		if (sh->running && sh->init_rc >= 0)
			respio__shard_stop(sh);
	}
	for (uint32_t i = 0; i < c->nshards; i++)
		if (c->shards[i].running) {
			respio__shard_join(&c->shards[i]);
			c->shards[i].running = false;
		}
	c->shut_down = true;
	pthread_mutex_unlock(&c->shutdown_lock);
}

void respio_client_destroy(respio_client *c)
{
	if (!c)
		return;
	respio_client_shutdown(c);
	respio__control_free(c->control);
	client_free(c);
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
 * buffer of f's once its bytes are counted. */
static int encode(struct respio_client *c, respio_future *f, int argc, const char *const *argv,
		  const size_t *argvlen, int64_t deadline, bool nowait)
{
	size_t need;
	int rc = respio__future_encode_inline(f, argc, argv, argvlen, &need);

	if (rc != RESPIO_E_NOBUFS)
		return rc;
	if (need > UINT32_MAX)
		return RESPIO_E_LIMIT;
	rc = reserve_bytes(c, need, deadline, nowait);
	if (rc < 0)
		return rc;
	rc = respio__future_encode_heap(f, argc, argv, argvlen, need);
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

/* The body of a submit, on a lane the caller is registered on. */
static int submit_on_lane(respio_client *c, const respio_submit_opts *opts, uint32_t link,
			  struct respio__shard *sh, struct respio__lane *lane, int argc,
			  const char *const *argv, const size_t *argvlen, respio_future **out)
{
	respio_future *f;
	int64_t deadline, wait_until, timeout_ns = c->timeout_ns;
	/* A callback on a shard thread never waits: the pool and the lanes it
	 * would wait for are emptied by the shards, maybe by this very thread. */
	bool nowait = respio__on_shard_thread;
	int rc;

	if (opts && opts->timeout_ms)
		timeout_ns = timeout_to_ns(opts->timeout_ms);
	deadline = timeout_ns > 0 ? deadline_after(c, timeout_ns) : INT64_MAX;
	wait_until = nowait ? 0 : deadline;

	rc = respio__future_acquire(c->pool, wait_until, &f);
	if (rc < 0)
		return rc;
	rc = encode(c, f, argc, argv, argvlen, wait_until, nowait);
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
	/* Below 2^16 for any pool size in use; the shard takes it modulo its
	 * link count anyway. */
	f->link_index = (uint16_t)link;

	/* A full lane is backpressure: wait for the shard, up to the deadline. */
	rc = respio__lane_enqueue(lane, f, deadline, nowait, &c->shutting_down, wake_shard, sh);
	if (rc < 0) {
		discard(c, f);
		return rc;
	}
	respio__shard_wake(sh);
	*out = f;
	return 0;
}

int respio_submit_with(respio_client *c, const respio_submit_opts *opts, int argc,
		       const char *const *argv, const size_t *argvlen, respio_future **out)
{
	struct respio__shard *sh;
	struct respio__lane *lane;
	struct respio__guard *guard;
	struct respio__route route;
	int rc;

	if (out)
		*out = NULL;
	if (!c || !out || argc < 1 || !argv || !argv[0])
		return RESPIO_E_INVAL;
	/* Refused before anything is sent: MULTI, SUBSCRIBE, BLPOP... would
	 * reach every thread sharing the connection (command_policy.c). */
	rc = respio__command_policy(argc, argv, argvlen);
	if (rc < 0)
		return rc;
	route = respio__route_pick(respio__route_thread_no(), c->nshards, RESPIO__LANES,
				   c->links_per_shard);
	sh = &c->shards[route.shard];
	lane = &sh->lanes[route.lane];

	/* Shutdown waits for the submits in progress (submit_guard.h): either
	 * this one sees shutting_down here, or shutdown waits until it left. */
	rc = respio__guard_enter(c, &c->shutting_down, &guard);
	if (rc < 0)
		return rc;
	rc = submit_on_lane(c, opts, route.link, sh, lane, argc, argv, argvlen, out);
	respio__guard_leave(guard);
	return rc;
}

int respio_submit(respio_client *c, int argc, const char *const *argv, const size_t *argvlen,
		  respio_future **out)
{
	return respio_submit_with(c, NULL, argc, argv, argvlen, out);
}

respio_target *respio_client_target(respio_client *c)
{
	return c ? &c->target : NULL;
}

/* The synchronous path: submit, wait, hand the reply over without copying
 * (freeing it releases the future it lives in). */
static int client_run(respio_target *t, int argc, const char *const *argv, const size_t *argvlen,
		      respio_reply **out)
{
	struct respio_client *c = RESPIO__CONTAINER_OF(t, struct respio_client, target);
	respio_future *f;
	int rc;

	*out = NULL;
	respio__client_detail[0] = '\0';
	rc = respio_submit(c, argc, argv, argvlen, &f);
	if (rc < 0)
		return rc;
	respio_future_wait(f, -1);
	rc = respio_future_status(f);
	if (rc == RESPIO_E_SERVER) {
		size_t len;
		const char *msg = respio_reply_str(respio_future_reply(f), &len);

		snprintf(respio__client_detail, sizeof(respio__client_detail), "%.*s",
			 (int)(len < sizeof(respio__client_detail) ? len
								   : sizeof(respio__client_detail)),
			 msg ? msg : "");
	}
	if (rc == 0 || rc == RESPIO_E_SERVER) {
		*out = respio__future_adopt_reply(f);
		return rc;
	}
	respio_future_release(f);
	return rc;
}

static void add_stats(respio_stats *s, const struct respio__shard *sh)
{
	const struct respio__shard_counters *k = &sh->stats;
	uint32_t up = respio__load_relaxed_u32(&k->conns_up);
	uint32_t busy = respio__load_relaxed_u32(&k->conns_busy);

	s->connections_total += up;
	s->connections_active += busy < up ? busy : up;
	s->connections_idle += busy < up ? up - busy : 0;
	s->inflight += respio__load_relaxed_u32(&k->inflight);
	s->ring_depth += respio__lanes_depth(sh->lanes);
	s->submitted += respio__load_relaxed_u64(&k->submitted);
	s->completed += respio__load_relaxed_u64(&k->completed);
	s->failed += respio__load_relaxed_u64(&k->failed);
	s->timed_out += respio__load_relaxed_u64(&k->timed_out);
	s->reconnects += respio__load_relaxed_u64(&k->reconnects);
	s->dial_failures += respio__load_relaxed_u64(&k->dial_failures);
	s->batches += respio__load_relaxed_u64(&k->batches);
	s->batched += respio__load_relaxed_u64(&k->batched);
	s->sleeps += respio__load_relaxed_u64(&k->sleeps);
	s->wakeups += respio__load_relaxed_u64(&k->wakeups);
	s->waiter_wakes += respio__load_relaxed_u64(&k->waiter_wakes);
	s->wake_calls += respio__load_relaxed_u64(&k->wake_calls);
}

int respio_client_stats(respio_client *c, respio_stats *total, respio_stats *per_shard, int cap)
{
	if (!c)
		return RESPIO_E_INVAL;
	if (total)
		memset(total, 0, sizeof(*total));
	for (uint32_t i = 0; i < c->nshards; i++) {
		if (total)
			add_stats(total, &c->shards[i]);
		if (per_shard && (int)i < cap) {
			memset(&per_shard[i], 0, sizeof(per_shard[i]));
			add_stats(&per_shard[i], &c->shards[i]);
		}
	}
	return (int)c->nshards;
}

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
#include "enqueue.h"
#include "health.h"
#include "lanes.h"
#include "pool.h"
#include "sentinel.h"
#include "reply_internal.h"
#include "shard.h"
#include "sink.h"
#include "session_internal.h"
#include "slice.h"
#include "submit_guard.h"
#include "sync_wait.h"

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

static void client_set_errdetail(respio_target *t, const char *msg)
{
	(void)t;
	respio__sync_detail_set(msg);
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
	respio__sentinel_free(c->sentinel);
	respio__pool_fini(&c->lease_pool);
	if (c->pool)
		respio__future_pool_close(c->pool);
	pthread_mutex_destroy(&c->gate.lock);
	pthread_cond_destroy(&c->gate.cond);
	pthread_mutex_destroy(&c->shutdown_lock);
	free(c->strings);
	free(c);
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

static int64_t ms_to_ns(int ms)
{
	return ms > 0 ? (int64_t)ms * 1000000 : 0;
}

/* How often the sweeps look for idle lease connections: a few times per
 * max_idle_time_ms, between 10 ms and a second. */
static int64_t sweep_tick_ns(const respio_config *cfg)
{
	int64_t t = ms_to_ns(cfg->pool.max_idle_time_ms) / 4;

	return t < 10000000 ? 10000000 : t > 1000000000 ? 1000000000 : t;
}

/*
 * How the pool is laid out over the shards. max_connections is the bound
 * on sockets; the shared pipeline keeps min_connections of them (at least
 * one per shard), spread evenly, and the rest are lease links for
 * sessions, taken from the shards in turn. Shard i holds cap_i links,
 * shared_i of them shared; cap_i >= shared_i since max >= shared.
 */
static int layout_pool(struct respio_client *c)
{
	uint32_t n = c->nshards, max = (uint32_t)c->cfg.pool.max_connections;
	uint32_t shared = (uint32_t)c->cfg.pool.min_connections, slot = 0, most = 0, replicas = 0;
	int64_t idle_ns = ms_to_ns(c->cfg.pool.max_idle_time_ms);
	/* A lost link redials at a random point within 5 ms per shared link,
	 * up to half a second. */
	int64_t spread;
	int rc;

	if (shared < n)
		shared = n;
	c->replica_reads = c->cfg.sentinel && c->cfg.sentinel->replica_reads;
	spread = shared * 5000000ll < 500000000 ? shared * 5000000ll : 500000000;
	for (uint32_t i = 0; c->replica_reads && i < n; i++)
		replicas += max / n + (i < max % n) > shared / n + (i < shared % n);
	rc = respio__pool_init(&c->lease_pool, max - shared - replicas,
			       idle_ns ? idle_ns : INT64_MAX);
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		uint32_t cap = max / n + (i < max % n), sh = shared / n + (i < shared % n);
		/* Replica reads take each shard's first link above its shared
		 * ones, where it has one. */
		bool replica = c->replica_reads && cap > sh;
		struct respio__shard_config sc = {
		    .index = i,
		    .nlinks = cap,
		    .nshared = sh,
		    .pool = &c->lease_pool,
		    .futures = c->pool,
		    .redial_spread_ns = spread,
		    .probe_timeout_ns = ms_to_ns(c->cfg.pool.health_check_interval_ms),
		    .patient = c->cfg.sentinel != NULL,
		    .replica_link = replica ? sh : UINT32_MAX,
		    .ring_capacity = c->cfg.ring_capacity,
		    .timeout_ns = c->timeout_ns,
		    .limits = &c->cfg.limits,
		    .budget = &c->heap_bytes,
		    .gate = &c->gate};

		rc = respio__shard_init(&c->shards[i], &sc);
		if (cap - sh - replica > most)
			most = cap - sh - replica;
	}
	/* Slots in turn over the shards, so new connections spread. */
	for (uint32_t j = 0; rc == 0 && j < most; j++)
		for (uint32_t i = 0; i < n; i++) {
			struct respio__slice *sl = &c->shards[i].slice;
			uint32_t link = sl->nshared + (sl->replica_link < sl->nlinks) + j;

			if (link >= sl->nlinks)
				continue;
			sl->links[link].slot = slot;
			c->lease_pool.slots[slot].shard = i;
			c->lease_pool.slots[slot].link = link;
			slot++;
		}
	return rc;
}

/* min_connections are up before create returns (pre-warmed), or their
 * dials took connection_timeout_ms: then they go on in the background. */
static void prewarm(struct respio_client *c)
{
	int64_t until = respio__now_ns() + ms_to_ns(c->cfg.pool.connection_timeout_ms);
	uint32_t want = 0;

	for (uint32_t i = 0; i < c->nshards; i++)
		want += c->shards[i].nshared;
	while (respio__now_ns() < until) {
		uint32_t up = 0;

		for (uint32_t i = 0; i < c->nshards; i++)
			up += respio__load_relaxed_u32(&c->shards[i].stats.conns_up);
		if (up >= want)
			return;
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
	}
}

/*
 * Where the first connection goes: cfg's host and port, or the master the
 * Sentinels name (checked with ROLE). cfg's address is the fallback only
 * while no Sentinel answers at all; Sentinels that refuse our credentials,
 * or name no master, fail create with what they said.
 */
static int find_master(struct respio_client *c, char *host, size_t cap, int *port, char *detail,
		       size_t dcap, bool *known)
{
	const respio_sentinel_config *sc = c->cfg.sentinel;
	int rc;

	/* The caller's config may go after create: nothing keeps its
	 * pointer, the sentinel module copies what it needs. */
	c->cfg.sentinel = NULL;
	snprintf(host, cap, "%s", c->cfg.host);
	*port = c->cfg.port;
	*known = false;
	if (!sc)
		return 0;
	rc = respio__sentinel_create(sc, &c->cfg, &c->sentinel);
	if (rc < 0)
		return rc;
	rc = respio__sentinel_discover(c->sentinel, host, cap, port, detail, dcap);
	*known = rc == 0;
	if (rc == RESPIO_E_NO_SENTINEL) {
		snprintf(host, cap, "%s", c->cfg.host);
		*port = c->cfg.port;
		detail[0] = '\0';
		return 0;
	}
	return rc;
}

int respio_client_create(const respio_config *cfg, respio_client **out)
{
	struct respio_client *c;
	uint32_t nshards;
	char detail[RESPIO__DETAIL_SIZE] = "", host[RESPIO__HOST_SIZE];
	int rc, fd = -1, port;
	bool known = false; /* the Sentinels named the master: confirm its ROLE */

	/* No client comes back on failure: the reason goes to the thread's
	 * error detail, respio_client_errdetail(NULL). */
	respio__sync_detail_set("");
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
	c->timeout_ns = respio__timeout_ns(c, cfg->timeout_ms); /* c->timeout_ns is 0 here */
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
	c->nshards = nshards;

	rc = copy_strings(c, cfg);
	if (rc == 0)
		rc = respio__future_pool_create(c->cfg.max_inflight, &c->pool);
	if (rc == 0) {
		c->shards = calloc(nshards, sizeof(*c->shards));
		if (!c->shards)
			rc = -ENOMEM;
	}
	if (rc == 0)
		rc = layout_pool(c);
	if (rc == 0)
		rc = find_master(c, host, sizeof(host), &port, detail, sizeof(detail), &known);
	/* Dial the first connection here, synchronously: a wrong address or
	 * password fails create with a clear error instead of every request
	 * failing later. */
	if (rc == 0)
		rc = respio__dial_now(&c->cfg, host, port, known, &fd, detail, sizeof(detail));
	if (rc < 0) {
		respio__sync_detail_set(detail[0] ? detail : respio_strerror(rc));
		client_free(c);
		return rc;
	}

	rc = respio__control_start(&c->cfg, (uint32_t)c->cfg.pool.max_connections,
				   c->sentinel != NULL, &c->control);
	if (rc == 0) {
		char old[RESPIO__HOST_SIZE + 16];

		respio__slice_hand_over(
		    &c->shards[0].slice, 0, fd,
		    respio__control_set_address(c->control, host, port, old, sizeof(old)));
		fd = -1;
	} else {
		close(fd);
	}
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
	if (rc == 0)
		rc = respio__health_start(c->shards, nshards, sweep_tick_ns(&c->cfg),
					  ms_to_ns(c->cfg.pool.health_check_interval_ms),
					  &c->health);
	if (rc == 0 && c->sentinel)
		rc = respio__sentinel_start(c->sentinel, c->control, c->shards, nshards);
	if (rc < 0) {
		respio__sync_detail_set(respio_strerror(rc));
		respio_client_destroy(c);
		return rc;
	}
	prewarm(c);
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

/* Wake submitters that wait for a future or a session's connection (the
 * lanes' waiters look at shutting_down on their own every round). */
static void abort_pool_waits(void *arg)
{
	struct respio_client *c = arg;

	respio__future_pool_abort_waits(c->pool);
	respio__pool_close(&c->lease_pool);
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
	respio__sentinel_stop(c->sentinel);
	respio__health_stop(c->health);
	c->health = NULL;
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
	uint32_t left;

	if (!c)
		return;
	respio_client_shutdown(c);
	left = respio__sessions_abandon(c);
	if (left)
		respio__control_log(c->control, RESPIO_LOG_ERROR, RESPIO_E_SHUTDOWN,
				    "destroyed with %u sessions never ended (respio_end)",
				    (unsigned)left);
	respio__control_free(c->control);
	client_free(c);
}

int respio_submit_with(respio_client *c, const respio_submit_opts *opts, int argc,
		       const char *const *argv, const size_t *argvlen, respio_future **out)
{
	struct respio__guard *guard;
	struct respio__dest d;
	int rc;

	if (out)
		*out = NULL;
	if (!c || !out || argc < 1 || !argv || !argv[0])
		return RESPIO_E_INVAL;
	/* Refused before anything is sent: MULTI, SUBSCRIBE... would reach
	 * every thread sharing the connection; blocking commands get a
	 * connection of their own (command_policy.c). */
	switch (respio__command_classify(argc, argv, argvlen)) {
	case RESPIO__CMD_SHARED: break;
	case RESPIO__CMD_BLOCKING: return respio__lease_submit(c, opts, argc, argv, argvlen, out);
	default: return RESPIO_E_NEEDS_SESSION;
	}
	d = respio__dest_shared(c);
	/* Replica reads (Sentinel): a read goes to the shard's replica link
	 * while the Sentinels name a fit replica. */
	if (c->replica_reads && respio__command_is_read(argc, argv, argvlen) &&
	    respio__control_replica_up(c->control) && c->shards[d.shard].replica_link != UINT32_MAX)
		d.link = c->shards[d.shard].replica_link;

	/* Shutdown waits for the submits in progress (submit_guard.h): either
	 * this one sees shutting_down here, or shutdown waits until it left. */
	rc = respio__guard_enter(c, &c->shutting_down, &guard);
	if (rc < 0)
		return rc;
	rc = respio__enqueue(
	    c, &d, respio__deadline_after(c, respio__timeout_ns(c, opts ? opts->timeout_ms : 0)),
	    opts, 1, &(respio_argv){argc, argv, argvlen}, out);
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
	respio__sync_detail_set("");
	rc = respio_submit(c, argc, argv, argvlen, &f);
	return rc < 0 ? rc : respio__sync_finish(f, out);
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
	s->health_checks += respio__load_relaxed_u64(&k->health_checks);
	s->health_failures += respio__load_relaxed_u64(&k->health_failures);
}

/* The pool's counters: client-wide, under its lock. */
static void add_pool_stats(respio_stats *s, struct respio__pool *p)
{
	pthread_mutex_lock(&p->lock);
	s->sessions_in_use = p->in_use;
	s->sessions_max = p->nslots;
	s->sessions_begun = p->begun;
	s->pool_waits = p->waits;
	s->pool_exhausted = p->exhausted;
	s->idle_closed = p->idle_closed;
	pthread_mutex_unlock(&p->lock);
}

static void add_sentinel_stats(respio_stats *s, struct respio__sentinel *sn)
{
	struct respio__sentinel_stats st;

	respio__sentinel_stats(sn, &st);
	s->failovers = st.failovers;
	s->rediscoveries = st.rediscoveries;
	s->last_failover_ms = st.last_switch_ms;
	s->failover_holds = st.holds;
}

int respio_client_stats(respio_client *c, respio_stats *total, respio_stats *per_shard, int cap)
{
	if (!c)
		return RESPIO_E_INVAL;
	if (total) {
		memset(total, 0, sizeof(*total));
		add_pool_stats(total, &c->lease_pool);
		add_sentinel_stats(total, c->sentinel);
	}
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

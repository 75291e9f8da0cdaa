/* SPDX-License-Identifier: MIT */
/* Sessions (respio_begin / respio_end) and automatic leases: a lease link
 * of the pool taken out of the shared pipeline for one caller. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "atomic.h"
#include "client_internal.h"
#include "command_policy.h"
#include "control.h"
#include "enqueue.h"
#include "lanes.h"
#include "pool.h"
#include "session_internal.h"
#include "submit_guard.h"
#include "sync_wait.h"

#define RESPIO__CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* A blocking command's deadline is its own block time plus this: the
 * server answers nil at the block time, the margin covers the trip. */
#define RESPIO__BLOCK_MARGIN_NS 2000000000ll

#define RESPIO__SESSION_LIVE  0x5e55104eu
#define RESPIO__SESSION_ENDED 0xe4dedu

struct respio_session {
	respio_target target;
	uint32_t magic; /* LIVE until respio_end */
	struct respio_client *c;
	uint32_t slot, shard, link, lane;
	struct respio_session *prev, *next; /* in the client's open sessions */
	bool was_idle;			    /* the slot had a connection when taken */
	bool used;			    /* a command was queued */
	/* What the session's commands left on the connection (reset at end). */
	bool in_multi, watching, db_changed, tracking, unresettable;
};

/* The pinned flag of the lease link behind slot. */
static _Atomic uint32_t *pinned_flag(struct respio_client *c, uint32_t slot)
{
	const struct respio__slot *s = &c->lease_pool.slots[slot];

	return &c->shards[s->shard].slice.links[s->link].pinned;
}

/* How long to wait for a connection: cfg.pool.wait_timeout_ms from now (0
 * is the default, 5 s; < 0 no wait), not past limit; 0 (no wait) on a
 * shard thread. */
static int64_t pool_deadline(const struct respio_client *c, int64_t limit)
{
	int ms = c->cfg.pool.wait_timeout_ms;
	int64_t d;

	if (respio__on_shard_thread || ms < 0)
		return 0;
	d = respio__now_ns() + (int64_t)(ms ? ms : 5000) * 1000000;
	return d < limit ? d : limit;
}

static int take(struct respio_client *c, int64_t deadline, uint32_t *slot, bool *was_idle)
{
	int rc = respio__pool_take(&c->lease_pool, deadline, slot, was_idle);

	if (rc == RESPIO_E_POOL_EXHAUSTED)
		respio__control_log(c->control, RESPIO_LOG_WARN, rc,
				    "pool exhausted: all %u session connections in use",
				    (unsigned)c->lease_pool.nslots);
	if (rc == 0)
		/* Before the session's first request is queued: the shard
		 * that takes it sees the pin (the lane's release/acquire). */
		respio__store_release_u32(pinned_flag(c, *slot), 1);
	return rc;
}

/* Unpin before the slot goes back: the next taker pins it again. */
static void give_back(struct respio_client *c, uint32_t slot, bool keep)
{
	respio__store_release_u32(pinned_flag(c, slot), 0);
	respio__pool_put(&c->lease_pool, slot, keep);
}

static struct respio__dest dest_of(const struct respio_client *c, uint32_t slot, uint8_t kind)
{
	const struct respio__slot *s = &c->lease_pool.slots[slot];

	return (struct respio__dest){
	    .shard = s->shard, .lane = s->link % RESPIO__LANES, .link = s->link, .kind = kind};
}

/* The deadline of argv: opts' timeout when it sets one; a blocking
 * command's block time plus the margin, or none for a block of 0; else the
 * client's default. */
static int64_t deadline_for(const struct respio_client *c, const respio_submit_opts *opts, int argc,
			    const char *const *argv, const size_t *argvlen)
{
	int64_t block_ns;

	if (opts && opts->timeout_ms)
		return respio__deadline_after(c, respio__timeout_ns(c, opts->timeout_ms));
	if (respio__command_classify(argc, argv, argvlen) == RESPIO__CMD_BLOCKING) {
		switch (respio__command_block_ns(argc, argv, argvlen, &block_ns)) {
		case 0: return INT64_MAX;
		case 1: return respio__deadline_after(c, block_ns + RESPIO__BLOCK_MARGIN_NS);
		}
	}
	return respio__deadline_after(c, c->timeout_ns);
}

int respio__lease_submit(respio_client *c, const respio_submit_opts *opts, int argc,
			 const char *const *argv, const size_t *argvlen, respio_future **out)
{
	struct respio__guard *guard;
	struct respio__dest d;
	int64_t deadline = deadline_for(c, opts, argc, argv, argvlen);
	uint32_t slot;
	bool was_idle;
	int rc;

	rc = respio__guard_enter(c, &c->shutting_down, &guard);
	if (rc < 0)
		return rc;
	rc = take(c, pool_deadline(c, deadline), &slot, &was_idle);
	if (rc == 0) {
		d = dest_of(c, slot, RESPIO__REQ_LEASED);
		rc = respio__enqueue(c, &d, deadline, opts, 1, &(respio_argv){argc, argv, argvlen},
				     out);
		/* Queued, the lease is the shard's to end (slice.c). */
		if (rc < 0)
			give_back(c, slot, was_idle);
	}
	respio__guard_leave(guard);
	return rc;
}

/* --- sessions ------------------------------------------------------------- */

static int session_run(respio_target *t, int argc, const char *const *argv, const size_t *argvlen,
		       respio_reply **out);

static void session_set_errdetail(respio_target *t, const char *msg)
{
	(void)t;
	respio__sync_detail_set(msg);
}

static const struct respio_target_ops respio__session_ops = {
    .run = session_run,
    .set_errdetail = session_set_errdetail,
};

/*
 * A session used after respio_end: in debug builds its memory is kept a
 * while (the last RESPIO__GRAVE ended sessions, process-wide), so the use
 * finds the ENDED mark and aborts with a message instead of reading freed
 * memory; in release builds it is freed at once.
 */
#ifndef NDEBUG
#define RESPIO__GRAVE 256
static pthread_mutex_t grave_lock = PTHREAD_MUTEX_INITIALIZER;
static struct respio_session *grave[RESPIO__GRAVE];
static uint32_t grave_next;
#endif

static void bury(struct respio_session *s)
{
	s->magic = RESPIO__SESSION_ENDED;
#ifndef NDEBUG
	pthread_mutex_lock(&grave_lock);
	free(grave[grave_next]);
	grave[grave_next] = s;
	grave_next = (grave_next + 1) % RESPIO__GRAVE;
	pthread_mutex_unlock(&grave_lock);
#else
	free(s);
#endif
}

static int check(const struct respio_session *s)
{
	if (!s)
		return RESPIO_E_INVAL;
	if (s->magic == RESPIO__SESSION_LIVE)
		return 0;
#ifndef NDEBUG
	fprintf(stderr, "respio: session %p used after respio_end\n", (const void *)s);
	abort();
#endif
	return RESPIO_E_INVAL;
}

int respio_begin(respio_client *c, respio_session **out)
{
	struct respio__guard *guard;
	struct respio_session *s;
	uint32_t slot;
	bool was_idle;
	int rc;

	if (out)
		*out = NULL;
	if (!c || !out)
		return RESPIO_E_INVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	rc = respio__guard_enter(c, &c->shutting_down, &guard);
	if (rc == 0) {
		rc = take(c, pool_deadline(c, INT64_MAX), &slot, &was_idle);
		respio__guard_leave(guard);
	}
	if (rc < 0) {
		free(s);
		return rc;
	}
	s->target.ops = &respio__session_ops;
	s->magic = RESPIO__SESSION_LIVE;
	s->c = c;
	s->slot = slot;
	s->shard = c->lease_pool.slots[slot].shard;
	s->link = c->lease_pool.slots[slot].link;
	s->lane = s->link % RESPIO__LANES;
	s->was_idle = was_idle;
	pthread_mutex_lock(&c->lease_pool.lock);
	s->next = c->open_sessions;
	if (s->next)
		s->next->prev = s;
	c->open_sessions = s;
	pthread_mutex_unlock(&c->lease_pool.lock);
	*out = s;
	return 0;
}

respio_target *respio_session_target(respio_session *s)
{
	return check(s) == 0 ? &s->target : NULL;
}

/* Remember what argv leaves on the connection, for the reset at end. */
static void note(struct respio_session *s, int argc, const char *const *argv, const size_t *argvlen)
{
	switch (respio__command_session_effect(argc, argv, argvlen)) {
	case RESPIO__EFFECT_NONE: break;
	case RESPIO__EFFECT_MULTI: s->in_multi = true; break;
	case RESPIO__EFFECT_EXEC: s->in_multi = s->watching = false; break;
	case RESPIO__EFFECT_WATCH: s->watching = true; break;
	case RESPIO__EFFECT_UNWATCH: s->watching = false; break;
	case RESPIO__EFFECT_SELECT: s->db_changed = true; break;
	case RESPIO__EFFECT_TRACKING: s->tracking = true; break;
	case RESPIO__EFFECT_UNRESETTABLE: s->unresettable = true; break;
	}
}

int respio_session_submit_with(respio_session *s, const respio_submit_opts *opts, int argc,
			       const char *const *argv, const size_t *argvlen, respio_future **out)
{
	struct respio__guard *guard;
	struct respio__dest d;
	int rc;

	if (out)
		*out = NULL;
	rc = check(s);
	if (rc < 0 || !out || argc < 1 || !argv || !argv[0])
		return RESPIO_E_INVAL;
	/* Pushes that answer no request would break the reply order: the
	 * pub/sub API is for those. */
	if (respio__command_classify(argc, argv, argvlen) == RESPIO__CMD_STREAM)
		return RESPIO_E_INVAL;
	d = dest_of(s->c, s->slot, RESPIO__REQ_PLAIN);
	rc = respio__guard_enter(s->c, &s->c->shutting_down, &guard);
	if (rc < 0)
		return rc;
	rc = respio__enqueue(s->c, &d, deadline_for(s->c, opts, argc, argv, argvlen), opts, 1,
			     &(respio_argv){argc, argv, argvlen}, out);
	respio__guard_leave(guard);
	if (rc == 0) {
		s->used = true;
		note(s, argc, argv, argvlen);
	}
	return rc;
}

int respio_session_submit(respio_session *s, int argc, const char *const *argv,
			  const size_t *argvlen, respio_future **out)
{
	return respio_session_submit_with(s, NULL, argc, argv, argvlen, out);
}

static int session_run(respio_target *t, int argc, const char *const *argv, const size_t *argvlen,
		       respio_reply **out)
{
	struct respio_session *s = RESPIO__CONTAINER_OF(t, struct respio_session, target);
	respio_future *f;
	int rc;

	*out = NULL;
	respio__sync_detail_set("");
	rc = respio_session_submit(s, argc, argv, argvlen, &f);
	return rc < 0 ? rc : respio__sync_finish(f, out);
}

/* Queue a request of kind on the session's link: n commands (0 for a
 * close). NULL when the client stops (its shards close everything). */
static respio_future *queue_kind(struct respio_session *s, uint8_t kind, int n,
				 const respio_argv *cmds, int64_t deadline)
{
	struct respio__dest d = dest_of(s->c, s->slot, kind);
	struct respio__guard *guard;
	respio_future *f = NULL;

	d.skip_replies = n > 1 ? (uint32_t)n - 1 : 0;
	if (respio__guard_enter(s->c, &s->c->shutting_down, &guard) < 0)
		return NULL;
	if (respio__enqueue(s->c, &d, deadline, NULL, n, cmds, &f) < 0)
		f = NULL;
	respio__guard_leave(guard);
	return f;
}

/*
 * The reset: one unit, in one round trip, ending in a PING; the shard
 * closes the connection instead when anything is still outstanding on it
 * (RESPIO__REQ_END). True when every reply was as expected.
 */
static bool reset(struct respio_session *s)
{
	static const char *const discard[] = {"DISCARD"}, *const unwatch[] = {"UNWATCH"},
				 *const tracking_off[] = {"CLIENT", "TRACKING", "OFF"},
				 *const ping[] = {"PING"};
	char db[16];
	const char *select[] = {"SELECT", db};
	respio_argv cmds[5];
	int n = 0;
	int64_t timeout_ns = s->c->timeout_ns ? s->c->timeout_ns : 5000000000ll;
	respio_future *f;
	bool ok;

	if (s->in_multi) /* DISCARD also unwatches */
		cmds[n++] = (respio_argv){1, discard, NULL};
	else if (s->watching)
		cmds[n++] = (respio_argv){1, unwatch, NULL};
	if (s->db_changed) {
		snprintf(db, sizeof(db), "%d", s->c->cfg.db);
		cmds[n++] = (respio_argv){2, select, NULL};
	}
	if (s->tracking)
		cmds[n++] = (respio_argv){3, tracking_off, NULL};
	cmds[n++] = (respio_argv){1, ping, NULL};
	f = queue_kind(s, RESPIO__REQ_END, n, cmds, respio__deadline_after(s->c, timeout_ns));
	if (!f)
		return false;
	respio_future_wait(f, -1);
	ok = respio_future_status(f) == 0;
	respio_future_release(f);
	return ok;
}

static void unlist(struct respio_session *s)
{
	struct respio_client *c = s->c;

	pthread_mutex_lock(&c->lease_pool.lock);
	if (s->prev)
		s->prev->next = s->next;
	else
		c->open_sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	pthread_mutex_unlock(&c->lease_pool.lock);
}

void respio_end(respio_session *s)
{
	bool keep;

	if (!s || check(s) < 0)
		return;
	if (!s->used) {
		/* Nothing was sent: the connection (if any) is as it was. */
		keep = s->was_idle;
	} else {
		/* A completion callback must not wait for the reset's
		 * reply (its shard would deliver it): close instead. */
		keep = !s->unresettable && !respio__on_shard_thread && reset(s);
		if (!keep) {
			respio_future *f = queue_kind(s, RESPIO__REQ_CLOSE, 0, NULL, INT64_MAX);

			respio_future_release(f);
		}
	}
	give_back(s->c, s->slot, keep);
	unlist(s);
	bury(s);
}

uint32_t respio__sessions_abandon(respio_client *c)
{
	uint32_t n = 0;

	while (c->open_sessions) {
		struct respio_session *s = c->open_sessions;

		unlist(s);
		bury(s);
		n++;
	}
	return n;
}

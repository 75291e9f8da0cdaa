/* SPDX-License-Identifier: MIT */
/* A slice: a shard's share of the pool, its links and how each gets a
 * connection (dials, backoff, the maintenance pass). */
#ifndef RESPIO_SLICE_H
#define RESPIO_SLICE_H

#include <stdbool.h>
#include <stdint.h>

#include "dial.h"
#include "link.h"
#include "mailbox.h"
#include "sink.h"

struct respio__control;

struct respio__pool;
struct respio__future_pool;

/* A link as its slice keeps it: the connection, how it gets the next one
 * (the dial request lives here, so asking allocates nothing), its health
 * PING, and for a lease link its place in the pool. */
struct respio__pooled {
	struct respio__link link;
	struct respio__dial_request dial;
	struct respio__backoff backoff;
	/* A lease link in a session (set and cleared by the session's thread,
	 * read by the shard when the connection is lost): the session's state
	 * went with it, so the link breaks instead of redialing. */
	_Atomic uint32_t pinned;
	uint32_t slot;	       /* a lease link's slot in the pool */
	bool auto_lease;       /* an automatic lease: it ends with its request */
	bool probing;	       /* a health PING is out */
	uint64_t probe_end;    /* its end in the stream: answered once the FIFO is past it */
	int64_t probe_late_ns; /* CLOCK_MONOTONIC_COARSE: no answer by then fails it */
	int64_t redial_at_ns;  /* WAITING: when to dial */
	uint32_t epoch;	       /* of the address its connection was dialed at */
};

/*
 * What a slice needs done on a socket, by the shard that owns the ring
 * (the slice reaches up only through these): start receiving on a link
 * that came up and send what it has queued; close a socket behind every
 * SQE that may still name it.
 */
struct respio__slice_io {
	void (*up)(void *ctx, struct respio__link *l);
	void (*close)(void *ctx, int fd);
	void *ctx;
};

struct respio__slice {
	struct respio__pooled *links;
	uint32_t nlinks;
	/* Links [0, nshared) carry the shared pipeline and are kept open;
	 * [nshared, nlinks) are lease links, dialed when a session needs
	 * one, closed when idle, never redialed behind a session's back. */
	uint32_t nshared;
	struct respio__pool *pool;	     /* the lease links' slots */
	struct respio__future_pool *futures; /* for health PINGs */
	int64_t redial_spread_ns;	     /* a lost link redials within this, at random */
	int64_t probe_timeout_ns;	     /* a health PING later than this fails */
	uint32_t epoch;			     /* the master's address this shard knows */
	/* Requests wait out failed dials up to their deadlines rather than
	 * fail at once (Sentinel: a failover is a few seconds of refusals). */
	bool patient;
	/* Replica reads: the link reads go to (UINT32_MAX: none), and the
	 * replica address it knows. */
	uint32_t replica_link;
	uint32_t replica_epoch;
	uint32_t leases_out;   /* lease links with an automatic lease */
	int64_t held_until_ns; /* a failover holds writes until then */
	struct respio__sink *sink;
	struct respio__slice_io io;
	struct respio__control *control; /* the dialers (set before the shard starts) */
	struct respio__mailbox *mail;	 /* where the dialers answer */
	int64_t stall_ns;		 /* a link that long without a reply stalled */
	unsigned seed;			 /* backoff jitter */
	bool stopping;			 /* no more dials: the shard stops */
};

/* nlinks DOWN links whose requests end in sink, whose replies are parsed
 * within limits, and whose dials are answered in mail. timeout_ns: the
 * client's default timeout (the stall limit is the larger of it and 1 s);
 * seed: for the backoff's jitter. 0 or a negative code; then
 * respio__slice_fini frees what was made. */
int respio__slice_init(struct respio__slice *s, uint32_t nlinks, struct respio__sink *sink,
		       const respio_limits *limits, struct respio__mailbox *mail,
		       int64_t timeout_ns, unsigned seed);
void respio__slice_fini(struct respio__slice *s);

static inline struct respio__link *respio__slice_link(struct respio__slice *s, uint32_t i)
{
	return &s->links[i].link;
}

/* Ask the dialers for a connection for l (DOWN or BACKOFF: DIALING). */
void respio__slice_dial(struct respio__slice *s, struct respio__link *l);

/* A lease link that backs off may dial again once its backoff is over
 * (only a request dials a lease link): true when l may take requests. */
bool respio__slice_may_retry(struct respio__slice *s, struct respio__link *l, int64_t now);

/*
 * Put f on l. It fails at once, never sent, when its deadline has passed,
 * when its link backs off (with the dial's error) or broke under a session
 * (RESPIO_E_CLOSED, or RESPIO_E_FAILOVER when the master moved), or
 * without memory; a link that has no connection yet
 * asks for one. Shard thread.
 */
static inline void respio__slice_push(struct respio__slice *s, struct respio__link *l,
				      respio_future *f, int64_t now)
{
	int rc;

	if (f->deadline_ns <= now) {
		respio__sink_finish_unsent(s->sink, f, -ETIMEDOUT);
		return;
	}
	if (l->state > RESPIO__LINK_WAITING && !(s->patient && l->state == RESPIO__LINK_BACKOFF) &&
	    !respio__slice_may_retry(s, l, now)) {
		respio__sink_finish_unsent(s->sink, f,
					   l->last_err ? l->last_err : RESPIO_E_NOT_CONNECTED);
		return;
	}
	rc = respio__link_push(l, f);
	if (rc < 0) {
		respio__sink_finish_unsent(s->sink, f, rc);
		return;
	}
	if (l->state == RESPIO__LINK_DOWN)
		respio__slice_dial(s, l);
}

/* A request that is not one plain command (enum respio__request_kind). */
void respio__slice_accept_special(struct respio__slice *s, respio_future *f, int64_t now);

/* A request taken from a lane goes onto its link (f->link_index modulo the
 * links), or is looked at more closely. Shard thread. */
static inline void respio__slice_accept(struct respio__slice *s, respio_future *f, int64_t now)
{
	respio__sink_accepted(s->sink);
	if (f->link_index == RESPIO__LINK_SPECIAL) {
		respio__slice_accept_special(s, f, now);
		return;
	}
	respio__slice_push(s, respio__slice_link(s, f->link_index % s->nlinks), f, now);
}

/* The lease link l after a batch of completions: an automatic lease whose
 * request is done goes back to the pool (before its caller is woken), its
 * connection closed if its reply is still outstanding. */
void respio__slice_lease_check(struct respio__slice *s, struct respio__link *l);

/* Let go of any armed automatic lease: ends it when its request is done
 * (the common case is inline). */
static inline void respio__slice_after_turn(struct respio__slice *s, struct respio__link *l)
{
	if (s->links[l->index].auto_lease)
		respio__slice_lease_check(s, l);
}

/* The control thread's sweep (health.c), on the shard: close lease links
 * idle past the pool's max_idle_time, and, when health is set, PING the
 * idle connections (a PING later than probe_timeout_ns replaces its
 * connection, respio__slice_maintain). */
void respio__slice_sweep(struct respio__slice *s, int64_t now, bool health);

/* The shard starts: dial every shared link that has no connection yet
 * (lease links dial for their first request). */
void respio__slice_start(struct respio__slice *s);

/* Hand link i a connected socket from outside the dialers (the client's
 * own first dial), through the mailbox as the dialers' answers come. Any
 * thread, before the shard starts. */
void respio__slice_hand_over(struct respio__slice *s, uint32_t i, int fd, uint32_t epoch);

/* The dialers' answer for link i: fd connected, or the dial failed with
 * err (respio__dial_now's code). */
void respio__slice_conn_ready(struct respio__slice *s, uint32_t i, int fd, uint32_t epoch);

/* The control side published a new master address (epoch) or a hold on
 * writes: connections to the old address close (what they sent fails
 * with RESPIO_E_FAILOVER, fate SENT; what they did not send moves to the
 * new connection in order; a session's link breaks); writes wait while
 * held. */
void respio__slice_topology(struct respio__slice *s);

/* Writes are held (a failover is under way). */
static inline bool respio__slice_held(const struct respio__slice *s, int64_t now)
{
	return s->held_until_ns > now;
}
void respio__slice_dial_failed(struct respio__slice *s, uint32_t i, int err);

/* l's connection is unusable (err says why): close it, fail or keep its
 * requests (respio__link_down), and dial again now or after a backoff. */
void respio__slice_lost(struct respio__slice *s, struct respio__link *l, int err);

/* Complete every request whose deadline is at or before now (taken from
 * the deadline set in deadline order: the cost is per request expired). */
void respio__slice_expire(struct respio__slice *s, int64_t now);

/* Redial links whose backoff ended; leave behind connections that stopped
 * answering. Every few milliseconds. */
void respio__slice_maintain(struct respio__slice *s, int64_t now);

/* The earlier of t and the end of the first backoff. */
int64_t respio__slice_next_retry(const struct respio__slice *s, int64_t t);

/* The shard stops: no more dials, and answers that still come close their
 * sockets. */
static inline void respio__slice_stop(struct respio__slice *s)
{
	s->stopping = true;
}

/* Close every connection and complete every request with err. */
void respio__slice_abort(struct respio__slice *s, int err);

#endif

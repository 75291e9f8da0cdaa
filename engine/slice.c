/* SPDX-License-Identifier: MIT */
/* A shard's share of the pool: its links' dials, their backoff, the redial
 * after a loss, deadlines and the maintenance pass (slice.h). */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control.h"
#include "deadline.h"
#include "pool.h"
#include "slice.h"

int respio__slice_init(struct respio__slice *s, uint32_t nlinks, struct respio__sink *sink,
		       const respio_limits *limits, struct respio__mailbox *mail,
		       int64_t timeout_ns, unsigned seed)
{
	s->sink = sink;
	s->mail = mail;
	s->stall_ns = timeout_ns > 1000000000 ? timeout_ns : 1000000000;
	s->seed = seed;
	s->links = calloc(nlinks, sizeof(*s->links));
	if (!s->links)
		return -ENOMEM;
	for (uint32_t i = 0; i < nlinks; i++) {
		int rc = respio__link_init(&s->links[i].link, i, sink, limits);

		s->nlinks = i + 1;
		if (rc < 0)
			return rc;
	}
	return 0;
}

void respio__slice_fini(struct respio__slice *s)
{
	for (uint32_t i = 0; i < s->nlinks; i++)
		respio__link_fini(&s->links[i].link);
	free(s->links);
	s->links = NULL;
	s->nlinks = 0;
}

static struct respio__pooled *pooled(struct respio__slice *s, struct respio__link *l)
{
	return &s->links[l->index];
}

static bool is_lease(const struct respio__slice *s, const struct respio__link *l)
{
	return l->index >= s->nshared && l->index != s->replica_link;
}

static bool is_replica(const struct respio__slice *s, const struct respio__link *l)
{
	return l->index == s->replica_link;
}

/* The epoch of the address l should be connected to. */
static uint32_t want_epoch(const struct respio__slice *s, const struct respio__link *l)
{
	return is_replica(s, l) ? respio__control_replica_epoch(s->control)
				: respio__control_epoch(s->control);
}

void respio__slice_dial(struct respio__slice *s, struct respio__link *l)
{
	struct respio__dial_request *d = &pooled(s, l)->dial;

	/* The jittered redial after a loss is paced by the dialers too: when
	 * the server answers late, requests pile up behind the 4 dialers and
	 * would otherwise all connect the moment it answers. */
	d->paced = l->state == RESPIO__LINK_WAITING;
	d->replica = l->index == s->replica_link;
	l->state = RESPIO__LINK_DIALING;
	d->reply_to = s->mail;
	d->answer = (struct respio__msg){.link = l->index, .fd = -1, .in_link = true};
	respio__control_dial(s->control, d);
}

void respio__slice_start(struct respio__slice *s)
{
	s->epoch = respio__control_epoch(s->control);
	/* The shared links; a lease link dials for its first request. */
	for (uint32_t i = 0; i < s->nshared; i++)
		if (s->links[i].link.state == RESPIO__LINK_DOWN)
			respio__slice_dial(s, &s->links[i].link);
}

/* The answer to a dial made elsewhere, in the link's own message: nothing
 * to allocate, nothing to lose. */
void respio__slice_hand_over(struct respio__slice *s, uint32_t i, int fd, uint32_t epoch)
{
	struct respio__msg *msg = &s->links[i].dial.answer;

	s->links[i].link.state = RESPIO__LINK_DIALING;
	*msg = (struct respio__msg){
	    .type = RESPIO__MSG_CONN_READY, .link = i, .fd = fd, .epoch = epoch, .in_link = true};
	respio__mailbox_post(s->mail, msg);
}

/* The link's last attempt failed (its dial, or a connection that died
 * young; counted in its backoff already): no dial until the backoff ends,
 * and what is queued fails now, never sent. */
static void back_off(struct respio__slice *s, struct respio__link *l, int err)
{
	l->state = RESPIO__LINK_BACKOFF;
	l->last_err = err;
	respio__backoff_schedule(&pooled(s, l)->backoff, respio__now_ns(), &s->seed);
	if (!s->patient)
		respio__link_fail_queued(l, err);
}

void respio__slice_conn_ready(struct respio__slice *s, uint32_t i, int fd, uint32_t epoch)
{
	struct respio__link *l = respio__slice_link(s, i);

	if (s->stopping || l->state == RESPIO__LINK_UP) {
		close(fd);
		return;
	}
	/* Dialed before the master moved: dial the new one. */
	if (s->control && epoch != want_epoch(s, l)) {
		close(fd);
		respio__slice_dial(s, l);
		return;
	}
	s->links[i].epoch = epoch;
	respio__link_up(l, fd, respio__coarse_now_ns());
	respio__backoff_up(&s->links[i].backoff, l->last_rx_ns);
	respio__gauge_add(&s->sink->stats->conns_up, 1);
	s->io.up(s->io.ctx, l);
	respio__control_log(s->control, RESPIO_LOG_INFO, 0, "connected (link %u)", (unsigned)i);
}

void respio__slice_dial_failed(struct respio__slice *s, uint32_t i, int err)
{
	respio__counter_add(&s->sink->stats->dial_failures, 1);
	respio__backoff_dial_failed(&s->links[i].backoff);
	back_off(s, respio__slice_link(s, i), err);
}

/* Close l's connection: what was sent fails with err (fate SENT), the
 * rest stays queued (respio__link_down). */
static void close_conn(struct respio__slice *s, struct respio__link *l, int err)
{
	/* shutdown() makes the kernel end the recv and any send with an
	 * error; their CQEs then carry a stale generation. */
	shutdown(l->fd, SHUT_RDWR);
	s->io.close(s->io.ctx, l->fd);
	respio__link_down(l, err);
	respio__gauge_add(&s->sink->stats->conns_up, -1);
	pooled(s, l)->probing = false;
}

/*
 * A lease link is never redialed behind its session: the session's state
 * (MULTI, WATCH, SELECT) went with the connection, so a session's link
 * breaks and fails what it holds until the session ends; an idle one just
 * goes down, and the next session's first request dials.
 */
static void lease_lost(struct respio__slice *s, struct respio__link *l, int err)
{
	struct respio__pooled *p = pooled(s, l);

	respio__link_fail_queued(l, err);
	if (respio__load_acquire_u32(&p->pinned) || p->auto_lease) {
		l->state = RESPIO__LINK_BROKEN;
		/* What the session's later commands fail with. */
		l->last_err = err == RESPIO_E_FAILOVER ? err : RESPIO_E_CLOSED;
	}
}

void respio__slice_lost(struct respio__slice *s, struct respio__link *l, int err)
{
	struct respio__pooled *p = pooled(s, l);

	if (l->state != RESPIO__LINK_UP)
		return;
	close_conn(s, l, err);
	respio__counter_add(&s->sink->stats->reconnects, 1);
	if (s->stopping)
		return;
	/* A reset connection may be a master going away. */
	respio__control_suspect(s->control);
	respio__control_log(s->control, RESPIO_LOG_WARN, err, "connection lost (link %u): %s",
			    (unsigned)l->index, respio_strerror(err));
	if (is_lease(s, l)) {
		lease_lost(s, l, err);
		return;
	}
	/* A connection that died young counts as a failed attempt (dial.c). */
	if (respio__backoff_lost(&p->backoff, l->served, respio__coarse_now_ns())) {
		back_off(s, l, err);
		return;
	}
	/* When a server restarts, every link of every shard loses its
	 * connection at once: each redials at a random point of the spread,
	 * so the server sees a trickle, not a burst. Requests wait. */
	if (s->redial_spread_ns > 0) {
		l->state = RESPIO__LINK_WAITING;
		p->redial_at_ns = respio__now_ns() + (int64_t)((uint64_t)rand_r(&s->seed) %
							       (uint64_t)s->redial_spread_ns);
		return;
	}
	respio__slice_dial(s, l);
}

bool respio__slice_may_retry(struct respio__slice *s, struct respio__link *l, int64_t now)
{
	if (l->state != RESPIO__LINK_BACKOFF || !is_lease(s, l) ||
	    now < pooled(s, l)->backoff.retry_at_ns)
		return false;
	l->state = RESPIO__LINK_DOWN;
	return true;
}

/* Close a lease link's connection for the pool (idle, or its session ended
 * with something outstanding): what it holds fails, and it is DOWN until
 * the next session dials. A dial in flight is left to land (the link keeps
 * its one dial request); a backoff stays. */
static void close_lease(struct respio__slice *s, struct respio__link *l)
{
	if (l->state == RESPIO__LINK_UP)
		close_conn(s, l, RESPIO_E_CLOSED);
	respio__link_fail_queued(l, RESPIO_E_CLOSED);
	if (l->state == RESPIO__LINK_BROKEN)
		l->state = RESPIO__LINK_DOWN;
}

void respio__slice_accept_special(struct respio__slice *s, respio_future *f, int64_t now)
{
	struct respio__link *l;

	if (f->target_link >= s->nlinks) {
		respio__sink_finish_unsent(s->sink, f, RESPIO_E_INVAL);
		return;
	}
	l = respio__slice_link(s, f->target_link);
	switch (f->kind) {
	case RESPIO__REQ_UNIT: respio__slice_push(s, l, f, now); return;
	case RESPIO__REQ_LEASED:
		if (!pooled(s, l)->auto_lease)
			s->leases_out++;
		pooled(s, l)->auto_lease = true;
		respio__slice_push(s, l, f, now);
		return;
	case RESPIO__REQ_END:
		/* A reply still due (a blocking command that timed out, a
		 * future not waited for) would arm the next session: close. */
		if (l->state == RESPIO__LINK_UP && l->queued == 0) {
			respio__slice_push(s, l, f, now);
			return;
		}
		close_lease(s, l);
		respio__sink_finish_unsent(s->sink, f, RESPIO_E_CLOSED);
		return;
	case RESPIO__REQ_CLOSE:
		close_lease(s, l);
		respio__sink_finish_unsent(s->sink, f, 0);
		return;
	}
	respio__sink_finish_unsent(s->sink, f, RESPIO_E_INVAL);
}

void respio__slice_lease_check(struct respio__slice *s, struct respio__link *l)
{
	struct respio__pooled *p = pooled(s, l);
	bool keep;

	if (l->state == RESPIO__LINK_UP && l->queued > l->expired)
		return; /* its reply is still within its deadline */
	if (l->state == RESPIO__LINK_DIALING && l->queued > 0)
		return; /* still to be sent */
	/* Done: replied (the connection goes back as it was: a blocking
	 * command leaves no state), or timed out with its reply outstanding,
	 * failed, or lost with its connection, which is then closed: it is
	 * never returned to the pool armed. */
	keep = l->state == RESPIO__LINK_UP && l->queued == 0;
	if (!keep)
		close_lease(s, l);
	p->auto_lease = false;
	s->leases_out--;
	respio__store_release_u32(&p->pinned, 0);
	respio__pool_put(s->pool, p->slot, keep);
}

/*
 * One already handed to the kernel completes now but keeps its place in
 * the FIFO, so its late reply is read and dropped; one still in fill is
 * marked, and each link with marks is swept once at the end (its fill is
 * rebuilt once however many expired).
 */
void respio__slice_expire(struct respio__slice *s, int64_t now)
{
	bool sweep = false;
	uint32_t i;
	void *p;

	while (respio__deadlines_pop_expired(s->sink->deadlines, now, &i, &p)) {
		struct respio__link *l = respio__slice_link(s, i);

		respio__link_expire(l, p);
		sweep |= l->sweep;
	}
	for (i = 0; sweep && i < s->nlinks; i++)
		if (s->links[i].link.sweep)
			respio__link_sweep(&s->links[i].link);
}

/* A health PING that went out and nothing came back in time: the server
 * is gone or frozen (a SIGSTOP, a dead host: no RST comes). */
static bool probe_failed(struct respio__slice *s, struct respio__link *l, int64_t coarse_now)
{
	struct respio__pooled *p = pooled(s, l);

	const respio_future *head = respio__future_of(l->fifo.head);

	if (!p->probing)
		return false;
	/* Replies leave the FIFO in order: once its head is past the PING
	 * (or it is empty), the PING was answered. */
	if (!head || head->stream_end > p->probe_end || l->state != RESPIO__LINK_UP) {
		p->probing = false;
		return false;
	}
	return coarse_now >= p->probe_late_ns;
}

void respio__slice_maintain(struct respio__slice *s, int64_t now)
{
	int64_t coarse_now = respio__coarse_now_ns();

	for (uint32_t i = 0; i < s->nlinks; i++) {
		struct respio__link *l = respio__slice_link(s, i);
		struct respio__pooled *p = &s->links[i];

		if (l->state == RESPIO__LINK_BACKOFF && (!is_lease(s, l) || l->queued > 0) &&
		    now >= p->backoff.retry_at_ns) {
			respio__slice_dial(s, l);
		} else if (l->state == RESPIO__LINK_WAITING && now >= p->redial_at_ns) {
			respio__slice_dial(s, l);
		} else if (probe_failed(s, l, coarse_now)) {
			respio__counter_add(&s->sink->stats->health_failures, 1);
			respio__control_log(s->control, RESPIO_LOG_WARN, -ETIMEDOUT,
					    "health check failed (link %u): no PONG within %lld ms",
					    (unsigned)i,
					    (long long)(s->probe_timeout_ns / 1000000));
			respio__slice_lost(s, l, -ETIMEDOUT);
		} else if (l->state == RESPIO__LINK_UP &&
			   respio__link_check_stall(l, now, s->stall_ns)) {
			respio__slice_lost(s, l, -ETIMEDOUT);
		}
	}
}

int64_t respio__slice_next_retry(const struct respio__slice *s, int64_t t)
{
	for (uint32_t i = 0; i < s->nlinks; i++) {
		const struct respio__pooled *p = &s->links[i];

		if (p->link.state == RESPIO__LINK_BACKOFF &&
		    (!is_lease(s, &p->link) || p->link.queued > 0) && p->backoff.retry_at_ns < t)
			t = p->backoff.retry_at_ns;
		if (p->link.state == RESPIO__LINK_WAITING && p->redial_at_ns < t)
			t = p->redial_at_ns;
	}
	return t;
}

/* A PING on idle l, from the futures' pool without waiting (none free: the
 * next sweep tries again). Its deadline is the probe's; its lateness is
 * judged by respio__slice_maintain from what the link received. */
static void probe(struct respio__slice *s, struct respio__link *l, int64_t now)
{
	static const char *const ping[] = {"PING"};
	struct respio__pooled *p = pooled(s, l);
	respio_future *f;

	if (respio__future_acquire(s->futures, 0, &f) < 0)
		return;
	if (respio__future_set_request(f, 1, ping, NULL) < 0) {
		respio__future_discard(f);
		return;
	}
	f->deadline_ns = now + s->probe_timeout_ns;
	f->link_index = (uint16_t)l->index;
	respio__counter_add(&s->sink->stats->health_checks, 1);
	respio__sink_accepted(s->sink);
	respio__slice_push(s, l, f, now);
	/* Queued behind nothing (the link was idle), so it is the head. */
	if (l->fifo.head == &f->fifo) {
		p->probing = true;
		p->probe_end = f->stream_end;
		p->probe_late_ns = respio__coarse_now_ns() + s->probe_timeout_ns;
	}
	/* The shard keeps only the engine's reference: the reply is dropped. */
	respio_future_release(f);
}

void respio__slice_sweep(struct respio__slice *s, int64_t now, bool health)
{
	int64_t coarse_now = respio__coarse_now_ns();

	for (uint32_t i = 0; i < s->nlinks; i++) {
		struct respio__link *l = respio__slice_link(s, i);
		struct respio__pooled *p = &s->links[i];

		if (l->state != RESPIO__LINK_UP)
			continue;
		if (is_lease(s, l)) {
			if (respio__load_acquire_u32(&p->pinned) || p->auto_lease)
				continue; /* a session's: its owner's business */
			if (l->queued == 0 && respio__pool_reclaim_idle(s->pool, p->slot, now)) {
				close_lease(s, l);
				respio__control_log(s->control, RESPIO_LOG_INFO, 0,
						    "idle connection closed (link %u)",
						    (unsigned)i);
				continue;
			}
		}
		/* Idle: nothing queued and nothing received for a while (a
		 * busy link shows its health in its replies). */
		if (health && l->queued == 0 && !p->probing &&
		    coarse_now - l->last_rx_ns >= s->probe_timeout_ns / 2)
			probe(s, l, now);
	}
}

void respio__slice_abort(struct respio__slice *s, int err)
{
	for (uint32_t i = 0; i < s->nlinks; i++) {
		struct respio__link *l = respio__slice_link(s, i);

		if (l->fd >= 0) {
			shutdown(l->fd, SHUT_RDWR);
			s->io.close(s->io.ctx, l->fd);
		}
		respio__link_abort(l, err);
	}
}

/* The master moved: l's connection goes, at once. */
static void switch_link(struct respio__slice *s, struct respio__link *l)
{
	close_conn(s, l, RESPIO_E_FAILOVER);
	respio__counter_add(&s->sink->stats->reconnects, 1);
	if (is_lease(s, l)) {
		lease_lost(s, l, RESPIO_E_FAILOVER);
		return;
	}
	/* Not a loss to back off from: the new master was checked. */
	respio__slice_dial(s, l);
}

/* The replica moved, or is gone (reads go to the master again): the
 * replica link leaves the old one; what it still holds fails, never sent
 * when it was not (reads are safe to retry). */
static void replica_moved(struct respio__slice *s, struct respio__link *l)
{
	if (l->state == RESPIO__LINK_UP) {
		close_conn(s, l, RESPIO_E_FAILOVER);
		respio__counter_add(&s->sink->stats->reconnects, 1);
	}
	respio__link_fail_queued(l, RESPIO_E_FAILOVER);
	if (l->state != RESPIO__LINK_DIALING)
		l->state = RESPIO__LINK_DOWN;
}

void respio__slice_topology(struct respio__slice *s)
{
	uint32_t epoch = respio__control_epoch(s->control);
	uint32_t replica_epoch = respio__control_replica_epoch(s->control);

	s->held_until_ns = respio__control_hold(s->control);
	if (s->replica_link < s->nlinks && replica_epoch != s->replica_epoch) {
		struct respio__link *l = respio__slice_link(s, s->replica_link);

		s->replica_epoch = replica_epoch;
		if (s->links[s->replica_link].epoch != replica_epoch)
			replica_moved(s, l);
	}
	if (epoch == s->epoch)
		return;
	s->epoch = epoch;
	for (uint32_t i = 0; i < s->nlinks; i++) {
		struct respio__link *l = respio__slice_link(s, i);

		if (is_replica(s, l))
			continue;
		if (l->state == RESPIO__LINK_UP && s->links[i].epoch != epoch)
			switch_link(s, l);
		/* Backing off from the old master (dead): the new one need not
		 * wait for the backoff. */
		else if ((l->state == RESPIO__LINK_BACKOFF && (!is_lease(s, l) || l->queued > 0)) ||
			 l->state == RESPIO__LINK_WAITING)
			respio__slice_dial(s, l);
	}
}

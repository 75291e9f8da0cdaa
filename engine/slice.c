/* SPDX-License-Identifier: MIT */
/* A shard's share of the pool: its links' dials, their backoff, the redial
 * after a loss, deadlines and the maintenance pass (slice.h). */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control.h"
#include "deadline.h"
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

void respio__slice_dial(struct respio__slice *s, struct respio__link *l)
{
	struct respio__dial_request *d = &pooled(s, l)->dial;

	l->state = RESPIO__LINK_DIALING;
	d->reply_to = s->mail;
	d->answer = (struct respio__msg){.link = l->index, .fd = -1, .in_link = true};
	respio__control_dial(s->control, d);
}

void respio__slice_start(struct respio__slice *s)
{
	for (uint32_t i = 0; i < s->nlinks; i++)
		if (s->links[i].link.state == RESPIO__LINK_DOWN)
			respio__slice_dial(s, &s->links[i].link);
}

/* The answer to a dial made elsewhere, in the link's own message: nothing
 * to allocate, nothing to lose. */
void respio__slice_hand_over(struct respio__slice *s, uint32_t i, int fd)
{
	struct respio__msg *msg = &s->links[i].dial.answer;

	s->links[i].link.state = RESPIO__LINK_DIALING;
	*msg = (struct respio__msg){
	    .type = RESPIO__MSG_CONN_READY, .link = i, .fd = fd, .in_link = true};
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
	respio__link_fail_queued(l, err);
}

void respio__slice_conn_ready(struct respio__slice *s, uint32_t i, int fd)
{
	struct respio__link *l = respio__slice_link(s, i);

	if (s->stopping || l->state == RESPIO__LINK_UP) {
		close(fd);
		return;
	}
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

void respio__slice_lost(struct respio__slice *s, struct respio__link *l, int err)
{
	if (l->state != RESPIO__LINK_UP)
		return;
	/* shutdown() makes the kernel end the recv and any send with an
	 * error; their CQEs then carry a stale generation. */
	shutdown(l->fd, SHUT_RDWR);
	s->io.close(s->io.ctx, l->fd);
	respio__link_down(l, err);
	respio__gauge_add(&s->sink->stats->conns_up, -1);
	respio__counter_add(&s->sink->stats->reconnects, 1);
	if (s->stopping)
		return;
	respio__control_log(s->control, RESPIO_LOG_WARN, err, "connection lost (link %u): %s",
			    (unsigned)l->index, respio_strerror(err));
	/* A connection that died young counts as a failed attempt (dial.c). */
	if (respio__backoff_lost(&pooled(s, l)->backoff, l->served, respio__coarse_now_ns())) {
		back_off(s, l, err);
		return;
	}
	respio__slice_dial(s, l);
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

void respio__slice_maintain(struct respio__slice *s, int64_t now)
{
	for (uint32_t i = 0; i < s->nlinks; i++) {
		struct respio__link *l = respio__slice_link(s, i);

		if (l->state == RESPIO__LINK_BACKOFF && now >= s->links[i].backoff.retry_at_ns)
			respio__slice_dial(s, l);
		else if (l->state == RESPIO__LINK_UP &&
			 respio__link_check_stall(l, now, s->stall_ns))
			respio__slice_lost(s, l, -ETIMEDOUT);
	}
}

int64_t respio__slice_next_retry(const struct respio__slice *s, int64_t t)
{
	for (uint32_t i = 0; i < s->nlinks; i++)
		if (s->links[i].link.state == RESPIO__LINK_BACKOFF &&
		    s->links[i].backoff.retry_at_ns < t)
			t = s->links[i].backoff.retry_at_ns;
	return t;
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

/* SPDX-License-Identifier: MIT */
/* A link: one pipelined connection's buffers and FIFO, the delivery of its
 * replies and the fate of its requests when it fails (link.h). */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "bigbuf.h"
#include "link.h"
#include "reply_internal.h"

int respio__link_init(struct respio__link *l, uint32_t index, struct respio__sink *sink,
		      const respio_limits *limits)
{
	memset(l, 0, sizeof(*l));
	l->fd = -1;
	l->index = index;
	l->sink = sink;
	return respio_parser_create(limits, &l->parser);
}

void respio__link_fini(struct respio__link *l)
{
	respio_parser_destroy(l->parser);
	respio__bigbuf_free(l->fill.data, l->fill.cap);
	respio__bigbuf_free(l->sending.data, l->sending.cap);
	l->parser = NULL;
	l->fill = l->sending = (struct respio__buf){0};
}

int respio__buf_grow(struct respio__buf *b, size_t len)
{
	size_t cap = b->cap ? b->cap : 4096;
	char *p;

	while (cap < b->len + len)
		cap *= 2;
	p = respio__bigbuf_resize(b->data, b->cap, cap, b->len);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

/* A buffer that grew for a burst of large commands goes back to the heap
 * once empty, or shrinks once mostly empty, so one burst does not pin its
 * memory for good (max_inflight_bytes bounds what buffers hold, not what
 * they once held). */
#define RESPIO__BUF_KEEP (1u << 20)

void respio__buf_trim(struct respio__buf *b)
{
	if (b->cap <= RESPIO__BUF_KEEP || b->len > b->cap / 4)
		return;
	if (b->len == 0) {
		respio__bigbuf_free(b->data, b->cap);
		b->data = NULL;
		b->cap = 0;
	} else {
		size_t cap = b->len * 2 > RESPIO__BUF_KEEP ? b->len * 2 : RESPIO__BUF_KEEP;
		char *p = respio__bigbuf_resize(b->data, b->cap, cap, b->len);

		if (p) { /* a failed shrink keeps the old buffer */
			b->data = p;
			b->cap = cap;
		}
	}
}

/* f leaves the FIFO in turn (answered, or failed with the connection): its
 * deadline goes with it, before f can be recycled. */
static void untrack(struct respio__link *l, respio_future *f)
{
	void *oldest = respio__deadlines_pop_front(l->sink->deadlines, l->index);

	/* Replies and a broken connection take requests in FIFO order; only
	 * a deadline (respio__link_expire) takes one out of turn, and its
	 * entry left the set already. So the link's oldest entry is f. */
	assert(oldest == f);
	(void)oldest;
	(void)f;
}

static void fifo_pop(struct respio__link *l)
{
	if (l->fifo.head == l->handed_tail)
		l->handed_tail = NULL;
	respio__queue_pop(&l->fifo);
	l->queued--;
}

/* The first request in the FIFO never handed to the kernel (NULL: none). */
static respio_future *first_unsent(const struct respio__link *l)
{
	return respio__future_of(l->handed_tail ? l->handed_tail->next : l->fifo.head);
}

/*
 * Pack the bytes of the requests still in the FIFO and never handed to the
 * kernel at the start of fill, in FIFO order, and count them in the stream
 * from new_base: after requests were taken out (their bytes are skipped),
 * or for a fresh connection (new_base 0). It works from fill's own copy,
 * which covers the stream from handed_end to fill_end; the futures may no
 * longer hold their commands. Bytes of requests taken out go back to the
 * client's count. It starts after the last request handed to the kernel:
 * O(unsent), not O(queued).
 */
static void rebuild_fill(struct respio__link *l, uint64_t new_base)
{
	uint64_t old_base = l->handed_end, counted = 0;
	size_t dst = 0;

	for (respio_future *f = first_unsent(l); f; f = respio__future_of(f->fifo.next)) {
		size_t src;

		if (f->stream_end <= old_base)
			continue;
		src = (size_t)(f->stream_end - f->req_len - old_base);
		if (src != dst)
			memmove(l->fill.data + dst, l->fill.data + src, f->req_len);
		dst += f->req_len;
		f->stream_end = new_base + dst;
		counted += respio__counted_bytes(f);
	}
	l->fill.len = dst;
	respio__buf_trim(&l->fill);
	l->handed_end = new_base;
	l->fill_end = new_base + dst;
	respio__budget_release(l->sink->budget, l->fill_counted - counted);
	l->fill_counted = counted;
}

int respio__link_sent(struct respio__link *l, int res)
{
	l->send_inflight = false;
	if (res < 0)
		return res;
	l->sending_off += (size_t)res;
	if (l->sending_off < l->sending.len) {
		l->send_inflight = true;
		return 1;
	}
	/* The kernel has every byte: they no longer count against the bound. */
	l->sending.len = 0;
	l->sending_off = 0;
	respio__buf_trim(&l->sending);
	respio__budget_release(l->sink->budget, l->sending_counted);
	l->sending_counted = 0;
	return 0;
}

/* Drop the complete reply in the parser (an allocation, on rare paths only). */
static void drop_reply(struct respio__link *l)
{
	respio_reply *r = NULL;

	respio_parser_take(l->parser, &r);
	respio_reply_free(r);
}

/* An error reply from a server that is no longer (or not yet) the master:
 * a sign of failover. */
static bool says_not_master(const respio_reply *r)
{
	size_t len;
	const char *msg = respio_reply_str(r, &len);

	return msg && ((len >= 8 && memcmp(msg, "READONLY", 8) == 0) ||
		       (len >= 10 && memcmp(msg, "MASTERDOWN", 10) == 0));
}

/* A unit (MULTI ... EXEC, a session's reset) keeps only its last reply:
 * the ones before it are read and dropped here, and an error among them
 * is remembered (unit_error: the unit completes with RESPIO_E_SERVER). */
static int skip_unit_reply(struct respio__link *l, respio_future *f)
{
	respio_reply *r = NULL;

	respio_parser_take(l->parser, &r);
	if (r && respio_reply_type(r) != RESPIO_REPLY_PUSH) {
		f->unit_error |= respio_reply_type(r) == RESPIO_REPLY_ERROR;
		f->skip_replies--;
	}
	respio_reply_free(r);
	return 0;
}

/*
 * A complete reply is in the parser: it belongs to the FIFO's head, unless
 * it is a RESP3 push (client-side caching invalidations, say), which answers
 * no request and is dropped without disturbing the FIFO. 0, or
 * RESPIO_E_PROTOCOL when the reply answers nothing that was sent.
 */
static int deliver(struct respio__link *l)
{
	respio_future *f = respio__future_of(l->fifo.head);
	const respio_reply *r;
	void *mem;

	if (!f || f->expired) {
		respio_reply *late = NULL;

		respio_parser_take(l->parser, &late);
		if (late && respio_reply_type(late) == RESPIO_REPLY_PUSH) {
			respio_reply_free(late);
			return 0;
		}
		respio_reply_free(late);
		/* A reply nobody asked for: the stream cannot be trusted any
		 * more. */
		if (!f)
			return RESPIO_E_PROTOCOL;
		/* The late reply of a request that timed out (a unit's last). */
		if (f->link_index == RESPIO__LINK_SPECIAL && f->skip_replies) {
			f->skip_replies--;
			return 0;
		}
		fifo_pop(l);
		l->expired--;
		respio__future_unref(f);
		return 0;
	}
	if (f->stream_end > l->handed_end) {
		/* No server answers a command it has not received: this is a
		 * push, and the head's command (whose bytes the reply would
		 * overwrite in the future) is still to be sent. */
		respio_reply *early = NULL;
		int rc = 0;

		respio_parser_take(l->parser, &early);
		if (!early || respio_reply_type(early) != RESPIO_REPLY_PUSH)
			rc = RESPIO_E_PROTOCOL;
		respio_reply_free(early);
		return rc;
	}
	if (f->link_index == RESPIO__LINK_SPECIAL && f->skip_replies)
		return skip_unit_reply(l, f);
	/* Built straight into the head's future, over its command, which the
	 * kernel has taken; should it turn out to be a push, the future's
	 * memory is simply reused for the real reply. */
	mem = respio__future_reply_mem(f, respio_parser_reply_size(l->parser));
	if (!mem) {
		drop_reply(l);
		fifo_pop(l);
		untrack(l, f);
		respio__sink_finish(l->sink, f, -ENOMEM, RESPIO_FATE_REPLIED);
		return 0;
	}
	r = respio_parser_reply_build(l->parser, mem);
	if (respio_reply_type(r) == RESPIO_REPLY_PUSH)
		return 0;
	fifo_pop(l);
	untrack(l, f);
	f->reply = r;
	if (respio_reply_type(r) == RESPIO_REPLY_ERROR)
		l->sink->suspect |= says_not_master(r);
	respio__sink_finish(
	    l->sink, f,
	    respio_reply_type(r) == RESPIO_REPLY_ERROR || f->unit_error ? RESPIO_E_SERVER : 0,
	    RESPIO_FATE_REPLIED);
	return 0;
}

int respio__link_feed(struct respio__link *l, const char *buf, size_t len)
{
	size_t off = 0;

	/* For stall detection, counted in seconds: the coarse clock does, at
	 * a fraction of the cost per receive. */
	l->last_rx_ns = respio__coarse_now_ns();
	l->served = true;
	if (l->stalled)
		l->stalled = false; /* alive after all: send again */
	while (off < len) {
		size_t used = 0;
		int rc = respio_parser_feed(l->parser, buf + off, len - off, &used);

		if (rc < 0)
			return rc;
		off += used;
		if (rc == 0)
			break;
		rc = deliver(l);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void respio__link_up(struct respio__link *l, int fd, int64_t coarse_now)
{
	l->fd = fd;
	l->gen++;
	l->state = RESPIO__LINK_UP;
	l->last_err = 0;
	l->last_rx_ns = coarse_now;
	l->served = false;
	respio_parser_reset(l->parser);
}

void respio__link_down(struct respio__link *l, int err)
{
	struct respio__queue_node *n;
	struct respio__queue keep;
	uint32_t kept = 0;

	if (l->state != RESPIO__LINK_UP)
		return;
	l->fd = -1;
	l->stalled = false;
	l->gen++;
	l->state = RESPIO__LINK_DOWN;
	respio_parser_reset(l->parser);

	respio__queue_init(&keep);
	while ((n = respio__queue_pop(&l->fifo))) {
		respio_future *f = respio__future_of(n);

		if (f->expired) {
			respio__future_unref(f);
		} else if (f->stream_end <= l->handed_end) {
			untrack(l, f);
			respio__sink_finish(l->sink, f, err, RESPIO_FATE_SENT);
		} else {
			respio__queue_push(&keep, n);
			kept++;
		}
	}
	l->fifo = keep;
	l->queued = kept;
	l->expired = 0;
	l->sending.len = 0;
	l->sending_off = 0;
	respio__buf_trim(&l->sending);
	respio__budget_release(l->sink->budget, l->sending_counted);
	l->sending_counted = 0;
	l->handed_tail = NULL;
	rebuild_fill(l, 0);
}

void respio__link_fail_queued(struct respio__link *l, int err)
{
	struct respio__queue_node *n;

	while ((n = respio__queue_pop(&l->fifo))) {
		respio_future *f = respio__future_of(n);

		if (f->expired)
			respio__future_unref(f);
		else
			respio__sink_finish(l->sink, f, err, RESPIO_FATE_NOT_SENT);
	}
	l->handed_tail = NULL;
	l->queued = l->expired = 0;
	l->fill.len = 0;
	respio__buf_trim(&l->fill);
	respio__budget_release(l->sink->budget, l->fill_counted);
	l->fill_counted = 0;
	l->fill_end = l->handed_end = 0;
	respio__deadlines_clear(l->sink->deadlines, l->index);
}

void respio__link_expire(struct respio__link *l, respio_future *f)
{
	if (l->state == RESPIO__LINK_UP && f->stream_end <= l->handed_end) {
		f->expired = true;
		l->expired++;
		respio__sink_finish_early(l->sink, f, RESPIO_FATE_SENT);
		return;
	}
	/* Still the link's until respio__link_sweep completes it: the mark is
	 * read nowhere else in between. */
	f->expired = true;
	l->sweep = true;
}

/*
 * Take out of the unsent part of the FIFO the requests respio__link_expire
 * marked and complete them, then rebuild fill once: both walks start after
 * the last request handed to the kernel, so a link costs O(unsent) per
 * turn however many of its requests expired. A request handed to the
 * kernel is never marked.
 */
void respio__link_sweep(struct respio__link *l)
{
	struct respio__queue_node *prev = l->handed_tail, *n;

	while ((n = prev ? prev->next : l->fifo.head)) {
		respio_future *f = respio__future_of(n);

		if (!f->expired) {
			prev = n;
			continue;
		}
		respio__queue_remove_after(&l->fifo, prev);
		l->queued--;
		respio__sink_finish(l->sink, f, -ETIMEDOUT, RESPIO_FATE_NOT_SENT);
	}
	l->sweep = false;
	rebuild_fill(l, l->handed_end);
}

/* A request handed to the kernel is still waiting for its reply and its
 * own deadline has not passed. */
static bool live_request_sent(const struct respio__link *l)
{
	for (const respio_future *f = respio__future_of(l->fifo.head);
	     f && f->stream_end <= l->handed_end; f = respio__future_of(f->fifo.next))
		if (!f->expired)
			return true;
	return false;
}

/*
 * The clock starts at the later of the last receive and the send that made
 * the connection busy, so an idle spell before the request does not count.
 * A stalled connection sends nothing more (what is unsent can still go
 * elsewhere, fate NOT_SENT); it is replaced only once every request sent on
 * it has met its own deadline, so a slow or timed-out request never fails
 * its neighbours early.
 */
bool respio__link_check_stall(struct respio__link *l, int64_t now, int64_t stall_ns)
{
	int64_t since = l->last_rx_ns > l->busy_since_ns ? l->last_rx_ns : l->busy_since_ns;

	if (!respio__link_awaiting_reply(l) || now - since <= stall_ns) {
		l->stalled = false;
		return false;
	}
	l->stalled = true;
	return !live_request_sent(l);
}

void respio__link_abort(struct respio__link *l, int err)
{
	struct respio__queue_node *n;

	while ((n = respio__queue_pop(&l->fifo))) {
		respio_future *f = respio__future_of(n);

		if (f->expired)
			respio__future_unref(f);
		else if (l->state == RESPIO__LINK_UP && f->stream_end <= l->handed_end)
			respio__sink_finish(l->sink, f, err, RESPIO_FATE_SENT);
		else
			respio__sink_finish(l->sink, f, err, RESPIO_FATE_NOT_SENT);
	}
	l->handed_tail = NULL;
	respio__budget_release(l->sink->budget, l->fill_counted + l->sending_counted);
	l->fill_counted = l->sending_counted = 0;
	l->fd = -1;
	l->state = RESPIO__LINK_DOWN;
	respio__deadlines_clear(l->sink->deadlines, l->index);
}

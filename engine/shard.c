/* SPDX-License-Identifier: MIT */
/* The shard worker: drains its ring, pipelines requests onto its
 * connections through io_uring, parses replies and completes futures. */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "atomic.h"
#include "bigbuf.h"
#include "client_internal.h"
#include "control.h"
#include "deadline.h"
#include "reply_internal.h"
#include "shard.h"

/* Requests taken from the ring per loop turn: enough to batch, small enough
 * that replies keep flowing while producers are busy. */
#define RESPIO__DRAIN_BATCH   512
#define RESPIO__URING_ENTRIES 256
#define RESPIO__RECV_BUFS     128
#define RESPIO__RECV_BUF_SIZE 16384
/* Longest sleep when nothing is due: bounds how stale maintenance gets. */
#define RESPIO__IDLE_TICK_NS 100000000LL
/* How long a shard keeps polling after its last work before it sleeps, and
 * the most requests it may hold in flight to do so (see shard_loop). */
#define RESPIO__POLL_NS		  30000LL
#define RESPIO__POLL_MAX_INFLIGHT 1

/*
 * CQE user_data: op in the low byte, link index above it, and the link's
 * connection generation in the high half, so a completion that belongs to
 * a connection since replaced is recognised and only its buffer recycled.
 */
enum {
	RESPIO__OP_RECV = 1,
	RESPIO__OP_SEND,
	RESPIO__OP_EVENTFD,
	RESPIO__OP_CLOSE, /* a socket closed behind its SQEs (close_through_ring) */
	RESPIO__OP_WAKE = RESPIO__UD_OP_WAKE, /* only refused wakes post a CQE */
};

static inline uint64_t ud_make(unsigned op, uint32_t link, uint32_t gen)
{
	return (uint64_t)gen << 32 | (uint64_t)link << 8 | op;
}

static inline unsigned ud_op(uint64_t ud)
{
	return ud & 0xff;
}

static inline uint32_t ud_link(uint64_t ud)
{
	return (uint32_t)(ud >> 8) & 0xffffff;
}

static inline uint32_t ud_gen(uint64_t ud)
{
	return (uint32_t)(ud >> 32);
}

static struct io_uring_sqe *get_sqe(struct respio__shard *sh)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&sh->uring);

	/* The SQ is full only when a turn prepared more than it holds: push
	 * what we have to the kernel and take a fresh entry. */
	if (!sqe) {
		io_uring_submit(&sh->uring);
		sqe = io_uring_get_sqe(&sh->uring);
	}
	return sqe;
}

static int buf_append(struct respio__buf *b, const char *data, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + len)
			cap *= 2;
		p = respio__bigbuf_resize(b->data, b->cap, cap, b->len);
		if (!p)
			return -ENOMEM;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

/* A buffer that grew for a burst of large commands goes back to the heap
 * once empty, or shrinks once mostly empty, so one burst does not pin its
 * memory for good (max_inflight_bytes bounds what buffers hold, not what
 * they once held). */
#define RESPIO__BUF_KEEP (1u << 20)

static void buf_trim(struct respio__buf *b)
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

static void counter_add(_Atomic uint64_t *c, uint64_t n)
{
	/* Single writer (this shard): a relaxed load and store is enough and
	 * cheaper than a locked add; readers only want a recent value. */
	respio__store_relaxed_u64(c, respio__load_relaxed_u64(c) + n);
}

static void inflight_add(struct respio__shard *sh, int32_t d)
{
	respio__store_relaxed_u32(
	    &sh->stats.inflight,
	    (uint32_t)((int32_t)respio__load_relaxed_u32(&sh->stats.inflight) + d));
}

/* Complete f for its caller and let go of it. */
static void finish(struct respio__shard *sh, respio_future *f, int status, int fate)
{
	if (status == -ETIMEDOUT)
		counter_add(&sh->stats.timed_out, 1);
	if (status == 0 || status == RESPIO_E_SERVER)
		counter_add(&sh->stats.completed, 1);
	else
		counter_add(&sh->stats.failed, 1);
	inflight_add(sh, -1);
	respio__future_complete(f, status, fate, &sh->wakes);
}

/* Complete f for its caller but keep the engine's reference: its reply is
 * still coming and must be read and dropped to keep the stream aligned. */
static void finish_early(struct respio__shard *sh, struct respio__link *link, respio_future *f,
			 int status, int fate)
{
	counter_add(&sh->stats.timed_out, 1);
	counter_add(&sh->stats.failed, 1);
	inflight_add(sh, -1);
	f->expired = true;
	link->expired++;
	respio__future_publish(f, status, fate, &sh->wakes);
}

static uint32_t link_index(struct respio__shard *sh, struct respio__link *link)
{
	return (uint32_t)(link - sh->links);
}

static void request_dial(struct respio__shard *sh, struct respio__link *link)
{
	struct respio__dial_request *d = &link->dial;

	link->state = RESPIO__LINK_DIALING;
	d->reply_to = &sh->mail;
	d->answer = (struct respio__msg){.link = link_index(sh, link), .fd = -1, .in_link = true};
	respio__control_dial(sh->client->control, d);
}

static void fifo_push(struct respio__link *link, respio_future *f)
{
	respio__queue_push(&link->fifo, &f->fifo);
	link->queued++;
}

/* The first request in the FIFO never handed to the kernel (NULL: none). */
static respio_future *first_unsent(const struct respio__link *link)
{
	return respio__future_of(link->handed_tail ? link->handed_tail->next : link->fifo.head);
}

/* f leaves its connection's FIFO in turn (answered, or failed with the
 * connection): its deadline goes with it, before f can be recycled. */
static void untrack(struct respio__shard *sh, struct respio__link *link, respio_future *f)
{
	void *oldest = respio__deadlines_pop_front(sh->deadlines, link_index(sh, link));

	/* Replies and a broken connection take requests in FIFO order; only
	 * a deadline (expire) takes one out of turn, and removes its entry
	 * itself. So the link's oldest entry is f. */
	assert(oldest == f);
	(void)oldest;
	(void)f;
}

/* Copy f's command to the end of fill; from here on fill holds its bytes
 * (a large buffer of f's is freed: every byte is held once). */
static int append_request(struct respio__link *link, respio_future *f)
{
	int rc = buf_append(&link->fill, f->req, f->req_len);

	if (rc < 0)
		return rc;
	link->fill_end += f->req_len;
	link->fill_counted += respio__counted_bytes(f);
	f->stream_end = link->fill_end;
	if (f->req_len > RESPIO__INLINE)
		respio__future_drop_request(f);
	return 0;
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
static void rebuild_fill(struct respio__shard *sh, struct respio__link *link, uint64_t new_base)
{
	uint64_t old_base = link->handed_end, counted = 0;
	size_t dst = 0;

	for (respio_future *f = first_unsent(link); f; f = respio__future_of(f->fifo.next)) {
		size_t src;

		if (f->stream_end <= old_base)
			continue;
		src = (size_t)(f->stream_end - f->req_len - old_base);
		if (src != dst)
			memmove(link->fill.data + dst, link->fill.data + src, f->req_len);
		dst += f->req_len;
		f->stream_end = new_base + dst;
		counted += respio__counted_bytes(f);
	}
	link->fill.len = dst;
	buf_trim(&link->fill);
	link->handed_end = new_base;
	link->fill_end = new_base + dst;
	respio__bytes_release(sh->client, link->fill_counted - counted);
	link->fill_counted = counted;
}

static void arm_recv(struct respio__shard *sh, struct respio__link *link)
{
	struct io_uring_sqe *sqe = get_sqe(sh);

	io_uring_prep_recv_multishot(sqe, link->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = sh->bufs.bgid;
	io_uring_sqe_set_data64(sqe, ud_make(RESPIO__OP_RECV, link_index(sh, link), link->gen));
}

static void submit_send(struct respio__shard *sh, struct respio__link *link)
{
	struct io_uring_sqe *sqe = get_sqe(sh);

	io_uring_prep_send(sqe, link->fd, link->sending.data + link->sending_off,
			   link->sending.len - link->sending_off, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud_make(RESPIO__OP_SEND, link_index(sh, link), link->gen));
	link->send_inflight = true;
}

/* Some request on the connection was handed to the kernel and awaits its
 * reply (answered requests leave the FIFO; expired ones stay until their
 * late reply is read). */
static bool awaiting_reply(const struct respio__link *link)
{
	const respio_future *head = respio__future_of(link->fifo.head);

	return head && head->stream_end <= link->handed_end;
}

/* One send in flight per connection: everything queued meanwhile goes out
 * together in the next one. */
static void flush(struct respio__shard *sh, struct respio__link *link)
{
	struct respio__buf tmp;

	if (link->state != RESPIO__LINK_UP || link->send_inflight || link->fill.len == 0 ||
	    link->stalled)
		return;
	/* Nothing was awaiting a reply: the stall clock starts with this send. */
	if (!awaiting_reply(link))
		link->busy_since_ns = sh->now_ns;
	tmp = link->sending;
	link->sending = link->fill;
	link->fill = tmp;
	link->fill.len = 0;
	buf_trim(&link->fill);
	link->sending_off = 0;
	link->handed_end = link->fill_end;
	link->sending_counted = link->fill_counted;
	link->fill_counted = 0;
	link->handed_tail = link->fifo.tail;
	submit_send(sh, link);
}

static void back_off(struct respio__shard *sh, struct respio__link *link, int err);

/*
 * Close fd behind every SQE that may still name it. SQEs prepared this turn
 * (a send, a recv re-armed) sit in the SQ until the next submit; closed
 * now, the number could go to the control thread's next socket() first and
 * those SQEs would then write old commands into, or read from, a new
 * connection. The kernel takes SQEs in order and each non-linked one takes
 * its reference to the file when it is issued, during the submit: a close
 * queued behind them frees the number only after they hold the old socket.
 */
static void close_through_ring(struct respio__shard *sh, int fd)
{
	struct io_uring_sqe *sqe = get_sqe(sh);

	if (!sqe) {
		/* No entry even after a submit: push what is queued to the
		 * kernel first, then close directly. */
		io_uring_submit(&sh->uring);
		if (io_uring_sq_ready(&sh->uring) == 0) {
			close(fd);
			return;
		}
		/* The kernel took nothing: keep the number (a leak of one fd
		 * beats a stale SQE on someone else's socket). */
		return;
	}
	io_uring_prep_close(sqe, fd);
	io_uring_sqe_set_data64(sqe, ud_make(RESPIO__OP_CLOSE, 0, 0));
}

/*
 * The connection is unusable: close it. Requests handed to the kernel may
 * have executed and complete with err (fate SENT); the rest stay queued for
 * the next connection, in order; one is dialed at once, unless the
 * connection died young (respio__backoff_lost).
 */
static void conn_fail(struct respio__shard *sh, struct respio__link *link, int err)
{
	struct respio__queue_node *n;
	struct respio__queue keep;
	uint32_t kept = 0;

	if (link->state != RESPIO__LINK_UP)
		return;
	/* shutdown() makes the kernel end the recv and any send with an error;
	 * their CQEs then carry a stale generation. */
	shutdown(link->fd, SHUT_RDWR);
	close_through_ring(sh, link->fd);
	link->fd = -1;
	link->stalled = false;
	link->gen++;
	link->state = RESPIO__LINK_DOWN;
	respio_parser_reset(link->parser);
	respio__store_relaxed_u32(&sh->stats.conns_up,
				  respio__load_relaxed_u32(&sh->stats.conns_up) - 1);
	counter_add(&sh->stats.reconnects, 1);

	respio__queue_init(&keep);
	while ((n = respio__queue_pop(&link->fifo))) {
		respio_future *f = respio__future_of(n);

		if (f->expired) {
			respio__future_unref(f);
		} else if (f->stream_end <= link->handed_end) {
			untrack(sh, link, f);
			finish(sh, f, err, RESPIO_FATE_SENT);
		} else {
			respio__queue_push(&keep, n);
			kept++;
		}
	}
	link->fifo = keep;
	link->queued = kept;
	link->expired = 0;
	link->sending.len = 0;
	link->sending_off = 0;
	buf_trim(&link->sending);
	respio__bytes_release(sh->client, link->sending_counted);
	link->sending_counted = 0;
	link->handed_tail = NULL;
	rebuild_fill(sh, link, 0);
	if (sh->stopping)
		return;
	/* A connection that died young counts as a failed attempt (dial.c). */
	if (respio__backoff_lost(&link->backoff, link->served, respio__coarse_now_ns())) {
		back_off(sh, link, err);
		return;
	}
	request_dial(sh, link);
}

/* A dial failed: nothing queued on this link can be sent now, so it fails
 * fast (safe to retry), and so do requests until the backoff ends. */
static void fail_queued(struct respio__shard *sh, struct respio__link *link, int err)
{
	struct respio__queue_node *n;

	while ((n = respio__queue_pop(&link->fifo))) {
		respio_future *f = respio__future_of(n);

		if (f->expired)
			respio__future_unref(f);
		else
			finish(sh, f, err, RESPIO_FATE_NOT_SENT);
	}
	link->handed_tail = NULL;
	link->queued = link->expired = 0;
	link->fill.len = 0;
	buf_trim(&link->fill);
	respio__bytes_release(sh->client, link->fill_counted);
	link->fill_counted = 0;
	link->fill_end = link->handed_end = 0;
	respio__deadlines_clear(sh->deadlines, link_index(sh, link));
}

/* The link's last attempt failed (its dial, or a connection that died
 * young; the caller counted it in attempts): no dial until the backoff
 * ends, and what is queued fails now, never sent. */
static void back_off(struct respio__shard *sh, struct respio__link *link, int err)
{
	link->state = RESPIO__LINK_BACKOFF;
	link->last_err = err;
	respio__backoff_schedule(&link->backoff, respio__now_ns(), &sh->seed);
	fail_queued(sh, link, err);
}

static void conn_ready(struct respio__shard *sh, struct respio__link *link, int fd)
{
	link->fd = fd;
	link->gen++;
	link->state = RESPIO__LINK_UP;
	link->last_err = 0;
	link->last_rx_ns = respio__coarse_now_ns();
	respio__backoff_up(&link->backoff, link->last_rx_ns);
	link->served = false;
	respio_parser_reset(link->parser);
	respio__store_relaxed_u32(&sh->stats.conns_up,
				  respio__load_relaxed_u32(&sh->stats.conns_up) + 1);
	arm_recv(sh, link);
	flush(sh, link);
}

static void handle_mail(struct respio__shard *sh)
{
	struct respio__queue_node *n, *next;

	for (n = respio__mailbox_take(&sh->mail); n; n = next) {
		struct respio__msg *msg = RESPIO__QUEUE_DATA(n, struct respio__msg, node);
		struct respio__link *link = &sh->links[msg->link];

		next = n->next;
		switch (msg->type) {
		case RESPIO__MSG_CONN_READY:
			if (sh->stopping || link->state == RESPIO__LINK_UP)
				close(msg->fd);
			else
				conn_ready(sh, link, msg->fd);
			break;
		case RESPIO__MSG_CONN_FAILED:
			counter_add(&sh->stats.dial_failures, 1);
			respio__backoff_dial_failed(&link->backoff);
			back_off(sh, link, msg->err);
			break;
		case RESPIO__MSG_STOP: sh->stopping = true; break;
		}
		respio__msg_release(msg);
	}
}

/* Complete f, taken from a lane but never appended: its counted bytes go
 * back as it goes. */
static void finish_unsent(struct respio__shard *sh, respio_future *f, int err)
{
	respio__bytes_release(sh->client, respio__counted_bytes(f));
	finish(sh, f, err, RESPIO_FATE_NOT_SENT);
}

static void accept_request(struct respio__shard *sh, respio_future *f, int64_t now)
{
	struct respio__link *link = &sh->links[f->link_index % sh->nlinks];
	int rc;

	inflight_add(sh, 1);
	counter_add(&sh->stats.submitted, 1);
	if (f->deadline_ns <= now) {
		finish_unsent(sh, f, -ETIMEDOUT);
		return;
	}
	if (link->state == RESPIO__LINK_BACKOFF) {
		finish_unsent(sh, f, link->last_err ? link->last_err : RESPIO_E_NOT_CONNECTED);
		return;
	}
	rc = respio__deadlines_reserve(sh->deadlines, link_index(sh, link));
	if (rc == 0)
		rc = append_request(link, f);
	if (rc < 0) {
		finish_unsent(sh, f, rc);
		return;
	}
	f->expired = false;
	fifo_push(link, f);
	respio__deadlines_push(sh->deadlines, link_index(sh, link), f->deadline_ns, f);
	if (link->state == RESPIO__LINK_DOWN)
		request_dial(sh, link);
}

static uint32_t drain_ring(struct respio__shard *sh, int64_t now)
{
	/* The shard is its lanes' only consumer, ever (shard_shutdown drains
	 * them on this thread too): the single-consumer dequeue saves the
	 * consumer's CAS per request. */
	struct respio__lanes_pass pass =
	    respio__lanes_pass(sh->lanes, sh->next_lane, RESPIO__DRAIN_BATCH);
	uint32_t n = 0;
	void *p;

	while (respio__lanes_take(&pass, &p)) {
		accept_request(sh, p, now);
		n++;
	}
	sh->next_lane = (sh->next_lane + 1) % RESPIO__LANES;
	if (n) {
		counter_add(&sh->stats.batches, 1);
		counter_add(&sh->stats.batched, n);
	}
	return n;
}

/*
 * Take out of the unsent part of the FIFO the requests expire() marked and
 * complete them, then rebuild fill once: both walks start after the last
 * request handed to the kernel, so a link costs O(unsent) per turn however
 * many of its requests expired. A request handed to the kernel is never
 * marked.
 */
static void sweep_unsent(struct respio__shard *sh, struct respio__link *link)
{
	struct respio__queue_node *prev = link->handed_tail, *n;

	while ((n = prev ? prev->next : link->fifo.head)) {
		respio_future *f = respio__future_of(n);

		if (!f->expired) {
			prev = n;
			continue;
		}
		respio__queue_remove_after(&link->fifo, prev);
		link->queued--;
		finish(sh, f, -ETIMEDOUT, RESPIO_FATE_NOT_SENT);
	}
	link->sweep = false;
	rebuild_fill(sh, link, link->handed_end);
}

/*
 * Complete every request whose deadline has passed, taken from the
 * deadline set in deadline order (deadline.c): the cost is per request
 * expired, not per request held. One already handed to the kernel
 * completes now but keeps its place in the FIFO, so its late reply is read
 * and dropped; one still in fill is marked, and each link with marks is
 * swept once at the end (its fill is rebuilt once however many expired).
 */
static void expire(struct respio__shard *sh, int64_t now)
{
	bool sweep = false;
	uint32_t i;
	void *p;

	while (respio__deadlines_pop_expired(sh->deadlines, now, &i, &p)) {
		struct respio__link *link = &sh->links[i];
		respio_future *f = p;

		if (link->state == RESPIO__LINK_UP && f->stream_end <= link->handed_end) {
			finish_early(sh, link, f, -ETIMEDOUT, RESPIO_FATE_SENT);
			continue;
		}
		/* Still the shard's until sweep_unsent completes it: the mark
		 * is read nowhere else in between. */
		f->expired = true;
		link->sweep = sweep = true;
	}
	for (i = 0; sweep && i < sh->nlinks; i++)
		if (sh->links[i].sweep)
			sweep_unsent(sh, &sh->links[i]);
}

/* A request handed to the kernel is still waiting for its reply and its
 * own deadline has not passed. */
static bool live_request_sent(const struct respio__link *link)
{
	for (const respio_future *f = respio__future_of(link->fifo.head);
	     f && f->stream_end <= link->handed_end; f = respio__future_of(f->fifo.next))
		if (!f->expired)
			return true;
	return false;
}

/*
 * A connection is stalled when a request has awaited its reply for longer
 * than max(timeout, 1 s) and nothing arrived in that time: the clock starts
 * at the later of the last receive and the send that made the connection
 * busy, so an idle spell before the request does not count. A stalled
 * connection sends nothing more (what is unsent can still go elsewhere,
 * fate NOT_SENT); it is replaced only once every request sent on it has
 * met its own deadline, so a slow or timed-out request never fails its
 * neighbours early. A reply clears the stall (on_recv).
 */
static void check_stall(struct respio__shard *sh, struct respio__link *link, int64_t now,
			int64_t stall_ns)
{
	int64_t since =
	    link->last_rx_ns > link->busy_since_ns ? link->last_rx_ns : link->busy_since_ns;

	if (!awaiting_reply(link) || now - since <= stall_ns) {
		link->stalled = false;
		return;
	}
	link->stalled = true;
	if (!live_request_sent(link))
		conn_fail(sh, link, -ETIMEDOUT);
}

/* Redial after backoff; leave behind a connection that stopped answering. */
static void maintain(struct respio__shard *sh, int64_t now)
{
	int64_t stall_ns =
	    sh->client->timeout_ns > 1000000000 ? sh->client->timeout_ns : 1000000000;

	for (uint32_t i = 0; i < sh->nlinks; i++) {
		struct respio__link *link = &sh->links[i];

		if (link->state == RESPIO__LINK_BACKOFF && now >= link->backoff.retry_at_ns)
			request_dial(sh, link);
		else if (link->state == RESPIO__LINK_UP)
			check_stall(sh, link, now, stall_ns);
	}
}

/* Drop the complete reply in the parser (an allocation, on rare paths only). */
static void drop_reply(struct respio__link *link)
{
	respio_reply *r = NULL;

	respio_parser_take(link->parser, &r);
	respio_reply_free(r);
}

static void fifo_pop(struct respio__link *link)
{
	if (link->fifo.head == link->handed_tail)
		link->handed_tail = NULL;
	respio__queue_pop(&link->fifo);
	link->queued--;
}

/*
 * A complete reply is in the parser: it belongs to the FIFO's head, unless
 * it is a RESP3 push (client-side caching invalidations, say), which answers
 * no request and is dropped without disturbing the FIFO.
 */
static void deliver(struct respio__shard *sh, struct respio__link *link)
{
	respio_future *f = respio__future_of(link->fifo.head);
	const respio_reply *r;
	void *mem;

	if (!f || f->expired) {
		respio_reply *late = NULL;

		respio_parser_take(link->parser, &late);
		if (late && respio_reply_type(late) == RESPIO_REPLY_PUSH) {
			respio_reply_free(late);
			return;
		}
		respio_reply_free(late);
		if (!f) {
			/* A reply nobody asked for: the stream cannot be
			 * trusted any more. */
			conn_fail(sh, link, RESPIO_E_PROTOCOL);
			return;
		}
		/* The late reply of a request that timed out. */
		fifo_pop(link);
		link->expired--;
		respio__future_unref(f);
		return;
	}
	if (f->stream_end > link->handed_end) {
		/* No server answers a command it has not received: this is a
		 * push, and the head's command (whose bytes the reply would
		 * overwrite in the future) is still to be sent. */
		respio_reply *early = NULL;

		respio_parser_take(link->parser, &early);
		if (!early || respio_reply_type(early) != RESPIO_REPLY_PUSH)
			conn_fail(sh, link, RESPIO_E_PROTOCOL);
		respio_reply_free(early);
		return;
	}
	/* Built straight into the head's future, over its command, which the
	 * kernel has taken; should it turn out to be a push, the future's
	 * memory is simply reused for the real reply. */
	mem = respio__future_reply_mem(f, respio_parser_reply_size(link->parser));
	if (!mem) {
		drop_reply(link);
		fifo_pop(link);
		untrack(sh, link, f);
		finish(sh, f, -ENOMEM, RESPIO_FATE_REPLIED);
		return;
	}
	r = respio_parser_reply_build(link->parser, mem);
	if (respio_reply_type(r) == RESPIO_REPLY_PUSH)
		return;
	fifo_pop(link);
	untrack(sh, link, f);
	f->reply = r;
	finish(sh, f, respio_reply_type(r) == RESPIO_REPLY_ERROR ? RESPIO_E_SERVER : 0,
	       RESPIO_FATE_REPLIED);
}

static void on_recv(struct respio__shard *sh, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	struct respio__link *link = &sh->links[ud_link(ud)];
	bool has_buf = cqe->flags & IORING_CQE_F_BUFFER;
	uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
	uint32_t gen = ud_gen(ud);

	if (gen != link->gen || link->state != RESPIO__LINK_UP) {
		if (has_buf)
			respio__bufring_recycle(&sh->bufs, bid);
		return;
	}
	if (cqe->res > 0 && has_buf) {
		const char *buf = respio__bufring_buf(&sh->bufs, bid);
		size_t len = (size_t)cqe->res, off = 0;

		/* For stall detection, counted in seconds: the coarse clock
		 * does, at a fraction of the cost per receive. */
		link->last_rx_ns = respio__coarse_now_ns();
		link->served = true;
		if (link->stalled)
			link->stalled = false; /* alive after all: send again */
		while (off < len && link->gen == gen) {
			size_t used = 0;
			int rc = respio_parser_feed(link->parser, buf + off, len - off, &used);

			if (rc < 0) {
				conn_fail(sh, link, rc);
				break;
			}
			off += used;
			if (rc == 0)
				break;
			deliver(sh, link);
		}
		/* The parser copied what it needs: the buffer goes straight back. */
		respio__bufring_recycle(&sh->bufs, bid);
	} else if (has_buf) {
		respio__bufring_recycle(&sh->bufs, bid);
	}
	if (link->gen != gen)
		return;
	if (cqe->res == 0) {
		conn_fail(sh, link, RESPIO_E_CLOSED);
		return;
	}
	if (cqe->res < 0 && cqe->res != -ENOBUFS) {
		conn_fail(sh, link, cqe->res);
		return;
	}
	/* Multishot ends on any CQE without F_MORE (ENOBUFS included). */
	if (!(cqe->flags & IORING_CQE_F_MORE))
		arm_recv(sh, link);
}

static void on_send(struct respio__shard *sh, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	struct respio__link *link = &sh->links[ud_link(ud)];

	/* Whatever its generation, this was the link's one pending send. */
	link->send_inflight = false;
	if (ud_gen(ud) != link->gen || link->state != RESPIO__LINK_UP) {
		flush(sh, link);
		return;
	}
	if (cqe->res < 0) {
		conn_fail(sh, link, cqe->res);
		return;
	}
	link->sending_off += (size_t)cqe->res;
	if (link->sending_off < link->sending.len) {
		submit_send(sh, link);
		return;
	}
	/* The kernel has every byte: they no longer count against the bound. */
	link->sending.len = 0;
	link->sending_off = 0;
	buf_trim(&link->sending);
	respio__bytes_release(sh->client, link->sending_counted);
	link->sending_counted = 0;
	flush(sh, link);
}

static void arm_eventfd(struct respio__shard *sh)
{
	struct io_uring_sqe *sqe = get_sqe(sh);

	io_uring_prep_read(sqe, sh->efd, &sh->efd_val, sizeof(sh->efd_val), 0);
	io_uring_sqe_set_data64(sqe, ud_make(RESPIO__OP_EVENTFD, 0, 0));
	sh->efd_armed = true;
}

/* The held wakes of a batch, in one io_uring_enter (uring.h). */
static uint32_t ring_wake_batch(void *ring, _Atomic uint32_t *const *words, uint32_t n)
{
	return respio__uring_futex_wake(ring, words, n);
}

static void wake_through_ring(struct respio__shard *sh, bool on)
{
	sh->wakes.wake_batch = on ? ring_wake_batch : NULL;
	sh->wakes.wake_ctx = on ? &sh->uring : NULL;
}

/* The kernel lists the opcode yet refused a wake: make it by syscall, and
 * make every later one that way too. */
static void on_refused_wake(struct respio__shard *sh, struct io_uring_cqe *cqe)
{
	respio__futex_wake(respio__uring_wake_word(io_uring_cqe_get_data64(cqe)), INT_MAX);
	wake_through_ring(sh, false);
}

/* Wake the held waiters and publish the wake counters (also those of a
 * full batch that respio__future_publish flushed on its own). */
static void flush_wakes(struct respio__shard *sh)
{
	respio__wakes_flush(&sh->wakes);
	respio__store_relaxed_u64(&sh->stats.waiter_wakes, sh->wakes.woken);
	respio__store_relaxed_u64(&sh->stats.wake_calls, sh->wakes.calls);
}

static unsigned process_cqes(struct respio__shard *sh)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&sh->uring, head, cqe)
	{
		switch (ud_op(io_uring_cqe_get_data64(cqe))) {
		case RESPIO__OP_RECV: on_recv(sh, cqe); break;
		case RESPIO__OP_SEND: on_send(sh, cqe); break;
		case RESPIO__OP_EVENTFD: sh->efd_armed = false; break;
		case RESPIO__OP_WAKE: on_refused_wake(sh, cqe); break;
		}
		n++;
	}
	io_uring_cq_advance(&sh->uring, n);
	/* Every reply of this batch is published: wake its waiters now. */
	flush_wakes(sh);
	if (!sh->efd_armed && !sh->stopping)
		arm_eventfd(sh);
	return n;
}

/* Start the sends that are due and publish how many connections are busy. */
static void flush_all(struct respio__shard *sh)
{
	uint32_t busy = 0;

	for (uint32_t i = 0; i < sh->nlinks; i++) {
		flush(sh, &sh->links[i]);
		busy += sh->links[i].state == RESPIO__LINK_UP && sh->links[i].queued > 0;
	}
	if (busy != respio__load_relaxed_u32(&sh->stats.conns_busy))
		respio__store_relaxed_u32(&sh->stats.conns_busy, busy);
}

static bool has_work(struct respio__shard *sh)
{
	return !respio__lanes_empty(sh->lanes) || respio__mailbox_peek(&sh->mail);
}

static int64_t next_wake(struct respio__shard *sh, int64_t now)
{
	int64_t t = now + RESPIO__IDLE_TICK_NS, deadline = respio__deadlines_next(sh->deadlines);

	if (deadline < t)
		t = deadline;
	for (uint32_t i = 0; i < sh->nlinks; i++)
		if (sh->links[i].state == RESPIO__LINK_BACKOFF &&
		    sh->links[i].backoff.retry_at_ns < t)
			t = sh->links[i].backoff.retry_at_ns;
	return t > now ? t : now;
}

static void shard_loop(struct respio__shard *sh)
{
	int64_t last_maint = 0, poll_until = 0;
	bool replies = false; /* the last turn completed something */

	for (;;) {
		int64_t now;
		uint32_t drained;

		if (respio__mailbox_peek(&sh->mail))
			handle_mail(sh);
		if (sh->stopping || respio__load_acquire_u32(&sh->stop_flag))
			return;
		now = respio__now_ns();
		sh->now_ns = now;
		drained = drain_ring(sh, now);
		if (now >= respio__deadlines_next(sh->deadlines))
			expire(sh, now);
		if (now - last_maint >= 10000000) {
			maintain(sh, now);
			last_maint = now;
		}
		flush_all(sh);
		/* Requests failed above (deadline, backoff, no memory). */
		flush_wakes(sh);

		/* One clock read per turn: the poll window opens at the start
		 * of the turn after the work, microseconds late at most. */
		if (drained || replies)
			poll_until = now + RESPIO__POLL_NS;
		if (drained == 0 && !io_uring_cq_ready(&sh->uring) && now < poll_until &&
		    respio__load_relaxed_u32(&sh->stats.inflight) <= RESPIO__POLL_MAX_INFLIGHT) {
			/*
			 * Work happened moments ago and at most one request is
			 * in flight: a lone caller waits on a round trip, the
			 * next reply or request is microseconds away, and a
			 * sleep would cost a wakeup on each side (the sleeping
			 * flag stays clear, so submitters skip the eventfd
			 * too). With more callers the poll took the CPU they
			 * and the server needed (4 synchronous threads on 2
			 * cores ran slower with it); they sleep as before.
			 */
			io_uring_submit_and_get_events(&sh->uring);
			replies = process_cqes(sh) > 0;
			if (!replies)
				respio__cpu_relax();
			continue;
		}
		if (drained == 0 && !io_uring_cq_ready(&sh->uring)) {
			struct __kernel_timespec ts;
			struct io_uring_cqe *cqe;
			int64_t wait_ns;

			/*
			 * About to block. The seq_cst fence orders the store of
			 * sleeping before the ring check below; it pairs with
			 * the fence a producer issues between its enqueue and
			 * its load of sleeping, so either we see its request or
			 * it sees us asleep and writes the eventfd.
			 */
			respio__store_relaxed_u32(&sh->sleeping, 1);
			respio__fence_seq_cst();
			if (has_work(sh)) {
				respio__store_relaxed_u32(&sh->sleeping, 0);
				io_uring_submit(&sh->uring);
				continue;
			}
			counter_add(&sh->stats.sleeps, 1);
			wait_ns = next_wake(sh, now) - now;
			ts.tv_sec = wait_ns / 1000000000;
			ts.tv_nsec = wait_ns % 1000000000;
			io_uring_submit_and_wait_timeout(&sh->uring, &cqe, 1, &ts, NULL);
			respio__store_relaxed_u32(&sh->sleeping, 0);
		} else {
			io_uring_submit_and_get_events(&sh->uring);
		}
		replies = process_cqes(sh) > 0;
	}
}

/* Everything still in the shard completes with RESPIO_E_SHUTDOWN. */
static void shard_shutdown(struct respio__shard *sh)
{
	struct respio__lanes_pass pass = respio__lanes_pass(sh->lanes, 0, UINT32_MAX);
	void *p;

	while (respio__lanes_take(&pass, &p)) {
		inflight_add(sh, 1);
		finish_unsent(sh, p, RESPIO_E_SHUTDOWN);
	}
	for (uint32_t i = 0; i < sh->nlinks; i++) {
		struct respio__link *link = &sh->links[i];
		struct respio__queue_node *n;

		while ((n = respio__queue_pop(&link->fifo))) {
			respio_future *f = respio__future_of(n);

			if (f->expired)
				respio__future_unref(f);
			else if (link->state == RESPIO__LINK_UP &&
				 f->stream_end <= link->handed_end)
				finish(sh, f, RESPIO_E_SHUTDOWN, RESPIO_FATE_SENT);
			else
				finish(sh, f, RESPIO_E_SHUTDOWN, RESPIO_FATE_NOT_SENT);
		}
		link->handed_tail = NULL;
		respio__bytes_release(sh->client, link->fill_counted + link->sending_counted);
		link->fill_counted = link->sending_counted = 0;
		if (link->fd >= 0) {
			shutdown(link->fd, SHUT_RDWR);
			close_through_ring(sh, link->fd);
			link->fd = -1;
		}
		link->state = RESPIO__LINK_DOWN;
		respio__deadlines_clear(sh->deadlines, i);
	}
}

/* Links, parsers and buffers are the client's to free, after the join. */
static void shard_free_resources(struct respio__shard *sh)
{
	/* This submit closes the sockets queued by close_through_ring, after
	 * the SQEs before them (on sockets already shut down). Exiting the
	 * ring cancels what is pending; only then may the memory its SQEs
	 * point at (buffers, sends) go. */
	io_uring_submit(&sh->uring);
	io_uring_queue_exit(&sh->uring);
	respio__bufring_free(NULL, &sh->bufs);
	respio__deadlines_destroy(sh->deadlines);
	sh->deadlines = NULL;
}

/* The shard's mailbox wakes it: control messages are rare, so always. */
static void kick(void *arg)
{
	struct respio__shard *sh = arg;

	if (eventfd_write(sh->efd, 1) < 0) {
		/* The counter cannot overflow in practice; nothing to do. */
	}
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 2;

	while (p < n && p < (1u << 30))
		p <<= 1;
	return p;
}

int respio__shard_init(struct respio__shard *sh, struct respio_client *c, uint32_t index)
{
	sh->client = c;
	sh->seed = (unsigned)time(NULL) ^ (index * 2654435761u);
	sh->efd = -1;
	respio__mailbox_init(&sh->mail, kick, sh);
	sh->initialized = true;
	sh->lane_cap = pow2_at_least(c->cfg.ring_capacity + 1);
	sh->lanes = aligned_alloc(64, RESPIO__LANES * sizeof(*sh->lanes));
	if (!sh->lanes)
		return -ENOMEM;
	memset(sh->lanes, 0, RESPIO__LANES * sizeof(*sh->lanes));
	for (uint32_t i = 0; i < RESPIO__LANES; i++) {
		sh->lanes[i].buf = calloc(sh->lane_cap, sizeof(*sh->lanes[i].buf));
		if (!sh->lanes[i].buf)
			return -ENOMEM;
		ck_ring_init(&sh->lanes[i].ring, sh->lane_cap);
	}
	sh->efd = eventfd(0, EFD_CLOEXEC);
	if (sh->efd < 0)
		return -errno;
	sh->nlinks = c->links_per_shard;
	sh->links = calloc(sh->nlinks, sizeof(*sh->links));
	if (!sh->links)
		return -ENOMEM;
	for (uint32_t i = 0; i < sh->nlinks; i++) {
		int rc = respio_parser_create(&c->cfg.limits, &sh->links[i].parser);

		sh->links[i].fd = -1;
		if (rc < 0)
			return rc;
	}
	return 0;
}

void respio__shard_fini(struct respio__shard *sh)
{
	if (!sh->initialized)
		return;
	/* Messages first: a dial's answer lives in its link. */
	respio__mailbox_destroy(&sh->mail);
	for (uint32_t i = 0; sh->links && i < sh->nlinks; i++) {
		respio_parser_destroy(sh->links[i].parser);
		respio__bigbuf_free(sh->links[i].fill.data, sh->links[i].fill.cap);
		respio__bigbuf_free(sh->links[i].sending.data, sh->links[i].sending.cap);
	}
	free(sh->links);
	if (sh->efd >= 0)
		close(sh->efd);
	for (uint32_t i = 0; sh->lanes && i < RESPIO__LANES; i++)
		free(sh->lanes[i].buf);
	free(sh->lanes);
}

_Thread_local bool respio__on_shard_thread;

static void *shard_main(void *arg)
{
	struct respio__shard *sh = arg;
	struct respio_client *c = sh->client;
	unsigned flags = 0;
	int rc;

	respio__on_shard_thread = true;
	rc = respio__uring_init(&sh->uring, RESPIO__URING_ENTRIES, &flags);
	if (rc == 0) {
		rc = respio__bufring_init(&sh->uring, &sh->bufs, 0, RESPIO__RECV_BUFS,
					  RESPIO__RECV_BUF_SIZE);
		if (rc == 0) {
			rc = respio__deadlines_create(sh->nlinks, &sh->deadlines);
			if (rc < 0)
				respio__bufring_free(&sh->uring, &sh->bufs);
		}
		if (rc < 0)
			io_uring_queue_exit(&sh->uring);
	}
	pthread_mutex_lock(&c->start_lock);
	sh->init_rc = rc;
	c->started++;
	pthread_cond_broadcast(&c->start_cond);
	pthread_mutex_unlock(&c->start_lock);
	if (rc < 0)
		return NULL;

	wake_through_ring(sh, respio__uring_has_futex_wake(&sh->uring));
	arm_eventfd(sh);
	for (uint32_t i = 0; i < sh->nlinks; i++)
		if (sh->links[i].state == RESPIO__LINK_DOWN)
			request_dial(sh, &sh->links[i]);
	shard_loop(sh);
	/* From here the ring only winds down: wake by syscall, which submits
	 * nothing else. */
	wake_through_ring(sh, false);
	shard_shutdown(sh);
	/* Messages that raced with the stop: their sockets must not leak. */
	sh->stopping = true;
	handle_mail(sh);
	flush_wakes(sh);
	shard_free_resources(sh);
	return NULL;
}

int respio__shard_start(struct respio__shard *sh)
{
	char name[16];
	int rc = pthread_create(&sh->thread, NULL, shard_main, sh);

	if (rc)
		return -rc;
	/* Named after its index, for top -H, perf and debuggers. */
	snprintf(name, sizeof(name), "respio-shard%u", (unsigned)(sh - sh->client->shards) % 1000);
	pthread_setname_np(sh->thread, name);
	return 0;
}

void respio__shard_stop(struct respio__shard *sh)
{
	struct respio__msg *msg = calloc(1, sizeof(*msg));

	if (msg) {
		msg->type = RESPIO__MSG_STOP;
		respio__mailbox_post(&sh->mail, msg);
	} else {
		/* Without memory for a message, stop through the flag the
		 * shard reads every turn. */
		respio__store_release_u32(&sh->stop_flag, 1);
		respio__shard_wake(sh);
	}
}

void respio__shard_wake(struct respio__shard *sh)
{
	/*
	 * Pairs with the fence in shard_loop: our enqueue is ordered before
	 * this load of sleeping. The exchange lets exactly one producer write
	 * the eventfd per sleep.
	 */
	respio__fence_seq_cst();
	if (respio__load_relaxed_u32(&sh->sleeping) &&
	    respio__exchange_acq_rel_u32(&sh->sleeping, 0) == 1) {
		respio__fetch_add_relaxed_u64(&sh->stats.wakeups, 1);
		if (eventfd_write(sh->efd, 1) < 0) {
			/* Cannot fail short of a closed fd; the tick still runs. */
		}
	}
}

void respio__shard_join(struct respio__shard *sh)
{
	pthread_join(sh->thread, NULL);
}

/* SPDX-License-Identifier: MIT */
/* A link: one pipelined connection of a shard, its bytes, its FIFO of
 * requests and the fate of each; no sockets, no io_uring. */
#ifndef RESPIO_LINK_H
#define RESPIO_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "deadline.h"
#include "future.h"
#include "queue.h"
#include "sink.h"

/*
 * A link is what a shard knows of one connection: the bytes queued for it
 * and handed to the kernel, the requests that wait for their replies in
 * wire order, and the parser of its replies. It does no I/O: the shard
 * sends what respio__link_flush says, feeds what it receives to
 * respio__link_feed, and tells the link when the connection comes up or is
 * lost. So a link can be driven without a socket (tests/test_link.c).
 *
 * Offsets are counted in the byte stream of the current connection. A
 * request whose stream_end is at or below handed_end was handed to the
 * kernel: it may have executed, and fails with fate SENT; one above it is
 * still in fill, can be taken back, and fails NOT_SENT or moves to the next
 * connection. Replies take the FIFO's head; only a deadline takes a request
 * out of turn (respio__link_expire).
 *
 * The link comes UP (respio__link_up) and goes DOWN (respio__link_down);
 * its slice moves it from DOWN to DIALING and BACKOFF (slice.c).
 * Single-threaded: the shard's thread.
 */
enum respio__link_state {
	RESPIO__LINK_DOWN = 0, /* no socket, no dial asked for yet */
	RESPIO__LINK_DIALING,  /* a dial was asked for, maybe queued behind others */
	RESPIO__LINK_UP,
	RESPIO__LINK_WAITING, /* lost; redials at its jittered time, requests kept */
	RESPIO__LINK_BACKOFF, /* last dial failed; the next waits (dial.h) */
	RESPIO__LINK_BROKEN,  /* a session's connection was lost: its state with it */
};

struct respio__buf {
	char *data;
	size_t len, cap;
};

struct respio__link {
	int state;
	int fd;		/* the slice's to close: the link only keeps it */
	uint32_t gen;	/* bumped per connection; stale CQEs carry an old one */
	uint32_t index; /* in its shard: its queue in the deadline set */
	struct respio__sink *sink;
	respio_parser *parser;

	struct respio__buf fill;    /* bytes queued for the next send */
	struct respio__buf sending; /* bytes handed to the kernel */
	size_t sending_off;	    /* how much of sending was written */
	bool send_inflight;	    /* a send (maybe of an old gen) is pending */
	bool served;		    /* this connection received something */
	bool stalled;		    /* no reply for the stall limit: send nothing more */
	bool sweep;		    /* respio__link_expire marked unsent requests */

	struct respio__queue fifo; /* of futures, through their fifo node */
	/* The last request in the FIFO handed to the kernel (NULL: none); the
	 * unsent ones follow it. */
	struct respio__queue_node *handed_tail;
	uint32_t queued;   /* futures in the FIFO */
	uint32_t expired;  /* of those, completed early (timed out): reply discarded */
	uint64_t fill_end; /* stream offset after the last byte in fill */
	/* Counted bytes (respio__counted_bytes) in fill and in sending. */
	uint64_t fill_counted, sending_counted;
	uint64_t handed_end;

	int64_t last_rx_ns; /* CLOCK_MONOTONIC_COARSE */
	/* When the oldest request still awaiting its reply was handed to the
	 * kernel, if nothing was outstanding before it (see
	 * respio__link_check_stall). */
	int64_t busy_since_ns;
	int last_err; /* why the last attempt failed (BACKOFF) */
};

/* A DOWN link, queue index of sink's deadline set, replies parsed within
 * limits: 0, or a negative code (nothing to free). */
int respio__link_init(struct respio__link *l, uint32_t index, struct respio__sink *sink,
		      const respio_limits *limits);

/* Free the link's parser and buffers; its requests must be gone. */
void respio__link_fini(struct respio__link *l);

/* Make room in b for len more bytes: 0 or -ENOMEM. */
int respio__buf_grow(struct respio__buf *b, size_t len);

/*
 * Queue f behind the link's requests: its deadline into the set, its
 * command to the end of fill (which holds its bytes from here on: a large
 * buffer of f's is freed, so every byte is held once), f into the FIFO.
 * 0, or -ENOMEM with nothing changed (f is still the caller's).
 */
static inline int respio__link_push(struct respio__link *l, respio_future *f)
{
	struct respio__buf *b = &l->fill;
	int rc = respio__deadlines_reserve(l->sink->deadlines, l->index);

	if (rc == 0 && b->len + f->req_len > b->cap)
		rc = respio__buf_grow(b, f->req_len);
	if (rc < 0)
		return rc;
	memcpy(b->data + b->len, f->req, f->req_len);
	b->len += f->req_len;
	l->fill_end += f->req_len;
	l->fill_counted += respio__counted_bytes(f);
	f->stream_end = l->fill_end;
	if (f->req_len > RESPIO__INLINE)
		respio__future_drop_request(f);
	f->expired = false;
	respio__queue_push(&l->fifo, &f->fifo);
	l->queued++;
	respio__deadlines_push(l->sink->deadlines, l->index, f->deadline_ns, f);
	return 0;
}

/* A buffer that grew for a burst of large commands goes back to the heap
 * once empty, or shrinks once mostly empty (link.c). */
void respio__buf_trim(struct respio__buf *b);

/* Some request on the connection was handed to the kernel and awaits its
 * reply (answered requests leave the FIFO; expired ones stay until their
 * late reply is read). */
static inline bool respio__link_awaiting_reply(const struct respio__link *l)
{
	const respio_future *head = respio__future_of(l->fifo.head);

	return head && head->stream_end <= l->handed_end;
}

/*
 * One send in flight per connection: everything queued meanwhile goes out
 * together in the next one. True when a send must start now, of the bytes
 * respio__link_send_bytes gives (the link counts it in flight); now starts
 * the stall clock when nothing was awaiting a reply.
 */
static inline bool respio__link_flush(struct respio__link *l, int64_t now)
{
	struct respio__buf tmp;

	if (l->state != RESPIO__LINK_UP || l->send_inflight || l->fill.len == 0 || l->stalled)
		return false;
	if (!respio__link_awaiting_reply(l))
		l->busy_since_ns = now;
	tmp = l->sending;
	l->sending = l->fill;
	l->fill = tmp;
	l->fill.len = 0;
	respio__buf_trim(&l->fill);
	l->sending_off = 0;
	l->handed_end = l->fill_end;
	l->sending_counted = l->fill_counted;
	l->fill_counted = 0;
	l->handed_tail = l->fifo.tail;
	l->send_inflight = true;
	return true;
}

/* The bytes of the send in flight that the kernel has not taken yet. */
static inline const char *respio__link_send_bytes(const struct respio__link *l, size_t *len)
{
	*len = l->sending.len - l->sending_off;
	return l->sending.data + l->sending_off;
}

/* The send in flight came back with res (bytes written, or -errno) on the
 * current connection: 1 when bytes are left (send them, still in flight),
 * 0 when the kernel has them all (their counted bytes go back), res when
 * it failed (the connection is lost: the caller fails it). */
int respio__link_sent(struct respio__link *l, int res);

/* A send of a connection since lost came back: the link may send again. */
static inline void respio__link_send_stale(struct respio__link *l)
{
	l->send_inflight = false;
}

/* Bytes received on the current connection: parse them, complete the
 * requests they answer. 0, or a negative code when the stream cannot be
 * trusted any more (a malformed reply, a reply nobody asked for): the
 * caller then fails the connection. */
int respio__link_feed(struct respio__link *l, const char *buf, size_t len);

/* A connection is up on fd (coarse_now: CLOCK_MONOTONIC_COARSE). The
 * caller then receives on it and flushes. */
void respio__link_up(struct respio__link *l, int fd, int64_t coarse_now);

/*
 * The connection is lost with err (the caller has closed or is closing
 * fd). Requests handed to the kernel may have executed and complete with
 * err (fate SENT); the rest stay queued for the next connection, in order,
 * repacked from stream offset 0. DOWN afterwards; a no-op unless UP.
 */
void respio__link_down(struct respio__link *l, int err);

/* The last dial failed with err: nothing queued can be sent now, so all of
 * it completes (fate NOT_SENT, safe to retry) and its deadlines go. */
void respio__link_fail_queued(struct respio__link *l, int err);

/* f of this link has reached its deadline (taken out of the deadline set
 * by the caller). Handed to the kernel: it completes now, and its late
 * reply is read and dropped. Still in fill: it is marked, and
 * respio__link_sweep takes every marked one out at once (l->sweep says
 * whether there are any). */
void respio__link_expire(struct respio__link *l, respio_future *f);
void respio__link_sweep(struct respio__link *l);

/*
 * Whether the connection stalled beyond repair: a request has awaited its
 * reply for longer than stall_ns and nothing arrived in that time (the
 * clock starts at the later of the last receive and the send that made the
 * connection busy). A stalled link sends nothing more; true once no
 * request sent on it is still within its own deadline, when the caller
 * closes it. A reply clears the stall.
 */
bool respio__link_check_stall(struct respio__link *l, int64_t now, int64_t stall_ns);

/* The shard stops: every request completes with err (fate SENT if handed
 * to the kernel on a live connection, else NOT_SENT) and the link is DOWN.
 * The caller closes fd first. */
void respio__link_abort(struct respio__link *l, int err);

/* Up with requests queued (the shard's conns_busy). */
static inline bool respio__link_busy(const struct respio__link *l)
{
	return l->state == RESPIO__LINK_UP && l->queued > 0;
}

#endif

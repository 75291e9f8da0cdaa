/* SPDX-License-Identifier: MIT */
/* Shards and the control thread: the engine's shared structures. */
#ifndef RESPIO_SHARD_H
#define RESPIO_SHARD_H

#include <ck_ring.h>
#include <pthread.h>

#include "future.h"
#include "uring.h"

struct respio__control;
struct respio__deadlines;
struct respio__shard;

/* Messages the control thread leaves in a shard's mailbox. */
enum respio__ctl_type {
	RESPIO__CTL_CONN_READY = 1, /* fd: a connected, handshaken socket for link */
	RESPIO__CTL_CONN_FAILED,    /* err: why the dial for link failed */
	RESPIO__CTL_STOP,	    /* finish every request and exit */
};

struct respio__ctl {
	struct respio__queue_node node; /* in a mailbox */
	int type;
	uint32_t link;
	int fd;
	int err;
	bool in_link; /* a dial's answer, part of the link (respio__dial): never freed */
};

/*
 * A dial request and the message that answers it, in one piece that the
 * link owns: a link has at most one dial in flight (it asks for one only
 * from DOWN or BACKOFF, and is DIALING until the answer arrives), so asking
 * and answering allocate nothing and no failed allocation can leave a link
 * dialing for ever. The control side stops touching it once it has posted
 * the answer.
 */
struct respio__dial {
	struct respio__queue_node node; /* in the control thread's queue */
	struct respio__shard *shard;
	struct respio__ctl answer; /* CONN_READY or CONN_FAILED for answer.link */
};

/* A mailbox for the rare control path: a mutex is fine here, and keeps the
 * request ring free of messages that must never be dropped. */
struct respio__mailbox {
	pthread_mutex_t lock;
	struct respio__queue msgs;
	_Atomic uint32_t nonempty; /* checked by the shard every turn without the lock */
};

enum respio__link_state {
	RESPIO__LINK_DOWN = 0, /* no socket, no dial asked for yet */
	RESPIO__LINK_DIALING,  /* a dial was asked for, maybe queued behind others */
	RESPIO__LINK_UP,
	RESPIO__LINK_BACKOFF, /* last dial failed; the next waits until retry_at */
};

struct respio__buf {
	char *data;
	size_t len, cap;
};

/*
 * One connection of a shard. Its requests form one FIFO in the order their
 * bytes go on the wire; replies pop the head. Offsets are counted in the
 * byte stream of the current connection: a request whose stream_end is at
 * or below handed_end was handed to the kernel (it may have executed); one
 * above it is still in fill and can be taken back.
 */
struct respio__link {
	int state;
	int fd;
	uint32_t gen; /* bumped per connection; stale CQEs carry an old one */
	respio_parser *parser;

	struct respio__buf fill;    /* bytes queued for the next send */
	struct respio__buf sending; /* bytes handed to the kernel */
	size_t sending_off;	    /* how much of sending was written */
	bool send_inflight;	    /* a send SQE (maybe of an old gen) is pending */
	bool served;		    /* this connection received something */
	bool stalled;		    /* no reply for the stall limit: send nothing more */

	struct respio__queue fifo; /* of futures, through their fifo node */
	/* The last request in the FIFO handed to the kernel (NULL: none); the
	 * unsent ones follow it. */
	struct respio__queue_node *handed_tail;
	bool sweep;	   /* expire() marked unsent requests to take out */
	uint32_t queued;   /* futures in the FIFO */
	uint32_t expired;  /* of those, completed early (timed out): reply discarded */
	uint64_t fill_end; /* stream offset after the last byte in fill */
	/* Counted bytes (respio__counted_bytes) in fill and in sending. */
	uint64_t fill_counted, sending_counted;
	uint64_t handed_end;

	struct respio__dial dial;

	int64_t last_rx_ns;
	/* When the oldest request still awaiting its reply was handed to the
	 * kernel, if nothing was outstanding before it (see maintain). */
	int64_t busy_since_ns;
	int64_t retry_at_ns;
	int64_t up_since_ns; /* when the connection came up (coarse clock) */
	uint32_t attempts;   /* failed in a row: dials, and connections that died young */
	int last_err;
};

/* Counters a shard alone writes (relaxed) and anyone reads. */
struct respio__shard_counters {
	_Atomic uint64_t submitted, completed, failed, timed_out;
	_Atomic uint64_t reconnects, dial_failures, batches, batched, sleeps;
	_Atomic uint64_t waiter_wakes, wake_calls; /* copied from the shard's wakes */
	_Atomic uint64_t wakeups; /* the one counter submitters write (fetch_add) */
	_Atomic uint32_t inflight, conns_up, conns_busy;
};

/*
 * A shard's request queue is several ck_rings ("lanes"); a thread always
 * uses the same lane. ck_ring's MPMC enqueue publishes in reservation order,
 * so a producer preempted between reserving and publishing stalls every
 * producer behind it; with many more threads than cores that turns into a
 * convoy that runs at one hand-off per scheduler tick. Spreading threads
 * over lanes keeps each ring at about one producer, and a thread's order is
 * kept because its lane (like its connection) never changes.
 */
#define RESPIO__LANES 16

struct respio__lane {
	alignas(64) ck_ring_t ring;
	ck_ring_buffer_t *buf;
};

/* Set on shard threads: a submit from a completion callback must not wait
 * (the shard it would wait for is the thread running the callback). */
extern _Thread_local bool respio__on_shard_thread;

struct respio__shard {
	/* Producer side: touched by every submitting thread. */
	struct respio__lane *lanes; /* RESPIO__LANES of them */
	uint32_t lane_cap;
	alignas(64) _Atomic uint32_t sleeping; /* the shard is about to block: wake it */
	int efd;

	/* Consumer side: the shard thread only. */
	alignas(64) struct respio_client *client;
	pthread_t thread;
	struct io_uring uring;
	struct respio__bufring bufs;
	uint64_t efd_val;
	bool efd_armed;
	bool stopping;
	struct respio__deadlines *deadlines; /* of every request in the FIFOs */
	int64_t now_ns;			     /* read once per loop turn */
	uint32_t nlinks;
	struct respio__link *links;
	struct respio__mailbox mail;
	struct respio__wakes wakes; /* held back until the end of a batch */
	uint32_t next_lane;	    /* where the next drain starts: no lane starves */
	int init_rc;		    /* set by the thread once its ring is up (or failed) */
	unsigned seed;		    /* backoff jitter */
	bool initialized;	    /* shard_init ran: there is something to free */
	bool running;		    /* its thread was started and must be joined */
	_Atomic uint32_t stop_flag; /* stop without a message (out of memory) */

	struct respio__shard_counters stats;
};

/* shard.c */
int respio__shard_start(struct respio__shard *sh);
void respio__shard_post(struct respio__shard *sh, struct respio__ctl *msg);
void respio__shard_wake(struct respio__shard *sh);
void respio__shard_join(struct respio__shard *sh);

/* control.c: the control thread's dialers dial for shards, a few at a time. */
#define RESPIO__DETAIL_SIZE 256 /* room for a dial's error detail */
int respio__dial_now(struct respio_client *c, int *fd_out, char *detail, size_t cap);
/* The last failed dial of the dialers (respio_client_last_error). */
int respio__control_last_error(struct respio__control *ctl, char *buf, size_t cap,
			       int64_t *when_ms);
int respio__control_start(struct respio_client *c, struct respio__control **out);
void respio__control_dial(struct respio__control *ctl, struct respio__shard *sh, uint32_t link);
/* Stop dialing: later respio__control_dial calls do nothing. Shards may
 * still call it, so the memory stays until respio__control_free, after
 * every shard has been joined. */
void respio__control_stop(struct respio__control *ctl);
void respio__control_free(struct respio__control *ctl);

#endif

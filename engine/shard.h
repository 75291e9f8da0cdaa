/* SPDX-License-Identifier: MIT */
/* A shard: one thread, its lanes, its links and its mailbox. */
#ifndef RESPIO_SHARD_H
#define RESPIO_SHARD_H

#include <ck_ring.h>
#include <pthread.h>

#include "dial.h"
#include "future.h"
#include "lanes.h"
#include "mailbox.h"
#include "uring.h"

struct respio__deadlines;
struct respio_client;

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

	struct respio__dial_request dial;

	int64_t last_rx_ns;
	/* When the oldest request still awaiting its reply was handed to the
	 * kernel, if nothing was outstanding before it (see maintain). */
	int64_t busy_since_ns;
	struct respio__backoff backoff;
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

/* Set a shard up for client c (its lanes, links and mailbox; no thread
 * yet): 0 or a negative code, and then respio__shard_fini frees what was
 * made. index names it. */
int respio__shard_init(struct respio__shard *sh, struct respio_client *c, uint32_t index);
/* Free what respio__shard_init made, after the thread was joined (or never
 * started); messages left in its mailbox are dropped first. */
void respio__shard_fini(struct respio__shard *sh);
int respio__shard_start(struct respio__shard *sh);
/* Ask the shard to finish every request and exit. Any thread. */
void respio__shard_stop(struct respio__shard *sh);
void respio__shard_wake(struct respio__shard *sh);
void respio__shard_join(struct respio__shard *sh);

#endif

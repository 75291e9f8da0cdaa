/* SPDX-License-Identifier: MIT */
/* Control messages between the engine's threads, and the mailbox that
 * carries them to a receiver that is woken by a function of its choosing. */
#ifndef RESPIO_MAILBOX_H
#define RESPIO_MAILBOX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "atomic.h"
#include "queue.h"

enum respio__msg_type {
	RESPIO__MSG_CONN_READY = 1, /* fd: a connected, handshaken socket for link */
	RESPIO__MSG_CONN_FAILED,    /* err: why the dial for link failed */
	RESPIO__MSG_STOP,	    /* finish every request and exit */
	RESPIO__MSG_SWEEP,	    /* the pool's sweep: idle close; health PINGs when health */
	RESPIO__MSG_TOPOLOGY,	    /* the master moved (epoch) or a failover holds writes */
};

struct respio__msg {
	struct respio__queue_node node; /* in a mailbox */
	int type;
	uint32_t link; /* which of the receiver's links it is about */
	int fd;
	int err;
	uint32_t epoch; /* CONN_READY: of the address it was dialed at */
	/* Part of something that outlives it (a link's dial request, a
	 * shard's sweep): never freed. */
	bool in_link;
};

struct respio__mailbox;

/*
 * A dial request and the message that answers it, in one piece that the
 * link owns: a link has at most one dial in flight (it asks for one only
 * from DOWN or BACKOFF, and is DIALING until the answer arrives), so asking
 * and answering allocate nothing and no failed allocation can leave a link
 * dialing for ever. The asker fills reply_to and answer.link; the dialer
 * fills the rest of answer, posts it to reply_to and touches the request no
 * more.
 */
struct respio__dial_request {
	struct respio__queue_node node; /* in the dialers' queue */
	struct respio__mailbox *reply_to;
	bool paced;		   /* a redial after a loss: the dialers space these out */
	bool replica;		   /* for reads: dial the replica the Sentinels named */
	struct respio__msg answer; /* CONN_READY or CONN_FAILED for answer.link */
};

/*
 * The mailbox
 * -----------
 * Messages that must never be dropped (a socket handed over, a stop) travel
 * here rather than in a lane: a lane can be full, a list cannot. They are
 * rare, a few per connection's life, so a mutex guards the list; but the
 * receiver looks for mail every turn of its loop, and that look must not
 * take the lock. So it peeks at nonempty, an atomic flag.
 *
 * Invariants:
 *  - nonempty is written only under the lock: 1 by the post that pushes, 0
 *    by the take that empties the list. Under the lock it is 1 exactly when
 *    the list holds a message.
 *  - A post calls wake(wake_arg) after it unlocks, every time. A relaxed
 *    peek may miss a post that is under way; that post's wake follows, and
 *    the receiver answers a wake with another look (the shard: its eventfd
 *    read completes after the write, and the shard loads nonempty after it
 *    has seen the completion, through the acquire on the CQ tail that pairs
 *    with the kernel publishing the CQE).
 *  - A peek that sees 1 takes the lock to take the messages: the unlock of
 *    the post pairs with that lock, so everything the poster wrote into a
 *    message (its fd, its error) is visible to the receiver.
 *
 * The mailbox knows nothing of who posts or who receives: a shard posts to
 * itself, the dialers answer whoever asked, the client posts a stop.
 */
struct respio__mailbox {
	pthread_mutex_t lock;
	struct respio__queue msgs;
	_Atomic uint32_t nonempty;
	void (*wake)(void *arg); /* called after each post, on the poster's thread */
	void *wake_arg;
};

/* An empty mailbox whose posts call wake(arg). */
void respio__mailbox_init(struct respio__mailbox *mb, void (*wake)(void *arg), void *arg);

/* Drop what is left in mb (respio__msg_drop) and destroy its lock. No post
 * may race with it. */
void respio__mailbox_destroy(struct respio__mailbox *mb);

/* Append msg and wake the receiver. The message is the receiver's from
 * here on. Any thread. */
void respio__mailbox_post(struct respio__mailbox *mb, struct respio__msg *msg);

/* Take every message, oldest first, as a chain of nodes (walk it through
 * next, with RESPIO__QUEUE_DATA(node, struct respio__msg, node)); NULL when
 * there is none. The receiver's thread. */
struct respio__queue_node *respio__mailbox_take(struct respio__mailbox *mb);

/* Whether mail may be waiting: a peek without the lock (see above). */
static inline bool respio__mailbox_peek(struct respio__mailbox *mb)
{
	return respio__load_relaxed_u32(&mb->nonempty);
}

/* A message is handled: free it, unless it lives in its link's request. */
void respio__msg_release(struct respio__msg *msg);

/* A message nobody will handle: close the socket it hands over, if any,
 * and release it. */
void respio__msg_drop(struct respio__msg *msg);

#endif

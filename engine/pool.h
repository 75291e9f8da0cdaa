/* SPDX-License-Identifier: MIT */
/* The lease pool: which of the shards' lease links are in a session, idle,
 * or without a connection, and the callers who wait for one. */
#ifndef RESPIO_POOL_H
#define RESPIO_POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * Every lease link of every shard is a slot here. A slot is EMPTY (no
 * connection: taking it dials one), IDLE (connected, in the pool since
 * idle_since) or LEASED (in a session or an automatic lease). One mutex
 * guards it all: sessions begin and end far less often than requests run,
 * and nothing waits while holding it. The shards take it too, briefly, to
 * end automatic leases and to close idle connections.
 *
 * The pool holds no sockets: a slot names a link (shard, link) and the
 * shard that owns it does the I/O. The order of a slot's requests is its
 * lane's (one lane per slot), so a close queued by the pool arrives before
 * the next session's first command.
 */
enum respio__slot_state {
	RESPIO__SLOT_EMPTY = 0,
	RESPIO__SLOT_IDLE,
	RESPIO__SLOT_LEASED,
};

struct respio__slot {
	uint32_t shard, link;
	int state;
	int64_t idle_since_ns; /* IDLE: CLOCK_MONOTONIC */
	int64_t leased_at_ns;  /* LEASED: CLOCK_MONOTONIC */
};

struct respio__pool {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC: a slot came back, or the pool closed */
	struct respio__slot *slots;
	uint32_t nslots;
	uint32_t in_use;
	uint32_t next_empty; /* where the search for an EMPTY slot starts */
	int64_t max_idle_ns;
	bool closed;
	uint64_t begun, waits, exhausted, idle_closed;
};

/* A pool of nslots EMPTY slots (filled in by the caller: shard and link
 * of each); connections idle longer than max_idle_ns are closed. 0 or
 * -ENOMEM. */
int respio__pool_init(struct respio__pool *p, uint32_t nslots, int64_t max_idle_ns);
void respio__pool_fini(struct respio__pool *p);

/*
 * Take a slot for a session: the IDLE one used last, else an EMPTY one
 * (the caller's connection is then dialed by its first request). While
 * every slot is LEASED, wait until deadline_ns (CLOCK_MONOTONIC; 0: do not
 * wait; < 0: no limit). 0 with *slot set, RESPIO_E_POOL_EXHAUSTED, or
 * RESPIO_E_SHUTDOWN once the pool is closed. *was_idle says whether the
 * slot had a connection. Any thread.
 */
int respio__pool_take(struct respio__pool *p, int64_t deadline_ns, uint32_t *slot, bool *was_idle);

/* Give slot back: IDLE with its connection when keep, else EMPTY (its
 * connection closed, or being closed by a request already queued on its
 * lane). Wakes a waiter. Any thread, the shards included. */
void respio__pool_put(struct respio__pool *p, uint32_t slot, bool keep);

/* For the shard that owns slot: true when it was IDLE for max_idle_ns by
 * now and is now EMPTY (the caller closes its connection at once, before
 * it takes any request from its lanes), or was EMPTY already (a dial that
 * came back after its session ended). */
bool respio__pool_reclaim_idle(struct respio__pool *p, uint32_t slot, int64_t now);

/* Fail every waiter and every later take with RESPIO_E_SHUTDOWN. */
void respio__pool_close(struct respio__pool *p);

#endif

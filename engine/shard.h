/* SPDX-License-Identifier: MIT */
/* A shard: one thread, its lanes, its slice of the pool and its mailbox. */
#ifndef RESPIO_SHARD_H
#define RESPIO_SHARD_H

#include <pthread.h>
#include <stdalign.h>

#include "lanes.h"
#include "mailbox.h"
#include "sink.h"
#include "slice.h"
#include "uring.h"

struct respio__control;

/* Set on shard threads: a submit from a completion callback must not wait
 * (the shard it would wait for is the thread running the callback). */
extern _Thread_local bool respio__on_shard_thread;

/* Where starting shards report that their ring is up (or failed): the
 * client waits on it until every shard it started has. */
struct respio__shard_gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint32_t started;
};

/* What a shard is made with (respio__shard_init). */
struct respio__shard_config {
	uint32_t index;		   /* names its thread */
	uint32_t nlinks;	   /* its share of the pool: shared links, then lease links */
	uint32_t nshared;	   /* of those, the shared pipeline's */
	struct respio__pool *pool; /* the lease links' slots */
	struct respio__future_pool *futures; /* for health PINGs */
	int64_t redial_spread_ns;	     /* a lost link redials within this, at random */
	int64_t probe_timeout_ns;	     /* a health PING later than this fails */
	bool patient;			     /* requests wait out failed dials (slice.h) */
	uint32_t replica_link;		     /* reads' link (UINT32_MAX: none) */
	uint32_t ring_capacity;		     /* requests per lane */
	int64_t timeout_ns;		     /* the client's default timeout (stall detection) */
	const respio_limits *limits;	     /* for its replies */
	_Atomic uint64_t *budget;	     /* the client's count of large commands' bytes */
	struct respio__shard_gate *gate;
};

struct respio__shard {
	/* Producer side: touched by every submitting thread. */
	struct respio__lane *lanes; /* RESPIO__LANES of them */
	uint32_t lane_cap;
	uint32_t nshared;      /* shared links (slice.nshared), where submitters can read it */
	uint32_t replica_link; /* slice.replica_link, likewise */
	/* The shard is about to block: wake it (the handshake is in shard.c). */
	alignas(64) _Atomic uint32_t sleeping;
	int efd;

	/* Consumer side: the shard thread only. */
	alignas(64) pthread_t thread;
	struct io_uring uring;
	struct respio__bufring bufs;
	uint64_t efd_val;
	bool efd_armed;
	bool stopping;
	int64_t now_ns; /* read once per loop turn */
	struct respio__sink sink;
	struct respio__slice slice;
	struct respio__mailbox mail;
	/* The control thread's sweep request (respio__shard_sweep): one
	 * message, posted again only once taken. */
	struct respio__msg sweep_msg;
	_Atomic uint32_t sweep_flags; /* RESPIO__SWEEP_POSTED | _HEALTH */
	/* The master moved or a failover holds writes (respio__shard_topology). */
	struct respio__msg topology_msg;
	_Atomic uint32_t topology_posted;
	uint32_t next_lane; /* where the next drain starts: no lane starves */
	uint32_t index;
	struct respio__shard_gate *gate;
	int init_rc;		    /* set by the thread once its ring is up (or failed) */
	bool initialized;	    /* respio__shard_init ran: there is something to free */
	bool running;		    /* its thread was started and must be joined */
	_Atomic uint32_t stop_flag; /* stop without a message (out of memory) */

	struct respio__shard_counters stats;
};

/* Set a shard up (its lanes, links and mailbox; no thread yet): 0 or a
 * negative code, and then respio__shard_fini frees what was made. */
int respio__shard_init(struct respio__shard *sh, const struct respio__shard_config *cfg);

/* Free what respio__shard_init made, after the thread was joined (or never
 * started); messages left in its mailbox are dropped first. */
void respio__shard_fini(struct respio__shard *sh);

/* Start the shard's thread, which dials through ctl. It reports to the
 * gate once its ring is up (init_rc). 0 or a negative code. */
int respio__shard_start(struct respio__shard *sh, struct respio__control *ctl);

/* Ask the shard to finish every request and exit. Any thread. */
void respio__shard_stop(struct respio__shard *sh);

/* Wake the shard if it is about to sleep, after an enqueue (shard.c). Any
 * thread. */
void respio__shard_wake(struct respio__shard *sh);

void respio__shard_join(struct respio__shard *sh);

/* Ask the shard for a sweep of its slice (respio__slice_sweep): idle lease
 * connections closed, and health PINGs when health. A sweep already asked
 * for and not yet taken absorbs this one (health included). Any thread. */
void respio__shard_sweep(struct respio__shard *sh, bool health);

/* Tell the shard to read the control side's epoch and hold again
 * (respio__slice_topology); posted once until taken. Any thread. */
void respio__shard_topology(struct respio__shard *sh);

#endif

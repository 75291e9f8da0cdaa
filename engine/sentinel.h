/* SPDX-License-Identifier: MIT */
/* Redis Sentinel on the control side: discovery of the master, failover
 * detection by every signal, the switch published to the shards. */
#ifndef RESPIO_SENTINEL_H
#define RESPIO_SENTINEL_H

#include <stddef.h>
#include <stdint.h>

#include <respio.h>

struct respio__control;
struct respio__shard;
struct respio__sentinel;

/* Copy sc, and keep data (which must outlive s) for the data nodes'
 * credentials. 0, RESPIO_E_INVAL (no hosts, no master name, a host that
 * does not parse) or -ENOMEM. */
int respio__sentinel_create(const respio_sentinel_config *sc, const respio_config *data,
			    struct respio__sentinel **out);

/*
 * Ask the Sentinels, once each, where the master is: 0 with the answer
 * most of them give in host and *port (not yet checked: the caller dials
 * it with a ROLE check before any request goes there); RESPIO_E_NO_SENTINEL
 * when none answered at all; RESPIO_E_HANDSHAKE when the Sentinels refused
 * our credentials; RESPIO_E_NOT_MASTER when they know no such master.
 * detail says what happened. One thread at a time (create, then the
 * sentinel thread).
 */
int respio__sentinel_discover(struct respio__sentinel *s, char *host, size_t cap, int *port,
			      char *detail, size_t dcap);

/* Start the sentinel thread: subscriptions on every known Sentinel, polls
 * every cache_ms, the control side's signs of failover; it moves ctl's
 * address and tells shards[0..nshards) (respio__shard_topology). */
int respio__sentinel_start(struct respio__sentinel *s, struct respio__control *ctl,
			   struct respio__shard *shards, uint32_t nshards);

/* Stop and join the thread (if started): no more topology messages. The
 * shards may still signal it until respio__sentinel_free, after they are
 * joined. NULL is fine. */
void respio__sentinel_stop(struct respio__sentinel *s);
void respio__sentinel_free(struct respio__sentinel *s);

/* The counters for respio_stats. Any thread. */
struct respio__sentinel_stats {
	uint64_t failovers;	/* switches to another master */
	uint64_t rediscoveries; /* times the Sentinels were asked */
	int64_t last_switch_ms; /* CLOCK_REALTIME, 0: never */
	uint64_t holds;		/* failovers seen in progress (writes held) */
};
void respio__sentinel_stats(struct respio__sentinel *s, struct respio__sentinel_stats *out);

#endif

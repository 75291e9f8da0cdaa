/* SPDX-License-Identifier: MIT */
/* The control thread's sweeps: every so often it asks each shard to close
 * idle lease connections and, every health_check_interval_ms, to PING its
 * idle connections. Only the shards touch their sockets. */
#ifndef RESPIO_HEALTH_H
#define RESPIO_HEALTH_H

#include <stdint.h>

struct respio__shard;
struct respio__health;

/* Sweep shards[0..nshards) every idle_tick_ns (idle close), with health
 * PINGs every health_ns (0: none). 0 or a negative code. */
int respio__health_start(struct respio__shard *shards, uint32_t nshards, int64_t idle_tick_ns,
			 int64_t health_ns, struct respio__health **out);

/* Stop and join the thread, free h. NULL is fine. */
void respio__health_stop(struct respio__health *h);

#endif

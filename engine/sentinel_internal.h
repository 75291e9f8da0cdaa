/* SPDX-License-Identifier: MIT */
/* What the Sentinel module is made of, shared by the thread (sentinel.c)
 * and the queries it and create make (sentinel_query.c). */
#ifndef RESPIO_SENTINEL_INTERNAL_H
#define RESPIO_SENTINEL_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <respio.h>

#include "dial.h"
#include "sentinel.h"

#define RESPIO__SENTINELS_MAX  16
#define RESPIO__SENTINEL_PORT  26379
#define RESPIO__SENTINEL_TO_MS 500

struct respio__sentinel_node {
	char host[RESPIO__HOST_SIZE];
	int port;
	respio_conn *sub; /* PSUBSCRIBE *, or NULL */
	int64_t retry_at; /* CLOCK_MONOTONIC: next subscribe attempt */
};

struct respio__sentinel {
	const respio_config *cfg; /* the client's: the data nodes' credentials */
	char *master_name, *username, *password;
	int timeout_ms;
	int64_t cache_ns;
	struct respio__sentinel_node nodes[RESPIO__SENTINELS_MAX];
	uint32_t n;

	struct respio__control *ctl;
	struct respio__shard *shards;
	uint32_t nshards;
	pthread_t thread;
	bool running;
	int efd; /* wakes the thread: a sign of failover, or stop */
	_Atomic uint32_t stop;
	int64_t hold_until; /* 0: writes flow */
	bool replica_reads;
	char replica_host[RESPIO__HOST_SIZE]; /* where reads go now; "" none */
	int replica_port;
	unsigned seed;

	pthread_mutex_t stats_lock;
	struct respio__sentinel_stats stats;
};

/* A connection to Sentinel i, with the Sentinels' credentials, RESP2, no
 * SELECT. 0, or a negative code with detail (RESPIO_E_HANDSHAKE when the
 * Sentinel refused our credentials). */
int respio__sentinel_conn(struct respio__sentinel *s, uint32_t i, respio_conn **out, char *detail,
			  size_t cap);

/* Add a Sentinel to the list (unless known, or the list is full). */
bool respio__sentinel_add(struct respio__sentinel *s, const char *host, int port);

/* host:port has ROLE role now (enum respio__role), within the Sentinels'
 * short timeout. 0 or a negative code with detail. */
int respio__sentinel_check_role(struct respio__sentinel *s, const char *host, int port, int role,
				char *detail, size_t dcap);

/* A replica fit for reads (sentinel_query.c): false when none. */
bool respio__sentinel_pick_replica(struct respio__sentinel *s, char *host, size_t cap, int *port);

/* Free what create made (after the thread is stopped). */
void respio__sentinel_release(struct respio__sentinel *s);

#endif

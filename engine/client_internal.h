/* SPDX-License-Identifier: MIT */
/* The engine client: what respio_client is made of, for the engine's files
 * that need the whole client. */
#ifndef RESPIO_CLIENT_INTERNAL_H
#define RESPIO_CLIENT_INTERNAL_H

#include <pthread.h>

#include "internal.h"
#include "pool.h"
#include "shard.h"

struct respio__control;
struct respio__health;
struct respio__sentinel;

struct respio_client {
	respio_target target;
	respio_config cfg; /* strings point into strings[] below */
	char *strings;
	/* Bytes of commands over the inline size, from submit until the
	 * kernel takes them (reserved in client.c, given back by the shards
	 * with respio__budget_release); bounded by cfg.max_inflight_bytes.
	 * Padded, not aligned (the client comes from calloc): the fields read
	 * on every submit do not share its line. */
	char pad_before_bytes[64];
	_Atomic uint64_t heap_bytes;
	char pad_after_bytes[64];
	int64_t timeout_ns;
	int64_t coarse_tick_ns;	  /* CLOCK_MONOTONIC_COARSE's resolution */
	int64_t precise_below_ns; /* shorter timeouts read the precise clock */
	uint32_t nshards;
	struct respio__shard *shards;
	struct respio__pool lease_pool;	   /* the shards' lease links (sessions) */
	struct respio__health *health;	   /* the control thread's sweeps */
	struct respio__sentinel *sentinel; /* NULL without cfg.sentinel */
	bool replica_reads;		   /* reads go to a replica when one is fit */
	/* Sessions begun and not yet ended (session.c), under the lease
	 * pool's lock: the ones still open at destroy are freed there. */
	struct respio_session *open_sessions;
	struct respio__future_pool *pool;
	struct respio__control *control;
	_Atomic uint32_t shutting_down; /* seq_cst: see respio_submit_with */
	pthread_mutex_t shutdown_lock;
	bool shut_down;			/* respio_client_shutdown ran to the end */
	struct respio__shard_gate gate; /* shards report their start here */
};

#endif

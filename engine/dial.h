/* SPDX-License-Identifier: MIT */
/* Dialing a connection: how (connect and handshake, blocking) and when
 * (backoff with jitter after failures, and which losses count as one). */
#ifndef RESPIO_DIAL_H
#define RESPIO_DIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <respio.h>

#define RESPIO__DETAIL_SIZE 256 /* room for a dial's error detail */
#define RESPIO__HOST_SIZE   256 /* room for a host name or address */

/* What a dial confirms with ROLE (Sentinel): nothing (a PING), a master,
 * or a replica. */
enum respio__role {
	RESPIO__ROLE_ANY = 0,
	RESPIO__ROLE_MASTER,
	RESPIO__ROLE_REPLICA,
};

/*
 * Dial one connection to host:port with cfg's credentials and limits, with
 * the blocking client, on the calling thread (up to
 * cfg->pool.connection_timeout_ms per step): connect, AUTH/HELLO, SELECT,
 * then a PING so a server that accepts but does not answer counts as down
 * (with a role, a ROLE instead: anything else is refused with
 * RESPIO_E_NOT_MASTER). 0 with *fd_out, the caller's to close; or a
 * negative code (RESPIO_E_HANDSHAKE when the server refused us) with
 * detail saying what happened, in the server's words when it refused. Any
 * thread.
 */
int respio__dial_now(const respio_config *cfg, const char *host, int port, int role, int *fd_out,
		     char *detail, size_t cap);

/*
 * When a link may dial again. attempts counts failures in a row: failed
 * dials, and connections lost young (within a second of their dial,
 * before a byte arrived). Single-threaded: the link's shard.
 */
struct respio__backoff {
	uint32_t attempts;
	int64_t retry_at_ns; /* CLOCK_MONOTONIC: no dial before (once scheduled) */
	int64_t up_since_ns; /* CLOCK_MONOTONIC_COARSE: when the connection came up */
};

/* A dial failed: one more failed attempt. */
static inline void respio__backoff_dial_failed(struct respio__backoff *b)
{
	b->attempts++;
}

/* The connection came up at coarse_now (attempts stays: only a connection
 * that outlives its youth clears it, in respio__backoff_lost). */
static inline void respio__backoff_up(struct respio__backoff *b, int64_t coarse_now)
{
	b->up_since_ns = coarse_now;
}

/* The connection was lost at coarse_now, served saying whether it ever
 * received a byte: true when the loss counts as a failed attempt that must
 * wait out a backoff (respio__backoff_schedule), false to dial at once. */
bool respio__backoff_lost(struct respio__backoff *b, bool served, int64_t coarse_now);

/* No dial before now + the delay for attempts (50 ms doubling to 2 s, with
 * jitter in [d/2, d] drawn from *seed). */
void respio__backoff_schedule(struct respio__backoff *b, int64_t now, unsigned *seed);

#endif

/* SPDX-License-Identifier: MIT */
/* Dialing: the blocking connect and handshake the dialers run, and the
 * backoff that spaces a link's attempts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dial.h"
#include "internal.h"

#define RESPIO__BACKOFF_BASE_MS 50
#define RESPIO__BACKOFF_MAX_MS	2000
/* A connection lost sooner than this after its dial counts as a failed
 * attempt (see respio__backoff_lost). */
#define RESPIO__YOUNG_CONN_NS 1000000000LL

/* What ROLE says against what was wanted: 0, or RESPIO_E_NOT_MASTER. */
static int check_role(const respio_reply *r, int want, char *detail, size_t cap)
{
	const char *role = respio_reply_str(respio_reply_element(r, 0), NULL);
	const char *wanted = want == RESPIO__ROLE_REPLICA ? "slave" : "master";

	if (role && strcmp(role, wanted) == 0)
		return 0;
	snprintf(detail, cap, "ROLE: %s, not %s", role ? role : "?", wanted);
	return RESPIO_E_NOT_MASTER;
}

int respio__dial_now(const respio_config *base, const char *host, int port, int role, int *fd_out,
		     char *detail, size_t cap)
{
	respio_config cfg = *base;
	const char *probe[] = {role ? "ROLE" : "PING"};
	respio_reply *r = NULL;
	respio_conn *conn;
	int rc;

	cfg.host = host;
	cfg.port = port;
	cfg.timeout_ms = base->pool.connection_timeout_ms;
	cfg.connect_timeout_ms = base->pool.connection_timeout_ms;
	rc = respio_conn_create(&cfg, &conn);
	if (rc < 0) {
		snprintf(detail, cap, "%s", respio_strerror(rc));
		return rc;
	}
	rc = respio_conn_connect(conn);
	if (rc < 0) {
		snprintf(detail, cap, "%s", respio_conn_errdetail(conn));
	} else {
		rc = respio_conn_command(conn, 1, probe, NULL, &r);
		if (rc < 0)
			snprintf(detail, cap, "%s%s%s", probe[0],
				 rc == RESPIO_E_SERVER ? " failed: " : ": ",
				 respio_conn_errdetail(conn));
		else if (role)
			rc = check_role(r, role, detail, cap);
	}
	respio_reply_free(r);
	if (rc == 0) {
		rc = respio__conn_detach_fd(conn);
		if (rc >= 0) {
			*fd_out = rc;
			rc = 0;
		} else {
			snprintf(detail, cap, "unexpected bytes after the handshake");
		}
	}
	respio_conn_destroy(conn);
	/* An error reply to AUTH, HELLO, SELECT or the PING is the server
	 * refusing the connection (WRONGPASS, NOAUTH, -LOADING, too many
	 * clients), not the answer to any request: requests failed by it must
	 * not look like they got an error reply. */
	if (rc == RESPIO_E_SERVER)
		rc = RESPIO_E_HANDSHAKE;
	return rc;
}

/*
 * A connection lost within a second of its dial without a byte received (a
 * server or proxy that accepts, answers the handshake, then closes) counts
 * as a failed attempt, or such a server would be redialed at dial speed for
 * ever. The first in a row is redialed at once, so one unlucky kill costs
 * nothing; from the second on the link backs off as after a failed dial. A
 * connection that lived longer, or answered requests, starts the count
 * afresh: connections killed while they serve traffic come back at once.
 */
bool respio__backoff_lost(struct respio__backoff *b, bool served, int64_t coarse_now)
{
	if (!served && coarse_now - b->up_since_ns < RESPIO__YOUNG_CONN_NS)
		return b->attempts++ > 0;
	b->attempts = 0;
	return false;
}

void respio__backoff_schedule(struct respio__backoff *b, int64_t now, unsigned *seed)
{
	int64_t ms = RESPIO__BACKOFF_BASE_MS;

	for (uint32_t n = b->attempts; n > 1 && ms < RESPIO__BACKOFF_MAX_MS; n--)
		ms *= 2;
	if (ms > RESPIO__BACKOFF_MAX_MS)
		ms = RESPIO__BACKOFF_MAX_MS;
	/* Jitter in [ms/2, ms]: shards and clients that lost the same server
	 * do not come back in lockstep. */
	ms = ms / 2 + (int64_t)(rand_r(seed) % (unsigned)(ms / 2 + 1));
	b->retry_at_ns = now + ms * 1000000;
}

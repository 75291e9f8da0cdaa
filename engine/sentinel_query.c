/* SPDX-License-Identifier: MIT */
/* Asking the Sentinels (sentinel.h): the list of Sentinels, where the
 * master is by the majority of their answers, a replica fit for reads, and
 * the ROLE checks that confirm an answer. Blocking, bounded by the
 * Sentinels' timeout; create and the Sentinel thread call them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sentinel_internal.h"

/* "host" or "host:port" (the last colon, so a bare IPv6 address needs a
 * port: "[::1]:26379" or "::1:26379" are both read as host and port). */
static int parse_host(const char *spec, int default_port, char *host, size_t cap, int *port)
{
	const char *colon = strrchr(spec, ':');
	size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
	char *end;
	long p = default_port;

	if (colon) {
		p = strtol(colon + 1, &end, 10);
		if (end == colon + 1 || *end || p < 1 || p > 65535)
			return RESPIO_E_INVAL;
	}
	if (len >= 2 && spec[0] == '[' && spec[len - 1] == ']') {
		spec++;
		len -= 2;
	}
	if (len == 0 || len >= cap)
		return RESPIO_E_INVAL;
	memcpy(host, spec, len);
	host[len] = '\0';
	*port = (int)p;
	return 0;
}

bool respio__sentinel_add(struct respio__sentinel *s, const char *host, int port)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (s->nodes[i].port == port && strcmp(s->nodes[i].host, host) == 0)
			return false;
	if (s->n == RESPIO__SENTINELS_MAX || strlen(host) >= RESPIO__HOST_SIZE || port < 1 ||
	    port > 65535)
		return false;
	memset(&s->nodes[s->n], 0, sizeof(s->nodes[s->n]));
	snprintf(s->nodes[s->n].host, RESPIO__HOST_SIZE, "%s", host);
	s->nodes[s->n].port = port;
	s->n++;
	return true;
}

static char *dup_or_null(const char *p)
{
	return p ? strdup(p) : NULL;
}

int respio__sentinel_create(const respio_sentinel_config *sc, const respio_config *cfg,
			    struct respio__sentinel **out)
{
	struct respio__sentinel *s;

	*out = NULL;
	if (!sc || !sc->hosts || sc->nhosts < 1 || sc->nhosts > RESPIO__SENTINELS_MAX ||
	    !sc->master_name || !sc->master_name[0])
		return RESPIO_E_INVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = cfg;
	s->efd = -1;
	pthread_mutex_init(&s->stats_lock, NULL);
	s->timeout_ms = sc->timeout_ms > 0 ? sc->timeout_ms : RESPIO__SENTINEL_TO_MS;
	s->cache_ns = (int64_t)(sc->cache_ms > 0 ? sc->cache_ms : 5000) * 1000000;
	s->replica_reads = sc->replica_reads;
	s->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)s;
	s->master_name = strdup(sc->master_name);
	s->username = dup_or_null(sc->username);
	s->password = dup_or_null(sc->password);
	if (!s->master_name || (sc->username && !s->username) || (sc->password && !s->password)) {
		respio__sentinel_release(s);
		return -ENOMEM;
	}
	for (int i = 0; i < sc->nhosts; i++) {
		char host[RESPIO__HOST_SIZE];
		int port;

		if (!sc->hosts[i] ||
		    parse_host(sc->hosts[i], sc->port > 0 ? sc->port : RESPIO__SENTINEL_PORT, host,
			       sizeof(host), &port) < 0) {
			respio__sentinel_release(s);
			return RESPIO_E_INVAL;
		}
		respio__sentinel_add(s, host, port);
	}
	*out = s;
	return 0;
}

/* A connection to Sentinel i, with the Sentinels' credentials, RESP2, no
 * SELECT (a Sentinel has no databases). */
int respio__sentinel_conn(struct respio__sentinel *s, uint32_t i, respio_conn **out, char *detail,
			  size_t cap)
{
	respio_config cfg;
	respio_conn *c;
	int rc;

	respio_config_init(&cfg);
	cfg.host = s->nodes[i].host;
	cfg.port = s->nodes[i].port;
	cfg.username = s->username;
	cfg.password = s->password;
	cfg.timeout_ms = s->timeout_ms;
	cfg.connect_timeout_ms = s->timeout_ms;
	*out = NULL;
	rc = respio_conn_create(&cfg, &c);
	if (rc < 0)
		return rc;
	rc = respio_conn_connect(c);
	if (rc < 0) {
		snprintf(detail, cap, "Sentinel %s:%d: %s", cfg.host, cfg.port,
			 respio_conn_errdetail(c));
		respio_conn_destroy(c);
		/* An error reply to AUTH is the Sentinel refusing us. */
		return rc == RESPIO_E_SERVER ? RESPIO_E_HANDSHAKE : rc;
	}
	*out = c;
	return 0;
}

/* The value of field name in a flat [k, v, k, v...] array. */
static const char *field(const respio_reply *r, const char *name)
{
	size_t n = respio_reply_len(r);

	for (size_t i = 0; i + 1 < n; i += 2) {
		const char *k = respio_reply_str(respio_reply_element(r, i), NULL);

		if (k && strcmp(k, name) == 0)
			return respio_reply_str(respio_reply_element(r, i + 1), NULL);
	}
	return NULL;
}

/* Learn the other Sentinels from Sentinel c (SENTINEL SENTINELS). */
static void learn_sentinels(struct respio__sentinel *s, respio_conn *c)
{
	const char *argv[] = {"SENTINEL", "SENTINELS", s->master_name};
	respio_reply *r = NULL;

	if (respio_conn_command(c, 3, argv, NULL, &r) == 0 &&
	    respio_reply_type(r) == RESPIO_REPLY_ARRAY) {
		for (size_t i = 0; i < respio_reply_len(r); i++) {
			const respio_reply *e = respio_reply_element(r, i);
			const char *ip = field(e, "ip"), *port = field(e, "port");

			if (ip && port)
				respio__sentinel_add(s, ip, atoi(port));
		}
	}
	respio_reply_free(r);
}

/* Sentinel i's answer: 0 with the master's address, or why not. */
static int ask(struct respio__sentinel *s, uint32_t i, char *host, size_t cap, int *port,
	       char *detail, size_t dcap)
{
	const char *argv[] = {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", s->master_name};
	respio_reply *r = NULL;
	respio_conn *c;
	const char *h, *p;
	int rc = respio__sentinel_conn(s, i, &c, detail, dcap);

	if (rc < 0)
		return rc;
	rc = respio_conn_command(c, 3, argv, NULL, &r);
	h = rc == 0 && respio_reply_len(r) == 2 ? respio_reply_str(respio_reply_element(r, 0), NULL)
						: NULL;
	p = h ? respio_reply_str(respio_reply_element(r, 1), NULL) : NULL;
	if (rc == 0 && h && p && strlen(h) < cap && atoi(p) > 0) {
		snprintf(host, cap, "%s", h);
		*port = atoi(p);
	} else {
		snprintf(detail, dcap, "Sentinel %s:%d does not know master %s%s%s",
			 s->nodes[i].host, s->nodes[i].port, s->master_name, rc < 0 ? ": " : "",
			 rc < 0 ? respio_conn_errdetail(c) : "");
		rc = rc < 0 ? rc : RESPIO_E_NOT_MASTER;
	}
	respio_reply_free(r);
	if (rc == 0)
		learn_sentinels(s, c);
	respio_conn_destroy(c);
	return rc;
}

/* Sentinel i answered: it goes to the front (asked first next time). */
static void to_front(struct respio__sentinel *s, uint32_t i)
{
	struct respio__sentinel_node n = s->nodes[i];

	memmove(&s->nodes[1], &s->nodes[0], i * sizeof(s->nodes[0]));
	s->nodes[0] = n;
}

/* host:port has the role wanted now, as its ROLE says. Within the
 * Sentinels' short timeout: a stopped node must not hold up the events
 * behind it. */
int respio__sentinel_check_role(struct respio__sentinel *s, const char *host, int port, int role,
				char *detail, size_t dcap)
{
	respio_config cfg = *s->cfg;
	int fd = -1, rc;

	cfg.pool.connection_timeout_ms = s->timeout_ms;
	rc = respio__dial_now(&cfg, host, port, role, &fd, detail, dcap);
	if (fd >= 0)
		close(fd);
	return rc;
}

int respio__sentinel_discover(struct respio__sentinel *s, char *host, size_t cap, int *port,
			      char *detail, size_t dcap)
{
	struct {
		char host[RESPIO__HOST_SIZE];
		int port, votes;
	} seen[RESPIO__SENTINELS_MAX];
	uint32_t nseen = 0, best = 0, first = UINT32_MAX, n = s->n;
	bool refused = false, unknown = false;

	detail[0] = '\0';
	/* Every Sentinel known at the start (learn_sentinels may add more,
	 * asked next time). */
	for (uint32_t i = 0; i < n; i++) {
		char h[RESPIO__HOST_SIZE], d[RESPIO__DETAIL_SIZE];
		uint32_t k;
		int p, rc = ask(s, i, h, sizeof(h), &p, d, sizeof(d));

		if (rc < 0) {
			refused |= rc == RESPIO_E_HANDSHAKE;
			unknown |= rc == RESPIO_E_NOT_MASTER;
			if (!detail[0] || rc == RESPIO_E_HANDSHAKE)
				snprintf(detail, dcap, "%s", d);
			continue;
		}
		if (first == UINT32_MAX)
			first = i;
		for (k = 0; k < nseen; k++)
			if (seen[k].port == p && strcmp(seen[k].host, h) == 0)
				break;
		if (k == nseen) {
			snprintf(seen[k].host, sizeof(seen[k].host), "%s", h);
			seen[k].port = p;
			seen[k].votes = 0;
			nseen++;
		}
		seen[k].votes++;
	}
	pthread_mutex_lock(&s->stats_lock);
	s->stats.rediscoveries++;
	pthread_mutex_unlock(&s->stats_lock);
	if (nseen == 0)
		return refused	 ? RESPIO_E_HANDSHAKE
		       : unknown ? RESPIO_E_NOT_MASTER
				 : RESPIO_E_NO_SENTINEL;
	to_front(s, first);
	/* Ties go to the answer heard first. */
	for (uint32_t k = 1; k < nseen; k++)
		if (seen[k].votes > seen[best].votes)
			best = k;
	snprintf(host, cap, "%s", seen[best].host);
	*port = seen[best].port;
	return 0;
}

/* A replica fit for reads, from the first Sentinel that lists them: not
 * down or disconnected by the Sentinels' flags, its link to the master up,
 * and ROLE = slave when dialed. false: none. */
bool respio__sentinel_pick_replica(struct respio__sentinel *s, char *host, size_t cap, int *port)
{
	const char *argv[] = {"SENTINEL", "REPLICAS", s->master_name};

	for (uint32_t i = 0; i < s->n; i++) {
		char detail[RESPIO__DETAIL_SIZE];
		respio_reply *r = NULL;
		respio_conn *c;
		bool found = false, answered;

		if (respio__sentinel_conn(s, i, &c, detail, sizeof(detail)) < 0)
			continue;
		answered = respio_conn_command(c, 3, argv, NULL, &r) == 0 &&
			   respio_reply_type(r) == RESPIO_REPLY_ARRAY;
		if (answered) {
			for (size_t k = 0; k < respio_reply_len(r) && !found; k++) {
				const respio_reply *e = respio_reply_element(r, k);
				const char *ip = field(e, "ip"), *p = field(e, "port"),
					   *flags = field(e, "flags"),
					   *link = field(e, "master-link-status");

				if (!ip || !p || !flags || !link || strcmp(link, "ok") != 0 ||
				    strstr(flags, "s_down") || strstr(flags, "o_down") ||
				    strstr(flags, "disconnected") || strlen(ip) >= cap)
					continue;
				if (respio__sentinel_check_role(s, ip, atoi(p),
								RESPIO__ROLE_REPLICA, detail,
								sizeof(detail)) < 0)
					continue;
				snprintf(host, cap, "%s", ip);
				*port = atoi(p);
				found = true;
			}
		}
		respio_reply_free(r);
		respio_conn_destroy(c);
		/* This Sentinel answered: its list is the one to go by. */
		if (answered)
			return found;
	}
	return false;
}

void respio__sentinel_release(struct respio__sentinel *s)
{
	for (uint32_t i = 0; i < s->n; i++)
		respio_conn_destroy(s->nodes[i].sub);
	if (s->efd >= 0)
		close(s->efd);
	pthread_mutex_destroy(&s->stats_lock);
	free(s->master_name);
	free(s->username);
	free(s->password);
	free(s);
}

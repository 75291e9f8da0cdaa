/* SPDX-License-Identifier: MIT */
/* Redis Sentinel on the control side (sentinel.h). */

/*
 * Who is the master
 * -----------------
 * The Sentinels' current answer is the truth; a data node's own ROLE only
 * confirms it. Measured with Redis 7.0: an old master resumed after a
 * SIGSTOP still answers ROLE = master for about 10 s after the Sentinels
 * moved on, so a client that trusts ROLE goes back to it and writes into
 * data that its demotion throws away. So:
 *  - discovery asks every known Sentinel and takes the answer most of them
 *    give (a Sentinel that missed the switch is outvoted), then checks it
 *    with ROLE before any request goes there;
 *  - a +switch-master event names the new master directly (it comes from
 *    a Sentinel that has the new configuration): checked with ROLE, it is
 *    switched to at once;
 *  - nothing else moves the address: not a node claiming to be master.
 *
 * Signals, each ending in one coalesced discovery: every Sentinel's events
 * (one PSUBSCRIBE * connection per Sentinel, since a failover's progress is
 * published only by the Sentinel leading it, and any one may die), a
 * re-query after each (re)subscribe, a poll every cache_ms, and the data
 * path's signs (respio__control_suspect: -READONLY, -MASTERDOWN, refused
 * or reset connections, a ROLE that is not master after a dial).
 *
 * Holding writes: from the leader's +failover-state-send-slaveof-noone or
 * +promoted-slave until +switch-master (or an abort, or RESPIO__HOLD_NS),
 * the shards send nothing: what the old master acknowledges after the
 * promotion is lost when it is demoted. Only requests already on the wire
 * at that moment can be lost.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "atomic.h"
#include "control.h"
#include "future.h"
#include "sentinel_internal.h"
#include "shard.h"

#define RESPIO__HOLD_NS	     5000000000ll /* the longest a failover holds writes */
#define RESPIO__RESUB_NS     1000000000ll /* a lost subscription is retried after */
#define RESPIO__RETRY_MIN_NS 100000000ll  /* discovery failing: first retry */

static void tell_shards(struct respio__sentinel *s)
{
	for (uint32_t i = 0; i < s->nshards; i++)
		respio__shard_topology(&s->shards[i]);
}

/* The master is host:port, checked: move the dialers there, release any
 * hold, and have every shard leave the old one. */
static void switch_to(struct respio__sentinel *s, const char *host, int port)
{
	char old[RESPIO__HOST_SIZE + 16];
	uint32_t epoch = respio__control_set_address(s->ctl, host, port, old, sizeof(old));
	struct timespec ts;

	s->hold_until = 0;
	respio__control_set_hold(s->ctl, 0);
	tell_shards(s);
	clock_gettime(CLOCK_REALTIME, &ts);
	pthread_mutex_lock(&s->stats_lock);
	s->stats.failovers++;
	s->stats.last_switch_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	pthread_mutex_unlock(&s->stats_lock);
	respio__control_log(s->ctl, RESPIO_LOG_WARN, RESPIO_E_FAILOVER,
			    "master moved from %s to %s:%d (epoch %u)", old, host, port,
			    (unsigned)epoch);
}

/* Switch to host:port unless it is where the dialers dial already. */
static void maybe_switch(struct respio__sentinel *s, const char *host, int port)
{
	char cur[RESPIO__HOST_SIZE], detail[RESPIO__DETAIL_SIZE];
	int cur_port;

	respio__control_address(s->ctl, cur, sizeof(cur), &cur_port);
	/* Still the master: nothing to do. A hold stays: while a failover
	 * runs, most Sentinels name the old master until +switch-master has
	 * spread, and writes released to it now would be lost at its
	 * demotion. Only the switch, an abort or the bound lifts it. */
	if (cur_port == port && strcmp(cur, host) == 0)
		return;
	if (respio__sentinel_check_role(s, host, port, RESPIO__ROLE_MASTER, detail,
					sizeof(detail)) == 0)
		switch_to(s, host, port);
	else
		respio__control_log(s->ctl, RESPIO_LOG_WARN, RESPIO_E_NOT_MASTER,
				    "Sentinels name %s:%d, which is not a master yet: %s", host,
				    port, detail);
}

/* Reads follow the replica the Sentinels consider fit, or go back to the
 * master when none is. */
static void update_replica(struct respio__sentinel *s)
{
	char host[RESPIO__HOST_SIZE];
	int port = 0;
	bool fit = respio__sentinel_pick_replica(s, host, sizeof(host), &port);

	if (!fit)
		host[0] = '\0';
	if (strcmp(host, s->replica_host) == 0 && (!fit || port == s->replica_port))
		return;
	if (fit)
		respio__control_log(s->ctl, RESPIO_LOG_INFO, 0, "reads go to replica %s:%d", host,
				    port);
	else
		respio__control_log(s->ctl, RESPIO_LOG_WARN, 0,
				    "no replica fit for reads: reads go to the master");
	snprintf(s->replica_host, sizeof(s->replica_host), "%s", host);
	s->replica_port = port;
	respio__control_set_replica(s->ctl, fit ? host : NULL, port);
	tell_shards(s);
}

static void hold(struct respio__sentinel *s, int64_t now)
{
	if (s->hold_until)
		return;
	s->hold_until = now + RESPIO__HOLD_NS;
	respio__control_set_hold(s->ctl, s->hold_until);
	tell_shards(s);
	pthread_mutex_lock(&s->stats_lock);
	s->stats.holds++;
	pthread_mutex_unlock(&s->stats_lock);
	respio__control_log(s->ctl, RESPIO_LOG_INFO, 0, "failover of %s in progress: writes held",
			    s->master_name);
}

static void release(struct respio__sentinel *s)
{
	if (!s->hold_until)
		return;
	s->hold_until = 0;
	respio__control_set_hold(s->ctl, 0);
	tell_shards(s);
}

/* Split payload into at most max words (in place). */
static int split(char *payload, char **w, int max)
{
	int n = 0;

	for (char *tok = strtok(payload, " "); tok && n < max; tok = strtok(NULL, " "))
		w[n++] = tok;
	return n;
}

/* The master an event is about: "master <name> <ip> <port>" or
 * "<type> <name> <ip> <port> @ <master> <ip> <port>". */
static const char *event_master(char **w, int n)
{
	for (int i = 0; i + 1 < n; i++)
		if (strcmp(w[i], "@") == 0)
			return w[i + 1];
	return n >= 2 && strcmp(w[0], "master") == 0 ? w[1] : NULL;
}

/* One Sentinel event: true when the Sentinels should be asked again. */
static bool on_event(struct respio__sentinel *s, const char *channel, char *payload, int64_t now)
{
	char *w[12];
	int n = split(payload, w, 12);
	const char *about;

	if (strcmp(channel, "+switch-master") == 0) {
		if (n >= 5 && strcmp(w[0], s->master_name) == 0)
			maybe_switch(s, w[3], atoi(w[4]));
		return true;
	}
	about = event_master(w, n);
	if (strcmp(channel, "+sentinel") == 0) {
		if (n >= 4 && about && strcmp(about, s->master_name) == 0)
			respio__sentinel_add(s, w[2], atoi(w[3]));
		return false;
	}
	if (!about || strcmp(about, s->master_name) != 0)
		return false;
	if (strcmp(channel, "+failover-state-send-slaveof-noone") == 0 ||
	    strcmp(channel, "+promoted-slave") == 0) {
		hold(s, now);
		return false;
	}
	if (strncmp(channel, "-failover-abort", 15) == 0) {
		release(s);
		return true;
	}
	return strcmp(channel, "+failover-end") == 0 || strcmp(channel, "+sdown") == 0 ||
	       strcmp(channel, "-sdown") == 0 || strcmp(channel, "+odown") == 0 ||
	       strcmp(channel, "+reboot") == 0;
}

static void drop_sub(struct respio__sentinel *s, uint32_t i, int64_t now)
{
	respio_conn_destroy(s->nodes[i].sub);
	s->nodes[i].sub = NULL;
	/* Half to all of the retry time: Sentinels lost together do not
	 * come back in step. */
	s->nodes[i].retry_at =
	    now + RESPIO__RESUB_NS / 2 + (int64_t)(rand_r(&s->seed) % (RESPIO__RESUB_NS / 2));
}

/* Subscribe to every Sentinel that has no subscription (and is due): true
 * when one was (re)subscribed, so the Sentinels are asked again (what was
 * published while unsubscribed is missed). */
static bool subscribe_all(struct respio__sentinel *s, int64_t now)
{
	static const char *const psub[] = {"PSUBSCRIBE", "*"};
	bool any = false;

	for (uint32_t i = 0; i < s->n; i++) {
		struct respio__sentinel_node *nd = &s->nodes[i];
		char detail[RESPIO__DETAIL_SIZE];
		respio_reply *r = NULL;
		int rc;

		if (nd->sub || now < nd->retry_at)
			continue;
		rc = respio__sentinel_conn(s, i, &nd->sub, detail, sizeof(detail));
		if (rc == 0)
			rc = respio_conn_append(nd->sub, 2, psub, NULL);
		if (rc == 0)
			rc = respio_conn_flush(nd->sub);
		if (rc == 0)
			rc = respio_conn_read_reply(nd->sub, s->timeout_ms, &r);
		respio_reply_free(r);
		if (rc < 0) {
			if (nd->sub)
				drop_sub(s, i, now);
			else
				nd->retry_at = now + RESPIO__RESUB_NS;
			continue;
		}
		any = true;
	}
	return any;
}

/* Read what subscription i has: true when the Sentinels should be asked
 * again. */
static bool read_sub(struct respio__sentinel *s, uint32_t i, int64_t now)
{
	bool requery = false;

	for (int k = 0; k < 256; k++) {
		respio_reply *r = NULL;
		int rc = respio_conn_read_reply(s->nodes[i].sub, 0, &r);

		if (rc == -EAGAIN)
			break;
		if (rc < 0) {
			respio_reply_free(r);
			drop_sub(s, i, now);
			return true;
		}
		/* ["pmessage", pattern, channel, payload] */
		if (respio_reply_len(r) == 4) {
			const char *kind = respio_reply_str(respio_reply_element(r, 0), NULL);
			const char *channel = respio_reply_str(respio_reply_element(r, 2), NULL);
			const char *payload = respio_reply_str(respio_reply_element(r, 3), NULL);

			if (kind && channel && payload && strcmp(kind, "pmessage") == 0) {
				char buf[512];

				snprintf(buf, sizeof(buf), "%s", payload);
				requery |= on_event(s, channel, buf, now);
			}
		}
		respio_reply_free(r);
	}
	return requery;
}

static void wake(void *arg)
{
	struct respio__sentinel *s = arg;

	if (eventfd_write(s->efd, 1) < 0) {
		/* Only a closed fd fails; the poll's timeout still runs. */
	}
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static void *sentinel_main(void *arg)
{
	struct respio__sentinel *s = arg;
	int64_t now = respio__now_ns(), next_ask = now + s->cache_ns, retry_ns = 0;
	bool ask_now = s->replica_reads; /* pick the replica at once */

	while (!respio__load_acquire_u32(&s->stop)) {
		struct pollfd pfd[RESPIO__SENTINELS_MAX + 1];
		uint32_t owner[RESPIO__SENTINELS_MAX + 1];
		int64_t until;
		nfds_t np = 1;

		now = respio__now_ns();
		ask_now |= subscribe_all(s, now);
		ask_now |= respio__control_take_suspect(s->ctl);
		if (ask_now || now >= next_ask) {
			char host[RESPIO__HOST_SIZE], detail[RESPIO__DETAIL_SIZE];
			int port, rc = respio__sentinel_discover(s, host, sizeof(host), &port,
								 detail, sizeof(detail));

			ask_now = false;
			if (rc == 0) {
				maybe_switch(s, host, port);
				if (s->replica_reads)
					update_replica(s);
				retry_ns = 0;
				next_ask = respio__now_ns() + s->cache_ns;
			} else {
				/* None answered, or no master yet: again soon, but
				 * backing off with jitter, never spinning. */
				retry_ns = retry_ns ? min64(retry_ns * 2, s->cache_ns)
						    : RESPIO__RETRY_MIN_NS;
				next_ask =
				    respio__now_ns() + retry_ns / 2 +
				    (int64_t)(rand_r(&s->seed) % (uint64_t)(retry_ns / 2 + 1));
				/* The first failure of a streak, then at the longest
				 * retry: not one line per attempt. */
				if (retry_ns == RESPIO__RETRY_MIN_NS || retry_ns == s->cache_ns)
					respio__control_log(s->ctl, RESPIO_LOG_WARN, rc,
							    "Sentinel discovery failed: %s",
							    detail);
			}
		}
		now = respio__now_ns();
		if (s->hold_until && now >= s->hold_until)
			release(s);

		until = next_ask;
		if (s->hold_until)
			until = min64(until, s->hold_until);
		pfd[0] = (struct pollfd){.fd = s->efd, .events = POLLIN};
		for (uint32_t i = 0; i < s->n; i++) {
			if (s->nodes[i].sub) {
				pfd[np] = (struct pollfd){.fd = respio_conn_fd(s->nodes[i].sub),
							  .events = POLLIN};
				owner[np++] = i;
			} else {
				until = min64(until, s->nodes[i].retry_at);
			}
		}
		if (until > now &&
		    poll(pfd, np, (int)min64((until - now) / 1000000 + 1, 1000)) > 0) {
			uint64_t v;

			if (pfd[0].revents & POLLIN)
				(void)eventfd_read(s->efd, &v);
			now = respio__now_ns();
			/* Backwards: a dropped subscription never shifts one
			 * not yet read. */
			for (nfds_t k = np; k-- > 1;)
				if (pfd[k].revents)
					ask_now |= read_sub(s, owner[k], now);
		}
	}
	return NULL;
}

int respio__sentinel_start(struct respio__sentinel *s, struct respio__control *ctl,
			   struct respio__shard *shards, uint32_t nshards)
{
	int rc;

	s->ctl = ctl;
	s->shards = shards;
	s->nshards = nshards;
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->efd < 0)
		return -errno;
	respio__control_on_suspect(ctl, wake, s);
	rc = pthread_create(&s->thread, NULL, sentinel_main, s);
	if (rc) {
		respio__control_on_suspect(ctl, NULL, NULL);
		return -rc;
	}
	pthread_setname_np(s->thread, "respio-sentinel");
	s->running = true;
	return 0;
}

void respio__sentinel_stop(struct respio__sentinel *s)
{
	if (!s || !s->running)
		return;
	respio__store_release_u32(&s->stop, 1);
	wake(s);
	pthread_join(s->thread, NULL);
	s->running = false;
}

void respio__sentinel_free(struct respio__sentinel *s)
{
	if (!s)
		return;
	/* The shards and dialers that could signal it are joined by now. */
	respio__sentinel_stop(s);
	respio__sentinel_release(s);
}

void respio__sentinel_stats(struct respio__sentinel *s, struct respio__sentinel_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!s)
		return;
	pthread_mutex_lock(&s->stats_lock);
	*out = s->stats;
	pthread_mutex_unlock(&s->stats_lock);
}

int respio_sentinel_get_master(const respio_sentinel_config *sc, char *host, size_t cap, int *port)
{
	struct respio__sentinel *s;
	char detail[RESPIO__DETAIL_SIZE], h[RESPIO__HOST_SIZE];
	respio_config cfg;
	int p, rc;

	if (!host || !port || cap == 0)
		return RESPIO_E_INVAL;
	respio_config_init(&cfg);
	rc = respio__sentinel_create(sc, &cfg, &s);
	if (rc < 0)
		return rc;
	rc = respio__sentinel_discover(s, h, sizeof(h), &p, detail, sizeof(detail));
	respio__sentinel_free(s);
	if (rc == 0 && strlen(h) >= cap)
		rc = RESPIO_E_NOBUFS;
	if (rc == 0) {
		snprintf(host, cap, "%s", h);
		*port = p;
	}
	return rc;
}

/* SPDX-License-Identifier: MIT */
/* The control thread's dialers: dial and handshake connections for the
 * links that ask, so a shard never blocks on connect, AUTH or HELLO. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "atomic.h"
#include "control.h"
#include "dial.h"
#include "future.h"

/*
 * Dials in flight at once, per client. More than one, so that a dial that
 * takes its whole connection_timeout_ms (a server that accepts and never
 * answers) does not hold up every other connection's; few, so that the
 * reconnects after an outage are no storm. respio_conn blocks, so each is
 * a thread taking requests from one queue: the simplest way to bound them.
 */
#define RESPIO__DIALERS 4

struct respio__control {
	const respio_config *cfg; /* the client's: outlives the dialers */
	pthread_t threads[RESPIO__DIALERS];
	uint32_t nthreads; /* started, to be joined */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct respio__queue queue; /* of struct respio__dial_request, through node */
	bool stop;
	/* The last failed dial, for respio_client_last_error: written by the
	 * dialer, read by any thread, both rare, so under the same lock. */
	int last_err;
	int64_t last_err_ms; /* CLOCK_REALTIME: comparable with the caller's logs */
	char last_detail[RESPIO__DETAIL_SIZE];
	/* Where the dialers dial (cfg's host and port, or the master the
	 * Sentinels named), under the lock; epoch counts its changes and is
	 * also published for the shards, which compare it with the epoch of
	 * each connection. */
	char host[RESPIO__HOST_SIZE];
	int port;
	_Atomic uint32_t epoch;
	bool check_role; /* dials confirm ROLE = master (Sentinel) */
	/* The replica reads go to (Sentinel, replica_reads), with its own
	 * epoch; replica_up says there is one. */
	char replica_host[RESPIO__HOST_SIZE];
	int replica_port;
	_Atomic uint32_t replica_epoch, replica_up;
	_Atomic uint32_t suspect;      /* a shard saw a sign of failover */
	_Atomic uint64_t hold_until;   /* CLOCK_MONOTONIC: writes held until then */
	int64_t next_paced;	       /* CLOCK_MONOTONIC: the next paced dial's turn */
	void (*on_suspect)(void *arg); /* wakes whoever acts on it */
	void *on_suspect_arg;
};

static void note_error(struct respio__control *ctl, int err, const char *detail)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	pthread_mutex_lock(&ctl->lock);
	ctl->last_err = err;
	ctl->last_err_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	snprintf(ctl->last_detail, sizeof(ctl->last_detail), "%s", detail);
	pthread_mutex_unlock(&ctl->lock);
}

void respio__control_log(struct respio__control *ctl, int level, int code, const char *fmt, ...)
{
	char msg[RESPIO__DETAIL_SIZE + 128];
	va_list ap;
	int n;

	if (!ctl || !ctl->cfg->log.fn)
		return;
	/* Every event names the server it is about. */
	pthread_mutex_lock(&ctl->lock);
	n = snprintf(msg, sizeof(msg), "%s:%d: ", ctl->host, ctl->port);
	pthread_mutex_unlock(&ctl->lock);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	ctl->cfg->log.fn(ctl->cfg->log.arg, level, code, msg);
}

int respio__control_last_error(struct respio__control *ctl, char *buf, size_t cap, int64_t *when_ms)
{
	int err;

	pthread_mutex_lock(&ctl->lock);
	err = ctl->last_err;
	if (buf && cap)
		snprintf(buf, cap, "%s", ctl->last_detail);
	if (when_ms)
		*when_ms = err ? ctl->last_err_ms : 0;
	pthread_mutex_unlock(&ctl->lock);
	return err;
}

/* Redials after losses reach the server one per RESPIO__PACE_NS at most,
 * however many pile up (a server that accepts but answers late holds the
 * dialers, then releases them all at once). Under the lock; returns with
 * it held. A stop cuts the wait short. */
#define RESPIO__PACE_NS 5000000LL

static void wait_turn(struct respio__control *ctl)
{
	int64_t now = respio__now_ns(), at = ctl->next_paced > now ? ctl->next_paced : now;

	ctl->next_paced = at + RESPIO__PACE_NS;
	while (!ctl->stop && (now = respio__now_ns()) < at) {
		int64_t ns = at - now < 10000000 ? at - now : 10000000;

		pthread_mutex_unlock(&ctl->lock);
		nanosleep(&(struct timespec){.tv_nsec = ns}, NULL);
		pthread_mutex_lock(&ctl->lock);
	}
}

static void *dialer_main(void *arg)
{
	struct respio__control *ctl = arg;

	pthread_mutex_lock(&ctl->lock);
	for (;;) {
		struct respio__dial_request *d;
		char detail[RESPIO__DETAIL_SIZE], host[RESPIO__HOST_SIZE];
		int fd = -1, rc, port;
		uint32_t epoch;
		int role;

		while (!ctl->stop && respio__queue_empty(&ctl->queue))
			pthread_cond_wait(&ctl->cond, &ctl->lock);
		if (ctl->stop)
			break;
		d = RESPIO__QUEUE_DATA(respio__queue_pop(&ctl->queue), struct respio__dial_request,
				       node);
		if (d->paced)
			wait_turn(ctl);
		if (d->replica) {
			memcpy(host, ctl->replica_host, sizeof(host));
			port = ctl->replica_port;
			epoch = respio__load_relaxed_u32(&ctl->replica_epoch);
			role = RESPIO__ROLE_REPLICA;
		} else {
			memcpy(host, ctl->host, sizeof(host));
			port = ctl->port;
			epoch = respio__load_relaxed_u32(&ctl->epoch);
			role = ctl->check_role ? RESPIO__ROLE_MASTER : RESPIO__ROLE_ANY;
		}
		pthread_mutex_unlock(&ctl->lock);
		rc = respio__dial_now(ctl->cfg, host, port, role, &fd, detail, sizeof(detail));
		if (rc == RESPIO_E_NOT_MASTER || rc == -ECONNREFUSED)
			respio__control_suspect(ctl);
		if (rc < 0) {
			note_error(ctl, rc, detail);
			/* The detail is the server's answer or the system's:
			 * never a credential. */
			respio__control_log(ctl, RESPIO_LOG_WARN, rc, "dial failed: %s",
					    detail[0] ? detail : respio_strerror(rc));
		}
		d->answer.type = rc == 0 ? RESPIO__MSG_CONN_READY : RESPIO__MSG_CONN_FAILED;
		d->answer.fd = fd;
		d->answer.err = rc;
		d->answer.epoch = epoch;
		/* From here d is its link's again. */
		respio__mailbox_post(d->reply_to, &d->answer);
		pthread_mutex_lock(&ctl->lock);
	}
	/* Requests still queued belong to their links: nothing to free. */
	respio__queue_init(&ctl->queue);
	pthread_mutex_unlock(&ctl->lock);
	return NULL;
}

int respio__control_start(const respio_config *cfg, uint32_t nlinks, bool check_role,
			  struct respio__control **out)
{
	struct respio__control *ctl = calloc(1, sizeof(*ctl));
	uint32_t n = nlinks;
	int rc = 0;

	if (!ctl)
		return -ENOMEM;
	ctl->cfg = cfg;
	snprintf(ctl->host, sizeof(ctl->host), "%s", cfg->host);
	ctl->port = cfg->port;
	ctl->check_role = check_role;
	pthread_mutex_init(&ctl->lock, NULL);
	pthread_cond_init(&ctl->cond, NULL);
	/* No more dialers than connections to dial. */
	if (n > RESPIO__DIALERS)
		n = RESPIO__DIALERS;
	for (uint32_t i = 0; i < n; i++) {
		char name[16];

		rc = pthread_create(&ctl->threads[i], NULL, dialer_main, ctl);
		if (rc)
			break;
		ctl->nthreads++;
		snprintf(name, sizeof(name), "respio-dial%u", i);
		pthread_setname_np(ctl->threads[i], name);
	}
	if (rc) {
		respio__control_stop(ctl);
		respio__control_free(ctl);
		return -rc;
	}
	*out = ctl;
	return 0;
}

void respio__control_dial(struct respio__control *ctl, struct respio__dial_request *d)
{
	pthread_mutex_lock(&ctl->lock);
	/* Once stopping, the asker is going away too: the request is dropped
	 * and its link stays DIALING until its shard ends. */
	if (!ctl->stop) {
		respio__queue_push(&ctl->queue, &d->node);
		pthread_cond_signal(&ctl->cond);
	}
	pthread_mutex_unlock(&ctl->lock);
}

void respio__control_stop(struct respio__control *ctl)
{
	if (!ctl)
		return;
	pthread_mutex_lock(&ctl->lock);
	ctl->stop = true;
	pthread_cond_broadcast(&ctl->cond);
	pthread_mutex_unlock(&ctl->lock);
	/* Each dial in progress is bounded by connection_timeout_ms, and they
	 * end side by side. */
	for (uint32_t i = 0; i < ctl->nthreads; i++)
		pthread_join(ctl->threads[i], NULL);
}

void respio__control_free(struct respio__control *ctl)
{
	if (!ctl)
		return;
	pthread_mutex_destroy(&ctl->lock);
	pthread_cond_destroy(&ctl->cond);
	free(ctl);
}

uint32_t respio__control_set_address(struct respio__control *ctl, const char *host, int port,
				     char *old, size_t cap)
{
	uint32_t epoch;

	pthread_mutex_lock(&ctl->lock);
	snprintf(old, cap, "%s:%d", ctl->host, ctl->port);
	snprintf(ctl->host, sizeof(ctl->host), "%s", host);
	ctl->port = port;
	epoch = respio__load_relaxed_u32(&ctl->epoch) + 1;
	/* Release: a shard that reads the new epoch reads the new address
	 * through the dialers, which take it under the lock anyway. */
	respio__store_release_u32(&ctl->epoch, epoch);
	pthread_mutex_unlock(&ctl->lock);
	return epoch;
}

void respio__control_address(struct respio__control *ctl, char *host, size_t cap, int *port)
{
	pthread_mutex_lock(&ctl->lock);
	snprintf(host, cap, "%s", ctl->host);
	*port = ctl->port;
	pthread_mutex_unlock(&ctl->lock);
}

uint32_t respio__control_epoch(const struct respio__control *ctl)
{
	return respio__load_acquire_u32((_Atomic uint32_t *)&ctl->epoch);
}

void respio__control_on_suspect(struct respio__control *ctl, void (*fn)(void *), void *arg)
{
	pthread_mutex_lock(&ctl->lock);
	ctl->on_suspect = fn;
	ctl->on_suspect_arg = arg;
	pthread_mutex_unlock(&ctl->lock);
}

void respio__control_suspect(struct respio__control *ctl)
{
	void (*fn)(void *);
	void *arg;

	/* Many requests see the same failover: one wake until it is taken. */
	if (!ctl || respio__exchange_acq_rel_u32(&ctl->suspect, 1))
		return;
	pthread_mutex_lock(&ctl->lock);
	fn = ctl->on_suspect;
	arg = ctl->on_suspect_arg;
	pthread_mutex_unlock(&ctl->lock);
	if (fn)
		fn(arg);
}

bool respio__control_take_suspect(struct respio__control *ctl)
{
	return respio__exchange_acq_rel_u32(&ctl->suspect, 0) != 0;
}

void respio__control_set_hold(struct respio__control *ctl, int64_t until_ns)
{
	respio__store_release_u64(&ctl->hold_until, (uint64_t)until_ns);
}

int64_t respio__control_hold(const struct respio__control *ctl)
{
	return (int64_t)respio__load_acquire_u64((_Atomic uint64_t *)&ctl->hold_until);
}

uint32_t respio__control_set_replica(struct respio__control *ctl, const char *host, int port)
{
	uint32_t epoch;

	pthread_mutex_lock(&ctl->lock);
	snprintf(ctl->replica_host, sizeof(ctl->replica_host), "%s", host ? host : "");
	ctl->replica_port = host ? port : 0;
	epoch = respio__load_relaxed_u32(&ctl->replica_epoch) + 1;
	respio__store_release_u32(&ctl->replica_epoch, epoch);
	respio__store_release_u32(&ctl->replica_up, host != NULL);
	pthread_mutex_unlock(&ctl->lock);
	return epoch;
}

uint32_t respio__control_replica_epoch(const struct respio__control *ctl)
{
	return respio__load_acquire_u32((_Atomic uint32_t *)&ctl->replica_epoch);
}

bool respio__control_replica_up(const struct respio__control *ctl)
{
	return respio__load_acquire_u32((_Atomic uint32_t *)&ctl->replica_up) != 0;
}

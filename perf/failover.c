/* SPDX-License-Identifier: MIT */
/* --failover-at (failover.h). */
#include "failover.h"
#include "report.h"
#include "perf.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUCKET_NS     100000000ull
#define FATES	      4 /* 0: no completion seen, then enum respio_fate */
#define CODES	      8 /* distinct (code, fate) pairs kept per thread */
#define SENTINELS     16
#define ASK_FOR_NS    10000000000ull /* retry SENTINEL FAILOVER for at most */
#define DEMOTE_MS     30000	     /* wait for the old master's role:slave */
#define NODE_TIMEOUT  2000	     /* ms, per command to a node after the run */
#define EVENTS_FOR_NS 60000000000ull /* listen to the Sentinels after the trigger */

/* The failover's steps as the Sentinels publish them, in order. */
enum { EV_SLAVEOF_NOONE, EV_PROMOTED, EV_END, EV_SWITCH, EVENTS };
static const char *const event_names[EVENTS] = {
    "+failover-state-send-slaveof-noone", "+promoted-slave", "+failover-end", "+switch-master"};

struct bucket {
	uint32_t acked;
	uint32_t failed[FATES];
	uint64_t max_ns; /* the slowest completion, acknowledged or failed */
};

struct code_count {
	int code, fate;
	uint64_t n;
};

/* One load thread's record; only that thread writes it during the run. */
struct fo_thread {
	struct bucket *b;
	uint16_t *per_ms; /* INCRs acknowledged in each ms of the run (saturating) */
	long long highest;
	uint64_t acked, backwards, bad;
	uint64_t failed[FATES];
	struct code_count codes[CODES];
	int ncodes;
	uint64_t other_codes;
	long long final; /* read back after the run */
};

struct perf_failover {
	struct perf_failover_opts o;
	char hosts[SENTINELS][128];
	int ports[SENTINELS], nsentinels;
	char run[48];
	uint32_t nb;  /* buckets */
	uint64_t nms; /* ms covered by per_ms */
	struct fo_thread *th;

	pthread_t trigger;
	bool armed;
	_Atomic bool disarm;
	/* Written by the trigger thread, read after it is joined. */
	bool fired;
	uint64_t trig_ns;     /* the accepted request's send, from the run's start */
	int64_t trig_real_ms; /* the same moment, CLOCK_REALTIME */
	double accept_ms;     /* until the Sentinel's +OK */
	int attempts;
	char via[160];
	char trig_err[200];
	respio_conn *subs[SENTINELS]; /* SUBSCRIBE to event_names, or NULL */
	int nsubs;
	uint64_t ev_ns[EVENTS]; /* first seen, from the run's start; 0: not seen */

	bool have_stats;
	respio_stats st;

	bool verified;
	char new_host[128];
	int new_port;
	double demoted_s; /* from the end of the run to role:slave seen */
	char verify_err[200];
};

/* Set by the runner just before the measured phase (runner.c). */
static uint64_t run_start(void)
{
	return perf_phase_now() == PERF_WARMUP ? 0 : atomic_load(&perf_measure_t0);
}

static int64_t realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "host" or "host:port", read as the engine reads respio_sentinel_config
 * hosts: the port after the last colon, brackets around the host dropped
 * ("[::1]:26379"), so the trigger asks the Sentinels the client asks. */
static int parse_host(const char *s, int dflt, char *host, size_t cap, int *port)
{
	const char *colon = strrchr(s, ':');
	size_t len = colon ? (size_t)(colon - s) : strlen(s);
	char *e;

	*port = dflt;
	if (colon) {
		long p = strtol(colon + 1, &e, 10);

		if (e == colon + 1 || *e || p <= 0 || p > 65535)
			return -1;
		*port = (int)p;
	}
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		s++;
		len -= 2;
	}
	if (len == 0 || len >= cap)
		return -1;
	memcpy(host, s, len);
	host[len] = '\0';
	return 0;
}

struct perf_failover *perf_failover_create(const struct perf_failover_opts *o, char *err,
					   size_t errlen)
{
	const respio_sentinel_config *sc = o->sentinel;
	struct perf_failover *fo = calloc(1, sizeof(*fo));

	if (!fo) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	fo->o = *o;
	for (int i = 0; i < sc->nhosts && i < SENTINELS; i++) {
		if (parse_host(sc->hosts[i], sc->port > 0 ? sc->port : 26379, fo->hosts[i],
			       sizeof(fo->hosts[i]), &fo->ports[i]) < 0) {
			snprintf(err, errlen, "bad Sentinel address '%s'", sc->hosts[i]);
			free(fo);
			return NULL;
		}
		fo->nsentinels++;
	}
	fo->nb = (uint32_t)ceil(o->duration_s * 1e9 / BUCKET_NS - 1e-9);
	fo->nms = (uint64_t)ceil(o->duration_s * 1e3);
	if (fo->nb < 1)
		fo->nb = 1;
	/* Fresh counters: a run never reads another's. */
	snprintf(fo->run, sizeof(fo->run), "%d-%lld", (int)getpid(), (long long)realtime_ms());
	fo->th = calloc((size_t)o->threads, sizeof(*fo->th));
	for (int i = 0; fo->th && i < o->threads; i++) {
		fo->th[i].b = calloc(fo->nb, sizeof(struct bucket));
		fo->th[i].per_ms = calloc(fo->nms, sizeof(uint16_t));
		if (!fo->th[i].b || !fo->th[i].per_ms) {
			snprintf(err, errlen, "out of memory");
			perf_failover_free(fo);
			return NULL;
		}
	}
	if (!fo->th) {
		snprintf(err, errlen, "out of memory");
		free(fo);
		return NULL;
	}
	return fo;
}

void perf_failover_free(struct perf_failover *fo)
{
	if (!fo)
		return;
	perf_failover_disarm(fo);
	for (int i = 0; fo->th && i < fo->o.threads; i++) {
		free(fo->th[i].b);
		free(fo->th[i].per_ms);
	}
	free(fo->th);
	free(fo);
}

size_t perf_failover_key(const struct perf_failover *fo, int id, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "respio:perf:failover:%s:%d", fo->run, id);

	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* The bucket now falls in, or NULL outside the measured run. */
static struct bucket *bucket_of(struct perf_failover *fo, struct fo_thread *th, uint64_t now)
{
	uint64_t t0 = run_start();

	if (!t0 || now < t0 || (now - t0) / BUCKET_NS >= fo->nb)
		return NULL;
	return &th->b[(now - t0) / BUCKET_NS];
}

void perf_failover_acked(struct perf_failover *fo, int id, uint64_t now, uint64_t lat_ns,
			 long long value)
{
	struct fo_thread *th = &fo->th[id];
	struct bucket *b = bucket_of(fo, th, now);

	/* One writer per counter: every reply should be above the last. */
	if (th->acked && value <= th->highest)
		th->backwards++;
	if (value > th->highest)
		th->highest = value;
	th->acked++;
	if (b) {
		uint64_t ms = (now - run_start()) / 1000000;

		b->acked++;
		if (lat_ns > b->max_ns)
			b->max_ns = lat_ns;
		if (ms < fo->nms)
			th->per_ms[ms] += th->per_ms[ms] < UINT16_MAX;
	}
}

void perf_failover_failed(struct perf_failover *fo, int id, uint64_t now, uint64_t lat_ns, int code,
			  int fate)
{
	struct fo_thread *th = &fo->th[id];
	struct bucket *b = bucket_of(fo, th, now);
	int i;

	if (fate < 0 || fate >= FATES)
		fate = 0;
	th->failed[fate]++;
	if (b) {
		b->failed[fate]++;
		if (lat_ns > b->max_ns)
			b->max_ns = lat_ns;
	}
	for (i = 0; i < th->ncodes; i++)
		if (th->codes[i].code == code && th->codes[i].fate == fate)
			break;
	if (i < th->ncodes)
		th->codes[i].n++;
	else if (th->ncodes < CODES)
		th->codes[th->ncodes++] = (struct code_count){code, fate, 1};
	else
		th->other_codes++;
}

void perf_failover_bad_reply(struct perf_failover *fo, int id)
{
	fo->th[id].bad++;
}

void perf_failover_log(void *arg, int level, int code, const char *msg)
{
	uint64_t t0 = run_start();
	char when[32];

	(void)arg;
	if (t0)
		snprintf(when, sizeof(when), "+%.3f s", (double)(perf_now_ns() - t0) / 1e9);
	else
		snprintf(when, sizeof(when), "warm-up");
	/* One call per line: lines from several shards do not interleave. */
	fprintf(stderr, "respio-perf: [%s] engine %s: %s%s%s\n", when,
		level == RESPIO_LOG_ERROR  ? "error"
		: level == RESPIO_LOG_WARN ? "warning"
					   : "info",
		msg, code ? " " : "", code ? respio_err_name(code) : "");
}

/* A blocking connection to host:port with the given credentials. */
static respio_conn *dial(const char *host, int port, const char *user, const char *pass,
			 int timeout_ms, char *err, size_t errlen)
{
	respio_config cfg;
	respio_conn *c;
	int rc;

	respio_config_init(&cfg);
	cfg.host = host;
	cfg.port = port;
	cfg.username = user;
	cfg.password = pass;
	cfg.timeout_ms = timeout_ms;
	if ((rc = respio_conn_create(&cfg, &c)) < 0) {
		snprintf(err, errlen, "%s", respio_strerror(rc));
		return NULL;
	}
	if ((rc = respio_conn_connect(c)) < 0) {
		snprintf(err, errlen, "%s:%d: %s", host, port, respio_conn_errdetail(c));
		respio_conn_destroy(c);
		return NULL;
	}
	return c;
}

/* Ask one Sentinel for SENTINEL FAILOVER: true when it said OK. */
static bool ask(struct perf_failover *fo, int i, char *err, size_t errlen)
{
	const respio_sentinel_config *sc = fo->o.sentinel;
	const char *argv[] = {"SENTINEL", "FAILOVER", sc->master_name};
	respio_conn *c = dial(fo->hosts[i], fo->ports[i], sc->username, sc->password,
			      sc->timeout_ms > 0 ? sc->timeout_ms : 1000, err, errlen);
	respio_reply *r = NULL;
	uint64_t sent;
	int64_t sent_real;
	int rc;

	if (!c)
		return false;
	sent = perf_now_ns();
	sent_real = realtime_ms();
	rc = respio_conn_command(c, 3, argv, NULL, &r);
	if (rc == 0) {
		fo->fired = true;
		fo->trig_ns = sent - atomic_load(&perf_measure_t0);
		fo->trig_real_ms = sent_real;
		fo->accept_ms = (double)(perf_now_ns() - sent) / 1e6;
		snprintf(fo->via, sizeof(fo->via), "%s:%d", fo->hosts[i], fo->ports[i]);
	} else {
		const char *msg = r ? respio_reply_str(r, NULL) : NULL;

		/* NOGOODSLAVE or INPROG: another Sentinel, or later. */
		snprintf(err, errlen, "%s:%d: %s", fo->hosts[i], fo->ports[i],
			 msg ? msg : respio_conn_errdetail(c));
	}
	respio_reply_free(r);
	respio_conn_destroy(c);
	return rc == 0;
}

/* Subscribe to the failover's events on every Sentinel: the steps are
 * published by the Sentinel leading it, +switch-master by each. */
static void subscribe(struct perf_failover *fo)
{
	const respio_sentinel_config *sc = fo->o.sentinel;
	const char *argv[1 + EVENTS] = {"SUBSCRIBE"};
	char err[160];

	for (int k = 0; k < EVENTS; k++)
		argv[1 + k] = event_names[k];
	for (int i = 0; i < fo->nsentinels; i++) {
		respio_conn *c = dial(fo->hosts[i], fo->ports[i], sc->username, sc->password, 1000,
				      err, sizeof(err));
		int rc = c ? respio_conn_append(c, 1 + EVENTS, argv, NULL) : -1;

		if (rc == 0)
			rc = respio_conn_flush(c);
		for (int k = 0; k < EVENTS && rc == 0; k++) {
			respio_reply *r = NULL;

			rc = respio_conn_read_reply(c, 1000, &r);
			respio_reply_free(r);
		}
		if (rc < 0) {
			respio_conn_destroy(c);
			continue;
		}
		fo->subs[fo->nsubs++] = c;
	}
}

/* The master an event is about: "<name> ..." (+switch-master), "master
 * <name> ..." or "... @ <name> <ip> <port>". */
static bool about_master(const char *payload, const char *name)
{
	size_t n = strlen(name);
	const char *at = strstr(payload, " @ ");

	if (at)
		payload = at + 3;
	else if (strncmp(payload, "master ", 7) == 0)
		payload += 7;
	return strncmp(payload, name, n) == 0 && (payload[n] == ' ' || !payload[n]);
}

/* Note the events until +switch-master, disarm, or EVENTS_FOR_NS. */
static void listen_events(struct perf_failover *fo, uint64_t t0)
{
	uint64_t until = perf_now_ns() + EVENTS_FOR_NS;

	while (fo->nsubs && !fo->disarm && !fo->ev_ns[EV_SWITCH] && perf_now_ns() < until) {
		struct pollfd pfd[SENTINELS];

		for (int i = 0; i < fo->nsubs; i++)
			pfd[i] =
			    (struct pollfd){.fd = respio_conn_fd(fo->subs[i]), .events = POLLIN};
		if (poll(pfd, (nfds_t)fo->nsubs, 20) <= 0)
			continue;
		for (int i = 0; i < fo->nsubs; i++) {
			respio_reply *r = NULL;

			if (!pfd[i].revents)
				continue;
			/* ["message", channel, payload], as many as are here. */
			while (respio_conn_read_reply(fo->subs[i], 0, &r) == 0) {
				const char *ch = respio_reply_str(respio_reply_element(r, 1), NULL);
				const char *pl = respio_reply_str(respio_reply_element(r, 2), NULL);
				uint64_t now = perf_now_ns();

				for (int k = 0; ch && pl && k < EVENTS; k++)
					if (!fo->ev_ns[k] && strcmp(ch, event_names[k]) == 0 &&
					    about_master(pl, fo->o.sentinel->master_name))
						fo->ev_ns[k] = now - t0;
				respio_reply_free(r);
				r = NULL;
			}
			respio_reply_free(r);
		}
	}
}

static void *trigger_main(void *p)
{
	struct perf_failover *fo = p;
	uint64_t at, deadline;
	char err[160] = "";

	subscribe(fo);
	/* The measured phase, then at_s into it; disarm ends every wait. */
	while (!fo->disarm && perf_phase_now() == PERF_WARMUP)
		usleep(1000);
	if (fo->disarm || perf_phase_now() != PERF_MEASURE)
		return NULL;
	at = atomic_load(&perf_measure_t0) + (uint64_t)(fo->o.at_s * 1e9);
	while (!fo->disarm && perf_phase_now() == PERF_MEASURE && perf_now_ns() < at) {
		uint64_t left = at - perf_now_ns();

		usleep(left > 1000000 ? 1000 : (useconds_t)(left / 1000 + 1));
	}
	if (fo->disarm || perf_phase_now() != PERF_MEASURE)
		return NULL;
	deadline = perf_now_ns() + ASK_FOR_NS;
	for (;;) {
		for (int i = 0; i < fo->nsentinels; i++) {
			fo->attempts++;
			if (ask(fo, i, err, sizeof(err))) {
				listen_events(fo, atomic_load(&perf_measure_t0));
				return NULL;
			}
			fprintf(stderr, "respio-perf: SENTINEL FAILOVER: %s\n", err);
		}
		if (fo->disarm || perf_now_ns() > deadline)
			break;
		usleep(100000);
	}
	snprintf(fo->trig_err, sizeof(fo->trig_err), "no Sentinel accepted SENTINEL FAILOVER: %s",
		 err);
	return NULL;
}

int perf_failover_arm(struct perf_failover *fo, char *err, size_t errlen)
{
	int rc = pthread_create(&fo->trigger, NULL, trigger_main, fo);

	if (rc != 0) {
		snprintf(err, errlen, "starting the failover trigger: %s", strerror(rc));
		return -1;
	}
	fo->armed = true;
	return 0;
}

void perf_failover_disarm(struct perf_failover *fo)
{
	struct timespec ts;

	if (!fo->armed)
		return;
	fo->disarm = true;
	/* A request in progress is bounded by its Sentinel's timeout. */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 30;
	if (pthread_timedjoin_np(fo->trigger, NULL, &ts) != 0)
		perf_fatal("the failover trigger did not stop within 30 s");
	fo->armed = false;
	for (int i = 0; i < fo->nsubs; i++)
		respio_conn_destroy(fo->subs[i]);
	fo->nsubs = 0;
}

void perf_failover_client_done(struct perf_failover *fo, respio_client *c)
{
	respio_client_stats(c, &fo->st, NULL, 0);
	fo->have_stats = true;
}

/* One command to a node; the reply, or NULL with err. */
static respio_reply *node_command(respio_conn *c, int argc, const char *const *argv, char *err,
				  size_t errlen)
{
	respio_reply *r = NULL;
	int rc = respio_conn_command(c, argc, argv, NULL, &r);

	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", argv[0], respio_conn_errdetail(c));
		respio_reply_free(r);
		return NULL;
	}
	return r;
}

/* The old master's INFO replication says role:slave; a connection lost
 * meanwhile is dialed again on the next call. */
static bool demoted(respio_conn *c, char *err, size_t errlen)
{
	static const char *const info[] = {"INFO", "replication"};
	respio_reply *r = node_command(c, 2, info, err, errlen);
	const char *s = r ? respio_reply_str(r, NULL) : NULL;
	bool yes = s && strstr(s, "role:slave\r\n");

	respio_reply_free(r);
	return yes;
}

int perf_failover_verify(struct perf_failover *fo, FILE *log)
{
	const struct perf_failover_opts *o = &fo->o;
	uint64_t t0 = perf_now_ns(), deadline = t0 + (uint64_t)DEMOTE_MS * 1000000;
	char err[200] = "", key[96];
	respio_conn *c;
	bool slave = false;
	int rc;

	perf_failover_disarm(fo);
	if (!fo->fired) {
		snprintf(fo->verify_err, sizeof(fo->verify_err), "%s",
			 fo->trig_err[0] ? fo->trig_err : "the failover was never triggered");
		return -1;
	}
	fprintf(log,
		"respio-perf: waiting (at most %d s) for the old master %s:%d to report "
		"role:slave\n",
		DEMOTE_MS / 1000, o->old_host, o->old_port);
	c = dial(o->old_host, o->old_port, NULL, o->password, NODE_TIMEOUT, err, sizeof(err));
	while (perf_now_ns() < deadline && !perf_interrupted) {
		if (!c)
			c = dial(o->old_host, o->old_port, NULL, o->password, NODE_TIMEOUT, err,
				 sizeof(err));
		if (c && (slave = demoted(c, err, sizeof(err))))
			break;
		usleep(100000);
	}
	respio_conn_destroy(c);
	if (!slave) {
		snprintf(fo->verify_err, sizeof(fo->verify_err),
			 "the old master %s:%d did not report role:slave within %d s%s%s",
			 o->old_host, o->old_port, DEMOTE_MS / 1000, err[0] ? ": " : "", err);
		return -1;
	}
	fo->demoted_s = (double)(perf_now_ns() - t0) / 1e9;
	rc = respio_sentinel_get_master(o->sentinel, fo->new_host, sizeof(fo->new_host),
					&fo->new_port);
	if (rc < 0) {
		snprintf(fo->verify_err, sizeof(fo->verify_err), "asking the Sentinels: %s",
			 respio_strerror(rc));
		return -1;
	}
	c = dial(fo->new_host, fo->new_port, NULL, o->password, NODE_TIMEOUT, err, sizeof(err));
	for (int i = 0; c && i < o->threads; i++) {
		const char *get[] = {"GET", key};
		respio_reply *r;
		const char *s;

		perf_failover_key(fo, i, key, sizeof(key));
		if (!(r = node_command(c, 2, get, err, sizeof(err)))) {
			respio_conn_destroy(c);
			c = NULL;
			break;
		}
		s = respio_reply_str(r, NULL);
		fo->th[i].final = s ? strtoll(s, NULL, 10) : 0;
		respio_reply_free(r);
	}
	if (!c) {
		snprintf(fo->verify_err, sizeof(fo->verify_err),
			 "reading the counters from %s:%d: %s", fo->new_host, fo->new_port, err);
		return -1;
	}
	for (int i = 0; i < o->threads; i++) {
		const char *del[] = {"DEL", key};
		respio_reply *r;

		perf_failover_key(fo, i, key, sizeof(key));
		r = node_command(c, 2, del, err, sizeof(err));
		respio_reply_free(r);
	}
	respio_conn_destroy(c);
	fo->verified = true;
	return 0;
}

/* What the report and the plot say, from the threads' records. */
struct summary {
	struct bucket *b; /* summed over threads, nb of them */
	uint64_t acked, backwards, bad, failed[FATES], final;
	uint64_t lost;			/* acknowledged INCRs the final counts lack */
	uint64_t unacked_applied;	/* final counts above the acknowledged ones */
	uint64_t above_final;		/* highest acknowledged values above the final ones */
	uint32_t gap_buckets, gap_from; /* longest run of buckets with none acked */
	uint64_t gap_ms, gap_ms_from;	/* the same at 1 ms */
	double trig_s, switch_s;	/* in the run; NAN when unknown */
	double switch_after_ms;
	double ev_s[EVENTS]; /* the Sentinels' events in the run; NAN: not seen */
	/* Acknowledged from +failover-state-send-slaveof-noone to the switch:
	 * by the old master after the replica was told to take over. */
	uint64_t after_noone;
	bool have_after_noone;
};

static void summarize(const struct perf_failover *fo, struct summary *s)
{
	uint32_t run = 0;
	uint64_t ms_run = 0;

	memset(s, 0, sizeof(*s));
	s->b = calloc(fo->nb, sizeof(*s->b));
	for (int i = 0; i < fo->o.threads; i++) {
		const struct fo_thread *th = &fo->th[i];

		for (uint32_t k = 0; s->b && k < fo->nb; k++) {
			s->b[k].acked += th->b[k].acked;
			for (int f = 0; f < FATES; f++)
				s->b[k].failed[f] += th->b[k].failed[f];
			if (th->b[k].max_ns > s->b[k].max_ns)
				s->b[k].max_ns = th->b[k].max_ns;
		}
		s->acked += th->acked;
		s->backwards += th->backwards;
		s->bad += th->bad;
		for (int f = 0; f < FATES; f++)
			s->failed[f] += th->failed[f];
		if (fo->verified) {
			s->final += (uint64_t)th->final;
			/* A counter of its own from 0: each acknowledged INCR
			 * is one in the final count, unless it was lost. The
			 * highest value alone misses a loss the counter later
			 * climbed past again. */
			if ((long long)th->acked > th->final)
				s->lost += th->acked - (uint64_t)th->final;
			else
				s->unacked_applied += (uint64_t)th->final - th->acked;
			if (th->highest > th->final)
				s->above_final += (uint64_t)(th->highest - th->final);
		}
	}
	for (uint32_t k = 0; s->b && k < fo->nb; k++) {
		run = s->b[k].acked ? 0 : run + 1;
		if (run > s->gap_buckets) {
			s->gap_buckets = run;
			s->gap_from = k + 1 - run;
		}
	}
	s->trig_s = fo->fired ? (double)fo->trig_ns / 1e9 : NAN;
	s->switch_s = s->switch_after_ms = NAN;
	if (fo->fired && fo->have_stats && fo->st.last_failover_ms) {
		s->switch_after_ms = (double)(fo->st.last_failover_ms - fo->trig_real_ms);
		s->switch_s = s->trig_s + s->switch_after_ms / 1e3;
	}
	for (int k = 0; k < EVENTS; k++)
		s->ev_s[k] = fo->ev_ns[k] ? (double)fo->ev_ns[k] / 1e9 : NAN;
	s->have_after_noone = !isnan(s->ev_s[EV_SLAVEOF_NOONE]) && !isnan(s->switch_s);
	for (uint64_t ms = 0; ms < fo->nms; ms++) {
		uint64_t n = 0;

		for (int i = 0; i < fo->o.threads; i++)
			n += fo->th[i].per_ms[ms];
		ms_run = n ? 0 : ms_run + 1;
		if (ms_run > s->gap_ms) {
			s->gap_ms = ms_run;
			s->gap_ms_from = ms + 1 - ms_run;
		}
		/* Whole ms from the event's to the switch's (ms resolution). */
		if (s->have_after_noone && ms >= fo->ev_ns[EV_SLAVEOF_NOONE] / 1000000 &&
		    (double)ms < s->switch_s * 1e3)
			s->after_noone += n;
	}
}

static void print_codes(const struct perf_failover *fo, FILE *f, int fate)
{
	struct code_count all[CODES * 4];
	int n = 0;
	uint64_t other = 0;

	for (int i = 0; i < fo->o.threads; i++) {
		for (int k = 0; k < fo->th[i].ncodes; k++) {
			const struct code_count *c = &fo->th[i].codes[k];
			int j;

			if (c->fate != fate)
				continue;
			for (j = 0; j < n && all[j].code != c->code; j++)
				;
			if (j < n)
				all[j].n += c->n;
			else if (n < (int)(sizeof(all) / sizeof(all[0])))
				all[n++] = *c;
			else
				other += c->n;
		}
	}
	for (int j = 0; j < n; j++)
		fprintf(f, "%s%s %llu", j ? ", " : " (", respio_err_name(all[j].code),
			(unsigned long long)all[j].n);
	if (other)
		fprintf(f, ", others %llu", (unsigned long long)other);
	if (n)
		fprintf(f, ")");
}

void perf_failover_report(const struct perf_failover *fo, FILE *f)
{
	struct summary s;
	uint32_t from = 0, trig_k = UINT32_MAX, sw_k = UINT32_MAX;
	uint64_t other = 0;

	summarize(fo, &s);
	if (fo->fired) {
		double first = s.trig_s - 1.0;

		from = first > 0 ? (uint32_t)(first * 10) : 0;
		trig_k = (uint32_t)(s.trig_s * 10);
		if (!isnan(s.switch_s) && s.switch_s >= 0)
			sw_k = (uint32_t)(s.switch_s * 10);
	}
	fprintf(f, "\nper 100 ms, from 1 s before the failover to the end (time: the bucket's "
		   "start in the measured run):\n");
	fprintf(f, "%8s %8s %10s %8s %9s %8s %9s %11s\n", "time s", "acked", "acked/s", "SENT",
		"NOT_SENT", "replied", "no reply", "max lat ms");
	for (uint32_t k = from; s.b && k < fo->nb; k++) {
		const struct bucket *b = &s.b[k];

		fprintf(f, "%8.1f %8u %10u %8u %9u %8u %9u", k / 10.0, b->acked, b->acked * 10,
			b->failed[RESPIO_FATE_SENT], b->failed[RESPIO_FATE_NOT_SENT],
			b->failed[RESPIO_FATE_REPLIED], b->failed[0]);
		if (b->max_ns)
			fprintf(f, " %11.1f", (double)b->max_ns / 1e6);
		else
			fprintf(f, " %11s", "-");
		if (k == trig_k)
			fprintf(f, "  <- SENTINEL FAILOVER");
		for (int e = 0; e < EVENTS; e++)
			if (!isnan(s.ev_s[e]) && (uint32_t)(s.ev_s[e] * 10) == k)
				fprintf(f, "  <- %s", event_names[e]);
		if (k == sw_k)
			fprintf(f, "  <- client switched");
		fprintf(f, "\n");
	}
	fprintf(f, "\nfailover summary:\n");
	if (fo->fired)
		fprintf(f,
			"  trigger: SENTINEL FAILOVER %s via %s at %.3f s of the run (+OK in %.1f "
			"ms, attempt %d)\n",
			fo->o.sentinel->master_name, fo->via, s.trig_s, fo->accept_ms,
			fo->attempts);
	else
		fprintf(f, "  trigger: none: %s\n",
			fo->trig_err[0] ? fo->trig_err : "the run ended first");
	if (fo->have_stats) {
		fprintf(f, "  client: %llu failover%s, %llu hold%s, %llu rediscoveries; ",
			(unsigned long long)fo->st.failovers, fo->st.failovers == 1 ? "" : "s",
			(unsigned long long)fo->st.failover_holds,
			fo->st.failover_holds == 1 ? "" : "s",
			(unsigned long long)fo->st.rediscoveries);
		if (isnan(s.switch_after_ms))
			fprintf(f, "no switch after the trigger\n");
		else
			fprintf(f, "switch %.0f ms after the trigger (at %.3f s)\n",
				s.switch_after_ms, s.switch_s);
	}
	if (fo->fired) {
		fprintf(f, "  Sentinel events (first seen, s of the run):");
		for (int k = 0; k < EVENTS; k++) {
			if (isnan(s.ev_s[k]))
				fprintf(f, " %s not seen", event_names[k]);
			else
				fprintf(f, " %s %.3f", event_names[k], s.ev_s[k]);
			fprintf(f, k + 1 < EVENTS ? "," : "\n");
		}
	}
	if (s.have_after_noone)
		fprintf(
		    f,
		    "  acknowledged from +failover-state-send-slaveof-noone to the switch: %llu "
		    "INCRs (the old master's, after the replica was told to take over)\n",
		    (unsigned long long)s.after_noone);
	fprintf(f,
		"  gap: %u bucket%s of 100 ms with no acknowledged INCR (from %.1f s); longest "
		"time with none: %llu ms (%.3f to %.3f s)\n",
		s.gap_buckets, s.gap_buckets == 1 ? "" : "s", s.gap_from / 10.0,
		(unsigned long long)s.gap_ms, s.gap_ms_from / 1e3,
		(s.gap_ms_from + s.gap_ms) / 1e3);
	fprintf(f, "  errors by fate: SENT %llu", (unsigned long long)s.failed[RESPIO_FATE_SENT]);
	print_codes(fo, f, RESPIO_FATE_SENT);
	fprintf(f, ", NOT_SENT %llu", (unsigned long long)s.failed[RESPIO_FATE_NOT_SENT]);
	print_codes(fo, f, RESPIO_FATE_NOT_SENT);
	fprintf(f, ", REPLIED with an error %llu",
		(unsigned long long)s.failed[RESPIO_FATE_REPLIED]);
	print_codes(fo, f, RESPIO_FATE_REPLIED);
	fprintf(f, ", no completion %llu", (unsigned long long)s.failed[0]);
	print_codes(fo, f, 0);
	fprintf(f, "\n");
	for (int i = 0; i < fo->o.threads; i++)
		other += fo->th[i].other_codes;
	if (other)
		fprintf(f, "  (%llu errors of further kinds not itemized)\n",
			(unsigned long long)other);
	if (fo->verified) {
		fprintf(
		    f,
		    "  lost acknowledged writes: %llu of %llu acknowledged INCRs are not in the "
		    "new master's counters (acknowledged - final, per counter; exact when none "
		    "failed with fate SENT, else up to that many more)\n",
		    (unsigned long long)s.lost, (unsigned long long)s.acked);
		fprintf(f,
			"  counters: %d, read from %s:%d once the old master reported role:slave "
			"(%.1f s after the run): final %llu, %llu applied without an "
			"acknowledgement; highest acknowledged values above the final ones by "
			"%llu; %llu replies not above the one before\n",
			fo->o.threads, fo->new_host, fo->new_port, fo->demoted_s,
			(unsigned long long)s.final, (unsigned long long)s.unacked_applied,
			(unsigned long long)s.above_final, (unsigned long long)s.backwards);
	} else
		fprintf(f, "  lost acknowledged writes: not measured: %s\n", fo->verify_err);
	if (s.bad)
		fprintf(f, "  %llu replies were not an INCR's integer\n",
			(unsigned long long)s.bad);
	free(s.b);
}

bool perf_failover_ok(const struct perf_failover *fo)
{
	uint64_t bad = 0;

	for (int i = 0; i < fo->o.threads; i++)
		bad += fo->th[i].bad;
	return fo->fired && fo->have_stats && fo->st.failovers > 0 && fo->verified && !bad;
}

int perf_failover_plot(const struct perf_failover *fo, const char *png, const char *title)
{
	char script[] = "/tmp/respio-perf-failover-XXXXXX";
	int fd = mkstemp(script);
	uint64_t failed = 0;
	struct summary s;
	FILE *f;

	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		fprintf(stderr, "respio-perf: plot: %s\n", strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(script);
		}
		return -1;
	}
	summarize(fo, &s);
	for (int k = 0; k < FATES; k++)
		failed += s.failed[k];
	/* Each bucket drawn across its 100 ms: its value at its start and its
	 * end; the slowest completion broken (a blank line) where none was. */
	fprintf(f, "$A << EOD\n");
	for (uint32_t k = 0; s.b && k < fo->nb; k++)
		fprintf(f, "%.1f %.3f\n%.1f %.3f\n", k / 10.0, s.b[k].acked * 10 / 1e3,
			(k + 1) / 10.0, s.b[k].acked * 10 / 1e3);
	fprintf(f, "EOD\n$L << EOD\n");
	for (uint32_t k = 0; s.b && k < fo->nb; k++) {
		if (s.b[k].max_ns)
			fprintf(f, "%.1f %.3f\n%.1f %.3f\n", k / 10.0, s.b[k].max_ns / 1e6,
				(k + 1) / 10.0, s.b[k].max_ns / 1e6);
		else
			fprintf(f, "\n");
	}
	fprintf(f, "EOD\n$D << EOD\n");
	for (uint32_t k = 0; s.b && k < fo->nb; k++)
		fprintf(f, "%.2f %u %u %u\n", k / 10.0 + 0.05, s.b[k].failed[RESPIO_FATE_SENT],
			s.b[k].failed[RESPIO_FATE_NOT_SENT],
			s.b[k].failed[RESPIO_FATE_REPLIED] + s.b[k].failed[0]);
	fprintf(f, "EOD\n");
	/* The title's second line: the summary's figures. */
	fprintf(f,
		"set terminal pngcairo size 1000,800 noenhanced font ',10'\n"
		"set output '%s'\n"
		"set multiplot layout 3,1 title \"%s\\n",
		png, title);
	if (!isnan(s.switch_after_ms))
		fprintf(f, "client switched %.0f ms after the trigger; ", s.switch_after_ms);
	fprintf(f, "no INCR acknowledged for %llu ms; failed: %llu SENT, %llu NOT_SENT",
		(unsigned long long)s.gap_ms, (unsigned long long)s.failed[RESPIO_FATE_SENT],
		(unsigned long long)s.failed[RESPIO_FATE_NOT_SENT]);
	if (s.failed[RESPIO_FATE_REPLIED] + s.failed[0])
		fprintf(f, ", %llu other",
			(unsigned long long)(s.failed[RESPIO_FATE_REPLIED] + s.failed[0]));
	if (s.have_after_noone || fo->verified)
		fprintf(f, "\\n");
	if (s.have_after_noone)
		fprintf(
		    f,
		    "acknowledged by the old master after the replica was told to take over: %llu",
		    (unsigned long long)s.after_noone);
	if (fo->verified)
		fprintf(f, "%slost acknowledged writes: %llu of %llu",
			s.have_after_noone ? "; " : "", (unsigned long long)s.lost,
			(unsigned long long)s.acked);
	fprintf(f,
		"\"\n"
		"set grid\n"
		"set key inside top right opaque box\n"
		"set xrange [0:%.1f]\n"
		"set lmargin 12\n"
		"set rmargin 4\n",
		fo->nb / 10.0);
	/* The trigger and the switch on every panel. */
	if (fo->fired)
		fprintf(f,
			"set arrow 1 from %.3f, graph 0 to %.3f, graph 1 nohead lc rgb 'red' "
			"dt 2 lw 2 front\n",
			s.trig_s, s.trig_s);
	if (!isnan(s.switch_s))
		fprintf(f,
			"set arrow 2 from %.3f, graph 0 to %.3f, graph 1 nohead lc rgb "
			"'dark-green' dt 2 lw 2 front\n",
			s.switch_s, s.switch_s);
	if (fo->fired)
		fprintf(f,
			"set label 1 'SENTINEL FAILOVER' at %.3f, graph 0.92 right offset -0.5,0 "
			"tc rgb 'red' front\n",
			s.trig_s);
	if (!isnan(s.switch_s))
		fprintf(f,
			"set label 2 'client switched' at %.3f, graph 0.92 left offset 0.5,0 tc "
			"rgb 'dark-green' front\n",
			s.switch_s);
	/* From the replica's promotion order to the switch, what the old
	 * master acknowledges can be lost: that stretch tinted. */
	if (!isnan(s.ev_s[EV_SLAVEOF_NOONE]))
		fprintf(
		    f,
		    "set arrow 3 from %.3f, graph 0 to %.3f, graph 1 nohead lc rgb 'dark-orange' "
		    "dt 3 lw 2 front\n"
		    "set label 5 'replica told to take over' at %.3f, graph 0.08 left offset "
		    "0.5,0 tc rgb 'dark-orange' front\n",
		    s.ev_s[EV_SLAVEOF_NOONE], s.ev_s[EV_SLAVEOF_NOONE], s.ev_s[EV_SLAVEOF_NOONE]);
	if (s.have_after_noone && s.switch_s > s.ev_s[EV_SLAVEOF_NOONE])
		fprintf(
		    f,
		    "set object 2 rect from %.3f, graph 0 to %.3f, graph 1 fc rgb 'dark-orange' "
		    "fs transparent solid 0.12 noborder behind\n",
		    s.ev_s[EV_SLAVEOF_NOONE], s.switch_s);
	/* The longest stretch without an acknowledged INCR, shaded; its
	 * length beside it when it is narrow. */
	if (s.gap_ms) {
		bool narrow = s.gap_ms < fo->nms / 8;

		fprintf(f,
			"set object 1 rect from %.3f, graph 0 to %.3f, graph 1 fc rgb 'gray50' "
			"fs transparent solid 0.3 noborder behind\n"
			"set label 3 'no ack: %llu ms' at %.3f, graph 0.35 %s front\n",
			s.gap_ms_from / 1e3, (s.gap_ms_from + s.gap_ms) / 1e3,
			(unsigned long long)s.gap_ms,
			narrow ? (s.gap_ms_from + s.gap_ms) / 1e3 + fo->nb / 400.0
			       : (s.gap_ms_from + s.gap_ms / 2.0) / 1e3,
			narrow ? "left" : "center");
	}
	fprintf(f, "set ylabel 'acked INCR (k ops/s)'\n"
		   "set yrange [0:*]\n"
		   "plot $A using 1:2 with lines lw 2 lc rgb 'steelblue' "
		   "title 'acknowledged, per 100 ms'\n"
		   "unset label\n"
		   "unset object 1\n"
		   "unset object 2\n"
		   "set ylabel 'failed per 100 ms'\n"
		   "set style fill solid 0.8 border -1\n"
		   "set boxwidth 0.08\n");
	if (!failed)
		fprintf(f, "set yrange [0:1]\n"
			   "set label 4 'no request failed' at graph 0.5, graph 0.5 center\n");
	fprintf(f, "plot $D using 1:($2+$3+$4) with boxes lc rgb 'orange-red' title 'fate SENT', "
		   "'' using 1:($3+$4) with boxes lc rgb 'goldenrod' title 'fate NOT_SENT', "
		   "'' using 1:4 with boxes lc rgb 'gray40' title 'replied error, or none'\n"
		   "unset label 4\n"
		   "set ylabel 'slowest (ms, log)'\n"
		   "set xlabel 'seconds into the measured run'\n"
		   "set logscale y\n"
		   "set yrange [*:*]\n"
		   "plot $L using 1:2 with lines lw 2 lc rgb 'purple' "
		   "title 'slowest completion, per 100 ms'\n"
		   "unset multiplot\n");
	fclose(f);
	free(s.b);
	return perf_gnuplot(script, png);
}

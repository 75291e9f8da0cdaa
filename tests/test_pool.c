/* SPDX-License-Identifier: MIT */
/* The connection pool against a real redis-server, seen from the server's
 * side (CLIENT LIST, INFO) as well as the client's: pre-warm, the bound on
 * sockets, idle close, health PINGs, automatic leases beside a busy
 * pipeline, redials spread after a mass loss, and the log events. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <respio.h>

#include "clock.h"
#include "server.h"
#include "suite_server.h"

SUITE_WITH_SERVER(pool);

#define ARGV(...)                                                                                  \
	(const char *const[])                                                                      \
	{                                                                                          \
		__VA_ARGS__                                                                        \
	}
#define NARGS(...) ((int)(sizeof(ARGV(__VA_ARGS__)) / sizeof(const char *)))

/* --- the log hook: every event, with when it arrived ---------------------- */

#define MAX_EVENTS 2048

struct event {
	int level, code;
	int64_t t_us;
	char msg[200];
};

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static struct event events[MAX_EVENTS];
static int nevents;

/* Called on shard, dialer and submitting threads at once. */
static void record(void *arg, int level, int code, const char *msg)
{
	(void)arg;
	pthread_mutex_lock(&ev_lock);
	if (nevents < MAX_EVENTS) {
		events[nevents].level = level;
		events[nevents].code = code;
		events[nevents].t_us = now_us();
		snprintf(events[nevents].msg, sizeof(events[nevents].msg), "%s", msg);
		nevents++;
	}
	pthread_mutex_unlock(&ev_lock);
}

/* Events with this level, code and a word of the message, so far. */
static int count_events(int level, int code, const char *word)
{
	int n = 0;

	pthread_mutex_lock(&ev_lock);
	for (int i = 0; i < nevents; i++)
		n += events[i].level == level && events[i].code == code &&
		     strstr(events[i].msg, word) != NULL;
	pthread_mutex_unlock(&ev_lock);
	return n;
}

/* --- clients and the server's view ---------------------------------------- */

static void base_config(respio_config *cfg)
{
	suite_config(cfg);
	cfg->pool.min_connections = 2;
	cfg->pool.max_connections = 6;
	cfg->pool.connection_timeout_ms = 2000;
	cfg->log.fn = record;
}

static respio_stats stats(respio_client *c)
{
	respio_stats st;

	respio_client_stats(c, &st, NULL, 0);
	return st;
}

/* A plain connection of its own, to look at the server with. */
static respio_conn *admin_conn(int timeout_ms)
{
	respio_config cfg;
	respio_conn *a = NULL;

	respio_config_init(&cfg);
	cfg.port = srv.port;
	cfg.timeout_ms = timeout_ms;
	cr_assert_eq(respio_conn_create(&cfg, &a), 0);
	cr_assert_eq(respio_conn_connect(a), 0, "admin connect: %s", respio_conn_errdetail(a));
	return a;
}

/* The ids of the server's normal clients, a's own left out: the client's
 * connections, when nothing else talks to this server. -1 on failure (no
 * assert: monitor threads call it too). */
static int client_ids(respio_conn *a, long long *ids, int cap)
{
	respio_reply *r = NULL;
	long long self;
	const char *s;
	size_t len;
	int n = 0;

	if (respio_conn_command(a, 2, ARGV("CLIENT", "ID"), NULL, &r) != 0)
		return -1;
	self = respio_reply_integer(r);
	respio_reply_free(r);
	if (respio_conn_command(a, 4, ARGV("CLIENT", "LIST", "TYPE", "normal"), NULL, &r) != 0)
		return -1;
	s = respio_reply_str(r, &len);
	for (const char *line = s; line && line < s + len && *line;) {
		const char *nl = strchr(line, '\n');
		long long id = strncmp(line, "id=", 3) == 0 ? atoll(line + 3) : -1;

		if (id >= 0 && id != self) {
			if (ids && n < cap)
				ids[n] = id;
			n++;
		}
		line = nl ? nl + 1 : s + len;
	}
	respio_reply_free(r);
	return n;
}

static int our_connections(respio_conn *a)
{
	int n = client_ids(a, NULL, 0);

	cr_assert_geq(n, 0, "CLIENT LIST: %s", respio_conn_errdetail(a));
	return n;
}

/* Polls every 20 ms until the server shows n of our connections, up to
 * limit_ms; how long it took, or -1. */
static int64_t wait_connections(respio_conn *a, int n, int64_t limit_ms)
{
	int64_t t0 = now_ms();

	for (int i = 0; i < 10000 && now_ms() - t0 <= limit_ms; i++) {
		if (our_connections(a) == n)
			return now_ms() - t0;
		sleep_ms(20);
	}
	return -1;
}

/* A field of INFO (section), as a number; -1 when absent or on failure. */
static long long info_field(respio_conn *a, const char *section, const char *field)
{
	respio_reply *r = NULL;
	const char *s, *p;
	long long v = -1;
	size_t flen = strlen(field);

	if (respio_conn_command(a, 2, ARGV("INFO", section), NULL, &r) != 0)
		return -1;
	s = respio_reply_str(r, NULL);
	for (p = s ? strstr(s, field) : NULL; p; p = strstr(p + 1, field))
		if ((p == s || p[-1] == '\n') && p[flen] == ':') {
			v = atoll(p + flen + 1);
			break;
		}
	respio_reply_free(r);
	return v;
}

static long long client_id(respio_client *c)
{
	respio_future *f = NULL;
	long long id;

	cr_assert_eq(respio_submit(c, 2, ARGV("CLIENT", "ID"), NULL, &f), 0);
	cr_assert_eq(respio_future_wait(f, 10000), 0);
	cr_assert_eq(respio_future_status(f), 0, "CLIENT ID: %s",
		     respio_err_name(respio_future_status(f)));
	id = respio_reply_integer(respio_future_reply(f));
	respio_future_release(f);
	return id;
}

static long long session_client_id(respio_session *s)
{
	respio_reply *r = NULL;
	long long id;
	int rc = respio_command(respio_session_target(s), 2, ARGV("CLIENT", "ID"), NULL, &r);

	cr_assert_eq(rc, 0, "session CLIENT ID: %s", respio_err_name(rc));
	id = respio_reply_integer(r);
	respio_reply_free(r);
	return id;
}

static bool contains(const long long *ids, int n, long long id)
{
	for (int i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* --- 1. pre-warm ----------------------------------------------------------- */

/*
 * The shared pipeline keeps max(min_connections, shards) connections,
 * spread evenly over the shards (each shard needs one of its own), and all
 * of them are up when create returns; lease links dial only for a session.
 * So min 6 over 2 shards is 3 + 3, and min 1 over 2 shards is 1 + 1.
 */
Test(pool, prewarm_opens_the_shared_connections_before_create_returns)
{
	respio_config cfg;
	respio_client *c;
	respio_conn *a;
	respio_stats st, per[2];

	base_config(&cfg);
	cfg.pool.min_connections = 6;
	cfg.pool.max_connections = 10;
	c = suite_client(&cfg);
	a = admin_conn(5000);
	/* No command sent, no wait: the server already has them. */
	cr_assert_eq(our_connections(a), 6, "not pre-warmed to min_connections");
	cr_assert_eq(respio_client_stats(c, &st, per, 2), 2);
	cr_assert_eq(st.connections_total, 6);
	cr_assert_eq(per[0].connections_total, 3, "not spread evenly: %u on shard 0",
		     per[0].connections_total);
	cr_assert_eq(per[1].connections_total, 3);
	cr_assert_eq(st.sessions_max, 4, "the lease links are max - min");
	respio_client_destroy(c);
	cr_assert_geq(wait_connections(a, 0, 5000), 0, "destroy left connections open");

	/* Fewer than the shards: one per shard all the same. */
	cfg.pool.min_connections = 1;
	c = suite_client(&cfg);
	cr_assert_eq(our_connections(a), 2, "min 1 over 2 shards is one per shard");
	cr_assert_eq(respio_client_stats(c, &st, per, 2), 2);
	cr_assert_eq(per[0].connections_total, 1);
	cr_assert_eq(per[1].connections_total, 1);
	cr_assert_eq(st.sessions_max, 8);
	respio_client_destroy(c);
	respio_conn_destroy(a);
}

/* --- 2. idle close --------------------------------------------------------- */

/*
 * Four sessions dial four lease connections; once ended and idle for
 * max_idle_time_ms the sweep closes them, and only them: the shared
 * connections are the same ones before and after (same ids), never
 * redialed. They are not closed before max_idle_time_ms either.
 */
Test(pool, idle_lease_connections_are_closed_after_max_idle)
{
	respio_config cfg;
	respio_client *c;
	respio_conn *a;
	respio_session *s[4];
	long long shared[8], after[8], lease[4], id_before;
	int nshared, nafter;
	int64_t t_first_end, dropped;
	respio_stats st;

	base_config(&cfg);
	cfg.pool.max_idle_time_ms = 300;
	c = suite_client(&cfg);
	a = admin_conn(5000);
	nshared = client_ids(a, shared, 8);
	cr_assert_eq(nshared, 2);
	id_before = client_id(c);
	cr_assert(contains(shared, nshared, id_before));

	for (int i = 0; i < 4; i++) {
		cr_assert_eq(respio_begin(c, &s[i]), 0);
		lease[i] = session_client_id(s[i]);
		cr_assert(!contains(shared, nshared, lease[i]), "a session on a shared connection");
		for (int j = 0; j < i; j++)
			cr_assert_neq(lease[i], lease[j], "two sessions on one connection");
	}
	t_first_end = now_ms();
	for (int i = 0; i < 4; i++)
		respio_end(s[i]);
	cr_assert_eq(our_connections(a), 6, "the lease connections went at once");
	st = stats(c);
	cr_assert_eq(st.sessions_in_use, 0);

	dropped = wait_connections(a, 2, 3000);
	cr_assert_geq(dropped, 0, "idle connections still open after 3 s (max_idle 300 ms)");
	dropped = now_ms() - t_first_end;
	cr_log_info("idle lease connections closed %lld ms after the first end",
		    (long long)dropped);
	cr_assert_geq(dropped, 290, "closed after %lld ms, before max_idle_time_ms",
		      (long long)dropped);
	st = stats(c);
	cr_assert_eq(st.idle_closed, 4, "idle_closed %llu", (unsigned long long)st.idle_closed);
	cr_assert_eq(st.connections_total, 2);
	cr_assert_eq(st.reconnects, 0);
	nafter = client_ids(a, after, 8);
	cr_assert_eq(nafter, 2);
	for (int i = 0; i < nafter; i++)
		cr_assert(contains(shared, nshared, after[i]),
			  "connection %lld is not one of the shared ones", after[i]);
	cr_assert_eq(client_id(c), id_before, "the shared connection was replaced");
	cr_assert_eq(count_events(RESPIO_LOG_INFO, 0, "idle connection closed"), 4);

	/* A closed slot dials again for the next session. */
	cr_assert_eq(respio_begin(c, &s[0]), 0);
	cr_assert(!contains(shared, nshared, session_client_id(s[0])));
	cr_assert_eq(our_connections(a), 3);
	respio_end(s[0]);
	respio_client_destroy(c);
	respio_conn_destroy(a);
}

/* --- 3, 4. the bound under load, stats at rest ----------------------------- */

#define LOAD_THREADS 64
#define LOAD_ROUNDS  5000 /* at most; the load runs LOAD_MS */
#define LOAD_MS	     1500
#define LOAD_WINDOW  8

struct load_worker {
	respio_client *c;
	int id;
	int64_t until_ms;
	int rounds, begins, failures;
	char why[160];
};

static void load_fail(struct load_worker *w, const char *what, int rc)
{
	if (!w->failures++)
		snprintf(w->why, sizeof(w->why), "%s: %s", what, respio_err_name(rc));
}

static bool bulk_is(const respio_reply *r, const char *want)
{
	size_t len;
	const char *s = respio_reply_str(r, &len);

	return s && len == strlen(want) && memcmp(s, want, len) == 0;
}

/* A session (SET, GET) then a pipelined window of SET/GET pairs, per
 * round; a begin may wait, but never fail. */
static void *load_main(void *p)
{
	struct load_worker *w = p;
	char key[64], val[64];

	for (int round = 0; round < LOAD_ROUNDS && now_ms() < w->until_ms; round++) {
		respio_session *s = NULL;
		respio_future *fs[2 * LOAD_WINDOW];
		respio_reply *r = NULL;
		int rc;

		snprintf(key, sizeof(key), "load:s:%d", w->id);
		snprintf(val, sizeof(val), "%d-%d", w->id, round);
		rc = respio_begin(w->c, &s);
		if (rc != 0) {
			load_fail(w, "begin", rc);
			continue;
		}
		w->begins++;
		rc = respio_command(respio_session_target(s), 3, ARGV("SET", key, val), NULL, &r);
		respio_reply_free(r);
		if (rc == 0)
			rc =
			    respio_command(respio_session_target(s), 2, ARGV("GET", key), NULL, &r);
		if (rc != 0)
			load_fail(w, "session SET/GET", rc);
		else if (!bulk_is(r, val))
			load_fail(w, "session GET saw another value", 0);
		respio_reply_free(r);
		respio_end(s);

		for (int i = 0; i < LOAD_WINDOW; i++) {
			snprintf(key, sizeof(key), "load:p:%d:%d", w->id, i);
			if (respio_submit(w->c, 3, ARGV("SET", key, val), NULL, &fs[2 * i]) != 0)
				fs[2 * i] = NULL;
			if (respio_submit(w->c, 2, ARGV("GET", key), NULL, &fs[2 * i + 1]) != 0)
				fs[2 * i + 1] = NULL;
		}
		for (int i = 0; i < 2 * LOAD_WINDOW; i++) {
			if (!fs[i]) {
				load_fail(w, "submit", 0);
				continue;
			}
			if (respio_future_wait(fs[i], 20000) != 0)
				load_fail(w, "a pipelined future never completed", -ETIMEDOUT);
			else if (respio_future_status(fs[i]) != 0)
				load_fail(w, "pipelined", respio_future_status(fs[i]));
			else if (i % 2 && !bulk_is(respio_future_reply(fs[i]), val))
				load_fail(w, "pipelined GET did not see its SET", 0);
			respio_future_release(fs[i]);
		}
		w->rounds++;
	}
	return NULL;
}

struct monitor {
	atomic_bool stop;
	respio_client *c;
	int max_server, max_client, samples, errors;
};

/* Samples the server's CLIENT LIST and the client's own count every 20 ms
 * (its own connection, so the pool's limit does not apply to it). */
static void *monitor_main(void *p)
{
	struct monitor *m = p;
	respio_config cfg;
	respio_conn *a = NULL;

	respio_config_init(&cfg);
	cfg.port = srv.port;
	if (respio_conn_create(&cfg, &a) != 0 || respio_conn_connect(a) != 0) {
		m->errors++;
		respio_conn_destroy(a);
		return NULL;
	}
	for (int i = 0; i < 100000 && !atomic_load(&m->stop); i++) {
		int n = client_ids(a, NULL, 0);
		respio_stats st = stats(m->c);

		if (n < 0)
			m->errors++;
		if (n > m->max_server)
			m->max_server = n;
		if ((int)st.connections_total > m->max_client)
			m->max_client = (int)st.connections_total;
		m->samples++;
		sleep_ms(20);
	}
	respio_conn_destroy(a);
	return NULL;
}

/* 64 threads of sessions and pipelined requests on max 8 connections for
 * LOAD_MS (long enough for the monitor's samples): how many begins,
 * failures. Every thread must get some rounds done: a begin waits its turn. */
static void run_load(respio_client *c, struct monitor *m, int *begins, int *failures)
{
	pthread_t th[LOAD_THREADS], mon;
	static struct load_worker w[LOAD_THREADS];
	int64_t until = now_ms() + LOAD_MS;
	int least = LOAD_ROUNDS;

	*begins = *failures = 0;
	if (m)
		cr_assert_eq(pthread_create(&mon, NULL, monitor_main, m), 0);
	for (int i = 0; i < LOAD_THREADS; i++) {
		w[i] = (struct load_worker){.c = c, .id = i, .until_ms = until};
		cr_assert_eq(pthread_create(&th[i], NULL, load_main, &w[i]), 0);
	}
	for (int i = 0; i < LOAD_THREADS; i++) {
		pthread_join(th[i], NULL);
		*begins += w[i].begins;
		*failures += w[i].failures;
		if (w[i].failures)
			cr_log_error("thread %d: %d failures, first %s", i, w[i].failures,
				     w[i].why);
		if (w[i].rounds < least)
			least = w[i].rounds;
	}
	cr_log_info("%d begins; the slowest of %d threads did %d rounds", *begins, LOAD_THREADS,
		    least);
	cr_expect_geq(least, 1, "a thread did no round in %d ms", LOAD_MS);
	if (m) {
		atomic_store(&m->stop, true);
		pthread_join(mon, NULL);
	}
}

static void load_config(respio_config *cfg)
{
	base_config(cfg);
	cfg->pool.max_connections = 8;
	cfg->pool.wait_timeout_ms = 20000;
}

/*
 * max_connections bounds every socket, shared and leased: with 64 threads
 * wanting sessions (6 lease links) and pipelining at once, the server
 * never sees more than 8 of our connections. The pool must have been full
 * (some begin waited) and every lease link used, or the bound was never
 * tested.
 */
Test(pool, max_connections_bounds_every_socket_under_load)
{
	respio_config cfg;
	respio_client *c;
	struct monitor m = {0};
	respio_stats st;
	respio_conn *a;
	int begins, failures;

	load_config(&cfg);
	c = suite_client(&cfg);
	m.c = c;
	run_load(c, &m, &begins, &failures);
	st = stats(c);
	cr_log_info("%d samples: at most %d connections on the server, %d in the client's stats; "
		    "%d begins, %llu waited",
		    m.samples, m.max_server, m.max_client, begins,
		    (unsigned long long)st.pool_waits);
	cr_assert_eq(failures, 0);
	cr_assert_eq(m.errors, 0, "the monitor could not read CLIENT LIST");
	cr_assert_geq(m.samples, 20);
	cr_assert_leq(m.max_server, 8, "the server saw %d connections (max 8)", m.max_server);
	cr_assert_leq(m.max_client, 8, "the client counted %d connections (max 8)", m.max_client);
	cr_assert_gt(st.pool_waits, 0, "no begin ever waited: the pool was never full");
	cr_assert_eq(st.pool_exhausted, 0);
	a = admin_conn(5000);
	cr_assert_eq(our_connections(a), 8, "not every lease link was used");
	respio_conn_destroy(a);
	respio_client_destroy(c);
}

/* After the same load, at rest: every count adds up, nothing is in a
 * session or in flight, and the client counts the sockets the server
 * sees. */
Test(pool, stats_add_up_at_rest)
{
	respio_config cfg;
	respio_client *c;
	respio_stats st;
	respio_conn *a;
	int begins, failures;
	bool rest = false;

	load_config(&cfg);
	c = suite_client(&cfg);
	run_load(c, NULL, &begins, &failures);
	cr_assert_eq(failures, 0);
	for (int i = 0; i < 250 && !rest; i++) {
		st = stats(c);
		rest = st.inflight == 0 && st.sessions_in_use == 0 && st.ring_depth == 0 &&
		       st.connections_active == 0;
		if (!rest)
			sleep_ms(20);
	}
	cr_assert(rest, "not at rest after 5 s: inflight %u, sessions %u, active %u", st.inflight,
		  st.sessions_in_use, st.connections_active);
	cr_assert_eq(st.connections_total, st.connections_active + st.connections_idle);
	cr_assert_eq(st.sessions_in_use, 0);
	cr_assert_eq(st.inflight, 0);
	cr_assert_eq(st.submitted, st.completed + st.failed,
		     "submitted %llu, completed %llu, failed %llu",
		     (unsigned long long)st.submitted, (unsigned long long)st.completed,
		     (unsigned long long)st.failed);
	cr_assert_eq(st.failed, 0);
	cr_assert_eq(st.sessions_begun, (uint64_t)begins);
	cr_assert_eq(st.sessions_max, 6);
	cr_assert_eq(st.connections_total, 8);
	a = admin_conn(5000);
	cr_assert_eq(our_connections(a), (int)st.connections_total,
		     "the server does not see what the client counts");
	respio_conn_destroy(a);
	respio_client_destroy(c);
}

/* --- 5. automatic leases beside a busy pipeline ---------------------------- */

#define PIPE_THREADS 32
#define PIPE_WINDOW  8
#define PIPE_CAP     20000
#define BLPOPS	     50

struct pipe_worker {
	respio_client *c;
	atomic_bool *stop;
	int id, n, failures;
	int64_t start_us[PIPE_CAP], rtt_us[PIPE_CAP];
};

/* SET/GET windows until told to stop; each window's start and round trip. */
static void *pipe_main(void *p)
{
	struct pipe_worker *w = p;
	int64_t hard_stop = now_ms() + 30000;
	char key[48];

	w->n = w->failures = 0;
	while (!atomic_load(w->stop) && w->n < PIPE_CAP && now_ms() < hard_stop) {
		respio_future *fs[2 * PIPE_WINDOW];
		int64_t t0 = now_us();

		for (int i = 0; i < PIPE_WINDOW; i++) {
			snprintf(key, sizeof(key), "pipe:%d:%d", w->id, i);
			if (respio_submit(w->c, 3, ARGV("SET", key, "v"), NULL, &fs[2 * i]) != 0)
				fs[2 * i] = NULL;
			if (respio_submit(w->c, 2, ARGV("GET", key), NULL, &fs[2 * i + 1]) != 0)
				fs[2 * i + 1] = NULL;
		}
		for (int i = 0; i < 2 * PIPE_WINDOW; i++) {
			if (!fs[i] || respio_future_wait(fs[i], 10000) != 0 ||
			    respio_future_status(fs[i]) != 0)
				w->failures++;
			respio_future_release(fs[i]);
		}
		w->start_us[w->n] = t0;
		w->rtt_us[w->n] = now_us() - t0;
		w->n++;
	}
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* p99 of the round trips of windows that started in [from, to). */
static int64_t p99(struct pipe_worker *w, int nw, int64_t from, int64_t to, int *count)
{
	static int64_t all[PIPE_THREADS * PIPE_CAP];
	int n = 0;

	for (int i = 0; i < nw; i++)
		for (int j = 0; j < w[i].n; j++)
			if (w[i].start_us[j] >= from && w[i].start_us[j] < to)
				all[n++] = w[i].rtt_us[j];
	*count = n;
	if (!n)
		return -1;
	qsort(all, (size_t)n, sizeof(all[0]), cmp_i64);
	return all[(size_t)n * 99 / 100];
}

static void start_pipe(struct pipe_worker *w, pthread_t *th, respio_client *c, atomic_bool *stop)
{
	atomic_store(stop, false);
	for (int i = 0; i < PIPE_THREADS; i++) {
		w[i].c = c;
		w[i].stop = stop;
		w[i].id = i;
		cr_assert_eq(pthread_create(&th[i], NULL, pipe_main, &w[i]), 0);
	}
}

static int stop_pipe(struct pipe_worker *w, pthread_t *th, atomic_bool *stop)
{
	int failures = 0;

	atomic_store(stop, true);
	for (int i = 0; i < PIPE_THREADS; i++) {
		pthread_join(th[i], NULL);
		failures += w[i].failures;
	}
	return failures;
}

static void note_done(respio_future *f, void *arg)
{
	(void)f;
	atomic_store((_Atomic int64_t *)arg, now_us());
}

/*
 * 50 BLPOP q 2 through respio_submit, each on its own automatic lease (60
 * connections: 58 lease links), while 32 threads pipeline GET/SET: all 50
 * block on the server at once, each answers nil after its 2 s, and the
 * pipeline keeps completing windows the whole time. The pipeline's p99 with
 * and without them is printed, not judged.
 */
Test(pool, blocking_commands_on_leases_leave_the_pipeline_running, .timeout = 180)
{
	static struct pipe_worker w[PIPE_THREADS];
	static _Atomic int64_t done_us[BLPOPS];
	pthread_t th[PIPE_THREADS];
	atomic_bool stop;
	respio_config cfg;
	respio_client *c;
	respio_conn *a;
	respio_future *f[BLPOPS];
	int64_t sub_us[BLPOPS], t_phase, t_all_sub, first_done = INT64_MAX, last_done = 0;
	int64_t base99, busy99;
	long long blocked = 0;
	int nbase, nbusy, during = 0, failures;
	respio_stats st;

	base_config(&cfg);
	cfg.pool.max_connections = 60;
	cfg.pool.wait_timeout_ms = 20000;
	c = suite_client(&cfg);
	a = admin_conn(5000);

	/* Without the BLPOPs first. */
	t_phase = now_us();
	start_pipe(w, th, c, &stop);
	sleep_ms(1500);
	failures = stop_pipe(w, th, &stop);
	cr_assert_eq(failures, 0, "%d pipelined requests failed", failures);
	base99 = p99(w, PIPE_THREADS, t_phase, INT64_MAX, &nbase);

	t_phase = now_ms();
	start_pipe(w, th, c, &stop);
	sleep_ms(300);
	for (int i = 0; i < BLPOPS; i++) {
		respio_submit_opts o = {.cb = note_done, .cb_arg = &done_us[i]};

		atomic_store(&done_us[i], 0);
		sub_us[i] = now_us();
		cr_assert_eq(respio_submit_with(c, &o, 3, ARGV("BLPOP", "q", "2"), NULL, &f[i]), 0,
			     "BLPOP %d", i);
	}
	t_all_sub = now_us();
	st = stats(c);
	cr_assert_eq(st.sessions_in_use, BLPOPS, "%u leases in use", st.sessions_in_use);
	/* All of them blocked on the server at once (they block for 2 s). */
	for (int i = 0; i < 150 && blocked < BLPOPS; i++) {
		blocked = info_field(a, "clients", "blocked_clients");
		if (blocked < BLPOPS)
			sleep_ms(10);
	}
	cr_assert_eq(blocked, BLPOPS, "only %lld clients blocked at once", blocked);

	for (int i = 0; i < BLPOPS; i++) {
		int64_t took;

		cr_assert_eq(respio_future_wait(f[i], 10000), 0, "BLPOP %d never completed", i);
		cr_assert_eq(respio_future_status(f[i]), 0, "BLPOP %d: %s", i,
			     respio_err_name(respio_future_status(f[i])));
		cr_assert_eq(respio_reply_type(respio_future_reply(f[i])), RESPIO_REPLY_NIL);
		/* The callback runs right after completion: wait for its mark. */
		for (int k = 0; k < 1000 && atomic_load(&done_us[i]) == 0; k++)
			sleep_ms(1);
		took = atomic_load(&done_us[i]) - sub_us[i];
		cr_assert_geq(took, 1900000, "BLPOP %d answered after %lld ms", i,
			      (long long)(took / 1000));
		if (atomic_load(&done_us[i]) < first_done)
			first_done = atomic_load(&done_us[i]);
		if (atomic_load(&done_us[i]) > last_done)
			last_done = atomic_load(&done_us[i]);
		respio_future_release(f[i]);
	}
	while (now_ms() - t_phase < 3000)
		sleep_ms(10);
	failures = stop_pipe(w, th, &stop);
	cr_assert_eq(failures, 0, "%d pipelined requests failed beside the BLPOPs", failures);

	/* Windows that ran entirely while all 50 were blocked. */
	for (int i = 0; i < PIPE_THREADS; i++)
		for (int j = 0; j < w[i].n; j++)
			during += w[i].start_us[j] >= t_all_sub &&
				  w[i].start_us[j] + w[i].rtt_us[j] <= first_done;
	busy99 = p99(w, PIPE_THREADS, sub_us[0], last_done, &nbusy);
	cr_log_info("pipeline window (%d SET/GET pairs) p99: %lld us alone (%d windows), "
		    "%lld us beside %d BLPOPs (%d windows); %d windows while all were blocked",
		    PIPE_WINDOW, (long long)base99, nbase, (long long)busy99, BLPOPS, nbusy,
		    during);
	cr_assert_geq(during, PIPE_THREADS, "the pipeline stalled behind the BLPOPs: %d windows",
		      during);
	for (int i = 0; i < 100; i++) {
		st = stats(c);
		if (st.sessions_in_use == 0)
			break;
		sleep_ms(10);
	}
	cr_assert_eq(st.sessions_in_use, 0, "leases not given back");
	cr_assert_eq(st.pool_waits, 0, "a lease waited: they did not all run at once");
	cr_assert_geq(st.sessions_begun, BLPOPS);
	respio_conn_destroy(a);
	respio_client_destroy(c);
}

/* --- 6, 8. health PINGs ---------------------------------------------------- */

/*
 * A SIGSTOPped server keeps its sockets open and answers nothing, so no
 * error ever arrives: with timeout_ms at 10 s the stall check cannot fire
 * within the test, and only the health PING (every 500 ms, late after one
 * interval) finds it, in about two intervals. The connection is replaced
 * and, once the server runs again, requests work.
 */
Test(pool, health_ping_finds_a_frozen_server)
{
	respio_config cfg;
	respio_client *c;
	respio_stats st;
	int64_t t0, took = -1, back = -1;

	base_config(&cfg);
	cfg.timeout_ms = 10000;
	cfg.pool.health_check_interval_ms = 500;
	cfg.pool.connection_timeout_ms = 1000;
	c = suite_client(&cfg);
	/* PINGs flow and a live server passes them. */
	for (int i = 0; i < 250 && stats(c).health_checks < 4; i++)
		sleep_ms(20);
	st = stats(c);
	cr_assert_geq(st.health_checks, 4, "%llu health PINGs in 5 s",
		      (unsigned long long)st.health_checks);
	cr_assert_eq(st.health_failures, 0, "a live server failed a health check");

	test_server_signal(&srv, SIGSTOP);
	t0 = now_ms();
	for (int i = 0; i < 250 && now_ms() - t0 < 5000; i++) {
		if (stats(c).health_failures >= 1) {
			took = now_ms() - t0;
			break;
		}
		sleep_ms(20);
	}
	st = stats(c);
	cr_log_info("health failure seen %lld ms after SIGSTOP (interval 500 ms)", (long long)took);
	cr_assert_geq(took, 0, "no health failure within 5 s of SIGSTOP");
	cr_assert_leq(took, 3000, "the health failure took %lld ms", (long long)took);
	cr_assert_geq(st.reconnects, 1, "the connection was not replaced");
	cr_assert_geq(count_events(RESPIO_LOG_WARN, -ETIMEDOUT, "health check failed"), 1,
		      "no 'health check failed' event");

	test_server_signal(&srv, SIGCONT);
	t0 = now_ms();
	for (int i = 0; i < 500 && now_ms() - t0 < 10000; i++) {
		respio_submit_opts o = {.timeout_ms = 1000};
		respio_future *f = NULL;
		bool ok = false;

		if (respio_submit_with(c, &o, 1, ARGV("PING"), NULL, &f) == 0) {
			ok = respio_future_wait(f, 5000) == 0 && respio_future_status(f) == 0;
			respio_future_release(f);
		}
		if (ok) {
			back = now_ms() - t0;
			break;
		}
		sleep_ms(20);
	}
	cr_log_info("a PING worked %lld ms after SIGCONT", (long long)back);
	cr_assert_geq(back, 0, "no PING worked within 10 s of SIGCONT");
	respio_client_destroy(c);
}

/*
 * An idle client of a live server: every health PING is answered (in far
 * less than a coarse clock tick on loopback), so none may count as failed
 * and no connection is replaced; the shared connections keep their ids.
 */
Test(pool, health_checks_pass_on_a_live_idle_server)
{
	respio_config cfg;
	respio_client *c;
	respio_conn *a;
	respio_stats st;
	long long before[8], after[8];
	int nbefore, nafter;

	base_config(&cfg);
	cfg.pool.health_check_interval_ms = 200;
	c = suite_client(&cfg);
	a = admin_conn(5000);
	nbefore = client_ids(a, before, 8);
	cr_assert_eq(nbefore, 2);
	sleep_ms(2000);
	st = stats(c);
	cr_log_info("idle 2 s, interval 200 ms: %llu health PINGs, %llu failed, %llu reconnects",
		    (unsigned long long)st.health_checks, (unsigned long long)st.health_failures,
		    (unsigned long long)st.reconnects);
	cr_assert_geq(st.health_checks, 4, "no health PINGs sent");
	cr_assert_eq(st.health_failures, 0, "%llu of %llu PINGs to a live server failed",
		     (unsigned long long)st.health_failures, (unsigned long long)st.health_checks);
	cr_assert_eq(st.reconnects, 0);
	cr_assert_eq(count_events(RESPIO_LOG_WARN, -ETIMEDOUT, "health check failed"), 0);
	nafter = client_ids(a, after, 8);
	cr_assert_eq(nafter, 2);
	for (int i = 0; i < nafter; i++)
		cr_assert(contains(before, nbefore, after[i]), "connection %lld replaced",
			  after[i]);
	respio_conn_destroy(a);
	respio_client_destroy(c);
}

/* The same freeze without health PINGs goes unnoticed for as long as the
 * test above gives them: so it is the PING that finds it. */
Test(pool, without_health_checks_a_frozen_server_goes_unnoticed)
{
	respio_config cfg;
	respio_client *c;
	respio_stats st;
	respio_future *f = NULL;

	base_config(&cfg);
	cfg.timeout_ms = 10000;
	cfg.pool.health_check_interval_ms = 0;
	c = suite_client(&cfg);
	test_server_signal(&srv, SIGSTOP);
	sleep_ms(3000);
	st = stats(c);
	test_server_signal(&srv, SIGCONT);
	cr_assert_eq(st.health_checks, 0);
	cr_assert_eq(st.health_failures, 0);
	cr_assert_eq(st.reconnects, 0, "something else noticed the freeze");
	cr_assert_eq(count_events(RESPIO_LOG_WARN, -ETIMEDOUT, "health check failed"), 0);
	cr_assert_eq(respio_submit(c, 1, ARGV("PING"), NULL, &f), 0);
	cr_assert_eq(respio_future_wait(f, 10000), 0);
	cr_assert_eq(respio_future_status(f), 0);
	respio_future_release(f);
	respio_client_destroy(c);
}

/* --- 7. redials after a mass loss ------------------------------------------ */

#define STORM_LINKS  80
#define STORM_WINDOW 50000 /* us */
#define STORM_BOUND  40

/*
 * Why the bound separates the spread from a storm: 80 shared links over 8
 * shards get a redial spread of 80 * 5 ms = 400 ms, so about 10 connects
 * land in any 50 ms, and 40 in one window is out of reach (a binomial tail
 * far below 1e-9; a shard that stalls can bunch up at most its own 10).
 * Without the spread every link redials the moment it sees the loss, and
 * the only limit is the 4 dialers: a local connect and PING take well under
 * a millisecond, so all 80 land within a few ms. When the server is down
 * at that moment (a restart), the refused dials back off 25-50 ms (the
 * first backoff step) and then come back together, again within a window.
 */
struct storm_sample {
	int64_t t_us;
	long long connects; /* the server's count, our own connections left out */
};

/* Connects in the busiest STORM_WINDOW of samples s, counting only pairs of
 * samples at most a window apart (a sampler that stalled longer cannot
 * judge its gap; the client-side count below covers it). */
static long long busiest_window(const struct storm_sample *s, int n, int *gaps)
{
	long long most = 0;

	*gaps = 0;
	for (int i = 1; i < n; i++) {
		if (s[i].t_us - s[i - 1].t_us > STORM_WINDOW)
			(*gaps)++;
		for (int j = i - 1; j >= 0 && s[i].t_us - s[j].t_us <= STORM_WINDOW; j--)
			if (s[i].connects - s[j].connects > most)
				most = s[i].connects - s[j].connects;
	}
	return most;
}

/* "connected" events logged from from_us on, in the busiest STORM_WINDOW:
 * the client's side of the same count, timed when each connection came
 * up. */
static int busiest_connected_window(int64_t from_us, int *total)
{
	static int64_t t[MAX_EVENTS];
	int n = 0, most = 0;

	pthread_mutex_lock(&ev_lock);
	for (int i = 0; i < nevents; i++)
		if (events[i].t_us >= from_us && events[i].level == RESPIO_LOG_INFO &&
		    strstr(events[i].msg, "connected (link"))
			t[n++] = events[i].t_us;
	pthread_mutex_unlock(&ev_lock);
	qsort(t, (size_t)n, sizeof(t[0]), cmp_i64);
	for (int i = 0, j = 0; i < n; i++) {
		while (t[i] - t[j] > STORM_WINDOW)
			j++;
		if (i - j + 1 > most)
			most = i - j + 1;
	}
	*total = n;
	return most;
}

/* 80 shared links over 8 shards, all up and logged as such. */
static respio_client *storm_client(void)
{
	respio_config cfg;
	respio_client *c;
	int n = 0;

	base_config(&cfg);
	cfg.shards = 8;
	cfg.pool.min_connections = STORM_LINKS;
	cfg.pool.max_connections = STORM_LINKS;
	c = suite_client(&cfg);
	for (int i = 0; i < 500 && n < STORM_LINKS; i++) {
		n = count_events(RESPIO_LOG_INFO, 0, "connected (link");
		if (n < STORM_LINKS)
			sleep_ms(10);
	}
	cr_assert_eq(n, STORM_LINKS, "%d connects logged after create", n);
	return c;
}

/* Samples INFO stats every 10 ms for 2 s from t_loss (us) through a,
 * reconnecting it as needed (its connects counted and left out); also when
 * the client has all its links back. Returns the number of samples. */
static int sample_connects(respio_client *c, respio_conn *a, int64_t t_loss, struct storm_sample *s,
			   int cap, int64_t *all_back_ms, int *own)
{
	int n = 0;

	*all_back_ms = -1;
	*own = 0;
	for (int i = 0; i < 1000 && n < cap && now_us() - t_loss < 2000000; i++) {
		long long v;

		if (!respio_conn_is_connected(a) && respio_conn_connect(a) == 0)
			(*own)++;
		v = info_field(a, "stats", "total_connections_received");
		if (v >= 0)
			s[n++] = (struct storm_sample){now_us(), v - *own};
		if (*all_back_ms < 0 && stats(c).connections_total == STORM_LINKS)
			*all_back_ms = (now_us() - t_loss) / 1000;
		sleep_ms(10);
	}
	for (int i = 0; i < 300 && *all_back_ms < 0 && now_us() - t_loss < 3000000; i++) {
		if (stats(c).connections_total == STORM_LINKS)
			*all_back_ms = (now_us() - t_loss) / 1000;
		sleep_ms(10);
	}
	return n;
}

/* All 80 back within 3 s, and no 50 ms in which more than 40 connected,
 * seen from the server (its connection count) and from the client (when
 * each came up). */
static void judge_storm(const char *what, respio_client *c, const struct storm_sample *s, int n,
			int64_t t_loss, int64_t all_back_ms, long long base)
{
	int gaps, ncon, client_most;
	long long server_most = busiest_window(s, n, &gaps);

	client_most = busiest_connected_window(t_loss, &ncon);
	cr_log_info("%s: all %d back after %lld ms; busiest 50 ms: %lld connects on the server "
		    "(%d samples, %d gaps over 50 ms), %d on the client (%d connects logged)",
		    what, STORM_LINKS, (long long)all_back_ms, server_most, n, gaps, client_most,
		    ncon);
	cr_assert_geq(all_back_ms, 0, "%s: only %u of %d connections back after 3 s", what,
		      stats(c).connections_total, STORM_LINKS);
	cr_assert_geq(n, 2, "%s: no samples", what);
	cr_assert_geq(s[n - 1].connects - base, STORM_LINKS,
		      "%s: the server saw %lld connects, not all %d", what,
		      s[n - 1].connects - base, STORM_LINKS);
	cr_assert_geq(ncon, STORM_LINKS, "%s: %d connects logged", what, ncon);
	cr_assert_leq(server_most, STORM_BOUND, "%s: %lld connects in one 50 ms window", what,
		      server_most);
	cr_assert_leq(client_most, STORM_BOUND, "%s: %d connections came up in one 50 ms window",
		      what, client_most);
}

/*
 * A restart on the same port (test_server_restart: SIGTERM, wait for the
 * exit, start again from the same config file) drops all 80 at once. How
 * long the new server takes to answer varies; when it accepts connections
 * before it answers them, the dials pile up behind the 4 dialers, which is
 * what reconnects_stay_spread_when_the_server_answers_late forces.
 */
Test(pool, reconnects_after_a_restart_are_spread)
{
	static struct storm_sample s[400];
	respio_client *c = storm_client();
	respio_conn *a;
	long long before;
	int64_t t_loss, all_back;
	int n, own, port = srv.port;

	a = admin_conn(1000);
	before = info_field(a, "stats", "total_connections_received");
	cr_log_info("connections received before the restart: %lld", before);
	cr_assert_geq(before, STORM_LINKS + 1);
	t_loss = now_us();
	cr_assert_eq(test_server_restart(&srv), 0, "restart");
	cr_assert_eq(srv.port, port);
	/* The new server counts from 0 (the probe that saw it come up
	 * included), so the base is 0. */
	n = sample_connects(c, a, t_loss, s, 400, &all_back, &own);
	cr_assert_geq(n, 1);
	cr_log_info("restart: first sample after %lld ms, %lld connects by then; %d own connects",
		    (long long)((s[0].t_us - t_loss) / 1000), s[0].connects, own);
	judge_storm("restart", c, s, n, t_loss, all_back, 0);
	respio_conn_destroy(a);
	respio_client_destroy(c);
}

/* Kill all 80 of the client's connections at once (CLIENT KILL TYPE
 * normal), freeze the server for freeze_ms (0: not at all), and judge how
 * they come back. */
static void storm_after_kill(const char *name, int freeze_ms)
{
	static struct storm_sample s[400];
	respio_client *c = storm_client();
	respio_conn *a;
	respio_reply *r = NULL;
	long long base;
	int64_t t_loss, all_back;
	int n, own;

	a = admin_conn(1000);
	base = info_field(a, "stats", "total_connections_received");
	t_loss = now_us();
	cr_assert_eq(respio_conn_command(a, 4, ARGV("CLIENT", "KILL", "TYPE", "normal"), NULL, &r),
		     0);
	cr_assert_eq(respio_reply_integer(r), STORM_LINKS, "killed %lld", respio_reply_integer(r));
	respio_reply_free(r);
	if (freeze_ms) {
		test_server_signal(&srv, SIGSTOP);
		sleep_ms(freeze_ms);
		test_server_signal(&srv, SIGCONT);
	}
	n = sample_connects(c, a, t_loss, s, 400, &all_back, &own);
	cr_assert_eq(own, 0);
	judge_storm(name, c, s, n, t_loss, all_back, base);
	respio_conn_destroy(a);
	respio_client_destroy(c);
}

/* All 80 lost at once while the server stays up, so nothing but the spread
 * stands between them and a burst. */
Test(pool, reconnects_after_a_mass_kill_are_spread)
{
	storm_after_kill("mass kill", 0);
}

/*
 * All 80 lost, and the server busy (frozen) for the next 300 ms: the kernel
 * still accepts connections, so the first 4 dials connect and wait for
 * their PING's answer, and the redials that fall due meanwhile (most of
 * the 400 ms spread) queue behind the 4 blocked dialers. When the server
 * answers, they must still reach it spread out, not all at once: a server
 * that comes back slowly is the storm the spread is for.
 */
Test(pool, reconnects_stay_spread_when_the_server_answers_late)
{
	storm_after_kill("late server", 300);
}

static double cpu_seconds(void)
{
	struct rusage u;

	getrusage(RUSAGE_SELF, &u);
	return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec +
	       u.ru_stime.tv_usec / 1e6;
}

/*
 * While the server is down, 80 links retry on their backoff: a few hundred
 * refused dials a second, each a connect that fails at once. That costs a
 * few percent of a core; a shard that spins while it waits for a redial
 * costs most of one, starving the server it waits for on a small machine.
 */
Test(pool, an_outage_costs_no_busy_loop)
{
	respio_client *c = storm_client();
	respio_stats before, after;
	double cpu;

	test_server_signal(&srv, SIGKILL);
	before = stats(c);
	cpu = cpu_seconds();
	sleep_ms(500);
	cpu = cpu_seconds() - cpu;
	after = stats(c);
	cr_log_info("server down 500 ms: %.0f ms of CPU, %llu dials failed, %llu shard waits",
		    cpu * 1000, (unsigned long long)(after.dial_failures - before.dial_failures),
		    (unsigned long long)(after.sleeps - before.sleeps));
	/* Each link's first redial falls within the 400 ms spread. */
	cr_assert_geq(after.dial_failures - before.dial_failures, STORM_LINKS / 2,
		      "the links did not retry");
	/* About one wake per redial, dial answer and idle tick: a few
	 * hundred here. A spinning shard counts each empty turn. */
	cr_assert_leq(after.sleeps - before.sleeps, 1200, "%llu shard waits in 500 ms of outage",
		      (unsigned long long)(after.sleeps - before.sleeps));
	cr_assert_leq(cpu, 0.150, "%.0f ms of CPU in 500 ms of outage", cpu * 1000);
	respio_client_destroy(c);
}

/* --- 8. log events --------------------------------------------------------- */

/* A begin on a full pool, and a blocking command that needs a lease on it,
 * each report "pool exhausted" with RESPIO_E_POOL_EXHAUSTED; a begin that
 * gets a connection reports nothing. */
Test(pool, exhausted_pool_is_logged)
{
	respio_config cfg;
	respio_client *c;
	respio_session *s, *x;
	respio_future *f = NULL;

	base_config(&cfg);
	cfg.pool.max_connections = 3; /* one lease link */
	cfg.pool.wait_timeout_ms = 100;
	c = suite_client(&cfg);
	cr_assert_eq(respio_begin(c, &s), 0);
	cr_assert_eq(count_events(RESPIO_LOG_WARN, RESPIO_E_POOL_EXHAUSTED, "pool exhausted"), 0);
	cr_assert_eq(respio_begin(c, &x), RESPIO_E_POOL_EXHAUSTED);
	cr_assert_eq(count_events(RESPIO_LOG_WARN, RESPIO_E_POOL_EXHAUSTED, "pool exhausted"), 1);
	cr_assert_eq(respio_submit(c, 3, ARGV("BLPOP", "lq", "1"), NULL, &f),
		     RESPIO_E_POOL_EXHAUSTED);
	cr_assert_null(f);
	cr_assert_eq(count_events(RESPIO_LOG_WARN, RESPIO_E_POOL_EXHAUSTED, "pool exhausted"), 2);
	cr_assert_eq(stats(c).pool_exhausted, 2);
	respio_end(s);
	cr_assert_eq(respio_begin(c, &x), 0);
	respio_end(x);
	cr_assert_eq(count_events(RESPIO_LOG_WARN, RESPIO_E_POOL_EXHAUSTED, "pool exhausted"), 2);
	respio_client_destroy(c);
}

/* SPDX-License-Identifier: MIT */
/* Engine stress without Criterion, so it also runs under ThreadSanitizer
 * (Criterion cannot start there): many threads, values checked, per-thread
 * order, releases racing completions, callbacks, shutdown and destroy
 * racing submitters. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <respio.h>

#include "clock.h"
#include "server.h"
#include "submit_guard.h" /* who is inside respio_submit */

#define THREADS 16
#define ROUNDS	60
#define WINDOW	16

static int passed, failed;
static atomic_long errors;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "stress: %s:%d: ", __FILE__, __LINE__);                    \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
			atomic_fetch_add(&errors, 1);                                              \
		}                                                                                  \
	} while (0)

struct worker {
	respio_client *c;
	int id;
};

static atomic_int callbacks;

static void release_in_callback(respio_future *f, void *arg)
{
	(void)arg;
	atomic_fetch_add(&callbacks, 1);
	respio_future_release(f);
}

static bool bulk_is(respio_future *f, const char *want)
{
	size_t len;
	const char *s = respio_reply_str(respio_future_reply(f), &len);

	return respio_future_status(f) == 0 && s && len == strlen(want) && !memcmp(s, want, len);
}

static void *worker_main(void *p)
{
	struct worker *w = p;
	respio_future *fs[3 * WINDOW];
	respio_submit_opts cb = {.cb = release_in_callback};
	char key[48], val[48], ctr[48];
	long long incrs = 0;

	snprintf(ctr, sizeof(ctr), "stress:%d:ctr", w->id);
	for (int round = 0; round < ROUNDS; round++) {
		int n = 0;

		for (int i = 0; i < WINDOW; i++) {
			snprintf(key, sizeof(key), "stress:%d:%d", w->id, i);
			snprintf(val, sizeof(val), "v-%d-%d-%d", w->id, round, i);
			if (respio_submit(w->c, 3, (const char *const[]){"SET", key, val}, NULL,
					  &fs[n++]) < 0 ||
			    respio_submit(w->c, 2, (const char *const[]){"GET", key}, NULL,
					  &fs[n++]) < 0 ||
			    respio_submit(w->c, 2, (const char *const[]){"INCR", ctr}, NULL,
					  &fs[n++]) < 0)
				CHECK(0, "submit failed");
		}
		/* Fire-and-forget traffic racing with the checked requests. */
		for (int i = 0; i < 8; i++) {
			respio_future *f;

			if (respio_submit(w->c, 1, (const char *const[]){"PING"}, NULL, &f) == 0)
				respio_future_release(f);
			if (respio_submit_with(w->c, &cb, 1, (const char *const[]){"PING"}, NULL,
					       &f) < 0)
				CHECK(0, "submit with callback failed");
		}
		if (round % 2) {
			size_t idx;

			CHECK(respio_future_wait_any(fs, (size_t)n, 30000, &idx) == 0, "wait_any");
		}
		CHECK(respio_future_wait_all(fs, (size_t)n, 30000) == 0, "wait_all timed out");
		for (int i = 0; i < WINDOW; i++) {
			snprintf(val, sizeof(val), "v-%d-%d-%d", w->id, round, i);
			CHECK(respio_future_status(fs[3 * i]) == 0, "SET failed");
			CHECK(bulk_is(fs[3 * i + 1], val), "GET did not see its SET");
			CHECK(respio_reply_integer(respio_future_reply(fs[3 * i + 2])) == ++incrs,
			      "INCR out of order");
		}
		for (int i = 0; i < n; i++)
			respio_future_release(fs[i]);
	}
	return NULL;
}

static void run(const char *name, void (*fn)(int port), int port)
{
	long before = atomic_load(&errors);

	fn(port);
	if (atomic_load(&errors) == before) {
		passed++;
		printf("ok   %s\n", name);
	} else {
		failed++;
		printf("FAIL %s\n", name);
	}
}

static respio_client *make(int port)
{
	respio_config cfg;
	respio_client *c = NULL;

	respio_config_init(&cfg);
	cfg.port = port;
	cfg.shards = 2;
	cfg.pool.min_connections = 4;
	CHECK(respio_client_create(&cfg, &c) == 0, "create");
	return c;
}

static void many_threads(int port)
{
	respio_client *c = make(port);
	pthread_t th[THREADS];
	struct worker w[THREADS];
	int64_t end;

	if (!c)
		return;
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){c, i};
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	/* Callbacks of the last PINGs may still be running. */
	end = time(NULL) + 10;
	while (atomic_load(&callbacks) < THREADS * ROUNDS * 8 && time(NULL) < end) {
		struct timespec ts = {0, 1000000};

		nanosleep(&ts, NULL);
	}
	CHECK(atomic_load(&callbacks) == THREADS * ROUNDS * 8, "%d callbacks",
	      atomic_load(&callbacks));
	respio_client_destroy(c);
}

struct racer {
	respio_client *c;
	atomic_bool *stop;
	long ok, shut;
};

/* Submit until the client says it is shutting down; every future handed
 * out must complete, with a reply or RESPIO_E_SHUTDOWN. */
static void *submit_until_shutdown(void *p)
{
	struct racer *r = p;

	for (int i = 0; i < 100000 && !atomic_load(r->stop); i++) {
		respio_future *f;
		int rc = respio_submit(r->c, 3, (const char *const[]){"SET", "d", "x"}, NULL, &f);

		if (rc == RESPIO_E_SHUTDOWN) {
			r->shut++;
			break;
		}
		CHECK(rc == 0, "submit: %s", respio_err_name(rc));
		if (rc < 0)
			break;
		r->ok++;
		if (i % 8 == 0) {
			int st;

			CHECK(respio_future_wait(f, 30000) == 0, "a future was never completed");
			st = respio_future_status(f);
			CHECK(st == 0 || st == RESPIO_E_SHUTDOWN, "status %s", respio_err_name(st));
		}
		respio_future_release(f);
	}
	return NULL;
}

/* 16 threads submitting in a loop while a 17th shuts the client down, 200
 * times: no submit may hang, crash or hand out a future nobody completes. */
static void shutdown_races_submitters(int port)
{
	enum { RACERS = 16, ROUNDS_SHUT = 200 };
	long ok = 0, shut = 0;

	for (int round = 0; round < ROUNDS_SHUT; round++) {
		respio_client *c = make(port);
		pthread_t th[RACERS];
		struct racer r[RACERS];
		atomic_bool stop = false;
		struct timespec pause = {0, (round % 5) * 200000};

		if (!c)
			return;
		for (int i = 0; i < RACERS; i++) {
			r[i] = (struct racer){c, &stop, 0, 0};
			pthread_create(&th[i], NULL, submit_until_shutdown, &r[i]);
		}
		nanosleep(&pause, NULL);
		respio_client_shutdown(c);
		CHECK(respio_submit(c, 1, (const char *const[]){"PING"}, NULL,
				    &(respio_future *){NULL}) == RESPIO_E_SHUTDOWN,
		      "a submit after shutdown");
		atomic_store(&stop, true);
		for (int i = 0; i < RACERS; i++) {
			pthread_join(th[i], NULL);
			ok += r[i].ok;
			shut += r[i].shut;
		}
		respio_client_destroy(c);
	}
	printf("     %ld submits accepted, %ld refused with RESPIO_E_SHUTDOWN\n", ok, shut);
	CHECK(shut > 0, "no submit ever met the shutdown");
}

/*
 * Submitters blocked inside respio_submit (every future of the pool held)
 * while a 17th thread destroys the client: each returns RESPIO_E_SHUTDOWN
 * at once instead of waiting for ever, and destroy frees nothing they
 * still read. The test waits until the engine counts all of them inside.
 */
static void *submit_blocked(void *p)
{
	struct racer *r = p;
	respio_future *f = NULL;
	int rc = respio_submit(r->c, 1, (const char *const[]){"PING"}, NULL, &f);

	CHECK(rc == RESPIO_E_SHUTDOWN && !f, "blocked submit ended with %s", respio_err_name(rc));
	return NULL;
}

static void *destroy_client(void *p)
{
	respio_client_destroy(p);
	return NULL;
}

static uint32_t inside_submit(respio_client *c)
{
	return respio__guard_count(c);
}

/* A thread that does not end within 30 s is a hang: report it and leave,
 * rather than waiting for the test runner's much longer limit. */
static void join_or_exit(pthread_t th, const char *what)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 30;
	if (pthread_timedjoin_np(th, NULL, &ts) != 0) {
		printf("FAIL %s did not return within 30 s\n", what);
		fflush(stdout);
		_exit(1);
	}
}

static void destroy_releases_blocked_submitters(int port)
{
	enum { BLOCKED = 16, HELD = 4 };

	for (int round = 0; round < 20; round++) {
		respio_config cfg;
		respio_client *c = NULL;
		respio_future *held[HELD];
		pthread_t th[BLOCKED], destroyer;
		struct racer r[BLOCKED];
		int64_t end = time(NULL) + 20;

		respio_config_init(&cfg);
		cfg.port = port;
		cfg.shards = 2;
		cfg.timeout_ms = 0; /* no deadline: only destroy can end the wait */
		cfg.max_inflight = HELD;
		CHECK(respio_client_create(&cfg, &c) == 0, "create");
		if (!c)
			return;
		for (int i = 0; i < HELD; i++)
			CHECK(respio_submit(c, 1, (const char *const[]){"PING"}, NULL, &held[i]) ==
				  0,
			      "submit");
		for (int i = 0; i < BLOCKED; i++) {
			r[i] = (struct racer){.c = c};
			pthread_create(&th[i], NULL, submit_blocked, &r[i]);
		}
		while (inside_submit(c) < BLOCKED && time(NULL) < end) {
			struct timespec ts = {0, 1000000};

			nanosleep(&ts, NULL);
		}
		CHECK(inside_submit(c) == BLOCKED, "only %u submitters blocked", inside_submit(c));
		pthread_create(&destroyer, NULL, destroy_client, c);
		for (int i = 0; i < BLOCKED; i++)
			join_or_exit(th[i], "a blocked submit");
		join_or_exit(destroyer, "destroy");
		for (int i = 0; i < HELD; i++)
			respio_future_release(held[i]);
	}
}

static test_server *restart_srv;

struct restart_load {
	respio_client *c;
	atomic_bool stop;
	atomic_long rounds, clean_rounds, failed;
};

/* 32 INCRs at a time until told to stop; counts rounds, rounds without a
 * failure, and failures. */
static void *submit_through_restart(void *p)
{
	struct restart_load *l = p;
	respio_future *fs[32];

	while (!atomic_load(&l->stop)) {
		long failed = 0;

		for (int i = 0; i < 32; i++)
			if (respio_submit(l->c, 2, (const char *const[]){"INCR", "restart"}, NULL,
					  &fs[i]) < 0)
				fs[i] = NULL;
		for (int i = 0; i < 32; i++) {
			int st;

			if (!fs[i]) {
				failed++;
				continue;
			}
			CHECK(respio_future_wait(fs[i], 30000) == 0, "a future never completed");
			st = respio_future_status(fs[i]);
			/* Through a restart: a reply, or an error that says
			 * whether the command may have run. */
			CHECK(st == 0 || respio_future_fate(fs[i]) == RESPIO_FATE_SENT ||
				  respio_future_fate(fs[i]) == RESPIO_FATE_NOT_SENT,
			      "status %d without a fate", st);
			failed += st != 0;
			respio_future_release(fs[i]);
		}
		atomic_fetch_add(&l->failed, failed);
		atomic_fetch_add(&l->rounds, 1);
		if (!failed)
			atomic_fetch_add(&l->clean_rounds, 1);
	}
	return NULL;
}

/* Until f(c) exceeds base, or 10 s; returns whether it did. */
static bool stat_grows(respio_client *c, uint64_t base, uint64_t (*f)(const respio_stats *))
{
	for (int i = 0; i < 1000; i++) {
		respio_stats st;

		respio_client_stats(c, &st, NULL, 0);
		if (f(&st) > base)
			return true;
		sleep_ms(10);
	}
	return false;
}

static uint64_t reconnects_of(const respio_stats *st)
{
	return st->reconnects;
}

static uint64_t dial_failures_of(const respio_stats *st)
{
	return st->dial_failures;
}

/* Until the workers have finished n more rounds without a failure than
 * they had (10 s): the server is up and the connections serve traffic. */
static bool clean_rounds_grow(struct restart_load *l, long n)
{
	long base = atomic_load(&l->clean_rounds);

	for (int i = 0; i < 1000 && atomic_load(&l->clean_rounds) < base + n; i++)
		sleep_ms(10);
	return atomic_load(&l->clean_rounds) >= base + n;
}

/*
 * Connections break and come back while threads submit: the reconnect path
 * (shards, control thread, mailboxes) under load. The workers run until
 * the test is done with the server, so every kill lands on traffic: the
 * server is killed while rounds complete without failures, restarted only
 * once the client has noticed (a reconnect) and failed a redial, and the
 * workers must then complete such rounds again. Requests in flight at the
 * kill, or queued during the outage, fail: at least one must have, and the
 * client must count the reconnects. (The old version stopped after a fixed
 * amount of work, which a fast machine could finish before the first kill.)
 */
static void server_restart_under_load(int port)
{
	struct restart_load l = {0};
	respio_config cfg;
	respio_stats st;
	pthread_t th[4];
	respio_future *f;
	int ok = 0;

	respio_config_init(&cfg);
	cfg.port = port;
	cfg.shards = 2;
	cfg.timeout_ms = 2000;
	cfg.pool.connection_timeout_ms = 500;
	CHECK(respio_client_create(&cfg, &l.c) == 0, "create");
	if (!l.c)
		return;
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, submit_through_restart, &l);
	for (int k = 0; k < 2; k++) {
		char detail[256];

		CHECK(clean_rounds_grow(&l, 8), "no round without failures before kill %d", k + 1);
		respio_client_stats(l.c, &st, NULL, 0);
		test_server_signal(restart_srv, SIGKILL);
		CHECK(stat_grows(l.c, st.reconnects, reconnects_of),
		      "kill %d: no connection was lost", k + 1);
		CHECK(stat_grows(l.c, st.dial_failures, dial_failures_of),
		      "kill %d: no redial failed", k + 1);
		CHECK(test_server_restart(restart_srv) == 0, "restart");
		/* Read while the dialers may be writing it. */
		CHECK(respio_client_last_error(l.c, detail, sizeof(detail), NULL) <= 0,
		      "last error: %s", detail);
	}
	CHECK(clean_rounds_grow(&l, 8), "no round without failures after the restarts");
	atomic_store(&l.stop, true);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	respio_client_stats(l.c, &st, NULL, 0);
	printf("     %ld rounds of 32 INCRs, %ld failed requests, %llu reconnects\n",
	       atomic_load(&l.rounds), atomic_load(&l.failed), (unsigned long long)st.reconnects);
	CHECK(atomic_load(&l.failed) > 0, "no request failed: the kills missed the load");
	CHECK(st.reconnects >= 2, "%llu reconnects for two kills",
	      (unsigned long long)st.reconnects);
	/* Recovered: a request succeeds within a few seconds. */
	for (int i = 0; i < 200 && !ok; i++) {
		if (respio_submit(l.c, 1, (const char *const[]){"PING"}, NULL, &f) == 0) {
			respio_future_wait(f, 5000);
			ok = respio_future_status(f) == 0;
			respio_future_release(f);
		}
		if (!ok)
			sleep_ms(20);
	}
	CHECK(ok, "no recovery after the restarts");
	respio_client_destroy(l.c);
}

int main(void)
{
	test_server srv;

	if (!test_have_redis_server()) {
		printf("skipped: redis-server is not installed\n");
		return 77;
	}
	if (test_server_start(&srv, NULL) < 0)
		return 1;
	run("many threads, values and order checked", many_threads, srv.port);
	run("shutdown racing 16 submitters, 200 times", shutdown_races_submitters, srv.port);
	run("destroy releases blocked submitters", destroy_releases_blocked_submitters, srv.port);
	restart_srv = &srv;
	run("server restarts under load", server_restart_under_load, srv.port);
	test_server_stop(&srv);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

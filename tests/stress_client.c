/* SPDX-License-Identifier: MIT */
/* Engine stress without Criterion, so it also runs under ThreadSanitizer
 * (Criterion cannot start there): many threads, values checked, per-thread
 * order, releases racing completions, callbacks, destroy under load. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <respio.h>

#include "server.h"

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

static void *submit_until_destroyed(void *p)
{
	respio_client *c = p;

	for (int i = 0; i < 2000; i++) {
		respio_future *f;

		if (respio_submit(c, 3, (const char *const[]){"SET", "d", "x"}, NULL, &f) < 0)
			break;
		respio_future_release(f);
	}
	return NULL;
}

static void destroy_under_load(int port)
{
	for (int round = 0; round < 5; round++) {
		respio_client *c = make(port);
		pthread_t th[4];
		respio_future *held[100];

		if (!c)
			return;
		for (int i = 0; i < 4; i++)
			pthread_create(&th[i], NULL, submit_until_destroyed, c);
		for (int i = 0; i < 4; i++)
			pthread_join(th[i], NULL);
		for (int i = 0; i < 100; i++)
			CHECK(respio_submit(c, 1, (const char *const[]){"PING"}, NULL, &held[i]) ==
				  0,
			      "submit");
		respio_client_destroy(c);
		for (int i = 0; i < 100; i++) {
			int st = respio_future_status(held[i]);

			CHECK(st == 0 || st == RESPIO_E_SHUTDOWN, "status %d after destroy", st);
			respio_future_release(held[i]);
		}
	}
}

static test_server *restart_srv;

static void *submit_through_restart(void *p)
{
	respio_client *c = p;
	respio_future *fs[32];

	for (int round = 0; round < 100; round++) {
		for (int i = 0; i < 32; i++)
			if (respio_submit(c, 2, (const char *const[]){"INCR", "restart"}, NULL,
					  &fs[i]) < 0)
				fs[i] = NULL;
		for (int i = 0; i < 32; i++) {
			int st;

			if (!fs[i])
				continue;
			CHECK(respio_future_wait(fs[i], 30000) == 0, "a future never completed");
			st = respio_future_status(fs[i]);
			/* Through a restart: a reply, or an error that says
			 * whether the command may have run. */
			CHECK(st == 0 || respio_future_fate(fs[i]) == RESPIO_FATE_SENT ||
				  respio_future_fate(fs[i]) == RESPIO_FATE_NOT_SENT,
			      "status %d without a fate", st);
			respio_future_release(fs[i]);
		}
	}
	return NULL;
}

/* Connections break and come back while threads submit: the reconnect path
 * (shards, control thread, mailboxes) under load. */
static void server_restart_under_load(int port)
{
	respio_config cfg;
	respio_client *c = NULL;
	pthread_t th[4];
	respio_future *f;
	int ok = 0;

	respio_config_init(&cfg);
	cfg.port = port;
	cfg.shards = 2;
	cfg.timeout_ms = 2000;
	cfg.pool.connection_timeout_ms = 500;
	CHECK(respio_client_create(&cfg, &c) == 0, "create");
	if (!c)
		return;
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, submit_through_restart, c);
	for (int k = 0; k < 2; k++) {
		struct timespec ts = {0, 50000000};
		char detail[256];

		nanosleep(&ts, NULL);
		test_server_signal(restart_srv, SIGKILL);
		CHECK(test_server_restart(restart_srv) == 0, "restart");
		/* Read while the dialers may be writing it. */
		CHECK(respio_client_last_error(c, detail, sizeof(detail), NULL) <= 0,
		      "last error: %s", detail);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	/* Recovered: a request succeeds within a few seconds. */
	for (int i = 0; i < 200 && !ok; i++) {
		struct timespec ts = {0, 20000000};

		if (respio_submit(c, 1, (const char *const[]){"PING"}, NULL, &f) == 0) {
			respio_future_wait(f, 5000);
			ok = respio_future_status(f) == 0;
			respio_future_release(f);
		}
		if (!ok)
			nanosleep(&ts, NULL);
	}
	CHECK(ok, "no recovery after the restarts");
	respio_client_destroy(c);
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
	run("destroy under load", destroy_under_load, srv.port);
	restart_srv = &srv;
	run("server restarts under load", server_restart_under_load, srv.port);
	test_server_stop(&srv);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

/* SPDX-License-Identifier: MIT */
/* Connections killed every few milliseconds under 32 threads: every reply
 * must be the one its request asked for. A plain program (no Criterion), so
 * it also runs under ThreadSanitizer and AddressSanitizer. */
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <respio.h>

#include "clock.h"
#include "server.h"

#define THREADS	      32
#define MIN_KILLS     200
#define MAX_SECONDS   60
#define KILL_EVERY_MS 3

static atomic_bool stop;
static atomic_long mismatches, pairs_ok, failures;

struct worker {
	respio_client *c;
	int id;
};

static void mismatch(int id, const char *what, const respio_reply *r)
{
	size_t len = 0;
	const char *s = r ? respio_reply_str(r, &len) : NULL;

	if (atomic_fetch_add(&mismatches, 1) < 10)
		fprintf(stderr, "stress_kill: thread %d: %s (reply type %d '%.*s')\n", id, what,
			r ? (int)respio_reply_type(r) : -1, (int)(s ? len : 0), s ? s : "");
}

/*
 * SET k_t "t:seq" then GET k_t, both in flight together. A GET answered
 * must hold this thread's value, no older than the last one known to be
 * stored and no newer than the SET just sent; after a SET answered OK, the
 * GET behind it (same connection, in order) must see exactly that value.
 */
static void *worker_main(void *p)
{
	struct worker *w = p;
	char key[32], val[32], prefix[16];
	long confirmed = 0;

	snprintf(key, sizeof(key), "kill:%d", w->id);
	snprintf(prefix, sizeof(prefix), "t%d:", w->id);
	for (long seq = 1; !atomic_load(&stop); seq++) {
		respio_future *set = NULL, *get = NULL;
		int sst, gst;

		snprintf(val, sizeof(val), "t%d:%ld", w->id, seq);
		if (respio_submit(w->c, 3, (const char *const[]){"SET", key, val}, NULL, &set) <
			0 ||
		    respio_submit(w->c, 2, (const char *const[]){"GET", key}, NULL, &get) < 0) {
			atomic_fetch_add(&failures, 1);
			respio_future_release(set);
			respio_future_release(get);
			sleep_ms(1);
			continue;
		}
		if (respio_future_wait(set, 30000) < 0 || respio_future_wait(get, 30000) < 0) {
			mismatch(w->id, "a future never completed", NULL);
			atomic_store(&stop, true);
		}
		sst = respio_future_status(set);
		gst = respio_future_status(get);
		if (sst == 0) {
			size_t len;
			const char *s = respio_reply_str(respio_future_reply(set), &len);

			if (respio_reply_type(respio_future_reply(set)) != RESPIO_REPLY_STATUS ||
			    len != 2 || memcmp(s, "OK", 2))
				mismatch(w->id, "SET answered with something else",
					 respio_future_reply(set));
		}
		if (gst == 0) {
			const respio_reply *r = respio_future_reply(get);
			size_t len, plen = strlen(prefix);
			const char *s = respio_reply_str(r, &len);
			char num[24];
			long got;

			if (respio_reply_type(r) == RESPIO_REPLY_NIL && confirmed == 0 &&
			    sst != 0) {
				/* nothing stored yet */
			} else if (respio_reply_type(r) != RESPIO_REPLY_STRING || len <= plen ||
				   len - plen >= sizeof(num) || memcmp(s, prefix, plen)) {
				mismatch(w->id, "GET answered with another request's reply", r);
			} else {
				memcpy(num, s + plen, len - plen);
				num[len - plen] = '\0';
				got = strtol(num, NULL, 10);
				if (got < confirmed || got > seq || (sst == 0 && got != seq))
					mismatch(w->id, "GET saw a value out of order", r);
				else
					confirmed = got;
			}
		}
		if (sst == 0)
			confirmed = seq;
		if (sst == 0 && gst == 0)
			atomic_fetch_add(&pairs_ok, 1);
		else
			atomic_fetch_add(&failures, 1);
		respio_future_release(set);
		respio_future_release(get);
	}
	return NULL;
}

/*
 * Takes every descriptor number the moment it is free, as another thread of
 * an application would: a connected socketpair whose far end is checked for
 * bytes. Anything arriving there was written by an SQE prepared for a
 * connection that was closed under it.
 */
static atomic_long stray_writes, grabs;

static void *grabber_main(void *p)
{
	(void)p;
	while (!atomic_load(&stop)) {
		int sv[2];
		char buf[64];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0) {
			sleep_ms(1);
			continue;
		}
		atomic_fetch_add(&grabs, 1);
		for (int spin = 0; spin < 200; spin++) {
			ssize_t n = read(sv[1], buf, sizeof(buf));

			if (n > 0) {
				if (atomic_fetch_add(&stray_writes, 1) < 5)
					fprintf(stderr,
						"stress_kill: %zd stray bytes on a reused "
						"descriptor: '%.*s'\n",
						n, (int)n, buf);
				break;
			}
			sched_yield();
		}
		close(sv[0]);
		close(sv[1]);
	}
	return NULL;
}

int main(void)
{
	test_server srv;
	respio_config cfg;
	respio_client *c = NULL;
	respio_conn *admin = NULL;
	pthread_t th[THREADS], grabber;
	struct worker w[THREADS];
	long kills = 0, calls = 0;
	int64_t start, end;
	bool ok;

	if (!test_have_redis_server()) {
		printf("skipped: redis-server is not installed\n");
		return 77;
	}
	if (test_server_start(&srv, NULL) < 0)
		return 1;
	respio_config_init(&cfg);
	cfg.port = srv.port;
	cfg.shards = 2;
	cfg.timeout_ms = 10000;
	cfg.pool.min_connections = 4;
	cfg.pool.connection_timeout_ms = 2000;
	if (respio_client_create(&cfg, &c) < 0 || respio_conn_create(&cfg, &admin) < 0 ||
	    respio_conn_connect(admin) < 0) {
		fprintf(stderr, "stress_kill: set-up failed\n");
		test_server_stop(&srv);
		return 1;
	}
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){c, i};
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	pthread_create(&grabber, NULL, grabber_main, NULL);
	start = now_ms();
	end = start + MAX_SECONDS * 1000;
	while (kills < MIN_KILLS && now_ms() < end && !atomic_load(&stop)) {
		respio_reply *r = NULL;

		sleep_ms(KILL_EVERY_MS);
		if (respio_conn_command(
			admin, 6,
			(const char *const[]){"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"},
			NULL, &r) == 0 &&
		    respio_reply_integer(r) > 0)
			kills++;
		calls++;
		respio_reply_free(r);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_join(grabber, NULL);
	respio_client_destroy(c);
	respio_conn_destroy(admin);
	test_server_stop(&srv);

	printf("stress_kill: %ld kills in %ld calls over %lld ms; %ld pairs answered, %ld "
	       "failed, %ld mismatches; %ld stray writes into %ld reused descriptors\n",
	       kills, calls, (long long)(now_ms() - start), atomic_load(&pairs_ok),
	       atomic_load(&failures), atomic_load(&mismatches), atomic_load(&stray_writes),
	       atomic_load(&grabs));
	ok = atomic_load(&mismatches) == 0 && atomic_load(&stray_writes) == 0 &&
	     kills >= MIN_KILLS && atomic_load(&pairs_ok) > 0;
	printf("%d passed, %d failed\n", ok ? 1 : 0, ok ? 0 : 1);
	return ok ? 0 : 1;
}

/* SPDX-License-Identifier: MIT */
/* A Sentinel failover under the engine's every kind of traffic at once:
 * pipelined INCRs, sessions, transaction units and blocking commands on
 * automatic leases, from many threads, while the Sentinel thread holds
 * writes, moves the master and the shards leave the old one. A plain
 * program, so it also runs under ThreadSanitizer and AddressSanitizer.
 * Checks that nothing hangs, that no more acknowledged increments are
 * missing on the final master than were on the wire at the promotion, and
 * that nothing stays leased. Exit 77 without redis-sentinel. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <respio.h>

#include "clock.h"
#include "sentinel_topology.h"

#define THREADS 12
#define WAIT_MS 30000 /* every wait's bound: a future still pending then is a bug */
#define ARGV(...)                                                                                  \
	(const char *const[])                                                                      \
	{                                                                                          \
		__VA_ARGS__                                                                        \
	}

static atomic_bool stop;
static atomic_long hangs;

struct worker {
	respio_client *c;
	int id;
	long acked; /* INCRs of its own counter answered */
	long ops;
};

/* Wait for f: its status, or a hang counted. */
static int settle(respio_future *f)
{
	if (respio_future_wait(f, WAIT_MS) < 0) {
		atomic_fetch_add(&hangs, 1);
		return -ETIMEDOUT;
	}
	return respio_future_status(f);
}

static void incr(struct worker *w, const char *key)
{
	respio_future *f;

	if (respio_submit(w->c, 2, ARGV("INCR", key), NULL, &f) < 0)
		return;
	if (settle(f) == 0)
		w->acked++;
	respio_future_release(f);
}

static void session(struct worker *w)
{
	respio_session *s;
	respio_reply *r = NULL;

	if (respio_begin(w->c, &s) < 0)
		return;
	if (respio_command(respio_session_target(s), 2, ARGV("INCR", "sf:sessions"), NULL, &r) == 0)
		respio_reply_free(r);
	respio_end(s);
}

static void unit(struct worker *w)
{
	const respio_argv cmds[] = {{2, ARGV("INCR", "sf:a"), NULL},
				    {2, ARGV("INCR", "sf:b"), NULL}};
	respio_future *f;

	if (respio_submit_transaction(w->c, NULL, 2, cmds, &f) < 0)
		return;
	settle(f);
	respio_future_release(f);
}

static void blocking(struct worker *w)
{
	respio_future *f;

	if (respio_submit(w->c, 3, ARGV("BLPOP", "sf:q", "0.05"), NULL, &f) < 0)
		return;
	settle(f);
	respio_future_release(f);
}

static void *work(void *p)
{
	struct worker *w = p;
	char key[32];

	snprintf(key, sizeof(key), "sf:%d", w->id);
	while (!atomic_load(&stop)) {
		switch (w->ops++ % 8) {
		case 3: session(w); break;
		case 5: unit(w); break;
		case 7:
			if (w->id % 3 == 0)
				blocking(w);
			break;
		default: incr(w, key); break;
		}
	}
	return NULL;
}

static long long final_value(int port, const char *key)
{
	char out[64];

	if (test_sentinel_command(port, NULL, out, sizeof(out), 2, ARGV("GET", key)) < 0)
		return -1;
	return atoll(out);
}

int main(void)
{
	test_sentinel_topology topo;
	const char *hosts[TEST_SENTINELS];
	char buf[TEST_SENTINELS][32];
	respio_sentinel_config sc = {.hosts = hosts,
				     .nhosts = TEST_SENTINELS,
				     .master_name = TEST_SENTINEL_MASTER,
				     .cache_ms = 200};
	struct worker w[THREADS];
	pthread_t th[THREADS];
	respio_config cfg;
	respio_client *c;
	respio_stats st;
	long missing = 0, acked = 0, ops = 0;
	int old, now, rc, failed = 0;

	if (!test_have_redis_sentinel()) {
		fprintf(stderr, "stress_failover: redis-sentinel is not installed\n");
		return 77;
	}
	if (test_sentinel_start(&topo, NULL) < 0)
		return 1;
	old = topo.master.port;
	for (int i = 0; i < TEST_SENTINELS; i++) {
		snprintf(buf[i], sizeof(buf[i]), "127.0.0.1:%d", topo.sentinel_port[i]);
		hosts[i] = buf[i];
	}
	respio_config_init(&cfg);
	cfg.sentinel = &sc;
	cfg.shards = 2;
	cfg.timeout_ms = 20000;
	cfg.pool.min_connections = 2;
	cfg.pool.max_connections = 10;
	rc = respio_client_create(&cfg, &c);
	if (rc < 0) {
		fprintf(stderr, "stress_failover: create: %s (%s)\n", respio_err_name(rc),
			respio_client_errdetail(NULL));
		test_sentinel_stop(&topo);
		return 1;
	}
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){.c = c, .id = i};
		pthread_create(&th[i], NULL, work, &w[i]);
	}
	sleep_ms(500);
	now = test_sentinel_failover(&topo);
	sleep_ms(500);
	atomic_store(&stop, true);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	respio_client_stats(c, &st, NULL, 0);
	for (int i = 0; i < THREADS && now > 0; i++) {
		char key[32];
		long long v;

		snprintf(key, sizeof(key), "sf:%d", i);
		v = final_value(now, key);
		acked += w[i].acked;
		ops += w[i].ops;
		if (v < w[i].acked)
			missing += w[i].acked - (long)v;
	}
	fprintf(stderr,
		"stress_failover: %ld operations, %ld INCRs acknowledged, %ld missing on the final "
		"master; %ld hangs; failovers %llu, sessions in use %u\n",
		ops, acked, missing, atomic_load(&hangs), (unsigned long long)st.failovers,
		st.sessions_in_use);
	failed |= now <= 0 || now == old;
	failed |= atomic_load(&hangs) != 0;
	failed |= st.failovers != 1;
	/* Only what was on the wire at the promotion can be lost: one INCR
	 * per thread at most. */
	failed |= missing > THREADS;
	failed |= st.sessions_in_use != 0;
	respio_client_destroy(c);
	test_sentinel_stop(&topo);
	printf("%d passed, %d failed\n", !failed, failed);
	return failed;
}

/* SPDX-License-Identifier: MIT */
/* Sessions, transaction units, automatic leases and the shared pipeline at
 * once, while a killer thread drops one of the client's connections every
 * 20 ms; a plain program, so it also runs under the sanitizers. What the
 * server holds at the end must agree with what the threads were told: a
 * session's transaction ran once if its EXEC was answered, maybe if the
 * EXEC was sent and lost, never otherwise; a unit's two INCRs move
 * together; no pushed item is popped twice; nothing stays leased or
 * pending. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <respio.h>

#include "clock.h"
#include "server.h"

#define THREADS	   32
#define RUN_MS	   2000
#define WAIT_MS	   15000 /* every wait's bound: a future still pending then is a bug */
#define KILL_EVERY 20
#define MAX_POPPED 200000
#define ARGV(...)                                                                                  \
	(const char *const[])                                                                      \
	{                                                                                          \
		__VA_ARGS__                                                                        \
	}

static atomic_long violations;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "stress_session: %s:%d: ", __FILE__, __LINE__);            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
			atomic_fetch_add(&violations, 1);                                          \
		}                                                                                  \
	} while (0)

struct worker {
	respio_client *c;
	int id;
	unsigned seed;
	int64_t until_ms;
	/* session transactions: EXEC answered, EXEC sent and lost, failed */
	long sess_acked, sess_unsure, sess_failed;
	long tx_acked, tx_failed;
	long push_acked, push_unsure, pop_got, pop_nil, pop_unsure;
	long plain_ok, plain_failed;
	long ops;
};

/* Popped values, to find one popped twice. */
static pthread_mutex_t popped_lock = PTHREAD_MUTEX_INITIALIZER;
static char *popped[MAX_POPPED];
static int npopped;

/* Waits f out: false (a violation) if it is still pending after WAIT_MS. */
static bool settle(respio_future *f, const char *what)
{
	int rc = respio_future_wait(f, WAIT_MS);

	CHECK(rc == 0, "%s: future still pending after %d ms", what, WAIT_MS);
	return rc == 0;
}

static bool is_int_array(const respio_reply *r, size_t n)
{
	if (respio_reply_type(r) != RESPIO_REPLY_ARRAY || respio_reply_len(r) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (respio_reply_type(respio_reply_element(r, i)) != RESPIO_REPLY_INTEGER)
			return false;
	return true;
}

/* begin, MULTI, INCR k, INCR total, EXEC, end: pipelined on the session,
 * or one at a time, so that a kill often lands between two of them (the
 * later ones must then fail, never run on another connection outside the
 * transaction). */
static void session_tx(struct worker *w)
{
	char key[32];
	const char *const *cmds[4];
	const int argc[4] = {1, 2, 2, 1};
	respio_future *f[4] = {0};
	respio_session *s = NULL;
	bool stepwise = rand_r(&w->seed) % 2;
	int rc, st, fate;

	snprintf(key, sizeof(key), "sess:%d", w->id);
	cmds[0] = ARGV("MULTI");
	cmds[1] = ARGV("INCR", key);
	cmds[2] = ARGV("INCR", "sess:total");
	cmds[3] = ARGV("EXEC");
	rc = respio_begin(w->c, &s);
	CHECK(rc == 0, "begin: %s", respio_err_name(rc));
	if (rc != 0)
		return;
	for (int i = 0; i < 4; i++) {
		rc = respio_session_submit(s, argc[i], cmds[i], NULL, &f[i]);
		/* CLOSED: the session's connection was killed. */
		CHECK(rc == 0 || rc == RESPIO_E_CLOSED, "session submit %s: %s", cmds[i][0],
		      respio_err_name(rc));
		if (stepwise && f[i])
			settle(f[i], cmds[i][0]);
	}
	for (int i = 0; i < 4; i++)
		if (f[i])
			settle(f[i], cmds[i][0]);
	/* After MULTI, an answered INCR is QUEUED: anything else ran outside
	 * the transaction. */
	for (int i = 1; i < 3 && f[0] && respio_future_status(f[0]) == 0; i++)
		if (f[i] && respio_future_ready(f[i]) && respio_future_status(f[i]) == 0)
			CHECK(respio_reply_type(respio_future_reply(f[i])) == RESPIO_REPLY_STATUS,
			      "%s after MULTI answered type %d, not QUEUED", cmds[i][0],
			      respio_reply_type(respio_future_reply(f[i])));
	if (!f[3] || !respio_future_ready(f[3])) {
		w->sess_failed++; /* reported above */
	} else if ((st = respio_future_status(f[3])) == 0) {
		const respio_reply *r = respio_future_reply(f[3]);

		CHECK(is_int_array(r, 2), "EXEC answered %d (not two integers)",
		      respio_reply_type(r));
		if (is_int_array(r, 2)) {
			long long v = respio_reply_integer(respio_reply_element(r, 0));

			/* Only this thread increments k, and only in here. */
			CHECK(v >= w->sess_acked + 1 && v <= w->sess_acked + w->sess_unsure + 1,
			      "thread %d: INCR gave %lld after %ld acked, %ld unsure", w->id, v,
			      w->sess_acked, w->sess_unsure);
			for (int i = 0; i < 3; i++)
				CHECK(respio_future_status(f[i]) == 0, "EXEC ran but %s failed: %s",
				      cmds[i][0], respio_err_name(respio_future_status(f[i])));
			w->sess_acked++;
		}
	} else {
		fate = respio_future_fate(f[3]);
		/* An error reply (EXEC without MULTI, EXECABORT) means the
		 * commands reached a connection other than MULTI's. */
		CHECK(st != RESPIO_E_SERVER, "EXEC answered an error: %s",
		      respio_reply_str(respio_future_reply(f[3]), NULL));
		if (fate == RESPIO_FATE_SENT)
			w->sess_unsure++;
		else
			w->sess_failed++;
	}
	for (int i = 0; i < 4; i++)
		respio_future_release(f[i]);
	respio_end(s);
}

/* MULTI, INCR a, INCR b, EXEC as one unit on the shared pipeline. */
static void tx_unit(struct worker *w)
{
	const respio_argv cmds[] = {{2, ARGV("INCR", "tx:a"), NULL},
				    {2, ARGV("INCR", "tx:b"), NULL}};
	respio_future *f = NULL;
	int rc = respio_submit_transaction(w->c, NULL, 2, cmds, &f);

	CHECK(rc == 0, "submit_transaction: %s", respio_err_name(rc));
	if (rc != 0)
		return;
	if (settle(f, "transaction unit") && respio_future_status(f) == 0) {
		CHECK(is_int_array(respio_future_reply(f), 2), "unit answered no pair");
		w->tx_acked++;
	} else {
		CHECK(respio_future_status(f) != RESPIO_E_SERVER, "unit answered an error: %s",
		      respio_reply_str(respio_future_reply(f), NULL));
		w->tx_failed++;
	}
	respio_future_release(f);
}

static void push(struct worker *w)
{
	char val[32];
	respio_future *f = NULL;
	int rc;

	snprintf(val, sizeof(val), "t%d:%ld", w->id, w->ops);
	rc = respio_submit(w->c, 3, ARGV("RPUSH", "bl", val), NULL, &f);
	CHECK(rc == 0, "RPUSH submit: %s", respio_err_name(rc));
	if (rc != 0)
		return;
	if (settle(f, "RPUSH")) {
		if (respio_future_status(f) == 0)
			w->push_acked++;
		else if (respio_future_fate(f) == RESPIO_FATE_SENT)
			w->push_unsure++;
	}
	respio_future_release(f);
}

/* BLPOP bl 1 through respio_submit: an automatic lease. One in 200 waits on
 * a list nobody pushes to, for the nil after its second. */
static void pop(struct worker *w)
{
	bool dry = rand_r(&w->seed) % 200 == 0;
	respio_future *f = NULL;
	const respio_reply *r;
	int rc = respio_submit(w->c, 3, ARGV("BLPOP", dry ? "bl:dry" : "bl", "1"), NULL, &f);

	CHECK(rc == 0, "BLPOP submit: %s", respio_err_name(rc));
	if (rc != 0)
		return;
	if (settle(f, "BLPOP")) {
		r = respio_future_reply(f);
		if (respio_future_status(f) == 0 && respio_reply_type(r) == RESPIO_REPLY_NIL) {
			w->pop_nil++;
		} else if (respio_future_status(f) == 0) {
			size_t len = 0;
			const char *v = respio_reply_str(respio_reply_element(r, 1), &len);

			CHECK(respio_reply_type(r) == RESPIO_REPLY_ARRAY && v && !dry,
			      "BLPOP answered type %d%s", respio_reply_type(r),
			      dry ? " from a list nobody pushed to" : "");
			w->pop_got++;
			pthread_mutex_lock(&popped_lock);
			if (v && npopped < MAX_POPPED)
				popped[npopped++] = strndup(v, len);
			pthread_mutex_unlock(&popped_lock);
		} else {
			CHECK(respio_future_status(f) != RESPIO_E_SERVER, "BLPOP error reply");
			if (respio_future_fate(f) == RESPIO_FATE_SENT)
				w->pop_unsure++;
		}
	}
	respio_future_release(f);
}

/* SET then GET of the thread's own key: when both are answered, the GET
 * sees the SET (one thread's requests run in order). */
static void plain(struct worker *w)
{
	char key[32], val[32];
	respio_future *set = NULL, *get = NULL;
	int rs = 0, rg = 0;

	snprintf(key, sizeof(key), "plain:%d", w->id);
	snprintf(val, sizeof(val), "%ld", w->ops);
	rs = respio_submit(w->c, 3, ARGV("SET", key, val), NULL, &set);
	rg = respio_submit(w->c, 2, ARGV("GET", key), NULL, &get);
	CHECK(rs == 0 && rg == 0, "plain submit: %s %s", respio_err_name(rs), respio_err_name(rg));
	if (set && get && settle(set, "SET") && settle(get, "GET")) {
		if (respio_future_status(set) == 0 && respio_future_status(get) == 0) {
			size_t len;
			const char *v = respio_reply_str(respio_future_reply(get), &len);

			CHECK(v && len == strlen(val) && !memcmp(v, val, len),
			      "GET after SET %s saw %.*s", val, (int)len, v ? v : "");
			w->plain_ok++;
		} else {
			w->plain_failed++;
		}
	}
	respio_future_release(set);
	respio_future_release(get);
}

static void *worker_main(void *p)
{
	struct worker *w = p;

	for (int i = 0; i < 1000000 && now_ms() < w->until_ms; i++) {
		int r = (int)(rand_r(&w->seed) % 100);

		w->ops++;
		if (r < 30)
			session_tx(w);
		else if (r < 50)
			tx_unit(w);
		else if (r < 64) /* a few fewer pops than pushes: BLPOPs block at times */
			pop(w);
		else if (r < 80)
			push(w);
		else
			plain(w);
	}
	return NULL;
}

struct killer {
	int port;
	atomic_bool stop;
	long kills, errors;
};

/* Every 20 ms, CLIENT KILL one of the client's connections at random
 * (every normal client but the killer itself). */
static void *killer_main(void *p)
{
	struct killer *k = p;
	respio_config cfg;
	respio_conn *a = NULL;
	unsigned seed = 4242;

	respio_config_init(&cfg);
	cfg.port = k->port;
	cfg.timeout_ms = 2000;
	if (respio_conn_create(&cfg, &a) != 0)
		return NULL;
	for (int i = 0; i < 100000 && !atomic_load(&k->stop); i++) {
		respio_reply *r = NULL;
		long long self, ids[256];
		int n = 0;
		const char *s;
		char victim[32];

		sleep_ms(KILL_EVERY);
		if (!respio_conn_is_connected(a) && respio_conn_connect(a) != 0) {
			k->errors++;
			continue;
		}
		if (respio_conn_command(a, 2, ARGV("CLIENT", "ID"), NULL, &r) != 0) {
			k->errors++;
			continue;
		}
		self = respio_reply_integer(r);
		respio_reply_free(r);
		if (respio_conn_command(a, 4, ARGV("CLIENT", "LIST", "TYPE", "normal"), NULL, &r) !=
		    0) {
			k->errors++;
			continue;
		}
		for (s = respio_reply_str(r, NULL); s && *s && n < 256;) {
			long long id = strncmp(s, "id=", 3) == 0 ? atoll(s + 3) : -1;
			const char *nl = strchr(s, '\n');

			if (id >= 0 && id != self)
				ids[n++] = id;
			s = nl ? nl + 1 : s + strlen(s);
		}
		respio_reply_free(r);
		if (!n)
			continue;
		snprintf(victim, sizeof(victim), "%lld", ids[rand_r(&seed) % (unsigned)n]);
		if (respio_conn_command(a, 4, ARGV("CLIENT", "KILL", "ID", victim), NULL, &r) == 0)
			k->kills += respio_reply_integer(r);
		respio_reply_free(r);
	}
	respio_conn_destroy(a);
	return NULL;
}

static long long get_int(respio_conn *a, const char *key)
{
	respio_reply *r = NULL;
	long long v = -1;

	if (respio_conn_command(a, 2, ARGV("GET", key), NULL, &r) == 0)
		v = respio_reply_type(r) == RESPIO_REPLY_NIL ? 0 : atoll(respio_reply_str(r, NULL));
	else
		CHECK(0, "GET %s: %s", key, respio_conn_errdetail(a));
	respio_reply_free(r);
	return v;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
	static struct worker w[THREADS];
	pthread_t th[THREADS], kth;
	struct killer k = {0};
	test_server srv;
	respio_config cfg;
	respio_client *c = NULL;
	respio_conn *a = NULL;
	respio_reply *r = NULL;
	respio_stats st;
	long acked = 0, unsure = 0, failed = 0, tx_acked = 0, tx_failed = 0, pushed = 0,
	     push_unsure = 0, got = 0, nil = 0, pop_unsure = 0, plain_ok = 0, plain_failed = 0;
	long long total, ta, tb, llen = -1;
	int64_t t0;
	int rc;

	if (!test_have_redis_server()) {
		printf("skipped: redis-server is not installed\n");
		return 77;
	}
	if (test_server_start(&srv, NULL) < 0)
		return 1;
	respio_config_init(&cfg);
	cfg.port = srv.port;
	cfg.shards = 2;
	cfg.pool.min_connections = 4;
	cfg.pool.max_connections = 24;
	cfg.pool.wait_timeout_ms = 10000;
	cfg.pool.connection_timeout_ms = 2000;
	rc = respio_client_create(&cfg, &c);
	if (rc != 0) {
		fprintf(stderr, "create: %s\n", respio_err_name(rc));
		test_server_stop(&srv);
		return 1;
	}

	k.port = srv.port;
	pthread_create(&kth, NULL, killer_main, &k);
	t0 = now_ms();
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){
		    .c = c, .id = i, .seed = 1000u + (unsigned)i, .until_ms = t0 + RUN_MS};
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	atomic_store(&k.stop, true);
	pthread_join(kth, NULL);

	/* At rest: nothing leased, nothing in flight (auto leases end on the
	 * shard just after their future completes). */
	for (int i = 0; i < 500; i++) {
		respio_client_stats(c, &st, NULL, 0);
		if (st.sessions_in_use == 0 && st.inflight == 0)
			break;
		sleep_ms(10);
	}
	CHECK(st.sessions_in_use == 0, "%u sessions still in use", st.sessions_in_use);
	CHECK(st.inflight == 0, "%u requests still in flight", st.inflight);

	respio_config_init(&cfg);
	cfg.port = srv.port;
	CHECK(respio_conn_create(&cfg, &a) == 0 && respio_conn_connect(a) == 0, "checker connect");
	for (int i = 0; i < THREADS; i++) {
		char key[32];
		long long v;

		snprintf(key, sizeof(key), "sess:%d", i);
		v = get_int(a, key);
		CHECK(v >= w[i].sess_acked && v <= w[i].sess_acked + w[i].sess_unsure,
		      "thread %d: server counted %lld session transactions, %ld acked, %ld unsure",
		      i, v, w[i].sess_acked, w[i].sess_unsure);
		acked += w[i].sess_acked;
		unsure += w[i].sess_unsure;
		failed += w[i].sess_failed;
		tx_acked += w[i].tx_acked;
		tx_failed += w[i].tx_failed;
		pushed += w[i].push_acked;
		push_unsure += w[i].push_unsure;
		got += w[i].pop_got;
		nil += w[i].pop_nil;
		pop_unsure += w[i].pop_unsure;
		plain_ok += w[i].plain_ok;
		plain_failed += w[i].plain_failed;
	}
	total = get_int(a, "sess:total");
	CHECK(total >= acked && total <= acked + unsure, "sess:total %lld, %ld acked, %ld unsure",
	      total, acked, unsure);
	ta = get_int(a, "tx:a");
	tb = get_int(a, "tx:b");
	CHECK(ta == tb, "a unit split: a %lld, b %lld", ta, tb);
	CHECK(ta >= tx_acked && ta <= tx_acked + tx_failed, "tx:a %lld, %ld acked, %ld failed", ta,
	      tx_acked, tx_failed);
	if (respio_conn_command(a, 2, ARGV("LLEN", "bl"), NULL, &r) == 0)
		llen = respio_reply_integer(r);
	respio_reply_free(r);
	/* What is left = pushed - popped, each within what may have run. */
	CHECK(llen >= 0 && llen + got <= pushed + push_unsure && llen + got + pop_unsure >= pushed,
	      "list: %lld left, %ld popped (+%ld unsure), %ld pushed (+%ld unsure)", llen, got,
	      pop_unsure, pushed, push_unsure);
	qsort(popped, (size_t)npopped, sizeof(popped[0]), cmp_str);
	for (int i = 1; i < npopped; i++)
		CHECK(strcmp(popped[i - 1], popped[i]) != 0, "%s popped twice", popped[i]);
	for (int i = 0; i < npopped; i++)
		free(popped[i]);
	CHECK(k.kills > 0, "the killer killed nothing (%ld errors)", k.errors);
	respio_conn_destroy(a);
	respio_client_stats(c, &st, NULL, 0);
	respio_client_destroy(c);
	test_server_stop(&srv);

	printf("stress_session: %ld kills (%ld killer errors); sessions %ld acked, %ld unsure, %ld "
	       "failed; units %ld "
	       "acked, %ld failed; pops %ld (+%ld nil, %ld unsure) of %ld pushed (+%ld unsure); "
	       "plain %ld ok, %ld failed; %llu begun, %llu waited; %ld violations\n",
	       k.kills, k.errors, acked, unsure, failed, tx_acked, tx_failed, got, nil, pop_unsure,
	       pushed, push_unsure, plain_ok, plain_failed, (unsigned long long)st.sessions_begun,
	       (unsigned long long)st.pool_waits, atomic_load(&violations));
	return atomic_load(&violations) ? 1 : 0;
}

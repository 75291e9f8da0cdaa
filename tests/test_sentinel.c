/* SPDX-License-Identifier: MIT */
/* The engine behind Redis Sentinel, against real redis-sentinel processes on
 * loopback: discovery, the three failovers under load (planned, a killed
 * master, a stopped one that comes back still claiming to be master), what
 * happens to requests and sessions across them, dead Sentinels, and
 * credentials. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <respio.h>

#include "clock.h"
#include "sentinel_topology.h"

TestSuite(sentinel, .timeout = 240);

static test_sentinel_topology topo;

static void start_topology(const struct test_sentinel_opts *opts)
{
	if (!test_have_redis_sentinel())
		cr_skip_test("redis-sentinel is not installed");
	cr_assert_eq(test_sentinel_start(&topo, opts), 0, "the Sentinel topology did not start");
}

static void stop_topology(void)
{
	test_sentinel_stop(&topo);
}

/* "127.0.0.1:P" for each Sentinel, plus dead ones first when asked. */
struct sentinel_list {
	char buf[TEST_SENTINELS + 2][32];
	const char *hosts[TEST_SENTINELS + 2];
	respio_sentinel_config sc;
};

static void sentinel_list(struct sentinel_list *l, int dead_first)
{
	int n = 0;

	memset(l, 0, sizeof(*l));
	for (int i = 0; i < dead_first; i++) {
		/* A port nothing listens on: refused at once. */
		snprintf(l->buf[n], sizeof(l->buf[n]), "127.0.0.1:%d", test_free_port());
		l->hosts[n] = l->buf[n];
		n++;
	}
	for (int i = 0; i < TEST_SENTINELS; i++) {
		snprintf(l->buf[n], sizeof(l->buf[n]), "127.0.0.1:%d", topo.sentinel_port[i]);
		l->hosts[n] = l->buf[n];
		n++;
	}
	l->sc.hosts = l->hosts;
	l->sc.nhosts = n;
	l->sc.master_name = TEST_SENTINEL_MASTER;
}

static respio_client *sentinel_client(struct sentinel_list *l, respio_config *cfg)
{
	respio_client *c = NULL;
	int rc;

	cfg->sentinel = &l->sc;
	rc = respio_client_create(cfg, &c);
	cr_assert_eq(rc, 0, "create: %s (%s)", respio_err_name(rc), respio_client_errdetail(NULL));
	return c;
}

static void base_config(respio_config *cfg)
{
	respio_config_init(cfg);
	cfg->shards = 2;
	cfg->timeout_ms = 20000; /* a failover takes seconds: requests wait it out */
	cfg->pool.min_connections = 2;
	cfg->pool.max_connections = 4;
	/* Where nothing answers: the Sentinels must be what is used. */
	cfg->port = test_free_port();
}

#define ARGV(...)                                                                                  \
	(const char *const[])                                                                      \
	{                                                                                          \
		__VA_ARGS__                                                                        \
	}

/* Our engine's connections on the data node at port: CLIENT LIST's normal
 * clients without a name (Sentinels name theirs), less the one asking. */
static int our_connections(int port)
{
	char out[65536];
	int n = 0;

	if (test_sentinel_command(port, topo.pass[0] ? topo.pass : NULL, out, sizeof(out), 2,
				  ARGV("CLIENT", "LIST")) != '$')
		return -1;
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
		if (strstr(line, " name= ") && strstr(line, " flags=N ") &&
		    !strstr(line, "cmd=client"))
			n++;
	return n;
}

static long long get_int(int port, const char *key)
{
	char out[64];

	if (test_sentinel_command(port, topo.pass[0] ? topo.pass : NULL, out, sizeof(out), 2,
				  ARGV("GET", key)) < 0)
		return -1;
	return atoll(out);
}

/* --- load: 16 threads of INCR on their own counters ------------------------ */

#define LOAD_THREADS 16

struct counter {
	respio_client *c;
	char key[48];
	atomic_bool *stop;
	long acked;	  /* INCRs answered */
	long long top;	  /* the largest value answered */
	long backwards;	  /* answers not above the one before: a counter reset */
	long sent_errors; /* failed, fate SENT: may have run */
	long unsent_errors;
	long hangs;		    /* a wait that did not end within 30 s */
	int64_t last_ack_us;	    /* when the last answer came */
	_Atomic int64_t *switch_us; /* when a Sentinel published +switch-master */
	int64_t resumed_us;	    /* the first answer after it */
	int64_t longest_gap_us;	    /* between two answers */
	int first_error;
};

static void *count_up(void *p)
{
	struct counter *k = p;
	long long prev = 0;

	k->last_ack_us = now_us();
	while (!atomic_load(k->stop)) {
		respio_future *f;
		int rc = respio_submit(k->c, 2, ARGV("INCR", k->key), NULL, &f);

		if (rc < 0) {
			k->unsent_errors++;
			k->first_error = k->first_error ? k->first_error : rc;
			sleep_ms(1);
			continue;
		}
		if (respio_future_wait(f, 30000) < 0) {
			k->hangs++;
			respio_future_release(f);
			break;
		}
		rc = respio_future_status(f);
		if (rc == 0) {
			long long v = respio_reply_integer(respio_future_reply(f));
			int64_t t = now_us();
			int64_t sw = atomic_load(k->switch_us);

			k->acked++;
			if (sw && !k->resumed_us && t > sw)
				k->resumed_us = t;
			k->backwards += v <= prev;
			prev = v;
			if (v > k->top)
				k->top = v;
			if (t - k->last_ack_us > k->longest_gap_us)
				k->longest_gap_us = t - k->last_ack_us;
			k->last_ack_us = t;
		} else {
			k->first_error = k->first_error ? k->first_error : rc;
			if (respio_future_fate(f) == RESPIO_FATE_SENT)
				k->sent_errors++;
			else
				k->unsent_errors++;
		}
		respio_future_release(f);
	}
	return NULL;
}

struct load {
	pthread_t th[LOAD_THREADS], watcher;
	struct counter k[LOAD_THREADS];
	atomic_bool stop;
	_Atomic int64_t switch_us;
	int sentinel_port;
};

/* Watches one Sentinel for +switch-master: the moment the Sentinels
 * switched, against which the client's resumption is measured. */
static void *watch_switch(void *p)
{
	struct load *l = p;
	respio_config cfg;
	respio_conn *c;
	respio_reply *r = NULL;

	respio_config_init(&cfg);
	cfg.port = l->sentinel_port;
	if (respio_conn_create(&cfg, &c) < 0)
		return NULL;
	if (respio_conn_connect(c) == 0 &&
	    respio_conn_append(c, 2, ARGV("SUBSCRIBE", "+switch-master"), NULL) == 0 &&
	    respio_conn_flush(c) == 0) {
		while (!atomic_load(&l->stop)) {
			int rc = respio_conn_read_reply(c, 200, &r);
			const char *kind = rc == 0 && respio_reply_len(r) == 3
					       ? respio_reply_str(respio_reply_element(r, 0), NULL)
					       : NULL;

			if (kind && strcmp(kind, "message") == 0 && !atomic_load(&l->switch_us))
				atomic_store(&l->switch_us, now_us());
			respio_reply_free(r);
			r = NULL;
			if (rc < 0 && rc != -ETIMEDOUT)
				break;
		}
	}
	respio_conn_destroy(c);
	return NULL;
}

static void load_start(struct load *l, respio_client *c, const char *name)
{
	atomic_init(&l->stop, false);
	atomic_init(&l->switch_us, 0);
	/* The last Sentinel: no scenario here kills it. */
	l->sentinel_port = topo.sentinel_port[TEST_SENTINELS - 1];
	cr_assert_eq(pthread_create(&l->watcher, NULL, watch_switch, l), 0);
	for (int i = 0; i < LOAD_THREADS; i++) {
		l->k[i] = (struct counter){.c = c, .stop = &l->stop, .switch_us = &l->switch_us};
		snprintf(l->k[i].key, sizeof(l->k[i].key), "%s:%d", name, i);
		cr_assert_eq(pthread_create(&l->th[i], NULL, count_up, &l->k[i]), 0);
	}
}

/* Stop the load, wait for the old master's demotion (so nothing still to
 * be thrown away is counted), and report what was lost: acknowledged
 * increments the final master does not have, and answers that went
 * backwards (a counter reset by a demotion hides a loss from the first
 * measure). */
static void load_finish(struct load *l, const char *scenario, int old_port, long *lost_out,
			long *backwards_out)
{
	long acked = 0, lost = 0, backwards = 0, sent = 0, unsent = 0, hangs = 0;
	int64_t gap = 0, resumed = 0, sw = atomic_load(&l->switch_us);
	int master;

	atomic_store(&l->stop, true);
	for (int i = 0; i < LOAD_THREADS; i++)
		pthread_join(l->th[i], NULL);
	pthread_join(l->watcher, NULL);
	cr_assert_eq(test_sentinel_wait_demoted(&topo, old_port, 30000), 0,
		     "the old master was not demoted");
	master = test_sentinel_master_port(&topo);
	cr_assert_neq(master, old_port);
	for (int i = 0; i < LOAD_THREADS; i++) {
		struct counter *k = &l->k[i];
		long long final = get_int(master, k->key);

		acked += k->acked; /* Each counter starts at 0 and each answer is one increment:
				    * the final value is at least the answers (more when a failed
				    * INCR ran anyway). The highest answer would miss losses the
				    * counter later climbed past. */
		if (final < k->acked)
			lost += (long)(k->acked - final);
		backwards += k->backwards;
		sent += k->sent_errors;
		unsent += k->unsent_errors;
		hangs += k->hangs;
		if (k->longest_gap_us > gap)
			gap = k->longest_gap_us;
		/* Every thread has written again this long after the switch. */
		if (sw && k->resumed_us - sw > resumed)
			resumed = k->resumed_us - sw;
	}
	cr_log_info("respio %s: acked %ld, lost %ld, backwards %ld; failed: %ld sent (may have "
		    "run), %ld unsent; longest gap between answers %lld ms",
		    scenario, acked, lost, backwards, sent, unsent, (long long)(gap / 1000));
	fprintf(stderr,
		"respio %s: acked %ld lost %ld backwards %ld; failed sent %ld unsent %ld; "
		"longest gap %lld ms; every thread wrote again %lld ms after +switch-master\n",
		scenario, acked, lost, backwards, sent, unsent, (long long)(gap / 1000),
		sw ? (long long)(resumed / 1000) : -1LL);
	cr_assert(sw, "no +switch-master was seen");
	cr_assert_eq(hangs, 0, "%ld futures never completed", hangs);
	for (int i = 0; i < LOAD_THREADS; i++)
		cr_assert_gt(l->k[i].acked, 0, "thread %d never got an answer", i);
	*lost_out = lost;
	*backwards_out = backwards;
}

/* The client's count of failovers followed, once it is at least one or
 * 30 s have passed. */
static uint64_t wait_failover(respio_client *c)
{
	respio_stats st;

	for (int i = 0; i < 600; i++) {
		respio_client_stats(c, &st, NULL, 0);
		if (st.failovers)
			break;
		sleep_ms(50);
	}
	return st.failovers;
}

/* --- discovery ------------------------------------------------------------- */

Test(sentinel, discovers_the_master_past_a_dead_sentinel, .fini = stop_topology)
{
	struct sentinel_list l;
	respio_config cfg;
	respio_client *c;
	respio_reply *r;
	respio_stats st;

	start_topology(NULL);
	sentinel_list(&l, 1); /* one of four is dead */
	base_config(&cfg);
	c = sentinel_client(&l, &cfg);
	cr_assert_eq(respio_command(respio_client_target(c), 3, ARGV("SET", "d:k", "v"), NULL, &r),
		     0);
	respio_reply_free(r);
	{
		char out[32];

		test_sentinel_command(topo.master.port, NULL, out, sizeof(out), 2,
				      ARGV("GET", "d:k"));
		cr_assert_str_eq(out, "v", "not written to the master");
	}
	respio_client_stats(c, &st, NULL, 0);
	cr_assert_eq(st.failovers, 0);
	respio_client_destroy(c);
}

/* Sentinel's credentials are its own: swapped with the data nodes', create
 * fails and says which side refused. */
Test(sentinel, credentials_are_separate, .fini = stop_topology)
{
	struct test_sentinel_opts o = {.pass = "datapw", .sentinel_pass = "sentpw"};
	struct sentinel_list l;
	respio_config cfg;
	respio_client *c = NULL;
	respio_reply *r;
	int rc;

	start_topology(&o);
	sentinel_list(&l, 0);
	base_config(&cfg);
	cfg.password = "datapw";
	l.sc.password = "sentpw";
	c = sentinel_client(&l, &cfg);
	cr_assert_eq(respio_command(respio_client_target(c), 1, ARGV("PING"), NULL, &r), 0);
	respio_reply_free(r);
	respio_client_destroy(c);

	/* Swapped: the Sentinels refuse. */
	cfg.password = "sentpw";
	l.sc.password = "datapw";
	cfg.sentinel = &l.sc;
	rc = respio_client_create(&cfg, &c);
	cr_assert_eq(rc, RESPIO_E_HANDSHAKE, "%s", respio_err_name(rc));
	cr_assert(strstr(respio_client_errdetail(NULL), "Sentinel"), "%s",
		  respio_client_errdetail(NULL));
	/* Right for the Sentinels, wrong for the data nodes: the master refuses. */
	cfg.password = "wrong";
	l.sc.password = "sentpw";
	rc = respio_client_create(&cfg, &c);
	cr_assert_eq(rc, RESPIO_E_HANDSHAKE, "%s", respio_err_name(rc));
	cr_assert_null(strstr(respio_client_errdetail(NULL), "Sentinel"), "%s",
		       respio_client_errdetail(NULL));
}

/* --- failovers under load --------------------------------------------------- */

/* The log hook's switch event, kept for the test to read. */
struct switch_log {
	pthread_mutex_t lock;
	char msg[512];
};

static void on_log(void *arg, int level, int code, const char *msg)
{
	struct switch_log *l = arg;

	(void)level;
	if (code != RESPIO_E_FAILOVER)
		return;
	pthread_mutex_lock(&l->lock);
	snprintf(l->msg, sizeof(l->msg), "%s", msg);
	pthread_mutex_unlock(&l->lock);
}

/* SENTINEL FAILOVER with 16 threads writing: no future hangs, unsent
 * requests move to the new master, none of our connections stays on the
 * old one, a session in use fails with RESPIO_E_FAILOVER, and what is lost
 * is only what was on the wire at the promotion. */
Test(sentinel, planned_failover_under_load, .fini = stop_topology)
{
	struct sentinel_list l;
	respio_config cfg;
	respio_client *c;
	respio_session *s;
	respio_reply *r;
	respio_stats st;
	struct load load;
	long lost, backwards;
	int old = 0, now_master, rc;

	struct switch_log log = {.lock = PTHREAD_MUTEX_INITIALIZER};
	char want[128];

	start_topology(NULL);
	old = topo.master.port;
	sentinel_list(&l, 0);
	base_config(&cfg);
	cfg.log.fn = on_log;
	cfg.log.arg = &log;
	/* Asked often, so rediscoveries land inside the failover's hold (one
	 * that still named the old master used to lift it). */
	l.sc.cache_ms = 200;
	c = sentinel_client(&l, &cfg);
	cr_assert_eq(respio_begin(c, &s), 0);
	cr_assert_eq(respio_command(respio_session_target(s), 1, ARGV("PING"), NULL, &r), 0);
	respio_reply_free(r);

	load_start(&load, c, "planned");
	sleep_ms(1000);
	now_master = test_sentinel_failover(&topo);
	cr_assert_gt(now_master, 0, "the failover did not happen");
	sleep_ms(1000);

	/* The session's connection was on the old master. */
	rc = respio_command(respio_session_target(s), 1, ARGV("PING"), NULL, &r);
	cr_assert_eq(rc, RESPIO_E_FAILOVER, "session after the switch: %s", respio_err_name(rc));
	respio_end(s);
	cr_assert_eq(our_connections(old), 0, "connections left on the old master");
	cr_assert_gt(our_connections(now_master), 0);

	load_finish(&load, "SENTINEL FAILOVER", old, &lost, &backwards);
	respio_client_stats(c, &st, NULL, 0);
	cr_assert_eq(st.failovers, 1);
	cr_assert_geq(st.failover_holds, 1, "the failover's progress was not seen");
	cr_assert_gt(st.last_failover_ms, 0);
	snprintf(want, sizeof(want), "master moved from 127.0.0.1:%d to 127.0.0.1:%d", old,
		 now_master);
	pthread_mutex_lock(&log.lock);
	cr_assert(strstr(log.msg, want), "log: '%s', want '%s'", log.msg, want);
	pthread_mutex_unlock(&log.lock);
	/* Only what was on the wire at the promotion: at most one request per
	 * thread (each has one in flight). */
	cr_assert_leq(lost, LOAD_THREADS, "lost %ld acknowledged increments", lost);
	cr_assert_leq(backwards, LOAD_THREADS);
	respio_client_destroy(c);
}

/* Until every running Sentinel names a master other than old (at most
 * 30 s). */
static void wait_sentinels_switched(int old)
{
	for (int i = 0; i < 600; i++) {
		int now = test_sentinel_master_port(&topo);

		if (now > 0 && now != old)
			return;
		sleep_ms(50);
	}
}

static void fault_scenario(const char *name, int sig, int stopped_ms)
{
	struct sentinel_list l;
	respio_config cfg;
	respio_client *c;
	struct load load;
	test_server *old_node;
	long lost, backwards;
	int old;

	start_topology(NULL);
	old = topo.master.port;
	old_node = test_sentinel_node(&topo, old);
	sentinel_list(&l, 0);
	base_config(&cfg);
	c = sentinel_client(&l, &cfg);
	load_start(&load, c, name);
	sleep_ms(1000);
	test_server_signal(old_node, sig);
	if (sig == SIGSTOP) {
		/* Stopped for stopped_ms, and at least until the Sentinels have
		 * switched (a loaded machine slows them): it then comes back
		 * still claiming to be master. */
		int64_t t0 = now_ms();

		sleep_ms(stopped_ms);
		wait_sentinels_switched(old);
		cr_log_info("stopped for %lld ms", (long long)(now_ms() - t0));
		test_server_signal(old_node, SIGCONT);
	} else {
		/* Wait for the switch, then bring it back as a replica. */
		wait_sentinels_switched(old);
		cr_assert_eq(test_server_restart(old_node), 0);
	}
	cr_assert_eq(wait_failover(c), 1, "the client did not follow the failover");
	sleep_ms(1000);
	cr_assert_eq(our_connections(old), 0, "connections left on the old master");
	load_finish(&load, name, old, &lost, &backwards);
	/* A crash loses what had not replicated; a stopped master loses what
	 * was in flight when it stopped. Neither is more than a handful here,
	 * while a client that lingers on the demoted master loses thousands. */
	cr_assert_leq(lost + backwards, 4 * LOAD_THREADS, "lost %ld, backwards %ld", lost,
		      backwards);
	respio_client_destroy(c);
}

Test(sentinel, killed_master_under_load, .fini = stop_topology)
{
	fault_scenario("SIGKILL of the master", SIGKILL, 0);
}

/* The stale master: stopped for 6 s, it comes back still claiming to be
 * master for seconds after the Sentinels moved on. */
Test(sentinel, stopped_master_under_load, .fini = stop_topology)
{
	fault_scenario("SIGSTOP of the master for 6 s", SIGSTOP, 6000);
}

/* --- Sentinels failing ----------------------------------------------------- */

/* Kill the Sentinel the client asks first (subscribed like the others),
 * then fail over through the other two: the client follows. */
Test(sentinel, follows_a_failover_after_a_sentinel_dies, .fini = stop_topology)
{
	struct sentinel_list l;
	respio_config cfg;
	respio_client *c;
	respio_reply *r;
	int next;

	start_topology(NULL);
	sentinel_list(&l, 0);
	base_config(&cfg);
	c = sentinel_client(&l, &cfg);
	test_sentinel_signal_sentinel(&topo, 0, SIGKILL);
	next = test_sentinel_failover(&topo);
	cr_assert_gt(next, 0);
	cr_assert_eq(wait_failover(c), 1);
	cr_assert_eq(respio_command(respio_client_target(c), 3, ARGV("SET", "f:k", "1"), NULL, &r),
		     0);
	respio_reply_free(r);
	cr_assert_eq(get_int(next, "f:k"), 1);
	respio_client_destroy(c);
}

/* Every Sentinel down for 10 s: discovery backs off (no spinning), the
 * master keeps serving, and once they are back the client follows the next
 * failover. */
Test(sentinel, all_sentinels_down_then_back, .fini = stop_topology)
{
	struct sentinel_list l;
	respio_config cfg;
	respio_client *c;
	respio_reply *r;
	respio_stats st0, st1;
	int next;

	start_topology(NULL);
	sentinel_list(&l, 0);
	base_config(&cfg);
	l.sc.cache_ms = 200; /* ask often, so a spin would show */
	c = sentinel_client(&l, &cfg);
	for (int i = 0; i < TEST_SENTINELS; i++)
		test_sentinel_signal_sentinel(&topo, i, SIGKILL);
	respio_client_stats(c, &st0, NULL, 0);
	sleep_ms(10000);
	respio_client_stats(c, &st1, NULL, 0);
	/* Backing off from 100 ms to cache_ms: about 10 s / 200 ms = 50 asks
	 * at most; a spin would be thousands. */
	cr_log_info("rediscoveries while every Sentinel was down: %llu",
		    (unsigned long long)(st1.rediscoveries - st0.rediscoveries));
	cr_assert_leq(st1.rediscoveries - st0.rediscoveries, 80, "%llu asks in 10 s",
		      (unsigned long long)(st1.rediscoveries - st0.rediscoveries));
	cr_assert_eq(respio_command(respio_client_target(c), 3, ARGV("SET", "a:k", "1"), NULL, &r),
		     0, "the master stopped being served");
	respio_reply_free(r);
	for (int i = 0; i < TEST_SENTINELS; i++)
		cr_assert_eq(test_sentinel_restart_sentinel(&topo, i), 0);
	next = test_sentinel_failover(&topo);
	cr_assert_gt(next, 0);
	cr_assert_eq(wait_failover(c), 1, "the failover after the outage was not followed");
	respio_client_destroy(c);
}

/* No Sentinel answers at create: the configured address is the fallback.
 * Pointed at the replica, writes answer -READONLY; that sign makes the
 * client ask the Sentinels again once they are back, and it moves to the
 * master. */
Test(sentinel, readonly_from_a_replica_moves_the_client, .fini = stop_topology)
{
	struct sentinel_list l;
	respio_config cfg;
	respio_client *c;
	respio_reply *r = NULL;
	int rc = -1;

	start_topology(NULL);
	sentinel_list(&l, 0);
	base_config(&cfg);
	cfg.port = topo.replica.port;
	cfg.timeout_ms = 2000;
	for (int i = 0; i < TEST_SENTINELS; i++)
		test_sentinel_signal_sentinel(&topo, i, SIGSTOP);
	l.sc.timeout_ms = 200;
	c = sentinel_client(&l, &cfg);
	rc = respio_command(respio_client_target(c), 3, ARGV("SET", "ro:k", "1"), NULL, &r);
	respio_reply_free(r);
	cr_assert_eq(rc, RESPIO_E_SERVER, "a write on the replica: %s", respio_err_name(rc));
	for (int i = 0; i < TEST_SENTINELS; i++)
		test_sentinel_signal_sentinel(&topo, i, SIGCONT);
	for (int i = 0; i < 200; i++) {
		r = NULL;
		rc = respio_command(respio_client_target(c), 3, ARGV("SET", "ro:k", "1"), NULL, &r);
		respio_reply_free(r);
		if (rc == 0)
			break;
		sleep_ms(50);
	}
	cr_assert_eq(rc, 0, "still on the replica: %s", respio_err_name(rc));
	cr_assert_eq(get_int(topo.master.port, "ro:k"), 1);
	respio_client_destroy(c);
}

/* Configured with one Sentinel, the client learns the others from it: once
 * that one is dead, a failover through the others is still followed. */
Test(sentinel, learns_the_other_sentinels, .fini = stop_topology)
{
	struct sentinel_list l;
	respio_config cfg;
	respio_client *c;
	int next;

	start_topology(NULL);
	sentinel_list(&l, 0);
	l.sc.nhosts = 1;
	base_config(&cfg);
	c = sentinel_client(&l, &cfg);
	test_sentinel_signal_sentinel(&topo, 0, SIGKILL);
	next = test_sentinel_failover(&topo);
	cr_assert_gt(next, 0);
	cr_assert_eq(wait_failover(c), 1, "the Sentinels it was not given were not learned");
	respio_client_destroy(c);
}

/* For a respio_conn: where the master is, once. */
Test(sentinel, get_master_for_a_connection, .fini = stop_topology)
{
	struct sentinel_list l;
	char host[64];
	int port = 0;

	start_topology(NULL);
	sentinel_list(&l, 1);
	cr_assert_eq(respio_sentinel_get_master(&l.sc, host, sizeof(host), &port), 0);
	cr_assert_str_eq(host, "127.0.0.1");
	cr_assert_eq(port, topo.master.port);
	l.sc.nhosts = 1; /* only the dead one */
	cr_assert_eq(respio_sentinel_get_master(&l.sc, host, sizeof(host), &port),
		     RESPIO_E_NO_SENTINEL);
	l.sc.nhosts = 4;
	l.sc.master_name = "nosuchmaster";
	cr_assert_eq(respio_sentinel_get_master(&l.sc, host, sizeof(host), &port),
		     RESPIO_E_NOT_MASTER);
}

/* GET calls the data node at port has served (INFO commandstats). */
static long long get_calls(int port)
{
	char out[8192];
	const char *p;

	if (test_sentinel_command(port, NULL, out, sizeof(out), 2, ARGV("INFO", "commandstats")) <
	    0)
		return -1;
	p = strstr(out, "cmdstat_get:calls=");
	return p ? atoll(p + 18) : 0;
}

/* n GETs of key through the client: how many answered value. */
static int client_gets(respio_client *c, const char *key, const char *value, int n)
{
	int ok = 0;

	for (int i = 0; i < n; i++) {
		respio_reply *r = NULL;
		size_t len;
		const char *v;

		if (respio_command(respio_client_target(c), 2, ARGV("GET", key), NULL, &r) == 0 &&
		    (v = respio_reply_str(r, &len)) && len == strlen(value) &&
		    memcmp(v, value, len) == 0)
			ok++;
		respio_reply_free(r);
	}
	return ok;
}

/* Replica reads: reads go to the replica the Sentinels name while it is
 * fit, writes to the master; a replica that stops answering (SIGSTOP: no
 * reset, only the Sentinels' s_down) is left, and reads go to the master. */
Test(sentinel, replica_reads_move_off_a_stopped_replica, .fini = stop_topology)
{
	struct sentinel_list l;
	respio_config cfg;
	respio_client *c;
	respio_reply *r = NULL;
	long long on_replica, on_master;
	int ok = 0;
	char out[64];

	start_topology(NULL);
	sentinel_list(&l, 0);
	l.sc.replica_reads = true;
	base_config(&cfg);
	cfg.timeout_ms = 1000;
	cfg.pool.max_connections = 6; /* 2 shared, a replica link per shard, 2 leases */
	c = sentinel_client(&l, &cfg);
	cr_assert_eq(respio_command(respio_client_target(c), 3, ARGV("SET", "rr:k", "v"), NULL, &r),
		     0);
	respio_reply_free(r);
	for (int i = 0; i < 100; i++) {
		test_sentinel_command(topo.replica.port, NULL, out, sizeof(out), 2,
				      ARGV("GET", "rr:k"));
		if (strcmp(out, "v") == 0)
			break;
		sleep_ms(50);
	}
	/* The replica is picked by the Sentinel thread soon after create. */
	for (int i = 0; i < 100; i++) {
		on_replica = get_calls(topo.replica.port);
		on_master = get_calls(topo.master.port);
		cr_assert_eq(client_gets(c, "rr:k", "v", 20), 20);
		if (get_calls(topo.replica.port) - on_replica >= 20)
			break;
		sleep_ms(50);
	}
	cr_assert_geq(get_calls(topo.replica.port) - on_replica, 20,
		      "reads did not go to the replica");
	cr_assert_eq(get_calls(topo.master.port) - on_master, 0, "reads went to the master");

	test_server_signal(&topo.replica, SIGSTOP);
	on_master = get_calls(topo.master.port);
	/* Down after 1 s by the Sentinels: reads then go to the master. */
	for (int i = 0; i < 150 && ok < 20; i++)
		ok = client_gets(c, "rr:k", "v", 20);
	test_server_signal(&topo.replica, SIGCONT);
	cr_assert_eq(ok, 20, "reads did not move off the stopped replica");
	cr_assert_geq(get_calls(topo.master.port) - on_master, 20);
	respio_client_destroy(c);
}

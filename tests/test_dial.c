/* SPDX-License-Identifier: MIT */
/* The engine's dials (control.c and the shard's redial policy): what a failed
 * dial or handshake reports, backoff, concurrency, and allocation failures. */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <respio.h>

#include "clock.h"
#include "alloc_count.h"
#include "fake_server.h"
#include "server.h"

/* Servers live here so the suite's fini stops them even after a failed
 * assertion; each Criterion test runs in its own process. */
static test_server srv;
static bool srv_started;

static void stop_server(void)
{
	if (srv_started)
		test_server_stop(&srv);
	srv_started = false;
}

TestSuite(dial, .fini = stop_server, .timeout = 120);

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* A redis-server with extra config lines; skips when there is none. */
static void start_server(const char *const *extra)
{
	if (!test_have_redis_server())
		cr_skip_test("redis-server is not installed");
	cr_assert_eq(test_server_start(&srv, extra), 0, "redis-server did not start");
	srv_started = true;
}

static void small_config(respio_config *cfg, int port)
{
	respio_config_init(cfg);
	cfg->port = port;
	cfg->shards = 1;
	cfg->pool.min_connections = 1;
	cfg->timeout_ms = 2000;
	cfg->pool.connection_timeout_ms = 1000;
}

static respio_client *make_client(const respio_config *cfg)
{
	respio_client *c = NULL;
	int rc = respio_client_create(cfg, &c);

	cr_assert_eq(rc, 0, "create: %s (%s)", respio_err_name(rc), respio_client_errdetail(NULL));
	return c;
}

/* Submit one PING and wait for it; returns its status and fate. */
static int ping(respio_client *c, int *fate)
{
	respio_future *f = NULL;
	int rc = respio_submit(c, 1, (const char *const[]){"PING"}, NULL, &f);

	cr_assert_eq(rc, 0, "submit: %s", respio_err_name(rc));
	cr_assert_eq(respio_future_wait(f, 30000), 0, "future never completed");
	rc = respio_future_status(f);
	*fate = respio_future_fate(f);
	respio_future_release(f);
	return rc;
}

/* One command on a side connection, which must succeed. */
static void admin(respio_conn *a, int argc, const char *const *argv)
{
	respio_reply *r = NULL;
	int rc = respio_conn_command(a, argc, argv, NULL, &r);

	cr_assert_eq(rc, 0, "%s: %s (%s)", argv[0], respio_err_name(rc), respio_conn_errdetail(a));
	respio_reply_free(r);
}

static respio_conn *admin_conn(const char *password)
{
	respio_config cfg;
	respio_conn *a;

	respio_config_init(&cfg);
	cfg.port = srv.port;
	cfg.password = password;
	cr_assert_eq(respio_conn_create(&cfg, &a), 0);
	cr_assert_eq(respio_conn_connect(a), 0, "%s", respio_conn_errdetail(a));
	return a;
}

/*
 * The server's password changes under a running client, and its
 * connections are killed: the redials are refused in the handshake, and
 * requests say so (RESPIO_E_HANDSHAKE, never sent) with the server's words
 * in respio_client_last_error. want is what Redis 7 answers: NOAUTH to the
 * PING of a client without a password, WRONGPASS to a wrong AUTH.
 */
static void refused_after_password_change(const char *old_pw, const char *want)
{
	const char *extra[] = {old_pw ? "requirepass old-secret" : NULL, NULL};
	respio_config cfg;
	respio_client *c;
	respio_conn *a;
	char msg[256];
	int64_t t0, when = 0;
	int rc = 0, fate = 0, i;

	start_server(extra);
	small_config(&cfg, srv.port);
	cfg.password = old_pw;
	c = make_client(&cfg);
	cr_assert_eq(ping(c, &fate), 0);
	cr_assert_eq(respio_client_last_error(c, msg, sizeof(msg), &when), 0,
		     "no dial has failed yet");
	cr_assert_str_eq(msg, "");

	t0 = wall_ms();
	a = admin_conn(old_pw);
	admin(a, 4, (const char *const[]){"CONFIG", "SET", "requirepass", "new-secret"});
	/* SKIPME yes: the admin connection itself survives. */
	admin(a, 6, (const char *const[]){"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});

	/* The first request may still meet the dying connection (RESPIO_E_CLOSED);
	 * the ones after it meet the refused redial. */
	for (i = 0; i < 100; i++) {
		rc = ping(c, &fate);
		if (rc == RESPIO_E_HANDSHAKE)
			break;
		cr_assert_neq(rc, RESPIO_E_SERVER, "a refused handshake is no server reply");
		usleep(10000);
	}
	cr_assert_eq(rc, RESPIO_E_HANDSHAKE, "last status %s", respio_err_name(rc));
	cr_assert_eq(fate, RESPIO_FATE_NOT_SENT);

	rc = respio_client_last_error(c, msg, sizeof(msg), &when);
	cr_assert_eq(rc, RESPIO_E_HANDSHAKE, "last error %s", respio_err_name(rc));
	cr_assert(strstr(msg, want), "last error '%s' lacks '%s'", msg, want);
	cr_assert(when >= t0 - 1000 && when <= wall_ms() + 1000, "when_ms %lld is not now",
		  (long long)when);
	/* A small buffer gets a truncated, terminated copy. */
	cr_assert_eq(respio_client_last_error(c, msg, 5, NULL), RESPIO_E_HANDSHAKE);
	cr_assert_eq(strlen(msg), 4);
	cr_assert_eq(respio_client_last_error(c, NULL, 0, NULL), RESPIO_E_HANDSHAKE);

	respio_client_destroy(c);
	respio_conn_destroy(a);
}

Test(dial, requirepass_set_at_run_time_is_a_handshake_error)
{
	refused_after_password_change(NULL, "NOAUTH");
}

Test(dial, requirepass_changed_at_run_time_is_a_handshake_error)
{
	refused_after_password_change("old-secret", "WRONGPASS");
}

/* The server's one client slot is taken: create fails in the handshake and
 * the server's message is in the thread's error detail. */
Test(dial, max_clients_reached_fails_create_with_the_message)
{
	const char *extra[] = {"maxclients 1", NULL};
	respio_config cfg;
	respio_client *c = NULL;
	respio_conn *a;
	int rc;

	start_server(extra);
	a = admin_conn(NULL);
	/* The slot is ours once the server has let go of the connection that
	 * saw it start; until then it answers "max number of clients". */
	for (int i = 0;; i++) {
		respio_reply *r = NULL;

		rc = respio_conn_command(a, 1, (const char *const[]){"PING"}, NULL, &r);
		respio_reply_free(r);
		if (rc == 0)
			break;
		cr_assert_lt(i, 100, "the one client slot never came free");
		usleep(20000);
	}
	small_config(&cfg, srv.port);
	rc = respio_client_create(&cfg, &c);
	cr_assert_eq(rc, RESPIO_E_HANDSHAKE, "create: %s (%s)", respio_err_name(rc),
		     respio_client_errdetail(NULL));
	cr_assert_null(c);
	cr_assert(strstr(respio_client_errdetail(NULL), "max number of clients"), "detail: '%s'",
		  respio_client_errdetail(NULL));
	respio_conn_destroy(a);
}

Test(dial, wrong_password_fails_create_with_the_message)
{
	const char *extra[] = {"requirepass right", NULL};
	respio_config cfg;
	respio_client *c = NULL;
	int rc;

	start_server(extra);
	small_config(&cfg, srv.port);
	cfg.password = "wrong";
	rc = respio_client_create(&cfg, &c);
	cr_assert_eq(rc, RESPIO_E_HANDSHAKE, "create: %s", respio_err_name(rc));
	cr_assert(strstr(respio_client_errdetail(NULL), "WRONGPASS"), "detail: '%s'",
		  respio_client_errdetail(NULL));
	/* A connect error keeps its errno, and says where. */
	small_config(&cfg, test_free_port());
	rc = respio_client_create(&cfg, &c);
	cr_assert_eq(rc, -ECONNREFUSED, "create: %s", respio_err_name(rc));
	cr_assert(strstr(respio_client_errdetail(NULL), "refused"), "detail: '%s'",
		  respio_client_errdetail(NULL));
}

/*
 * A real server answers -LOADING while it loads its dataset, but cannot be
 * held in that state reliably (DEBUG RELOAD of a small dataset takes
 * milliseconds), so the fake plays it.
 */
Test(dial, loading_server_fails_create_with_the_message)
{
	static const fake_script loading = {
	    .reply = "-LOADING Redis is loading the dataset in memory\r\n"};
	respio_config cfg;
	respio_client *c = NULL;
	fake_server *fs;
	int rc;

	cr_assert_eq(fake_server_start(&loading, &fs), 0);
	small_config(&cfg, fake_server_port(fs));
	rc = respio_client_create(&cfg, &c);
	cr_assert_eq(rc, RESPIO_E_HANDSHAKE, "create: %s", respio_err_name(rc));
	cr_assert(strstr(respio_client_errdetail(NULL), "LOADING Redis is loading"), "detail: '%s'",
		  respio_client_errdetail(NULL));
	fake_server_stop(fs);
}

/*
 * A server (or a proxy in front of a dead one) that accepts, answers the
 * handshake, then closes at once. Each such connection counts as a failed
 * attempt: the redials back off (50 ms doubling, jittered) instead of
 * looping at dial speed. With the first short-lived connection redialed at
 * once, the earliest the 8th connection can come is 2550 ms after the 1st.
 */
Test(dial, connections_dying_young_back_off)
{
	static const fake_script closer = {.reply = "+PONG\r\n", .close_after = true};
	respio_config cfg;
	respio_client *c;
	fake_server *fs;
	int n;

	cr_assert_eq(fake_server_start(&closer, &fs), 0);
	small_config(&cfg, fake_server_port(fs));
	c = make_client(&cfg);
	usleep(2000 * 1000);
	n = fake_server_connections(fs);
	cr_log_info("%d connections in 2 s to a server that closes each after the handshake", n);
	cr_assert_geq(n, 3, "the client stopped redialing");
	cr_assert_leq(n, 7, "%d connections in 2 s: a redial loop, not a backoff", n);
	respio_client_destroy(c);
	fake_server_stop(fs);
}

/*
 * Failed dials back off from 50 ms, doubling to 2 s, with jitter in
 * [d/2, d] (engine/shard.c, backoff_ns). The fake answers create's dial
 * and one request, then closes that connection: one that served traffic
 * is redialed at once; every later connection is closed as soon as it is
 * accepted, so each redial fails its handshake and the next waits out the
 * k-th backoff, d_k = min(50 ms * 2^(k-1), 2 s). From the accept times,
 * the gap before the (k+1)-th failed dial's successor must be at least
 * d_k / 2 (a backoff never ends early: this is what a fixed or slower
 * growing delay fails) and at most d_k plus the dial's own time, allowed
 * max(d_k / 4, 500 ms) here (a faster growth, or a missing cap, fails
 * this); and at least one gap from d_k = 200 ms on must be below 0.95 d_k,
 * which a delay without jitter never is (with jitter, all six miss with a
 * probability of about 1e-5).
 */
Test(dial, redials_back_off_doubling_with_jitter)
{
	enum { GAPS = 8 };
	static const fake_script closer = {.first_reply = "+PONG\r\n",
					   .reply = "+PONG\r\n",
					   .close_after = true,
					   .serve_connections = 1};
	respio_config cfg;
	respio_client *c;
	fake_server *fs;
	long long t[GAPS + 2];
	int64_t end;
	int fate, n, jittered = 0;
	respio_stats st;

	cr_assert_eq(fake_server_start(&closer, &fs), 0);
	small_config(&cfg, fake_server_port(fs));
	cfg.pool.max_connections = 1;
	c = make_client(&cfg);
	cr_assert_eq(ping(c, &fate), 0, "the served connection's request");
	/* Connection 1 is create's; 2 its immediate redial; 3.. after backoffs. */
	end = now_ms() + 30000;
	while (fake_server_accept_times(fs, t, GAPS + 2) < GAPS + 2 && now_ms() < end)
		usleep(10000);
	n = fake_server_accept_times(fs, t, GAPS + 2);
	cr_assert_geq(n, GAPS + 2, "%d connections in 30 s", n);
	for (int k = 1; k <= GAPS; k++) {
		long long d = 50LL << (k - 1), gap = (t[k + 1] - t[k]) / 1000000, slack;

		if (d > 2000)
			d = 2000;
		slack = d / 4 > 500 ? d / 4 : 500;
		cr_log_info("backoff %d: %lld ms after the failed dial (d = %lld ms)", k, gap, d);
		cr_assert_geq(gap, d / 2, "backoff %d: %lld ms, below d/2 = %lld ms", k, gap,
			      d / 2);
		cr_assert_leq(gap, d + slack, "backoff %d: %lld ms, above d = %lld ms (+%lld)", k,
			      gap, d, slack);
		jittered += d >= 200 && gap * 100 < d * 95;
	}
	cr_assert_gt(jittered, 0, "no backoff from 200 ms on was below 0.95 d: no jitter");
	respio_client_stats(c, &st, NULL, 0);
	cr_assert_geq(st.dial_failures, GAPS, "%llu failed dials",
		      (unsigned long long)st.dial_failures);
	respio_client_destroy(c);
	fake_server_stop(fs);
}

/* A PING succeeds within limit_ms. */
static bool recovers(respio_client *c, int64_t limit_ms)
{
	int64_t end = now_ms() + limit_ms;
	int fate;

	while (now_ms() < end) {
		if (ping(c, &fate) == 0)
			return true;
		usleep(20000);
	}
	return false;
}

/*
 * Regression: with no memory for the dial request, or for the message that
 * answers it, a slot stayed "dialing" for ever and every request routed to
 * it timed out. Here every allocation of the engine's threads fails while
 * the client's connection is killed and redialed; once memory is back the
 * client must recover on its own.
 */
Test(dial, failed_allocations_do_not_strand_a_connection)
{
	respio_config cfg;
	respio_client *c;
	respio_conn *a;
	respio_stats st;
	int64_t end;
	long failed;
	int fate;

	if (!alloc_count_available())
		cr_skip_test("allocations cannot be failed in sanitizer builds");
	start_server(NULL);
	small_config(&cfg, srv.port);
	cfg.timeout_ms = 500;
	c = make_client(&cfg);
	cr_assert_eq(ping(c, &fate), 0);
	a = admin_conn(NULL);

	alloc_fail_start("respio-");
	admin(a, 6, (const char *const[]){"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
	/* Until the redial has met the failing heap (before the fix, nothing
	 * ever counted it: the slot was stuck). */
	end = now_ms() + 10000;
	do {
		usleep(10000);
		respio_client_stats(c, &st, NULL, 0);
	} while ((st.reconnects == 0 || st.dial_failures == 0) && now_ms() < end);
	failed = alloc_fail_stop();

	cr_assert_geq(st.reconnects, 1, "the connection was not lost");
	cr_assert_gt(failed, 0, "no allocation failed: nothing was tested");
	cr_log_info("%ld allocations failed on the engine's threads", failed);
	cr_assert(recovers(c, 10000), "the connection was never redialed");
	respio_client_destroy(c);
	respio_conn_destroy(a);
}

/*
 * Dials run side by side. Against a server that accepts and never answers,
 * a dial lasts connection_timeout_ms; one at a time, the 7 connections
 * after create's would take 3.5 s, every one waiting behind the others.
 * The fake lets create's dial through, then holds every connection: at
 * least two dials must be waiting on it at once.
 */
Test(dial, dials_run_concurrently)
{
	static const fake_script stuck = {
	    .first_reply = "+PONG\r\n", .hold = true, .hold_after = 1};
	respio_config cfg;
	respio_client *c;
	fake_server *fs;
	int64_t end, t0;
	int peak;

	cr_assert_eq(fake_server_start(&stuck, &fs), 0);
	small_config(&cfg, fake_server_port(fs));
	cfg.shards = 2;
	cfg.pool.min_connections = 8;
	cfg.pool.connection_timeout_ms = 500;
	c = make_client(&cfg);
	/* Done when two dials wait at once, or when all 8 connections were
	 * made (one at a time, that is 3 s in). */
	end = now_ms() + 10000;
	while (fake_server_peak_waiting(fs) < 2 && fake_server_connections(fs) < 8 &&
	       now_ms() < end)
		usleep(5000);
	peak = fake_server_peak_waiting(fs);
	cr_log_info("%d dials waited on the server at once (%d connections)", peak,
		    fake_server_connections(fs));
	cr_assert_geq(peak, 2, "dials ran one at a time (%d connections made)",
		      fake_server_connections(fs));
	/* Destroy with dials in progress: each ends within its timeout. */
	t0 = now_ms();
	respio_client_destroy(c);
	cr_log_info("destroy took %lld ms", (long long)(now_ms() - t0));
	fake_server_stop(fs);
}

/* Every connection of a larger pool comes up against a real server. */
Test(dial, all_connections_come_up)
{
	respio_config cfg;
	respio_client *c;
	respio_stats st;
	int64_t end;

	start_server(NULL);
	small_config(&cfg, srv.port);
	cfg.shards = 4;
	cfg.pool.min_connections = 8;
	c = make_client(&cfg);
	end = now_ms() + 10000;
	do {
		usleep(5000);
		respio_client_stats(c, &st, NULL, 0);
	} while (st.connections_total < 8 && now_ms() < end);
	cr_assert_eq(st.connections_total, 8);
	cr_assert_eq(st.dial_failures, 0);
	respio_client_destroy(c);
}

/* From now on io_uring_setup fails with ENOSYS for the calling thread and
 * the threads it starts, as under a container's seccomp profile that
 * forbids io_uring. The test's process is its own (Criterion). */
static void forbid_io_uring(void)
{
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

	cr_assert_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	cr_assert_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0, "seccomp: %s",
		     strerror(errno));
}

/*
 * Regression: the answer to create's own dial is slot 0's message (struct
 * respio__dial). When no shard could start (no io_uring), it was still in
 * the mailbox as destroy freed the slots, and shard_fini read it from
 * freed memory (AddressSanitizer: heap-use-after-free).
 */
Test(dial, create_without_io_uring_fails_cleanly)
{
	respio_config cfg;
	respio_client *c = NULL;
	int rc;

	start_server(NULL);
	small_config(&cfg, srv.port);
	forbid_io_uring();
	rc = respio_client_create(&cfg, &c);
	cr_assert_eq(rc, -ENOSYS, "create: %s", respio_err_name(rc));
	cr_assert_null(c);
	cr_assert_neq(respio_client_errdetail(NULL)[0], '\0', "create said nothing");
}

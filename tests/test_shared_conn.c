/* SPDX-License-Identifier: MIT */
/* The shared, pipelined connection against a real redis-server: a slow or
 * timed-out request does not fail its neighbours, the connection survives
 * a timeout, and a server that stops answering is still left behind. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <respio.h>

#include "server.h"

static test_server srv;
static bool have_srv;

static void setup(void)
{
	if (test_have_redis_server())
		have_srv = test_server_start(&srv, NULL) == 0;
}

static void teardown(void)
{
	if (have_srv)
		test_server_stop(&srv);
}

TestSuite(shared_conn, .init = setup, .fini = teardown, .timeout = 120);

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* One shard, one connection: every request shares it. */
static respio_client *one_conn_client(int timeout_ms)
{
	respio_config cfg;
	respio_client *c = NULL;
	int rc;

	if (!test_have_redis_server())
		cr_skip_test("redis-server is not installed");
	cr_assert(have_srv, "redis-server did not start");
	respio_config_init(&cfg);
	cfg.port = srv.port;
	cfg.shards = 1;
	cfg.timeout_ms = timeout_ms;
	cfg.pool.min_connections = 1;
	cfg.pool.max_connections = 1;
	cfg.pool.connection_timeout_ms = 500;
	rc = respio_client_create(&cfg, &c);
	cr_assert_eq(rc, 0, "create: %s", respio_err_name(rc));
	return c;
}

static respio_future *submit_opts(respio_client *c, int64_t timeout_ms, int argc,
				  const char *const *argv)
{
	respio_submit_opts o = {.timeout_ms = timeout_ms};
	respio_future *f = NULL;
	int rc = respio_submit_with(c, &o, argc, argv, NULL, &f);

	cr_assert_eq(rc, 0, "submit %s: %s", argv[0], respio_err_name(rc));
	return f;
}

static int settle(respio_future *f)
{
	cr_assert_eq(respio_future_wait(f, 30000), 0, "future never completed");
	return respio_future_status(f);
}

static long long client_id(respio_client *c)
{
	respio_future *f = submit_opts(c, 0, 2, (const char *const[]){"CLIENT", "ID"});
	long long id;

	cr_assert_eq(settle(f), 0);
	id = respio_reply_integer(respio_future_reply(f));
	respio_future_release(f);
	return id;
}

static uint64_t reconnects(respio_client *c)
{
	respio_stats st;

	respio_client_stats(c, &st, NULL, 0);
	return st.reconnects;
}

/* Keeps the server busy for about ms milliseconds: a script that spins on
 * TIME, so no DEBUG command is needed. */
static respio_future *submit_busy_script(respio_client *c, int ms, int64_t timeout_ms)
{
	char script[256];

	snprintf(script, sizeof(script),
		 "local t = redis.call('TIME') local s = t[1] * 1000000 + t[2] "
		 "repeat local n = redis.call('TIME') until n[1] * 1000000 + n[2] - s > %d "
		 "return 1",
		 ms * 1000);
	return submit_opts(c, timeout_ms, 3, (const char *const[]){"EVAL", script, "0"});
}

/*
 * The review's reproduction: a connection idle for longer than the stall
 * limit, then a request that times out while a slow command runs, and a
 * second request with a long deadline behind it. The timed-out request
 * must not fail the second one early, nor close the connection.
 */
Test(shared_conn, timeout_after_idle_spares_neighbours)
{
	respio_client *c = one_conn_client(1000);
	long long id = client_id(c);
	respio_future *slow, *set, *get;
	int64_t t0, took;

	sleep_ms(3000); /* idle: nothing received for 3 s */
	t0 = now_ms();
	slow = submit_busy_script(c, 1500, 0);
	sleep_ms(800);
	set = submit_opts(c, 5000, 3, (const char *const[]){"SET", "neighbour", "kept"});

	cr_assert_eq(settle(slow), -ETIMEDOUT);
	cr_assert_eq(respio_future_fate(slow), RESPIO_FATE_SENT);
	took = now_ms() - t0;
	cr_assert_geq(took, 900, "timed out after %lld ms", (long long)took);

	cr_assert_eq(settle(set), 0, "SET behind the timed-out request: %s (fate %d)",
		     respio_err_name(respio_future_status(set)), respio_future_fate(set));
	cr_assert_eq(respio_reply_type(respio_future_reply(set)), RESPIO_REPLY_STATUS);
	respio_future_release(slow);
	respio_future_release(set);

	/* The same connection serves the next requests with their own
	 * replies: the late reply of the slow script was read and dropped. */
	get = submit_opts(c, 0, 2, (const char *const[]){"GET", "neighbour"});
	cr_assert_eq(settle(get), 0);
	cr_assert_eq(respio_reply_type(respio_future_reply(get)), RESPIO_REPLY_STRING);
	respio_future_release(get);
	cr_assert_eq(client_id(c), id, "the connection was replaced");
	cr_assert_eq(reconnects(c), 0);
	respio_client_destroy(c);
}

/* A request that times out leaves the connection open: the next request is
 * answered on the same connection (same CLIENT ID) with its own reply, not
 * the late one. */
Test(shared_conn, late_reply_dropped_on_same_connection)
{
	respio_client *c = one_conn_client(5000);
	long long id = client_id(c);
	respio_future *slow, *echo;
	size_t len;
	const char *s;

	slow = submit_busy_script(c, 800, 200);
	cr_assert_eq(settle(slow), -ETIMEDOUT);
	cr_assert_eq(respio_future_fate(slow), RESPIO_FATE_SENT);
	respio_future_release(slow);

	echo = submit_opts(c, 0, 2, (const char *const[]){"ECHO", "own"});
	cr_assert_eq(settle(echo), 0);
	s = respio_reply_str(respio_future_reply(echo), &len);
	cr_assert(len == 3 && !memcmp(s, "own", 3), "got '%.*s'", (int)len, s);
	respio_future_release(echo);
	cr_assert_eq(client_id(c), id, "the connection was replaced");
	cr_assert_eq(reconnects(c), 0);
	respio_client_destroy(c);
}

/*
 * A server that stops answering (SIGSTOP) is still left behind: once the
 * requests on the connection have timed out and nothing arrived for the
 * stall limit, the connection is replaced, and after SIGCONT the requests
 * go to a new connection (another CLIENT ID).
 */
Test(shared_conn, stopped_server_connection_replaced)
{
	respio_client *c = one_conn_client(300);
	long long id = client_id(c), id2 = -1;
	respio_future *f;
	int64_t end;

	test_server_signal(&srv, SIGSTOP);
	f = submit_opts(c, 0, 1, (const char *const[]){"PING"});
	cr_assert_eq(settle(f), -ETIMEDOUT);
	cr_assert_eq(respio_future_fate(f), RESPIO_FATE_SENT);
	respio_future_release(f);
	/* The stall limit is max(timeout, 1 s): wait for the replacement. */
	end = now_ms() + 10000;
	while (reconnects(c) == 0 && now_ms() < end)
		sleep_ms(20);
	test_server_signal(&srv, SIGCONT);
	cr_assert_geq(reconnects(c), 1, "the stalled connection was not replaced");

	end = now_ms() + 15000;
	while (now_ms() < end) {
		respio_future *g = submit_opts(c, 2000, 2, (const char *const[]){"CLIENT", "ID"});

		respio_future_wait(g, 30000);
		if (respio_future_status(g) == 0)
			id2 = respio_reply_integer(respio_future_reply(g));
		respio_future_release(g);
		if (id2 >= 0)
			break;
		sleep_ms(50);
	}
	cr_assert_geq(id2, 0, "no recovery after SIGCONT");
	cr_assert_neq(id2, id, "still on the old connection");
	respio_client_destroy(c);
}

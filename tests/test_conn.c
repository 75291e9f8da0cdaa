/* SPDX-License-Identifier: MIT */
/* The blocking connection against real redis-server processes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <respio.h>

#include "server.h"

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/*
 * Servers live in static slots and the suite's fini stops them, so a test
 * whose assertion fails (and so never reaches its own stop) does not leave
 * a redis-server behind. Each Criterion test runs in its own process.
 */
static test_server servers[2];
static int nservers;

static void stop_servers(void)
{
	for (int i = 0; i < nservers; i++)
		test_server_stop(&servers[i]);
	nservers = 0;
}

TestSuite(conn, .fini = stop_servers);

/* A server with extra config lines; skips the test when redis-server is
 * missing. With optional, a failed start returns NULL instead of failing. */
static test_server *start_opt(const char *const *extra, bool optional)
{
	test_server *s = &servers[nservers];

	if (!test_have_redis_server())
		cr_skip_test("redis-server is not installed");
	cr_assert_lt(nservers, 2);
	if (test_server_start(s, extra) != 0) {
		test_server_stop(s);
		cr_assert(optional, "redis-server did not start");
		return NULL;
	}
	nservers++;
	return s;
}

static test_server *start(const char *const *extra)
{
	return start_opt(extra, false);
}

static respio_conn *open_conn(const test_server *s, int protocol)
{
	respio_config cfg;
	respio_conn *c;
	int rc;

	respio_config_init(&cfg);
	cfg.port = s->port;
	cfg.protocol = protocol;
	cr_assert_eq(respio_conn_create(&cfg, &c), 0);
	rc = respio_conn_connect(c);
	cr_assert_eq(rc, 0, "connect: %s (%s)", respio_err_name(rc), respio_conn_errdetail(c));
	return c;
}

/* Run a NUL-terminated command; returns the reply (asserting success). */
static respio_reply *cmd(respio_conn *c, int argc, const char *const *argv)
{
	respio_reply *r = NULL;
	int rc = respio_conn_command(c, argc, argv, NULL, &r);

	cr_assert_eq(rc, 0, "%s: %s (%s)", argv[0], respio_err_name(rc), respio_conn_errdetail(c));
	cr_assert_not_null(r);
	return r;
}

static void expect_text(const respio_reply *r, enum respio_reply_type type, const char *text)
{
	size_t len = 0;
	const char *s = respio_reply_str(r, &len);

	cr_assert_eq(respio_reply_type(r), type, "type %d, expected %d", respio_reply_type(r),
		     type);
	cr_assert_eq(len, strlen(text));
	cr_assert_eq(memcmp(s, text, len), 0, "got '%.*s', expected '%s'", (int)len, s, text);
}

static void ping(respio_conn *c)
{
	const char *argv[] = {"PING"};
	respio_reply *r = cmd(c, 1, argv);

	expect_text(r, RESPIO_REPLY_STATUS, "PONG");
	respio_reply_free(r);
}

Test(conn, connect_command_disconnect)
{
	test_server *s;
	respio_conn *c;
	respio_reply *r = (respio_reply *)1;
	const char *argv[] = {"PING"};

	s = start(NULL);
	c = open_conn(s, 2);
	cr_assert(respio_conn_is_connected(c));
	cr_assert_geq(respio_conn_fd(c), 0);
	cr_assert_eq(respio_conn_protocol(c), 2);
	ping(c);
	cr_assert_str_eq(respio_conn_errdetail(c), "");

	respio_conn_disconnect(c);
	cr_assert_not(respio_conn_is_connected(c));
	cr_assert_eq(respio_conn_fd(c), -1);
	cr_assert_eq(respio_conn_protocol(c), 0);
	cr_assert_eq(respio_conn_command(c, 1, argv, NULL, &r), RESPIO_E_NOT_CONNECTED);
	cr_assert_null(r);

	cr_assert_eq(respio_conn_connect(c), 0);
	ping(c);
	respio_conn_destroy(c);
	test_server_stop(s);
}

Test(conn, never_connected_fails_not_connected)
{
	respio_config cfg;
	respio_conn *c;
	respio_reply *r = NULL;
	const char *argv[] = {"PING"};

	respio_config_init(&cfg);
	cfg.port = 1; /* never dialled */
	cr_assert_eq(respio_conn_create(&cfg, &c), 0);
	cr_assert_not(respio_conn_is_connected(c));
	cr_assert_eq(respio_conn_command(c, 1, argv, NULL, &r), RESPIO_E_NOT_CONNECTED);
	cr_assert_null(r);
	cr_assert_eq(respio_conn_append(c, 1, argv, NULL), RESPIO_E_NOT_CONNECTED);
	cr_assert_eq(respio_conn_flush(c), RESPIO_E_NOT_CONNECTED);
	cr_assert_eq(respio_conn_read_reply(c, 0, &r), RESPIO_E_NOT_CONNECTED);
	cr_assert_neq(respio_conn_errdetail(c)[0], '\0');
	respio_conn_destroy(c);
	respio_conn_destroy(NULL);
}

Test(conn, create_rejects_bad_config)
{
	respio_config cfg;
	respio_conn *c = (respio_conn *)1;

	respio_config_init(&cfg);
	cfg.protocol = 4;
	cr_assert_eq(respio_conn_create(&cfg, &c), RESPIO_E_INVAL);
	cr_assert_null(c);
	respio_config_init(&cfg);
	cfg.port = 70000;
	cr_assert_eq(respio_conn_create(&cfg, &c), RESPIO_E_INVAL);
	respio_config_init(&cfg);
	cfg.username = "bob"; /* a user needs a password */
	cr_assert_eq(respio_conn_create(&cfg, &c), RESPIO_E_INVAL);
	cr_assert_eq(respio_conn_create(NULL, &c), RESPIO_E_INVAL);
}

Test(conn, resp2_and_resp3_hgetall_shapes)
{
	test_server *s;
	const char *hset[] = {"HSET", "h", "f1", "v1", "f2", "v2"};
	const char *hgetall[] = {"HGETALL", "h"};

	s = start(NULL);
	for (int proto = 2; proto <= 3; proto++) {
		respio_conn *c = open_conn(s, proto);
		respio_reply *r;

		cr_assert_eq(respio_conn_protocol(c), proto);
		respio_reply_free(cmd(c, 6, hset));
		r = cmd(c, 2, hgetall);
		if (proto == 3) {
			cr_assert_eq(respio_reply_type(r), RESPIO_REPLY_MAP);
			cr_assert_eq(respio_reply_len(r), 2);
		} else {
			cr_assert_eq(respio_reply_type(r), RESPIO_REPLY_ARRAY);
			cr_assert_eq(respio_reply_len(r), 4);
		}
		respio_reply_free(r);
		respio_conn_destroy(c);
	}
	test_server_stop(s);
}

static respio_conn *try_conn(const test_server *s, int proto, const char *user, const char *pass,
			     int *rc)
{
	respio_config cfg;
	respio_conn *c;

	respio_config_init(&cfg);
	cfg.port = s->port;
	cfg.protocol = proto;
	cfg.username = user;
	cfg.password = pass;
	cr_assert_eq(respio_conn_create(&cfg, &c), 0);
	*rc = respio_conn_connect(c);
	return c;
}

Test(conn, auth_with_requirepass)
{
	static const char *const extra[] = {"requirepass s3cret", NULL};
	test_server *s;

	s = start(extra);
	for (int proto = 2; proto <= 3; proto++) {
		int rc;
		respio_conn *c = try_conn(s, proto, NULL, "s3cret", &rc);

		cr_assert_eq(rc, 0, "proto %d: %s (%s)", proto, respio_err_name(rc),
			     respio_conn_errdetail(c));
		ping(c);
		respio_conn_destroy(c);

		/* Without a password the server refuses commands. */
		c = try_conn(s, 2, NULL, NULL, &rc);
		cr_assert_eq(rc, 0);
		{
			const char *argv[] = {"PING"};
			respio_reply *r = NULL;

			cr_assert_eq(respio_conn_command(c, 1, argv, NULL, &r), RESPIO_E_SERVER);
			cr_assert_eq(respio_reply_type(r), RESPIO_REPLY_ERROR);
			cr_assert(strstr(respio_conn_errdetail(c), "NOAUTH"));
			respio_reply_free(r);
		}
		respio_conn_destroy(c);
	}
	test_server_stop(s);
}

Test(conn, auth_with_acl_user)
{
	static const char *const extra[] = {"user bob on >pw ~* +@all", NULL};
	test_server *s;

	s = start(extra);
	for (int proto = 2; proto <= 3; proto++) {
		const char *whoami[] = {"ACL", "WHOAMI"};
		int rc;
		respio_conn *c = try_conn(s, proto, "bob", "pw", &rc);
		respio_reply *r;

		cr_assert_eq(rc, 0, "proto %d: %s (%s)", proto, respio_err_name(rc),
			     respio_conn_errdetail(c));
		cr_assert_eq(respio_conn_protocol(c), proto);
		r = cmd(c, 2, whoami);
		cr_assert_str_eq(respio_reply_str(r, NULL), "bob");
		respio_reply_free(r);
		respio_conn_destroy(c);
	}
	test_server_stop(s);
}

Test(conn, wrong_password_is_server_error)
{
	static const char *const extra[] = {"requirepass s3cret", "user bob on >pw ~* +@all", NULL};
	test_server *s;

	s = start(extra);
	for (int proto = 2; proto <= 3; proto++) {
		int rc;
		respio_conn *c = try_conn(s, proto, NULL, "wrong", &rc);

		cr_assert_eq(rc, RESPIO_E_SERVER, "proto %d: %s", proto, respio_err_name(rc));
		cr_assert(strstr(respio_conn_errdetail(c), "WRONGPASS"), "detail: %s",
			  respio_conn_errdetail(c));
		cr_assert(strstr(respio_conn_errdetail(c), proto == 3 ? "HELLO" : "AUTH"));
		cr_assert_not(respio_conn_is_connected(c));
		respio_conn_destroy(c);

		c = try_conn(s, proto, "bob", "nope", &rc);
		cr_assert_eq(rc, RESPIO_E_SERVER);
		cr_assert(strstr(respio_conn_errdetail(c), "WRONGPASS"));
		respio_conn_destroy(c);
	}
	test_server_stop(s);
}

Test(conn, select_db)
{
	test_server *s;
	respio_config cfg;
	respio_conn *c3, *c0;
	respio_reply *r;
	const char *set[] = {"SET", "only-in-3", "x"};
	const char *get[] = {"GET", "only-in-3"};

	s = start(NULL);
	respio_config_init(&cfg);
	cfg.port = s->port;
	cfg.db = 3;
	cr_assert_eq(respio_conn_create(&cfg, &c3), 0);
	cr_assert_eq(respio_conn_connect(c3), 0, "%s", respio_conn_errdetail(c3));
	respio_reply_free(cmd(c3, 3, set));
	r = cmd(c3, 2, get);
	expect_text(r, RESPIO_REPLY_STRING, "x");
	respio_reply_free(r);

	c0 = open_conn(s, 2);
	r = cmd(c0, 2, get);
	cr_assert_eq(respio_reply_type(r), RESPIO_REPLY_NIL);
	respio_reply_free(r);

	/* The db survives a reconnect: SELECT runs again in the handshake. */
	cr_assert_eq(respio_conn_connect(c3), 0);
	r = cmd(c3, 2, get);
	expect_text(r, RESPIO_REPLY_STRING, "x");
	respio_reply_free(r);
	respio_conn_destroy(c3);
	respio_conn_destroy(c0);

	cfg.db = 99;
	cr_assert_eq(respio_conn_create(&cfg, &c3), 0);
	cr_assert_eq(respio_conn_connect(c3), RESPIO_E_SERVER);
	cr_assert(strstr(respio_conn_errdetail(c3), "SELECT"), "%s", respio_conn_errdetail(c3));
	cr_assert_not(respio_conn_is_connected(c3));
	respio_conn_destroy(c3);
	test_server_stop(s);
}

Test(conn, connection_refused)
{
	respio_config cfg;
	respio_conn *c;
	int port = test_free_port();

	cr_assert_gt(port, 0);
	respio_config_init(&cfg);
	cfg.port = port;
	cr_assert_eq(respio_conn_create(&cfg, &c), 0);
	cr_assert_eq(respio_conn_connect(c), -ECONNREFUSED);
	cr_assert(strstr(respio_conn_errdetail(c), "connect to 127.0.0.1:"), "%s",
		  respio_conn_errdetail(c));
	cr_assert_not(respio_conn_is_connected(c));
	respio_conn_destroy(c);
}

Test(conn, unresolvable_host)
{
	respio_config cfg;
	respio_conn *c;

	respio_config_init(&cfg);
	cfg.host = "no-such-host.invalid";
	cr_assert_eq(respio_conn_create(&cfg, &c), 0);
	cr_assert_eq(respio_conn_connect(c), RESPIO_E_RESOLVE);
	cr_assert(strstr(respio_conn_errdetail(c), "no-such-host.invalid"));
	respio_conn_destroy(c);
}

Test(conn, ipv6_and_localhost)
{
	static const char *const extra[] = {"bind 127.0.0.1 ::1", NULL};
	static const char *const hosts[] = {"::1", "localhost", "127.0.0.1"};
	test_server *s;

	s = start_opt(extra, true);
	if (!s)
		cr_skip_test("redis-server cannot bind ::1 (no IPv6 loopback?)");
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		respio_config cfg;
		respio_conn *c;
		int rc;

		respio_config_init(&cfg);
		cfg.host = hosts[i];
		cfg.port = s->port;
		cr_assert_eq(respio_conn_create(&cfg, &c), 0);
		rc = respio_conn_connect(c);
		cr_assert_eq(rc, 0, "%s: %s", hosts[i], respio_conn_errdetail(c));
		ping(c);
		respio_conn_destroy(c);
	}
	test_server_stop(s);
}

Test(conn, server_killed_then_reconnect)
{
	test_server *s;
	respio_conn *c;
	respio_reply *r = NULL;
	const char *argv[] = {"PING"};
	int rc;

	s = start(NULL);
	c = open_conn(s, 2);
	ping(c);
	test_server_signal(s, SIGKILL);
	rc = respio_conn_command(c, 1, argv, NULL, &r);
	cr_assert(rc == RESPIO_E_CLOSED || rc == -ECONNRESET || rc == -EPIPE, "got %s",
		  respio_err_name(rc));
	cr_assert_null(r);
	cr_assert_not(respio_conn_is_connected(c));

	/* Still down: the reconnect attempt itself fails. */
	rc = respio_conn_command(c, 1, argv, NULL, &r);
	cr_assert_eq(rc, -ECONNREFUSED, "got %s", respio_err_name(rc));

	cr_assert_eq(test_server_restart(s), 0);
	ping(c); /* reconnects first */
	cr_assert(respio_conn_is_connected(c));
	respio_conn_destroy(c);
	test_server_stop(s);
}

Test(conn, connect_reconnects_open_conn)
{
	test_server *s;
	respio_conn *c;
	const char *id[] = {"CLIENT", "ID"};
	long long a, b;
	respio_reply *r;

	s = start(NULL);
	c = open_conn(s, 2);
	r = cmd(c, 2, id);
	a = respio_reply_integer(r);
	respio_reply_free(r);
	cr_assert_eq(respio_conn_connect(c), 0);
	r = cmd(c, 2, id);
	b = respio_reply_integer(r);
	respio_reply_free(r);
	cr_assert_neq(a, b, "a new connection has a new client id");
	respio_conn_destroy(c);
	test_server_stop(s);
}

Test(conn, timeout_with_stopped_server)
{
	test_server *s;
	respio_config cfg;
	respio_conn *c;
	respio_reply *r = NULL;
	const char *argv[] = {"PING"};
	long long t0, dt;
	int rc;

	s = start(NULL);
	respio_config_init(&cfg);
	cfg.port = s->port;
	cfg.timeout_ms = 200;
	cr_assert_eq(respio_conn_create(&cfg, &c), 0);
	cr_assert_eq(respio_conn_connect(c), 0);
	ping(c);

	test_server_signal(s, SIGSTOP);
	t0 = now_ms();
	rc = respio_conn_command(c, 1, argv, NULL, &r);
	dt = now_ms() - t0;
	test_server_signal(s, SIGCONT);
	cr_assert_eq(rc, -ETIMEDOUT, "got %s", respio_err_name(rc));
	cr_assert_null(r);
	/* The server never answers: only the 200 ms timeout ends the wait,
	 * not the 5 s default; the upper bound tells the two apart without
	 * counting on this machine's speed. */
	cr_assert_geq(dt, 190);
	cr_assert_lt(dt, 2500, "took %lld ms", dt);
	cr_assert_not(respio_conn_is_connected(c), "a timed-out stream is closed");
	ping(c);
	respio_conn_destroy(c);
	test_server_stop(s);
}

Test(conn, pipeline_100_in_order)
{
	test_server *s;
	respio_conn *c;
	char val[32];

	s = start(NULL);
	c = open_conn(s, 2);
	for (int i = 0; i < 100; i++) {
		const char *argv[] = {"ECHO", val};

		snprintf(val, sizeof(val), "v%d", i);
		cr_assert_eq(respio_conn_append(c, 2, argv, NULL), 0);
	}
	cr_assert_eq(respio_conn_flush(c), 0);
	{
		/* Outstanding replies would be misread as this command's. */
		const char *argv[] = {"PING"};
		respio_reply *r = NULL;

		cr_assert_eq(respio_conn_command(c, 1, argv, NULL, &r), RESPIO_E_INVAL);
	}
	for (int i = 0; i < 100; i++) {
		respio_reply *r = NULL;
		int rc = respio_conn_read_reply(c, -1, &r);

		cr_assert_eq(rc, 0, "%d: %s", i, respio_err_name(rc));
		snprintf(val, sizeof(val), "v%d", i);
		expect_text(r, RESPIO_REPLY_STRING, val);
		respio_reply_free(r);
	}
	ping(c);

	/* read_reply flushes what was appended; 0 ms with nothing buffered is -EAGAIN. */
	{
		const char *argv[] = {"ECHO", "late"};
		respio_reply *r = NULL;

		cr_assert_eq(respio_conn_append(c, 2, argv, NULL), 0);
		cr_assert_eq(respio_conn_read_reply(c, 2000, &r), 0);
		expect_text(r, RESPIO_REPLY_STRING, "late");
		respio_reply_free(r);
		cr_assert_eq(respio_conn_read_reply(c, 0, &r), -EAGAIN);
		cr_assert_null(r);
		cr_assert(respio_conn_is_connected(c));
		cr_assert_eq(respio_conn_read_reply(c, 50, &r), -ETIMEDOUT);
		cr_assert(respio_conn_is_connected(c), "a read_reply timeout keeps the stream");
	}
	respio_conn_destroy(c);
	test_server_stop(s);
}

Test(conn, pubsub_subscribe_and_read)
{
	test_server *s;

	s = start(NULL);
	for (int proto = 2; proto <= 3; proto++) {
		respio_conn *sub = open_conn(s, proto), *pub = open_conn(s, 2);
		const char *subscribe[] = {"SUBSCRIBE", "news"};
		respio_reply *r = NULL;
		long long receivers = -1;
		enum respio_reply_type agg = proto == 3 ? RESPIO_REPLY_PUSH : RESPIO_REPLY_ARRAY;

		cr_assert_eq(respio_conn_append(sub, 2, subscribe, NULL), 0);
		cr_assert_eq(respio_conn_flush(sub), 0);
		cr_assert_eq(respio_conn_read_reply(sub, 2000, &r), 0);
		cr_assert_eq(respio_reply_type(r), agg);
		expect_text(respio_reply_element(r, 0), RESPIO_REPLY_STRING, "subscribe");
		respio_reply_free(r);

		cr_assert_eq(
		    respio_publish(respio_conn_target(pub), "news", 4, "hello", 5, &receivers), 0);
		cr_assert_eq(receivers, 1);
		cr_assert_eq(respio_conn_read_reply(sub, 2000, &r), 0);
		cr_assert_eq(respio_reply_type(r), agg);
		cr_assert_eq(respio_reply_len(r), 3);
		expect_text(respio_reply_element(r, 0), RESPIO_REPLY_STRING, "message");
		expect_text(respio_reply_element(r, 1), RESPIO_REPLY_STRING, "news");
		expect_text(respio_reply_element(r, 2), RESPIO_REPLY_STRING, "hello");
		respio_reply_free(r);
		respio_conn_destroy(sub);
		respio_conn_destroy(pub);
	}
	test_server_stop(s);
}

Test(conn, resp3_push_skipped_by_command_returned_by_read_reply)
{
	test_server *s;
	respio_conn *c, *other;
	const char *tracking[] = {"CLIENT", "TRACKING", "ON"};
	const char *get[] = {"GET", "tracked"};
	const char *set[] = {"SET", "tracked", "v"};
	respio_reply *r = NULL;

	s = start(NULL);
	c = open_conn(s, 3);
	other = open_conn(s, 2);
	respio_reply_free(cmd(c, 3, tracking));
	respio_reply_free(cmd(c, 2, get));
	respio_reply_free(cmd(other, 3, set)); /* invalidation is queued for c */
	ping(c);			       /* the push arrives first and is skipped */

	respio_reply_free(cmd(c, 2, get));
	respio_reply_free(cmd(other, 3, set));
	cr_assert_eq(respio_conn_read_reply(c, 2000, &r), 0);
	cr_assert_eq(respio_reply_type(r), RESPIO_REPLY_PUSH);
	expect_text(respio_reply_element(r, 0), RESPIO_REPLY_STRING, "invalidate");
	respio_reply_free(r);
	respio_conn_destroy(c);
	respio_conn_destroy(other);
	test_server_stop(s);
}

Test(conn, binary_safe_keys_and_values)
{
	test_server *s;
	respio_conn *c;
	static const char key[] = "k\0e\r\ny";
	static const char val[] = "\0v\r\n\0a\xff l";
	const char *set[] = {"SET", key, val};
	size_t setlen[] = {3, sizeof(key) - 1, sizeof(val) - 1};
	const char *get[] = {"GET", key};
	size_t getlen[] = {3, sizeof(key) - 1};
	respio_reply *r = NULL;
	size_t len = 0;
	const char *p;

	s = start(NULL);
	c = open_conn(s, 2);
	cr_assert_eq(respio_conn_command(c, 3, set, setlen, &r), 0);
	respio_reply_free(r);
	cr_assert_eq(respio_conn_command(c, 2, get, getlen, &r), 0);
	p = respio_reply_str(r, &len);
	cr_assert_eq(len, sizeof(val) - 1);
	cr_assert_eq(memcmp(p, val, len), 0);
	respio_reply_free(r);
	respio_conn_destroy(c);
	test_server_stop(s);
}

Test(conn, ten_megabyte_value_round_trip)
{
	test_server *s;
	respio_conn *c;
	size_t n = 10u << 20;
	char *big = malloc(n);
	const char *set[] = {"SET", "big", big};
	size_t setlen[] = {3, 3, n};
	const char *get[] = {"GET", "big"};
	respio_reply *r = NULL;
	size_t len = 0;
	const char *p;

	cr_assert_not_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = (char)(i * 7 + (i >> 13));
	s = start(NULL);
	c = open_conn(s, 2);
	cr_assert_eq(respio_conn_command(c, 3, set, setlen, &r), 0, "%s", respio_conn_errdetail(c));
	respio_reply_free(r);
	cr_assert_eq(respio_conn_command(c, 2, get, NULL, &r), 0);
	p = respio_reply_str(r, &len);
	cr_assert_eq(len, n);
	cr_assert_eq(memcmp(p, big, n), 0);
	respio_reply_free(r);
	ping(c);
	respio_conn_destroy(c);
	free(big);
	test_server_stop(s);
}

Test(conn, server_error_keeps_connection)
{
	test_server *s;
	respio_conn *c;
	const char *argv[] = {"NOSUCHCOMMAND", "x"};
	respio_reply *r = NULL;

	s = start(NULL);
	c = open_conn(s, 2);
	cr_assert_eq(respio_conn_command(c, 2, argv, NULL, &r), RESPIO_E_SERVER);
	cr_assert_not_null(r);
	cr_assert_eq(respio_reply_type(r), RESPIO_REPLY_ERROR);
	cr_assert(strstr(respio_conn_errdetail(c), "ERR unknown command"), "%s",
		  respio_conn_errdetail(c));
	respio_reply_free(r);
	cr_assert(respio_conn_is_connected(c));
	ping(c);
	cr_assert_str_eq(respio_conn_errdetail(c), "", "success clears the detail");
	respio_conn_destroy(c);
	test_server_stop(s);
}

Test(conn, config_strings_are_copied)
{
	static const char *const extra[] = {"user bob on >pw ~* +@all", NULL};
	test_server *s;
	respio_config cfg;
	respio_conn *c;
	char host[32] = "127.0.0.1", user[8] = "bob", pass[8] = "pw";

	s = start(extra);
	respio_config_init(&cfg);
	cfg.host = host;
	cfg.port = s->port;
	cfg.username = user;
	cfg.password = pass;
	cr_assert_eq(respio_conn_create(&cfg, &c), 0);
	memset(host, 'x', sizeof(host) - 1);
	memset(user, 'x', sizeof(user) - 1);
	memset(pass, 'x', sizeof(pass) - 1);
	cr_assert_eq(respio_conn_connect(c), 0, "%s", respio_conn_errdetail(c));
	ping(c);
	respio_conn_destroy(c);
	test_server_stop(s);
}

Test(conn, invalid_command_arguments)
{
	test_server *s;
	respio_conn *c;
	respio_reply *r = NULL;
	const char *argv[] = {"GET", NULL};
	size_t lens[] = {3, 4};

	s = start(NULL);
	c = open_conn(s, 2);
	cr_assert_eq(respio_conn_command(c, 0, argv, NULL, &r), RESPIO_E_INVAL);
	cr_assert_eq(respio_conn_command(c, 2, argv, NULL, &r), RESPIO_E_INVAL);
	cr_assert_eq(respio_conn_command(c, 2, argv, lens, &r), RESPIO_E_INVAL);
	cr_assert_eq(respio_conn_command(c, 1, argv, NULL, NULL), RESPIO_E_INVAL);
	cr_assert(respio_conn_is_connected(c));
	ping(c);
	respio_conn_destroy(c);
	test_server_stop(s);
}

Test(conn, zero_timeout_means_wait_forever)
{
	test_server *s;
	respio_config cfg;
	respio_conn *c;
	respio_reply *r = NULL;
	const char *argv[] = {"ECHO", "x"};

	s = start(NULL);
	respio_config_init(&cfg);
	cfg.port = s->port;
	cfg.timeout_ms = 0;
	cr_assert_eq(respio_conn_create(&cfg, &c), 0);
	cr_assert_eq(respio_conn_connect(c), 0);
	ping(c);
	/* read_reply(-1) takes the config's "no timeout", not "do not wait". */
	cr_assert_eq(respio_conn_append(c, 2, argv, NULL), 0);
	cr_assert_eq(respio_conn_read_reply(c, -1, &r), 0, "%s", respio_conn_errdetail(c));
	expect_text(r, RESPIO_REPLY_STRING, "x");
	respio_reply_free(r);
	respio_conn_destroy(c);
	test_server_stop(s);
}

static int sockopt(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);

	cr_assert_eq(getsockopt(fd, level, name, &v, &len), 0);
	return v;
}

Test(conn, socket_options_find_dead_peers)
{
	test_server *s;
	respio_conn *c;
	int fd;

	s = start(NULL);
	c = open_conn(s, 2);
	fd = respio_conn_fd(c);
	cr_assert_neq(sockopt(fd, IPPROTO_TCP, TCP_NODELAY), 0);
	cr_assert_neq(sockopt(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
	cr_assert_eq(sockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE), 10);
	cr_assert_eq(sockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL), 5);
	cr_assert_eq(sockopt(fd, IPPROTO_TCP, TCP_KEEPCNT), 3);
	cr_assert_gt(sockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), 0);
	cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	cr_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
	respio_conn_destroy(c);
	test_server_stop(s);
}

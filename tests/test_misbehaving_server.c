/* SPDX-License-Identifier: MIT */
/* The blocking connection against a scripted peer that breaks the protocol on purpose. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include <respio.h>

#include "alloc_count.h"
#include "fake_server.h"

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static fake_server *fake(const fake_script *script)
{
	fake_server *fs;

	cr_assert_eq(fake_server_start(script, &fs), 0);
	return fs;
}

static respio_conn *open_conn(fake_server *fs, int protocol, int timeout_ms)
{
	respio_config cfg;
	respio_conn *c;
	int rc;

	respio_config_init(&cfg);
	cfg.port = fake_server_port(fs);
	cfg.protocol = protocol;
	cfg.timeout_ms = timeout_ms;
	cr_assert_eq(respio_conn_create(&cfg, &c), 0);
	if (protocol == 2) {
		/* RESP2 without a password sends nothing at connect. */
		rc = respio_conn_connect(c);
		cr_assert_eq(rc, 0, "%s", respio_conn_errdetail(c));
	}
	return c;
}

/* One PING against a fake that answers script; returns the code and
 * checks the reply pointer follows the contract. */
static int ping(respio_conn *c)
{
	const char *argv[] = {"PING"};
	respio_reply *r = (respio_reply *)1;
	int rc = respio_conn_command(c, 1, argv, NULL, &r);

	if (rc == 0 || rc == RESPIO_E_SERVER)
		cr_assert_not_null(r);
	else
		cr_assert_null(r, "no reply on failure");
	respio_reply_free(r);
	return rc;
}

static void expect_failure(const char *reply, size_t len, bool close_after, int want,
			   const char *detail)
{
	fake_script script = {.reply = reply, .reply_len = len, .close_after = close_after};
	fake_server *fs = fake(&script);
	respio_conn *c = open_conn(fs, 2, 2000);
	int rc = ping(c);

	cr_assert_eq(rc, want, "reply '%.*s': got %s (%s)", (int)len, reply, respio_err_name(rc),
		     respio_conn_errdetail(c));
	if (detail)
		cr_assert(strstr(respio_conn_errdetail(c), detail), "detail '%s' lacks '%s'",
			  respio_conn_errdetail(c), detail);
	cr_assert_not(respio_conn_is_connected(c), "the stream is closed after a failure");
	respio_conn_destroy(c);
	cr_assert_eq(fake_server_stop(fs), 0);
}

Test(misbehaving, garbage_type_byte)
{
	expect_failure("?what\r\n", 7, false, RESPIO_E_PROTOCOL, "protocol error at byte 0");
}

Test(misbehaving, garbage_inside_an_array_names_the_offset)
{
	/* "*2\r\n+OK\r\n" is 9 bytes, so the '@' is byte 9 of this reply. */
	expect_failure("*2\r\n+OK\r\n@x\r\n", 13, false, RESPIO_E_PROTOCOL,
		       "protocol error at byte 9:");
}

Test(misbehaving, non_numeric_bulk_length)
{
	expect_failure("$abc\r\nabc\r\n", 11, false, RESPIO_E_PROTOCOL, "protocol error at byte");
}

Test(misbehaving, negative_bulk_length)
{
	expect_failure("$-5\r\nabcde\r\n", 12, false, RESPIO_E_PROTOCOL, "protocol error at byte");
}

/*
 * A reply announcing a 1 TB string fails on its header with the limit, and
 * nothing of the announced size is asked for: the allocation interposer
 * counts the bytes requested while the reply is read (requested, not
 * resident: peak RSS would not move for a reservation that is never
 * touched).
 */
Test(misbehaving, huge_bulk_length_hits_limit_without_allocating)
{
	fake_script script = {.reply = "$1000000000000\r\n"};
	fake_server *fs;
	respio_conn *c;
	unsigned long long asked, largest;
	int rc;

	if (!alloc_count_available())
		cr_skip_test("allocations are not counted in sanitizer builds "
			     "(the sanitizer owns the allocator)");
	fs = fake(&script);
	/* The interposer is in effect: creating a connection allocates. */
	alloc_count_start();
	c = open_conn(fs, 2, 2000);
	cr_assert_geq(alloc_count_stop(), 1, "the malloc interposer is not in effect");
	alloc_count_start();
	rc = ping(c);
	alloc_count_stop();
	asked = alloc_count_bytes();
	largest = alloc_count_largest();
	cr_assert_eq(rc, RESPIO_E_LIMIT, "got %s (%s)", respio_err_name(rc),
		     respio_conn_errdetail(c));
	cr_assert(strstr(respio_conn_errdetail(c), "protocol error at byte"), "%s",
		  respio_conn_errdetail(c));
	cr_log_info("a 1 TB bulk header: %llu bytes asked for, the largest %llu", asked, largest);
	cr_assert_lt(asked, 4u << 20, "%llu bytes asked for (largest %llu)", asked, largest);
	cr_assert_not(respio_conn_is_connected(c), "the stream is closed after a failure");
	respio_conn_destroy(c);
	cr_assert_eq(fake_server_stop(fs), 0);
}

Test(misbehaving, million_nested_arrays_hit_depth_limit)
{
	fake_script script = {.repeat = "*1\r\n", .repeat_count = 1000000};
	fake_server *fs = fake(&script);
	respio_conn *c = open_conn(fs, 2, 5000);
	int rc = ping(c);

	cr_assert_eq(rc, RESPIO_E_LIMIT, "got %s (%s)", respio_err_name(rc),
		     respio_conn_errdetail(c));
	/* At the 65th header (max_depth 64, 4 bytes each): what arrived after
	 * it was never parsed. An offset, not a duration: how long reading
	 * takes is this machine's business. */
	cr_assert(strstr(respio_conn_errdetail(c), "protocol error at byte 256:"), "%s",
		  respio_conn_errdetail(c));
	cr_assert_not(respio_conn_is_connected(c));
	respio_conn_destroy(c);
	cr_assert_eq(fake_server_stop(fs), 0);
}

Test(misbehaving, reply_cut_mid_frame_then_close)
{
	expect_failure("$10\r\nabc", 8, true, RESPIO_E_CLOSED, "closed");
}

Test(misbehaving, array_cut_mid_frame_then_close)
{
	expect_failure("*3\r\n:1\r\n:2\r\n", 12, true, RESPIO_E_CLOSED, NULL);
}

Test(misbehaving, close_without_reply)
{
	expect_failure(NULL, 0, true, RESPIO_E_CLOSED, NULL);
}

Test(misbehaving, never_answers_times_out)
{
	fake_script script = {.hang = true};
	fake_server *fs = fake(&script);
	respio_conn *c = open_conn(fs, 2, 300);
	long long t0 = now_ms(), dt;
	int rc = ping(c);

	dt = now_ms() - t0;
	cr_assert_eq(rc, -ETIMEDOUT, "got %s", respio_err_name(rc));
	/* Only the 300 ms timeout ends the wait, not the 5 s default: the
	 * upper bound tells them apart without counting on this machine. */
	cr_assert_geq(dt, 290);
	cr_assert_lt(dt, 2500, "took %lld ms", dt);
	cr_assert_not(respio_conn_is_connected(c));
	cr_assert_eq(fake_server_commands(fs), 1);
	respio_conn_destroy(c);
	cr_assert_eq(fake_server_stop(fs), 0);
}

Test(misbehaving, handshake_hangs_bounded_by_connect_timeout)
{
	fake_script script = {.hang = true};
	fake_server *fs = fake(&script);
	respio_config cfg;
	respio_conn *c;
	long long t0, dt;
	int rc;

	respio_config_init(&cfg);
	cfg.port = fake_server_port(fs);
	cfg.protocol = 3;
	cfg.timeout_ms = 10000;
	cfg.connect_timeout_ms = 250;
	cr_assert_eq(respio_conn_create(&cfg, &c), 0);
	t0 = now_ms();
	rc = respio_conn_connect(c);
	dt = now_ms() - t0;
	cr_assert_eq(rc, -ETIMEDOUT, "got %s", respio_err_name(rc));
	/* The 250 ms connect timeout, not the 10 s request timeout. */
	cr_assert_geq(dt, 240, "took %lld ms", dt);
	cr_assert_lt(dt, 5000, "took %lld ms", dt);
	cr_assert(strstr(respio_conn_errdetail(c), "HELLO 3"), "%s", respio_conn_errdetail(c));
	cr_assert_not(respio_conn_is_connected(c));
	respio_conn_destroy(c);
	cr_assert_eq(fake_server_stop(fs), 0);
}

Test(misbehaving, old_server_without_hello_fails_resp3_clearly)
{
	fake_script script = {.reply = "-ERR unknown command `HELLO`, with args beginning with: "
				       "`3`, \r\n"};
	fake_server *fs = fake(&script);
	respio_conn *c = open_conn(fs, 3, 2000);
	int rc = respio_conn_connect(c);

	cr_assert_eq(rc, RESPIO_E_SERVER, "got %s", respio_err_name(rc));
	cr_assert(strstr(respio_conn_errdetail(c), "HELLO 3 failed: ERR unknown command"), "%s",
		  respio_conn_errdetail(c));
	cr_assert(strstr(respio_conn_errdetail(c), "protocol 2"), "%s", respio_conn_errdetail(c));
	cr_assert_not(respio_conn_is_connected(c));
	respio_conn_destroy(c);
	cr_assert_eq(fake_server_stop(fs), 0);
}

Test(misbehaving, failure_then_next_command_reconnects)
{
	fake_script script = {.reply = "?bad\r\n"};
	fake_server *fs = fake(&script);
	respio_conn *c = open_conn(fs, 2, 2000);

	cr_assert_eq(ping(c), RESPIO_E_PROTOCOL);
	cr_assert_eq(fake_server_connections(fs), 1);
	cr_assert_eq(ping(c), RESPIO_E_PROTOCOL, "reconnected, and the fake is still bad");
	cr_assert_eq(fake_server_connections(fs), 2);
	respio_conn_destroy(c);
	cr_assert_eq(fake_server_stop(fs), 0);
}

Test(misbehaving, push_before_reply_is_skipped)
{
	fake_script script = {.reply = ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n+PONG\r\n"};
	fake_server *fs = fake(&script);
	respio_conn *c = open_conn(fs, 2, 2000);
	const char *argv[] = {"PING"};
	respio_reply *r = NULL;

	cr_assert_eq(respio_conn_command(c, 1, argv, NULL, &r), 0, "%s", respio_conn_errdetail(c));
	cr_assert_eq(respio_reply_type(r), RESPIO_REPLY_STATUS);
	cr_assert_str_eq(respio_reply_str(r, NULL), "PONG");
	respio_reply_free(r);

	/* read_reply hands pushes over. */
	cr_assert_eq(respio_conn_append(c, 1, argv, NULL), 0);
	cr_assert_eq(respio_conn_read_reply(c, 2000, &r), 0);
	cr_assert_eq(respio_reply_type(r), RESPIO_REPLY_PUSH);
	respio_reply_free(r);
	cr_assert_eq(respio_conn_read_reply(c, 2000, &r), 0);
	cr_assert_eq(respio_reply_type(r), RESPIO_REPLY_STATUS);
	respio_reply_free(r);
	respio_conn_destroy(c);
	cr_assert_eq(fake_server_stop(fs), 0);
}

Test(misbehaving, long_error_message_is_truncated)
{
	static char reply[4096];
	fake_script script = {.reply = reply};
	fake_server *fs;
	respio_conn *c;
	size_t n;

	memcpy(reply, "-ERR ", 5);
	memset(reply + 5, 'x', 3000);
	memcpy(reply + 3005, "\r\n", 3);
	fs = fake(&script);
	c = open_conn(fs, 2, 2000);
	cr_assert_eq(ping(c), RESPIO_E_SERVER);
	n = strlen(respio_conn_errdetail(c));
	cr_assert(n > 100 && n < 1024, "length %zu", n);
	cr_assert_eq(strcmp(respio_conn_errdetail(c) + n - 3, "..."), 0);
	cr_assert(respio_conn_is_connected(c), "a server error keeps the stream");
	respio_conn_destroy(c);
	cr_assert_eq(fake_server_stop(fs), 0);
}

Test(misbehaving, typed_command_with_wrong_reply_type)
{
	fake_script script = {.reply = ":5\r\n"};
	fake_server *fs = fake(&script);
	respio_conn *c = open_conn(fs, 2, 2000);
	respio_target *t = respio_conn_target(c);
	respio_str v = {0};
	respio_strv sv = {0};
	long long n = 0;

	cr_assert_eq(respio_get(t, "k", 1, &v), RESPIO_E_TYPE);
	cr_assert_null(v.ptr);
	cr_assert(strstr(respio_conn_errdetail(c), "GET: expected a string or nil reply, got "
						   "integer"),
		  "%s", respio_conn_errdetail(c));
	cr_assert(respio_conn_is_connected(c), "a well-formed reply keeps the stream");
	cr_assert_eq(respio_set(t, "k", 1, "v", 1, 0), RESPIO_E_TYPE);
	cr_assert_eq(respio_hgetall(t, "k", 1, &sv), RESPIO_E_TYPE);
	cr_assert_eq(sv.n, 0);
	cr_assert_eq(respio_llen(t, "k", 1, &n), 0);
	cr_assert_eq(n, 5);
	respio_conn_destroy(c);
	cr_assert_eq(fake_server_stop(fs), 0);
}

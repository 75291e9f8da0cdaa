/* SPDX-License-Identifier: MIT */
/* Sessions, automatic leases for blocking commands and transactions on the
 * shared connection, against a real redis-server: what one user leaves on
 * a connection never reaches the next, a blocking command never stalls the
 * pipeline or goes back to the pool armed, and a transaction is one unit. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <respio.h>

#include "clock.h"
#include "server.h"
#include "suite_server.h"

SUITE_WITH_SERVER(session);

static void base_config(respio_config *cfg)
{
	suite_config(cfg);
	cfg->pool.min_connections = 2;
	cfg->pool.max_connections = 4;
	cfg->pool.connection_timeout_ms = 2000;
}

static int settle(respio_future *f)
{
	cr_assert_eq(respio_future_wait(f, 30000), 0, "future never completed");
	return respio_future_status(f);
}

#define ARGV(...)                                                                                  \
	(const char *const[])                                                                      \
	{                                                                                          \
		__VA_ARGS__                                                                        \
	}
#define NARGS(...) ((int)(sizeof(ARGV(__VA_ARGS__)) / sizeof(const char *)))

/* Run argv on the session and wait: its status; the reply in *r (NULL: free it). */
static int srun(respio_session *s, int argc, const char *const *argv, respio_reply **r)
{
	respio_reply *rep = NULL;
	int rc = respio_command(respio_session_target(s), argc, argv, NULL, &rep);

	if (r)
		*r = rep;
	else
		respio_reply_free(rep);
	return rc;
}

#define SRUN(s, ...) srun((s), NARGS(__VA_ARGS__), ARGV(__VA_ARGS__), NULL)

static long long cint(respio_client *c, int argc, const char *const *argv)
{
	respio_reply *r = NULL;
	long long v = -1;
	int rc = respio_command(respio_client_target(c), argc, argv, NULL, &r);

	cr_assert_eq(rc, 0, "%s: %s (%s)", argv[0], respio_err_name(rc),
		     respio_client_errdetail(c));
	if (respio_reply_type(r) == RESPIO_REPLY_INTEGER)
		v = respio_reply_integer(r);
	respio_reply_free(r);
	return v;
}

#define CINT(c, ...) cint((c), NARGS(__VA_ARGS__), ARGV(__VA_ARGS__))

/* A plain blocking connection, playing another client of the server. */
static respio_conn *other_client(void)
{
	respio_config cfg;
	respio_conn *o = NULL;

	respio_config_init(&cfg);
	cfg.port = srv.port;
	cr_assert_eq(respio_conn_create(&cfg, &o), 0);
	cr_assert_eq(respio_conn_connect(o), 0);
	return o;
}

static void other_run(respio_conn *o, int argc, const char *const *argv)
{
	respio_reply *r = NULL;
	int rc = respio_conn_command(o, argc, argv, NULL, &r);

	cr_assert(rc == 0, "%s: %s", argv[0], respio_err_name(rc));
	respio_reply_free(r);
}

/* --- sessions ------------------------------------------------------------- */

Test(session, multi_exec_on_a_session)
{
	respio_config cfg;
	respio_client *c;
	respio_session *s;
	respio_reply *r;

	base_config(&cfg);
	c = suite_client(&cfg);
	cr_assert_eq(respio_begin(c, &s), 0);
	cr_assert_eq(SRUN(s, "MULTI"), 0);
	cr_assert_eq(SRUN(s, "SET", "ms:a", "1"), 0);
	cr_assert_eq(SRUN(s, "INCR", "ms:a"), 0);
	cr_assert_eq(srun(s, 1, ARGV("EXEC"), &r), 0);
	cr_assert_eq(respio_reply_type(r), RESPIO_REPLY_ARRAY);
	cr_assert_eq(respio_reply_len(r), 2);
	cr_assert_eq(respio_reply_integer(respio_reply_element(r, 1)), 2);
	respio_reply_free(r);
	respio_end(s);
	cr_assert_eq(CINT(c, "INCR", "ms:a"), 3);
	respio_client_destroy(c);
}

/* WATCH k, end without EXEC, someone else changes k: the next session's
 * transaction must commit (the watch did not leak into it). */
Test(session, watch_does_not_leak_into_the_next_session)
{
	respio_config cfg;
	respio_client *c;
	respio_session *s;
	respio_reply *r;
	respio_conn *o;
	respio_stats st;

	base_config(&cfg);
	/* One session connection, so the next session gets the same one. */
	cfg.pool.max_connections = 3;
	c = suite_client(&cfg);
	o = other_client();
	cr_assert_eq(respio_begin(c, &s), 0);
	cr_assert_eq(SRUN(s, "WATCH", "w:k"), 0);
	respio_end(s);
	other_run(o, 3, ARGV("SET", "w:k", "changed"));

	cr_assert_eq(respio_begin(c, &s), 0);
	cr_assert_eq(SRUN(s, "MULTI"), 0);
	cr_assert_eq(SRUN(s, "SET", "w:z", "1"), 0);
	cr_assert_eq(srun(s, 1, ARGV("EXEC"), &r), 0);
	cr_assert_eq(respio_reply_type(r), RESPIO_REPLY_ARRAY,
		     "EXEC was aborted by a watch of the previous session");
	respio_reply_free(r);
	respio_end(s);
	cr_assert_eq(respio_client_stats(c, &st, NULL, 0), 2);
	cr_assert_eq(st.sessions_begun, 2);
	cr_assert_eq(st.sessions_in_use, 0);
	respio_conn_destroy(o);
	respio_client_destroy(c);
}

/* SELECT 3 on a session: the next session on that connection is back in
 * the configured database. */
Test(session, select_does_not_leak_into_the_next_session)
{
	respio_config cfg;
	respio_client *c;
	respio_session *s;
	respio_reply *r;

	base_config(&cfg);
	cfg.pool.max_connections = 3;
	c = suite_client(&cfg);
	cr_assert_eq(respio_begin(c, &s), 0);
	cr_assert_eq(SRUN(s, "SELECT", "3"), 0);
	cr_assert_eq(SRUN(s, "SET", "sel:k", "in3"), 0);
	respio_end(s);

	cr_assert_eq(respio_begin(c, &s), 0);
	cr_assert_eq(srun(s, 2, ARGV("GET", "sel:k"), &r), 0);
	cr_assert_eq(respio_reply_type(r), RESPIO_REPLY_NIL, "the session is still in db 3");
	respio_reply_free(r);
	respio_end(s);
	respio_client_destroy(c);
}

/* A session ended inside MULTI: the next one is not queueing. */
Test(session, multi_left_open_is_discarded)
{
	respio_config cfg;
	respio_client *c;
	respio_session *s;
	respio_reply *r;

	base_config(&cfg);
	cfg.pool.max_connections = 3;
	c = suite_client(&cfg);
	cr_assert_eq(respio_begin(c, &s), 0);
	cr_assert_eq(SRUN(s, "MULTI"), 0);
	cr_assert_eq(SRUN(s, "SET", "open:k", "1"), 0);
	respio_end(s);
	cr_assert_eq(respio_begin(c, &s), 0);
	cr_assert_eq(srun(s, 1, ARGV("PING"), &r), 0);
	cr_assert_eq(respio_reply_type(r), RESPIO_REPLY_STATUS, "still queueing: %d",
		     respio_reply_type(r));
	respio_reply_free(r);
	respio_end(s);
	cr_assert_eq(CINT(c, "EXISTS", "open:k"), 0, "the abandoned transaction ran");
	respio_client_destroy(c);
}

/* Every session connection taken: begin waits wait_timeout_ms, then
 * POOL_EXHAUSTED; one comes back and begin works again. */
Test(session, exhausted_pool_fails_after_the_wait)
{
	respio_config cfg;
	respio_client *c;
	respio_session *a, *b, *x = (respio_session *)&cfg;
	respio_stats st;
	int64_t t0, waited;

	base_config(&cfg);
	cfg.pool.wait_timeout_ms = 300;
	c = suite_client(&cfg); /* 2 shared + 2 for sessions */
	cr_assert_eq(respio_begin(c, &a), 0);
	cr_assert_eq(respio_begin(c, &b), 0);
	t0 = now_ms();
	cr_assert_eq(respio_begin(c, &x), RESPIO_E_POOL_EXHAUSTED);
	waited = now_ms() - t0;
	cr_assert_null(x);
	cr_assert(waited >= 290, "gave up after %lld ms, before the wait", (long long)waited);
	cr_assert(waited < 5000, "waited %lld ms", (long long)waited);
	respio_client_stats(c, &st, NULL, 0);
	cr_assert_eq(st.sessions_in_use, 2);
	cr_assert_eq(st.sessions_max, 2);
	cr_assert_eq(st.pool_exhausted, 1);
	respio_end(a);
	cr_assert_eq(respio_begin(c, &x), 0);
	respio_end(x);
	respio_end(b);
	respio_client_destroy(c);
}

struct waiter {
	respio_client *c;
	int rc;
};

static void *begin_and_end(void *p)
{
	struct waiter *w = p;
	respio_session *s;

	w->rc = respio_begin(w->c, &s);
	if (w->rc == 0)
		respio_end(s);
	return NULL;
}

/* A waiting begin gets the connection another session gives back. */
Test(session, a_waiting_begin_gets_the_next_free_connection)
{
	respio_config cfg;
	respio_client *c;
	respio_session *a, *b;
	struct waiter w;
	pthread_t th;
	respio_stats st;

	base_config(&cfg);
	cfg.pool.wait_timeout_ms = 10000;
	c = suite_client(&cfg);
	cr_assert_eq(respio_begin(c, &a), 0);
	cr_assert_eq(respio_begin(c, &b), 0);
	w = (struct waiter){.c = c, .rc = 1};
	cr_assert_eq(pthread_create(&th, NULL, begin_and_end, &w), 0);
	sleep_ms(100);
	respio_end(a);
	pthread_join(th, NULL);
	cr_assert_eq(w.rc, 0, "begin: %s", respio_err_name(w.rc));
	respio_client_stats(c, &st, NULL, 0);
	cr_assert_eq(st.pool_waits, 1);
	respio_end(b);
	respio_client_destroy(c);
}

/* Without room for sessions (max == min) begin fails at once. */
Test(session, no_room_for_sessions_fails_at_once)
{
	respio_config cfg;
	respio_client *c;
	respio_session *s;
	int64_t t0;

	base_config(&cfg);
	cfg.pool.max_connections = 2;
	c = suite_client(&cfg);
	t0 = now_ms();
	cr_assert_eq(respio_begin(c, &s), RESPIO_E_POOL_EXHAUSTED);
	cr_assert(now_ms() - t0 < 1000);
	respio_client_destroy(c);
}

/* Using a session after respio_end is caught (debug builds). */
Test(session, use_after_end_aborts, .signal = SIGABRT)
{
	respio_config cfg;
	respio_client *c;
	respio_session *s;
	respio_future *f;

#ifdef NDEBUG
	cr_skip_test("release build: the check is for debug builds");
#endif
	base_config(&cfg);
	c = suite_client(&cfg);
	cr_assert_eq(respio_begin(c, &s), 0);
	respio_end(s);
	respio_session_submit(s, 1, ARGV("PING"), NULL, &f);
}

/* A session whose connection is killed does not silently redial: its
 * MULTI would be lost. Its commands fail until it ends; the next session
 * works. */
Test(session, a_lost_session_connection_is_not_redialed)
{
	respio_config cfg;
	respio_client *c;
	respio_session *s;
	respio_conn *o;
	respio_reply *r;
	long long id;
	char ids[32];
	int rc;

	base_config(&cfg);
	cfg.pool.max_connections = 3;
	c = suite_client(&cfg);
	o = other_client();
	cr_assert_eq(respio_begin(c, &s), 0);
	cr_assert_eq(srun(s, 2, ARGV("CLIENT", "ID"), &r), 0);
	id = respio_reply_integer(r);
	respio_reply_free(r);
	cr_assert_eq(SRUN(s, "MULTI"), 0);
	cr_assert_eq(SRUN(s, "INCR", "lost:n"), 0);
	snprintf(ids, sizeof(ids), "%lld", id);
	other_run(o, 4, ARGV("CLIENT", "KILL", "ID", ids));
	sleep_ms(100);
	rc = SRUN(s, "EXEC");
	cr_assert_eq(rc, RESPIO_E_CLOSED, "EXEC after the loss: %s", respio_err_name(rc));
	rc = SRUN(s, "PING");
	cr_assert_eq(rc, RESPIO_E_CLOSED, "PING after the loss: %s", respio_err_name(rc));
	respio_end(s);
	cr_assert_eq(respio_begin(c, &s), 0);
	cr_assert_eq(SRUN(s, "PING"), 0);
	respio_end(s);
	cr_assert_eq(CINT(c, "EXISTS", "lost:n"), 0);
	respio_conn_destroy(o);
	respio_client_destroy(c);
}

/* --- automatic leases ------------------------------------------------------ */

/* BLPOP q 0 with a 200 ms deadline times out; its connection leaves the
 * server promptly (never back in the pool armed), and the next BLPOP gets
 * the next pushed item. */
Test(session, timed_out_blpop_is_not_returned_armed)
{
	respio_config cfg;
	respio_client *c;
	respio_submit_opts o = {.timeout_ms = 200};
	respio_future *f;
	respio_conn *other;
	respio_reply *r;
	long long blocked = -1;
	int64_t t0;

	base_config(&cfg);
	cfg.pool.max_connections = 3; /* one lease connection: the next BLPOP reuses the slot */
	c = suite_client(&cfg);
	other = other_client();
	cr_assert_eq(respio_submit_with(c, &o, 3, ARGV("BLPOP", "arm:q", "0"), NULL, &f), 0);
	cr_assert_eq(settle(f), -ETIMEDOUT);
	cr_assert_eq(respio_future_fate(f), RESPIO_FATE_SENT);
	respio_future_release(f);
	/* The server no longer has a client blocked (INFO clients). */
	t0 = now_ms();
	while (now_ms() - t0 < 2000) {
		size_t len;
		const char *s, *p;

		cr_assert_eq(respio_conn_command(other, 2, ARGV("INFO", "clients"), NULL, &r), 0);
		s = respio_reply_str(r, &len);
		p = s ? strstr(s, "blocked_clients:") : NULL;
		blocked = p ? atoll(p + 16) : -1;
		respio_reply_free(r);
		if (blocked == 0)
			break;
		sleep_ms(10);
	}
	cr_assert_eq(blocked, 0, "the timed-out BLPOP is still blocked on the server");
	cr_assert_eq(respio_submit(c, 3, ARGV("BLPOP", "arm:q", "5"), NULL, &f), 0);
	sleep_ms(100);
	other_run(other, 3, ARGV("RPUSH", "arm:q", "item1"));
	cr_assert_eq(settle(f), 0);
	r = (respio_reply *)respio_future_reply(f);
	cr_assert_eq(respio_reply_type(r), RESPIO_REPLY_ARRAY);
	{
		size_t len;
		const char *v = respio_reply_str(respio_reply_element(r, 1), &len);

		cr_assert(v && len == 5 && memcmp(v, "item1", 5) == 0, "got %.*s", (int)len, v);
	}
	respio_future_release(f);
	respio_conn_destroy(other);
	respio_client_destroy(c);
}

/* XREAD BLOCK 0 has no client deadline: it outlives a 1 s timeout_ms. */
Test(session, xread_block_0_outlives_the_timeout)
{
	respio_config cfg;
	respio_client *c;
	respio_future *f;
	respio_conn *other;

	base_config(&cfg);
	cfg.timeout_ms = 1000;
	c = suite_client(&cfg);
	other = other_client();
	other_run(other, 5, ARGV("XADD", "xs", "*", "f", "0"));
	cr_assert_eq(
	    respio_submit(c, 6, ARGV("XREAD", "BLOCK", "0", "STREAMS", "xs", "$"), NULL, &f), 0);
	sleep_ms(1600);
	cr_assert(!respio_future_ready(f), "XREAD BLOCK 0 was cut: %s",
		  respio_err_name(respio_future_status(f)));
	other_run(other, 5, ARGV("XADD", "xs", "*", "f", "1"));
	cr_assert_eq(settle(f), 0);
	cr_assert_eq(respio_reply_type(respio_future_reply(f)), RESPIO_REPLY_ARRAY);
	respio_future_release(f);
	respio_conn_destroy(other);
	respio_client_destroy(c);
}

/* BLPOP q 1: nil after about a second, connection back in the pool. */
Test(session, blpop_with_a_timeout_returns_nil)
{
	respio_config cfg;
	respio_client *c;
	respio_future *f;
	respio_stats st;
	int64_t t0 = now_ms(), took;

	base_config(&cfg);
	c = suite_client(&cfg);
	cr_assert_eq(respio_submit(c, 3, ARGV("BLPOP", "nil:q", "1"), NULL, &f), 0);
	cr_assert_eq(settle(f), 0, "%s", respio_err_name(respio_future_status(f)));
	took = now_ms() - t0;
	cr_assert_eq(respio_reply_type(respio_future_reply(f)), RESPIO_REPLY_NIL);
	cr_assert(took >= 900, "returned after %lld ms", (long long)took);
	respio_future_release(f);
	for (int i = 0; i < 100; i++) {
		respio_client_stats(c, &st, NULL, 0);
		if (st.sessions_in_use == 0)
			break;
		sleep_ms(10);
	}
	cr_assert_eq(st.sessions_in_use, 0, "the lease was not given back");
	respio_client_destroy(c);
}

/* --- transactions on the shared connection --------------------------------- */

Test(session, transaction_unit_returns_exec_reply)
{
	respio_config cfg;
	respio_client *c;
	respio_future *f;
	const respio_argv cmds[] = {
	    {3, ARGV("SET", "tx:a", "5"), NULL},
	    {2, ARGV("INCR", "tx:a"), NULL},
	    {2, ARGV("GET", "tx:a"), NULL},
	};
	const respio_reply *r;
	size_t len;
	const char *v;

	base_config(&cfg);
	c = suite_client(&cfg);
	cr_assert_eq(respio_submit_transaction(c, NULL, 3, cmds, &f), 0);
	cr_assert_eq(settle(f), 0, "%s", respio_err_name(respio_future_status(f)));
	r = respio_future_reply(f);
	cr_assert_eq(respio_reply_type(r), RESPIO_REPLY_ARRAY);
	cr_assert_eq(respio_reply_len(r), 3);
	cr_assert_eq(respio_reply_integer(respio_reply_element(r, 1)), 6);
	v = respio_reply_str(respio_reply_element(r, 2), &len);
	cr_assert(v && len == 1 && v[0] == '6');
	respio_future_release(f);
	/* The connection is out of MULTI: a plain command answers. */
	cr_assert_eq(CINT(c, "INCR", "tx:a"), 7);
	/* WATCH and SELECT are a session's. */
	{
		const respio_argv bad[] = {{2, ARGV("WATCH", "tx:a"), NULL}};

		cr_assert_eq(respio_submit_transaction(c, NULL, 1, bad, &f),
			     RESPIO_E_NEEDS_SESSION);
	}
	respio_client_destroy(c);
}

/* A command refused at queueing: EXEC answers EXECABORT. */
Test(session, transaction_with_a_bad_command_aborts)
{
	respio_config cfg;
	respio_client *c;
	respio_future *f;
	const respio_argv cmds[] = {
	    {3, ARGV("SET", "txb:a", "1"), NULL},
	    {1, ARGV("NOSUCHCOMMAND"), NULL},
	};

	base_config(&cfg);
	c = suite_client(&cfg);
	cr_assert_eq(respio_submit_transaction(c, NULL, 2, cmds, &f), 0);
	cr_assert_eq(settle(f), RESPIO_E_SERVER);
	respio_future_release(f);
	cr_assert_eq(CINT(c, "EXISTS", "txb:a"), 0);
	cr_assert_eq(CINT(c, "INCR", "txb:n"), 1, "the connection is still in MULTI");
	respio_client_destroy(c);
}

#define TX_THREADS 64
#define TX_ROUNDS  50

struct tx_args {
	respio_client *c;
	int failures;
};

/* MULTI; INCR a; INCR b; EXEC among GETs from many threads: a and b move
 * together, and no thread's GET lands inside another's transaction. */
static void *tx_worker(void *p)
{
	struct tx_args *a = p;
	const respio_argv cmds[] = {{2, ARGV("INCR", "txm:a"), NULL},
				    {2, ARGV("INCR", "txm:b"), NULL}};

	for (int i = 0; i < TX_ROUNDS; i++) {
		respio_future *f, *g;

		if (respio_submit_transaction(a->c, NULL, 2, cmds, &f) != 0) {
			a->failures++;
			continue;
		}
		if (respio_submit(a->c, 2, ARGV("GET", "txm:a"), NULL, &g) == 0) {
			respio_future_wait(g, 30000);
			if (respio_future_status(g) != 0 ||
			    respio_reply_type(respio_future_reply(g)) != RESPIO_REPLY_STRING)
				a->failures++;
			respio_future_release(g);
		}
		respio_future_wait(f, 30000);
		if (respio_future_status(f) != 0 || respio_reply_len(respio_future_reply(f)) != 2)
			a->failures++;
		respio_future_release(f);
	}
	return NULL;
}

Test(session, concurrent_transactions_are_units)
{
	respio_config cfg;
	respio_client *c;
	pthread_t th[TX_THREADS];
	struct tx_args args[TX_THREADS];
	int failures = 0;

	base_config(&cfg);
	c = suite_client(&cfg);
	for (int i = 0; i < TX_THREADS; i++) {
		args[i] = (struct tx_args){.c = c};
		cr_assert_eq(pthread_create(&th[i], NULL, tx_worker, &args[i]), 0);
	}
	for (int i = 0; i < TX_THREADS; i++) {
		pthread_join(th[i], NULL);
		failures += args[i].failures;
	}
	cr_assert_eq(failures, 0);
	{
		respio_reply *r;
		size_t la, lb;
		const char *va, *vb;
		char a[32], b[32];

		cr_assert_eq(
		    respio_command(respio_client_target(c), 2, ARGV("GET", "txm:a"), NULL, &r), 0);
		va = respio_reply_str(r, &la);
		snprintf(a, sizeof(a), "%.*s", (int)la, va);
		respio_reply_free(r);
		cr_assert_eq(
		    respio_command(respio_client_target(c), 2, ARGV("GET", "txm:b"), NULL, &r), 0);
		vb = respio_reply_str(r, &lb);
		snprintf(b, sizeof(b), "%.*s", (int)lb, vb);
		respio_reply_free(r);
		cr_assert_str_eq(a, b);
		cr_assert_eq(atoi(a), TX_THREADS * TX_ROUNDS);
	}
	respio_client_destroy(c);
}

/* CLIENT ID of the session's connection. */
static long long session_conn_id(respio_session *s)
{
	respio_reply *r = NULL;
	long long id;

	cr_assert_eq(srun(s, 2, ARGV("CLIENT", "ID"), &r), 0);
	id = respio_reply_integer(r);
	respio_reply_free(r);
	return id;
}

/* State end cannot undo (a name, AUTH, HELLO...) closes the connection:
 * the next session gets a fresh one without the name. */
Test(session, unresettable_state_closes_the_connection)
{
	respio_config cfg;
	respio_client *c;
	respio_session *s;
	respio_reply *r;
	long long first, second;

	base_config(&cfg);
	cfg.pool.max_connections = 3; /* one session connection */
	c = suite_client(&cfg);
	cr_assert_eq(respio_begin(c, &s), 0);
	first = session_conn_id(s);
	cr_assert_eq(SRUN(s, "CLIENT", "SETNAME", "mine"), 0);
	respio_end(s);
	cr_assert_eq(respio_begin(c, &s), 0);
	second = session_conn_id(s);
	cr_assert_neq(first, second, "the named connection went back to the pool");
	cr_assert_eq(srun(s, 2, ARGV("CLIENT", "GETNAME"), &r), 0);
	cr_assert_eq(respio_reply_type(r), RESPIO_REPLY_NIL);
	respio_reply_free(r);
	respio_end(s);

	/* A clean session's connection is reused. */
	cr_assert_eq(respio_begin(c, &s), 0);
	first = session_conn_id(s);
	respio_end(s);
	cr_assert_eq(respio_begin(c, &s), 0);
	cr_assert_eq(session_conn_id(s), first, "a clean connection was not reused");
	respio_end(s);
	respio_client_destroy(c);
}

/* Ended with a blocking command outstanding: closed, not returned armed. */
Test(session, end_with_a_reply_outstanding_closes)
{
	respio_config cfg;
	respio_client *c;
	respio_session *s;
	respio_future *f;
	respio_conn *other;
	long long first;

	base_config(&cfg);
	cfg.pool.max_connections = 3;
	c = suite_client(&cfg);
	other = other_client();
	cr_assert_eq(respio_begin(c, &s), 0);
	first = session_conn_id(s);
	cr_assert_eq(respio_session_submit(s, 3, ARGV("BLPOP", "out:q", "0"), NULL, &f), 0);
	sleep_ms(50);
	respio_end(s);
	cr_assert_eq(settle(f), RESPIO_E_CLOSED, "%s", respio_err_name(respio_future_status(f)));
	cr_assert_eq(respio_future_fate(f), RESPIO_FATE_SENT);
	respio_future_release(f);
	other_run(other, 3, ARGV("RPUSH", "out:q", "x"));
	cr_assert_eq(CINT(c, "LLEN", "out:q"), 1, "the abandoned BLPOP took the item");
	cr_assert_eq(respio_begin(c, &s), 0);
	cr_assert_neq(session_conn_id(s), first);
	respio_end(s);
	respio_conn_destroy(other);
	respio_client_destroy(c);
}

/* SUBSCRIBE and MONITOR would turn the session into a stream of pushes. */
Test(session, stream_commands_are_refused)
{
	respio_config cfg;
	respio_client *c;
	respio_session *s;
	respio_future *f = (respio_future *)&cfg;

	base_config(&cfg);
	c = suite_client(&cfg);
	cr_assert_eq(respio_begin(c, &s), 0);
	cr_assert_eq(respio_session_submit(s, 2, ARGV("SUBSCRIBE", "ch"), NULL, &f),
		     RESPIO_E_INVAL);
	cr_assert_null(f);
	cr_assert_eq(respio_session_submit(s, 1, ARGV("MONITOR"), NULL, &f), RESPIO_E_INVAL);
	cr_assert_eq(SRUN(s, "PING"), 0);
	respio_end(s);
	respio_client_destroy(c);
}

struct log_seen {
	pthread_mutex_t lock;
	char last_error[256];
	int errors;
};

static void log_hook(void *arg, int level, int code, const char *msg)
{
	struct log_seen *l = arg;

	(void)code;
	pthread_mutex_lock(&l->lock);
	if (level == RESPIO_LOG_ERROR) {
		l->errors++;
		snprintf(l->last_error, sizeof(l->last_error), "%s", msg);
	}
	pthread_mutex_unlock(&l->lock);
}

/* A session never ended is counted, and reported when the client goes. */
Test(session, sessions_never_ended_are_reported)
{
	respio_config cfg;
	respio_client *c;
	respio_session *s;
	respio_stats st;
	struct log_seen seen = {.lock = PTHREAD_MUTEX_INITIALIZER};

	base_config(&cfg);
	cfg.log.fn = log_hook;
	cfg.log.arg = &seen;
	c = suite_client(&cfg);
	cr_assert_eq(respio_begin(c, &s), 0);
	cr_assert_eq(SRUN(s, "PING"), 0);
	respio_client_stats(c, &st, NULL, 0);
	cr_assert_eq(st.sessions_in_use, 1);
	respio_client_destroy(c);
	cr_assert_eq(seen.errors, 1);
	cr_assert(strstr(seen.last_error, "1 sessions never ended"), "%s", seen.last_error);
}

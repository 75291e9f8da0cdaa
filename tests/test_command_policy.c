/* SPDX-License-Identifier: MIT */
/* The command policy: which commands the engine keeps off shared connections,
 * and that a respio_conn, a connection of its own, still runs them. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <respio.h>

#include "command_policy.h"
#include "server.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Started by the one test that needs it; the suite's fini stops it even
 * when an assertion ends that test early. */
static test_server srv;
static bool have_srv;

static void stop_server(void)
{
	if (have_srv)
		test_server_stop(&srv);
	have_srv = false;
}

TestSuite(command_policy, .fini = stop_server, .timeout = 60);

static const char *class_name(int cls)
{
	switch (cls) {
	case RESPIO__CMD_SHARED: return "shared";
	case RESPIO__CMD_STATE: return "state";
	case RESPIO__CMD_STREAM: return "stream";
	case RESPIO__CMD_BLOCKING: return "blocking";
	}
	return "?";
}

/* Alternate lower and upper case, starting lower: "MULTI" -> "mUlTi". */
static void mixed_case(char *dst, const char *src, size_t len)
{
	for (size_t i = 0; i < len; i++)
		dst[i] =
		    (char)(i % 2 ? toupper((unsigned char)src[i]) : tolower((unsigned char)src[i]));
}

static void expect_class(int argc, const char *const *argv, const size_t *argvlen, int want)
{
	int got = respio__command_classify(argc, argv, argvlen);
	int rc = respio__command_policy(argc, argv, argvlen);
	size_t len = argvlen ? argvlen[0] : strlen(argv[0]);

	cr_expect_eq(got, want, "%.*s %s (argc %d): %s, want %s", (int)len, argv[0],
		     argc > 1 && argv[1] ? argv[1] : "", argc, class_name(got), class_name(want));
	cr_expect_eq(rc, want == RESPIO__CMD_SHARED ? 0 : RESPIO_E_NEEDS_SESSION,
		     "%.*s: policy returned %s", (int)len, argv[0], respio_err_name(rc));
}

static void expect_refused(int argc, const char *const *argv, int cls)
{
	expect_class(argc, argv, NULL, cls);
}

static void expect_allowed(int argc, const char *const *argv)
{
	expect_class(argc, argv, NULL, RESPIO__CMD_SHARED);
}

static bool is_table_name(const char *s, size_t len)
{
	for (size_t i = 0; i < respio__command_rules_count; i++) {
		const struct respio__command_rule *r = &respio__command_rules[i];

		if (r->name_len == len && strncasecmp(r->name, s, len) == 0)
			return true;
	}
	return false;
}

Test(command_policy, table_is_sorted_upper_case_and_consistent)
{
	cr_assert_gt(respio__command_rules_count, 0);
	for (size_t i = 0; i < respio__command_rules_count; i++) {
		const struct respio__command_rule *r = &respio__command_rules[i];

		cr_expect_eq(r->name_len, strlen(r->name), "%s", r->name);
		cr_expect_eq(r->arg_len, strlen(r->arg), "%s %s", r->name, r->arg);
		for (const char *p = r->name; *p; p++)
			cr_expect(!islower((unsigned char)*p), "%s: not upper case", r->name);
		for (const char *p = r->arg; *p; p++)
			cr_expect(!islower((unsigned char)*p), "%s %s: not upper case", r->name,
				  r->arg);
		cr_expect_neq(r->cls, RESPIO__CMD_SHARED, "%s: a row refuses", r->name);
		cr_expect_eq(r->match == RESPIO__MATCH_NAME, r->arg_len == 0,
			     "%s: an arg exactly when the rule looks past the name", r->name);
		if (i > 0) {
			const struct respio__command_rule *p = &respio__command_rules[i - 1];
			int d = strcmp(p->name, r->name);

			/* The lookup is a binary search over this order. */
			cr_expect(d < 0 || (d == 0 && strcmp(p->arg, r->arg) < 0),
				  "%s %s sorts after %s %s", p->name, p->arg, r->name, r->arg);
		}
	}
}

/* Walk the table: each row refuses its command, in mixed case, as C
 * strings and as (ptr, len) views into a buffer that goes on past them. */
Test(command_policy, every_row_refuses_its_command)
{
	for (size_t i = 0; i < respio__command_rules_count; i++) {
		const struct respio__command_rule *r = &respio__command_rules[i];
		char name[40] = {0}, arg[40] = {0}, view[80];
		const char *argv[6] = {name, "x"};
		size_t argvlen[6];
		int argc = 2;

		mixed_case(name, r->name, r->name_len);
		if (r->match == RESPIO__MATCH_SUBCOMMAND) {
			mixed_case(arg, r->arg, r->arg_len);
			argv[1] = arg;
			argv[argc++] = "on";
		} else if (r->match == RESPIO__MATCH_OPTION) {
			mixed_case(arg, r->arg, r->arg_len);
			argv[1] = arg;
			argv[2] = "0";
			argv[3] = "STREAMS";
			argv[4] = "s";
			argv[5] = "$";
			argc = 6;
		}
		expect_refused(argc, argv, r->cls);

		/* Not NUL-terminated: the name runs straight into more
		 * letters, which argvlen must keep out. */
		snprintf(view, sizeof(view), "%sXYZ", name);
		argv[0] = view;
		for (int j = 0; j < argc; j++)
			argvlen[j] = j ? strlen(argv[j]) : r->name_len;
		expect_class(argc, argv, argvlen, r->cls);
		/* One byte more or one less is another command. */
		argvlen[0] = r->name_len + 1;
		if (!is_table_name(view, argvlen[0]))
			expect_class(argc, argv, argvlen, RESPIO__CMD_SHARED);
		argvlen[0] = r->name_len - 1;
		if (!is_table_name(view, argvlen[0]))
			expect_class(argc, argv, argvlen, RESPIO__CMD_SHARED);
	}
}

/* The same commands written out by hand, by class as the README lists them,
 * so the table cannot lose a row without a test noticing. */
static const struct {
	int cls;
	const char *argv[3];
} refused[] = {
    {RESPIO__CMD_STATE, {"MULTI"}},
    {RESPIO__CMD_STATE, {"EXEC"}},
    {RESPIO__CMD_STATE, {"DISCARD"}},
    {RESPIO__CMD_STATE, {"WATCH", "k"}},
    {RESPIO__CMD_STATE, {"UNWATCH"}},
    {RESPIO__CMD_STATE, {"SELECT", "1"}},
    {RESPIO__CMD_STATE, {"AUTH", "pw"}},
    {RESPIO__CMD_STATE, {"HELLO", "3"}},
    {RESPIO__CMD_STATE, {"RESET"}},
    {RESPIO__CMD_STATE, {"QUIT"}},
    {RESPIO__CMD_STATE, {"CLIENT", "REPLY", "OFF"}},
    {RESPIO__CMD_STATE, {"CLIENT", "TRACKING", "ON"}},
    {RESPIO__CMD_STATE, {"CLIENT", "CACHING", "YES"}},
    {RESPIO__CMD_STATE, {"CLIENT", "SETNAME", "me"}},
    {RESPIO__CMD_STATE, {"CLIENT", "SETINFO", "LIB-NAME"}},
    {RESPIO__CMD_STATE, {"CLIENT", "NO-EVICT", "ON"}},
    {RESPIO__CMD_STATE, {"CLIENT", "NO-TOUCH", "ON"}},
    {RESPIO__CMD_STATE, {"READONLY"}},
    {RESPIO__CMD_STATE, {"READWRITE"}},
    {RESPIO__CMD_STREAM, {"SUBSCRIBE", "ch"}},
    {RESPIO__CMD_STREAM, {"PSUBSCRIBE", "c*"}},
    {RESPIO__CMD_STREAM, {"SSUBSCRIBE", "ch"}},
    {RESPIO__CMD_STREAM, {"UNSUBSCRIBE"}},
    {RESPIO__CMD_STREAM, {"PUNSUBSCRIBE"}},
    {RESPIO__CMD_STREAM, {"SUNSUBSCRIBE"}},
    {RESPIO__CMD_STREAM, {"MONITOR"}},
    {RESPIO__CMD_STREAM, {"SYNC"}},
    {RESPIO__CMD_STREAM, {"PSYNC", "?"}},
    {RESPIO__CMD_BLOCKING, {"BLPOP", "l", "0"}},
    {RESPIO__CMD_BLOCKING, {"BRPOP", "l", "0"}},
    {RESPIO__CMD_BLOCKING, {"BLMOVE", "a", "b"}},
    {RESPIO__CMD_BLOCKING, {"BRPOPLPUSH", "a", "b"}},
    {RESPIO__CMD_BLOCKING, {"BZPOPMIN", "z", "0"}},
    {RESPIO__CMD_BLOCKING, {"BZPOPMAX", "z", "0"}},
    {RESPIO__CMD_BLOCKING, {"BLMPOP", "0", "1"}},
    {RESPIO__CMD_BLOCKING, {"BZMPOP", "0", "1"}},
    {RESPIO__CMD_BLOCKING, {"WAIT", "1", "0"}},
    {RESPIO__CMD_BLOCKING, {"WAITAOF", "1", "0"}},
    {RESPIO__CMD_BLOCKING, {"XREAD", "BLOCK", "0"}},
    {RESPIO__CMD_BLOCKING, {"XREADGROUP", "BLOCK", "0"}},
};

Test(command_policy, hand_written_list_is_refused)
{
	for (size_t i = 0; i < COUNT(refused); i++) {
		int argc = 1;

		while (argc < 3 && refused[i].argv[argc])
			argc++;
		expect_refused(argc, refused[i].argv, refused[i].cls);
	}
	/* One row per line above: a row added to the table is added here too. */
	cr_expect_eq(respio__command_rules_count, COUNT(refused));
}

Test(command_policy, client_subcommands)
{
	expect_refused(3, (const char *const[]){"CLIENT", "REPLY", "OFF"}, RESPIO__CMD_STATE);
	expect_refused(3, (const char *const[]){"client", "tracking", "on"}, RESPIO__CMD_STATE);
	expect_refused(3, (const char *const[]){"Client", "No-Evict", "on"}, RESPIO__CMD_STATE);
	expect_allowed(2, (const char *const[]){"CLIENT", "ID"});
	expect_allowed(2, (const char *const[]){"client", "list"});
	expect_allowed(2, (const char *const[]){"CLIENT", "INFO"});
	expect_allowed(2, (const char *const[]){"CLIENT", "GETNAME"});
	expect_allowed(3, (const char *const[]){"CLIENT", "KILL", "127.0.0.1:1"});
	expect_allowed(3, (const char *const[]){"CLIENT", "UNBLOCK", "7"});
	expect_allowed(1, (const char *const[]){"CLIENT"});
	/* A subcommand is argv[1] only, whole. */
	expect_allowed(3, (const char *const[]){"CLIENT", "KILL", "REPLY"});
	expect_allowed(2, (const char *const[]){"CLIENT", "REPLYX"});
	expect_allowed(2, (const char *const[]){"CLIENT", "REPL"});
	/* (ptr, len) views: "REPLY" out of "REPLYX", "ID" out of "IDLE". */
	expect_class(2, (const char *const[]){"CLIENTS", "REPLYX"}, (const size_t[]){6, 5},
		     RESPIO__CMD_STATE);
	expect_class(2, (const char *const[]){"CLIENTS", "REPLYX"}, (const size_t[]){6, 6},
		     RESPIO__CMD_SHARED);
	/* A NULL entry of length 0 is an empty argument, not a crash. */
	expect_class(2, (const char *const[]){"CLIENT", NULL}, (const size_t[]){6, 0},
		     RESPIO__CMD_SHARED);
}

Test(command_policy, xread_refused_only_with_block)
{
	expect_allowed(5, (const char *const[]){"XREAD", "STREAMS", "s", "0"});
	expect_allowed(6, (const char *const[]){"XREAD", "COUNT", "1", "STREAMS", "s", "0"});
	expect_refused(6, (const char *const[]){"XREAD", "BLOCK", "0", "STREAMS", "s", "$"},
		       RESPIO__CMD_BLOCKING);
	expect_refused(
	    8, (const char *const[]){"xread", "count", "1", "block", "100", "streams", "s", "$"},
	    RESPIO__CMD_BLOCKING);
	/* After STREAMS come keys and IDs: a stream named "block" is no option. */
	expect_allowed(4, (const char *const[]){"XREAD", "STREAMS", "block", "0"});
	expect_allowed(6, (const char *const[]){"XREAD", "COUNT", "1", "STREAMS", "block", "0"});
	expect_allowed(6, (const char *const[]){"XREAD", "STREAMS", "block", "BLOCK", "0", "0"});

	expect_allowed(7,
		       (const char *const[]){"XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"});
	expect_refused(9,
		       (const char *const[]){"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0",
					     "STREAMS", "s", ">"},
		       RESPIO__CMD_BLOCKING);
	expect_refused(10,
		       (const char *const[]){"xreadgroup", "group", "g", "c", "noack", "Block",
					     "10", "streams", "s", ">"},
		       RESPIO__CMD_BLOCKING);
	/* A group, a consumer or a count is a value, whatever it is called. */
	expect_allowed(9, (const char *const[]){"XREADGROUP", "GROUP", "block", "block", "COUNT",
						"1", "STREAMS", "block", ">"});
	expect_allowed(9, (const char *const[]){"XREADGROUP", "GROUP", "streams", "block", "COUNT",
						"1", "STREAMS", "s", ">"});
	/* Views: "BLOCK" out of "BLOCKS", and an argument "BLOCKS" whole. */
	expect_class(6, (const char *const[]){"XREADX", "BLOCKS", "0", "STREAMS", "s", "$"},
		     (const size_t[]){5, 5, 1, 7, 1, 1}, RESPIO__CMD_BLOCKING);
	expect_class(6, (const char *const[]){"XREADX", "BLOCKS", "0", "STREAMS", "s", "$"},
		     (const size_t[]){5, 6, 1, 7, 1, 1}, RESPIO__CMD_SHARED);
}

Test(command_policy, everyday_commands_allowed)
{
	expect_allowed(1, (const char *const[]){"PING"});
	expect_allowed(2, (const char *const[]){"GET", "k"});
	expect_allowed(3, (const char *const[]){"set", "k", "v"});
	expect_allowed(3, (const char *const[]){"EVAL", "return 1", "0"});
	expect_allowed(5, (const char *const[]){"XADD", "s", "*", "f", "v"});
	expect_allowed(3, (const char *const[]){"PUBLISH", "ch", "x"});
	expect_allowed(3, (const char *const[]){"LPUSH", "l", "x"});
	expect_allowed(2, (const char *const[]){"LPOP", "l"});
	expect_allowed(2, (const char *const[]){"INFO", "server"});
	expect_allowed(1, (const char *const[]){"FLUSHALL"});
	expect_allowed(1, (const char *const[]){"DBSIZE"});
	expect_allowed(3, (const char *const[]){"PUBSUB", "CHANNELS", "*"});
	/* Near misses: a prefix, a longer name, another name of the same length. */
	expect_allowed(1, (const char *const[]){"MULT"});
	expect_allowed(1, (const char *const[]){"MULTIX"});
	expect_allowed(1, (const char *const[]){"EXECX"});
	expect_allowed(1, (const char *const[]){"WAITA"});
	expect_allowed(1, (const char *const[]){"BLPOPS"});
	expect_allowed(1, (const char *const[]){"SUBSCRIBES"});
	expect_allowed(1, (const char *const[]){""});
	expect_allowed(1, (const char *const[]){"A-NAME-LONGER-THAN-THIRTY-TWO-BYTES-AND-MORE"});
	/* Binary-safe: bytes after a NUL count, and so do bytes above 127. */
	expect_class(1, (const char *const[]){"MUL\0TI"}, (const size_t[]){6}, RESPIO__CMD_SHARED);
	expect_class(1, (const char *const[]){"MULTI\0"}, (const size_t[]){6}, RESPIO__CMD_SHARED);
	expect_class(1, (const char *const[]){"MULT\xc9"}, (const size_t[]){5}, RESPIO__CMD_SHARED);
}

/* The policy is the engine's: a respio_conn is nobody else's connection, so
 * it sends what respio_submit refuses (SUBSCRIBE on one: test_conn.c). */
Test(command_policy, conn_runs_what_the_engine_refuses)
{
	respio_config cfg;
	respio_conn *c;
	respio_reply *r = NULL;
	int rc;

	if (!test_have_redis_server())
		cr_skip_test("redis-server is not installed");
	cr_assert_eq(test_server_start(&srv, NULL), 0, "redis-server did not start");
	have_srv = true;
	respio_config_init(&cfg);
	cfg.port = srv.port;
	cr_assert_eq(respio_conn_create(&cfg, &c), 0);
	rc = respio_conn_connect(c);
	cr_assert_eq(rc, 0, "connect: %s", respio_err_name(rc));

	static const struct {
		bool refused; /* by respio_submit */
		int argc;
		const char *argv[3];
		enum respio_reply_type type;
	} steps[] = {
	    {true, 1, {"MULTI"}, RESPIO_REPLY_STATUS},
	    {false, 3, {"SET", "k", "v"}, RESPIO_REPLY_STATUS}, /* QUEUED */
	    {true, 1, {"EXEC"}, RESPIO_REPLY_ARRAY},
	    {true, 2, {"SELECT", "1"}, RESPIO_REPLY_STATUS},
	    {true, 3, {"CLIENT", "SETNAME", "policy"}, RESPIO_REPLY_STATUS},
	    {true, 3, {"BLPOP", "empty", "0.05"}, RESPIO_REPLY_NIL}, /* waits 50 ms */
	    {false, 2, {"GET", "k"}, RESPIO_REPLY_NIL},		     /* db 1 */
	};
	for (size_t i = 0; i < COUNT(steps); i++) {
		rc = respio__command_policy(steps[i].argc, steps[i].argv, NULL);
		cr_assert_eq(rc, steps[i].refused ? RESPIO_E_NEEDS_SESSION : 0, "%s: %s",
			     steps[i].argv[0], respio_err_name(rc));
		rc = respio_conn_command(c, steps[i].argc, steps[i].argv, NULL, &r);
		cr_assert_eq(rc, 0, "%s: %s (%s)", steps[i].argv[0], respio_err_name(rc),
			     respio_conn_errdetail(c));
		cr_assert_eq(respio_reply_type(r), steps[i].type, "%s: reply type %d",
			     steps[i].argv[0], respio_reply_type(r));
		respio_reply_free(r);
	}
	respio_conn_destroy(c);
}

/* A blocking command's own block time, from its arguments: what the
 * automatic lease's deadline is built on. */
Test(command_policy, block_time_of_each_blocking_command)
{
	static const struct {
		const char *argv[8];
		int argc;
		int want; /* 1 finite, 0 forever, -1 unreadable */
		int64_t ns;
	} cases[] = {
	    {{"BLPOP", "q", "2"}, 3, 1, 2000000000},
	    {{"blpop", "a", "b", "0.5"}, 4, 1, 500000000},
	    {{"BRPOP", "q", "0"}, 3, 0, 0},
	    {{"BLMOVE", "a", "b", "LEFT", "RIGHT", "1"}, 6, 1, 1000000000},
	    {{"BRPOPLPUSH", "a", "b", "3"}, 4, 1, 3000000000},
	    {{"BZPOPMIN", "z", "0"}, 3, 0, 0},
	    {{"BLMPOP", "2", "1", "q", "LEFT"}, 5, 1, 2000000000},
	    {{"BZMPOP", "0", "1", "z", "MIN"}, 5, 0, 0},
	    {{"WAIT", "1", "250"}, 3, 1, 250000000},
	    {{"WAITAOF", "0", "1", "100"}, 4, 1, 100000000},
	    {{"XREAD", "BLOCK", "1500", "STREAMS", "s", "$"}, 6, 1, 1500000000},
	    {{"XREAD", "COUNT", "5", "BLOCK", "0", "STREAMS", "s", "$"}, 8, 0, 0},
	    {{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "20", "STREAMS", "s"}, 8, 1, 20000000},
	    /* "block" as a stream key after STREAMS is not the option. */
	    {{"XREAD", "STREAMS", "block", "5"}, 4, -1, 0},
	    {{"BLPOP", "q", "soon"}, 3, -1, 0},
	    {{"BLPOP", "q", "-1"}, 3, -1, 0},
	    {{"BLPOP", "q", "2x"}, 3, -1, 0},
	};

	for (size_t i = 0; i < COUNT(cases); i++) {
		int64_t ns = -7;
		int got = respio__command_block_ns(cases[i].argc, cases[i].argv, NULL, &ns);

		cr_expect_eq(got, cases[i].want, "%s %s: %d, want %d", cases[i].argv[0],
			     cases[i].argv[cases[i].argc - 1], got, cases[i].want);
		if (got >= 0 && cases[i].want >= 0)
			cr_expect_eq(ns, cases[i].ns, "%s: %lld ns, want %lld", cases[i].argv[0],
				     (long long)ns, (long long)cases[i].ns);
	}
}

/* What a command leaves on a session's connection, for respio_end. */
Test(command_policy, session_effects)
{
	static const struct {
		const char *argv[4];
		int argc;
		enum respio__session_effect want;
	} cases[] = {
	    {{"GET", "k"}, 2, RESPIO__EFFECT_NONE},
	    {{"BLPOP", "q", "0"}, 3, RESPIO__EFFECT_NONE},
	    {{"multi"}, 1, RESPIO__EFFECT_MULTI},
	    {{"EXEC"}, 1, RESPIO__EFFECT_EXEC},
	    {{"DISCARD"}, 1, RESPIO__EFFECT_EXEC},
	    {{"WATCH", "k"}, 2, RESPIO__EFFECT_WATCH},
	    {{"UNWATCH"}, 1, RESPIO__EFFECT_UNWATCH},
	    {{"SELECT", "3"}, 2, RESPIO__EFFECT_SELECT},
	    {{"CLIENT", "tracking", "on"}, 3, RESPIO__EFFECT_TRACKING},
	    {{"CLIENT", "CACHING", "yes"}, 3, RESPIO__EFFECT_NONE},
	    {{"CLIENT", "ID"}, 2, RESPIO__EFFECT_NONE},
	    {{"CLIENT", "SETNAME", "x"}, 3, RESPIO__EFFECT_UNRESETTABLE},
	    {{"AUTH", "pw"}, 2, RESPIO__EFFECT_UNRESETTABLE},
	    {{"HELLO", "3"}, 2, RESPIO__EFFECT_UNRESETTABLE},
	    {{"RESET"}, 1, RESPIO__EFFECT_UNRESETTABLE},
	    {{"READONLY"}, 1, RESPIO__EFFECT_UNRESETTABLE},
	};

	for (size_t i = 0; i < COUNT(cases); i++)
		cr_expect_eq(respio__command_session_effect(cases[i].argc, cases[i].argv, NULL),
			     cases[i].want, "%s %s", cases[i].argv[0],
			     cases[i].argc > 1 ? cases[i].argv[1] : "");
}

/* Replica reads: which commands only read. */
Test(command_policy, reads_for_replicas)
{
	static const char *const reads[] = {
	    "GET",	"get",	  "MGET", "HGETALL", "LRANGE", "ZRANGE",       "ZREVRANGEBYSCORE",
	    "SMEMBERS", "EXISTS", "TTL",  "SCAN",    "XRANGE", "GEORADIUS_RO", "BITCOUNT"};
	static const char *const writes[] = {"SET",   "DEL",	   "INCR", "EVAL",  "GETDEL",
					     "GETEX", "GEORADIUS", "SORT", "XREAD", "BLPOP",
					     "MULTI", "G",	   "ZZZ",  ""};

	for (size_t i = 0; i < COUNT(reads); i++)
		cr_expect(respio__command_is_read(1, &reads[i], NULL), "%s", reads[i]);
	for (size_t i = 0; i < COUNT(writes); i++)
		cr_expect(!respio__command_is_read(1, &writes[i], NULL), "%s", writes[i]);
}

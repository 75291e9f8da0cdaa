/* SPDX-License-Identifier: MIT */
/* The table of commands that must not reach a shared connection, and its lookup. */
#include <stdlib.h>
#include <string.h>

#include <respio/common.h>

#include "command_policy.h"
#include "internal.h"

/*
 * A shared connection is pipelined: every thread routed to it has requests
 * on it, and replies are matched to requests by order alone. So a command
 * that changes what the connection does to later commands would change it
 * for someone else's: after MULTI another thread's GET answers QUEUED, after
 * SELECT it reads another database, after CLIENT REPLY OFF it never hears
 * back. Such state would also be lost silently when the engine reconnects,
 * which it does on its own. A command that turns the connection into a push
 * stream (SUBSCRIBE, MONITOR) leaves the FIFO with nothing to match, and a
 * blocking one (BLPOP) holds up every request queued behind it for as long
 * as it waits. These need a connection of their own: a session.
 *
 * XX(class, name, match, arg). Rows sorted by name, then arg, in byte order
 * (the lookup is a binary search; test_command_policy checks the order).
 */
#define RESPIO__COMMAND_POLICY_MAP(XX)                                                             \
	XX(STATE, "AUTH", NAME, "")                                                                \
	XX(BLOCKING, "BLMOVE", NAME, "")                                                           \
	XX(BLOCKING, "BLMPOP", NAME, "")                                                           \
	XX(BLOCKING, "BLPOP", NAME, "")                                                            \
	XX(BLOCKING, "BRPOP", NAME, "")                                                            \
	XX(BLOCKING, "BRPOPLPUSH", NAME, "")                                                       \
	XX(BLOCKING, "BZMPOP", NAME, "")                                                           \
	XX(BLOCKING, "BZPOPMAX", NAME, "")                                                         \
	XX(BLOCKING, "BZPOPMIN", NAME, "")                                                         \
	XX(STATE, "CLIENT", SUBCOMMAND, "CACHING")                                                 \
	XX(STATE, "CLIENT", SUBCOMMAND, "NO-EVICT")                                                \
	XX(STATE, "CLIENT", SUBCOMMAND, "NO-TOUCH")                                                \
	XX(STATE, "CLIENT", SUBCOMMAND, "REPLY")                                                   \
	XX(STATE, "CLIENT", SUBCOMMAND, "SETINFO")                                                 \
	XX(STATE, "CLIENT", SUBCOMMAND, "SETNAME")                                                 \
	XX(STATE, "CLIENT", SUBCOMMAND, "TRACKING")                                                \
	XX(STATE, "DISCARD", NAME, "")                                                             \
	XX(STATE, "EXEC", NAME, "")                                                                \
	XX(STATE, "HELLO", NAME, "")                                                               \
	XX(STREAM, "MONITOR", NAME, "")                                                            \
	XX(STATE, "MULTI", NAME, "")                                                               \
	XX(STREAM, "PSUBSCRIBE", NAME, "")                                                         \
	XX(STREAM, "PSYNC", NAME, "")                                                              \
	XX(STREAM, "PUNSUBSCRIBE", NAME, "")                                                       \
	XX(STATE, "QUIT", NAME, "")                                                                \
	XX(STATE, "READONLY", NAME, "")                                                            \
	XX(STATE, "READWRITE", NAME, "")                                                           \
	XX(STATE, "RESET", NAME, "")                                                               \
	XX(STATE, "SELECT", NAME, "")                                                              \
	XX(STREAM, "SSUBSCRIBE", NAME, "")                                                         \
	XX(STREAM, "SUBSCRIBE", NAME, "")                                                          \
	XX(STREAM, "SUNSUBSCRIBE", NAME, "")                                                       \
	XX(STREAM, "SYNC", NAME, "")                                                               \
	XX(STREAM, "UNSUBSCRIBE", NAME, "")                                                        \
	XX(STATE, "UNWATCH", NAME, "")                                                             \
	XX(BLOCKING, "WAIT", NAME, "")                                                             \
	XX(BLOCKING, "WAITAOF", NAME, "")                                                          \
	XX(STATE, "WATCH", NAME, "")                                                               \
	XX(BLOCKING, "XREAD", OPTION, "BLOCK")                                                     \
	XX(BLOCKING, "XREADGROUP", OPTION, "BLOCK")

#define RESPIO__RULE_ROW(cls, name, match, arg)                                                    \
	{name, arg, sizeof(name) - 1, sizeof(arg) - 1, RESPIO__CMD_##cls, RESPIO__MATCH_##match},
const struct respio__command_rule respio__command_rules[] = {
    RESPIO__COMMAND_POLICY_MAP(RESPIO__RULE_ROW)};
#undef RESPIO__RULE_ROW

const size_t respio__command_rules_count = RESPIO__ARRAY_SIZE(respio__command_rules);

/* Every submitted command runs through the lookup, GET and SET included.
 * The lengths the table's names come in, one bit each, let the shortest
 * names (GET, SET, DEL, TTL) and the longest go before a byte is compared;
 * the rest take a binary search of about six comparisons, most of which end
 * at the first byte. */
#define RESPIO__RULE_LEN_BIT(cls, name, match, arg) | (UINT32_C(1) << (sizeof(name) - 1))
static const uint32_t name_lengths = 0 RESPIO__COMMAND_POLICY_MAP(RESPIO__RULE_LEN_BIT);
#undef RESPIO__RULE_LEN_BIT

#define RESPIO__RULE_SHORT(cls, name, match, arg)                                                  \
	_Static_assert(sizeof(name) <= 32, "name_lengths has a bit for lengths up to 31");
RESPIO__COMMAND_POLICY_MAP(RESPIO__RULE_SHORT)
#undef RESPIO__RULE_SHORT

static inline unsigned char upper(unsigned char c)
{
	return c >= 'a' && c <= 'z' ? (unsigned char)(c - ('a' - 'A')) : c;
}

/* Compare s (any case, len bytes, not NUL-terminated) with an upper-case
 * table string, in the table's order: < 0, 0, > 0. */
static int compare_upper(const char *s, size_t len, const char *u, size_t ulen)
{
	size_t n = len < ulen ? len : ulen;

	for (size_t i = 0; i < n; i++) {
		int d = upper((unsigned char)s[i]) - (unsigned char)u[i];

		if (d)
			return d;
	}
	return (len > ulen) - (len < ulen);
}

static size_t arg_len(const char *const *argv, const size_t *argvlen, int i)
{
	if (!argv[i])
		return 0;
	return argvlen ? argvlen[i] : strlen(argv[i]);
}

static bool arg_is(const char *const *argv, const size_t *argvlen, int i, const char *u,
		   size_t ulen)
{
	return argv[i] && compare_upper(argv[i], arg_len(argv, argvlen, i), u, ulen) == 0;
}

#define ARG_IS(i, lit) arg_is(argv, argvlen, (i), lit, sizeof(lit) - 1)

/*
 * XREAD [COUNT n] [BLOCK ms] STREAMS key... id...;
 * XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] STREAMS ...
 * Options come before STREAMS, and what follows STREAMS are keys and IDs,
 * which may well be spelled "block"; so are a group and a consumer. Walks
 * the options as the server parses them, skipping each option's values.
 */
static bool has_read_option(int argc, const char *const *argv, const size_t *argvlen,
			    const struct respio__command_rule *r)
{
	for (int i = 1; i < argc; i++) {
		if (ARG_IS(i, "STREAMS"))
			return false;
		if (arg_is(argv, argvlen, i, r->arg, r->arg_len))
			return true;
		if (ARG_IS(i, "GROUP"))
			i += 2;
		else if (ARG_IS(i, "COUNT") || ARG_IS(i, "BLOCK"))
			i += 1;
	}
	return false;
}

static bool rule_matches(const struct respio__command_rule *r, int argc, const char *const *argv,
			 const size_t *argvlen)
{
	switch (r->match) {
	case RESPIO__MATCH_NAME: return true;
	case RESPIO__MATCH_SUBCOMMAND:
		return argc > 1 && arg_is(argv, argvlen, 1, r->arg, r->arg_len);
	case RESPIO__MATCH_OPTION: return has_read_option(argc, argv, argvlen, r);
	}
	return false;
}

enum respio__command_class respio__command_classify(int argc, const char *const *argv,
						    const size_t *argvlen)
{
	const char *name = argv[0];
	size_t len = arg_len(argv, argvlen, 0), lo = 0, hi = respio__command_rules_count;

	if (len >= 32 || !(name_lengths >> len & 1))
		return RESPIO__CMD_SHARED;
	/* The first row with this name (several rows share CLIENT). */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct respio__command_rule *r = &respio__command_rules[mid];

		if (compare_upper(name, len, r->name, r->name_len) > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < respio__command_rules_count; lo++) {
		const struct respio__command_rule *r = &respio__command_rules[lo];

		if (compare_upper(name, len, r->name, r->name_len) != 0)
			break;
		if (rule_matches(r, argc, argv, argvlen))
			return (enum respio__command_class)r->cls;
	}
	return RESPIO__CMD_SHARED;
}

int respio__command_policy(int argc, const char *const *argv, const size_t *argvlen)
{
	return respio__command_classify(argc, argv, argvlen) == RESPIO__CMD_SHARED
		   ? 0
		   : RESPIO_E_NEEDS_SESSION;
}

/* A decimal number of units (seconds may have a fraction, "0.5") in ns:
 * false when arg is not one, or is negative. */
static bool parse_block(const char *s, size_t len, int64_t unit_ns, int64_t *ns)
{
	char buf[32];
	char *end;
	double v;

	if (!s || len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	v = strtod(buf, &end);
	if (end != buf + len || !(v >= 0) || v > 1e9)
		return false;
	*ns = (int64_t)(v * (double)unit_ns);
	return true;
}

int respio__command_block_ns(int argc, const char *const *argv, const size_t *argvlen,
			     int64_t *block_ns)
{
	int64_t s_ns = 1000000000, ms_ns = 1000000;
	int at = argc - 1; /* where the timeout is; in seconds unless said */
	int64_t unit = s_ns;

	if (ARG_IS(0, "BLMPOP") || ARG_IS(0, "BZMPOP")) {
		at = 1;
	} else if (ARG_IS(0, "WAIT") || ARG_IS(0, "WAITAOF")) {
		unit = ms_ns;
	} else if (ARG_IS(0, "XREAD") || ARG_IS(0, "XREADGROUP")) {
		/* BLOCK ms among the options, before STREAMS (has_read_option). */
		at = -1;
		unit = ms_ns;
		for (int i = 1; i < argc && !ARG_IS(i, "STREAMS"); i++) {
			if (ARG_IS(i, "BLOCK")) {
				at = i + 1;
				break;
			}
			if (ARG_IS(i, "GROUP"))
				i += 2;
			else if (ARG_IS(i, "COUNT"))
				i += 1;
		}
	}
	if (at < 1 || at >= argc ||
	    !parse_block(argv[at], arg_len(argv, argvlen, at), unit, block_ns))
		return -1;
	return *block_ns > 0;
}

enum respio__session_effect respio__command_session_effect(int argc, const char *const *argv,
							   const size_t *argvlen)
{
	if (respio__command_classify(argc, argv, argvlen) != RESPIO__CMD_STATE)
		return RESPIO__EFFECT_NONE;
	if (ARG_IS(0, "MULTI"))
		return RESPIO__EFFECT_MULTI;
	if (ARG_IS(0, "EXEC") || ARG_IS(0, "DISCARD"))
		return RESPIO__EFFECT_EXEC;
	if (ARG_IS(0, "WATCH"))
		return RESPIO__EFFECT_WATCH;
	if (ARG_IS(0, "UNWATCH"))
		return RESPIO__EFFECT_UNWATCH;
	if (ARG_IS(0, "SELECT"))
		return RESPIO__EFFECT_SELECT;
	if (ARG_IS(0, "CLIENT") && argc > 1 && ARG_IS(1, "TRACKING"))
		return RESPIO__EFFECT_TRACKING;
	if (ARG_IS(0, "CLIENT") && argc > 1 && ARG_IS(1, "CACHING"))
		return RESPIO__EFFECT_NONE; /* applies to the next command only */
	return RESPIO__EFFECT_UNRESETTABLE;
}

/* Commands that only read, for replica reads: sorted, upper case. The
 * generic reads a replica answers as the master would (no writes, no
 * blocking, no scripts, which may write). */
static const char *const read_commands[] = {
    "BITCOUNT",
    "BITPOS",
    "DBSIZE",
    "EXISTS",
    "EXPIRETIME",
    "GEODIST",
    "GEOHASH",
    "GEOPOS",
    "GEORADIUS_RO",
    "GEOSEARCH",
    "GET",
    "GETBIT",
    "GETRANGE",
    "HEXISTS",
    "HGET",
    "HGETALL",
    "HKEYS",
    "HLEN",
    "HMGET",
    "HRANDFIELD",
    "HSCAN",
    "HSTRLEN",
    "HVALS",
    "KEYS",
    "LCS",
    "LINDEX",
    "LLEN",
    "LPOS",
    "LRANGE",
    "MGET",
    "PEXPIRETIME",
    "PFCOUNT",
    "PTTL",
    "RANDOMKEY",
    "SCAN",
    "SCARD",
    "SDIFF",
    "SINTER",
    "SINTERCARD",
    "SISMEMBER",
    "SMEMBERS",
    "SMISMEMBER",
    "SRANDMEMBER",
    "SSCAN",
    "STRLEN",
    "SUBSTR",
    "SUNION",
    "TOUCH",
    "TTL",
    "TYPE",
    "XLEN",
    "XRANGE",
    "XREVRANGE",
    "ZCARD",
    "ZCOUNT",
    "ZDIFF",
    "ZINTER",
    "ZLEXCOUNT",
    "ZMSCORE",
    "ZRANDMEMBER",
    "ZRANGE",
    "ZRANGEBYLEX",
    "ZRANGEBYSCORE",
    "ZRANK",
    "ZREVRANGE",
    "ZREVRANGEBYLEX",
    "ZREVRANGEBYSCORE",
    "ZREVRANK",
    "ZSCAN",
    "ZSCORE",
    "ZUNION",
};

bool respio__command_is_read(int argc, const char *const *argv, const size_t *argvlen)
{
	size_t len = arg_len(argv, argvlen, 0), lo = 0,
	       hi = sizeof(read_commands) / sizeof(read_commands[0]);

	(void)argc;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = compare_upper(argv[0], len, read_commands[mid], strlen(read_commands[mid]));

		if (d == 0)
			return true;
		if (d > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

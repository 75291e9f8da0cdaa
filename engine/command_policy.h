/* SPDX-License-Identifier: MIT */
/* Which commands may run on the engine's shared, pipelined connections. */
#ifndef RESPIO_COMMAND_POLICY_H
#define RESPIO_COMMAND_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why a command is kept off shared connections. The class stays in the
 * table although all three are refused alike today: with the pool, blocking
 * commands are to go to a connection leased for the call, the others to
 * sessions. */
enum respio__command_class {
	RESPIO__CMD_SHARED = 0, /* fine on a shared connection */
	RESPIO__CMD_STATE,	/* changes the connection's state */
	RESPIO__CMD_STREAM,	/* turns the connection into a stream of pushes */
	RESPIO__CMD_BLOCKING,	/* holds the connection until data arrives */
};

/* What in argv a rule looks at besides the command's name. */
enum respio__command_match {
	RESPIO__MATCH_NAME = 0,	  /* the name alone */
	RESPIO__MATCH_SUBCOMMAND, /* argv[1] is arg */
	RESPIO__MATCH_OPTION,	  /* arg is among XREAD's options (before STREAMS) */
};

/* One row of the table. Names and args are upper case. */
struct respio__command_rule {
	const char *name;
	const char *arg; /* "" for RESPIO__MATCH_NAME */
	uint8_t name_len;
	uint8_t arg_len;
	uint8_t cls;   /* enum respio__command_class */
	uint8_t match; /* enum respio__command_match */
};

/* The table, sorted by name then arg (byte order), for the tests and the
 * docs to walk. Immutable. */
extern const struct respio__command_rule respio__command_rules[];
extern const size_t respio__command_rules_count;

/*
 * The class of a command: RESPIO__CMD_SHARED, or the class of the rule that
 * keeps it off shared connections. argv as respio_submit takes it: argc >= 1,
 * argv[0] not NULL, entries NUL-terminated only when argvlen is NULL; a NULL
 * entry past argv[0] reads as empty. Any thread; touches no shared state.
 */
enum respio__command_class respio__command_classify(int argc, const char *const *argv,
						    const size_t *argvlen);

/* 0 when argv may run on a shared connection, else RESPIO_E_NEEDS_SESSION.
 * Same arguments and contract as respio__command_classify. */
int respio__command_policy(int argc, const char *const *argv, const size_t *argvlen);

/*
 * How long a blocking command blocks, from its own arguments (BLPOP's
 * seconds, XREAD's BLOCK milliseconds, WAIT's milliseconds...): 1 with
 * *block_ns set, 0 when it blocks until data comes (a timeout of 0), -1
 * when its arguments say nothing usable (the server will refuse it).
 */
int respio__command_block_ns(int argc, const char *const *argv, const size_t *argvlen,
			     int64_t *block_ns);

/* What a command leaves on a session's connection, for its reset at
 * respio_end. */
enum respio__session_effect {
	RESPIO__EFFECT_NONE = 0,
	RESPIO__EFFECT_MULTI,	     /* in a transaction: DISCARD */
	RESPIO__EFFECT_EXEC,	     /* EXEC or DISCARD: out of it, unwatched */
	RESPIO__EFFECT_WATCH,	     /* watching: UNWATCH */
	RESPIO__EFFECT_UNWATCH,	     /* not watching */
	RESPIO__EFFECT_SELECT,	     /* another database: SELECT cfg.db */
	RESPIO__EFFECT_TRACKING,     /* CLIENT TRACKING: off */
	RESPIO__EFFECT_UNRESETTABLE, /* AUTH, HELLO, RESET, CLIENT REPLY...: close */
};

enum respio__session_effect respio__command_session_effect(int argc, const char *const *argv,
							   const size_t *argvlen);

/* The command only reads (GET, HGETALL, LRANGE...): it may go to a replica
 * (replica reads). Same arguments as respio__command_classify. */
bool respio__command_is_read(int argc, const char *const *argv, const size_t *argvlen);

#endif

/* SPDX-License-Identifier: MIT */
/* The engine: many threads submit commands, shard workers pipeline them over
 * io_uring, results come back as futures. */
#ifndef RESPIO_CLIENT_H
#define RESPIO_CLIENT_H

#include <respio/commands.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct respio_client respio_client;
typedef struct respio_future respio_future;

/* What happened to a request's bytes: decides whether a retry is safe. */
enum respio_fate {
	RESPIO_FATE_NOT_SENT = 1, /* never written: safe to retry */
	RESPIO_FATE_SENT,	  /* written, no reply: it may have executed */
	RESPIO_FATE_REPLIED,	  /* the server replied (maybe with an error) */
};

/* Runs on the shard thread right after f completes; it must not block. It
 * may read f and release it. */
typedef void (*respio_future_cb)(respio_future *f, void *arg);

typedef struct respio_submit_opts {
	int64_t timeout_ms;  /* whole trip (queue, send, reply); 0 = cfg.timeout_ms, < 0 = none */
	respio_future_cb cb; /* optional completion callback */
	void *cb_arg;
} respio_submit_opts;

/*
 * Start cfg.shards workers (each with its io_uring, ring and connections)
 * and the control thread; pre-warm connections. The caller owns *out.
 * The first connection is dialed before create returns, so an unreachable
 * or refusing server fails it: -errno for connect errors (-ECONNREFUSED,
 * -ETIMEDOUT), RESPIO_E_RESOLVE, RESPIO_E_HANDSHAKE when the server refused
 * the handshake (wrong password, -LOADING, too many clients); *out is then
 * NULL and respio_client_errdetail(NULL) on the same thread says why, in
 * the server's words when it refused.
 */
RESPIO_API int respio_client_create(const respio_config *cfg, respio_client **out);

/*
 * Stop accepting requests, complete every pending future with
 * RESPIO_E_SHUTDOWN (fate as it stands), stop every thread and close every
 * socket; c itself stays valid. Any thread but a completion callback, any
 * number of times, also while other threads are inside respio_submit: each
 * of those returns RESPIO_E_SHUTDOWN, or a future that completes (waits on
 * an exhausted pool or a full ring end at once). Every respio_submit after
 * it returns RESPIO_E_SHUTDOWN. Use it to stop threads that submit in a
 * loop before respio_client_destroy.
 */
RESPIO_API void respio_client_shutdown(respio_client *c);

/* respio_client_shutdown, then free the client. Submits in progress when it
 * starts end as described there; a call on c that starts after destroy has
 * returned is a use after free, as with any freed object. Futures the
 * caller holds stay valid until released. Sessions never ended are freed
 * with it (and reported to the log hook): end them first. Not from a
 * completion callback. */
RESPIO_API void respio_client_destroy(respio_client *c);

/*
 * Queue one command. Any thread. On 0, *out is a future the caller owns and
 * must release (respio_future_release) whether or not it waited for it.
 * Requests one thread submits run in submission order. Fails with
 * RESPIO_E_BACKPRESSURE when the ring stays full (or max_inflight futures
 * stay alive) until the deadline, or at once when called from a completion
 * callback (a shard thread never waits), RESPIO_E_SHUTDOWN during and after
 * respio_client_shutdown,
 * RESPIO_E_INVAL for bad arguments, and RESPIO_E_NEEDS_SESSION for commands
 * that would change the shared, pipelined connection every thread's
 * requests travel on: state (MULTI, EXEC, WATCH, SELECT, AUTH, HELLO,
 * CLIENT REPLY...) and streams (SUBSCRIBE, MONITOR...); run those on a
 * session (respio_begin), or a transaction with respio_submit_transaction.
 * Blocking commands (BLPOP, WAIT, XREAD BLOCK...) run on an automatic
 * lease: a connection of their own from the pool for the call, so they
 * never stall the pipeline; their deadline is their own block time plus
 * 2 s (none for a block of 0) unless opts sets one, and they may fail with
 * RESPIO_E_POOL_EXHAUSTED after cfg.pool.wait_timeout_ms. The README's
 * "Where commands run" has the full table. On failure nothing was sent and
 * *out is NULL.
 */
RESPIO_API int respio_submit(respio_client *c, int argc, const char *const *argv,
			     const size_t *argvlen, respio_future **out);
RESPIO_API int respio_submit_with(respio_client *c, const respio_submit_opts *opts, int argc,
				  const char *const *argv, const size_t *argvlen,
				  respio_future **out);

/* Wait until f completes: 0, or -ETIMEDOUT when timeout_ms passed first
 * (-1 = no limit; the request's own deadline still bounds it). Any thread. */
RESPIO_API int respio_future_wait(respio_future *f, int64_t timeout_ms);

/* Wait for all of fs / any of fs under one deadline. wait_any sets *index to
 * a completed future. 0 or -ETIMEDOUT. Any thread. */
RESPIO_API int respio_future_wait_all(respio_future *const *fs, size_t n, int64_t timeout_ms);
RESPIO_API int respio_future_wait_any(respio_future *const *fs, size_t n, int64_t timeout_ms,
				      size_t *index);

RESPIO_API bool respio_future_ready(const respio_future *f);

/* After completion: 0 with a reply; RESPIO_E_SERVER with the error reply;
 * else a negative code (-ETIMEDOUT, RESPIO_E_CLOSED, RESPIO_E_SHUTDOWN...).
 * -EAGAIN before completion. */
RESPIO_API int respio_future_status(const respio_future *f);

/* enum respio_fate after completion; 0 before. */
RESPIO_API int respio_future_fate(const respio_future *f);

/* The reply (NULL unless status is 0 or RESPIO_E_SERVER). Owned by f:
 * valid until respio_future_release(f). */
RESPIO_API const respio_reply *respio_future_reply(const respio_future *f);

/* Give f back. Any thread, once, even before it completes (the engine then
 * drops the result). f must not be used afterwards. NULL is fine. */
RESPIO_API void respio_future_release(respio_future *f);

/* A target for the typed commands (commands.h) that submits and waits:
 * respio_get(respio_client_target(c), ...). Any thread. Lives as long as c. */
RESPIO_API respio_target *respio_client_target(respio_client *c);

/* The calling thread's last failure of a synchronous typed command on a
 * client target: the server's message, or what was wrong with the reply;
 * or, after a failed respio_client_create on this thread, why it failed (c
 * may be NULL: the detail is per thread, not per client). Valid until this
 * thread's next command or create. Any thread. */
RESPIO_API const char *respio_client_errdetail(const respio_client *c);

/*
 * The client's last failed dial or handshake, for connections the engine
 * (re)dials in the background: returns its code (0 if no dial has failed),
 * copies what happened into buf (the server's message when it refused the
 * handshake, "connect to host:port: Connection refused", ...; truncated to
 * cap - 1 bytes and terminated; "" when none), and stores its time in
 * *when_ms (CLOCK_REALTIME, milliseconds since the epoch; 0 when none).
 * A later successful dial does not clear it: when_ms says how old it is.
 * buf and when_ms may be NULL. Requests that failed because of it carry
 * the same code (RESPIO_E_HANDSHAKE for a refusal, fate NOT_SENT).
 * Any thread.
 */
RESPIO_API int respio_client_last_error(const respio_client *c, char *buf, size_t cap,
					int64_t *when_ms);

/*
 * The typed commands of commands.h as futures (any thread): each submits
 * the command and returns its future in *out, which the caller releases.
 * Read the typed result once the future is done:
 *   respio_future_ok       SET
 *   respio_future_str      GET, LPOP, RPOP, HGET (nil: ptr NULL)
 *   respio_future_integer  DEL, EXISTS, TTL, LPUSH, RPUSH, LLEN, SADD, SREM,
 *                          HSET, HDEL, PUBLISH
 *   respio_future_bool     EXPIRE, SISMEMBER
 *   respio_future_strv     SMEMBERS, HGETALL (flat field, value, ...)
 * The readers return the future's status when it failed, -EAGAIN before it
 * completes, RESPIO_E_TYPE for a reply of another shape; the strings they
 * return are the caller's (respio_str_free / respio_strv_free). They also
 * work on futures from respio_submit whose reply has that shape. (The
 * _async functions are the rows of engine/commands.def, like commands.h's.)
 */
RESPIO_API int respio_get_async(respio_client *c, const char *key, size_t keylen,
				respio_future **out);
RESPIO_API int respio_set_async(respio_client *c, const char *key, size_t keylen, const char *val,
				size_t vallen, int64_t ttl_ms, respio_future **out);
RESPIO_API int respio_del_async(respio_client *c, int nkeys, const char *const *keys,
				const size_t *keylens, respio_future **out);
RESPIO_API int respio_exists_async(respio_client *c, int nkeys, const char *const *keys,
				   const size_t *keylens, respio_future **out);
RESPIO_API int respio_expire_async(respio_client *c, const char *key, size_t keylen,
				   int64_t seconds, respio_future **out);
RESPIO_API int respio_ttl_async(respio_client *c, const char *key, size_t keylen,
				respio_future **out);
RESPIO_API int respio_lpush_async(respio_client *c, const char *key, size_t keylen, int nvals,
				  const char *const *vals, const size_t *vallens,
				  respio_future **out);
RESPIO_API int respio_rpush_async(respio_client *c, const char *key, size_t keylen, int nvals,
				  const char *const *vals, const size_t *vallens,
				  respio_future **out);
RESPIO_API int respio_lpop_async(respio_client *c, const char *key, size_t keylen,
				 respio_future **out);
RESPIO_API int respio_rpop_async(respio_client *c, const char *key, size_t keylen,
				 respio_future **out);
RESPIO_API int respio_llen_async(respio_client *c, const char *key, size_t keylen,
				 respio_future **out);
RESPIO_API int respio_sadd_async(respio_client *c, const char *key, size_t keylen, int nmembers,
				 const char *const *members, const size_t *memberlens,
				 respio_future **out);
RESPIO_API int respio_srem_async(respio_client *c, const char *key, size_t keylen, int nmembers,
				 const char *const *members, const size_t *memberlens,
				 respio_future **out);
RESPIO_API int respio_sismember_async(respio_client *c, const char *key, size_t keylen,
				      const char *member, size_t memberlen, respio_future **out);
RESPIO_API int respio_smembers_async(respio_client *c, const char *key, size_t keylen,
				     respio_future **out);
RESPIO_API int respio_hset_async(respio_client *c, const char *key, size_t keylen,
				 const char *field, size_t fieldlen, const char *val, size_t vallen,
				 respio_future **out);
RESPIO_API int respio_hget_async(respio_client *c, const char *key, size_t keylen,
				 const char *field, size_t fieldlen, respio_future **out);
RESPIO_API int respio_hdel_async(respio_client *c, const char *key, size_t keylen, int nfields,
				 const char *const *fields, const size_t *fieldlens,
				 respio_future **out);
RESPIO_API int respio_hgetall_async(respio_client *c, const char *key, size_t keylen,
				    respio_future **out);
RESPIO_API int respio_publish_async(respio_client *c, const char *channel, size_t channellen,
				    const char *msg, size_t msglen, respio_future **out);

RESPIO_API int respio_future_ok(const respio_future *f);
RESPIO_API int respio_future_str(const respio_future *f, respio_str *val);
RESPIO_API int respio_future_integer(const respio_future *f, long long *n);
RESPIO_API int respio_future_bool(const respio_future *f, bool *b);
RESPIO_API int respio_future_strv(const respio_future *f, respio_strv *v);

/*
 * Sessions: one connection taken out of the shared pipeline for one caller
 * (the seed's begin/end), for what a shared connection refuses: MULTI /
 * EXEC / DISCARD / WATCH, SELECT, CLIENT TRACKING, blocking commands. A
 * session is used from one thread at a time; its commands run in the order
 * submitted, through the shard that owns its connection. The pool keeps
 * cfg.pool.min_connections for the shared pipeline; sessions take the
 * connections between min_connections and max_connections (the README's
 * "The pool and sessions").
 *
 * respio_begin leases a connection: an idle one, or a new one dialed for
 * it. When every connection is in a session it waits up to
 * cfg.pool.wait_timeout_ms, then fails with RESPIO_E_POOL_EXHAUSTED (at
 * once from a completion callback, or when the pool has no room for
 * sessions at all: max_connections == min_connections). Also
 * RESPIO_E_SHUTDOWN, RESPIO_E_INVAL. On 0, *out is the caller's until
 * respio_end.
 */
typedef struct respio_session respio_session;

RESPIO_API int respio_begin(respio_client *c, respio_session **out);

/* The typed commands (commands.h) on the session's connection, each
 * submitting and waiting. Lives until respio_end. */
RESPIO_API respio_target *respio_session_target(respio_session *s);

/*
 * Queue one command on the session's connection; like respio_submit, but
 * every command may run here except SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and
 * MONITOR (RESPIO_E_INVAL: their pushes need the pub/sub API). Blocking
 * commands get a deadline of their block time plus 2 s (none for a block
 * of 0) unless opts sets one. If the session's connection is lost, its
 * state (MULTI, WATCH, SELECT) went with it, so it is not redialed: that
 * command and every later one fail with RESPIO_E_CLOSED until respio_end.
 */
RESPIO_API int respio_session_submit(respio_session *s, int argc, const char *const *argv,
				     const size_t *argvlen, respio_future **out);
RESPIO_API int respio_session_submit_with(respio_session *s, const respio_submit_opts *opts,
					  int argc, const char *const *argv, const size_t *argvlen,
					  respio_future **out);

/*
 * Give the connection back. A connection with a reply still outstanding
 * (a blocking command that timed out, a future not yet complete) is closed,
 * so nothing armed goes back to the pool; otherwise its state is reset in
 * one round trip (DISCARD inside MULTI, UNWATCH after WATCH, SELECT back to
 * cfg.db, CLIENT TRACKING off, then PING) and it returns to the pool, or is
 * closed on any surprise, or when the session sent a command whose state
 * cannot be reset (AUTH, HELLO, RESET, CLIENT REPLY, CLIENT SETNAME...).
 * Waits for that round trip (up to cfg.timeout_ms). s is freed: using it
 * afterwards aborts in debug builds. NULL is fine. Not from a completion
 * callback (it waits).
 */
RESPIO_API void respio_end(respio_session *s);

/* One command of a transaction. */
typedef struct respio_argv {
	int argc;
	const char *const *argv;
	const size_t *argvlen; /* NULL: argv entries are NUL-terminated */
} respio_argv;

/*
 * MULTI, cmds[0..ncmds), EXEC as one unit on a shared connection, written
 * contiguously, so no other thread's command lands inside it; *out's reply
 * is EXEC's (an array of the commands' replies, or the EXECABORT error).
 * The commands obey the shared connection's rules (no WATCH, SELECT,
 * SUBSCRIBE...: use a session); blocking ones are allowed, as inside MULTI
 * they do not block. opts may be NULL. Errors as respio_submit.
 */
RESPIO_API int respio_submit_transaction(respio_client *c, const respio_submit_opts *opts,
					 int ncmds, const respio_argv *cmds, respio_future **out);

/* Counters of one shard, or of the whole client. */
typedef struct respio_stats {
	uint32_t connections_total;  /* open connections */
	uint32_t connections_active; /* open, with requests in flight */
	uint32_t connections_idle;   /* open, nothing in flight */
	uint32_t inflight;	     /* requests a shard holds, not yet completed */
	uint32_t ring_depth;	     /* requests queued in the ring, not yet taken */
	uint64_t submitted;	     /* requests taken from the ring */
	uint64_t completed;	     /* with a reply (server errors included) */
	uint64_t failed;	     /* with an error (timeouts included) */
	uint64_t timed_out;
	uint64_t reconnects;	/* connections lost and replaced */
	uint64_t dial_failures; /* dials that failed; each retried after a backoff */
	uint64_t batches;	/* ring drains that took at least one request */
	uint64_t batched;	/* requests over those drains: mean batch size
				   is batched / batches */
	uint64_t sleeps;	/* times a shard blocked waiting for work */
	uint64_t wakeups;	/* eventfd writes by submitters: at most one per
				   sleep, never one per request */
	uint64_t waiter_wakes;	/* threads woken from a wait on a future */
	uint64_t wake_calls;	/* system calls that woke them: one per thread
				   by futex, one per batch through io_uring
				   (Linux 6.7+) */
	/* The pool, client-wide (in *total only; 0 per shard). */
	uint32_t sessions_in_use; /* begun and not ended (automatic leases too) */
	uint32_t sessions_max;	  /* connections sessions may use at once */
	uint64_t sessions_begun;  /* respio_begin and automatic leases */
	uint64_t pool_waits;	  /* begins that had to wait for a connection */
	uint64_t pool_exhausted;  /* begins that failed with POOL_EXHAUSTED */
	uint64_t idle_closed;	  /* session connections closed after max_idle_time_ms */
	uint64_t health_failures; /* health PINGs that failed or came late */
	uint64_t health_checks;	  /* health PINGs sent */
	/* Sentinel, client-wide (0 without cfg.sentinel). */
	uint64_t failovers;	  /* switches to another master */
	uint64_t rediscoveries;	  /* times the Sentinels were asked */
	uint64_t failover_holds;  /* failovers seen in progress: writes held */
	int64_t last_failover_ms; /* last switch, CLOCK_REALTIME ms; 0: none */
} respio_stats;

/* Fill *total with the sum over shards and per_shard[0..cap) with each
 * shard's counters (per_shard may be NULL). Returns the number of shards.
 * Any thread; the counters are read without stopping anything, so they are
 * each recent but not one consistent snapshot. */
RESPIO_API int respio_client_stats(respio_client *c, respio_stats *total, respio_stats *per_shard,
				   int cap);

#ifdef __cplusplus
}
#endif
#endif

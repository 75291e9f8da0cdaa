/* SPDX-License-Identifier: MIT */
/* Export macro, error codes and the shared configuration of respio. */
#ifndef RESPIO_COMMON_H
#define RESPIO_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(RESPIO_BUILDING) && defined(__GNUC__)
#define RESPIO_API __attribute__((visibility("default")))
#else
#define RESPIO_API
#endif

/*
 * Error codes. Every function that can fail returns 0 (or a non-negative
 * count) on success and a negative code on failure. OS errors are -errno
 * (-ECONNREFUSED, -ETIMEDOUT, ...); respio's own codes live in the range
 * below -30000 so they never collide with an errno value. (-30012 and
 * -30013, "not sent" and "maybe executed", were never returned and are
 * retired: a future's fate, respio_future_fate, says that for every error.)
 *
 * XX(name, value, message)
 */
#define RESPIO_ERRNO_MAP(XX)                                                                       \
	XX(PROTOCOL, -30001, "protocol error: malformed reply")                                    \
	XX(SERVER, -30002, "server replied with an error")                                         \
	XX(NOT_CONNECTED, -30003, "not connected")                                                 \
	XX(POOL_EXHAUSTED, -30004, "connection pool exhausted")                                    \
	XX(SHUTDOWN, -30005, "client is shutting down")                                            \
	XX(INVAL, -30006, "invalid argument")                                                      \
	XX(LIMIT, -30007, "reply exceeds a configured limit")                                      \
	XX(CLOSED, -30008, "connection closed by peer")                                            \
	XX(NOBUFS, -30009, "buffer too small")                                                     \
	XX(TYPE, -30010, "reply has an unexpected type")                                           \
	XX(RESOLVE, -30011, "cannot resolve host name")                                            \
	XX(BACKPRESSURE, -30014, "too many requests queued")                                       \
	XX(HANDSHAKE, -30015, "connection handshake failed")                                       \
	XX(NEEDS_SESSION, -30016, "changes or blocks a shared connection: needs a session")        \
	XX(FAILOVER, -30017, "the master changed (Sentinel failover)")                             \
	XX(NOT_MASTER, -30018, "the server is not the master (ROLE)")                              \
	XX(NO_SENTINEL, -30019, "no Sentinel answered")

enum respio_errno {
#define RESPIO__ERR_ENUM(name, value, msg) RESPIO_E_##name = (value),
	RESPIO_ERRNO_MAP(RESPIO__ERR_ENUM)
#undef RESPIO__ERR_ENUM
};

/* A human-readable message for any code this library returns (respio's own,
 * or -errno). The string is static; never free it. Any thread. */
RESPIO_API const char *respio_strerror(int err);

/* The symbolic name of a code ("RESPIO_E_PROTOCOL", "ETIMEDOUT"); static
 * string, never NULL. Any thread. */
RESPIO_API const char *respio_err_name(int err);

/*
 * Limits that bound what a reply may make the library allocate. A reply
 * that exceeds one fails with RESPIO_E_LIMIT (the connection is closed, as
 * its stream can no longer be trusted). Zero in a field means "default".
 */
typedef struct respio_limits {
	uint64_t max_bulk_len;	  /* one string; default 512 MiB (the server's own cap) */
	uint64_t max_elements;	  /* one aggregate; default 2^24 */
	uint32_t max_depth;	  /* nesting; default 64 */
	uint64_t max_reply_bytes; /* whole reply incl. overhead; default 1 GiB */
} respio_limits;

#define RESPIO_DEFAULT_MAX_BULK_LEN    (512ull << 20)
#define RESPIO_DEFAULT_MAX_ELEMENTS    (1ull << 24)
#define RESPIO_DEFAULT_MAX_DEPTH       64u
#define RESPIO_DEFAULT_MAX_REPLY_BYTES (1ull << 30)

/*
 * Redis Sentinel: where to ask for the master's address. Strings are
 * borrowed like the config's. The data nodes use the config's own
 * username, password and db; these credentials are the Sentinels' (no
 * SELECT is ever sent to a Sentinel).
 */
typedef struct respio_sentinel_config {
	const char *const *hosts; /* "host" or "host:port" each */
	int nhosts;
	int port;		 /* for hosts without one; default 26379 */
	const char *master_name; /* as the Sentinels monitor it */
	const char *username;	 /* the Sentinels' ACL user, or NULL */
	const char *password;	 /* the Sentinels' password, or NULL */
	int timeout_ms;		 /* per Sentinel dial and query; default 500 */
	int cache_ms;		 /* ask again at least this often; default 5000 */
	/* Send reads (GET, HGETALL, LRANGE...: the README's list) to a
	 * replica the Sentinels name and whose link to the master is up;
	 * writes, and reads while no replica is fit, go to the master. A read
	 * may then not see the thread's own write before it: replication is
	 * asynchronous. Takes one connection of each shard's share above
	 * min_connections. Default false. */
	bool replica_reads;
} respio_sentinel_config;

/*
 * Where and how to connect. Strings are borrowed: objects created from a
 * config copy what they need, so the config may be freed afterwards.
 * Fill with respio_config_init() before setting fields, so fields added in
 * later versions get their defaults.
 */
typedef struct respio_config {
	const char *host;	/* name or address; default "127.0.0.1" */
	int port;		/* default 6379 */
	const char *username;	/* ACL user, or NULL for "default" */
	const char *password;	/* NULL: no AUTH */
	int db;			/* SELECT at connect when non-zero; default 0 */
	int timeout_ms;		/* per command (write + reply); default 5000; <=0: none */
	int connect_timeout_ms; /* TCP connect + handshake; 0 = timeout_ms */
	int protocol;		/* 2 or 3 (HELLO 3 at connect); default 2 */
	respio_limits limits;

	/* The master is whatever these Sentinels say (the engine only; NULL:
	 * none). host and port are then the fallback, used only while no
	 * Sentinel has ever answered. */
	const respio_sentinel_config *sentinel;

	/* The engine (respio_client); ignored by respio_conn. */
	int shards;		/* worker threads; 0 = one per CPU the process may use */
	uint32_t ring_capacity; /* requests queued per ring lane (16 per shard); default 1024 */
	uint32_t max_inflight;	/* futures alive at once, whole client; default 65536 */
	/* Bytes of encoded commands larger than a future's inline space (384)
	 * between submit and the kernel, whole client; default 256 MiB. Smaller
	 * commands are bounded by max_inflight. One command larger than this
	 * still goes through when nothing else is counted. */
	uint64_t max_inflight_bytes;
	/* What happens to the engine's connections (connected, lost, a dial
	 * that failed), for the application's log; NULL fn: silent. Called on
	 * the engine's threads, concurrently: it must be thread-safe and must
	 * not block. msg is valid during the call only and never holds a
	 * password. */
	struct respio_log_config {
		void (*fn)(void *arg, int level, int code, const char *msg);
		void *arg;
	} log;
	struct respio_pool_config {
		int max_connections;	      /* default 10 */
		int min_connections;	      /* kept open, pre-warmed; default 2 */
		int connection_timeout_ms;    /* dial + handshake; default 5000 */
		int max_idle_time_ms;	      /* idle above min closed after; default 30000 */
		int health_check_interval_ms; /* PING idle connections; default 10000 */
		/* respio_begin (and a blocking command's automatic lease) waits
		 * this long for a connection when every one is in use, then
		 * fails with RESPIO_E_POOL_EXHAUSTED; 0 = default 5000; < 0:
		 * no wait. */
		int wait_timeout_ms;
	} pool;
} respio_config;

/* Levels of the engine's log events (respio_config.log). */
enum respio_log_level {
	RESPIO_LOG_ERROR = 1,
	RESPIO_LOG_WARN,
	RESPIO_LOG_INFO,
};

/* Fill cfg with defaults. Not thread-safe on the same cfg. */
RESPIO_API void respio_config_init(respio_config *cfg);

#ifdef __cplusplus
}
#endif
#endif

/* SPDX-License-Identifier: MIT */
/* The blocking connection: one socket to one server, one caller at a time. */
#ifndef RESPIO_CONN_H
#define RESPIO_CONN_H

#include <respio/resp.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A blocking connection. Not thread-safe: one thread at a time (hand it
 * over with your own synchronisation). Every call that talks to the server
 * is bounded by cfg.timeout_ms (connect by cfg.connect_timeout_ms).
 *
 * Failure model: an I/O error, a timeout, a protocol error or a limit
 * closes the socket, because the stream can no longer be trusted; the next
 * command reconnects (and re-runs AUTH/HELLO/SELECT) before it is sent.
 * A server error reply (-ERR ...) does not close anything.
 */
typedef struct respio_conn respio_conn;

/* Copy cfg (strings included) into a new, unconnected connection. The
 * caller owns *out and frees it with respio_conn_destroy. */
RESPIO_API int respio_conn_create(const respio_config *cfg, respio_conn **out);

/* Close (if open) and free. NULL is fine. */
RESPIO_API void respio_conn_destroy(respio_conn *c);

/* Resolve, connect (TCP_NODELAY, keepalive), then handshake: HELLO 3 with
 * AUTH inside it for protocol 3, else AUTH [user] pass; then SELECT db.
 * Returns 0, -errno (-ECONNREFUSED, -ETIMEDOUT, ...), RESPIO_E_RESOLVE, or
 * RESPIO_E_SERVER when the server rejected the handshake (the message is in
 * respio_conn_errdetail). Connecting an open connection reconnects it. */
RESPIO_API int respio_conn_connect(respio_conn *c);

/* Close the socket. Later commands fail with RESPIO_E_NOT_CONNECTED until
 * respio_conn_connect is called again. */
RESPIO_API void respio_conn_disconnect(respio_conn *c);

RESPIO_API bool respio_conn_is_connected(const respio_conn *c);

/* The protocol the server agreed to (2 or 3), 0 when not connected. */
RESPIO_API int respio_conn_protocol(const respio_conn *c);

/* The socket, or -1. For poll() in event loops; do not read or write it. */
RESPIO_API int respio_conn_fd(const respio_conn *c);

/*
 * Send one command and wait for its reply. argvlen may be NULL when every
 * argument is NUL-terminated. On 0, *out is a reply the caller owns (free
 * with respio_reply_free). When the server answers with an error the call
 * returns RESPIO_E_SERVER and *out still holds the error reply (owned by the
 * caller). On any other failure *out is NULL.
 */
RESPIO_API int respio_conn_command(respio_conn *c, int argc, const char *const *argv,
				   const size_t *argvlen, respio_reply **out);

/* Pipelining and push-style use (SUBSCRIBE, MONITOR): queue a command in the
 * output buffer, write all queued commands, and read the next reply with
 * its own timeout (timeout_ms < 0: cfg.timeout_ms; 0: do not wait, fail
 * with -EAGAIN when none is buffered). read_reply's *out as for command. */
RESPIO_API int respio_conn_append(respio_conn *c, int argc, const char *const *argv,
				  const size_t *argvlen);
RESPIO_API int respio_conn_flush(respio_conn *c);
RESPIO_API int respio_conn_read_reply(respio_conn *c, int timeout_ms, respio_reply **out);

/*
 * Ask the Sentinels of sc where its master is: 0 with the address most of
 * them give in host (cap bytes) and *port; RESPIO_E_NO_SENTINEL when none
 * answered, RESPIO_E_HANDSHAKE when they refused sc's credentials,
 * RESPIO_E_NOT_MASTER when they know no such master, RESPIO_E_INVAL for a
 * bad sc. For connecting a respio_conn to the master once; the engine
 * follows failovers by itself (respio_config.sentinel). Any thread.
 */
RESPIO_API int respio_sentinel_get_master(const respio_sentinel_config *sc, char *host, size_t cap,
					  int *port);

/* What went wrong last, in words: the server's error message, "protocol
 * error at byte 12: invalid type byte", "connect to 127.0.0.1:6379:
 * Connection refused". Empty string when the last call succeeded. Valid
 * until the next call on c. */
RESPIO_API const char *respio_conn_errdetail(const respio_conn *c);

#ifdef __cplusplus
}
#endif
#endif

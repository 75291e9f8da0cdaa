/* SPDX-License-Identifier: MIT */
/* The blocking connection's state and its wire (conn_io.c): buffered,
 * deadline-bounded command I/O on an open socket, which conn.c (connect,
 * handshake, the public API) builds on. Never installed. */
#ifndef RESPIO_CONN_IO_H
#define RESPIO_CONN_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

#define CONN_IBUF_SIZE (16u << 10)
#define CONN_OBUF_SIZE (16u << 10)
/* Largest single queued output: the server's own bulk cap (512 MiB) twice
 * over leaves room for a big SET plus its key; more is surely a bug. */
#define CONN_OBUF_MAX ((size_t)1 << 30)
/* Buffers that grew past this for one big command shrink back afterwards. */
#define CONN_OBUF_KEEP	    ((size_t)1 << 20)
#define CONN_ERRDETAIL_SIZE 512

struct respio_conn {
	struct respio_target target; /* handed out by respio_conn_target */
	respio_config cfg;	     /* strings point at the copies below */
	char *host;
	char *username;
	char *password;

	int fd;
	int proto;	/* 2 or 3 while connected, else 0 */
	bool wanted;	/* connect called, disconnect not: reconnect on demand */
	size_t pending; /* appended commands whose reply was not read yet */

	respio_parser *parser;
	char *obuf; /* encoded commands; [opos, olen) not written yet */
	size_t olen, opos, ocap;
	char *ibuf; /* received bytes; [ipos, ilen) not fed to the parser yet */
	size_t ilen, ipos;

	char errdetail[CONN_ERRDETAIL_SIZE];
};

/* CLOCK_MONOTONIC in milliseconds, and ms from now (-1: no deadline for
 * ms <= 0). */
int64_t respio__conn_now_ms(void);
int64_t respio__conn_deadline_after(int ms);

/* The connection's error detail (respio_conn_errdetail). */
void respio__conn_set_detail(respio_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void respio__conn_clear_detail(respio_conn *c);
/* prefix, then r's error text as one printable line. */
void respio__conn_set_detail_reply(respio_conn *c, const char *prefix, const respio_reply *r);

/* Drop the socket and everything tied to the stream (wanted untouched). */
void respio__conn_close(respio_conn *c);

/* Wait until fd is ready for events or the deadline (ms, -1: none)
 * passes: 0, -ETIMEDOUT or -errno. */
int respio__conn_wait_fd(int fd, short events, int64_t deadline);

/* Encode a command behind what is queued; write all that is queued; read
 * the next reply (pushes included); or all three for one command,
 * skipping pushes (the handshake, respio_conn_command). Contracts at each
 * in conn_io.c. */
int respio__conn_queue(respio_conn *c, int argc, const char *const *argv, const size_t *argvlen);
int respio__conn_flush(respio_conn *c, int64_t deadline);
int respio__conn_read(respio_conn *c, int64_t deadline, respio_reply **out);
int respio__conn_roundtrip(respio_conn *c, int argc, const char *const *argv, const size_t *argvlen,
			   int64_t deadline, respio_reply **out);

#endif

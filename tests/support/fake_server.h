/* SPDX-License-Identifier: MIT */
/* A scripted, misbehaving RESP "server" for tests of what real servers never do. */
#ifndef RESPIO_TEST_FAKE_SERVER_H
#define RESPIO_TEST_FAKE_SERVER_H

#include <stdbool.h>
#include <stddef.h>

/*
 * What the fake does each time a complete command arrives on a connection:
 * write reply (if any), then repeat_count copies of repeat (a generator
 * for huge or endless output, written as the client reads it), then close
 * the connection if close_after. With hang it never answers: it reads and
 * discards until the client leaves or the server is stopped.
 * Connections are served one after another, each with the same script.
 * Byte pointers are borrowed and must outlive the server.
 */
typedef struct fake_script {
	/* Answer to the first command of each connection instead of the rest
	 * of the script ("+PONG\r\n" lets a client's connect check pass);
	 * NULL: the first command gets the script like the others. */
	const char *first_reply;
	const char *reply;
	size_t reply_len; /* 0: strlen(reply) */
	const char *repeat;
	size_t repeat_len; /* 0: strlen(repeat) */
	size_t repeat_count;
	bool close_after;
	bool hang;
	/* Serve every connection at once, from one poll loop, and answer
	 * nothing but first_reply to the first command of each of the first
	 * hold_after connections: a server that takes connections and hangs
	 * (after letting a client's first dial through), with many clients
	 * stuck on it at once. The other fields are ignored, and commands
	 * are not counted. */
	bool hold;
	int hold_after;
	/* Serve only the first serve_connections connections with the
	 * script (0: every one); close each later one as soon as it is
	 * accepted, unread: a server whose new connections all fail their
	 * handshake. */
	int serve_connections;
} fake_script;

typedef struct fake_server fake_server;

/* Listen on a free 127.0.0.1 port and serve in a thread. 0 or -1. */
int fake_server_start(const fake_script *script, fake_server **out);

int fake_server_port(const fake_server *fs);

/* Connections accepted and complete commands seen so far. */
int fake_server_connections(const fake_server *fs);
int fake_server_commands(const fake_server *fs);

/* When the first connections were accepted (CLOCK_MONOTONIC, ns), in
 * order: copies up to cap of them into ns and returns how many there are
 * (at most FAKE_ACCEPT_TIMES are kept). Not with hold. */
#define FAKE_ACCEPT_TIMES 64
int fake_server_accept_times(const fake_server *fs, long long *ns, int cap);

/* With hold: the most connections at once that had sent a command and got
 * no answer (a connection the client closed is no longer counted). */
int fake_server_peak_waiting(const fake_server *fs);

/* Stop the thread (it notices within milliseconds, even mid-write) and
 * free everything. Waits at most 5 s; returns -1 if the thread did not end
 * (it is then leaked rather than hanging the test). NULL is fine. */
int fake_server_stop(fake_server *fs);

#endif

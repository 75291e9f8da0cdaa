/* SPDX-License-Identifier: MIT */
/* Start and stop throwaway redis-server processes on free loopback ports. */
#ifndef RESPIO_TEST_SERVER_H
#define RESPIO_TEST_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

#include "port.h"

typedef struct test_server {
	pid_t pid;
	int port;
	char dir[128]; /* its own temp dir: config, log, nothing persisted */
	char **extra;  /* copy of the extra config lines, for restart */
} test_server;

/* True when a redis-server binary is on PATH. Tests skip (cr_skip_test) when not. */
bool test_have_redis_server(void);

/*
 * Start redis-server on a free loopback port, no persistence, with extra
 * config lines ("requirepass secret", "user bob on >pw ~* +@all", ...;
 * NULL-terminated, may be NULL). Waits (up to 10 s) until it answers.
 * Returns 0, or -1 (message on stderr).
 */
int test_server_start(test_server *s, const char *const *extra);

/* Stop it (SIGTERM, then SIGKILL after 5 s), remove its dir. Safe twice. */
void test_server_stop(test_server *s);

/* Send a signal (SIGSTOP, SIGCONT, SIGKILL) to the server process. After a
 * SIGKILL, test_server_restart brings it back on the same port. */
void test_server_signal(test_server *s, int sig);
int test_server_restart(test_server *s);

#endif

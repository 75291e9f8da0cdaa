/* SPDX-License-Identifier: MIT */
/* The embedded server: a throwaway redis-server (or another RESP server) on a
 * free loopback port, without persistence, in a temporary directory. */
#ifndef PERF_SERVER_H
#define PERF_SERVER_H

#include <sched.h>
#include <stddef.h>
#include <sys/types.h>

struct perf_server {
	pid_t pid;
	int port;
	char dir[64];
};

/* Start cmd (NULL: "redis-server" from PATH), on cpus when not NULL, and
 * wait until it answers. 0, or -1 with the reason in err. */
int perf_server_start(struct perf_server *s, const char *cmd, const cpu_set_t *cpus, char *err,
		      size_t errlen);

/* Stop it (SIGTERM, then SIGKILL after 5 s) and remove its directory. */
void perf_server_stop(struct perf_server *s);

/* Async-signal-safe: kill the server at once (for a second Ctrl-C). */
void perf_server_kill_now(const struct perf_server *s);

#endif

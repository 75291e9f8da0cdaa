/* SPDX-License-Identifier: MIT */
/* Declarations shared between engine files; never installed. */
#ifndef RESPIO_INTERNAL_H
#define RESPIO_INTERNAL_H

#include <respio.h>

#define RESPIO__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Copy src (NULL = all defaults) into dst, replacing zero fields by defaults. */
void respio__limits_fill(respio_limits *dst, const respio_limits *src);

/* The CPUs the calling thread may run on (its affinity mask, so taskset and
 * cgroup cpusets count), at least 1: the default shard count and the spin
 * decision follow what the process can use, not what the machine has. */
int respio__cpu_count(void);

/*
 * A target runs one command synchronously. Objects that can run commands
 * (respio_conn now; the engine client and sessions later) embed one and
 * point it at their ops, so every typed command is written once, in
 * commands.c, against this interface.
 */
struct respio_target_ops {
	/* Same contract as respio_conn_command: 0 with a reply, RESPIO_E_SERVER
	 * with the error reply, or a negative code with *out NULL. */
	int (*run)(respio_target *t, int argc, const char *const *argv, const size_t *argvlen,
		   respio_reply **out);
	/* Record a failure the command layer found (e.g. an unexpected reply
	 * type) where the object's error detail reads it. May be NULL. */
	void (*set_errdetail)(respio_target *t, const char *msg);
};

struct respio_target {
	const struct respio_target_ops *ops;
};

/* conn.c: take the socket out of a connected respio_conn, which becomes
 * disconnected (not wanted); the caller owns the fd. A negative code when
 * not connected or when unread bytes are left. */
int respio__conn_detach_fd(respio_conn *c);

/* future.c: free a reply that respio__future_adopt_reply handed out. */
void respio__future_release_adopted(respio_reply *r);

#endif

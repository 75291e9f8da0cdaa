/* SPDX-License-Identifier: MIT */
/*
 * A throwaway Redis Sentinel topology for tests: a master, one replica and
 * three redis-sentinel processes monitoring the master as "mymaster", all on
 * free loopback ports, each in its own temp dir, killed with the thread that
 * started them. Talks to the servers with a small RESP client of its own, so
 * it does not depend on the engine under test.
 */
#ifndef RESPIO_TEST_SENTINEL_H
#define RESPIO_TEST_SENTINEL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "server.h"

#define TEST_SENTINELS	     3
#define TEST_SENTINEL_MASTER "mymaster"

/* Passwords: up to 63 characters, no spaces or quotes (config lines). */
struct test_sentinel_opts {
	const char *pass;	   /* data nodes' requirepass and masterauth; NULL: none */
	const char *sentinel_pass; /* Sentinels' requirepass; NULL: none */
	int quorum;		   /* 0: 2 */
	int down_after_ms;	   /* 0: 1000 */
	int failover_timeout_ms;   /* 0: 10000 */
};

typedef struct test_sentinel_topology {
	/* The data nodes as started: after a failover the replica is the
	 * master; test_sentinel_master_port says which is. */
	test_server master, replica;
	pid_t sentinel_pid[TEST_SENTINELS]; /* 0: not running */
	int sentinel_port[TEST_SENTINELS];
	char sentinel_dir[TEST_SENTINELS][128];
	bool sentinel_stopped[TEST_SENTINELS]; /* SIGSTOPped: left out of the waits */
	char pass[64];			       /* "" when none */
	char sentinel_pass[64];		       /* "" when none */
	int quorum, down_after_ms, failover_timeout_ms;
} test_sentinel_topology;

/* True when redis-sentinel (and redis-server) are on PATH. */
bool test_have_redis_sentinel(void);

/*
 * Start the topology (quorum 2, down-after 1000 ms, failover-timeout
 * 10000 ms, parallel-syncs 1 unless opts, which may be NULL, say otherwise).
 * Returns 0 once the replica is in sync and every Sentinel names the master
 * and knows the replica and the two other Sentinels (at most ~30 s); -1
 * otherwise, with the logs' tails on stderr and everything started stopped.
 */
int test_sentinel_start(test_sentinel_topology *t, const struct test_sentinel_opts *opts);

/* Stop the Sentinels, then the data nodes; remove their dirs. Safe twice. */
void test_sentinel_stop(test_sentinel_topology *t);

/* Send sig to Sentinel i: SIGKILL (or SIGTERM) waits until it is gone,
 * SIGSTOP leaves it out of the waits until SIGCONT. */
void test_sentinel_signal_sentinel(test_sentinel_topology *t, int i, int sig);

/* Start Sentinel i again on its port with the config it rewrote; 0 once
 * every running Sentinel, it included, agrees on the master and knows the
 * replica and the other running Sentinels (at most ~30 s), else -1. */
int test_sentinel_restart_sentinel(test_sentinel_topology *t, int i);

/* The master's port as the running Sentinels name it
 * (SENTINEL GET-MASTER-ADDR-BY-NAME), or -1 when none answers or they
 * disagree. */
int test_sentinel_master_port(test_sentinel_topology *t);

/* The data node listening on port, or NULL. */
test_server *test_sentinel_node(test_sentinel_topology *t, int port);

/*
 * SENTINEL FAILOVER mymaster (retried while a Sentinel answers NOGOODSLAVE
 * or INPROG, asked again if the failover aborts), then wait until every
 * running Sentinel names the other data node, the old master is its
 * replica in sync (role:slave, master_link_status:up), and every running
 * Sentinel's last INFO of the old master says so: Sentinel demotes it
 * ~10 s after the switch, and asks a replica for INFO every 10 s. A
 * failover started before the last of these can be undone (see
 * sentinel.c). ~21 s in all; returns the new master's port, or -1 after
 * 40 s.
 */
int test_sentinel_failover(test_sentinel_topology *t);

/* Wait until the data node on port is a replica of the other one, in sync
 * (the other reports it connected), and every running Sentinel names the
 * other one and has seen port as its replica in its last INFO: 0, or -1
 * after timeout_ms (allow ~20 s after a failover). */
int test_sentinel_wait_demoted(test_sentinel_topology *t, int port, int timeout_ms);

/*
 * One command to 127.0.0.1:port (AUTH pass first unless pass is NULL),
 * bounded by 2 s. The reply goes to out flattened as redis-cli prints it
 * without a terminal: a string, an error's text, an integer, "" for nil,
 * the elements of an array one a line. Returns the reply's RESP type
 * ('+', '-', ':', '$', '*'; '_' for nil; a failed AUTH's '-'), or -1 when
 * no reply came.
 */
int test_sentinel_command(int port, const char *pass, char *out, size_t cap, int argc,
			  const char *const *argv);

#endif

/* SPDX-License-Identifier: MIT */
/* The Sentinel test harness (support/sentinel.c) against real redis-sentinel
 * processes: it starts a topology the Sentinels agree on, a failover moves
 * the master and finishes demoting the old one, a Sentinel comes back from
 * SIGKILL, and passwords are required where set. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "sentinel_topology.h"

static test_sentinel_topology topo;
static bool started;

static void start(const struct test_sentinel_opts *opts)
{
	if (!test_have_redis_sentinel())
		cr_skip_test("redis-sentinel is not installed");
	cr_assert_eq(test_sentinel_start(&topo, opts), 0, "the topology did not start");
	started = true;
}

static void teardown(void)
{
	if (started)
		test_sentinel_stop(&topo);
	started = false;
}

TestSuite(sentinel_lab, .fini = teardown, .timeout = 120);

/* The node's INFO replication has line (e.g. "role:slave"). */
static bool info_has(int port, const char *pass, const char *line)
{
	const char *argv[] = {"INFO", "replication"};
	char out[4096];

	return test_sentinel_command(port, pass, out, sizeof(out), 2, argv) == '$' &&
	       strstr(out, line) != NULL;
}

Test(sentinel_lab, starts_with_the_sentinels_naming_the_master)
{
	int64_t t0 = now_ms();

	start(NULL);
	fprintf(stderr, "sentinel_lab: started in %" PRId64 " ms\n", now_ms() - t0);
	cr_expect_eq(test_sentinel_master_port(&topo), topo.master.port);
	cr_expect(info_has(topo.master.port, NULL, "connected_slaves:1"));
	cr_expect(info_has(topo.replica.port, NULL, "master_link_status:up"));
	cr_expect_eq(test_sentinel_node(&topo, topo.replica.port), &topo.replica);
	for (int i = 0; i < TEST_SENTINELS; i++) {
		const char *argv[] = {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", TEST_SENTINEL_MASTER};
		char out[128], want[64];

		snprintf(want, sizeof(want), "127.0.0.1\n%d", topo.master.port);
		cr_expect_eq(
		    test_sentinel_command(topo.sentinel_port[i], NULL, out, sizeof(out), 3, argv),
		    '*');
		cr_expect_str_eq(out, want);
	}
}

Test(sentinel_lab, failover_moves_the_master_and_demotes_the_old_one)
{
	int64_t t0;
	int port;

	start(NULL);
	t0 = now_ms();
	port = test_sentinel_failover(&topo);
	fprintf(stderr, "sentinel_lab: failover and demotion in %" PRId64 " ms\n", now_ms() - t0);
	cr_assert_eq(port, topo.replica.port);
	cr_expect_eq(test_sentinel_master_port(&topo), topo.replica.port);
	cr_expect(info_has(topo.replica.port, NULL, "role:master"));
	cr_expect(info_has(topo.master.port, NULL, "role:slave"));
	cr_expect(info_has(topo.master.port, NULL, "master_link_status:up"));
	cr_expect_eq(test_sentinel_wait_demoted(&topo, topo.master.port, 1000), 0);

	/* The next scenario starts clean: a failover back works too. */
	t0 = now_ms();
	port = test_sentinel_failover(&topo);
	fprintf(stderr, "sentinel_lab: failover back in %" PRId64 " ms\n", now_ms() - t0);
	cr_assert_eq(port, topo.master.port);
	cr_expect(info_has(topo.replica.port, NULL, "role:slave"));
}

Test(sentinel_lab, a_killed_sentinel_restarts)
{
	int64_t t0;

	start(NULL);
	test_sentinel_signal_sentinel(&topo, 1, SIGKILL);
	cr_assert_eq(topo.sentinel_pid[1], 0);
	cr_expect_eq(test_sentinel_master_port(&topo), topo.master.port,
		     "the two others still name it");
	t0 = now_ms();
	cr_assert_eq(test_sentinel_restart_sentinel(&topo, 1), 0);
	fprintf(stderr, "sentinel_lab: a Sentinel restarted in %" PRId64 " ms\n", now_ms() - t0);
	cr_expect_gt(topo.sentinel_pid[1], 0);
	cr_expect_eq(test_sentinel_master_port(&topo), topo.master.port);

	/* A stopped one is left out of the questions until it continues. */
	test_sentinel_signal_sentinel(&topo, 2, SIGSTOP);
	cr_expect_eq(test_sentinel_master_port(&topo), topo.master.port);
	test_sentinel_signal_sentinel(&topo, 2, SIGCONT);
	cr_expect_eq(test_sentinel_master_port(&topo), topo.master.port);
}

Test(sentinel_lab, passwords_are_required_where_set)
{
	const struct test_sentinel_opts opts = {.pass = "data-pw", .sentinel_pass = "sentinel-pw"};
	const char *get[] = {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", TEST_SENTINEL_MASTER};
	const char *ping[] = {"PING"};
	char out[256], want[64];
	int s = 0;

	start(&opts);
	s = topo.sentinel_port[0];
	cr_expect_eq(test_sentinel_master_port(&topo), topo.master.port);

	cr_expect_eq(test_sentinel_command(s, NULL, out, sizeof(out), 3, get), '-');
	cr_expect(strncmp(out, "NOAUTH", 6) == 0, "%s", out);
	cr_expect_eq(test_sentinel_command(s, "wrong", out, sizeof(out), 3, get), '-');
	cr_expect(strncmp(out, "WRONGPASS", 9) == 0, "%s", out);
	cr_expect_eq(test_sentinel_command(s, "sentinel-pw", out, sizeof(out), 3, get), '*');
	snprintf(want, sizeof(want), "127.0.0.1\n%d", topo.master.port);
	cr_expect_str_eq(out, want);

	/* The data nodes want theirs, not the Sentinels'. */
	cr_expect_eq(test_sentinel_command(topo.master.port, NULL, out, sizeof(out), 1, ping), '-');
	cr_expect(strncmp(out, "NOAUTH", 6) == 0, "%s", out);
	cr_expect_eq(
	    test_sentinel_command(topo.master.port, "sentinel-pw", out, sizeof(out), 1, ping), '-');
	cr_expect_eq(test_sentinel_command(topo.master.port, "data-pw", out, sizeof(out), 1, ping),
		     '+');
	cr_expect_str_eq(out, "PONG");
	cr_expect(info_has(topo.replica.port, "data-pw", "master_link_status:up"));
}

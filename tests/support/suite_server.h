/* SPDX-License-Identifier: MIT */
/* One throwaway redis-server for a whole Criterion suite: include this in
 * a test file, then declare the suite with SUITE_WITH_SERVER(name). The
 * server starts before the suite's first test (when redis-server is
 * installed) and stops after its last; tests read srv.port and have_srv,
 * and make their clients with suite_config and suite_client. Static: each
 * test binary has its own. */
#ifndef RESPIO_TEST_SUITE_SERVER_H
#define RESPIO_TEST_SUITE_SERVER_H

#include <criterion/criterion.h>
#include <stdbool.h>

#include <respio.h>

#include "server.h"

static test_server srv;
static bool have_srv;

static inline void suite_server_setup(void)
{
	if (test_have_redis_server())
		have_srv = test_server_start(&srv, NULL) == 0;
}

static inline void suite_server_teardown(void)
{
	if (have_srv)
		test_server_stop(&srv);
}

/* A config for the suite's server, 2 shards, the rest defaults: skips the
 * test without redis-server, fails it when the server did not start. */
static inline void suite_config(respio_config *cfg)
{
	if (!test_have_redis_server())
		cr_skip_test("redis-server is not installed");
	cr_assert(have_srv, "redis-server did not start");
	respio_config_init(cfg);
	cfg->port = srv.port;
	cfg->shards = 2;
}

/* A client made with cfg, or the test fails saying why. */
static inline respio_client *suite_client(const respio_config *cfg)
{
	respio_client *c = NULL;
	int rc = respio_client_create(cfg, &c);

	cr_assert_eq(rc, 0, "create: %s (%s)", respio_err_name(rc), respio_client_errdetail(NULL));
	return c;
}

#define SUITE_WITH_SERVER(name)                                                                    \
	TestSuite(name, .init = suite_server_setup, .fini = suite_server_teardown, .timeout = 120)

#endif

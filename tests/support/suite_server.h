/* SPDX-License-Identifier: MIT */
/* One throwaway redis-server for a whole Criterion suite: include this in
 * a test file, then declare the suite with SUITE_WITH_SERVER(name). The
 * server starts before the suite's first test (when redis-server is
 * installed) and stops after its last; tests read srv.port and have_srv.
 * Static: each test binary has its own. */
#ifndef RESPIO_TEST_SUITE_SERVER_H
#define RESPIO_TEST_SUITE_SERVER_H

#include <stdbool.h>

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

#define SUITE_WITH_SERVER(name)                                                                    \
	TestSuite(name, .init = suite_server_setup, .fini = suite_server_teardown, .timeout = 120)

#endif

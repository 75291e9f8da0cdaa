/* SPDX-License-Identifier: MIT */
/* The log hook (respio_config.log) against a real redis-server: connects,
 * losses and failed dials reach it, with their code, and no password. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <respio.h>

#include "server.h"

#define PASSWORD     "first-secret-pw"
#define NEW_PASSWORD "second-secret-pw"

static test_server srv;
static bool have_srv;

static void setup(void)
{
	if (test_have_redis_server())
		have_srv = test_server_start(
			       &srv, (const char *const[]){"requirepass " PASSWORD, NULL}) == 0;
}

static void teardown(void)
{
	if (have_srv)
		test_server_stop(&srv);
}

TestSuite(log, .init = setup, .fini = teardown, .timeout = 60);

struct event {
	int level, code;
	char msg[320];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct event events[256];
static int nevents;

/* Called on shard and dialer threads at once. */
static void record(void *arg, int level, int code, const char *msg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	if (nevents < 256) {
		events[nevents].level = level;
		events[nevents].code = code;
		snprintf(events[nevents].msg, sizeof(events[nevents].msg), "%s", msg);
		nevents++;
	}
	pthread_mutex_unlock(&lock);
}

/* Events so far matching level, code (any when 0) and a word of the
 * message; waits up to 10 s for at least one. */
static int count(int level, int code, const char *word)
{
	int n = 0;

	for (int tries = 0; tries < 1000 && n == 0; tries++) {
		pthread_mutex_lock(&lock);
		for (int i = 0; i < nevents; i++)
			n += events[i].level == level && (!code || events[i].code == code) &&
			     strstr(events[i].msg, word) != NULL;
		pthread_mutex_unlock(&lock);
		if (!n)
			usleep(10000);
	}
	return n;
}

static void admin(respio_conn *a, int argc, const char *const *argv)
{
	respio_reply *r = NULL;

	cr_assert_eq(respio_conn_command(a, argc, argv, NULL, &r), 0, "%s: %s", argv[0],
		     respio_conn_errdetail(a));
	respio_reply_free(r);
}

Test(log, connects_losses_and_refused_dials)
{
	respio_config cfg;
	respio_client *c = NULL;
	respio_conn *a = NULL;
	char port[16];

	if (!test_have_redis_server())
		cr_skip_test("redis-server is not installed");
	cr_assert(have_srv, "redis-server did not start");
	respio_config_init(&cfg);
	cfg.port = srv.port;
	cfg.password = PASSWORD;
	cfg.shards = 1;
	cfg.pool.min_connections = 1;
	cfg.pool.max_connections = 1;
	cfg.pool.connection_timeout_ms = 1000;
	cfg.log.fn = record;
	cr_assert_eq(respio_client_create(&cfg, &c), 0);
	cr_assert_geq(count(RESPIO_LOG_INFO, 0, "connected"), 1, "no connect event");
	snprintf(port, sizeof(port), ":%d: ", srv.port);
	cr_assert_geq(count(RESPIO_LOG_INFO, 0, port), 1, "the event does not name the server");

	/* The password changes under the client; its connection is killed:
	 * the loss and the refused redial are reported, with their codes. */
	cr_assert_eq(respio_conn_create(&cfg, &a), 0);
	cr_assert_eq(respio_conn_connect(a), 0);
	admin(a, 4, (const char *const[]){"CONFIG", "SET", "requirepass", NEW_PASSWORD});
	admin(a, 6, (const char *const[]){"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
	cr_assert_geq(count(RESPIO_LOG_WARN, 0, "connection lost"), 1, "no loss event");
	cr_assert_geq(count(RESPIO_LOG_WARN, RESPIO_E_HANDSHAKE, "dial failed"), 1,
		      "no refused-dial event with RESPIO_E_HANDSHAKE");

	pthread_mutex_lock(&lock);
	for (int i = 0; i < nevents; i++) {
		cr_assert_null(strstr(events[i].msg, PASSWORD), "a password in '%s'",
			       events[i].msg);
		cr_assert_null(strstr(events[i].msg, NEW_PASSWORD), "a password in '%s'",
			       events[i].msg);
		cr_log_info("event %d: level %d code %s: %s", i, events[i].level,
			    respio_err_name(events[i].code), events[i].msg);
	}
	pthread_mutex_unlock(&lock);
	admin(a, 4, (const char *const[]){"CONFIG", "SET", "requirepass", PASSWORD});
	respio_client_destroy(c);
	respio_conn_destroy(a);
}

/* SPDX-License-Identifier: MIT */
/* The connect-per-request load: what a client without a pool pays. Each
 * operation is respio_conn_create, respio_conn_connect (TCP connect and
 * handshake), one GET or SET, its check, respio_conn_destroy (close), so
 * its latency and the client's CPU per operation include the connection's
 * whole life. Synchronous only (K = 1). */
#include "perf.h"

#include <respio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int connect_start(const struct perf_workload *w, void **ctx, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	*ctx = (void *)w;
	return 0;
}

/* One operation on a new connection; false when it failed. */
static bool one(struct perf_thread *t, const respio_config *cfg, bool get, const char *key,
		size_t keylen, const char *val)
{
	const struct perf_workload *w = t->w;
	const char *argv[3] = {get ? "GET" : "SET", key, val};
	size_t lens[3] = {3, keylen, w->dsize};
	respio_reply *r = NULL;
	respio_conn *c;
	size_t len = 0;
	const char *s;
	int rc = respio_conn_create(cfg, &c);

	if (rc < 0) {
		perf_thread_error(t, "respio_conn_create: %s", respio_strerror(rc));
		return false;
	}
	rc = respio_conn_connect(c);
	if (rc < 0) {
		perf_thread_error(t, "respio_conn_connect: %s (%s)", respio_strerror(rc),
				  respio_conn_errdetail(c));
		respio_conn_destroy(c);
		return false;
	}
	rc = respio_conn_command(c, get ? 2 : 3, argv, lens, &r);
	if (rc < 0) {
		perf_thread_error(t, "%s %s: %s (%s)", argv[0], key, respio_strerror(rc),
				  respio_conn_errdetail(c));
	} else if (get) {
		s = respio_reply_str(r, &len);
		if (respio_reply_type(r) != RESPIO_REPLY_STRING ||
		    !perf_value_ok(key, keylen, w->dsize, s, len))
			perf_thread_error(t, "GET %s: reply mismatch (%zu bytes, type %d)", key,
					  len, (int)respio_reply_type(r));
	} else {
		s = respio_reply_str(r, &len);
		if (respio_reply_type(r) != RESPIO_REPLY_STATUS || len != 2 ||
		    memcmp(s, "OK", 2) != 0)
			perf_thread_error(t, "SET %s: unexpected reply (type %d)", key,
					  (int)respio_reply_type(r));
	}
	respio_reply_free(r);
	respio_conn_destroy(c);
	return rc >= 0;
}

static void connect_thread(struct perf_thread *t)
{
	const struct perf_workload *w = t->w;
	char key[PERF_KEY_MAX];
	char *val = malloc(w->dsize + 1);
	respio_config cfg;
	uint64_t t0 = perf_now_ns();

	if (!val) {
		perf_thread_error(t, "out of memory");
		return;
	}
	respio_config_init(&cfg);
	cfg.host = w->host;
	cfg.port = w->port;
	cfg.password = w->password;
	if (w->timeout_ms > 0)
		cfg.timeout_ms = w->timeout_ms;
	for (;;) {
		uint32_t k;
		bool get = perf_next_op(w, &t->rng, &k);
		size_t kl = perf_key(k, key);
		uint64_t t1;
		bool ok;

		if (!get)
			perf_value(key, kl, w->dsize, val);
		ok = one(t, &cfg, get, key, kl, val);
		t1 = perf_now_ns();
		if (!perf_done_op(t, t1 - t0, get ? PERF_OP_GET : PERF_OP_SET))
			break;
		if (!ok) {
			/* Do not spin on a refusing server (a full backlog, no
			 * ports left). */
			usleep(1000);
			t1 = perf_now_ns();
		}
		t0 = t1;
	}
	free(val);
}

static void connect_stop(void *ctx)
{
	(void)ctx;
}

const struct perf_load perf_load_connect = {
    .names = {"connect-per-request", "connect-per-request", "connect-per-request"},
    .start = connect_start,
    .thread = connect_thread,
    .stop = connect_stop,
};

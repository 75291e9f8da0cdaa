/* SPDX-License-Identifier: MIT */
/* The hiredis peer: T threads, each with its own redisContext, synchronous
 * for --inflight 1, else pipelining K deep in batches (K appends, then K
 * replies) or as a window (K in flight, one appended per reply read). */
#include "perf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef PERF_HAVE_HIREDIS
#include <hiredis/hiredis.h>

const bool perf_have_hiredis = true;

struct hiredis_ctx {
	int n;
	redisContext **conns;
};

static void hiredis_stop(void *p)
{
	struct hiredis_ctx *hc = p;

	if (!hc)
		return;
	for (int i = 0; i < hc->n; i++)
		if (hc->conns[i])
			redisFree(hc->conns[i]);
	free(hc->conns);
	free(hc);
}

static int connect_one(const struct perf_workload *w, redisContext **out, char *err, size_t errlen)
{
	int ms = w->timeout_ms > 0 ? w->timeout_ms : 5000;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	redisContext *c = redisConnectWithTimeout(w->host, w->port, tv);
	redisReply *r;

	*out = c;
	if (!c || c->err) {
		snprintf(err, errlen, "hiredis connect %s:%d: %s", w->host, w->port,
			 c ? c->errstr : "out of memory");
		return -1;
	}
	redisSetTimeout(c, tv);
	if (!w->password)
		return 0;
	r = redisCommand(c, "AUTH %s", w->password);
	if (!r || r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errlen, "hiredis AUTH: %s", r ? r->str : c->errstr);
		freeReplyObject(r);
		return -1;
	}
	freeReplyObject(r);
	return 0;
}

static int hiredis_start(const struct perf_workload *w, void **ctx, char *err, size_t errlen)
{
	struct hiredis_ctx *hc = calloc(1, sizeof(*hc));

	*ctx = NULL;
	if (!hc || !(hc->conns = calloc((size_t)w->threads, sizeof(*hc->conns)))) {
		free(hc);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	hc->n = w->threads;
	for (int i = 0; i < w->threads; i++) {
		if (connect_one(w, &hc->conns[i], err, errlen) < 0) {
			hiredis_stop(hc);
			return -1;
		}
	}
	*ctx = hc;
	return 0;
}

struct op {
	uint64_t t0; /* issued */
	bool get;
	size_t keylen;
	char key[PERF_KEY_MAX];
};

static void append(const struct perf_workload *w, redisContext *c, struct op *o, char *val,
		   uint64_t *rng)
{
	uint32_t k;
	const char *argv[3] = {NULL, o->key, val};
	size_t lens[3] = {3, 0, w->dsize};

	o->get = perf_next_op(w, rng, &k);
	o->keylen = perf_key(k, o->key);
	lens[1] = o->keylen;
	argv[0] = o->get ? "GET" : "SET";
	if (!o->get)
		perf_value(o->key, o->keylen, w->dsize, val);
	redisAppendCommandArgv(c, o->get ? 2 : 3, argv, lens);
}

/* Read and check the reply of o; false when the connection is broken. */
static bool collect(struct perf_thread *t, redisContext *c, const struct op *o)
{
	redisReply *r = NULL;

	if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) {
		perf_thread_error(t, "%s %s: %s", o->get ? "GET" : "SET", o->key, c->errstr);
		return false;
	}
	if (o->get) {
		if (r->type != REDIS_REPLY_STRING ||
		    !perf_value_ok(o->key, o->keylen, t->w->dsize, r->str, r->len))
			perf_thread_error(t, "GET %s: reply mismatch (type %d)", o->key, r->type);
	} else if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, "OK") != 0) {
		perf_thread_error(t, "SET %s: unexpected reply (type %d)", o->key, r->type);
	}
	freeReplyObject(r);
	return true;
}

/* Batches of K (and K = 1): append K commands, then read K replies. Each
 * request's latency runs from the clock read before its append (for the
 * first, the read after the previous batch's last reply) to the read after
 * its reply was read and checked. hiredis writes what was appended when the
 * first reply is asked for. */
static void run_batch(struct perf_thread *t, redisContext *c, struct op *ops, int k, char *val)
{
	bool more = true;

	for (uint64_t now = perf_now_ns(); more;) {
		for (int i = 0; i < k; i++) {
			if (i)
				now = perf_now_ns();
			ops[i].t0 = now;
			append(t->w, c, &ops[i], val, &t->rng);
		}
		for (int i = 0; i < k; i++) {
			if (!collect(t, c, &ops[i]))
				return;
			now = perf_now_ns();
			if (more && !perf_done_one(t, now - ops[i].t0))
				more = false; /* finish reading this batch */
		}
	}
}

/* A window of K: append K, then for each reply read and checked, append
 * the next request at once (its issue time is the clock read after that
 * reply). hiredis buffers what is appended and writes it when it next has
 * to wait for a reply, so the requests appended while it still held read
 * replies go out together: that is how its blocking API pipelines. */
static void run_window(struct perf_thread *t, redisContext *c, struct op *ops, int k, char *val)
{
	uint64_t now = perf_now_ns();
	bool more = true;
	int live = 0;

	for (int i = 0; i < k; i++) {
		if (i)
			now = perf_now_ns();
		ops[i].t0 = now;
		append(t->w, c, &ops[i], val, &t->rng);
		live++;
	}
	for (int i = 0; live > 0; i = (i + 1) % k) {
		if (!collect(t, c, &ops[i]))
			return;
		live--;
		now = perf_now_ns();
		if (more)
			more = perf_done_one(t, now - ops[i].t0);
		if (more) {
			ops[i].t0 = now;
			append(t->w, c, &ops[i], val, &t->rng);
			live++;
		}
	}
}

static void hiredis_thread(struct perf_thread *t)
{
	struct hiredis_ctx *hc = t->ctx;
	redisContext *c = hc->conns[t->id];
	int k = t->w->inflight < 1 ? 1 : t->w->inflight;
	struct op *ops = calloc((size_t)k, sizeof(*ops));
	char *val = malloc(t->w->dsize + 1);

	if (!ops || !val)
		perf_thread_error(t, "out of memory");
	else if (perf_shape_of(t->w) == PERF_SHAPE_WINDOW)
		run_window(t, c, ops, k, val);
	else
		run_batch(t, c, ops, k, val);
	free(val);
	free(ops);
}

const struct perf_load perf_load_hiredis = {
    .names = {"hiredis", "hiredis-window", "hiredis"},
    .start = hiredis_start,
    .thread = hiredis_thread,
    .stop = hiredis_stop,
};

#else /* !PERF_HAVE_HIREDIS */

const bool perf_have_hiredis = false;

static int hiredis_start(const struct perf_workload *w, void **ctx, char *err, size_t errlen)
{
	(void)w;
	*ctx = NULL;
	snprintf(err, errlen,
		 "respio-perf was built without hiredis: install libhiredis-dev "
		 "(apt-get install libhiredis-dev), then meson setup --reconfigure BUILDDIR");
	return -1;
}

static void hiredis_thread(struct perf_thread *t)
{
	(void)t;
}

static void hiredis_stop(void *ctx)
{
	(void)ctx;
}

const struct perf_load perf_load_hiredis = {
    .names = {"hiredis", "hiredis-window", "hiredis"},
    .start = hiredis_start,
    .thread = hiredis_thread,
    .stop = hiredis_stop,
};

#endif

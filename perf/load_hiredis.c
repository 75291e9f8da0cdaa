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
	enum perf_op op;
	size_t keylen;
	char key[PERF_KEY_MAX];
};

/* Append the next operation of t: GET, SET, a push, or with the mixes
 * MULTI, SET key, INCR counter, EXEC (a session or a transaction unit of
 * the respio rows: on hiredis both are that, on the thread's connection). */
static void append(struct perf_thread *t, redisContext *c, struct op *o, char *val)
{
	const struct perf_workload *w = t->w;
	uint32_t k;
	const char *argv[3] = {NULL, o->key, val};
	size_t lens[3] = {3, 0, w->dsize};

	o->op = perf_pick(w, &t->rng, &t->seq, &k);
	if (o->op == PERF_OP_SESSION)
		o->op = PERF_OP_TXN; /* counted and timed as one kind */
	o->keylen = perf_key(k, o->key);
	lens[1] = o->keylen;
	switch (o->op) {
	case PERF_OP_GET:
		argv[0] = "GET";
		redisAppendCommandArgv(c, 2, argv, lens);
		break;
	case PERF_OP_SET:
		argv[0] = "SET";
		perf_value(o->key, o->keylen, w->dsize, val);
		redisAppendCommandArgv(c, 3, argv, lens);
		break;
	case PERF_OP_PUSH: {
		const char *push[3] = {"RPUSH", PERF_QUEUE, o->key};
		size_t pl[3] = {5, sizeof(PERF_QUEUE) - 1, o->keylen};

		redisAppendCommandArgv(c, 3, push, pl);
		break;
	}
	case PERF_OP_SESSION:
	case PERF_OP_TXN: {
		const char *multi[1] = {"MULTI"}, *exec[1] = {"EXEC"},
			   *incr[2] = {"INCR", PERF_COUNTER};

		argv[0] = "SET";
		perf_value(o->key, o->keylen, w->dsize, val);
		redisAppendCommandArgv(c, 1, multi, NULL);
		redisAppendCommandArgv(c, 3, argv, lens);
		redisAppendCommandArgv(c, 2, incr, NULL);
		redisAppendCommandArgv(c, 1, exec, NULL);
		break;
	}
	}
}

static bool is_status(const redisReply *r, const char *want)
{
	return r->type == REDIS_REPLY_STATUS && strcmp(r->str, want) == 0;
}

/* What is wrong with reply i of o's (0 for GET, SET, RPUSH; 0..3 for
 * MULTI, SET, INCR, EXEC), or NULL. */
static const char *reply_problem(const struct perf_workload *w, const struct op *o, int i,
				 const redisReply *r)
{
	switch (o->op) {
	case PERF_OP_GET:
		return r->type == REDIS_REPLY_STRING &&
			       perf_value_ok(o->key, o->keylen, w->dsize, r->str, r->len)
			   ? NULL
			   : "reply mismatch";
	case PERF_OP_SET: return is_status(r, "OK") ? NULL : "unexpected reply";
	case PERF_OP_PUSH:
		return r->type == REDIS_REPLY_INTEGER && r->integer > 0 ? NULL : "unexpected reply";
	case PERF_OP_SESSION:
	case PERF_OP_TXN:
		if (i == 0)
			return is_status(r, "OK") ? NULL : "MULTI did not reply OK";
		if (i < 3)
			return is_status(r, "QUEUED") ? NULL : "a command was not QUEUED";
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    !is_status(r->element[0], "OK") || r->element[1]->type != REDIS_REPLY_INTEGER)
			return "EXEC: not [OK, integer]";
		return NULL;
	}
	return "unknown operation";
}

/* Read and check the replies of o; false when the connection is broken. */
static bool collect(struct perf_thread *t, redisContext *c, const struct op *o)
{
	static const char *const names[PERF_OPS] = {"GET", "SET", "MULTI..EXEC", "MULTI..EXEC",
						    "RPUSH"};
	int n = o->op == PERF_OP_SESSION || o->op == PERF_OP_TXN ? 4 : 1;

	for (int i = 0; i < n; i++) {
		redisReply *r = NULL;
		const char *bad;

		if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) {
			perf_thread_error(t, "%s %s: %s", names[o->op], o->key, c->errstr);
			return false;
		}
		if ((bad = reply_problem(t->w, o, i, r)))
			perf_thread_error(t, "%s %s: %s (type %d)", names[o->op], o->key, bad,
					  r->type);
		freeReplyObject(r);
	}
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
			append(t, c, &ops[i], val);
		}
		for (int i = 0; i < k; i++) {
			if (!collect(t, c, &ops[i]))
				return;
			now = perf_now_ns();
			if (more && !perf_done_op(t, now - ops[i].t0, ops[i].op))
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
		append(t, c, &ops[i], val);
		live++;
	}
	for (int i = 0; live > 0; i = (i + 1) % k) {
		if (!collect(t, c, &ops[i]))
			return;
		live--;
		now = perf_now_ns();
		if (more)
			more = perf_done_op(t, now - ops[i].t0, ops[i].op);
		if (more) {
			ops[i].t0 = now;
			append(t, c, &ops[i], val);
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

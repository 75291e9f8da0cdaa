/* SPDX-License-Identifier: MIT */
/* The respio load: one engine client per run; each thread runs the typed
 * synchronous helpers (--inflight 1) or keeps K futures in flight, as a
 * window or in batches. Also writes the key spaces before the first run. */
#include "perf.h"

#include <respio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int make_client(const struct perf_workload *w, int shards, respio_client **c, char *err,
		       size_t errlen)
{
	respio_config cfg;
	int rc;

	respio_config_init(&cfg);
	cfg.host = w->host;
	cfg.port = w->port;
	cfg.password = w->password;
	cfg.shards = shards;
	if (w->timeout_ms > 0)
		cfg.timeout_ms = w->timeout_ms;
	if (w->conns > 0) {
		cfg.pool.min_connections = w->conns;
		cfg.pool.max_connections = w->conns;
	}
	rc = respio_client_create(&cfg, c);
	if (rc < 0)
		snprintf(err, errlen, "respio_client_create(%s:%d): %s", w->host, w->port,
			 respio_strerror(rc));
	return rc;
}

static int respio_start(const struct perf_workload *w, void **ctx, char *err, size_t errlen)
{
	respio_client *c;
	int rc = make_client(w, w->shards, &c, err, errlen);

	*ctx = rc < 0 ? NULL : c;
	return rc < 0 ? -1 : 0;
}

static void respio_stop(void *ctx)
{
	respio_client_destroy(ctx);
}

/* Check a completed GET or SET future. */
static void check_future(struct perf_thread *t, respio_future *f, bool get, const char *key,
			 size_t keylen)
{
	int rc = respio_future_status(f);
	const respio_reply *r;
	const char *s;
	size_t len;

	if (rc < 0) {
		perf_thread_error(t, "%s %.*s: %s", get ? "GET" : "SET", (int)keylen, key,
				  respio_strerror(rc));
		return;
	}
	if (!get) {
		rc = respio_future_ok(f);
		if (rc < 0)
			perf_thread_error(t, "SET %.*s: %s", (int)keylen, key, respio_strerror(rc));
		return;
	}
	/* Read the reply in place: no copy, no allocation. */
	r = respio_future_reply(f);
	s = respio_reply_str(r, &len);
	if (respio_reply_type(r) != RESPIO_REPLY_STRING ||
	    !perf_value_ok(key, keylen, t->w->dsize, s, len))
		perf_thread_error(t, "GET %.*s: reply mismatch (%zu bytes, type %d)", (int)keylen,
				  key, len, (int)respio_reply_type(r));
}

/* --inflight 1: the typed helpers on the client target, one at a time.
 * One clock read per request: the read after a reply was seen and checked
 * is also the next request's issue time (only the choice of its key and
 * value comes in between, the same for every loader). */
static void run_sync(struct perf_thread *t, respio_client *c, char *val)
{
	const struct perf_workload *w = t->w;
	respio_target *tg = respio_client_target(c);
	char key[PERF_KEY_MAX];
	uint64_t t0 = perf_now_ns();

	for (;;) {
		uint32_t k;
		bool get = perf_next_op(w, &t->rng, &k);
		size_t kl = perf_key(k, key);
		uint64_t t1;
		int rc;

		if (get) {
			respio_str v = {0};

			rc = respio_get(tg, key, kl, &v);
			t1 = perf_now_ns();
			if (rc < 0)
				perf_thread_error(t, "GET %s: %s (%s)", key, respio_strerror(rc),
						  respio_client_errdetail(c));
			else if (!perf_value_ok(key, kl, w->dsize, v.ptr, v.len))
				perf_thread_error(t, "GET %s: reply mismatch (%zu bytes)", key,
						  v.ptr ? v.len : 0);
			respio_str_free(&v);
		} else {
			perf_value(key, kl, w->dsize, val);
			rc = respio_set(tg, key, kl, val, w->dsize, 0);
			t1 = perf_now_ns();
			if (rc < 0)
				perf_thread_error(t, "SET %s: %s (%s)", key, respio_strerror(rc),
						  respio_client_errdetail(c));
		}
		if (!perf_done_one(t, t1 - t0))
			return;
		t0 = t1;
	}
}

struct slot {
	respio_future *f;
	uint64_t t0;
	bool get;
	size_t keylen;
	char key[PERF_KEY_MAX];
};

/* Issue the next request into s; now is its start (the caller's last clock
 * read, so a request costs one read, not two). */
static void issue(struct perf_thread *t, respio_client *c, struct slot *s, char *val, uint64_t now)
{
	const struct perf_workload *w = t->w;
	uint32_t k;
	int rc;

	s->get = perf_next_op(w, &t->rng, &k);
	s->keylen = perf_key(k, s->key);
	if (!s->get)
		perf_value(s->key, s->keylen, w->dsize, val);
	s->t0 = now;
	if (s->get)
		rc = respio_get_async(c, s->key, s->keylen, &s->f);
	else
		rc = respio_set_async(c, s->key, s->keylen, val, w->dsize, 0, &s->f);
	if (rc < 0) {
		perf_thread_error(t, "submit %s %s: %s", s->get ? "GET" : "SET", s->key,
				  respio_strerror(rc));
		s->f = NULL;
		usleep(1000); /* do not spin on a failing client */
	}
}

/* --inflight K, window: K futures; the oldest is awaited, checked and
 * replaced, so K stay in flight all the time. A thread's requests complete
 * in submission order (one connection), so the oldest is the next to end.
 * The clock read after a reply is the issue time of its replacement. */
static void run_window(struct perf_thread *t, respio_client *c, char *val)
{
	const struct perf_workload *w = t->w;
	int k = w->inflight, live = 0;
	struct slot *slots = calloc((size_t)k, sizeof(*slots));
	bool more = true;
	int64_t wait_ms = (w->timeout_ms > 0 ? w->timeout_ms : 5000) + 1000;

	if (!slots) {
		perf_thread_error(t, "out of memory");
		return;
	}
	for (int i = 0; i < k; i++) {
		issue(t, c, &slots[i], val, perf_now_ns());
		live += slots[i].f != NULL;
	}
	for (int i = 0; live > 0 || more; i = (i + 1) % k) {
		struct slot *s = &slots[i];
		uint64_t t1 = 0;

		if (s->f) {
			if (respio_future_wait(s->f, wait_ms) < 0)
				perf_thread_error(t, "%s %s: no completion within %lld ms",
						  s->get ? "GET" : "SET", s->key,
						  (long long)wait_ms);
			else
				check_future(t, s->f, s->get, s->key, s->keylen);
			t1 = perf_now_ns();
			respio_future_release(s->f);
			s->f = NULL;
			live--;
			if (more)
				more = perf_done_one(t, t1 - s->t0);
		} else if (more && perf_phase_now() == PERF_STOP) {
			more = false;
		}
		if (more) {
			issue(t, c, s, val, t1 ? t1 : perf_now_ns());
			live += s->f != NULL;
		}
	}
	free(slots);
}

/* --inflight K, batch: submit K, then wait for each of the K in order,
 * check and release it, then the next K (the shape of redis-benchmark -P K
 * and of the hiredis batch loader). Each request has its own issue time,
 * read just before its submit (for the first, the read after the previous
 * batch's last reply), and its own completion time, read when its wait
 * returned and its reply was checked. */
static void run_batch(struct perf_thread *t, respio_client *c, char *val)
{
	const struct perf_workload *w = t->w;
	int k = w->inflight;
	struct slot *slots = calloc((size_t)k, sizeof(*slots));
	int64_t wait_ms = (w->timeout_ms > 0 ? w->timeout_ms : 5000) + 1000;
	bool more = slots != NULL;
	uint64_t now = perf_now_ns();

	if (!more)
		perf_thread_error(t, "out of memory");
	while (more) {
		for (int i = 0; i < k; i++) {
			if (i)
				now = perf_now_ns();
			issue(t, c, &slots[i], val, now);
		}
		for (int i = 0; i < k; i++) {
			struct slot *s = &slots[i];

			if (!s->f)
				continue;
			if (respio_future_wait(s->f, wait_ms) < 0)
				perf_thread_error(t, "%s %s: no completion within %lld ms",
						  s->get ? "GET" : "SET", s->key,
						  (long long)wait_ms);
			else
				check_future(t, s->f, s->get, s->key, s->keylen);
			now = perf_now_ns();
			respio_future_release(s->f);
			s->f = NULL;
			if (more && !perf_done_one(t, now - s->t0))
				more = false; /* finish this batch */
		}
		if (perf_phase_now() == PERF_STOP)
			more = false; /* every submit failed */
	}
	free(slots);
}

static void respio_thread(struct perf_thread *t)
{
	char *val = malloc(t->w->dsize + 1);

	if (!val) {
		perf_thread_error(t, "out of memory");
		return;
	}
	if (t->w->inflight <= 1)
		run_sync(t, t->ctx, val);
	else if (t->w->batch)
		run_batch(t, t->ctx, val);
	else
		run_window(t, t->ctx, val);
	free(val);
}

const struct perf_load perf_load_respio = {
    .names = {"respio", "respio", "respio-batch"},
    .start = respio_start,
    .thread = respio_thread,
    .stop = respio_stop,
};

int perf_prefill(const struct perf_workload *w, bool rb_too, char *err, size_t errlen)
{
	enum { WINDOW = 256 };
	respio_future *fs[WINDOW];
	char key[PERF_KEY_MAX];
	char *val = malloc(w->dsize + 1), *rb_val = malloc(w->dsize + 1);
	respio_client *c;
	int rc = 0;

	if (!val || !rb_val) {
		snprintf(err, errlen, "out of memory");
		free(val);
		free(rb_val);
		return -1;
	}
	if (make_client(w, 1, &c, err, errlen) < 0) {
		free(val);
		free(rb_val);
		return -1;
	}
	perf_rb_value(w->dsize, rb_val);
	for (int space = 0; space < (rb_too ? 2 : 1) && rc == 0; space++) {
		for (uint32_t base = 0; base < w->keys && rc == 0; base += WINDOW) {
			int n = 0;

			for (uint32_t i = base; i < w->keys && i < base + WINDOW; i++) {
				size_t kl = space ? perf_rb_key(i, key) : perf_key(i, key);

				if (!space)
					perf_value(key, kl, w->dsize, val);
				rc = respio_set_async(c, key, kl, space ? rb_val : val, w->dsize, 0,
						      &fs[n]);
				if (rc < 0)
					break;
				n++;
			}
			if (rc == 0)
				rc = respio_future_wait_all(fs, (size_t)n, 30000);
			for (int i = 0; i < n; i++) {
				int st = respio_future_ok(fs[i]);

				if (st < 0 && rc == 0)
					rc = st;
				respio_future_release(fs[i]);
			}
		}
	}
	if (rc < 0)
		snprintf(err, errlen, "writing the key space: %s", respio_strerror(rc));
	respio_client_destroy(c);
	free(rb_val);
	free(val);
	return rc < 0 ? -1 : 0;
}

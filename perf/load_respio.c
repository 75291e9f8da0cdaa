/* SPDX-License-Identifier: MIT */
/* The respio load: one engine client per run; each thread runs the typed
 * synchronous helpers (--inflight 1) or keeps K futures in flight, as a
 * window or in batches. The mixes add session transactions (respio_begin
 * .. respio_end), transaction units (respio_submit_transaction) and pushes
 * to a list that BLPOP consumer threads drain through automatic leases.
 * Also writes the key spaces before the first run. */
#include "failover.h"
#include "perf.h"

#include <errno.h>
#include <pthread.h>
#include <respio.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A run's state: the client, and the BLPOP consumers with what they saw. */
struct rctx {
	respio_client *c;
	const struct perf_workload *w;
	pthread_t *consumers;
	int nconsumers; /* started */
	bool stopped;	/* the consumers are joined */
	_Atomic bool stopping;
	_Atomic uint64_t pushed;   /* pushes the server acknowledged */
	_Atomic uint64_t received; /* items the consumers popped */
	_Atomic uint64_t errors;   /* the consumers' */
	pthread_mutex_t lock;
	char error[128]; /* the consumers' first */
};

/* What stops a consumer: one per consumer, pushed behind every item. */
static const char sentinel[] = "perf:stop";

static int64_t wait_ms_of(const struct perf_workload *w)
{
	return (w->timeout_ms > 0 ? w->timeout_ms : 5000) + 1000;
}

static int make_client(const struct perf_workload *w, int shards, respio_client **c, char *err,
		       size_t errlen)
{
	respio_config cfg;
	/* Connections out of the shared pipeline: a session per thread at
	 * most (a thread runs one at a time), a lease per consumer. */
	int leases = (w->session_pct ? w->threads : 0) + w->blpop_consumers;
	int rc;

	respio_config_init(&cfg);
	cfg.host = w->host;
	cfg.port = w->port;
	cfg.password = w->password;
	cfg.sentinel = w->sentinel;
	cfg.shards = shards;
	/* What the engine does across a failover, with the run's time. */
	if (w->failover)
		cfg.log.fn = perf_failover_log;
	if (w->timeout_ms > 0)
		cfg.timeout_ms = w->timeout_ms;
	if (w->conns > 0) {
		cfg.pool.min_connections = w->conns;
		cfg.pool.max_connections = w->conns;
	}
	if (leases > 0) {
		/* The shared pipeline keeps min_connections, at least one per
		 * shard; sessions and leases take the connections above. */
		int shared = cfg.pool.min_connections > shards ? cfg.pool.min_connections : shards;

		cfg.pool.max_connections = shared + leases;
	}
	rc = respio_client_create(&cfg, c);
	if (rc < 0)
		snprintf(err, errlen, "respio_client_create(%s:%d): %s", w->host, w->port,
			 respio_strerror(rc));
	return rc;
}

/* One command on the shared pipeline, waited for: 0 or its error. */
static int call(respio_client *c, int argc, const char *const *argv, char *err, size_t errlen)
{
	respio_future *f;
	int rc = respio_submit(c, argc, argv, NULL, &f);

	if (rc == 0) {
		rc = respio_future_wait(f, 10000);
		if (rc == 0)
			rc = respio_future_status(f);
		respio_future_release(f);
	}
	if (rc < 0)
		snprintf(err, errlen, "%s %s: %s", argv[0], argc > 1 ? argv[1] : "",
			 respio_strerror(rc));
	return rc;
}

static void consumer_error(struct rctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void consumer_error(struct rctx *x, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&x->lock);
	if (!x->errors++) {
		va_start(ap, fmt);
		vsnprintf(x->error, sizeof(x->error), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&x->lock);
}

/* A consumer: BLPOP PERF_QUEUE 1 through respio_submit (each on an
 * automatic lease) until it pops a sentinel, or the client shuts down. */
static void *consumer_main(void *p)
{
	static const char *const blpop[] = {"BLPOP", PERF_QUEUE, "1"};
	struct rctx *x = p;
	/* The block time, the engine's margin for it (2 s), then ours. */
	int64_t wait_ms = 3000 + wait_ms_of(x->w);

	for (;;) {
		const respio_reply *r;
		const char *item;
		size_t len = 0;
		respio_future *f;
		int rc = respio_submit(x->c, 3, blpop, NULL, &f);

		if (rc == RESPIO_E_SHUTDOWN)
			return NULL;
		if (rc < 0) {
			consumer_error(x, "BLPOP: %s", respio_strerror(rc));
			usleep(1000);
			continue;
		}
		if (respio_future_wait(f, wait_ms) < 0) {
			consumer_error(x, "BLPOP: no completion within %lld ms",
				       (long long)wait_ms);
			respio_future_release(f);
			continue;
		}
		rc = respio_future_status(f);
		r = respio_future_reply(f);
		if (rc == RESPIO_E_SHUTDOWN) {
			respio_future_release(f);
			return NULL;
		}
		if (rc < 0) {
			consumer_error(x, "BLPOP: %s", respio_strerror(rc));
		} else if (respio_reply_type(r) == RESPIO_REPLY_NIL) {
			/* a second with nothing to pop */
		} else if (respio_reply_type(r) != RESPIO_REPLY_ARRAY || respio_reply_len(r) != 2 ||
			   !(item = respio_reply_str(respio_reply_element(r, 1), &len))) {
			consumer_error(x, "BLPOP: unexpected reply (type %d)",
				       (int)respio_reply_type(r));
		} else if (len == sizeof(sentinel) - 1 && memcmp(item, sentinel, len) == 0) {
			respio_future_release(f);
			return NULL;
		} else {
			x->received++;
		}
		respio_future_release(f);
	}
}

/* Stop the consumers: with drain, push one sentinel per consumer behind
 * the items (every push has been answered: the threads are done), so each
 * pops what is left, then its sentinel; else (or when they do not stop in
 * time) shut the client down under them. */
static void stop_consumers(struct rctx *x, bool drain)
{
	bool shut = false;
	struct timespec ts;

	if (x->stopped || !x->nconsumers) {
		x->stopped = true;
		return;
	}
	x->stopped = true;
	x->stopping = true;
	if (drain) {
		const char **argv = calloc((size_t)x->nconsumers + 2, sizeof(*argv));
		char err[128];

		if (argv) {
			argv[0] = "RPUSH";
			argv[1] = PERF_QUEUE;
			for (int i = 0; i < x->nconsumers; i++)
				argv[i + 2] = sentinel;
		}
		if (!argv || call(x->c, x->nconsumers + 2, argv, err, sizeof(err)) < 0) {
			consumer_error(x, "stopping the consumers: %s",
				       argv ? err : "out of memory");
			drain = false;
		}
		free(argv);
	}
	if (!drain) {
		respio_client_shutdown(x->c);
		shut = true;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	for (int i = 0; i < x->nconsumers; i++) {
		if (pthread_timedjoin_np(x->consumers[i], NULL, &ts) == 0)
			continue;
		if (shut)
			perf_fatal("a BLPOP consumer did not stop after respio_client_shutdown");
		consumer_error(x, "the BLPOP consumers did not drain %s within 10 s", PERF_QUEUE);
		respio_client_shutdown(x->c);
		shut = true;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 10;
		i--;
	}
}

static void free_ctx(struct rctx *x)
{
	if (!x)
		return;
	stop_consumers(x, false);
	if (x->c)
		respio_client_destroy(x->c);
	pthread_mutex_destroy(&x->lock);
	free(x->consumers);
	free(x);
}

static int respio_start(const struct perf_workload *w, void **ctx, char *err, size_t errlen)
{
	static const char *const del[] = {"DEL", PERF_QUEUE};
	struct rctx *x = calloc(1, sizeof(*x));

	*ctx = NULL;
	if (!x) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&x->lock, NULL);
	x->w = w;
	if (make_client(w, w->shards, &x->c, err, errlen) < 0) {
		x->c = NULL;
		free_ctx(x);
		return -1;
	}
	/* Every run starts on an empty list: the sentinels of the last one
	 * are gone, and rows without consumers do not leave items to it. */
	if (w->push_every && call(x->c, 2, del, err, errlen) < 0) {
		free_ctx(x);
		return -1;
	}
	if (w->blpop_consumers > 0) {
		x->consumers = calloc((size_t)w->blpop_consumers, sizeof(*x->consumers));
		if (!x->consumers) {
			snprintf(err, errlen, "out of memory");
			free_ctx(x);
			return -1;
		}
		for (int i = 0; i < w->blpop_consumers; i++) {
			int rc = pthread_create(&x->consumers[i], NULL, consumer_main, x);

			if (rc != 0) {
				snprintf(err, errlen, "starting BLPOP consumer %d: %s", i + 1,
					 strerror(rc));
				free_ctx(x);
				return -1;
			}
			x->nconsumers++;
		}
	}
	*ctx = x;
	return 0;
}

/* After the threads: stop the consumers (they drain the list first), then
 * what they received and what the pool did. Every item pushed must have
 * been popped by then. */
static void respio_finish(void *ctx, struct perf_result *r)
{
	struct rctx *x = ctx;
	respio_stats st;
	uint64_t errors;

	stop_consumers(x, true);
	if (x->w->failover)
		perf_failover_client_done(x->w->failover, x->c);
	respio_client_stats(x->c, &st, NULL, 0);
	r->consumers = x->nconsumers;
	r->pushed = x->pushed;
	r->received = x->received;
	r->leases = st.sessions_begun;
	r->pool_waits = st.pool_waits;
	r->pool_exhausted = st.pool_exhausted;
	if (x->nconsumers && r->received != r->pushed)
		consumer_error(x, "the consumers popped %llu items of %llu pushed",
			       (unsigned long long)r->received, (unsigned long long)r->pushed);
	errors = x->errors;
	if (errors) {
		r->errors += errors;
		if (!r->note[0])
			snprintf(r->note, sizeof(r->note), "%s", x->error);
	}
}

static void respio_stop(void *ctx)
{
	free_ctx(ctx);
}

static const char *op_name(enum perf_op op)
{
	static const char *const names[PERF_OPS] = {"GET", "SET", "session", "transaction",
						    "RPUSH"};

	return names[op];
}

/* EXEC's reply to [SET key val, INCR counter]: NULL, or what is wrong. */
static const char *exec_problem(const respio_reply *r)
{
	const respio_reply *ok, *n;
	const char *s;
	size_t len = 0;

	if (respio_reply_type(r) != RESPIO_REPLY_ARRAY || respio_reply_len(r) != 2)
		return "EXEC: not an array of 2 replies";
	ok = respio_reply_element(r, 0);
	n = respio_reply_element(r, 1);
	s = respio_reply_str(ok, &len);
	if (respio_reply_type(ok) != RESPIO_REPLY_STATUS || len != 2 || memcmp(s, "OK", 2) != 0)
		return "EXEC: SET did not reply OK";
	if (respio_reply_type(n) != RESPIO_REPLY_INTEGER || respio_reply_integer(n) < 1)
		return "EXEC: INCR did not reply a positive integer";
	return NULL;
}

/* A status reply equal to want. */
static bool is_status(const respio_reply *r, const char *want)
{
	size_t len = 0;
	const char *s = respio_reply_str(r, &len);

	return respio_reply_type(r) == RESPIO_REPLY_STATUS && len == strlen(want) &&
	       memcmp(s, want, len) == 0;
}

/* One session transaction, waited for: respio_begin, MULTI, SET key val,
 * INCR counter, EXEC (the four queued back to back on the session's
 * connection), every reply checked, respio_end. */
static void run_session(struct perf_thread *t, struct rctx *x, const char *key, size_t keylen,
			const char *val)
{
	static const char *const multi[] = {"MULTI"}, *const exec[] = {"EXEC"},
				 *const incr[] = {"INCR", PERF_COUNTER};
	static const char *const want[] = {"OK", "QUEUED", "QUEUED"}, *const name[] = {
									  "MULTI", "SET", "INCR",
									  "EXEC"};
	const char *set[] = {"SET", key, val};
	size_t setl[] = {3, keylen, t->w->dsize};
	respio_future *f[4] = {NULL};
	int64_t wait_ms = wait_ms_of(t->w);
	respio_session *s;
	int rc = respio_begin(x->c, &s);

	if (rc < 0) {
		perf_thread_error(t, "respio_begin: %s", respio_strerror(rc));
		usleep(1000); /* do not spin on a failing pool */
		return;
	}
	rc = respio_session_submit(s, 1, multi, NULL, &f[0]);
	if (rc == 0)
		rc = respio_session_submit(s, 3, set, setl, &f[1]);
	if (rc == 0)
		rc = respio_session_submit(s, 2, incr, NULL, &f[2]);
	if (rc == 0)
		rc = respio_session_submit(s, 1, exec, NULL, &f[3]);
	if (rc < 0)
		perf_thread_error(t, "session: submit: %s", respio_strerror(rc));
	for (int i = 0; i < 4 && f[i]; i++) {
		const respio_reply *r;
		const char *bad;

		if (respio_future_wait(f[i], wait_ms) < 0) {
			perf_thread_error(t, "session: no completion within %lld ms",
					  (long long)wait_ms);
		} else if ((rc = respio_future_status(f[i])) < 0) {
			const char *msg =
			    (r = respio_future_reply(f[i])) ? respio_reply_str(r, NULL) : NULL;

			perf_thread_error(t, "session: %s: %s%s%.60s", name[i], respio_strerror(rc),
					  msg ? ": " : "", msg ? msg : "");
		} else if (i < 3 && !is_status(respio_future_reply(f[i]), want[i])) {
			perf_thread_error(t, "session: %s did not reply %s", name[i], want[i]);
		} else if (i == 3 && (bad = exec_problem(respio_future_reply(f[i])))) {
			perf_thread_error(t, "session: %s", bad);
		}
		respio_future_release(f[i]);
	}
	respio_end(s);
}

struct slot {
	respio_future *f;
	uint64_t t0;
	enum perf_op op;
	size_t keylen;
	char key[PERF_KEY_MAX];
};

/* Check a completed future of s (GET, SET, transaction unit or push). */
static void check_future(struct perf_thread *t, struct rctx *x, const struct slot *s)
{
	const respio_future *f = s->f;
	int rc = respio_future_status(f);
	const respio_reply *r = respio_future_reply(f);
	const char *str, *bad;
	size_t len;

	if (rc < 0) {
		perf_thread_error(t, "%s %.*s: %s", op_name(s->op), (int)s->keylen, s->key,
				  respio_strerror(rc));
		return;
	}
	switch (s->op) {
	case PERF_OP_SET:
		rc = respio_future_ok(f);
		if (rc < 0)
			perf_thread_error(t, "SET %.*s: %s", (int)s->keylen, s->key,
					  respio_strerror(rc));
		return;
	case PERF_OP_GET:
		/* Read the reply in place: no copy, no allocation. */
		str = respio_reply_str(r, &len);
		if (respio_reply_type(r) != RESPIO_REPLY_STRING ||
		    !perf_value_ok(s->key, s->keylen, t->w->dsize, str, len))
			perf_thread_error(t, "GET %.*s: reply mismatch (%zu bytes, type %d)",
					  (int)s->keylen, s->key, len, (int)respio_reply_type(r));
		return;
	case PERF_OP_TXN:
		if ((bad = exec_problem(r)))
			perf_thread_error(t, "transaction %.*s: %s", (int)s->keylen, s->key, bad);
		return;
	case PERF_OP_PUSH:
		if (respio_reply_type(r) != RESPIO_REPLY_INTEGER || respio_reply_integer(r) < 1)
			perf_thread_error(t, "RPUSH %s: unexpected reply (type %d)", PERF_QUEUE,
					  (int)respio_reply_type(r));
		else
			x->pushed++;
		return;
	case PERF_OP_SESSION: break; /* never in a slot */
	}
}

/* Submit s's operation (GET, SET, transaction unit or push; the key is
 * set, and the value for SET and transactions); s->f NULL on failure. */
static void submit(struct perf_thread *t, struct rctx *x, struct slot *s, const char *val)
{
	const struct perf_workload *w = t->w;
	int rc = RESPIO_E_INVAL;

	switch (s->op) {
	case PERF_OP_GET: rc = respio_get_async(x->c, s->key, s->keylen, &s->f); break;
	case PERF_OP_SET:
		rc = respio_set_async(x->c, s->key, s->keylen, val, w->dsize, 0, &s->f);
		break;
	case PERF_OP_TXN: {
		static const char *const incr[] = {"INCR", PERF_COUNTER};
		const char *set[] = {"SET", s->key, val};
		size_t setl[] = {3, s->keylen, w->dsize};
		const respio_argv cmds[2] = {{3, set, setl}, {2, incr, NULL}};

		rc = respio_submit_transaction(x->c, NULL, 2, cmds, &s->f);
		break;
	}
	case PERF_OP_PUSH: {
		const char *push[] = {"RPUSH", PERF_QUEUE, s->key};
		size_t lens[] = {5, sizeof(PERF_QUEUE) - 1, s->keylen};

		rc = respio_submit(x->c, 3, push, lens, &s->f);
		break;
	}
	case PERF_OP_SESSION: break;
	}
	if (rc < 0) {
		perf_thread_error(t, "submit %s %s: %s", op_name(s->op), s->key,
				  respio_strerror(rc));
		s->f = NULL;
		usleep(1000); /* do not spin on a failing client */
	}
}

/* Wait for s's future, check it and release it. */
static void complete(struct perf_thread *t, struct rctx *x, struct slot *s, int64_t wait_ms)
{
	if (respio_future_wait(s->f, wait_ms) < 0)
		perf_thread_error(t, "%s %s: no completion within %lld ms", op_name(s->op), s->key,
				  (long long)wait_ms);
	else
		check_future(t, x, s);
	respio_future_release(s->f);
	s->f = NULL;
}

/* --inflight 1: the typed helpers on the client target, one at a time
 * (the mixes' operations through futures, waited for at once, or a
 * session). One clock read per request: the read after a reply was seen
 * and checked is also the next request's issue time (only the choice of
 * its key and value comes in between, the same for every loader). */
static void run_sync(struct perf_thread *t, struct rctx *x, char *val)
{
	const struct perf_workload *w = t->w;
	respio_client *c = x->c;
	respio_target *tg = respio_client_target(c);
	int64_t wait_ms = wait_ms_of(w);
	struct slot s = {0};
	uint64_t t0 = perf_now_ns();

	for (;;) {
		uint32_t k;
		enum perf_op op = perf_pick(w, &t->rng, &t->seq, &k);
		size_t kl = perf_key(k, s.key);
		uint64_t t1;
		int rc;

		if (op == PERF_OP_GET) {
			respio_str v = {0};

			rc = respio_get(tg, s.key, kl, &v);
			t1 = perf_now_ns();
			if (rc < 0)
				perf_thread_error(t, "GET %s: %s (%s)", s.key, respio_strerror(rc),
						  respio_client_errdetail(c));
			else if (!perf_value_ok(s.key, kl, w->dsize, v.ptr, v.len))
				perf_thread_error(t, "GET %s: reply mismatch (%zu bytes)", s.key,
						  v.ptr ? v.len : 0);
			respio_str_free(&v);
		} else if (op == PERF_OP_SET) {
			perf_value(s.key, kl, w->dsize, val);
			rc = respio_set(tg, s.key, kl, val, w->dsize, 0);
			t1 = perf_now_ns();
			if (rc < 0)
				perf_thread_error(t, "SET %s: %s (%s)", s.key, respio_strerror(rc),
						  respio_client_errdetail(c));
		} else {
			perf_value(s.key, kl, w->dsize, val);
			if (op == PERF_OP_SESSION) {
				run_session(t, x, s.key, kl, val);
			} else {
				s.op = op;
				s.keylen = kl;
				submit(t, x, &s, val);
				if (s.f)
					complete(t, x, &s, wait_ms);
			}
			t1 = perf_now_ns();
		}
		if (!perf_done_op(t, t1 - t0, op))
			return;
		t0 = t1;
	}
}

/* Issue the next request into s; now is its start (the caller's last clock
 * read, so a request costs one read, not two). A session the mix picks is
 * run here, waited for and counted (the thread's other requests stay in
 * flight meanwhile), then the next operation is picked. False when the
 * thread is to stop issuing (after a session): s->f is then NULL. */
static bool issue(struct perf_thread *t, struct rctx *x, struct slot *s, char *val, uint64_t now)
{
	const struct perf_workload *w = t->w;

	for (;;) {
		uint32_t k;
		uint64_t t1;

		s->op = perf_pick(w, &t->rng, &t->seq, &k);
		s->keylen = perf_key(k, s->key);
		if (s->op != PERF_OP_GET && s->op != PERF_OP_PUSH)
			perf_value(s->key, s->keylen, w->dsize, val);
		if (s->op != PERF_OP_SESSION)
			break;
		run_session(t, x, s->key, s->keylen, val);
		t1 = perf_now_ns();
		if (!perf_done_op(t, t1 - now, PERF_OP_SESSION)) {
			s->f = NULL;
			return false;
		}
		now = t1;
	}
	s->t0 = now;
	submit(t, x, s, val);
	return true;
}

/* --inflight K, window: K futures; the oldest is awaited, checked and
 * replaced, so K stay in flight all the time. A thread's requests complete
 * in submission order (one connection), so the oldest is the next to end.
 * The clock read after a reply is the issue time of its replacement. */
static void run_window(struct perf_thread *t, struct rctx *x, char *val)
{
	const struct perf_workload *w = t->w;
	int k = w->inflight, live = 0;
	struct slot *slots = calloc((size_t)k, sizeof(*slots));
	bool more = true;
	int64_t wait_ms = wait_ms_of(w);

	if (!slots) {
		perf_thread_error(t, "out of memory");
		return;
	}
	for (int i = 0; i < k && more; i++) {
		more = issue(t, x, &slots[i], val, perf_now_ns());
		live += slots[i].f != NULL;
	}
	for (int i = 0; live > 0 || more; i = (i + 1) % k) {
		struct slot *s = &slots[i];
		uint64_t t1 = 0;

		if (s->f) {
			enum perf_op op = s->op;

			complete(t, x, s, wait_ms);
			t1 = perf_now_ns();
			live--;
			if (more)
				more = perf_done_op(t, t1 - s->t0, op);
		} else if (more && perf_phase_now() == PERF_STOP) {
			more = false;
		}
		if (more) {
			more = issue(t, x, s, val, t1 ? t1 : perf_now_ns());
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
static void run_batch(struct perf_thread *t, struct rctx *x, char *val)
{
	const struct perf_workload *w = t->w;
	int k = w->inflight;
	struct slot *slots = calloc((size_t)k, sizeof(*slots));
	int64_t wait_ms = wait_ms_of(w);
	bool more = slots != NULL;
	uint64_t now = perf_now_ns();

	if (!more)
		perf_thread_error(t, "out of memory");
	while (more) {
		for (int i = 0; i < k && more; i++) {
			if (i)
				now = perf_now_ns();
			more = issue(t, x, &slots[i], val, now);
		}
		for (int i = 0; i < k; i++) {
			struct slot *s = &slots[i];
			enum perf_op op = s->op;

			if (!s->f)
				continue;
			complete(t, x, s, wait_ms);
			now = perf_now_ns();
			if (more && !perf_done_op(t, now - s->t0, op))
				more = false; /* finish this batch */
		}
		if (perf_phase_now() == PERF_STOP)
			more = false; /* every submit failed */
	}
	free(slots);
}

/* --failover-at: INCR the thread's own counter with K in flight (a window;
 * one at a time at K = 1), through futures so that every failure has its
 * fate. Only acknowledged INCRs count as operations. */
static void run_incr(struct perf_thread *t, struct rctx *x)
{
	struct perf_failover *fo = t->w->failover;
	char key[96];
	size_t kl = perf_failover_key(fo, t->id, key, sizeof(key));
	const char *argv[] = {"INCR", key};
	size_t lens[] = {4, kl};
	int k = t->w->inflight, live = 0;
	struct slot *slots = calloc((size_t)k, sizeof(*slots));
	int64_t wait_ms = wait_ms_of(t->w);
	bool more = slots != NULL;

	if (!slots)
		perf_thread_error(t, "out of memory");
	for (int i = 0; more || live > 0; i = (i + 1) % k) {
		struct slot *s = &slots[i];
		uint64_t now;
		int rc;

		if (s->f) {
			const respio_reply *r;

			rc = respio_future_wait(s->f, wait_ms);
			now = perf_now_ns();
			live--;
			if (rc < 0) {
				perf_failover_failed(fo, t->id, now, now - s->t0, -ETIMEDOUT, 0);
				perf_thread_error(t, "INCR %s: no completion within %lld ms", key,
						  (long long)wait_ms);
			} else if ((rc = respio_future_status(s->f)) < 0) {
				int fate = respio_future_fate(s->f);
				const char *msg = (r = respio_future_reply(s->f))
						      ? respio_reply_str(r, NULL)
						      : NULL;

				perf_failover_failed(fo, t->id, now, now - s->t0, rc, fate);
				perf_thread_error(t, "INCR %s: %s, fate %s%s%.60s", key,
						  respio_err_name(rc),
						  fate == RESPIO_FATE_SENT	 ? "SENT"
						  : fate == RESPIO_FATE_NOT_SENT ? "NOT_SENT"
										 : "REPLIED",
						  msg ? ": " : "", msg ? msg : "");
			} else if (respio_reply_type(r = respio_future_reply(s->f)) !=
				   RESPIO_REPLY_INTEGER) {
				perf_failover_bad_reply(fo, t->id);
				perf_thread_error(t, "INCR %s: not an integer reply (type %d)", key,
						  (int)respio_reply_type(r));
			} else {
				perf_failover_acked(fo, t->id, now, now - s->t0,
						    respio_reply_integer(r));
				if (more)
					more = perf_done_op(t, now - s->t0, PERF_OP_GET);
			}
			respio_future_release(s->f);
			s->f = NULL;
		} else {
			now = perf_now_ns();
		}
		if (more && perf_phase_now() == PERF_STOP)
			more = false;
		if (!more)
			continue;
		s->t0 = now;
		rc = respio_submit(x->c, 2, argv, lens, &s->f);
		if (rc < 0) {
			perf_failover_failed(fo, t->id, perf_now_ns(), 0, rc, RESPIO_FATE_NOT_SENT);
			perf_thread_error(t, "submit INCR %s: %s", key, respio_strerror(rc));
			s->f = NULL;
			usleep(1000); /* do not spin on a failing client */
			continue;
		}
		live++;
	}
	free(slots);
}

static void respio_thread(struct perf_thread *t)
{
	char *val = malloc(t->w->dsize + 1);

	if (t->w->failover) {
		free(val);
		run_incr(t, t->ctx);
		return;
	}
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
    .finish = respio_finish,
    .stop = respio_stop,
};

const struct perf_load perf_load_respio_blpop = {
    .names = {"respio+blpop", "respio+blpop", "respio-batch+blpop"},
    .start = respio_start,
    .thread = respio_thread,
    .finish = respio_finish,
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

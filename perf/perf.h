/* SPDX-License-Identifier: MIT */
/* Shared types of the perf harness: the workload, one run's result, the
 * key space, and the run driver every load generator plugs into. */
#ifndef PERF_PERF_H
#define PERF_PERF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "clock.h"
#include "hist.h"

struct respio_sentinel_config;
struct perf_failover;

/* What to run: one configuration (lists are expanded by the caller). */
struct perf_workload {
	const char *host;
	int port;
	const char *password;
	int threads;
	int inflight;
	int shards;	/* respio only; 0 = engine default (one per CPU) */
	int conns;	/* respio connections per client; 0 = engine default */
	unsigned get_w; /* GET:SET ratio */
	unsigned set_w;
	uint32_t keys;
	size_t dsize;
	double duration_s; /* used when requests == 0 */
	uint64_t requests; /* -n: total measured requests */
	double warmup_s;
	int timeout_ms; /* per request */
	bool batch;	/* K > 1: batches of K instead of a sliding window */
	/* Operations besides GET/SET, in percent of all (perf_pick): a
	 * session transaction (respio_begin, MULTI, SET, INCR, EXEC,
	 * respio_end; hiredis: MULTI..EXEC on its connection) and a
	 * transaction unit (respio_submit_transaction; hiredis the same as a
	 * session). session_pct + txn_pct <= 100. */
	unsigned session_pct;
	unsigned txn_pct;
	/* respio only: every push_every-th operation of a thread is an RPUSH
	 * to PERF_QUEUE (0: none), and blpop_consumers threads loop BLPOP on
	 * it through respio_submit (automatic leases) during the run. */
	unsigned push_every;
	int blpop_consumers;
	/* --sentinel: the respio rows find the master through these
	 * Sentinels (host and port above are the fallback). NULL: none. */
	const struct respio_sentinel_config *sentinel;
	/* --failover-at: the respio rows INCR counters of their own and
	 * record every completion there (failover.h). NULL: not this mode. */
	struct perf_failover *failover;
};

/* The list the pushes and the BLPOP consumers share, and the counter the
 * transactions increment. */
#define PERF_QUEUE	"perf:q"
#define PERF_COUNTER	"respio:perf:counter"
#define PERF_PUSH_EVERY 100
#define PERF_OPS	5 /* enum perf_op's members */

/* How a thread keeps its K requests in flight. Ratios are printed only
 * between runs of the same shape. */
enum perf_shape {
	PERF_SHAPE_SYNC,   /* K = 1: issue one, wait for its reply */
	PERF_SHAPE_WINDOW, /* K in flight: each reply read is replaced at once */
	PERF_SHAPE_BATCH,  /* issue K, read all K replies, then the next K */
};

static inline enum perf_shape perf_shape_of(const struct perf_workload *w)
{
	return w->inflight <= 1 ? PERF_SHAPE_SYNC : w->batch ? PERF_SHAPE_BATCH : PERF_SHAPE_WINDOW;
}

static inline const char *perf_shape_name(enum perf_shape s)
{
	return s == PERF_SHAPE_SYNC ? "sync" : s == PERF_SHAPE_WINDOW ? "window" : "batch";
}

/* One run of one client; medians of several runs use the same struct. */
struct perf_result {
	char client[32];
	enum perf_shape shape;
	int threads, shards, inflight; /* shards 0 for peers */
	double ops_per_sec;
	/* Per request, from the loader's clock read before it issues the
	 * request to its clock read after it has seen and checked the reply;
	 * NAN when the client does not report it. latency_own: the figures are
	 * the client's own, measured otherwise (redis-benchmark), and are
	 * compared with nothing. */
	double p50_us, p99_us, p999_us;
	bool latency_own;
	double cpu_us_per_op; /* NAN when unknown */
	double allocs_per_op; /* NAN when not counted */
	uint64_t ops;
	uint64_t errors;
	char note[160]; /* first error, or what a peer reported besides */
	/* Appended for the session, transaction and blocking-consumer mixes
	 * (summed over rounds by perf_median): operations of each kind in the
	 * measured window (by_op, indexed by enum perf_op), and over the
	 * whole run the consumers, the items pushed and received, and the
	 * pool's counters (respio_client_stats). */
	uint64_t by_op[PERF_OPS];
	/* The latency of the sessions and of the transaction units alone
	 * (measured like the rest; NAN when none ran). */
	double session_p50_us, session_p99_us, txn_p50_us, txn_p99_us;
	int consumers;
	uint64_t pushed, received;
	uint64_t leases, pool_waits, pool_exhausted;
};

/* ---- keyspace.c: deterministic keys and values, so a GET can be checked
 * without shared state: the value of a key is the key repeated to -d bytes,
 * and SETs write that same value. */
#define PERF_KEY_MAX 32
size_t perf_key(uint32_t i, char *buf);
void perf_value(const char *key, size_t keylen, size_t dsize, char *out);
bool perf_value_ok(const char *key, size_t keylen, size_t dsize, const char *got, size_t len);

/* redis-benchmark's key space for -r N: "key:" and i on 12 digits, i < N;
 * and the value its SETs write with -d (the same for every key). */
size_t perf_rb_key(uint32_t i, char *buf);
void perf_rb_value(size_t dsize, char *out);

static inline uint64_t perf_rand(uint64_t *s)
{
	/* xorshift64*: cheap, per thread, good enough to spread keys. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* Next operation of a thread: true = GET. Sets *key to a random key index. */
static inline bool perf_next_op(const struct perf_workload *w, uint64_t *rng, uint32_t *key)
{
	uint64_t r = perf_rand(rng);

	*key = (uint32_t)((r >> 32) % w->keys);
	return (uint32_t)r % (w->get_w + w->set_w) < w->get_w;
}

/* The kinds of operation; each counts as one in ops/s and latency. */
enum perf_op {
	PERF_OP_GET,
	PERF_OP_SET,
	PERF_OP_SESSION, /* begin, MULTI, SET key, INCR counter, EXEC, end */
	PERF_OP_TXN,	 /* MULTI, SET key, INCR counter, EXEC as one unit */
	PERF_OP_PUSH,	 /* RPUSH PERF_QUEUE key */
};
_Static_assert(PERF_OP_PUSH + 1 == PERF_OPS, "PERF_OPS counts enum perf_op");

/* Next operation with the mixes of w: a push every push_every-th (*seq
 * counts them), else a session or a transaction by percent, else GET or
 * SET by the ratio. *key as perf_next_op. Without the mixes it draws the
 * same numbers as perf_next_op. */
static inline enum perf_op perf_pick(const struct perf_workload *w, uint64_t *rng, uint64_t *seq,
				     uint32_t *key)
{
	bool get = perf_next_op(w, rng, key);

	if (w->push_every && ++*seq % w->push_every == 0)
		return PERF_OP_PUSH;
	if (w->session_pct || w->txn_pct) {
		uint32_t pct = (uint32_t)(perf_rand(rng) >> 33) % 100;

		if (pct < w->session_pct)
			return PERF_OP_SESSION;
		if (pct < w->session_pct + w->txn_pct)
			return PERF_OP_TXN;
	}
	return get ? PERF_OP_GET : PERF_OP_SET;
}

/* ---- runner.c: threads, phases (warm-up, measure, stop), timing, CPU. */
enum perf_phase { PERF_WARMUP, PERF_MEASURE, PERF_STOP };

/* One application thread of a load generator. */
struct perf_thread {
	int id;
	const struct perf_workload *w;
	void *ctx; /* the load generator's shared state */
	uint64_t rng;
	uint64_t quota;		  /* -n: measured requests this thread makes; 0 = by time */
	uint64_t ops;		  /* completed in the measure phase */
	uint64_t by_op[PERF_OPS]; /* of those, by enum perf_op (perf_done_op) */
	uint64_t seq;		  /* operations picked (perf_pick) */
	uint64_t errors;	  /* any phase */
	char error[128];	  /* the first one */
	struct hist hist;	  /* latencies in the measure phase */
	/* of those, the sessions' ([0]) and the transaction units' ([1]) */
	struct hist mix_hist[2];
	bool done;
};

/* A load generator: start (connect, once per run), per-thread body, stop.
 * Its client name in the report, by shape: names[PERF_SHAPE_...]. */
struct perf_load {
	const char *names[3];
	int (*start)(const struct perf_workload *w, void **ctx, char *err, size_t errlen);
	void (*thread)(struct perf_thread *t);
	/* Optional: after the threads have stopped and r holds the run's
	 * figures, add what the load counted itself (consumers, the pool). */
	void (*finish)(void *ctx, struct perf_result *r);
	void (*stop)(void *ctx);
};

/* The phase the threads read; the runner writes it. */
extern _Atomic int perf_phase;

/* perf_now_ns() at the start of the measured phase, stored before the phase
 * becomes PERF_MEASURE (0 before the first run). */
extern _Atomic uint64_t perf_measure_t0;

static inline int perf_phase_now(void)
{
	return atomic_load_explicit(&perf_phase, memory_order_acquire);
}

/* Called by a thread body after each completed request, with its latency:
 * the thread's clock read after it has seen and checked the reply, less its
 * clock read before it issued the request (the read that ended the previous
 * request's wait when nothing but choosing this request's key and value came
 * in between). Records it when measuring, and returns false when the thread
 * should stop issuing (phase stop, or its -n quota reached). */
static inline bool perf_done_op(struct perf_thread *t, uint64_t ns, enum perf_op op)
{
	int ph = perf_phase_now();

	if (ph == PERF_MEASURE && !t->done) {
		hist_record(&t->hist, ns);
		if (op == PERF_OP_SESSION || op == PERF_OP_TXN)
			hist_record(&t->mix_hist[op == PERF_OP_TXN], ns);
		t->ops++;
		t->by_op[op]++;
		if (t->quota && t->ops >= t->quota)
			t->done = true;
	}
	return ph != PERF_STOP && !t->done;
}

/* perf_done_op for a GET or a SET (not told apart). */
static inline bool perf_done_one(struct perf_thread *t, uint64_t ns)
{
	return perf_done_op(t, ns, PERF_OP_GET);
}

void perf_thread_error(struct perf_thread *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Run one load with workload w, fill *r. Returns 0, or -1 when it could not
 * start (the reason is in r->note); errors during the run are in r->errors. */
int perf_run(const struct perf_load *load, const struct perf_workload *w, struct perf_result *r);

/* Print msg, run the cleanup given to perf_on_fatal (respio-perf stops its
 * embedded server) and leave: for a run that cannot be stopped. */
void perf_fatal(const char *msg) __attribute__((noreturn));

/* Set perf_fatal's cleanup, once, before the first run: the runner reaches
 * the program that drives it only through this pointer. */
void perf_on_fatal(void (*cleanup)(void));

/* Set when the user asked to stop (SIGINT/SIGTERM). */
extern volatile int perf_interrupted;

/* ---- loads */
extern const struct perf_load perf_load_respio;
/* The same with w->blpop_consumers BLPOP threads: rows respio+blpop. */
extern const struct perf_load perf_load_respio_blpop;
extern const struct perf_load perf_load_hiredis;
/* Every operation on a new respio_conn: create, connect, GET or SET,
 * destroy (row connect-per-request; K = 1 only). */
extern const struct perf_load perf_load_connect;
extern const bool perf_have_hiredis;

/* Write the key space (every key to its value) through respio, and with
 * rb_too redis-benchmark's (the same number of keys and value size, in its
 * names and value), so that every client's GETs find their keys. */
int perf_prefill(const struct perf_workload *w, bool rb_too, char *err, size_t errlen);

/* ---- redis_benchmark.c: run redis-benchmark with the same workload; the
 * -n it is given comes from rate_hint (ops/s) * duration when no -n is set. */
int perf_redis_benchmark(const struct perf_workload *w, double rate_hint, struct perf_result *r);

#endif

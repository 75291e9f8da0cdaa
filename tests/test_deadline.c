/* SPDX-License-Identifier: MIT */
/* The deadline set alone (no sockets): orders, removals and large counts against a plain model. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deadline.h"

/*
 * The model: every entry ever pushed, with its queue, deadline and whether
 * it is still held. The pointers given to the set are addresses of these
 * records, so a pointer coming back names the entry it stands for.
 */
struct entry {
	uint32_t queue;
	int64_t deadline;
	bool held;
};

struct model {
	struct respio__deadlines *d;
	uint32_t nqueues;
	struct entry *e;
	uint32_t n, cap;
	uint32_t *front; /* per queue: the oldest pushed entry that may be held */
	uint32_t held;
};

static void model_init(struct model *m, uint32_t nqueues, uint32_t cap)
{
	memset(m, 0, sizeof(*m));
	cr_assert_eq(respio__deadlines_create(nqueues, &m->d), 0);
	m->nqueues = nqueues;
	m->cap = cap;
	m->e = calloc(cap, sizeof(*m->e));
	m->front = calloc(nqueues, sizeof(*m->front));
	cr_assert(m->e && m->front);
}

static void model_fini(struct model *m)
{
	respio__deadlines_destroy(m->d);
	free(m->e);
	free(m->front);
}

static uint32_t index_of(struct model *m, void *p)
{
	struct entry *e = p;

	cr_assert(e >= m->e && e < m->e + m->n, "a pointer that was never pushed: %p", p);
	return (uint32_t)(e - m->e);
}

static void push(struct model *m, uint32_t q, int64_t deadline)
{
	struct entry *e;

	cr_assert_lt(m->n, m->cap);
	e = &m->e[m->n++];
	e->queue = q;
	e->deadline = deadline;
	e->held = true;
	m->held++;
	cr_assert_eq(respio__deadlines_reserve(m->d, q), 0);
	respio__deadlines_push(m->d, q, deadline, e);
}

static void model_take(struct model *m, uint32_t i)
{
	cr_assert(m->e[i].held, "entry %u came out twice", i);
	m->e[i].held = false;
	m->held--;
}

/* The earliest deadline the model holds (linear: keep the models small). */
static int64_t model_next(const struct model *m)
{
	int64_t t = INT64_MAX;

	for (uint32_t i = 0; i < m->n; i++)
		if (m->e[i].held && m->e[i].deadline < t)
			t = m->e[i].deadline;
	return t;
}

static uint32_t model_count(const struct model *m, uint32_t q)
{
	uint32_t n = 0;

	for (uint32_t i = m->front[q]; i < m->n; i++)
		n += m->e[i].held && m->e[i].queue == q;
	return n;
}

/* pop_front must return the oldest held entry of q. */
static void pop_front(struct model *m, uint32_t q)
{
	void *p = respio__deadlines_pop_front(m->d, q);
	uint32_t want = m->front[q];

	while (want < m->n && !(m->e[want].held && m->e[want].queue == q))
		want++;
	m->front[q] = want;
	if (want == m->n) {
		cr_assert_null(p, "pop_front of an empty queue %u returned an entry", q);
		return;
	}
	cr_assert_not_null(p, "pop_front of queue %u returned nothing", q);
	cr_assert_eq(index_of(m, p), want, "pop_front(%u) returned entry %u, the oldest is %u", q,
		     index_of(m, p), want);
	model_take(m, want);
}

/* pop_expired must return an entry with the earliest deadline, when it is
 * at or before now, and nothing otherwise. Returns whether it did. */
static bool pop_expired(struct model *m, int64_t now, int64_t want_next)
{
	uint32_t q = UINT32_MAX, i;
	void *p = NULL;

	if (!respio__deadlines_pop_expired(m->d, now, &q, &p)) {
		cr_assert(want_next > now, "nothing expired at %lld, yet %lld is due",
			  (long long)now, (long long)want_next);
		return false;
	}
	i = index_of(m, p);
	cr_assert_eq(m->e[i].deadline, want_next, "expired %lld before the earlier %lld",
		     (long long)m->e[i].deadline, (long long)want_next);
	cr_assert_leq(m->e[i].deadline, now);
	cr_assert_eq(q, m->e[i].queue, "entry of queue %u reported in queue %u", m->e[i].queue, q);
	model_take(m, i);
	return true;
}

static void clear(struct model *m, uint32_t q)
{
	respio__deadlines_clear(m->d, q);
	for (uint32_t i = m->front[q]; i < m->n; i++)
		if (m->e[i].held && m->e[i].queue == q)
			model_take(m, i);
	cr_assert_eq(respio__deadlines_count(m->d, q), 0);
	cr_assert_null(respio__deadlines_pop_front(m->d, q));
}

static void check_next(struct model *m)
{
	cr_assert_eq(respio__deadlines_next(m->d), model_next(m), "next: %lld, want %lld",
		     (long long)respio__deadlines_next(m->d), (long long)model_next(m));
}

/* --- the patterns ------------------------------------------------------- */

enum pattern {
	SORTED,
	REVERSE,
	RANDOM,
	DUPLICATES,   /* all the same */
	FEW_VALUES,   /* many duplicates of a handful of deadlines */
	SAWTOOTH,     /* sorted runs of 37 */
	TWO_TIMEOUTS, /* a client default and a short per-request one, interleaved */
	NEAR_SORTED,  /* sorted with small inversions, as lanes deliver them */
	SOME_NONE,    /* random, one in five without a deadline */
};

static int64_t deadline_for(enum pattern p, uint32_t i, uint32_t n, unsigned *seed)
{
	const int64_t base = 1000000000;

	switch (p) {
	case SORTED: return base + i * 1000;
	case REVERSE: return base + (int64_t)(n - i) * 1000;
	case RANDOM: return base + rand_r(seed) % 1000000;
	case DUPLICATES: return base;
	case FEW_VALUES: return base + (rand_r(seed) % 4) * 1000;
	case SAWTOOTH: return base + (i % 37) * 1000;
	case TWO_TIMEOUTS: return base + i * 1000 + (rand_r(seed) % 4 ? 5000000 : 100000);
	case NEAR_SORTED: return base + i * 1000 + rand_r(seed) % 5000;
	case SOME_NONE: return rand_r(seed) % 5 ? base + rand_r(seed) % 1000000 : INT64_MAX;
	}
	return 0;
}

struct shape {
	const char *name;
	enum pattern pattern;
	uint32_t n;
	uint32_t nqueues;
};

static const struct shape shapes[] = {
    {"one", SORTED, 1, 1},
    {"sorted", SORTED, 2000, 1},
    {"sorted_3_queues", SORTED, 2000, 3},
    {"reverse", REVERSE, 2000, 1},
    {"reverse_4_queues", REVERSE, 2000, 4},
    {"random", RANDOM, 2000, 1},
    {"random_5_queues", RANDOM, 2000, 5},
    {"duplicates", DUPLICATES, 2000, 1},
    {"duplicates_2_queues", DUPLICATES, 2000, 2},
    {"few_values", FEW_VALUES, 2000, 3},
    {"sawtooth", SAWTOOTH, 2000, 2},
    {"two_timeouts", TWO_TIMEOUTS, 2000, 1},
    {"near_sorted", NEAR_SORTED, 2000, 2},
    {"some_without_deadline", SOME_NONE, 2000, 3},
};

static void fill(struct model *m, const struct shape *s, unsigned seed)
{
	for (uint32_t i = 0; i < s->n; i++)
		push(m, (uint32_t)rand_r(&seed) % s->nqueues,
		     deadline_for(s->pattern, i, s->n, &seed));
	for (uint32_t q = 0; q < s->nqueues; q++)
		cr_assert_eq(respio__deadlines_count(m->d, q), model_count(m, q), "%s: count(%u)",
			     s->name, q);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* --- tests -------------------------------------------------------------- */

TestSuite(deadline, .timeout = 60);

Test(deadline, empty_set)
{
	struct respio__deadlines *d;
	uint32_t q;
	void *p;

	cr_assert_eq(respio__deadlines_create(2, &d), 0);
	cr_assert_eq(respio__deadlines_next(d), INT64_MAX);
	cr_assert_eq(respio__deadlines_pop_expired(d, INT64_MAX, &q, &p), 0);
	cr_assert_null(respio__deadlines_pop_front(d, 1));
	cr_assert_eq(respio__deadlines_count(d, 0), 0);
	respio__deadlines_clear(d, 0);
	respio__deadlines_destroy(d);
	respio__deadlines_destroy(NULL);
}

/* Everything pushed comes out of pop_expired in deadline order, each entry
 * once, and an entry without a deadline never does. */
Test(deadline, pop_expired_in_deadline_order)
{
	for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
		const struct shape *s = &shapes[k];
		struct model m;
		int64_t *want = malloc(s->n * sizeof(*want)), last = INT64_MIN;
		uint32_t nwant = 0, got = 0;

		model_init(&m, s->nqueues, s->n);
		fill(&m, s, (unsigned)k + 1);
		for (uint32_t i = 0; i < m.n; i++)
			if (m.e[i].deadline != INT64_MAX)
				want[nwant++] = m.e[i].deadline;
		qsort(want, nwant, sizeof(*want), cmp_i64);
		check_next(&m);
		for (;;) {
			uint32_t q;
			void *p;

			if (!respio__deadlines_pop_expired(m.d, INT64_MAX - 1, &q, &p))
				break;
			cr_assert_lt(got, nwant, "%s: more entries expired than have deadlines",
				     s->name);
			model_take(&m, index_of(&m, p));
			cr_assert_eq(m.e[index_of(&m, p)].deadline, want[got],
				     "%s: expiry %u has deadline %lld, want %lld", s->name, got,
				     (long long)m.e[index_of(&m, p)].deadline,
				     (long long)want[got]);
			cr_assert_geq(want[got], last);
			last = want[got++];
			if (got % 97 == 0)
				check_next(&m);
		}
		cr_assert_eq(got, nwant, "%s: %u of %u expired", s->name, got, nwant);
		cr_assert_eq(respio__deadlines_next(m.d), INT64_MAX);
		cr_assert_eq(m.held, s->n - nwant);
		free(want);
		model_fini(&m);
	}
}

/* pop_expired takes exactly what is due at now: from a set of mixed
 * deadlines, at its median, then at each later step. */
Test(deadline, expires_only_what_is_due)
{
	for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
		const struct shape *s = &shapes[k];
		struct model m;

		model_init(&m, s->nqueues, s->n);
		fill(&m, s, (unsigned)k + 7);
		for (int64_t now = 1000000000 - 1; now < 1000000000 + 6000000; now += 250000) {
			for (;;) {
				int64_t want = model_next(&m);

				if (!pop_expired(&m, now, want))
					break;
			}
			check_next(&m);
		}
		model_fini(&m);
	}
}

/* pop_front follows push order in each queue, whatever the deadlines, and
 * leaves the earliest deadline right (entries of any deadline rank go). */
Test(deadline, pop_front_in_push_order)
{
	for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
		const struct shape *s = &shapes[k];
		struct model m;
		unsigned seed = (unsigned)k + 3;

		model_init(&m, s->nqueues, s->n);
		fill(&m, s, seed);
		while (m.held) {
			pop_front(&m, (uint32_t)rand_r(&seed) % s->nqueues);
			if (m.held % 31 == 0)
				check_next(&m);
		}
		for (uint32_t q = 0; q < s->nqueues; q++)
			cr_assert_null(respio__deadlines_pop_front(m.d, q));
		cr_assert_eq(respio__deadlines_next(m.d), INT64_MAX);
		model_fini(&m);
	}
}

/*
 * Pushes, pops from the front of any queue (removing entries of arbitrary
 * deadline rank), expiries as time moves on and whole queues cleared, in
 * random order, each checked against the model: the set must hold what the
 * model holds, in the order it holds it, whatever the mix of deadlines.
 */
Test(deadline, random_operations_match_the_model)
{
	static const enum pattern mixes[] = {SORTED,	  RANDOM,     TWO_TIMEOUTS,
					     NEAR_SORTED, FEW_VALUES, SOME_NONE};

	for (size_t k = 0; k < sizeof(mixes) / sizeof(mixes[0]); k++) {
		enum { OPS = 60000, NQ = 4 };
		struct model m;
		unsigned seed = (unsigned)k * 7919 + 1;
		int64_t now = 1000000000 - 2000000;

		model_init(&m, NQ, OPS);
		for (uint32_t op = 0; op < OPS; op++) {
			uint32_t r = (uint32_t)rand_r(&seed) % 100,
				 q = (uint32_t)rand_r(&seed) % NQ;

			/* Keep about 300 held, so the linear model stays quick. */
			if (r < (m.held < 300 ? 55u : 35u)) {
				int64_t dl = deadline_for(mixes[k], op, OPS, &seed);

				/* The patterns start at 1 s: move them to now. */
				push(&m, q, dl == INT64_MAX ? dl : dl - 1000000000 + now);
			} else if (r < 85) {
				pop_front(&m, q);
			} else if (r < 99) {
				now += rand_r(&seed) % 200000;
				while (pop_expired(&m, now, model_next(&m)))
					;
			} else {
				clear(&m, q);
			}
			if (op % 16 == 0) {
				check_next(&m);
				cr_assert_eq(respio__deadlines_count(m.d, q), model_count(&m, q),
					     "op %u: count(%u)", op, q);
			}
		}
		model_fini(&m);
	}
}

/*
 * A connection's worth at scale: 100,000 entries with the client's default
 * timeout stay held while short ones, pushed among them one at a time,
 * expire one at a time: each must be found at once, the far ones never.
 * Each expiry leaves a dead position between held ones, so the queues are
 * compacted many times over (entries slide down the ring while held); the
 * held ones must still come out in push order afterwards.
 */
Test(deadline, trickle_of_expiries_among_100k_held)
{
	enum { HELD = 100000, FIRST = 20000, TRICKLE = 200000 };
	struct model m;
	int64_t now = 1000000000, far = now + 5000000000LL;
	unsigned seed = 42;
	uint32_t held = 0;

	model_init(&m, 2, HELD + TRICKLE);
	for (; held < FIRST; held++)
		push(&m, held % 2, far + held * 10 + rand_r(&seed) % 100);
	for (uint32_t i = 0; i < TRICKLE; i++) {
		uint32_t q, short_one = m.n;
		void *p;

		push(&m, i % 2, now + 1000);
		/* The rest of the held ones go in behind the short ones. */
		if (held < HELD && i % 5 < 2) {
			push(&m, i % 2, far + held * 10 + rand_r(&seed) % 100);
			held++;
		}
		now += 1000;
		cr_assert(respio__deadlines_pop_expired(m.d, now, &q, &p));
		cr_assert_eq(index_of(&m, p), short_one, "expiry %u took entry %u", i,
			     index_of(&m, p));
		cr_assert_eq(q, i % 2);
		model_take(&m, short_one);
		cr_assert_eq(respio__deadlines_pop_expired(m.d, now, &q, &p), 0);
		if (i % 10000 == 0)
			check_next(&m);
	}
	cr_assert_eq(held, HELD);
	cr_assert_eq(respio__deadlines_count(m.d, 0) + respio__deadlines_count(m.d, 1), HELD);
	cr_assert_eq(respio__deadlines_count(m.d, 0), model_count(&m, 0));
	while (m.held)
		pop_front(&m, (uint32_t)rand_r(&seed) % 2);
	cr_assert_eq(respio__deadlines_next(m.d), INT64_MAX);
	model_fini(&m);
}

/* 100,000 random deadlines over 8 queues: all expire in order, each once. */
Test(deadline, random_100k_expire_in_order)
{
	enum { N = 100000, NQ = 8 };
	struct model m;
	unsigned seed = 7;
	int64_t last = INT64_MIN;
	uint32_t got = 0, q;
	void *p;

	model_init(&m, NQ, N);
	for (uint32_t i = 0; i < N; i++)
		push(&m, (uint32_t)rand_r(&seed) % NQ, rand_r(&seed) % 100000000);
	while (respio__deadlines_pop_expired(m.d, INT64_MAX - 1, &q, &p)) {
		uint32_t i = index_of(&m, p);

		cr_assert_geq(m.e[i].deadline, last);
		cr_assert_eq(m.e[i].queue, q);
		last = m.e[i].deadline;
		model_take(&m, i);
		got++;
	}
	cr_assert_eq(got, N);
	cr_assert_eq(m.held, 0);
	model_fini(&m);
}

/* Queues drain, refill and grow again many times (ring reuse and growth
 * with positions that keep counting up). */
Test(deadline, queues_refill_after_emptying)
{
	struct model m;
	unsigned seed = 11;

	model_init(&m, 3, 200000);
	for (int round = 0; round < 40; round++) {
		uint32_t n = (uint32_t)rand_r(&seed) % 5000;

		for (uint32_t i = 0; i < n; i++)
			push(&m, i % 3, 1000 + round * 10000 + rand_r(&seed) % 20000);
		check_next(&m);
		if (round % 3 == 0) {
			clear(&m, round % 3);
			check_next(&m);
		}
		while (m.held > n / 4)
			pop_front(&m, (uint32_t)rand_r(&seed) % 3);
		check_next(&m);
	}
	model_fini(&m);
}

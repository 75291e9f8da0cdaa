/* SPDX-License-Identifier: MIT */
/* When a link dials again, alone: the delays with their jitter, and which
 * lost connections count as failed attempts. */
#include <criterion/criterion.h>

#include "dial.h"

#define MS 1000000LL

/* 50 ms doubling to 2 s, each drawn from [d/2, d], reaching both ends. */
Test(backoff, doubles_to_two_seconds_with_jitter)
{
	static const int64_t full_ms[] = {50, 100, 200, 400, 800, 1600, 2000, 2000, 2000};
	unsigned seed = 1;

	for (uint32_t a = 1; a <= sizeof(full_ms) / sizeof(full_ms[0]); a++) {
		struct respio__backoff b = {.attempts = a};
		int64_t d = full_ms[a - 1] * MS, lo = INT64_MAX, hi = 0;

		for (int i = 0; i < 2000; i++) {
			respio__backoff_schedule(&b, 1000 * MS, &seed);
			lo = b.retry_at_ns - 1000 * MS < lo ? b.retry_at_ns - 1000 * MS : lo;
			hi = b.retry_at_ns - 1000 * MS > hi ? b.retry_at_ns - 1000 * MS : hi;
		}
		cr_assert_geq(lo, d / 2, "attempt %u: %lld ms, below half of %lld", a,
			      (long long)(lo / MS), (long long)(d / MS));
		cr_assert_leq(hi, d, "attempt %u: %lld ms, above %lld", a, (long long)(hi / MS),
			      (long long)(d / MS));
		/* Spread over the range, not one value: 2000 draws. */
		cr_assert_lt(lo, d / 2 + d / 10, "attempt %u: no draw near the low end", a);
		cr_assert_gt(hi, d - d / 10, "attempt %u: no draw near the high end", a);
		cr_assert_eq(b.attempts, a, "scheduling changed the count");
	}
}

/* The first young loss in a row is redialed at once, the second backs off;
 * a connection that served, or lived past a second, clears the count. */
Test(backoff, young_losses_count_from_the_second)
{
	struct respio__backoff b = {0};

	respio__backoff_up(&b, 10 * MS);
	cr_assert_not(respio__backoff_lost(&b, false, 20 * MS), "one unlucky loss backed off");
	respio__backoff_up(&b, 30 * MS);
	cr_assert(respio__backoff_lost(&b, false, 40 * MS), "the second young loss did not");
	cr_assert_eq(b.attempts, 2);
	respio__backoff_dial_failed(&b);
	cr_assert_eq(b.attempts, 3);

	/* Served: not young, whatever its age. */
	respio__backoff_up(&b, 50 * MS);
	cr_assert_not(respio__backoff_lost(&b, true, 60 * MS));
	cr_assert_eq(b.attempts, 0, "a connection that served kept the count");

	/* Silent but old. */
	b.attempts = 4;
	respio__backoff_up(&b, 100 * MS);
	cr_assert_not(respio__backoff_lost(&b, false, 100 * MS + 1000 * MS));
	cr_assert_eq(b.attempts, 0, "a connection that lived a second kept the count");

	/* Just under a second is still young. */
	respio__backoff_up(&b, 2000 * MS);
	cr_assert_not(respio__backoff_lost(&b, false, 2999 * MS));
	respio__backoff_up(&b, 3000 * MS);
	cr_assert(respio__backoff_lost(&b, false, 3999 * MS));
}

/* SPDX-License-Identifier: MIT */
/* The harness's clock: nanoseconds from an arbitrary origin, cheap enough to
 * read once per request. */
#ifndef PERF_CLOCK_H
#define PERF_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

/*
 * Where the kernel itself keeps time with the TSC (clocksource "tsc": an
 * invariant counter, the same on every CPU), the harness reads it directly
 * and scales it by a factor measured against CLOCK_MONOTONIC at start-up.
 * vDSO clock_gettime reads the same counter but fences it (lfence/rdtscp),
 * which waits for every load in flight: at 8 threads x 64 in flight that
 * was 7-12% of the client CPU charged to respio. Elsewhere: CLOCK_MONOTONIC.
 */
struct perf_clock {
	bool tsc;
	uint64_t tsc0;
	uint64_t mult; /* ns per tick, 0.32 fixed point (below 1 ns) */
};

extern struct perf_clock perf_clock;

/* Decide, calibrate and check (about 30 ms). Call once before any thread
 * starts. */
void perf_clock_init(void);

static inline uint64_t perf_now_ns(void)
{
	struct timespec ts;

#if defined(__x86_64__)
	if (perf_clock.tsc) {
		/* ticks * mult >> 32 in two halves; mult < 2^32 (a TSC above
		 * 1 GHz) keeps both products within 64 bits. */
		uint64_t ticks = __rdtsc() - perf_clock.tsc0;

		return (ticks >> 32) * perf_clock.mult +
		       (((ticks & 0xffffffffu) * perf_clock.mult) >> 32);
	}
#endif
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif

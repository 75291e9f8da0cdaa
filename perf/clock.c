/* SPDX-License-Identifier: MIT */
/* Choosing and calibrating the harness's clock (clock.h explains why). */
#include "clock.h"

#include <stdio.h>
#include <string.h>

struct perf_clock perf_clock;

static bool kernel_uses_tsc(void)
{
	FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
	char name[32] = "";
	bool yes;

	if (!f)
		return false;
	yes = fgets(name, sizeof(name), f) && strcmp(name, "tsc\n") == 0;
	fclose(f);
	return yes;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#if defined(__x86_64__)
/* Over another 10 ms, the scaled TSC and CLOCK_MONOTONIC agree within 1%. */
static bool agrees_with_monotonic(void)
{
	struct timespec pause = {.tv_nsec = 10000000};
	uint64_t m0 = mono_ns(), n0 = perf_now_ns(), m1, n1, dm, dn;

	nanosleep(&pause, NULL);
	m1 = mono_ns();
	n1 = perf_now_ns();
	dm = m1 - m0;
	dn = n1 - n0;
	return (dn > dm ? dn - dm : dm - dn) * 100 <= dm;
}
#endif

void perf_clock_init(void)
{
#if defined(__x86_64__)
	struct timespec pause = {.tv_nsec = 20000000};
	uint64_t t0, t1, c0, c1;

	if (!kernel_uses_tsc())
		return;
	t0 = mono_ns();
	c0 = __rdtsc();
	nanosleep(&pause, NULL);
	t1 = mono_ns();
	c1 = __rdtsc();
	if (c1 <= c0 || t1 <= t0)
		return;
	/* 20 ms in ns, shifted by 32, is far below 2^64. */
	perf_clock.mult = ((t1 - t0) << 32) / (c1 - c0);
	perf_clock.tsc0 = c0;
	perf_clock.tsc = perf_clock.mult > 0 && perf_clock.mult < (1ull << 32);
	if (perf_clock.tsc && !agrees_with_monotonic())
		perf_clock.tsc = false;
#endif
}

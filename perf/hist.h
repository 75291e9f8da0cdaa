/* SPDX-License-Identifier: MIT */
/* A log-linear latency histogram (HdrHistogram-style): exact below 128 ns,
 * then 64 linear buckets per power of two, so any value is kept within 0.8%. */
#ifndef PERF_HIST_H
#define PERF_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS  7
#define HIST_SUB       (1u << HIST_SUB_BITS)
#define HIST_HALF      (HIST_SUB / 2)
#define HIST_MAX_SHIFT 37 /* the top bucket starts near 2^43 ns: hours */
#define HIST_BUCKETS   (HIST_SUB + HIST_MAX_SHIFT * HIST_HALF)

struct hist {
	uint64_t count;
	uint64_t min_ns;
	uint64_t max_ns;
	uint64_t counts[HIST_BUCKETS];
};

void hist_reset(struct hist *h);

static inline unsigned hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < HIST_SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - (HIST_SUB_BITS - 1);
	if (shift > HIST_MAX_SHIFT)
		return HIST_BUCKETS - 1;
	return HIST_SUB + (shift - 1) * HIST_HALF + (unsigned)(v >> shift) - HIST_HALF;
}

/* Record one value in nanoseconds. One writer per histogram. */
static inline void hist_record(struct hist *h, uint64_t ns)
{
	h->counts[hist_index(ns)]++;
	h->count++;
	if (ns > h->max_ns)
		h->max_ns = ns;
	if (ns < h->min_ns)
		h->min_ns = ns;
}

/* Add every count of src into dst. */
void hist_merge(struct hist *dst, const struct hist *src);

/* The value (ns) at quantile q in [0, 1]: the middle of the bucket holding
 * the ceil(q * count)-th smallest value, clamped to [min, max]. 0 when
 * empty. */
uint64_t hist_quantile(const struct hist *h, double q);

#endif

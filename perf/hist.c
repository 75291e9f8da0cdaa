/* SPDX-License-Identifier: MIT */
/* The log-linear latency histogram: reset, merge and quantiles. */
#include "hist.h"

#include <math.h>
#include <string.h>

void hist_reset(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min_ns = UINT64_MAX;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		dst->counts[i] += src->counts[i];
	dst->count += src->count;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
	if (src->min_ns < dst->min_ns)
		dst->min_ns = src->min_ns;
}

/* Lowest value and width of bucket i: the inverse of hist_index(). */
static void bucket_range(unsigned i, uint64_t *low, uint64_t *width)
{
	unsigned k, shift;

	if (i < HIST_SUB) {
		*low = i;
		*width = 1;
		return;
	}
	k = i - HIST_SUB;
	shift = k / HIST_HALF + 1;
	*low = (uint64_t)(k % HIST_HALF + HIST_HALF) << shift;
	*width = (uint64_t)1 << shift;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0, low, width, v;

	if (!h->count)
		return 0;
	if (q <= 0)
		return h->min_ns;
	rank = (uint64_t)ceil(q * (double)h->count);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen < rank)
			continue;
		bucket_range(i, &low, &width);
		v = low + width / 2;
		if (v > h->max_ns)
			v = h->max_ns;
		if (v < h->min_ns)
			v = h->min_ns;
		return v;
	}
	return h->max_ns;
}

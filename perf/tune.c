/* SPDX-License-Identifier: MIT */
/* Shard-count advice from a sweep: the best throughput whose p99 fits the
 * budget, preferring fewer shards when more buy less than the noise. */
#include "report.h"

#include <math.h>
#include <string.h>

/* Runs on a shared 2-core loopback differ by a few percent from round to
 * round: a gain below this is not worth another shard thread. */
#define TUNE_NOISE 0.03

/* Rows of the same respio client (shape), threads and inflight as r. */
static bool same(const struct perf_result *a, const struct perf_result *r)
{
	return a->shards && !strcmp(a->client, r->client) && a->threads == r->threads &&
	       a->inflight == r->inflight;
}

static void recommend_one(FILE *f, const struct perf_result *rows, int n,
			  const struct perf_result *cfg, double budget_us)
{
	const struct perf_result *best = NULL, *pick = NULL, *lowest = NULL;

	for (int i = 0; i < n; i++) {
		const struct perf_result *r = &rows[i];

		if (!same(r, cfg) || r->errors || !(r->ops_per_sec > 0))
			continue;
		if (!lowest || r->p99_us < lowest->p99_us)
			lowest = r;
		if (budget_us > 0 && !(r->p99_us <= budget_us))
			continue;
		if (!best || r->ops_per_sec > best->ops_per_sec)
			best = r;
	}
	fprintf(f, "%s (%s), threads %d, inflight %d: ", cfg->client, perf_shape_name(cfg->shape),
		cfg->threads, cfg->inflight);
	if (!lowest) {
		fprintf(f, "no run without errors; no recommendation\n");
		return;
	}
	if (!best) {
		fprintf(f,
			"no shard count keeps p99 within %.0f us (lowest: %.0f us with %d "
			"shards, %.0f ops/s); use %d shards or raise the budget\n",
			budget_us, lowest->p99_us, lowest->shards, lowest->ops_per_sec,
			lowest->shards);
		return;
	}
	/* The fewest shards within the noise of the best. */
	for (int i = 0; i < n; i++) {
		const struct perf_result *r = &rows[i];

		if (!same(r, cfg) || r->errors || !(r->ops_per_sec > 0) ||
		    (budget_us > 0 && !(r->p99_us <= budget_us)))
			continue;
		if (r->ops_per_sec >= best->ops_per_sec * (1 - TUNE_NOISE) &&
		    (!pick || r->shards < pick->shards))
			pick = r;
	}
	fprintf(f, "use %d shard%s: %.0f ops/s, p99 %.0f us", pick->shards,
		pick->shards == 1 ? "" : "s", pick->ops_per_sec, pick->p99_us);
	if (budget_us > 0)
		fprintf(f, " (within the p99 budget of %.0f us)", budget_us);
	if (pick != best)
		fprintf(f,
			"; %d shards measured %.0f ops/s, only %.1f%% more, within run-to-run "
			"noise (%.0f%%), so the fewer shard threads win",
			best->shards, best->ops_per_sec,
			100 * (best->ops_per_sec / pick->ops_per_sec - 1), 100 * TUNE_NOISE);
	else
		fprintf(f, "; the best throughput%s", budget_us > 0 ? " within the budget" : "");
	fprintf(f, "\n");
}

void perf_tune_recommend(FILE *f, const struct perf_result *rows, int n, double budget_us)
{
	for (int i = 0; i < n; i++) {
		bool first = true;

		if (!rows[i].shards)
			continue; /* a peer */
		for (int j = 0; j < i; j++)
			if (same(&rows[j], &rows[i]))
				first = false;
		if (first)
			recommend_one(f, rows, n, &rows[i], budget_us);
	}
	fflush(f);
}

/* SPDX-License-Identifier: MIT */
/* Medians over rounds, the human table, the CSV lines and the ratios. */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median_of(const struct perf_result *runs, int n, size_t off)
{
	double v[64];
	int m = 0;

	for (int i = 0; i < n && m < 64; i++) {
		double x = *(const double *)((const char *)&runs[i] + off);

		if (!isnan(x))
			v[m++] = x;
	}
	if (!m)
		return NAN;
	qsort(v, (size_t)m, sizeof(v[0]), cmp_double);
	return m % 2 ? v[m / 2] : (v[m / 2 - 1] + v[m / 2]) / 2;
}

void perf_median(const struct perf_result *runs, int n, struct perf_result *out)
{
	const char *note = NULL;

	*out = runs[0];
	out->ops = 0;
	out->errors = 0;
	out->ops_per_sec = median_of(runs, n, offsetof(struct perf_result, ops_per_sec));
	out->p50_us = median_of(runs, n, offsetof(struct perf_result, p50_us));
	out->p99_us = median_of(runs, n, offsetof(struct perf_result, p99_us));
	out->p999_us = median_of(runs, n, offsetof(struct perf_result, p999_us));
	out->cpu_us_per_op = median_of(runs, n, offsetof(struct perf_result, cpu_us_per_op));
	out->allocs_per_op = median_of(runs, n, offsetof(struct perf_result, allocs_per_op));
	out->session_p50_us = median_of(runs, n, offsetof(struct perf_result, session_p50_us));
	out->session_p99_us = median_of(runs, n, offsetof(struct perf_result, session_p99_us));
	out->txn_p50_us = median_of(runs, n, offsetof(struct perf_result, txn_p50_us));
	out->txn_p99_us = median_of(runs, n, offsetof(struct perf_result, txn_p99_us));
	memset(out->by_op, 0, sizeof(out->by_op));
	out->pushed = out->received = out->leases = out->pool_waits = out->pool_exhausted = 0;
	for (int i = 0; i < n; i++) {
		out->ops += runs[i].ops;
		out->errors += runs[i].errors;
		for (int op = 0; op < PERF_OPS; op++)
			out->by_op[op] += runs[i].by_op[op];
		out->pushed += runs[i].pushed;
		out->received += runs[i].received;
		out->leases += runs[i].leases;
		out->pool_waits += runs[i].pool_waits;
		out->pool_exhausted += runs[i].pool_exhausted;
		if (runs[i].errors && !note)
			note = runs[i].note;
	}
	if (!note)
		note = runs[0].note;
	snprintf(out->note, sizeof(out->note), "%s", note);
}

void perf_print_header(FILE *f, bool csv)
{
	if (csv)
		fprintf(f, PERF_CSV_HEADER "\n");
	else
		fprintf(f, "%-19s %-6s %7s %6s %8s %12s %9s %9s %9s %10s %9s %6s\n", "client",
			"shape", "threads", "shards", "inflight", "ops/s", "p50 us", "p99 us",
			"p99.9 us", "cpu us/op", "allocs/op", "errors");
}

/* A number for the CSV: empty when unknown. */
static void csv_num(FILE *f, double v, int prec)
{
	if (!isnan(v))
		fprintf(f, "%.*f", prec, v);
}

/* A table cell; mark ('*') a figure that is not the harness's measure. */
static void cell(FILE *f, int width, double v, int prec, bool mark)
{
	if (isnan(v))
		fprintf(f, " %*s", width, "-");
	else if (mark)
		fprintf(f, " %*.*f*", width - 1, prec, v);
	else
		fprintf(f, " %*.*f", width, prec, v);
}

void perf_print_row(FILE *f, const struct perf_result *r, bool csv)
{
	if (csv) {
		fprintf(f, "%s,%d,%d,%d,", r->client, r->threads, r->shards, r->inflight);
		csv_num(f, r->ops_per_sec, 0);
		fputc(',', f);
		csv_num(f, r->p50_us, 1);
		fputc(',', f);
		csv_num(f, r->p99_us, 1);
		fputc(',', f);
		csv_num(f, r->p999_us, 1);
		fputc(',', f);
		csv_num(f, r->cpu_us_per_op, 2);
		fprintf(f, ",%llu,", (unsigned long long)r->errors);
		/* Appended after the first columns, which keep their order. */
		csv_num(f, r->allocs_per_op, 3);
		fprintf(f, ",%s,%s\n", perf_shape_name(r->shape),
			r->latency_own ? r->client : "harness");
		fflush(f);
		return;
	}
	fprintf(f, "%-19s %-6s %7d", r->client, perf_shape_name(r->shape), r->threads);
	if (r->shards)
		fprintf(f, " %6d", r->shards);
	else
		fprintf(f, " %6s", "-");
	fprintf(f, " %8d", r->inflight);
	cell(f, 12, r->ops_per_sec, 0, false);
	cell(f, 9, r->p50_us, 1, r->latency_own);
	cell(f, 9, r->p99_us, 1, r->latency_own);
	cell(f, 9, r->p999_us, 1, r->latency_own);
	cell(f, 10, r->cpu_us_per_op, 2, false);
	cell(f, 9, r->allocs_per_op, 3, false);
	fprintf(f, " %6llu\n", (unsigned long long)r->errors);
	if (r->errors)
		fprintf(f, "  ^ error: %s\n", r->note);
	fflush(f);
}

void perf_print_legend(FILE *f, const struct perf_result *rows, int n)
{
	bool own = false;

	for (int i = 0; i < n; i++)
		own |= rows[i].latency_own;
	fprintf(f, "\nshape: sync = one request at a time; window = K in flight per thread, each "
		   "reply read\n"
		   "  is replaced at once; batch = K issued, then all K replies read, then the "
		   "next K.\n"
		   "p50/p99/p99.9 us: per request, from the harness's clock read before it issues "
		   "the request\n"
		   "  to its read after it has seen and checked the reply (every in-process "
		   "client alike).\n"
		   "cpu us/op: CPU time (user + system, every thread) of the client's process per "
		   "request\n"
		   "  over the measured window, never the server's.\n");
	if (own)
		fprintf(f,
			"* redis-benchmark's own latency: from its first write of a batch to the "
			"first read\n"
			"  of the batch's replies, recorded once per request of the batch; the "
			"higher of its GET\n"
			"  and SET figures. Not the harness's measure: not comparable, no "
			"ratio.\n");
	fflush(f);
}

static bool peer_of(const struct perf_result *a, const struct perf_result *b)
{
	return !b->shards && b->shape == a->shape && b->threads == a->threads &&
	       b->inflight == a->inflight && b->ops_per_sec > 0;
}

void perf_print_ratios(FILE *f, const struct perf_result *rows, int n)
{
	fprintf(f, "ratios (respio / peer), only between runs of the same shape, threads and "
		   "inflight:\n");
	for (int i = 0; i < n; i++) {
		const struct perf_result *a = &rows[i];
		bool any = false;

		if (!a->shards)
			continue; /* a peer */
		for (int j = 0; j < n; j++) {
			const struct perf_result *b = &rows[j];

			if (!peer_of(a, b))
				continue;
			any = true;
			fprintf(f,
				"%s (%s, threads %d, shards %d, inflight %d) vs %s: %.2fx "
				"throughput",
				a->client, perf_shape_name(a->shape), a->threads, a->shards,
				a->inflight, b->client, a->ops_per_sec / b->ops_per_sec);
			if (b->latency_own) {
				fprintf(f, ", latency not comparable");
			} else {
				if (b->p50_us > 0 && !isnan(a->p50_us))
					fprintf(f, ", p50 %.2fx", a->p50_us / b->p50_us);
				if (b->p99_us > 0 && !isnan(a->p99_us))
					fprintf(f, ", p99 %.2fx", a->p99_us / b->p99_us);
			}
			if (b->cpu_us_per_op > 0 && !isnan(a->cpu_us_per_op))
				fprintf(f, ", cpu/op %.2fx", a->cpu_us_per_op / b->cpu_us_per_op);
			fprintf(f, "\n");
		}
		if (!any)
			fprintf(f,
				"%s (%s, threads %d, shards %d, inflight %d): no peer ran this "
				"shape\n",
				a->client, perf_shape_name(a->shape), a->threads, a->shards,
				a->inflight);
	}
	fflush(f);
}

/* "respio (sync, threads 8, shards 2, inflight 1)" */
static void describe(FILE *f, const struct perf_result *r)
{
	fprintf(f, "%s (%s, threads %d", r->client, perf_shape_name(r->shape), r->threads);
	if (r->shards)
		fprintf(f, ", shards %d", r->shards);
	fprintf(f, ", inflight %d)", r->inflight);
}

static double pct_less(double a, double b)
{
	return 100.0 * (1.0 - a / b);
}

/* " (p50 120.3 us, p99 880.1 us)" of one kind, when it ran */
static void mix_latency(FILE *f, double p50, double p99)
{
	if (!isnan(p50))
		fprintf(f, " (p50 %.1f us, p99 %.1f us)", p50, p99);
}

void perf_print_mixes(FILE *f, const struct perf_result *rows, int n)
{
	bool head = false;

	for (int i = 0; i < n; i++) {
		const struct perf_result *r = &rows[i];
		uint64_t sessions = r->by_op[PERF_OP_SESSION], txns = r->by_op[PERF_OP_TXN];

		if (!sessions && !txns && !r->by_op[PERF_OP_PUSH] && !r->leases)
			continue;
		if (!head) {
			fprintf(f,
				"\nmixes (operations in the measured windows; the pool's counters "
				"over whole runs; sums over rounds):\n");
			head = true;
		}
		describe(f, r);
		fprintf(f, ": %llu operations", (unsigned long long)r->ops);
		if (!r->shards) {
			/* hiredis: both kinds are MULTI..EXEC on its connection,
			 * counted and timed as transactions */
			fprintf(f, ", %llu MULTI..EXEC", (unsigned long long)(sessions + txns));
			mix_latency(f, r->txn_p50_us, r->txn_p99_us);
			fprintf(f, "\n");
			continue;
		}
		fprintf(f, ", %llu session transactions", (unsigned long long)sessions);
		mix_latency(f, r->session_p50_us, r->session_p99_us);
		fprintf(f, ", %llu transaction units", (unsigned long long)txns);
		mix_latency(f, r->txn_p50_us, r->txn_p99_us);
		fprintf(f, ", %llu pushes", (unsigned long long)r->by_op[PERF_OP_PUSH]);
		fprintf(f, "; pool: %llu leases, %llu waits, %llu exhausted\n",
			(unsigned long long)r->leases, (unsigned long long)r->pool_waits,
			(unsigned long long)r->pool_exhausted);
	}
	fflush(f);
}

/* The row of a that ran without consumers: same client shape, shards,
 * threads and inflight. */
static const struct perf_result *without_consumers(const struct perf_result *a,
						   const struct perf_result *rows, int n)
{
	for (int i = 0; i < n; i++) {
		const struct perf_result *b = &rows[i];

		if (b->shards == a->shards && !b->consumers && b->shape == a->shape &&
		    b->threads == a->threads && b->inflight == a->inflight && b->ops_per_sec > 0)
			return b;
	}
	return NULL;
}

void perf_print_consumers(FILE *f, const struct perf_result *rows, int n)
{
	fprintf(f,
		"\nBLPOP consumers (BLPOP %s 1 through respio_submit, each on an automatic "
		"lease; the\n  rows with and without them push every %dth operation; ratios "
		"+blpop / without):\n",
		PERF_QUEUE, PERF_PUSH_EVERY);
	for (int i = 0; i < n; i++) {
		const struct perf_result *a = &rows[i], *b;

		if (!a->consumers)
			continue;
		describe(f, a);
		fprintf(f, ": %d consumers popped %llu of %llu items pushed", a->consumers,
			(unsigned long long)a->received, (unsigned long long)a->pushed);
		if ((b = without_consumers(a, rows, n)) && a->ops_per_sec > 0) {
			fprintf(f, "; vs %s: throughput %.2fx", b->client,
				a->ops_per_sec / b->ops_per_sec);
			if (b->p50_us > 0 && !isnan(a->p50_us))
				fprintf(f, ", p50 %.2fx (%.1f vs %.1f us)", a->p50_us / b->p50_us,
					a->p50_us, b->p50_us);
			if (b->p99_us > 0 && !isnan(a->p99_us))
				fprintf(f, ", p99 %.2fx (%.1f vs %.1f us)", a->p99_us / b->p99_us,
					a->p99_us, b->p99_us);
			if (b->cpu_us_per_op > 0 && !isnan(a->cpu_us_per_op))
				fprintf(f, ", cpu/op %.2fx", a->cpu_us_per_op / b->cpu_us_per_op);
		}
		fprintf(f, "; pool: %llu leases, %llu waits, %llu exhausted\n",
			(unsigned long long)a->leases, (unsigned long long)a->pool_waits,
			(unsigned long long)a->pool_exhausted);
	}
	fflush(f);
}

void perf_print_connect(FILE *f, const struct perf_result *rows, int n)
{
	fprintf(f, "\nconnection overhead (pooled / connect-per-request, same threads; \"less\" is "
		   "what the\n  pool saves per request: 1 - ratio of the wall time per request "
		   "per thread, 1 - ratio of\n  the client's CPU per request):\n");
	for (int i = 0; i < n; i++) {
		const struct perf_result *c = &rows[i];

		if (strcmp(c->client, "connect-per-request") != 0 || !(c->ops_per_sec > 0))
			continue;
		for (int j = 0; j < n; j++) {
			const struct perf_result *a = &rows[j];

			if (!a->shards || a->consumers || a->shape != PERF_SHAPE_SYNC ||
			    a->threads != c->threads || !(a->ops_per_sec > 0))
				continue;
			describe(f, a);
			fprintf(f,
				" %.0f ops/s vs %s %.0f ops/s: %.2fx throughput, %.1f%% less time",
				a->ops_per_sec, c->client, c->ops_per_sec,
				a->ops_per_sec / c->ops_per_sec,
				pct_less(c->ops_per_sec, a->ops_per_sec));
			if (!isnan(a->p50_us) && c->p50_us > 0)
				fprintf(f, " (p50 %.1f vs %.1f us)", a->p50_us, c->p50_us);
			if (!isnan(a->cpu_us_per_op) && c->cpu_us_per_op > 0)
				fprintf(f, "; cpu/op %.2f vs %.2f us: %.2fx, %.1f%% less CPU",
					a->cpu_us_per_op, c->cpu_us_per_op,
					a->cpu_us_per_op / c->cpu_us_per_op,
					pct_less(a->cpu_us_per_op, c->cpu_us_per_op));
			fprintf(f, "\n");
		}
	}
	fflush(f);
}

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
	for (int i = 0; i < n; i++) {
		out->ops += runs[i].ops;
		out->errors += runs[i].errors;
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
		fprintf(f, "%-16s %7s %6s %8s %12s %9s %9s %9s %10s %9s %6s\n", "client", "threads",
			"shards", "inflight", "ops/s", "p50 us", "p99 us", "p99.9 us", "cpu us/op",
			"allocs/op", "errors");
}

/* A number for the CSV: empty when unknown. */
static void csv_num(FILE *f, double v, int prec)
{
	if (!isnan(v))
		fprintf(f, "%.*f", prec, v);
}

static void cell(FILE *f, int width, double v, int prec)
{
	if (isnan(v))
		fprintf(f, " %*s", width, "-");
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
		fprintf(f, ",%llu\n", (unsigned long long)r->errors);
		fflush(f);
		return;
	}
	fprintf(f, "%-16s %7d", r->client, r->threads);
	if (r->shards)
		fprintf(f, " %6d", r->shards);
	else
		fprintf(f, " %6s", "-");
	fprintf(f, " %8d", r->inflight);
	cell(f, 12, r->ops_per_sec, 0);
	cell(f, 9, r->p50_us, 1);
	cell(f, 9, r->p99_us, 1);
	cell(f, 9, r->p999_us, 1);
	cell(f, 10, r->cpu_us_per_op, 2);
	cell(f, 9, r->allocs_per_op, 3);
	fprintf(f, " %6llu\n", (unsigned long long)r->errors);
	if (r->errors)
		fprintf(f, "  ^ error: %s\n", r->note);
	fflush(f);
}

void perf_print_ratios(FILE *f, const struct perf_result *rows, int n)
{
	for (int i = 0; i < n; i++) {
		const struct perf_result *a = &rows[i];

		if (strcmp(a->client, "respio") != 0)
			continue;
		for (int j = 0; j < n; j++) {
			const struct perf_result *b = &rows[j];

			if (strcmp(b->client, "respio") == 0 || b->threads != a->threads ||
			    b->inflight != a->inflight || !(b->ops_per_sec > 0))
				continue;
			fprintf(
			    f,
			    "respio (threads %d, shards %d, inflight %d) vs %s: %.2fx throughput",
			    a->threads, a->shards, a->inflight, b->client,
			    a->ops_per_sec / b->ops_per_sec);
			if (b->p50_us > 0 && !isnan(a->p50_us))
				fprintf(f, ", p50 %.2fx", a->p50_us / b->p50_us);
			if (b->p99_us > 0 && !isnan(a->p99_us))
				fprintf(f, ", p99 %.2fx", a->p99_us / b->p99_us);
			fprintf(f, "\n");
		}
	}
	fflush(f);
}

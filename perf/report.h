/* SPDX-License-Identifier: MIT */
/* Output of the harness: medians over rounds, the human table, the CSV, the
 * ratios of respio to its peers, the gnuplot chart and the tuning advice. */
#ifndef PERF_REPORT_H
#define PERF_REPORT_H

#include <stdio.h>

#include "perf.h"

/* Median of each metric over n runs of one cell (NaNs ignored); errors and
 * ops are summed; the note is the first error's, or the first note. */
void perf_median(const struct perf_result *runs, int n, struct perf_result *out);

/* The first ten columns are the original ones, in their order; later ones
 * are appended. latency_by: "harness" (the harness's clock, the same for every
 * in-process client) or the client that measured its own (redis-benchmark). */
#define PERF_CSV_HEADER                                                                            \
	"client,threads,shards,inflight,ops_per_sec,p50_us,p99_us,p999_us,client_cpu_us_per_op,"   \
	"errors,allocs_per_op,shape,latency_by"

void perf_print_header(FILE *f, bool csv);
void perf_print_row(FILE *f, const struct perf_result *r, bool csv);

/* What the shape, latency and CPU columns mean, below the table; says which
 * latency figures are a client's own. */
void perf_print_legend(FILE *f, const struct perf_result *rows, int n);

/* "respio-batch (batch, ...) vs hiredis: 5.31x throughput, p50 0.92x" for each
 * respio row and each peer row of the same shape, threads and inflight (no
 * latency ratio against a peer that measured its own). */
void perf_print_ratios(FILE *f, const struct perf_result *rows, int n);

/* Below the table, for the mixes: the operations of each kind and the
 * pool's counters (rows that ran sessions, transactions or pushes); the
 * +blpop rows' consumers, items popped of pushed, and their ratios to the
 * rows without consumers; and each respio sync row against the
 * connect-per-request row of its thread count (ops/s, CPU per request). */
void perf_print_mixes(FILE *f, const struct perf_result *rows, int n);
void perf_print_consumers(FILE *f, const struct perf_result *rows, int n);
void perf_print_connect(FILE *f, const struct perf_result *rows, int n);

/* plot.c: write a PNG through gnuplot. A sweep (several shard counts) plots
 * throughput and p99 against shards, else bars per client and config.
 * 0, or -1 after saying why on stderr. */
int perf_plot(const char *png, const struct perf_result *rows, int n, const char *title);

/* Run gnuplot on the script file (removed afterwards), which writes png:
 * 0, or -1 after saying why on stderr. */
int perf_gnuplot(const char *script, const char *png);

/* tune.c: for each threads/inflight, the shard count with the best
 * throughput whose p99 is within budget_us (0: no budget), and why. */
void perf_tune_recommend(FILE *f, const struct perf_result *rows, int n, double budget_us);

#endif

/* SPDX-License-Identifier: MIT */
/* --failover-at: a Sentinel failover in the middle of a measured respio run.
 * The threads INCR counters of their own; every completion is recorded per
 * 100 ms of the run; a thread asks a Sentinel for SENTINEL FAILOVER at the
 * chosen second; afterwards the counters are read back from the new master
 * to count the acknowledged increments it does not have. */
#ifndef PERF_FAILOVER_H
#define PERF_FAILOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <respio.h>

struct perf_failover_opts {
	const respio_sentinel_config *sentinel;
	const char *password; /* the data nodes' (-a), or NULL */
	const char *old_host; /* the master the Sentinels named at start */
	int old_port;
	double at_s;	   /* the trigger's second of the measured run */
	double duration_s; /* of the measured run */
	int threads;
};

struct perf_failover;

/* NULL with err set on a bad option (no Sentinel host that parses). */
struct perf_failover *perf_failover_create(const struct perf_failover_opts *o, char *err,
					   size_t errlen);
void perf_failover_free(struct perf_failover *fo);

/* The counter thread id increments (this run's own name). */
size_t perf_failover_key(const struct perf_failover *fo, int id, char *buf, size_t cap);

/* Thread id's INCR completed at now (perf_now_ns) after lat_ns: acknowledged
 * with value, or failed with code and fate (0: no completion seen). Only
 * thread id calls these for its id. */
void perf_failover_acked(struct perf_failover *fo, int id, uint64_t now, uint64_t lat_ns,
			 long long value);
void perf_failover_failed(struct perf_failover *fo, int id, uint64_t now, uint64_t lat_ns, int code,
			  int fate);
/* A reply that is not an INCR's (a harness or engine bug, not the failover). */
void perf_failover_bad_reply(struct perf_failover *fo, int id);

/* For the client's log hook (respio_config.log): events with the run's
 * time, on stderr. */
void perf_failover_log(void *arg, int level, int code, const char *msg);

/* Start the thread that waits for the measured phase and triggers the
 * failover at_s into it; perf_failover_disarm stops it (joins it, bounded),
 * whether it fired or not. 0, or -1 with err. */
int perf_failover_arm(struct perf_failover *fo, char *err, size_t errlen);
void perf_failover_disarm(struct perf_failover *fo);

/* After the load's threads stopped, with its client still open: the
 * client's Sentinel counters. */
void perf_failover_client_done(struct perf_failover *fo, respio_client *c);

/* After the run: wait (at most 30 s) until the old master reports
 * role:slave, then read every counter from the master the Sentinels name
 * and delete them. Progress on log. 0, or -1 (the reason is reported). */
int perf_failover_verify(struct perf_failover *fo, FILE *log);

/* The buckets from 1 s before the trigger to the end, and the summary. */
void perf_failover_report(const struct perf_failover *fo, FILE *f);

/* True when the failover ran as it should for a harness: the trigger was
 * accepted, the client switched, every reply was an INCR's, the counters
 * were read. Errors and lost writes are findings, not failures. */
bool perf_failover_ok(const struct perf_failover *fo);

/* Throughput, errors and latency per 100 ms across the run with the trigger
 * and the switch marked, through gnuplot (as plot.c). 0, or -1 after saying
 * why on stderr. */
int perf_failover_plot(const struct perf_failover *fo, const char *png, const char *title);

#endif

/* SPDX-License-Identifier: MIT */
/* The run driver: starts a load's threads, runs the warm-up and measured
 * phases, and turns their histograms, counters and CPU time into a result. */
#include "perf.h"
#include "allocs.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

_Atomic int perf_phase;
_Atomic uint64_t perf_measure_t0;
volatile int perf_interrupted;

static void (*fatal_cleanup)(void);

void perf_on_fatal(void (*cleanup)(void))
{
	fatal_cleanup = cleanup;
}

void perf_fatal(const char *msg)
{
	fprintf(stderr, "respio-perf: %s\n", msg);
	if (fatal_cleanup)
		fatal_cleanup();
	_exit(3);
}

void perf_thread_error(struct perf_thread *t, const char *fmt, ...)
{
	va_list ap;

	if (t->errors++)
		return;
	va_start(ap, fmt);
	vsnprintf(t->error, sizeof(t->error), fmt, ap);
	va_end(ap);
}

struct thread_arg {
	const struct perf_load *load;
	struct perf_thread *t;
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;

	a->load->thread(a->t);
	return NULL;
}

static double cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* Sleep up to secs, waking early on Ctrl-C; true when it slept it all. */
static bool nap(double secs)
{
	uint64_t end = perf_now_ns() + (uint64_t)(secs * 1e9);

	while (!perf_interrupted) {
		uint64_t now = perf_now_ns();

		if (now >= end)
			return true;
		usleep(end - now > 20000000 ? 20000 : (useconds_t)((end - now) / 1000));
	}
	return false;
}

static void join_all(pthread_t *tids, int n, double secs)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)secs;
	for (int i = 0; i < n; i++)
		if (pthread_timedjoin_np(tids[i], NULL, &ts) != 0)
			perf_fatal("a load thread did not stop within its deadline");
}

int perf_run(const struct perf_load *load, const struct perf_workload *w, struct perf_result *r)
{
	struct perf_thread *ts;
	struct thread_arg *args;
	pthread_t *tids;
	struct hist *all, *mix;
	char err[160] = "";
	void *ctx = NULL;
	uint64_t t0 = 0, t1, per, extra;
	double c0 = 0, c1;
	long allocs = 0;
	int n = w->threads, started = 0, rc = 0;
	/* Every request has its own deadline; a thread gets that much after
	 * the stop signal to drain what it has in flight. */
	double grace = (w->timeout_ms > 0 ? w->timeout_ms / 1000.0 : 10.0) + 10.0;

	memset(r, 0, sizeof(*r));
	r->shape = perf_shape_of(w);
	snprintf(r->client, sizeof(r->client), "%s", load->names[r->shape]);
	r->threads = w->threads;
	r->inflight = w->inflight;
	r->p50_us = r->p99_us = r->p999_us = r->cpu_us_per_op = r->allocs_per_op = NAN;
	r->session_p50_us = r->session_p99_us = r->txn_p50_us = r->txn_p99_us = NAN;
	if (load->start(w, &ctx, err, sizeof(err)) < 0) {
		snprintf(r->note, sizeof(r->note), "%s", err);
		return -1;
	}
	ts = calloc((size_t)n, sizeof(*ts));
	args = calloc((size_t)n, sizeof(*args));
	tids = calloc((size_t)n, sizeof(*tids));
	all = malloc(sizeof(*all));
	mix = malloc(2 * sizeof(*mix));
	if (!ts || !args || !tids || !all || !mix) {
		snprintf(r->note, sizeof(r->note), "out of memory");
		rc = -1;
		goto out;
	}
	atomic_store(&perf_phase, PERF_WARMUP);
	per = w->requests / (uint64_t)n;
	extra = w->requests % (uint64_t)n;
	for (int i = 0; i < n; i++) {
		ts[i].id = i;
		ts[i].w = w;
		ts[i].ctx = ctx;
		ts[i].rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1) ^ perf_now_ns();
		ts[i].quota = w->requests ? per + ((uint64_t)i < extra) : 0;
		if (w->requests && !ts[i].quota)
			ts[i].done = true;
		hist_reset(&ts[i].hist);
		hist_reset(&ts[i].mix_hist[0]);
		hist_reset(&ts[i].mix_hist[1]);
		args[i] = (struct thread_arg){load, &ts[i]};
		if (pthread_create(&tids[i], NULL, thread_main, &args[i]) != 0) {
			snprintf(r->note, sizeof(r->note), "pthread_create: %s", strerror(errno));
			atomic_store(&perf_phase, PERF_STOP);
			rc = -1;
			break;
		}
		started++;
	}
	if (rc == 0) {
		if (w->warmup_s > 0)
			nap(w->warmup_s);
		t0 = perf_now_ns();
		atomic_store(&perf_measure_t0, t0);
		c0 = cpu_us();
		perf_alloc_count_start();
		atomic_store_explicit(&perf_phase, PERF_MEASURE, memory_order_release);
		if (w->requests) {
			/* Threads leave on their own once their quota is met. */
			join_all(tids, started, 600.0 + grace);
			started = 0;
		} else {
			nap(w->duration_s);
		}
		atomic_store_explicit(&perf_phase, PERF_STOP, memory_order_release);
		t1 = perf_now_ns();
		c1 = cpu_us();
		allocs = perf_alloc_count_stop();
	}
	join_all(tids, started, grace);
	if (rc < 0)
		goto out;

	hist_reset(all);
	hist_reset(&mix[0]);
	hist_reset(&mix[1]);
	for (int i = 0; i < n; i++) {
		hist_merge(all, &ts[i].hist);
		hist_merge(&mix[0], &ts[i].mix_hist[0]);
		hist_merge(&mix[1], &ts[i].mix_hist[1]);
		r->ops += ts[i].ops;
		for (int op = 0; op < PERF_OPS; op++)
			r->by_op[op] += ts[i].by_op[op];
		r->errors += ts[i].errors;
		if (ts[i].errors && !r->note[0])
			snprintf(r->note, sizeof(r->note), "%s", ts[i].error);
	}
	if (perf_interrupted && !r->note[0])
		snprintf(r->note, sizeof(r->note), "interrupted");
	if (r->ops && t1 > t0) {
		r->ops_per_sec = (double)r->ops / ((double)(t1 - t0) / 1e9);
		r->p50_us = (double)hist_quantile(all, 0.50) / 1e3;
		r->p99_us = (double)hist_quantile(all, 0.99) / 1e3;
		r->p999_us = (double)hist_quantile(all, 0.999) / 1e3;
		r->cpu_us_per_op = (c1 - c0) / (double)r->ops;
		if (perf_alloc_count_available())
			r->allocs_per_op = (double)allocs / (double)r->ops;
	}
	if (mix[0].count) {
		r->session_p50_us = (double)hist_quantile(&mix[0], 0.50) / 1e3;
		r->session_p99_us = (double)hist_quantile(&mix[0], 0.99) / 1e3;
	}
	if (mix[1].count) {
		r->txn_p50_us = (double)hist_quantile(&mix[1], 0.50) / 1e3;
		r->txn_p99_us = (double)hist_quantile(&mix[1], 0.99) / 1e3;
	}
	if (load->finish)
		load->finish(ctx, r);
out:
	load->stop(ctx);
	free(mix);
	free(all);
	free(tids);
	free(args);
	free(ts);
	return rc;
}

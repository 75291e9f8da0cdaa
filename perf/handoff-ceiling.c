/* SPDX-License-Identifier: MIT */
/*
 * handoff-ceiling: how many blocking calls a second this machine can complete
 * when another thread completes them, with no I/O at all: the bound for a
 * shard-thread design, in which a worker thread wakes blocked callers.
 *
 * T caller threads each post a request and sleep on a futex until one worker
 * thread (the shape of a shard) sees it, marks it done and wakes the caller;
 * the worker sleeps when it finds nothing. That sleep and wake-up is what a
 * synchronous call through such an engine costs before the server, the
 * network stack or the client library spend anything. It is not a bound on
 * the machine: a design without the hand-off (a caller blocked in read() on
 * its own socket, as hiredis) pays other costs, which this does not measure.
 * Besides the rate it reports what the hand-off costs: the process's CPU
 * time (user + system, every thread) and its context switches (voluntary and
 * involuntary, every thread) per call, over the measured window.
 *
 * The worker wakes each pass's callers as a shard does: through its io_uring
 * in one submit where the kernel has IORING_OP_FUTEX_WAKE (the engine's own
 * uring.c), else, or with --syscall, one futex call each.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

#include "atomic.h"
#include "future.h"
#include "pin.h"
#include "uring.h"

#define MAX_THREADS 1024

/* One caller's state, alone on its cache line as a shard's future would be. */
struct caller {
	_Atomic uint32_t done_seq; /* the caller sleeps on this */
	_Atomic uint32_t posted;   /* 1 while a request waits for the worker */
	char pad[56];
};

static struct caller *callers;
static int ncallers;
static _Atomic uint32_t worker_seq; /* bumped by every post; the worker sleeps on it */
static _Atomic int worker_asleep;
static _Atomic int stopping;
static _Atomic uint64_t completed;
static struct io_uring ring;
static bool syscall_wakes; /* --syscall */
static bool use_ring;	   /* the worker's choice: !syscall_wakes where the kernel can */

/* Every wait is bounded, so a lost wake-up could only slow a run down. The
 * engine's futex helpers (atomic.h): the calls its waiters and shards make. */
#define WAIT_BOUND_NS 100000000

static int64_t wait_deadline(void)
{
	return respio__now_ns() + WAIT_BOUND_NS;
}

static void *caller_main(void *arg)
{
	struct caller *me = arg;

	while (!atomic_load(&stopping)) {
		uint32_t seq = atomic_load(&me->done_seq);

		atomic_store(&me->posted, 1);
		atomic_fetch_add(&worker_seq, 1);
		if (atomic_load(&worker_asleep))
			respio__futex_wake(&worker_seq, 1);
		while (atomic_load(&me->done_seq) == seq && !atomic_load(&stopping))
			respio__futex_wait(&me->done_seq, seq, wait_deadline());
	}
	return NULL;
}

static void *worker_main(void *arg)
{
	_Atomic uint32_t **woken = calloc((size_t)ncallers, sizeof(*woken));

	(void)arg;
	if (!woken) {
		fprintf(stderr, "handoff-ceiling: out of memory\n");
		exit(2);
	}
	if (use_ring && io_uring_queue_init(256, &ring, 0) < 0) {
		use_ring = false;
	} else if (use_ring && !respio__uring_has_futex_wake(&ring)) {
		io_uring_queue_exit(&ring);
		use_ring = false;
	}
	if (!use_ring && !syscall_wakes)
		fprintf(stderr, "handoff-ceiling: no futex wakes through io_uring here "
				"(Linux 6.7+); waking by syscall\n");
	while (!atomic_load(&stopping)) {
		uint32_t seq = atomic_load(&worker_seq), i = 0;
		uint32_t n = 0;

		for (int k = 0; k < ncallers; k++) {
			struct caller *c = &callers[k];

			if (!atomic_load(&c->posted))
				continue;
			atomic_store(&c->posted, 0);
			atomic_fetch_add(&c->done_seq, 1);
			woken[n++] = &c->done_seq;
		}
		if (use_ring && n)
			i = respio__uring_futex_wake(&ring, woken, n);
		for (; i < n; i++)
			respio__futex_wake(woken[i], 1);
		atomic_fetch_add(&completed, n);
		if (!n) {
			/* A post after the read of seq changes it: no lost wake-up. */
			atomic_store(&worker_asleep, 1);
			respio__futex_wait(&worker_seq, seq, wait_deadline());
			atomic_store(&worker_asleep, 0);
		}
	}
	free(woken);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = {.tv_sec = (time_t)s,
			      .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The process's CPU time (us) and context switches, every thread. */
static void usage_now(double *cpu_us, double *vcsw, double *ivcsw)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*cpu_us = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
		  (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
	*vcsw = (double)ru.ru_nvcsw;
	*ivcsw = (double)ru.ru_nivcsw;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: handoff-ceiling [--threads T] [--duration SECONDS] [--cpus LIST]\n"
		   "                       [--syscall]\n"
		   "T callers (32) block on a futex per call; one worker thread completes\n"
		   "each call and wakes its caller, each pass's callers in one io_uring\n"
		   "submit (--syscall: one futex call each): the bound for a shard-thread\n"
		   "design. Prints completed calls per second over --duration (3 s) after\n"
		   "0.5 s of warm-up, and per call the process's CPU time and context\n"
		   "switches; --cpus pins every thread to a CPU list (0,2-3).\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"threads", required_argument, NULL, 't'}, {"duration", required_argument, NULL, 'd'},
	    {"cpus", required_argument, NULL, 'c'},    {"syscall", no_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'H'},	       {0},
	};
	double duration = 3, t0, t1, cpu0, cpu1, v0, v1, iv0, iv1, calls;
	uint64_t n0, n1;
	pthread_t worker, *threads;
	cpu_set_t cpus;
	char cpu_list[64] = "any";
	int opt;

	ncallers = 32;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 't': ncallers = atoi(optarg); break;
		case 'd': duration = atof(optarg); break;
		case 'c':
			if (perf_pin_parse(optarg, &cpus) < 0 || perf_pin_self(&cpus) < 0) {
				fprintf(stderr, "handoff-ceiling: bad CPU list '%s'\n", optarg);
				return 2;
			}
			perf_pin_format(&cpus, cpu_list, sizeof(cpu_list));
			break;
		case 's': syscall_wakes = true; break;
		case 'H': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (ncallers < 1 || ncallers > MAX_THREADS || !(duration > 0) || duration > 3600) {
		usage(stderr);
		return 2;
	}
	callers = aligned_alloc(64, sizeof(*callers) * (size_t)ncallers);
	threads = calloc((size_t)ncallers, sizeof(*threads));
	if (!callers || !threads) {
		fprintf(stderr, "handoff-ceiling: out of memory\n");
		return 2;
	}
	memset(callers, 0, sizeof(*callers) * (size_t)ncallers);
	use_ring = !syscall_wakes;
	if (pthread_create(&worker, NULL, worker_main, NULL) != 0) {
		fprintf(stderr, "handoff-ceiling: cannot start the worker\n");
		return 2;
	}
	for (int i = 0; i < ncallers; i++) {
		if (pthread_create(&threads[i], NULL, caller_main, &callers[i]) != 0) {
			fprintf(stderr, "handoff-ceiling: cannot start caller %d\n", i);
			ncallers = i;
			break;
		}
	}
	sleep_s(0.5);
	n0 = atomic_load(&completed);
	t0 = now_s();
	usage_now(&cpu0, &v0, &iv0);
	sleep_s(duration);
	n1 = atomic_load(&completed);
	t1 = now_s();
	usage_now(&cpu1, &v1, &iv1);

	atomic_store(&stopping, 1);
	for (int i = 0; i < ncallers; i++) {
		atomic_fetch_add(&callers[i].done_seq, 1);
		respio__futex_wake(&callers[i].done_seq, 1);
	}
	atomic_fetch_add(&worker_seq, 1);
	respio__futex_wake(&worker_seq, 1);
	for (int i = 0; i < ncallers; i++)
		pthread_join(threads[i], NULL);
	pthread_join(worker, NULL);

	calls = n1 > n0 ? (double)(n1 - n0) : 1;
	printf(
	    "handoff-ceiling: %d callers, 1 worker, wakes by %s, CPUs %s: %.0f blocking calls/s, "
	    "per call %.2f us CPU and %.2f context switches (%.2f voluntary)\n",
	    ncallers, use_ring ? "io_uring" : "syscall", cpu_list, (double)(n1 - n0) / (t1 - t0),
	    (cpu1 - cpu0) / calls, (v1 - v0 + iv1 - iv0) / calls, (v1 - v0) / calls);
	if (use_ring)
		io_uring_queue_exit(&ring);
	free(threads);
	free(callers);
	return n1 > n0 ? 0 : 1;
}

/* SPDX-License-Identifier: MIT */
/*
 * deadline-trickle: what a shard spends on timeouts while many requests sit
 * in flight.
 *
 * The embedded redis-server is stopped (SIGSTOP) once the client is
 * connected; one thread then submits N requests with a deadline far away
 * (the client's default: 10 minutes), which sit in flight on one shard's
 * connection for the whole run, and then one request every 1/R seconds with
 * a short per-request timeout, each of which times out behind them. The
 * shard's CPU time over the trickle is read from the kernel
 * (/proc/self/task/TID/schedstat, in ns; the shard threads are named
 * respio-shardN) and reported per expiry and per loop turn (the shard
 * sleeps between turns here, so its sleep count is its turn count).
 *
 * A shard that walks all of its requests per expiry spends time in
 * proportion to N per turn; one that finds the expired request directly
 * does not. --inflight takes a list, to show how the cost grows with N.
 * Only the public API is used, so the same file measures older builds.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <respio.h>

#include "clock.h"
#include "server.h"

volatile int perf_interrupted; /* server.c watches it while it waits */

#define LONG_TIMEOUT_MS 600000
#define MAX_LIST	16

struct opts {
	int inflight[MAX_LIST];
	int ninflight;
	double rate;	 /* short requests per second */
	int timeout_ms;	 /* theirs */
	double duration; /* seconds of trickle measured */
	int shards;
	const char *server_cmd;
};

/* Completions of the short requests, from their callback (on the shard). */
static _Atomic uint64_t short_done, short_timed_out, short_sent;
static _Atomic int64_t late_sum_ns, late_max_ns;

struct short_req {
	int64_t deadline_ns; /* the earliest the engine's deadline can be */
};

static int64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void on_short_done(respio_future *f, void *arg)
{
	struct short_req *r = arg;
	int64_t late = clock_ns(CLOCK_MONOTONIC) - r->deadline_ns, max;

	if (respio_future_status(f) == -ETIMEDOUT)
		atomic_fetch_add(&short_timed_out, 1);
	if (respio_future_fate(f) == RESPIO_FATE_SENT)
		atomic_fetch_add(&short_sent, 1);
	atomic_fetch_add(&late_sum_ns, late);
	max = atomic_load(&late_max_ns);
	while (late > max && !atomic_compare_exchange_weak(&late_max_ns, &max, late))
		;
	atomic_fetch_add(&short_done, 1);
	free(r);
}

/* CPU time of the named thread of this process, in ns; -1 if not found. */
static int64_t thread_cpu_ns(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int64_t ns = -1;

	if (!d)
		return -1;
	while (ns < 0 && (e = readdir(d))) {
		char path[300], comm[64] = "";
		FILE *fp;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		fp = fopen(path, "r");
		if (!fp)
			continue;
		if (!fgets(comm, sizeof(comm), fp))
			comm[0] = '\0';
		fclose(fp);
		comm[strcspn(comm, "\n")] = '\0';
		if (strcmp(comm, name) != 0)
			continue;
		/* schedstat: ns on the CPU, ns waiting, timeslices. */
		snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat", e->d_name);
		fp = fopen(path, "r");
		if (fp) {
			long long run;

			if (fscanf(fp, "%lld", &run) == 1)
				ns = run;
			fclose(fp);
		}
	}
	closedir(d);
	return ns;
}

static int64_t shards_cpu_ns(int shards)
{
	int64_t sum = 0;

	for (int i = 0; i < shards; i++) {
		char name[32];
		int64_t ns;

		snprintf(name, sizeof(name), "respio-shard%d", i);
		ns = thread_cpu_ns(name);
		if (ns < 0)
			return -1;
		sum += ns;
	}
	return sum;
}

static void sleep_until(int64_t t)
{
	struct timespec ts = {t / 1000000000, t % 1000000000};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static bool wait_inflight(respio_client *c, uint32_t want, int64_t limit_ns)
{
	int64_t end = clock_ns(CLOCK_MONOTONIC) + limit_ns;
	respio_stats st;

	do {
		respio_client_stats(c, &st, NULL, 0);
		if (st.inflight >= want)
			return true;
		usleep(10000);
	} while (clock_ns(CLOCK_MONOTONIC) < end);
	return false;
}

static int run_one(const struct opts *o, int port, pid_t server, int held)
{
	respio_config cfg;
	respio_client *c;
	respio_stats a, b;
	respio_future *f;
	respio_reply *pong = NULL;
	int64_t t0, t1, cpu0, cpu1, next, period;
	uint64_t expected, n = 0;
	int rc;

	respio_config_init(&cfg);
	cfg.port = port;
	cfg.shards = o->shards;
	cfg.pool.min_connections = o->shards; /* one connection per shard */
	cfg.timeout_ms = LONG_TIMEOUT_MS;
	/* The held ones, and the short ones that timed out after the kernel
	 * took them (their futures wait for replies that never come). */
	cfg.max_inflight = (uint32_t)held + (uint32_t)(o->rate * (o->duration + 2)) + 1024;
	rc = respio_client_create(&cfg, &c);
	if (rc < 0) {
		fprintf(stderr, "respio_client_create: %s\n", respio_strerror(rc));
		return -1;
	}
	/* Connected before the server stops: the requests then go out on
	 * this thread's connection rather than wait for a dial. */
	rc = respio_command(respio_client_target(c), 1, (const char *const[]){"PING"}, NULL, &pong);
	respio_reply_free(pong);
	kill(server, SIGSTOP);
	for (int i = 0; i < held && rc == 0; i++) {
		char key[32];

		snprintf(key, sizeof(key), "held:%d", i);
		rc = respio_submit(c, 2, (const char *const[]){"GET", key}, NULL, &f);
		if (rc == 0)
			respio_future_release(f);
	}
	if (rc < 0 || !wait_inflight(c, (uint32_t)held, 30000000000LL)) {
		fprintf(stderr, "could not put %d requests in flight: %s\n", held,
			respio_strerror(rc));
		kill(server, SIGCONT);
		respio_client_destroy(c);
		return -1;
	}
	usleep(300000); /* let the shard settle with its requests */

	atomic_store(&short_done, 0);
	atomic_store(&short_timed_out, 0);
	atomic_store(&short_sent, 0);
	atomic_store(&late_sum_ns, 0);
	atomic_store(&late_max_ns, 0);
	respio_client_stats(c, &a, NULL, 0);
	cpu0 = shards_cpu_ns(o->shards);
	t0 = clock_ns(CLOCK_MONOTONIC);
	period = (int64_t)(1e9 / o->rate);
	expected = (uint64_t)(o->duration * o->rate);
	for (next = t0; n < expected && !perf_interrupted; next += period, n++) {
		struct short_req *r = malloc(sizeof(*r));
		respio_submit_opts so = {.timeout_ms = o->timeout_ms, .cb = on_short_done};

		sleep_until(next);
		r->deadline_ns = clock_ns(CLOCK_MONOTONIC_COARSE) + o->timeout_ms * 1000000LL;
		so.cb_arg = r;
		rc = respio_submit_with(c, &so, 2, (const char *const[]){"GET", "short"}, NULL, &f);
		if (rc < 0) {
			fprintf(stderr, "submit: %s\n", respio_strerror(rc));
			free(r);
			break;
		}
		respio_future_release(f);
	}
	/* The last ones expire timeout_ms later: the window covers them. */
	sleep_until(next + (o->timeout_ms + 50) * 1000000LL);
	t1 = clock_ns(CLOCK_MONOTONIC);
	cpu1 = shards_cpu_ns(o->shards);
	respio_client_stats(c, &b, NULL, 0);

	{
		uint64_t done = atomic_load(&short_done), turns = b.sleeps - a.sleeps;
		double cpu_ms = (double)(cpu1 - cpu0) / 1e6, wall = (double)(t1 - t0) / 1e9;

		printf("%8d held  %6llu expired (%llu SENT)  shard CPU %8.1f ms = %5.1f%%"
		       "  %8.2f us/expiry  %8.2f us/turn (%llu turns)  late mean %6.2f ms "
		       "max %7.2f ms\n",
		       held, (unsigned long long)atomic_load(&short_timed_out),
		       (unsigned long long)atomic_load(&short_sent), cpu_ms,
		       100.0 * cpu_ms / 1e3 / wall, done ? cpu_ms * 1e3 / (double)done : 0.0,
		       turns ? cpu_ms * 1e3 / (double)turns : 0.0, (unsigned long long)turns,
		       done ? (double)atomic_load(&late_sum_ns) / (double)done / 1e6 : 0.0,
		       (double)atomic_load(&late_max_ns) / 1e6);
		fflush(stdout);
		if (done < n || cpu0 < 0)
			fprintf(stderr, "only %llu of %llu short requests completed%s\n",
				(unsigned long long)done, (unsigned long long)n,
				cpu0 < 0 ? "; shard threads not found" : "");
		rc = done < n || cpu0 < 0 ? -1 : 0;
	}
	kill(server, SIGCONT);
	respio_client_destroy(c);
	return rc;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: deadline-trickle [--inflight N[,N...]] [--rate PER_SEC] [--timeout-ms MS]\n"
		"                        [--duration SECONDS] [--shards S] [--server-cmd PATH]\n"
		"Stops the embedded server, keeps N requests in flight (default 60000) and\n"
		"lets a trickle of short-deadline requests (default 200/s, 20 ms) time out\n"
		"behind them for --duration seconds (default 5); prints the shard's CPU per\n"
		"expiry and per loop turn, for each N.\n");
}

static void on_sigint(int sig)
{
	(void)sig;
	perf_interrupted = 1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {{"inflight", required_argument, NULL, 'i'},
						 {"rate", required_argument, NULL, 'r'},
						 {"timeout-ms", required_argument, NULL, 't'},
						 {"duration", required_argument, NULL, 'd'},
						 {"shards", required_argument, NULL, 's'},
						 {"server-cmd", required_argument, NULL, 'c'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	struct opts o = {.inflight = {60000},
			 .ninflight = 1,
			 .rate = 200,
			 .timeout_ms = 20,
			 .duration = 5,
			 .shards = 1};
	struct perf_server srv;
	char err[256];
	int opt, status = 0;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'i': {
			char *s = optarg, *end;

			for (o.ninflight = 0; *s && o.ninflight < MAX_LIST;
			     s = *end ? end + 1 : end) {
				o.inflight[o.ninflight++] = (int)strtol(s, &end, 10);
				if (end == s || o.inflight[o.ninflight - 1] < 0) {
					usage(stderr);
					return 2;
				}
			}
			break;
		}
		case 'r': o.rate = atof(optarg); break;
		case 't': o.timeout_ms = atoi(optarg); break;
		case 'd': o.duration = atof(optarg); break;
		case 's': o.shards = atoi(optarg); break;
		case 'c': o.server_cmd = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (o.rate <= 0 || o.timeout_ms <= 0 || o.duration <= 0 || o.shards < 1) {
		usage(stderr);
		return 2;
	}
	perf_clock_init();
	signal(SIGINT, on_sigint);
	if (perf_server_start(&srv, o.server_cmd, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	printf("%d shard(s), %.0f expiries/s of %d ms requests, %.1f s each\n", o.shards, o.rate,
	       o.timeout_ms, o.duration);
	for (int i = 0; i < o.ninflight && !perf_interrupted; i++)
		if (run_one(&o, srv.port, srv.pid, o.inflight[i]) < 0)
			status = 1;
	kill(srv.pid, SIGCONT);
	perf_server_stop(&srv);
	return perf_interrupted ? 130 : status;
}

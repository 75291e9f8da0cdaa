/* SPDX-License-Identifier: MIT */
/* The redis-benchmark peer: runs `redis-benchmark -c T -P K -t get,set --csv`
 * on the same server and workload, once to warm up and once measured, parses
 * its CSV, combines GET and SET by the workload's ratio, and takes its CPU
 * per request from the difference of the two runs. */
#include "perf.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

struct rb_test {
	bool seen;
	double rps, p50_ms, p99_ms;
};

/* One CSV line of redis-benchmark 7:
 * "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",
 * "p95_latency_ms","p99_latency_ms","max_latency_ms" */
static void parse_line(const char *line, struct rb_test *get, struct rb_test *set)
{
	char name[16];
	double v[7];
	struct rb_test *t;

	if (sscanf(line, "\"%15[^\"]\",\"%lf\",\"%lf\",\"%lf\",\"%lf\",\"%lf\",\"%lf\",\"%lf\"",
		   name, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]) != 8)
		return;
	if (strcmp(name, "GET") == 0)
		t = get;
	else if (strcmp(name, "SET") == 0)
		t = set;
	else
		return;
	*t = (struct rb_test){true, v[0], v[3], v[5]};
}

static pid_t spawn(char *const argv[], int *out_fd)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		/* Dies with the harness, even when the harness is killed. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execvp(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	*out_fd = p[0];
	return pid;
}

/* One redis-benchmark process and what it reported. */
struct rb_run {
	struct rb_test get, set;
	double cpu_us; /* user + system over its whole life */
};

/* Run redis-benchmark with -n n (per test) and wait for it. 0, or -1 with the
 * reason in note. */
static int run_once(const struct perf_workload *w, uint64_t n, struct rb_run *run, char *note,
		    size_t notelen)
{
	char c_s[16], p_s[16], n_s[24], d_s[24], r_s[16], port_s[16], out[16384];
	const char *tests = !w->set_w ? "get" : !w->get_w ? "set" : "get,set";
	int fd = -1, status = 0, argc = 0;
	char *argv[32];
	struct rusage ru;
	size_t used = 0;
	uint64_t deadline;
	double secs;
	pid_t pid;

	memset(run, 0, sizeof(*run));
	note[0] = '\0';
	snprintf(port_s, sizeof(port_s), "%d", w->port);
	snprintf(c_s, sizeof(c_s), "%d", w->threads);
	snprintf(p_s, sizeof(p_s), "%d", w->inflight < 1 ? 1 : w->inflight);
	snprintf(n_s, sizeof(n_s), "%llu", (unsigned long long)n);
	snprintf(d_s, sizeof(d_s), "%zu", w->dsize);
	snprintf(r_s, sizeof(r_s), "%u", w->keys);
	argv[argc++] = "redis-benchmark";
	argv[argc++] = "-h";
	argv[argc++] = (char *)w->host;
	argv[argc++] = "-p";
	argv[argc++] = port_s;
	if (w->password) {
		argv[argc++] = "-a";
		argv[argc++] = (char *)w->password;
	}
	argv[argc++] = "-c";
	argv[argc++] = c_s;
	argv[argc++] = "-P";
	argv[argc++] = p_s;
	argv[argc++] = "-n";
	argv[argc++] = n_s;
	argv[argc++] = "-d";
	argv[argc++] = d_s;
	argv[argc++] = "-r";
	argv[argc++] = r_s;
	argv[argc++] = "-t";
	argv[argc++] = (char *)tests;
	argv[argc++] = "--csv";
	argv[argc] = NULL;

	pid = spawn(argv, &fd);
	if (pid < 0) {
		snprintf(note, notelen, "cannot start redis-benchmark: %s", strerror(errno));
		return -1;
	}
	/* Bounded: several times the expected run, at least a minute. */
	secs = w->requests ? 600 : w->duration_s * 10 + 60;
	deadline = perf_now_ns() + (uint64_t)(secs * 1e9);
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t got;

		if (perf_interrupted || perf_now_ns() > deadline) {
			kill(pid, SIGKILL);
			snprintf(note, notelen, "redis-benchmark %s",
				 perf_interrupted ? "interrupted" : "timed out");
			break;
		}
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (used + 1 >= sizeof(out))
			used = 0; /* progress noise: keep the tail */
		got = read(fd, out + used, sizeof(out) - 1 - used);
		if (got <= 0)
			break;
		used += (size_t)got;
	}
	out[used] = '\0';
	close(fd);
	while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
		;
	if (note[0])
		return -1;
	for (char *save = NULL, *line = strtok_r(out, "\r\n", &save); line;
	     line = strtok_r(NULL, "\r\n", &save))
		parse_line(line, &run->get, &run->set);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || (w->get_w && !run->get.seen) ||
	    (w->set_w && !run->set.seen)) {
		char *nl = strchr(out, '\n');

		if (nl)
			*nl = '\0';
		/* It exits 1 on an error reply from the server. */
		snprintf(note, notelen, "redis-benchmark failed (status %d): %.100s",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1, out);
		return -1;
	}
	run->cpu_us = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
		      (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
	return 0;
}

/*
 * Equal terms with the in-process clients, as far as a separate program
 * allows:
 * - Warm-up: a first run of the same command for about --warmup (at least
 *   RB_MIN_N requests per test) before the measured one. The measured run
 *   is a new process with new connections; the server and the keys are warm.
 * - CPU: redis-benchmark's CPU is only known for its whole life, start-up
 *   (exec, its CONFIG GET, connecting) included. Both runs pay the same
 *   start-up, so the measured run's CPU less the warm-up run's, over the
 *   difference in requests, is its CPU per request in steady state, as the
 *   harness measures its own clients over their measured window.
 * - Key space: -r KEYS makes it use KEYS keys ("key:" and 12 digits), which
 *   the harness wrote beforehand (perf_prefill) with its value, so its GETs
 *   find their keys as the in-process clients' do; -d BYTES, the same value
 *   size. What differs: the key names (16 bytes against 12-17), its value
 *   (one random-looking string for every key), and the order: all its SETs,
 *   then all its GETs, each test with -n requests; the mix is weighted by the
 *   ratio when the rates are combined.
 * - Checks: none of values or reply types; an error reply makes it exit 1,
 *   which fails the run.
 * - Latency: its own measure, not the harness's (report.c says how).
 */
#define RB_MIN_N 1000

int perf_redis_benchmark(const struct perf_workload *w, double rate_hint, struct perf_result *r)
{
	int ntests = w->get_w && w->set_w ? 2 : 1;
	struct rb_run warm, run;
	struct rb_test *get = &run.get, *set = &run.set;
	uint64_t n, n_warm, tiny;
	double fg, fs, rate = rate_hint > 0 ? rate_hint : 50000;

	memset(r, 0, sizeof(*r));
	snprintf(r->client, sizeof(r->client), "redis-benchmark");
	r->shape = perf_shape_of(w);
	r->latency_own = true;
	r->threads = w->threads;
	r->inflight = w->inflight;
	r->p50_us = r->p99_us = r->p999_us = r->cpu_us_per_op = r->allocs_per_op = NAN;

	if (w->requests)
		n = w->requests / (uint64_t)ntests;
	else
		n = (uint64_t)(rate * w->duration_s / ntests);
	if (n < RB_MIN_N)
		n = RB_MIN_N;
	/* At least one batch per connection, and well below the measured run,
	 * whose difference from it gives the CPU per request. */
	tiny = (uint64_t)w->threads * (uint64_t)(w->inflight < 1 ? 1 : w->inflight);
	if (tiny < RB_MIN_N)
		tiny = RB_MIN_N;
	n_warm = (uint64_t)(rate * w->warmup_s / ntests);
	if (n_warm > n / 2)
		n_warm = n / 2;
	if (n_warm < tiny)
		n_warm = tiny;
	if (run_once(w, n_warm, &warm, r->note, sizeof(r->note)) < 0 ||
	    run_once(w, n, &run, r->note, sizeof(r->note)) < 0)
		return -1;

	/* Mix by the ratio: time per op is the weighted mean of 1/rps. The
	 * percentiles of a mix lie between the two; report the higher one. */
	fg = (double)w->get_w / (w->get_w + w->set_w);
	fs = 1.0 - fg;
	r->ops = n * (uint64_t)ntests;
	r->ops_per_sec = 1.0 / ((get->seen ? fg / get->rps : 0) + (set->seen ? fs / set->rps : 0));
	r->p50_us = 1000.0 * fmax(get->seen ? get->p50_ms : 0, set->seen ? set->p50_ms : 0);
	r->p99_us = 1000.0 * fmax(get->seen ? get->p99_ms : 0, set->seen ? set->p99_ms : 0);
	if (n > n_warm && run.cpu_us > warm.cpu_us)
		r->cpu_us_per_op =
		    (run.cpu_us - warm.cpu_us) / (double)((n - n_warm) * (uint64_t)ntests);
	snprintf(r->note, sizeof(r->note),
		 "GET %.0f ops/s p50 %.0f us; SET %.0f ops/s p50 %.0f us; cpu %.0f us for %llu "
		 "requests, %.0f us for %llu",
		 get->rps, get->p50_ms * 1000, set->rps, set->p50_ms * 1000, run.cpu_us,
		 (unsigned long long)r->ops, warm.cpu_us,
		 (unsigned long long)(n_warm * (uint64_t)ntests));
	return 0;
}

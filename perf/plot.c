/* SPDX-License-Identifier: MIT */
/* Writes a gnuplot script for the results and runs gnuplot to make a PNG:
 * throughput and p99 against shard count for a sweep, bars otherwise. */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void num(FILE *f, double v)
{
	if (isnan(v))
		fprintf(f, " NaN");
	else
		fprintf(f, " %.3f", v);
}

/* Rows of one respio client (shape) at one threads/inflight, any shards. */
static bool same_config(const struct perf_result *a, const struct perf_result *b)
{
	return a->shards && b->shards && !strcmp(a->client, b->client) &&
	       a->threads == b->threads && a->inflight == b->inflight;
}

static bool is_sweep(const struct perf_result *rows, int n)
{
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			if (rows[i].shards && rows[j].shards &&
			    !strcmp(rows[i].client, rows[j].client) &&
			    rows[i].threads == rows[j].threads &&
			    rows[i].inflight == rows[j].inflight &&
			    rows[i].shards != rows[j].shards)
				return true;
	return false;
}

/* One data block per respio client (shape) and threads/inflight config:
 * shards, ops/s, p99. */
static void write_sweep(FILE *f, const struct perf_result *rows, int n, const char *title)
{
	int blocks = 0;
	int seen[64];

	fprintf(f, "$D << EOD\n");
	for (int i = 0; i < n && blocks < 64; i++) {
		bool dup = false;

		if (!rows[i].shards)
			continue; /* a peer */
		for (int b = 0; b < blocks; b++)
			dup |= same_config(&rows[seen[b]], &rows[i]);
		if (dup)
			continue;
		seen[blocks] = i;
		if (blocks++)
			fprintf(f, "\n\n");
		fprintf(f, "\"%s, threads %d, inflight %d\"\n", rows[i].client, rows[i].threads,
			rows[i].inflight);
		for (int j = i; j < n; j++) {
			if (!same_config(&rows[j], &rows[i]))
				continue;
			fprintf(f, "%d", rows[j].shards);
			num(f, rows[j].ops_per_sec / 1000);
			num(f, rows[j].p99_us);
			fprintf(f, "\n");
		}
	}
	fprintf(f, "EOD\n");
	fprintf(
	    f,
	    "set multiplot layout 2,1 title '%s' noenhanced\n"
	    "set key outside right top\n"
	    "set grid\n"
	    "set xlabel 'shards'\n"
	    "set xtics 1\n"
	    "set ylabel 'throughput (k ops/s)'\n"
	    "set yrange [0:*]\n"
	    "plot for [b=0:%d] $D index b using 1:2 with linespoints lw 2 title columnheader(1)",
	    title, blocks - 1);
	/* Peers do not shard: a flat line each. */
	for (int i = 0; i < n; i++)
		if (!rows[i].shards && rows[i].ops_per_sec > 0)
			fprintf(f, ", %.3f with lines dt 2 title '%s (threads %d, inflight %d)'",
				rows[i].ops_per_sec / 1000, rows[i].client, rows[i].threads,
				rows[i].inflight);
	fprintf(
	    f,
	    "\nset ylabel 'p99 latency (us)'\n"
	    "plot for [b=0:%d] $D index b using 1:3 with linespoints lw 2 title columnheader(1)\n"
	    "unset multiplot\n",
	    blocks - 1);
}

/* Bars per client and config. A client's own latency figures (redis-benchmark)
 * are not plotted beside the harness's: they measure something else. */
static void write_bars(FILE *f, const struct perf_result *rows, int n, const char *title)
{
	bool own = false;

	fprintf(f, "$D << EOD\n");
	for (int i = 0; i < n; i++) {
		fprintf(f, "\"%s T%d K%d", rows[i].client, rows[i].threads, rows[i].inflight);
		if (rows[i].shards)
			fprintf(f, " S%d", rows[i].shards);
		fprintf(f, "\"");
		num(f, rows[i].ops_per_sec / 1000);
		num(f, rows[i].latency_own ? NAN : rows[i].p50_us);
		num(f, rows[i].latency_own ? NAN : rows[i].p99_us);
		num(f, rows[i].latency_own ? NAN : rows[i].p999_us);
		fprintf(f, "\n");
		own |= rows[i].latency_own;
	}
	fprintf(f,
		"EOD\n"
		"set multiplot layout 2,1 title '%s' noenhanced\n"
		"set style data histograms\n"
		"set style histogram clustered gap 1\n"
		"set style fill solid 0.8 border -1\n"
		"set boxwidth 0.9\n"
		"set grid ytics\n"
		"set xtics rotate by -20 noenhanced\n"
		"set key outside right top\n"
		"set ylabel 'throughput (k ops/s)'\n"
		"set yrange [0:*]\n"
		"plot $D using 2:xtic(1) title 'ops/s (k)'\n"
		"set ylabel 'latency (us, log)'\n"
		"set logscale y\n"
		"set yrange [*:*]\n"
		"set title '%s'\n"
		"plot $D using 3:xtic(1) title 'p50', '' using 4 title 'p99', "
		"'' using 5 title 'p99.9'\n"
		"unset multiplot\n",
		title,
		own ? "latency from issue to reply seen; redis-benchmark measures its own: "
		      "not plotted"
		    : "latency from issue to reply seen");
}

/* Run gnuplot on script (then removed), which writes png: 0, or -1 after
 * saying why on stderr. */
int perf_gnuplot(const char *script, const char *png)
{
	int status = 0;
	pid_t pid;

	pid = fork();
	if (pid == 0) {
		execlp("gnuplot", "gnuplot", script, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	unlink(script);
	if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 127)
			fprintf(stderr, "respio-perf: gnuplot is not installed "
					"(apt-get install gnuplot-nox)\n");
		else
			fprintf(stderr, "respio-perf: gnuplot failed to write %s\n", png);
		return -1;
	}
	return 0;
}

int perf_plot(const char *png, const struct perf_result *rows, int n, const char *title)
{
	char script[] = "/tmp/respio-perf-plot-XXXXXX";
	int fd = mkstemp(script);
	FILE *f;

	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		fprintf(stderr, "respio-perf: plot: %s\n", strerror(errno));
		return -1;
	}
	fprintf(f,
		"set terminal pngcairo size 1100,900 noenhanced font ',10'\n"
		"set output '%s'\n",
		png);
	if (is_sweep(rows, n))
		write_sweep(f, rows, n, title);
	else
		write_bars(f, rows, n, title);
	fclose(f);
	return perf_gnuplot(script, png);
}

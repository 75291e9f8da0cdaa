/* SPDX-License-Identifier: MIT */
/* respio-perf: options and orchestration of the perf harness: runs respio
 * and its peers on one server, interleaved over rounds, and reports medians. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <respio.h>

#include "failover.h"
#include "perf.h"
#include "pin.h"
#include "report.h"
#include "server.h"

#define MAX_LIST      32
#define MAX_ROUNDS    64
#define MAX_SENTINELS 16

struct options {
	struct perf_workload w;
	int threads[MAX_LIST], nthreads;
	int inflight[MAX_LIST], ninflight;
	int shards[MAX_LIST], nshards;
	int rounds;
	bool csv, tune, hiredis, rb;
	unsigned shapes; /* K > 1: 1 << PERF_SHAPE_WINDOW | 1 << PERF_SHAPE_BATCH */
	const char *server_cmd;
	const char *plot;
	double budget_us;
	bool pin_split; /* --pin */
	struct perf_pin pin;
	int blpop;    /* --blpop-consumers: rows respio+blpop with this many */
	bool connect; /* --connect-per-request: its row at K = 1 */
	/* --sentinel, --master, --sentinel-password: w.sentinel points here. */
	respio_sentinel_config sc;
	const char *sentinel_hosts[MAX_SENTINELS];
	char *sentinel_lists[MAX_SENTINELS]; /* the --sentinel arguments, split */
	int nlists;
	char master_host[256]; /* where the Sentinels said the master is */
	double failover_at;    /* --failover-at; < 0: none */
	bool shapes_given;     /* --shape or --batch */
};

static struct perf_server server;

/* perf_fatal's cleanup: no server is left behind by a run that hangs. */
static void stop_server(void)
{
	perf_server_stop(&server);
}

static void on_signal(int sig)
{
	(void)sig;
	if (perf_interrupted) {
		/* A second Ctrl-C: no more waiting for runs to wind down. */
		perf_server_kill_now(&server);
		_exit(130);
	}
	perf_interrupted = 1;
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: respio-perf [-h HOST] [-p PORT] [-a PASSWORD] [--server-cmd PATH]\n"
	    "                   [--threads T[,T...]] [--inflight K[,K...]] [--shards S[,S...]]\n"
	    "                   [--shape window,batch] [--ratio GET:SET] [--keys N] [-d BYTES]\n"
	    "                   [--duration SECONDS | -n REQUESTS] [--warmup SECONDS]\n"
	    "                   [--compare hiredis,redis-benchmark] [--rounds R]\n"
	    "                   [--csv] [--plot FILE.png] [--tune [--p99-budget-us US]]\n"
	    "                   [--pin | --server-cpus LIST --client-cpus LIST]\n"
	    "                   [--session-ratio PCT] [--txn-ratio PCT]\n"
	    "                   [--blpop-consumers N] [--connect-per-request]\n"
	    "                   [--sentinel HOST:PORT[,HOST:PORT...] --master NAME\n"
	    "                    [--sentinel-password PW] [--sentinel-cache-ms MS]\n"
	    "                    [--failover-at SECONDS]]\n"
	    "\n"
	    "Without -h/-p it starts redis-server (or --server-cmd) on a free loopback port\n"
	    "for the run. --inflight 1 runs respio's synchronous helpers; K > 1 runs futures\n"
	    "in two shapes, each its own row: window (K in flight, each reply read is\n"
	    "replaced at once: client respio, hiredis-window) and batch (issue K, read all\n"
	    "K, repeat: respio-batch, hiredis, redis-benchmark -P K). --shape picks one\n"
	    "(default both; --tune: window). Lists sweep every combination. --compare runs\n"
	    "the peers on the same server, interleaved with respio over --rounds rounds\n"
	    "(default 3; the order rotates each round), and reports medians and respio's\n"
	    "ratio to each peer of the same shape. Latency: per request, from the clock\n"
	    "read before the harness issues it to the read after it has seen and checked\n"
	    "its reply; redis-benchmark's own latency is shown but compared with nothing.\n"
	    "--tune sweeps shard counts (default 1..max(4, 2 x CPUs)) and recommends one.\n"
	    "--pin puts the embedded server on the last CPU and every client on the\n"
	    "others; --server-cpus and --client-cpus take CPU lists (0,2-3) instead.\n"
	    "Other options: --conns N (respio connections), --timeout-ms MS, --batch\n"
	    "(the same as --shape batch), --help.\n"
	    "Mixes (each counts as one operation in ops/s and latency):\n"
	    "  --session-ratio PCT  PCT%% of the operations of the respio rows are a\n"
	    "      session transaction: respio_begin, MULTI, SET key, INCR\n"
	    "      %s, EXEC, respio_end; latency from begin to end.\n"
	    "      At K > 1 it runs in the thread while the thread's other requests\n"
	    "      stay in flight. Raises max_connections by one per thread above the\n"
	    "      shared pipeline's.\n"
	    "  --txn-ratio PCT  PCT%% are respio_submit_transaction units (MULTI, SET key,\n"
	    "      INCR, EXEC on the shared connection, one future). hiredis rows run\n"
	    "      both as MULTI..EXEC on their own connection; redis-benchmark runs\n"
	    "      plain GET/SET. Their counts and p50/p99 are printed below the table.\n"
	    "  --blpop-consumers N  adds rows respio+blpop (respio-batch+blpop): the\n"
	    "      same workload while N more threads loop BLPOP %s 1 through\n"
	    "      respio_submit (automatic leases; raises max_connections by N). In\n"
	    "      both rows every %dth operation is an RPUSH to %s. Prints the\n"
	    "      items the consumers popped (every item pushed, or it is an error)\n"
	    "      and the ratios of the +blpop rows to the rows without consumers.\n"
	    "  --connect-per-request  adds the row connect-per-request at --inflight 1:\n"
	    "      each operation (GET or SET) creates a respio_conn, connects, runs\n"
	    "      the command and destroys it. Prints the ratios of the pooled respio\n"
	    "      rows to it (ops/s, client CPU per request).\n",
	    PERF_COUNTER, PERF_QUEUE, PERF_PUSH_EVERY, PERF_QUEUE);
	/* A second string: one would pass the 4095 bytes C99 guarantees. */
	fputs("Redis Sentinel:\n"
	      "  --sentinel HOST:PORT[,...] --master NAME  the respio rows find the master\n"
	      "      through these Sentinels (respio_config.sentinel) and follow its\n"
	      "      failovers; the peers connect to the address the Sentinels give at\n"
	      "      start. No server is started; -h/-p, if given, are used only when no\n"
	      "      Sentinel answers. -a is the data nodes' password,\n"
	      "      --sentinel-password the Sentinels'. --sentinel-cache-ms: how often\n"
	      "      the client asks the Sentinels again (respio_sentinel_config.cache_ms).\n"
	      "  --failover-at SECONDS  one respio row, one round (one --threads,\n"
	      "      --inflight and --shards value; K > 1 runs the window shape): each\n"
	      "      thread INCRs a counter of its own (futures, so every failure has\n"
	      "      its fate; only acknowledged INCRs count in ops/s), and at SECONDS\n"
	      "      into the measured run SENTINEL FAILOVER NAME is sent to a Sentinel.\n"
	      "      Prints acknowledged INCRs, failures by fate and the slowest\n"
	      "      completion per 100 ms from 1 s before the trigger, then the gap with\n"
	      "      no acknowledged INCR, the time from the trigger to the client's\n"
	      "      switch (respio_stats.last_failover_ms), the errors by fate, and the\n"
	      "      acknowledged increments the new master lacks, read once the old\n"
	      "      master reports role:slave (waited for up to 30 s). With --plot, a\n"
	      "      chart of the run. The engine's log goes to stderr. Use a fresh\n"
	      "      topology, or wait until every Sentinel has seen the old master\n"
	      "      demoted (~20 s): a failover right after another may be undone.\n"
	      "      Errors do not fail it; a trigger no Sentinel accepts, no switch, or\n"
	      "      a reply not an INCR's does (exit status 1).\n"
	      "Exit status: 0 ok, 1 a run had errors (a wrong reply counts), 2 usage or\n"
	      "start-up failure, 130 interrupted.\n",
	      f);
}

static int parse_list(const char *s, int *out, int max, int min, const char *what)
{
	int n = 0;

	while (*s) {
		char *end;
		long v = strtol(s, &end, 10);

		if (end == s || v < min || v > 1000000 || n == max || (*end && *end != ',')) {
			fprintf(stderr, "respio-perf: bad %s list\n", what);
			return -1;
		}
		out[n++] = (int)v;
		s = *end ? end + 1 : end;
	}
	return n;
}

static double parse_num(const char *s, const char *what)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || v < 0) {
		fprintf(stderr, "respio-perf: bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

/* --sentinel, --master and --failover-at: what goes with what. */
static int parse_sentinel_args(const struct options *o, int rounds)
{
	const char *clash = NULL;

	if (!o->sc.nhosts != !o->sc.master_name) {
		fprintf(stderr, "respio-perf: --sentinel and --master go together\n");
		return -1;
	}
	if ((o->sc.password || o->sc.cache_ms) && !o->sc.nhosts) {
		fprintf(stderr, "respio-perf: --sentinel-password and --sentinel-cache-ms need "
				"--sentinel\n");
		return -1;
	}
	if (o->failover_at < 0)
		return 0;
	if (!o->sc.nhosts) {
		fprintf(stderr, "respio-perf: --failover-at needs --sentinel and --master\n");
		return -1;
	}
	if (o->w.requests || !(o->failover_at < o->w.duration_s)) {
		fprintf(stderr, "respio-perf: --failover-at takes a second within --duration "
				"(not -n)\n");
		return -1;
	}
	if (o->nthreads > 1 || o->ninflight > 1 || o->nshards > 1)
		clash = "lists of --threads, --inflight or --shards";
	else if (o->hiredis || o->rb)
		clash = "--compare";
	else if (o->connect)
		clash = "--connect-per-request";
	else if (o->blpop)
		clash = "--blpop-consumers";
	else if (o->w.session_pct || o->w.txn_pct)
		clash = "--session-ratio and --txn-ratio";
	else if (o->tune)
		clash = "--tune";
	else if (rounds > 1)
		clash = "--rounds above 1";
	else if (o->shapes_given && o->shapes != 1u << PERF_SHAPE_WINDOW)
		clash = "--shape batch";
	if (clash) {
		fprintf(stderr,
			"respio-perf: --failover-at runs one respio row once (INCR, a window of "
			"K): drop %s\n",
			clash);
		return -1;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	enum {
		O_THREADS = 256,
		O_INFLIGHT,
		O_SHARDS,
		O_RATIO,
		O_KEYS,
		O_DURATION,
		O_WARMUP,
		O_CSV,
		O_COMPARE,
		O_PLOT,
		O_TUNE,
		O_BUDGET,
		O_SERVER,
		O_ROUNDS,
		O_CONNS,
		O_TIMEOUT,
		O_HELP,
		O_BATCH,
		O_PIN,
		O_SERVER_CPUS,
		O_CLIENT_CPUS,
		O_SHAPE,
		O_SESSION_RATIO,
		O_TXN_RATIO,
		O_BLPOP,
		O_CONNECT,
		O_SENTINEL,
		O_MASTER,
		O_SENTINEL_PASSWORD,
		O_FAILOVER_AT,
		O_SENTINEL_CACHE,
	};
	static const struct option longopts[] = {
	    {"threads", required_argument, NULL, O_THREADS},
	    {"inflight", required_argument, NULL, O_INFLIGHT},
	    {"shards", required_argument, NULL, O_SHARDS},
	    {"ratio", required_argument, NULL, O_RATIO},
	    {"keys", required_argument, NULL, O_KEYS},
	    {"duration", required_argument, NULL, O_DURATION},
	    {"warmup", required_argument, NULL, O_WARMUP},
	    {"csv", no_argument, NULL, O_CSV},
	    {"compare", required_argument, NULL, O_COMPARE},
	    {"plot", required_argument, NULL, O_PLOT},
	    {"tune", no_argument, NULL, O_TUNE},
	    {"p99-budget-us", required_argument, NULL, O_BUDGET},
	    {"server-cmd", required_argument, NULL, O_SERVER},
	    {"rounds", required_argument, NULL, O_ROUNDS},
	    {"conns", required_argument, NULL, O_CONNS},
	    {"timeout-ms", required_argument, NULL, O_TIMEOUT},
	    {"help", no_argument, NULL, O_HELP},
	    {"batch", no_argument, NULL, O_BATCH},
	    {"pin", no_argument, NULL, O_PIN},
	    {"server-cpus", required_argument, NULL, O_SERVER_CPUS},
	    {"client-cpus", required_argument, NULL, O_CLIENT_CPUS},
	    {"shape", required_argument, NULL, O_SHAPE},
	    {"session-ratio", required_argument, NULL, O_SESSION_RATIO},
	    {"txn-ratio", required_argument, NULL, O_TXN_RATIO},
	    {"blpop-consumers", required_argument, NULL, O_BLPOP},
	    {"connect-per-request", no_argument, NULL, O_CONNECT},
	    {"sentinel", required_argument, NULL, O_SENTINEL},
	    {"master", required_argument, NULL, O_MASTER},
	    {"sentinel-password", required_argument, NULL, O_SENTINEL_PASSWORD},
	    {"failover-at", required_argument, NULL, O_FAILOVER_AT},
	    {"sentinel-cache-ms", required_argument, NULL, O_SENTINEL_CACHE},
	    {NULL, 0, NULL, 0},
	};
	int c, rounds = 0;

	memset(o, 0, sizeof(*o));
	o->w.host = NULL;
	o->w.get_w = o->w.set_w = 1;
	o->w.keys = 10000;
	o->w.dsize = 16;
	o->w.duration_s = 5;
	o->w.warmup_s = 1;
	o->w.timeout_ms = 5000;
	o->threads[0] = 8;
	o->nthreads = 1;
	o->inflight[0] = 1;
	o->ninflight = 1;
	o->failover_at = -1;
	while ((c = getopt_long(argc, argv, "h:p:a:d:n:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': o->w.host = optarg; break;
		case 'p': o->w.port = (int)parse_num(optarg, "port"); break;
		case 'a': o->w.password = optarg; break;
		case 'd': o->w.dsize = (size_t)parse_num(optarg, "value size"); break;
		case 'n': o->w.requests = (uint64_t)parse_num(optarg, "request count"); break;
		case O_THREADS:
			if ((o->nthreads = parse_list(optarg, o->threads, MAX_LIST, 1, "threads")) <
			    0)
				return -1;
			break;
		case O_INFLIGHT:
			if ((o->ninflight =
				 parse_list(optarg, o->inflight, MAX_LIST, 1, "inflight")) < 0)
				return -1;
			break;
		case O_SHARDS:
			if ((o->nshards = parse_list(optarg, o->shards, MAX_LIST, 1, "shards")) < 0)
				return -1;
			break;
		case O_RATIO:
			if (sscanf(optarg, "%u:%u", &o->w.get_w, &o->w.set_w) != 2 ||
			    o->w.get_w + o->w.set_w == 0 || o->w.get_w > 1000000 ||
			    o->w.set_w > 1000000) {
				fprintf(stderr, "respio-perf: --ratio takes GET:SET, e.g. 1:1\n");
				return -1;
			}
			break;
		case O_KEYS: o->w.keys = (uint32_t)parse_num(optarg, "key count"); break;
		case O_DURATION: o->w.duration_s = parse_num(optarg, "duration"); break;
		case O_WARMUP: o->w.warmup_s = parse_num(optarg, "warm-up"); break;
		case O_CSV: o->csv = true; break;
		case O_COMPARE: {
			char *list = strdup(optarg), *save = NULL;

			for (char *p = strtok_r(list, ",", &save); p;
			     p = strtok_r(NULL, ",", &save)) {
				if (strcmp(p, "hiredis") == 0) {
					o->hiredis = true;
				} else if (strcmp(p, "redis-benchmark") == 0) {
					o->rb = true;
				} else {
					fprintf(stderr,
						"respio-perf: unknown peer '%s' (hiredis, "
						"redis-benchmark)\n",
						p);
					free(list);
					return -1;
				}
			}
			free(list);
			break;
		}
		case O_PLOT: o->plot = optarg; break;
		case O_TUNE: o->tune = true; break;
		case O_BUDGET: o->budget_us = parse_num(optarg, "p99 budget"); break;
		case O_SERVER: o->server_cmd = optarg; break;
		case O_ROUNDS: rounds = (int)parse_num(optarg, "rounds"); break;
		case O_CONNS: o->w.conns = (int)parse_num(optarg, "connections"); break;
		case O_TIMEOUT: o->w.timeout_ms = (int)parse_num(optarg, "timeout"); break;
		case O_HELP: usage(stdout); exit(0);
		case O_BATCH:
			o->shapes = 1u << PERF_SHAPE_BATCH;
			o->shapes_given = true;
			break;
		case O_SHAPE: {
			char *list = strdup(optarg), *save = NULL;

			o->shapes = 0;
			for (char *p = strtok_r(list, ",", &save); p;
			     p = strtok_r(NULL, ",", &save)) {
				if (strcmp(p, "window") == 0) {
					o->shapes |= 1u << PERF_SHAPE_WINDOW;
				} else if (strcmp(p, "batch") == 0) {
					o->shapes |= 1u << PERF_SHAPE_BATCH;
				} else {
					fprintf(stderr,
						"respio-perf: unknown shape '%s' (window, batch)\n",
						p);
					free(list);
					return -1;
				}
			}
			free(list);
			if (!o->shapes)
				return -1;
			o->shapes_given = true;
			break;
		}
		case O_PIN: o->pin_split = true; break;
		case O_SESSION_RATIO:
		case O_TXN_RATIO: {
			double v = parse_num(optarg, "ratio");

			if (v > 100 || v != (unsigned)v) {
				fprintf(stderr,
					"respio-perf: --%s takes a whole percentage, 0..100\n",
					c == O_TXN_RATIO ? "txn-ratio" : "session-ratio");
				return -1;
			}
			*(c == O_TXN_RATIO ? &o->w.txn_pct : &o->w.session_pct) = (unsigned)v;
			break;
		}
		case O_BLPOP: {
			double v = parse_num(optarg, "consumer count");

			if (v > 10000 || v != (int)v) {
				fprintf(stderr, "respio-perf: --blpop-consumers takes 0..10000\n");
				return -1;
			}
			o->blpop = (int)v;
			break;
		}
		case O_CONNECT: o->connect = true; break;
		case O_SENTINEL: {
			/* The strings stay: the config borrows them. */
			char *list = strdup(optarg), *save = NULL;

			if (!list || o->nlists == MAX_SENTINELS) {
				free(list);
				return -1;
			}
			o->sentinel_lists[o->nlists++] = list;
			for (char *p = strtok_r(list, ",", &save); p;
			     p = strtok_r(NULL, ",", &save)) {
				if (o->sc.nhosts == MAX_SENTINELS) {
					fprintf(stderr, "respio-perf: at most %d Sentinels\n",
						MAX_SENTINELS);
					return -1;
				}
				o->sentinel_hosts[o->sc.nhosts++] = p;
			}
			o->sc.hosts = o->sentinel_hosts;
			break;
		}
		case O_MASTER: o->sc.master_name = optarg; break;
		case O_SENTINEL_PASSWORD: o->sc.password = optarg; break;
		case O_FAILOVER_AT: o->failover_at = parse_num(optarg, "failover time"); break;
		case O_SENTINEL_CACHE:
			o->sc.cache_ms = (int)parse_num(optarg, "Sentinel poll interval");
			break;
		case O_SERVER_CPUS:
		case O_CLIENT_CPUS: {
			bool server = c == O_SERVER_CPUS;

			if (perf_pin_parse(optarg, server ? &o->pin.server_cpus
							  : &o->pin.client_cpus) < 0) {
				fprintf(stderr,
					"respio-perf: bad CPU list '%s' (e.g. 0,2-3, CPUs this "
					"process may use)\n",
					optarg);
				return -1;
			}
			*(server ? &o->pin.server : &o->pin.client) = true;
			break;
		}
		default: return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "respio-perf: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (!o->w.keys || (!o->w.requests && !(o->w.duration_s > 0))) {
		fprintf(stderr, "respio-perf: --keys and --duration (or -n) must be positive\n");
		return -1;
	}
	if (o->w.host && !o->w.port)
		o->w.port = 6379;
	if (o->w.port && !o->w.host)
		o->w.host = "127.0.0.1";
	if ((o->w.host || o->sc.nhosts) && o->server_cmd) {
		fprintf(stderr, "respio-perf: --server-cmd starts a server; -h/-p and --sentinel "
				"name one\n");
		return -1;
	}
	if (parse_sentinel_args(o, rounds) < 0)
		return -1;
	if (o->pin_split && (o->pin.server || o->pin.client)) {
		fprintf(stderr, "respio-perf: --pin chooses the CPUs; drop --server-cpus and "
				"--client-cpus, or --pin\n");
		return -1;
	}
	if ((o->w.host || o->sc.nhosts) && (o->pin_split || o->pin.server)) {
		fprintf(stderr, "respio-perf: --pin and --server-cpus place the embedded server; "
				"with -h/-p use --client-cpus\n");
		return -1;
	}
	if (!o->shapes)
		o->shapes = o->tune || o->failover_at >= 0
				? 1u << PERF_SHAPE_WINDOW
				: 1u << PERF_SHAPE_WINDOW | 1u << PERF_SHAPE_BATCH;
	for (int k = 0; k < o->ninflight; k++) {
		if (o->rb && o->inflight[k] > 1 && !(o->shapes & 1u << PERF_SHAPE_BATCH)) {
			fprintf(stderr,
				"respio-perf: redis-benchmark -P K issues K and waits for "
				"all K: it has only the batch shape; add batch to --shape\n");
			return -1;
		}
	}
	if (o->w.session_pct + o->w.txn_pct > 100) {
		fprintf(stderr, "respio-perf: --session-ratio and --txn-ratio add up to more than "
				"100%%\n");
		return -1;
	}
	if (o->connect) {
		bool sync = false;

		for (int k = 0; k < o->ninflight; k++)
			sync |= o->inflight[k] <= 1;
		if (!sync) {
			fprintf(stderr, "respio-perf: --connect-per-request runs one request per "
					"connection: add 1 to --inflight\n");
			return -1;
		}
	}
	o->rounds = rounds > 0 ? rounds : (o->hiredis || o->rb || o->tune) ? 3 : 1;
	if (o->rounds > MAX_ROUNDS)
		o->rounds = MAX_ROUNDS;
	return 0;
}

/* Without --shards: the engine's default, one shard per CPU the client may
 * run on (so after pinning), or the sweep of --tune. */
static void default_shards(struct options *o)
{
	if (!o->nshards) {
		int cpus = perf_pin_cpu_count();

		if (o->tune) {
			int top = 2 * cpus < 4 ? 4 : 2 * cpus;

			for (int s = 1; s <= top && o->nshards < MAX_LIST;
			     s = s < 4 ? s + 1 : s * 2)
				o->shards[o->nshards++] = s;
		} else {
			o->shards[o->nshards++] = cpus;
		}
	}
}

/* One client in one configuration (shape, shard count) and its results over
 * the rounds. */
enum kind { RUN_RESPIO, RUN_HIREDIS, RUN_RB, RUN_CONNECT };

struct entry {
	enum kind kind;
	bool batch;
	int shards;
	int consumers;	     /* respio: BLPOP consumers (the +blpop rows) */
	unsigned push_every; /* respio: an RPUSH every push_every-th operation */
	struct perf_result runs[MAX_ROUNDS];
	int n;
	bool failed; /* could not start: no more rounds */
};

static void progress(const struct options *o, int round, const struct perf_result *r)
{
	fprintf(stderr, "  round %d/%d  %-15s %-6s threads %-3d inflight %-3d", round + 1,
		o->rounds, r->client, perf_shape_name(r->shape), r->threads, r->inflight);
	if (r->shards)
		fprintf(stderr, " shards %-2d", r->shards);
	if (r->ops_per_sec > 0)
		fprintf(stderr, "  %10.0f ops/s  p50 %.1f us%s", r->ops_per_sec, r->p50_us,
			r->latency_own ? " (its own)" : "");
	if (r->consumers)
		fprintf(stderr, "  %d consumers popped %llu of %llu", r->consumers,
			(unsigned long long)r->received, (unsigned long long)r->pushed);
	if (r->errors)
		fprintf(stderr, "  %llu errors: %s", (unsigned long long)r->errors, r->note);
	fprintf(stderr, "\n");
}

static double entry_median_ops(const struct entry *e)
{
	struct perf_result m;

	if (!e->n)
		return 0;
	perf_median(e->runs, e->n, &m);
	return m.ops_per_sec;
}

/* The entries of one threads/inflight configuration, grouped by shape (the
 * order of the table): respio at each shard count, then the peers. */
static int plan(const struct options *o, const struct perf_workload *w, struct entry *e)
{
	int n = 0;

	for (int shape = PERF_SHAPE_SYNC; shape <= PERF_SHAPE_BATCH; shape++) {
		bool batch = shape == PERF_SHAPE_BATCH;

		if (w->inflight <= 1 ? shape != PERF_SHAPE_SYNC
				     : shape == PERF_SHAPE_SYNC || !(o->shapes & 1u << shape))
			continue;
		for (int s = 0; s < o->nshards; s++) {
			/* With consumers, the rows without them push too: the
			 * pipeline's work is the same in both. */
			struct entry r = {.kind = RUN_RESPIO,
					  .batch = batch,
					  .shards = o->shards[s],
					  .push_every = o->blpop ? PERF_PUSH_EVERY : 0};

			e[n++] = r;
			if (o->blpop) {
				r.consumers = o->blpop;
				e[n++] = r;
			}
		}
		if (o->hiredis)
			e[n++] = (struct entry){.kind = RUN_HIREDIS, .batch = batch};
		if (o->rb && shape != PERF_SHAPE_WINDOW)
			e[n++] = (struct entry){.kind = RUN_RB, .batch = batch};
		if (o->connect && shape == PERF_SHAPE_SYNC)
			e[n++] = (struct entry){.kind = RUN_CONNECT};
	}
	return n;
}

/* The most entries plan() makes for one configuration. */
static int max_entries(const struct options *o)
{
	return o->nshards * 4 + 8;
}

/* redis-benchmark's -n is sized from a rate: its own last one, else that
 * of a client of its shape measured before it. */
static double rate_hint(const struct entry *e, int n, const struct entry *rb)
{
	if (rb->n)
		return rb->runs[rb->n - 1].ops_per_sec;
	for (int i = 0; i < n; i++)
		if (&e[i] != rb && e[i].n && e[i].batch == rb->batch && e[i].kind != RUN_CONNECT)
			return entry_median_ops(&e[i]);
	return 0;
}

/* Run entry e once; false when it could not start (then not again). */
static bool run_entry(struct perf_workload *w, struct entry *all, int n, struct entry *e)
{
	struct perf_result *r = &e->runs[e->n];
	int rc;

	w->batch = e->batch;
	w->shards = e->shards;
	w->blpop_consumers = e->consumers;
	w->push_every = e->push_every;
	if (e->kind == RUN_RESPIO)
		rc = perf_run(e->consumers ? &perf_load_respio_blpop : &perf_load_respio, w, r);
	else if (e->kind == RUN_HIREDIS)
		rc = perf_run(&perf_load_hiredis, w, r);
	else if (e->kind == RUN_CONNECT)
		rc = perf_run(&perf_load_connect, w, r);
	else
		rc = perf_redis_benchmark(w, rate_hint(all, n, e), r);
	if (rc < 0) {
		fprintf(stderr, "respio-perf: %s: %s\n", r->client, r->note);
		return false;
	}
	r->shards = e->shards;
	e->n++;
	return true;
}

/* One threads/inflight configuration: every round runs every entry once,
 * starting one entry further each round, so that no client always runs
 * first (after the key space was written, or after a given peer). Appends
 * the medians to rows. */
static int run_config(const struct options *o, struct perf_workload *w, struct perf_result *rows,
		      int *nrows, bool *printed_header)
{
	struct entry *e = calloc((size_t)max_entries(o), sizeof(*e));
	int n, rc = 0;

	if (!e)
		return -1;
	n = plan(o, w, e);
	for (int round = 0; round < o->rounds && !perf_interrupted && rc == 0; round++) {
		for (int i = 0; i < n && !perf_interrupted; i++) {
			struct entry *x = &e[(round + i) % n];

			if (x->failed)
				continue;
			if (!run_entry(w, e, n, x)) {
				x->failed = true;
				rc = -1;
				if (x->kind == RUN_RESPIO && !x->consumers)
					break; /* respio itself failed: stop here */
				continue;
			}
			progress(o, round, &x->runs[x->n - 1]);
		}
	}
	if (!*printed_header) {
		perf_print_header(stdout, o->csv);
		*printed_header = true;
	}
	for (int i = 0; i < n; i++) {
		if (!e[i].n)
			continue;
		perf_median(e[i].runs, e[i].n, &rows[*nrows]);
		perf_print_row(stdout, &rows[*nrows], o->csv);
		(*nrows)++;
	}
	free(e);
	return rc;
}

/* --sentinel: where the Sentinels say the master is, for the peers (and
 * the respio rows' fallback). -1 when none answers and -h/-p name none. */
static int find_master(struct options *o)
{
	int port,
	    rc = respio_sentinel_get_master(&o->sc, o->master_host, sizeof(o->master_host), &port);

	if (rc < 0) {
		fprintf(stderr, "respio-perf: asking the Sentinels for %s: %s%s\n",
			o->sc.master_name, respio_strerror(rc),
			o->w.host ? "; the peers use -h/-p" : "");
		return o->w.host ? 0 : -1;
	}
	o->w.host = o->master_host;
	o->w.port = port;
	fprintf(stderr, "respio-perf: the Sentinels name %s at %s:%d\n", o->sc.master_name,
		o->w.host, o->w.port);
	return 0;
}

/* --failover-at: after the run, the old master's demotion and the
 * counters, the report, the chart. 0 when the failover ran as it should. */
static int failover_results(const struct options *o, struct perf_failover *fo)
{
	FILE *f = o->csv ? stderr : stdout;
	char title[300];
	int status = 0;

	perf_failover_verify(fo, stderr);
	perf_failover_report(fo, f);
	if (o->plot) {
		snprintf(title, sizeof(title),
			 "respio across a Sentinel failover: %d threads, inflight %d, INCR on a "
			 "counter each; SENTINEL FAILOVER at %.1f s",
			 o->w.threads, o->w.inflight, o->failover_at);
		if (perf_failover_plot(fo, o->plot, title) == 0)
			fprintf(stderr, "respio-perf: wrote %s\n", o->plot);
		else
			status = 2;
	}
	if (!perf_failover_ok(fo)) {
		fprintf(stderr, "respio-perf: FAILED: the failover did not run as it should "
				"(see the summary)\n");
		status = 1;
	}
	return status;
}

int main(int argc, char **argv)
{
	static struct options o;
	struct perf_result *rows;
	struct perf_failover *fo = NULL;
	struct sigaction sa = {.sa_handler = on_signal};
	char err[200], title[200];
	bool header = false;
	int nrows = 0, status = 0;
	uint64_t errors = 0;

	if (parse_args(argc, argv, &o) < 0) {
		usage(stderr);
		return 2;
	}
	perf_clock_init();
	perf_on_fatal(stop_server);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (o.hiredis && !perf_have_hiredis) {
		fprintf(stderr,
			"respio-perf: --compare hiredis: this build has no hiredis; install "
			"libhiredis-dev (apt-get install libhiredis-dev), then meson setup "
			"--reconfigure BUILDDIR\n");
		return 2;
	}

	if (o.pin_split) {
		int split = perf_pin_split(&o.pin, err, sizeof(err));

		if (split < 0) {
			fprintf(stderr, "respio-perf: %s\n", err);
			return 2;
		}
		if (split > 0)
			fprintf(stderr, "respio-perf: --pin: one CPU only, nothing pinned\n");
	}
	if (o.sc.nhosts) {
		o.w.sentinel = &o.sc;
		if (find_master(&o) < 0)
			return 2;
	}
	if (!o.w.host) {
		if (perf_server_start(&server, o.server_cmd,
				      o.pin.server ? &o.pin.server_cpus : NULL, err,
				      sizeof(err)) < 0) {
			fprintf(stderr, "respio-perf: %s\n", err);
			return 2;
		}
		o.w.host = "127.0.0.1";
		o.w.port = server.port;
		fprintf(stderr, "respio-perf: started %s on 127.0.0.1:%d (pid %d)\n",
			o.server_cmd ? o.server_cmd : "redis-server", server.port, (int)server.pid);
	}
	if (o.pin.server || o.pin.client) {
		char s_cpus[64] = "any", c_cpus[64] = "any";

		if (o.pin.server)
			perf_pin_format(&o.pin.server_cpus, s_cpus, sizeof(s_cpus));
		if (o.pin.client)
			perf_pin_format(&o.pin.client_cpus, c_cpus, sizeof(c_cpus));
		/* Before any client thread or peer process exists: they inherit it. */
		if (o.pin.client && perf_pin_self(&o.pin.client_cpus) < 0) {
			fprintf(stderr, "respio-perf: pinning the clients: %s\n", strerror(errno));
			perf_server_stop(&server);
			return 2;
		}
		fprintf(stderr, "respio-perf: server on CPUs %s, clients on CPUs %s\n", s_cpus,
			c_cpus);
	}
	default_shards(&o);
	if (o.failover_at >= 0) {
		struct perf_failover_opts fopts = {
		    .sentinel = &o.sc,
		    .password = o.w.password,
		    .old_host = o.w.host,
		    .old_port = o.w.port,
		    .at_s = o.failover_at,
		    .duration_s = o.w.duration_s,
		    .threads = o.threads[0],
		};

		/* INCR needs no key space. */
		if (!(fo = perf_failover_create(&fopts, err, sizeof(err))) ||
		    perf_failover_arm(fo, err, sizeof(err)) < 0) {
			fprintf(stderr, "respio-perf: %s\n", err);
			perf_failover_free(fo);
			perf_server_stop(&server);
			return 2;
		}
		o.w.failover = fo;
	} else {
		fprintf(stderr, "respio-perf: writing %u keys of %zu bytes%s\n", o.w.keys,
			o.w.dsize, o.rb ? ", and as many in redis-benchmark's names" : "");
	}
	if (!fo && perf_prefill(&o.w, o.rb, err, sizeof(err)) < 0) {
		fprintf(stderr, "respio-perf: %s\n", err);
		perf_server_stop(&server);
		return 2;
	}

	rows = calloc((size_t)(o.nthreads * o.ninflight * max_entries(&o)), sizeof(*rows));
	if (!rows) {
		perf_failover_free(fo);
		perf_server_stop(&server);
		return 2;
	}
	for (int t = 0; t < o.nthreads && !perf_interrupted; t++) {
		for (int k = 0; k < o.ninflight && !perf_interrupted; k++) {
			o.w.threads = o.threads[t];
			o.w.inflight = o.inflight[k];
			if (run_config(&o, &o.w, rows, &nrows, &header) < 0)
				status = 2;
		}
	}
	/* Across a failover errors are what is measured, not a failure. */
	for (int i = 0; i < nrows && !fo; i++)
		errors += rows[i].errors;

	/* With --csv, stdout carries only the CSV. */
	{
		FILE *f = o.csv ? stderr : stdout;

		if (nrows)
			perf_print_legend(f, rows, nrows);
		if (o.hiredis || o.rb) {
			fprintf(f, "\n");
			perf_print_ratios(f, rows, nrows);
		}
		perf_print_mixes(f, rows, nrows);
		if (o.blpop)
			perf_print_consumers(f, rows, nrows);
		if (o.connect)
			perf_print_connect(f, rows, nrows);
		if (o.tune) {
			fprintf(f, "\nrecommendation (--p99-budget-us %.0f):\n", o.budget_us);
			perf_tune_recommend(f, rows, nrows, o.budget_us);
		}
	}
	if (fo) {
		int st = failover_results(&o, fo);

		if (st && (!status || st == 1))
			status = st;
	} else if (o.plot && nrows) {
		snprintf(title, sizeof(title),
			 "respio-perf: %s:%d, GET:SET %u:%u, %zu-byte values, %u keys", o.w.host,
			 o.w.port, o.w.get_w, o.w.set_w, o.w.dsize, o.w.keys);
		if (perf_plot(o.plot, rows, nrows, title) == 0)
			fprintf(stderr, "respio-perf: wrote %s\n", o.plot);
		else if (!status)
			status = 2;
	}
	perf_server_stop(&server);
	perf_failover_free(fo);
	for (int i = 0; i < o.nlists; i++)
		free(o.sentinel_lists[i]);
	free(rows);
	if (perf_interrupted) {
		fprintf(stderr, "respio-perf: interrupted\n");
		return 130;
	}
	if (errors) {
		fprintf(stderr, "respio-perf: FAILED: %llu errors (wrong or failed replies)\n",
			(unsigned long long)errors);
		return 1;
	}
	return status;
}

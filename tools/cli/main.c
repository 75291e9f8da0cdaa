/* SPDX-License-Identifier: MIT */
/* respio-cli: a redis-cli work-alike on the blocking connection (respio_conn). */
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <respio/conn.h>

#include "format.h"
#include "split.h"

#ifndef RESPIO_CLI_VERSION
#define RESPIO_CLI_VERSION "0.0.0"
#endif

/*
 * Behaviour follows redis-cli 7.0 as observed by running it; where that
 * program is plainly broken (it cannot print RESP3 big numbers or
 * attributes, and hangs on rediss:// without TLS) we do the useful thing
 * instead. tests/test_cli.c compares both programs byte for byte.
 */

struct cli_conf {
	char *host;
	int port;
	char *user;
	char *pass;
	int db;
	int proto;	       /* 0: leave the server's default; 2 or 3: HELLO */
	int raw;	       /* -1: decide from stdout, 0 formatted, 1 raw */
	int show_pushes;       /* -1: decide from stdout */
	const char *mb_delim;  /* -d: between elements in raw mode */
	const char *cmd_delim; /* -D: between replies in raw mode */
	bool stdin_last;       /* -x */
	long long repeat;      /* -r; -1 forever */
	double interval;       /* -i, seconds */
	bool exit_on_error;    /* -e */
	bool no_auth_warning;
	bool pass_on_cmdline;
	char *sentinels;     /* --sentinel HOST:PORT[,HOST:PORT...] */
	char *master;	     /* --master NAME */
	char *sentinel_pass; /* --sentinel-password */
};

struct cli {
	struct cli_conf conf;
	respio_conn *conn;
	int cur_db; /* what the prompt shows; follows SELECT */
	bool raw;
	bool show_pushes;
	bool interactive; /* stdin is a terminal: prompt and reconnect */
};

enum run_result {
	RUN_OK = 0,
	RUN_ERROR_REPLY, /* server said -ERR; matters for -e */
	RUN_IO,		 /* no connection, or it broke */
};

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d) {
		fputs("respio-cli: out of memory\n", stderr);
		exit(1);
	}
	return d;
}

static void usage(FILE *f)
{
	fputs(
	    "respio-cli " RESPIO_CLI_VERSION "\n"
	    "\n"
	    "Usage: respio-cli [OPTIONS] [cmd [arg [arg ...]]]\n"
	    "  -h <hostname>      Server hostname (default: 127.0.0.1).\n"
	    "  -p <port>          Server port (default: 6379).\n"
	    "  -a <password>      Password to use when connecting to the server.\n"
	    "                     You can also use the REDISCLI_AUTH environment\n"
	    "                     variable to pass this password more safely\n"
	    "                     (if both are used, this argument takes precedence).\n"
	    "  --user <username>  Used to send ACL style 'AUTH username pass'. Needs -a.\n"
	    "  --pass <password>  Alias of -a for consistency with the new --user option.\n"
	    "  -u <uri>           Server URI: redis://[user[:password]@]host[:port][/db].\n"
	    "  -r <repeat>        Execute specified command N times (-1: forever).\n"
	    "  -i <interval>      When -r is used, waits <interval> seconds per command.\n"
	    "                     It is possible to specify sub-second times like -i 0.1.\n"
	    "  -n <db>            Database number.\n"
	    "  -2                 Start session in RESP2 protocol mode.\n"
	    "  -3                 Start session in RESP3 protocol mode.\n"
	    "  -x                 Read last argument from STDIN.\n"
	    "  -d <delimiter>     Delimiter between response bulks for raw formatting (default: "
	    "\\n).\n"
	    "  -D <delimiter>     Delimiter between responses for raw formatting (default: \\n).\n"
	    "  -e                 Return exit error code when command execution fails.\n"
	    "  --raw              Use raw formatting for replies (default when STDOUT is\n"
	    "                     not a tty).\n"
	    "  --no-raw           Force formatted output even when STDOUT is not a tty.\n"
	    "  --show-pushes <yn> Whether to print RESP3 PUSH messages.  Enabled by default when\n"
	    "                     STDOUT is a tty but can be overridden with --show-pushes no.\n"
	    "  --no-auth-warning  Don't show warning message when using password on command\n"
	    "                     line interface.\n"
	    "  --sentinel <h:p,...> Ask these Sentinels for the master's address (with\n"
	    "                     --master; -h and -p are then not used).\n"
	    "  --master <name>    The master's name, as the Sentinels monitor it.\n"
	    "  --sentinel-password <pw> The Sentinels' password (the data nodes use -a).\n"
	    "  --help             Output this help and exit.\n"
	    "  -v, --version      Output version and exit.\n"
	    "\n"
	    "Examples:\n"
	    "  cat /etc/passwd | respio-cli -x set mypasswd\n"
	    "  respio-cli -r 100 lpush mylist x\n"
	    "  respio-cli -3 hgetall myhash\n"
	    "\n"
	    "When no command is given, respio-cli starts in interactive mode (or, when\n"
	    "STDIN is not a terminal, runs the commands it reads from STDIN, one a line).\n"
	    "TLS, unix sockets, cluster mode and redis-cli's special modes (--scan,\n"
	    "--pipe, --stat, ...) are not supported.\n",
	    f);
}

/* Options redis-cli has that we do not: refuse them by name rather than
 * with the generic "unrecognized" message, so users know it is deliberate. */
static const char *const unsupported_opts[] = {
    "-s",
    "-c",
    "-X",
    "--tls",
    "--sni",
    "--cacert",
    "--cacertdir",
    "--insecure",
    "--cert",
    "--key",
    "--tls-ciphers",
    "--tls-ciphersuites",
    "--askpass",
    "--quoted-input",
    "--csv",
    "--json",
    "--quoted-json",
    "--stat",
    "--latency",
    "--latency-history",
    "--latency-dist",
    "--lru-test",
    "--replica",
    "--rdb",
    "--functions-rdb",
    "--pipe",
    "--pipe-timeout",
    "--bigkeys",
    "--memkeys",
    "--memkeys-samples",
    "--hotkeys",
    "--scan",
    "--pattern",
    "--quoted-pattern",
    "--intrinsic-latency",
    "--eval",
    "--ldb",
    "--ldb-sync-mode",
    "--cluster",
};

static int hexdigit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* %XX-decode s[0..len) into a new string (URIs carry odd passwords so). */
static char *percent_decode(const char *s, size_t len)
{
	char *d = malloc(len + 1);
	size_t n = 0;

	if (!d) {
		fputs("respio-cli: out of memory\n", stderr);
		exit(1);
	}
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len && hexdigit(s[i + 1]) >= 0 &&
		    hexdigit(s[i + 2]) >= 0) {
			d[n++] = (char)(hexdigit(s[i + 1]) * 16 + hexdigit(s[i + 2]));
			i += 2;
		} else {
			d[n++] = s[i];
		}
	}
	d[n] = '\0';
	return d;
}

/*
 * redis://[user[:pass]@]host[:port][/db]. Fields the URI leaves out keep
 * their current values, so "-p 7000 -u redis://host" uses port 7000.
 * As in redis-cli, userinfo without a colon is a password.
 */
static void parse_uri(struct cli_conf *conf, const char *uri)
{
	const char *p, *at, *end, *hend;
	size_t hlen;

	if (!strncasecmp(uri, "rediss://", 9)) {
		fputs("respio-cli: TLS is not supported (rediss:// URI); use redis://\n", stderr);
		exit(1);
	}
	if (strncasecmp(uri, "redis://", 8)) {
		fputs("Invalid URI scheme\n", stderr);
		exit(1);
	}
	p = uri + 8;
	end = p + strcspn(p, "/");
	at = memrchr(p, '@', (size_t)(end - p));
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));

		free(conf->user);
		free(conf->pass);
		conf->user = NULL;
		if (colon) {
			/* An empty user ("redis://:pw@host") means the default
			 * user, as in the URI scheme's registration. */
			if (colon > p)
				conf->user = percent_decode(p, (size_t)(colon - p));
			conf->pass = percent_decode(colon + 1, (size_t)(at - colon - 1));
		} else {
			conf->pass = percent_decode(p, (size_t)(at - p));
		}
		conf->pass_on_cmdline = true;
		p = at + 1;
	}
	if (*p == '[') {
		/* [::1]:6379 */
		hend = memchr(p, ']', (size_t)(end - p));
		if (!hend) {
			fprintf(stderr, "Invalid URI host: %s\n", uri);
			exit(1);
		}
		hlen = (size_t)(hend - p - 1);
		p++;
		hend++;
	} else {
		hend = p + strcspn(p, ":/");
		hlen = (size_t)(hend - p);
	}
	if (hlen) {
		free(conf->host);
		conf->host = strndup(p, hlen);
	}
	if (*hend == ':')
		conf->port = atoi(hend + 1);
	if (*end == '/' && end[1])
		conf->db = atoi(end + 1);
}

static bool yes_no(const char *s, bool *out)
{
	if (!strcasecmp(s, "y") || !strcasecmp(s, "yes")) {
		*out = true;
		return true;
	}
	if (!strcasecmp(s, "n") || !strcasecmp(s, "no")) {
		*out = false;
		return true;
	}
	return false;
}

static void bad_option(const char *opt)
{
	fprintf(stderr, "Unrecognized option or bad number of args for: '%s'\n", opt);
	exit(1);
}

/* Returns the index of the first argument that is not an option. */
static int parse_options(struct cli_conf *conf, int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *o = argv[i];
		bool has_arg = i + 1 < argc;
		bool yn;

		if (o[0] != '-')
			break;
		if (!strcmp(o, "-h") && has_arg) {
			free(conf->host);
			conf->host = xstrdup(argv[++i]);
		} else if (!strcmp(o, "-p") && has_arg) {
			conf->port = atoi(argv[++i]);
		} else if ((!strcmp(o, "-a") || !strcmp(o, "--pass")) && has_arg) {
			free(conf->pass);
			conf->pass = xstrdup(argv[++i]);
			conf->pass_on_cmdline = true;
		} else if (!strcmp(o, "--user") && has_arg) {
			free(conf->user);
			conf->user = xstrdup(argv[++i]);
		} else if (!strcmp(o, "-u") && has_arg) {
			parse_uri(conf, argv[++i]);
		} else if (!strcmp(o, "-n") && has_arg) {
			conf->db = atoi(argv[++i]);
		} else if (!strcmp(o, "-2")) {
			conf->proto = 2;
		} else if (!strcmp(o, "-3")) {
			conf->proto = 3;
		} else if (!strcmp(o, "--raw")) {
			conf->raw = 1;
		} else if (!strcmp(o, "--no-raw")) {
			conf->raw = 0;
		} else if (!strcmp(o, "-x")) {
			conf->stdin_last = true;
		} else if (!strcmp(o, "-e")) {
			conf->exit_on_error = true;
		} else if (!strcmp(o, "-r") && has_arg) {
			conf->repeat = strtoll(argv[++i], NULL, 10);
		} else if (!strcmp(o, "-i") && has_arg) {
			conf->interval = strtod(argv[++i], NULL);
		} else if (!strcmp(o, "-d") && has_arg) {
			conf->mb_delim = argv[++i];
		} else if (!strcmp(o, "-D") && has_arg) {
			conf->cmd_delim = argv[++i];
		} else if (!strcmp(o, "--show-pushes") && has_arg) {
			if (!yes_no(argv[++i], &yn)) {
				fprintf(
				    stderr,
				    "Unknown --show-pushes value '%s' (valid: '[y]es', '[n]o')\n",
				    argv[i]);
				exit(1);
			}
			conf->show_pushes = yn;
		} else if (!strcmp(o, "--sentinel") && has_arg) {
			free(conf->sentinels);
			conf->sentinels = xstrdup(argv[++i]);
		} else if (!strcmp(o, "--master") && has_arg) {
			free(conf->master);
			conf->master = xstrdup(argv[++i]);
		} else if (!strcmp(o, "--sentinel-password") && has_arg) {
			free(conf->sentinel_pass);
			conf->sentinel_pass = xstrdup(argv[++i]);
		} else if (!strcmp(o, "--no-auth-warning")) {
			conf->no_auth_warning = true;
		} else if (!strcmp(o, "--verbose")) {
			/* Only affects cluster mode in redis-cli. */
		} else if (!strcmp(o, "--help")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(o, "-v") || !strcmp(o, "--version")) {
			printf("respio-cli %s\n", RESPIO_CLI_VERSION);
			exit(0);
		} else {
			for (size_t k = 0; k < sizeof(unsupported_opts) / sizeof(*unsupported_opts);
			     k++) {
				if (!strcmp(o, unsupported_opts[k])) {
					fprintf(stderr,
						"respio-cli: option '%s' is not supported\n", o);
					exit(1);
				}
			}
			bad_option(o);
		}
	}
	return i;
}

/* Flush stdout; if the reader went away there is nobody left to talk to. */
static void emit(const char *p, size_t len)
{
	if ((len && fwrite(p, 1, len, stdout) != len) || fflush(stdout) != 0)
		exit(1);
}

static void emit_str(const char *s)
{
	emit(s, strlen(s));
}

/* "Connection refused", "Name or service not known", ... for connect. */
static void print_connect_error(struct cli *cli, int err)
{
	char msg[256];

	if (err == RESPIO_E_RESOLVE) {
		/* The library folds every resolver failure into one code;
		 * ask the resolver again for the words redis-cli shows. */
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
		int g = getaddrinfo(cli->conf.host, NULL, &hints, &res);

		if (res)
			freeaddrinfo(res);
		snprintf(msg, sizeof(msg), "%s", g ? gai_strerror(g) : respio_strerror(err));
	} else if (err > -30000) {
		snprintf(msg, sizeof(msg), "%s", strerror(-err));
	} else {
		const char *d = cli->conn ? respio_conn_errdetail(cli->conn) : "";

		snprintf(msg, sizeof(msg), "%s", *d ? d : respio_strerror(err));
	}
	fprintf(stderr, "Could not connect to Redis at %s:%d: %s\n", cli->conf.host, cli->conf.port,
		msg);
}

/* The text of an error reply (or of the failure when there is none). */
static const char *reply_text(const respio_reply *r, struct cli *cli, int rc)
{
	const char *s = r ? respio_reply_str(r, NULL) : NULL;

	if (s)
		return s;
	s = respio_conn_errdetail(cli->conn);
	return *s ? s : respio_strerror(rc);
}

/*
 * One handshake step (AUTH, SELECT, HELLO). Returns 0 when the server
 * accepted it, 1 when it refused (message printed with prefix, the
 * session goes on without it, as redis-cli does), -1 when the connection
 * failed.
 */
static int handshake_step(struct cli *cli, int argc, const char *const *argv, const char *prefix)
{
	respio_reply *r = NULL;
	int rc = respio_conn_command(cli->conn, argc, argv, NULL, &r);

	if (rc == 0) {
		respio_reply_free(r);
		return 0;
	}
	if (rc == RESPIO_E_SERVER) {
		fprintf(stderr, "%s failed: %s\n", prefix, reply_text(r, cli, rc));
		respio_reply_free(r);
		return 1;
	}
	print_connect_error(cli, rc);
	return -1;
}

/*
 * Connect and authenticate. The library could run AUTH/SELECT/HELLO
 * itself, but it reports a refused step as one failed connect; redis-cli
 * instead prints "AUTH failed: ..." and carries on, which users rely on
 * (and the tests compare), so the CLI sends these itself and asks the
 * library for a bare connection. The same reason means a lost connection
 * must be re-established here, never by the library's lazy reconnect.
 */
/* --sentinel: where the master is now, into conf's host and port. */
static int ask_sentinels(struct cli_conf *conf)
{
	const char *hosts[16];
	char *list = xstrdup(conf->sentinels), *save = NULL, host[256];
	respio_sentinel_config sc = {
	    .hosts = hosts, .master_name = conf->master, .password = conf->sentinel_pass};
	int rc;

	for (char *h = strtok_r(list, ",", &save); h && sc.nhosts < 16;
	     h = strtok_r(NULL, ",", &save))
		hosts[sc.nhosts++] = h;
	rc = respio_sentinel_get_master(&sc, host, sizeof(host), &conf->port);
	free(list);
	if (rc < 0) {
		fprintf(stderr, "respio-cli: Sentinel: %s\n", respio_strerror(rc));
		return -1;
	}
	free(conf->host);
	conf->host = xstrdup(host);
	return 0;
}

static int cli_connect(struct cli *cli)
{
	respio_config cfg;
	char dbs[24];
	int rc;

	if (cli->conf.sentinels && !cli->conn) {
		if (!cli->conf.master) {
			fputs("respio-cli: --sentinel needs --master NAME\n", stderr);
			return -1;
		}
		if (ask_sentinels(&cli->conf) < 0)
			return -1;
	}
	if (!cli->conn) {
		respio_config_init(&cfg);
		cfg.host = cli->conf.host;
		cfg.port = cli->conf.port;
		cfg.protocol = 2;
		/* Like redis-cli: BLPOP 0 and SUBSCRIBE wait as long as it takes. */
		cfg.timeout_ms = -1;
		cfg.connect_timeout_ms = 0;
		rc = respio_conn_create(&cfg, &cli->conn);
		if (rc < 0) {
			fprintf(stderr, "respio-cli: %s\n", respio_strerror(rc));
			return -1;
		}
	}
	rc = respio_conn_connect(cli->conn);
	if (rc < 0) {
		print_connect_error(cli, rc);
		respio_conn_disconnect(cli->conn);
		return -1;
	}
	cli->cur_db = 0;
	if (cli->conf.pass) {
		const char *user_argv[] = {"AUTH", cli->conf.user, cli->conf.pass};
		const char *pass_argv[] = {"AUTH", cli->conf.pass};

		if (cli->conf.user)
			rc = handshake_step(cli, 3, user_argv, "AUTH");
		else
			rc = handshake_step(cli, 2, pass_argv, "AUTH");
		if (rc < 0)
			return -1;
	}
	if (cli->conf.db) {
		const char *argv[] = {"SELECT", dbs};
		char prefix[40];

		snprintf(dbs, sizeof(dbs), "%d", cli->conf.db);
		snprintf(prefix, sizeof(prefix), "SELECT %d", cli->conf.db);
		rc = handshake_step(cli, 2, argv, prefix);
		if (rc < 0)
			return -1;
		if (rc == 0)
			cli->cur_db = cli->conf.db;
	}
	if (cli->conf.proto) {
		const char *argv[] = {"HELLO", cli->conf.proto == 3 ? "3" : "2"};

		rc = handshake_step(cli, 2, argv, cli->conf.proto == 3 ? "HELLO 3" : "HELLO 2");
		if (rc < 0)
			return -1;
	}
	return 0;
}

static void print_reply(struct cli *cli, const respio_reply *r)
{
	struct cli_buf b = {0};

	if (cli->raw) {
		cli_format_raw(&b, r, cli->conf.mb_delim);
		cli_buf_adds(&b, cli->conf.cmd_delim);
	} else {
		cli_format_tty(&b, r);
	}
	emit(b.p, b.len);
	cli_buf_free(&b);
}

/* A reply to print as the result of a command: with -e an error goes to
 * stderr, bare, and makes the exit code 1. */
static enum run_result print_result(struct cli *cli, const respio_reply *r)
{
	if (respio_reply_type(r) == RESPIO_REPLY_ERROR && cli->conf.exit_on_error) {
		size_t len = 0;
		const char *s = respio_reply_str(r, &len);

		fwrite(s, 1, len, stderr);
		fputc('\n', stderr);
		return RUN_ERROR_REPLY;
	}
	print_reply(cli, r);
	return respio_reply_type(r) == RESPIO_REPLY_ERROR ? RUN_ERROR_REPLY : RUN_OK;
}

static void print_io_error(struct cli *cli, int rc)
{
	const char *d = respio_conn_errdetail(cli->conn);

	if (rc == RESPIO_E_CLOSED)
		fputs("Error: Server closed the connection\n", stderr);
	else if (rc > -30000)
		fprintf(stderr, "Error: %s\n", strerror(-rc));
	else if (rc == RESPIO_E_PROTOCOL && !strncmp(d, "protocol error", 14))
		fprintf(stderr, "Error: Protocol error%s\n", d + 14);
	else
		fprintf(stderr, "Error: %s\n", *d ? d : respio_strerror(rc));
	respio_conn_disconnect(cli->conn);
}

static bool is_cmd(const char *arg, const char *name)
{
	return !strcasecmp(arg, name);
}

/*
 * Send one command and print what comes back. SUBSCRIBE-like commands and
 * MONITOR then keep printing whatever the server sends until the
 * connection ends (or the user presses Ctrl-C), as redis-cli does.
 */
static enum run_result run_command(struct cli *cli, int argc, char **argv, const size_t *lens)
{
	const char *const *cargv = (const char *const *)argv;
	bool subscribe = is_cmd(argv[0], "subscribe") || is_cmd(argv[0], "psubscribe") ||
			 is_cmd(argv[0], "ssubscribe");
	bool monitor = is_cmd(argv[0], "monitor");
	bool shutdown = is_cmd(argv[0], "shutdown");
	enum run_result res;
	respio_reply *r = NULL;
	int rc;

	if (!respio_conn_is_connected(cli->conn) && cli_connect(cli) < 0)
		return RUN_IO;
	rc = respio_conn_append(cli->conn, argc, cargv, lens);
	if (rc == 0)
		rc = respio_conn_flush(cli->conn);
	if (rc < 0) {
		print_io_error(cli, rc);
		return RUN_IO;
	}
	if (subscribe && !cli->raw)
		emit_str("Reading messages... (press Ctrl-C to quit)\n");
	for (;;) {
		rc = respio_conn_read_reply(cli->conn, -1, &r);
		if (rc < 0 && rc != RESPIO_E_SERVER) {
			/* SHUTDOWN succeeds by closing the connection. */
			if (shutdown && rc == RESPIO_E_CLOSED) {
				respio_conn_disconnect(cli->conn);
				return RUN_OK;
			}
			print_io_error(cli, rc);
			return RUN_IO;
		}
		/* RESP3 out-of-band data (e.g. invalidations) ahead of the
		 * reply; a subscribe's own confirmation is a push, too. */
		if (respio_reply_type(r) == RESPIO_REPLY_PUSH && !subscribe) {
			if (cli->show_pushes)
				print_reply(cli, r);
			respio_reply_free(r);
			continue;
		}
		break;
	}
	res = print_result(cli, r);
	if (res == RUN_OK && argc == 2 && is_cmd(argv[0], "select"))
		cli->cur_db = atoi(argv[1]);
	if (res == RUN_OK && is_cmd(argv[0], "auth") && (argc == 2 || argc == 3)) {
		/* Remember for reconnects, as redis-cli does. */
		free(cli->conf.user);
		free(cli->conf.pass);
		cli->conf.user = argc == 3 ? xstrdup(argv[1]) : NULL;
		cli->conf.pass = xstrdup(argv[argc - 1]);
	}
	respio_reply_free(r);
	if (res != RUN_OK || (!subscribe && !monitor))
		return res;

	for (;;) {
		rc = respio_conn_read_reply(cli->conn, -1, &r);
		if (rc < 0 && rc != RESPIO_E_SERVER) {
			print_io_error(cli, rc);
			return RUN_IO;
		}
		print_reply(cli, r);
		respio_reply_free(r);
	}
}

static void sleep_seconds(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Run argv conf.repeat times; the exit code of one-shot mode. */
static int one_shot(struct cli *cli, int argc, char **argv, size_t *lens)
{
	for (long long n = 0; cli->conf.repeat < 0 || n < cli->conf.repeat; n++) {
		enum run_result res = run_command(cli, argc, argv, lens);

		if (res == RUN_IO)
			return 1;
		/* With -e the first failing command ends the run. */
		if (res == RUN_ERROR_REPLY && cli->conf.exit_on_error)
			return 1;
		if (cli->conf.repeat < 0 || n + 1 < cli->conf.repeat)
			sleep_seconds(cli->conf.interval);
	}
	return 0;
}

static void print_prompt(struct cli *cli)
{
	char p[300];

	if (!respio_conn_is_connected(cli->conn))
		snprintf(p, sizeof(p), "not connected> ");
	else if (cli->cur_db)
		snprintf(p, sizeof(p), "%s:%d[%d]> ", cli->conf.host, cli->conf.port, cli->cur_db);
	else
		snprintf(p, sizeof(p), "%s:%d> ", cli->conf.host, cli->conf.port);
	emit_str(p);
}

/* "connect host port": drop the current connection and use another. */
static void repl_connect(struct cli *cli, const struct cli_args *a)
{
	if (a->argc != 3) {
		emit_str("(error) ERR wrong number of arguments for 'connect' command\n");
		return;
	}
	free(cli->conf.host);
	cli->conf.host = xstrdup(a->argv[1]);
	cli->conf.port = atoi(a->argv[2]);
	respio_conn_destroy(cli->conn);
	cli->conn = NULL;
	cli_connect(cli);
}

/* "3 ping": a leading number repeats the rest of the line. Returns the
 * count (1 when there is none), or 0 when the number is not positive. */
static long long repeat_prefix(struct cli_args *a)
{
	char *end;
	long long n;

	if (a->argc < 2 || !a->lens[0])
		return 1;
	errno = 0;
	n = strtoll(a->argv[0], &end, 10);
	if (*end || errno)
		return 1;
	if (n <= 0)
		return 0;
	free(a->argv[0]);
	memmove(a->argv, a->argv + 1, sizeof(*a->argv) * (size_t)(a->argc - 1));
	memmove(a->lens, a->lens + 1, sizeof(*a->lens) * (size_t)(a->argc - 1));
	a->argc--;
	return n;
}

/*
 * The prompt, or (stdin not a terminal) commands read line by line. A
 * broken connection is reported and re-established before the next
 * command, as in redis-cli; nothing here ever exits non-zero except a
 * closed stdout.
 */
static int repl(struct cli *cli)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	cli_connect(cli);
	for (;;) {
		struct cli_args a;
		long long times;

		if (cli->interactive)
			print_prompt(cli);
		len = getline(&line, &cap, stdin);
		if (len < 0)
			break;
		if (len > 0 && line[len - 1] == '\n')
			len--;
		if (cli_split_line(line, (size_t)len, &a) < 0) {
			emit_str("Invalid argument(s)\n");
			continue;
		}
		if (a.argc == 0) {
			cli_args_free(&a);
			continue;
		}
		if (is_cmd(a.argv[0], "quit") || is_cmd(a.argv[0], "exit")) {
			cli_args_free(&a);
			break;
		}
		if (is_cmd(a.argv[0], "connect")) {
			repl_connect(cli, &a);
			cli_args_free(&a);
			continue;
		}
		if (cli->interactive && a.argc == 1 && is_cmd(a.argv[0], "clear")) {
			emit_str("\x1b[H\x1b[2J");
			cli_args_free(&a);
			continue;
		}
		times = repeat_prefix(&a);
		if (times == 0)
			emit_str("Invalid redis-cli repeat command option value.\n");
		for (long long i = 0; i < times; i++) {
			if (run_command(cli, a.argc, a.argv, a.lens) == RUN_IO)
				break;
		}
		cli_args_free(&a);
	}
	free(line);
	if (cli->interactive && len < 0)
		emit_str("\n");
	return 0;
}

/* -x: all of stdin, bytes as they are (no newline trimming). */
static char *read_stdin(size_t *len)
{
	struct cli_buf b = {0};
	char chunk[65536];
	size_t n;

	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		cli_buf_add(&b, chunk, n);
	cli_buf_add(&b, "", 0);
	*len = b.len;
	return b.p;
}

static void cli_free(struct cli *cli)
{
	respio_conn_destroy(cli->conn);
	free(cli->conf.host);
	free(cli->conf.user);
	free(cli->conf.pass);
	free(cli->conf.sentinels);
	free(cli->conf.master);
	free(cli->conf.sentinel_pass);
}

int main(int argc, char **argv)
{
	struct cli cli = {0};
	bool stdout_tty;
	char **cargv;
	size_t *lens;
	int first, n, status;

	cli.conf.host = xstrdup("127.0.0.1");
	cli.conf.port = 6379;
	cli.conf.raw = -1;
	cli.conf.show_pushes = -1;
	cli.conf.mb_delim = "\n";
	cli.conf.cmd_delim = "\n";
	cli.conf.repeat = 1;
	first = parse_options(&cli.conf, argc, argv);

	if (!cli.conf.pass && getenv("REDISCLI_AUTH"))
		cli.conf.pass = xstrdup(getenv("REDISCLI_AUTH"));
	else if (cli.conf.pass && cli.conf.pass_on_cmdline && !cli.conf.no_auth_warning)
		fputs("Warning: Using a password with '-a' or '-u' option on the command line "
		      "interface may not be safe.\n",
		      stderr);

	/* FAKETTY is redis-cli's switch for testing tty output through a pipe. */
	stdout_tty = isatty(STDOUT_FILENO) || getenv("FAKETTY");
	cli.raw = cli.conf.raw < 0 ? !stdout_tty : cli.conf.raw;
	cli.show_pushes = cli.conf.show_pushes < 0 ? stdout_tty : cli.conf.show_pushes;
	cli.interactive = isatty(STDIN_FILENO);

	/* A dead socket must surface as an error, and a closed stdout is
	 * handled in emit(); neither should kill us silently. */
	signal(SIGPIPE, SIG_IGN);

	n = argc - first;
	if (n == 0) {
		status = repl(&cli);
		cli_free(&cli);
		return status;
	}

	cargv = calloc((size_t)n + 1, sizeof(*cargv));
	lens = calloc((size_t)n + 1, sizeof(*lens));
	if (!cargv || !lens) {
		fputs("respio-cli: out of memory\n", stderr);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		cargv[i] = argv[first + i];
		lens[i] = strlen(cargv[i]);
	}
	if (cli.conf.stdin_last) {
		cargv[n] = read_stdin(&lens[n]);
		n++;
	}
	if (cli_connect(&cli) < 0)
		status = 1;
	else
		status = one_shot(&cli, n, cargv, lens);
	if (cli.conf.stdin_last)
		free(cargv[n - 1]);
	free(cargv);
	free(lens);
	cli_free(&cli);
	return status;
}

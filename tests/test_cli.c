/* SPDX-License-Identifier: MIT */
/* respio-cli against the real redis-cli: same arguments, byte-identical output. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sentinel_topology.h"
#include "server.h"

/*
 * Every comparison runs redis-cli and $RESPIO_CLI with the same argv and
 * stdin, stdout and stderr going to separate files (so buffering cannot
 * reorder them), and asserts that both streams and the exit status are
 * identical. Each process is killed if it outlives its deadline, so a hang
 * fails the test instead of stalling the run.
 */

#define MAX_ARGS       160
#define RUN_TIMEOUT_MS 10000

static test_server srv;
static test_server srv_pass; /* requirepass, for the AUTH tests that need it */
static char port_s[16];

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

struct proc {
	pid_t pid;
	char in[64], out[64], err[64];
};

struct result {
	char *out, *err;
	size_t outlen, errlen;
	int status; /* exit code, or 128 + signal */
};

static void result_free(struct result *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

static int temp_file(char *path, size_t cap)
{
	int fd;

	snprintf(path, cap, "/tmp/respio-cli-test-XXXXXX");
	fd = mkstemp(path);
	cr_assert(fd >= 0, "mkstemp: %s", strerror(errno));
	return fd;
}

/* Start argv with stdin from in[0..inlen) (empty when in is NULL). */
static void proc_start(struct proc *p, const char *const *argv, const char *in, size_t inlen)
{
	int fin = temp_file(p->in, sizeof(p->in));
	int fout = temp_file(p->out, sizeof(p->out));
	int ferr = temp_file(p->err, sizeof(p->err));

	if (inlen)
		cr_assert_eq(write(fin, in, inlen), (ssize_t)inlen);
	lseek(fin, 0, SEEK_SET);
	p->pid = fork();
	cr_assert(p->pid >= 0);
	if (p->pid == 0) {
		dup2(fin, 0);
		dup2(fout, 1);
		dup2(ferr, 2);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fin);
	close(fout);
	close(ferr);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, got;

	*len = 0;
	if (!f)
		return calloc(1, 1);
	do {
		if (cap - n < 4096) {
			cap = cap * 2 + 4096;
			buf = realloc(buf, cap + 1);
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Wait until the process exits; at deadline (absolute ms) send sig. */
static void proc_finish(struct proc *p, long long deadline, int sig, struct result *r)
{
	int status = 0;

	for (;;) {
		pid_t w = waitpid(p->pid, &status, WNOHANG);

		if (w == p->pid)
			break;
		if (now_ms() >= deadline) {
			kill(p->pid, sig);
			/* Bounded: a process ignoring sig gets SIGKILL. */
			deadline = now_ms() + 2000;
			sig = SIGKILL;
		}
		usleep(2000);
	}
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	r->out = slurp(p->out, &r->outlen);
	r->err = slurp(p->err, &r->errlen);
	unlink(p->in);
	unlink(p->out);
	unlink(p->err);
}

static void run(const char *const *argv, const char *in, size_t inlen, struct result *r)
{
	struct proc p;

	proc_start(&p, argv, in, inlen);
	proc_finish(&p, now_ms() + RUN_TIMEOUT_MS, SIGKILL, r);
}

/* Printable rendering of bytes for failure messages. */
static char *show(const char *s, size_t len)
{
	char *o = malloc(len * 4 + 1), *q = o;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n')
			q += sprintf(q, "\\n");
		else if (c >= 0x20 && c < 0x7f && c != '\\')
			*q++ = (char)c;
		else
			q += sprintf(q, "\\x%02x", c);
	}
	*q = '\0';
	return o;
}

static char *join(const char *const *argv)
{
	static char buf[4096];
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; argv[i] && n < sizeof(buf) - 1; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s'%s'", i ? " " : "", argv[i]);
	return buf;
}

static const char *respio_cli(void)
{
	const char *p = getenv("RESPIO_CLI");

	if (!p || !*p)
		cr_skip_test("RESPIO_CLI is not set (meson test sets it)");
	return p;
}

static void assert_same_bytes(const char *what, const char *const *argv, const char *a, size_t alen,
			      const char *b, size_t blen)
{
	if (alen == blen && !memcmp(a, b, alen))
		return;
	char *sa = show(a, alen), *sb = show(b, blen);

	cr_expect_fail("%s differs for %s\n redis-cli: \"%s\"\nrespio-cli: \"%s\"", what,
		       join(argv), sa, sb);
	free(sa);
	free(sb);
}

/* Build "<prog> opts... args..." into out (NULL-terminated). */
static void build_argv(const char **out, const char *prog, const char *const *opts,
		       const char *const *args)
{
	int n = 0;

	out[n++] = prog;
	for (int i = 0; opts && opts[i]; i++)
		out[n++] = opts[i];
	for (int i = 0; args && args[i]; i++) {
		cr_assert(n < MAX_ARGS - 1);
		out[n++] = args[i];
	}
	out[n] = NULL;
}

/* Run both programs with opts + args and stdin; assert identical results. */
static void compare_in(const char *const *opts, const char *const *args, const char *in,
		       size_t inlen)
{
	const char *a[MAX_ARGS], *b[MAX_ARGS];
	struct result ra, rb;

	build_argv(a, "redis-cli", opts, args);
	build_argv(b, respio_cli(), opts, args);
	run(a, in, inlen, &ra);
	run(b, in, inlen, &rb);
	assert_same_bytes("stdout", a, ra.out, ra.outlen, rb.out, rb.outlen);
	assert_same_bytes("stderr", a, ra.err, ra.errlen, rb.err, rb.errlen);
	cr_expect_eq(ra.status, rb.status,
		     "exit status differs for %s: redis-cli %d, respio-cli %d", join(a), ra.status,
		     rb.status);
	result_free(&ra);
	result_free(&rb);
}

static void compare(const char *const *opts, const char *const *args)
{
	compare_in(opts, args, NULL, 0);
}

/* Run redis-cli -p PORT args to prepare data; it must succeed. */
static void redis(const char *const *args, const char *in, size_t inlen)
{
	const char *opts[] = {"-p", port_s, NULL};
	const char *a[MAX_ARGS];
	struct result r;

	build_argv(a, "redis-cli", opts, args);
	run(a, in, inlen, &r);
	cr_assert_eq(r.status, 0, "setup %s failed: %s", join(a), r.err);
	result_free(&r);
}

static const char binary_value[] = "a\0b\x01\x7f\x80\xff\\\"\a\b\t\n\r\v\f\x1b end";

static void load_data(void)
{
	const char *big[130] = {"rpush", "biglist"};
	char nums[120][8];

	redis((const char *[]){"set", "str", "hello world", NULL}, NULL, 0);
	redis((const char *[]){"-x", "set", "bin", NULL}, binary_value, sizeof(binary_value) - 1);
	for (int i = 0; i < 120; i++) {
		snprintf(nums[i], sizeof(nums[i]), "%d", i + 1);
		big[2 + i] = nums[i];
	}
	big[122] = NULL;
	redis(big, NULL, 0);
	redis((const char *[]){"rpush", "l12", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j",
			       "k", "l", NULL},
	      NULL, 0);
	redis((const char *[]){"rpush", "binlist", "line\nbreak", "tab\tx", "quote\"", "",
			       "caf\xc3\xa9", "back\\slash", NULL},
	      NULL, 0);
	redis((const char *[]){"hset", "h", "f1", "v1", "f2", "v2", "f3", "with space", NULL}, NULL,
	      0);
	redis((const char *[]){"hset", "h12", "a", "1",	 "b", "2",  "c", "3",  "d",
			       "4",    "e",   "5", "f",	 "6", "g",  "7", "h",  "8",
			       "i",    "9",   "j", "10", "k", "11", "l", "12", NULL},
	      NULL, 0);
	redis((const char *[]){"zadd", "z", "1.5", "a", "2", "b", "1e100", "c", "-inf", "d", NULL},
	      NULL, 0);
	redis((const char *[]){"sadd", "s12", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10",
			       "11", "12", NULL},
	      NULL, 0);
	redis((const char *[]){"xadd", "st", "1-1", "f", "v", "g", "w", NULL}, NULL, 0);
	redis((const char *[]){"xadd", "st", "2-1", "f", "x", NULL}, NULL, 0);
	redis((const char *[]){"-n", "3", "set", "k", "in-db-3", NULL}, NULL, 0);
}

static void setup(void)
{
	const char *extra[] = {"enable-debug-command yes", "user bob on >pw ~* +@all", NULL};

	/* Both programs must see the same environment, and neither may be
	 * told to pretend stdout is a terminal. */
	unsetenv("FAKETTY");
	unsetenv("REDISCLI_AUTH");
	if (!test_have_redis_server() || system("command -v redis-cli >/dev/null 2>&1") != 0)
		cr_skip_test("redis-server or redis-cli is not installed");
	respio_cli();
	cr_assert_eq(test_server_start(&srv, extra), 0, "redis-server did not start");
	snprintf(port_s, sizeof(port_s), "%d", srv.port);
	load_data();
}

static void teardown(void)
{
	test_server_stop(&srv);
	test_server_stop(&srv_pass);
}

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 300);

#define R3 "redis.setresp(3); "

/* Commands whose replies cover every type, nesting and escaping case. */
static const char *const reply_cmds[][8] = {
    {"ping"},
    {"ping", "hello there"},
    {"echo", ""},
    {"echo", "caf\xc3\xa9 \"quoted\" back\\slash"},
    {"get", "str"},
    {"get", "nokey"},
    {"get", "bin"},
    {"strlen", "bin"},
    {"exists", "str", "nokey"},
    {"type", "h"},
    {"ttl", "str"},
    {"mget", "str", "nokey", "bin"},
    {"lrange", "binlist", "0", "-1"},
    {"lrange", "l12", "0", "-1"},
    {"lrange", "biglist", "0", "-1"},
    {"lrange", "nokey", "0", "-1"},
    {"smembers", "nokey"},
    {"smembers", "s12"},
    {"hgetall", "nokey"},
    {"hgetall", "h"},
    {"hgetall", "h12"},
    {"zrange", "z", "0", "-1", "withscores"},
    {"zscore", "z", "a"},
    {"zscore", "z", "d"},
    {"xrange", "st", "-", "+"},
    {"config", "get", "maxmemory*"},
    {"command", "info", "get"},
    {"command", "docs", "get"},
    {"foo", "bar"},
    {"get"},
    {"incr", "str"},
    {"lpush", "str", "x"},
    {"debug", "protocol", "string"},
    {"debug", "protocol", "integer"},
    {"debug", "protocol", "double"},
    {"debug", "protocol", "true"},
    {"debug", "protocol", "false"},
    {"debug", "protocol", "null"},
    {"debug", "protocol", "array"},
    {"debug", "protocol", "map"},
    {"debug", "protocol", "set"},
    {"debug", "protocol", "verbatim"},
    {"debug", "protocol", "push"},
    {"eval",
     "return {1,2,{3,'x',{4,{}}},{},'a','b','c','d','e','f','g',"
     "{'h',{'i','j','k','l','m','n','o','p','q','r','s'}}}",
     "0"},
    {"eval", "return {1,redis.error_reply('boom'),3}", "0"},
    {"eval", "return redis.status_reply('FINE')", "0"},
    {"eval", "return {true,false,{}}", "0"},
    {"eval",
     R3 "return {map={a={map={b={1,2,3}}}, c={ {1,2} }, d={set={'x'}}, e={double=1.5}, "
	"f={map={g={map={h=1,i=2}}}} }}",
     "0"},
    {"eval", R3 "return {map={a={verbatim_string={format='txt',string='hi\\nthere'}}}}", "0"},
    {"eval", R3 "return {1,{verbatim_string={format='txt',string='hi\\nthere'}}}", "0"},
    {"eval", R3 "return {map={a={ {1} }, b={map={}}, c={ {} }}}", "0"},
    {"eval", R3 "return {map={a={map={b={map={c={1,2}}}}}}}", "0"},
    {"eval", R3 "return {map={a={map={b={map={c=1}}}}}}", "0"},
    {"eval",
     R3 "local m = {} for i = 1, 12 do m['k' .. i] = {i, i * 2} end "
	"return {map={outer={map=m}}}",
     "0"},
    {"eval", R3 "return {double=1/0}", "0"},
    {"eval", R3 "return {double=-1/0}", "0"},
    {"eval", R3 "return {double=0.25}", "0"},
    {"eval", R3 "return {set={}}", "0"},
};

static void compare_replies(const char *const *opts)
{
	for (size_t i = 0; i < sizeof(reply_cmds) / sizeof(reply_cmds[0]); i++)
		compare(opts, reply_cmds[i]);
}

Test(cli, replies_default_output)
{
	/* stdout is a file here: both pick raw output on their own. */
	compare_replies((const char *[]){"-p", port_s, NULL});
}

Test(cli, replies_raw_resp2)
{
	compare_replies((const char *[]){"-p", port_s, "--raw", "-2", NULL});
}

Test(cli, replies_raw_resp3)
{
	compare_replies((const char *[]){"-p", port_s, "--raw", "-3", NULL});
}

Test(cli, replies_formatted_resp2)
{
	compare_replies((const char *[]){"-p", port_s, "--no-raw", "-2", NULL});
}

Test(cli, replies_formatted_resp3)
{
	compare_replies((const char *[]){"-p", port_s, "--no-raw", "-3", NULL});
}

Test(cli, delimiters_pushes_and_exit_codes)
{
	const char *const *cases[][2] = {
	    {(const char *[]){"-d", ",", "--raw", NULL},
	     (const char *[]){"lrange", "l12", "0", "-1", NULL}},
	    {(const char *[]){"-D", "XX", "-d", "|", "--raw", "-3", NULL},
	     (const char *[]){"hgetall", "h", NULL}},
	    {(const char *[]){"-r", "3", "-D", "::", "--raw", NULL},
	     (const char *[]){"ping", NULL}},
	    {(const char *[]){"-r", "2", "-i", "0.05", "--no-raw", NULL},
	     (const char *[]){"lrange", "nokey", "0", "-1", NULL}},
	    {(const char *[]){"-r", "0", NULL}, (const char *[]){"ping", NULL}},
	    {(const char *[]){"-3", "--show-pushes", "yes", "--no-raw", NULL},
	     (const char *[]){"debug", "protocol", "push", NULL}},
	    {(const char *[]){"-3", "--show-pushes", "yes", "--raw", NULL},
	     (const char *[]){"debug", "protocol", "push", NULL}},
	    {(const char *[]){"-3", "--show-pushes", "no", "--no-raw", NULL},
	     (const char *[]){"debug", "protocol", "push", NULL}},
	    {(const char *[]){"-e", NULL}, (const char *[]){"foo", NULL}},
	    {(const char *[]){"-e", "--no-raw", NULL}, (const char *[]){"foo", NULL}},
	    {(const char *[]){"-e", "--no-raw", NULL}, (const char *[]){"ping", NULL}},
	    {(const char *[]){"-e", "-r", "2", NULL}, (const char *[]){"incr", "str", NULL}},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *opts[16] = {"-p", port_s};
		int n = 2;

		for (int k = 0; cases[i][0][k]; k++)
			opts[n++] = cases[i][0][k];
		opts[n] = NULL;
		compare(opts, cases[i][1]);
	}
}

Test(cli, stdin_argument)
{
	const char in[] = "hello\nworld\x01\n";

	compare_in((const char *[]){"-p", port_s, "-x", "--no-raw", NULL},
		   (const char *[]){"echo", NULL}, in, sizeof(in) - 1);
	compare_in((const char *[]){"-p", port_s, "-x", NULL},
		   (const char *[]){"set", "fromstdin", NULL}, in, sizeof(in) - 1);
	compare((const char *[]){"-p", port_s, "--no-raw", NULL},
		(const char *[]){"get", "fromstdin", NULL});
}

Test(cli, options_and_uris)
{
	char uri[128];

	compare(NULL, (const char *[]){"--foo", "ping", NULL});
	compare(NULL, (const char *[]){"-p", NULL});
	compare((const char *[]){"-p", port_s, NULL}, (const char *[]){"-n", NULL});
	compare(NULL, (const char *[]){"-u", "http://x", "ping", NULL});
	compare((const char *[]){"-p", port_s, "-n", "3", NULL},
		(const char *[]){"get", "k", NULL});
	compare((const char *[]){"-p", port_s, "-n", "3", "--no-raw", NULL},
		(const char *[]){"get", "k", NULL});
	compare((const char *[]){"-p", port_s, "-n", "99", NULL},
		(const char *[]){"get", "k", NULL});
	snprintf(uri, sizeof(uri), "redis://127.0.0.1:%d/3", srv.port);
	compare((const char *[]){"-u", uri, NULL}, (const char *[]){"get", "k", NULL});
	snprintf(uri, sizeof(uri), "redis://127.0.0.1");
	compare((const char *[]){"-p", port_s, "-u", uri, NULL}, (const char *[]){"ping", NULL});
	snprintf(uri, sizeof(uri), "redis://localhost:%d/3", srv.port);
	compare((const char *[]){"-u", uri, "--no-raw", NULL}, (const char *[]){"get", "k", NULL});
}

Test(cli, auth)
{
	const char *extra[] = {"requirepass secret", NULL};
	char uri[128], pport[16];

	compare((const char *[]){"-p", port_s, "-a", "pw", "--user", "bob", NULL},
		(const char *[]){"acl", "whoami", NULL});
	compare((const char *[]){"-p", port_s, "--user", "bob", "--pass", "pw", "-3", NULL},
		(const char *[]){"acl", "whoami", NULL});
	compare((const char *[]){"-p", port_s, "--user", "bob", "--pass", "bad", NULL},
		(const char *[]){"acl", "whoami", NULL});
	compare((const char *[]){"-p", port_s, "-a", "bad", "--no-raw", NULL},
		(const char *[]){"acl", "whoami", NULL});
	compare((const char *[]){"-p", port_s, "-a", "bad", "-3", "--no-auth-warning", NULL},
		(const char *[]){"acl", "whoami", NULL});
	compare((const char *[]){"-p", port_s, "--user", "bob", NULL},
		(const char *[]){"acl", "whoami", NULL});
	snprintf(uri, sizeof(uri), "redis://bob:pw@127.0.0.1:%d/3", srv.port);
	compare((const char *[]){"-u", uri, NULL}, (const char *[]){"get", "k", NULL});
	snprintf(uri, sizeof(uri), "redis://b%%6fb:p%%77@127.0.0.1:%d", srv.port);
	compare((const char *[]){"-u", uri, NULL}, (const char *[]){"acl", "whoami", NULL});
	snprintf(uri, sizeof(uri), "redis://bob@127.0.0.1:%d", srv.port);
	compare((const char *[]){"-u", uri, NULL}, (const char *[]){"acl", "whoami", NULL});

	cr_assert_eq(test_server_start(&srv_pass, extra), 0, "redis-server did not start");
	snprintf(pport, sizeof(pport), "%d", srv_pass.port);
	compare((const char *[]){"-p", pport, NULL}, (const char *[]){"ping", NULL});
	compare((const char *[]){"-p", pport, "-a", "secret", NULL},
		(const char *[]){"ping", NULL});
	compare((const char *[]){"-p", pport, "-a", "wrong", "--no-raw", NULL},
		(const char *[]){"ping", NULL});
	compare_in((const char *[]){"-p", pport, NULL}, NULL, "ping\nauth secret\nping\n", 22);
	setenv("REDISCLI_AUTH", "secret", 1);
	compare((const char *[]){"-p", pport, NULL}, (const char *[]){"ping", NULL});
	unsetenv("REDISCLI_AUTH");
}

/* Command scripts fed through stdin (not a terminal: no prompt). */
static const char *const scripts[] = {
    "set x \"a b\\n\"\nget x\n\nfoo\nget \"unbal\nlrange nokey 0 -1\n  ping   \nquit\nping\n",
    "set y 'it\\'s'\nget y\nset z \"\\x41\\x4g\\t\\z\\\\\"\nget z\nset q 'a'b\nset q \"a\"b\n"
    "set q  a\"b\"\nget q\n",
    "3 ping\n0 ping\n-1 ping\n3\n\"\"\nselect 3\nget k\nselect 99\nget k\n",
    "hgetall h\ncommand info get\nlrange binlist 0 -1\nget bin\n",
    "debug protocol map\ndebug protocol set\ndebug protocol push\n"
    "debug protocol double\nzrange z 0 -1 withscores\n",
    "echo \"\\xc3\\xa9\\x00\\x01\"\necho '\\x41'\necho \"a\\\"b\"\nget x",
    "EXIT\nping\n",
};

Test(cli, stdin_scripts)
{
	const char *const modes[][4] = {{NULL}, {"--no-raw"}, {"-3", "--no-raw"}, {"-3", "--raw"}};

	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
			const char *opts[8] = {"-p", port_s};

			for (int k = 0; modes[m][k]; k++)
				opts[2 + k] = modes[m][k];
			compare_in(opts, NULL, scripts[i], strlen(scripts[i]));
		}
	}
}

/*
 * A connection killed under the client: the next command fails, the one
 * after reconnects. Whether the failure reads as EOF or as a reset depends
 * on packet timing, so either message is accepted from either program.
 */
Test(cli, stdin_connection_killed)
{
	const char script[] = "client kill type normal skipme no\nping\nping\n";
	const char *b[] = {respio_cli(), "-p", port_s, NULL};
	struct result r;

	run(b, script, sizeof(script) - 1, &r);
	cr_expect_str_eq(r.out, "1\nPONG\n");
	cr_expect(!strcmp(r.err, "Error: Server closed the connection\n") ||
		      !strcmp(r.err, "Error: Connection reset by peer\n"),
		  "stderr: %s", r.err);
	cr_expect_eq(r.status, 0);
	result_free(&r);
}

Test(cli, connection_refused)
{
	char port[16];

	snprintf(port, sizeof(port), "%d", test_free_port());
	compare((const char *[]){"-p", port, NULL}, (const char *[]){"ping", NULL});
	compare((const char *[]){"-p", port, "--no-raw", NULL}, (const char *[]){"get", "x", NULL});
	compare_in((const char *[]){"-p", port, NULL}, NULL, "ping\nping\n", 10);
	compare((const char *[]){"-h", "nosuchhost.invalid", NULL}, (const char *[]){"ping", NULL});
}

/* Two clients subscribed to "ch", or two pattern subscriptions. */
static bool subscribers_ready(void)
{
	const char *numsub[] = {"redis-cli", "-p", port_s, "pubsub", "numsub", "ch", NULL};
	const char *numpat[] = {"redis-cli", "-p", port_s, "pubsub", "numpat", NULL};
	struct result r;
	bool ready;

	run(numsub, NULL, 0, &r);
	ready = !strcmp(r.out, "ch\n2\n");
	result_free(&r);
	run(numpat, NULL, 0, &r);
	ready = ready || !strcmp(r.out, "2\n");
	result_free(&r);
	return ready;
}

/* Whether the file at path holds the bytes s. */
static bool file_has(const char *path, const char *s)
{
	size_t len;
	char *buf = slurp(path, &len);
	bool has = memmem(buf, len, s, strlen(s)) != NULL;

	free(buf);
	return has;
}

/* Subscribe in one-shot mode: both clients listen while we publish, then
 * both are stopped with SIGTERM and must have printed the same. They are
 * stopped once both have printed the last message (both flush each
 * message as it comes), not after a fixed pause that a loaded machine may
 * not honour. */
static void compare_subscribe(const char *const *opts, const char *const *args)
{
	const char *a[MAX_ARGS], *b[MAX_ARGS];
	struct proc pa, pb;
	struct result ra, rb;
	long long deadline;

	build_argv(a, "redis-cli", opts, args);
	build_argv(b, respio_cli(), opts, args);
	proc_start(&pa, a, NULL, 0);
	proc_start(&pb, b, NULL, 0);
	/* Wait until both subscriptions are live (bounded). */
	deadline = now_ms() + 5000;
	while (!subscribers_ready() && now_ms() < deadline)
		usleep(20000);
	redis((const char *[]){"publish", "ch", "hello\nworld", NULL}, NULL, 0);
	redis((const char *[]){"publish", "ch2", "x", NULL}, NULL, 0);
	redis((const char *[]){"publish", "ch2", "the-last-message", NULL}, NULL, 0);
	/* Bounded: a client that never prints it is compared as it is. */
	deadline = now_ms() + 10000;
	while ((!file_has(pa.out, "the-last-message") || !file_has(pb.out, "the-last-message")) &&
	       now_ms() < deadline)
		usleep(10000);
	proc_finish(&pa, now_ms(), SIGTERM, &ra);
	proc_finish(&pb, now_ms(), SIGTERM, &rb);
	assert_same_bytes("stdout", a, ra.out, ra.outlen, rb.out, rb.outlen);
	assert_same_bytes("stderr", a, ra.err, ra.errlen, rb.err, rb.errlen);
	cr_expect_eq(ra.status, rb.status, "exit status: %d vs %d", ra.status, rb.status);
	result_free(&ra);
	result_free(&rb);
}

Test(cli, subscribe)
{
	compare_subscribe((const char *[]){"-p", port_s, "--raw", NULL},
			  (const char *[]){"subscribe", "ch", "ch2", NULL});
	compare_subscribe((const char *[]){"-p", port_s, "--no-raw", NULL},
			  (const char *[]){"subscribe", "ch", "ch2", NULL});
	compare_subscribe((const char *[]){"-p", port_s, "-3", "--no-raw", NULL},
			  (const char *[]){"subscribe", "ch", "ch2", NULL});
	compare_subscribe((const char *[]){"-p", port_s, "--no-raw", NULL},
			  (const char *[]){"psubscribe", "c*", NULL});
	compare((const char *[]){"-p", port_s, "--no-raw", NULL},
		(const char *[]){"subscribe", NULL});
}

/* A server that answers every connection with canned bytes, then closes. */
struct fake {
	int fd;
	int port;
	const char *reply;
	size_t len;
	int conns;
	pthread_t thr;
};

static void *fake_main(void *arg)
{
	struct fake *f = arg;

	for (int i = 0; i < f->conns; i++) {
		struct pollfd pfd = {.fd = f->fd, .events = POLLIN};
		char buf[1024];
		int c;

		if (poll(&pfd, 1, 5000) != 1)
			break;
		c = accept(f->fd, NULL, NULL);
		if (c < 0)
			break;
		pfd = (struct pollfd){.fd = c, .events = POLLIN};
		if (poll(&pfd, 1, 2000) == 1 && read(c, buf, sizeof(buf)) > 0 && f->len)
			(void)!write(c, f->reply, f->len);
		close(c);
	}
	return NULL;
}

static void fake_start(struct fake *f, const char *reply, size_t len, int conns)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(f->fd >= 0);
	cr_assert_eq(bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(f->fd, 8), 0);
	getsockname(f->fd, (struct sockaddr *)&sa, &sl);
	f->port = ntohs(sa.sin_port);
	f->reply = reply;
	f->len = len;
	f->conns = conns;
	pthread_create(&f->thr, NULL, fake_main, f);
}

static void fake_stop(struct fake *f)
{
	shutdown(f->fd, SHUT_RDWR);
	pthread_join(f->thr, NULL);
	close(f->fd);
}

Test(cli, broken_servers)
{
	static const struct {
		const char *reply;
		size_t len;
		bool same_stderr;
	} cases[] = {
	    {"", 0, true},	    /* closes without a word */
	    {"$5\r\nab", 7, true},  /* closes in the middle of a bulk */
	    {"@foo\r\n", 6, false}, /* not RESP: our message differs */
	    {"*2\r\n:1\r\n?\r\n", 12, false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *a[6], *b[6];
		struct result ra, rb;
		struct fake f;
		char port[16];

		fake_start(&f, cases[i].reply, cases[i].len, 2);
		snprintf(port, sizeof(port), "%d", f.port);
		build_argv(a, "redis-cli", (const char *[]){"-p", port, NULL},
			   (const char *[]){"ping", NULL});
		build_argv(b, respio_cli(), (const char *[]){"-p", port, NULL},
			   (const char *[]){"ping", NULL});
		run(a, NULL, 0, &ra);
		run(b, NULL, 0, &rb);
		fake_stop(&f);
		cr_expect_eq(rb.status, 1, "case %zu: exit %d", i, rb.status);
		cr_expect_eq(ra.status, rb.status);
		assert_same_bytes("stdout", a, ra.out, ra.outlen, rb.out, rb.outlen);
		if (cases[i].same_stderr)
			assert_same_bytes("stderr", a, ra.err, ra.errlen, rb.err, rb.errlen);
		else
			cr_expect(!strncmp(rb.err, "Error: Protocol error", 21), "stderr: %s",
				  rb.err);
		result_free(&ra);
		result_free(&rb);
	}
}

/* Where redis-cli 7.0 cannot cope (it aborts on RESP3 big numbers and
 * attributes), respio-cli prints the reply; pin what it prints. */
Test(cli, beyond_redis_cli)
{
	static const struct {
		const char *opts[4];
		const char *args[4];
		const char *out;
	} cases[] = {
	    {{"-3", "--no-raw"},
	     {"debug", "protocol", "bignum"},
	     "(big number) 1234567999999999999999999999999999999\n"},
	    {{"-3", "--raw"},
	     {"debug", "protocol", "bignum"},
	     "1234567999999999999999999999999999999\n"},
	    {{"-3", "--no-raw"},
	     {"debug", "protocol", "attrib"},
	     "\"Some real reply following the attribute\"\n"},
	    {{"--version"}, {NULL}, NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *opts[8] = {"-p", port_s}, *b[MAX_ARGS];
		struct result r;

		for (int k = 0; cases[i].opts[k]; k++)
			opts[2 + k] = cases[i].opts[k];
		build_argv(b, respio_cli(), opts, cases[i].args);
		run(b, NULL, 0, &r);
		cr_expect_eq(r.status, 0, "%s: exit %d", join(b), r.status);
		if (cases[i].out)
			cr_expect_str_eq(r.out, cases[i].out, "%s", join(b));
		else
			cr_expect(!strncmp(r.out, "respio-cli ", 11), "%s", r.out);
		result_free(&r);
	}
}

Test(cli, tls_uri_is_refused)
{
	const char *b[] = {respio_cli(), "-u", "rediss://127.0.0.1:6379", "ping", NULL};
	struct result r;

	run(b, NULL, 0, &r);
	cr_expect_eq(r.status, 1);
	cr_expect(strstr(r.err, "TLS is not supported") != NULL, "stderr: %s", r.err);
	result_free(&r);
}

/*
 * The prompt on a terminal. redis-cli's linenoise output (cursor queries,
 * hints) is not comparable byte for byte, so this pins our own transcript:
 * prompt, echo by the tty, reply, and the db in the prompt after SELECT.
 */
Test(cli, interactive_prompt)
{
	const char *lines[] = {"ping", "select 2", "lrange nokey 0 -1", "get \"x", "exit"};
	char expect[1024], out[8192];
	size_t n = 0, mark = 0;
	long long deadline = now_ms() + 10000;
	int fd, status;
	pid_t pid;

	respio_cli();
	pid = forkpty(&fd, NULL, NULL, NULL);
	cr_assert(pid >= 0);
	if (pid == 0) {
		execl(respio_cli(), respio_cli(), "-p", port_s, (char *)NULL);
		_exit(127);
	}
	for (size_t i = 0; i <= sizeof(lines) / sizeof(lines[0]); i++) {
		/* Wait for a new prompt before typing, so the tty's echo and
		 * our output do not interleave. */
		while (now_ms() < deadline &&
		       !(n > mark && n >= 2 && !memcmp(out + n - 2, "> ", 2))) {
			struct pollfd pfd = {.fd = fd, .events = POLLIN};
			ssize_t got;

			if (poll(&pfd, 1, 100) != 1)
				continue;
			got = read(fd, out + n, sizeof(out) - 1 - n);
			if (got <= 0)
				break;
			n += (size_t)got;
		}
		if (i == sizeof(lines) / sizeof(lines[0]))
			break;
		mark = n;
		cr_assert(write(fd, lines[i], strlen(lines[i])) > 0);
		cr_assert(write(fd, "\n", 1) == 1);
	}
	while (now_ms() < deadline) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t got;

		if (poll(&pfd, 1, 100) != 1) {
			if (waitpid(pid, &status, WNOHANG) == pid)
				break;
			continue;
		}
		got = read(fd, out + n, sizeof(out) - 1 - n);
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	out[n] = '\0';
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(fd);
	snprintf(expect, sizeof(expect),
		 "127.0.0.1:%s> ping\r\nPONG\r\n127.0.0.1:%s> select 2\r\nOK\r\n"
		 "127.0.0.1:%s[2]> lrange nokey 0 -1\r\n(empty array)\r\n"
		 "127.0.0.1:%s[2]> get \"x\r\nInvalid argument(s)\r\n127.0.0.1:%s[2]> exit\r\n",
		 port_s, port_s, port_s, port_s, port_s);
	cr_expect_str_eq(out, expect);
}

/* --sentinel: the CLI asks the Sentinels where the master is and talks to
 * it (a dead Sentinel listed first is skipped); without an answer it says
 * so. */
static test_sentinel_topology topo;

static void stop_topology(void)
{
	test_sentinel_stop(&topo);
}

Test(cli_sentinel, connects_to_the_master_the_sentinels_name, .fini = stop_topology, .timeout = 120)
{
	char list[128];
	struct result r;

	if (!test_have_redis_sentinel())
		cr_skip_test("redis-sentinel is not installed");
	cr_assert_eq(test_sentinel_start(&topo, NULL), 0, "the Sentinel topology did not start");
	snprintf(list, sizeof(list), "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", test_free_port(),
		 topo.sentinel_port[0], topo.sentinel_port[1]);
	run((const char *[]){respio_cli(), "--sentinel", list, "--master", TEST_SENTINEL_MASTER,
			     "ROLE", NULL},
	    NULL, 0, &r);
	cr_assert_eq(r.status, 0, "%.*s", (int)r.errlen, r.err);
	cr_assert(r.outlen >= 7 && memcmp(r.out, "master\n", 7) == 0, "%.*s", (int)r.outlen, r.out);
	result_free(&r);
	run((const char *[]){respio_cli(), "--sentinel", list, "--master", "nosuchmaster", "PING",
			     NULL},
	    NULL, 0, &r);
	cr_assert_neq(r.status, 0);
	cr_assert(r.errlen && strstr(r.err, "Sentinel"), "%.*s", (int)r.errlen, r.err);
	result_free(&r);
}

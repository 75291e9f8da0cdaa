/* SPDX-License-Identifier: MIT */
/* A master, a replica and three Sentinels on loopback for tests. */
#include "sentinel_topology.h"
#include "clock.h"
#include "port.h"
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define CALL_TIMEOUT_MS 2000
#define SETTLE_MS	30000
/* A failover, the demotion ~10 s after it and the Sentinels' next INFO of
 * the demoted node, 10 s after that: ~21 s. */
#define FAILOVER_MS 40000

/* ---- A minimal RESP2 client: one command a connection, bounded. ---- */

typedef struct rval {
	char type;	   /* '+', '-', ':', '$', '*', or '_' for a nil */
	long long n;	   /* the integer, or the number of elements */
	char *str;	   /* '+', '-', '$': NUL-terminated */
	struct rval *elem; /* '*' */
} rval;

static void rval_free(rval *v)
{
	if (v->type == '*')
		for (long long i = 0; i < v->n; i++)
			rval_free(&v->elem[i]);
	free(v->elem);
	free(v->str);
	memset(v, 0, sizeof(*v));
}

/* Parse one reply from buf[0..len): 1 with *used set, 0 when incomplete, -1
 * when it is not RESP. */
static int parse(const char *buf, size_t len, size_t *used, rval *v)
{
	const char *eol = memchr(buf, '\n', len);
	size_t head, off;
	long long n;

	memset(v, 0, sizeof(*v));
	if (!eol)
		return 0;
	if (eol == buf || eol[-1] != '\r')
		return -1;
	head = (size_t)(eol - buf) + 1;
	v->type = buf[0];
	switch (buf[0]) {
	case '+':
	case '-':
		v->str = strndup(buf + 1, head - 3);
		*used = head;
		return 1;
	case ':':
		v->n = strtoll(buf + 1, NULL, 10);
		*used = head;
		return 1;
	case '$':
		n = strtoll(buf + 1, NULL, 10);
		if (n < 0) {
			v->type = '_';
			*used = head;
			return 1;
		}
		if (len < head + (size_t)n + 2)
			return 0;
		v->str = strndup(buf + head, (size_t)n);
		*used = head + (size_t)n + 2;
		return 1;
	case '*':
		n = strtoll(buf + 1, NULL, 10);
		if (n < 0) {
			v->type = '_';
			*used = head;
			return 1;
		}
		v->elem = calloc((size_t)n + 1, sizeof(rval));
		off = head;
		for (long long i = 0; i < n; i++) {
			size_t u = 0;
			int rc = parse(buf + off, len - off, &u, &v->elem[i]);

			if (rc <= 0) {
				v->n = i;
				rval_free(v);
				return rc;
			}
			v->n = i + 1;
			off += u;
		}
		v->n = n;
		*used = off;
		return 1;
	default: return -1;
	}
}

static bool send_all(int fd, const char *p, size_t len, long long deadline)
{
	while (len > 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		long long left = deadline - now_ms();
		ssize_t w;

		if (left <= 0 || poll(&pfd, 1, (int)left) != 1)
			return false;
		w = send(fd, p, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		len -= (size_t)w;
	}
	return true;
}

/* Send argv on fd and read its reply into *v; 0, or -1 by the deadline. */
static int roundtrip(int fd, int argc, const char *const *argv, rval *v, long long deadline)
{
	size_t cap = 256, len = 0, used;
	char *buf = malloc(cap);
	int n = snprintf(buf, cap, "*%d\r\n", argc), rc = -1;
	bool ok = send_all(fd, buf, (size_t)n, deadline);

	for (int i = 0; ok && i < argc; i++) {
		size_t alen = strlen(argv[i]);

		n = snprintf(buf, cap, "$%zu\r\n", alen);
		ok = send_all(fd, buf, (size_t)n, deadline) &&
		     send_all(fd, argv[i], alen, deadline) && send_all(fd, "\r\n", 2, deadline);
	}
	while (ok) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long long left = deadline - now_ms();
		ssize_t r;

		rc = parse(buf, len, &used, v);
		if (rc != 0)
			break;
		if (left <= 0 || poll(&pfd, 1, (int)left) != 1)
			break;
		if (len == cap)
			buf = realloc(buf, cap *= 2);
		r = recv(fd, buf + len, cap - len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	free(buf);
	return rc == 1 ? 0 : -1;
}

static int dial(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* Loopback connects finish at once, also to a stopped process (the
	 * kernel completes the handshake): the reads carry the timeout. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One command on 127.0.0.1:port, after AUTH when pass is set and not "". A
 * failed AUTH is its error reply. 0 with *v set, or -1. */
static int call(int port, const char *pass, rval *v, int argc, const char *const *argv)
{
	long long deadline = now_ms() + CALL_TIMEOUT_MS;
	int fd = dial(port), rc = -1;

	memset(v, 0, sizeof(*v));
	if (fd < 0)
		return -1;
	if (pass && pass[0]) {
		const char *auth[] = {"AUTH", pass};

		rc = roundtrip(fd, 2, auth, v, deadline);
		if (rc == 0 && v->type == '-') {
			close(fd);
			return 0;
		}
		rval_free(v);
		if (rc != 0) {
			close(fd);
			return -1;
		}
	}
	rc = roundtrip(fd, argc, argv, v, deadline);
	close(fd);
	return rc;
}

static void render(const rval *v, char *out, size_t cap, size_t *len)
{
	int n = 0;

	switch (v->type) {
	case '+':
	case '-':
	case '$': n = snprintf(out + *len, cap - *len, "%s", v->str); break;
	case ':': n = snprintf(out + *len, cap - *len, "%lld", v->n); break;
	case '*':
		for (long long i = 0; i < v->n; i++) {
			if (i > 0 && *len + 1 < cap)
				out[(*len)++] = '\n';
			out[*len] = '\0';
			render(&v->elem[i], out, cap, len);
		}
		return;
	default: break;
	}
	if (n > 0)
		*len += (size_t)n < cap - *len ? (size_t)n : cap - *len - 1;
}

int test_sentinel_command(int port, const char *pass, char *out, size_t cap, int argc,
			  const char *const *argv)
{
	size_t len = 0;
	rval v;
	int type;

	if (cap == 0)
		return -1;
	out[0] = '\0';
	if (call(port, pass, &v, argc, argv) != 0)
		return -1;
	render(&v, out, cap, &len);
	type = v.type;
	rval_free(&v);
	return type;
}

/* The value of field name in an INFO reply, into out; false when absent. */
static bool info_field(int port, const char *pass, const char *name, char *out, size_t cap)
{
	const char *argv[] = {"INFO", "replication"};
	size_t nlen = strlen(name);
	bool found = false;
	rval v;

	if (call(port, pass, &v, 2, argv) != 0)
		return false;
	for (const char *p = v.type == '$' ? v.str : NULL; p && *p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, name, nlen) == 0 && p[nlen] == ':') {
			size_t l = strcspn(p + nlen + 1, "\r\n");

			snprintf(out, cap, "%.*s", (int)l, p + nlen + 1);
			found = true;
			break;
		}
	}
	rval_free(&v);
	return found;
}

static bool info_is(int port, const char *pass, const char *name, const char *want)
{
	char val[64];

	return info_field(port, pass, name, val, sizeof(val)) && strcmp(val, want) == 0;
}

/* ---- Sentinel processes ---- */

bool test_have_redis_sentinel(void)
{
	return test_have_redis_server() && system("command -v redis-sentinel >/dev/null 2>&1") == 0;
}

static bool sentinel_live(const test_sentinel_topology *t, int i)
{
	return t->sentinel_pid[i] > 0 && !t->sentinel_stopped[i];
}

static const char *spass(const test_sentinel_topology *t)
{
	return t->sentinel_pass[0] ? t->sentinel_pass : NULL;
}

static const char *dpass(const test_sentinel_topology *t)
{
	return t->pass[0] ? t->pass : NULL;
}

static int write_sentinel_config(test_sentinel_topology *t, int i)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/sentinel.conf", t->sentinel_dir[i]);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f,
		"port %d\nbind 127.0.0.1\ndir %s\nlogfile %s/sentinel.log\ndaemonize no\n"
		"sentinel monitor %s 127.0.0.1 %d %d\n"
		"sentinel down-after-milliseconds %s %d\n"
		"sentinel failover-timeout %s %d\n"
		"sentinel parallel-syncs %s 1\n",
		t->sentinel_port[i], t->sentinel_dir[i], t->sentinel_dir[i], TEST_SENTINEL_MASTER,
		t->master.port, t->quorum, TEST_SENTINEL_MASTER, t->down_after_ms,
		TEST_SENTINEL_MASTER, t->failover_timeout_ms, TEST_SENTINEL_MASTER);
	if (t->pass[0])
		fprintf(f, "sentinel auth-pass %s %s\n", TEST_SENTINEL_MASTER, t->pass);
	/* Also what a Sentinel authenticates with to the others. */
	if (t->sentinel_pass[0])
		fprintf(f, "requirepass %s\n", t->sentinel_pass);
	return fclose(f);
}

/* Whether the server answering on port is process pid: a port taken by
 * someone else between probing and binding answers too. */
static bool answers_as(int port, const char *pass, pid_t pid)
{
	const char *argv[] = {"INFO", "server"};
	char want[32];
	bool ok;
	rval v;

	if (call(port, pass, &v, 2, argv) != 0)
		return false;
	snprintf(want, sizeof(want), "process_id:%d\r", (int)pid);
	ok = v.type == '$' && strstr(v.str, want) != NULL;
	rval_free(&v);
	return ok;
}

/* Run Sentinel i on its port until it answers: 0, or -1 (it exited, or 10 s). */
static int spawn_sentinel(test_sentinel_topology *t, int i)
{
	char conf[256];
	long long deadline;
	pid_t parent = getpid(), pid;
	int status;

	snprintf(conf, sizeof(conf), "%s/sentinel.conf", t->sentinel_dir[i]);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		/* A test that crashes or is killed must not leave its Sentinels
		 * running: they die with the thread that started them. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		execlp("redis-sentinel", "redis-sentinel", conf, (char *)NULL);
		_exit(127);
	}
	t->sentinel_pid[i] = pid;
	t->sentinel_stopped[i] = false;
	deadline = now_ms() + 10000;
	while (now_ms() < deadline) {
		if (answers_as(t->sentinel_port[i], spass(t), pid))
			return 0;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			t->sentinel_pid[i] = 0;
			return -1;
		}
		sleep_ms(20);
	}
	return -1;
}

static void reap_sentinel(test_sentinel_topology *t, int i, int sig)
{
	long long deadline = now_ms() + 5000;
	pid_t pid = t->sentinel_pid[i];
	int status;

	if (pid <= 0)
		return;
	kill(pid, SIGCONT); /* a stopped process cannot handle SIGTERM */
	kill(pid, sig);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		sleep_ms(5);
	}
	t->sentinel_pid[i] = 0;
	t->sentinel_stopped[i] = false;
}

static int start_sentinel(test_sentinel_topology *t, int i)
{
	snprintf(t->sentinel_dir[i], sizeof(t->sentinel_dir[i]), "/tmp/respio-sentinel-XXXXXX");
	if (!mkdtemp(t->sentinel_dir[i])) {
		perror("mkdtemp");
		t->sentinel_dir[i][0] = '\0';
		return -1;
	}
	/* A free port can be taken between probing and binding: retry. */
	for (int attempt = 0; attempt < 5; attempt++) {
		reap_sentinel(t, i, SIGKILL);
		t->sentinel_port[i] = test_free_port();
		if (t->sentinel_port[i] > 0 && write_sentinel_config(t, i) == 0 &&
		    spawn_sentinel(t, i) == 0)
			return 0;
	}
	return -1;
}

/* ---- What the Sentinels and the data nodes say ---- */

static const char *entry_field(const rval *entry, const char *name)
{
	if (entry->type != '*')
		return NULL;
	for (long long k = 0; k + 1 < entry->n; k += 2)
		if (entry->elem[k].type == '$' && strcmp(entry->elem[k].str, name) == 0)
			return entry->elem[k + 1].type == '$' ? entry->elem[k + 1].str : NULL;
	return NULL;
}

/* Whether Sentinel i lists, under SENTINEL what, an instance on port that
 * it sees up (no s_down, o_down or disconnected flag); for a replica
 * (mport > 0), one whose last INFO it got says it is mport's replica with
 * its link up. */
static bool lists_up(test_sentinel_topology *t, int i, const char *what, int port, int mport)
{
	const char *argv[] = {"SENTINEL", what, TEST_SENTINEL_MASTER};
	bool ok = false;
	rval v;

	if (call(t->sentinel_port[i], spass(t), &v, 3, argv) != 0)
		return false;
	for (long long k = 0; v.type == '*' && k < v.n && !ok; k++) {
		const rval *e = &v.elem[k];
		const char *p = entry_field(e, "port");
		const char *flags = entry_field(e, "flags");
		const char *role = entry_field(e, "role-reported");
		const char *link = entry_field(e, "master-link-status");
		const char *master = entry_field(e, "master-port");

		ok = p && flags && atoi(p) == port && !strstr(flags, "s_down") &&
		     !strstr(flags, "o_down") && !strstr(flags, "disconnected");
		if (ok && mport > 0)
			ok = role && strcmp(role, "slave") == 0 && link &&
			     strcmp(link, "ok") == 0 && master && atoi(master) == mport;
	}
	rval_free(&v);
	return ok;
}

/* The master's port Sentinel i names, or -1. */
static int named_master(test_sentinel_topology *t, int i)
{
	const char *argv[] = {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", TEST_SENTINEL_MASTER};
	int port = -1;
	rval v;

	if (call(t->sentinel_port[i], spass(t), &v, 3, argv) != 0)
		return -1;
	if (v.type == '*' && v.n == 2 && v.elem[1].type == '$')
		port = atoi(v.elem[1].str);
	rval_free(&v);
	return port;
}

static int other_node(const test_sentinel_topology *t, int port)
{
	return port == t->master.port ? t->replica.port : t->master.port;
}

/* The data node on mport is a master with the other one connected as its
 * replica, in sync. */
static bool data_synced(test_sentinel_topology *t, int mport)
{
	int rport = other_node(t, mport);
	char val[32];

	return info_is(mport, dpass(t), "role", "master") &&
	       info_is(mport, dpass(t), "connected_slaves", "1") &&
	       info_is(rport, dpass(t), "role", "slave") &&
	       info_field(rport, dpass(t), "master_port", val, sizeof(val)) && atoi(val) == mport &&
	       info_is(rport, dpass(t), "master_link_status", "up");
}

/*
 * Every running Sentinel names mport as the master, sees the other running
 * Sentinels up, and the replica up as mport's in its last INFO of it.
 * That last part keeps a failover from being undone: a Sentinel asks a
 * replica for INFO every 10 s, and one that last saw the old master still
 * reporting role:master for over 8 s (it turns it into a replica then)
 * demotes it again at once if it finds it promoted by the next failover;
 * that failover aborts after failover-timeout.
 */
static bool sentinels_settled(test_sentinel_topology *t, int mport)
{
	for (int i = 0; i < TEST_SENTINELS; i++) {
		if (!sentinel_live(t, i))
			continue;
		if (named_master(t, i) != mport ||
		    !lists_up(t, i, "REPLICAS", other_node(t, mport), mport))
			return false;
		for (int j = 0; j < TEST_SENTINELS; j++)
			if (j != i && sentinel_live(t, j) &&
			    !lists_up(t, i, "SENTINELS", t->sentinel_port[j], 0))
				return false;
	}
	return true;
}

/* Print SENTINEL what as Sentinel i sees it: each instance's port and flags. */
static void describe_list(test_sentinel_topology *t, int i, const char *what)
{
	const char *argv[] = {"SENTINEL", what, TEST_SENTINEL_MASTER};
	rval v;

	fprintf(stderr, " %s:", what);
	if (call(t->sentinel_port[i], spass(t), &v, 3, argv) != 0 || v.type != '*') {
		fprintf(stderr, " (no answer)");
		rval_free(&v);
		return;
	}
	for (long long k = 0; k < v.n; k++) {
		const char *p = entry_field(&v.elem[k], "port");
		const char *flags = entry_field(&v.elem[k], "flags");
		const char *role = entry_field(&v.elem[k], "role-reported");
		const char *master = entry_field(&v.elem[k], "master-port");

		fprintf(stderr, " %s(%s", p ? p : "?", flags ? flags : "?");
		if (role)
			fprintf(stderr, "; reports %s of %s", role, master ? master : "none");
		fprintf(stderr, ")");
	}
	rval_free(&v);
}

/* On a failure: what each Sentinel sees, then the logs' last lines. An
 * unknown Sentinel in the lists is another topology's whose master had a
 * port one of these data nodes now has. */
static void describe(test_sentinel_topology *t)
{
	char cmd[400];

	fprintf(stderr, "test_sentinel: data nodes %d (started master), %d; Sentinels",
		t->master.port, t->replica.port);
	for (int i = 0; i < TEST_SENTINELS; i++)
		fprintf(stderr, " %d%s", t->sentinel_port[i],
			t->sentinel_pid[i] <= 0	 ? " (down)"
			: t->sentinel_stopped[i] ? " (stopped)"
						 : "");
	fprintf(stderr, "\n");
	for (int i = 0; i < TEST_SENTINELS; i++) {
		if (!sentinel_live(t, i))
			continue;
		fprintf(stderr, "Sentinel %d names master %d;", t->sentinel_port[i],
			named_master(t, i));
		describe_list(t, i, "REPLICAS");
		describe_list(t, i, "SENTINELS");
		fprintf(stderr, "\n");
	}
	fprintf(stderr, "test_sentinel: the logs' last lines:\n");
	for (int i = 0; i < TEST_SENTINELS; i++) {
		if (!t->sentinel_dir[i][0])
			continue;
		snprintf(cmd, sizeof(cmd),
			 "(echo '== %s/sentinel.log'; tail -n 20 '%s/sentinel.log') >&2",
			 t->sentinel_dir[i], t->sentinel_dir[i]);
		if (system(cmd) != 0)
			fprintf(stderr, "(no log in %s)\n", t->sentinel_dir[i]);
	}
	for (int k = 0; k < 2; k++) {
		test_server *s = k ? &t->replica : &t->master;

		if (!s->dir[0])
			continue;
		snprintf(cmd, sizeof(cmd),
			 "(echo '== %s/redis.log'; tail -n 20 '%s/redis.log') >&2", s->dir, s->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "(no log in %s)\n", s->dir);
	}
}

/* ---- The API ---- */

int test_sentinel_start(test_sentinel_topology *t, const struct test_sentinel_opts *opts)
{
	const char *extra[6];
	char requirepass[96], masterauth[96], replicaof[64];
	long long deadline;
	int n = 0;

	memset(t, 0, sizeof(*t));
	t->quorum = opts && opts->quorum > 0 ? opts->quorum : 2;
	t->down_after_ms = opts && opts->down_after_ms > 0 ? opts->down_after_ms : 1000;
	t->failover_timeout_ms =
	    opts && opts->failover_timeout_ms > 0 ? opts->failover_timeout_ms : 10000;
	if (opts && opts->pass)
		snprintf(t->pass, sizeof(t->pass), "%s", opts->pass);
	if (opts && opts->sentinel_pass)
		snprintf(t->sentinel_pass, sizeof(t->sentinel_pass), "%s", opts->sentinel_pass);

	/* Full syncs start at once, not after the default 5 s wait for more
	 * replicas: the first one, and each demoted master's. */
	extra[n++] = "repl-diskless-sync-delay 0";
	if (t->pass[0]) {
		/* The master needs masterauth too: after a failover it is a
		 * replica. */
		snprintf(requirepass, sizeof(requirepass), "requirepass %s", t->pass);
		snprintf(masterauth, sizeof(masterauth), "masterauth %s", t->pass);
		extra[n++] = requirepass;
		extra[n++] = masterauth;
	}
	extra[n] = NULL;
	if (test_server_start(&t->master, extra) != 0)
		goto fail;
	snprintf(replicaof, sizeof(replicaof), "replicaof 127.0.0.1 %d", t->master.port);
	extra[n++] = replicaof;
	extra[n] = NULL;
	if (test_server_start(&t->replica, extra) != 0)
		goto fail;

	/* Sentinels started after the sync see the replica in their first
	 * INFO of the master, not up to 10 s later. */
	deadline = now_ms() + SETTLE_MS;
	while (!data_synced(t, t->master.port)) {
		if (now_ms() > deadline) {
			fprintf(stderr, "test_sentinel_start: the replica did not sync\n");
			goto fail;
		}
		sleep_ms(20);
	}
	for (int i = 0; i < TEST_SENTINELS; i++) {
		if (start_sentinel(t, i) != 0) {
			fprintf(stderr, "test_sentinel_start: redis-sentinel did not come up\n");
			goto fail;
		}
	}
	/* They learn of each other from their hellos on the master, every 2 s. */
	while (!sentinels_settled(t, t->master.port)) {
		if (now_ms() > deadline) {
			fprintf(stderr, "test_sentinel_start: the Sentinels did not discover "
					"each other and the replica\n");
			goto fail;
		}
		sleep_ms(50);
	}
	return 0;
fail:
	describe(t);
	test_sentinel_stop(t);
	return -1;
}

void test_sentinel_stop(test_sentinel_topology *t)
{
	char cmd[200];

	/* The Sentinels first, so that they do not react to the data nodes
	 * going away. */
	for (int i = 0; i < TEST_SENTINELS; i++) {
		reap_sentinel(t, i, SIGTERM);
		if (t->sentinel_dir[i][0]) {
			snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->sentinel_dir[i]);
			if (system(cmd) != 0)
				fprintf(stderr, "test_sentinel_stop: could not remove %s\n",
					t->sentinel_dir[i]);
			t->sentinel_dir[i][0] = '\0';
		}
	}
	if (t->replica.dir[0] || t->replica.pid > 0)
		test_server_stop(&t->replica);
	if (t->master.dir[0] || t->master.pid > 0)
		test_server_stop(&t->master);
}

void test_sentinel_signal_sentinel(test_sentinel_topology *t, int i, int sig)
{
	if (i < 0 || i >= TEST_SENTINELS || t->sentinel_pid[i] <= 0)
		return;
	if (sig == SIGKILL || sig == SIGTERM) {
		reap_sentinel(t, i, sig);
		return;
	}
	kill(t->sentinel_pid[i], sig);
	if (sig == SIGSTOP)
		t->sentinel_stopped[i] = true;
	else if (sig == SIGCONT)
		t->sentinel_stopped[i] = false;
}

int test_sentinel_restart_sentinel(test_sentinel_topology *t, int i)
{
	long long deadline = now_ms() + SETTLE_MS;
	int rc = -1, mport;

	if (i < 0 || i >= TEST_SENTINELS || !t->sentinel_dir[i][0])
		return -1;
	reap_sentinel(t, i, SIGTERM);
	/* Its port may be in TIME_WAIT or briefly taken: try for a while. */
	for (int attempt = 0; attempt < 10 && rc != 0; attempt++) {
		rc = spawn_sentinel(t, i);
		if (rc != 0) {
			reap_sentinel(t, i, SIGKILL);
			sleep_ms(200);
		}
	}
	if (rc != 0) {
		fprintf(stderr, "test_sentinel_restart_sentinel: it did not come up\n");
		describe(t);
		return -1;
	}
	while (now_ms() < deadline) {
		mport = test_sentinel_master_port(t);
		if (mport > 0 && sentinels_settled(t, mport))
			return 0;
		sleep_ms(50);
	}
	fprintf(stderr, "test_sentinel_restart_sentinel: the Sentinels did not settle\n");
	describe(t);
	return -1;
}

int test_sentinel_master_port(test_sentinel_topology *t)
{
	int port = -1;

	for (int i = 0; i < TEST_SENTINELS; i++) {
		int p;

		if (!sentinel_live(t, i))
			continue;
		p = named_master(t, i);
		if (p < 0)
			continue;
		if (port > 0 && p != port)
			return -1;
		port = p;
	}
	return port;
}

test_server *test_sentinel_node(test_sentinel_topology *t, int port)
{
	if (port == t->master.port)
		return &t->master;
	if (port == t->replica.port)
		return &t->replica;
	return NULL;
}

/* Ask the running Sentinels, one after the other, for a failover until one
 * accepts: 0, or -1 at the deadline. */
static int ask_failover(test_sentinel_topology *t, long long deadline)
{
	const char *argv[] = {"SENTINEL", "FAILOVER", TEST_SENTINEL_MASTER};
	char reply[256] = "no Sentinel running";

	/* NOGOODSLAVE while a Sentinel's view of the replica is stale, INPROG
	 * while an earlier failover runs: ask again, the next Sentinel. */
	for (int i = 0;; i = (i + 1) % TEST_SENTINELS) {
		if (sentinel_live(t, i) &&
		    test_sentinel_command(t->sentinel_port[i], spass(t), reply, sizeof(reply), 3,
					  argv) == '+')
			return 0;
		if (now_ms() > deadline) {
			fprintf(stderr, "test_sentinel_failover: SENTINEL FAILOVER: %s\n", reply);
			return -1;
		}
		sleep_ms(100);
	}
}

/* Every running Sentinel still names old and none is failing it over: a
 * failover it accepted was aborted (no good replica when it came to pick
 * one, a timeout). */
static bool failover_idle(test_sentinel_topology *t, int old)
{
	const char *argv[] = {"SENTINEL", "MASTER", TEST_SENTINEL_MASTER};

	for (int i = 0; i < TEST_SENTINELS; i++) {
		const char *flags;
		bool busy;
		rval v;

		if (!sentinel_live(t, i))
			continue;
		if (named_master(t, i) != old || call(t->sentinel_port[i], spass(t), &v, 3, argv))
			return false;
		flags = entry_field(&v, "flags");
		busy = !flags || strstr(flags, "failover_in_progress");
		rval_free(&v);
		if (busy)
			return false;
	}
	return true;
}

int test_sentinel_failover(test_sentinel_topology *t)
{
	long long deadline = now_ms() + FAILOVER_MS, asked;
	int old = test_sentinel_master_port(t), next;

	if (old < 0) {
		fprintf(stderr, "test_sentinel_failover: the Sentinels do not agree on a master\n");
		describe(t);
		return -1;
	}
	next = other_node(t, old);
	for (;;) {
		if (ask_failover(t, deadline) != 0)
			break;
		asked = now_ms();
		while (now_ms() < deadline) {
			if (sentinels_settled(t, next) && data_synced(t, next))
				return next;
			if (now_ms() - asked > 2000 && failover_idle(t, old)) {
				fprintf(stderr, "test_sentinel_failover: the failover was aborted, "
						"asking again\n");
				break;
			}
			sleep_ms(50);
		}
		if (now_ms() >= deadline) {
			fprintf(stderr,
				"test_sentinel_failover: port %d did not become the master "
				"with %d its replica in sync\n",
				next, old);
			break;
		}
	}
	describe(t);
	return -1;
}

int test_sentinel_wait_demoted(test_sentinel_topology *t, int port, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;

	while (!data_synced(t, other_node(t, port)) || !sentinels_settled(t, other_node(t, port))) {
		if (now_ms() > deadline)
			return -1;
		sleep_ms(50);
	}
	return 0;
}

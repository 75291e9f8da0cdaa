/* SPDX-License-Identifier: MIT */
/* Throwaway redis-server processes for tests: start, wait until up, stop. */
#include "server.h"
#include "port.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

bool test_have_redis_server(void)
{
	return system("command -v redis-server >/dev/null 2>&1") == 0;
}

static int spawn(test_server *s)
{
	char conf[256];
	long long deadline;
	pid_t parent;
	int status;

	snprintf(conf, sizeof(conf), "%s/redis.conf", s->dir);
	parent = getpid();
	s->pid = fork();
	if (s->pid < 0)
		return -1;
	if (s->pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		/* A test that crashes or is killed must not leave its server
		 * running: the server dies with the thread that started it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127); /* the parent is already gone */

		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		execlp("redis-server", "redis-server", conf, (char *)NULL);
		_exit(127);
	}
	deadline = now_ms() + 10000;
	while (now_ms() < deadline) {
		if (test_port_answers(s->port))
			return 0;
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			return -1;
		}
		usleep(10000);
	}
	return -1;
}

static int write_config(test_server *s)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/redis.conf", s->dir);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f,
		"port %d\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir %s\n"
		"logfile %s/redis.log\ndaemonize no\n",
		s->port, s->dir, s->dir);
	for (char **l = s->extra; l && *l; l++)
		fprintf(f, "%s\n", *l);
	return fclose(f);
}

int test_server_start(test_server *s, const char *const *extra)
{
	size_t n = 0;

	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "/tmp/respio-test-XXXXXX");
	if (!mkdtemp(s->dir)) {
		perror("mkdtemp");
		return -1;
	}
	while (extra && extra[n])
		n++;
	s->extra = calloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		s->extra[i] = strdup(extra[i]);

	/* A free port can be taken between probing and binding: retry. */
	for (int attempt = 0; attempt < 5; attempt++) {
		s->port = test_free_port();
		if (s->port > 0 && write_config(s) == 0 && spawn(s) == 0)
			return 0;
	}
	fprintf(stderr, "test_server_start: redis-server did not come up (see %s)\n", s->dir);
	return -1;
}

static void reap(test_server *s, int sig)
{
	long long deadline = now_ms() + 5000;
	int status;

	if (s->pid <= 0)
		return;
	kill(s->pid, SIGCONT); /* a stopped server cannot handle SIGTERM */
	kill(s->pid, sig);
	while (waitpid(s->pid, &status, WNOHANG) == 0) {
		if (now_ms() > deadline) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
			break;
		}
		usleep(5000);
	}
	s->pid = 0;
}

void test_server_signal(test_server *s, int sig)
{
	if (s->pid <= 0)
		return;
	if (sig == SIGKILL || sig == SIGTERM)
		reap(s, sig);
	else
		kill(s->pid, sig);
}

int test_server_restart(test_server *s)
{
	reap(s, SIGTERM);
	return spawn(s);
}

void test_server_stop(test_server *s)
{
	char cmd[200];

	reap(s, SIGTERM);
	if (s->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "test_server_stop: could not remove %s\n", s->dir);
		s->dir[0] = '\0';
	}
	for (char **l = s->extra; l && *l; l++)
		free(*l);
	free(s->extra);
	s->extra = NULL;
}

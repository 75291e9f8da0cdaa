/* SPDX-License-Identifier: MIT */
/* Starts and stops the embedded server the harness runs against when no
 * -h/-p is given, so that nothing is left behind, not even on Ctrl-C. */
#include "server.h"
#include "perf.h"
#include "port.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static bool is_dragonfly(const char *cmd)
{
	const char *base = strrchr(cmd, '/');

	return strstr(base ? base + 1 : cmd, "dragonfly") != NULL;
}

static pid_t spawn(struct perf_server *s, const char *cmd, const cpu_set_t *cpus)
{
	char port[16], dir_flag[96], port_flag[32], out[96];
	pid_t pid;

	snprintf(port, sizeof(port), "%d", s->port);
	snprintf(port_flag, sizeof(port_flag), "--port=%d", s->port);
	snprintf(dir_flag, sizeof(dir_flag), "--dir=%s", s->dir);
	snprintf(out, sizeof(out), "%s/server.log", s->dir);
	pid = fork();
	if (pid != 0)
		return pid;
	/* The child: dies with the harness however the harness ends. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (cpus && sched_setaffinity(0, sizeof(*cpus), cpus) < 0) {
		fprintf(stderr, "sched_setaffinity: %s\n", strerror(errno));
		_exit(127);
	}
	{
		int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0600);
		int null = open("/dev/null", O_RDONLY);

		dup2(null, 0);
		dup2(fd, 1);
		dup2(fd, 2);
	}
	if (is_dragonfly(cmd))
		execlp(cmd, cmd, port_flag, "--bind=127.0.0.1", dir_flag,
		       "--dbfilename=", "--logtostderr", (char *)NULL);
	else
		execlp(cmd, cmd, "--port", port, "--bind", "127.0.0.1", "--save", "",
		       "--appendonly", "no", "--dir", s->dir, "--daemonize", "no",
		       "--protected-mode", "no", (char *)NULL);
	fprintf(stderr, "exec %s: %s\n", cmd, strerror(errno));
	_exit(127);
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

int perf_server_start(struct perf_server *s, const char *cmd, const cpu_set_t *cpus, char *err,
		      size_t errlen)
{
	int status;

	memset(s, 0, sizeof(*s));
	if (!cmd)
		cmd = "redis-server";
	snprintf(s->dir, sizeof(s->dir), "/tmp/respio-perf-XXXXXX");
	if (!mkdtemp(s->dir)) {
		snprintf(err, errlen, "mkdtemp: %s", strerror(errno));
		s->dir[0] = '\0';
		return -1;
	}
	/* A free port can be taken between probing and binding: retry. */
	for (int attempt = 0; attempt < 5 && !perf_interrupted; attempt++) {
		uint64_t deadline = perf_now_ns() + 10000000000ull;

		s->port = test_free_port();
		if (s->port <= 0)
			continue;
		s->pid = spawn(s, cmd, cpus);
		if (s->pid < 0) {
			snprintf(err, errlen, "fork: %s", strerror(errno));
			break;
		}
		while (perf_now_ns() < deadline && !perf_interrupted) {
			if (test_port_answers(s->port))
				return 0;
			if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
				s->pid = 0;
				break;
			}
			usleep(10000);
		}
		if (s->pid > 0) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
			s->pid = 0;
		}
	}
	snprintf(err, errlen,
		 "%s did not start on a loopback port (is it installed? "
		 "apt-get install redis-server)",
		 cmd);
	remove_dir(s->dir);
	s->dir[0] = '\0';
	return -1;
}

void perf_server_kill_now(const struct perf_server *s)
{
	if (s->pid > 0)
		kill(s->pid, SIGKILL);
}

void perf_server_stop(struct perf_server *s)
{
	uint64_t deadline = perf_now_ns() + 5000000000ull;
	int status;

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		while (waitpid(s->pid, &status, WNOHANG) == 0) {
			if (perf_now_ns() > deadline) {
				kill(s->pid, SIGKILL);
				waitpid(s->pid, &status, 0);
				break;
			}
			usleep(5000);
		}
		s->pid = 0;
	}
	if (s->dir[0])
		remove_dir(s->dir);
	s->dir[0] = '\0';
}

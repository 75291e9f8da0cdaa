/* SPDX-License-Identifier: MIT */
/* A scripted TCP peer on loopback that answers commands with whatever bytes a test wants. */
#include "fake_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct fake_server {
	fake_script script;
	int lfd;
	int stop_pipe[2]; /* a byte in [1] wakes every poll in the thread */
	int port;
	pthread_t thread;
	atomic_int connections;
	atomic_int commands;
	atomic_int peak_waiting;
	/* Written by the thread before it bumps accepted (release), read by
	 * others after they load it (acquire). */
	long long accept_ns[FAKE_ACCEPT_TIMES];
	atomic_int accepted;
};

static long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Wait for fd to become ready while watching the stop pipe. 1 ready, 0 stop. */
static int wait_ready(fake_server *fs, int fd, short events)
{
	for (;;) {
		struct pollfd p[2] = {{.fd = fd, .events = events},
				      {.fd = fs->stop_pipe[0], .events = POLLIN}};

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 0;
		}
		if (p[1].revents)
			return 0;
		if (p[0].revents)
			return 1;
	}
}

/* Length of the first complete command in buf (RESP array of bulk strings,
 * or an inline line), or 0 if more bytes are needed. Only counts bytes: the
 * fake does not care what the command says. */
static size_t command_len(const char *buf, size_t len)
{
	const char *end = buf + len, *p = buf, *nl;
	long n, blen;

	nl = memchr(p, '\n', len);
	if (!nl)
		return 0;
	if (*p != '*')
		return (size_t)(nl + 1 - buf);
	n = strtol(p + 1, NULL, 10);
	p = nl + 1;
	for (long i = 0; i < n; i++) {
		if (p >= end)
			return 0;
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return 0;
		blen = strtol(p + 1, NULL, 10);
		p = nl + 1;
		if (blen < 0)
			continue;
		if ((size_t)(end - p) < (size_t)blen + 2)
			return 0;
		p += blen + 2;
	}
	return (size_t)(p - buf);
}

static bool write_all(fake_server *fs, int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (!wait_ready(fs, fd, POLLOUT))
				return false;
			continue;
		}
		return false; /* the client left, e.g. after a limit error */
	}
	return true;
}

static bool write_repeat(fake_server *fs, int fd)
{
	const fake_script *s = &fs->script;
	size_t clen = s->repeat_len ? s->repeat_len : strlen(s->repeat);
	size_t per = clen ? (64u << 10) / clen : 0, left = s->repeat_count;
	char *chunk;
	bool ok = true;

	if (!clen || !left)
		return true;
	if (per == 0)
		per = 1;
	/* Batch copies of the chunk so a million tiny ones are not a million sends. */
	chunk = malloc(per * clen);
	if (!chunk)
		return false;
	for (size_t i = 0; i < per; i++)
		memcpy(chunk + i * clen, s->repeat, clen);
	while (ok && left) {
		size_t k = left < per ? left : per;

		ok = write_all(fs, fd, chunk, k * clen);
		left -= k;
	}
	free(chunk);
	return ok;
}

static void serve(fake_server *fs, int fd)
{
	const fake_script *s = &fs->script;
	size_t cap = 4096, len = 0, used, seen = 0;
	char *buf = malloc(cap);

	while (buf && wait_ready(fs, fd, POLLIN)) {
		ssize_t n;

		if (len == cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			break;
		if (n > 0)
			len += (size_t)n;
		while ((used = command_len(buf, len)) > 0) {
			memmove(buf, buf + used, len - used);
			len -= used;
			atomic_fetch_add(&fs->commands, 1);
			if (seen++ == 0 && s->first_reply) {
				if (!write_all(fs, fd, s->first_reply, strlen(s->first_reply)))
					goto out;
				continue;
			}
			if (s->hang)
				continue;
			if (s->reply && !write_all(fs, fd, s->reply,
						   s->reply_len ? s->reply_len : strlen(s->reply)))
				goto out;
			if (s->repeat && !write_repeat(fs, fd))
				goto out;
			if (s->close_after)
				goto out;
		}
	}
out:
	free(buf);
}

#define HOLD_MAX 64

/* The hold script: every connection accepted at once and none answered,
 * bar first_reply on the first hold_after of them. */
static void hold(fake_server *fs)
{
	struct held {
		int fd;
		bool answer;  /* one of the first hold_after: gets first_reply */
		bool seen;    /* it sent something */
		bool waiting; /* ...and got no answer */
	} c[HOLD_MAX];
	int n = 0, waiting = 0;
	char buf[4096];

	for (;;) {
		struct pollfd p[HOLD_MAX + 2] = {
		    {.fd = fs->stop_pipe[0], .events = POLLIN},
		    {.fd = n < HOLD_MAX ? fs->lfd : -1, .events = POLLIN}};

		for (int i = 0; i < n; i++)
			p[2 + i] = (struct pollfd){.fd = c[i].fd, .events = POLLIN};
		if (poll(p, (nfds_t)n + 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		/* Closed connections before new ones: a client that closes one
		 * and then dials the next never holds both. Downwards, so the
		 * entry moved into a freed place was already looked at. */
		for (int i = n - 1; i >= 0; i--) {
			ssize_t r;

			if (!p[2 + i].revents)
				continue;
			r = recv(c[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r > 0) {
				if (c[i].seen)
					continue;
				c[i].seen = true;
				if (c[i].answer && fs->script.first_reply) {
					write_all(fs, c[i].fd, fs->script.first_reply,
						  strlen(fs->script.first_reply));
					continue;
				}
				c[i].waiting = true;
				if (++waiting > atomic_load(&fs->peak_waiting))
					atomic_store(&fs->peak_waiting, waiting);
				continue;
			}
			waiting -= c[i].waiting;
			close(c[i].fd);
			c[i] = c[--n];
		}
		if (p[1].revents) {
			int fd = accept4(fs->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

			if (fd < 0)
				continue;
			c[n++] = (struct held){.fd = fd,
					       .answer = atomic_fetch_add(&fs->connections, 1) <
							 fs->script.hold_after};
		}
	}
	for (int i = 0; i < n; i++)
		close(c[i].fd);
}

static void *run(void *arg)
{
	fake_server *fs = arg;

	if (fs->script.hold) {
		hold(fs);
		return NULL;
	}
	while (wait_ready(fs, fs->lfd, POLLIN)) {
		int fd = accept4(fs->lfd, NULL, NULL, SOCK_CLOEXEC);
		int n, k;

		if (fd < 0)
			continue;
		k = atomic_load_explicit(&fs->accepted, memory_order_relaxed);
		if (k < FAKE_ACCEPT_TIMES) {
			fs->accept_ns[k] = mono_ns();
			atomic_store_explicit(&fs->accepted, k + 1, memory_order_release);
		}
		n = atomic_fetch_add(&fs->connections, 1) + 1;
		if (!fs->script.serve_connections || n <= fs->script.serve_connections)
			serve(fs, fd);
		close(fd);
	}
	return NULL;
}

int fake_server_start(const fake_script *script, fake_server **out)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t salen = sizeof(sa);
	fake_server *fs = calloc(1, sizeof(*fs));

	*out = NULL;
	if (!fs)
		return -1;
	fs->script = *script;
	/* Non-blocking: a client that resets before accept must not block the thread. */
	fs->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fs->lfd < 0 || bind(fs->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fs->lfd, 16) < 0 || getsockname(fs->lfd, (struct sockaddr *)&sa, &salen) < 0 ||
	    pipe2(fs->stop_pipe, O_CLOEXEC) < 0) {
		perror("fake_server_start");
		if (fs->lfd >= 0)
			close(fs->lfd);
		free(fs);
		return -1;
	}
	fs->port = ntohs(sa.sin_port);
	if (pthread_create(&fs->thread, NULL, run, fs) != 0) {
		close(fs->lfd);
		close(fs->stop_pipe[0]);
		close(fs->stop_pipe[1]);
		free(fs);
		return -1;
	}
	*out = fs;
	return 0;
}

int fake_server_port(const fake_server *fs)
{
	return fs->port;
}

int fake_server_connections(const fake_server *fs)
{
	return atomic_load(&((fake_server *)fs)->connections);
}

int fake_server_commands(const fake_server *fs)
{
	return atomic_load(&((fake_server *)fs)->commands);
}

int fake_server_accept_times(const fake_server *fs, long long *ns, int cap)
{
	int n = atomic_load_explicit(&((fake_server *)fs)->accepted, memory_order_acquire);

	for (int i = 0; i < n && i < cap; i++)
		ns[i] = fs->accept_ns[i];
	return n;
}

int fake_server_peak_waiting(const fake_server *fs)
{
	return atomic_load(&((fake_server *)fs)->peak_waiting);
}

int fake_server_stop(fake_server *fs)
{
	struct timespec ts;

	if (!fs)
		return 0;
	if (write(fs->stop_pipe[1], "x", 1) != 1)
		perror("fake_server_stop");
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	if (pthread_timedjoin_np(fs->thread, NULL, &ts) != 0) {
		fprintf(stderr, "fake_server_stop: thread did not end within 5 s\n");
		return -1;
	}
	close(fs->lfd);
	close(fs->stop_pipe[0]);
	close(fs->stop_pipe[1]);
	free(fs);
	return 0;
}

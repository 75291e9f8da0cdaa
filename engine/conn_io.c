/* SPDX-License-Identifier: MIT */
/* The blocking connection's wire: buffered, deadline-bounded writes and
 * reads of commands and replies on an open socket, and its error detail. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn_io.h"

int64_t respio__conn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* -1 is "no deadline". */
int64_t respio__conn_deadline_after(int ms)
{
	return ms > 0 ? respio__conn_now_ms() + ms : -1;
}

void respio__conn_set_detail(respio_conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->errdetail, sizeof(c->errdetail), fmt, ap);
	va_end(ap);
}

void respio__conn_clear_detail(respio_conn *c)
{
	c->errdetail[0] = '\0';
}

/* Copy a server's (binary-safe) error text after prefix, truncating with
 * "..." and replacing control bytes so the detail stays one printable line. */
static void set_detail_msg(respio_conn *c, const char *prefix, const char *msg, size_t len)
{
	size_t n = (size_t)snprintf(c->errdetail, sizeof(c->errdetail), "%s", prefix);
	size_t room;

	if (n >= sizeof(c->errdetail) - 1)
		return;
	room = sizeof(c->errdetail) - 1 - n;
	if (len > room) {
		len = room > 3 ? room - 3 : 0;
		memcpy(c->errdetail + sizeof(c->errdetail) - 4, "...", 4);
	} else {
		c->errdetail[n + len] = '\0';
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)msg[i];

		c->errdetail[n + i] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
	}
}

void respio__conn_set_detail_reply(respio_conn *c, const char *prefix, const respio_reply *r)
{
	size_t len = 0;
	const char *s = respio_reply_str(r, &len);

	set_detail_msg(c, prefix, s ? s : "", s ? len : 0);
}

/* Drop the socket and everything tied to the stream. wanted is untouched:
 * the caller decides whether this was a failure or a disconnect. */
void respio__conn_close(respio_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->proto = 0;
	c->pending = 0;
	c->olen = c->opos = 0;
	c->ilen = c->ipos = 0;
	respio_parser_reset(c->parser);
	if (c->ocap > CONN_OBUF_KEEP) {
		char *small = realloc(c->obuf, CONN_OBUF_SIZE);

		if (small) {
			c->obuf = small;
			c->ocap = CONN_OBUF_SIZE;
		}
	}
}

/* Wait until fd is ready for events or the deadline passes. Readiness
 * includes errors and hangups: the following send/recv reports them. */
int respio__conn_wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int tmo = -1, n;

		if (deadline >= 0) {
			int64_t left = deadline - respio__conn_now_ms();

			tmo = left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
		}
		n = poll(&p, 1, tmo);
		if (n > 0)
			return 0;
		if (n == 0) {
			/* poll may wake a little early when rounding to ms. */
			if (tmo == 0 || respio__conn_now_ms() >= deadline)
				return -ETIMEDOUT;
			continue;
		}
		if (errno != EINTR)
			return -errno;
	}
}

/*
 * Write the whole queued output. On failure the stream is broken (part of
 * a command may be on the wire), so the connection is closed.
 */
int respio__conn_flush(respio_conn *c, int64_t deadline)
{
	while (c->opos < c->olen) {
		ssize_t n = send(c->fd, c->obuf + c->opos, c->olen - c->opos, MSG_NOSIGNAL);
		int rc;

		if (n > 0) {
			c->opos += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			rc = -errno;
			respio__conn_set_detail(c, "send: %s", strerror(-rc));
			respio__conn_close(c);
			return rc;
		}
		rc = respio__conn_wait_fd(c->fd, POLLOUT, deadline);
		if (rc < 0) {
			if (rc == -ETIMEDOUT)
				respio__conn_set_detail(
				    c, "timed out writing (%zu of %zu bytes written)", c->opos,
				    c->olen);
			else
				respio__conn_set_detail(c, "poll: %s", strerror(-rc));
			respio__conn_close(c);
			return rc;
		}
	}
	c->olen = c->opos = 0;
	if (c->ocap > CONN_OBUF_KEEP) {
		char *small = realloc(c->obuf, CONN_OBUF_SIZE);

		if (small) {
			c->obuf = small;
			c->ocap = CONN_OBUF_SIZE;
		}
	}
	return 0;
}

/* Encode one command behind whatever is queued. Nothing is queued on error. */
int respio__conn_queue(respio_conn *c, int argc, const char *const *argv, const size_t *argvlen)
{
	size_t need = 0;
	int rc;

	if (argc < 1 || !argv) {
		respio__conn_set_detail(c, "a command needs at least one argument");
		return RESPIO_E_INVAL;
	}
	for (int i = 0; i < argc; i++) {
		if (!argv[i] && (!argvlen || argvlen[i])) {
			respio__conn_set_detail(c, "argument %d is NULL", i);
			return RESPIO_E_INVAL;
		}
	}
	rc = respio_encode_argv(c->obuf + c->olen, c->ocap - c->olen, argc, argv, argvlen, &need);
	if (rc == RESPIO_E_NOBUFS) {
		size_t cap = c->ocap;
		char *nb;

		if (need > CONN_OBUF_MAX - c->olen) {
			respio__conn_set_detail(
			    c, "command of %zu bytes exceeds the output limit of %zu bytes", need,
			    CONN_OBUF_MAX);
			return RESPIO_E_LIMIT;
		}
		while (cap < c->olen + need)
			cap = cap > CONN_OBUF_MAX / 2 ? CONN_OBUF_MAX : cap * 2;
		nb = realloc(c->obuf, cap);
		if (!nb) {
			respio__conn_set_detail(c, "out of memory for a %zu byte command", need);
			return -ENOMEM;
		}
		c->obuf = nb;
		c->ocap = cap;
		rc = respio_encode_argv(c->obuf + c->olen, c->ocap - c->olen, argc, argv, argvlen,
					&need);
	}
	if (rc < 0) {
		respio__conn_set_detail(c, "cannot encode the command: %s", respio_strerror(rc));
		return rc;
	}
	c->olen += need;
	return 0;
}

/*
 * Read the next reply, pushes included. Returns 0 with *out, or a negative
 * code. A timeout leaves the connection open (the caller decides whether
 * the stream is still usable); every other failure closes it.
 */
int respio__conn_read(respio_conn *c, int64_t deadline, respio_reply **out)
{
	for (;;) {
		ssize_t n;
		int rc;

		while (c->ipos < c->ilen) {
			size_t used = 0;

			rc = respio_parser_feed(c->parser, c->ibuf + c->ipos, c->ilen - c->ipos,
						&used);
			if (rc < 0) {
				respio__conn_set_detail(
				    c, "protocol error at byte %llu: %s",
				    (unsigned long long)respio_parser_error_offset(c->parser),
				    respio_parser_error_reason(c->parser));
				respio__conn_close(c);
				return rc;
			}
			c->ipos += used;
			if (rc == 1) {
				rc = respio_parser_take(c->parser, out);
				if (rc < 0) {
					respio__conn_set_detail(c, "out of memory for a reply");
					respio__conn_close(c);
				}
				return rc;
			}
			/* 0: the parser copied everything it needs. */
			c->ipos = c->ilen;
		}
		c->ipos = c->ilen = 0;

		n = recv(c->fd, c->ibuf, CONN_IBUF_SIZE, 0);
		if (n > 0) {
			c->ilen = (size_t)n;
			continue;
		}
		if (n == 0) {
			respio__conn_set_detail(c, "connection closed by peer");
			respio__conn_close(c);
			return RESPIO_E_CLOSED;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			rc = -errno;
			respio__conn_set_detail(c, "recv: %s", strerror(-rc));
			respio__conn_close(c);
			return rc;
		}
		rc = respio__conn_wait_fd(c->fd, POLLIN, deadline);
		if (rc == -ETIMEDOUT)
			return rc;
		if (rc < 0) {
			respio__conn_set_detail(c, "poll: %s", strerror(-rc));
			respio__conn_close(c);
			return rc;
		}
	}
}

/*
 * One command round trip on an open socket, used by the handshake and by
 * respio_conn_command: queue, write, read the next non-push reply. A
 * timeout closes the socket here, since the reply may still come.
 */
int respio__conn_roundtrip(respio_conn *c, int argc, const char *const *argv, const size_t *argvlen,
			   int64_t deadline, respio_reply **out)
{
	respio_reply *r = NULL;
	int rc;

	*out = NULL;
	rc = respio__conn_queue(c, argc, argv, argvlen);
	if (rc < 0)
		return rc;
	rc = respio__conn_flush(c, deadline);
	if (rc < 0)
		return rc;
	for (;;) {
		rc = respio__conn_read(c, deadline, &r);
		if (rc == -ETIMEDOUT) {
			respio__conn_set_detail(c, "timed out waiting for the reply");
			respio__conn_close(c);
		}
		if (rc < 0)
			return rc;
		if (respio_reply_type(r) != RESPIO_REPLY_PUSH)
			break;
		respio_reply_free(r);
		r = NULL;
	}
	*out = r;
	if (respio_reply_type(r) == RESPIO_REPLY_ERROR) {
		respio__conn_set_detail_reply(c, "", r);
		return RESPIO_E_SERVER;
	}
	return 0;
}

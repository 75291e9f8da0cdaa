/* SPDX-License-Identifier: MIT */
/* The blocking connection: connect, handshake, and the public API over its
 * command I/O (conn_io.c). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn_io.h"

/*
 * Decisions (see also conn.h):
 *
 * - State. A connection is "wanted" from respio_conn_connect until
 *   respio_conn_disconnect. When a wanted connection loses its socket (I/O
 *   error, timeout, protocol error, limit, failed connect), the next
 *   command or append reconnects first. An unwanted one (never connected,
 *   or explicitly disconnected) fails with RESPIO_E_NOT_CONNECTED.
 * - Deadlines. respio_conn_command has one deadline, cfg.timeout_ms, for
 *   writing the command and reading its whole reply; connect has one,
 *   cfg.connect_timeout_ms, for resolving, every address tried and the
 *   whole handshake. A command timeout closes the socket (a late reply
 *   would answer the next command). A read_reply timeout does not: nothing
 *   was lost, a partial reply stays in the parser, and a subscriber simply
 *   waits again.
 * - Push messages (RESP3 '>') that arrive while respio_conn_command waits
 *   for its reply are dropped: the command API has no place to put them
 *   and queueing them would grow without bound. Use append/flush/read_reply
 *   on a connection that subscribes or tracks keys; read_reply returns them.
 * - Pipelining. Commands queued with append count as outstanding until
 *   read_reply returns their (non-push) reply; respio_conn_command refuses
 *   to run (RESPIO_E_INVAL) while any are outstanding, because its reply
 *   would be mistaken for theirs.
 * - No silent downgrade: protocol 3 against a server without HELLO fails
 *   the connect with RESPIO_E_SERVER and says so in the error detail.
 */

/* Dead peers in seconds: first probe after 10 s idle, then every 5 s, give
 * up after 3; unacknowledged data gives up after the same 25 s. */
#define CONN_KEEPIDLE_S	     10
#define CONN_KEEPINTVL_S     5
#define CONN_KEEPCNT	     3
#define CONN_USER_TIMEOUT_MS ((CONN_KEEPIDLE_S + CONN_KEEPINTVL_S * CONN_KEEPCNT) * 1000)

static void set_sockopts(int fd)
{
	int one = 1, idle = CONN_KEEPIDLE_S, intvl = CONN_KEEPINTVL_S, cnt = CONN_KEEPCNT;
	unsigned int user_timeout = CONN_USER_TIMEOUT_MS;

	/* Best effort: a socket without keepalive tuning still works. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
}

/* "host:port", with brackets for IPv6 literals. */
static const char *addr_text(const respio_conn *c, char *buf, size_t size)
{
	if (strchr(c->host, ':'))
		snprintf(buf, size, "[%s]:%d", c->host, c->cfg.port);
	else
		snprintf(buf, size, "%s:%d", c->host, c->cfg.port);
	return buf;
}

/* One non-blocking connect attempt. Returns the fd or -errno. */
static int try_connect(const struct addrinfo *ai, int64_t deadline)
{
	int fd, rc, err = 0;
	socklen_t len = sizeof(err);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	set_sockopts(fd);
	do {
		rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
	} while (rc < 0 && errno == EINTR);
	if (rc < 0 && errno != EINPROGRESS) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (rc < 0) {
		rc = respio__conn_wait_fd(fd, POLLOUT, deadline);
		if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (rc == 0 && err)
			rc = -err;
		if (rc < 0) {
			close(fd);
			return rc;
		}
	}
	return fd;
}

static int tcp_connect(respio_conn *c, int64_t deadline)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	char port[16], where[300];
	int rc, fd = -ECONNREFUSED;

	/* No AI_ADDRCONFIG: it hides ::1 on hosts whose only IPv6 is loopback. */
	snprintf(port, sizeof(port), "%d", c->cfg.port);
	rc = getaddrinfo(c->host, port, &hints, &res);
	if (rc != 0) {
		respio__conn_set_detail(c, "resolve %s: %s", c->host,
					rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return RESPIO_E_RESOLVE;
	}
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = try_connect(ai, deadline);
		if (fd >= 0 || fd == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		respio__conn_set_detail(c, "connect to %s: %s", addr_text(c, where, sizeof(where)),
					strerror(-fd));
		return fd;
	}
	c->fd = fd;
	return 0;
}

/* Find the integer field name in a HELLO reply (a map in RESP3). */
static bool hello_field(const respio_reply *r, const char *name, long long *val)
{
	size_t n = respio_reply_len(r);

	if (respio_reply_type(r) != RESPIO_REPLY_MAP)
		return false;
	for (size_t i = 0; i < n; i++) {
		const respio_reply *k = respio_reply_element(r, 2 * i);
		const respio_reply *v = respio_reply_element(r, 2 * i + 1);
		const char *s = respio_reply_str(k, NULL);

		if (s && strcmp(s, name) == 0 && respio_reply_type(v) == RESPIO_REPLY_INTEGER) {
			*val = respio_reply_integer(v);
			return true;
		}
	}
	return false;
}

/* Run one handshake step; on failure, say which step and close. */
static int handshake_step(respio_conn *c, const char *step, int argc, const char *const *argv,
			  int64_t deadline, respio_reply **out)
{
	char prefix[64];
	int rc;

	rc = respio__conn_roundtrip(c, argc, argv, NULL, deadline, out);
	if (rc == RESPIO_E_SERVER) {
		snprintf(prefix, sizeof(prefix), "%s failed: ", step);
		respio__conn_set_detail_reply(c, prefix, *out);
		respio_reply_free(*out);
		*out = NULL;
		respio__conn_close(c);
	} else if (rc < 0) {
		char inner[CONN_ERRDETAIL_SIZE];

		memcpy(inner, c->errdetail, sizeof(inner));
		respio__conn_set_detail(c, "%s: %s", step, inner);
		respio__conn_close(c);
	}
	return rc;
}

static int handshake(respio_conn *c, int64_t deadline)
{
	respio_reply *r = NULL;
	char db[16];
	int rc;

	if (c->cfg.protocol == 3) {
		const char *argv[] = {"HELLO", "3", "AUTH", c->username ? c->username : "default",
				      c->password};
		long long proto = 3;

		rc = handshake_step(c, "HELLO 3", c->password ? 5 : 2, argv, deadline, &r);
		if (rc == RESPIO_E_SERVER) {
			/* Servers before Redis 6 have no HELLO: say so, don't downgrade. */
			if (strstr(c->errdetail, "unknown command"))
				snprintf(c->errdetail + strlen(c->errdetail),
					 sizeof(c->errdetail) - strlen(c->errdetail),
					 " (server lacks RESP3; use protocol 2)");
			return rc;
		}
		if (rc < 0)
			return rc;
		if (respio_reply_type(r) != RESPIO_REPLY_MAP ||
		    (hello_field(r, "proto", &proto) && proto != 3)) {
			respio_reply_free(r);
			respio__conn_set_detail(
			    c, "HELLO 3 failed: the server did not switch to RESP3");
			respio__conn_close(c);
			return RESPIO_E_HANDSHAKE;
		}
		respio_reply_free(r);
		c->proto = 3;
	} else {
		c->proto = 2;
		if (c->password) {
			const char *argv[] = {"AUTH", c->username ? c->username : c->password,
					      c->password};

			rc = handshake_step(c, "AUTH", c->username ? 3 : 2, argv, deadline, &r);
			if (rc < 0)
				return rc;
			respio_reply_free(r);
		}
	}
	if (c->cfg.db != 0) {
		const char *argv[] = {"SELECT", db};

		snprintf(db, sizeof(db), "%d", c->cfg.db);
		rc = handshake_step(c, "SELECT", 2, argv, deadline, &r);
		if (rc < 0)
			return rc;
		respio_reply_free(r);
	}
	return 0;
}

static int conn_open(respio_conn *c)
{
	int tmo = c->cfg.connect_timeout_ms ? c->cfg.connect_timeout_ms : c->cfg.timeout_ms;
	int64_t deadline = respio__conn_deadline_after(tmo);
	int rc;

	respio__conn_close(c);
	rc = tcp_connect(c, deadline);
	if (rc == 0)
		rc = handshake(c, deadline);
	if (rc < 0) {
		if (rc == -ETIMEDOUT && !c->errdetail[0])
			respio__conn_set_detail(c, "connect timed out after %d ms", tmo);
		respio__conn_close(c);
	}
	return rc;
}

/* Before talking to the server: reconnect a wanted connection that lost
 * its socket; refuse an unwanted one. */
static int conn_ready(respio_conn *c)
{
	if (c->fd >= 0)
		return 0;
	if (!c->wanted) {
		respio__conn_set_detail(c, "not connected (call respio_conn_connect)");
		return RESPIO_E_NOT_CONNECTED;
	}
	return conn_open(c);
}

static int target_run(respio_target *t, int argc, const char *const *argv, const size_t *argvlen,
		      respio_reply **out)
{
	respio_conn *c = (respio_conn *)((char *)t - offsetof(respio_conn, target));

	return respio_conn_command(c, argc, argv, argvlen, out);
}

static void target_set_errdetail(respio_target *t, const char *msg)
{
	respio_conn *c = (respio_conn *)((char *)t - offsetof(respio_conn, target));

	respio__conn_set_detail(c, "%s", msg);
}

static const struct respio_target_ops conn_target_ops = {
    .run = target_run,
    .set_errdetail = target_set_errdetail,
};

respio_target *respio_conn_target(respio_conn *c)
{
	return c ? &c->target : NULL;
}

static char *dup_opt(const char *s, bool *ok)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*ok = false;
	return d;
}

/* Copies cfg and its strings; *out is the caller's until respio_conn_destroy. */
int respio_conn_create(const respio_config *cfg, respio_conn **out)
{
	respio_conn *c;
	bool ok = true;
	int rc;

	if (!out)
		return RESPIO_E_INVAL;
	*out = NULL;
	if (!cfg || cfg->port < 1 || cfg->port > 65535 || cfg->db < 0 ||
	    (cfg->protocol != 2 && cfg->protocol != 3) || (cfg->username && !cfg->password))
		return RESPIO_E_INVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->target.ops = &conn_target_ops;
	c->fd = -1;
	c->cfg = *cfg;
	respio__limits_fill(&c->cfg.limits, &cfg->limits);
	c->host = dup_opt(cfg->host ? cfg->host : "127.0.0.1", &ok);
	c->username = dup_opt(cfg->username, &ok);
	c->password = dup_opt(cfg->password, &ok);
	c->cfg.host = c->host;
	c->cfg.username = c->username;
	c->cfg.password = c->password;
	c->obuf = malloc(CONN_OBUF_SIZE);
	c->ocap = CONN_OBUF_SIZE;
	c->ibuf = malloc(CONN_IBUF_SIZE);
	if (!ok || !c->obuf || !c->ibuf) {
		respio_conn_destroy(c);
		return -ENOMEM;
	}
	rc = respio_parser_create(&c->cfg.limits, &c->parser);
	if (rc < 0) {
		respio_conn_destroy(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* Frees c and everything it owns; replies it returned stay the caller's. */
void respio_conn_destroy(respio_conn *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	respio_parser_destroy(c->parser);
	free(c->obuf);
	free(c->ibuf);
	free(c->host);
	free(c->username);
	if (c->password) {
		/* Do not leave the secret in freed heap memory. */
		explicit_bzero(c->password, strlen(c->password));
		free(c->password);
	}
	free(c);
}

int respio_conn_connect(respio_conn *c)
{
	int rc;

	if (!c)
		return RESPIO_E_INVAL;
	respio__conn_clear_detail(c);
	c->wanted = true;
	rc = conn_open(c);
	return rc;
}

void respio_conn_disconnect(respio_conn *c)
{
	if (!c)
		return;
	c->wanted = false;
	respio__conn_close(c);
	respio__conn_clear_detail(c);
}

int respio__conn_detach_fd(respio_conn *c)
{
	int fd;

	if (!c || c->fd < 0)
		return RESPIO_E_NOT_CONNECTED;
	/* Bytes already read belong to the stream the new owner takes over;
	 * after a handshake there are none, and if there are, it is broken. */
	if (c->ipos < c->ilen || c->pending) {
		respio__conn_close(c);
		return RESPIO_E_PROTOCOL;
	}
	fd = c->fd;
	c->fd = -1;
	c->wanted = false;
	respio__conn_close(c);
	return fd;
}

bool respio_conn_is_connected(const respio_conn *c)
{
	return c && c->fd >= 0;
}

int respio_conn_protocol(const respio_conn *c)
{
	return c && c->fd >= 0 ? c->proto : 0;
}

int respio_conn_fd(const respio_conn *c)
{
	return c ? c->fd : -1;
}

const char *respio_conn_errdetail(const respio_conn *c)
{
	return c ? c->errdetail : "";
}

/* On 0 or RESPIO_E_SERVER, *out is the caller's (respio_reply_free). */
int respio_conn_command(respio_conn *c, int argc, const char *const *argv, const size_t *argvlen,
			respio_reply **out)
{
	int rc;

	if (!out)
		return RESPIO_E_INVAL;
	*out = NULL;
	if (!c)
		return RESPIO_E_INVAL;
	respio__conn_clear_detail(c);
	if (c->pending) {
		respio__conn_set_detail(
		    c, "%zu pipelined replies are still unread (use respio_conn_read_reply)",
		    c->pending);
		return RESPIO_E_INVAL;
	}
	rc = conn_ready(c);
	if (rc < 0)
		return rc;
	return respio__conn_roundtrip(c, argc, argv, argvlen,
				      respio__conn_deadline_after(c->cfg.timeout_ms), out);
}

/* Copies the arguments into the output buffer; nothing is sent yet. */
int respio_conn_append(respio_conn *c, int argc, const char *const *argv, const size_t *argvlen)
{
	int rc;

	if (!c)
		return RESPIO_E_INVAL;
	respio__conn_clear_detail(c);
	rc = conn_ready(c);
	if (rc < 0)
		return rc;
	rc = respio__conn_queue(c, argc, argv, argvlen);
	if (rc == 0)
		c->pending++;
	return rc;
}

int respio_conn_flush(respio_conn *c)
{
	int rc;

	if (!c)
		return RESPIO_E_INVAL;
	respio__conn_clear_detail(c);
	rc = conn_ready(c);
	if (rc < 0)
		return rc;
	return respio__conn_flush(c, respio__conn_deadline_after(c->cfg.timeout_ms));
}

/* On 0 or RESPIO_E_SERVER, *out is the caller's (respio_reply_free). */
int respio_conn_read_reply(respio_conn *c, int timeout_ms, respio_reply **out)
{
	int64_t deadline;
	int rc;

	if (!out)
		return RESPIO_E_INVAL;
	*out = NULL;
	if (!c)
		return RESPIO_E_INVAL;
	respio__conn_clear_detail(c);
	if (c->fd < 0) {
		/* Reconnecting would not bring back what the old stream owed us. */
		respio__conn_set_detail(c, c->wanted
					       ? "the connection was closed by an earlier failure"
					       : "not connected (call respio_conn_connect)");
		return RESPIO_E_NOT_CONNECTED;
	}
	/* < 0 takes the config's timeout, where <= 0 means "wait forever";
	 * an explicit 0 means "only what is already here". */
	if (timeout_ms < 0)
		timeout_ms = c->cfg.timeout_ms > 0 ? c->cfg.timeout_ms : -1;
	deadline =
	    timeout_ms == 0 ? respio__conn_now_ms() : respio__conn_deadline_after(timeout_ms);
	/* Queued commands go out first, or their replies would never come. */
	if (c->opos < c->olen) {
		rc = respio__conn_flush(c, respio__conn_deadline_after(c->cfg.timeout_ms));
		if (rc < 0)
			return rc;
	}
	rc = respio__conn_read(c, deadline, out);
	if (rc == -ETIMEDOUT) {
		if (timeout_ms == 0) {
			respio__conn_set_detail(c, "no reply buffered");
			return -EAGAIN;
		}
		respio__conn_set_detail(c, "no reply within %d ms", timeout_ms);
		return rc;
	}
	if (rc < 0)
		return rc;
	if (respio_reply_type(*out) != RESPIO_REPLY_PUSH && c->pending)
		c->pending--;
	if (respio_reply_type(*out) == RESPIO_REPLY_ERROR) {
		respio__conn_set_detail_reply(c, "", *out);
		return RESPIO_E_SERVER;
	}
	return 0;
}

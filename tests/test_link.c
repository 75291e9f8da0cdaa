/* SPDX-License-Identifier: MIT */
/* A link without a socket: requests pushed, the bytes it would send, replies
 * fed in any pieces, and the fate of every request when things go wrong. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "deadline.h"
#include "future.h"
#include "link.h"
#include "sink.h"

#define FD    1000 /* a number the link keeps and never uses */
#define NEVER INT64_MAX
#define SEC   1000000000LL

/* A shard's worth of what a link needs, without the shard. */
struct rig {
	struct respio__shard_counters stats;
	_Atomic uint64_t budget;
	struct respio__sink sink;
	struct respio__link link;
	struct respio__future_pool *pool;
	respio_limits limits;
};

static void rig_init(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	r->sink.stats = &r->stats;
	r->sink.budget = &r->budget;
	cr_assert_eq(respio__deadlines_create(1, &r->sink.deadlines), 0);
	respio__limits_fill(&r->limits, NULL);
	cr_assert_eq(respio__link_init(&r->link, 0, &r->sink, &r->limits), 0);
	cr_assert_eq(respio__future_pool_create(64, &r->pool), 0);
}

static void rig_fini(struct rig *r)
{
	cr_assert_eq(respio__load_relaxed_u32(&r->stats.inflight), 0, "%u requests left in flight",
		     respio__load_relaxed_u32(&r->stats.inflight));
	cr_assert_eq(respio__deadlines_count(r->sink.deadlines, 0), 0, "deadlines left behind");
	cr_assert_eq(respio__load_relaxed_u64(&r->budget), 0, "%llu counted bytes not given back",
		     (unsigned long long)respio__load_relaxed_u64(&r->budget));
	respio__link_fini(&r->link);
	respio__deadlines_destroy(r->sink.deadlines);
	respio__future_pool_close(r->pool);
}

/* Push a request as a shard would accept it (its large bytes counted as a
 * client would have reserved them). */
static respio_future *push(struct rig *r, int64_t deadline, int argc, const char *const *argv)
{
	respio_future *f;

	cr_assert_eq(respio__future_acquire(r->pool, -1, &f), 0);
	cr_assert_eq(respio__future_set_request(f, argc, argv, NULL), 0);
	f->deadline_ns = deadline;
	respio__fetch_add_relaxed_u64(&r->budget, respio__counted_bytes(f));
	respio__sink_accepted(&r->sink);
	cr_assert_eq(respio__link_push(&r->link, f), 0);
	return f;
}

static respio_future *get(struct rig *r, const char *key)
{
	return push(r, NEVER, 2, (const char *const[]){"GET", key});
}

/* Flush and check the bytes of the send it starts, then hand them all to
 * the "kernel". */
static void send_expect(struct rig *r, const char *want)
{
	size_t len;
	const char *bytes;

	cr_assert(respio__link_flush(&r->link, respio__now_ns()), "nothing to send");
	bytes = respio__link_send_bytes(&r->link, &len);
	cr_assert_eq(len, strlen(want), "sending %zu bytes, want %zu", len, strlen(want));
	cr_assert_arr_eq(bytes, want, len, "sending '%.*s'", (int)len, bytes);
	cr_assert_eq(respio__link_sent(&r->link, (int)len), 0);
}

static void feed(struct rig *r, const char *bytes)
{
	cr_assert_eq(respio__link_feed(&r->link, bytes, strlen(bytes)), 0);
}

static void expect_str(respio_future *f, int status, const char *want)
{
	size_t len;
	const char *s;

	cr_assert(respio_future_ready(f), "not completed (want '%s')", want);
	cr_assert_eq(respio_future_status(f), status, "status %s",
		     respio_err_name(respio_future_status(f)));
	cr_assert_eq(respio_future_fate(f), RESPIO_FATE_REPLIED);
	s = respio_reply_str(respio_future_reply(f), &len);
	cr_assert(s && len == strlen(want) && memcmp(s, want, len) == 0, "reply '%.*s', want '%s'",
		  s ? (int)len : 6, s ? s : "(none)", want);
	respio_future_release(f);
}

static void expect_failed(respio_future *f, int status, int fate)
{
	cr_assert(respio_future_ready(f), "not completed");
	cr_assert_eq(respio_future_status(f), status, "status %s, want %s",
		     respio_err_name(respio_future_status(f)), respio_err_name(status));
	cr_assert_eq(respio_future_fate(f), fate, "fate %d, want %d", respio_future_fate(f), fate);
	cr_assert_null(respio_future_reply(f));
	respio_future_release(f);
}

#define GET_A "*2\r\n$3\r\nGET\r\n$1\r\na\r\n"
#define GET_B "*2\r\n$3\r\nGET\r\n$1\r\nb\r\n"
#define GET_C "*2\r\n$3\r\nGET\r\n$1\r\nc\r\n"
#define GET_D "*2\r\n$3\r\nGET\r\n$1\r\nd\r\n"

/* Three requests pipelined in one send; their replies, an error among
 * them, complete them in order however the bytes are cut. */
Test(link, replies_complete_in_order_split_at_every_byte)
{
	static const char replies[] = "$1\r\nA\r\n-ERR no such\r\n$2\r\nCC\r\n";

	for (size_t cut = 0; cut <= sizeof(replies) - 1; cut++) {
		struct rig r;
		respio_future *a, *b, *c;

		rig_init(&r);
		respio__link_up(&r.link, FD, respio__coarse_now_ns());
		a = get(&r, "a");
		b = get(&r, "b");
		c = get(&r, "c");
		send_expect(&r, GET_A GET_B GET_C);
		cr_assert_eq(respio__link_feed(&r.link, replies, cut), 0);
		cr_assert_eq(respio__link_feed(&r.link, replies + cut, sizeof(replies) - 1 - cut),
			     0);
		expect_str(a, 0, "A");
		expect_str(b, RESPIO_E_SERVER, "ERR no such");
		expect_str(c, 0, "CC");
		cr_assert_eq(r.link.queued, 0);
		cr_assert_eq(respio__load_relaxed_u64(&r.stats.completed), 3);
		cr_assert_eq(respio__load_relaxed_u64(&r.stats.failed), 0);
		rig_fini(&r);
	}
}

/* One send in flight: what is pushed meanwhile waits, then goes out in one
 * send; a partial send resumes where the kernel stopped. */
Test(link, one_send_in_flight_and_partial_sends_resume)
{
	struct rig r;
	respio_future *a, *b, *c;
	size_t len;
	const char *bytes;

	rig_init(&r);
	cr_assert_not(respio__link_flush(&r.link, 0), "a DOWN link sent");
	respio__link_up(&r.link, FD, respio__coarse_now_ns());
	cr_assert_not(respio__link_flush(&r.link, 0), "an empty link sent");
	a = get(&r, "a");
	cr_assert(respio__link_flush(&r.link, respio__now_ns()));
	b = get(&r, "b");
	c = get(&r, "c");
	cr_assert_not(respio__link_flush(&r.link, respio__now_ns()), "two sends in flight");
	cr_assert_eq(respio__link_sent(&r.link, 5), 1, "a partial send did not ask for more");
	bytes = respio__link_send_bytes(&r.link, &len);
	cr_assert_eq(len, strlen(GET_A) - 5);
	cr_assert_arr_eq(bytes, GET_A + 5, len);
	cr_assert_eq(respio__link_sent(&r.link, (int)len), 0);
	send_expect(&r, GET_B GET_C);
	feed(&r, "$1\r\nA\r\n$1\r\nB\r\n$1\r\nC\r\n");
	expect_str(a, 0, "A");
	expect_str(b, 0, "B");
	expect_str(c, 0, "C");
	rig_fini(&r);
}

/*
 * The connection is lost: what the kernel took may have executed and
 * fails SENT; what was still in fill stays queued, in order, and is what
 * the next connection sends first, from stream offset 0.
 */
Test(link, a_lost_connection_fails_the_sent_and_keeps_the_unsent)
{
	struct rig r;
	respio_future *a, *b, *c, *d;

	rig_init(&r);
	respio__link_up(&r.link, FD, respio__coarse_now_ns());
	a = get(&r, "a");
	b = get(&r, "b");
	send_expect(&r, GET_A GET_B);
	c = get(&r, "c");
	d = get(&r, "d");
	respio__link_down(&r.link, -ECONNRESET);
	cr_assert_eq(r.link.state, RESPIO__LINK_DOWN);
	cr_assert_eq(r.link.fd, -1);
	expect_failed(a, -ECONNRESET, RESPIO_FATE_SENT);
	expect_failed(b, -ECONNRESET, RESPIO_FATE_SENT);
	cr_assert_not(respio_future_ready(c), "an unsent request failed with the connection");
	cr_assert_not(respio_future_ready(d));
	cr_assert_eq(r.link.queued, 2);
	cr_assert_eq(respio__deadlines_count(r.sink.deadlines, 0), 2);

	respio__link_up(&r.link, FD, respio__coarse_now_ns());
	send_expect(&r, GET_C GET_D);
	cr_assert_eq(r.link.handed_end, strlen(GET_C GET_D), "the new stream does not start at 0");
	feed(&r, "$1\r\nC\r\n$1\r\nD\r\n");
	expect_str(c, 0, "C");
	expect_str(d, 0, "D");
	cr_assert_eq(respio__load_relaxed_u64(&r.stats.failed), 2);
	rig_fini(&r);
}

/* A reply with no request before it cannot be matched to anything: the
 * stream is broken. So is one for a request still unsent (no server
 * answers what it has not received). */
Test(link, a_reply_nobody_asked_for_breaks_the_stream)
{
	struct rig r;
	respio_future *a;

	rig_init(&r);
	respio__link_up(&r.link, FD, respio__coarse_now_ns());
	cr_assert_eq(respio__link_feed(&r.link, "+OK\r\n", 5), RESPIO_E_PROTOCOL);
	respio__link_down(&r.link, RESPIO_E_PROTOCOL);

	respio__link_up(&r.link, FD, respio__coarse_now_ns());
	a = get(&r, "a"); /* pushed, not sent */
	cr_assert_eq(respio__link_feed(&r.link, "$1\r\nA\r\n", 7), RESPIO_E_PROTOCOL);
	cr_assert_not(respio_future_ready(a), "a reply went to an unsent request");
	respio__link_down(&r.link, RESPIO_E_PROTOCOL);
	cr_assert_not(respio_future_ready(a), "an unsent request failed with the stream");
	respio__link_fail_queued(&r.link, -ECONNREFUSED);
	expect_failed(a, -ECONNREFUSED, RESPIO_FATE_NOT_SENT);
	rig_fini(&r);
}

/* RESP3 pushes answer no request: dropped wherever they arrive, before a
 * request is sent, between replies, and the FIFO stays as it was. */
Test(link, pushes_are_dropped_and_leave_the_fifo_alone)
{
	static const char push_msg[] = ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\na\r\n";
	struct rig r;
	respio_future *a, *b;

	rig_init(&r);
	respio__link_up(&r.link, FD, respio__coarse_now_ns());
	feed(&r, push_msg); /* nothing queued */
	a = get(&r, "a");
	feed(&r, push_msg); /* a not sent yet */
	b = get(&r, "b");
	send_expect(&r, GET_A GET_B);
	feed(&r, push_msg);
	feed(&r, "$1\r\nA\r\n");
	feed(&r, push_msg);
	feed(&r, "$1\r\nB\r\n");
	expect_str(a, 0, "A");
	expect_str(b, 0, "B");
	rig_fini(&r);
}

/* A request the kernel took times out: it completes at once (SENT) but
 * keeps its place, so its late reply is read and dropped and the next
 * reply still goes to the next request. */
Test(link, a_sent_request_that_expires_drops_its_late_reply)
{
	struct rig r;
	respio_future *a, *b;
	uint32_t q;
	void *p;

	rig_init(&r);
	respio__link_up(&r.link, FD, respio__coarse_now_ns());
	a = push(&r, 100, 2, (const char *const[]){"GET", "a"});
	b = get(&r, "b");
	send_expect(&r, GET_A GET_B);
	cr_assert(respio__deadlines_pop_expired(r.sink.deadlines, 200, &q, &p));
	cr_assert_eq(p, a);
	respio__link_expire(&r.link, p);
	cr_assert_not(r.link.sweep, "a sent request was marked for the sweep");
	expect_failed(a, -ETIMEDOUT, RESPIO_FATE_SENT);
	cr_assert_eq(r.link.expired, 1);
	feed(&r, "$1\r\nA\r\n$1\r\nB\r\n");
	expect_str(b, 0, "B");
	cr_assert_eq(r.link.queued, 0);
	cr_assert_eq(r.link.expired, 0);
	cr_assert_eq(respio__load_relaxed_u64(&r.stats.timed_out), 1);
	rig_fini(&r);
}

/* Unsent requests that expire leave fill: the sweep completes them
 * NOT_SENT and the next send holds only the others' bytes. */
Test(link, unsent_requests_that_expire_are_swept_out_of_fill)
{
	struct rig r;
	respio_future *a, *b, *c, *d;
	uint32_t q;
	void *p;
	int n = 0;

	rig_init(&r);
	respio__link_up(&r.link, FD, respio__coarse_now_ns());
	a = get(&r, "a");
	cr_assert(respio__link_flush(&r.link, respio__now_ns())); /* a in flight */
	b = push(&r, 100, 2, (const char *const[]){"GET", "b"});
	c = get(&r, "c");
	d = push(&r, 100, 2, (const char *const[]){"GET", "d"});
	while (respio__deadlines_pop_expired(r.sink.deadlines, 200, &q, &p)) {
		respio__link_expire(&r.link, p);
		n++;
	}
	cr_assert_eq(n, 2);
	cr_assert(r.link.sweep);
	cr_assert_not(respio_future_ready(b), "completed before the sweep");
	respio__link_sweep(&r.link);
	expect_failed(b, -ETIMEDOUT, RESPIO_FATE_NOT_SENT);
	expect_failed(d, -ETIMEDOUT, RESPIO_FATE_NOT_SENT);
	cr_assert_eq(respio__link_sent(&r.link, (int)strlen(GET_A)), 0);
	send_expect(&r, GET_C);
	feed(&r, "$1\r\nA\r\n$1\r\nC\r\n");
	expect_str(a, 0, "A");
	expect_str(c, 0, "C");
	rig_fini(&r);
}

/* A failed dial fails everything queued, never sent, and gives back the
 * bytes of large commands. */
Test(link, a_failed_dial_fails_the_queue_unsent)
{
	struct rig r;
	char *big = malloc(1000);
	respio_future *a, *b;

	cr_assert_not_null(big);
	memset(big, 'v', 999);
	big[999] = '\0';
	rig_init(&r);
	a = push(&r, NEVER, 3, (const char *const[]){"SET", "k", big});
	b = get(&r, "b");
	cr_assert_gt(respio__load_relaxed_u64(&r.budget), 1000);
	respio__link_fail_queued(&r.link, -ECONNREFUSED);
	expect_failed(a, -ECONNREFUSED, RESPIO_FATE_NOT_SENT);
	expect_failed(b, -ECONNREFUSED, RESPIO_FATE_NOT_SENT);
	cr_assert_eq(r.link.queued, 0);
	rig_fini(&r);
	free(big);
}

/* The bytes of a large command count against the budget until the kernel
 * has all of them, not when the send starts. */
Test(link, large_commands_count_until_the_kernel_takes_them)
{
	struct rig r;
	char *big = malloc(1000);
	respio_future *a;
	uint64_t counted;
	size_t len;

	cr_assert_not_null(big);
	memset(big, 'v', 999);
	big[999] = '\0';
	rig_init(&r);
	respio__link_up(&r.link, FD, respio__coarse_now_ns());
	a = push(&r, NEVER, 3, (const char *const[]){"SET", "k", big});
	counted = respio__load_relaxed_u64(&r.budget);
	cr_assert_gt(counted, 1000);
	cr_assert(respio__link_flush(&r.link, respio__now_ns()));
	respio__link_send_bytes(&r.link, &len);
	cr_assert_eq(respio__link_sent(&r.link, 100), 1);
	cr_assert_eq(respio__load_relaxed_u64(&r.budget), counted, "given back before sent");
	cr_assert_eq(respio__link_sent(&r.link, (int)len - 100), 0);
	cr_assert_eq(respio__load_relaxed_u64(&r.budget), 0, "not given back once sent");
	feed(&r, "+OK\r\n");
	expect_str(a, 0, "OK");
	rig_fini(&r);
	free(big);
}

/*
 * A connection that stops answering stalls: it sends nothing more, and it
 * is given up (true) only once every request sent on it has met its own
 * deadline. Any reply clears the stall.
 */
Test(link, a_stall_gives_up_only_after_every_sent_request_expired)
{
	struct rig r;
	int64_t t0 = respio__coarse_now_ns();
	respio_future *a, *b;
	uint32_t q;
	void *p;

	rig_init(&r);
	respio__link_up(&r.link, FD, t0);
	cr_assert_not(respio__link_check_stall(&r.link, t0 + 10 * SEC, SEC), "idle is no stall");
	cr_assert_not(r.link.stalled);
	a = push(&r, t0 + 12 * SEC + SEC / 2, 2, (const char *const[]){"GET", "a"});
	cr_assert(respio__link_flush(&r.link, t0 + 10 * SEC));
	cr_assert_eq(respio__link_sent(&r.link, (int)strlen(GET_A)), 0);
	/* The clock starts with the send, not with the idle spell before. */
	cr_assert_not(respio__link_check_stall(&r.link, t0 + 10 * SEC + SEC / 2, SEC));
	cr_assert_not(r.link.stalled);
	cr_assert_not(respio__link_check_stall(&r.link, t0 + 12 * SEC, SEC),
		      "given up with a request still within its deadline");
	cr_assert(r.link.stalled);
	b = get(&r, "b");
	cr_assert_not(respio__link_flush(&r.link, t0 + 12 * SEC), "a stalled link sent");

	cr_assert(respio__deadlines_pop_expired(r.sink.deadlines, t0 + 13 * SEC, &q, &p));
	respio__link_expire(&r.link, p);
	expect_failed(a, -ETIMEDOUT, RESPIO_FATE_SENT);
	cr_assert(respio__link_check_stall(&r.link, t0 + 13 * SEC, SEC),
		  "not given up with every sent request expired");
	respio__link_down(&r.link, -ETIMEDOUT);
	cr_assert_not(respio_future_ready(b), "the unsent request failed with the stall");
	respio__link_fail_queued(&r.link, -ETIMEDOUT);
	expect_failed(b, -ETIMEDOUT, RESPIO_FATE_NOT_SENT);
	rig_fini(&r);
}

/* A reply clears the stall: the link sends again. */
Test(link, a_reply_clears_the_stall)
{
	struct rig r;
	int64_t t0 = respio__coarse_now_ns();
	respio_future *a, *b;

	rig_init(&r);
	respio__link_up(&r.link, FD, t0 - 20 * SEC);
	a = get(&r, "a");
	cr_assert(respio__link_flush(&r.link, t0 - 20 * SEC));
	cr_assert_eq(respio__link_sent(&r.link, (int)strlen(GET_A)), 0);
	b = get(&r, "b");
	cr_assert_not(respio__link_check_stall(&r.link, t0 - 10 * SEC, SEC));
	cr_assert(r.link.stalled);
	feed(&r, "$1\r\nA\r\n");
	cr_assert_not(r.link.stalled, "a reply left the link stalled");
	expect_str(a, 0, "A");
	send_expect(&r, GET_B);
	feed(&r, "$1\r\nB\r\n");
	expect_str(b, 0, "B");
	rig_fini(&r);
}

/* The shard stops: sent requests fail SENT, the rest NOT_SENT, and a
 * request that expired but still waits for its late reply is let go. */
Test(link, abort_gives_every_request_its_fate)
{
	struct rig r;
	respio_future *a, *b, *c;
	uint32_t q;
	void *p;

	rig_init(&r);
	respio__link_up(&r.link, FD, respio__coarse_now_ns());
	a = push(&r, 100, 2, (const char *const[]){"GET", "a"});
	b = get(&r, "b");
	send_expect(&r, GET_A GET_B);
	c = get(&r, "c");
	cr_assert(respio__deadlines_pop_expired(r.sink.deadlines, 200, &q, &p));
	respio__link_expire(&r.link, p);
	respio__link_abort(&r.link, RESPIO_E_SHUTDOWN);
	cr_assert_eq(r.link.state, RESPIO__LINK_DOWN);
	expect_failed(a, -ETIMEDOUT, RESPIO_FATE_SENT);
	expect_failed(b, RESPIO_E_SHUTDOWN, RESPIO_FATE_SENT);
	expect_failed(c, RESPIO_E_SHUTDOWN, RESPIO_FATE_NOT_SENT);
	rig_fini(&r);
}

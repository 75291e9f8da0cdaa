/* SPDX-License-Identifier: MIT */
/* The shard worker: its thread and loop, which drains its lanes onto its
 * links, dispatches io_uring completions, and sleeps until woken. */

/*
 * The sleeping flag
 * -----------------
 * A shard with nothing to do blocks in io_uring_enter until a completion,
 * a timeout, or a write to its eventfd. Producers must wake it after an
 * enqueue, but a wake is a syscall (40-60 us of someone's time here), so
 * they wake it only when it said it is about to sleep: at most one wake
 * per sleep, none while it runs.
 *
 * Invariants:
 *  - sleeping is 1 only between the shard's store of 1, before its last
 *    look at the lanes, and its store of 0 after it woke (or found work
 *    on that look). A producer swaps it to 0 when it writes the eventfd.
 *  - The shard stores 1, then a seq_cst fence, then looks at every lane;
 *    a producer enqueues, then a seq_cst fence, then loads sleeping
 *    (respio__shard_wake). The two fences pair: of the shard's look and
 *    the producer's load, at least one sees the other's store. So either
 *    the shard sees the request and does not sleep, or the producer sees
 *    1 and writes the eventfd, whose read the shard keeps armed: no
 *    request waits for the next tick.
 *  - The exchange to 0 lets exactly one producer write the eventfd per
 *    sleep; the others see 0 and skip the syscall.
 *  - Mailbox posts do not read the flag: control messages are rare, and
 *    their wake always writes the eventfd (mailbox.h).
 * The shard stores 0 on waking with a relaxed store: a producer that still
 * sees 1 writes the eventfd once more, which costs a spurious turn, never
 * a lost request.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "atomic.h"
#include "control.h"
#include "deadline.h"
#include "lanes.h"
#include "link.h"
#include "mailbox.h"
#include "shard.h"
#include "sink.h"
#include "slice.h"
#include "uring.h"

/* Requests taken from the lanes per loop turn: enough to batch, small
 * enough that replies keep flowing while producers are busy. */
#define RESPIO__DRAIN_BATCH   512
#define RESPIO__URING_ENTRIES 256
#define RESPIO__RECV_BUFS     128
#define RESPIO__RECV_BUF_SIZE 16384
/* Longest sleep when nothing is due: bounds how stale maintenance gets. */
#define RESPIO__IDLE_TICK_NS 100000000LL
/* How long a shard keeps polling after its last work before it sleeps, and
 * the most requests it may hold in flight to do so (see shard_loop). */
#define RESPIO__POLL_NS		  30000LL
#define RESPIO__POLL_MAX_INFLIGHT 1

/*
 * CQE user_data: op in the low byte, link index above it, and the link's
 * connection generation in the high half, so a completion that belongs to
 * a connection since replaced is recognised and only its buffer recycled.
 */
enum {
	RESPIO__OP_RECV = 1,
	RESPIO__OP_SEND,
	RESPIO__OP_EVENTFD,
	RESPIO__OP_CLOSE, /* a socket closed behind its SQEs (close_through_ring) */
	RESPIO__OP_WAKE = RESPIO__UD_OP_WAKE, /* only refused wakes post a CQE */
};

static inline uint64_t ud_make(unsigned op, uint32_t link, uint32_t gen)
{
	return (uint64_t)gen << 32 | (uint64_t)link << 8 | op;
}

static inline unsigned ud_op(uint64_t ud)
{
	return ud & 0xff;
}

static inline uint32_t ud_link(uint64_t ud)
{
	return (uint32_t)(ud >> 8) & 0xffffff;
}

static inline uint32_t ud_gen(uint64_t ud)
{
	return (uint32_t)(ud >> 32);
}

static struct io_uring_sqe *get_sqe(struct respio__shard *sh)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&sh->uring);

	/* The SQ is full only when a turn prepared more than it holds: push
	 * what we have to the kernel and take a fresh entry. */
	if (!sqe) {
		io_uring_submit(&sh->uring);
		sqe = io_uring_get_sqe(&sh->uring);
	}
	return sqe;
}

static void arm_recv(struct respio__shard *sh, struct respio__link *l)
{
	struct io_uring_sqe *sqe = get_sqe(sh);

	io_uring_prep_recv_multishot(sqe, l->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = sh->bufs.bgid;
	io_uring_sqe_set_data64(sqe, ud_make(RESPIO__OP_RECV, l->index, l->gen));
}

/* Send what the link has in flight and the kernel has not taken yet. */
static void submit_send(struct respio__shard *sh, struct respio__link *l)
{
	struct io_uring_sqe *sqe = get_sqe(sh);
	size_t len;
	const char *bytes = respio__link_send_bytes(l, &len);

	io_uring_prep_send(sqe, l->fd, bytes, len, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud_make(RESPIO__OP_SEND, l->index, l->gen));
}

/* Start a send when the link has bytes and none in flight, unless a
 * failover holds writes. */
static void flush(struct respio__shard *sh, struct respio__link *l)
{
	if (!respio__slice_held(&sh->slice, sh->now_ns) && respio__link_flush(l, sh->now_ns))
		submit_send(sh, l);
}

/*
 * Close fd behind every SQE that may still name it. SQEs prepared this turn
 * (a send, a recv re-armed) sit in the SQ until the next submit; closed
 * now, the number could go to the control thread's next socket() first and
 * those SQEs would then write old commands into, or read from, a new
 * connection. The kernel takes SQEs in order and each non-linked one takes
 * its reference to the file when it is issued, during the submit: a close
 * queued behind them frees the number only after they hold the old socket.
 */
static void close_through_ring(void *arg, int fd)
{
	struct respio__shard *sh = arg;
	struct io_uring_sqe *sqe = get_sqe(sh);

	if (!sqe) {
		/* No entry even after a submit: push what is queued to the
		 * kernel first, then close directly. */
		io_uring_submit(&sh->uring);
		if (io_uring_sq_ready(&sh->uring) == 0) {
			close(fd);
			return;
		}
		/* The kernel took nothing: keep the number (a leak of one fd
		 * beats a stale SQE on someone else's socket). */
		return;
	}
	io_uring_prep_close(sqe, fd);
	io_uring_sqe_set_data64(sqe, ud_make(RESPIO__OP_CLOSE, 0, 0));
}

/* A link came up: receive on it, and send what waited for it. */
static void link_up(void *arg, struct respio__link *l)
{
	struct respio__shard *sh = arg;

	arm_recv(sh, l);
	flush(sh, l);
}

enum {
	RESPIO__SWEEP_POSTED = 1,
	RESPIO__SWEEP_HEALTH = 2,
};

/* Take the sweep request; from here it may be posted again. */
static void sweep(struct respio__shard *sh)
{
	uint32_t flags = respio__exchange_acq_rel_u32(&sh->sweep_flags, 0);

	if (!sh->stopping)
		respio__slice_sweep(&sh->slice, respio__now_ns(), flags & RESPIO__SWEEP_HEALTH);
}

void respio__shard_sweep(struct respio__shard *sh, bool health)
{
	uint32_t want = RESPIO__SWEEP_POSTED | (health ? RESPIO__SWEEP_HEALTH : 0);

	if (!(respio__fetch_or_acq_rel_u32(&sh->sweep_flags, want) & RESPIO__SWEEP_POSTED))
		respio__mailbox_post(&sh->mail, &sh->sweep_msg);
}

static void handle_mail(struct respio__shard *sh)
{
	struct respio__queue_node *n, *next;
	bool swept = false, topology = false;

	for (n = respio__mailbox_take(&sh->mail); n; n = next) {
		struct respio__msg *msg = RESPIO__QUEUE_DATA(n, struct respio__msg, node);

		next = n->next;
		switch (msg->type) {
		case RESPIO__MSG_SWEEP:
			swept = true;
			continue; /* the shard's own message: nothing to release */
		case RESPIO__MSG_TOPOLOGY: topology = true; continue;
		case RESPIO__MSG_CONN_READY:
			respio__slice_conn_ready(&sh->slice, msg->link, msg->fd, msg->epoch);
			break;
		case RESPIO__MSG_CONN_FAILED:
			respio__slice_dial_failed(&sh->slice, msg->link, msg->err);
			break;
		case RESPIO__MSG_STOP:
			sh->stopping = true;
			respio__slice_stop(&sh->slice);
			break;
		}
		respio__msg_release(msg);
	}
	if (topology) {
		/* Taken: a later change posts it again, and is read here. */
		respio__store_release_u32(&sh->topology_posted, 0);
		respio__slice_topology(&sh->slice);
	}
	if (swept)
		sweep(sh);
}

void respio__shard_topology(struct respio__shard *sh)
{
	if (!respio__exchange_acq_rel_u32(&sh->topology_posted, 1))
		respio__mailbox_post(&sh->mail, &sh->topology_msg);
}

static uint32_t drain_ring(struct respio__shard *sh, int64_t now)
{
	/* The shard is its lanes' only consumer, ever (shard_shutdown drains
	 * them on this thread too): the single-consumer dequeue saves the
	 * consumer's CAS per request. */
	struct respio__lanes_pass pass =
	    respio__lanes_pass(sh->lanes, sh->next_lane, RESPIO__DRAIN_BATCH);
	uint32_t n = 0;
	void *p;

	while (respio__lanes_take(&pass, &p)) {
		respio__slice_accept(&sh->slice, p, now);
		n++;
	}
	sh->next_lane = (sh->next_lane + 1) % RESPIO__LANES;
	if (n) {
		respio__counter_add(&sh->stats.batches, 1);
		respio__counter_add(&sh->stats.batched, n);
	}
	return n;
}

static void on_recv(struct respio__shard *sh, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	struct respio__link *l = respio__slice_link(&sh->slice, ud_link(ud));
	bool has_buf = cqe->flags & IORING_CQE_F_BUFFER;
	uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
	int rc = 0;

	if (ud_gen(ud) != l->gen || l->state != RESPIO__LINK_UP) {
		if (has_buf)
			respio__bufring_recycle(&sh->bufs, bid);
		return;
	}
	if (cqe->res > 0 && has_buf)
		rc = respio__link_feed(l, respio__bufring_buf(&sh->bufs, bid), (size_t)cqe->res);
	/* The parser copied what it needs: the buffer goes straight back. */
	if (has_buf)
		respio__bufring_recycle(&sh->bufs, bid);
	if (rc < 0) {
		respio__slice_lost(&sh->slice, l, rc);
		return;
	}
	if (cqe->res == 0) {
		respio__slice_lost(&sh->slice, l, RESPIO_E_CLOSED);
		return;
	}
	if (cqe->res < 0 && cqe->res != -ENOBUFS) {
		respio__slice_lost(&sh->slice, l, cqe->res);
		return;
	}
	/* Multishot ends on any CQE without F_MORE (ENOBUFS included). */
	if (!(cqe->flags & IORING_CQE_F_MORE))
		arm_recv(sh, l);
}

static void on_send(struct respio__shard *sh, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	struct respio__link *l = respio__slice_link(&sh->slice, ud_link(ud));
	int rc;

	/* Whatever its generation, this was the link's one pending send. */
	if (ud_gen(ud) != l->gen || l->state != RESPIO__LINK_UP) {
		respio__link_send_stale(l);
		flush(sh, l);
		return;
	}
	rc = respio__link_sent(l, cqe->res);
	if (rc < 0)
		respio__slice_lost(&sh->slice, l, rc);
	else if (rc > 0)
		submit_send(sh, l);
	else
		flush(sh, l);
}

static void arm_eventfd(struct respio__shard *sh)
{
	struct io_uring_sqe *sqe = get_sqe(sh);

	io_uring_prep_read(sqe, sh->efd, &sh->efd_val, sizeof(sh->efd_val), 0);
	io_uring_sqe_set_data64(sqe, ud_make(RESPIO__OP_EVENTFD, 0, 0));
	sh->efd_armed = true;
}

/* The held wakes of a batch, in one io_uring_enter (uring.h). */
static uint32_t ring_wake_batch(void *ring, _Atomic uint32_t *const *words, uint32_t n)
{
	return respio__uring_futex_wake(ring, words, n);
}

static void wake_through_ring(struct respio__shard *sh, bool on)
{
	sh->sink.wakes.wake_batch = on ? ring_wake_batch : NULL;
	sh->sink.wakes.wake_ctx = on ? &sh->uring : NULL;
}

/* The kernel lists the opcode yet refused a wake: make it by syscall, and
 * make every later one that way too. */
static void on_refused_wake(struct respio__shard *sh, struct io_uring_cqe *cqe)
{
	respio__futex_wake(respio__uring_wake_word(io_uring_cqe_get_data64(cqe)), INT_MAX);
	wake_through_ring(sh, false);
}

/* Wake the held waiters and publish the wake counters (also those of a
 * full batch that respio__future_publish flushed on its own). */
static void flush_wakes(struct respio__shard *sh)
{
	respio__wakes_flush(&sh->sink.wakes);
	respio__store_relaxed_u64(&sh->stats.waiter_wakes, sh->sink.wakes.woken);
	respio__store_relaxed_u64(&sh->stats.wake_calls, sh->sink.wakes.calls);
}

static unsigned process_cqes(struct respio__shard *sh)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&sh->uring, head, cqe)
	{
		switch (ud_op(io_uring_cqe_get_data64(cqe))) {
		case RESPIO__OP_RECV: on_recv(sh, cqe); break;
		case RESPIO__OP_SEND: on_send(sh, cqe); break;
		case RESPIO__OP_EVENTFD: sh->efd_armed = false; break;
		case RESPIO__OP_WAKE: on_refused_wake(sh, cqe); break;
		}
		n++;
	}
	io_uring_cq_advance(&sh->uring, n);
	/* Automatic leases whose command was answered go back to the pool
	 * before their callers wake: a consumer that blocks again at once
	 * finds its connection free, not still out. */
	if (n && sh->slice.leases_out)
		for (uint32_t i = sh->slice.nshared; i < sh->slice.nlinks; i++)
			respio__slice_after_turn(&sh->slice, respio__slice_link(&sh->slice, i));
	/* Every reply of this batch is published: wake its waiters now. */
	flush_wakes(sh);
	if (sh->sink.suspect) {
		sh->sink.suspect = false;
		respio__control_suspect(sh->slice.control);
	}
	if (!sh->efd_armed && !sh->stopping)
		arm_eventfd(sh);
	return n;
}

/* Start the sends that are due and publish how many connections are busy. */
static void flush_all(struct respio__shard *sh)
{
	uint32_t busy = 0;

	for (uint32_t i = 0; i < sh->slice.nlinks; i++) {
		struct respio__link *l = respio__slice_link(&sh->slice, i);

		respio__slice_after_turn(&sh->slice, l);
		flush(sh, l);
		busy += respio__link_busy(l);
	}
	if (busy != respio__load_relaxed_u32(&sh->stats.conns_busy))
		respio__store_relaxed_u32(&sh->stats.conns_busy, busy);
}

static bool has_work(struct respio__shard *sh)
{
	return !respio__lanes_empty(sh->lanes) || respio__mailbox_peek(&sh->mail);
}

/* Maintenance (redials, stall checks) runs this often at most. */
#define RESPIO__MAINT_NS 10000000LL

static int64_t next_wake(struct respio__shard *sh, int64_t now, int64_t last_maint)
{
	int64_t t = now + RESPIO__IDLE_TICK_NS,
		deadline = respio__deadlines_next(sh->sink.deadlines),
		retry = respio__slice_next_retry(&sh->slice, t);

	if (deadline < t)
		t = deadline;
	/* A redial already due waits for the next maintenance pass: woken
	 * before it, the shard would find nothing to do and spin until then. */
	if (retry < last_maint + RESPIO__MAINT_NS)
		retry = last_maint + RESPIO__MAINT_NS;
	if (retry < t)
		t = retry;
	/* A hold ends on its own at its bound. */
	if (sh->slice.held_until_ns > now && sh->slice.held_until_ns < t)
		t = sh->slice.held_until_ns;
	return t > now ? t : now;
}

static void shard_loop(struct respio__shard *sh)
{
	int64_t last_maint = 0, poll_until = 0;
	bool replies = false; /* the last turn completed something */

	for (;;) {
		int64_t now;
		uint32_t drained;

		if (respio__mailbox_peek(&sh->mail))
			handle_mail(sh);
		if (sh->stopping || respio__load_acquire_u32(&sh->stop_flag))
			return;
		now = respio__now_ns();
		sh->now_ns = now;
		drained = drain_ring(sh, now);
		if (now >= respio__deadlines_next(sh->sink.deadlines))
			respio__slice_expire(&sh->slice, now);
		if (now - last_maint >= RESPIO__MAINT_NS) {
			respio__slice_maintain(&sh->slice, now);
			last_maint = now;
		}
		flush_all(sh);
		/* Requests failed above (deadline, backoff, no memory). */
		flush_wakes(sh);

		/* One clock read per turn: the poll window opens at the start
		 * of the turn after the work, microseconds late at most. */
		if (drained || replies)
			poll_until = now + RESPIO__POLL_NS;
		if (drained == 0 && !io_uring_cq_ready(&sh->uring) && now < poll_until &&
		    respio__load_relaxed_u32(&sh->stats.inflight) <= RESPIO__POLL_MAX_INFLIGHT) {
			/*
			 * Work happened moments ago and at most one request is
			 * in flight: a lone caller waits on a round trip, the
			 * next reply or request is microseconds away, and a
			 * sleep would cost a wakeup on each side (the sleeping
			 * flag stays clear, so submitters skip the eventfd
			 * too). With more callers the poll took the CPU they
			 * and the server needed (4 synchronous threads on 2
			 * cores ran slower with it); they sleep as before.
			 */
			io_uring_submit_and_get_events(&sh->uring);
			replies = process_cqes(sh) > 0;
			if (!replies)
				respio__cpu_relax();
			continue;
		}
		if (drained == 0 && !io_uring_cq_ready(&sh->uring)) {
			struct __kernel_timespec ts;
			struct io_uring_cqe *cqe;
			int64_t wait_ns;

			/*
			 * About to block (the sleeping flag, above). The
			 * seq_cst fence orders the store of sleeping before the
			 * lanes' check below; it pairs with the fence in
			 * respio__shard_wake, between a producer's enqueue and
			 * its load of sleeping.
			 */
			respio__store_relaxed_u32(&sh->sleeping, 1);
			respio__fence_seq_cst();
			if (has_work(sh)) {
				respio__store_relaxed_u32(&sh->sleeping, 0);
				io_uring_submit(&sh->uring);
				continue;
			}
			respio__counter_add(&sh->stats.sleeps, 1);
			wait_ns = next_wake(sh, now, last_maint) - now;
			ts.tv_sec = wait_ns / 1000000000;
			ts.tv_nsec = wait_ns % 1000000000;
			io_uring_submit_and_wait_timeout(&sh->uring, &cqe, 1, &ts, NULL);
			respio__store_relaxed_u32(&sh->sleeping, 0);
		} else {
			io_uring_submit_and_get_events(&sh->uring);
		}
		replies = process_cqes(sh) > 0;
	}
}

/* Everything still in the shard completes with RESPIO_E_SHUTDOWN. */
static void shard_shutdown(struct respio__shard *sh)
{
	struct respio__lanes_pass pass = respio__lanes_pass(sh->lanes, 0, UINT32_MAX);
	void *p;

	while (respio__lanes_take(&pass, &p)) {
		respio__gauge_add(&sh->stats.inflight, 1);
		respio__sink_finish_unsent(&sh->sink, p, RESPIO_E_SHUTDOWN);
	}
	respio__slice_abort(&sh->slice, RESPIO_E_SHUTDOWN);
}

/* Links, parsers and buffers are freed after the join (respio__shard_fini). */
static void shard_free_resources(struct respio__shard *sh)
{
	/* This submit closes the sockets queued by close_through_ring, after
	 * the SQEs before them (on sockets already shut down). Exiting the
	 * ring cancels what is pending; only then may the memory its SQEs
	 * point at (buffers, sends) go. */
	io_uring_submit(&sh->uring);
	io_uring_queue_exit(&sh->uring);
	respio__bufring_free(NULL, &sh->bufs);
	respio__deadlines_destroy(sh->sink.deadlines);
	sh->sink.deadlines = NULL;
}

/* The shard's mailbox wakes it: control messages are rare, so always. */
static void kick(void *arg)
{
	struct respio__shard *sh = arg;

	if (eventfd_write(sh->efd, 1) < 0) {
		/* The counter cannot overflow in practice; nothing to do. */
	}
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 2;

	while (p < n && p < (1u << 30))
		p <<= 1;
	return p;
}

int respio__shard_init(struct respio__shard *sh, const struct respio__shard_config *cfg)
{
	sh->index = cfg->index;
	sh->gate = cfg->gate;
	sh->efd = -1;
	sh->sink.stats = &sh->stats;
	sh->sink.budget = cfg->budget;
	respio__mailbox_init(&sh->mail, kick, sh);
	sh->sweep_msg = (struct respio__msg){.type = RESPIO__MSG_SWEEP, .in_link = true};
	sh->topology_msg = (struct respio__msg){.type = RESPIO__MSG_TOPOLOGY, .in_link = true};
	sh->initialized = true;
	sh->lane_cap = pow2_at_least(cfg->ring_capacity + 1);
	sh->lanes = aligned_alloc(64, RESPIO__LANES * sizeof(*sh->lanes));
	if (!sh->lanes)
		return -ENOMEM;
	memset(sh->lanes, 0, RESPIO__LANES * sizeof(*sh->lanes));
	for (uint32_t i = 0; i < RESPIO__LANES; i++) {
		sh->lanes[i].buf = calloc(sh->lane_cap, sizeof(*sh->lanes[i].buf));
		if (!sh->lanes[i].buf)
			return -ENOMEM;
		ck_ring_init(&sh->lanes[i].ring, sh->lane_cap);
	}
	sh->efd = eventfd(0, EFD_CLOEXEC);
	if (sh->efd < 0)
		return -errno;
	sh->slice.io =
	    (struct respio__slice_io){.up = link_up, .close = close_through_ring, .ctx = sh};
	sh->nshared = sh->slice.nshared = cfg->nshared;
	sh->slice.pool = cfg->pool;
	sh->slice.futures = cfg->futures;
	sh->slice.redial_spread_ns = cfg->redial_spread_ns;
	sh->slice.probe_timeout_ns = cfg->probe_timeout_ns;
	sh->slice.patient = cfg->patient;
	sh->replica_link = sh->slice.replica_link = cfg->replica_link;
	return respio__slice_init(&sh->slice, cfg->nlinks, &sh->sink, cfg->limits, &sh->mail,
				  cfg->timeout_ns,
				  (unsigned)time(NULL) ^ (cfg->index * 2654435761u));
}

void respio__shard_fini(struct respio__shard *sh)
{
	if (!sh->initialized)
		return;
	/* Messages first: a dial's answer lives in its link. */
	respio__mailbox_destroy(&sh->mail);
	respio__slice_fini(&sh->slice);
	if (sh->efd >= 0)
		close(sh->efd);
	for (uint32_t i = 0; sh->lanes && i < RESPIO__LANES; i++)
		free(sh->lanes[i].buf);
	free(sh->lanes);
}

_Thread_local bool respio__on_shard_thread;

static void *shard_main(void *arg)
{
	struct respio__shard *sh = arg;
	unsigned flags = 0;
	int rc;

	respio__on_shard_thread = true;
	rc = respio__uring_init(&sh->uring, RESPIO__URING_ENTRIES, &flags);
	if (rc == 0) {
		rc = respio__bufring_init(&sh->uring, &sh->bufs, 0, RESPIO__RECV_BUFS,
					  RESPIO__RECV_BUF_SIZE);
		if (rc == 0) {
			rc = respio__deadlines_create(sh->slice.nlinks, &sh->sink.deadlines);
			if (rc < 0)
				respio__bufring_free(&sh->uring, &sh->bufs);
		}
		if (rc < 0)
			io_uring_queue_exit(&sh->uring);
	}
	pthread_mutex_lock(&sh->gate->lock);
	sh->init_rc = rc;
	sh->gate->started++;
	pthread_cond_broadcast(&sh->gate->cond);
	pthread_mutex_unlock(&sh->gate->lock);
	if (rc < 0)
		return NULL;

	wake_through_ring(sh, respio__uring_has_futex_wake(&sh->uring));
	arm_eventfd(sh);
	respio__slice_start(&sh->slice);
	shard_loop(sh);
	/* From here the ring only winds down: wake by syscall, which submits
	 * nothing else. */
	wake_through_ring(sh, false);
	shard_shutdown(sh);
	/* Messages that raced with the stop: their sockets must not leak. */
	sh->stopping = true;
	respio__slice_stop(&sh->slice);
	handle_mail(sh);
	flush_wakes(sh);
	shard_free_resources(sh);
	return NULL;
}

int respio__shard_start(struct respio__shard *sh, struct respio__control *ctl)
{
	char name[16];
	int rc;

	sh->slice.control = ctl;
	rc = pthread_create(&sh->thread, NULL, shard_main, sh);
	if (rc)
		return -rc;
	/* Named after its index, for top -H, perf and debuggers. */
	snprintf(name, sizeof(name), "respio-shard%u", sh->index % 1000);
	pthread_setname_np(sh->thread, name);
	return 0;
}

void respio__shard_stop(struct respio__shard *sh)
{
	struct respio__msg *msg = calloc(1, sizeof(*msg));

	if (msg) {
		msg->type = RESPIO__MSG_STOP;
		respio__mailbox_post(&sh->mail, msg);
	} else {
		/* Without memory for a message, stop through the flag the
		 * shard reads every turn. */
		respio__store_release_u32(&sh->stop_flag, 1);
		respio__shard_wake(sh);
	}
}

void respio__shard_wake(struct respio__shard *sh)
{
	/*
	 * The producer's half of the sleeping flag (above): our enqueue is
	 * ordered before this load of sleeping by the fence, which pairs with
	 * the one in shard_loop. The exchange lets exactly one producer write
	 * the eventfd per sleep.
	 */
	respio__fence_seq_cst();
	if (respio__load_relaxed_u32(&sh->sleeping) &&
	    respio__exchange_acq_rel_u32(&sh->sleeping, 0) == 1) {
		respio__fetch_add_relaxed_u64(&sh->stats.wakeups, 1);
		if (eventfd_write(sh->efd, 1) < 0) {
			/* Cannot fail short of a closed fd; the tick still runs. */
		}
	}
}

void respio__shard_join(struct respio__shard *sh)
{
	pthread_join(sh->thread, NULL);
}

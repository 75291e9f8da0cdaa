/* SPDX-License-Identifier: MIT */
/* Futures and their pool, with plain threads standing in for shard workers. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "future.h"
#include "reply_internal.h"

#include "alloc_count.h"

/* --- helpers ------------------------------------------------------------- */

static int64_t ms_since(int64_t start_ns)
{
	return (respio__now_ns() - start_ns) / 1000000;
}

static int64_t deadline_in_ms(int64_t ms)
{
	return respio__now_ns() + ms * 1000000;
}

static struct respio__future_pool *make_pool(uint32_t cap)
{
	struct respio__future_pool *pool = NULL;

	cr_assert_eq(respio__future_pool_create(cap, &pool), 0);
	cr_assert_not_null(pool);
	return pool;
}

static respio_future *take(struct respio__future_pool *pool)
{
	respio_future *f = NULL;

	cr_assert_eq(respio__future_acquire(pool, deadline_in_ms(5000), &f), 0);
	cr_assert_not_null(f);
	return f;
}

/* What a shard does: build the reply into the future's memory (an INTEGER
 * here; reply_size > 368 forces the heap arena), then complete. */
static void fake_complete(respio_future *f, int status, int fate, long long value,
			  size_t reply_size)
{
	struct respio_reply *r;

	if (reply_size < sizeof(*r))
		reply_size = sizeof(*r);
	r = respio__future_reply_mem(f, reply_size);
	cr_assert_not_null(r);
	memset(r, 0, sizeof(*r));
	r->type = RESPIO_REPLY_INTEGER;
	r->v.integer = value;
	f->reply = r;
	respio__future_complete(f, status, fate, NULL);
}

static int set_req(respio_future *f, const char *cmd, const char *arg)
{
	const char *argv[2] = {cmd, arg};

	return respio__future_set_request(f, 2, argv, NULL);
}

/* --- is a thread asleep on a futex? ---------------------------------------- */

/*
 * Whether thread tid (of this process) sleeps in the futex system call, on
 * word if it is not NULL: /proc/self/task/TID/syscall names the call a
 * blocked thread is in and its arguments ("running" when it is not
 * blocked), and stat says 'S'. A thread that was woken is runnable at
 * once, before it runs, so this sees a wake the moment it is made: tests
 * look at the sleep itself instead of at a waiter that has not returned
 * yet, which a waiter that was merely slow to get there also does.
 * Skips when the kernel does not say (no /proc/PID/syscall).
 */
static bool asleep_in_futex(pid_t tid, const void *word)
{
	char path[64], buf[512], *p;
	unsigned long addr = 0;
	long nr = -1;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	f = fopen(path, "r");
	if (!f && access("/proc/self/syscall", R_OK) != 0)
		cr_skip_test("cannot tell whether a thread sleeps: no /proc/self/syscall (%s)",
			     strerror(errno));
	if (!f)
		return false; /* no such thread (any more) */
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (sscanf(buf, "%ld 0x%lx", &nr, &addr) != 2 || nr != SYS_futex ||
	    (word && addr != (unsigned long)word))
		return false;
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the name may hold anything, parentheses too */
	return p && p[1] == ' ' && p[2] == 'S';
}

/* Until thread tid sleeps on word (see above), or 10 s. */
static bool wait_asleep(pid_t tid, const void *word)
{
	for (int i = 0; i < 10000; i++) {
		if (asleep_in_futex(tid, word))
			return true;
		sleep_ms(1);
	}
	return false;
}

/* A completer thread: optional delay, then (if sleeper is set) until that
 * thread sleeps on a futex, then complete, recording the state word it
 * found (to prove the waiter announced its sleep). */
struct delayed {
	respio_future *f;
	long delay_ms;
	long long value;
	uint32_t state_seen;
	pid_t sleeper;
	bool slept;
	pthread_t tid;
};

static void *delayed_complete(void *arg)
{
	struct delayed *d = arg;

	sleep_ms(d->delay_ms);
	if (d->sleeper)
		d->slept = wait_asleep(d->sleeper, NULL);
	d->state_seen = atomic_load(&d->f->state);
	fake_complete(d->f, 0, RESPIO_FATE_REPLIED, d->value, 0);
	return NULL;
}

static void start_delayed(struct delayed *d, respio_future *f, long delay_ms, long long value)
{
	d->f = f;
	d->delay_ms = delay_ms;
	d->value = value;
	d->state_seen = 0;
	d->sleeper = 0;
	d->slept = false;
	cr_assert_eq(pthread_create(&d->tid, NULL, delayed_complete, d), 0);
}

/* As start_delayed, but the completer also waits until thread sleeper
 * (this one, say) sleeps on a futex before it completes. */
static void start_delayed_after_sleep(struct delayed *d, respio_future *f, long delay_ms,
				      long long value, pid_t sleeper)
{
	d->f = f;
	d->delay_ms = delay_ms;
	d->value = value;
	d->state_seen = 0;
	d->sleeper = sleeper;
	d->slept = false;
	cr_assert_eq(pthread_create(&d->tid, NULL, delayed_complete, d), 0);
}

/* --- basics -------------------------------------------------------------- */

Test(future, pending_state_reads)
{
	struct respio__future_pool *pool = make_pool(4);
	respio_future *f = take(pool);

	cr_assert_not(respio_future_ready(f));
	cr_assert_eq(respio_future_status(f), -EAGAIN);
	cr_assert_eq(respio_future_fate(f), 0);
	cr_assert_null(respio_future_reply(f));
	cr_assert_eq(respio_future_wait(f, 0), -ETIMEDOUT);
	respio__future_discard(f);
	respio__future_pool_close(pool);
}

Test(future, complete_then_wait)
{
	struct respio__future_pool *pool = make_pool(4);
	respio_future *f = take(pool);

	cr_assert_eq(set_req(f, "GET", "k"), 0);
	cr_assert_eq(f->req, (char *)f->inline_buf);
	cr_assert_eq(f->req_len, strlen("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"));
	cr_assert_eq(memcmp(f->req, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", f->req_len), 0);
	fake_complete(f, 0, RESPIO_FATE_REPLIED, 42, 0);
	cr_assert_eq(respio_future_wait(f, 0), 0);
	cr_assert(respio_future_ready(f));
	cr_assert_eq(respio_future_status(f), 0);
	cr_assert_eq(respio_future_fate(f), RESPIO_FATE_REPLIED);
	cr_assert_eq((const void *)respio_future_reply(f),
		     (const void *)(f->inline_buf + RESPIO__REPLY_HDR));
	cr_assert_eq(respio_reply_integer(respio_future_reply(f)), 42);
	respio_future_release(f);
	respio__future_pool_close(pool);
}

Test(future, error_status_hides_reply)
{
	struct respio__future_pool *pool = make_pool(4);
	respio_future *f = take(pool);

	fake_complete(f, -ETIMEDOUT, RESPIO_FATE_SENT, 1, 0);
	cr_assert_eq(respio_future_status(f), -ETIMEDOUT);
	cr_assert_eq(respio_future_fate(f), RESPIO_FATE_SENT);
	cr_assert_null(respio_future_reply(f));
	respio_future_release(f);

	f = take(pool);
	fake_complete(f, RESPIO_E_SERVER, RESPIO_FATE_REPLIED, 7, 0);
	cr_assert_eq(respio_future_status(f), RESPIO_E_SERVER);
	cr_assert_not_null(respio_future_reply(f));
	respio_future_release(f);
	respio__future_pool_close(pool);
}

Test(future, large_request_and_reply_use_heap)
{
	struct respio__future_pool *pool = make_pool(1);
	char *big = malloc(100000);
	respio_future *f;

	memset(big, 'x', 99999);
	big[99999] = '\0';
	f = take(pool);
	cr_assert_eq(set_req(f, "SET", big), 0);
	cr_assert_eq(f->req, f->req_heap);
	cr_assert_gt(f->req_len, 100000);
	cr_assert_eq(memcmp(f->req + f->req_len - 7, "xxxxx\r\n", 7), 0);
	fake_complete(f, 0, RESPIO_FATE_REPLIED, 5, 4096);
	cr_assert_not_null(f->reply_heap);
	cr_assert_eq(((uintptr_t)f->reply_heap) % 16, 0);
	cr_assert_eq(respio_reply_integer(respio_future_reply(f)), 5);
	respio_future_release(f);

	/* Recycled: the >64 KiB buffer was dropped, a small one is kept. */
	f = take(pool);
	cr_assert_null(f->req_heap);
	cr_assert_null(f->reply_heap);
	memset(big, 'y', 1000);
	big[1000] = '\0';
	cr_assert_eq(set_req(f, "SET", big), 0);
	cr_assert_eq(f->req, f->req_heap);
	respio__future_discard(f);
	f = take(pool);
	cr_assert_not_null(f->req_heap, "a buffer <= 64 KiB is kept for reuse");
	respio__future_discard(f);
	respio__future_pool_close(pool);
	free(big);
}

Test(future, bad_arguments)
{
	struct respio__future_pool *pool = NULL;
	respio_future *f;

	cr_assert_eq(respio__future_pool_create(0, &pool), RESPIO_E_INVAL);
	/* The free stack's head marks empty as index 0x3fffffff and closed as
	 * 0x3ffffffe: a pool whose indices reach them would misread its own
	 * futures as markers (it accepted up to 2^30 futures once). */
	cr_assert_eq(respio__future_pool_create(1u << 30, &pool), RESPIO_E_INVAL);
	cr_assert_eq(respio__future_pool_create(0x3fffffffu, &pool), RESPIO_E_INVAL);
	pool = make_pool(2);
	f = take(pool);
	cr_assert_eq(respio__future_set_request(f, 0, NULL, NULL), RESPIO_E_INVAL);
	cr_assert_eq(respio_future_wait(NULL, 0), RESPIO_E_INVAL);
	cr_assert_eq(respio_future_wait_any(NULL, 0, 0, NULL), RESPIO_E_INVAL);
	cr_assert_eq(respio_future_wait_all(NULL, 0, 0), 0);
	respio_future_release(NULL);
	respio__future_discard(f);
	respio__future_pool_close(pool);
}

/* --- waiting ------------------------------------------------------------- */

Test(future, wait_then_complete_sleeps_on_futex)
{
	struct respio__future_pool *pool = make_pool(4);
	respio_future *f = take(pool);
	struct delayed d;
	int64_t t0 = respio__now_ns();

	start_delayed_after_sleep(&d, f, 50, 9, gettid());
	cr_assert_eq(respio_future_wait(f, -1), 0);
	cr_assert_geq(ms_since(t0), 45);
	pthread_join(d.tid, NULL);
	/* The waiter slept on the futex, having announced itself: the
	 * completer had to wake it. */
	cr_assert(d.slept, "the waiter never slept on a futex");
	cr_assert(d.state_seen & RESPIO__FUT_WAITERS, "state was %u", d.state_seen);
	cr_assert_eq(respio_reply_integer(respio_future_reply(f)), 9);
	respio_future_release(f);
	respio__future_pool_close(pool);
}

/* A waiter thread for the held-wake tests: waits up to 60 s (no test
 * lasts that long), then says so. */
struct held_waiter {
	respio_future *f;
	int rc;
	atomic_int tid; /* the waiter's thread id, once it runs */
	pthread_t thread;
};

static void *held_wait(void *arg)
{
	struct held_waiter *w = arg;

	atomic_store(&w->tid, gettid());
	w->rc = respio_future_wait(w->f, 60000);
	return NULL;
}

/* Start a waiter on f and return once it sleeps on f's futex: not merely
 * once it has set the WAITERS flag, which it does before it sleeps. */
static void start_held_waiter(struct held_waiter *w, respio_future *f)
{
	w->f = f;
	w->rc = -1;
	atomic_store(&w->tid, 0);
	cr_assert_eq(pthread_create(&w->thread, NULL, held_wait, w), 0);
	for (int i = 0; i < 10000 && !atomic_load(&w->tid); i++)
		sleep_ms(1);
	cr_assert(atomic_load(&w->tid), "the waiter never ran");
	cr_assert(wait_asleep(atomic_load(&w->tid), &f->state), "the waiter never slept");
	cr_assert(atomic_load(&f->state) & RESPIO__FUT_WAITERS);
}

static bool still_asleep(struct held_waiter *w)
{
	return asleep_in_futex(atomic_load(&w->tid), &w->f->state);
}

/* A shard holds wakes until its batch is published: the sleeper stays
 * asleep after DONE until the flush, then wakes with the result. */
Test(future, held_wake_waits_for_flush)
{
	struct respio__future_pool *pool = make_pool(4);
	respio_future *f = take(pool);
	struct respio__wakes wakes = {0};
	struct held_waiter w;

	start_held_waiter(&w, f);
	respio__future_complete(f, 0, RESPIO_FATE_REPLIED, &wakes);
	cr_assert_eq(wakes.n, 1);
	cr_assert(still_asleep(&w), "woken before the flush");
	respio__wakes_flush(&wakes);
	cr_assert_eq(wakes.n, 0);
	pthread_join(w.thread, NULL);
	cr_assert_eq(w.rc, 0);
	respio_future_release(f);
	respio__future_pool_close(pool);
}

/* A full batch flushes itself, so a shard never holds more than
 * RESPIO__WAKE_BATCH sleepers. Futures with a waiter flag but no thread
 * behind it fill the batch; the real sleeper is the first one held. */
Test(future, full_wake_batch_flushes_itself)
{
	struct respio__future_pool *pool = make_pool(RESPIO__WAKE_BATCH + 1);
	respio_future *fs[RESPIO__WAKE_BATCH + 1];
	struct respio__wakes wakes = {0};
	struct held_waiter w;

	for (int i = 0; i <= RESPIO__WAKE_BATCH; i++)
		fs[i] = take(pool);
	start_held_waiter(&w, fs[0]);
	respio__future_complete(fs[0], 0, RESPIO_FATE_REPLIED, &wakes);
	for (int i = 1; i < RESPIO__WAKE_BATCH; i++) {
		atomic_store(&fs[i]->state, RESPIO__FUT_WAITERS);
		respio__future_complete(fs[i], 0, RESPIO_FATE_REPLIED, &wakes);
	}
	cr_assert_eq(wakes.n, RESPIO__WAKE_BATCH);
	cr_assert(still_asleep(&w), "woken before the batch was full");
	atomic_store(&fs[RESPIO__WAKE_BATCH]->state, RESPIO__FUT_WAITERS);
	respio__future_complete(fs[RESPIO__WAKE_BATCH], 0, RESPIO_FATE_REPLIED, &wakes);
	cr_assert_eq(wakes.n, 1, "the full batch was not flushed");
	pthread_join(w.thread, NULL);
	cr_assert_eq(w.rc, 0);
	respio__wakes_flush(&wakes);
	for (int i = 0; i <= RESPIO__WAKE_BATCH; i++)
		respio_future_release(fs[i]);
	respio__future_pool_close(pool);
}

struct multi_wait {
	respio_future *f;
	int rc;
};

static void *wait_forever(void *arg)
{
	struct multi_wait *w = arg;

	w->rc = respio_future_wait(w->f, -1);
	return NULL;
}

Test(future, several_waiters_all_woken)
{
	struct respio__future_pool *pool = make_pool(4);
	respio_future *f = take(pool);
	struct multi_wait w[3];
	pthread_t t[3];
	int i;

	for (i = 0; i < 3; i++) {
		w[i].f = f;
		w[i].rc = 1;
		cr_assert_eq(pthread_create(&t[i], NULL, wait_forever, &w[i]), 0);
	}
	sleep_ms(30);
	fake_complete(f, 0, RESPIO_FATE_REPLIED, 1, 0);
	for (i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(w[i].rc, 0);
	}
	respio_future_release(f);
	respio__future_pool_close(pool);
}

Test(future, wait_timeout)
{
	struct respio__future_pool *pool = make_pool(4);
	respio_future *f = take(pool);
	int64_t t0 = respio__now_ns(), el;

	cr_assert_eq(respio_future_wait(f, 100), -ETIMEDOUT);
	el = ms_since(t0);
	cr_assert_geq(el, 99);
	cr_assert_lt(el, 1000);
	/* Still completable after a timed-out wait (stale WAITERS flag). */
	fake_complete(f, 0, RESPIO_FATE_REPLIED, 3, 0);
	cr_assert_eq(respio_future_wait(f, 0), 0);
	respio_future_release(f);
	respio__future_pool_close(pool);
}

Test(future, wait_all_one_deadline)
{
	struct respio__future_pool *pool = make_pool(8);
	respio_future *fs[4];
	struct delayed d[4];
	int64_t t0, el;
	int i;

	for (i = 0; i < 4; i++)
		fs[i] = take(pool);
	t0 = respio__now_ns();
	for (i = 0; i < 4; i++)
		start_delayed(&d[i], fs[i], 10 * (i + 1), i);
	cr_assert_eq(respio_future_wait_all(fs, 4, 2000), 0);
	cr_assert_geq(ms_since(t0), 35);
	for (i = 0; i < 4; i++) {
		pthread_join(d[i].tid, NULL);
		cr_assert(respio_future_ready(fs[i]));
		cr_assert_eq(respio_reply_integer(respio_future_reply(fs[i])), i);
		respio_future_release(fs[i]);
	}

	/* One deadline for all, not one per future: with 300 ms for the
	 * three, completed at 200, 400 and 600 ms, wait_all must give up at
	 * 300 ms, while a fresh 300 ms per future would see each one done in
	 * time. Told apart by the result: the completers' sleeps can only run
	 * late, which never turns a correct wait_all into a success. */
	for (i = 0; i < 3; i++)
		fs[i] = take(pool);
	t0 = respio__now_ns();
	for (i = 0; i < 3; i++)
		start_delayed(&d[i], fs[i], 200 * (i + 1), i);
	cr_assert_eq(respio_future_wait_all(fs, 3, 300), -ETIMEDOUT,
		     "all three waited for: a deadline per future");
	el = ms_since(t0);
	cr_assert_geq(el, 299);
	for (i = 0; i < 3; i++) {
		pthread_join(d[i].tid, NULL);
		respio_future_release(fs[i]);
	}
	respio__future_pool_close(pool);
}

Test(future, wait_any_returns_completed_index)
{
	struct respio__future_pool *pool = make_pool(8);
	respio_future *fs[5];
	struct delayed d;
	size_t idx = 99;
	int64_t t0;
	int i;

	for (i = 0; i < 5; i++)
		fs[i] = take(pool);
	t0 = respio__now_ns();
	start_delayed_after_sleep(&d, fs[3], 50, 33, gettid());
	cr_assert_eq(respio_future_wait_any(fs, 5, 30000, &idx), 0);
	cr_assert_eq(idx, 3);
	cr_assert_geq(ms_since(t0), 45);
	pthread_join(d.tid, NULL);
	cr_assert(d.slept, "the waiter never slept on a futex");
	cr_assert(d.state_seen & RESPIO__FUT_ANY_WAITERS, "state was %u", d.state_seen);

	/* Already complete: found at once. */
	idx = 99;
	cr_assert_eq(respio_future_wait_any(fs, 5, 0, &idx), 0);
	cr_assert_eq(idx, 3);

	/* The others complete later, with the stale ANY flag on them. */
	for (i = 0; i < 5; i++) {
		if (i != 3)
			fake_complete(fs[i], 0, RESPIO_FATE_REPLIED, i, 0);
		respio_future_release(fs[i]);
	}
	respio__future_pool_close(pool);
}

Test(future, wait_any_timeout)
{
	struct respio__future_pool *pool = make_pool(8);
	respio_future *fs[3];
	size_t idx = 99;
	int64_t t0, el;
	int i;

	for (i = 0; i < 3; i++)
		fs[i] = take(pool);
	t0 = respio__now_ns();
	cr_assert_eq(respio_future_wait_any(fs, 3, 100, &idx), -ETIMEDOUT);
	el = ms_since(t0);
	cr_assert_geq(el, 99);
	cr_assert_lt(el, 1000);
	cr_assert_eq(respio_future_wait_any(fs, 3, 0, &idx), -ETIMEDOUT);
	for (i = 0; i < 3; i++)
		respio__future_discard(fs[i]);
	respio__future_pool_close(pool);
}

Test(future, wait_any_rejects_mixed_pools)
{
	struct respio__future_pool *p1 = make_pool(2), *p2 = make_pool(2);
	respio_future *fs[2];
	size_t idx;

	fs[0] = take(p1);
	fs[1] = take(p2);
	cr_assert_eq(respio_future_wait_any(fs, 2, 0, &idx), RESPIO_E_INVAL);
	respio__future_discard(fs[0]);
	respio__future_discard(fs[1]);
	respio__future_pool_close(p1);
	respio__future_pool_close(p2);
}

/* Many wait_any callers on one pool while completions stream in. */
struct any_worker {
	struct respio__future_pool *pool;
	int rounds;
};

static void *any_completer(void *arg)
{
	respio_future **fs = arg;

	sleep_ms(1);
	fake_complete(fs[1], 0, RESPIO_FATE_REPLIED, 1, 0);
	sleep_ms(1);
	fake_complete(fs[0], 0, RESPIO_FATE_REPLIED, 0, 0);
	return NULL;
}

static void *any_worker(void *arg)
{
	struct any_worker *w = arg;
	respio_future *fs[2];
	pthread_t t;
	size_t idx;
	int r;

	for (r = 0; r < w->rounds; r++) {
		cr_assert_eq(respio__future_acquire(w->pool, -1, &fs[0]), 0);
		cr_assert_eq(respio__future_acquire(w->pool, -1, &fs[1]), 0);
		cr_assert_eq(pthread_create(&t, NULL, any_completer, fs), 0);
		cr_assert_eq(respio_future_wait_any(fs, 2, 10000, &idx), 0);
		cr_assert(respio_future_ready(fs[idx]));
		cr_assert_eq(respio_future_wait_all(fs, 2, 10000), 0);
		pthread_join(t, NULL);
		respio_future_release(fs[0]);
		respio_future_release(fs[1]);
	}
	return NULL;
}

Test(future, wait_any_concurrent_callers, .timeout = 60)
{
	struct respio__future_pool *pool = make_pool(16);
	struct any_worker w = {pool, 100};
	pthread_t t[4];
	int i;

	for (i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, any_worker, &w), 0);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	respio__future_pool_close(pool);
}

/* --- release before completion, callbacks --------------------------------- */

Test(future, release_before_completion_recycles_on_complete)
{
	struct respio__future_pool *pool = make_pool(1);
	respio_future *f = take(pool), *g = NULL;
	char big[1000];
	struct delayed d = {0};

	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cr_assert_eq(set_req(f, "SET", big), 0);
	respio_future_release(f);
	/* The engine still holds it: the pool (capacity 1) is empty. */
	cr_assert_eq(respio__future_acquire(pool, respio__now_ns(), &g), RESPIO_E_BACKPRESSURE);
	cr_assert_null(g);

	d.f = f;
	d.delay_ms = 20;
	d.value = 1;
	cr_assert_eq(pthread_create(&d.tid, NULL, delayed_complete, &d), 0);
	pthread_join(d.tid, NULL);
	/* The completer dropped the last reference: the same future is back. */
	cr_assert_eq(respio__future_acquire(pool, deadline_in_ms(1000), &g), 0);
	cr_assert_eq(g, f);
	cr_assert_not(respio_future_ready(g));
	cr_assert_null(g->reply_heap);
	respio__future_discard(g);
	respio__future_pool_close(pool);
}

struct cb_record {
	atomic_int calls;
	pthread_t tid;
	int status_seen;
	long long value_seen;
};

static void record_and_release(respio_future *f, void *arg)
{
	struct cb_record *r = arg;

	atomic_fetch_add(&r->calls, 1);
	r->tid = pthread_self();
	r->status_seen = respio_future_status(f);
	r->value_seen = respio_reply_integer(respio_future_reply(f));
	respio_future_release(f);
}

Test(future, callback_runs_once_on_completer_and_may_release)
{
	struct respio__future_pool *pool = make_pool(1);
	struct cb_record rec = {0};
	respio_future *f = take(pool), *g = NULL;
	struct delayed d;

	f->cb = record_and_release;
	f->cb_arg = &rec;
	start_delayed(&d, f, 10, 77);
	pthread_join(d.tid, NULL);
	cr_assert_eq(atomic_load(&rec.calls), 1);
	cr_assert(pthread_equal(rec.tid, d.tid));
	cr_assert_eq(rec.status_seen, 0);
	cr_assert_eq(rec.value_seen, 77);
	/* Both references are gone: the future is free again, callback cleared. */
	cr_assert_eq(respio__future_acquire(pool, respio__now_ns(), &g), 0);
	cr_assert_eq(g, f);
	cr_assert_null(g->cb);
	respio__future_discard(g);
	respio__future_pool_close(pool);
}

/* --- exhaustion and close -------------------------------------------------- */

Test(future, exhausted_pool_times_out_with_backpressure)
{
	struct respio__future_pool *pool = make_pool(2);
	respio_future *a = take(pool), *b = take(pool), *c = NULL;
	int64_t t0 = respio__now_ns(), el;

	cr_assert_eq(respio__future_acquire(pool, deadline_in_ms(100), &c), RESPIO_E_BACKPRESSURE);
	el = ms_since(t0);
	cr_assert_null(c);
	cr_assert_geq(el, 99);
	cr_assert_lt(el, 1000);
	respio__future_discard(a);
	respio__future_discard(b);
	respio__future_pool_close(pool);
}

static void *complete_and_release_later(void *arg)
{
	respio_future *f = arg;

	sleep_ms(50);
	fake_complete(f, 0, RESPIO_FATE_REPLIED, 0, 0);
	respio_future_release(f);
	return NULL;
}

Test(future, exhausted_pool_acquire_succeeds_when_released)
{
	struct respio__future_pool *pool = make_pool(2);
	respio_future *a = take(pool), *b = take(pool), *c = NULL;
	int64_t t0 = respio__now_ns(), el;
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, complete_and_release_later, b), 0);
	cr_assert_eq(respio__future_acquire(pool, deadline_in_ms(5000), &c), 0);
	el = ms_since(t0);
	cr_assert_eq(c, b);
	cr_assert_geq(el, 45);
	cr_assert_lt(el, 2000);
	pthread_join(t, NULL);
	respio__future_discard(a);
	respio__future_discard(c);
	respio__future_pool_close(pool);
}

Test(future, close_while_callers_hold_futures)
{
	struct respio__future_pool *pool = make_pool(8);
	respio_future *f[8];
	int i;

	for (i = 0; i < 8; i++) {
		f[i] = take(pool);
		cr_assert_eq(set_req(f[i], "GET",
				     i % 2 ? "k"
					   : "a-key-long-enough-to-go-to-the-"
					     "heap-because-it-is-longer-than-the-"
					     "inline-space-of-a-future-which-is-"
					     "one-hundred-and-ninety-two-bytes-"
					     "......................................"),
			     0);
	}
	/* 0-2: complete and released (idle); 3-4: complete and held;
	 * 5-6: pending and held; 7: pending, released by the caller. */
	for (i = 0; i < 5; i++)
		fake_complete(f[i], 0, RESPIO_FATE_REPLIED, i, i == 4 ? 1000 : 0);
	for (i = 0; i < 3; i++)
		respio_future_release(f[i]);
	respio_future_release(f[7]);

	respio__future_pool_close(pool);

	/* Held futures stay readable after close. */
	for (i = 3; i < 5; i++) {
		cr_assert_eq(respio_future_status(f[i]), 0);
		cr_assert_eq(respio_reply_integer(respio_future_reply(f[i])), i);
	}
	cr_assert_eq(respio_future_status(f[5]), -EAGAIN);
	/* The engine finishes the stragglers (as destroy does, with SHUTDOWN). */
	for (i = 5; i < 8; i++)
		fake_complete(f[i], RESPIO_E_SHUTDOWN, RESPIO_FATE_NOT_SENT, 0, 0);
	cr_assert_eq(respio_future_status(f[6]), RESPIO_E_SHUTDOWN);
	cr_assert_eq(respio_future_fate(f[6]), RESPIO_FATE_NOT_SENT);
	/* The last of these frees the pool; ASan's leak check confirms. */
	for (i = 3; i < 7; i++)
		respio_future_release(f[i]);
}

/* The shard's early-timeout path: publish to the caller now, drop the
 * engine's reference when the late reply has been read. */
Test(future, publish_then_unref)
{
	struct respio__future_pool *pool = make_pool(1);
	respio_future *f = take(pool), *g = NULL;

	respio__future_publish(f, -ETIMEDOUT, RESPIO_FATE_SENT, NULL);
	cr_assert_eq(respio_future_wait(f, 0), 0);
	cr_assert_eq(respio_future_status(f), -ETIMEDOUT);
	respio_future_release(f);
	cr_assert_eq(respio__future_acquire(pool, respio__now_ns(), &g), RESPIO_E_BACKPRESSURE);
	respio__future_unref(f);
	cr_assert_eq(respio__future_acquire(pool, respio__now_ns(), &g), 0);
	cr_assert_eq(g, f);
	cr_assert_not(g->expired);
	respio__future_discard(g);
	respio__future_pool_close(pool);
}

Test(future, close_empty_and_unused_pools)
{
	struct respio__future_pool *pool = make_pool(4);
	respio_future *f;

	respio__future_pool_close(pool);
	pool = make_pool(4);
	f = take(pool);
	respio__future_discard(f);
	respio__future_pool_close(pool);
}

/* --- steady state: no allocation ------------------------------------------ */

static void one_round(struct respio__future_pool *pool, int i)
{
	respio_future *f = NULL;

	cr_assert_eq(respio__future_acquire(pool, -1, &f), 0);
	cr_assert_eq(set_req(f, "GET", "key:000123"), 0);
	fake_complete(f, 0, RESPIO_FATE_REPLIED, i, 0);
	cr_assert_eq(respio_future_wait(f, 1000), 0);
	cr_assert_eq(respio_reply_integer(respio_future_reply(f)), i);
	respio_future_release(f);
}

Test(future, no_allocation_in_steady_state)
{
	struct respio__future_pool *pool;
	long n;
	int i;

	if (!alloc_count_available())
		cr_skip_test("allocations are not counted in sanitizer builds "
			     "(the sanitizer owns the allocator)");
	pool = make_pool(64);
	/* The counter sees the pool's own allocations: the first round
	 * allocates the future. */
	alloc_count_start();
	one_round(pool, 0);
	cr_assert_geq(alloc_count_stop(), 1, "the malloc interposer is not in effect");
	for (i = 0; i < 200; i++)
		one_round(pool, i);
	alloc_count_start();
	for (i = 0; i < 10000; i++)
		one_round(pool, i);
	n = alloc_count_stop();
	cr_log_info("allocations in 10000 steady-state futures: %ld", n);
	cr_assert_eq(n, 0, "%ld allocations in steady state", n);
	respio__future_pool_close(pool);
}

/* Futures one thread released are what another thread gets next: the pool
 * allocates no new future while a free one exists. */
struct take_eight {
	struct respio__future_pool *pool;
	respio_future *got[8];
	long allocs;
};

static void *take_eight_counted(void *arg)
{
	struct take_eight *t = arg;

	alloc_count_start();
	for (int i = 0; i < 8; i++)
		t->got[i] = take(t->pool);
	t->allocs = alloc_count_stop();
	return NULL;
}

Test(future, another_threads_free_futures_are_taken_before_allocating)
{
	struct take_eight t = {0};
	respio_future *mine[8];
	pthread_t tid;
	int reused = 0;

	if (!alloc_count_available())
		cr_skip_test("allocations are not counted in sanitizer builds "
			     "(the sanitizer owns the allocator)");
	t.pool = make_pool(64);
	for (int i = 0; i < 8; i++)
		mine[i] = take(t.pool);
	for (int i = 0; i < 8; i++)
		respio__future_discard(mine[i]);
	cr_assert_eq(pthread_create(&tid, NULL, take_eight_counted, &t), 0);
	pthread_join(tid, NULL);
	cr_assert_eq(t.allocs, 0, "%ld allocations with 8 free futures in the pool", t.allocs);
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 8; j++)
			reused += t.got[i] == mine[j];
	cr_assert_eq(reused, 8);
	for (int i = 0; i < 8; i++)
		respio__future_discard(t.got[i]);
	respio__future_pool_close(t.pool);
}

/* --- stress ----------------------------------------------------------------- */

#define STRESS_PRODUCERS    8
#define STRESS_PER_PRODUCER 20000
#define STRESS_COMPLETERS   2

struct stress {
	struct respio__future_pool *pool;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	respio_future *head, *tail; /* queue linked through f->next */
	int producers_left;
	atomic_long completed;
	atomic_long callbacks;
	atomic_long checked;
};

static void stress_push(struct stress *s, respio_future *f)
{
	pthread_mutex_lock(&s->lock);
	f->next = NULL;
	if (s->tail)
		s->tail->next = f;
	else
		s->head = f;
	s->tail = f;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static respio_future *stress_pop(struct stress *s)
{
	respio_future *f;

	pthread_mutex_lock(&s->lock);
	while (!s->head && s->producers_left)
		pthread_cond_wait(&s->cond, &s->lock);
	f = s->head;
	if (f) {
		s->head = f->next;
		if (!s->head)
			s->tail = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	return f;
}

/* The id is the last argument of the encoded request: "...$N\r\n<id>\r\n". */
static long long request_id(const respio_future *f)
{
	const char *end = f->req + f->req_len - 2, *p = end;

	while (p > f->req && p[-1] != '\n')
		p--;
	return strtoll(p, NULL, 10);
}

static void stress_cb(respio_future *f, void *arg)
{
	struct stress *s = arg;

	atomic_fetch_add(&s->callbacks, 1);
	respio_future_release(f);
}

static void *stress_completer(void *arg)
{
	struct stress *s = arg;
	respio_future *f;
	long long id;

	while ((f = stress_pop(s))) {
		id = request_id(f);
		fake_complete(f, id % 3 ? 0 : RESPIO_E_SERVER, RESPIO_FATE_REPLIED, id,
			      id % 7 ? 0 : 600);
		atomic_fetch_add(&s->completed, 1);
	}
	return NULL;
}

struct producer {
	struct stress *s;
	int no;
};

static void *stress_producer(void *arg)
{
	struct producer *p = arg;
	struct stress *s = p->s;
	unsigned seed = (unsigned)p->no * 7919u + 1;
	char idbuf[32], pad[400];
	const char *argv[3];
	respio_future *f;
	long long id;
	int i, mode;

	memset(pad, 'p', sizeof(pad));
	for (i = 0; i < STRESS_PER_PRODUCER; i++) {
		id = (long long)p->no * STRESS_PER_PRODUCER + i;
		cr_assert_eq(respio__future_acquire(s->pool, deadline_in_ms(20000), &f), 0);
		snprintf(idbuf, sizeof(idbuf), "%lld", id);
		argv[0] = "ID";
		argv[1] = pad;
		argv[2] = idbuf;
		size_t lens[3] = {2, (size_t)(rand_r(&seed) % 300), strlen(idbuf)};
		cr_assert_eq(respio__future_set_request(f, 3, argv, lens), 0);
		mode = rand_r(&seed) % 4;
		if (mode == 3) {
			f->cb = stress_cb;
			f->cb_arg = s;
		}
		stress_push(s, f);
		switch (mode) {
		case 0: /* fire and forget: usually released before completion */
			respio_future_release(f);
			break;
		case 1: /* wait, check, release */
		case 2:
			cr_assert_eq(respio_future_wait(f, mode == 1 ? -1 : 20000), 0);
			cr_assert_eq(respio_future_status(f), id % 3 ? 0 : RESPIO_E_SERVER);
			cr_assert_eq(respio_future_fate(f), RESPIO_FATE_REPLIED);
			cr_assert_eq(respio_reply_integer(respio_future_reply(f)), id);
			if (id % 7 == 0)
				cr_assert_eq(
				    (const void *)respio_future_reply(f),
				    (const void *)((char *)f->reply_heap + RESPIO__REPLY_HDR));
			else
				cr_assert_eq((const void *)respio_future_reply(f),
					     (const void *)(f->inline_buf + RESPIO__REPLY_HDR));
			atomic_fetch_add(&s->checked, 1);
			respio_future_release(f);
			break;
		default: /* the callback releases it */ break;
		}
	}
	return NULL;
}

Test(future, stress_many_producers_two_completers, .timeout = 120)
{
	struct stress s = {0};
	struct producer prod[STRESS_PRODUCERS];
	pthread_t pt[STRESS_PRODUCERS], ct[STRESS_COMPLETERS];
	respio_future *all[256];
	int64_t t0 = respio__now_ns();
	int i;

	s.pool = make_pool(256);
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cond, NULL);
	s.producers_left = STRESS_PRODUCERS;
	for (i = 0; i < STRESS_COMPLETERS; i++)
		cr_assert_eq(pthread_create(&ct[i], NULL, stress_completer, &s), 0);
	for (i = 0; i < STRESS_PRODUCERS; i++) {
		prod[i].s = &s;
		prod[i].no = i;
		cr_assert_eq(pthread_create(&pt[i], NULL, stress_producer, &prod[i]), 0);
	}
	for (i = 0; i < STRESS_PRODUCERS; i++)
		pthread_join(pt[i], NULL);
	pthread_mutex_lock(&s.lock);
	s.producers_left = 0;
	pthread_cond_broadcast(&s.cond);
	pthread_mutex_unlock(&s.lock);
	for (i = 0; i < STRESS_COMPLETERS; i++)
		pthread_join(ct[i], NULL);

	cr_assert_eq(atomic_load(&s.completed), (long)STRESS_PRODUCERS * STRESS_PER_PRODUCER);
	cr_log_info("stress: %ld checked, %ld callbacks, %lld ms", atomic_load(&s.checked),
		    atomic_load(&s.callbacks), (long long)ms_since(t0));
	/* Every reference came back: the whole capacity is free right now. */
	for (i = 0; i < 256; i++)
		cr_assert_eq(respio__future_acquire(s.pool, respio__now_ns(), &all[i]), 0,
			     "future %d not returned to the pool", i);
	for (i = 0; i < 256; i++)
		respio__future_discard(all[i]);
	respio__future_pool_close(s.pool);
	pthread_mutex_destroy(&s.lock);
	pthread_cond_destroy(&s.cond);
}

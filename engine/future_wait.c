/* SPDX-License-Identifier: MIT */
/* Waiting for futures, the caller's half of completion: wait, wait_all,
 * wait_any and the accessors of a completed future (the state word's
 * protocol is in future.h). */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "atomic.h"
#include "future.h"

/* timeout_ms < 0: no limit (-1). */
static int64_t deadline_from_ms(int64_t timeout_ms)
{
	if (timeout_ms < 0 || timeout_ms > INT64_MAX / 2000000)
		return -1;
	return respio__now_ns() + timeout_ms * 1000000;
}

static bool is_done(const respio_future *f)
{
	/* Acquire pairs with the completer's exchange: status, fate and the
	 * reply are visible once DONE is. */
	return respio__load_acquire_u32(&f->state) == RESPIO__FUT_DONE;
}

/* Spin for a few microseconds (never past the deadline) hoping f completes:
 * cheaper than a futex sleep and wake when the reply is on its way. */
static bool spin_until_done(const respio_future *f, int64_t deadline_ns)
{
	int64_t now, end;
	int i;

	if (!f->pool->spin_ns)
		return is_done(f);
	now = respio__now_ns();
	end = now + f->pool->spin_ns;
	if (deadline_ns >= 0 && deadline_ns < end)
		end = deadline_ns;
	while (now < end) {
		for (i = 0; i < 64; i++) {
			if (is_done(f))
				return true;
			respio__cpu_relax();
		}
		now = respio__now_ns();
	}
	return is_done(f);
}

static int wait_until(respio_future *f, int64_t deadline_ns)
{
	uint32_t s;
	int rc;

	if (spin_until_done(f, deadline_ns))
		return 0;
	/* Acquire: as in is_done(). */
	s = respio__load_acquire_u32(&f->state);
	for (;;) {
		if (s == RESPIO__FUT_DONE)
			return 0;
		if (respio__deadline_passed(deadline_ns))
			return -ETIMEDOUT;
		/* Announce the sleep; the completer's exchange returns the flag
		 * and it wakes us. A failed CAS (DONE, or another waiter's
		 * flag) reloads s with acquire and we look again. */
		if (!(s & RESPIO__FUT_WAITERS)) {
			if (!respio__cas_acq_rel_u32(&f->state, &s, s | RESPIO__FUT_WAITERS))
				continue;
			s |= RESPIO__FUT_WAITERS;
		}
		rc = respio__futex_wait(&f->state, s, deadline_ns);
		(void)rc; /* woken, changed, timed out or EINTR: look again */
		s = respio__load_acquire_u32(&f->state);
	}
}

int respio_future_wait(respio_future *f, int64_t timeout_ms)
{
	if (!f)
		return RESPIO_E_INVAL;
	/* Done already (often, with many in flight): no clock read. */
	if (is_done(f))
		return 0;
	return wait_until(f, deadline_from_ms(timeout_ms));
}

int respio_future_wait_all(respio_future *const *fs, size_t n, int64_t timeout_ms)
{
	int64_t deadline_ns = 0;
	bool have_deadline = false;
	size_t i;
	int rc;

	if (n && !fs)
		return RESPIO_E_INVAL;
	for (i = 0; i < n; i++)
		if (!fs[i])
			return RESPIO_E_INVAL;
	for (i = 0; i < n; i++) {
		if (is_done(fs[i]))
			continue;
		/* The clock is read once, when the first wait is needed. */
		if (!have_deadline) {
			deadline_ns = deadline_from_ms(timeout_ms);
			have_deadline = true;
		}
		rc = wait_until(fs[i], deadline_ns);
		if (rc)
			return rc;
	}
	return 0;
}

static bool scan_done(respio_future *const *fs, size_t n, size_t *index)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (is_done(fs[i])) {
			*index = i;
			return true;
		}
	}
	return false;
}

/* Set ANY_WAITERS on every future, or find one that is DONE. */
static bool mark_any(respio_future *const *fs, size_t n, size_t *index)
{
	uint32_t s;
	size_t i;

	for (i = 0; i < n; i++) {
		/* Acquire: as in is_done(). */
		s = respio__load_acquire_u32(&fs[i]->state);
		for (;;) {
			if (s == RESPIO__FUT_DONE) {
				*index = i;
				return true;
			}
			/* Release: our any_waiters increment and any_seq read
			 * happen-before the completer's exchange (acquire),
			 * which reads this CAS or a later RMW in its release
			 * sequence. The CAS runs even when the flag is already
			 * there (setting the same value): another wait_any's
			 * CAS would not order *our* increment. */
			if (respio__cas_acq_rel_u32(&fs[i]->state, &s, s | RESPIO__FUT_ANY_WAITERS))
				break;
		}
	}
	return false;
}

int respio_future_wait_any(respio_future *const *fs, size_t n, int64_t timeout_ms, size_t *index)
{
	int64_t deadline_ns = deadline_from_ms(timeout_ms), now, end;
	struct respio__future_pool *pool;
	uint32_t seq;
	size_t i;
	int rc = 0;

	if (!fs || !n || !index || !fs[0])
		return RESPIO_E_INVAL;
	pool = fs[0]->pool;
	/* One sleep word per pool: futures of different clients cannot be
	 * waited on together. */
	for (i = 1; i < n; i++)
		if (!fs[i] || fs[i]->pool != pool)
			return RESPIO_E_INVAL;

	now = respio__now_ns();
	end = now + pool->spin_ns;
	if (deadline_ns >= 0 && deadline_ns < end)
		end = deadline_ns;
	do {
		if (scan_done(fs, n, index))
			return 0;
		respio__cpu_relax();
		now = respio__now_ns();
	} while (now < end);

	/* Relaxed: published to completers by the release CAS in mark_any(). */
	respio__fetch_add_relaxed_u32(&pool->any_waiters, 1);
	for (;;) {
		/* Relaxed: read before our CAS in mark_any(), which happens-
		 * before any completer's increment that we must not miss. */
		seq = respio__load_relaxed_u32(&pool->any_seq);
		if (mark_any(fs, n, index))
			break;
		if (respio__deadline_passed(deadline_ns)) {
			rc = -ETIMEDOUT;
			break;
		}
		/* Woken by any completion of a flagged future of this pool
		 * (maybe another caller's): spurious wakeups just rescan. */
		respio__futex_wait(&pool->any_seq, seq, deadline_ns);
	}
	/* Relaxed: a completer that still sees us only does a useless wake. */
	respio__fetch_sub_relaxed_u32(&pool->any_waiters, 1);
	return rc;
}

bool respio_future_ready(const respio_future *f)
{
	return f && is_done(f);
}

int respio_future_status(const respio_future *f)
{
	if (!f)
		return RESPIO_E_INVAL;
	if (!is_done(f))
		return -EAGAIN;
	return f->status;
}

int respio_future_fate(const respio_future *f)
{
	if (!f || !is_done(f))
		return 0;
	return f->fate;
}

const respio_reply *respio_future_reply(const respio_future *f)
{
	if (!f || !is_done(f))
		return NULL;
	if (f->status != 0 && f->status != RESPIO_E_SERVER)
		return NULL;
	return f->reply;
}

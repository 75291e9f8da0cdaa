/* SPDX-License-Identifier: MIT */
/* Futex wakes through io_uring (uring.c), with plain threads as waiters. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "atomic.h"
#include "future.h"
#include "uring.h"

/* A thread asleep on its word until woken after a change, or 2 s pass. */
struct sleeper {
	pthread_t thread;
	_Atomic uint32_t word;
	_Atomic int asleep; /* set just before the first futex wait */
	int rc;		    /* 0 woken after a change, -ETIMEDOUT never woken */
};

static void *sleeper_main(void *arg)
{
	struct sleeper *s = arg;
	int64_t deadline = respio__now_ns() + 2000000000LL;

	s->rc = -ETIMEDOUT;
	atomic_store(&s->asleep, 1);
	while (atomic_load(&s->word) == 0) {
		/* A wake that never comes ends here, word changed or not. */
		if (respio__futex_wait(&s->word, 0, deadline) == -ETIMEDOUT)
			return NULL;
	}
	s->rc = 0;
	return NULL;
}

static void start_sleepers(struct sleeper *s, int n)
{
	for (int i = 0; i < n; i++) {
		atomic_store(&s[i].word, 0);
		atomic_store(&s[i].asleep, 0);
		cr_assert_eq(pthread_create(&s[i].thread, NULL, sleeper_main, &s[i]), 0);
	}
	for (int i = 0; i < n; i++)
		while (!atomic_load(&s[i].asleep))
			sched_yield();
	/* Let them reach the futex: a wake before it is fine too (the word
	 * has changed), but the point is to wake sleepers. */
	usleep(20000);
}

static void make_ring(struct io_uring *ring, unsigned entries)
{
	cr_assert_eq(io_uring_queue_init(entries, ring, 0), 0);
	if (!respio__uring_has_futex_wake(ring)) {
		io_uring_queue_exit(ring);
		cr_skip_test("this kernel has no IORING_OP_FUTEX_WAKE (Linux 6.7+)");
	}
}

Test(uring, wake_ud_holds_the_word)
{
	_Atomic uint32_t *words = malloc(4 * sizeof(*words));

	for (int i = 0; i < 4; i++) {
		uint64_t ud = respio__uring_wake_ud(&words[i]);

		cr_assert_eq(ud & 0xff, RESPIO__UD_OP_WAKE);
		cr_assert_eq(respio__uring_wake_word(ud), &words[i]);
	}
	free(words);
}

/* Put n sleepers to sleep, change their words, wake them all through ring in
 * one call, and check that each was woken (not timed out). */
static void wake_sleepers_through(struct io_uring *ring, int n)
{
	struct sleeper *s = calloc((size_t)n, sizeof(*s));
	_Atomic uint32_t **words = calloc((size_t)n, sizeof(*words));

	cr_assert(s && words);
	start_sleepers(s, n);
	for (int i = 0; i < n; i++) {
		atomic_store(&s[i].word, 1);
		words[i] = &s[i].word;
	}
	cr_assert_eq(respio__uring_futex_wake(ring, words, (uint32_t)n), (uint32_t)n);
	for (int i = 0; i < n; i++) {
		pthread_join(s[i].thread, NULL);
		cr_assert_eq(s[i].rc, 0, "sleeper %d was not woken", i);
	}
	free(words);
	free(s);
}

Test(uring, futex_wake_wakes_sleepers_with_one_submit)
{
	struct io_uring ring;
	struct io_uring_cqe *cqe;

	make_ring(&ring, 64);
	wake_sleepers_through(&ring, 8);
	/* Successful wakes post nothing. */
	cr_assert_eq(io_uring_peek_cqe(&ring, &cqe), -EAGAIN);
	io_uring_queue_exit(&ring);
}

/* More wakes than the SQ holds: it submits as it goes and queues them all. */
Test(uring, futex_wake_past_a_full_submission_queue)
{
	struct io_uring ring;

	make_ring(&ring, 4);
	wake_sleepers_through(&ring, 10);
	io_uring_queue_exit(&ring);
}

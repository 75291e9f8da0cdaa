/* SPDX-License-Identifier: MIT */
/* The mailbox alone: order, one wake per post after the flag is up, no
 * message lost between threads, and what destroy does with what is left. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "mailbox.h"

struct wakes {
	struct respio__mailbox *mb;
	atomic_int calls;
	atomic_int saw_empty; /* a wake that found the flag down */
};

static void count_wake(void *arg)
{
	struct wakes *w = arg;

	if (!respio__mailbox_peek(w->mb))
		atomic_fetch_add(&w->saw_empty, 1);
	atomic_fetch_add(&w->calls, 1);
}

static struct respio__msg *new_msg(int type, uint32_t link, int err)
{
	struct respio__msg *m = calloc(1, sizeof(*m));

	cr_assert_not_null(m);
	m->type = type;
	m->link = link;
	m->fd = -1;
	m->err = err;
	return m;
}

static struct respio__msg *msg_of(struct respio__queue_node *n)
{
	return RESPIO__QUEUE_DATA(n, struct respio__msg, node);
}

Test(mailbox, oldest_first_and_one_wake_per_post)
{
	struct respio__mailbox mb;
	struct wakes w = {.mb = &mb};
	struct respio__queue_node *n, *next;
	int i = 0;

	respio__mailbox_init(&mb, count_wake, &w);
	cr_assert_not(respio__mailbox_peek(&mb), "a new mailbox has mail");
	cr_assert_null(respio__mailbox_take(&mb));
	for (int k = 0; k < 3; k++)
		respio__mailbox_post(&mb, new_msg(RESPIO__MSG_CONN_FAILED, (uint32_t)k, -k));
	cr_assert_eq(atomic_load(&w.calls), 3, "%d wakes for 3 posts", atomic_load(&w.calls));
	cr_assert_eq(atomic_load(&w.saw_empty), 0, "a wake came before its mail was visible");
	cr_assert(respio__mailbox_peek(&mb));
	for (n = respio__mailbox_take(&mb); n; n = next, i++) {
		next = n->next;
		cr_assert_eq(msg_of(n)->link, (uint32_t)i, "message %u came %d-th", msg_of(n)->link,
			     i);
		respio__msg_release(msg_of(n));
	}
	cr_assert_eq(i, 3);
	cr_assert_not(respio__mailbox_peek(&mb), "the flag stayed up after the take");
	cr_assert_null(respio__mailbox_take(&mb));
	respio__mailbox_destroy(&mb);
}

/* What destroy finds is dropped: a socket handed over is closed, a
 * message of its own is freed, one that lives in its link is left alone
 * (freeing it would be freeing the link's memory: here, the stack). */
Test(mailbox, destroy_closes_sockets_and_frees_only_its_own)
{
	struct respio__mailbox mb;
	struct wakes w = {.mb = &mb};
	struct respio__msg in_link = {.type = RESPIO__MSG_CONN_FAILED, .fd = -1, .in_link = true};
	struct respio__msg *ready = new_msg(RESPIO__MSG_CONN_READY, 1, 0);
	int p[2];

	cr_assert_eq(pipe(p), 0);
	ready->fd = p[0];
	respio__mailbox_init(&mb, count_wake, &w);
	respio__mailbox_post(&mb, ready);
	respio__mailbox_post(&mb, &in_link);
	respio__mailbox_post(&mb, new_msg(RESPIO__MSG_STOP, 0, 0));
	respio__mailbox_destroy(&mb);
	cr_assert_eq(fcntl(p[0], F_GETFD), -1, "the socket handed over was not closed");
	cr_assert_eq(errno, EBADF);
	close(p[1]);
	/* Untouched, and still a valid object. */
	cr_assert_eq(in_link.type, RESPIO__MSG_CONN_FAILED);
}

#define POSTERS	   4
#define PER_POSTER 20000

static struct respio__mailbox shared;
static struct wakes shared_wakes = {.mb = &shared};

static void *post_many(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;

	for (int seq = 0; seq < PER_POSTER; seq++)
		respio__mailbox_post(&shared, new_msg(RESPIO__MSG_CONN_FAILED, id, seq));
	return NULL;
}

/* Every message arrives once, each poster's in its order, one wake each. */
Test(mailbox, many_posters_one_receiver, .timeout = 120)
{
	pthread_t th[POSTERS];
	int last[POSTERS];
	long got = 0;

	for (int i = 0; i < POSTERS; i++)
		last[i] = -1;
	respio__mailbox_init(&shared, count_wake, &shared_wakes);
	for (uintptr_t i = 0; i < POSTERS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, post_many, (void *)i), 0);
	while (got < (long)POSTERS * PER_POSTER) {
		struct respio__queue_node *n, *next;

		if (!respio__mailbox_peek(&shared)) {
			sched_yield();
			continue;
		}
		for (n = respio__mailbox_take(&shared); n; n = next) {
			struct respio__msg *m = msg_of(n);

			next = n->next;
			cr_assert_lt(m->link, POSTERS);
			cr_assert_eq(m->err, last[m->link] + 1, "poster %u: %d after %d", m->link,
				     m->err, last[m->link]);
			last[m->link] = m->err;
			got++;
			respio__msg_release(m);
		}
	}
	for (int i = 0; i < POSTERS; i++)
		pthread_join(th[i], NULL);
	cr_assert_null(respio__mailbox_take(&shared), "more messages than were posted");
	/* (A wake may find the flag down here: the receiver can take the
	 * message between the post's unlock and its wake.) */
	cr_assert_eq(atomic_load(&shared_wakes.calls), POSTERS * PER_POSTER);
	respio__mailbox_destroy(&shared);
}

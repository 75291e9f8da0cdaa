/* SPDX-License-Identifier: MIT */
/* Which threads are inside respio_submit, and for which client, so that
 * shutdown can wait for them: one store per side on the hot path. */
#ifndef RESPIO_SUBMIT_GUARD_H
#define RESPIO_SUBMIT_GUARD_H

#include <errno.h>
#include <stdint.h>

#include "atomic.h"
#include "internal.h"

/*
 * Every thread that ever submitted owns one guard, on a cache line of its
 * own, listed in a process-wide registry until the thread exits.
 *
 * Invariants:
 *  - guard->client is written by its thread only: the client it is inside
 *    respio_submit for, NULL outside.
 *  - A thread sets client before it reads the client's shutting_down, and
 *    shutdown stores shutting_down before it reads any guard (all seq_cst):
 *    either the submit sees the flag and leaves, or shutdown sees the guard
 *    and waits for it to go back to NULL. The release store of NULL pairs
 *    with shutdown's acquire load: what the submit enqueued is visible to
 *    the shards' last drain, which shutdown starts after.
 *  - Shutdown holds the registry lock while it waits; a thread takes it only
 *    to register (before its first submit) or at exit, never while its
 *    guard names a client, so the wait cannot deadlock.
 *
 * Cost per submit: a seq_cst store (one locked instruction on x86, on a line
 * no other thread writes) and a release store (a plain store on x86).
 */
struct respio__guard {
	_Atomic(void *) client;
	struct respio__guard *prev, *next;
	char pad[64 - sizeof(void *) * 3];
};

extern _Thread_local struct respio__guard *respio__guard_self;

/* Register the calling thread (its first submit). NULL without memory. */
struct respio__guard *respio__guard_register(void);

/* Enter a submit on client c, whose shutdown flag is *shutting_down: 0, or
 * RESPIO_E_SHUTDOWN (the guard is left again), or -ENOMEM. */
static inline int respio__guard_enter(void *c, _Atomic uint32_t *shutting_down,
				      struct respio__guard **out)
{
	struct respio__guard *g = respio__guard_self;

	if (!g && !(g = respio__guard_register()))
		return -ENOMEM;
	respio__store_seq_cst_ptr(&g->client, c);
	if (respio__load_seq_cst_u32(shutting_down)) {
		respio__store_release_ptr(&g->client, NULL);
		return RESPIO_E_SHUTDOWN;
	}
	*out = g;
	return 0;
}

static inline void respio__guard_leave(struct respio__guard *g)
{
	respio__store_release_ptr(&g->client, NULL);
}

/* Once c's shutting_down is set (seq_cst): wait until no thread is inside a
 * submit for c, calling nudge(arg) between looks (to wake submitters that
 * wait for a future or lane space). Any thread but one inside a submit. */
void respio__guard_wait(void *c, void (*nudge)(void *), void *arg);

/* Threads inside a submit for c right now (tests). */
uint32_t respio__guard_count(void *c);

#endif

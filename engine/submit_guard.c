/* SPDX-License-Identifier: MIT */
/* The registry of submit guards: registration, thread exit, and the wait
 * that shutdown does (submit_guard.h has the invariants). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "internal.h"
#include "submit_guard.h"

_Thread_local struct respio__guard *respio__guard_self;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct respio__guard *registry;
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

/* Runs at thread exit: the guard leaves the registry (never while it names
 * a client: the thread is not inside a submit). */
static void unregister(void *p)
{
	struct respio__guard *g = p;

	pthread_mutex_lock(&registry_lock);
	if (g->prev)
		g->prev->next = g->next;
	else
		registry = g->next;
	if (g->next)
		g->next->prev = g->prev;
	pthread_mutex_unlock(&registry_lock);
	respio__guard_self = NULL;
	free(g);
}

static void make_exit_key(void)
{
	pthread_key_create(&exit_key, unregister);
}

struct respio__guard *respio__guard_register(void)
{
	struct respio__guard *g;

	pthread_once(&exit_key_once, make_exit_key);
	g = aligned_alloc(64, sizeof(*g));
	if (!g)
		return NULL;
	respio__store_relaxed_ptr(&g->client, NULL);
	g->prev = NULL;
	if (pthread_setspecific(exit_key, g) != 0) {
		free(g);
		return NULL;
	}
	pthread_mutex_lock(&registry_lock);
	g->next = registry;
	if (registry)
		registry->prev = g;
	registry = g;
	pthread_mutex_unlock(&registry_lock);
	respio__guard_self = g;
	return g;
}

void respio__guard_wait(void *c, void (*nudge)(void *), void *arg)
{
	struct timespec pause = {0, 100000};

	pthread_mutex_lock(&registry_lock);
	for (struct respio__guard *g = registry; g; g = g->next) {
		/* Acquire pairs with the release store in respio__guard_leave. */
		while (respio__load_acquire_ptr(&g->client) == c) {
			nudge(arg);
			nanosleep(&pause, NULL);
		}
	}
	pthread_mutex_unlock(&registry_lock);
}

uint32_t respio__guard_count(void *c)
{
	uint32_t n = 0;

	pthread_mutex_lock(&registry_lock);
	for (struct respio__guard *g = registry; g; g = g->next)
		n += respio__load_acquire_ptr(&g->client) == c;
	pthread_mutex_unlock(&registry_lock);
	return n;
}

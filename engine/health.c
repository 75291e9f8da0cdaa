/* SPDX-License-Identifier: MIT */
/* The control thread's sweeps (health.h). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "future.h"
#include "health.h"
#include "shard.h"

struct respio__health {
	struct respio__shard *shards;
	uint32_t nshards;
	int64_t idle_tick_ns, health_ns;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC; signalled by stop */
	bool stop;
};

static void *health_main(void *arg)
{
	struct respio__health *h = arg;
	int64_t now = respio__now_ns();
	int64_t next_idle = now + h->idle_tick_ns;
	int64_t next_health = h->health_ns > 0 ? now + h->health_ns : INT64_MAX;

	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		int64_t due = next_idle < next_health ? next_idle : next_health;
		struct timespec ts = {.tv_sec = due / 1000000000, .tv_nsec = due % 1000000000};
		bool health;

		if (pthread_cond_timedwait(&h->cond, &h->lock, &ts) != ETIMEDOUT || h->stop)
			continue;
		now = respio__now_ns();
		if (now < due)
			continue;
		health = now >= next_health;
		if (health)
			next_health = now + h->health_ns;
		next_idle = now + h->idle_tick_ns;
		/* Posting takes a mailbox lock, never this one's waiters'. */
		pthread_mutex_unlock(&h->lock);
		for (uint32_t i = 0; i < h->nshards; i++)
			respio__shard_sweep(&h->shards[i], health);
		pthread_mutex_lock(&h->lock);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int respio__health_start(struct respio__shard *shards, uint32_t nshards, int64_t idle_tick_ns,
			 int64_t health_ns, struct respio__health **out)
{
	struct respio__health *h = calloc(1, sizeof(*h));
	pthread_condattr_t attr;
	int rc;

	*out = NULL;
	if (!h)
		return -ENOMEM;
	h->shards = shards;
	h->nshards = nshards;
	h->idle_tick_ns = idle_tick_ns;
	h->health_ns = health_ns;
	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&h->cond, &attr);
	pthread_condattr_destroy(&attr);
	rc = pthread_create(&h->thread, NULL, health_main, h);
	if (rc) {
		pthread_mutex_destroy(&h->lock);
		pthread_cond_destroy(&h->cond);
		free(h);
		return -rc;
	}
	pthread_setname_np(h->thread, "respio-sweep");
	*out = h;
	return 0;
}

void respio__health_stop(struct respio__health *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
	free(h);
}

/* SPDX-License-Identifier: MIT */
/* The lease pool's slots and waiters (pool.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <respio.h>

#include "future.h"
#include "pool.h"

int respio__pool_init(struct respio__pool *p, uint32_t nslots, int64_t max_idle_ns)
{
	pthread_condattr_t attr;

	memset(p, 0, sizeof(*p));
	p->max_idle_ns = max_idle_ns;
	p->slots = calloc(nslots ? nslots : 1, sizeof(*p->slots));
	if (!p->slots)
		return -ENOMEM;
	p->nslots = nslots;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &attr);
	pthread_condattr_destroy(&attr);
	return 0;
}

void respio__pool_fini(struct respio__pool *p)
{
	if (!p->slots)
		return;
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p->slots);
	p->slots = NULL;
}

/* The IDLE slot used last (its connection is the warmest, and the others
 * age out), else an EMPTY one, taken round-robin so new connections spread
 * over the shards. UINT32_MAX: every slot is LEASED. Under the lock. */
static uint32_t pick(struct respio__pool *p, bool *was_idle)
{
	uint32_t best = UINT32_MAX;

	for (uint32_t i = 0; i < p->nslots; i++)
		if (p->slots[i].state == RESPIO__SLOT_IDLE &&
		    (best == UINT32_MAX ||
		     p->slots[i].idle_since_ns > p->slots[best].idle_since_ns))
			best = i;
	*was_idle = best != UINT32_MAX;
	if (best != UINT32_MAX)
		return best;
	for (uint32_t n = 0; n < p->nslots; n++) {
		uint32_t i = (p->next_empty + n) % p->nslots;

		if (p->slots[i].state == RESPIO__SLOT_EMPTY) {
			p->next_empty = i + 1;
			return i;
		}
	}
	return UINT32_MAX;
}

static void to_timespec(int64_t ns, struct timespec *ts)
{
	ts->tv_sec = ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
}

int respio__pool_take(struct respio__pool *p, int64_t deadline_ns, uint32_t *slot, bool *was_idle)
{
	bool waited = false;
	uint32_t i;
	int rc = 0;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		if (p->closed) {
			rc = RESPIO_E_SHUTDOWN;
			break;
		}
		i = pick(p, was_idle);
		if (i != UINT32_MAX)
			break;
		if (!waited) {
			waited = true;
			p->waits++;
		}
		if (p->nslots == 0 || deadline_ns == 0 ||
		    (deadline_ns > 0 && respio__now_ns() >= deadline_ns)) {
			rc = RESPIO_E_POOL_EXHAUSTED;
			p->exhausted++;
			break;
		}
		if (deadline_ns < 0) {
			pthread_cond_wait(&p->cond, &p->lock);
		} else {
			struct timespec ts;

			to_timespec(deadline_ns, &ts);
			pthread_cond_timedwait(&p->cond, &p->lock, &ts);
		}
	}
	if (rc == 0) {
		p->slots[i].state = RESPIO__SLOT_LEASED;
		p->slots[i].leased_at_ns = respio__now_ns();
		p->in_use++;
		p->begun++;
		*slot = i;
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

void respio__pool_put(struct respio__pool *p, uint32_t slot, bool keep)
{
	struct respio__slot *s = &p->slots[slot];

	pthread_mutex_lock(&p->lock);
	s->state = keep ? RESPIO__SLOT_IDLE : RESPIO__SLOT_EMPTY;
	s->idle_since_ns = respio__now_ns();
	p->in_use--;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

bool respio__pool_reclaim_idle(struct respio__pool *p, uint32_t slot, int64_t now)
{
	struct respio__slot *s = &p->slots[slot];
	bool reclaim;

	pthread_mutex_lock(&p->lock);
	reclaim = s->state == RESPIO__SLOT_EMPTY ||
		  (s->state == RESPIO__SLOT_IDLE && now - s->idle_since_ns >= p->max_idle_ns);
	if (reclaim && s->state == RESPIO__SLOT_IDLE) {
		s->state = RESPIO__SLOT_EMPTY;
		p->idle_closed++;
	}
	pthread_mutex_unlock(&p->lock);
	return reclaim;
}

void respio__pool_close(struct respio__pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->closed = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

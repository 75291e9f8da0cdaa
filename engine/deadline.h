/* SPDX-License-Identifier: MIT */
/* Deadlines of a shard's requests: the next to expire, found without a walk over all of them. */
#ifndef RESPIO_DEADLINE_H
#define RESPIO_DEADLINE_H

#include <stdint.h>

/*
 * A set of queues (a shard keeps one per connection) of entries, each a
 * deadline and an opaque pointer, in the order they were pushed. Entries
 * leave a queue in two ways only: the oldest one of a queue (pop_front), or
 * the one with the earliest deadline of the whole set once that deadline has
 * passed (pop_expired); clear empties a queue. That is what a connection
 * does with its requests: replies come back in the order the requests were
 * sent, and only a deadline takes a request out of turn.
 *
 * The structure knows nothing of what the pointers point at and never reads
 * through them: the caller may recycle what an entry pointed at only after
 * the entry left. Single-threaded: one shard owns a set.
 */
struct respio__deadlines;

/* A set of nqueues empty queues (numbered 0..nqueues-1). 0 or -ENOMEM. */
int respio__deadlines_create(uint32_t nqueues, struct respio__deadlines **out);

/* Free the set and its entries (not what they point at). NULL is fine. */
void respio__deadlines_destroy(struct respio__deadlines *d);

/* Make room for one more push onto queue q: 0, or -ENOMEM (nothing
 * changed). A push must be preceded by a successful reserve. */
int respio__deadlines_reserve(struct respio__deadlines *d, uint32_t q);

/* Append an entry to queue q. ptr must not be NULL; INT64_MAX is a
 * deadline that never passes. Cannot fail after respio__deadlines_reserve. */
void respio__deadlines_push(struct respio__deadlines *d, uint32_t q, int64_t deadline, void *ptr);

/* Remove the oldest entry of queue q and return its pointer (NULL when q is
 * empty). */
void *respio__deadlines_pop_front(struct respio__deadlines *d, uint32_t q);

/* The earliest deadline in the set, INT64_MAX when there is none. */
int64_t respio__deadlines_next(const struct respio__deadlines *d);

/* When the earliest deadline in the set is at or before now: remove that
 * entry, store its queue and pointer, return 1. Otherwise 0. Entries with
 * the same deadline come out in no particular order. */
int respio__deadlines_pop_expired(struct respio__deadlines *d, int64_t now, uint32_t *q,
				  void **ptr);

/* Remove every entry of queue q. */
void respio__deadlines_clear(struct respio__deadlines *d, uint32_t q);

/* Entries in queue q. */
uint32_t respio__deadlines_count(const struct respio__deadlines *d, uint32_t q);

#endif

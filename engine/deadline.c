/* SPDX-License-Identifier: MIT */
/* Deadlines of a shard's requests: sorted runs of each connection's queue, and a heap of runs. */

/*
 * What it is for
 * --------------
 * A shard may hold tens of thousands of requests; a few of them time out
 * now and then. The shard used to find them by walking every request each
 * time the earliest deadline passed, so each timeout cost a pass over all
 * of them. Here a timeout costs O(log runs), and so does a request that
 * leaves in turn (answered, or failed with its connection): O(1) when its
 * queue is a single run, the common case.
 *
 * Runs
 * ----
 * Each queue keeps its entries in a ring, in the order they were pushed
 * (positions count up from 0 and never wrap; entry p is ent[p & mask]). That
 * sequence is cut into runs: maximal stretches whose deadlines do not
 * decrease. A push whose deadline is at or after the previous entry's
 * extends the last run; any other starts a new one. Most requests of a
 * connection carry the client's default timeout and get their deadline from
 * a clock that only moves forward, so in practice a queue is one long run,
 * or a few; a mix of per-request timeouts makes more, shorter runs (random
 * deadlines average under two entries a run), and the costs grow with the
 * logarithm of their number, never with the number of entries.
 *
 * Entries leave a run only from its front:
 * - pop_front takes the oldest entry of a queue, which is the front of its
 *   first run (runs follow push order);
 * - pop_expired takes the entry with the earliest deadline of the set, which
 *   is the front of some run, because a run is sorted.
 * So a run is always the range [lo, end) of its queue's positions: no holes,
 * and its earliest deadline is that of entry lo.
 *
 * Invariants
 * ----------
 * - A queue's runs are linked first to last in position order; each holds
 *   at least one entry (a run emptied is unlinked and freed at once), and
 *   the queue's held entries are exactly the union of its runs' ranges.
 * - head is the first run's lo (or tail when the queue is empty): nothing
 *   before it is held. Positions between one run's end and the next run's
 *   lo were taken by pop_expired out of turn; they are dead, and never read.
 * - The heap holds every run once, keyed by the deadline of its entry lo;
 *   run->heap is its index there.
 * - A run is extended only when it is the queue's last and ends at tail
 *   (so the entry before the new one is its own, held).
 *
 * Dead positions stay in the ring until the queue's head passes them, which
 * an old entry with a far deadline can put off for long. When they
 * outnumber the held entries (and a few hundred of them are waiting), the
 * queue is compacted: each run's range slides down over the dead positions
 * before it. Runs keep their order, entries and keys, so the heap is not
 * touched; the cost is at most linear in the positions in use, at least
 * half of them dead, so it is O(1) amortized over the removals that made
 * them.
 *
 * The pointers are only stored and handed back, never dereferenced, and a
 * dead position is never read: a caller may let go of what an entry points
 * at once the entry is out (pop_front, pop_expired, clear), and must not
 * before.
 */

#include <errno.h>
#include <stdlib.h>

#include "deadline.h"

#define RESPIO__DL_NIL UINT32_MAX
/* A queue's first ring, and the largest one kept once the queue empties. */
#define RESPIO__DL_MIN_CAP  64u
#define RESPIO__DL_KEEP_CAP 4096u
/* Dead positions a queue tolerates before it compacts (see above). */
#define RESPIO__DL_COMPACT_MIN 256u

struct respio__dl_entry {
	int64_t deadline;
	void *ptr;
};

struct respio__dl_run {
	uint64_t lo, end; /* the run's entries: positions [lo, end) of its queue */
	uint32_t queue;
	uint32_t heap;	     /* index in the heap */
	uint32_t prev, next; /* the queue's runs in position order; next links the free list */
};

struct respio__dl_queue {
	struct respio__dl_entry *ent;
	uint32_t mask;	      /* ring capacity - 1 (a power of two); 0 without a ring */
	uint32_t held;	      /* entries in the queue */
	uint32_t first, last; /* runs, RESPIO__DL_NIL when none */
	uint64_t head, tail;  /* positions in use */
};

struct respio__dl_node {
	int64_t key; /* deadline of the run's entry lo */
	uint32_t run;
};

struct respio__deadlines {
	struct respio__dl_queue *queues;
	uint32_t nqueues;
	uint32_t nruns, free_run; /* run records allocated; head of the free ones */
	struct respio__dl_run *runs;
	struct respio__dl_node *heap; /* room for nruns nodes */
	uint32_t heap_len;
};

int respio__deadlines_create(uint32_t nqueues, struct respio__deadlines **out)
{
	struct respio__deadlines *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->queues = calloc(nqueues ? nqueues : 1, sizeof(*d->queues));
	if (!d->queues) {
		free(d);
		return -ENOMEM;
	}
	d->nqueues = nqueues;
	for (uint32_t i = 0; i < nqueues; i++)
		d->queues[i].first = d->queues[i].last = RESPIO__DL_NIL;
	d->free_run = RESPIO__DL_NIL;
	*out = d;
	return 0;
}

void respio__deadlines_destroy(struct respio__deadlines *d)
{
	if (!d)
		return;
	for (uint32_t i = 0; i < d->nqueues; i++)
		free(d->queues[i].ent);
	free(d->queues);
	free(d->runs);
	free(d->heap);
	free(d);
}

/* --- the heap of runs ------------------------------------------------------ */

static void heap_set(struct respio__deadlines *d, uint32_t i, struct respio__dl_node n)
{
	d->heap[i] = n;
	d->runs[n.run].heap = i;
}

static void sift_up(struct respio__deadlines *d, uint32_t i)
{
	struct respio__dl_node n = d->heap[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (d->heap[parent].key <= n.key)
			break;
		heap_set(d, i, d->heap[parent]);
		i = parent;
	}
	heap_set(d, i, n);
}

static void sift_down(struct respio__deadlines *d, uint32_t i)
{
	struct respio__dl_node n = d->heap[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= d->heap_len)
			break;
		if (c + 1 < d->heap_len && d->heap[c + 1].key < d->heap[c].key)
			c++;
		if (n.key <= d->heap[c].key)
			break;
		heap_set(d, i, d->heap[c]);
		i = c;
	}
	heap_set(d, i, n);
}

static void heap_remove(struct respio__deadlines *d, uint32_t i)
{
	struct respio__dl_node last = d->heap[--d->heap_len];

	if (i == d->heap_len)
		return;
	heap_set(d, i, last);
	if (i > 0 && d->heap[(i - 1) / 2].key > last.key)
		sift_up(d, i);
	else
		sift_down(d, i);
}

/* --- runs ------------------------------------------------------------------ */

/* A new run at the end of queue qi holding just position tail, in the heap.
 * respio__deadlines_reserve made sure a record is free. */
static void run_start(struct respio__deadlines *d, uint32_t qi, int64_t deadline)
{
	struct respio__dl_queue *q = &d->queues[qi];
	uint32_t r = d->free_run;
	struct respio__dl_run *run = &d->runs[r];

	d->free_run = run->next;
	run->lo = q->tail;
	run->end = q->tail + 1;
	run->queue = qi;
	run->prev = q->last;
	run->next = RESPIO__DL_NIL;
	if (q->last != RESPIO__DL_NIL)
		d->runs[q->last].next = r;
	else
		q->first = r;
	q->last = r;
	d->heap[d->heap_len] = (struct respio__dl_node){.key = deadline, .run = r};
	sift_up(d, d->heap_len++);
}

/* Unlink an empty run from its queue and the heap and free its record. */
static void run_drop(struct respio__deadlines *d, uint32_t r)
{
	struct respio__dl_run *run = &d->runs[r];
	struct respio__dl_queue *q = &d->queues[run->queue];

	if (run->prev != RESPIO__DL_NIL)
		d->runs[run->prev].next = run->next;
	else
		q->first = run->next;
	if (run->next != RESPIO__DL_NIL)
		d->runs[run->next].prev = run->prev;
	else
		q->last = run->prev;
	heap_remove(d, run->heap);
	run->next = d->free_run;
	d->free_run = r;
}

/* Slide every run of q down over the dead positions before it. */
static void compact(struct respio__deadlines *d, struct respio__dl_queue *q)
{
	uint64_t w = q->head;

	for (uint32_t r = q->first; r != RESPIO__DL_NIL; r = d->runs[r].next) {
		struct respio__dl_run *run = &d->runs[r];
		uint64_t n = run->end - run->lo;

		/* Forward, and w <= lo: a slot is read before anything is
		 * written over it (all positions are within one ring's span). */
		if (run->lo != w)
			for (uint64_t i = 0; i < n; i++)
				q->ent[(w + i) & q->mask] = q->ent[(run->lo + i) & q->mask];
		run->lo = w;
		run->end = w + n;
		w += n;
	}
	q->tail = w;
}

/* Take the front entry of run r (its earliest deadline) out. */
static void *run_take(struct respio__deadlines *d, uint32_t r)
{
	struct respio__dl_run *run = &d->runs[r];
	struct respio__dl_queue *q = &d->queues[run->queue];
	void *ptr = q->ent[run->lo & q->mask].ptr;
	uint64_t dead;

	q->held--;
	if (++run->lo == run->end) {
		run_drop(d, r);
	} else {
		/* The key only grows (the run is sorted): down it goes. */
		d->heap[run->heap].key = q->ent[run->lo & q->mask].deadline;
		sift_down(d, run->heap);
	}
	if (q->first == RESPIO__DL_NIL) {
		q->head = q->tail;
		if (q->mask + 1 > RESPIO__DL_KEEP_CAP) {
			/* A burst is over: give its ring back (as a link's
			 * buffers do, link.c). */
			free(q->ent);
			q->ent = NULL;
			q->mask = 0;
		}
		return ptr;
	}
	q->head = d->runs[q->first].lo;
	dead = q->tail - q->head - q->held;
	if (dead > q->held && dead >= RESPIO__DL_COMPACT_MIN)
		compact(d, q);
	return ptr;
}

/* --- the interface ------------------------------------------------------- */

int respio__deadlines_reserve(struct respio__deadlines *d, uint32_t qi)
{
	struct respio__dl_queue *q = &d->queues[qi];
	uint64_t used = q->tail - q->head;

	if (!q->ent || used == (uint64_t)q->mask + 1) {
		uint32_t cap = q->ent ? (q->mask + 1) * 2 : RESPIO__DL_MIN_CAP;
		struct respio__dl_entry *ent;

		if (cap == 0) /* 2^32 entries: more than any pool holds */
			return -ENOMEM;
		ent = malloc((size_t)cap * sizeof(*ent));
		if (!ent)
			return -ENOMEM;
		/* Positions keep their numbers: only where they sit changes. */
		for (uint64_t p = q->head; p < q->tail; p++)
			ent[p & (cap - 1)] = q->ent[p & q->mask];
		free(q->ent);
		q->ent = ent;
		q->mask = cap - 1;
	}
	if (d->free_run == RESPIO__DL_NIL) {
		uint32_t n = d->nruns ? d->nruns * 2 : 16;
		struct respio__dl_run *runs;
		struct respio__dl_node *heap;

		if (n < d->nruns)
			return -ENOMEM;
		/* Both arrays grow together: the heap has room for every run.
		 * A failure leaves the larger one in place, which is harmless. */
		runs = realloc(d->runs, (size_t)n * sizeof(*runs));
		if (!runs)
			return -ENOMEM;
		d->runs = runs;
		heap = realloc(d->heap, (size_t)n * sizeof(*heap));
		if (!heap)
			return -ENOMEM;
		d->heap = heap;
		for (uint32_t i = n; i-- > d->nruns;) {
			runs[i].next = d->free_run;
			d->free_run = i;
		}
		d->nruns = n;
	}
	return 0;
}

void respio__deadlines_push(struct respio__deadlines *d, uint32_t qi, int64_t deadline, void *ptr)
{
	struct respio__dl_queue *q = &d->queues[qi];
	struct respio__dl_entry *e = &q->ent[q->tail & q->mask];

	if (q->last != RESPIO__DL_NIL && d->runs[q->last].end == q->tail &&
	    deadline >= q->ent[(q->tail - 1) & q->mask].deadline)
		d->runs[q->last].end++;
	else
		run_start(d, qi, deadline);
	e->deadline = deadline;
	e->ptr = ptr;
	q->tail++;
	q->held++;
}

void *respio__deadlines_pop_front(struct respio__deadlines *d, uint32_t qi)
{
	uint32_t r = d->queues[qi].first;

	return r == RESPIO__DL_NIL ? NULL : run_take(d, r);
}

int64_t respio__deadlines_next(const struct respio__deadlines *d)
{
	return d->heap_len ? d->heap[0].key : INT64_MAX;
}

int respio__deadlines_pop_expired(struct respio__deadlines *d, int64_t now, uint32_t *q, void **ptr)
{
	uint32_t r;

	if (d->heap_len == 0 || d->heap[0].key > now)
		return 0;
	r = d->heap[0].run;
	*q = d->runs[r].queue;
	*ptr = run_take(d, r);
	return 1;
}

void respio__deadlines_clear(struct respio__deadlines *d, uint32_t qi)
{
	struct respio__dl_queue *q = &d->queues[qi];

	while (q->first != RESPIO__DL_NIL) {
		struct respio__dl_run *run = &d->runs[q->first];

		q->held -= (uint32_t)(run->end - run->lo);
		run->lo = run->end;
		run_drop(d, q->first);
	}
	q->head = q->tail;
	if (q->mask + 1 > RESPIO__DL_KEEP_CAP) {
		free(q->ent);
		q->ent = NULL;
		q->mask = 0;
	}
}

uint32_t respio__deadlines_count(const struct respio__deadlines *d, uint32_t qi)
{
	return d->queues[qi].held;
}

/* SPDX-License-Identifier: MIT */
/* One intrusive FIFO for every hand-written list of the engine: a node in the
 * element, a head and a tail in the owner. */
#ifndef RESPIO_QUEUE_H
#define RESPIO_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Singly linked, NULL-terminated, with a tail pointer: every list here is
 * appended at the tail and taken from the head (a connection's requests in
 * wire order, mailbox messages, dial requests), and the one removal out of
 * turn (a request taken out of a connection's unsent part) knows the node
 * before it. So one pointer per element is enough, where libuv's
 * `queue.h` spends two on a circular list that any node can leave.
 *
 * The element embeds a struct respio__queue_node and is found again from it
 * with RESPIO__QUEUE_DATA. Nothing here allocates or locks: the owner
 * decides who may touch a queue (one thread, or under its lock).
 */
struct respio__queue_node {
	struct respio__queue_node *next;
};

struct respio__queue {
	struct respio__queue_node *head, *tail;
};

/* The element that embeds node as member. node must not be NULL. */
#define RESPIO__QUEUE_DATA(node, type, member)                                                     \
	((type *)(void *)((char *)(node)-offsetof(type, member)))

static inline void respio__queue_init(struct respio__queue *q)
{
	q->head = q->tail = NULL;
}

static inline bool respio__queue_empty(const struct respio__queue *q)
{
	return q->head == NULL;
}

/* Append n at the tail. */
static inline void respio__queue_push(struct respio__queue *q, struct respio__queue_node *n)
{
	n->next = NULL;
	if (q->tail)
		q->tail->next = n;
	else
		q->head = n;
	q->tail = n;
}

/* Take the head, or NULL when q is empty. */
static inline struct respio__queue_node *respio__queue_pop(struct respio__queue *q)
{
	struct respio__queue_node *n = q->head;

	if (n) {
		q->head = n->next;
		if (!q->head)
			q->tail = NULL;
	}
	return n;
}

/* Take the node after prev (prev NULL: the head) and return it, or NULL
 * when there is none. prev must be in q. */
static inline struct respio__queue_node *respio__queue_remove_after(struct respio__queue *q,
								    struct respio__queue_node *prev)
{
	struct respio__queue_node *n = prev ? prev->next : q->head;

	if (!n)
		return NULL;
	if (prev)
		prev->next = n->next;
	else
		q->head = n->next;
	if (q->tail == n)
		q->tail = prev;
	return n;
}

/* Empty q and return its nodes as a NULL-terminated chain (walk it through
 * next; read next before an element is freed or pushed elsewhere). */
static inline struct respio__queue_node *respio__queue_take_all(struct respio__queue *q)
{
	struct respio__queue_node *n = q->head;

	q->head = q->tail = NULL;
	return n;
}

#endif

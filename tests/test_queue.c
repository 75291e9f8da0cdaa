/* SPDX-License-Identifier: MIT */
/* The intrusive FIFO alone: order, removal after a node (head, middle,
 * tail), taking everything, and the element found again from its node. */
#include <criterion/criterion.h>

#include "queue.h"

struct item {
	int value;
	struct respio__queue_node node;
};

static int value_of(struct respio__queue_node *n)
{
	return RESPIO__QUEUE_DATA(n, struct item, node)->value;
}

/* The queue's values from head to tail, as digits. */
static int digits(const struct respio__queue *q)
{
	int v = 0;

	for (struct respio__queue_node *n = q->head; n; n = n->next)
		v = v * 10 + value_of(n);
	return v;
}

static void fill(struct respio__queue *q, struct item *items, int n)
{
	respio__queue_init(q);
	for (int i = 0; i < n; i++) {
		items[i].value = i + 1;
		respio__queue_push(q, &items[i].node);
	}
}

Test(queue, first_in_first_out)
{
	struct respio__queue q;
	struct item items[4];

	respio__queue_init(&q);
	cr_assert(respio__queue_empty(&q));
	cr_assert_null(respio__queue_pop(&q));
	fill(&q, items, 3);
	cr_assert_eq(digits(&q), 123);
	cr_assert_eq(value_of(respio__queue_pop(&q)), 1);
	items[3].value = 4;
	respio__queue_push(&q, &items[3].node);
	cr_assert_eq(digits(&q), 234);
	cr_assert_eq(value_of(respio__queue_pop(&q)), 2);
	cr_assert_eq(value_of(respio__queue_pop(&q)), 3);
	cr_assert_eq(value_of(respio__queue_pop(&q)), 4);
	cr_assert_null(respio__queue_pop(&q));
	cr_assert(respio__queue_empty(&q));
	cr_assert_null(q.tail, "the tail outlived the last node");
	/* Usable again once empty. */
	respio__queue_push(&q, &items[0].node);
	cr_assert_eq(q.head, q.tail);
	cr_assert_eq(digits(&q), 1);
}

/* Removal after a node keeps head and tail right wherever it happens. */
Test(queue, remove_after_head_middle_and_tail)
{
	struct respio__queue q;
	struct item items[4];

	fill(&q, items, 4);
	cr_assert_eq(value_of(respio__queue_remove_after(&q, NULL)), 1); /* the head */
	cr_assert_eq(digits(&q), 234);
	cr_assert_eq(value_of(respio__queue_remove_after(&q, &items[1].node)), 3); /* middle */
	cr_assert_eq(digits(&q), 24);
	cr_assert_eq(value_of(respio__queue_remove_after(&q, &items[1].node)), 4); /* the tail */
	cr_assert_eq(digits(&q), 2);
	cr_assert_eq(q.tail, &items[1].node, "the tail still names a removed node");
	cr_assert_null(respio__queue_remove_after(&q, &items[1].node), "removed past the tail");
	items[2].value = 7;
	respio__queue_push(&q, &items[2].node);
	cr_assert_eq(digits(&q), 27, "a push after removing the tail got lost");
	cr_assert_eq(value_of(respio__queue_remove_after(&q, NULL)), 2);
	cr_assert_eq(value_of(respio__queue_remove_after(&q, NULL)), 7);
	cr_assert(respio__queue_empty(&q));
	cr_assert_null(q.tail, "the tail outlived the last node");
}

Test(queue, take_all_empties_and_keeps_the_chain)
{
	struct respio__queue q;
	struct item items[3];
	struct respio__queue_node *n;
	int v = 0;

	fill(&q, items, 3);
	n = respio__queue_take_all(&q);
	cr_assert(respio__queue_empty(&q));
	cr_assert_null(q.tail);
	for (; n; n = n->next)
		v = v * 10 + value_of(n);
	cr_assert_eq(v, 123);
	respio__queue_init(&q);
	cr_assert_null(respio__queue_take_all(&q));
}

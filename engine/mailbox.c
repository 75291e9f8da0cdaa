/* SPDX-License-Identifier: MIT */
/* The mailbox: control messages in, under a lock, with a wake for the
 * receiver after each (the invariants are in mailbox.h). */
#include <stdlib.h>
#include <unistd.h>

#include "mailbox.h"

void respio__mailbox_init(struct respio__mailbox *mb, void (*wake)(void *arg), void *arg)
{
	pthread_mutex_init(&mb->lock, NULL);
	respio__queue_init(&mb->msgs);
	respio__store_relaxed_u32(&mb->nonempty, 0);
	mb->wake = wake;
	mb->wake_arg = arg;
}

void respio__mailbox_destroy(struct respio__mailbox *mb)
{
	struct respio__queue_node *n, *next;

	for (n = respio__queue_take_all(&mb->msgs); n; n = next) {
		next = n->next;
		respio__msg_drop(RESPIO__QUEUE_DATA(n, struct respio__msg, node));
	}
	pthread_mutex_destroy(&mb->lock);
}

void respio__mailbox_post(struct respio__mailbox *mb, struct respio__msg *msg)
{
	pthread_mutex_lock(&mb->lock);
	respio__queue_push(&mb->msgs, &msg->node);
	respio__store_relaxed_u32(&mb->nonempty, 1);
	pthread_mutex_unlock(&mb->lock);
	/* Control messages are rare: always wake, so none waits a tick. */
	mb->wake(mb->wake_arg);
}

struct respio__queue_node *respio__mailbox_take(struct respio__mailbox *mb)
{
	struct respio__queue_node *n;

	pthread_mutex_lock(&mb->lock);
	n = respio__queue_take_all(&mb->msgs);
	respio__store_relaxed_u32(&mb->nonempty, 0);
	pthread_mutex_unlock(&mb->lock);
	return n;
}

void respio__msg_release(struct respio__msg *msg)
{
	if (!msg->in_link)
		free(msg);
}

void respio__msg_drop(struct respio__msg *msg)
{
	if (msg->type == RESPIO__MSG_CONN_READY)
		close(msg->fd);
	respio__msg_release(msg);
}

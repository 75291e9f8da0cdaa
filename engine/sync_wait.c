/* SPDX-License-Identifier: MIT */
/* The engine's synchronous path (sync_wait.h). */
#include <stdio.h>

#include "future.h"
#include "sync_wait.h"

/* Error details of the synchronous path are per thread: many threads share
 * one client target. */
static _Thread_local char respio__sync_detail[256];

void respio__sync_detail_set(const char *msg)
{
	snprintf(respio__sync_detail, sizeof(respio__sync_detail), "%s", msg);
}

const char *respio_client_errdetail(const respio_client *c)
{
	(void)c;
	return respio__sync_detail;
}

int respio__sync_finish(respio_future *f, respio_reply **out)
{
	int rc;

	respio_future_wait(f, -1);
	rc = respio_future_status(f);
	if (rc == RESPIO_E_SERVER) {
		size_t len;
		const char *msg = respio_reply_str(respio_future_reply(f), &len);

		snprintf(
		    respio__sync_detail, sizeof(respio__sync_detail), "%.*s",
		    (int)(len < sizeof(respio__sync_detail) ? len : sizeof(respio__sync_detail)),
		    msg ? msg : "");
	}
	if (rc == 0 || rc == RESPIO_E_SERVER) {
		*out = respio__future_adopt_reply(f);
		return rc;
	}
	respio_future_release(f);
	return rc;
}

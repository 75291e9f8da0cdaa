/* SPDX-License-Identifier: MIT */
/* The engine's synchronous path (the typed commands on a client's or a
 * session's target): wait for a submitted future, keep the error detail of
 * the calling thread, hand the reply over without copying. */
#ifndef RESPIO_SYNC_WAIT_H
#define RESPIO_SYNC_WAIT_H

#include <respio.h>

/* The calling thread's error detail (respio_client_errdetail). */
void respio__sync_detail_set(const char *msg);

/* Wait for f (its own deadline bounds the wait) and finish a target's run:
 * 0 with *out (the future's reply: freeing it releases f), RESPIO_E_SERVER
 * with the error reply (its message also in the thread's detail), or a
 * negative code with f released and *out NULL. */
int respio__sync_finish(respio_future *f, respio_reply **out);

#endif

/* SPDX-License-Identifier: MIT */
/* Automatic leases: what respio_submit does with a blocking command. */
#ifndef RESPIO_SESSION_INTERNAL_H
#define RESPIO_SESSION_INTERNAL_H

#include <respio.h>

/*
 * Run a blocking command on a connection of its own: a lease is taken from
 * the pool (waiting up to cfg.pool.wait_timeout_ms, not past the request's
 * deadline), the command goes to it, and the shard ends the lease when the
 * command is done: the connection goes back to the pool when the reply
 * came, and is closed when it is still outstanding (its deadline passed),
 * so it is never returned armed. The deadline is the command's block time
 * plus 2 s, none for a block of 0, unless opts sets one. Errors as
 * respio_submit, and RESPIO_E_POOL_EXHAUSTED.
 */
int respio__lease_submit(respio_client *c, const respio_submit_opts *opts, int argc,
			 const char *const *argv, const size_t *argvlen, respio_future **out);

/* The client is being destroyed: free the sessions never ended and return
 * how many there were. After respio_client_shutdown. */
uint32_t respio__sessions_abandon(respio_client *c);

#endif

/* SPDX-License-Identifier: MIT */
/* The control thread's dialers: dial and handshake connections for links
 * that ask, and answer each in the mailbox it names. */
#ifndef RESPIO_CONTROL_H
#define RESPIO_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include <respio.h>

#include "mailbox.h"

struct respio__control;

/* Start the dialers (up to 4, no more than nlinks, the connections they
 * will dial for), dialing with *cfg, which must outlive them, at cfg's
 * host and port until respio__control_set_address moves them; with
 * check_role (Sentinel), each dial confirms ROLE = master. */
int respio__control_start(const respio_config *cfg, uint32_t nlinks, bool check_role,
			  struct respio__control **out);

/* Queue req for a dialer, which posts req->answer to req->reply_to once the
 * dial is done. req belongs to the dialers until then. Any thread. */
void respio__control_dial(struct respio__control *ctl, struct respio__dial_request *req);

/* The last failed dial of the dialers (respio_client_last_error). */
int respio__control_last_error(struct respio__control *ctl, char *buf, size_t cap,
			       int64_t *when_ms);

/* Stop dialing: later respio__control_dial calls do nothing. Shards may
 * still call it, so the memory stays until respio__control_free, after
 * every shard has been joined. */
void respio__control_stop(struct respio__control *ctl);
void respio__control_free(struct respio__control *ctl);

/*
 * Where the dialers dial: cfg's host and port at start, then whatever the
 * Sentinels name. Setting it bumps the epoch (returned) that shards compare
 * with each connection's: one dialed at an older epoch is left behind. old
 * receives the previous "host:port". Any thread.
 */
uint32_t respio__control_set_address(struct respio__control *ctl, const char *host, int port,
				     char *old, size_t cap);
void respio__control_address(struct respio__control *ctl, char *host, size_t cap, int *port);
uint32_t respio__control_epoch(const struct respio__control *ctl);

/*
 * Where reads go when replica reads are on: the replica the Sentinels name,
 * checked with ROLE (host NULL: none, reads go to the master). Its own
 * epoch, bumped on each change; a replica link dialed at an older one is
 * left behind like a master link. Any thread.
 */
uint32_t respio__control_set_replica(struct respio__control *ctl, const char *host, int port);
uint32_t respio__control_replica_epoch(const struct respio__control *ctl);
bool respio__control_replica_up(const struct respio__control *ctl);

/*
 * A sign that the master may have changed (a -READONLY or -MASTERDOWN
 * reply, a refused dial, a server whose ROLE is not master): calls the
 * function registered with _on_suspect once, until _take_suspect takes the
 * sign. Coalesced: a storm of failing requests makes one rediscovery. Any
 * thread.
 */
void respio__control_suspect(struct respio__control *ctl);
void respio__control_on_suspect(struct respio__control *ctl, void (*fn)(void *), void *arg);
bool respio__control_take_suspect(struct respio__control *ctl);

/* A failover is under way: shards send nothing until until_ns
 * (CLOCK_MONOTONIC; 0: no hold). Published with the epoch (shards read
 * both on a topology message). */
void respio__control_set_hold(struct respio__control *ctl, int64_t until_ns);
int64_t respio__control_hold(const struct respio__control *ctl);

/* Report an event to the application's log hook (cfg.log), if any: fmt
 * must hold no credential. Any thread. */
void respio__control_log(struct respio__control *ctl, int level, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif

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
 * will dial for), dialing with *cfg, which must outlive them. */
int respio__control_start(const respio_config *cfg, uint32_t nlinks, struct respio__control **out);

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

/* Report an event to the application's log hook (cfg.log), if any: fmt
 * must hold no credential. Any thread. */
void respio__control_log(struct respio__control *ctl, int level, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif

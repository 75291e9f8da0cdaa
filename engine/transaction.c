/* SPDX-License-Identifier: MIT */
/* MULTI ... EXEC as one unit on a shared connection. */
#include <stdlib.h>

#include "client_internal.h"
#include "command_policy.h"
#include "enqueue.h"
#include "submit_guard.h"

/* Units up to this many commands are built on the stack. */
#define RESPIO__UNIT_STACK 16

/*
 * The bytes of MULTI, the commands and EXEC go to the connection in one
 * piece (a request's bytes are never split in fill), so no other thread's
 * command lands between them, and the server runs them as one. The future
 * skips the replies of MULTI and each QUEUED and completes with EXEC's;
 * an error among them (a command refused at queueing) also shows in EXEC's
 * reply (EXECABORT).
 */
int respio_submit_transaction(respio_client *c, const respio_submit_opts *opts, int ncmds,
			      const respio_argv *cmds, respio_future **out)
{
	static const char *const multi[] = {"MULTI"}, *const exec[] = {"EXEC"};
	respio_argv stack[RESPIO__UNIT_STACK + 2], *unit = stack;
	struct respio__guard *guard;
	struct respio__dest d;
	int rc;

	if (out)
		*out = NULL;
	if (!c || !out || ncmds < 0 || (ncmds > 0 && !cmds) || ncmds > (1 << 20))
		return RESPIO_E_INVAL;
	for (int i = 0; i < ncmds; i++) {
		if (cmds[i].argc < 1 || !cmds[i].argv || !cmds[i].argv[0])
			return RESPIO_E_INVAL;
		/* Inside MULTI a blocking command does not block. */
		switch (respio__command_classify(cmds[i].argc, cmds[i].argv, cmds[i].argvlen)) {
		case RESPIO__CMD_SHARED:
		case RESPIO__CMD_BLOCKING: break;
		default: return RESPIO_E_NEEDS_SESSION;
		}
	}
	if (ncmds > RESPIO__UNIT_STACK) {
		unit = malloc(((size_t)ncmds + 2) * sizeof(*unit));
		if (!unit)
			return -ENOMEM;
	}
	unit[0] = (respio_argv){1, multi, NULL};
	for (int i = 0; i < ncmds; i++)
		unit[i + 1] = cmds[i];
	unit[ncmds + 1] = (respio_argv){1, exec, NULL};

	d = respio__dest_shared(c);
	d.kind = RESPIO__REQ_UNIT;
	d.skip_replies = (uint32_t)ncmds + 1;
	rc = respio__guard_enter(c, &c->shutting_down, &guard);
	if (rc == 0) {
		rc = respio__enqueue(
		    c, &d,
		    respio__deadline_after(c, respio__timeout_ns(c, opts ? opts->timeout_ms : 0)),
		    opts, ncmds + 2, unit, out);
		respio__guard_leave(guard);
	}
	if (unit != stack)
		free(unit);
	return rc;
}

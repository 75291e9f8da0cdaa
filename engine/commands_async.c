/* SPDX-License-Identifier: MIT */
/* The typed commands as futures: the builders of commands.c submitted to the
 * engine, and typed readers of a completed future's reply. */
#include <errno.h>

#include "commands_internal.h"

/* Submit a built command; the argv is encoded into the future at once, so
 * cmd is released before returning, also when nothing is submitted. */
static int submit_built(respio_client *c, struct respio__cmd *cmd, int built, respio_future **out)
{
	int rc;

	if (!out) {
		if (built == 0)
			respio__cmd_release(cmd);
		return RESPIO_E_INVAL;
	}
	*out = NULL;
	if (built < 0)
		return built;
	rc = respio_submit(c, cmd->argc, cmd->argv, cmd->argvlen, out);
	respio__cmd_release(cmd);
	return rc;
}

/* respio_get_async ... respio_publish_async, as declared in respio/client.h. */
#define RESPIO_COMMAND(name, NAME, shape, decoder)                                                 \
	int respio_##name##_async(respio_client *c, RESPIO__PARAMS_##shape, respio_future **out)   \
	{                                                                                          \
		struct respio__cmd cmd;                                                            \
                                                                                                   \
		return submit_built(c, &cmd, respio__cmd_##name(&cmd, RESPIO__ARGS_##shape), out); \
	}
#include "commands.def"
#undef RESPIO_COMMAND

/*
 * Typed readers. Each returns the future's own status when it failed
 * (RESPIO_E_SERVER, -ETIMEDOUT...), -EAGAIN before it completes, and
 * RESPIO_E_TYPE when the reply has another shape.
 */
static int decode_future(const respio_future *f, respio__decode_fn dec, void *out)
{
	int rc;

	if (!f)
		return RESPIO_E_INVAL;
	if (!respio_future_ready(f))
		return -EAGAIN;
	rc = respio_future_status(f);
	if (rc < 0)
		return rc;
	return dec(respio_future_reply(f), out);
}

int respio_future_ok(const respio_future *f)
{
	return decode_future(f, respio__decode_ok, NULL);
}

int respio_future_str(const respio_future *f, respio_str *val)
{
	if (val)
		*val = (respio_str){0};
	return val ? decode_future(f, respio__decode_str, val) : RESPIO_E_INVAL;
}

int respio_future_integer(const respio_future *f, long long *n)
{
	return decode_future(f, respio__decode_int, n);
}

int respio_future_bool(const respio_future *f, bool *b)
{
	return decode_future(f, respio__decode_bool, b);
}

int respio_future_strv(const respio_future *f, respio_strv *v)
{
	const respio_reply *r;

	if (!v)
		return RESPIO_E_INVAL;
	*v = (respio_strv){0};
	/* HGETALL answers with a map in RESP3: flatten it like RESP2's array. */
	r = f && respio_future_ready(f) ? respio_future_reply(f) : NULL;
	if (r && respio_reply_type(r) == RESPIO_REPLY_MAP)
		return decode_future(f, respio__decode_pairs, v);
	return decode_future(f, respio__decode_strv, v);
}

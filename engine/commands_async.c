/* SPDX-License-Identifier: MIT */
/* The typed commands as futures: the builders of commands.c submitted to the
 * engine, and typed readers of a completed future's reply. */
#include <errno.h>

#include "commands_internal.h"

/* Submit a built command; the argv is encoded into the future at once, so
 * cmd is released before returning. */
static int submit_built(respio_client *c, struct respio__cmd *cmd, int built, respio_future **out)
{
	int rc;

	if (!out)
		return RESPIO_E_INVAL;
	*out = NULL;
	if (built < 0)
		return built;
	rc = respio_submit(c, cmd->argc, cmd->argv, cmd->argvlen, out);
	respio__cmd_release(cmd);
	return rc;
}

int respio_get_async(respio_client *c, const char *key, size_t keylen, respio_future **out)
{
	struct respio__cmd cmd;

	return submit_built(c, &cmd, respio__cmd_get(&cmd, key, keylen), out);
}

int respio_set_async(respio_client *c, const char *key, size_t keylen, const char *val,
		     size_t vallen, int64_t ttl_ms, respio_future **out)
{
	struct respio__cmd cmd;

	return submit_built(c, &cmd, respio__cmd_set(&cmd, key, keylen, val, vallen, ttl_ms), out);
}

int respio_del_async(respio_client *c, int nkeys, const char *const *keys, const size_t *keylens,
		     respio_future **out)
{
	struct respio__cmd cmd;

	return submit_built(c, &cmd, respio__cmd_del(&cmd, nkeys, keys, keylens), out);
}

int respio_exists_async(respio_client *c, int nkeys, const char *const *keys, const size_t *keylens,
			respio_future **out)
{
	struct respio__cmd cmd;

	return submit_built(c, &cmd, respio__cmd_exists(&cmd, nkeys, keys, keylens), out);
}

int respio_expire_async(respio_client *c, const char *key, size_t keylen, int64_t seconds,
			respio_future **out)
{
	struct respio__cmd cmd;

	return submit_built(c, &cmd, respio__cmd_expire(&cmd, key, keylen, seconds), out);
}

int respio_ttl_async(respio_client *c, const char *key, size_t keylen, respio_future **out)
{
	struct respio__cmd cmd;

	return submit_built(c, &cmd, respio__cmd_ttl(&cmd, key, keylen), out);
}

int respio_lpush_async(respio_client *c, const char *key, size_t keylen, int nvals,
		       const char *const *vals, const size_t *vallens, respio_future **out)
{
	struct respio__cmd cmd;

	return submit_built(c, &cmd, respio__cmd_lpush(&cmd, key, keylen, nvals, vals, vallens),
			    out);
}

int respio_rpush_async(respio_client *c, const char *key, size_t keylen, int nvals,
		       const char *const *vals, const size_t *vallens, respio_future **out)
{
	struct respio__cmd cmd;

	return submit_built(c, &cmd, respio__cmd_rpush(&cmd, key, keylen, nvals, vals, vallens),
			    out);
}

int respio_lpop_async(respio_client *c, const char *key, size_t keylen, respio_future **out)
{
	struct respio__cmd cmd;

	return submit_built(c, &cmd, respio__cmd_lpop(&cmd, key, keylen), out);
}

int respio_rpop_async(respio_client *c, const char *key, size_t keylen, respio_future **out)
{
	struct respio__cmd cmd;

	return submit_built(c, &cmd, respio__cmd_rpop(&cmd, key, keylen), out);
}

int respio_llen_async(respio_client *c, const char *key, size_t keylen, respio_future **out)
{
	struct respio__cmd cmd;

	return submit_built(c, &cmd, respio__cmd_llen(&cmd, key, keylen), out);
}

int respio_sadd_async(respio_client *c, const char *key, size_t keylen, int nmembers,
		      const char *const *members, const size_t *memberlens, respio_future **out)
{
	struct respio__cmd cmd;

	return submit_built(
	    c, &cmd, respio__cmd_sadd(&cmd, key, keylen, nmembers, members, memberlens), out);
}

int respio_srem_async(respio_client *c, const char *key, size_t keylen, int nmembers,
		      const char *const *members, const size_t *memberlens, respio_future **out)
{
	struct respio__cmd cmd;

	return submit_built(
	    c, &cmd, respio__cmd_srem(&cmd, key, keylen, nmembers, members, memberlens), out);
}

int respio_sismember_async(respio_client *c, const char *key, size_t keylen, const char *member,
			   size_t memberlen, respio_future **out)
{
	struct respio__cmd cmd;

	return submit_built(c, &cmd, respio__cmd_sismember(&cmd, key, keylen, member, memberlen),
			    out);
}

int respio_smembers_async(respio_client *c, const char *key, size_t keylen, respio_future **out)
{
	struct respio__cmd cmd;

	return submit_built(c, &cmd, respio__cmd_smembers(&cmd, key, keylen), out);
}

int respio_hset_async(respio_client *c, const char *key, size_t keylen, const char *field,
		      size_t fieldlen, const char *val, size_t vallen, respio_future **out)
{
	struct respio__cmd cmd;

	return submit_built(c, &cmd,
			    respio__cmd_hset(&cmd, key, keylen, field, fieldlen, val, vallen), out);
}

int respio_hget_async(respio_client *c, const char *key, size_t keylen, const char *field,
		      size_t fieldlen, respio_future **out)
{
	struct respio__cmd cmd;

	return submit_built(c, &cmd, respio__cmd_hget(&cmd, key, keylen, field, fieldlen), out);
}

int respio_hdel_async(respio_client *c, const char *key, size_t keylen, int nfields,
		      const char *const *fields, const size_t *fieldlens, respio_future **out)
{
	struct respio__cmd cmd;

	return submit_built(c, &cmd,
			    respio__cmd_hdel(&cmd, key, keylen, nfields, fields, fieldlens), out);
}

int respio_hgetall_async(respio_client *c, const char *key, size_t keylen, respio_future **out)
{
	struct respio__cmd cmd;

	return submit_built(c, &cmd, respio__cmd_hgetall(&cmd, key, keylen), out);
}

int respio_publish_async(respio_client *c, const char *channel, size_t channellen, const char *msg,
			 size_t msglen, respio_future **out)
{
	struct respio__cmd cmd;

	return submit_built(c, &cmd, respio__cmd_publish(&cmd, channel, channellen, msg, msglen),
			    out);
}

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

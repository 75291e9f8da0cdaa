/* SPDX-License-Identifier: MIT */
/* Typed commands, each written once as an argv builder plus a reply decoder. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands_internal.h"

/* ---- respio_str / respio_strv ------------------------------------------ */

/* Frees what the library allocated for s and resets it to nil. */
void respio_str_free(respio_str *s)
{
	if (!s)
		return;
	free(s->ptr);
	s->ptr = NULL;
	s->len = 0;
}

/* The array and every string live in one allocation: one free. */
void respio_strv_free(respio_strv *v)
{
	if (!v)
		return;
	free(v->v);
	v->v = NULL;
	v->n = 0;
}

/* ---- argv building ----------------------------------------------------- */

void respio__cmd_release(struct respio__cmd *cmd)
{
	free(cmd->heap);
	cmd->heap = NULL;
	cmd->argv = NULL;
	cmd->argvlen = NULL;
	cmd->argc = 0;
}

/* Room for argc arguments: inline for the common case, one allocation for
 * large multi-key calls. */
static int cmd_init(struct respio__cmd *cmd, const char *name, int argc)
{
	cmd->name = name;
	cmd->heap = NULL;
	cmd->argc = 0;
	if (argc <= RESPIO__CMD_INLINE_ARGS) {
		cmd->argv = cmd->inl_argv;
		cmd->argvlen = cmd->inl_argvlen;
	} else {
		size_t n = (size_t)argc;

		cmd->heap = malloc(n * (sizeof(char *) + sizeof(size_t)));
		if (!cmd->heap)
			return -ENOMEM;
		cmd->argvlen = cmd->heap;
		cmd->argv = (const char **)(cmd->argvlen + n);
	}
	return 0;
}

static void cmd_push(struct respio__cmd *cmd, const char *arg, size_t len)
{
	/* NULL with length 0 is the empty string; the encoder never sees NULL. */
	cmd->argv[cmd->argc] = arg ? arg : "";
	cmd->argvlen[cmd->argc] = len;
	cmd->argc++;
}

static bool arg_ok(const char *p, size_t len)
{
	return p || len == 0;
}

/*
 * One builder per shape of commands.def, given the row's NAME. Arguments
 * are checked before anything is pushed, so a failed build leaves nothing
 * to release. The fixed shapes fit in the inline argv, where cmd_init
 * cannot fail.
 */

/* NAME key */
static int build_key(struct respio__cmd *cmd, const char *name, const char *key, size_t keylen)
{
	if (!arg_ok(key, keylen))
		return RESPIO_E_INVAL;
	cmd_init(cmd, name, 2);
	cmd_push(cmd, name, strlen(name));
	cmd_push(cmd, key, keylen);
	return 0;
}

/* NAME key n, n in decimal in cmd's own storage. */
static int build_key_int(struct respio__cmd *cmd, const char *name, const char *key, size_t keylen,
			 int64_t n)
{
	if (!arg_ok(key, keylen))
		return RESPIO_E_INVAL;
	cmd_init(cmd, name, 3);
	cmd_push(cmd, name, strlen(name));
	cmd_push(cmd, key, keylen);
	cmd_push(cmd, cmd->num, (size_t)snprintf(cmd->num, sizeof(cmd->num), "%" PRId64, n));
	return 0;
}

/* NAME key a */
static int build_key_arg(struct respio__cmd *cmd, const char *name, const char *key, size_t keylen,
			 const char *a, size_t alen)
{
	if (!arg_ok(key, keylen) || !arg_ok(a, alen))
		return RESPIO_E_INVAL;
	cmd_init(cmd, name, 3);
	cmd_push(cmd, name, strlen(name));
	cmd_push(cmd, key, keylen);
	cmd_push(cmd, a, alen);
	return 0;
}

/* NAME key a b */
static int build_key_arg_arg(struct respio__cmd *cmd, const char *name, const char *key,
			     size_t keylen, const char *a, size_t alen, const char *b, size_t blen)
{
	if (!arg_ok(key, keylen) || !arg_ok(a, alen) || !arg_ok(b, blen))
		return RESPIO_E_INVAL;
	cmd_init(cmd, name, 4);
	cmd_push(cmd, name, strlen(name));
	cmd_push(cmd, key, keylen);
	cmd_push(cmd, a, alen);
	cmd_push(cmd, b, blen);
	return 0;
}

/* NAME key a [PX ms]: ms 0 means no PX, < 0 is invalid. */
static int build_key_arg_px(struct respio__cmd *cmd, const char *name, const char *key,
			    size_t keylen, const char *a, size_t alen, int64_t ms)
{
	if (ms < 0 || !arg_ok(key, keylen) || !arg_ok(a, alen))
		return RESPIO_E_INVAL;
	cmd_init(cmd, name, 5);
	cmd_push(cmd, name, strlen(name));
	cmd_push(cmd, key, keylen);
	cmd_push(cmd, a, alen);
	if (ms > 0) {
		cmd_push(cmd, "PX", 2);
		cmd_push(cmd, cmd->num,
			 (size_t)snprintf(cmd->num, sizeof(cmd->num), "%" PRId64, ms));
	}
	return 0;
}

/* NAME [key] item... ; lens NULL means NUL-terminated items. */
static int build_list(struct respio__cmd *cmd, const char *name, bool has_key, const char *key,
		      size_t keylen, int n, const char *const *items, const size_t *lens)
{
	int rc;

	if (n < 1 || !items || (has_key && !arg_ok(key, keylen)))
		return RESPIO_E_INVAL;
	if (n > INT32_MAX - 2)
		return RESPIO_E_INVAL;
	for (int i = 0; i < n; i++) {
		if (lens ? !arg_ok(items[i], lens[i]) : !items[i])
			return RESPIO_E_INVAL;
	}
	rc = cmd_init(cmd, name, n + 1 + has_key);
	if (rc < 0)
		return rc;
	cmd_push(cmd, name, strlen(name));
	if (has_key)
		cmd_push(cmd, key, keylen);
	for (int i = 0; i < n; i++)
		cmd_push(cmd, items[i], lens ? lens[i] : strlen(items[i]));
	return 0;
}

/* NAME key... */
static int build_keys(struct respio__cmd *cmd, const char *name, int n, const char *const *items,
		      const size_t *lens)
{
	return build_list(cmd, name, false, NULL, 0, n, items, lens);
}

/* NAME key a... */
static int build_key_args(struct respio__cmd *cmd, const char *name, const char *key, size_t keylen,
			  int n, const char *const *items, const size_t *lens)
{
	return build_list(cmd, name, true, key, keylen, n, items, lens);
}

/* respio__cmd_get ... respio__cmd_publish: each row's builder is its shape's. */
#define RESPIO_COMMAND(name, NAME, shape, decoder)                                                 \
	int respio__cmd_##name(struct respio__cmd *cmd, RESPIO__PARAMS_##shape)                    \
	{                                                                                          \
		return build_##shape(cmd, NAME, RESPIO__ARGS_##shape);                             \
	}
#include "commands.def"
#undef RESPIO_COMMAND

/* ---- reply decoding ---------------------------------------------------- */

int respio__decode_ok(const respio_reply *r, void *unused)
{
	size_t len = 0;
	const char *s = respio_reply_str(r, &len);

	(void)unused;
	if (respio_reply_type(r) != RESPIO_REPLY_STATUS || len != 2 || memcmp(s, "OK", 2) != 0)
		return RESPIO_E_TYPE;
	return 0;
}

int respio__decode_int(const respio_reply *r, void *out)
{
	if (respio_reply_type(r) != RESPIO_REPLY_INTEGER)
		return RESPIO_E_TYPE;
	if (out)
		*(long long *)out = respio_reply_integer(r);
	return 0;
}

int respio__decode_bool(const respio_reply *r, void *out)
{
	enum respio_reply_type type = respio_reply_type(r);

	if (type != RESPIO_REPLY_INTEGER && type != RESPIO_REPLY_BOOL)
		return RESPIO_E_TYPE;
	if (out)
		*(bool *)out = respio_reply_integer(r) != 0;
	return 0;
}

static bool is_string(const respio_reply *r)
{
	enum respio_reply_type type = respio_reply_type(r);

	return type == RESPIO_REPLY_STRING || type == RESPIO_REPLY_VERBATIM;
}

int respio__decode_str(const respio_reply *r, void *out)
{
	respio_str *s = out;
	const char *p;
	size_t len = 0;

	if (respio_reply_type(r) == RESPIO_REPLY_NIL) {
		s->ptr = NULL;
		s->len = 0;
		return 0;
	}
	if (!is_string(r))
		return RESPIO_E_TYPE;
	p = respio_reply_str(r, &len);
	s->ptr = malloc(len + 1);
	if (!s->ptr)
		return -ENOMEM;
	memcpy(s->ptr, p, len);
	s->ptr[len] = '\0';
	s->len = len;
	return 0;
}

/*
 * Copy n element strings (nil elements stay nil) into one allocation: the
 * respio_str array first, then every string with its NUL.
 */
static int copy_strings(const respio_reply *r, size_t n, respio_strv *v)
{
	size_t bytes = 0, len;
	respio_str *arr;
	char *p;

	for (size_t i = 0; i < n; i++) {
		const respio_reply *e = respio_reply_element(r, i);

		if (respio_reply_type(e) == RESPIO_REPLY_NIL)
			continue;
		if (!is_string(e))
			return RESPIO_E_TYPE;
		respio_reply_str(e, &len);
		bytes += len + 1; /* no overflow: the reply already holds these */
	}
	if (n == 0) {
		v->v = NULL;
		v->n = 0;
		return 0;
	}
	if (n > (SIZE_MAX - bytes) / sizeof(respio_str))
		return -ENOMEM;
	arr = malloc(n * sizeof(respio_str) + bytes);
	if (!arr)
		return -ENOMEM;
	p = (char *)(arr + n);
	for (size_t i = 0; i < n; i++) {
		const respio_reply *e = respio_reply_element(r, i);
		const char *s;

		if (respio_reply_type(e) == RESPIO_REPLY_NIL) {
			arr[i] = (respio_str){NULL, 0};
			continue;
		}
		s = respio_reply_str(e, &len);
		memcpy(p, s, len);
		p[len] = '\0';
		arr[i] = (respio_str){p, len};
		p += len + 1;
	}
	v->v = arr;
	v->n = n;
	return 0;
}

int respio__decode_strv(const respio_reply *r, void *out)
{
	enum respio_reply_type type = respio_reply_type(r);

	if (type != RESPIO_REPLY_ARRAY && type != RESPIO_REPLY_SET)
		return RESPIO_E_TYPE;
	return copy_strings(r, respio_reply_len(r), out);
}

/* RESP2 sends a flat array field, value, ...; RESP3 a map whose elements
 * alternate key, value, which is the same flat list. */
int respio__decode_pairs(const respio_reply *r, void *out)
{
	enum respio_reply_type type = respio_reply_type(r);
	size_t n = respio_reply_len(r);

	if (type == RESPIO_REPLY_MAP)
		return copy_strings(r, 2 * n, out);
	if (type != RESPIO_REPLY_ARRAY || n % 2)
		return RESPIO_E_TYPE;
	return copy_strings(r, n, out);
}

const char *respio__decode_expects(respio__decode_fn dec)
{
	if (dec == respio__decode_ok)
		return "an OK status";
	if (dec == respio__decode_int)
		return "an integer";
	if (dec == respio__decode_bool)
		return "an integer or boolean";
	if (dec == respio__decode_str)
		return "a string or nil";
	if (dec == respio__decode_strv)
		return "an array or set of strings";
	if (dec == respio__decode_pairs)
		return "a map or an even array of strings";
	return "another type";
}

static const char *type_name(const respio_reply *r)
{
	static const char *const names[] = {
	    [RESPIO_REPLY_STRING] = "string",
	    [RESPIO_REPLY_STATUS] = "status",
	    [RESPIO_REPLY_ERROR] = "error",
	    [RESPIO_REPLY_INTEGER] = "integer",
	    [RESPIO_REPLY_NIL] = "nil",
	    [RESPIO_REPLY_DOUBLE] = "double",
	    [RESPIO_REPLY_BOOL] = "boolean",
	    [RESPIO_REPLY_BIGNUM] = "big number",
	    [RESPIO_REPLY_VERBATIM] = "verbatim string",
	    [RESPIO_REPLY_ARRAY] = "array",
	    [RESPIO_REPLY_MAP] = "map",
	    [RESPIO_REPLY_SET] = "set",
	    [RESPIO_REPLY_PUSH] = "push",
	};
	unsigned t = (unsigned)respio_reply_type(r);

	return t < RESPIO__ARRAY_SIZE(names) && names[t] ? names[t] : "unknown";
}

int respio__cmd_decode(const char *cmd_name, respio__decode_fn dec, const respio_reply *r,
		       void *out, char *detail, size_t detailsize)
{
	int rc = dec(r, out);

	if (rc == RESPIO_E_TYPE && detail && detailsize)
		snprintf(detail, detailsize, "%s: expected %s reply, got %s", cmd_name,
			 respio__decode_expects(dec), type_name(r));
	else if (rc == -ENOMEM && detail && detailsize)
		snprintf(detail, detailsize, "%s: out of memory copying the reply", cmd_name);
	return rc;
}

int respio__cmd_run(respio_target *t, struct respio__cmd *cmd, respio__decode_fn dec, void *out)
{
	respio_reply *r = NULL;
	char detail[160];
	int rc;

	rc = t->ops->run(t, cmd->argc, cmd->argv, cmd->argvlen, &r);
	if (rc == 0) {
		rc = respio__cmd_decode(cmd->name, dec, r, out, detail, sizeof(detail));
		if (rc < 0 && t->ops->set_errdetail)
			t->ops->set_errdetail(t, detail);
	}
	respio_reply_free(r);
	respio__cmd_release(cmd);
	return rc;
}

/* ---- the public, blocking commands -------------------------------------- */

/*
 * Each one clears its output first (so it reads nil/zero on failure),
 * builds, and runs. Strings it returns belong to the caller: respio_str_free
 * / respio_strv_free.
 *
 * clear_<decoder> clears the output of a row with that decoder and returns
 * 0, or RESPIO_E_INVAL when the output is required but NULL (strings, which
 * the caller must take). OUT_ARG_<decoder> is that output as the blocking
 * command names it: "ok" has none.
 */
#define OUT_ARG_ok    NULL
#define OUT_ARG_int   out
#define OUT_ARG_bool  out
#define OUT_ARG_str   out
#define OUT_ARG_strv  out
#define OUT_ARG_pairs out

static int clear_ok(void *none)
{
	(void)none;
	return 0;
}

static int clear_int(long long *n)
{
	if (n)
		*n = 0;
	return 0;
}

static int clear_bool(bool *b)
{
	if (b)
		*b = false;
	return 0;
}

static int clear_str(respio_str *s)
{
	if (!s)
		return RESPIO_E_INVAL;
	s->ptr = NULL;
	s->len = 0;
	return 0;
}

static int clear_strv(respio_strv *v)
{
	if (!v)
		return RESPIO_E_INVAL;
	v->v = NULL;
	v->n = 0;
	return 0;
}

static int clear_pairs(respio_strv *v)
{
	return clear_strv(v);
}

/* A builder's RESPIO_E_INVAL, worded for the target's error detail. */
static int invalid(respio_target *t, const char *name, int rc)
{
	char msg[96];

	if (rc == RESPIO_E_INVAL && t->ops->set_errdetail) {
		snprintf(msg, sizeof(msg), "%s: invalid arguments", name);
		t->ops->set_errdetail(t, msg);
	}
	return rc;
}

/* built is the builder's result for cmd: run it, or report why not. */
static int run_built(respio_target *t, struct respio__cmd *cmd, int built, const char *name,
		     respio__decode_fn dec, void *out)
{
	if (!t) {
		if (built == 0)
			respio__cmd_release(cmd);
		return RESPIO_E_INVAL;
	}
	if (built < 0)
		return invalid(t, name, built);
	return respio__cmd_run(t, cmd, dec, out);
}

/* On 0 or RESPIO_E_SERVER, *out is the caller's (respio_reply_free). */
int respio_command(respio_target *t, int argc, const char *const *argv, const size_t *argvlen,
		   respio_reply **out)
{
	if (!out)
		return RESPIO_E_INVAL;
	*out = NULL;
	if (!t)
		return RESPIO_E_INVAL;
	return t->ops->run(t, argc, argv, argvlen, out);
}

/* respio_get ... respio_publish, as declared in respio/commands.h. */
#define RESPIO_COMMAND(name, NAME, shape, decoder)                                                 \
	int respio_##name(respio_target *t, RESPIO__PARAMS_##shape RESPIO__OUT_##decoder)          \
	{                                                                                          \
		struct respio__cmd cmd;                                                            \
		int rc = clear_##decoder(OUT_ARG_##decoder);                                       \
                                                                                                   \
		if (rc == 0)                                                                       \
			rc = run_built(t, &cmd, respio__cmd_##name(&cmd, RESPIO__ARGS_##shape),    \
				       NAME, respio__decode_##decoder, OUT_ARG_##decoder);         \
		return rc;                                                                         \
	}
#include "commands.def"
#undef RESPIO_COMMAND

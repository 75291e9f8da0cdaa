/* SPDX-License-Identifier: MIT */
/* The two halves of every typed command, argv building and reply decoding, for any engine. */
#ifndef RESPIO_COMMANDS_INTERNAL_H
#define RESPIO_COMMANDS_INTERNAL_H

#include "internal.h"

/*
 * A typed command is (1) an argv built into a respio__cmd and (2) a decoder
 * that turns the reply into the typed result. The blocking path runs them
 * back to back (respio__cmd_run); an asynchronous engine can submit
 * cmd.argv/cmd.argvlen, keep the decoder and the output pointer, and call
 * respio__cmd_decode when the reply arrives.
 *
 * The argv points into the caller's keys and values (never copied) and
 * into cmd's own storage (command name, numbers), so a respio__cmd must
 * outlive the encoding of its argv and must not be moved while in use
 * (argv may point at cmd->inl_argv). Release it with respio__cmd_release.
 */
#define RESPIO__CMD_INLINE_ARGS 8

struct respio__cmd {
	int argc;
	const char **argv;
	size_t *argvlen;
	const char *name; /* "GET", for error details */
	void *heap;	  /* argv + argvlen when > inline */
	char num[24];	  /* one decimal argument (PX, EXPIRE) */
	const char *inl_argv[RESPIO__CMD_INLINE_ARGS];
	size_t inl_argvlen[RESPIO__CMD_INLINE_ARGS];
};

void respio__cmd_release(struct respio__cmd *cmd);

/* Builders: 0, RESPIO_E_INVAL (bad arguments; nothing to send) or -ENOMEM.
 * On failure cmd needs no release. */
int respio__cmd_get(struct respio__cmd *cmd, const char *key, size_t keylen);
int respio__cmd_set(struct respio__cmd *cmd, const char *key, size_t keylen, const char *val,
		    size_t vallen, int64_t ttl_ms);
int respio__cmd_del(struct respio__cmd *cmd, int nkeys, const char *const *keys,
		    const size_t *keylens);
int respio__cmd_exists(struct respio__cmd *cmd, int nkeys, const char *const *keys,
		       const size_t *keylens);
int respio__cmd_expire(struct respio__cmd *cmd, const char *key, size_t keylen, int64_t seconds);
int respio__cmd_ttl(struct respio__cmd *cmd, const char *key, size_t keylen);
int respio__cmd_lpush(struct respio__cmd *cmd, const char *key, size_t keylen, int nvals,
		      const char *const *vals, const size_t *vallens);
int respio__cmd_rpush(struct respio__cmd *cmd, const char *key, size_t keylen, int nvals,
		      const char *const *vals, const size_t *vallens);
int respio__cmd_lpop(struct respio__cmd *cmd, const char *key, size_t keylen);
int respio__cmd_rpop(struct respio__cmd *cmd, const char *key, size_t keylen);
int respio__cmd_llen(struct respio__cmd *cmd, const char *key, size_t keylen);
int respio__cmd_sadd(struct respio__cmd *cmd, const char *key, size_t keylen, int n,
		     const char *const *members, const size_t *memberlens);
int respio__cmd_srem(struct respio__cmd *cmd, const char *key, size_t keylen, int n,
		     const char *const *members, const size_t *memberlens);
int respio__cmd_sismember(struct respio__cmd *cmd, const char *key, size_t keylen,
			  const char *member, size_t memberlen);
int respio__cmd_smembers(struct respio__cmd *cmd, const char *key, size_t keylen);
int respio__cmd_hset(struct respio__cmd *cmd, const char *key, size_t keylen, const char *field,
		     size_t fieldlen, const char *val, size_t vallen);
int respio__cmd_hget(struct respio__cmd *cmd, const char *key, size_t keylen, const char *field,
		     size_t fieldlen);
int respio__cmd_hdel(struct respio__cmd *cmd, const char *key, size_t keylen, int n,
		     const char *const *fields, const size_t *fieldlens);
int respio__cmd_hgetall(struct respio__cmd *cmd, const char *key, size_t keylen);
int respio__cmd_publish(struct respio__cmd *cmd, const char *channel, size_t channellen,
			const char *msg, size_t msglen);

/*
 * Decoders. Each reads a successful (non-error) reply into the typed
 * output and returns 0, RESPIO_E_TYPE (output untouched) or -ENOMEM.
 * out is the typed pointer named in the comment; integer and bool outputs
 * may be NULL.
 */
typedef int (*respio__decode_fn)(const respio_reply *r, void *out);

int respio__decode_ok(const respio_reply *r, void *unused); /* +OK */
int respio__decode_int(const respio_reply *r, void *out);   /* long long * */
int respio__decode_bool(const respio_reply *r, void *out);  /* bool * (0/1 or #t/#f) */
int respio__decode_str(const respio_reply *r, void *out);   /* respio_str *, nil ok */
int respio__decode_strv(const respio_reply *r, void *out);  /* respio_strv *, array/set */
int respio__decode_pairs(const respio_reply *r, void *out); /* respio_strv *, array/map */

/* What a decoder expects, in words, for error details ("an integer"). */
const char *respio__decode_expects(respio__decode_fn dec);

/*
 * Decode a reply for cmd_name (used in the error detail) and, on
 * RESPIO_E_TYPE, describe the mismatch into detail (may be NULL).
 */
int respio__cmd_decode(const char *cmd_name, respio__decode_fn dec, const respio_reply *r,
		       void *out, char *detail, size_t detailsize);

/* Blocking: run cmd on t, decode into out, release cmd. */
int respio__cmd_run(respio_target *t, struct respio__cmd *cmd, respio__decode_fn dec, void *out);

#endif

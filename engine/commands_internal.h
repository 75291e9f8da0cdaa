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

/*
 * The typed commands are the rows of commands.def: name, argument shape,
 * decoder. From each row come the builder respio__cmd_<name> (here and in
 * commands.c), the blocking respio_<name> on a respio_target (commands.c)
 * and respio_<name>_async on a client (commands_async.c). A row's shape
 * names a parameter list, RESPIO__PARAMS_<shape>, which the builder hands
 * to build_<shape> in commands.c as RESPIO__ARGS_<shape>; its decoder names
 * respio__decode_<decoder> and the blocking command's output parameter,
 * RESPIO__OUT_<decoder> (with its leading comma: "ok" has none).
 *
 * Adding a command whose shape and decoder exist is one row in
 * commands.def plus its two prototypes, written out for readers in
 * respio/commands.h and respio/client.h; tests/test_commands_table.c fails
 * the build when a prototype and its row disagree.
 */

/* Shapes (the argv after the command name): key; key n; key a; key a b;
 * key a [PX ms]; key...; key a... Lengths go with their pointers (binary
 * safe); a NULL pointer with length 0 is the empty string; lens == NULL
 * means NUL-terminated items. */
#define RESPIO__PARAMS_key	   const char *key, size_t keylen
#define RESPIO__PARAMS_key_int	   RESPIO__PARAMS_key, int64_t n
#define RESPIO__PARAMS_key_arg	   RESPIO__PARAMS_key, const char *a, size_t alen
#define RESPIO__PARAMS_key_arg_arg RESPIO__PARAMS_key_arg, const char *b, size_t blen
#define RESPIO__PARAMS_key_arg_px  RESPIO__PARAMS_key_arg, int64_t ms
#define RESPIO__PARAMS_keys	   int n, const char *const *items, const size_t *lens
#define RESPIO__PARAMS_key_args	   RESPIO__PARAMS_key, RESPIO__PARAMS_keys

#define RESPIO__ARGS_key	 key, keylen
#define RESPIO__ARGS_key_int	 RESPIO__ARGS_key, n
#define RESPIO__ARGS_key_arg	 RESPIO__ARGS_key, a, alen
#define RESPIO__ARGS_key_arg_arg RESPIO__ARGS_key_arg, b, blen
#define RESPIO__ARGS_key_arg_px	 RESPIO__ARGS_key_arg, ms
#define RESPIO__ARGS_keys	 n, items, lens
#define RESPIO__ARGS_key_args	 RESPIO__ARGS_key, RESPIO__ARGS_keys

/* A blocking command's output parameter, by decoder. */
#define RESPIO__OUT_ok
#define RESPIO__OUT_int	  , long long *out
#define RESPIO__OUT_bool  , bool *out
#define RESPIO__OUT_str	  , respio_str *out
#define RESPIO__OUT_strv  , respio_strv *out
#define RESPIO__OUT_pairs , respio_strv *out

/* Builders: 0, RESPIO_E_INVAL (bad arguments; nothing to send) or -ENOMEM.
 * On failure cmd needs no release. */
#define RESPIO_COMMAND(name, NAME, shape, decoder)                                                 \
	int respio__cmd_##name(struct respio__cmd *cmd, RESPIO__PARAMS_##shape);
#include "commands.def"
#undef RESPIO_COMMAND

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

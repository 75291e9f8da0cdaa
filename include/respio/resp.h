/* SPDX-License-Identifier: MIT */
/* RESP2/RESP3 reply objects, the incremental parser and the encoder. */
#ifndef RESPIO_RESP_H
#define RESPIO_RESP_H

#include <respio/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One value per RESP type. Null bulk strings, null arrays and the RESP3 null
 * all read as RESPIO_REPLY_NIL; blob errors read as RESPIO_REPLY_ERROR. */
enum respio_reply_type {
	RESPIO_REPLY_STRING = 1, /* $ bulk string */
	RESPIO_REPLY_STATUS,	 /* + simple string */
	RESPIO_REPLY_ERROR,	 /* - simple error, ! blob error */
	RESPIO_REPLY_INTEGER,	 /* : */
	RESPIO_REPLY_NIL,	 /* _ , $-1, *-1 */
	RESPIO_REPLY_DOUBLE,	 /* , */
	RESPIO_REPLY_BOOL,	 /* # */
	RESPIO_REPLY_BIGNUM,	 /* ( */
	RESPIO_REPLY_VERBATIM,	 /* = */
	RESPIO_REPLY_ARRAY,	 /* * */
	RESPIO_REPLY_MAP,	 /* % */
	RESPIO_REPLY_SET,	 /* ~ */
	RESPIO_REPLY_PUSH,	 /* > */
};

/*
 * A parsed reply. A top-level reply is one allocation (an arena) holding the
 * whole tree and every string; its elements are views into it and are never
 * freed on their own. Strings are NUL-terminated for convenience but may
 * contain NUL bytes: always use the length. A reply is immutable, so any
 * number of threads may read one at the same time.
 */
typedef struct respio_reply respio_reply;

/* The type of r (the enum tag and the function share a name; C keeps tags
 * apart from functions). */
RESPIO_API enum respio_reply_type respio_reply_type(const respio_reply *r);

/* Text of STRING, STATUS, ERROR, VERBATIM (without the "txt:" prefix),
 * BIGNUM and DOUBLE (as the server sent it). NULL (and *len 0) for other
 * types. len may be NULL. Valid as long as the top-level reply. */
RESPIO_API const char *respio_reply_str(const respio_reply *r, size_t *len);

/* The three-letter format of a VERBATIM reply ("txt", "mkd"), else NULL. */
RESPIO_API const char *respio_reply_verbatim_format(const respio_reply *r);

/* INTEGER value; BOOL as 0/1; 0 for other types. */
RESPIO_API long long respio_reply_integer(const respio_reply *r);

/* DOUBLE value (inf, -inf and nan included); INTEGER converted; else 0. */
RESPIO_API double respio_reply_double(const respio_reply *r);

/* Elements of ARRAY, SET, PUSH; key/value pairs of MAP; 0 otherwise. */
RESPIO_API size_t respio_reply_len(const respio_reply *r);

/* Element i of an aggregate (for a MAP, 2*len elements alternate key,
 * value), or NULL when out of range or not an aggregate. */
RESPIO_API const respio_reply *respio_reply_element(const respio_reply *r, size_t i);

/* RESP3 attributes (|) that preceded this reply, as a MAP, or NULL. */
RESPIO_API const respio_reply *respio_reply_attributes(const respio_reply *r);

/* Free a top-level reply and everything in it. NULL is fine. Never pass an
 * element. Any thread (but once). */
RESPIO_API void respio_reply_free(respio_reply *r);

/*
 * Encoder: argv (binary-safe) to a RESP array of bulk strings. Writes into
 * buf when cap is large enough and returns 0 with *len = bytes written;
 * otherwise writes nothing, returns RESPIO_E_NOBUFS and sets *len to the
 * size needed. argvlen may be NULL for NUL-terminated arguments. argc < 1
 * gives RESPIO_E_INVAL. No allocation. Any thread.
 */
RESPIO_API int respio_encode_argv(char *buf, size_t cap, int argc, const char *const *argv,
				  const size_t *argvlen, size_t *len);

/*
 * Incremental parser. Feed it bytes in pieces of any size; it never keeps a
 * pointer into the caller's buffer (what it needs is copied into its own
 * scratch, which is reused from reply to reply, so steady state allocates
 * nothing but the reply itself). No recursion: nesting uses a stack bounded
 * by limits.max_depth. Not thread-safe: one parser per stream.
 *
 * Limits, precisely:
 * - max_depth: each aggregate header (array, map, set, push, attribute;
 *   empty ones too, null arrays not) opens one level; at most max_depth
 *   may be open at once. A top-level scalar is depth 0, so max_depth 64
 *   accepts 64 nested arrays around a scalar and rejects 65.
 * - max_elements: the count in one aggregate header (pairs for a map).
 * - max_bulk_len: every string, with or without a length header: bulk,
 *   blob error, verbatim (with its "fmt:" prefix), and the lines of simple
 *   strings, simple errors, doubles and big numbers.
 * - max_reply_bytes: the arena, exactly respio_parser_reply_size(); each
 *   header is checked before anything of its size is allocated.
 * RESPIO_E_LIMIT reports the offset of the type byte of the value that broke
 * a limit; RESPIO_E_PROTOCOL the offset of the first invalid byte.
 */
typedef struct respio_parser respio_parser;

/* limits may be NULL for defaults. The caller frees with _destroy. */
RESPIO_API int respio_parser_create(const respio_limits *limits, respio_parser **out);
RESPIO_API void respio_parser_destroy(respio_parser *p);

/* Forget any partial reply (e.g. after a reconnect). */
RESPIO_API void respio_parser_reset(respio_parser *p);

/*
 * Consume bytes from buf[0..len). Returns
 *   1  a reply is complete: *consumed bytes were used (the rest of buf
 *      belongs to the next reply); collect it with respio_parser_take()
 *      (or _reply_size/_reply_build) before feeding again;
 *   0  all len bytes consumed, the reply is not complete yet;
 *  <0  RESPIO_E_PROTOCOL or RESPIO_E_LIMIT (or -ENOMEM);
 *      respio_parser_error_offset() gives the offset, counted from the
 *      first byte of this reply, of the byte that was rejected. *consumed
 *      is 0. Every later feed returns the same error until reset.
 * Feeding again after 1 without collecting drops the uncollected reply.
 */
RESPIO_API int respio_parser_feed(respio_parser *p, const char *buf, size_t len, size_t *consumed);

/* After feed returned 1: move the reply into one new allocation the caller
 * owns (free with respio_reply_free). Returns 0, -ENOMEM, or RESPIO_E_INVAL
 * when no reply is complete; *out is NULL on failure. */
RESPIO_API int respio_parser_take(respio_parser *p, respio_reply **out);

/* After feed returned 1: bytes needed to hold the reply, and placing it into
 * caller memory mem (aligned to 16, at least that size); the result is not
 * freed with respio_reply_free but with the memory (respio_reply_free on
 * it is a no-op, as on any element). _build does not allocate; it returns
 * NULL, and _reply_size 0, when no reply is complete. Either take or build
 * ends the reply. */
RESPIO_API size_t respio_parser_reply_size(const respio_parser *p);
RESPIO_API const respio_reply *respio_parser_reply_build(respio_parser *p, void *mem);

/* Byte offset of the last error, relative to the start of the failing reply. */
RESPIO_API uint64_t respio_parser_error_offset(const respio_parser *p);

/* A short static description of the last error ("invalid type byte",
 * "bulk length exceeds limit", ...). */
RESPIO_API const char *respio_parser_error_reason(const respio_parser *p);

#ifdef __cplusplus
}
#endif
#endif

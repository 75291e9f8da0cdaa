/* SPDX-License-Identifier: MIT */
/* Typed commands, written once for every kind of connection (a "target"). */
#ifndef RESPIO_COMMANDS_H
#define RESPIO_COMMANDS_H

#include <respio/conn.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A target is anything that runs one command synchronously: a blocking
 * connection (respio_conn_target), and later the engine client and its
 * pinned sessions. A target pointer lives as long as the object it came
 * from; it is thread-safe exactly when that object is.
 */
typedef struct respio_target respio_target;

RESPIO_API respio_target *respio_conn_target(respio_conn *c);

/* A binary-safe string the caller owns. ptr == NULL means nil (no such key);
 * otherwise ptr[len] is a NUL the library added. Free with respio_str_free,
 * which resets it to nil. */
typedef struct respio_str {
	char *ptr;
	size_t len;
} respio_str;

RESPIO_API void respio_str_free(respio_str *s);

/* A list of strings in one allocation. Free with respio_strv_free. */
typedef struct respio_strv {
	size_t n;
	respio_str *v;
} respio_strv;

RESPIO_API void respio_strv_free(respio_strv *v);

/*
 * Every typed command returns 0 or a negative code. A server error gives
 * RESPIO_E_SERVER (the message is in the target's error detail, e.g.
 * respio_conn_errdetail); a reply of a type the command cannot produce
 * gives RESPIO_E_TYPE. Integer results may be NULL when not wanted. On
 * failure, outputs are left nil/zero.
 *
 * (For contributors: each typed command is one row of the library's table,
 * engine/commands.def; these prototypes are written out for reading, and a
 * test checks them against it.)
 */

/* Generic command: any argv, the raw reply (see respio_conn_command). */
RESPIO_API int respio_command(respio_target *t, int argc, const char *const *argv,
			      const size_t *argvlen, respio_reply **out);

/* GET key: *val is nil when the key does not exist. */
RESPIO_API int respio_get(respio_target *t, const char *key, size_t keylen, respio_str *val);

/* SET key value [PX ttl_ms]; ttl_ms 0 = no expiry, < 0 = RESPIO_E_INVAL. */
RESPIO_API int respio_set(respio_target *t, const char *key, size_t keylen, const char *val,
			  size_t vallen, int64_t ttl_ms);

/* DEL / EXISTS key...: *count = keys deleted / keys that exist. */
RESPIO_API int respio_del(respio_target *t, int nkeys, const char *const *keys,
			  const size_t *keylens, long long *count);
RESPIO_API int respio_exists(respio_target *t, int nkeys, const char *const *keys,
			     const size_t *keylens, long long *count);

/* EXPIRE key seconds: *set is true when a timeout was set. */
RESPIO_API int respio_expire(respio_target *t, const char *key, size_t keylen, int64_t seconds,
			     bool *set);

/* TTL key: seconds left, -1 no expiry, -2 no such key. */
RESPIO_API int respio_ttl(respio_target *t, const char *key, size_t keylen, long long *ttl);

/* LPUSH / RPUSH key value...: *len = length of the list afterwards. */
RESPIO_API int respio_lpush(respio_target *t, const char *key, size_t keylen, int nvals,
			    const char *const *vals, const size_t *vallens, long long *len);
RESPIO_API int respio_rpush(respio_target *t, const char *key, size_t keylen, int nvals,
			    const char *const *vals, const size_t *vallens, long long *len);

/* LPOP / RPOP key: *val is nil when the list is empty or missing. */
RESPIO_API int respio_lpop(respio_target *t, const char *key, size_t keylen, respio_str *val);
RESPIO_API int respio_rpop(respio_target *t, const char *key, size_t keylen, respio_str *val);

RESPIO_API int respio_llen(respio_target *t, const char *key, size_t keylen, long long *len);

/* SADD / SREM key member...: *count = members added / removed. */
RESPIO_API int respio_sadd(respio_target *t, const char *key, size_t keylen, int nmembers,
			   const char *const *members, const size_t *memberlens, long long *count);
RESPIO_API int respio_srem(respio_target *t, const char *key, size_t keylen, int nmembers,
			   const char *const *members, const size_t *memberlens, long long *count);

RESPIO_API int respio_sismember(respio_target *t, const char *key, size_t keylen,
				const char *member, size_t memberlen, bool *is_member);

/* SMEMBERS key: every member, in the server's order. */
RESPIO_API int respio_smembers(respio_target *t, const char *key, size_t keylen,
			       respio_strv *members);

/* HSET key field value: *added = 1 if the field is new, 0 if updated. */
RESPIO_API int respio_hset(respio_target *t, const char *key, size_t keylen, const char *field,
			   size_t fieldlen, const char *val, size_t vallen, long long *added);

RESPIO_API int respio_hget(respio_target *t, const char *key, size_t keylen, const char *field,
			   size_t fieldlen, respio_str *val);

RESPIO_API int respio_hdel(respio_target *t, const char *key, size_t keylen, int nfields,
			   const char *const *fields, const size_t *fieldlens, long long *count);

/* HGETALL key: flat list field, value, field, value... (RESP2 and RESP3). */
RESPIO_API int respio_hgetall(respio_target *t, const char *key, size_t keylen, respio_strv *pairs);

/* PUBLISH channel message: *receivers = clients that got it. */
RESPIO_API int respio_publish(respio_target *t, const char *channel, size_t channellen,
			      const char *msg, size_t msglen, long long *receivers);

#ifdef __cplusplus
}
#endif
#endif

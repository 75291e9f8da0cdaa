/* SPDX-License-Identifier: MIT */
/* Every typed command against a real redis-server, in RESP2 and RESP3. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <respio.h>

#include "server.h"

static test_server srv;
static bool have_srv;

static void setup(void)
{
	if (!test_have_redis_server())
		return;
	have_srv = test_server_start(&srv, NULL) == 0;
}

static void teardown(void)
{
	if (have_srv)
		test_server_stop(&srv);
}

TestSuite(commands, .init = setup, .fini = teardown);

static respio_conn *open_conn(int protocol)
{
	respio_config cfg;
	respio_conn *c;
	int rc;

	if (!test_have_redis_server())
		cr_skip_test("redis-server is not installed");
	cr_assert(have_srv, "redis-server did not start");
	respio_config_init(&cfg);
	cfg.port = srv.port;
	cfg.protocol = protocol;
	cr_assert_eq(respio_conn_create(&cfg, &c), 0);
	rc = respio_conn_connect(c);
	cr_assert_eq(rc, 0, "connect: %s (%s)", respio_err_name(rc), respio_conn_errdetail(c));
	cr_assert_eq(respio_conn_protocol(c), protocol);
	return c;
}

/* Assert success and say what failed otherwise. */
#define OK(c, expr)                                                                                \
	do {                                                                                       \
		int rc_ = (expr);                                                                  \
		cr_assert_eq(rc_, 0, "%s: %s (%s)", #expr, respio_err_name(rc_),                   \
			     respio_conn_errdetail(c));                                            \
	} while (0)

static void expect_str(const respio_str *s, const char *want)
{
	cr_assert_not_null(s->ptr, "expected '%s', got nil", want);
	cr_assert_eq(s->len, strlen(want));
	cr_assert_eq(memcmp(s->ptr, want, s->len), 0, "got '%s', expected '%s'", s->ptr, want);
	cr_assert_eq(s->ptr[s->len], '\0', "strings are NUL-terminated");
}

/* Keys differ per protocol so the two passes cannot see each other's data. */
static const char *k(int proto, const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "p%d:%s", proto, name);
	return buf;
}

Test(commands, get_set_and_ttl)
{
	for (int proto = 2; proto <= 3; proto++) {
		respio_conn *c = open_conn(proto);
		respio_target *t = respio_conn_target(c);
		respio_str v = {(char *)1, 1};
		char key[64], missing[64];
		long long ttl = 0;
		respio_reply *r = NULL;
		const char *pttl[] = {"PTTL", key};

		k(proto, "str", key, sizeof(key));
		k(proto, "missing", missing, sizeof(missing));
		OK(c, respio_get(t, missing, strlen(missing), &v));
		cr_assert_null(v.ptr, "missing key reads nil");
		cr_assert_eq(v.len, 0);

		OK(c, respio_set(t, key, strlen(key), "hello", 5, 0));
		OK(c, respio_get(t, key, strlen(key), &v));
		expect_str(&v, "hello");
		respio_str_free(&v);
		cr_assert_null(v.ptr);
		respio_str_free(&v); /* twice is fine */
		OK(c, respio_ttl(t, key, strlen(key), &ttl));
		cr_assert_eq(ttl, -1);

		/* SET with a TTL uses PX: the server reports milliseconds left. */
		OK(c, respio_set(t, key, strlen(key), "", 0, 60500));
		OK(c, respio_get(t, key, strlen(key), &v));
		expect_str(&v, "");
		respio_str_free(&v);
		OK(c, respio_ttl(t, key, strlen(key), &ttl));
		cr_assert(ttl >= 59 && ttl <= 61, "ttl %lld", ttl);
		OK(c, respio_command(t, 2, pttl, NULL, &r));
		cr_assert_eq(respio_reply_type(r), RESPIO_REPLY_INTEGER);
		cr_assert(respio_reply_integer(r) > 59000 && respio_reply_integer(r) <= 60500,
			  "pttl %lld", respio_reply_integer(r));
		respio_reply_free(r);

		respio_conn_destroy(c);
	}
}

Test(commands, del_and_exists_count_keys)
{
	for (int proto = 2; proto <= 3; proto++) {
		respio_conn *c = open_conn(proto);
		respio_target *t = respio_conn_target(c);
		char a[32], b[32], z[32];
		const char *keys[] = {k(proto, "a", a, sizeof(a)), k(proto, "b", b, sizeof(b)),
				      k(proto, "z", z, sizeof(z)), a};
		long long n = -1;
		const char *many[20];

		OK(c, respio_set(t, a, strlen(a), "1", 1, 0));
		OK(c, respio_set(t, b, strlen(b), "2", 1, 0));
		OK(c, respio_exists(t, 4, keys, NULL, &n));
		cr_assert_eq(n, 3, "a counts twice, z not at all");
		OK(c, respio_exists(t, 3, keys, NULL, NULL));

		/* More keys than the inline argv holds. */
		for (int i = 0; i < 20; i++)
			many[i] = keys[i % 3];
		OK(c, respio_exists(t, 20, many, NULL, &n));
		cr_assert_eq(n, 14);

		OK(c, respio_del(t, 3, keys, NULL, &n));
		cr_assert_eq(n, 2);
		OK(c, respio_del(t, 3, keys, NULL, &n));
		cr_assert_eq(n, 0);
		OK(c, respio_exists(t, 3, keys, NULL, &n));
		cr_assert_eq(n, 0);
		respio_conn_destroy(c);
	}
}

Test(commands, expire_and_ttl)
{
	for (int proto = 2; proto <= 3; proto++) {
		respio_conn *c = open_conn(proto);
		respio_target *t = respio_conn_target(c);
		char key[32], gone[32];
		long long ttl = 0;
		bool set = true;

		k(proto, "exp", key, sizeof(key));
		k(proto, "gone", gone, sizeof(gone));
		OK(c, respio_ttl(t, gone, strlen(gone), &ttl));
		cr_assert_eq(ttl, -2);
		OK(c, respio_expire(t, gone, strlen(gone), 100, &set));
		cr_assert_not(set, "no key, no timeout");

		OK(c, respio_set(t, key, strlen(key), "v", 1, 0));
		OK(c, respio_ttl(t, key, strlen(key), &ttl));
		cr_assert_eq(ttl, -1);
		OK(c, respio_expire(t, key, strlen(key), 100, &set));
		cr_assert(set);
		OK(c, respio_ttl(t, key, strlen(key), &ttl));
		cr_assert(ttl > 0 && ttl <= 100, "ttl %lld", ttl);
		respio_conn_destroy(c);
	}
}

Test(commands, list_push_pop_order)
{
	for (int proto = 2; proto <= 3; proto++) {
		respio_conn *c = open_conn(proto);
		respio_target *t = respio_conn_target(c);
		char key[32];
		const char *abc[] = {"a", "b", "c"};
		const char *xy[] = {"x", "y\0z"};
		size_t xylen[] = {1, 3};
		long long len = 0;
		respio_str v = {0};

		k(proto, "list", key, sizeof(key));
		OK(c, respio_rpush(t, key, strlen(key), 3, abc, NULL, &len));
		cr_assert_eq(len, 3);
		OK(c, respio_lpush(t, key, strlen(key), 2, xy, xylen, &len));
		cr_assert_eq(len, 5); /* y\0z x a b c */
		OK(c, respio_llen(t, key, strlen(key), &len));
		cr_assert_eq(len, 5);

		OK(c, respio_lpop(t, key, strlen(key), &v));
		cr_assert_eq(v.len, 3);
		cr_assert_eq(memcmp(v.ptr, "y\0z", 3), 0);
		respio_str_free(&v);
		OK(c, respio_lpop(t, key, strlen(key), &v));
		expect_str(&v, "x");
		respio_str_free(&v);
		OK(c, respio_rpop(t, key, strlen(key), &v));
		expect_str(&v, "c");
		respio_str_free(&v);
		OK(c, respio_rpop(t, key, strlen(key), &v));
		expect_str(&v, "b");
		respio_str_free(&v);
		OK(c, respio_lpop(t, key, strlen(key), &v));
		expect_str(&v, "a");
		respio_str_free(&v);
		OK(c, respio_lpop(t, key, strlen(key), &v));
		cr_assert_null(v.ptr, "empty list pops nil");
		OK(c, respio_rpop(t, key, strlen(key), &v));
		cr_assert_null(v.ptr);
		OK(c, respio_llen(t, key, strlen(key), &len));
		cr_assert_eq(len, 0);
		respio_conn_destroy(c);
	}
}

static bool strv_has(const respio_strv *v, const char *s, size_t len)
{
	for (size_t i = 0; i < v->n; i++)
		if (v->v[i].len == len && memcmp(v->v[i].ptr, s, len) == 0)
			return true;
	return false;
}

Test(commands, sets)
{
	for (int proto = 2; proto <= 3; proto++) {
		respio_conn *c = open_conn(proto);
		respio_target *t = respio_conn_target(c);
		char key[32];
		const char *members[] = {"red", "green", "blue", "red", "n\0l"};
		size_t lens[] = {3, 5, 4, 3, 3};
		const char *rm[] = {"green", "nope"};
		long long n = -1;
		bool is = false;
		respio_strv v = {0};

		k(proto, "set", key, sizeof(key));
		OK(c, respio_smembers(t, key, strlen(key), &v));
		cr_assert_eq(v.n, 0);
		respio_strv_free(&v);

		OK(c, respio_sadd(t, key, strlen(key), 5, members, lens, &n));
		cr_assert_eq(n, 4);
		OK(c, respio_sismember(t, key, strlen(key), "blue", 4, &is));
		cr_assert(is);
		OK(c, respio_sismember(t, key, strlen(key), "pink", 4, &is));
		cr_assert_not(is);
		OK(c, respio_srem(t, key, strlen(key), 2, rm, NULL, &n));
		cr_assert_eq(n, 1);

		OK(c, respio_smembers(t, key, strlen(key), &v));
		cr_assert_eq(v.n, 3);
		cr_assert(strv_has(&v, "red", 3));
		cr_assert(strv_has(&v, "blue", 4));
		cr_assert(strv_has(&v, "n\0l", 3));
		cr_assert_not(strv_has(&v, "green", 5));
		for (size_t i = 0; i < v.n; i++)
			cr_assert_eq(v.v[i].ptr[v.v[i].len], '\0');
		respio_strv_free(&v);
		cr_assert_null(v.v);
		cr_assert_eq(v.n, 0);
		respio_conn_destroy(c);
	}
}

Test(commands, hashes_flat_pairs_in_both_protocols)
{
	for (int proto = 2; proto <= 3; proto++) {
		respio_conn *c = open_conn(proto);
		respio_target *t = respio_conn_target(c);
		char key[32];
		const char *del[] = {"f2", "nope"};
		long long n = -1;
		respio_str v = {0};
		respio_strv pairs = {0};

		k(proto, "hash", key, sizeof(key));
		OK(c, respio_hgetall(t, key, strlen(key), &pairs));
		cr_assert_eq(pairs.n, 0);

		OK(c, respio_hset(t, key, strlen(key), "f1", 2, "v1", 2, &n));
		cr_assert_eq(n, 1);
		OK(c, respio_hset(t, key, strlen(key), "f1", 2, "v1b", 3, &n));
		cr_assert_eq(n, 0, "update, not add");
		OK(c, respio_hset(t, key, strlen(key), "f2", 2, "v2", 2, NULL));
		OK(c, respio_hget(t, key, strlen(key), "f1", 2, &v));
		expect_str(&v, "v1b");
		respio_str_free(&v);
		OK(c, respio_hget(t, key, strlen(key), "nope", 4, &v));
		cr_assert_null(v.ptr);

		OK(c, respio_hgetall(t, key, strlen(key), &pairs));
		cr_assert_eq(pairs.n, 4);
		for (size_t i = 0; i < pairs.n; i += 2) {
			if (strcmp(pairs.v[i].ptr, "f1") == 0)
				expect_str(&pairs.v[i + 1], "v1b");
			else
				cr_assert_str_eq(pairs.v[i].ptr, "f2");
		}
		respio_strv_free(&pairs);

		OK(c, respio_hdel(t, key, strlen(key), 2, del, NULL, &n));
		cr_assert_eq(n, 1);
		OK(c, respio_hgetall(t, key, strlen(key), &pairs));
		cr_assert_eq(pairs.n, 2);
		expect_str(&pairs.v[0], "f1");
		expect_str(&pairs.v[1], "v1b");
		respio_strv_free(&pairs);
		respio_conn_destroy(c);
	}
}

Test(commands, publish_counts_receivers)
{
	for (int proto = 2; proto <= 3; proto++) {
		respio_conn *c = open_conn(proto), *sub = open_conn(proto);
		respio_target *t = respio_conn_target(c);
		const char *subscribe[] = {"SUBSCRIBE", "chan"};
		respio_reply *r = NULL;
		long long n = -1;

		OK(c, respio_publish(t, "chan", 4, "m", 1, &n));
		cr_assert_eq(n, 0);
		OK(sub, respio_conn_append(sub, 2, subscribe, NULL));
		OK(sub, respio_conn_read_reply(sub, 2000, &r)); /* the confirmation */
		respio_reply_free(r);
		OK(c, respio_publish(t, "chan", 4, "m", 1, &n));
		cr_assert_eq(n, 1);
		respio_conn_destroy(sub);
		respio_conn_destroy(c);
	}
}

Test(commands, wrongtype_is_server_error)
{
	for (int proto = 2; proto <= 3; proto++) {
		respio_conn *c = open_conn(proto);
		respio_target *t = respio_conn_target(c);
		char key[32];
		const char *vals[] = {"x"};
		long long n = -1;
		respio_str v = {0};
		int rc;

		k(proto, "wt", key, sizeof(key));
		OK(c, respio_rpush(t, key, strlen(key), 1, vals, NULL, &n));
		rc = respio_get(t, key, strlen(key), &v);
		cr_assert_eq(rc, RESPIO_E_SERVER, "%s", respio_err_name(rc));
		cr_assert_null(v.ptr);
		cr_assert(strstr(respio_conn_errdetail(c), "WRONGTYPE"), "%s",
			  respio_conn_errdetail(c));
		rc = respio_hset(t, key, strlen(key), "f", 1, "v", 1, &n);
		cr_assert_eq(rc, RESPIO_E_SERVER);
		cr_assert_eq(n, 0, "outputs are zero on failure");
		cr_assert(respio_conn_is_connected(c));
		OK(c, respio_llen(t, key, strlen(key), &n));
		cr_assert_eq(n, 1);
		respio_conn_destroy(c);
	}
}

Test(commands, invalid_arguments_never_reach_the_server)
{
	respio_conn *c = open_conn(2);
	respio_target *t = respio_conn_target(c);
	const char *keys[] = {"a", NULL};
	size_t lens[] = {1, 3};
	respio_str v = {0};
	respio_strv sv = {0};
	long long n = 5;
	const char *info[] = {"INFO", "commandstats"};
	respio_reply *r = NULL;
	const char *stats;

	cr_assert_eq(respio_get(t, NULL, 3, &v), RESPIO_E_INVAL);
	cr_assert_eq(respio_get(t, "k", 1, NULL), RESPIO_E_INVAL);
	cr_assert_eq(respio_set(t, "k", 1, "v", 1, -1), RESPIO_E_INVAL);
	cr_assert_eq(respio_set(t, "k", 1, NULL, 2, 0), RESPIO_E_INVAL);
	cr_assert_eq(respio_del(t, 0, keys, NULL, &n), RESPIO_E_INVAL);
	cr_assert_eq(n, 0);
	cr_assert_eq(respio_exists(t, 2, keys, lens, &n), RESPIO_E_INVAL);
	cr_assert_eq(respio_exists(t, 2, keys, NULL, &n), RESPIO_E_INVAL);
	cr_assert_eq(respio_del(t, 1, NULL, NULL, &n), RESPIO_E_INVAL);
	cr_assert_eq(respio_lpush(t, "l", 1, 0, keys, NULL, &n), RESPIO_E_INVAL);
	cr_assert_eq(respio_rpush(t, NULL, 1, 1, keys, NULL, &n), RESPIO_E_INVAL);
	cr_assert_eq(respio_sadd(t, "s", 1, -1, keys, NULL, &n), RESPIO_E_INVAL);
	cr_assert_eq(respio_hdel(t, "h", 1, 0, keys, NULL, &n), RESPIO_E_INVAL);
	cr_assert_eq(respio_hset(t, "h", 1, NULL, 1, "v", 1, &n), RESPIO_E_INVAL);
	cr_assert_eq(respio_hset(t, "h", 1, "f", 1, NULL, 1, &n), RESPIO_E_INVAL);
	cr_assert_eq(respio_smembers(t, NULL, 1, &sv), RESPIO_E_INVAL);
	cr_assert_eq(respio_publish(t, NULL, 2, "m", 1, &n), RESPIO_E_INVAL);
	cr_assert(strstr(respio_conn_errdetail(c), "PUBLISH"), "%s", respio_conn_errdetail(c));
	cr_assert_eq(respio_command(t, 0, info, NULL, &r), RESPIO_E_INVAL);
	cr_assert_null(r);
	cr_assert_eq(respio_get(NULL, "k", 1, &v), RESPIO_E_INVAL);

	/* NULL with length 0 is the empty string, a valid key. */
	OK(c, respio_set(t, NULL, 0, NULL, 0, 0));
	OK(c, respio_get(t, NULL, 0, &v));
	expect_str(&v, "");
	respio_str_free(&v);

	/* The server saw exactly one SET and one GET. */
	OK(c, respio_command(t, 2, info, NULL, &r));
	stats = respio_reply_str(r, NULL);
	cr_assert(strstr(stats, "cmdstat_set:calls=1,"), "%s", stats);
	cr_assert(strstr(stats, "cmdstat_get:calls=1,"), "%s", stats);
	cr_assert_null(strstr(stats, "cmdstat_del:"));
	cr_assert_null(strstr(stats, "cmdstat_lpush:"));
	respio_reply_free(r);
	respio_conn_destroy(c);
}

Test(commands, generic_command_and_binary_values)
{
	for (int proto = 2; proto <= 3; proto++) {
		respio_conn *c = open_conn(proto);
		respio_target *t = respio_conn_target(c);
		static const char key[] = "bin\0key";
		static const char val[] = "\0\r\n\xff";
		respio_str v = {0};
		respio_reply *r = NULL;
		const char *argv[] = {"STRLEN", key};
		size_t argvlen[] = {6, sizeof(key) - 1};

		OK(c, respio_set(t, key, sizeof(key) - 1, val, sizeof(val) - 1, 0));
		OK(c, respio_get(t, key, sizeof(key) - 1, &v));
		cr_assert_eq(v.len, sizeof(val) - 1);
		cr_assert_eq(memcmp(v.ptr, val, v.len), 0);
		respio_str_free(&v);
		OK(c, respio_command(t, 2, argv, argvlen, &r));
		cr_assert_eq(respio_reply_integer(r), (long long)sizeof(val) - 1);
		respio_reply_free(r);
		respio_conn_destroy(c);
	}
}

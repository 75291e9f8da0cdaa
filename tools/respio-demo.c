/* SPDX-License-Identifier: MIT */
/* A short tour of the client against a live server: typed commands, the
 * generic command, RESP3 and a pipeline, with what each returned. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <respio.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int check(respio_conn *c, const char *what, int rc)
{
	if (rc < 0 && rc != RESPIO_E_SERVER)
		fprintf(stderr, "demo: %s: %s (%s)\n", what, respio_strerror(rc),
			respio_conn_errdetail(c));
	return rc;
}

static void typed_commands(respio_conn *c)
{
	respio_target *t = respio_conn_target(c);
	const char *key = "respio:demo:greeting";
	const char *items[] = {"one", "two", "three"};
	respio_str val = {0};
	respio_strv all = {0};
	long long n = 0;

	check(c, "SET", respio_set(t, key, strlen(key), "hello", 5, 60000));
	check(c, "GET", respio_get(t, key, strlen(key), &val));
	printf("  SET %s hello PX 60000; GET -> \"%s\"\n", key, val.ptr ? val.ptr : "(nil)");
	respio_str_free(&val);
	check(c, "TTL", respio_ttl(t, key, strlen(key), &n));
	printf("  TTL -> %lld s\n", n);

	respio_del(t, 1, (const char *const[]){"respio:demo:list"}, NULL, NULL);
	check(c, "RPUSH", respio_rpush(t, "respio:demo:list", 16, 3, items, NULL, &n));
	printf("  RPUSH respio:demo:list one two three -> length %lld\n", n);
	check(c, "LPOP", respio_lpop(t, "respio:demo:list", 16, &val));
	printf("  LPOP -> \"%s\"\n", val.ptr ? val.ptr : "(nil)");
	respio_str_free(&val);

	respio_hset(t, "respio:demo:hash", 16, "lang", 4, "C", 1, NULL);
	respio_hset(t, "respio:demo:hash", 16, "io", 2, "io_uring", 8, NULL);
	if (check(c, "HGETALL", respio_hgetall(t, "respio:demo:hash", 16, &all)) == 0) {
		printf("  HGETALL respio:demo:hash ->");
		for (size_t i = 0; i + 1 < all.n; i += 2)
			printf(" %s=%s", all.v[i].ptr, all.v[i + 1].ptr);
		printf("\n");
	}
	respio_strv_free(&all);

	if (respio_lpop(t, "respio:demo:hash", 16, &val) == RESPIO_E_SERVER)
		printf("  LPOP on a hash -> server error: %s\n", respio_conn_errdetail(c));
	respio_del(t, 3, (const char *const[]){key, "respio:demo:list", "respio:demo:hash"}, NULL,
		   &n);
	printf("  DEL of the three demo keys -> %lld deleted\n", n);
}

static void pipeline(respio_conn *c, int count)
{
	const char *argv[] = {"INCR", "respio:demo:counter"};
	respio_reply *r;
	double t0;
	int ok = 0;

	respio_del(respio_conn_target(c), 1, &argv[1], NULL, NULL);
	t0 = now_s();
	for (int i = 0; i < count; i++) {
		if (respio_conn_command(c, 2, argv, NULL, &r) == 0)
			ok++;
		respio_reply_free(r);
	}
	printf("  %d INCRs one at a time: %.0f ops/s (%d ok)\n", count, count / (now_s() - t0), ok);

	t0 = now_s();
	ok = 0;
	for (int i = 0; i < count; i++)
		respio_conn_append(c, 2, argv, NULL);
	check(c, "flush", respio_conn_flush(c));
	for (int i = 0; i < count; i++) {
		if (check(c, "read", respio_conn_read_reply(c, -1, &r)) == 0 &&
		    respio_reply_integer(r) == count + i + 1)
			ok++;
		respio_reply_free(r);
	}
	printf("  %d INCRs pipelined:      %.0f ops/s (%d replies checked)\n", count,
	       count / (now_s() - t0), ok);
	respio_del(respio_conn_target(c), 1, &argv[1], NULL, NULL);
}

int main(int argc, char **argv)
{
	respio_config cfg;
	respio_conn *c;
	respio_reply *r;
	int opt, rc;

	respio_config_init(&cfg);
	while ((opt = getopt(argc, argv, "h:p:a:n:u:")) != -1) {
		switch (opt) {
		case 'h': cfg.host = optarg; break;
		case 'p': cfg.port = atoi(optarg); break;
		case 'a': cfg.password = optarg; break;
		case 'u': cfg.username = optarg; break;
		case 'n': cfg.db = atoi(optarg); break;
		default:
			fprintf(
			    stderr,
			    "usage: respio-demo [-h host] [-p port] [-a pass] [-u user] [-n db]\n");
			return 2;
		}
	}

	for (int proto = 2; proto <= 3; proto++) {
		cfg.protocol = proto;
		if ((rc = respio_conn_create(&cfg, &c)) < 0 || (rc = respio_conn_connect(c)) < 0) {
			fprintf(stderr, "demo: cannot connect to %s:%d: %s (%s)\n", cfg.host,
				cfg.port, respio_strerror(rc), c ? respio_conn_errdetail(c) : "");
			respio_conn_destroy(c);
			return 1;
		}
		printf("Connected to %s:%d with RESP%d\n", cfg.host, cfg.port,
		       respio_conn_protocol(c));
		if (proto == 2) {
			typed_commands(c);
			pipeline(c, 20000);
		} else {
			const char *hello[] = {"HELLO", "3"};

			if (check(c, "HELLO", respio_conn_command(c, 2, hello, NULL, &r)) == 0)
				printf("  HELLO 3 -> a map of %zu fields (server %s)\n",
				       respio_reply_len(r),
				       respio_reply_str(respio_reply_element(r, 3), NULL));
			respio_reply_free(r);
		}
		respio_conn_destroy(c);
	}
	return 0;
}

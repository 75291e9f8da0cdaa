/* SPDX-License-Identifier: MIT */
/* The RESP encoder: exact bytes, binary arguments, and the NOBUFS/INVAL contract. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <respio.h>

Test(encode, simple_command)
{
	const char *argv[] = {"SET", "key", "value"};
	static const char want[] = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
	char buf[128];
	size_t len = 0;

	cr_assert_eq(respio_encode_argv(buf, sizeof(buf), 3, argv, NULL, &len), 0);
	cr_assert_eq(len, sizeof(want) - 1);
	cr_assert_eq(memcmp(buf, want, len), 0);
}

Test(encode, single_arg_and_empty_arg)
{
	const char *argv[] = {"PING", ""};
	static const char want[] = "*2\r\n$4\r\nPING\r\n$0\r\n\r\n";
	char buf[64];
	size_t len = 0;

	cr_assert_eq(respio_encode_argv(buf, sizeof(buf), 2, argv, NULL, &len), 0);
	cr_assert_eq(len, sizeof(want) - 1);
	cr_assert_eq(memcmp(buf, want, len), 0);
}

Test(encode, binary_args_with_lengths)
{
	const char *argv[] = {"SET", "k\0y", "a\r\nb"};
	const size_t argvlen[] = {3, 3, 4};
	static const char want[] = "*3\r\n$3\r\nSET\r\n$3\r\nk\0y\r\n$4\r\na\r\nb\r\n";
	char buf[64];
	size_t len = 0;

	cr_assert_eq(respio_encode_argv(buf, sizeof(buf), 3, argv, argvlen, &len), 0);
	cr_assert_eq(len, sizeof(want) - 1);
	cr_assert_eq(memcmp(buf, want, len), 0);
}

/* Multi-digit counts and lengths (10, 100, 12345) are formatted right. */
Test(encode, multi_digit_lengths)
{
	static char big[12345];
	const char *argv[11];
	size_t argvlen[11];
	char *buf = malloc(20000), *want = malloc(20000);
	size_t len = 0, wl;

	memset(big, 'x', sizeof(big));
	for (int i = 0; i < 11; i++) {
		argv[i] = big;
		argvlen[i] = i == 10 ? sizeof(big) : (size_t)(i * 10);
	}
	wl = (size_t)sprintf(want, "*11\r\n");
	for (int i = 0; i < 11; i++) {
		wl += (size_t)sprintf(want + wl, "$%zu\r\n", argvlen[i]);
		memcpy(want + wl, big, argvlen[i]);
		wl += argvlen[i];
		memcpy(want + wl, "\r\n", 2);
		wl += 2;
	}
	cr_assert_eq(respio_encode_argv(buf, 20000, 11, argv, argvlen, &len), 0);
	cr_assert_eq(len, wl);
	cr_assert_eq(memcmp(buf, want, wl), 0);
	free(buf);
	free(want);
}

/* Too small: the exact size comes back and not one byte is written. */
Test(encode, nobufs_reports_exact_size_and_writes_nothing)
{
	const char *argv[] = {"GET", "somekey"};
	static const char want[] = "*2\r\n$3\r\nGET\r\n$7\r\nsomekey\r\n";
	size_t need = sizeof(want) - 1, len = 0;
	char buf[64];

	for (size_t cap = 0; cap < need; cap++) {
		memset(buf, 0x5A, sizeof(buf));
		len = 0;
		cr_assert_eq(respio_encode_argv(buf, cap, 2, argv, NULL, &len), RESPIO_E_NOBUFS);
		cr_assert_eq(len, need);
		for (size_t i = 0; i < sizeof(buf); i++)
			cr_assert_eq((unsigned char)buf[i], 0x5A, "canary at %zu, cap %zu", i, cap);
	}
	cr_assert_eq(respio_encode_argv(NULL, 0, 2, argv, NULL, &len), RESPIO_E_NOBUFS);
	cr_assert_eq(len, need);
	memset(buf, 0x5A, sizeof(buf));
	cr_assert_eq(respio_encode_argv(buf, need, 2, argv, NULL, &len), 0);
	cr_assert_eq(len, need);
	cr_assert_eq(memcmp(buf, want, need), 0);
	cr_assert_eq((unsigned char)buf[need], 0x5A, "nothing written past the end");
}

Test(encode, invalid_arguments)
{
	const char *argv[] = {"PING"};
	const char *nullarg[] = {NULL};
	const size_t lens[] = {1};
	char buf[64];
	size_t len = 77;

	cr_assert_eq(respio_encode_argv(buf, sizeof(buf), 0, argv, NULL, &len), RESPIO_E_INVAL);
	cr_assert_eq(respio_encode_argv(buf, sizeof(buf), -1, argv, NULL, &len), RESPIO_E_INVAL);
	cr_assert_eq(respio_encode_argv(buf, sizeof(buf), 1, NULL, NULL, &len), RESPIO_E_INVAL);
	cr_assert_eq(respio_encode_argv(buf, sizeof(buf), 1, nullarg, NULL, &len), RESPIO_E_INVAL);
	cr_assert_eq(respio_encode_argv(buf, sizeof(buf), 1, nullarg, lens, &len), RESPIO_E_INVAL);
	cr_assert_eq(respio_encode_argv(buf, sizeof(buf), 1, argv, NULL, NULL), RESPIO_E_INVAL);
}

/* What the encoder writes, the parser reads back as the same arguments. */
Test(encode, round_trips_through_the_parser)
{
	const char *argv[] = {"HSET", "h", "f\0\r\n", ""};
	const size_t argvlen[] = {4, 1, 4, 0};
	char buf[128];
	size_t len, consumed, sl;
	respio_parser *p;
	respio_reply *r;

	cr_assert_eq(respio_encode_argv(buf, sizeof(buf), 4, argv, argvlen, &len), 0);
	cr_assert_eq(respio_parser_create(NULL, &p), 0);
	cr_assert_eq(respio_parser_feed(p, buf, len, &consumed), 1);
	cr_assert_eq(consumed, len);
	cr_assert_eq(respio_parser_take(p, &r), 0);
	cr_assert_eq(respio_reply_len(r), 4);
	for (size_t i = 0; i < 4; i++) {
		const char *s = respio_reply_str(respio_reply_element(r, i), &sl);

		cr_assert_eq(sl, argvlen[i]);
		cr_assert_eq(memcmp(s, argv[i], sl), 0);
	}
	respio_reply_free(r);
	respio_parser_destroy(p);
}

/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the RESP parser: split feeds, small limits, take/build, walk, free. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <respio.h>

/*
 * Input layout: byte 0 picks the piece-size policy and take vs build, byte
 * 1 seeds the piece sizes, the rest is the stream. Each piece is fed from
 * its own exact-size heap copy that is freed right after feed() returns, so
 * ASan reports any over-read and any pointer the parser keeps into a
 * caller's buffer.
 */

static volatile unsigned long sink;

static void check_at(int cond, int line)
{
	if (!cond) {
		fprintf(stderr, "fuzz_resp_parse.c:%d: check failed\n", line);
		abort();
	}
}

/* Report the line of a failed invariant, then crash for libFuzzer. */
#define check(cond) check_at((cond), __LINE__)

static int is_aggregate(enum respio_reply_type t)
{
	return t == RESPIO_REPLY_ARRAY || t == RESPIO_REPLY_MAP || t == RESPIO_REPLY_SET ||
	       t == RESPIO_REPLY_PUSH;
}

/* Recursion is fine here: depth is bounded by the small max_depth below. */
static void walk(const respio_reply *r, unsigned depth)
{
	enum respio_reply_type t = respio_reply_type(r);
	const respio_reply *a = respio_reply_attributes(r);
	const char *s, *fmt;
	size_t len, n, i;

	check(r && depth < 64);
	check(t >= RESPIO_REPLY_STRING && t <= RESPIO_REPLY_PUSH);
	if (a) {
		check(respio_reply_type(a) == RESPIO_REPLY_MAP);
		walk(a, depth + 1);
	}
	s = respio_reply_str(r, &len);
	if (s) {
		unsigned long sum = 0;

		for (i = 0; i < len; i++)
			sum += (unsigned char)s[i];
		check(s[len] == '\0');
		sink += sum;
	} else {
		check(len == 0);
	}
	fmt = respio_reply_verbatim_format(r);
	check(!fmt == (t != RESPIO_REPLY_VERBATIM));
	/* The format is any three bytes (a NUL among them just shortens the
	 * C string), always terminated. */
	if (fmt)
		check(fmt[3] == '\0');
	sink += (unsigned long)respio_reply_integer(r);
	sink += (unsigned long)(respio_reply_double(r) != 0);
	n = respio_reply_len(r);
	if (!is_aggregate(t)) {
		check(n == 0 && !respio_reply_element(r, 0));
		return;
	}
	if (t == RESPIO_REPLY_MAP)
		n *= 2;
	for (i = 0; i < n; i++)
		walk(respio_reply_element(r, i), depth + 1);
	check(!respio_reply_element(r, n));
}

static void collect(respio_parser *p, int build)
{
	if (build) {
		size_t size = respio_parser_reply_size(p);
		void *mem = malloc(size); /* malloc memory is 16-aligned here */
		const respio_reply *r;

		check(size > 0 && mem);
		r = respio_parser_reply_build(p, mem);
		check(r == mem);
		walk(r, 0);
		respio_reply_free((respio_reply *)r); /* no-op for built replies */
		free(mem);
	} else {
		respio_reply *r;

		check(respio_parser_take(p, &r) == 0);
		walk(r, 0);
		respio_reply_free(r);
	}
	check(respio_parser_reply_size(p) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	respio_limits lim = {
	    .max_bulk_len = 300,
	    .max_elements = 40,
	    .max_depth = 6,
	    .max_reply_bytes = 1 << 15,
	};
	uint8_t mode, rng;
	size_t pos = 0, nreplies = 0;
	respio_parser *p;

	if (size < 2)
		return 0;
	mode = data[0];
	rng = data[1];
	data += 2;
	size -= 2;
	check(respio_parser_create(&lim, &p) == 0);

	while (pos < size) {
		size_t n, consumed = (size_t)-1;
		char *piece;
		int rc;

		/* Policy: one byte at a time, small random pieces, or the rest. */
		switch (mode & 3) {
		case 0: n = 1; break;
		case 1:
		case 2:
			rng = (uint8_t)(rng * 37 + 11);
			n = 1 + (size_t)(rng % ((mode & 3) == 1 ? 8 : 64));
			break;
		default: n = size - pos; break;
		}
		if (n > size - pos)
			n = size - pos;
		piece = malloc(n);
		check(piece != NULL);
		memcpy(piece, data + pos, n);
		rc = respio_parser_feed(p, piece, n, &consumed);
		free(piece);

		if (rc == 1) {
			check(consumed >= 1 && consumed <= n);
			collect(p, (int)((mode >> 2) + nreplies) & 1);
			nreplies++;
			pos += consumed;
		} else if (rc == 0) {
			check(consumed == n);
			pos += n;
		} else {
			check(rc == RESPIO_E_PROTOCOL || rc == RESPIO_E_LIMIT);
			check(respio_parser_error_reason(p) != NULL);
			/* Sticky until reset, then usable again. */
			check(respio_parser_feed(p, "+OK\r\n", 5, &consumed) == rc);
			respio_parser_reset(p);
			pos += n;
		}
	}
	respio_parser_destroy(p);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* The RESP encoder: argv to an array of bulk strings, sized exactly, no allocation. */
#include <string.h>

#include "internal.h"

/* Decimal digits of v (v < 10^20 always holds for a 64-bit size_t). */
static size_t dec_len(size_t v)
{
	size_t n = 1;

	while (v >= 10000) {
		v /= 10000;
		n += 4;
	}
	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

/* Write "<prefix><v>\r\n" at dst; returns the end. snprintf per argument
 * would dominate the cost of encoding a small command, and most lengths
 * and counts are one digit, so that case is straight-line. */
static char *put_header(char *dst, char prefix, size_t v)
{
	char tmp[24], *t = tmp + sizeof(tmp);
	size_t n;

	dst[0] = prefix;
	if (v < 10) {
		dst[1] = (char)('0' + v);
		dst[2] = '\r';
		dst[3] = '\n';
		return dst + 4;
	}
	do {
		*--t = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	n = (size_t)(tmp + sizeof(tmp) - t);
	memcpy(dst + 1, t, n);
	dst += 1 + n;
	dst[0] = '\r';
	dst[1] = '\n';
	return dst + 2;
}

/* Without argvlen each argument is measured in the sizing pass; the first
 * few lengths are kept so the writing pass does not strlen() them again. */
#define LEN_CACHE 8

static size_t arg_len(const char *const *argv, const size_t *argvlen, const size_t *cache, int i)
{
	if (!argv[i])
		return 0;
	if (argvlen)
		return argvlen[i];
	return i < LEN_CACHE ? cache[i] : strlen(argv[i]);
}

int respio_encode_argv(char *buf, size_t cap, int argc, const char *const *argv,
		       const size_t *argvlen, size_t *len)
{
	size_t need, alen, cache[LEN_CACHE];
	char *dst;
	int i;

	if (argc < 1 || !argv || !len)
		return RESPIO_E_INVAL;

	/* First pass: the exact size, so a short buffer is left untouched. */
	need = 1 + dec_len((size_t)argc) + 2;
	for (i = 0; i < argc; i++) {
		if (!argv[i] && (!argvlen || argvlen[i]))
			return RESPIO_E_INVAL;
		alen = !argv[i] ? 0 : argvlen ? argvlen[i] : strlen(argv[i]);
		if (i < LEN_CACHE)
			cache[i] = alen;
		/* 1 + digits + 2 + body + 2; guard the sum against wrapping. */
		if (alen > SIZE_MAX - need - 25)
			return RESPIO_E_INVAL;
		need += 1 + dec_len(alen) + 2 + alen + 2;
	}
	*len = need;
	if (!buf || cap < need)
		return RESPIO_E_NOBUFS;

	dst = put_header(buf, '*', (size_t)argc);
	for (i = 0; i < argc; i++) {
		alen = arg_len(argv, argvlen, cache, i);
		dst = put_header(dst, '$', alen);
		if (alen)
			memcpy(dst, argv[i], alen);
		dst += alen;
		dst[0] = '\r';
		dst[1] = '\n';
		dst += 2;
	}
	return 0;
}

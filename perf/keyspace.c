/* SPDX-License-Identifier: MIT */
/* The harness's key space: key i is "respio:perf:<i>", its value is the key
 * repeated to the value size, so a reply can be checked from the key alone.
 * Also redis-benchmark's, so that it finds every key it reads. */
#include "perf.h"

#include <stdio.h>
#include <string.h>

static const char prefix[] = "respio:perf:";

size_t perf_key(uint32_t i, char *buf)
{
	char digits[12];
	size_t n = 0, len = sizeof(prefix) - 1;

	do {
		digits[n++] = (char)('0' + i % 10);
		i /= 10;
	} while (i);
	memcpy(buf, prefix, len);
	while (n)
		buf[len++] = digits[--n];
	buf[len] = '\0';
	return len;
}

void perf_value(const char *key, size_t keylen, size_t dsize, char *out)
{
	for (size_t off = 0; off < dsize; off += keylen)
		memcpy(out + off, key, dsize - off < keylen ? dsize - off : keylen);
}

bool perf_value_ok(const char *key, size_t keylen, size_t dsize, const char *got, size_t len)
{
	if (!got || len != dsize)
		return false;
	for (size_t off = 0; off < dsize; off += keylen)
		if (memcmp(got + off, key, dsize - off < keylen ? dsize - off : keylen) != 0)
			return false;
	return true;
}

size_t perf_rb_key(uint32_t i, char *buf)
{
	return (size_t)snprintf(buf, PERF_KEY_MAX, "key:%012u", i);
}

/* redis-benchmark 7's genBenchmarkRandomData(), called once per run with a
 * fixed seed: the value of every SET it sends. */
void perf_rb_value(size_t dsize, char *out)
{
	uint32_t state = 1234;

	for (size_t i = 0; i < dsize; i++) {
		state = state * 1103515245 + 12345;
		out[i] = (char)('0' + ((state >> 16) & 63));
	}
}

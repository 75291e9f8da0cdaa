/* SPDX-License-Identifier: MIT */
/* Reply to text, byte for byte as redis-cli 7 prints it (formatted and raw). */
#include "format.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The rules below were worked out by running redis-cli 7.0.15 against a
 * server and comparing bytes (tests/test_cli.c keeps checking them):
 *
 * - Aggregates number their elements "1) ", sets "1~ ", maps "1# ", with
 *   the index right-aligned to the width of the largest index, so a
 *   12-element array prints " 1) " ... "12) ". Continuation lines are
 *   indented by the parent's indent plus that width plus two.
 * - A map value that would take several lines starts on its own line,
 *   indented like its siblings' children; one that fits on one line
 *   ("1# "a" => 1# "b" => (integer) 1") stays inline. "Several lines" is a
 *   property of the structure, not of the text: a verbatim string with a
 *   newline in it does not count.
 * - Recursion depth is bounded by the parser's max_depth limit (64 by
 *   default), so plain recursion is safe here.
 */

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p) {
		fputs("respio-cli: out of memory\n", stderr);
		exit(1);
	}
	return p;
}

void cli_buf_free(struct cli_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static void reserve(struct cli_buf *b, size_t more)
{
	size_t want = b->len + more + 1;

	if (want <= b->cap)
		return;
	if (want < b->cap * 2)
		want = b->cap * 2;
	if (want < 64)
		want = 64;
	b->p = xrealloc(b->p, want);
	b->cap = want;
}

void cli_buf_add(struct cli_buf *b, const void *data, size_t len)
{
	reserve(b, len);
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
}

void cli_buf_adds(struct cli_buf *b, const char *s)
{
	cli_buf_add(b, s, strlen(s));
}

void cli_buf_addc(struct cli_buf *b, char c)
{
	cli_buf_add(b, &c, 1);
}

void cli_buf_printf(struct cli_buf *b, const char *fmt, ...)
{
	char small[64];
	va_list ap;
	int n;

	/* Everything printed here is a number or an escape: the stack buffer
	 * almost always suffices, and the second pass covers the rest. */
	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		cli_buf_add(b, small, (size_t)n);
		return;
	}
	reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void add_spaces(struct cli_buf *b, size_t n)
{
	reserve(b, n);
	memset(b->p + b->len, ' ', n);
	b->len += n;
	b->p[b->len] = '\0';
}

void cli_format_repr(struct cli_buf *b, const char *s, size_t len)
{
	cli_buf_addc(b, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '\\': cli_buf_adds(b, "\\\\"); break;
		case '"': cli_buf_adds(b, "\\\""); break;
		case '\n': cli_buf_adds(b, "\\n"); break;
		case '\r': cli_buf_adds(b, "\\r"); break;
		case '\t': cli_buf_adds(b, "\\t"); break;
		case '\a': cli_buf_adds(b, "\\a"); break;
		case '\b': cli_buf_adds(b, "\\b"); break;
		default:
			/* isprint() in the C locale: 0x20..0x7e. The locale is
			 * never changed, so bytes >= 0x80 are escaped too. */
			if (isprint(c))
				cli_buf_addc(b, (char)c);
			else
				cli_buf_printf(b, "\\x%02x", c);
		}
	}
	cli_buf_addc(b, '"');
}

static bool is_aggregate(const respio_reply *r)
{
	switch (respio_reply_type(r)) {
	case RESPIO_REPLY_ARRAY:
	case RESPIO_REPLY_SET:
	case RESPIO_REPLY_PUSH:
	case RESPIO_REPLY_MAP: return true;
	default: return false;
	}
}

/* Would r print on more than one line? Only aggregates can (see above). */
static bool multiline(const respio_reply *r)
{
	size_t n;

	if (!is_aggregate(r))
		return false;
	n = respio_reply_len(r);
	if (n != 1)
		return n > 1;
	if (respio_reply_type(r) == RESPIO_REPLY_MAP)
		return multiline(respio_reply_element(r, 0)) ||
		       multiline(respio_reply_element(r, 1));
	return multiline(respio_reply_element(r, 0));
}

static void add_str(struct cli_buf *b, const respio_reply *r)
{
	size_t len = 0;
	const char *s = respio_reply_str(r, &len);

	if (s)
		cli_buf_add(b, s, len);
}

static unsigned digits(size_t n)
{
	unsigned d = 1;

	while (n >= 10) {
		n /= 10;
		d++;
	}
	return d;
}

static void tty(struct cli_buf *b, const respio_reply *r, size_t indent);

static void tty_aggregate(struct cli_buf *b, const respio_reply *r, size_t indent)
{
	enum respio_reply_type t = respio_reply_type(r);
	size_t n = respio_reply_len(r);
	unsigned width = digits(n);
	size_t child = indent + width + 2;
	char mark = t == RESPIO_REPLY_MAP ? '#' : t == RESPIO_REPLY_SET ? '~' : ')';

	if (n == 0) {
		cli_buf_adds(b, t == RESPIO_REPLY_MAP	 ? "(empty hash)\n"
				: t == RESPIO_REPLY_SET	 ? "(empty set)\n"
				: t == RESPIO_REPLY_PUSH ? "(empty push)\n"
							 : "(empty array)\n");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			add_spaces(b, indent);
		cli_buf_printf(b, "%*zu%c ", (int)width, i + 1, mark);
		if (t != RESPIO_REPLY_MAP) {
			tty(b, respio_reply_element(r, i), child);
			continue;
		}
		/* The key without its newline, then " => " and the value. */
		tty(b, respio_reply_element(r, 2 * i), child);
		if (b->len && b->p[b->len - 1] == '\n')
			b->len--;
		cli_buf_adds(b, " => ");
		if (multiline(respio_reply_element(r, 2 * i + 1))) {
			cli_buf_addc(b, '\n');
			add_spaces(b, child);
		}
		tty(b, respio_reply_element(r, 2 * i + 1), child);
	}
}

static void tty(struct cli_buf *b, const respio_reply *r, size_t indent)
{
	size_t len = 0;
	const char *s;

	if (!r) {
		cli_buf_adds(b, "(nil)\n");
		return;
	}
	switch (respio_reply_type(r)) {
	case RESPIO_REPLY_ERROR:
		cli_buf_adds(b, "(error) ");
		add_str(b, r);
		break;
	case RESPIO_REPLY_STATUS:
	case RESPIO_REPLY_VERBATIM:
		/* Verbatim text is meant to be read as is, so no quoting. */
		add_str(b, r);
		break;
	case RESPIO_REPLY_STRING:
		s = respio_reply_str(r, &len);
		cli_format_repr(b, s ? s : "", len);
		break;
	case RESPIO_REPLY_INTEGER:
		cli_buf_printf(b, "(integer) %lld", respio_reply_integer(r));
		break;
	case RESPIO_REPLY_DOUBLE:
		/* The server's own digits, not a re-rendering of the double. */
		cli_buf_adds(b, "(double) ");
		add_str(b, r);
		break;
	case RESPIO_REPLY_BOOL:
		cli_buf_adds(b, respio_reply_integer(r) ? "(true)" : "(false)");
		break;
	case RESPIO_REPLY_BIGNUM:
		cli_buf_adds(b, "(big number) ");
		add_str(b, r);
		break;
	case RESPIO_REPLY_NIL: cli_buf_adds(b, "(nil)"); break;
	case RESPIO_REPLY_ARRAY:
	case RESPIO_REPLY_SET:
	case RESPIO_REPLY_PUSH:
	case RESPIO_REPLY_MAP:
		tty_aggregate(b, r, indent);
		return; /* every element already ended its line */
	}
	cli_buf_addc(b, '\n');
}

void cli_format_tty(struct cli_buf *b, const respio_reply *r)
{
	tty(b, r, 0);
}

void cli_format_raw(struct cli_buf *b, const respio_reply *r, const char *mb_delim)
{
	enum respio_reply_type t;
	size_t n;

	if (!r)
		return;
	t = respio_reply_type(r);
	switch (t) {
	case RESPIO_REPLY_ERROR:
		/* redis-cli ends raw errors with their own newline, on top of
		 * the delimiter that follows every reply. */
		add_str(b, r);
		cli_buf_addc(b, '\n');
		break;
	case RESPIO_REPLY_STATUS:
	case RESPIO_REPLY_STRING:
	case RESPIO_REPLY_VERBATIM:
	case RESPIO_REPLY_DOUBLE:
	case RESPIO_REPLY_BIGNUM: add_str(b, r); break;
	case RESPIO_REPLY_INTEGER: cli_buf_printf(b, "%lld", respio_reply_integer(r)); break;
	case RESPIO_REPLY_BOOL:
		cli_buf_adds(b, respio_reply_integer(r) ? "(true)" : "(false)");
		break;
	case RESPIO_REPLY_NIL: break;
	case RESPIO_REPLY_MAP:
		n = respio_reply_len(r);
		for (size_t i = 0; i < n; i++) {
			if (i > 0)
				cli_buf_adds(b, mb_delim);
			cli_format_raw(b, respio_reply_element(r, 2 * i), mb_delim);
			cli_buf_addc(b, ' ');
			cli_format_raw(b, respio_reply_element(r, 2 * i + 1), mb_delim);
		}
		break;
	case RESPIO_REPLY_ARRAY:
	case RESPIO_REPLY_SET:
	case RESPIO_REPLY_PUSH:
		n = respio_reply_len(r);
		for (size_t i = 0; i < n; i++) {
			if (i > 0)
				cli_buf_adds(b, mb_delim);
			cli_format_raw(b, respio_reply_element(r, i), mb_delim);
		}
		break;
	}
}

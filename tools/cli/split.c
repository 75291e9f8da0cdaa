/* SPDX-License-Identifier: MIT */
/* Argument splitting for the prompt and stdin mode, as redis-cli does it. */
#include "split.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		abort();
	return p;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (unsigned char)tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

void cli_args_free(struct cli_args *a)
{
	for (int i = 0; i < a->argc; i++)
		free(a->argv[i]);
	free(a->argv);
	free(a->lens);
	memset(a, 0, sizeof(*a));
}

/* Append one argument; tok is a buffer at least as long as the line. */
static void push_arg(struct cli_args *a, const char *tok, size_t n)
{
	a->argv = xrealloc(a->argv, sizeof(*a->argv) * (size_t)(a->argc + 1));
	a->lens = xrealloc(a->lens, sizeof(*a->lens) * (size_t)(a->argc + 1));
	a->argv[a->argc] = xrealloc(NULL, n + 1);
	memcpy(a->argv[a->argc], tok, n);
	a->argv[a->argc][n] = '\0';
	a->lens[a->argc] = n;
	a->argc++;
}

/*
 * One argument starting at line[*pos] (not whitespace). An argument never
 * grows longer than the text it came from, so tok needs len bytes.
 * Returns its length, or -1 when a quote is unbalanced or a closing quote
 * is glued to more text ("a"b), which would be ambiguous.
 */
static long scan_arg(const char *line, size_t len, size_t *pos, char *tok)
{
	const unsigned char *s = (const unsigned char *)line;
	size_t i = *pos, n = 0;
	char quote = 0;

	for (;;) {
		if (i >= len) {
			if (quote)
				return -1;
			break;
		}
		if (quote == '"') {
			if (s[i] == '\\' && i + 3 < len && s[i + 1] == 'x' &&
			    hexval(s[i + 2]) >= 0 && hexval(s[i + 3]) >= 0) {
				tok[n++] = (char)(hexval(s[i + 2]) * 16 + hexval(s[i + 3]));
				i += 4;
			} else if (s[i] == '\\' && i + 1 < len) {
				switch (s[i + 1]) {
				case 'n': tok[n++] = '\n'; break;
				case 'r': tok[n++] = '\r'; break;
				case 't': tok[n++] = '\t'; break;
				case 'b': tok[n++] = '\b'; break;
				case 'a': tok[n++] = '\a'; break;
				default: tok[n++] = (char)s[i + 1]; break;
				}
				i += 2;
			} else if (s[i] == '"') {
				if (i + 1 < len && !isspace(s[i + 1]))
					return -1;
				i++;
				break;
			} else {
				tok[n++] = (char)s[i++];
			}
		} else if (quote == '\'') {
			if (s[i] == '\\' && i + 1 < len && s[i + 1] == '\'') {
				tok[n++] = '\'';
				i += 2;
			} else if (s[i] == '\'') {
				if (i + 1 < len && !isspace(s[i + 1]))
					return -1;
				i++;
				break;
			} else {
				tok[n++] = (char)s[i++];
			}
		} else if (isspace(s[i])) {
			break;
		} else if (s[i] == '"' || s[i] == '\'') {
			/* A quote opens a quoted part even mid-word: a"b" is ab. */
			quote = (char)s[i++];
		} else {
			tok[n++] = (char)s[i++];
		}
	}
	*pos = i;
	return (long)n;
}

int cli_split_line(const char *line, size_t len, struct cli_args *out)
{
	char *tok = xrealloc(NULL, len + 1);
	size_t pos = 0;

	memset(out, 0, sizeof(*out));
	for (;;) {
		long n;

		while (pos < len && isspace((unsigned char)line[pos]))
			pos++;
		if (pos >= len)
			break;
		n = scan_arg(line, len, &pos, tok);
		if (n < 0) {
			free(tok);
			cli_args_free(out);
			return -1;
		}
		push_arg(out, tok, (size_t)n);
	}
	free(tok);
	return 0;
}

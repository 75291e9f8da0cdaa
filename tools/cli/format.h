/* SPDX-License-Identifier: MIT */
/* Turning replies into the text redis-cli prints, formatted or raw. */
#ifndef RESPIO_CLI_FORMAT_H
#define RESPIO_CLI_FORMAT_H

#include <stddef.h>

#include <respio/resp.h>

/* A growable byte buffer. Zero-initialise; free with cli_buf_free. Running
 * out of memory aborts: a command-line tool has nothing better to do. */
struct cli_buf {
	char *p;
	size_t len;
	size_t cap;
};

void cli_buf_free(struct cli_buf *b);
void cli_buf_add(struct cli_buf *b, const void *data, size_t len);
void cli_buf_adds(struct cli_buf *b, const char *s);
void cli_buf_addc(struct cli_buf *b, char c);
void cli_buf_printf(struct cli_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append s[0..len) in double quotes, escaping what is not printable
 * (\n \r \t \a \b \\ \" and \xhh), the way formatted output shows bulks. */
void cli_format_repr(struct cli_buf *b, const char *s, size_t len);

/*
 * Formatted output ("1) ...", "(integer) 1", "(nil)"): the whole reply,
 * ending with a newline. Attributes are not shown.
 */
void cli_format_tty(struct cli_buf *b, const respio_reply *r);

/*
 * Raw output: strings as their bytes, elements of aggregates separated by
 * mb_delim, map pairs as "key value". No trailing delimiter: the caller
 * adds the one between replies.
 */
void cli_format_raw(struct cli_buf *b, const respio_reply *r, const char *mb_delim);

#endif

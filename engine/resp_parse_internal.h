/* SPDX-License-Identifier: MIT */
/* The parser's state, shared by the state machine (resp_parse.c) and the
 * layout of a finished reply (resp_layout.c). */
#ifndef RESPIO_RESP_PARSE_INTERNAL_H
#define RESPIO_RESP_PARSE_INTERNAL_H

#include <locale.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

enum state {
	ST_TYPE,    /* expect a type byte */
	ST_NUM,	    /* sign and digits after a type byte */
	ST_NUM_LF,  /* LF ending a number line */
	ST_LINE,    /* text of a simple string, error, double or big number */
	ST_LINE_LF, /* LF ending a text line */
	ST_BULK,    /* body of a bulk, blob error or verbatim */
	ST_BOOL,    /* 't' or 'f' */
	ST_CR,	    /* CR after a bulk body, a boolean or '_' */
	ST_LF,	    /* LF after that CR */
	ST_DONE,    /* a reply is complete, waiting for take/build */
	ST_ERROR,   /* sticky until reset */
};

struct pnode {
	uint8_t type; /* enum respio_reply_type */
	uint8_t attr; /* an attribute map, attached to the next value */
	char fmt[4];
	uint64_t n;   /* string length, or number of child slots */
	uint64_t off; /* string offset in the byte scratch */
	union {
		long long i;
		double d;
	} v;
};

struct frame {
	uint64_t remaining;		  /* values (parse) or slots (build) still expected */
	uint8_t is_attr;		  /* this frame is an attribute map */
	uint8_t attr_pending;		  /* parse: an attribute waits for its value */
	respio_reply *slot;		  /* build: next child slot */
	respio_reply *owner;		  /* build: the aggregate being filled */
	const respio_reply *pending_attr; /* build: attribute for the next slot */
};

struct respio_parser {
	enum state st;
	unsigned char type; /* type byte of the value being read */
	uint8_t num_digits;
	uint8_t num_neg;
	uint8_t num_sign;
	int err;
	const char *reason;
	uint64_t err_off;

	uint64_t off;	   /* bytes of this reply consumed by earlier feeds */
	uint64_t type_off; /* reply offset of the current type byte */
	uint64_t body_off; /* reply offset of the current bulk body */
	uint64_t acct;	   /* arena bytes charged so far */
	uint64_t num;	   /* magnitude of the number being read */
	uint64_t num_max;  /* largest magnitude allowed for it */
	uint64_t str_off;  /* current string's offset in bytes */
	uint64_t str_len;  /* bytes of it read so far */
	uint64_t bulk_left;
	long long bool_v;

	struct pnode *nodes;
	size_t nnodes, nodes_cap;
	char *bytes;
	size_t nbytes, bytes_cap;
	struct frame *stack;
	size_t sp, stack_cap; /* sp = open aggregates; stack[0] is the root */

	respio_limits lim;
	locale_t cloc; /* strtod must not follow the application's LC_NUMERIC */
};

/* The reply in scratch was laid out (or dropped): start the next one. */
void respio__parser_begin_reply(respio_parser *p);

#endif

/* SPDX-License-Identifier: MIT */
/* Memory layout of a reply arena, shared by the parser (which builds it) and reply.c. */
#ifndef RESPIO_REPLY_INTERNAL_H
#define RESPIO_REPLY_INTERNAL_H

#include <stdint.h>

#include <respio.h>

/*
 * A reply arena is one block:
 *
 *   [root node][every other node][string bytes]
 *
 * The root is always the first node, so the arena pointer and the root
 * pointer are the same (that is what respio_reply_free() hands to free()).
 * The elements of an aggregate are contiguous nodes, which makes
 * respio_reply_element() O(1). Each string is followed by a NUL. Nodes hold
 * absolute pointers into the same block, so an arena cannot be moved once
 * built, only freed.
 */

/* Root of an arena from respio_parser_take(): respio_reply_free() frees it.
 * Elements and built-in-place roots lack it, so freeing them is a no-op. */
#define RESPIO__REPLY_OWNED 0x01u
/* Root built inside a future and handed to a caller by the synchronous
 * engine path: respio_reply_free() releases the future, whose pointer sits
 * RESPIO__REPLY_HDR bytes before the root (see engine/future.c). */
#define RESPIO__REPLY_ADOPTED 0x02u

struct respio_reply {
	uint8_t type;  /* enum respio_reply_type */
	uint8_t flags; /* RESPIO__REPLY_OWNED on a taken root */
	char fmt[4];   /* VERBATIM format, NUL-terminated */
	union {
		long long integer; /* INTEGER, BOOL (0/1) */
		double dbl;	   /* DOUBLE */
	} v;
	union {
		const char *str;		 /* string types */
		const struct respio_reply *elem; /* aggregates */
	} p;
	/* String length, or the number of element nodes (2 * pairs for a MAP). */
	size_t len;
	const struct respio_reply *attrs; /* preceding | map, or NULL */
};

#endif

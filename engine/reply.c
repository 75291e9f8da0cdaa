/* SPDX-License-Identifier: MIT */
/* Accessors of the reply arena built by the parser, and its release. */
#include <stdlib.h>

#include "internal.h"
#include "reply_internal.h"

/*
 * Every accessor accepts NULL and any type, returning an empty value rather
 * than asserting: callers walk replies from untrusted servers and a type
 * mismatch is their normal error path, not a bug.
 */

enum respio_reply_type respio_reply_type(const respio_reply *r)
{
	return r ? (enum respio_reply_type)r->type : (enum respio_reply_type)0;
}

static int has_str(const respio_reply *r)
{
	switch (r->type) {
	case RESPIO_REPLY_STRING:
	case RESPIO_REPLY_STATUS:
	case RESPIO_REPLY_ERROR:
	case RESPIO_REPLY_VERBATIM:
	case RESPIO_REPLY_BIGNUM:
	case RESPIO_REPLY_DOUBLE: return 1;
	default: return 0;
	}
}

static int is_aggregate(const respio_reply *r)
{
	switch (r->type) {
	case RESPIO_REPLY_ARRAY:
	case RESPIO_REPLY_MAP:
	case RESPIO_REPLY_SET:
	case RESPIO_REPLY_PUSH: return 1;
	default: return 0;
	}
}

const char *respio_reply_str(const respio_reply *r, size_t *len)
{
	if (!r || !has_str(r)) {
		if (len)
			*len = 0;
		return NULL;
	}
	if (len)
		*len = r->len;
	return r->p.str;
}

const char *respio_reply_verbatim_format(const respio_reply *r)
{
	if (!r || r->type != RESPIO_REPLY_VERBATIM)
		return NULL;
	return r->fmt;
}

long long respio_reply_integer(const respio_reply *r)
{
	if (!r || (r->type != RESPIO_REPLY_INTEGER && r->type != RESPIO_REPLY_BOOL))
		return 0;
	return r->v.integer;
}

double respio_reply_double(const respio_reply *r)
{
	if (!r)
		return 0;
	if (r->type == RESPIO_REPLY_DOUBLE)
		return r->v.dbl;
	if (r->type == RESPIO_REPLY_INTEGER)
		return (double)r->v.integer;
	return 0;
}

size_t respio_reply_len(const respio_reply *r)
{
	if (!r || !is_aggregate(r))
		return 0;
	/* A MAP stores keys and values as one run of 2 * pairs nodes. */
	return r->type == RESPIO_REPLY_MAP ? r->len / 2 : r->len;
}

const respio_reply *respio_reply_element(const respio_reply *r, size_t i)
{
	if (!r || !is_aggregate(r) || i >= r->len)
		return NULL;
	return &r->p.elem[i];
}

const respio_reply *respio_reply_attributes(const respio_reply *r)
{
	return r ? r->attrs : NULL;
}

void respio_reply_free(respio_reply *r)
{
	/* Only a taken root owns its block; an element or a reply built into
	 * caller memory has no flag, so a stray free of one cannot corrupt
	 * the heap. */
	if (r && (r->flags & RESPIO__REPLY_OWNED))
		free(r);
	else if (r && (r->flags & RESPIO__REPLY_ADOPTED))
		respio__future_release_adopted(r);
}

/* SPDX-License-Identifier: MIT */
/* A finished reply laid out from the parser's scratch into one arena (the
 * parser itself is resp_parse.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reply_internal.h"
#include "resp_parse_internal.h"

size_t respio_parser_reply_size(const respio_parser *p)
{
	if (p->st != ST_DONE)
		return 0;
	return p->nnodes * sizeof(respio_reply) + p->nbytes;
}

static int is_agg(uint8_t type)
{
	return type == RESPIO_REPLY_ARRAY || type == RESPIO_REPLY_MAP || type == RESPIO_REPLY_SET ||
	       type == RESPIO_REPLY_PUSH;
}

/*
 * Lay the pre-order node list out in mem. The root takes node 0, so the
 * arena pointer is the root; every aggregate reserves its children as one
 * contiguous run from the bump index; an attribute takes one node from the
 * bump index (it fills no slot) and is handed to the next value placed in
 * the same frame. Strings are copied in a single memcpy: the scratch holds
 * them already NUL-terminated, in the arena's order.
 */
static respio_reply *lay_out(respio_parser *p, void *mem)
{
	respio_reply *nodes = mem;
	char *strs = (char *)(nodes + p->nnodes);
	size_t bump = 1, sp = 0, k;
	struct frame *f = &p->stack[0];

	if (p->nbytes)
		memcpy(strs, p->bytes, p->nbytes);
	memset(f, 0, sizeof(*f));
	f->slot = nodes;
	f->remaining = 1;

	for (k = 0; k < p->nnodes; k++) {
		const struct pnode *pn = &p->nodes[k];
		const respio_reply *done;
		respio_reply *r;
		int is_attr = pn->attr;

		f = &p->stack[sp];
		if (is_attr) {
			r = &nodes[bump++];
			r->attrs = NULL;
		} else {
			r = f->slot++;
			f->remaining--;
			r->attrs = f->pending_attr;
			f->pending_attr = NULL;
		}
		r->type = pn->type;
		r->flags = 0;
		memcpy(r->fmt, pn->fmt, sizeof(r->fmt));
		r->v.integer = pn->v.i;
		r->len = (size_t)pn->n;
		if (is_agg(pn->type)) {
			r->p.elem = &nodes[bump];
			bump += (size_t)pn->n;
			if (pn->n) {
				f = &p->stack[++sp];
				f->slot = (respio_reply *)r->p.elem;
				f->remaining = pn->n;
				f->owner = r;
				f->is_attr = (uint8_t)is_attr;
				f->pending_attr = NULL;
				continue;
			}
		} else if (pn->type == RESPIO_REPLY_NIL || pn->type == RESPIO_REPLY_INTEGER ||
			   pn->type == RESPIO_REPLY_BOOL) {
			r->p.str = NULL;
		} else {
			r->p.str = strs + pn->off;
		}
		/* r is complete: close every frame it completes. */
		done = r;
		for (;;) {
			f = &p->stack[sp];
			if (is_attr) {
				f->pending_attr = done;
				break;
			}
			if (f->remaining || !sp)
				break;
			done = f->owner;
			is_attr = f->is_attr;
			sp--;
		}
	}
	return nodes;
}

const respio_reply *respio_parser_reply_build(respio_parser *p, void *mem)
{
	respio_reply *r;

	if (p->st != ST_DONE || !mem)
		return NULL;
	r = lay_out(p, mem);
	respio__parser_begin_reply(p);
	return r;
}

int respio_parser_take(respio_parser *p, respio_reply **out)
{
	respio_reply *r;
	void *mem;

	*out = NULL;
	if (p->st != ST_DONE)
		return RESPIO_E_INVAL;
	mem = malloc(respio_parser_reply_size(p));
	if (!mem)
		return -ENOMEM;
	r = lay_out(p, mem);
	r->flags |= RESPIO__REPLY_OWNED;
	respio__parser_begin_reply(p);
	*out = r;
	return 0;
}

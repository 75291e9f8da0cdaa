/* SPDX-License-Identifier: MIT */
/* Memory for command bytes: mapped above 64 KiB, malloc below (bigbuf.h). */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bigbuf.h"

static int mapped(size_t cap)
{
	return cap > RESPIO__BIGBUF_MAP;
}

void *respio__bigbuf_alloc(size_t cap)
{
	void *p;

	if (!mapped(cap))
		return malloc(cap);
	p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void respio__bigbuf_free(void *p, size_t cap)
{
	if (!p)
		return;
	if (mapped(cap))
		munmap(p, cap);
	else
		free(p);
}

void *respio__bigbuf_resize(void *p, size_t old_cap, size_t new_cap, size_t len)
{
	void *q;

	if (!p)
		return respio__bigbuf_alloc(new_cap);
	if (mapped(old_cap) && mapped(new_cap)) {
		/* The kernel moves the pages: no copy, whatever the size. */
		q = mremap(p, old_cap, new_cap, MREMAP_MAYMOVE);
		return q == MAP_FAILED ? NULL : q;
	}
	if (!mapped(old_cap) && !mapped(new_cap))
		return realloc(p, new_cap);
	q = respio__bigbuf_alloc(new_cap);
	if (!q)
		return NULL;
	memcpy(q, p, len);
	respio__bigbuf_free(p, old_cap);
	return q;
}

/* SPDX-License-Identifier: MIT */
/* Memory for command bytes: large sizes are mapped, so freeing them gives
 * the pages back at once. */
#ifndef RESPIO_BIGBUF_H
#define RESPIO_BIGBUF_H

#include <stddef.h>

/*
 * cfg.max_inflight_bytes bounds the command bytes the engine holds; for the
 * process's memory to follow, freed buffers must leave it. glibc's malloc
 * raises its mmap threshold each time a mapped chunk is freed, after which
 * chunks of a MiB come from per-thread arenas and stay cached there when
 * freed: 64 threads sending 1 MiB commands grew the process by 2-3 times
 * the bound. Buffers above RESPIO__BIGBUF_MAP are therefore mapped
 * directly. Whether a buffer is mapped follows from its capacity alone, so
 * every call takes the capacity it was given.
 */
#define RESPIO__BIGBUF_MAP (64u << 10)

/* A buffer of cap bytes, or NULL. */
void *respio__bigbuf_alloc(size_t cap);

/* Free p, allocated with capacity cap. NULL is fine. */
void respio__bigbuf_free(void *p, size_t cap);

/* Move p (capacity old_cap, its first len bytes in use) to a buffer of
 * new_cap >= len bytes; NULL (p untouched) when out of memory. */
void *respio__bigbuf_resize(void *p, size_t old_cap, size_t new_cap, size_t len);

#endif

/* SPDX-License-Identifier: MIT */
/* io_uring set-up for shards: ring flags with fallbacks, provided buffers. */
#ifndef RESPIO_URING_H
#define RESPIO_URING_H

#include <liburing.h>
#include <stdint.h>

/* A provided-buffer ring: nbufs buffers of size bytes each, group bgid. */
struct respio__bufring {
	struct io_uring_buf_ring *br;
	char *mem;
	size_t br_bytes;
	uint32_t nbufs;
	uint32_t size;
	uint16_t bgid;
};

/* Create ring on the calling thread: SINGLE_ISSUER|DEFER_TASKRUN, else
 * COOP_TASKRUN|TASKRUN_FLAG, else no flags. Checks that the opcodes the
 * shard needs are supported. Returns 0 or -errno; *flags_out gets the
 * setup flags that were accepted. */
int respio__uring_init(struct io_uring *ring, unsigned entries, unsigned *flags_out);

/* mmap, init and register a buffer ring (liburing 2.3 has no
 * io_uring_setup_buf_ring), with every buffer handed to the kernel. */
int respio__bufring_init(struct io_uring *ring, struct respio__bufring *b, uint16_t bgid,
			 uint32_t nbufs, uint32_t size);

/* Give buffer bid back to the kernel. Shard thread only. */
static inline void respio__bufring_recycle(struct respio__bufring *b, uint16_t bid)
{
	io_uring_buf_ring_add(b->br, b->mem + (size_t)bid * b->size, b->size, bid,
			      io_uring_buf_ring_mask(b->nbufs), 0);
	io_uring_buf_ring_advance(b->br, 1);
}

static inline char *respio__bufring_buf(struct respio__bufring *b, uint16_t bid)
{
	return b->mem + (size_t)bid * b->size;
}

/* Unregister (when the ring is still alive) and unmap. */
void respio__bufring_free(struct io_uring *ring, struct respio__bufring *b);

#endif

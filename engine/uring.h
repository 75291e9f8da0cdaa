/* SPDX-License-Identifier: MIT */
/* io_uring for shards: ring flags with fallbacks, provided buffers, futex
 * wakes through the ring. */
#ifndef RESPIO_URING_H
#define RESPIO_URING_H

#include <liburing.h>
#include <stdatomic.h>
#include <stdbool.h>
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

/*
 * Futex wakes through the ring (IORING_OP_FUTEX_WAKE, Linux 6.7): a shard
 * wakes a whole batch of waiters in one io_uring_enter instead of one futex
 * call each. Between the calls, every woken thread preempted the shard on its
 * core, so each wake cost two context switches rather than one. liburing 2.3
 * and Debian 12's headers predate the opcode; its number is fixed by the
 * kernel's ABI.
 */
#define RESPIO__IORING_OP_FUTEX_WAKE 52
_Static_assert(IORING_OP_SENDMSG_ZC == 48, "io_uring opcodes are numbered as the kernel's");

/* The op byte of a wake's user_data; the rest holds the futex word, so a wake
 * the kernel refuses can still be made by syscall. */
#define RESPIO__UD_OP_WAKE 0xffu

static inline uint64_t respio__uring_wake_ud(_Atomic uint32_t *word)
{
	/* Words are 4-aligned: drop those two bits to fit an address below
	 * 2^58 above the op byte. */
	return ((uint64_t)(uintptr_t)word >> 2) << 8 | RESPIO__UD_OP_WAKE;
}

static inline _Atomic uint32_t *respio__uring_wake_word(uint64_t ud)
{
	return (_Atomic uint32_t *)(uintptr_t)((ud >> 8) << 2);
}

/* Whether ring runs IORING_OP_FUTEX_WAKE. */
bool respio__uring_has_futex_wake(struct io_uring *ring);

/* Queue a wake of every sleeper on each of words[0..n) and submit them (with
 * whatever else is queued) in one io_uring_enter. Successful wakes post no
 * CQE; a refused one posts a CQE with respio__uring_wake_ud(word). Returns how
 * many were queued (fewer than n only if the SQ stays full): the caller wakes
 * the rest itself. Ring owner thread only. */
uint32_t respio__uring_futex_wake(struct io_uring *ring, _Atomic uint32_t *const *words,
				  uint32_t n);

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

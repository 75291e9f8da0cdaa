/* SPDX-License-Identifier: MIT */
/* io_uring for shards: ring flags with fallbacks, provided buffers, futex
 * wakes through the ring. */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "uring.h"

static const unsigned respio__setup_flags[] = {
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
    0,
};

static const int respio__needed_ops[] = {
    IORING_OP_SEND,
    IORING_OP_RECV,
    IORING_OP_READ,
    IORING_OP_ASYNC_CANCEL,
};

int respio__uring_init(struct io_uring *ring, unsigned entries, unsigned *flags_out)
{
	struct io_uring_probe *probe;
	int rc = -EINVAL;

	for (size_t i = 0; i < sizeof(respio__setup_flags) / sizeof(respio__setup_flags[0]); i++) {
		struct io_uring_params p;

		memset(&p, 0, sizeof(p));
		p.flags = respio__setup_flags[i];
		rc = io_uring_queue_init_params(entries, ring, &p);
		if (rc == 0) {
			*flags_out = respio__setup_flags[i];
			break;
		}
		/* Older kernels reject unknown flags with -EINVAL; anything else
		 * (no memory, io_uring disabled) will not get better. */
		if (rc != -EINVAL)
			return rc;
	}
	if (rc < 0)
		return rc;

	probe = io_uring_get_probe_ring(ring);
	if (!probe) {
		io_uring_queue_exit(ring);
		return -EOPNOTSUPP;
	}
	for (size_t i = 0; i < sizeof(respio__needed_ops) / sizeof(respio__needed_ops[0]); i++) {
		if (!io_uring_opcode_supported(probe, respio__needed_ops[i])) {
			rc = -EOPNOTSUPP;
			break;
		}
	}
	io_uring_free_probe(probe);
	if (rc < 0)
		io_uring_queue_exit(ring);
	return rc;
}

int respio__bufring_init(struct io_uring *ring, struct respio__bufring *b, uint16_t bgid,
			 uint32_t nbufs, uint32_t size)
{
	struct io_uring_buf_reg reg;
	int rc;

	memset(b, 0, sizeof(*b));
	b->nbufs = nbufs;
	b->size = size;
	b->bgid = bgid;
	b->br_bytes = nbufs * sizeof(struct io_uring_buf);
	b->br = mmap(NULL, b->br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (b->br == MAP_FAILED) {
		b->br = NULL;
		return -errno;
	}
	b->mem = aligned_alloc(4096, (size_t)nbufs * size);
	if (!b->mem) {
		respio__bufring_free(NULL, b);
		return -ENOMEM;
	}
	io_uring_buf_ring_init(b->br);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (unsigned long)b->br;
	reg.ring_entries = nbufs;
	reg.bgid = bgid;
	rc = io_uring_register_buf_ring(ring, &reg, 0);
	if (rc < 0) {
		respio__bufring_free(NULL, b);
		return rc;
	}
	for (uint32_t i = 0; i < nbufs; i++)
		io_uring_buf_ring_add(b->br, b->mem + (size_t)i * size, size, (unsigned short)i,
				      io_uring_buf_ring_mask(nbufs), (int)i);
	io_uring_buf_ring_advance(b->br, (int)nbufs);
	return 0;
}

void respio__bufring_free(struct io_uring *ring, struct respio__bufring *b)
{
	if (ring && b->br)
		io_uring_unregister_buf_ring(ring, b->bgid);
	if (b->br)
		munmap(b->br, b->br_bytes);
	free(b->mem);
	memset(b, 0, sizeof(*b));
}

/* futex2 flags (linux/futex.h from 6.7 on). */
#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02
#endif
#ifndef FUTEX2_PRIVATE
#define FUTEX2_PRIVATE FUTEX_PRIVATE_FLAG
#endif

bool respio__uring_has_futex_wake(struct io_uring *ring)
{
	struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
	bool ok;

	if (!probe)
		return false;
	ok = io_uring_opcode_supported(probe, RESPIO__IORING_OP_FUTEX_WAKE);
	io_uring_free_probe(probe);
	return ok;
}

uint32_t respio__uring_futex_wake(struct io_uring *ring, _Atomic uint32_t *const *words, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

		if (!sqe) {
			io_uring_submit(ring);
			sqe = io_uring_get_sqe(ring);
			if (!sqe)
				break;
		}
		/* The kernel's layout: fd = futex2 flags, addr = the word,
		 * addr2 = how many to wake, addr3 = the bitset (waiters use
		 * FUTEX_WAIT_BITSET with every bit). */
		io_uring_prep_rw(RESPIO__IORING_OP_FUTEX_WAKE, sqe,
				 FUTEX2_SIZE_U32 | FUTEX2_PRIVATE, (const void *)words[i], 0,
				 INT_MAX);
		sqe->addr3 = FUTEX_BITSET_MATCH_ANY;
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
		io_uring_sqe_set_data64(sqe, respio__uring_wake_ud(words[i]));
	}
	io_uring_submit(ring);
	return i;
}

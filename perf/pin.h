/* SPDX-License-Identifier: MIT */
/* CPU pinning for the harness: the embedded server on CPUs of its own and
 * the clients (respio, hiredis, redis-benchmark) on the others, so that a
 * comparison measures the clients rather than how the scheduler shares the
 * server's core with them. */
#ifndef PERF_PIN_H
#define PERF_PIN_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>

struct perf_pin {
	bool server, client; /* which of the two sets apply */
	cpu_set_t server_cpus, client_cpus;
};

/* Parse a CPU list such as "0", "2-3" or "0,2-3" into *set. 0, or -1 when it
 * is malformed or names a CPU this process may not use. */
int perf_pin_parse(const char *list, cpu_set_t *set);

/* --pin: the server on the last CPU this process may use, the clients on the
 * rest. With a single CPU nothing is pinned (both sets stay unused): 1. -1,
 * with the reason in err, when the affinity cannot be read. */
int perf_pin_split(struct perf_pin *p, char *err, size_t errlen);

/* Format set as a CPU list ("0,2-3") into buf. */
void perf_pin_format(const cpu_set_t *set, char *buf, size_t len);

/* The CPUs this process may run on (what the engine's one shard per CPU
 * counts too). */
int perf_pin_cpu_count(void);

/* Pin the calling thread, and so every thread and process it starts later. */
int perf_pin_self(const cpu_set_t *set);

#endif

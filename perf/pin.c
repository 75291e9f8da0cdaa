/* SPDX-License-Identifier: MIT */
/* CPU lists and affinity for --pin, --server-cpus and --client-cpus. */
#include "pin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int perf_pin_parse(const char *list, cpu_set_t *set)
{
	cpu_set_t allowed;
	const char *s = list;

	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
		return -1;
	CPU_ZERO(set);
	while (*s) {
		char *end;
		long lo = strtol(s, &end, 10), hi = lo;

		if (end == s || lo < 0)
			return -1;
		if (*end == '-') {
			s = end + 1;
			hi = strtol(s, &end, 10);
			if (end == s || hi < lo)
				return -1;
		}
		if (*end && *end != ',')
			return -1;
		for (long c = lo; c <= hi; c++) {
			if (c >= CPU_SETSIZE || !CPU_ISSET((int)c, &allowed))
				return -1;
			CPU_SET((int)c, set);
		}
		s = *end ? end + 1 : end;
	}
	return CPU_COUNT(set) > 0 ? 0 : -1;
}

int perf_pin_split(struct perf_pin *p, char *err, size_t errlen)
{
	cpu_set_t allowed;
	int last = -1;

	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0) {
		snprintf(err, errlen, "sched_getaffinity: %s", strerror(errno));
		return -1;
	}
	if (CPU_COUNT(&allowed) < 2)
		return 1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &allowed))
			last = c;
	CPU_ZERO(&p->server_cpus);
	CPU_SET(last, &p->server_cpus);
	p->client_cpus = allowed;
	CPU_CLR(last, &p->client_cpus);
	p->server = p->client = true;
	return 0;
}

void perf_pin_format(const cpu_set_t *set, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = '\0';
	for (int c = 0; c < CPU_SETSIZE && at < len; c++) {
		int hi = c;

		if (!CPU_ISSET(c, set))
			continue;
		while (hi + 1 < CPU_SETSIZE && CPU_ISSET(hi + 1, set))
			hi++;
		if (hi > c)
			at += (size_t)snprintf(buf + at, len - at, "%s%d-%d", at ? "," : "", c, hi);
		else
			at += (size_t)snprintf(buf + at, len - at, "%s%d", at ? "," : "", c);
		c = hi;
	}
}

int perf_pin_self(const cpu_set_t *set)
{
	return sched_setaffinity(0, sizeof(*set), set);
}

int perf_pin_cpu_count(void)
{
	cpu_set_t set;

	return sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
}

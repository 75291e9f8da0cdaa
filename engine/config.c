/* SPDX-License-Identifier: MIT */
/* Configuration defaults, and the CPU count they depend on. */
#include <sched.h>
#include <string.h>
#include <sys/sysinfo.h>

#include "internal.h"

void respio_config_init(respio_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->host = "127.0.0.1";
	cfg->port = 6379;
	cfg->timeout_ms = 5000;
	cfg->protocol = 2;
	cfg->ring_capacity = 1024;
	cfg->max_inflight = 65536;
	cfg->max_inflight_bytes = 256ull << 20;
	cfg->pool.max_connections = 10;
	cfg->pool.min_connections = 2;
	cfg->pool.connection_timeout_ms = 5000;
	cfg->pool.max_idle_time_ms = 30000;
	cfg->pool.health_check_interval_ms = 10000;
	cfg->pool.wait_timeout_ms = 5000;
	respio__limits_fill(&cfg->limits, NULL);
}

void respio__limits_fill(respio_limits *dst, const respio_limits *src)
{
	respio_limits l = {0};

	if (src)
		l = *src;
	if (!l.max_bulk_len)
		l.max_bulk_len = RESPIO_DEFAULT_MAX_BULK_LEN;
	if (!l.max_elements)
		l.max_elements = RESPIO_DEFAULT_MAX_ELEMENTS;
	if (!l.max_depth)
		l.max_depth = RESPIO_DEFAULT_MAX_DEPTH;
	if (!l.max_reply_bytes)
		l.max_reply_bytes = RESPIO_DEFAULT_MAX_REPLY_BYTES;
	*dst = l;
}

int respio__cpu_count(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && (n = CPU_COUNT(&set)) > 0)
		return n;
	n = get_nprocs();
	return n > 0 ? n : 1;
}

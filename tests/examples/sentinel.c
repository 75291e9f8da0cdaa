/* SPDX-License-Identifier: MIT */
/* README example: the engine behind Redis Sentinel. */
#include <stdio.h>
#include <stdlib.h>
#include <respio.h>

int main(int argc, char **argv)
{
	const char *sentinels[] = {"127.0.0.1:26379", "127.0.0.1:26380", "127.0.0.1:26381"};
	respio_sentinel_config sentinel = {
	    .hosts = sentinels,
	    .nhosts = 3,
	    .master_name = "mymaster",
	    .password = NULL, /* the Sentinels' own; the data nodes use cfg.password */
	};
	respio_config cfg;
	respio_client *client;
	long long n = 0;
	int rc;

	for (int i = 1; i < argc && i <= 3; i++) /* other Sentinels: HOST:PORT arguments */
		sentinels[i - 1] = argv[i];
	respio_config_init(&cfg);
	cfg.sentinel = &sentinel; /* the master is whatever the Sentinels say */
	cfg.db = 0;
	if ((rc = respio_client_create(&cfg, &client)) < 0) {
		fprintf(stderr, "connect: %s (%s)\n", respio_strerror(rc),
			respio_client_errdetail(NULL));
		return 1;
	}
	/* Failovers are followed without the caller's help: writes are held while
	 * one is in progress, unsent requests move to the new master, and a
	 * request that was on the wire fails with RESPIO_E_FAILOVER (fate SENT). */
	const char *incr[] = {"INCR", "visits"};
	respio_reply *r = NULL;
	rc = respio_command(respio_client_target(client), 2, incr, NULL, &r);
	if (rc == 0)
		n = respio_reply_integer(r);
	respio_reply_free(r);

	respio_stats st;
	respio_client_stats(client, &st, NULL, 0);
	printf("visits = %lld (failovers followed so far: %llu)\n", n,
	       (unsigned long long)st.failovers);
	respio_client_destroy(client);
	return rc == 0 ? 0 : 1;
}

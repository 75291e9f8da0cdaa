/* SPDX-License-Identifier: MIT */
/* README example: many commands in flight as futures, pipelined by the engine. */
#include <stdio.h>
#include <stdlib.h>
#include <respio.h>

int main(int argc, char **argv)
{
	respio_config cfg;
	respio_client *client;
	respio_future *f[100];
	char key[32];
	int rc, ok = 0;

	respio_config_init(&cfg);
	cfg.port = argc > 1 ? atoi(argv[1]) : 6379;
	if ((rc = respio_client_create(&cfg, &client)) < 0) {
		fprintf(stderr, "connect: %s\n", respio_strerror(rc));
		return 1;
	}
	for (int i = 0; i < 100; i++) { /* queued at once, sent in a few batches */
		snprintf(key, sizeof(key), "counter:%d", i % 10);
		const char *argv_[] = {"INCR", key};
		if (respio_submit(client, 2, argv_, NULL, &f[i]) < 0)
			f[i] = NULL;
	}
	respio_future_wait_all(f, 100, 5000);
	for (int i = 0; i < 100; i++) {
		long long n;

		if (f[i] && respio_future_integer(f[i], &n) == 0)
			ok++;
		else if (f[i])
			fprintf(stderr, "INCR failed: %s (fate %d)\n",
				respio_strerror(respio_future_status(f[i])),
				respio_future_fate(f[i]));
		respio_future_release(f[i]); /* always, done or not */
	}
	printf("%d of 100 INCRs done\n", ok);
	respio_client_destroy(client);
	return ok == 100 ? 0 : 1;
}

/* SPDX-License-Identifier: MIT */
/* README example: the synchronous helpers on an engine client. */
#include <stdio.h>
#include <stdlib.h>
#include <respio.h>

int main(int argc, char **argv)
{
	respio_config cfg;
	respio_client *client;
	respio_str value = {0};
	int rc;

	respio_config_init(&cfg);
	cfg.port = argc > 1 ? atoi(argv[1]) : 6379;
	cfg.pool.max_connections = 10;
	cfg.pool.min_connections = 2;
	if ((rc = respio_client_create(&cfg, &client)) < 0) {
		fprintf(stderr, "connect: %s\n", respio_strerror(rc));
		return 1;
	}
	respio_target *t = respio_client_target(client); /* any thread may use it */

	rc = respio_set(t, "user:42", 7, "alice", 5, 60 * 1000); /* SET ... PX 60000 */
	if (rc == 0)
		rc = respio_get(t, "user:42", 7, &value);
	if (rc == 0)
		printf("user:42 = %s\n", value.ptr ? value.ptr : "(nil)");
	else
		fprintf(stderr, "error: %s %s\n", respio_strerror(rc),
			respio_client_errdetail(client));
	respio_str_free(&value);
	respio_client_destroy(client);
	return rc == 0 ? 0 : 1;
}

/* SPDX-License-Identifier: MIT */
/* README example: a transaction on a session (the seed's begin/end). */
#include <stdio.h>
#include <stdlib.h>
#include <respio.h>

/* Run one command on t; the reply is dropped, its status returned. */
static int run(respio_target *t, int argc, const char *const *argv)
{
	respio_reply *r = NULL;
	int rc = respio_command(t, argc, argv, NULL, &r);

	respio_reply_free(r);
	return rc;
}

/* Move amount from one balance to another unless either changed meanwhile.
 * WATCH needs a connection of its own, so this runs on a session. */
static int transfer(respio_client *client, const char *from, const char *to, const char *amount)
{
	respio_session *s;
	respio_reply *r = NULL;
	int rc;

	if ((rc = respio_begin(client, &s)) < 0) /* RESPIO_E_POOL_EXHAUSTED after the wait */
		return rc;
	respio_target *t = respio_session_target(s);
	rc = run(t, 3, (const char *[]){"WATCH", from, to});
	if (rc == 0)
		rc = respio_command(t, 2, (const char *[]){"GET", from}, NULL, &r);
	const char *balance = rc == 0 ? respio_reply_str(r, NULL) : NULL; /* nil: no key */
	if (balance && atoll(balance) >= atoll(amount)) {
		run(t, 1, (const char *[]){"MULTI"});
		run(t, 3, (const char *[]){"DECRBY", from, amount});
		run(t, 3, (const char *[]){"INCRBY", to, amount});
		respio_reply_free(r);
		r = NULL;
		rc = respio_command(t, 1, (const char *[]){"EXEC"}, NULL, &r);
		if (rc == 0 && respio_reply_type(r) == RESPIO_REPLY_NIL)
			rc = 1; /* a watched key changed: nothing ran, try again */
	}
	respio_reply_free(r);
	respio_end(s); /* UNWATCH or DISCARD if needed, PING, back to the pool */
	return rc;
}

int main(int argc, char **argv)
{
	respio_config cfg;
	respio_client *client;
	int rc;

	respio_config_init(&cfg);
	cfg.port = argc > 1 ? atoi(argv[1]) : 6379;
	cfg.pool.min_connections = 2;  /* the shared pipeline */
	cfg.pool.max_connections = 10; /* the other 8: sessions and blocking commands */
	if ((rc = respio_client_create(&cfg, &client)) < 0) {
		fprintf(stderr, "connect: %s\n", respio_strerror(rc));
		return 1;
	}
	run(respio_client_target(client), 3, (const char *[]){"SET", "alice", "100"});
	while ((rc = transfer(client, "alice", "bob", "30")) == 1)
		;
	if (rc == 0)
		printf("moved 30 from alice to bob\n");
	else
		fprintf(stderr, "transfer: %s\n", respio_strerror(rc));
	respio_client_destroy(client);
	return rc == 0 ? 0 : 1;
}

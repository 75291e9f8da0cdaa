/* SPDX-License-Identifier: MIT */
/* Loopback ports for throwaway servers: find a free one, see one answer. */
#ifndef RESPIO_TEST_PORT_H
#define RESPIO_TEST_PORT_H

#include <stdbool.h>

/* A TCP port on 127.0.0.1 that was free a moment ago, or -1. */
int test_free_port(void);

/* True once something on 127.0.0.1:port answers a PING with any RESP
 * reply (+PONG, or -NOAUTH when a password is set); waits at most 1 s. */
bool test_port_answers(int port);

#endif

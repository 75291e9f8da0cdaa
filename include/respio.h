/* SPDX-License-Identifier: MIT */
/* respio: a RESP2/RESP3 client for Redis and DragonflyDB. Include this. */
#ifndef RESPIO_H
#define RESPIO_H

#define RESPIO_VERSION_MAJOR 0
#define RESPIO_VERSION_MINOR 1
#define RESPIO_VERSION_PATCH 0

#include <respio/common.h>
#include <respio/resp.h>
#include <respio/conn.h>
#include <respio/commands.h>
#include <respio/client.h>

#endif

/* SPDX-License-Identifier: MIT */
/* Messages and names for every error code, from the one X-macro table. */
#include <errno.h>
#include <string.h>

#include <respio/common.h>

const char *respio_strerror(int err)
{
	switch (err) {
#define RESPIO__ERR_MSG(name, value, msg)                                                          \
	case RESPIO_E_##name: return msg;
		RESPIO_ERRNO_MAP(RESPIO__ERR_MSG)
#undef RESPIO__ERR_MSG
	case 0: return "success";
	}
	if (err < 0 && err > -4096)
		return strerrordesc_np(-err) ? strerrordesc_np(-err) : "unknown error";
	return "unknown error";
}

const char *respio_err_name(int err)
{
	switch (err) {
#define RESPIO__ERR_NAME(name, value, msg)                                                         \
	case RESPIO_E_##name: return "RESPIO_E_" #name;
		RESPIO_ERRNO_MAP(RESPIO__ERR_NAME)
#undef RESPIO__ERR_NAME
	case 0: return "OK";
	}
	if (err < 0 && err > -4096 && strerrorname_np(-err))
		return strerrorname_np(-err);
	return "UNKNOWN";
}

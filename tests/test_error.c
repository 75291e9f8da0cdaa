/* SPDX-License-Identifier: MIT */
/* The error table: every code has a message and a name, errno passes through. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include <respio.h>

Test(error, every_code_has_message_and_name)
{
	static const int codes[] = {
#define XX(name, value, msg) RESPIO_E_##name,
	    RESPIO_ERRNO_MAP(XX)
#undef XX
	};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		cr_assert(codes[i] < -30000, "library codes stay out of errno's range");
		cr_assert_str_neq(respio_strerror(codes[i]), "unknown error");
		cr_assert_eq(strncmp(respio_err_name(codes[i]), "RESPIO_E_", 9), 0);
	}
}

Test(error, errno_values_pass_through)
{
	cr_assert_str_eq(respio_err_name(-ETIMEDOUT), "ETIMEDOUT");
	cr_assert_str_eq(respio_err_name(-ECONNREFUSED), "ECONNREFUSED");
	cr_assert_str_eq(respio_strerror(-ECONNREFUSED), strerror(ECONNREFUSED));
	cr_assert_str_eq(respio_strerror(0), "success");
	cr_assert_str_eq(respio_strerror(-999999), "unknown error");
	cr_assert_str_eq(respio_err_name(RESPIO_E_PROTOCOL), "RESPIO_E_PROTOCOL");
}

/* respio_submit's refusal: the message tells the caller where the command goes. */
Test(error, needs_session_names_the_way_out)
{
	cr_assert_eq(RESPIO_E_NEEDS_SESSION, -30016);
	cr_assert_str_eq(respio_err_name(RESPIO_E_NEEDS_SESSION), "RESPIO_E_NEEDS_SESSION");
	cr_assert(strstr(respio_strerror(RESPIO_E_NEEDS_SESSION), "shared connection"));
	cr_assert(strstr(respio_strerror(RESPIO_E_NEEDS_SESSION), "session"));
}

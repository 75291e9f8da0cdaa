/* SPDX-License-Identifier: MIT */
/* Splitting a typed line into arguments, with redis-cli's quoting rules. */
#ifndef RESPIO_CLI_SPLIT_H
#define RESPIO_CLI_SPLIT_H

#include <stddef.h>

/* Binary-safe arguments: argv[i] has lens[i] bytes plus a NUL we add. */
struct cli_args {
	int argc;
	char **argv;
	size_t *lens;
};

/*
 * Split line[0..len) at whitespace. "..." takes the escapes \n \r \t \b \a
 * \xHH and \<any> (the character itself); '...' takes only \'. A closing
 * quote must end the argument. Returns 0 (argc may be 0 for a blank line)
 * or -1 for unbalanced quotes, in which case *out is empty. The caller
 * frees *out with cli_args_free.
 */
int cli_split_line(const char *line, size_t len, struct cli_args *out);
void cli_args_free(struct cli_args *a);

#endif

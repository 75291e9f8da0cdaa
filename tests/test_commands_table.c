/* SPDX-License-Identifier: MIT */
/* The typed commands' written-out public prototypes agree with their table,
 * engine/commands.def: types at compile time, the lists at run time. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands_internal.h"

/*
 * Compile time: for every row, respio_<name> (respio/commands.h),
 * respio_<name>_async (respio/client.h) and the future reader of its
 * decoder have the types the row implies. A missing prototype is an
 * undeclared identifier, a different one an assertion naming it; either
 * fails the build, whatever the warning flags.
 */
#define READER_ok    respio_future_ok
#define READER_int   respio_future_integer
#define READER_bool  respio_future_bool
#define READER_str   respio_future_str
#define READER_strv  respio_future_strv
#define READER_pairs respio_future_strv

#define SAME_TYPE(fn, type) __builtin_types_compatible_p(__typeof__(fn), type)

#define RESPIO_COMMAND(name, NAME, shape, decoder)                                                 \
	_Static_assert(                                                                            \
	    SAME_TYPE(respio_##name,                                                               \
		      int(respio_target *, RESPIO__PARAMS_##shape RESPIO__OUT_##decoder)),         \
	    "respio_" #name " in respio/commands.h differs from its row");                         \
	_Static_assert(SAME_TYPE(respio_##name##_async,                                            \
				 int(respio_client *, RESPIO__PARAMS_##shape, respio_future **)),  \
		       "respio_" #name "_async in respio/client.h differs from its row");          \
	_Static_assert(                                                                            \
	    SAME_TYPE(READER_##decoder, int(const respio_future *RESPIO__OUT_##decoder)),          \
	    "the future reader for " #decoder " differs from its output");
#include "commands.def"
#undef RESPIO_COMMAND

/* Run time: every typed function the public headers declare is a row. */
static const char *const rows[] = {
#define RESPIO_COMMAND(name, NAME, shape, decoder) #name,
#include "commands.def"
#undef RESPIO_COMMAND
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

/* The untyped command that also takes a target: no row. */
static const char *const not_rows[] = {"respio_command"};

struct found {
	char name[64];
	char header[64];
};

/* Typed functions of one kind seen in the headers: sync or _async. */
struct seen {
	struct found f[128];
	size_t n;
};

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long len;

	cr_assert_not_null(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)len + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

/* The first parameter from p (just after '('), spaces dropped:
 * "respio_target *t" -> "respio_target*t". */
static void first_param(const char *p, char *out, size_t cap)
{
	size_t n = 0;

	for (; *p && *p != ',' && *p != ')' && n + 1 < cap; p++)
		if (!isspace((unsigned char)*p))
			out[n++] = *p;
	out[n] = '\0';
}

static bool is_not_row(const char *name)
{
	for (size_t i = 0; i < sizeof(not_rows) / sizeof(not_rows[0]); i++)
		if (strcmp(name, not_rows[i]) == 0)
			return true;
	return false;
}

static void add(struct seen *s, const char *name, const char *header)
{
	cr_assert_lt(s->n, sizeof(s->f) / sizeof(s->f[0]));
	snprintf(s->f[s->n].name, sizeof(s->f[s->n].name), "%s", name);
	snprintf(s->f[s->n].header, sizeof(s->f[s->n].header), "%s", header);
	s->n++;
}

/*
 * Every "RESPIO_API ... respio_<x>(first, ..." in text: a typed blocking
 * command when first is a respio_target *, a typed future when x ends in
 * _async and first is a respio_client *.
 */
static void scan(const char *text, const char *header, struct seen *sync, struct seen *async)
{
	for (const char *p = strstr(text, "RESPIO_API"); p; p = strstr(p + 1, "RESPIO_API")) {
		const char *paren = strchr(p, '('), *end, *start;
		char name[64], param[64];
		size_t len;

		if (!paren)
			break;
		end = paren;
		while (end > p && isspace((unsigned char)end[-1]))
			end--;
		start = end;
		while (start > p && (isalnum((unsigned char)start[-1]) || start[-1] == '_'))
			start--;
		len = (size_t)(end - start);
		if (len == 0 || len >= sizeof(name))
			continue;
		memcpy(name, start, len);
		name[len] = '\0';
		first_param(paren + 1, param, sizeof(param));
		if (strncmp(param, "respio_target*", 14) == 0 && !is_not_row(name))
			add(sync, name, header);
		else if (strncmp(param, "respio_client*", 14) == 0 && len > 6 &&
			 strcmp(name + len - 6, "_async") == 0)
			add(async, name, header);
	}
}

/* Every public header: respio.h and each one in respio/. */
static void scan_headers(struct seen *sync, struct seen *async)
{
	const char *dir = RESPIO_INCLUDE_DIR "/respio";
	struct dirent *e;
	char path[512];
	char *text;
	DIR *d;

	text = slurp(RESPIO_INCLUDE_DIR "/respio.h");
	scan(text, "respio.h", sync, async);
	free(text);
	d = opendir(dir);
	cr_assert_not_null(d, "cannot open %s", dir);
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (len < 3 || strcmp(e->d_name + len - 2, ".h") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		text = slurp(path);
		scan(text, e->d_name, sync, async);
		free(text);
	}
	closedir(d);
}

static const struct found *find(const struct seen *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->f[i].name, name) == 0)
			return &s->f[i];
	return NULL;
}

static bool is_row(const char *fn, const char *suffix)
{
	for (size_t i = 0; i < NROWS; i++) {
		char want[64];

		snprintf(want, sizeof(want), "respio_%s%s", rows[i], suffix);
		if (strcmp(fn, want) == 0)
			return true;
	}
	return false;
}

/* Each kind in the headers is exactly the rows, each once, and no more. */
static void check(const struct seen *s, const char *suffix, const char *where)
{
	for (size_t i = 0; i < s->n; i++) {
		cr_expect(is_row(s->f[i].name, suffix),
			  "%s (in %s) is a typed command with no row in engine/commands.def",
			  s->f[i].name, s->f[i].header);
		for (size_t j = 0; j < i; j++)
			cr_expect_str_neq(s->f[i].name, s->f[j].name, "%s declared twice",
					  s->f[i].name);
	}
	for (size_t i = 0; i < NROWS; i++) {
		char want[64];

		snprintf(want, sizeof(want), "respio_%s%s", rows[i], suffix);
		cr_expect_not_null(find(s, want), "row %s: no %s prototype in %s", rows[i], want,
				   where);
	}
	cr_assert_eq(s->n, NROWS, "%zu typed respio_*%s functions in the headers, %zu rows", s->n,
		     suffix, (size_t)NROWS);
}

Test(commands_table, every_blocking_command_is_a_row)
{
	struct seen sync = {0}, async = {0};

	scan_headers(&sync, &async);
	check(&sync, "", "respio/commands.h");
}

Test(commands_table, every_future_command_is_a_row)
{
	struct seen sync = {0}, async = {0};

	scan_headers(&sync, &async);
	check(&async, "_async", "respio/client.h");
}

/* The scanner itself: it finds what it should, whatever the line breaks. */
Test(commands_table, scanner_reads_wrapped_prototypes)
{
	struct seen sync = {0}, async = {0};

	scan("RESPIO_API int\nrespio_x(respio_target\n *t, int a);\n"
	     "RESPIO_API int respio_command(respio_target *t, int argc);\n"
	     "RESPIO_API int respio_x_async(respio_client *c, respio_future **out);\n"
	     "RESPIO_API int respio_submit(respio_client *c, int argc);\n"
	     "RESPIO_API const respio_reply *respio_future_reply(const respio_future *f);\n",
	     "test", &sync, &async);
	cr_assert_eq(sync.n, 1);
	cr_assert_str_eq(sync.f[0].name, "respio_x");
	cr_assert_eq(async.n, 1);
	cr_assert_str_eq(async.f[0].name, "respio_x_async");
}

/* Arguments of each shape; the lists hold 9 items, more than fit inline,
 * so their builders allocate. */
static const char *const nine[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};

#define SAMPLE_key	   "k", 1
#define SAMPLE_key_int	   SAMPLE_key, 5
#define SAMPLE_key_arg	   SAMPLE_key, "a", 1
#define SAMPLE_key_arg_arg SAMPLE_key_arg, "b", 1
#define SAMPLE_key_arg_px  SAMPLE_key_arg, 5
#define SAMPLE_keys	   9, nine, NULL
#define SAMPLE_key_args	   SAMPLE_key, SAMPLE_keys

/*
 * Every row, blocking with no target and as a future with no client and no
 * *out: RESPIO_E_INVAL, and the argv built for it freed. Regression: the
 * _async commands leaked a heap argv (more than 8 arguments) when out was
 * NULL; the leak checker of the sanitizer builds sees it here.
 */
Test(commands_table, every_row_rejects_no_target_and_no_out)
{
	long long n = 7;
	bool b = true;
	respio_str s = {0};
	respio_strv v = {0};

#define OUT_ok
#define OUT_int	  , &n
#define OUT_bool  , &b
#define OUT_str	  , &s
#define OUT_strv  , &v
#define OUT_pairs , &v
#define RESPIO_COMMAND(name, NAME, shape, decoder)                                                 \
	cr_expect_eq(respio_##name(NULL, SAMPLE_##shape OUT_##decoder), RESPIO_E_INVAL, #name);    \
	cr_expect_eq(respio_##name##_async(NULL, SAMPLE_##shape, NULL), RESPIO_E_INVAL,            \
		     #name "_async");
#include "commands.def"
#undef RESPIO_COMMAND
	cr_expect_eq(n, 0, "outputs are cleared");
	cr_expect_not(b);
}

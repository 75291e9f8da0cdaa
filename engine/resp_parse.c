/* SPDX-License-Identifier: MIT */
/* The incremental RESP2/RESP3 parser: bytes in any pieces, one reply arena out. */
#include <errno.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "reply_internal.h"
#include "resp_parse_internal.h"

/*
 * How it works
 *
 * feed() is a byte-level state machine that resumes exactly where the last
 * call stopped, so a reply split at any byte costs no rescanning. Numbers
 * (lengths, integers) are accumulated digit by digit and never buffered;
 * text (lines and bulk bodies) is copied straight into the parser's byte
 * scratch, which is where the reply's strings will be copied from, so the
 * caller's buffer is never referenced after feed() returns.
 *
 * Every value becomes one "pnode", appended in pre-order to a scratch vector
 * (indices and offsets, not pointers: both vectors move when they grow).
 * Nesting is tracked by an explicit frame stack holding how many values each
 * open aggregate still expects. When the last value of the root arrives the
 * arena size is exactly known (nodes * sizeof(node) + string bytes), and
 * build() lays the tree out in one pass: each aggregate reserves its run of
 * contiguous child slots from a bump pointer, and the same frame stack walks
 * the pre-order list to fill them. No recursion anywhere.
 *
 * Definitions the header promises:
 *
 * - Depth: every aggregate header (array, map, set, push, attribute; empty
 *   ones included, null arrays not) opens one level. At most max_depth
 *   levels may be open at once: with max_depth 64, 64 nested arrays around
 *   a scalar are accepted and 65 are not. A top-level scalar is at depth 0.
 * - max_elements bounds the count in an aggregate header (pairs for maps
 *   and attributes, as respio_reply_len() reports them).
 * - max_bulk_len bounds every string: bulk, blob error, verbatim (the
 *   whole body with its "fmt:" prefix), and also simple strings, simple
 *   errors, big numbers and doubles, which are lines without a length: a
 *   line that grows past it without a CRLF fails instead of growing memory.
 * - max_reply_bytes bounds the arena, i.e. respio_parser_reply_size():
 *   sizeof(node) per value plus each string's length + 1. Every header
 *   charges what it commits to (an aggregate its child slots, a string its
 *   length) before anything of that size is allocated.
 *
 * Syntax decisions (Redis never sends the disputed forms; these follow the
 * RESP3 spec where it speaks, and are strict otherwise):
 *
 * - Numbers are canonical decimal: no leading zeros ("$03", ":007" fail;
 *   "0" and ":-0" are fine), which also bounds a number's length.
 * - Integers (':') and doubles (',') may carry a '+' sign, as the spec
 *   allows; lengths may not. Only '$' and '*' may be -1 (null).
 * - Doubles: [+-]? then "inf", "nan" or digits[.digits][(e|E)[+-]digits].
 * - Big numbers: [+-]? digits.
 * - A bare CR inside a line is an error; a bare LF is kept as text.
 * - Two attributes in a row before one value are rejected.
 * - Streamed RESP3 strings and aggregates ('?' lengths, ';', '.') are
 *   protocol errors.
 *
 * Error offsets: RESPIO_E_PROTOCOL points at the first byte that cannot be
 * part of a valid reply. RESPIO_E_LIMIT points at the type byte of the value
 * whose header (or line) broke the limit.
 */

/* Scratch beyond this is released after the reply that needed it, so one
 * huge reply does not pin memory for the life of the connection. */
#define SCRATCH_KEEP_BYTES (1u << 20)
#define SCRATCH_KEEP_NODES (SCRATCH_KEEP_BYTES / sizeof(struct pnode))

/* Scratch reserved for a bulk body on its header; the rest follows the data. */
#define BULK_PREALLOC ((uint64_t)64 << 10)

static int fail(respio_parser *p, int err, const char *reason, uint64_t at)
{
	p->st = ST_ERROR;
	p->err = err;
	p->reason = reason;
	p->err_off = at;
	return err;
}

void respio__parser_begin_reply(respio_parser *p)
{
	if (p->bytes_cap > SCRATCH_KEEP_BYTES) {
		free(p->bytes);
		p->bytes = NULL;
		p->bytes_cap = 0;
	}
	if (p->nodes_cap > SCRATCH_KEEP_NODES) {
		free(p->nodes);
		p->nodes = NULL;
		p->nodes_cap = 0;
	}
	p->nnodes = 0;
	p->nbytes = 0;
	p->acct = 0;
	p->off = 0;
	p->sp = 0;
	memset(&p->stack[0], 0, sizeof(p->stack[0]));
	p->stack[0].remaining = 1;
	p->st = ST_TYPE;
}

int respio_parser_create(const respio_limits *limits, respio_parser **out)
{
	respio_parser *p;

	if (!out)
		return RESPIO_E_INVAL;
	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	respio__limits_fill(&p->lim, limits);
	p->stack_cap = 8;
	p->stack = malloc(p->stack_cap * sizeof(*p->stack));
	if (!p->stack) {
		free(p);
		return -ENOMEM;
	}
	p->cloc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	respio__parser_begin_reply(p);
	*out = p;
	return 0;
}

void respio_parser_destroy(respio_parser *p)
{
	if (!p)
		return;
	if (p->cloc)
		freelocale(p->cloc);
	free(p->nodes);
	free(p->bytes);
	free(p->stack);
	free(p);
}

void respio_parser_reset(respio_parser *p)
{
	p->err = 0;
	p->reason = NULL;
	p->err_off = 0;
	respio__parser_begin_reply(p);
}

uint64_t respio_parser_error_offset(const respio_parser *p)
{
	return p->err_off;
}

const char *respio_parser_error_reason(const respio_parser *p)
{
	return p->reason ? p->reason : "no error";
}

/* Charge units * size arena bytes, failing before anything is allocated. */
static int charge(respio_parser *p, uint64_t units, uint64_t size)
{
	uint64_t room = p->lim.max_reply_bytes - p->acct, bytes;

	/* A multiply with an overflow check, not a division: this runs for
	 * every header on the hot path. */
	if (__builtin_mul_overflow(units, size, &bytes) || bytes > room)
		return fail(p, RESPIO_E_LIMIT, "reply exceeds max_reply_bytes", p->type_off);
	p->acct += bytes;
	return 0;
}

static int reserve_bytes(respio_parser *p, uint64_t need)
{
	size_t cap;
	char *nb;

	if (need <= p->bytes_cap)
		return 0;
	if (need > SIZE_MAX / 2)
		return fail(p, -ENOMEM, "out of memory", p->type_off);
	cap = p->bytes_cap + p->bytes_cap / 2;
	if (cap < 256)
		cap = 256;
	if (cap < need)
		cap = (size_t)need;
	nb = realloc(p->bytes, cap);
	if (!nb)
		return fail(p, -ENOMEM, "out of memory", p->type_off);
	p->bytes = nb;
	p->bytes_cap = cap;
	return 0;
}

static struct pnode *push_node(respio_parser *p, enum respio_reply_type type)
{
	struct pnode *n;

	if (p->nnodes == p->nodes_cap) {
		size_t cap = p->nodes_cap ? p->nodes_cap * 2 : 16;
		struct pnode *nn = realloc(p->nodes, cap * sizeof(*nn));

		if (!nn) {
			fail(p, -ENOMEM, "out of memory", p->type_off);
			return NULL;
		}
		p->nodes = nn;
		p->nodes_cap = cap;
	}
	n = &p->nodes[p->nnodes++];
	memset(n, 0, sizeof(*n));
	n->type = (uint8_t)type;
	return n;
}

/*
 * A value ended. Pop every aggregate it completes. Returns 1 when the root
 * is complete, else 0. An attribute fills no slot: it only marks its frame
 * so the value that follows gets it.
 */
static int value_done(respio_parser *p, int is_attr)
{
	for (;;) {
		struct frame *f = &p->stack[p->sp];

		if (is_attr) {
			f->attr_pending = 1;
			return 0;
		}
		f->attr_pending = 0;
		if (--f->remaining)
			return 0;
		if (!p->sp)
			return 1;
		is_attr = f->is_attr;
		p->sp--;
	}
}

static int scalar(respio_parser *p, enum respio_reply_type type, long long v)
{
	struct pnode *n = push_node(p, type);

	if (!n)
		return p->err;
	n->v.i = v;
	return value_done(p, 0);
}

static int on_type(respio_parser *p, unsigned char c, uint64_t at)
{
	p->type = c;
	p->type_off = at;
	/* The root's own node is charged when its first byte arrives; every
	 * other node was charged by its parent's header. */
	if (at == 0 && charge(p, 1, sizeof(respio_reply)))
		return p->err;
	switch (c) {
	case '+':
	case '-':
	case '(':
	case ',':
		p->str_off = p->nbytes;
		p->str_len = 0;
		p->st = ST_LINE;
		return 0;
	case '|':
		if (p->stack[p->sp].attr_pending)
			return fail(p, RESPIO_E_PROTOCOL, "attribute followed by another attribute",
				    at);
		/* fallthrough */
	case ':':
	case '$':
	case '*':
	case '%':
	case '~':
	case '>':
	case '!':
	case '=':
		p->num = 0;
		p->num_digits = 0;
		p->num_neg = 0;
		p->num_sign = 0;
		p->num_max = INT64_MAX;
		p->st = ST_NUM;
		return 0;
	case '#': p->st = ST_BOOL; return 0;
	case '_': p->st = ST_CR; return 0;
	default: return fail(p, RESPIO_E_PROTOCOL, "invalid type byte", at);
	}
}

/* A sign where a number may start. Only ':' is signed; '$' and '*' may be
 * -1 (null), which the digit loop enforces. */
static int num_sign(respio_parser *p, unsigned char c, uint64_t at)
{
	if (c == '-') {
		if (p->type == ':') {
			p->num_max = (uint64_t)INT64_MAX + 1;
		} else if (p->type != '$' && p->type != '*') {
			return fail(p, RESPIO_E_PROTOCOL, "null length not allowed for this type",
				    at);
		}
		p->num_neg = 1;
		p->num_sign = 1;
		return 0;
	}
	if (c == '+') {
		if (p->type != ':')
			return fail(p, RESPIO_E_PROTOCOL, "sign '+' in a length", at);
		p->num_sign = 1;
		return 0;
	}
	if (c == '?')
		return fail(p, RESPIO_E_PROTOCOL, "streamed RESP3 types not supported", at);
	return fail(p, RESPIO_E_PROTOCOL, "invalid character in number", at);
}

static int on_num(respio_parser *p, const char *buf, size_t len, size_t *pi)
{
	size_t i;

	for (i = *pi; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];
		unsigned d = (unsigned)c - '0';

		if (d <= 9) {
			if (p->num_digits && !p->num)
				return fail(p, RESPIO_E_PROTOCOL, "leading zero in number",
					    p->off + i);
			if (p->num_neg && p->type != ':' && (d != 1 || p->num_digits))
				return fail(p, RESPIO_E_PROTOCOL, "negative length other than -1",
					    p->off + i);
			if (p->num > (p->num_max - d) / 10)
				return fail(p, RESPIO_E_PROTOCOL, "integer overflow", p->off + i);
			p->num = p->num * 10 + d;
			p->num_digits++;
			continue;
		}
		if (c == '\r') {
			if (!p->num_digits)
				return fail(p, RESPIO_E_PROTOCOL, "empty number", p->off + i);
			p->st = ST_NUM_LF;
			*pi = i + 1;
			return 0;
		}
		if (p->num_digits || p->num_sign)
			return fail(p, RESPIO_E_PROTOCOL, "invalid character in number",
				    p->off + i);
		if (num_sign(p, c, p->off + i))
			return p->err;
	}
	*pi = i;
	return 0;
}

static int bulk_start(respio_parser *p, enum respio_reply_type type, uint64_t at_body)
{
	uint64_t n = p->num;
	struct pnode *node;

	if (n > p->lim.max_bulk_len)
		return fail(p, RESPIO_E_LIMIT, "string length exceeds max_bulk_len", p->type_off);
	if (p->type == '=' && n < 4)
		return fail(p, RESPIO_E_PROTOCOL, "verbatim string shorter than its format",
			    p->type_off + 1);
	/* The arena keeps a verbatim's text without its 4-byte "fmt:" prefix,
	 * so that is what it is charged; scratch briefly holds the prefix.
	 * Scratch for a large body grows as the body arrives rather than on
	 * the header's word, so a peer that announces 500 MB and sends
	 * nothing costs 64 KiB, not 500 MB. */
	if (charge(p, p->type == '=' ? n - 3 : n + 1, 1) ||
	    reserve_bytes(p, p->nbytes + (n < BULK_PREALLOC ? n + 1 : BULK_PREALLOC)))
		return p->err;
	node = push_node(p, type);
	if (!node)
		return p->err;
	node->n = n;
	node->off = p->nbytes;
	p->str_off = p->nbytes;
	p->str_len = 0;
	p->nbytes += n + 1;
	p->bulk_left = n;
	p->body_off = at_body;
	p->st = n ? ST_BULK : ST_CR;
	return 0;
}

static int agg_start(respio_parser *p, enum respio_reply_type type, int is_attr)
{
	uint64_t count = p->num, slots;
	struct pnode *node;
	struct frame *f;

	if (count > p->lim.max_elements)
		return fail(p, RESPIO_E_LIMIT, "aggregate exceeds max_elements", p->type_off);
	if (p->sp >= p->lim.max_depth)
		return fail(p, RESPIO_E_LIMIT, "nesting exceeds max_depth", p->type_off);
	if (type == RESPIO_REPLY_MAP && count > UINT64_MAX / 2)
		return fail(p, RESPIO_E_LIMIT, "reply exceeds max_reply_bytes", p->type_off);
	slots = type == RESPIO_REPLY_MAP ? count * 2 : count;
	/* An attribute's own node fills no parent slot, so it pays for itself. */
	if (is_attr && charge(p, 1, sizeof(respio_reply)))
		return p->err;
	if (charge(p, slots, sizeof(respio_reply)))
		return p->err;
	node = push_node(p, type);
	if (!node)
		return p->err;
	node->attr = (uint8_t)is_attr;
	node->n = slots;
	if (!slots)
		return value_done(p, is_attr);
	if (p->sp + 1 == p->stack_cap) {
		size_t cap = p->stack_cap * 2;
		struct frame *ns = realloc(p->stack, cap * sizeof(*ns));

		if (!ns)
			return fail(p, -ENOMEM, "out of memory", p->type_off);
		p->stack = ns;
		p->stack_cap = cap;
	}
	f = &p->stack[++p->sp];
	memset(f, 0, sizeof(*f));
	f->remaining = slots;
	f->is_attr = (uint8_t)is_attr;
	return 0;
}

/* The LF after a number: the header is complete. */
static int num_done(respio_parser *p, uint64_t at_next)
{
	long long v;

	switch (p->type) {
	case ':':
		if (!p->num_neg)
			v = (long long)p->num;
		else if (p->num > (uint64_t)INT64_MAX)
			v = INT64_MIN;
		else
			v = -(long long)p->num;
		return scalar(p, RESPIO_REPLY_INTEGER, v);
	case '$':
		if (p->num_neg)
			return scalar(p, RESPIO_REPLY_NIL, 0);
		return bulk_start(p, RESPIO_REPLY_STRING, at_next);
	case '!': return bulk_start(p, RESPIO_REPLY_ERROR, at_next);
	case '=': return bulk_start(p, RESPIO_REPLY_VERBATIM, at_next);
	case '*':
		if (p->num_neg)
			return scalar(p, RESPIO_REPLY_NIL, 0);
		return agg_start(p, RESPIO_REPLY_ARRAY, 0);
	case '%': return agg_start(p, RESPIO_REPLY_MAP, 0);
	case '~': return agg_start(p, RESPIO_REPLY_SET, 0);
	case '>': return agg_start(p, RESPIO_REPLY_PUSH, 0);
	default: /* '|' */ return agg_start(p, RESPIO_REPLY_MAP, 1);
	}
}

/* Index of the first byte that breaks [+-]?digits, or -1 if s is valid. */
static long bad_bignum(const char *s, size_t len)
{
	size_t j = 0;

	if (j < len && (s[j] == '+' || s[j] == '-'))
		j++;
	if (j == len)
		return (long)j;
	for (; j < len; j++)
		if (s[j] < '0' || s[j] > '9')
			return (long)j;
	return -1;
}

static size_t skip_digits(const char *s, size_t j, size_t len)
{
	while (j < len && s[j] >= '0' && s[j] <= '9')
		j++;
	return j;
}

/* Index of the first byte that breaks the double grammar, or -1. */
static long bad_double(const char *s, size_t len)
{
	size_t j = 0, k;

	if (j < len && (s[j] == '+' || s[j] == '-'))
		j++;
	if (j < len && (s[j] == 'i' || s[j] == 'n')) {
		const char *word = s[j] == 'i' ? "inf" : "nan";

		for (k = 0; k < 3; k++, j++)
			if (j >= len || s[j] != word[k])
				return (long)j;
		return j == len ? -1 : (long)j;
	}
	k = skip_digits(s, j, len);
	if (k == j)
		return (long)j;
	j = k;
	if (j < len && s[j] == '.') {
		k = skip_digits(s, j + 1, len);
		if (k == j + 1)
			return (long)k;
		j = k;
	}
	if (j < len && (s[j] == 'e' || s[j] == 'E')) {
		j++;
		if (j < len && (s[j] == '+' || s[j] == '-'))
			j++;
		k = skip_digits(s, j, len);
		if (k == j)
			return (long)j;
		j = k;
	}
	return j == len ? -1 : (long)j;
}

/* The LF that must follow a header's or a line's CR; then a new value. */
static int expect_lf(respio_parser *p, const char *buf, size_t *pi)
{
	if (buf[*pi] != '\n')
		return fail(p, RESPIO_E_PROTOCOL, "CR not followed by LF", p->off + *pi);
	(*pi)++;
	p->st = ST_TYPE;
	return 0;
}

/* The LF after a text line. */
static int line_done(respio_parser *p)
{
	char *s = p->bytes + p->str_off;
	uint64_t n = p->str_len;
	enum respio_reply_type type;
	struct pnode *node;
	long bad;
	double d = 0;

	/* ST_LINE already checked that n + 1 fits; the bytes are there. */
	s[n] = '\0';
	switch (p->type) {
	case '+': type = RESPIO_REPLY_STATUS; break;
	case '-': type = RESPIO_REPLY_ERROR; break;
	case '(':
		type = RESPIO_REPLY_BIGNUM;
		bad = bad_bignum(s, n);
		if (bad >= 0)
			return fail(p, RESPIO_E_PROTOCOL, "invalid big number",
				    p->type_off + 1 + (uint64_t)bad);
		break;
	default: /* ',' */
		type = RESPIO_REPLY_DOUBLE;
		bad = bad_double(s, n);
		if (bad >= 0)
			return fail(p, RESPIO_E_PROTOCOL, "invalid double",
				    p->type_off + 1 + (uint64_t)bad);
		d = p->cloc ? strtod_l(s, NULL, p->cloc) : strtod(s, NULL);
		break;
	}
	p->acct += n + 1;
	p->nbytes = p->str_off + n + 1;
	node = push_node(p, type);
	if (!node)
		return p->err;
	node->n = n;
	node->off = p->str_off;
	node->v.d = d;
	return value_done(p, 0);
}

static int on_line(respio_parser *p, const char *buf, size_t len, size_t *pi)
{
	size_t i = *pi, n;
	const char *cr = memchr(buf + i, '\r', len - i);
	uint64_t room = p->lim.max_reply_bytes - p->acct;

	n = cr ? (size_t)(cr - (buf + i)) : len - i;
	if (p->str_len + n > p->lim.max_bulk_len)
		return fail(p, RESPIO_E_LIMIT, "line exceeds max_bulk_len", p->type_off);
	if (p->str_len + n + 1 > room)
		return fail(p, RESPIO_E_LIMIT, "reply exceeds max_reply_bytes", p->type_off);
	if (reserve_bytes(p, p->str_off + p->str_len + n + 1))
		return p->err;
	memcpy(p->bytes + p->str_off + p->str_len, buf + i, n);
	p->str_len += n;
	i += n;
	if (cr) {
		p->st = ST_LINE_LF;
		i++;
	}
	*pi = i;
	return 0;
}

/* The LF after a bulk body, a boolean or '_'. */
static int scalar_done(respio_parser *p)
{
	struct pnode *node;

	switch (p->type) {
	case '_': return scalar(p, RESPIO_REPLY_NIL, 0);
	case '#': return scalar(p, RESPIO_REPLY_BOOL, p->bool_v);
	case '=':
		node = &p->nodes[p->nnodes - 1];
		if (p->bytes[p->str_off + 3] != ':')
			return fail(p, RESPIO_E_PROTOCOL, "verbatim string without format",
				    p->body_off + 3);
		/* Keep only the text: the format moves into the node. */
		memcpy(node->fmt, p->bytes + p->str_off, 3);
		node->fmt[3] = '\0';
		node->n -= 4;
		memmove(p->bytes + p->str_off, p->bytes + p->str_off + 4, node->n);
		p->bytes[p->str_off + node->n] = '\0';
		p->nbytes -= 4;
		return value_done(p, 0);
	default: /* '$', '!' */ p->bytes[p->str_off + p->str_len] = '\0'; return value_done(p, 0);
	}
}

/*
 * The loop dispatches on the state once per step, and a step that leaves the
 * state its successor will need with bytes still in hand jumps straight on
 * (type byte -> number/line -> LF -> bulk body -> CR -> LF), so a complete
 * "+OK\r\n" or "$3\r\nfoo\r\n" costs one dispatch, not one per byte.
 */
int respio_parser_feed(respio_parser *p, const char *buf, size_t len, size_t *consumed)
{
	size_t i = 0, n;
	unsigned char c;
	int rc = 0;

	if (p->st == ST_ERROR) {
		*consumed = 0;
		return p->err;
	}
	if (p->st == ST_DONE) /* the previous reply was never collected */
		respio__parser_begin_reply(p);

	while (i < len) {
		switch (p->st) {
		case ST_TYPE:
			rc = on_type(p, (unsigned char)buf[i], p->off + i);
			i++;
			if (rc || i == len)
				break;
			if (p->st == ST_NUM)
				goto num;
			if (p->st == ST_LINE)
				goto line;
			break;
		case ST_NUM:
		num:
			rc = on_num(p, buf, len, &i);
			if (rc || i == len || p->st != ST_NUM_LF)
				break;
			/* fallthrough */
		case ST_NUM_LF:
			rc = expect_lf(p, buf, &i);
			if (rc)
				break;
			rc = num_done(p, p->off + i);
			if (rc || i == len || p->st != ST_BULK)
				break;
			goto bulk;
		case ST_LINE:
		line:
			rc = on_line(p, buf, len, &i);
			if (rc || i == len || p->st != ST_LINE_LF)
				break;
			/* fallthrough */
		case ST_LINE_LF:
			rc = expect_lf(p, buf, &i);
			if (rc)
				break;
			rc = line_done(p);
			break;
		case ST_BULK:
		bulk:
			/* One memcpy per piece: the body never goes through the
			 * byte loop. */
			n = len - i;
			if (n > p->bulk_left)
				n = (size_t)p->bulk_left;
			/* Room for this piece and the closing NUL. */
			if (reserve_bytes(p, p->str_off + p->str_len + n + 1)) {
				rc = p->err;
				break;
			}
			memcpy(p->bytes + p->str_off + p->str_len, buf + i, n);
			p->str_len += n;
			p->bulk_left -= n;
			i += n;
			if (p->bulk_left)
				break;
			p->st = ST_CR;
			if (i == len)
				break;
			/* fallthrough */
		case ST_CR:
			if (buf[i] != '\r') {
				rc = fail(p, RESPIO_E_PROTOCOL,
					  p->type == '#' || p->type == '_'
					      ? "expected CR"
					      : "bulk string not followed by CRLF",
					  p->off + i);
				break;
			}
			i++;
			p->st = ST_LF;
			if (i == len)
				break;
			/* fallthrough */
		case ST_LF:
			if (buf[i] != '\n') {
				rc =
				    fail(p, RESPIO_E_PROTOCOL, "CR not followed by LF", p->off + i);
				break;
			}
			i++;
			p->st = ST_TYPE;
			rc = scalar_done(p);
			break;
		case ST_BOOL:
			c = (unsigned char)buf[i];
			if (c != 't' && c != 'f') {
				rc = fail(p, RESPIO_E_PROTOCOL, "invalid boolean", p->off + i);
				break;
			}
			p->bool_v = c == 't';
			p->st = ST_CR;
			i++;
			break;
		default:
			rc = p->err; /* unreachable: ST_DONE/ST_ERROR exit the loop */
			break;
		}
		if (rc) {
			if (rc < 0) {
				*consumed = 0; /* the stream is unusable now */
				return rc;
			}
			p->st = ST_DONE;
			*consumed = i;
			return 1;
		}
	}
	p->off += len;
	*consumed = len;
	return 0;
}

// SPDX-License-Identifier: Apache-2.0
/*
 * YAML policy text -> struct pc_policy, reporting every error as
 * FILE:LINE:COL.  The parser reads libyaml's event stream rather than
 * loading a document tree, so a 100,000-rule file costs its model and not
 * a node per scalar; names are resolved after the whole file is read, so
 * sections may come in any order.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "portcullis/maps.h"
#include "policy.h"

enum ref_kind { REF_FROM, REF_TO, REF_INCLUDE };

/* A name (or inline CIDR) that is resolved once every name is known. */
struct ref {
	size_t owner; /* rule index, or identity index for REF_INCLUDE */
	size_t pos;   /* slot in the owner's from / to / includes */
	char *name;   /* NULL: an inline CIDR */
	struct pc_prefix cidr;
	struct pc_loc loc;
	uint8_t kind;
};

/* A test case as written, resolved with the names. */
struct raw_test {
	char *from, *to;
	struct pc_loc from_loc, to_loc;
};

/* Names sorted for lookup: identities (0) and services (1). */
struct name_ix {
	const char *name;
	size_t idx;
};

struct pctx {
	yaml_parser_t parser;
	yaml_event_t ev;
	int have;    /* ev holds an event not yet consumed */
	int stopped; /* a YAML syntax error, or too many errors */
	const char *file;
	struct pc_diags *d;
	size_t errors0; /* d->nerrors when this parse began */
	struct pc_policy *pol;
	size_t cap_ids, cap_svcs, cap_rules, cap_tests, cap_raw;
	struct ref *refs;
	size_t nrefs, cap_refs;
	struct raw_test *raw_tests;
	struct name_ix *ix[2];
};

/* ---- diagnostics and the event stream ------------------------------- */

__attribute__((format(printf, 3, 4))) static void
fail(struct pctx *c, const struct pc_loc *loc, const char *fmt, ...)
{
	char msg[PC_ERR_LEN];
	va_list ap;

	if (c->stopped)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pc_diag_add(c->d, 0, c->file, loc, "%s", msg);
	if (c->d->nerrors - c->errors0 >= PC_MAX_ERRORS) {
		pc_diag_add(c->d, 0, c->file, NULL,
			    "too many errors, stopping");
		c->stopped = 1;
	}
}

static struct pc_loc loc_of(const yaml_event_t *e)
{
	return (struct pc_loc){(int)e->start_mark.line + 1,
			       (int)e->start_mark.column + 1};
}

/* The next event, read if need be; NULL once parsing has stopped. */
static yaml_event_t *peek(struct pctx *c)
{
	if (c->stopped)
		return NULL;
	if (!c->have) {
		if (!yaml_parser_parse(&c->parser, &c->ev)) {
			struct pc_loc loc = {
				(int)c->parser.problem_mark.line + 1,
				(int)c->parser.problem_mark.column + 1};

			fail(c, &loc, "%s",
			     c->parser.problem ? c->parser.problem
					       : "malformed YAML");
			c->stopped = 1;
			return NULL;
		}
		c->have = 1;
	}
	return &c->ev;
}

static void take(struct pctx *c)
{
	if (c->have) {
		yaml_event_delete(&c->ev);
		c->have = 0;
	}
}

/* Consume one whole value: a scalar, or a mapping or sequence. */
static void skip(struct pctx *c)
{
	int depth = 0;
	yaml_event_t *e;

	do {
		if (!(e = peek(c)))
			return;
		if (e->type == YAML_MAPPING_START_EVENT ||
		    e->type == YAML_SEQUENCE_START_EVENT)
			depth++;
		else if (e->type == YAML_MAPPING_END_EVENT ||
			 e->type == YAML_SEQUENCE_END_EVENT)
			depth--;
		take(c);
	} while (depth > 0);
}

static int is_empty_scalar(const yaml_event_t *e)
{
	return e->type == YAML_SCALAR_EVENT && !e->data.scalar.length &&
	       e->data.scalar.plain_implicit;
}

/*
 * The next value as a string, if it is a scalar: valid until take().
 * Otherwise report "expected WHAT", consume the value and return NULL.
 */
static const char *want_scalar(struct pctx *c, const char *what,
			       struct pc_loc *loc)
{
	yaml_event_t *e = peek(c);

	if (!e)
		return NULL;
	*loc = loc_of(e);
	if (e->type == YAML_SCALAR_EVENT) {
		if (memchr(e->data.scalar.value, '\0', e->data.scalar.length)) {
			fail(c, loc, "NUL byte in a string");
			take(c);
			return NULL;
		}
		return (const char *)e->data.scalar.value;
	}
	if (e->type == YAML_ALIAS_EVENT)
		fail(c, loc, "aliases (*name) are not supported");
	else
		fail(c, loc, "expected %s", what);
	skip(c);
	return NULL;
}

typedef void (*pair_fn)(struct pctx *c, const char *key,
			const struct pc_loc *kloc, void *arg);

/* Fields of a mapping checked for repeats: more than any mapping of the
 * language has (past them, unknown keys are errors already). */
#define PC_MAX_FIELDS 32

/*
 * Call fn for each key of a mapping; fn consumes the value.  An empty
 * value ("identities:") is an empty mapping when empty_ok: a mapping of
 * names, whose repeats are reported by name later.  Any other mapping is
 * of fields, and a field given twice is an error at the second (YAML
 * would let the last one win: "action: deny, action: allow" allows).
 */
static void for_each_pair(struct pctx *c, const char *what, int empty_ok,
			  pair_fn fn, void *arg)
{
	char seen[PC_MAX_FIELDS][80];
	size_t nseen = 0;
	yaml_event_t *e = peek(c);
	struct pc_loc loc;

	if (!e)
		return;
	loc = loc_of(e);
	if (e->type != YAML_MAPPING_START_EVENT) {
		if (e->type == YAML_ALIAS_EVENT)
			fail(c, &loc, "aliases (*name) are not supported");
		else if (!(empty_ok && is_empty_scalar(e)))
			fail(c, &loc, "%s must be a mapping", what);
		skip(c);
		return;
	}
	take(c);
	while ((e = peek(c)) && e->type != YAML_MAPPING_END_EVENT) {
		char key[80];
		const char *k = want_scalar(c, "a key", &loc);

		if (!k) {
			skip(c); /* the value */
			continue;
		}
		snprintf(key, sizeof(key), "%s", k);
		take(c);
		if (!empty_ok) {
			size_t i = 0;

			while (i < nseen && strcmp(seen[i], key))
				i++;
			if (i < nseen) {
				fail(c, &loc, "duplicate key \"%s\"", key);
				skip(c);
				continue;
			}
			if (nseen < PC_MAX_FIELDS)
				memcpy(seen[nseen++], key, sizeof(key));
		}
		fn(c, key, &loc, arg);
	}
	take(c);
}

typedef void (*item_fn)(struct pctx *c, void *arg);

/* Call fn for each item of a sequence, or once for a lone scalar. */
static void for_each_item(struct pctx *c, item_fn fn, void *arg)
{
	yaml_event_t *e = peek(c);
	struct pc_loc loc;

	if (!e)
		return;
	if (e->type == YAML_SEQUENCE_START_EVENT) {
		take(c);
		while ((e = peek(c)) && e->type != YAML_SEQUENCE_END_EVENT)
			fn(c, arg);
		take(c);
		return;
	}
	if (e->type == YAML_MAPPING_START_EVENT) {
		loc = loc_of(e);
		fail(c, &loc, "expected a list");
		skip(c);
		return;
	}
	fn(c, arg);
}

/* ---- names ------------------------------------------------------------ */

/* Levenshtein distance, for "did you mean" hints on short names. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];

	if (la >= 63 || lb >= 63)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;

			cur[j] = sub < del ? (sub < ins ? sub : ins)
					   : (del < ins ? del : ins);
		}
		memcpy(prev, cur, sizeof(prev));
	}
	return prev[lb];
}

/* Only digits, dots and colons: meant as an address, never a name. */
static int looks_like_address(const char *s)
{
	return strspn(s, "0123456789.") == strlen(s) || strchr(s, ':') ||
	       strchr(s, '/');
}

static int valid_name(const char *s)
{
	if (!*s || strlen(s) > 63 || !strcmp(s, "any") || looks_like_address(s))
		return 0;
	for (; *s; s++) {
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && *s != '-' && *s != '_' &&
		    *s != '.')
			return 0;
	}
	return 1;
}

static void bad_name(struct pctx *c, const struct pc_loc *loc, const char *s)
{
	fail(c, loc,
	     "bad name \"%s\" (letters, digits, '-', '_', '.', at most 63; "
	     "not \"any\" nor an address)",
	     s);
}

static void add_ref(struct pctx *c, enum ref_kind kind, size_t owner,
		    size_t pos, const char *name, const struct pc_prefix *cidr,
		    const struct pc_loc *loc)
{
	struct ref *r;

	pc_xgrow(&c->refs, &c->cap_refs, c->nrefs, sizeof(*c->refs));
	r = &c->refs[c->nrefs++];
	memset(r, 0, sizeof(*r));
	r->kind = (uint8_t)kind;
	r->owner = owner;
	r->pos = pos;
	r->loc = *loc;
	if (name)
		r->name = pc_strdup(name);
	else
		r->cidr = *cidr;
}

/* ---- identities and services ------------------------------------------ */

struct prefix_list {
	struct pc_prefix **v;
	size_t *n;
};

static int parse_cidr(struct pctx *c, const char *s, const struct pc_loc *loc,
		      struct pc_prefix *p)
{
	char why[160];

	if (pc_prefix_parse(s, p, why, sizeof(why))) {
		fail(c, loc, "bad CIDR \"%s\": %s", s, why);
		return -EINVAL;
	}
	return 0;
}

static void add_cidr(struct pctx *c, void *arg)
{
	struct prefix_list *l = arg;
	struct pc_loc loc;
	const char *s = want_scalar(c, "a CIDR such as 198.18.1.0/24", &loc);
	struct pc_prefix p;

	if (!s)
		return;
	if (!parse_cidr(c, s, &loc, &p)) {
		*l->v = realloc(*l->v, (*l->n + 1) * sizeof(p));
		if (!*l->v)
			abort();
		(*l->v)[(*l->n)++] = p;
	}
	take(c);
}

static void add_peer(struct pctx *c, void *arg)
{
	struct pc_identity *id = &c->pol->identities[*(size_t *)arg];
	struct pc_loc loc;
	const char *s = want_scalar(c, "a WireGuard public key", &loc);
	uint8_t key[PC_WG_KEY_LEN];

	if (!s)
		return;
	if (pc_wg_key_from_base64(s, key)) {
		fail(c, &loc,
		     "bad WireGuard public key \"%.60s\" (44 characters of "
		     "base64, as `wg pubkey` prints)",
		     s);
	} else {
		id->peers = realloc(id->peers, (id->npeers + 1) * sizeof(key));
		if (!id->peers)
			abort();
		memcpy(id->peers[id->npeers++], key, sizeof(key));
	}
	take(c);
}

static void add_include(struct pctx *c, void *arg)
{
	size_t idx = *(size_t *)arg;
	struct pc_identity *id = &c->pol->identities[idx];
	struct pc_loc loc;
	const char *s = want_scalar(c, "an identity name", &loc);

	if (!s)
		return;
	if (!valid_name(s)) {
		bad_name(c, &loc, s);
	} else {
		id->includes = realloc(id->includes,
				       (id->nincludes + 1) * sizeof(size_t));
		if (!id->includes)
			abort();
		id->includes[id->nincludes] = SIZE_MAX;
		add_ref(c, REF_INCLUDE, idx, id->nincludes++, s, NULL, &loc);
	}
	take(c);
}

static void identity_key(struct pctx *c, const char *key,
			 const struct pc_loc *kloc, void *arg)
{
	size_t idx = *(size_t *)arg;
	struct pc_identity *id = &c->pol->identities[idx];
	struct prefix_list l = {&id->cidrs, &id->ncidrs};

	if (!strcmp(key, "cidrs"))
		for_each_item(c, add_cidr, &l);
	else if (!strcmp(key, "peers"))
		for_each_item(c, add_peer, arg);
	else if (!strcmp(key, "include"))
		for_each_item(c, add_include, arg);
	else {
		fail(c, kloc,
		     "unknown key \"%s\" in identity \"%s\" (cidrs, peers, "
		     "include)",
		     key, id->name);
		skip(c);
	}
}

static void parse_identity(struct pctx *c, const char *name,
			   const struct pc_loc *kloc)
{
	struct pc_policy *pol = c->pol;
	size_t idx = pol->nidentities;
	struct pc_identity *id;

	pc_xgrow(&pol->identities, &c->cap_ids, idx, sizeof(*id));
	id = &pol->identities[pol->nidentities++];
	memset(id, 0, sizeof(*id));
	id->name = pc_strdup(name);
	size_t errors = c->d->nerrors;

	id->loc = *kloc;
	for_each_pair(c, "an identity", 0, identity_key, &idx);
	id = &pol->identities[idx];
	/* empty unless what made it empty was already reported */
	if (c->d->nerrors == errors && !id->ncidrs && !id->npeers &&
	    !id->nincludes)
		fail(c, kloc, "identity \"%s\" has no cidrs, peers or include",
		     name);
}

static const struct {
	const char *name;
	uint8_t proto;
} proto_names[] = {
	{"icmp", 1},	{"igmp", 2},   {"ipip", 4},	 {"tcp", 6},
	{"udp", 17},	{"gre", 47},   {"esp", 50},	 {"ah", 51},
	{"icmpv6", 58}, {"ospf", 89},  {"pim", 103},	 {"vrrp", 112},
	{"l2tp", 115},	{"sctp", 132}, {"udplite", 136},
};

const char *pc_proto_name(uint8_t proto)
{
	for (size_t i = 0; i < PC_ARRAY_SIZE(proto_names); i++)
		if (proto_names[i].proto == proto)
			return proto_names[i].name;
	return NULL;
}

static int parse_proto(const char *s, size_t len, uint8_t *proto)
{
	unsigned long v = 0;

	for (size_t i = 0; i < PC_ARRAY_SIZE(proto_names); i++) {
		if (strlen(proto_names[i].name) == len &&
		    !strncmp(s, proto_names[i].name, len)) {
			*proto = proto_names[i].proto;
			return 0;
		}
	}
	if (!len || len > 3)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 255)
		return -EINVAL;
	*proto = (uint8_t)v;
	return 0;
}

static int ported(uint8_t proto)
{
	return proto == 6 || proto == 17 || proto == 132 || proto == 136;
}

static int is_icmp(uint8_t proto)
{
	return proto == 1 || proto == 58;
}

static int parse_num(const char *s, size_t len, unsigned long max,
		     unsigned long *out)
{
	unsigned long v = 0;

	if (len == 0 || len > 5)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static const struct {
	const char *name;
	uint8_t v6, type;
} icmp_names[] = {
	{"echo-reply", 0, 0},
	{"destination-unreachable", 0, 3},
	{"redirect", 0, 5},
	{"echo-request", 0, 8},
	{"time-exceeded", 0, 11},
	{"parameter-problem", 0, 12},
	{"timestamp-request", 0, 13},
	{"timestamp-reply", 0, 14},
	{"destination-unreachable", 1, 1},
	{"packet-too-big", 1, 2},
	{"time-exceeded", 1, 3},
	{"parameter-problem", 1, 4},
	{"echo-request", 1, 128},
	{"echo-reply", 1, 129},
};

/* ICMP "TYPE" or "TYPE/CODE" after "icmp/": a range of type<<8|code. */
static int parse_icmp_type(const char *s, uint8_t v6, struct pc_portrange *r)
{
	const char *slash = strchr(s, '/');
	size_t tlen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long type = 256, code;

	for (size_t i = 0; i < PC_ARRAY_SIZE(icmp_names); i++)
		if (icmp_names[i].v6 == v6 &&
		    strlen(icmp_names[i].name) == tlen &&
		    !strncmp(s, icmp_names[i].name, tlen))
			type = icmp_names[i].type;
	if (type == 256 && parse_num(s, tlen, 255, &type))
		return -EINVAL;
	r->lo = (uint16_t)(type << 8);
	r->hi = (uint16_t)(type << 8 | 0xff);
	if (slash) {
		if (parse_num(slash + 1, strlen(slash + 1), 255, &code))
			return -EINVAL;
		r->lo = r->hi = (uint16_t)(type << 8 | code);
	}
	return 0;
}

/*
 * "443/tcp", "8000-8100/tcp", "any/udp", "tcp" (every port), "gre",
 * "any/47", "icmp", "icmp/echo-request", "icmpv6/128", "icmp/3/4", "any".
 */
static int parse_portspec(const char *s, struct pc_portrange *r)
{
	const char *slash = strchr(s, '/'), *dash;
	unsigned long lo, hi;

	memset(r, 0, sizeof(*r));
	r->hi = 0xffff;
	if (!strcmp(s, "any")) {
		r->any_proto = 1;
		return 0;
	}
	if (!slash) /* a protocol alone */
		return parse_proto(s, strlen(s), &r->proto);
	if (!strncmp(s, "icmp/", 5))
		return r->proto = 1, parse_icmp_type(slash + 1, 0, r);
	if (!strncmp(s, "icmpv6/", 7))
		return r->proto = 58, parse_icmp_type(slash + 1, 1, r);
	if (parse_proto(slash + 1, strlen(slash + 1), &r->proto))
		return -EINVAL;
	if (!strncmp(s, "any/", 4))
		return 0;
	if (!ported(r->proto))
		return -EINVAL; /* ports only for TCP, UDP, SCTP, UDP-Lite */
	dash = memchr(s, '-', (size_t)(slash - s));
	if (!dash) {
		if (parse_num(s, (size_t)(slash - s), 65535, &lo) || !lo)
			return -EINVAL;
		r->lo = r->hi = (uint16_t)lo;
		return 0;
	}
	if (parse_num(s, (size_t)(dash - s), 65535, &lo) || !lo ||
	    parse_num(dash + 1, (size_t)(slash - dash - 1), 65535, &hi) ||
	    lo > hi)
		return -EINVAL;
	r->lo = (uint16_t)lo;
	r->hi = (uint16_t)hi;
	return 0;
}

#define PORT_FORMS                                                  \
	"443/tcp, 8000-8100/tcp, any/udp, tcp, gre, any/47, icmp, " \
	"icmp/echo-request, icmpv6/128 or any"

static void add_port(struct pctx *c, void *arg)
{
	struct pc_service *svc = &c->pol->services[*(size_t *)arg];
	struct pc_loc loc;
	const char *s = want_scalar(c, "a port such as 443/tcp", &loc);
	struct pc_portrange r;

	if (!s)
		return;
	if (parse_portspec(s, &r)) {
		fail(c, &loc,
		     "bad port \"%.60s\" in service \"%s\" (" PORT_FORMS ")", s,
		     svc->name);
	} else {
		svc->ports = realloc(svc->ports, (svc->nports + 1) * sizeof(r));
		if (!svc->ports)
			abort();
		svc->ports[svc->nports++] = r;
	}
	take(c);
}

/* ---- load balancing: backends, balance, health ------------------------ */

static void parse_bool(struct pctx *c, uint8_t *out);
static const char *parse_count(const char *s, uint64_t *out);

/* A whole decimal number up to max, or -EINVAL. */
static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	uint64_t v;
	const char *end = parse_count(s, &v);

	if (!end || *end || v > max)
		return -EINVAL;
	*out = (unsigned long)v;
	return 0;
}

/* "100ms", "2s", "1m": milliseconds, or -EINVAL. */
static int parse_duration_ms(const char *s, uint32_t *out)
{
	uint64_t v, mult;
	const char *end = parse_count(s, &v);

	if (!end)
		return -EINVAL;
	if (!strcmp(end, "ms"))
		mult = 1;
	else if (!strcmp(end, "s"))
		mult = 1000;
	else if (!strcmp(end, "m"))
		mult = 60000;
	else
		return -EINVAL;
	if (v > UINT32_MAX / mult)
		return -EINVAL;
	*out = (uint32_t)(v * mult);
	return 0;
}

/* "198.18.2.2", "198.18.2.2:8080", "fd00::2", "[fd00::2]:8080" */
static int parse_hostport(const char *s, uint8_t addr[16], uint16_t *port)
{
	char host[64];
	const char *colon = NULL;
	unsigned long p = 0;

	*port = 0;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || (size_t)(close - s - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = '\0';
		if (close[1] == ':')
			colon = close + 1;
		else if (close[1])
			return -EINVAL;
	} else {
		colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* a bare IPv6 address */
		snprintf(host, sizeof(host), "%.*s",
			 colon ? (int)(colon - s) : (int)strlen(s), s);
	}
	if (colon && (parse_uint(colon + 1, 65535, &p) || !p))
		return -EINVAL;
	*port = (uint16_t)p;
	return pc_addr_parse(host, addr);
}

struct backend_ctx {
	size_t svc;
	struct pc_backend *b;
	int has_addr;
};

static void backend_key(struct pctx *c, const char *key,
			const struct pc_loc *kloc, void *arg)
{
	struct backend_ctx *bc = arg;
	struct pc_backend *b = bc->b;
	struct pc_loc loc;
	unsigned long v;
	const char *s;

	if (!strcmp(key, "drain")) {
		parse_bool(c, &b->drain);
		return;
	}
	if (strcmp(key, "address") && strcmp(key, "port") &&
	    strcmp(key, "weight")) {
		fail(c, kloc,
		     "unknown key \"%s\" in a backend (address, port, weight, "
		     "drain)",
		     key);
		skip(c);
		return;
	}
	if (!(s = want_scalar(c, key, &loc)))
		return;
	if (!strcmp(key, "address")) {
		if (pc_addr_parse(s, b->addr))
			fail(c, &loc, "bad backend address \"%.60s\"", s);
		else
			bc->has_addr = 1;
	} else if (!strcmp(key, "port")) {
		if (parse_uint(s, 65535, &v) || !v)
			fail(c, &loc, "bad backend port \"%.20s\" (1-65535)",
			     s);
		else
			b->port = (uint16_t)v;
	} else {
		if (parse_uint(s, PC_LB_MAX_WEIGHT, &v) || !v)
			fail(c, &loc,
			     "bad weight \"%.20s\" (1-%d; drain: true takes a "
			     "backend out)",
			     s, PC_LB_MAX_WEIGHT);
		else
			b->weight = (uint16_t)v;
	}
	take(c);
}

static void add_backend(struct pctx *c, void *arg)
{
	struct pc_service *svc = &c->pol->services[*(size_t *)arg];
	struct backend_ctx bc = {.svc = *(size_t *)arg};
	struct pc_backend b = {.weight = 1};
	yaml_event_t *e = peek(c);
	const char *s;

	if (!e)
		return;
	b.loc = loc_of(e);
	bc.b = &b;
	if (e->type == YAML_MAPPING_START_EVENT) {
		for_each_pair(c, "a backend", 0, backend_key, &bc);
		if (!bc.has_addr) {
			fail(c, &b.loc, "a backend needs an address");
			return;
		}
	} else {
		struct pc_loc loc;

		if (!(s = want_scalar(c,
				      "a backend: ADDRESS[:PORT] or "
				      "{ address, port, weight, drain }",
				      &loc)))
			return;
		if (parse_hostport(s, b.addr, &b.port)) {
			fail(c, &loc,
			     "bad backend \"%.60s\" (198.18.2.2, "
			     "198.18.2.2:8080, [fd00::2]:8080)",
			     s);
			take(c);
			return;
		}
		take(c);
	}
	pc_xgrow(&svc->backends, &svc->cap_backends, svc->nbackends, sizeof(b));
	svc->backends[svc->nbackends++] = b;
}

static const struct {
	const char *name;
	uint8_t v;
} balance_names[] = {
	{"maglev", PC_LB_MAGLEV},     {"round-robin", PC_LB_ROUND_ROBIN},
	{"weighted", PC_LB_WEIGHTED}, {"least-connections", PC_LB_LEAST_CONN},
	{"latency", PC_LB_LATENCY},   {"source-hash", PC_LB_SOURCE_HASH},
};

const char *pc_balance_name(uint8_t balance)
{
	for (size_t i = 0; i < PC_ARRAY_SIZE(balance_names); i++)
		if (balance_names[i].v == balance)
			return balance_names[i].name;
	return "?";
}

static void parse_balance(struct pctx *c, struct pc_service *svc)
{
	struct pc_loc loc;
	const char *s = want_scalar(c, "a balance strategy", &loc);

	if (!s)
		return;
	svc->balance_loc = loc;
	for (size_t i = 0; i < PC_ARRAY_SIZE(balance_names); i++)
		if (!strcmp(s, balance_names[i].name)) {
			svc->balance = balance_names[i].v;
			take(c);
			return;
		}
	fail(c, &loc,
	     "bad balance \"%.40s\" (maglev, round-robin, weighted, "
	     "least-connections, latency or source-hash)",
	     s);
	take(c);
}

static const char *const probe_names[] = {
	[PC_PROBE_TCP] = "tcp",
	[PC_PROBE_HTTP] = "http",
	[PC_PROBE_UDP] = "udp",
	[PC_PROBE_ICMP] = "icmp",
};

const char *pc_probe_name(uint8_t type)
{
	return type && type < PC_ARRAY_SIZE(probe_names) ? probe_names[type]
							 : "none";
}

static void health_key(struct pctx *c, const char *key,
		       const struct pc_loc *kloc, void *arg)
{
	struct pc_health *h = arg;
	struct pc_loc loc;
	unsigned long v;
	const char *s;

	if (!(s = want_scalar(c, key, &loc)))
		return;
	if (!strcmp(key, "type")) {
		for (size_t t = 1; t < PC_ARRAY_SIZE(probe_names); t++)
			if (!strcmp(s, probe_names[t]))
				h->type = (uint8_t)t;
		if (!h->type)
			fail(c, &loc,
			     "bad probe type \"%.20s\" (tcp, http, udp or "
			     "icmp)",
			     s);
	} else if (!strcmp(key, "interval") || !strcmp(key, "timeout")) {
		uint32_t ms;

		if (parse_duration_ms(s, &ms) ||
		    ms < (key[0] == 'i' ? 100 : 10) || ms > 3600000)
			fail(c, &loc,
			     "bad %s \"%.20s\" (a duration such as 100ms or "
			     "2s, %s to 1h)",
			     key, s, key[0] == 'i' ? "100ms" : "10ms");
		else if (key[0] == 'i')
			h->interval_ms = ms;
		else
			h->timeout_ms = ms;
	} else if (!strcmp(key, "rise") || !strcmp(key, "fall")) {
		if (parse_uint(s, 100, &v) || !v)
			fail(c, &loc, "bad %s \"%.20s\" (1-100 probes)", key,
			     s);
		else if (key[0] == 'r')
			h->rise = (uint16_t)v;
		else
			h->fall = (uint16_t)v;
	} else if (!strcmp(key, "port")) {
		if (parse_uint(s, 65535, &v) || !v)
			fail(c, &loc, "bad probe port \"%.20s\" (1-65535)", s);
		else
			h->port = (uint16_t)v;
	} else if (!strcmp(key, "status")) {
		if (parse_uint(s, 599, &v) || v < 100)
			fail(c, &loc, "bad status \"%.20s\" (100-599)", s);
		else
			h->status = (uint16_t)v;
	} else if (!strcmp(key, "path")) {
		if (s[0] != '/' || strlen(s) > 1024 || strpbrk(s, " \r\n"))
			fail(c, &loc,
			     "bad path \"%.60s\" (starts with /, no spaces)",
			     s);
		else
			free(h->path), h->path = pc_strdup(s);
	} else if (!strcmp(key, "host")) {
		if (!*s || strlen(s) > 255 || strpbrk(s, " \r\n"))
			fail(c, &loc, "bad host \"%.60s\"", s);
		else
			free(h->host), h->host = pc_strdup(s);
	} else if (!strcmp(key, "send")) {
		if (!*s || strlen(s) > 512)
			fail(c, &loc, "send must be 1 to 512 bytes");
		else
			free(h->send), h->send = pc_strdup(s);
	} else {
		fail(c, kloc,
		     "unknown key \"%s\" in health (type, interval, timeout, "
		     "rise, fall, port, path, status, host, send)",
		     key);
	}
	take(c);
}

static void service_key(struct pctx *c, const char *key,
			const struct pc_loc *kloc, void *arg)
{
	struct pc_service *svc = &c->pol->services[*(size_t *)arg];
	struct prefix_list l = {&svc->cidrs, &svc->ncidrs};

	if (!strcmp(key, "cidrs")) {
		for_each_item(c, add_cidr, &l);
	} else if (!strcmp(key, "ports")) {
		for_each_item(c, add_port, arg);
	} else if (!strcmp(key, "backends")) {
		svc->backends_loc = *kloc;
		for_each_item(c, add_backend, arg);
	} else if (!strcmp(key, "balance")) {
		parse_balance(c, svc);
	} else if (!strcmp(key, "health")) {
		svc->health.loc = *kloc;
		for_each_pair(c, "health", 0, health_key, &svc->health);
		if (!svc->health.type)
			svc->health.type = PC_PROBE_TCP;
	} else {
		fail(c, kloc,
		     "unknown key \"%s\" in service \"%s\" (cidrs, ports, "
		     "backends, balance, health)",
		     key, svc->name);
		skip(c);
	}
}

static void parse_service(struct pctx *c, const char *name,
			  const struct pc_loc *kloc)
{
	struct pc_policy *pol = c->pol;
	size_t idx = pol->nservices;
	struct pc_service *svc;

	pc_xgrow(&pol->services, &c->cap_svcs, idx, sizeof(*svc));
	svc = &pol->services[pol->nservices++];
	memset(svc, 0, sizeof(*svc));
	svc->name = pc_strdup(name);
	svc->loc = *kloc;
	for_each_pair(c, "a service", 0, service_key, &idx);
}

static void named_entry(struct pctx *c, const char *name,
			const struct pc_loc *kloc, void *arg)
{
	int services = *(int *)arg;

	if (!valid_name(name)) {
		bad_name(c, kloc, name);
		skip(c);
	} else if (services) {
		parse_service(c, name, kloc);
	} else {
		parse_identity(c, name, kloc);
	}
}

/* ---- rules ------------------------------------------------------------ */

struct rule_ctx {
	size_t idx;
	int to;
	struct pc_loc rate_loc, burst_loc;
	int has_rate, has_burst;
	uint64_t burst;
};

static void add_from_to(struct pctx *c, void *arg)
{
	struct rule_ctx *rc = arg;
	struct pc_rule *r = &c->pol->rules[rc->idx];
	size_t **v = rc->to ? &r->to : &r->from;
	size_t *n = rc->to ? &r->nto : &r->nfrom;
	struct pc_loc loc;
	const char *s = want_scalar(c, "a name, \"any\" or a CIDR", &loc);
	struct pc_prefix p;

	if (!s)
		return;
	{
		size_t *nv = realloc(*v, (*n + 1) * sizeof(size_t));

		if (!nv)
			abort();
		*v = nv;
	}
	(*v)[*n] = SIZE_MAX;
	if (!strcmp(s, "any")) {
		(*v)[(*n)++] = PC_ANY;
	} else if (looks_like_address(s)) {
		if (!parse_cidr(c, s, &loc, &p))
			add_ref(c, rc->to ? REF_TO : REF_FROM, rc->idx, (*n)++,
				NULL, &p, &loc);
	} else if (!valid_name(s)) {
		bad_name(c, &loc, s);
	} else {
		add_ref(c, rc->to ? REF_TO : REF_FROM, rc->idx, (*n)++, s, NULL,
			&loc);
	}
	take(c);
}

static void parse_action(struct pctx *c, struct pc_rule *r)
{
	struct pc_loc loc;
	const char *s = want_scalar(c, "allow, deny or audit", &loc);

	if (!s)
		return;
	if (!strcmp(s, "allow"))
		r->action = PC_ACT_ALLOW;
	else if (!strcmp(s, "deny"))
		r->action = PC_ACT_DENY;
	else if (!strcmp(s, "audit"))
		r->action = PC_ACT_AUDIT;
	else
		fail(c, &loc, "bad action \"%.60s\" (allow, deny or audit)", s);
	take(c);
}

static void parse_bool(struct pctx *c, uint8_t *out)
{
	struct pc_loc loc;
	const char *s = want_scalar(c, "true or false", &loc);

	if (!s)
		return;
	if (!strcmp(s, "true") || !strcmp(s, "yes"))
		*out = 1;
	else if (!strcmp(s, "false") || !strcmp(s, "no"))
		*out = 0;
	else
		fail(c, &loc, "expected true or false, not \"%.60s\"", s);
	take(c);
}

/* A decimal count; returns where it stopped, NULL if no digits. */
static const char *parse_count(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	while (*p >= '0' && *p <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			return NULL;
		v = v * 10 + (uint64_t)(*p++ - '0');
	}
	if (p == s)
		return NULL;
	*out = v;
	return p;
}

#define PC_RATE_MAX 1000000000000ULL /* per period: 8 Tbit/s in bytes */

static const struct {
	const char *unit;
	uint64_t mult; /* 0: packets; else bytes (or bits) per unit */
	uint8_t bits;
} rate_units[] = {
	{"", 0, 0},	      {"bit", 1, 1},	       {"kbit", 1000, 1},
	{"mbit", 1000000, 1}, {"gbit", 1000000000, 1}, {"b", 1, 0},
	{"kb", 1000, 0},      {"mb", 1000000, 0},      {"gb", 1000000000, 0},
};

/* "1000/s", "60/m", "5/h" (packets); "10mbit/s", "500kb/s" (bytes). */
static int parse_rate(const char *s, struct pc_rate *r, char *why, size_t len)
{
	const char *p = parse_count(s, &r->units), *slash;
	char unit[16];
	size_t ulen, i;

	if (!p || !(slash = strchr(p, '/')) ||
	    (ulen = (size_t)(slash - p)) >= sizeof(unit)) {
		snprintf(why, len,
			 "expected a rate such as 1000/s or 10mbit/s");
		return -EINVAL;
	}
	for (i = 0; i < ulen; i++)
		unit[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
	unit[ulen] = '\0';
	if (!strcmp(slash + 1, "s"))
		r->period_s = 1;
	else if (!strcmp(slash + 1, "m") || !strcmp(slash + 1, "min"))
		r->period_s = 60;
	else if (!strcmp(slash + 1, "h"))
		r->period_s = 3600;
	else {
		snprintf(why, len, "bad period \"/%.10s\" (/s, /m or /h)",
			 slash + 1);
		return -EINVAL;
	}
	for (i = 0; i < PC_ARRAY_SIZE(rate_units); i++)
		if (!strcmp(unit, rate_units[i].unit))
			break;
	if (i == PC_ARRAY_SIZE(rate_units)) {
		snprintf(why, len,
			 "bad unit \"%s\" (none for packets; bit, kbit, mbit, "
			 "gbit; b, kb, mb, gb)",
			 unit);
		return -EINVAL;
	}
	r->unit = rate_units[i].mult ? PC_RATE_BYTES : PC_RATE_PACKETS;
	if (rate_units[i].mult && r->period_s != 1) {
		snprintf(why, len, "byte and bit rates are per second");
		return -EINVAL;
	}
	if (rate_units[i].mult) {
		if (r->units > PC_RATE_MAX * 8 / rate_units[i].mult) {
			snprintf(why, len, "rate too high");
			return -EINVAL;
		}
		r->units *= rate_units[i].mult;
		if (rate_units[i].bits)
			r->units /= 8;
	}
	if (!r->units) {
		snprintf(why, len,
			 "a rate of zero drops everything: use action: deny");
		return -EINVAL;
	}
	if (r->units > PC_RATE_MAX) {
		snprintf(why, len, "rate too high");
		return -EINVAL;
	}
	/* the bucket holds one period's worth unless burst: says less */
	r->burst = r->units;
	return 0;
}

static void rule_key(struct pctx *c, const char *key, const struct pc_loc *kloc,
		     void *arg)
{
	struct rule_ctx *rc = arg;
	struct pc_rule *r = &c->pol->rules[rc->idx];
	struct pc_loc loc;
	const char *s, *end;
	char why[128];

	if (!strcmp(key, "from") || !strcmp(key, "to")) {
		rc->to = !strcmp(key, "to");
		for_each_item(c, add_from_to, rc);
	} else if (!strcmp(key, "action")) {
		parse_action(c, r);
	} else if (!strcmp(key, "log")) {
		parse_bool(c, &r->log);
	} else if (!strcmp(key, "name")) {
		if (!(s = want_scalar(c, "a rule name", &loc)))
			return;
		if (!valid_name(s)) {
			bad_name(c, &loc, s);
		} else {
			free(r->name);
			r->name = pc_strdup(s);
		}
		take(c);
	} else if (!strcmp(key, "rate")) {
		if (!(s = want_scalar(c, "a rate such as 1000/s", &loc)))
			return;
		rc->rate_loc = loc;
		rc->has_rate = 1;
		if (parse_rate(s, &r->rate, why, sizeof(why)))
			fail(c, &loc, "bad rate \"%.40s\": %s", s, why);
		take(c);
	} else if (!strcmp(key, "burst")) {
		if (!(s = want_scalar(c, "a burst size", &loc)))
			return;
		rc->burst_loc = loc;
		rc->has_burst = 1;
		if (!(end = parse_count(s, &rc->burst)) || *end || !rc->burst ||
		    rc->burst > PC_RATE_MAX)
			fail(c, &loc,
			     "bad burst \"%.40s\" (packets, or bytes for a "
			     "byte or bit rate)",
			     s);
		take(c);
	} else {
		fail(c, kloc,
		     "unknown key \"%s\" in rule (name, from, to, action, log, "
		     "rate, burst)",
		     key);
		skip(c);
	}
}

static void parse_rule(struct pctx *c, void *arg)
{
	struct pc_policy *pol = c->pol;
	struct rule_ctx rc = {.idx = pol->nrules};
	struct pc_rule *r;
	yaml_event_t *e = peek(c);
	struct pc_loc loc;
	char name[32];
	size_t errors;

	(void)arg;
	if (!e)
		return;
	loc = loc_of(e);
	if (e->type != YAML_MAPPING_START_EVENT) {
		fail(c, &loc, "a rule must be a mapping");
		skip(c);
		return;
	}
	pc_xgrow(&pol->rules, &c->cap_rules, pol->nrules, sizeof(*r));
	r = &pol->rules[pol->nrules++];
	memset(r, 0, sizeof(*r));
	r->loc = loc;
	snprintf(name, sizeof(name), "rule-%zu", pol->nrules);
	r->name = pc_strdup(name);
	errors = c->d->nerrors;
	for_each_pair(c, "a rule", 0, rule_key, &rc);
	if (c->stopped || c->d->nerrors != errors)
		return; /* what is missing was reported as wrong */
	r = &pol->rules[rc.idx];
	if (!r->nfrom)
		fail(c, &loc, "rule \"%s\" has no \"from\"", r->name);
	if (!r->nto)
		fail(c, &loc, "rule \"%s\" has no \"to\"", r->name);
	if (r->action == PC_ACT_NONE)
		fail(c, &loc, "rule \"%s\" has no \"action\"", r->name);
	if (rc.has_rate && r->action == PC_ACT_DENY)
		fail(c, &rc.rate_loc,
		     "rule \"%s\": rate applies to allow and audit rules",
		     r->name);
	if (rc.has_burst && !rc.has_rate)
		fail(c, &rc.burst_loc, "rule \"%s\": burst without rate",
		     r->name);
	if (rc.has_burst && r->rate.units) {
		r->rate.burst = rc.burst;
		if (r->rate.unit == PC_RATE_BYTES && rc.burst < 1514)
			fail(c, &rc.burst_loc,
			     "rule \"%s\": a burst of %llu bytes is less than "
			     "one full-size frame (1514)",
			     r->name, (unsigned long long)rc.burst);
	}
}

/* ---- tests ------------------------------------------------------------ */

struct test_ctx {
	size_t idx;
	int has_port, has_expect;
};

/* "8080/tcp", "53/udp", "icmp" (echo request), "icmp/3/4", "gre". */
int pc_port_parse_one(const char *s, uint8_t *proto, uint16_t *port)
{
	struct pc_portrange r;

	if (!strcmp(s, "icmp") || !strcmp(s, "icmpv6")) {
		*proto = s[4] ? 58 : 1;
		*port = (uint16_t)((s[4] ? 128 : 8) << 8);
		return 0;
	}
	if (parse_portspec(s, &r) || r.any_proto)
		return -EINVAL;
	if (ported(r.proto) && r.lo != r.hi)
		return -EINVAL;
	if (is_icmp(r.proto) && r.lo != r.hi) /* type without code: 0 */
		r.hi = r.lo;
	if (!ported(r.proto) && !is_icmp(r.proto))
		r.lo = 0;
	*proto = r.proto;
	*port = r.lo;
	return 0;
}

static void test_key(struct pctx *c, const char *key, const struct pc_loc *kloc,
		     void *arg)
{
	struct test_ctx *tc = arg;
	struct pc_test *t = &c->pol->tests[tc->idx];
	struct raw_test *rt = &c->raw_tests[tc->idx];
	struct pc_loc loc;
	const char *s;

	if (!strcmp(key, "from") || !strcmp(key, "to")) {
		int to = !strcmp(key, "to");

		if (!(s = want_scalar(c, "an address or a name", &loc)))
			return;
		free(to ? rt->to : rt->from);
		*(to ? &rt->to : &rt->from) = pc_strdup(s);
		*(to ? &rt->to_loc : &rt->from_loc) = loc;
		take(c);
	} else if (!strcmp(key, "port")) {
		if (!(s = want_scalar(c, "a port such as 443/tcp", &loc)))
			return;
		tc->has_port = 1;
		if (pc_port_parse_one(s, &t->proto, &t->port))
			fail(c, &loc,
			     "bad port \"%.60s\" in test (one port: 443/tcp, "
			     "53/udp, icmp, icmp/echo-request, gre)",
			     s);
		take(c);
	} else if (!strcmp(key, "expect")) {
		struct pc_rule tmp = {0};

		parse_action(c, &tmp);
		tc->has_expect = tmp.action != PC_ACT_NONE;
		t->expect = tmp.action;
	} else {
		fail(c, kloc,
		     "unknown key \"%s\" in test (from, to, port, expect)",
		     key);
		skip(c);
	}
}

static void parse_test(struct pctx *c, void *arg)
{
	struct pc_policy *pol = c->pol;
	struct test_ctx tc = {.idx = pol->ntests};
	yaml_event_t *e = peek(c);
	struct pc_loc loc;

	(void)arg;
	if (!e)
		return;
	loc = loc_of(e);
	if (e->type != YAML_MAPPING_START_EVENT) {
		fail(c, &loc, "a test must be a mapping");
		skip(c);
		return;
	}
	pc_xgrow(&pol->tests, &c->cap_tests, pol->ntests, sizeof(*pol->tests));
	pc_xgrow(&c->raw_tests, &c->cap_raw, pol->ntests,
		 sizeof(*c->raw_tests));
	memset(&pol->tests[tc.idx], 0, sizeof(*pol->tests));
	memset(&c->raw_tests[tc.idx], 0, sizeof(*c->raw_tests));
	pol->tests[tc.idx].loc = loc;
	pol->ntests++;
	for_each_pair(c, "a test", 0, test_key, &tc);
	if (c->stopped)
		return;
	if (!c->raw_tests[tc.idx].from || !c->raw_tests[tc.idx].to ||
	    !tc.has_port || !tc.has_expect)
		fail(c, &loc, "test %zu needs from, to, port and expect",
		     tc.idx + 1);
}

/* ---- the document ----------------------------------------------------- */

enum { K_API, K_KIND, K_MODE, K_IDS, K_SVCS, K_RULES, K_TESTS, K_NKEYS };

struct root_ctx {
	int seen[K_NKEYS];
};

static void check_value(struct pctx *c, const char *want, const char *what)
{
	struct pc_loc loc;
	const char *s = want_scalar(c, want, &loc);

	if (!s)
		return;
	if (strcmp(s, want))
		fail(c, &loc, "unsupported %s \"%.60s\" (expected %s)", what, s,
		     want);
	take(c);
}

static void parse_mode(struct pctx *c)
{
	struct pc_loc loc;
	const char *s = want_scalar(c, "enforce or audit", &loc);

	if (!s)
		return;
	if (!strcmp(s, "enforce"))
		c->pol->mode = PC_MODE_ENFORCE;
	else if (!strcmp(s, "audit"))
		c->pol->mode = PC_MODE_AUDIT;
	else
		fail(c, &loc, "bad mode \"%.60s\" (enforce or audit)", s);
	take(c);
}

static void list_or_empty(struct pctx *c, item_fn fn)
{
	yaml_event_t *e = peek(c);

	if (e && is_empty_scalar(e))
		take(c); /* "rules:" left empty */
	else
		for_each_item(c, fn, NULL);
}

static void root_key(struct pctx *c, const char *key, const struct pc_loc *kloc,
		     void *arg)
{
	static const char *const keys[K_NKEYS] = {
		"apiVersion", "kind",  "mode", "identities",
		"services",   "rules", "tests"};
	struct root_ctx *rc = arg;
	int k, which;

	for (k = 0; k < K_NKEYS && strcmp(key, keys[k]); k++)
		;
	if (k == K_NKEYS) {
		fail(c, kloc,
		     "unknown key \"%s\" (apiVersion, kind, mode, identities, "
		     "services, rules, tests)",
		     key);
		skip(c);
		return;
	}
	rc->seen[k]++; /* (a repeat is refused before: for_each_pair) */
	switch (k) {
	case K_API:
		check_value(c, "portcullis/v1", "apiVersion");
		break;
	case K_KIND:
		check_value(c, "Policy", "kind");
		break;
	case K_MODE:
		parse_mode(c);
		break;
	case K_IDS:
	case K_SVCS:
		which = k == K_SVCS;
		for_each_pair(c, keys[k], 1, named_entry, &which);
		break;
	case K_RULES:
		list_or_empty(c, parse_rule);
		break;
	case K_TESTS:
		list_or_empty(c, parse_test);
		break;
	}
}

static void parse_stream(struct pctx *c)
{
	struct root_ctx rc = {0};
	struct pc_loc start = {1, 1};
	yaml_event_t *e;

	/* STREAM-START, then DOCUMENT-START unless the text is empty */
	if (!peek(c))
		return;
	take(c);
	if (!(e = peek(c)))
		return;
	if (e->type == YAML_STREAM_END_EVENT) {
		fail(c, &start, "empty policy");
		return;
	}
	take(c);
	if ((e = peek(c)) && is_empty_scalar(e)) {
		fail(c, &start, "empty policy");
		return;
	}
	for_each_pair(c, "the policy", 0, root_key, &rc);
	if (!peek(c))
		return;
	take(c); /* DOCUMENT-END */
	if ((e = peek(c)) && e->type == YAML_DOCUMENT_START_EVENT) {
		struct pc_loc loc = loc_of(e);

		fail(c, &loc, "one policy per file (a second document here)");
		return;
	}
	if (c->stopped)
		return;
	if (!rc.seen[K_API])
		fail(c, &start, "missing apiVersion: portcullis/v1");
	if (!rc.seen[K_KIND])
		fail(c, &start, "missing kind: Policy");
}

/* ---- resolving names -------------------------------------------------- */

static int ix_cmp(const void *a, const void *b)
{
	const struct name_ix *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int ix_cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct name_ix *)a)->name,
		      ((const struct name_ix *)b)->name);
}

static const char *name_of(const struct pc_policy *pol, int svc, size_t i)
{
	return svc ? pol->services[i].name : pol->identities[i].name;
}

static void build_index(struct pctx *c, int svc)
{
	struct pc_policy *pol = c->pol;
	size_t n = svc ? pol->nservices : pol->nidentities;
	struct name_ix *ix = c->ix[svc] = pc_xcalloc(n ? n : 1, sizeof(*ix));

	for (size_t i = 0; i < n; i++)
		ix[i] = (struct name_ix){name_of(pol, svc, i), i};
	qsort(ix, n, sizeof(*ix), ix_cmp);
	for (size_t i = 1; i < n; i++)
		if (!strcmp(ix[i - 1].name, ix[i].name))
			fail(c,
			     svc ? &pol->services[ix[i].idx].loc
				 : &pol->identities[ix[i].idx].loc,
			     "duplicate name \"%s\"", ix[i].name);
}

/* Rule names are what logs, events and metrics call a rule: one name,
 * one rule (a given one may also meet another's default "rule-N"). */
static void unique_rule_names(struct pctx *c)
{
	struct pc_policy *pol = c->pol;
	struct name_ix *ix =
		pc_xcalloc(pol->nrules ? pol->nrules : 1, sizeof(*ix));

	for (size_t i = 0; i < pol->nrules; i++)
		ix[i] = (struct name_ix){pol->rules[i].name, i};
	qsort(ix, pol->nrules, sizeof(*ix), ix_cmp);
	for (size_t i = 1; i < pol->nrules; i++)
		if (!strcmp(ix[i - 1].name, ix[i].name))
			fail(c, &pol->rules[ix[i].idx].loc,
			     "duplicate rule name \"%s\" (also rule %zu)",
			     ix[i].name, ix[i - 1].idx + 1);
	free(ix);
}

static size_t name_lookup(struct pctx *c, int svc, const char *name)
{
	size_t n = svc ? c->pol->nservices : c->pol->nidentities;
	struct name_ix key = {.name = name}, *hit;

	hit = bsearch(&key, c->ix[svc], n, sizeof(key), ix_cmp_name);
	return hit ? hit->idx : SIZE_MAX;
}

static void unknown(struct pctx *c, int svc, const struct ref *r)
{
	size_t n = svc ? c->pol->nservices : c->pol->nidentities;
	const char *best = NULL;
	size_t bestd = 3;

	for (size_t i = 0; i < n; i++) {
		const char *cand = name_of(c->pol, svc, i);
		size_t d = edit_distance(r->name, cand);

		if (d < bestd) {
			bestd = d;
			best = cand;
		}
	}
	if (best)
		fail(c, &r->loc, "unknown %s \"%s\" (did you mean \"%s\"?)",
		     svc ? "service" : "identity", r->name, best);
	else
		fail(c, &r->loc, "unknown %s \"%s\"",
		     svc ? "service" : "identity", r->name);
}

static const struct ref *sort_refs; /* for inline_cmp */

/* Inline CIDRs in order: identities, then services; by prefix. */
static int inline_cmp(const void *a, const void *b)
{
	const struct ref *x = &sort_refs[*(const size_t *)a],
			 *y = &sort_refs[*(const size_t *)b];
	int c;

	if ((x->kind == REF_TO) != (y->kind == REF_TO))
		return x->kind == REF_TO ? 1 : -1;
	c = pc_prefix_cmp(&x->cidr, &y->cidr);
	if (c)
		return c;
	return x < y ? -1 : x > y;
}

static size_t add_anon(struct pctx *c, int svc, const struct pc_prefix *p)
{
	struct pc_policy *pol = c->pol;
	struct pc_prefix **cidrs;
	char name[64];
	size_t i;

	pc_prefix_format(p, name, sizeof(name));
	if (svc) {
		struct pc_service *s;

		pc_xgrow(&pol->services, &c->cap_svcs, pol->nservices,
			 sizeof(*s));
		s = &pol->services[i = pol->nservices++];
		memset(s, 0, sizeof(*s));
		s->name = pc_strdup(name);
		s->anon = 1;
		s->ncidrs = 1;
		cidrs = &s->cidrs;
	} else {
		struct pc_identity *id;

		pc_xgrow(&pol->identities, &c->cap_ids, pol->nidentities,
			 sizeof(*id));
		id = &pol->identities[i = pol->nidentities++];
		memset(id, 0, sizeof(*id));
		id->name = pc_strdup(name);
		id->anon = 1;
		id->ncidrs = 1;
		cidrs = &id->cidrs;
	}
	*cidrs = pc_xcalloc(1, sizeof(*p));
	**cidrs = *p;
	return i;
}

/*
 * Inline CIDRs in rules become anonymous identities and services, one per
 * distinct prefix and side, named by the prefix (which no name can be).
 */
static void resolve_inline(struct pctx *c)
{
	size_t *ix = pc_xcalloc(c->nrefs + 1, sizeof(*ix)), n = 0, cur = 0;
	const struct ref *prev = NULL;

	for (size_t i = 0; i < c->nrefs; i++)
		if (!c->refs[i].name)
			ix[n++] = i;
	sort_refs = c->refs;
	qsort(ix, n, sizeof(*ix), inline_cmp);
	for (size_t k = 0; k < n; k++) {
		struct ref *r = &c->refs[ix[k]];
		int svc = r->kind == REF_TO;

		if (!prev || (prev->kind == REF_TO) != svc ||
		    pc_prefix_cmp(&prev->cidr, &r->cidr))
			cur = add_anon(c, svc, &r->cidr);
		if (svc)
			c->pol->rules[r->owner].to[r->pos] = cur;
		else
			c->pol->rules[r->owner].from[r->pos] = cur;
		prev = r;
	}
	free(ix);
}

static void resolve_refs(struct pctx *c)
{
	struct pc_policy *pol = c->pol;

	build_index(c, 0);
	build_index(c, 1);
	unique_rule_names(c);
	for (size_t i = 0; i < c->nrefs; i++) {
		struct ref *r = &c->refs[i];
		int svc = r->kind == REF_TO;
		size_t idx;

		if (!r->name)
			continue;
		idx = name_lookup(c, svc, r->name);
		if (idx == SIZE_MAX) {
			unknown(c, svc, r);
			continue;
		}
		if (r->kind == REF_FROM)
			pol->rules[r->owner].from[r->pos] = idx;
		else if (r->kind == REF_TO)
			pol->rules[r->owner].to[r->pos] = idx;
		else
			pol->identities[r->owner].includes[r->pos] = idx;
	}
}

/* Refuse include cycles: depth-first, 1 = on the path, 2 = done. */
static void check_cycles(struct pctx *c)
{
	struct pc_policy *pol = c->pol;
	size_t n = pol->nidentities;
	uint8_t *state = pc_xcalloc(n ? n : 1, 1);
	size_t *stack = pc_xcalloc(n + 1, sizeof(size_t));
	size_t *next = pc_xcalloc(n + 1, sizeof(size_t));

	for (size_t root = 0; root < n; root++) {
		size_t depth = 0;

		if (state[root])
			continue;
		stack[0] = root;
		next[0] = 0;
		state[root] = 1;
		depth = 1;
		while (depth) {
			struct pc_identity *id =
				&pol->identities[stack[depth - 1]];
			size_t j;

			if (next[depth - 1] == id->nincludes) {
				state[stack[--depth]] = 2;
				continue;
			}
			j = id->includes[next[depth - 1]++];
			if (j == SIZE_MAX || state[j] == 2)
				continue;
			if (state[j] == 1) {
				struct pc_buf path = {0};
				size_t from = 0;

				while (stack[from] != j)
					from++;
				for (size_t k = from; k < depth; k++)
					pc_buf_printf(
						&path, "%s -> ",
						pol->identities[stack[k]].name);
				fail(c, &id->loc, "include cycle: %s%s",
				     path.data, pol->identities[j].name);
				pc_buf_free(&path);
				state[j] = 2; /* report each cycle once */
				continue;
			}
			state[j] = 1;
			stack[depth] = j;
			next[depth++] = 0;
		}
	}
	free(state);
	free(stack);
	free(next);
}

int pc_identity_walk(const struct pc_policy *pol, size_t i,
		     int (*fn)(const struct pc_identity *id, void *arg),
		     void *arg)
{
	uint8_t *seen = pc_xcalloc(pol->nidentities, 1);
	size_t *stack = pc_xcalloc(pol->nidentities, sizeof(*stack));
	size_t n = 0;
	int rc = 0;

	seen[i] = 1;
	stack[n++] = i;
	while (n && !rc) {
		const struct pc_identity *id = &pol->identities[stack[--n]];

		if ((rc = fn(id, arg)))
			break;
		/* reversed, so that the first include is visited first */
		for (size_t k = id->nincludes; k-- > 0;) {
			size_t j = id->includes[k];

			if (j < pol->nidentities && !seen[j]) {
				seen[j] = 1;
				stack[n++] = j;
			}
		}
	}
	free(seen);
	free(stack);
	return rc;
}

static int has_address(const struct pc_identity *id, void *out)
{
	if (!id->ncidrs)
		return 0;
	memcpy(out, id->cidrs[0].addr, 16);
	return 1;
}

/* The address a name stands for in a test: the first CIDR's first, of it
 * or of what it includes. */
static int first_address(const struct pc_policy *pol, size_t i, uint8_t out[16])
{
	return pc_identity_walk(pol, i, has_address, out) ? 0 : -ENOENT;
}

static void resolve_test_end(struct pctx *c, struct pc_test *t, const char *s,
			     const struct pc_loc *loc, int to)
{
	uint8_t *addr = to ? t->dst : t->src;
	struct ref r = {.name = (char *)s, .loc = *loc};
	size_t i;

	if (looks_like_address(s)) {
		if (pc_addr_parse(s, addr))
			fail(c, loc, "bad address \"%.60s\" in test", s);
		return;
	}
	i = name_lookup(c, to, s);
	if (i == SIZE_MAX) {
		unknown(c, to, &r);
		return;
	}
	if (to) {
		if (!c->pol->services[i].ncidrs)
			fail(c, loc,
			     "service \"%s\" has no cidrs: give the test an "
			     "address",
			     s);
		else
			memcpy(addr, c->pol->services[i].cidrs[0].addr, 16);
	} else if (first_address(c->pol, i, addr)) {
		fail(c, loc,
		     "identity \"%s\" has no cidrs: give the test an address",
		     s);
	}
}

static void resolve_tests(struct pctx *c)
{
	struct pc_policy *pol = c->pol;

	for (size_t i = 0; i < pol->ntests; i++) {
		struct pc_test *t = &pol->tests[i];
		struct raw_test *rt = &c->raw_tests[i];
		struct pc_buf b = {0};
		char port[32];

		if (!rt->from || !rt->to)
			continue;
		resolve_test_end(c, t, rt->from, &rt->from_loc, 0);
		resolve_test_end(c, t, rt->to, &rt->to_loc, 1);
		if (ported(t->proto))
			snprintf(port, sizeof(port), "%u/%s", t->port,
				 t->proto == 6	  ? "tcp"
				 : t->proto == 17 ? "udp"
						  : "sctp");
		else if (is_icmp(t->proto))
			snprintf(port, sizeof(port), "%s/%u/%u",
				 t->proto == 1 ? "icmp" : "icmpv6",
				 (unsigned int)t->port >> 8,
				 (unsigned int)t->port & 0xff);
		else
			snprintf(port, sizeof(port), "protocol %u", t->proto);
		pc_buf_printf(&b, "from %s to %s %s", rt->from, rt->to, port);
		t->text = b.data;
	}
}

int pc_policy_parse(const char *text, size_t len, const char *filename,
		    struct pc_policy **out, struct pc_diags *d)
{
	struct pctx c = {.file = filename ? filename : "<policy>", .d = d};
	int failed;

	*out = NULL;
	c.errors0 = d->nerrors;
	if (!yaml_parser_initialize(&c.parser))
		abort();
	yaml_parser_set_input_string(&c.parser, (const unsigned char *)text,
				     len);
	c.pol = pc_xcalloc(1, sizeof(*c.pol));
	c.pol->filename = pc_strdup(c.file);
	parse_stream(&c);
	take(&c);
	yaml_parser_delete(&c.parser);
	if (d->nerrors == c.errors0) {
		resolve_refs(&c);
		check_cycles(&c);
		resolve_tests(&c); /* names only: before the anonymous ones */
		resolve_inline(&c);
	}
	for (size_t i = 0; i < c.nrefs; i++)
		free(c.refs[i].name);
	free(c.refs);
	for (size_t i = 0; i < c.pol->ntests; i++) {
		free(c.raw_tests[i].from);
		free(c.raw_tests[i].to);
	}
	free(c.raw_tests);
	free(c.ix[0]);
	free(c.ix[1]);
	failed = d->nerrors > c.errors0;
	if (failed) {
		pc_policy_free(c.pol);
		return -EINVAL;
	}
	*out = c.pol;
	return 0;
}

void pc_policy_free(struct pc_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nidentities; i++) {
		free(p->identities[i].name);
		free(p->identities[i].cidrs);
		free(p->identities[i].peers);
		free(p->identities[i].includes);
	}
	for (size_t i = 0; i < p->nservices; i++) {
		free(p->services[i].name);
		free(p->services[i].cidrs);
		free(p->services[i].ports);
		free(p->services[i].backends);
		free(p->services[i].health.path);
		free(p->services[i].health.host);
		free(p->services[i].health.send);
	}
	for (size_t i = 0; i < p->nrules; i++) {
		free(p->rules[i].name);
		free(p->rules[i].from);
		free(p->rules[i].to);
	}
	for (size_t i = 0; i < p->ntests; i++)
		free(p->tests[i].text);
	free(p->identities);
	free(p->services);
	free(p->rules);
	free(p->tests);
	free(p->filename);
	free(p);
}

int pc_action_rank(uint8_t action)
{
	switch (action) {
	case PC_ACT_DENY:
		return 3;
	case PC_ACT_AUDIT:
		return 2;
	case PC_ACT_ALLOW:
		return 1;
	default:
		return 0;
	}
}

const char *pc_action_verb(uint8_t action)
{
	return action == PC_ACT_NONE ? "denied by default"
				     : pc_action_name(action);
}

const char *pc_action_name(uint8_t action)
{
	switch (action) {
	case PC_ACT_ALLOW:
		return "allow";
	case PC_ACT_DENY:
		return "deny";
	case PC_ACT_AUDIT:
		return "audit";
	default:
		return "default-deny";
	}
}

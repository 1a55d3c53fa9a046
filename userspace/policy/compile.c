// SPDX-License-Identifier: Apache-2.0
/*
 * Policy compiler: identities and services become disjoint address sets
 * (an address belongs to every identity whose CIDR contains it), rules
 * become (set, set, protocol, port-prefix) entries with deny > allow >
 * audit precedence resolved here, so the data plane does one LPM lookup.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "portcullis/maps.h"
#include "policy.h"

/* A set of names as a bitset; index n (the last bit) is "any". */
struct bitsets {
	size_t words; /* uint64_t words per set */
	uint64_t *bits;
	size_t nsets;
};

static uint64_t *set_at(const struct bitsets *b, size_t i)
{
	return b->bits + i * b->words;
}

/* Return the 1-based id of bitset v, adding it if new. */
static uint32_t set_intern(struct bitsets *b, const uint64_t *v)
{
	for (size_t i = 0; i < b->nsets; i++)
		if (!memcmp(set_at(b, i), v, b->words * 8))
			return (uint32_t)i + 1;
	b->bits = realloc(b->bits, (b->nsets + 1) * b->words * 8);
	if (!b->bits)
		abort();
	memcpy(set_at(b, b->nsets), v, b->words * 8);
	return (uint32_t)++b->nsets;
}

static int bit_test(const uint64_t *v, size_t i)
{
	return (int)((v[i / 64] >> (i % 64)) & 1);
}

struct owned_prefix {
	struct pc_prefix p;
	size_t owner; /* name index, n = any */
};

static int owned_cmp(const void *a, const void *b)
{
	const struct owned_prefix *x = a, *y = b;
	int c = pc_prefix_cmp(&x->p, &y->p);

	if (c)
		return c;
	return x->owner < y->owner ? -1 : x->owner > y->owner;
}

/*
 * Turn (prefix, owner) pairs into LPM entries whose value is the set of
 * every owner with a prefix containing that one.
 */
static void build_sets(struct owned_prefix *ps, size_t n, size_t nnames,
		       struct bitsets *sets, struct pc_set_entry **out,
		       size_t *nout)
{
	uint64_t *v = pc_xcalloc((nnames + 1 + 63) / 64, 8);
	size_t k = 0;

	sets->words = (nnames + 1 + 63) / 64;
	qsort(ps, n, sizeof(*ps), owned_cmp);
	*out = pc_xcalloc(n, sizeof(**out));
	for (size_t i = 0; i < n; i++) {
		if (k && !pc_prefix_cmp(&(*out)[k - 1].prefix, &ps[i].p))
			continue; /* same prefix, other owner: done below */
		memset(v, 0, sets->words * 8);
		for (size_t j = 0; j < n; j++)
			if (pc_prefix_contains(&ps[j].p, &ps[i].p))
				v[ps[j].owner / 64] |= 1ULL
						       << (ps[j].owner % 64);
		(*out)[k].prefix = ps[i].p;
		(*out)[k].set_id = set_intern(sets, v);
		k++;
	}
	*nout = k;
	free(v);
}

static void add_owned(struct owned_prefix **v, size_t *n,
		      const struct pc_prefix *p, size_t owner)
{
	*v = realloc(*v, (*n + 1) * sizeof(**v));
	if (!*v)
		abort();
	(*v)[*n].p = *p;
	(*v)[(*n)++].owner = owner;
}

static const struct pc_prefix everything = {.plen = 0};

static void ident_sets(const struct pc_policy *pol, struct bitsets *sets,
		       struct pc_compiled *c)
{
	struct owned_prefix *ps = NULL;
	size_t n = 0;

	for (size_t i = 0; i < pol->nidentities; i++)
		for (size_t j = 0; j < pol->identities[i].ncidrs; j++)
			add_owned(&ps, &n, &pol->identities[i].cidrs[j], i);
	add_owned(&ps, &n, &everything, pol->nidentities);
	build_sets(ps, n, pol->nidentities, sets, &c->idents, &c->nidents);
	c->nident_sets = (uint32_t)sets->nsets;
	free(ps);
}

static void service_sets(const struct pc_policy *pol, struct bitsets *sets,
			 struct pc_compiled *c)
{
	struct owned_prefix *ps = NULL;
	size_t n = 0;

	for (size_t i = 0; i < pol->nservices; i++) {
		const struct pc_service *s = &pol->services[i];

		for (size_t j = 0; j < s->ncidrs; j++)
			add_owned(&ps, &n, &s->cidrs[j], i);
		if (!s->ncidrs)
			add_owned(&ps, &n, &everything, i);
	}
	add_owned(&ps, &n, &everything, pol->nservices);
	build_sets(ps, n, pol->nservices, sets, &c->services, &c->nservices);
	c->nservice_sets = (uint32_t)sets->nsets;
	free(ps);
}

/* One (protocol, port range) a rule decides inside one set pair. */
struct spec {
	uint32_t rule_id;
	uint16_t lo, hi;
	uint8_t proto, any_proto, action, flags;
};

struct specs {
	struct spec *v;
	size_t n, cap;
};

static void spec_push(struct specs *s, const struct spec *sp)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v)
			abort();
	}
	s->v[s->n++] = *sp;
}

/* Does a beat b?  Higher action first, then the earlier rule. */
static int spec_beats(const struct spec *a, const struct spec *b)
{
	if (!b)
		return 1;
	if (a->action != b->action)
		return a->action > b->action;
	return a->rule_id < b->rule_id;
}

static int rule_hits(const size_t *names, size_t n, size_t nall,
		     const uint64_t *set)
{
	for (size_t i = 0; i < n; i++)
		if (bit_test(set, names[i] == PC_ANY ? nall : names[i]))
			return 1;
	return 0;
}

static void collect_specs(const struct pc_policy *pol, const uint64_t *iset,
			  const uint64_t *vset, struct specs *out)
{
	static const struct pc_portrange all = {.any_proto = 1, .hi = 0xffff};

	out->n = 0;
	for (size_t r = 0; r < pol->nrules; r++) {
		const struct pc_rule *rule = &pol->rules[r];

		if (!rule_hits(rule->from, rule->nfrom, pol->nidentities, iset))
			continue;
		for (size_t t = 0; t < rule->nto; t++) {
			size_t s = rule->to[t] == PC_ANY ? pol->nservices
							 : rule->to[t];
			const struct pc_service *svc =
				s < pol->nservices ? &pol->services[s] : NULL;
			size_t np = svc && svc->nports ? svc->nports : 1;

			if (!bit_test(vset, s))
				continue;
			for (size_t p = 0; p < np; p++) {
				const struct pc_portrange *pr =
					svc && svc->nports ? &svc->ports[p]
							   : &all;
				struct spec sp = {
					.rule_id = (uint32_t)r + 1,
					.lo = pr->lo,
					.hi = pr->hi,
					.proto = pr->proto,
					.any_proto = pr->any_proto,
					.action = rule->action,
					.flags = rule->log ? PC_PF_LOG : 0,
				};
				spec_push(out, &sp);
			}
		}
	}
}

struct entries {
	struct pc_policy_entry *v;
	size_t n, cap;
};

static void entry_push(struct entries *e, const struct pc_policy_entry *pe)
{
	if (e->n == e->cap) {
		e->cap = e->cap ? 2 * e->cap : 64;
		e->v = realloc(e->v, e->cap * sizeof(*e->v));
		if (!e->v)
			abort();
	}
	e->v[e->n++] = *pe;
}

/* Split [lo, hi] into aligned power-of-two blocks: port prefixes. */
static void emit_range(struct entries *e, struct pc_policy_entry tmpl,
		       uint32_t lo, uint32_t hi)
{
	while (lo <= hi) {
		uint32_t k = 0;

		while (k < 16 && !(lo & (1u << k)) &&
		       lo + (1u << (k + 1)) - 1 <= hi)
			k++;
		tmpl.port = (uint16_t)lo;
		tmpl.plen = (uint8_t)(PC_POLICY_PLEN_PORT0 + 16 - k);
		entry_push(e, &tmpl);
		lo += 1u << k;
	}
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static const struct spec *best_at(const struct specs *s, uint8_t proto,
				  uint32_t port, const struct spec *wild)
{
	const struct spec *best = wild;

	for (size_t j = 0; j < s->n; j++) {
		const struct spec *sp = &s->v[j];

		if (!sp->any_proto && sp->proto == proto && sp->lo <= port &&
		    sp->hi >= port && spec_beats(sp, best))
			best = sp;
	}
	return best;
}

static int same_decision(const struct spec *a, const struct spec *b)
{
	if (!a || !b)
		return a == b;
	return a->action == b->action && a->rule_id == b->rule_id &&
	       a->flags == b->flags;
}

/* Resolve one protocol's specs (plus the wildcard) into entries. */
static void resolve_proto(struct entries *e, struct pc_policy_entry tmpl,
			  const struct specs *s, uint8_t proto,
			  const struct spec *wild)
{
	uint32_t *pts = pc_xcalloc(2 * s->n + 2, sizeof(*pts));
	size_t np = 0, m = 0;

	pts[np++] = 0;
	pts[np++] = 65536;
	for (size_t i = 0; i < s->n; i++) {
		if (s->v[i].any_proto || s->v[i].proto != proto)
			continue;
		pts[np++] = s->v[i].lo;
		pts[np++] = (uint32_t)s->v[i].hi + 1;
	}
	qsort(pts, np, sizeof(*pts), u32_cmp);
	for (size_t i = 0; i < np; i++) /* unique */
		if (!m || pts[m - 1] != pts[i])
			pts[m++] = pts[i];
	tmpl.proto = proto;
	for (size_t i = 0; i + 1 < m;) {
		const struct spec *best = best_at(s, proto, pts[i], wild);
		size_t j = i + 1;

		while (j + 1 < m &&
		       same_decision(best_at(s, proto, pts[j], wild), best))
			j++;
		/* [pts[i], pts[j]) has one decision; the wildcard entry
		 * already says it when it spans everything */
		if (best && !(best == wild && pts[i] == 0 && pts[j] == 65536)) {
			tmpl.action = best->action;
			tmpl.rule_id = best->rule_id;
			tmpl.flags = best->flags;
			emit_range(e, tmpl, pts[i], pts[j] - 1);
		}
		i = j;
	}
	free(pts);
}

static void resolve_pair(struct entries *e, uint32_t iid, uint32_t vid,
			 const struct specs *s)
{
	struct pc_policy_entry tmpl = {.src_set = iid, .dst_set = vid};
	const struct spec *wild = NULL;
	uint8_t seen[256] = {0};

	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].any_proto && spec_beats(&s->v[i], wild))
			wild = &s->v[i];
	if (wild) {
		tmpl.plen = PC_POLICY_PLEN_PROTO;
		tmpl.action = wild->action;
		tmpl.rule_id = wild->rule_id;
		tmpl.flags = wild->flags;
		entry_push(e, &tmpl);
	}
	for (size_t i = 0; i < s->n; i++) {
		uint8_t p = s->v[i].proto;

		if (s->v[i].any_proto || seen[p])
			continue;
		seen[p] = 1;
		resolve_proto(e, tmpl, s, p, wild);
	}
}

static char **set_names(const struct bitsets *b, const struct pc_policy *pol)
{
	char **names = pc_xcalloc(b->nsets, sizeof(char *));

	for (size_t i = 0; i < b->nsets; i++) {
		struct pc_buf buf = {0};

		for (size_t j = 0; j < pol->nidentities; j++)
			if (bit_test(set_at(b, i), j))
				pc_buf_printf(&buf, "%s%s", buf.len ? "+" : "",
					      pol->identities[j].name);
		names[i] = buf.len ? buf.data : pc_strdup("-");
		if (!buf.len)
			pc_buf_free(&buf);
	}
	return names;
}

static char **rule_names(const struct pc_policy *pol)
{
	char **names = pc_xcalloc(pol->nrules, sizeof(char *));

	for (size_t i = 0; i < pol->nrules; i++)
		names[i] = pc_strdup(pol->rules[i].name);
	return names;
}

int pc_policy_compile(const struct pc_policy *pol, struct pc_compiled **out,
		      char err[PC_ERR_LEN])
{
	struct pc_compiled *c = pc_xcalloc(1, sizeof(*c));
	struct bitsets isets = {0}, vsets = {0};
	struct entries e = {0};
	struct specs s = {0};

	*out = NULL;
	if (pol->nrules >= PC_MAX_RULES) {
		snprintf(err, PC_ERR_LEN, "%s: %zu rules, at most %d",
			 pol->filename, pol->nrules, PC_MAX_RULES - 1);
		free(c);
		return -E2BIG;
	}
	ident_sets(pol, &isets, c);
	service_sets(pol, &vsets, c);
	for (size_t i = 0; i < isets.nsets; i++) {
		for (size_t v = 0; v < vsets.nsets; v++) {
			collect_specs(pol, set_at(&isets, i), set_at(&vsets, v),
				      &s);
			if (s.n)
				resolve_pair(&e, (uint32_t)i + 1,
					     (uint32_t)v + 1, &s);
		}
	}
	c->entries = e.v;
	c->nentries = e.n;
	c->nrules = pol->nrules;
	c->rule_names = rule_names(pol);
	c->ident_set_names = set_names(&isets, pol);
	free(s.v);
	free(isets.bits);
	free(vsets.bits);
	if (c->nentries > PC_MAX_POLICY_ENTRIES) {
		snprintf(err, PC_ERR_LEN,
			 "%s: policy compiles to %zu entries, "
			 "at most %d",
			 pol->filename, c->nentries, PC_MAX_POLICY_ENTRIES);
		pc_compiled_free(c);
		return -E2BIG;
	}
	*out = c;
	return 0;
}

void pc_compiled_free(struct pc_compiled *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nrules; i++)
		free(c->rule_names[i]);
	free(c->rule_names);
	for (size_t i = 0; i < c->nident_sets; i++)
		free(c->ident_set_names[i]);
	free(c->ident_set_names);
	free(c->idents);
	free(c->services);
	free(c->entries);
	free(c);
}

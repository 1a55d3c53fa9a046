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

/*
 * Interned owner sets.  An address set is the sorted list of every name
 * (identity or service index; n stands for "any") with a prefix that
 * contains it.  Sets are few and short: a prefix's owners are those of its
 * enclosing prefixes, so a set is as long as the nesting is deep.
 */
struct setdb {
	uint32_t **v;  /* v[id - 1]: sorted owners */
	uint32_t *len; /* len[id - 1] */
	size_t nsets;
	uint32_t *table; /* open addressing: set id, 0 = empty */
	size_t tcap;	 /* power of two */
};

static uint64_t owners_hash(const uint32_t *v, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= v[i];
		h *= 1099511628211ULL;
	}
	return h ^ (h >> 29);
}

static void setdb_rehash(struct setdb *db)
{
	size_t cap = db->tcap ? 2 * db->tcap : 1024;

	/* the table stays at most half full; v and len hold cap / 2 sets */
	db->v = realloc(db->v, cap / 2 * sizeof(*db->v));
	db->len = realloc(db->len, cap / 2 * sizeof(*db->len));
	if (!db->v || !db->len)
		abort();
	free(db->table);
	db->table = pc_xcalloc(cap, sizeof(*db->table));
	db->tcap = cap;
	for (size_t id = 1; id <= db->nsets; id++) {
		size_t h =
			owners_hash(db->v[id - 1], db->len[id - 1]) & (cap - 1);

		while (db->table[h])
			h = (h + 1) & (cap - 1);
		db->table[h] = (uint32_t)id;
	}
}

/* Return the 1-based id of owner set v[0..n), adding it if new. */
static uint32_t set_intern(struct setdb *db, const uint32_t *v, size_t n)
{
	size_t h;

	if (2 * (db->nsets + 1) > db->tcap)
		setdb_rehash(db);
	h = owners_hash(v, n) & (db->tcap - 1);
	for (; db->table[h]; h = (h + 1) & (db->tcap - 1)) {
		uint32_t id = db->table[h];

		if (db->len[id - 1] == n &&
		    !memcmp(db->v[id - 1], v, n * sizeof(*v)))
			return id;
	}
	db->v[db->nsets] = pc_xcalloc(n ? n : 1, sizeof(*v));
	memcpy(db->v[db->nsets], v, n * sizeof(*v));
	db->len[db->nsets] = (uint32_t)n;
	db->table[h] = (uint32_t)++db->nsets;
	return (uint32_t)db->nsets;
}

static void setdb_free(struct setdb *db)
{
	for (size_t i = 0; i < db->nsets; i++)
		free(db->v[i]);
	free(db->v);
	free(db->len);
	free(db->table);
}

/* For each owner, the ids of the sets that contain it (pc_owner_sets;
 * owner nowners is "any"). */
static void inverse_build(const struct setdb *db, size_t nowners,
			  struct pc_owner_sets *inv)
{
	size_t total = 0, *fill;

	inv->start = pc_xcalloc(nowners + 2, sizeof(*inv->start));
	for (size_t i = 0; i < db->nsets; i++)
		for (size_t j = 0; j < db->len[i]; j++)
			inv->start[db->v[i][j] + 1]++;
	for (size_t o = 0; o <= nowners; o++)
		inv->start[o + 1] += inv->start[o];
	total = inv->start[nowners + 1];
	inv->ids = pc_xcalloc(total ? total : 1, sizeof(*inv->ids));
	fill = pc_xcalloc(nowners + 1, sizeof(*fill));
	for (size_t i = 0; i < db->nsets; i++)
		for (size_t j = 0; j < db->len[i]; j++) {
			uint32_t o = db->v[i][j];

			inv->ids[inv->start[o] + fill[o]++] = (uint32_t)i + 1;
		}
	free(fill);
}

static void inverse_free(struct pc_owner_sets *inv)
{
	for (size_t i = 0; inv->names && i < inv->n; i++)
		free(inv->names[i]);
	free(inv->names);
	free(inv->start);
	free(inv->ids);
}

/* Name the owners of inv, for counters by name (owners of a policy with
 * none still get a name array). */
static void inverse_name(struct pc_owner_sets *inv, const struct pc_policy *pol,
			 int services)
{
	inv->n = services ? pol->nservices : pol->nidentities;
	inv->names = pc_xcalloc(inv->n ? inv->n : 1, sizeof(char *));
	for (size_t i = 0; i < inv->n; i++)
		inv->names[i] = pc_strdup(services ? pol->services[i].name
						   : pol->identities[i].name);
}

struct owned_prefix {
	struct pc_prefix p;
	uint32_t owner; /* name index, n = any */
};

/* Address order, and a prefix before every prefix it contains. */
static int owned_cmp(const void *a, const void *b)
{
	const struct owned_prefix *x = a, *y = b;
	int c = pc_prefix_cmp(&x->p, &y->p);

	if (c)
		return c;
	return x->owner < y->owner ? -1 : x->owner > y->owner;
}

struct frame {
	struct pc_prefix p;
	uint32_t *owners; /* this prefix's and every enclosing prefix's */
	size_t n;
};

/* Sorted union of a (sorted, unique) and b (sorted, may repeat). */
static uint32_t *owners_merge(const uint32_t *a, size_t na, const uint32_t *b,
			      size_t nb, size_t *nout)
{
	uint32_t *out = pc_xcalloc(na + nb + 1, sizeof(*out));
	size_t i = 0, j = 0, k = 0;

	while (i < na || j < nb) {
		uint32_t x;

		if (j == nb || (i < na && a[i] <= b[j]))
			x = a[i++];
		else
			x = b[j++];
		if (!k || out[k - 1] != x)
			out[k++] = x;
	}
	*nout = k;
	return out;
}

/*
 * Turn (prefix, owner) pairs into LPM entries whose value is the set of
 * every owner with a prefix containing that one.  One pass over the
 * sorted prefixes with a stack of the enclosing ones: O(n log n + n * d).
 */
static void build_sets(struct owned_prefix *ps, size_t n, struct setdb *db,
		       struct pc_set_entry **out, size_t *nout)
{
	struct frame stack[130];
	uint32_t *own = pc_xcalloc(n ? n : 1, sizeof(*own));
	size_t depth = 0, k = 0;

	qsort(ps, n, sizeof(*ps), owned_cmp);
	*out = pc_xcalloc(n ? n : 1, sizeof(**out));
	for (size_t i = 0; i < n;) {
		size_t j = i, nown = 0, nacc;
		uint32_t *acc;

		while (j < n && !pc_prefix_cmp(&ps[j].p, &ps[i].p))
			own[nown++] = ps[j++].owner;
		while (depth &&
		       !pc_prefix_contains(&stack[depth - 1].p, &ps[i].p))
			free(stack[--depth].owners);
		acc = owners_merge(depth ? stack[depth - 1].owners : NULL,
				   depth ? stack[depth - 1].n : 0, own, nown,
				   &nacc);
		(*out)[k].prefix = ps[i].p;
		(*out)[k++].set_id = set_intern(db, acc, nacc);
		/* a prefix is at most 128 bits: at most 129 nest */
		stack[depth++] = (struct frame){ps[i].p, acc, nacc};
		i = j;
	}
	while (depth)
		free(stack[--depth].owners);
	free(own);
	*nout = k;
}

struct owned_list {
	struct owned_prefix *v;
	size_t n, cap;
};

static void add_owned(struct owned_list *l, const struct pc_prefix *p,
		      size_t owner)
{
	pc_xgrow(&l->v, &l->cap, l->n, sizeof(*l->v));
	l->v[l->n].p = *p;
	l->v[l->n++].owner = (uint32_t)owner;
}

static const struct pc_prefix everything = {.plen = 0};

/*
 * Who includes whom, reversed: for each identity, the identities whose
 * members it is part of (itself, and every identity that includes it,
 * directly or through others).  The parser has refused cycles.
 */
struct closure {
	size_t *start, *by; /* CSR: includers of j: by[start[j]..start[j+1]) */
	size_t *stamp, *queue, *out;
	size_t nout;
};

static void closure_init(const struct pc_policy *pol, struct closure *cl)
{
	size_t n = pol->nidentities, *fill;

	cl->start = pc_xcalloc(n + 2, sizeof(size_t));
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < pol->identities[i].nincludes; k++)
			cl->start[pol->identities[i].includes[k] + 1]++;
	for (size_t j = 0; j < n; j++)
		cl->start[j + 1] += cl->start[j];
	cl->by = pc_xcalloc(cl->start[n] + 1, sizeof(size_t));
	fill = pc_xcalloc(n + 1, sizeof(size_t));
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < pol->identities[i].nincludes; k++) {
			size_t j = pol->identities[i].includes[k];

			cl->by[cl->start[j] + fill[j]++] = i;
		}
	free(fill);
	cl->stamp = pc_xcalloc(n + 1, sizeof(size_t));
	cl->queue = pc_xcalloc(n + 1, sizeof(size_t));
	cl->out = cl->queue;
}

/* Every identity that has j's members: cl->out[0..cl->nout). */
static void closure_of(struct closure *cl, size_t j)
{
	size_t head = 0;

	cl->nout = 0;
	cl->queue[cl->nout++] = j;
	cl->stamp[j] = j + 1;
	while (head < cl->nout) {
		size_t x = cl->queue[head++];

		for (size_t k = cl->start[x]; k < cl->start[x + 1]; k++) {
			size_t y = cl->by[k];

			if (cl->stamp[y] != j + 1) {
				cl->stamp[y] = j + 1;
				cl->queue[cl->nout++] = y;
			}
		}
	}
}

static void closure_free(struct closure *cl)
{
	free(cl->start);
	free(cl->by);
	free(cl->stamp);
	free(cl->queue);
}

struct owned_peer {
	uint8_t key[PC_WG_KEY_LEN];
	uint32_t owner;
};

static int peer_cmp(const void *a, const void *b)
{
	const struct owned_peer *x = a, *y = b;
	int c = memcmp(x->key, y->key, PC_WG_KEY_LEN);

	if (c)
		return c;
	return x->owner < y->owner ? -1 : x->owner > y->owner;
}

/*
 * WireGuard peers: each distinct key gets the set of every identity that
 * lists it (or includes one that does), and "any".
 */
static void peer_sets(struct owned_peer *v, size_t n, uint32_t any,
		      struct setdb *db, struct pc_compiled *c)
{
	uint32_t *own = pc_xcalloc(n + 1, sizeof(*own));

	if (n)
		qsort(v, n, sizeof(*v), peer_cmp);
	c->peers = pc_xcalloc(n ? n : 1, sizeof(*c->peers));
	for (size_t i = 0; i < n;) {
		size_t j = i, k = 0;

		while (j < n && !memcmp(v[j].key, v[i].key, PC_WG_KEY_LEN)) {
			if (!k || own[k - 1] != v[j].owner)
				own[k++] = v[j].owner;
			j++;
		}
		own[k++] = any; /* greater than every identity index */
		memcpy(c->peers[c->npeers].key, v[i].key, PC_WG_KEY_LEN);
		c->peers[c->npeers++].set_id = set_intern(db, own, k);
		i = j;
	}
	free(own);
}

static void ident_sets(const struct pc_policy *pol, struct setdb *sets,
		       struct pc_compiled *c)
{
	struct owned_list l = {0};
	struct owned_peer *peers = NULL;
	size_t npeers = 0, cap = 0;
	struct closure cl;

	closure_init(pol, &cl);
	for (size_t j = 0; j < pol->nidentities; j++) {
		const struct pc_identity *id = &pol->identities[j];

		if (!id->ncidrs && !id->npeers)
			continue;
		closure_of(&cl, j);
		for (size_t a = 0; a < cl.nout; a++) {
			for (size_t k = 0; k < id->ncidrs; k++)
				add_owned(&l, &id->cidrs[k], cl.out[a]);
			for (size_t k = 0; k < id->npeers; k++) {
				pc_xgrow(&peers, &cap, npeers, sizeof(*peers));
				memcpy(peers[npeers].key, id->peers[k],
				       PC_WG_KEY_LEN);
				peers[npeers++].owner = (uint32_t)cl.out[a];
			}
		}
	}
	closure_free(&cl);
	add_owned(&l, &everything, pol->nidentities);
	build_sets(l.v, l.n, sets, &c->idents, &c->nidents);
	peer_sets(peers, npeers, (uint32_t)pol->nidentities, sets, c);
	c->nident_sets = (uint32_t)sets->nsets;
	free(peers);
	free(l.v);
}

static void service_sets(const struct pc_policy *pol, struct setdb *sets,
			 struct pc_compiled *c)
{
	struct owned_list l = {0};

	for (size_t i = 0; i < pol->nservices; i++) {
		const struct pc_service *s = &pol->services[i];

		for (size_t j = 0; j < s->ncidrs; j++)
			add_owned(&l, &s->cidrs[j], i);
		if (!s->ncidrs)
			add_owned(&l, &everything, i);
	}
	add_owned(&l, &everything, pol->nservices);
	build_sets(l.v, l.n, sets, &c->services, &c->nservices);
	c->nservice_sets = (uint32_t)sets->nsets;
	free(l.v);
}

/* One (protocol, port range) a rule decides inside one set pair. */
struct spec {
	uint32_t rule_id;
	uint16_t service; /* pc_policy_entry.service */
	uint16_t lo, hi;
	uint8_t proto, any_proto, action, flags;
};

struct specs {
	struct spec *v;
	size_t n, cap;
};

static void spec_push(struct specs *s, const struct spec *sp)
{
	pc_xgrow(&s->v, &s->cap, s->n, sizeof(*s->v));
	s->v[s->n++] = *sp;
}

/* Does a beat b?  Higher action first, then the earlier rule. */
static int spec_beats(const struct spec *a, const struct spec *b)
{
	if (!b)
		return 1;
	if (a->action != b->action)
		return pc_action_rank(a->action) > pc_action_rank(b->action);
	return a->rule_id < b->rule_id;
}

struct entries {
	struct pc_policy_entry *v;
	size_t n, cap;
};

static void entry_push(struct entries *e, const struct pc_policy_entry *pe)
{
	pc_xgrow(&e->v, &e->cap, e->n, sizeof(*e->v));
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
	       a->flags == b->flags && a->service == b->service;
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
			tmpl.service = best->service;
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
		tmpl.service = wild->service;
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

static char **set_names(const struct setdb *db, const struct pc_policy *pol,
			int services)
{
	char **names = pc_xcalloc(db->nsets ? db->nsets : 1, sizeof(char *));
	size_t n = services ? pol->nservices : pol->nidentities;

	for (size_t i = 0; i < db->nsets; i++) {
		struct pc_buf buf = {0};

		for (size_t j = 0; j < db->len[i]; j++)
			if (db->v[i][j] < n)
				pc_buf_printf(
					&buf, "%s%s", buf.len ? "+" : "",
					services ? pol->services[db->v[i][j]]
							   .name
						 : pol->identities[db->v[i][j]]
							   .name);
		names[i] = buf.len ? buf.data : pc_strdup("-");
		if (!buf.len)
			pc_buf_free(&buf);
	}
	return names;
}

/* A rule reaching one (identity set, service set) pair through a service. */
struct hit {
	uint32_t iset, vset, rule, svc; /* svc: index, nservices = any */
};

struct hits {
	struct hit *v;
	size_t n, cap;
};

static void hit_push(struct hits *h, const struct hit *x)
{
	pc_xgrow(&h->v, &h->cap, h->n, sizeof(*h->v));
	h->v[h->n++] = *x;
}

static int hit_cmp(const void *a, const void *b)
{
	const struct hit *x = a, *y = b;

	if (x->iset != y->iset)
		return x->iset < y->iset ? -1 : 1;
	if (x->vset != y->vset)
		return x->vset < y->vset ? -1 : 1;
	if (x->rule != y->rule)
		return x->rule < y->rule ? -1 : 1;
	return x->svc < y->svc ? -1 : x->svc > y->svc;
}

/* Every (set pair, rule, service) a rule reaches, sorted and unique. */
static void collect_hits(const struct pc_policy *pol,
			 const struct pc_owner_sets *ii,
			 const struct pc_owner_sets *vi, struct hits *h)
{
	size_t m = 0;

	for (size_t r = 0; r < pol->nrules; r++) {
		const struct pc_rule *rule = &pol->rules[r];

		for (size_t f = 0; f < rule->nfrom; f++) {
			size_t o = rule->from[f] == PC_ANY ? pol->nidentities
							   : rule->from[f];

			for (size_t a = ii->start[o]; a < ii->start[o + 1]; a++)
				for (size_t t = 0; t < rule->nto; t++) {
					size_t sv = rule->to[t] == PC_ANY
							    ? pol->nservices
							    : rule->to[t];

					for (size_t b = vi->start[sv];
					     b < vi->start[sv + 1]; b++) {
						struct hit x = {ii->ids[a],
								vi->ids[b],
								(uint32_t)r,
								(uint32_t)sv};

						hit_push(h, &x);
					}
				}
		}
	}
	if (h->n)
		qsort(h->v, h->n, sizeof(*h->v), hit_cmp);
	for (size_t i = 0; i < h->n; i++)
		if (!m || hit_cmp(&h->v[m - 1], &h->v[i]))
			h->v[m++] = h->v[i];
	h->n = m;
}

/* The specs of the hits h[0..n), all of one set pair. */
static void specs_of(const struct pc_policy *pol, const struct hit *h, size_t n,
		     struct specs *out)
{
	static const struct pc_portrange all = {.any_proto = 1, .hi = 0xffff};

	out->n = 0;
	for (size_t i = 0; i < n; i++) {
		const struct pc_rule *rule = &pol->rules[h[i].rule];
		const struct pc_service *svc =
			h[i].svc < pol->nservices ? &pol->services[h[i].svc]
						  : NULL;
		size_t np = svc && svc->nports ? svc->nports : 1;

		for (size_t p = 0; p < np; p++) {
			const struct pc_portrange *pr =
				svc && svc->nports ? &svc->ports[p] : &all;
			struct spec sp = {
				.rule_id = h[i].rule + 1,
				.service = h[i].svc < pol->nservices &&
							   h[i].svc < 0xffff
						   ? (uint16_t)(h[i].svc + 1)
						   : 0,
				.lo = pr->lo,
				.hi = pr->hi,
				.proto = pr->proto,
				.any_proto = pr->any_proto,
				.action = rule->action,
				.flags =
					(uint8_t)((rule->log ? PC_PF_LOG : 0) |
						  (rule->rate.units ? PC_PF_RATE
								    : 0)),
			};
			spec_push(out, &sp);
		}
	}
}

static char **rule_names(const struct pc_policy *pol)
{
	char **names =
		pc_xcalloc(pol->nrules ? pol->nrules : 1, sizeof(char *));

	for (size_t i = 0; i < pol->nrules; i++)
		names[i] = pc_strdup(pol->rules[i].name);
	return names;
}

/* Entries are grouped by (src_set, dst_set), ascending: find a group. */
static size_t group_start(const struct pc_compiled *c, uint32_t is, uint32_t vs)
{
	size_t lo = 0, hi = c->nentries;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct pc_policy_entry *e = &c->entries[mid];

		if (e->src_set < is || (e->src_set == is && e->dst_set < vs))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void pc_compiled_group(const struct pc_compiled *c, uint32_t src_set,
		       uint32_t dst_set, size_t *begin, size_t *end)
{
	size_t i = group_start(c, src_set, dst_set);

	*begin = i;
	while (i < c->nentries && c->entries[i].src_set == src_set &&
	       c->entries[i].dst_set == dst_set)
		i++;
	*end = i;
}

static int entry_matches(const struct pc_policy_entry *e, uint8_t proto,
			 uint16_t port)
{
	unsigned int bits;

	if (e->plen == PC_POLICY_PLEN_PROTO)
		return 1;
	if (e->proto != proto)
		return 0;
	bits = e->plen - PC_POLICY_PLEN_PORT0;
	if (bits == 0)
		return 1;
	return (port >> (16 - bits)) == (e->port >> (16 - bits));
}

/* The entry the data plane's LPM lookup finds, or NULL. */
const struct pc_policy_entry *pc_compiled_find(const struct pc_compiled *c,
					       uint32_t src_set,
					       uint32_t dst_set, uint8_t proto,
					       uint16_t port)
{
	const struct pc_policy_entry *best = NULL;

	for (size_t i = group_start(c, src_set, dst_set);
	     i < c->nentries && c->entries[i].src_set == src_set &&
	     c->entries[i].dst_set == dst_set;
	     i++)
		if (entry_matches(&c->entries[i], proto, port) &&
		    (!best || c->entries[i].plen > best->plen))
			best = &c->entries[i];
	return best;
}

/* Names no rule uses, and rules that can never match. */
static void lint(const struct pc_policy *pol, const struct pc_compiled *c,
		 const struct hit *first, struct pc_diags *d)
{
	uint8_t *used_id = pc_xcalloc(pol->nidentities + 1, 1);
	uint8_t *used_svc = pc_xcalloc(pol->nservices + 1, 1);
	uint8_t *decides = pc_xcalloc(pol->nrules + 1, 1);

	for (size_t r = 0; r < pol->nrules; r++) {
		for (size_t k = 0; k < pol->rules[r].nfrom; k++)
			if (pol->rules[r].from[k] != PC_ANY)
				used_id[pol->rules[r].from[k]] = 1;
		for (size_t k = 0; k < pol->rules[r].nto; k++)
			if (pol->rules[r].to[k] != PC_ANY)
				used_svc[pol->rules[r].to[k]] = 1;
	}
	for (size_t i = 0; i < pol->nidentities; i++)
		for (size_t k = 0; k < pol->identities[i].nincludes; k++)
			used_id[pol->identities[i].includes[k]] = 1;
	for (size_t i = 0; i < pol->nidentities; i++)
		if (!used_id[i] && !pol->identities[i].anon)
			pc_diag_add(d, 1, pol->filename,
				    &pol->identities[i].loc,
				    "identity \"%s\" is not used by any rule",
				    pol->identities[i].name);
	for (size_t i = 0; i < pol->nservices; i++)
		if (!used_svc[i] && !pol->services[i].anon)
			pc_diag_add(d, 1, pol->filename, &pol->services[i].loc,
				    "service \"%s\" is not used by any rule",
				    pol->services[i].name);
	for (size_t i = 0; i < c->nentries; i++)
		decides[c->entries[i].rule_id - 1] = 1;
	for (size_t r = 0; r < pol->nrules; r++) {
		const struct pc_rule *rule = &pol->rules[r];
		const struct pc_service *svc;
		const struct pc_policy_entry *e;
		uint8_t proto = 0;
		uint16_t port = 0;

		if (decides[r])
			continue;
		/* ask what decides the first traffic the rule names */
		svc = first[r].svc < pol->nservices
			      ? &pol->services[first[r].svc]
			      : NULL;
		if (svc && svc->nports && !svc->ports[0].any_proto) {
			proto = svc->ports[0].proto;
			port = svc->ports[0].lo;
		}
		e = pc_compiled_find(c, first[r].iset, first[r].vset, proto,
				     port);
		if (e && e->rule_id != r + 1)
			pc_diag_add(d, 1, pol->filename, &rule->loc,
				    "rule \"%s\" can never match: %s rule "
				    "\"%s\" decides all its traffic%s",
				    rule->name, pc_action_name(e->action),
				    c->rule_names[e->rule_id - 1],
				    pc_action_rank(e->action) >
						    pc_action_rank(rule->action)
					    ? " (deny beats audit beats allow)"
				    : e->action == rule->action
					    ? " (the earlier rule is credited)"
					    : "");
		else
			pc_diag_add(d, 1, pol->filename, &rule->loc,
				    "rule \"%s\" can never match", rule->name);
	}
	free(used_id);
	free(used_svc);
	free(decides);
}

static int too_big(const struct pc_policy *pol, struct pc_diags *d,
		   const char *what, size_t n, size_t max)
{
	pc_diag_add(d, 0, pol->filename, NULL,
		    "policy compiles to %zu %s, at most %zu fit", n, what, max);
	return -E2BIG;
}

int pc_policy_compile(const struct pc_policy *pol, struct pc_compiled **out,
		      struct pc_diags *d)
{
	struct pc_compiled *c = pc_xcalloc(1, sizeof(*c));
	struct setdb isets = {0}, vsets = {0};
	struct pc_owner_sets *ii = &c->ident_owners, *vi = &c->service_owners;
	struct entries e = {0};
	struct specs s = {0};
	struct hits h = {0};
	struct hit *first;
	int rc = 0;

	*out = NULL;
	size_t nrated = 0;

	for (size_t r = 0; r < pol->nrules; r++)
		nrated += pol->rules[r].rate.units != 0;
	if (nrated > PC_MAX_RATED_RULES) {
		pc_diag_add(d, 0, pol->filename, NULL,
			    "%zu rules with a rate, at most %d", nrated,
			    PC_MAX_RATED_RULES);
		free(c);
		return -E2BIG;
	}
	if (pol->nrules >= PC_MAX_RULES) {
		pc_diag_add(d, 0, pol->filename, NULL, "%zu rules, at most %d",
			    pol->nrules, PC_MAX_RULES - 1);
		free(c);
		return -E2BIG;
	}
	ident_sets(pol, &isets, c);
	service_sets(pol, &vsets, c);
	inverse_build(&isets, pol->nidentities, ii);
	inverse_build(&vsets, pol->nservices, vi);
	inverse_name(ii, pol, 0);
	inverse_name(vi, pol, 1);
	collect_hits(pol, ii, vi, &h);
	first = pc_xcalloc(pol->nrules + 1, sizeof(*first));
	for (size_t i = h.n; i-- > 0;)
		first[h.v[i].rule] = h.v[i];
	for (size_t i = 0; i < h.n;) {
		size_t j = i;

		while (j < h.n && h.v[j].iset == h.v[i].iset &&
		       h.v[j].vset == h.v[i].vset)
			j++;
		specs_of(pol, &h.v[i], j - i, &s);
		resolve_pair(&e, h.v[i].iset, h.v[i].vset, &s);
		i = j;
	}
	c->entries = e.v;
	c->nentries = e.n;
	c->nrules = pol->nrules;
	c->rule_names = rule_names(pol);
	c->rates = pc_xcalloc(pol->nrules ? pol->nrules : 1, sizeof(*c->rates));
	for (size_t r = 0; r < pol->nrules; r++)
		c->rates[r] = pol->rules[r].rate;
	c->mode = pol->mode;
	c->ident_set_names = set_names(&isets, pol, 0);
	c->service_set_names = set_names(&vsets, pol, 1);
	lint(pol, c, first, d);
	free(first);
	free(h.v);
	free(s.v);
	setdb_free(&isets);
	setdb_free(&vsets);
	/* a push fills one slot while the other is live: half each */
	if (c->nentries > PC_MAX_POLICY_ENTRIES / 2)
		rc = too_big(pol, d, "policy entries", c->nentries,
			     PC_MAX_POLICY_ENTRIES / 2);
	else if (c->nidents > PC_MAX_IDENT_PREFIXES / 2)
		rc = too_big(pol, d, "identity prefixes", c->nidents,
			     PC_MAX_IDENT_PREFIXES / 2);
	else if (c->nservices > PC_MAX_SERVICE_PREFIXES / 2)
		rc = too_big(pol, d, "service prefixes", c->nservices,
			     PC_MAX_SERVICE_PREFIXES / 2);
	if (!rc)
		rc = pc_lb_compile(pol, c, d);
	if (rc) {
		pc_compiled_free(c);
		return rc;
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
	for (size_t i = 0; i < c->nservice_sets; i++)
		free(c->service_set_names[i]);
	free(c->service_set_names);
	inverse_free(&c->ident_owners);
	inverse_free(&c->service_owners);
	free(c->idents);
	free(c->services);
	free(c->entries);
	free(c->rates);
	free(c->peers);
	pc_lb_free(c);
	free(c);
}

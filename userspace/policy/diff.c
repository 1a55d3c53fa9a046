// SPDX-License-Identifier: Apache-2.0
/*
 * Semantic diff of two compiled policies.  The address space is cut into
 * atoms (the prefixes of both policies, each standing for its addresses
 * not in a more specific one), so that every atom has one identity set
 * in each policy; same for destinations.  For each pair of atoms the two
 * policies' entries are compared over protocols and port ranges.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "portcullis/maps.h"
#include "policy.h"

struct atom {
	struct pc_prefix p;
	uint32_t set[2]; /* in the old (0) and new (1) policy */
	int empty;	 /* more specific prefixes cover all of it */
	const uint8_t *peer;
};

struct atoms {
	struct atom *v;
	size_t n, cap;
};

struct tagged {
	struct pc_prefix p;
	uint32_t set;
	int side;
};

static int tagged_cmp(const void *a, const void *b)
{
	const struct tagged *x = a, *y = b;
	int c = pc_prefix_cmp(&x->p, &y->p);

	return c ? c : x->side - y->side;
}

struct frame {
	struct pc_prefix p;
	uint32_t set[2];
	size_t atom;
	unsigned __int128 covered; /* by direct children */
};

static unsigned __int128 prefix_size(const struct pc_prefix *p)
{
	/* ::/0 is never treated as covered: its size does not fit */
	return p->plen ? (unsigned __int128)1 << (128 - p->plen) : 0;
}

static void pop(struct frame *stack, size_t *depth, struct atoms *a)
{
	struct frame *f = &stack[--*depth];

	if (f->p.plen && f->covered == prefix_size(&f->p))
		a->v[f->atom].empty = 1;
	if (*depth)
		stack[*depth - 1].covered += prefix_size(&f->p);
}

/* Atoms of two prefix -> set lists (old, new). */
static void build_atoms(const struct pc_set_entry *o, size_t no,
			const struct pc_set_entry *n, size_t nn,
			struct atoms *a)
{
	struct tagged *t = pc_xcalloc(no + nn + 1, sizeof(*t));
	struct frame stack[130];
	size_t k = 0, depth = 0;

	for (size_t i = 0; i < no; i++)
		t[k++] = (struct tagged){o[i].prefix, o[i].set_id, 0};
	for (size_t i = 0; i < nn; i++)
		t[k++] = (struct tagged){n[i].prefix, n[i].set_id, 1};
	qsort(t, k, sizeof(*t), tagged_cmp);
	for (size_t i = 0; i < k;) {
		struct frame f = {.p = t[i].p};
		size_t j = i;

		while (depth &&
		       !pc_prefix_contains(&stack[depth - 1].p, &t[i].p))
			pop(stack, &depth, a);
		if (depth) {
			f.set[0] = stack[depth - 1].set[0];
			f.set[1] = stack[depth - 1].set[1];
		}
		for (; j < k && !pc_prefix_cmp(&t[j].p, &t[i].p); j++)
			f.set[t[j].side] = t[j].set;
		pc_xgrow(&a->v, &a->cap, a->n, sizeof(*a->v));
		a->v[a->n] =
			(struct atom){.p = f.p, .set = {f.set[0], f.set[1]}};
		f.atom = a->n++;
		stack[depth++] = f;
		i = j;
	}
	while (depth)
		pop(stack, &depth, a);
	free(t);
}

static int peer_key_cmp(const void *a, const void *b)
{
	return memcmp(((const struct pc_peer_entry *)a)->key,
		      ((const struct pc_peer_entry *)b)->key, PC_WG_KEY_LEN);
}

/* WireGuard peers are atoms too: each key's set in either policy. */
static void peer_atoms(const struct pc_compiled *o, const struct pc_compiled *n,
		       struct atoms *a)
{
	for (int side = 0; side < 2; side++) {
		const struct pc_compiled *c = side ? n : o,
					 *other = side ? o : n;

		for (size_t i = 0; i < c->npeers; i++) {
			const struct pc_peer_entry *hit = NULL;

			for (size_t k = 0; k < other->npeers && !hit; k++)
				if (!peer_key_cmp(&c->peers[i],
						  &other->peers[k]))
					hit = &other->peers[k];
			if (side && hit)
				continue; /* already added from the old side */
			pc_xgrow(&a->v, &a->cap, a->n, sizeof(*a->v));
			memset(&a->v[a->n], 0, sizeof(*a->v));
			a->v[a->n].peer = c->peers[i].key;
			a->v[a->n].set[side] = c->peers[i].set_id;
			a->v[a->n].set[!side] = hit ? hit->set_id : 0;
			a->n++;
		}
	}
}

/* Allow and audit pass, in different ways; deny and no rule do not. */
static int effect(const struct pc_policy_entry *e)
{
	if (!e || e->action == PC_ACT_DENY)
		return 0;
	return e->action;
}

/* the first 8 characters of the key's base64, enough to tell */
static void b64_prefix(const uint8_t *key, char *out)
{
	char full[PC_WG_KEY_B64];

	pc_wg_key_to_base64(key, full);
	memcpy(out, full, 8);
	out[8] = '\0';
}

static char *label(const struct atom *a, char **old_names, char **new_names)
{
	const char *name = NULL;
	struct pc_buf b = {0};
	char text[64];

	if (a->set[1] && strcmp(new_names[a->set[1] - 1], "-"))
		name = new_names[a->set[1] - 1];
	else if (a->set[0] && strcmp(old_names[a->set[0] - 1], "-"))
		name = old_names[a->set[0] - 1];
	if (a->peer) {
		b64_prefix(a->peer, text);
		pc_buf_printf(&b, "%s%speer %s...", name ? name : "",
			      name ? " " : "", text);
		return b.data;
	}
	if (name)
		return pc_strdup(name);
	pc_prefix_format(&a->p, text, sizeof(text));
	pc_buf_printf(&b, "any (%s)", text);
	return b.data;
}

struct ctx {
	const struct pc_compiled *c[2];
	struct pc_diff *out;
	const struct atom *ia, *va;
};

static void emit(struct ctx *x, uint8_t proto, int any, uint16_t lo,
		 uint16_t hi, const struct pc_policy_entry *e0,
		 const struct pc_policy_entry *e1)
{
	struct pc_diff_line *l;

	pc_xgrow(&x->out->v, &x->out->cap, x->out->n, sizeof(*x->out->v));
	l = &x->out->v[x->out->n++];
	memset(l, 0, sizeof(*l));
	l->from = label(x->ia, x->c[0]->ident_set_names,
			x->c[1]->ident_set_names);
	l->to = label(x->va, x->c[0]->service_set_names,
		      x->c[1]->service_set_names);
	if (!strncmp(l->to, "any (", 5) && x->va->p.plen == 0) {
		free(l->to);
		l->to = pc_strdup("any");
	}
	if (!strncmp(l->from, "any (", 5) && x->ia->p.plen == 0) {
		free(l->from);
		l->from = pc_strdup("any");
	}
	pc_format_ports(proto, any, lo, hi, l->ports, sizeof(l->ports));
	if (any == 2)
		snprintf(l->ports, sizeof(l->ports), "other protocols");
	l->old_action = e0 ? e0->action : PC_ACT_NONE;
	l->new_action = e1 ? e1->action : PC_ACT_NONE;
	l->old_rule =
		e0 ? pc_strdup(x->c[0]->rule_names[e0->rule_id - 1]) : NULL;
	l->new_rule =
		e1 ? pc_strdup(x->c[1]->rule_names[e1->rule_id - 1]) : NULL;
}

static void add_points(const struct pc_compiled *c, uint32_t is, uint32_t vs,
		       uint8_t proto, uint32_t **pts, size_t *n, size_t *cap)
{
	size_t b, end;

	pc_compiled_group(c, is, vs, &b, &end);
	for (size_t i = b; i < end; i++) {
		const struct pc_policy_entry *e = &c->entries[i];
		unsigned int bits;

		if (e->plen == PC_POLICY_PLEN_PROTO || e->proto != proto)
			continue;
		bits = e->plen - PC_POLICY_PLEN_PORT0;
		pc_xgrow(pts, cap, *n + 1, sizeof(**pts));
		(*pts)[(*n)++] = e->port;
		(*pts)[(*n)++] = (uint32_t)e->port + (1u << (16 - bits));
	}
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The same decision (port prefixes of one range are separate entries). */
static int same(const struct pc_policy_entry *a,
		const struct pc_policy_entry *b)
{
	if (!a || !b)
		return a == b;
	return a->action == b->action && a->rule_id == b->rule_id;
}

/* Compare one protocol's ports for one pair of atoms. */
static void diff_proto(struct ctx *x, const uint32_t is[2],
		       const uint32_t vs[2], uint8_t proto)
{
	uint32_t *pts = NULL;
	size_t n = 0, cap = 0, m = 0;

	pc_xgrow(&pts, &cap, 1, sizeof(*pts));
	pts[n++] = 0;
	pts[n++] = 65536;
	add_points(x->c[0], is[0], vs[0], proto, &pts, &n, &cap);
	add_points(x->c[1], is[1], vs[1], proto, &pts, &n, &cap);
	qsort(pts, n, sizeof(*pts), u32_cmp);
	for (size_t i = 0; i < n; i++)
		if (!m || pts[m - 1] != pts[i])
			pts[m++] = pts[i];
	for (size_t i = 0; i + 1 < m;) {
		const struct pc_policy_entry *e0 = pc_compiled_find(
			x->c[0], is[0], vs[0], proto, (uint16_t)pts[i]);
		const struct pc_policy_entry *e1 = pc_compiled_find(
			x->c[1], is[1], vs[1], proto, (uint16_t)pts[i]);
		size_t j = i + 1;

		while (j + 1 < m &&
		       same(pc_compiled_find(x->c[0], is[0], vs[0], proto,
					     (uint16_t)pts[j]),
			    e0) &&
		       same(pc_compiled_find(x->c[1], is[1], vs[1], proto,
					     (uint16_t)pts[j]),
			    e1))
			j++;
		if (effect(e0) != effect(e1))
			emit(x, proto, 0, (uint16_t)pts[i],
			     (uint16_t)(pts[j] - 1), e0, e1);
		i = j;
	}
	free(pts);
}

static void diff_pair(struct ctx *x, const uint32_t is[2], const uint32_t vs[2])
{
	uint8_t seen[256] = {0};
	int other = -1;

	for (int side = 0; side < 2; side++) {
		size_t b, end;

		pc_compiled_group(x->c[side], is[side], vs[side], &b, &end);
		for (size_t i = b; i < end; i++)
			if (x->c[side]->entries[i].plen > PC_POLICY_PLEN_PROTO)
				seen[x->c[side]->entries[i].proto] = 1;
	}
	for (int p = 0; p < 256; p++) {
		if (seen[p])
			diff_proto(x, is, vs, (uint8_t)p);
		else if (other < 0)
			other = p;
	}
	/* every protocol no entry names: one question answers them all */
	if (other >= 0) {
		const struct pc_policy_entry *e0 = pc_compiled_find(
			x->c[0], is[0], vs[0], (uint8_t)other, 0);
		const struct pc_policy_entry *e1 = pc_compiled_find(
			x->c[1], is[1], vs[1], (uint8_t)other, 0);
		int any_seen = 0;

		for (int p = 0; p < 256; p++)
			any_seen |= seen[p];
		if (effect(e0) != effect(e1))
			emit(x, 0, any_seen ? 2 : 1, 0, 0xffff, e0, e1);
	}
}

/* Does the policy have entries for this set pair? */
static int has_group(const struct pc_compiled *c, uint32_t is, uint32_t vs)
{
	size_t b, e;

	pc_compiled_group(c, is, vs, &b, &e);
	return b < e;
}

static int line_cmp(const void *a, const void *b)
{
	const struct pc_diff_line *x = a, *y = b;
	int c = strcmp(x->from, y->from);

	if (!c)
		c = strcmp(x->to, y->to);
	if (!c)
		c = strcmp(x->ports, y->ports);
	if (!c)
		c = (int)x->new_action - (int)y->new_action;
	if (!c)
		c = (int)x->old_action - (int)y->old_action;
	return c;
}

static void line_free(struct pc_diff_line *l)
{
	free(l->from);
	free(l->to);
	free(l->old_rule);
	free(l->new_rule);
}

void pc_policy_diff(const struct pc_compiled *old,
		    const struct pc_compiled *new, struct pc_diff *out)
{
	struct atoms ia = {0}, va = {0};
	struct ctx x = {{old, new}, out, NULL, NULL};
	size_t m = 0;

	memset(out, 0, sizeof(*out));
	build_atoms(old->idents, old->nidents, new->idents, new->nidents, &ia);
	peer_atoms(old, new, &ia);
	build_atoms(old->services, old->nservices, new->services,
		    new->nservices, &va);
	for (size_t i = 0; i < ia.n; i++) {
		if (ia.v[i].empty)
			continue;
		for (size_t j = 0; j < va.n; j++) {
			if (va.v[j].empty)
				continue;
			if (!has_group(old, ia.v[i].set[0], va.v[j].set[0]) &&
			    !has_group(new, ia.v[i].set[1], va.v[j].set[1]))
				continue;
			x.ia = &ia.v[i];
			x.va = &va.v[j];
			diff_pair(&x, ia.v[i].set, va.v[j].set);
		}
	}
	/* atoms with the same names say the same thing: once is enough */
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), line_cmp);
	for (size_t i = 0; i < out->n; i++) {
		if (m && !line_cmp(&out->v[m - 1], &out->v[i])) {
			line_free(&out->v[i]);
			continue;
		}
		out->v[m++] = out->v[i];
	}
	out->n = m;
	free(ia.v);
	free(va.v);
}

void pc_diff_free(struct pc_diff *d)
{
	for (size_t i = 0; i < d->n; i++)
		line_free(&d->v[i]);
	free(d->v);
	memset(d, 0, sizeof(*d));
}

char pc_diff_sign(const struct pc_diff_line *l)
{
	if (l->old_action == PC_ACT_NONE || l->old_action == PC_ACT_DENY)
		return '+';
	if (l->new_action == PC_ACT_NONE || l->new_action == PC_ACT_DENY)
		return '-';
	return '~';
}

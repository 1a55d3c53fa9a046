// SPDX-License-Identifier: Apache-2.0
/* YAML policy text -> struct pc_policy, with FILE:LINE:COL errors. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "portcullis/maps.h"
#include "policy.h"

/* Names sorted for lookup: identities (0) and services (1). */
struct name_ix {
	const char *name;
	size_t idx;
};

struct pctx {
	yaml_document_t doc;
	const char *file;
	char *err;
	struct pc_policy *pol;
	size_t cap_ids, cap_svcs, cap_rules;
	struct name_ix *ix[2];
};

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

__attribute__((format(printf, 3, 4))) static int
fail(struct pctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pc_loc_error(c->err, PC_ERR_LEN, c->file,
		     n ? n->start_mark.line + 1 : 1,
		     n ? n->start_mark.column + 1 : 1, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static yaml_node_t *node(struct pctx *c, int id)
{
	return yaml_document_get_node(&c->doc, id);
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE
		       ? (const char *)n->data.scalar.value
		       : NULL;
}

static struct pc_loc loc_of(const yaml_node_t *n)
{
	return (struct pc_loc){(int)n->start_mark.line + 1,
			       (int)n->start_mark.column + 1};
}

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

static int valid_name(const char *s)
{
	if (!*s || strlen(s) > 63 || !strcmp(s, "any"))
		return 0;
	for (; *s; s++) {
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && *s != '-' && *s != '_' &&
		    *s != '.')
			return 0;
	}
	return 1;
}

/* Call fn for each item of a sequence, or once for a lone scalar. */
typedef int (*item_fn)(struct pctx *c, yaml_node_t *item, void *arg);

static int for_each_item(struct pctx *c, yaml_node_t *n, item_fn fn, void *arg)
{
	int err;

	if (n->type == YAML_SCALAR_NODE)
		return fn(c, n, arg);
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(c, n, "expected a list");
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++) {
		err = fn(c, node(c, *it), arg);
		if (err)
			return err;
	}
	return 0;
}

struct prefix_list {
	struct pc_prefix **v;
	size_t *n;
};

static int add_cidr(struct pctx *c, yaml_node_t *item, void *arg)
{
	struct prefix_list *l = arg;
	const char *s = scalar(item);
	char why[160];
	struct pc_prefix p;

	if (!s)
		return fail(c, item, "expected a CIDR such as 198.18.1.0/24");
	if (pc_prefix_parse(s, &p, why, sizeof(why)))
		return fail(c, item, "bad CIDR \"%s\": %s", s, why);
	*l->v = realloc(*l->v, (*l->n + 1) * sizeof(p));
	if (!*l->v)
		return -ENOMEM;
	(*l->v)[(*l->n)++] = p;
	return 0;
}

static const struct {
	const char *name;
	uint8_t proto;
} proto_names[] = {
	{"tcp", 6}, {"udp", 17}, {"sctp", 132}, {"icmp", 1}, {"icmpv6", 58},
};

static int parse_proto(const char *s, uint8_t *proto)
{
	char *end;
	unsigned long v;

	for (size_t i = 0; i < PC_ARRAY_SIZE(proto_names); i++) {
		if (!strcmp(s, proto_names[i].name)) {
			*proto = proto_names[i].proto;
			return 0;
		}
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (!*s || *end || errno || v > 255)
		return -EINVAL;
	*proto = (uint8_t)v;
	return 0;
}

static int parse_port_num(const char *s, size_t len, uint16_t *out)
{
	unsigned long v = 0;

	if (len == 0 || len > 5)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

/* "443/tcp", "8000-8100/tcp", "any/udp", "icmp", "icmpv6", "any". */
static int parse_portspec(const char *s, struct pc_portrange *r)
{
	const char *slash = strchr(s, '/'), *dash;

	memset(r, 0, sizeof(*r));
	r->hi = 0xffff;
	if (!strcmp(s, "any")) {
		r->any_proto = 1;
		return 0;
	}
	if (!strcmp(s, "icmp") || !strcmp(s, "icmpv6"))
		return parse_proto(s, &r->proto);
	if (!slash || parse_proto(slash + 1, &r->proto))
		return -EINVAL;
	if (r->proto == 1 || r->proto == 58)
		return -EINVAL; /* ICMP has types, not ports */
	if (!strncmp(s, "any/", 4))
		return 0;
	dash = memchr(s, '-', (size_t)(slash - s));
	if (!dash) {
		if (parse_port_num(s, (size_t)(slash - s), &r->lo))
			return -EINVAL;
		r->hi = r->lo;
		return 0;
	}
	if (parse_port_num(s, (size_t)(dash - s), &r->lo) ||
	    parse_port_num(dash + 1, (size_t)(slash - dash - 1), &r->hi) ||
	    r->lo > r->hi)
		return -EINVAL;
	return 0;
}

static int add_port(struct pctx *c, yaml_node_t *item, void *arg)
{
	struct pc_service *svc = arg;
	const char *s = scalar(item);
	struct pc_portrange r;

	if (!s || parse_portspec(s, &r))
		return fail(
			c, item,
			"bad port \"%s\" in service \"%s\" (expected 443/tcp, "
			"8000-8100/tcp, any/udp, icmp, icmpv6 or any)",
			s ? s : "", svc->name);
	svc->ports = realloc(svc->ports, (svc->nports + 1) * sizeof(r));
	if (!svc->ports)
		return -ENOMEM;
	svc->ports[svc->nports++] = r;
	return 0;
}

/* Iterate a mapping's pairs, refusing non-scalar keys. */
#define FOR_PAIRS(c, map, p)                                        \
	for (yaml_node_pair_t *p = (map)->data.mapping.pairs.start; \
	     p < (map)->data.mapping.pairs.top; p++)

static int expect_mapping(struct pctx *c, yaml_node_t *n, const char *what)
{
	if (!n || n->type != YAML_MAPPING_NODE)
		return fail(c, n, "%s must be a mapping", what);
	return 0;
}

static int parse_identity(struct pctx *c, const char *name, yaml_node_t *kn,
			  yaml_node_t *v)
{
	struct pc_policy *pol = c->pol;
	struct pc_identity *id;
	struct prefix_list l;
	int err;

	if ((err = expect_mapping(c, v, "an identity")))
		return err;
	pc_xgrow(&pol->identities, &c->cap_ids, pol->nidentities, sizeof(*id));
	id = &pol->identities[pol->nidentities++];
	memset(id, 0, sizeof(*id));
	id->name = pc_strdup(name);
	id->loc = loc_of(kn);
	l = (struct prefix_list){&id->cidrs, &id->ncidrs};
	FOR_PAIRS (c, v, p) {
		yaml_node_t *k = node(c, p->key), *val = node(c, p->value);
		const char *ks = scalar(k);

		if (ks && !strcmp(ks, "cidrs"))
			err = for_each_item(c, val, add_cidr, &l);
		else
			err = fail(c, k,
				   "unknown key \"%s\" in identity \"%s\"",
				   ks ? ks : "", name);
		if (err)
			return err;
	}
	if (!id->ncidrs)
		return fail(c, kn, "identity \"%s\" has no cidrs", name);
	return 0;
}

static int parse_service(struct pctx *c, const char *name, yaml_node_t *kn,
			 yaml_node_t *v)
{
	struct pc_policy *pol = c->pol;
	struct pc_service *svc;
	struct prefix_list l;
	int err;

	if ((err = expect_mapping(c, v, "a service")))
		return err;
	pc_xgrow(&pol->services, &c->cap_svcs, pol->nservices, sizeof(*svc));
	svc = &pol->services[pol->nservices++];
	memset(svc, 0, sizeof(*svc));
	svc->name = pc_strdup(name);
	svc->loc = loc_of(kn);
	l = (struct prefix_list){&svc->cidrs, &svc->ncidrs};
	FOR_PAIRS (c, v, p) {
		yaml_node_t *k = node(c, p->key), *val = node(c, p->value);
		const char *ks = scalar(k);

		if (ks && !strcmp(ks, "cidrs"))
			err = for_each_item(c, val, add_cidr, &l);
		else if (ks && !strcmp(ks, "ports"))
			err = for_each_item(c, val, add_port, svc);
		else
			err = fail(c, k, "unknown key \"%s\" in service \"%s\"",
				   ks ? ks : "", name);
		if (err)
			return err;
	}
	return 0;
}

typedef int (*named_fn)(struct pctx *c, const char *name, yaml_node_t *kn,
			yaml_node_t *v);

static int parse_named(struct pctx *c, yaml_node_t *map, int which, named_fn fn)
{
	const char *what = which ? "services" : "identities";
	struct pc_policy *pol = c->pol;
	struct name_ix *ix;
	size_t n, dup = SIZE_MAX;
	int err;

	if (map->type == YAML_SCALAR_NODE && !*scalar(map))
		return 0; /* "identities:" left empty */
	if ((err = expect_mapping(c, map, what)))
		return err;
	FOR_PAIRS (c, map, p) {
		yaml_node_t *k = node(c, p->key);
		const char *name = scalar(k);

		if (!name || !valid_name(name))
			return fail(
				c, k,
				"bad name \"%s\" (letters, digits, '-', '_', "
				"'.'; not \"any\")",
				name ? name : "");
		err = fn(c, name, k, node(c, p->value));
		if (err)
			return err;
	}
	/* one entry per pair, in order: sort the names to find duplicates
	 * and to resolve the rules' references */
	n = which ? pol->nservices : pol->nidentities;
	ix = c->ix[which] = pc_xcalloc(n ? n : 1, sizeof(*ix));
	for (size_t i = 0; i < n; i++) {
		ix[i].name =
			which ? pol->services[i].name : pol->identities[i].name;
		ix[i].idx = i;
	}
	qsort(ix, n, sizeof(*ix), ix_cmp);
	for (size_t i = 1; i < n; i++)
		if (!strcmp(ix[i - 1].name, ix[i].name) && ix[i].idx < dup)
			dup = ix[i].idx;
	if (dup != SIZE_MAX)
		return fail(c, node(c, map->data.mapping.pairs.start[dup].key),
			    "duplicate name \"%s\"",
			    which ? pol->services[dup].name
				  : pol->identities[dup].name);
	return 0;
}

static size_t name_lookup(struct pctx *c, int which, const char *name)
{
	size_t n = which ? c->pol->nservices : c->pol->nidentities;
	struct name_ix key = {.name = name}, *hit;

	if (!c->ix[which])
		return SIZE_MAX;
	hit = bsearch(&key, c->ix[which], n, sizeof(key), ix_cmp_name);
	return hit ? hit->idx : SIZE_MAX;
}

struct ref_ctx {
	struct pc_rule *rule;
	int to; /* 0: from (identities), 1: to (services) */
};

static const char *closest(struct pctx *c, const char *name, int to)
{
	size_t n = to ? c->pol->nservices : c->pol->nidentities;
	const char *best = NULL;
	size_t bestd = 3;

	for (size_t i = 0; i < n; i++) {
		const char *cand = to ? c->pol->services[i].name
				      : c->pol->identities[i].name;
		size_t d = edit_distance(name, cand);

		if (d < bestd) {
			bestd = d;
			best = cand;
		}
	}
	return best;
}

static int add_ref(struct pctx *c, yaml_node_t *item, void *arg)
{
	struct ref_ctx *rc = arg;
	const char *s = scalar(item), *hint;
	size_t idx = PC_ANY;
	size_t **v = rc->to ? &rc->rule->to : &rc->rule->from;
	size_t *cnt = rc->to ? &rc->rule->nto : &rc->rule->nfrom;

	if (!s)
		return fail(c, item, "expected a name");
	if (strcmp(s, "any")) {
		idx = name_lookup(c, rc->to, s);
		if (idx == SIZE_MAX) {
			hint = closest(c, s, rc->to);
			if (hint)
				return fail(c, item,
					    "unknown %s \"%s\" (did you mean "
					    "\"%s\"?)",
					    rc->to ? "service" : "identity", s,
					    hint);
			return fail(c, item, "unknown %s \"%s\"",
				    rc->to ? "service" : "identity", s);
		}
	}
	*v = realloc(*v, (*cnt + 1) * sizeof(size_t));
	if (!*v)
		return -ENOMEM;
	(*v)[(*cnt)++] = idx;
	return 0;
}

static int parse_action(struct pctx *c, yaml_node_t *v, struct pc_rule *r)
{
	const char *s = scalar(v);

	if (s && !strcmp(s, "allow"))
		r->action = PC_ACT_ALLOW;
	else if (s && !strcmp(s, "deny"))
		r->action = PC_ACT_DENY;
	else if (s && !strcmp(s, "audit"))
		r->action = PC_ACT_AUDIT;
	else
		return fail(c, v, "bad action \"%s\" (allow, deny or audit)",
			    s ? s : "");
	return 0;
}

static int parse_bool(struct pctx *c, yaml_node_t *v, uint8_t *out)
{
	const char *s = scalar(v);

	if (s && (!strcmp(s, "true") || !strcmp(s, "yes")))
		*out = 1;
	else if (s && (!strcmp(s, "false") || !strcmp(s, "no")))
		*out = 0;
	else
		return fail(c, v, "expected true or false, not \"%s\"",
			    s ? s : "");
	return 0;
}

static int parse_rule_key(struct pctx *c, struct pc_rule *r, yaml_node_t *k,
			  yaml_node_t *v)
{
	const char *ks = scalar(k);
	struct ref_ctx rc = {.rule = r};

	if (!ks)
		return fail(c, k, "expected a key");
	if (!strcmp(ks, "from"))
		return for_each_item(c, v, add_ref, &rc);
	if (!strcmp(ks, "to")) {
		rc.to = 1;
		return for_each_item(c, v, add_ref, &rc);
	}
	if (!strcmp(ks, "action"))
		return parse_action(c, v, r);
	if (!strcmp(ks, "log"))
		return parse_bool(c, v, &r->log);
	if (!strcmp(ks, "name")) {
		if (!scalar(v) || !valid_name(scalar(v)))
			return fail(c, v, "bad rule name");
		free(r->name);
		r->name = pc_strdup(scalar(v));
		return 0;
	}
	return fail(c, k, "unknown key \"%s\" in rule", ks);
}

static int parse_rule(struct pctx *c, yaml_node_t *item, void *arg)
{
	struct pc_policy *pol = c->pol;
	struct pc_rule *r;
	char name[32];
	int err;

	(void)arg;
	if ((err = expect_mapping(c, item, "a rule")))
		return err;
	pc_xgrow(&pol->rules, &c->cap_rules, pol->nrules, sizeof(*r));
	r = &pol->rules[pol->nrules++];
	memset(r, 0, sizeof(*r));
	r->loc = loc_of(item);
	snprintf(name, sizeof(name), "rule-%zu", pol->nrules);
	r->name = pc_strdup(name);
	FOR_PAIRS (c, item, p) {
		err = parse_rule_key(c, r, node(c, p->key), node(c, p->value));
		if (err)
			return err;
	}
	if (!r->nfrom)
		return fail(c, item, "rule \"%s\" has no \"from\"", r->name);
	if (!r->nto)
		return fail(c, item, "rule \"%s\" has no \"to\"", r->name);
	if (r->action == PC_ACT_NONE)
		return fail(c, item, "rule \"%s\" has no \"action\"", r->name);
	return 0;
}

static int check_header(struct pctx *c, yaml_node_t *k, yaml_node_t *v)
{
	const char *ks = scalar(k), *vs = scalar(v);

	if (!strcmp(ks, "apiVersion") && (!vs || strcmp(vs, "portcullis/v1")))
		return fail(c, v,
			    "unsupported apiVersion \"%s\" (expected "
			    "portcullis/v1)",
			    vs ? vs : "");
	if (!strcmp(ks, "kind") && (!vs || strcmp(vs, "Policy")))
		return fail(c, v, "unsupported kind \"%s\" (expected Policy)",
			    vs ? vs : "");
	return 0;
}

static int parse_root(struct pctx *c, yaml_node_t *root)
{
	static const char *const keys[] = {"apiVersion", "kind", "identities",
					   "services", "rules"};
	yaml_node_t *found[PC_ARRAY_SIZE(keys)] = {0};
	int err;

	if (!root)
		return fail(c, NULL, "empty policy");
	if ((err = expect_mapping(c, root, "the policy")))
		return err;
	FOR_PAIRS (c, root, p) {
		yaml_node_t *k = node(c, p->key);
		const char *ks = scalar(k);
		size_t i;

		for (i = 0; ks && i < PC_ARRAY_SIZE(keys); i++)
			if (!strcmp(ks, keys[i]))
				break;
		if (!ks || i == PC_ARRAY_SIZE(keys))
			return fail(c, k, "unknown key \"%s\"", ks ? ks : "");
		if (found[i])
			return fail(c, k, "duplicate key \"%s\"", ks);
		found[i] = node(c, p->value);
		if ((err = check_header(c, k, found[i])))
			return err;
	}
	if (!found[0])
		return fail(c, root, "missing apiVersion: portcullis/v1");
	if (!found[1])
		return fail(c, root, "missing kind: Policy");
	if (found[2] && (err = parse_named(c, found[2], 0, parse_identity)))
		return err;
	if (found[3] && (err = parse_named(c, found[3], 1, parse_service)))
		return err;
	if (found[4] &&
	    !(found[4]->type == YAML_SCALAR_NODE && !*scalar(found[4])))
		return for_each_item(c, found[4], parse_rule, NULL);
	return 0;
}

int pc_policy_parse(const char *text, size_t len, const char *filename,
		    struct pc_policy **out, char err[PC_ERR_LEN])
{
	struct pctx c = {.file = filename ? filename : "<policy>", .err = err};
	yaml_parser_t parser;
	int rc;

	*out = NULL;
	err[0] = '\0';
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &c.doc)) {
		snprintf(err, PC_ERR_LEN, "%s:%zu:%zu: %s", c.file,
			 parser.problem_mark.line + 1,
			 parser.problem_mark.column + 1,
			 parser.problem ? parser.problem : "malformed YAML");
		yaml_parser_delete(&parser);
		return -EINVAL;
	}
	c.pol = pc_xcalloc(1, sizeof(*c.pol));
	c.pol->filename = pc_strdup(c.file);
	rc = parse_root(&c, yaml_document_get_root_node(&c.doc));
	yaml_document_delete(&c.doc);
	yaml_parser_delete(&parser);
	free(c.ix[0]);
	free(c.ix[1]);
	if (rc) {
		if (!err[0])
			snprintf(err, PC_ERR_LEN, "%s: %s", c.file,
				 strerror(-rc));
		pc_policy_free(c.pol);
		return rc;
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
	}
	for (size_t i = 0; i < p->nservices; i++) {
		free(p->services[i].name);
		free(p->services[i].cidrs);
		free(p->services[i].ports);
	}
	for (size_t i = 0; i < p->nrules; i++) {
		free(p->rules[i].name);
		free(p->rules[i].from);
		free(p->rules[i].to);
	}
	free(p->identities);
	free(p->services);
	free(p->rules);
	free(p->filename);
	free(p);
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

// SPDX-License-Identifier: Apache-2.0
/* Unit tests: policy parser errors, CIDRs, compiler semantics. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "portcullis/maps.h"
#include "policy_test.h"

#define HEADER "apiVersion: portcullis/v1\nkind: Policy\n"

static int parse(const char *text, struct pc_policy **p, char *err)
{
	return parse_e(text, strlen(text), "p.yaml", p, err);
}

static void expect_error(const char *text, const char *want)
{
	struct pc_policy *p = NULL;
	char err[PC_ERR_LEN];

	cr_assert_eq(parse(text, &p, err), -EINVAL, "accepted: %s", text);
	cr_assert_null(p);
	cr_assert_str_eq(err, want);
}

Test(parse, errors_name_file_line_column)
{
	/* Test that each kind of bad input is refused with FILE:LINE:COL */
	expect_error(HEADER
		     "identities:\n  engineers: { cidrs: [10.0.0.0/8] }\n"
		     "services:\n  web: { cidrs: [10.1.0.1/32] }\n"
		     "rules:\n  - { from: [enginers], to: [web], "
		     "action: allow }\n",
		     "p.yaml:8:14: unknown identity \"enginers\" (did you mean "
		     "\"engineers\"?)");
	expect_error(
		HEADER
		"services:\n  web: { cidrs: [10.1.0.1/32] }\n"
		"rules:\n  - { from: any, to: [wbe, web], action: allow }\n",
		"p.yaml:6:23: unknown service \"wbe\" (did you mean \"web\"?)");
	expect_error(HEADER "identities:\n  eng: { cidrs: [10.0.0.300/8] }\n",
		     "p.yaml:4:18: bad CIDR \"10.0.0.300/8\": bad address "
		     "\"10.0.0.300\"");
	expect_error(HEADER "identities:\n  eng: { cidrs: [10.0.0.1/8] }\n",
		     "p.yaml:4:18: bad CIDR \"10.0.0.1/8\": host bits set in "
		     "\"10.0.0.1/8\" (did you mean 10.0.0.0/8?)");
	expect_error(HEADER "identities:\n  eng: { cidrs: [10.0.0.0/33] }\n",
		     "p.yaml:4:18: bad CIDR \"10.0.0.0/33\": bad prefix length "
		     "\"33\"");
	expect_error(HEADER "services:\n  web: { ports: [70000/tcp] }\n",
		     "p.yaml:4:18: bad port \"70000/tcp\" in service \"web\" "
		     "(443/tcp, 8000-8100/tcp, any/udp, tcp, gre, any/47, "
		     "icmp, icmp/echo-request, icmpv6/128 or any)");
	expect_error(HEADER "services:\n  web: { ports: [9-8/tcp] }\n",
		     "p.yaml:4:18: bad port \"9-8/tcp\" in service \"web\" "
		     "(443/tcp, 8000-8100/tcp, any/udp, tcp, gre, any/47, "
		     "icmp, icmp/echo-request, icmpv6/128 or any)");
	expect_error(
		HEADER "rules:\n  - { from: any, to: any, action: permit }\n",
		"p.yaml:4:35: bad action \"permit\" (allow, deny or audit)");
	expect_error(HEADER "rulez: []\n",
		     "p.yaml:3:1: unknown key \"rulez\" (apiVersion, kind, "
		     "mode, identities, services, rules, tests)");
	expect_error("apiVersion: portcullis/v2\nkind: Policy\n",
		     "p.yaml:1:13: unsupported apiVersion \"portcullis/v2\" "
		     "(expected portcullis/v1)");
	expect_error(HEADER "identities: {eng: {cidrs: [10.0.0.0/8]}, "
			    "eng: {cidrs: [10.0.0.0/8]}}\n",
		     "p.yaml:3:42: duplicate name \"eng\"");
	/* a field twice would let the last win: deny, then allow */
	expect_error(HEADER "rules:\n  - { from: any, to: any, action: deny, "
			    "action: allow }\n",
		     "p.yaml:4:41: duplicate key \"action\"");
	expect_error(HEADER "identities: {eng: {cidrs: [10.0.0.0/8], cidrs: "
			    "[11.0.0.0/8]}}\n",
		     "p.yaml:3:41: duplicate key \"cidrs\"");
	expect_error(HEADER
		     "rules:\n"
		     "  - { name: a, from: any, to: any, action: allow }\n"
		     "  - { name: a, from: any, to: any, action: deny }\n",
		     "p.yaml:5:5: duplicate rule name \"a\" (also rule 1)");
	expect_error(
		HEADER
		"rules:\n"
		"  - { from: any, to: any, action: allow }\n"
		"  - { name: rule-1, from: any, to: any, action: deny }\n",
		"p.yaml:5:5: duplicate rule name \"rule-1\" (also rule 1)");
	expect_error(HEADER "rules:\n  - { from: any, to: any }\n",
		     "p.yaml:4:5: rule \"rule-1\" has no \"action\"");
	expect_error(HEADER "rules: [\n",
		     "p.yaml:4:1: did not find expected node content");
	expect_error("", "p.yaml:1:1: empty policy");
}

Test(parse, example_shapes)
{
	struct pc_policy *p;
	char err[PC_ERR_LEN];

	/* Test that the documented shapes parse into the model */
	cr_assert_eq(
		parse(HEADER
		      "identities:\n"
		      "  clients: { cidrs: [198.18.1.0/24, \"fd00:1::/64\"] }\n"
		      "services:\n"
		      "  web: { cidrs: [198.18.2.2/32], ports: [8080/tcp, "
		      "53/udp, icmp, 8000-8100/tcp, any/udp] }\n"
		      "rules:\n"
		      "  - { from: [clients], to: [web], action: allow, "
		      "log: true, name: r1 }\n"
		      "  - { from: any, to: web, action: deny }\n",
		      &p, err),
		0, "%s", err);
	cr_assert_eq(p->nidentities, 1);
	cr_assert_eq(p->identities[0].ncidrs, 2);
	cr_assert_eq(p->identities[0].cidrs[0].plen, 96 + 24);
	cr_assert_eq(p->identities[0].cidrs[1].plen, 64);
	cr_assert_eq(p->services[0].nports, 5);
	cr_assert_eq(p->services[0].ports[3].lo, 8000);
	cr_assert_eq(p->services[0].ports[3].hi, 8100);
	cr_assert_eq(p->services[0].ports[4].proto, 17);
	cr_assert_eq(p->services[0].ports[4].hi, 65535);
	cr_assert_eq(p->services[0].ports[2].proto, 1);
	cr_assert_str_eq(p->rules[0].name, "r1");
	cr_assert_eq(p->rules[0].log, 1);
	cr_assert_eq(p->rules[1].from[0], PC_ANY);
	cr_assert_str_eq(p->rules[1].name, "rule-2");
	pc_policy_free(p);
}

static struct pc_compiled *compile(const char *text)
{
	struct pc_policy *p;
	struct pc_compiled *c;
	char err[PC_ERR_LEN];

	cr_assert_eq(parse(text, &p, err), 0, "%s", err);
	cr_assert_eq(compile_e(p, &c, err), 0, "%s", err);
	pc_policy_free(p);
	return c;
}

Test(compile, deny_beats_allow_and_overlaps)
{
	struct pc_compiled *c = compile(
		HEADER
		"identities:\n"
		"  clients: { cidrs: [198.18.1.0/24] }\n"
		"  admin: { cidrs: [198.18.1.7/32] }\n"
		"  lab: { cidrs: [198.18.0.0/16] }\n"
		"services:\n"
		"  web: { cidrs: [198.18.2.0/24], ports: [8000-8100/tcp] }\n"
		"  ssh: { cidrs: [198.18.2.2/32], ports: [22/tcp] }\n"
		"rules:\n"
		"  - { from: [clients], to: [web], action: allow }\n"
		"  - { from: [lab], to: [web], action: deny }\n"
		"  - { from: [admin], to: [ssh], action: allow }\n"
		"  - { from: [clients], to: [ssh], action: audit }\n");
	uint32_t rule;

	/* Test that deny wins over allow whatever the order, that an address
	 * belongs to every identity containing it, and that ranges are exact */
	cr_assert_eq(decide(c, "198.18.1.9", "198.18.2.5", 6, 8080, &rule),
		     PC_ACT_DENY);
	cr_assert_eq(rule, 2);
	/* an audit rule is a deny being tried: it beats the allow */
	cr_assert_eq(decide(c, "198.18.1.7", "198.18.2.2", 6, 22, &rule),
		     PC_ACT_AUDIT);
	cr_assert_eq(rule, 4);
	cr_assert_eq(decide(c, "198.18.1.9", "198.18.2.2", 6, 22, &rule),
		     PC_ACT_AUDIT);
	cr_assert_eq(decide(c, "198.18.1.9", "198.18.2.2", 6, 23, NULL),
		     PC_ACT_NONE);
	cr_assert_eq(decide(c, "10.0.0.1", "198.18.2.2", 6, 22, NULL),
		     PC_ACT_NONE);
	pc_compiled_free(c);
}

Test(compile, ranges_are_prefixes_not_ports)
{
	struct pc_compiled *c = compile(
		HEADER
		"identities:\n  a: { cidrs: [10.0.0.0/8] }\n"
		"services:\n  s: { ports: [1-65535/tcp, 8000-8100/udp] }\n"
		"rules:\n  - { from: [a], to: [s], action: allow }\n");

	/* Test that a full range is a handful of entries and edges hold */
	cr_assert_lt(c->nentries, 40, "%zu entries", c->nentries);
	cr_assert_eq(decide(c, "10.1.1.1", "1.2.3.4", 6, 1, NULL),
		     PC_ACT_ALLOW);
	cr_assert_eq(decide(c, "10.1.1.1", "1.2.3.4", 6, 65535, NULL),
		     PC_ACT_ALLOW);
	cr_assert_eq(decide(c, "10.1.1.1", "1.2.3.4", 6, 0, NULL), PC_ACT_NONE);
	for (unsigned p = 7990; p < 8110; p++)
		cr_assert_eq(
			decide(c, "10.1.1.1", "1.2.3.4", 17, (uint16_t)p, NULL),
			p >= 8000 && p <= 8100 ? PC_ACT_ALLOW : PC_ACT_NONE,
			"udp/%u", p);
	pc_compiled_free(c);
}

Test(compile, any_and_ipv6)
{
	struct pc_compiled *c = compile(
		HEADER "identities:\n  v6: { cidrs: [\"fd00:1::/64\"] }\n"
		       "services:\n  dns: { cidrs: [\"fd00:2::53/128\"], "
		       "ports: [53/udp] }\n"
		       "rules:\n  - { from: [v6], to: any, action: allow }\n"
		       "  - { from: any, to: [dns], action: deny }\n");

	/* Test "any" on both sides and IPv6 prefixes */
	cr_assert_eq(decide(c, "fd00:1::5", "2001:db8::1", 6, 443, NULL),
		     PC_ACT_ALLOW);
	cr_assert_eq(decide(c, "fd00:1::5", "fd00:2::53", 17, 53, NULL),
		     PC_ACT_DENY);
	cr_assert_eq(decide(c, "fd00:1::5", "fd00:2::53", 17, 54, NULL),
		     PC_ACT_ALLOW);
	cr_assert_eq(decide(c, "fd00:9::5", "2001:db8::1", 6, 443, NULL),
		     PC_ACT_NONE);
	/* IPv4 source is not in an IPv6 identity */
	cr_assert_eq(decide(c, "10.0.0.1", "2001:db8::1", 6, 443, NULL),
		     PC_ACT_NONE);
	pc_compiled_free(c);
}

Test(compile, deterministic)
{
	const char *text = HEADER
		"identities:\n  a: { cidrs: [10.0.0.0/8, 10.1.0.0/16] }\n"
		"  b: { cidrs: [10.1.2.0/24] }\n"
		"services:\n  s: { ports: [80/tcp, 1000-2000/udp, icmp] }\n"
		"rules:\n  - { from: [a], to: [s], action: allow }\n"
		"  - { from: [b], to: [s], action: deny }\n";
	struct pc_compiled *x = compile(text), *y = compile(text);

	/* Test that the same file gives the same entries, byte for byte */
	cr_assert_eq(x->nentries, y->nentries);
	cr_assert_eq(memcmp(x->entries, y->entries,
			    x->nentries * sizeof(*x->entries)),
		     0);
	cr_assert_eq(x->nidents, y->nidents);
	cr_assert_eq(
		memcmp(x->idents, y->idents, x->nidents * sizeof(*x->idents)),
		0);
	pc_compiled_free(x);
	pc_compiled_free(y);
}

Test(addr, prefixes)
{
	struct pc_prefix p, q;
	char why[128], text[64];

	/* Test prefix parsing, containment and formatting */
	cr_assert_eq(pc_prefix_parse("198.18.0.0/15", &p, why, sizeof(why)), 0);
	cr_assert_eq(pc_prefix_parse("198.19.3.4", &q, why, sizeof(why)), 0);
	cr_assert_eq(q.plen, 128);
	cr_assert(pc_prefix_contains(&p, &q));
	pc_prefix_format(&p, text, sizeof(text));
	cr_assert_str_eq(text, "198.18.0.0/15");
	cr_assert_eq(pc_prefix_parse("::/0", &p, why, sizeof(why)), 0);
	cr_assert(pc_prefix_contains(&p, &q));
	cr_assert_eq(pc_prefix_parse("fd00::1/8", &p, why, sizeof(why)),
		     -EINVAL);
	cr_assert_eq(pc_prefix_parse("/8", &p, why, sizeof(why)), -EINVAL);
	cr_assert_eq(pc_prefix_parse("1.2.3.4/", &p, why, sizeof(why)),
		     -EINVAL);
}

/*
 * Differential test: random policies with overlapping prefixes, ranges,
 * "any" and all three actions; the compiled entries, looked up the way the
 * data plane does, must give what a direct reading of the rules gives.
 */
struct rnd {
	uint64_t s;
};

static uint32_t rnd_next(struct rnd *r, uint32_t n)
{
	r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(r->s >> 33) % n;
}

static const char *rnd_v4_prefix(struct rnd *r, char *buf, size_t len)
{
	static const int plens[] = {16, 24, 26, 28, 32};
	int plen = plens[rnd_next(r, 5)];
	uint32_t a = (198u << 24) | (18u << 16) | rnd_next(r, 4) << 8 |
		     rnd_next(r, 16);

	a &= plen == 32 ? ~0u : ~((1u << (32 - plen)) - 1);
	snprintf(buf, len, "%u.%u.%u.%u/%d", a >> 24, (a >> 16) & 255,
		 (a >> 8) & 255, a & 255, plen);
	return buf;
}

static void gen_policy(struct rnd *r, struct pc_buf *b)
{
	static const char *const acts[] = {"allow", "deny", "audit"};
	char pfx[32];

	pc_buf_printf(b, HEADER "identities:\n");
	for (int i = 0; i < 6; i++) {
		pc_buf_printf(b, "  i%d: { cidrs: [%s", i,
			      rnd_v4_prefix(r, pfx, sizeof(pfx)));
		if (rnd_next(r, 2))
			pc_buf_printf(b, ", %s",
				      rnd_v4_prefix(r, pfx, sizeof(pfx)));
		pc_buf_printf(b, "] }\n");
	}
	pc_buf_printf(b, "services:\n");
	for (int i = 0; i < 4; i++) {
		uint32_t lo = 20 + rnd_next(r, 20), hi = lo + rnd_next(r, 12);

		pc_buf_printf(b, "  s%d: {", i);
		if (rnd_next(r, 4))
			pc_buf_printf(b, " cidrs: [%s],",
				      rnd_v4_prefix(r, pfx, sizeof(pfx)));
		switch (rnd_next(r, 4)) {
		case 0:
			pc_buf_printf(b, " ports: [%u/tcp] }\n", lo);
			break;
		case 1:
			pc_buf_printf(b, " ports: [%u-%u/tcp, %u/udp] }\n", lo,
				      hi, hi);
			break;
		case 2:
			pc_buf_printf(b, " ports: [any/udp] }\n");
			break;
		default:
			pc_buf_printf(b, " ports: [any] }\n");
		}
	}
	pc_buf_printf(b, "rules:\n");
	for (int i = 0; i < 8; i++) {
		int anyf = !rnd_next(r, 6), anyt = !rnd_next(r, 6);

		pc_buf_printf(b, "  - { from: [");
		if (anyf)
			pc_buf_printf(b, "any");
		else
			pc_buf_printf(b, "i%u, i%u", rnd_next(r, 6),
				      rnd_next(r, 6));
		pc_buf_printf(b, "], to: [");
		if (anyt)
			pc_buf_printf(b, "any");
		else
			pc_buf_printf(b, "s%u", rnd_next(r, 4));
		pc_buf_printf(b, "], action: %s }\n", acts[rnd_next(r, 3)]);
	}
}

static int in_any(const struct pc_prefix *v, size_t n, const uint8_t a[16])
{
	struct pc_prefix host = {.plen = 128};

	memcpy(host.addr, a, 16);
	for (size_t i = 0; i < n; i++)
		if (pc_prefix_contains(&v[i], &host))
			return 1;
	return 0;
}

/* The rules read directly: highest action wins, then the earliest rule. */
static uint8_t reference(const struct pc_policy *p, const uint8_t src[16],
			 const uint8_t dst[16], uint8_t proto, uint16_t port,
			 uint32_t *rule_id)
{
	uint8_t best = PC_ACT_NONE;

	*rule_id = 0;
	for (size_t r = 0; r < p->nrules; r++) {
		const struct pc_rule *rule = &p->rules[r];
		int from = 0, to = 0;

		for (size_t f = 0; f < rule->nfrom; f++)
			from |= rule->from[f] == PC_ANY ||
				in_any(p->identities[rule->from[f]].cidrs,
				       p->identities[rule->from[f]].ncidrs,
				       src);
		for (size_t t = 0; t < rule->nto && from; t++) {
			const struct pc_service *s;

			if (rule->to[t] == PC_ANY) {
				to = 1;
				continue;
			}
			s = &p->services[rule->to[t]];
			if (s->ncidrs && !in_any(s->cidrs, s->ncidrs, dst))
				continue;
			for (size_t k = 0; k < s->nports; k++)
				to |= s->ports[k].any_proto ||
				      (s->ports[k].proto == proto &&
				       s->ports[k].lo <= port &&
				       port <= s->ports[k].hi);
			to |= !s->nports;
		}
		if (from && to &&
		    pc_action_rank(rule->action) > pc_action_rank(best)) {
			best = rule->action;
			*rule_id = (uint32_t)r + 1;
		}
	}
	return best;
}

Test(compile, matches_a_direct_reading_of_the_rules)
{
	struct rnd r = {.s = 42};

	for (int round = 0; round < 200; round++) {
		struct pc_buf text = {0};
		struct pc_policy *p = NULL;
		struct pc_compiled *c = NULL;
		char err[PC_ERR_LEN];

		gen_policy(&r, &text);
		cr_assert_eq(parse_e(text.data, text.len, "r.yaml", &p, err), 0,
			     "%s\n%s", err, text.data);
		cr_assert_eq(compile_e(p, &c, err), 0, "%s", err);
		for (int k = 0; k < 300; k++) {
			uint8_t src[16] = {[10] = 0xff, [11] = 0xff, 198, 18},
				dst[16] = {[10] = 0xff, [11] = 0xff, 198, 18};
			uint8_t proto = rnd_next(&r, 2) ? 6 : 17;
			uint16_t port = (uint16_t)(18 + rnd_next(&r, 40));
			struct pc_eval got;
			uint32_t want_rule;
			uint8_t want;

			src[14] = (uint8_t)rnd_next(&r, 4);
			src[15] = (uint8_t)rnd_next(&r, 20);
			dst[14] = (uint8_t)rnd_next(&r, 4);
			dst[15] = (uint8_t)rnd_next(&r, 20);
			want = reference(p, src, dst, proto, port, &want_rule);
			pc_compiled_eval(c, src, dst, proto, port, &got);
			cr_assert_eq(got.action, want,
				     "round %d: %u.%u->%u.%u %u/%u: got %s, "
				     "want %s\n%s",
				     round, src[14], src[15], dst[14], dst[15],
				     port, proto, pc_action_name(got.action),
				     pc_action_name(want), text.data);
			cr_assert_eq(got.rule_id, want_rule, "round %d", round);
		}
		pc_compiled_free(c);
		pc_policy_free(p);
		pc_buf_free(&text);
	}
}

Test(compile, hundred_thousand_rules)
{
	struct pc_buf text = {0};
	struct pc_policy *p = NULL;
	struct pc_compiled *c = NULL;
	char err[PC_ERR_LEN];
	uint8_t src[16] = {[10] = 0xff, [11] = 0xff},
		dst[16] = {[10] = 0xff, [11] = 0xff, 198, 18, 1, 2};
	struct pc_eval got;

	/* Test that a policy of 100,000 identities and rules compiles to one
	 * entry per rule, not one per pair, and decides each client */
	pc_buf_printf(&text, HEADER "identities:\n");
	for (uint32_t i = 0; i < 100000; i++)
		pc_buf_printf(&text, "  c%u: {cidrs: [10.%u.%u.%u/32]}\n", i,
			      i >> 16, (i >> 8) & 255, i & 255);
	pc_buf_printf(&text, "services:\n  sink: {cidrs: [198.18.1.2/32], "
			     "ports: [5201/udp]}\nrules:\n");
	for (uint32_t i = 0; i < 100000; i++)
		pc_buf_printf(&text,
			      "  - {from: [c%u], to: [sink], action: %s}\n", i,
			      i % 1000 == 999 ? "deny" : "allow");
	cr_assert_eq(parse_e(text.data, text.len, "big.yaml", &p, err), 0, "%s",
		     err);
	cr_assert_eq(compile_e(p, &c, err), 0, "%s", err);
	cr_assert_eq(c->nentries, 100000);
	cr_assert_eq(c->nident_sets, 100001); /* one per client, plus "any" */
	src[12] = 10, src[13] = 1, src[14] = 0x86, src[15] = 0x9f; /* 99999 */
	pc_compiled_eval(c, src, dst, 17, 5201, &got);
	cr_assert_eq(got.action, PC_ACT_DENY);
	cr_assert_eq(got.rule_id, 100000);
	src[15] = 0x9e; /* client 99998 */
	pc_compiled_eval(c, src, dst, 17, 5201, &got);
	cr_assert_eq(got.action, PC_ACT_ALLOW);
	cr_assert_eq(got.rule_id, 99999);
	pc_compiled_eval(c, src, dst, 17, 5202, &got);
	cr_assert_eq(got.action, PC_ACT_NONE);
	pc_compiled_free(c);
	pc_policy_free(p);
	pc_buf_free(&text);
}

/* identities d0 <- {a0, b0} <- d1 <- {a1, b1} <- ... <- dN: 2^N paths */
static char *diamond(int layers, const char *test_from)
{
	struct pc_buf b = {0};

	pc_buf_printf(&b,
		      HEADER "identities:\n  d0: { peers: "
			     "[x8FnwBbFRF6e7i+yMPyxA/mHakUV3pib/3pR51PntS0=] "
			     "}\n");
	for (int i = 0; i < layers; i++)
		pc_buf_printf(&b,
			      "  a%d: { include: [d%d] }\n"
			      "  b%d: { include: [d%d] }\n"
			      "  d%d: { include: [a%d, b%d] }\n",
			      i, i, i, i, i + 1, i, i);
	pc_buf_printf(
		&b,
		"  z: { cidrs: [198.18.7.0/24] }\n"
		"services:\n"
		"  web: { cidrs: [198.18.2.2/32], ports: [80/tcp] }\n"
		"rules:\n"
		"  - { name: r, from: [d%d, z], to: [web], action: allow "
		"}\n"
		"tests:\n"
		"  - { from: %s, to: web, port: 80/tcp, expect: allow }\n",
		layers, test_from);
	return b.data;
}

Test(parse, include_diamonds_are_linear, .timeout = 20)
{
	static const uint8_t v4[16] = {[10] = 0xff, [11] = 0xff, 198, 18, 7, 1},
			     web[16] = {[10] = 0xff, [11] = 0xff, 198,
					18,	     2,		  2};
	char *text = diamond(60, "d60");
	struct pc_policy *p = NULL;
	struct pc_compiled *c = NULL;
	struct pc_diags d = {0};
	struct pc_explanation x;

	/* Test that 60 layers of diamond includes (2^60 paths) load in
	 * linear time: a test naming the top identity, whose members hold
	 * no address, is refused for that and not after hours */
	cr_assert_eq(pc_policy_load(text, strlen(text), "d.yaml", &p, &c, &d),
		     -EINVAL);
	cr_assert_str_eq(pc_diags_first_error(&d),
			 "d.yaml:191:13: identity \"d60\" has no cidrs: give "
			 "the test an address");
	pc_diags_free(&d);
	free(text);
	/* and explain walks them once per identity too */
	text = diamond(60, "198.18.7.1");
	cr_assert_eq(pc_policy_load(text, strlen(text), "d.yaml", &p, &c, &d),
		     0, "%s", pc_diags_first_error(&d));
	pc_policy_explain(p, c, v4, web, 6, 80, &x);
	cr_assert_eq(x.nidentities, 1); /* z alone holds the address */
	cr_assert_eq(x.action, PC_ACT_ALLOW);
	pc_explanation_free(&x);
	pc_compiled_free(c);
	pc_policy_free(p);
	pc_diags_free(&d);
	free(text);
}

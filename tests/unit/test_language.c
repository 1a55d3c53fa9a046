// SPDX-License-Identifier: Apache-2.0
/* Unit tests: the policy language's features, diagnostics and tests:. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "portcullis/maps.h"
#include "policy_test.h"

#define HEADER "apiVersion: portcullis/v1\nkind: Policy\n"

/* Load text; return every diagnostic joined by newlines (static buffer). */
static const char *load(const char *text, int want_rc, struct pc_policy **pp,
			struct pc_compiled **cp)
{
	static char all[8192];
	struct pc_diags d = {0};
	size_t off = 0;
	int rc = pc_policy_load(text, strlen(text), "p.yaml", pp, cp, &d);

	all[0] = '\0';
	for (size_t i = 0; i < d.n; i++)
		off += (size_t)snprintf(all + off, sizeof(all) - off, "%s%s",
					i ? "\n" : "", d.v[i].msg);
	cr_assert_eq(rc, want_rc, "load returned %d:\n%s\n---\n%s", rc, all,
		     text);
	pc_diags_free(&d);
	return all;
}

static void expect_diags(const char *text, const char *want)
{
	cr_assert_str_eq(load(text, -EINVAL, NULL, NULL), want);
}

static void expect_warnings(const char *text, const char *want)
{
	cr_assert_str_eq(load(text, 0, NULL, NULL), want);
}

Test(language, every_error_in_one_run_in_file_order)
{
	/* Test that a file with several mistakes gets all of them at once */
	expect_diags(
		HEADER "identities:\n"
		       "  eng: { cidrs: [10.0.0.0/33] }\n"
		       "  ops: { cidr: [10.1.0.0/16] }\n"
		       "services:\n"
		       "  web: { ports: [80/tpc] }\n"
		       "rules:\n"
		       "  - { from: [eng], to: [web], action: alow }\n"
		       "  - { from: [engg], to: [wbe], action: allow }\n",
		"p.yaml:4:18: bad CIDR \"10.0.0.0/33\": bad prefix length "
		"\"33\"\n"
		"p.yaml:5:10: unknown key \"cidr\" in identity \"ops\" "
		"(cidrs, peers, include)\n"
		"p.yaml:7:18: bad port \"80/tpc\" in service \"web\" "
		"(443/tcp, 8000-8100/tcp, any/udp, tcp, gre, any/47, icmp, "
		"icmp/echo-request, icmpv6/128 or any)\n"
		"p.yaml:9:39: bad action \"alow\" (allow, deny or audit)");
	/* names are resolved once the file is read: then unknown names */
	expect_diags(HEADER "rules:\n"
			    "  - { from: [engg], to: [wbe], action: allow }\n"
			    "identities: { eng: { cidrs: [10.0.0.0/8] } }\n"
			    "services: { web: { ports: [80/tcp] } }\n",
		     "p.yaml:4:14: unknown identity \"engg\" (did you mean "
		     "\"eng\"?)\n"
		     "p.yaml:4:26: unknown service \"wbe\" (did you mean "
		     "\"web\"?)");
}

Test(language, error_messages)
{
	/* Test the message of each refusal the language adds */
	expect_diags(HEADER "identities:\n"
			    "  a: { include: [b] }\n"
			    "  b: { include: [c] }\n"
			    "  c: { include: [a] }\n",
		     "p.yaml:6:3: include cycle: a -> b -> c -> a");
	expect_diags(HEADER "identities:\n  a: { include: [nobody] }\n",
		     "p.yaml:4:18: unknown identity \"nobody\"");
	expect_diags(HEADER "identities:\n  a: { peers: [abc] }\n",
		     "p.yaml:4:16: bad WireGuard public key \"abc\" (44 "
		     "characters of base64, as `wg pubkey` prints)");
	expect_diags(HEADER "rules:\n  - { from: any, to: any, action: allow, "
			    "rate: 10/fortnight }\n",
		     "p.yaml:4:48: bad rate \"10/fortnight\": bad period "
		     "\"/fortnight\" (/s, /m or /h)");
	expect_diags(
		HEADER "rules:\n  - { from: any, to: any, action: allow, "
		       "rate: 10furlongs/s }\n",
		"p.yaml:4:48: bad rate \"10furlongs/s\": bad unit "
		"\"furlongs\" (none for packets; bit, kbit, mbit, gbit; b, "
		"kb, mb, gb)");
	expect_diags(HEADER "rules:\n  - { from: any, to: any, action: allow, "
			    "rate: 0/s }\n",
		     "p.yaml:4:48: bad rate \"0/s\": a rate of zero drops "
		     "everything: use action: deny");
	expect_diags(HEADER "rules:\n  - { from: any, to: any, action: deny, "
			    "rate: 5/s }\n",
		     "p.yaml:4:47: rule \"rule-1\": rate applies to allow and "
		     "audit rules");
	expect_diags(HEADER "rules:\n  - { from: any, to: any, action: allow, "
			    "burst: 5 }\n",
		     "p.yaml:4:49: rule \"rule-1\": burst without rate");
	expect_diags(HEADER "rules:\n  - { from: any, to: any, action: allow, "
			    "rate: 1mbit/s, burst: 100 }\n",
		     "p.yaml:4:64: rule \"rule-1\": a burst of 100 bytes is "
		     "less than one full-size frame (1514)");
	expect_diags(HEADER "mode: lenient\n",
		     "p.yaml:3:7: bad mode \"lenient\" (enforce or audit)");
	expect_diags(HEADER "identities:\n  10.0.0.1: { cidrs: [10.0.0.1] }\n",
		     "p.yaml:4:3: bad name \"10.0.0.1\" (letters, digits, '-', "
		     "'_', '.', at most 63; not \"any\" nor an address)");
	expect_diags(HEADER "rules:\n  - { from: [10.0.0.1/8], to: any, "
			    "action: allow }\n",
		     "p.yaml:4:14: bad CIDR \"10.0.0.1/8\": host bits set in "
		     "\"10.0.0.1/8\" (did you mean 10.0.0.0/8?)");
	expect_diags(HEADER "identities: &x { a: { cidrs: [10.0.0.0/8] } }\n"
			    "services: *x\n",
		     "p.yaml:4:11: aliases (*name) are not supported");
	expect_diags(HEADER "tests:\n  - { from: 10.0.0.1, to: any }\n",
		     "p.yaml:4:5: test 1 needs from, to, port and expect");
	expect_diags(HEADER "---\n" HEADER,
		     "p.yaml:3:1: one policy per file (a second document "
		     "here)");
}

Test(language, ports_protocols_and_icmp_types)
{
	struct pc_policy *p;

	/* Test the port forms: ranges, protocols by name and number, ICMP
	 * by type name, number and code */
	load(HEADER "services:\n  s:\n    ports: [8000-8100/tcp, any/udp, gre, "
		    "any/47, 5000/sctp, icmp/echo-request, icmpv6/128, "
		    "icmp/3/4, tcp]\n",
	     0, &p, NULL);
	cr_assert_eq(p->nservices, 1);
	cr_assert_eq(p->services[0].nports, 9);
	cr_assert_eq(p->services[0].ports[0].lo, 8000);
	cr_assert_eq(p->services[0].ports[0].hi, 8100);
	cr_assert_eq(p->services[0].ports[2].proto, 47);
	cr_assert_eq(p->services[0].ports[2].hi, 0xffff);
	cr_assert_eq(p->services[0].ports[3].proto, 47);
	cr_assert_eq(p->services[0].ports[4].proto, 132);
	cr_assert_eq(p->services[0].ports[5].proto, 1);
	cr_assert_eq(p->services[0].ports[5].lo, 8 << 8);
	cr_assert_eq(p->services[0].ports[5].hi, 8 << 8 | 0xff);
	cr_assert_eq(p->services[0].ports[6].proto, 58);
	cr_assert_eq(p->services[0].ports[6].lo, 128 << 8);
	cr_assert_eq(p->services[0].ports[7].lo, 3 << 8 | 4);
	cr_assert_eq(p->services[0].ports[7].hi, 3 << 8 | 4);
	cr_assert_eq(p->services[0].ports[8].proto, 6);
	cr_assert_eq(p->services[0].ports[8].lo, 0);
	pc_policy_free(p);
	/* ports only for protocols that have them */
	expect_diags(
		HEADER "services:\n  s: { ports: [80/gre] }\n",
		"p.yaml:4:16: bad port \"80/gre\" in service \"s\" "
		"(443/tcp, 8000-8100/tcp, any/udp, tcp, gre, any/47, icmp, "
		"icmp/echo-request, icmpv6/128 or any)");
}

Test(language, include_and_inline_cidrs)
{
	struct pc_policy *p;
	struct pc_compiled *c;

	/* Test groups of groups and CIDRs written in rules */
	load(HEADER
	     "identities:\n"
	     "  eng: { cidrs: [10.1.0.0/16] }\n"
	     "  ops: { cidrs: [\"fd00:1::/64\"] }\n"
	     "  staff: { include: [eng, ops], cidrs: [10.9.9.9] }\n"
	     "  everyone: { include: [staff] }\n"
	     "services:\n  web: { cidrs: [10.0.0.80], ports: [80/tcp] }\n"
	     "rules:\n"
	     "  - { from: [everyone], to: [web], action: allow }\n"
	     "  - { from: [10.1.2.0/24], to: [web], action: deny }\n"
	     "  - { from: [eng], to: [10.0.0.53, \"fd00::53\"], action: "
	     "allow }\n",
	     0, &p, &c);
	cr_assert_eq(decide(c, "10.1.0.1", "10.0.0.80", 6, 80, NULL),
		     PC_ACT_ALLOW);
	cr_assert_eq(decide(c, "fd00:1::9", "10.0.0.80", 6, 80, NULL),
		     PC_ACT_ALLOW);
	cr_assert_eq(decide(c, "10.9.9.9", "10.0.0.80", 6, 80, NULL),
		     PC_ACT_ALLOW);
	cr_assert_eq(decide(c, "10.1.2.3", "10.0.0.80", 6, 80, NULL),
		     PC_ACT_DENY);
	cr_assert_eq(decide(c, "10.2.0.1", "10.0.0.80", 6, 80, NULL),
		     PC_ACT_NONE);
	/* an inline destination has every port */
	cr_assert_eq(decide(c, "10.1.0.1", "10.0.0.53", 17, 53, NULL),
		     PC_ACT_ALLOW);
	cr_assert_eq(decide(c, "10.1.0.1", "fd00::53", 6, 1, NULL),
		     PC_ACT_ALLOW);
	cr_assert_eq(decide(c, "fd00:1::9", "fd00::53", 6, 1, NULL),
		     PC_ACT_NONE);
	/* anonymous names are the CIDRs, shared by rules that repeat them */
	cr_assert_str_eq(p->identities[p->nidentities - 1].name, "10.1.2.0/24");
	cr_assert(p->identities[p->nidentities - 1].anon);
	pc_compiled_free(c);
	pc_policy_free(p);
}

#define KEY_A "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
#define KEY_B "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="

Test(language, peers_compile_to_identity_sets)
{
	struct pc_policy *p;
	struct pc_compiled *c;
	uint32_t set_a = 0, set_b = 0;

	/* Test that each peer key gets the set of identities listing it,
	 * directly or through include, and that rules reach that set */
	load(HEADER "identities:\n"
		    "  laptops: { peers: [" KEY_A ", " KEY_B "] }\n"
		    "  admins: { peers: [" KEY_A "] }\n"
		    "  staff: { include: [laptops] }\n"
		    "services:\n  ssh: { ports: [22/tcp] }\n"
		    "rules:\n"
		    "  - { from: [admins], to: [ssh], action: allow }\n"
		    "  - { from: [staff], to: any, action: allow }\n",
	     0, &p, &c);
	cr_assert_eq(c->npeers, 2);
	for (size_t i = 0; i < c->npeers; i++) {
		cr_assert_gt(c->peers[i].set_id, 0);
		if (c->peers[i].key[0] == 0xc5) /* xTIB... */
			set_a = c->peers[i].set_id;
		else
			set_b = c->peers[i].set_id;
	}
	cr_assert_neq(set_a, 0);
	cr_assert_neq(set_b, 0);
	cr_assert_neq(set_a, set_b);
	cr_assert_str_eq(c->ident_set_names[set_a - 1], "laptops+admins+staff");
	cr_assert_str_eq(c->ident_set_names[set_b - 1], "laptops+staff");
	/* A's set may reach ssh by rule 1; B's only by rule 2 */
	cr_assert_eq(pc_compiled_find(c, set_a, 1, 6, 22)->rule_id, 1);
	pc_compiled_free(c);
	pc_policy_free(p);
}

Test(language, rates_and_mode)
{
	struct pc_policy *p;
	struct pc_compiled *c;
	int limited = 0;

	/* Test rates in packets and bytes, per second, minute and hour */
	load(HEADER "mode: audit\n"
		    "services:\n"
		    "  a: { ports: [1/tcp] }\n  b: { ports: [2/tcp] }\n"
		    "  c: { ports: [3/tcp] }\n  d: { ports: [4/tcp] }\n"
		    "rules:\n"
		    "  - { from: any, to: [a], action: allow, rate: 1000/s }\n"
		    "  - { from: any, to: [b], action: audit, rate: 10mbit/s, "
		    "burst: 64000 }\n"
		    "  - { from: any, to: [c], action: allow, rate: 60/m, "
		    "burst: 5 }\n"
		    "  - { from: any, to: [d], action: allow, rate: 2kb/s }\n",
	     0, &p, &c);
	cr_assert_eq(c->mode, PC_MODE_AUDIT);
	cr_assert_eq(c->rates[0].units, 1000);
	cr_assert_eq(c->rates[0].period_s, 1);
	cr_assert_eq(c->rates[0].burst, 1000);
	cr_assert_eq(c->rates[0].unit, PC_RATE_PACKETS);
	cr_assert_eq(c->rates[1].units, 1250000);
	cr_assert_eq(c->rates[1].burst, 64000);
	cr_assert_eq(c->rates[1].unit, PC_RATE_BYTES);
	cr_assert_eq(c->rates[2].units, 60);
	cr_assert_eq(c->rates[2].period_s, 60);
	cr_assert_eq(c->rates[2].burst, 5);
	cr_assert_eq(c->rates[3].units, 2000);
	for (size_t i = 0; i < c->nentries; i++) {
		cr_assert(c->entries[i].flags & PC_PF_RATE);
		limited++;
	}
	cr_assert_eq(limited, 4);
	pc_compiled_free(c);
	pc_policy_free(p);
}

Test(language, tests_in_the_policy)
{
	/* Test that tests: pass, and that a failing one refuses the policy
	 * with what it got and from which rule */
	load(HEADER "identities:\n  eng: { cidrs: [198.18.1.0/24] }\n"
		    "services:\n  web: { cidrs: [198.18.2.2], ports: "
		    "[8080/tcp, icmp] }\n"
		    "rules:\n  - { name: eng-web, from: [eng], to: [web], "
		    "action: allow }\n"
		    "tests:\n"
		    "  - { from: 198.18.1.7, to: web, port: 8080/tcp, expect: "
		    "allow }\n"
		    "  - { from: eng, to: 198.18.2.2, port: icmp, expect: "
		    "allow }\n"
		    "  - { from: 198.18.9.9, to: web, port: 8080/tcp, expect: "
		    "deny }\n",
	     0, NULL, NULL);
	expect_diags(
		HEADER
		"identities:\n  eng: { cidrs: [198.18.1.0/24] }\n"
		"services:\n  web: { cidrs: [198.18.2.2], ports: "
		"[8080/tcp] }\n"
		"rules:\n  - { name: eng-web, from: [eng], to: [web], "
		"action: allow }\n"
		"tests:\n"
		"  - { from: eng, to: web, port: 8080/tcp, expect: deny }\n"
		"  - { from: eng, to: web, port: 22/tcp, expect: allow }\n"
		"  - { from: nobody, to: web, port: 22/tcp, expect: "
		"allow }\n",
		"p.yaml:12:13: unknown identity \"nobody\"");
	expect_diags(
		HEADER
		"identities:\n  eng: { cidrs: [198.18.1.0/24] }\n"
		"services:\n  web: { cidrs: [198.18.2.2], ports: "
		"[8080/tcp] }\n"
		"rules:\n  - { name: eng-web, from: [eng], to: [web], "
		"action: allow }\n"
		"tests:\n"
		"  - { from: eng, to: web, port: 8080/tcp, expect: deny }\n"
		"  - { from: eng, to: web, port: 22/tcp, expect: allow }\n",
		"p.yaml:10:5: test failed: from eng to web 8080/tcp: expected "
		"deny, got allow by rule \"eng-web\"\n"
		"p.yaml:11:5: test failed: from eng to web 22/tcp: expected "
		"allow, got default deny (no rule matches)");
}

Test(language, warnings_for_dead_rules_and_unused_names)
{
	/* Test the warnings: shadowed by a deny, a duplicate, an audit under
	 * a deny, and names no rule uses; the policy is still valid */
	expect_warnings(
		HEADER
		"identities:\n"
		"  eng: { cidrs: [10.1.0.0/16] }\n"
		"  lab: { cidrs: [10.1.5.0/24] }\n"
		"  idle: { cidrs: [10.7.0.0/16] }\n"
		"services:\n"
		"  web: { ports: [80/tcp, 443/tcp] }\n"
		"  db: { ports: [5432/tcp] }\n"
		"rules:\n"
		"  - { name: no-eng, from: [eng], to: any, action: deny }\n"
		"  - { name: lab-web, from: [lab], to: [web], action: "
		"allow }\n"
		"  - { name: any-web, from: any, to: [web], action: allow "
		"}\n"
		"  - { name: any-web2, from: any, to: [web], action: "
		"allow }\n"
		"  - { name: watch, from: [lab], to: [web], action: audit }\n",
		"p.yaml:6:3: warning: identity \"idle\" is not used by any "
		"rule\n"
		"p.yaml:9:3: warning: service \"db\" is not used by any rule\n"
		"p.yaml:12:5: warning: rule \"lab-web\" can never match: deny "
		"rule \"no-eng\" decides all its traffic (deny beats audit "
		"beats allow)\n"
		"p.yaml:14:5: warning: rule \"any-web2\" can never match: "
		"allow rule \"any-web\" decides all its traffic (the earlier "
		"rule is credited)\n"
		"p.yaml:15:5: warning: rule \"watch\" can never match: deny "
		"rule \"no-eng\" decides all its traffic (deny beats audit "
		"beats allow)");
}

Test(language, big_policy_reports_memory_friendly_errors)
{
	struct pc_buf text = {0};
	const char *all;

	/* Test that errors stop after PC_MAX_ERRORS with a last line */
	pc_buf_printf(&text, HEADER "identities:\n");
	for (int i = 0; i < 200; i++)
		pc_buf_printf(&text, "  c%d: { cidrs: [10.0.0.%d/8] }\n", i, i);
	all = load(text.data, -EINVAL, NULL, NULL);
	cr_assert(strstr(all, "p.yaml: too many errors, stopping"), "%s", all);
	cr_assert(strstr(all, "\"10.0.0.50/8\""), "%s", all);
	cr_assert_null(strstr(all, "\"10.0.0.51/8\""), "%s", all);
	pc_buf_free(&text);
}

Test(language, every_example_policy_is_valid)
{
	DIR *dir = opendir(PC_SRC_DIR "/policies");
	struct dirent *de;
	int n = 0;

	/* Test that every policy shipped in policies/ loads, tests and all */
	cr_assert_not_null(dir);
	while ((de = readdir(dir))) {
		char path[512];
		struct pc_buf text = {0};

		if (!strstr(de->d_name, ".yaml"))
			continue;
		snprintf(path, sizeof(path), PC_SRC_DIR "/policies/%s",
			 de->d_name);
		cr_assert_eq(pc_read_file(path, 1 << 20, &text), 0, "%s", path);
		load(text.data, 0, NULL, NULL);
		pc_buf_free(&text);
		n++;
	}
	closedir(dir);
	cr_assert_geq(n, 2);
}

static struct pc_compiled *compiled(const char *text)
{
	struct pc_compiled *c;

	load(text, 0, NULL, &c);
	return c;
}

Test(language, diff_says_who_gains_and_loses_what)
{
	struct pc_compiled *o = compiled(
		HEADER
		"identities:\n"
		"  eng: { cidrs: [10.1.0.0/16] }\n"
		"  guests: { cidrs: [10.9.0.0/16] }\n"
		"services:\n"
		"  web: { cidrs: [10.0.0.80], ports: [80/tcp, 443/tcp] }\n"
		"  db: { cidrs: [10.0.0.5], ports: [5432/tcp] }\n"
		"rules:\n"
		"  - { name: eng-web, from: [eng], to: [web], action: "
		"allow }\n"
		"  - { name: guests-web, from: [guests], to: [web], "
		"action: allow }\n"
		"  - { name: eng-db, from: [eng], to: [db], action: audit "
		"}\n");
	struct pc_compiled *n = compiled(
		HEADER
		"identities:\n"
		"  eng: { cidrs: [10.1.0.0/16] }\n"
		"  guests: { cidrs: [10.9.0.0/16] }\n"
		"  ops: { cidrs: [10.2.0.0/16] }\n"
		"services:\n"
		"  web: { cidrs: [10.0.0.80], ports: [80/tcp, "
		"8000-8100/tcp] }\n"
		"  db: { cidrs: [10.0.0.5], ports: [5432/tcp] }\n"
		"rules:\n"
		"  - { name: eng-web, from: [eng], to: [web], action: "
		"allow }\n"
		"  - { name: guests-web, from: [guests], to: [web], "
		"action: allow }\n"
		"  - { name: no-guests, from: [guests], to: [web], "
		"action: deny }\n"
		"  - { name: eng-db, from: [eng, ops], to: [db], action: "
		"allow }\n");
	struct pc_diff d, none;
	char all[4096];
	size_t off = 0;

	/* Test that the diff names each change once, by identity, service
	 * and port range, with the rules before and after */
	pc_policy_diff(o, n, &d);
	for (size_t i = 0; i < d.n; i++)
		off += (size_t)snprintf(all + off, sizeof(all) - off,
					"%s -> %s %s: %s(%s) -> %s(%s)\n",
					d.v[i].from, d.v[i].to, d.v[i].ports,
					pc_action_name(d.v[i].old_action),
					d.v[i].old_rule ? d.v[i].old_rule : "",
					pc_action_name(d.v[i].new_action),
					d.v[i].new_rule ? d.v[i].new_rule : "");
	cr_assert_str_eq(
		all,
		"eng -> db 5432/tcp: audit(eng-db) -> allow(eng-db)\n"
		"eng -> web 443/tcp: allow(eng-web) -> default-deny()\n"
		"eng -> web 8000-8100/tcp: default-deny() -> allow(eng-web)\n"
		"guests -> web 443/tcp: allow(guests-web) -> default-deny()\n"
		"guests -> web 80/tcp: allow(guests-web) -> deny(no-guests)\n"
		"ops -> db 5432/tcp: default-deny() -> allow(eng-db)\n");
	pc_diff_free(&d);
	/* and that a policy against itself has no change */
	pc_policy_diff(n, n, &none);
	cr_assert_eq(none.n, 0);
	pc_diff_free(&none);
	pc_compiled_free(o);
	pc_compiled_free(n);
}

Test(language, explain_reads_the_rules)
{
	struct pc_policy *p;
	struct pc_compiled *c;
	struct pc_explanation x;
	uint8_t s[16], d[16];

	/* Test that explain finds every matching rule and the decider */
	load(HEADER
	     "identities:\n  eng: { cidrs: [10.1.0.0/16] }\n"
	     "  all: { include: [eng] }\n"
	     "services:\n  web: { cidrs: [10.0.0.80], ports: [80/tcp] }\n"
	     "rules:\n"
	     "  - { name: watch, from: any, to: [web], action: audit }\n"
	     "  - { name: eng-web, from: [all], to: [web], action: allow "
	     "}\n",
	     0, &p, &c);
	pc_addr_parse("10.1.2.3", s);
	pc_addr_parse("10.0.0.80", d);
	pc_policy_explain(p, c, s, d, 6, 80, &x);
	cr_assert_eq(x.action, PC_ACT_AUDIT); /* audit beats allow */
	cr_assert_eq(x.rule_id, 1);
	cr_assert_eq(x.nidentities, 2);
	cr_assert_eq(x.nmatching, 2);
	cr_assert(x.agrees);
	pc_explanation_free(&x);
	pc_policy_explain(p, c, s, d, 6, 81, &x);
	cr_assert_eq(x.action, PC_ACT_NONE);
	cr_assert_eq(x.nservices_addr, 1);
	cr_assert_eq(x.nservices, 0);
	cr_assert(x.agrees);
	pc_explanation_free(&x);
	pc_compiled_free(c);
	pc_policy_free(p);
}

Test(language, every_other_message)
{
	static const struct {
		const char *body, *want;
	} cases[] = {
		{"identities: [a, b]\n", "3:13: identities must be a mapping"},
		{"identities:\n  a: { cidrs: { x: 1 } }\n",
		 "4:15: expected a list"},
		{"rules:\n  - allow\n", "4:5: a rule must be a mapping"},
		{"rules:\n  - { from: any, to: any, action: allow, rate: "
		 "99999999999999/s }\n",
		 "4:48: bad rate \"99999999999999/s\": rate too high"},
		{"rules:\n  - { from: any, to: any, action: allow, rate: "
		 "10mbit/m }\n",
		 "4:48: bad rate \"10mbit/m\": byte and bit rates are per "
		 "second"},
		{"rules:\n  - { from: any, to: any, action: allow, rate: 10/s, "
		 "burst: lots }\n",
		 "4:61: bad burst \"lots\" (packets, or bytes for a byte or "
		 "bit "
		 "rate)"},
		{"rules:\n  - { to: any, action: allow }\n",
		 "4:5: rule \"rule-1\" has no \"from\""},
		{"rules:\n  - { from: any, action: allow }\n",
		 "4:5: rule \"rule-1\" has no \"to\""},
		{"rules:\n  - { from: any, to: any, action: allow, colour: red "
		 "}\n",
		 "4:42: unknown key \"colour\" in rule (name, from, to, "
		 "action, "
		 "log, rate, burst)"},
		{"rules:\n  - { from: any, to: any, action: allow, log: maybe "
		 "}\n",
		 "4:47: expected true or false, not \"maybe\""},
		{"rules:\n  - { from: [bad name], to: any, action: allow }\n",
		 "4:14: bad name \"bad name\" (letters, digits, '-', '_', '.', "
		 "at most 63; not \"any\" nor an address)"},
		{"services:\n  web: { cidrs: [10.0.0.1], portz: [80/tcp] }\n",
		 "4:29: unknown key \"portz\" in service \"web\" (cidrs, "
		 "ports, backends, balance, health)"},
		{"tests:\n  - { from: 10.0.0.300, to: 10.0.0.1, port: 80/tcp, "
		 "expect: deny }\n",
		 "4:13: bad address \"10.0.0.300\" in test"},
		{"tests:\n  - { from: 10.0.0.3, to: 10.0.0.1, port: 80-90/tcp, "
		 "expect: deny }\n",
		 "4:43: bad port \"80-90/tcp\" in test (one port: 443/tcp, "
		 "53/udp, icmp, icmp/echo-request, gre)"},
		{"services:\n  d: { ports: [80/tcp] }\ntests:\n  - { from: "
		 "10.0.0.3, to: d, port: 80/tcp, expect: deny }\n",
		 "6:27: service \"d\" has no cidrs: give the test an address"},
		{"identities:\n  p: { peers: [\"" KEY_A "\"] }\ntests:\n  - { "
		 "from: p, to: 10.0.0.1, port: 80/tcp, expect: deny }\n",
		 "6:13: identity \"p\" has no cidrs: give the test an address"},
		{"tests:\n  - { from: 10.0.0.3, to: 10.0.0.1, port: 80/tcp, "
		 "expect: deny, why: x }\n",
		 "4:65: unknown key \"why\" in test (from, to, port, expect)"},
		{"kind: Policy\n", "3:1: duplicate key \"kind\""},
		{"identities:\n  b: { include: [a], peers: "
		 "[\"xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dh=\"] }\n  a: { "
		 "cidrs: [10.0.0.0/8] }\n",
		 "4:30: bad WireGuard public key "
		 "\"xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dh=\" (44 "
		 "characters of base64, as `wg pubkey` prints)"},
	};

	/* Test the exact text of every remaining refusal */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[1024], want[512];

		snprintf(text, sizeof(text), HEADER "%s", cases[i].body);
		snprintf(want, sizeof(want), "p.yaml:%s", cases[i].want);
		expect_diags(text, want);
	}
	expect_diags("kind: Policy\n",
		     "p.yaml:1:1: missing apiVersion: portcullis/v1");
}

// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests: load-balanced services in the policy language (what is
 * accepted, every mistake's message), and the tables they compile to:
 * Maglev's balance across weights and its disruption when a backend
 * leaves, drain, health and latency order.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "portcullis/maps.h"
#include "policy.h"

#define HEADER                                      \
	"apiVersion: portcullis/v1\nkind: Policy\n" \
	"identities:\n  c: { cidrs: [198.18.1.0/24] }\n"
#define RULE "rules:\n  - { from: [c], to: [web], action: allow }\n"

static int load(const char *text, struct pc_compiled **c, char *err, size_t len)
{
	struct pc_diags d = {0};
	int rc = pc_policy_load(text, strlen(text), "p.yaml", NULL, c, &d);

	snprintf(err, len, "%s", pc_diags_first_error(&d));
	pc_diags_free(&d);
	return rc;
}

Test(lb_language, services_with_backends_compile)
{
	/* Test every form a backend may take, defaults, both families, and
	 * port ranges expanded into virtual (address, port) entries */
	struct pc_compiled *c;
	char err[PC_ERR_LEN];

	cr_assert_eq(load(HEADER
			  "services:\n"
			  "  web:\n"
			  "    cidrs: [198.18.0.100, \"fd00::100\"]\n"
			  "    ports: [80/tcp, 8000-8002/udp, any/tcp]\n"
			  "    balance: least-connections\n"
			  "    health: { type: http, interval: 100ms, "
			  "path: /healthz, fall: 3 }\n"
			  "    backends:\n"
			  "      - 198.18.2.2:8080\n"
			  "      - { address: 198.18.2.3, port: 8081, "
			  "weight: 5, drain: true }\n"
			  "      - \"[fd00:2::2]:8080\"\n"
			  "      - { address: \"fd00:2::3\", port: 80 }\n" RULE,
			  &c, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(c->nlb, 2, "one table per family");
	cr_assert_str_eq(c->lb[0].service, "web");
	cr_assert_eq(c->lb[0].v6, 0);
	cr_assert_eq(c->lb[0].nbackends, 2);
	cr_assert_eq(c->lb[0].balance, PC_LB_LEAST_CONN);
	cr_assert_eq(c->lb[0].backends[1].weight, 5);
	cr_assert_eq(c->lb[0].backends[1].drain, 1);
	cr_assert_eq(c->lb[0].backends[0].weight, 1, "weight defaults to 1");
	cr_assert_eq(c->lb[1].nbackends, 2);
	cr_assert_eq(c->lb[0].health.type, PC_PROBE_HTTP);
	cr_assert_eq(c->lb[0].health.interval_ms, 100);
	cr_assert_eq(c->lb[0].health.timeout_ms, 100, "timeout: the interval");
	cr_assert_eq(c->lb[0].health.rise, 2);
	cr_assert_eq(c->lb[0].health.fall, 3);
	cr_assert_eq(c->lb[0].health.status, 200);
	cr_assert_str_eq(c->lb[0].health.path, "/healthz");
	cr_assert_eq(c->lb[0].probe_ports[0], 8080);
	cr_assert_eq(c->lb[0].probe_ports[1], 8081);
	/* 2 addresses x (80, 8000..8002, every tcp port as 0) */
	cr_assert_eq(c->nvips, 2UL * 5);
	int wild = 0;

	for (size_t i = 0; i < c->nvips; i++)
		wild += c->vips[i].port == 0 && c->vips[i].proto == 6;
	cr_assert_eq(wild, 2, "any/tcp is one wildcard entry per address");
	pc_compiled_free(c);
}

Test(lb_language, mistakes_are_refused_where_they_are)
{
	static const struct {
		const char *svc, *want;
	} cases[] = {
		{"  web: { cidrs: [198.18.0.100], ports: [80/tcp], backends: "
		 "[198.18.2.300] }\n",
		 "p.yaml:6:61: bad backend \"198.18.2.300\" (198.18.2.2, "
		 "198.18.2.2:8080, [fd00::2]:8080)"},
		{"  web: { cidrs: [198.18.0.0/24], ports: [80/tcp], backends: "
		 "[198.18.2.2] }\n",
		 "p.yaml:6:3: service \"web\": virtual address 198.18.0.0/24 "
		 "must be one address (/32 or /128)"},
		{"  web: { ports: [80/tcp], backends: [198.18.2.2] }\n",
		 "p.yaml:6:27: service \"web\" has backends but no cidrs: its "
		 "cidrs are the virtual addresses clients connect to"},
		{"  web: { cidrs: [198.18.0.100], backends: [198.18.2.2] }\n",
		 "p.yaml:6:33: service \"web\" has backends but no ports: list "
		 "the tcp and udp ports it balances"},
		{"  web: { cidrs: [198.18.0.100], ports: [icmp], backends: "
		 "[198.18.2.2] }\n",
		 "p.yaml:6:48: service \"web\": load balancing takes tcp and "
		 "udp ports, not \"icmp\""},
		{"  web: { cidrs: [\"fd00::1\"], ports: [80/tcp], backends: "
		 "[198.18.2.2] }\n",
		 "p.yaml:6:47: service \"web\" has an IPv6 virtual address but "
		 "no IPv6 backend"},
		{"  web: { cidrs: [198.18.0.100], ports: [80/tcp], backends: "
		 "[198.18.2.2, 198.18.2.2] }\n",
		 "p.yaml:6:73: service \"web\": backend 198.18.2.2 is listed "
		 "twice"},
		{"  web: { cidrs: [198.18.0.100], ports: [80/tcp], backends: "
		 "[{ address: 198.18.2.2, weight: 0 }] }\n",
		 "p.yaml:6:92: bad weight \"0\" (1-1000; drain: true takes a "
		 "backend out)"},
		{"  web: { cidrs: [198.18.0.100], ports: [80/tcp], backends: "
		 "[{ port: 80 }] }\n",
		 "p.yaml:6:61: a backend needs an address"},
		{"  web: { cidrs: [198.18.0.100], ports: [80/tcp], backends: "
		 "[{ adress: 198.18.2.2 }] }\n",
		 "p.yaml:6:63: unknown key \"adress\" in a backend (address, "
		 "port, weight, drain)"},
		{"  web: { cidrs: [198.18.0.100], ports: [80/tcp], balance: "
		 "fastest, backends: [198.18.2.2] }\n",
		 "p.yaml:6:59: bad balance \"fastest\" (maglev, round-robin, "
		 "weighted, least-connections, latency or source-hash)"},
		{"  web: { cidrs: [198.18.0.100], ports: [80/tcp], balance: "
		 "maglev }\n",
		 "p.yaml:6:59: service \"web\": balance needs backends"},
		{"  web: { cidrs: [198.18.0.100], ports: [80/tcp], health: { "
		 "interval: 50ms }, backends: [198.18.2.2] }\n",
		 "p.yaml:6:70: bad interval \"50ms\" (a duration such as 100ms "
		 "or 2s, 100ms to 1h)"},
		{"  web: { cidrs: [198.18.0.100], ports: [80/tcp], health: { "
		 "interval: 100ms, timeout: 1s }, backends: [198.18.2.2] }\n",
		 "p.yaml:6:50: service \"web\": the probe timeout (1000ms) is "
		 "longer than its interval (100ms)"},
		{"  web: { cidrs: [198.18.0.100], ports: [80/tcp], health: { "
		 "type: grpc }, backends: [198.18.2.2] }\n",
		 "p.yaml:6:66: bad probe type \"grpc\" (tcp, http, udp or "
		 "icmp)"},
		{"  web: { cidrs: [198.18.0.100], ports: [80-81/tcp], health: "
		 "{ type: tcp }, backends: [198.18.2.2] }\n",
		 "p.yaml:6:87: service \"web\": this backend has no port to "
		 "probe (give it one, or health a port)"},
		{"  web: { cidrs: [198.18.0.100], ports: [80/tcp], health: { "
		 "type: tcp, path: / }, backends: [198.18.2.2] }\n",
		 "p.yaml:6:50: service \"web\": path, status and host are for "
		 "http probes"},
		{"  web: { cidrs: [198.18.0.100], ports: [80/tcp], backends: "
		 "[198.18.2.2] }\n  web2: { cidrs: [198.18.0.100], ports: "
		 "[70-90/tcp], backends: [198.18.2.3] }\n",
		 "p.yaml: 198.18.0.100 80/tcp is balanced by service \"web\" "
		 "and by service \"web2\""},
		{"  web: { cidrs: [198.18.0.100], ports: [80/tcp], backends: "
		 "[198.18.2.2] }\n  web2: { cidrs: [198.18.0.100], ports: "
		 "[tcp], backends: [198.18.2.3] }\n",
		 "p.yaml: 198.18.0.100 any/tcp is balanced by service \"web2\" "
		 "and by service \"web\""},
		{"  web: { cidrs: [198.18.0.100], ports: [80/tcp], backends: "
		 "[198.18.0.100] }\n",
		 "p.yaml:6:61: service \"web\": backend 198.18.0.100 is one "
		 "of its own virtual addresses"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[1024], err[PC_ERR_LEN];
		struct pc_compiled *c = NULL;

		snprintf(text, sizeof(text), "%sservices:\n%s%s", HEADER,
			 cases[i].svc, RULE);
		cr_assert_eq(load(text, &c, err, sizeof(err)), -EINVAL,
			     "case %zu accepted", i);
		cr_assert_str_eq(err, cases[i].want, "case %zu: %s", i, err);
	}
}

/* A table of n backends 198.18.2.(i+1), weights w (NULL: 1). */
static void table_of(struct pc_lb_entry *t, struct pc_backend *b, size_t n,
		     const uint16_t *w)
{
	memset(t, 0, sizeof(*t));
	t->service = "t";
	t->backends = b;
	t->nbackends = n;
	for (size_t i = 0; i < n; i++) {
		memset(&b[i], 0, sizeof(b[i]));
		b[i].addr[10] = b[i].addr[11] = 0xff;
		b[i].addr[12] = 198, b[i].addr[13] = 18;
		b[i].addr[14] = (uint8_t)(2 + i / 250);
		b[i].addr[15] = (uint8_t)(1 + i % 250);
		b[i].port = 8080;
		b[i].weight = w ? w[i] : 1;
	}
}

static void shares(const struct pc_lb_table *t, size_t *count)
{
	memset(count, 0, PC_LB_MAX_BACKENDS * sizeof(*count));
	for (size_t i = 0; i < PC_LB_RING; i++)
		count[t->ring[i]]++;
}

static struct pc_lb_table ta, tb;

Test(maglev, balance_follows_weights)
{
	/* Test that every backend's share of the ring is its share of the
	 * weight, within half a percent of the ring */
	static const uint16_t weights[][6] = {
		{1, 1, 1, 1, 1, 1}, {1, 2, 3, 0}, {10, 1, 0}, {7, 7, 3, 1, 0}};
	struct pc_backend b[PC_LB_MAX_BACKENDS];
	struct pc_lb_entry t;
	size_t count[PC_LB_MAX_BACKENDS];

	for (size_t k = 0; k < sizeof(weights) / sizeof(weights[0]); k++) {
		size_t n = 0, total = 0;

		while (n < 6 && weights[k][n])
			total += weights[k][n++];
		table_of(&t, b, n, weights[k]);
		cr_assert_eq(pc_lb_table_build(&t, NULL, NULL, &ta), 0);
		cr_assert_eq(ta.nactive, n);
		shares(&ta, count);
		for (size_t i = 0; i < n; i++) {
			double want = (double)PC_LB_RING * weights[k][i] /
				      (double)total;

			cr_assert(count[i] > want - PC_LB_RING * 0.005 &&
					  count[i] < want + PC_LB_RING * 0.005,
				  "set %zu backend %zu: %zu buckets, want %.0f",
				  k, i, count[i], want);
		}
	}
}

Test(maglev, one_of_n_leaving_moves_about_one_nth)
{
	/* Test Maglev's minimal disruption: when one of n backends goes
	 * down, its buckets move, and few others do */
	struct pc_backend b[PC_LB_MAX_BACKENDS];
	struct pc_lb_entry t;
	uint8_t up[PC_LB_MAX_BACKENDS];

	for (size_t n = 3; n <= 60; n = n < 10 ? n + 2 : n * 2) {
		size_t moved = 0, others = 0;

		table_of(&t, b, n, NULL);
		memset(up, 1, sizeof(up));
		cr_assert_eq(pc_lb_table_build(&t, up, NULL, &ta), 0);
		up[n / 2] = 0;
		cr_assert_eq(pc_lb_table_build(&t, up, NULL, &tb), 0);
		cr_assert_eq(tb.nactive, n - 1);
		for (size_t i = 0; i < PC_LB_RING; i++) {
			cr_assert_neq(tb.ring[i], n / 2, "down: no buckets");
			if (ta.ring[i] != tb.ring[i]) {
				moved++;
				others += ta.ring[i] != n / 2;
			}
		}
		double frac = (double)moved / PC_LB_RING;

		cr_log_info("n=%zu: %.4f of flows moved (1/n = %.4f), %zu "
			    "buckets of other backends",
			    n, frac, 1.0 / (double)n, others);
		cr_assert(frac >= 1.0 / (double)n * 0.9 &&
				  frac <= 1.0 / (double)n * 1.5,
			  "n=%zu: %.4f moved, 1/n = %.4f", n, frac,
			  1.0 / (double)n);
		/* and the same ring again when it comes back */
		up[n / 2] = 1;
		cr_assert_eq(pc_lb_table_build(&t, up, NULL, &tb), 0);
		cr_assert_eq(memcmp(ta.ring, tb.ring, PC_LB_RING), 0);
	}
}

Test(maglev, drain_down_and_latency_order)
{
	struct pc_backend b[PC_LB_MAX_BACKENDS];
	struct pc_lb_entry t;
	uint8_t up[4] = {1, 0, 1, 1};
	uint32_t rtt[4] = {900, 100, 300, 500};
	size_t count[PC_LB_MAX_BACKENDS];

	table_of(&t, b, 4, NULL);
	b[3].drain = 1;
	t.balance = PC_LB_LATENCY;
	cr_assert_eq(pc_lb_table_build(&t, up, rtt, &ta), 0);
	cr_assert_eq(ta.nactive, 2, "down and draining take no new flows");
	cr_assert_eq(ta.active[0], 2, "fastest first");
	cr_assert_eq(ta.active[1], 0);
	cr_assert_eq(ta.nbackends, 4, "all still listed");
	shares(&ta, count);
	cr_assert_eq(count[1] + count[3], 0);
	cr_assert_eq(count[0] + count[2], PC_LB_RING);
	up[0] = up[2] = 0;
	cr_assert_eq(pc_lb_table_build(&t, up, rtt, &ta), 0);
	cr_assert_eq(ta.nactive, 0, "none up: no backend");
}

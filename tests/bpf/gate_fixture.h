/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the BPF test programs share (each includes this once): the data
 * plane under test, the compiled policy its live slot holds, a policy
 * applied from text, and the load-balancing policy.
 */
#ifndef PC_TEST_GATE_FIXTURE_H
#define PC_TEST_GATE_FIXTURE_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "dataplane.h"
#include "policy_test.h"

static struct pc_dp *dp;
static char gwname[32];
static struct pc_compiled *live; /* what the live slot holds, as the
				    daemon keeps it */

static uint64_t apply_text(const char *text)
{
	struct pc_policy *pol;
	struct pc_compiled *c;
	char err[PC_ERR_LEN];
	uint64_t gen = 0;

	cr_assert_eq(parse_e(text, strlen(text), "t.yaml", &pol, err), 0, "%s",
		     err);
	cr_assert_eq(compile_e(pol, &c, err), 0, "%s", err);
	cr_assert_eq(pc_dp_apply(dp, c, live, &gen), 0);
	pc_compiled_free(live);
	live = c;
	pc_policy_free(pol);
	return gen;
}

/*
 * The policy most tests enforce, in pieces so that a test may add a
 * service and a rule: clients may reach web's ports, banned may not.
 */
#define GATE_POLICY_SERVICES                                       \
	"apiVersion: portcullis/v1\n"                              \
	"kind: Policy\n"                                           \
	"identities:\n"                                            \
	"  clients: { cidrs: [198.18.1.0/24, \"fd00:1::/64\"] }\n" \
	"  banned: { cidrs: [198.18.1.66/32] }\n"                  \
	"services:\n"                                              \
	"  web:\n"                                                 \
	"    cidrs: [198.18.2.2/32, \"fd00:2::2/128\"]\n"          \
	"    ports: [8080/tcp, 53/udp, icmp, icmpv6, 9000-9100/tcp]\n"
#define GATE_POLICY_RULES                                                      \
	"rules:\n"                                                             \
	"  - { name: allow-web, from: [clients], to: [web], action: allow }\n" \
	"  - { name: deny-banned, from: [banned], to: [web], action: deny }\n"

/*
 * Load balancing: web (two IPv4 backends, one weighted, and an IPv6 one)
 * and dns (balanced by BALANCE, which a test replaces with a strategy
 * padded to its 7 characters or longer).
 */
static const char lb_policy[] =
	"apiVersion: portcullis/v1\n"
	"kind: Policy\n"
	"identities:\n"
	"  clients: { cidrs: [198.18.1.0/24, \"fd00:1::/64\"] }\n"
	"services:\n"
	"  web:\n"
	"    cidrs: [198.18.0.100/32, \"fd00:100::100/128\"]\n"
	"    ports: [80/tcp]\n"
	"    backends:\n"
	"      - 198.18.2.2:8080\n"
	"      - { address: 198.18.2.3, port: 8080, weight: 2 }\n"
	"      - \"[fd00:2::2]:8080\"\n"
	"  dns:\n"
	"    cidrs: [198.18.0.53/32]\n"
	"    ports: [53/udp]\n"
	"    balance: BALANCE\n"
	"    backends: [198.18.2.2, 198.18.2.3, 198.18.2.4]\n"
	"rules:\n"
	"  - { name: lb, from: [clients], to: [web, dns], action: allow }\n";

#endif

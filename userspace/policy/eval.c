// SPDX-License-Identifier: Apache-2.0
/* Evaluate a compiled policy the way the data plane's lookups do. */
#include <string.h>

#include "portcullis/maps.h"
#include "policy.h"

static uint32_t set_lookup(const struct pc_set_entry *v, size_t n,
			   const uint8_t addr[16])
{
	struct pc_prefix host = {.plen = 128};
	const struct pc_set_entry *best = NULL;

	memcpy(host.addr, addr, 16);
	for (size_t i = 0; i < n; i++)
		if (pc_prefix_contains(&v[i].prefix, &host) &&
		    (!best || v[i].prefix.plen > best->prefix.plen))
			best = &v[i];
	return best ? best->set_id : 0;
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

void pc_compiled_eval(const struct pc_compiled *c, const uint8_t src[16],
		      const uint8_t dst[16], uint8_t proto, uint16_t port,
		      struct pc_eval *out)
{
	const struct pc_policy_entry *best = NULL;

	memset(out, 0, sizeof(*out));
	out->src_set = set_lookup(c->idents, c->nidents, src);
	out->dst_set = set_lookup(c->services, c->nservices, dst);
	for (size_t i = 0; i < c->nentries; i++) {
		const struct pc_policy_entry *e = &c->entries[i];

		if (e->src_set == out->src_set && e->dst_set == out->dst_set &&
		    entry_matches(e, proto, port) &&
		    (!best || e->plen > best->plen))
			best = e;
	}
	if (best) {
		out->action = best->action;
		out->rule_id = best->rule_id;
	}
}

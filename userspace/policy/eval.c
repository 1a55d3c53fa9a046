// SPDX-License-Identifier: Apache-2.0
/* Evaluate a compiled policy the way the data plane's lookups do; tests. */
#include <errno.h>
#include <stdlib.h>
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

void pc_compiled_eval(const struct pc_compiled *c, const uint8_t src[16],
		      const uint8_t dst[16], uint8_t proto, uint16_t port,
		      struct pc_eval *out)
{
	const struct pc_policy_entry *e;

	memset(out, 0, sizeof(*out));
	out->src_set = set_lookup(c->idents, c->nidents, src);
	out->dst_set = set_lookup(c->services, c->nservices, dst);
	e = pc_compiled_find(c, out->src_set, out->dst_set, proto, port);
	if (e) {
		out->action = e->action;
		out->rule_id = e->rule_id;
	}
}

size_t pc_policy_run_tests(const struct pc_policy *p,
			   const struct pc_compiled *c, struct pc_diags *d)
{
	size_t failed = 0;

	for (size_t i = 0; i < p->ntests; i++) {
		const struct pc_test *t = &p->tests[i];
		struct pc_eval e;
		int ok;

		pc_compiled_eval(c, t->src, t->dst, t->proto, t->port, &e);
		ok = t->expect == PC_ACT_DENY ? e.action == PC_ACT_DENY ||
							e.action == PC_ACT_NONE
					      : e.action == t->expect;
		if (ok)
			continue;
		failed++;
		if (e.rule_id)
			pc_diag_add(d, 0, p->filename, &t->loc,
				    "test failed: %s: expected %s, got %s by "
				    "rule \"%s\"",
				    t->text, pc_action_name(t->expect),
				    pc_action_name(e.action),
				    c->rule_names[e.rule_id - 1]);
		else
			pc_diag_add(d, 0, p->filename, &t->loc,
				    "test failed: %s: expected %s, got "
				    "default deny (no rule matches)",
				    t->text, pc_action_name(t->expect));
	}
	return failed;
}

/* Put each member's key into its identity, once. */
static void add_members(struct pc_policy *pol, const char *filename,
			const struct pc_peer_member *m, size_t n,
			struct pc_diags *d)
{
	for (size_t i = 0; i < n; i++) {
		struct pc_identity *id = NULL;
		size_t k;

		for (k = 0; k < pol->nidentities; k++)
			if (!pol->identities[k].anon &&
			    !strcmp(pol->identities[k].name, m[i].identity))
				id = &pol->identities[k];
		if (!id) {
			pc_diag_add(
				d, 1, filename, NULL,
				"WireGuard peer %s belongs to identity "
				"\"%s\", which this policy does not define: "
				"it gets no access",
				m[i].peer, m[i].identity);
			continue;
		}
		for (k = 0; k < id->npeers; k++)
			if (!memcmp(id->peers[k], m[i].key, PC_WG_KEY_LEN))
				break;
		if (k < id->npeers)
			continue;
		id->peers = realloc(id->peers,
				    (id->npeers + 1) * sizeof(*id->peers));
		if (!id->peers)
			abort();
		memcpy(id->peers[id->npeers++], m[i].key, PC_WG_KEY_LEN);
	}
}

int pc_policy_load(const char *text, size_t len, const char *filename,
		   struct pc_policy **polp, struct pc_compiled **cp,
		   struct pc_diags *d)
{
	return pc_policy_load_members(text, len, filename, NULL, 0, polp, cp,
				      d);
}

int pc_policy_load_members(const char *text, size_t len, const char *filename,
			   const struct pc_peer_member *m, size_t n,
			   struct pc_policy **polp, struct pc_compiled **cp,
			   struct pc_diags *d)
{
	struct pc_policy *pol = NULL;
	struct pc_compiled *c = NULL;
	int rc;

	if (polp)
		*polp = NULL;
	if (cp)
		*cp = NULL;
	rc = pc_policy_parse(text, len, filename, &pol, d);
	if (!rc) {
		add_members(pol, filename, m, n, d);
		rc = pc_policy_compile(pol, &c, d);
	}
	if (!rc && pc_policy_run_tests(pol, c, d))
		rc = -EINVAL;
	if (rc) {
		pc_compiled_free(c);
		pc_policy_free(pol);
		return -EINVAL;
	}
	if (polp)
		*polp = pol;
	else
		pc_policy_free(pol);
	if (cp)
		*cp = c;
	else
		pc_compiled_free(c);
	return 0;
}

// SPDX-License-Identifier: Apache-2.0
/*
 * explain: which rule decides a packet, and why, read straight from the
 * rules (not from the compiled entries), then checked against what the
 * compiled policy - the data plane's view - decides.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "portcullis/maps.h"
#include "policy.h"

void pc_format_ports(uint8_t proto, int any_proto, uint16_t lo, uint16_t hi,
		     char *buf, size_t len)
{
	const char *name = pc_proto_name(proto);
	char pn[8];

	if (any_proto) {
		snprintf(buf, len, "any");
		return;
	}
	if (!name) {
		snprintf(pn, sizeof(pn), "%u", proto);
		name = pn;
	}
	if (proto == 1 || proto == 58) {
		if (lo == 0 && hi == 0xffff)
			snprintf(buf, len, "%s", name);
		else if ((lo & 0xff) == 0 && hi == (lo | 0xff))
			snprintf(buf, len, "%s/%u", name,
				 (unsigned int)lo >> 8);
		else if (lo == hi)
			snprintf(buf, len, "%s/%u/%u", name,
				 (unsigned int)lo >> 8,
				 (unsigned int)lo & 0xff);
		else
			snprintf(buf, len, "%s/%u/%u-%u/%u", name,
				 (unsigned int)lo >> 8, (unsigned int)lo & 0xff,
				 (unsigned int)hi >> 8,
				 (unsigned int)hi & 0xff);
	} else if (proto != 6 && proto != 17 && proto != 132 && proto != 136) {
		snprintf(buf, len, "%s", name);
	} else if (lo == 0 && hi == 0xffff) {
		snprintf(buf, len, "any/%s", name);
	} else if (lo == hi) {
		snprintf(buf, len, "%u/%s", lo, name);
	} else {
		snprintf(buf, len, "%u-%u/%s", lo, hi, name);
	}
}

static int holds(const struct pc_identity *id, void *host)
{
	for (size_t k = 0; k < id->ncidrs; k++)
		if (pc_prefix_contains(&id->cidrs[k], host))
			return 1;
	return 0;
}

/* Is addr in identity i (its CIDRs, or an included identity's)? */
static int in_identity(const struct pc_policy *p, size_t i,
		       const struct pc_prefix *host)
{
	return pc_identity_walk(p, i, holds, (void *)host);
}

static int in_service_addr(const struct pc_service *s,
			   const struct pc_prefix *host)
{
	if (!s->ncidrs)
		return 1;
	for (size_t k = 0; k < s->ncidrs; k++)
		if (pc_prefix_contains(&s->cidrs[k], host))
			return 1;
	return 0;
}

static int in_service_port(const struct pc_service *s, uint8_t proto,
			   uint16_t port)
{
	if (!s->nports)
		return 1;
	for (size_t k = 0; k < s->nports; k++) {
		const struct pc_portrange *r = &s->ports[k];

		if (r->any_proto ||
		    (r->proto == proto && r->lo <= port && port <= r->hi))
			return 1;
	}
	return 0;
}

static void push(size_t **v, size_t *n, size_t x)
{
	*v = realloc(*v, (*n + 1) * sizeof(**v));
	if (!*v)
		abort();
	(*v)[(*n)++] = x;
}

void pc_policy_explain(const struct pc_policy *p, const struct pc_compiled *c,
		       const uint8_t src[16], const uint8_t dst[16],
		       uint8_t proto, uint16_t port, struct pc_explanation *x)
{
	struct pc_prefix s = {.plen = 128}, d = {.plen = 128};
	uint8_t *is_id = calloc(p->nidentities + 1, 1);
	uint8_t *is_svc = calloc(p->nservices + 1, 1);
	struct pc_eval e;

	if (!is_id || !is_svc)
		abort();
	memset(x, 0, sizeof(*x));
	memcpy(s.addr, src, 16);
	memcpy(d.addr, dst, 16);
	for (size_t i = 0; i < p->nidentities; i++)
		if ((is_id[i] = (uint8_t)in_identity(p, i, &s)))
			push(&x->identities, &x->nidentities, i);
	for (size_t i = 0; i < p->nservices; i++) {
		if (!in_service_addr(&p->services[i], &d))
			continue;
		push(&x->services_addr, &x->nservices_addr, i);
		if ((is_svc[i] = (uint8_t)in_service_port(&p->services[i],
							  proto, port)))
			push(&x->services, &x->nservices, i);
	}
	for (size_t r = 0; r < p->nrules; r++) {
		const struct pc_rule *rule = &p->rules[r];
		int from = 0, to = 0;

		for (size_t k = 0; k < rule->nfrom && !from; k++)
			from = rule->from[k] == PC_ANY || is_id[rule->from[k]];
		for (size_t k = 0; k < rule->nto && !to; k++)
			to = rule->to[k] == PC_ANY ? 1 : is_svc[rule->to[k]];
		if (!from || !to)
			continue;
		push(&x->matching, &x->nmatching, r);
		if (!x->rule_id ||
		    pc_action_rank(rule->action) >
			    pc_action_rank(p->rules[x->rule_id - 1].action))
			x->rule_id = (uint32_t)r + 1;
	}
	x->action = x->rule_id ? p->rules[x->rule_id - 1].action : PC_ACT_NONE;
	pc_compiled_eval(c, src, dst, proto, port, &e);
	x->agrees = e.action == x->action && e.rule_id == x->rule_id;
	free(is_id);
	free(is_svc);
}

void pc_explanation_free(struct pc_explanation *x)
{
	free(x->identities);
	free(x->services_addr);
	free(x->services);
	free(x->matching);
	memset(x, 0, sizeof(*x));
}

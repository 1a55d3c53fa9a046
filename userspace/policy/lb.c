// SPDX-License-Identifier: Apache-2.0
/*
 * Load-balanced services: checking what a policy asks for, compiling it
 * to tables (one per service and address family) and virtual addresses,
 * and building the table the data plane holds from the backends' health.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "portcullis/maps.h"
#include "policy.h"

#define LB_DEFAULT_INTERVAL_MS 1000
#define LB_DEFAULT_RISE 2
#define LB_DEFAULT_FALL 2

/* "198.18.2.2:8080", "[fd00::2]:8080", "198.18.2.2" (port 0) */
void pc_backend_format(const uint8_t addr[16], uint16_t port, char *buf,
		       size_t len)
{
	char a[64];

	pc_addr_format(addr, a, sizeof(a));
	if (!port)
		snprintf(buf, len, "%s", a);
	else if (pc_addr_is_v4(addr))
		snprintf(buf, len, "%s:%u", a, port);
	else
		snprintf(buf, len, "[%s]:%u", a, port);
}

struct lbctx {
	const struct pc_policy *pol;
	struct pc_diags *d;
	struct pc_compiled *c;
	size_t cap_lb, cap_vips;
};

#define ERR(x, loc, ...) \
	pc_diag_add((x)->d, 0, (x)->pol->filename, loc, __VA_ARGS__)

/* The port a probe of backend b asks, or 0 when there is none to ask. */
static uint16_t probe_port(const struct pc_service *svc,
			   const struct pc_backend *b)
{
	if (svc->health.port)
		return svc->health.port;
	if (b->port)
		return b->port;
	if (svc->nports == 1 && svc->ports[0].lo == svc->ports[0].hi)
		return svc->ports[0].lo;
	return 0;
}

static int check_health(struct lbctx *x, const struct pc_service *svc)
{
	const struct pc_health *h = &svc->health;
	uint32_t interval =
		h->interval_ms ? h->interval_ms : LB_DEFAULT_INTERVAL_MS;

	if (h->type == PC_PROBE_NONE)
		return 0;
	if (h->timeout_ms > interval) {
		ERR(x, &h->loc,
		    "service \"%s\": the probe timeout (%ums) is longer than "
		    "its interval (%ums)",
		    svc->name, h->timeout_ms, interval);
		return -EINVAL;
	}
	if (h->type != PC_PROBE_HTTP && (h->path || h->status || h->host)) {
		ERR(x, &h->loc,
		    "service \"%s\": path, status and host are for http "
		    "probes",
		    svc->name);
		return -EINVAL;
	}
	if (h->type != PC_PROBE_UDP && h->send) {
		ERR(x, &h->loc, "service \"%s\": send is for udp probes",
		    svc->name);
		return -EINVAL;
	}
	if (h->type == PC_PROBE_ICMP)
		return 0;
	for (size_t i = 0; i < svc->nbackends; i++)
		if (!probe_port(svc, &svc->backends[i])) {
			ERR(x, &svc->backends[i].loc,
			    "service \"%s\": this backend has no port to "
			    "probe (give it one, or health a port)",
			    svc->name);
			return -EINVAL;
		}
	return 0;
}

static int check_service(struct lbctx *x, const struct pc_service *svc)
{
	if (!svc->nbackends) {
		if (svc->balance_loc.line) {
			ERR(x, &svc->balance_loc,
			    "service \"%s\": balance needs backends",
			    svc->name);
			return -EINVAL;
		}
		if (svc->health.loc.line) {
			ERR(x, &svc->health.loc,
			    "service \"%s\": health needs backends", svc->name);
			return -EINVAL;
		}
		return 0;
	}
	if (!svc->ncidrs) {
		ERR(x, &svc->backends_loc,
		    "service \"%s\" has backends but no cidrs: its cidrs are "
		    "the virtual addresses clients connect to",
		    svc->name);
		return -EINVAL;
	}
	for (size_t i = 0; i < svc->ncidrs; i++)
		if (svc->cidrs[i].plen != 128) {
			char p[64];

			pc_prefix_format(&svc->cidrs[i], p, sizeof(p));
			ERR(x, &svc->loc,
			    "service \"%s\": virtual address %s must be one "
			    "address (/32 or /128)",
			    svc->name, p);
			return -EINVAL;
		}
	if (!svc->nports) {
		ERR(x, &svc->backends_loc,
		    "service \"%s\" has backends but no ports: list the tcp "
		    "and udp ports it balances",
		    svc->name);
		return -EINVAL;
	}
	for (size_t i = 0; i < svc->nports; i++) {
		const struct pc_portrange *r = &svc->ports[i];

		if (r->any_proto ||
		    (r->proto != IPPROTO_TCP && r->proto != IPPROTO_UDP)) {
			char ps[48];

			pc_format_ports(r->proto, r->any_proto, r->lo, r->hi,
					ps, sizeof(ps));
			ERR(x, &svc->backends_loc,
			    "service \"%s\": load balancing takes tcp and udp "
			    "ports, not \"%s\"",
			    svc->name, ps);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < svc->nbackends; i++)
		for (size_t j = 0; j < i; j++)
			if (!memcmp(svc->backends[i].addr,
				    svc->backends[j].addr, 16) &&
			    svc->backends[i].port == svc->backends[j].port) {
				char b[80];

				pc_backend_format(svc->backends[i].addr,
						  svc->backends[i].port, b,
						  sizeof(b));
				ERR(x, &svc->backends[i].loc,
				    "service \"%s\": backend %s is listed "
				    "twice",
				    svc->name, b);
				return -EINVAL;
			}
	for (size_t i = 0; i < svc->nbackends; i++)
		for (size_t j = 0; j < svc->ncidrs; j++)
			if (!memcmp(svc->backends[i].addr, svc->cidrs[j].addr,
				    16)) {
				char b[80];

				pc_backend_format(svc->backends[i].addr,
						  svc->backends[i].port, b,
						  sizeof(b));
				ERR(x, &svc->backends[i].loc,
				    "service \"%s\": backend %s is one of its "
				    "own virtual addresses",
				    svc->name, b);
				return -EINVAL;
			}
	return check_health(x, svc);
}

/* The health a table carries: the service's, with defaults filled in. */
static void health_of(const struct pc_service *svc, struct pc_health *h)
{
	*h = svc->health;
	if (h->type == PC_PROBE_NONE)
		return;
	if (!h->interval_ms)
		h->interval_ms = LB_DEFAULT_INTERVAL_MS;
	if (!h->timeout_ms)
		h->timeout_ms = h->interval_ms;
	if (!h->rise)
		h->rise = LB_DEFAULT_RISE;
	if (!h->fall)
		h->fall = LB_DEFAULT_FALL;
	if (h->type == PC_PROBE_HTTP && !h->status)
		h->status = 200;
	h->path =
		pc_strdup(h->type == PC_PROBE_HTTP && h->path ? h->path : "/");
	h->host = h->host ? pc_strdup(h->host) : NULL;
	h->send = pc_strdup(h->send ? h->send : "ping");
}

/* One table: the service's backends of one family. */
static int add_table(struct lbctx *x, const struct pc_service *svc, int v4,
		     uint32_t *table)
{
	struct pc_compiled *c = x->c;
	struct pc_lb_entry *t;
	size_t n = 0;

	for (size_t i = 0; i < svc->nbackends; i++)
		n += pc_addr_is_v4(svc->backends[i].addr) == v4;
	if (!n) {
		ERR(x, &svc->backends_loc,
		    "service \"%s\" has an IPv%d virtual address but no IPv%d "
		    "backend",
		    svc->name, v4 ? 4 : 6, v4 ? 4 : 6);
		return -EINVAL;
	}
	if (n > PC_LB_MAX_BACKENDS) {
		ERR(x, &svc->backends_loc,
		    "service \"%s\" has %zu IPv%d backends, at most %d",
		    svc->name, n, v4 ? 4 : 6, PC_LB_MAX_BACKENDS);
		return -E2BIG;
	}
	if (c->nlb == PC_LB_MAX_SERVICES) {
		ERR(x, &svc->loc,
		    "more than %d load-balanced services (each address "
		    "family counts once)",
		    PC_LB_MAX_SERVICES);
		return -E2BIG;
	}
	pc_xgrow(&c->lb, &x->cap_lb, c->nlb, sizeof(*c->lb));
	t = &c->lb[c->nlb];
	memset(t, 0, sizeof(*t));
	t->service = pc_strdup(svc->name);
	t->v6 = !v4;
	t->balance = svc->balance;
	t->backends = pc_xcalloc(n, sizeof(*t->backends));
	t->probe_ports = pc_xcalloc(n, sizeof(*t->probe_ports));
	for (size_t i = 0; i < svc->nbackends; i++)
		if (pc_addr_is_v4(svc->backends[i].addr) == v4) {
			t->probe_ports[t->nbackends] =
				probe_port(svc, &svc->backends[i]);
			t->backends[t->nbackends++] = svc->backends[i];
		}
	health_of(svc, &t->health);
	*table = (uint32_t)c->nlb++;
	return 0;
}

static int vip_cmp(const void *a, const void *b)
{
	const struct pc_lb_vip *x = a, *y = b;
	int r = memcmp(x->addr, y->addr, 16);

	if (r)
		return r;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return x->table < y->table ? -1 : x->table > y->table;
}

static int add_vips(struct lbctx *x, const struct pc_service *svc,
		    const uint8_t addr[16], uint32_t table)
{
	struct pc_compiled *c = x->c;

	for (size_t i = 0; i < svc->nports; i++) {
		const struct pc_portrange *r = &svc->ports[i];
		/* every port is one wildcard entry; a range is expanded */
		uint32_t lo = r->lo, hi = r->hi;

		if (lo == 0 && hi == 0xffff)
			hi = 0;
		if (c->nvips + (hi - lo + 1) > PC_LB_MAX_VIPS / 2) {
			ERR(x, &svc->loc,
			    "service \"%s\": more than %d (virtual address, "
			    "port) pairs to balance; use fewer port ranges",
			    svc->name, PC_LB_MAX_VIPS / 2);
			return -E2BIG;
		}
		for (uint32_t p = lo; p <= hi; p++) {
			pc_xgrow(&c->vips, &x->cap_vips, c->nvips,
				 sizeof(*c->vips));
			memcpy(c->vips[c->nvips].addr, addr, 16);
			c->vips[c->nvips].proto = r->proto;
			c->vips[c->nvips].port = (uint16_t)p;
			c->vips[c->nvips].table = table;
			c->nvips++;
		}
	}
	return 0;
}

/* Two services balancing the same (address, protocol, port) */
static int check_overlap(struct lbctx *x)
{
	struct pc_compiled *c = x->c;

	if (c->nvips > 1) /* qsort wants a real array, even of none */
		qsort(c->vips, c->nvips, sizeof(*c->vips), vip_cmp);
	for (size_t i = 1, g = 0; i < c->nvips; i++) {
		const struct pc_lb_vip *a = &c->vips[i - 1], *b = &c->vips[i];

		/* g: the first of this (address, protocol); port 0 (every
		 * port) sorts first and overlaps each other port */
		if (memcmp(c->vips[g].addr, b->addr, 16) ||
		    c->vips[g].proto != b->proto)
			g = i;
		else if (!c->vips[g].port && c->vips[g].table != b->table)
			a = &c->vips[g];
		if (!memcmp(a->addr, b->addr, 16) && a->proto == b->proto &&
		    (a->port == b->port ||
		     (!a->port && a->table != b->table))) {
			const char *sa = c->lb[a->table].service;
			const char *sb = c->lb[b->table].service;
			char addr[64], ps[48];

			pc_addr_format(a->addr, addr, sizeof(addr));
			pc_format_ports(a->proto, 0, a->port,
					a->port ? a->port : 0xffff, ps,
					sizeof(ps));
			ERR(x, NULL,
			    "%s %s is balanced by service \"%s\" and by "
			    "service \"%s\"%s",
			    addr, ps, sa, sb,
			    strcmp(sa, sb) ? "" : " (listed twice)");
			return -EINVAL;
		}
	}
	return 0;
}

int pc_lb_compile(const struct pc_policy *pol, struct pc_compiled *c,
		  struct pc_diags *d)
{
	struct lbctx x = {.pol = pol, .d = d, .c = c};
	int err = 0;

	for (size_t s = 0; s < pol->nservices && !err; s++) {
		const struct pc_service *svc = &pol->services[s];
		uint32_t t4 = UINT32_MAX, t6 = UINT32_MAX;

		if ((err = check_service(&x, svc)) || !svc->nbackends)
			continue;
		for (size_t i = 0; i < svc->ncidrs && !err; i++) {
			int v4 = pc_addr_is_v4(svc->cidrs[i].addr);
			uint32_t *t = v4 ? &t4 : &t6;

			if (*t == UINT32_MAX)
				err = add_table(&x, svc, v4, t);
			if (!err)
				err = add_vips(&x, svc, svc->cidrs[i].addr, *t);
		}
	}
	return err ? err : check_overlap(&x);
}

void pc_lb_free(struct pc_compiled *c)
{
	for (size_t i = 0; i < c->nlb; i++) {
		free(c->lb[i].service);
		free(c->lb[i].backends);
		free(c->lb[i].probe_ports);
		free(c->lb[i].health.path);
		free(c->lb[i].health.host);
		free(c->lb[i].health.send);
	}
	free(c->lb);
	free(c->vips);
}

int pc_lb_table_build(const struct pc_lb_entry *t, const uint8_t *up,
		      const uint32_t *rtt_us, struct pc_lb_table *out)
{
	const char *keys[PC_LB_MAX_BACKENDS];
	char names[PC_LB_MAX_BACKENDS][64];
	uint32_t weights[PC_LB_MAX_BACKENDS];
	uint8_t ring[PC_LB_RING];
	size_t n = 0;
	int err;

	memset(out, 0, sizeof(*out));
	out->strategy = t->balance;
	out->nbackends = (uint32_t)t->nbackends;
	for (size_t i = 0; i < t->nbackends; i++) {
		const struct pc_backend *b = &t->backends[i];

		memcpy(out->backends[i].addr, b->addr, 16);
		out->backends[i].port = b->port;
		out->backends[i].weight = b->weight;
		if (b->drain || (up && !up[i]))
			continue;
		out->active[n] = (uint8_t)i;
		pc_backend_format(b->addr, b->port, names[n], sizeof(names[n]));
		keys[n] = names[n];
		weights[n] = b->weight;
		n++;
	}
	out->nactive = (uint32_t)n;
	if (!n)
		return 0; /* new flows have nowhere to go: the program drops */
	/* the ring holds positions in keys[]; active[] still has them in
	 * the same order here */
	err = pc_maglev_fill(keys, weights, n, ring, PC_LB_RING);
	if (err)
		return err;
	for (size_t i = 0; i < PC_LB_RING; i++)
		out->ring[i] = out->active[ring[i]];
	if (t->balance == PC_LB_LATENCY && rtt_us) {
		/* fastest first (insertion sort: at most 64) */
		for (size_t i = 1; i < n; i++)
			for (size_t j = i;
			     j > 0 && rtt_us[out->active[j]] <
					      rtt_us[out->active[j - 1]];
			     j--) {
				uint8_t tmp = out->active[j];

				out->active[j] = out->active[j - 1];
				out->active[j - 1] = tmp;
			}
	}
	return 0;
}

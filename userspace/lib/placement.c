// SPDX-License-Identifier: Apache-2.0
/* The placement strategies (placement.h says what each picks). */
#include <string.h>

#include "placement.h"

static const char *const names[] = {
	[PC_PLACE_ROUND_ROBIN] = "round-robin",
	[PC_PLACE_LEAST_CONNECTIONS] = "least-connections",
	[PC_PLACE_WEIGHTED_RANDOM] = "weighted-random",
	[PC_PLACE_LATENCY] = "latency",
	[PC_PLACE_REGION] = "region",
};

const char *pc_place_strategy_name(enum pc_place_strategy s)
{
	return (unsigned int)s < sizeof(names) / sizeof(names[0]) ? names[s]
								  : "?";
}

int pc_place_strategy_parse(const char *name, enum pc_place_strategy *out)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(name, names[i])) {
			*out = (enum pc_place_strategy)i;
			return 0;
		}
	return -1;
}

static unsigned int weight(const struct pc_place_gw *g)
{
	return g->weight ? g->weight : 1;
}

/* a has fewer clients per weight than b (cross-multiplied: exact) */
static int lighter(const struct pc_place_gw *a, const struct pc_place_gw *b)
{
	return (uint64_t)a->clients * weight(b) <
	       (uint64_t)b->clients * weight(a);
}

/* Least-connections among the gateways up; region: only those in it. */
static int least(const struct pc_place_gw *g, size_t n, const char *region)
{
	int best = -1;

	for (size_t i = 0; i < n; i++) {
		if (!g[i].up ||
		    (region && (!g[i].region || strcmp(g[i].region, region))))
			continue;
		if (best < 0 || lighter(&g[i], &g[best]))
			best = (int)i;
	}
	return best;
}

static int round_robin(const struct pc_place_gw *g, size_t n, uint64_t *cursor)
{
	for (size_t k = 0; k < n; k++) {
		size_t i = (size_t)((*cursor + k) % n);

		if (g[i].up) {
			*cursor = i + 1;
			return (int)i;
		}
	}
	return -1;
}

static int weighted_random(const struct pc_place_gw *g, size_t n, uint64_t rnd)
{
	uint64_t total = 0, r;

	for (size_t i = 0; i < n; i++)
		if (g[i].up)
			total += weight(&g[i]);
	if (!total)
		return -1;
	r = rnd % total;
	for (size_t i = 0; i < n; i++) {
		if (!g[i].up)
			continue;
		if (r < weight(&g[i]))
			return (int)i;
		r -= weight(&g[i]);
	}
	return -1; /* not reached */
}

static int latency(const struct pc_place_gw *g, size_t n)
{
	int best = -1;

	for (size_t i = 0; i < n; i++) {
		if (!g[i].up || g[i].rtt_ms < 0)
			continue;
		if (best < 0 || g[i].rtt_ms < g[best].rtt_ms ||
		    (g[i].rtt_ms == g[best].rtt_ms && lighter(&g[i], &g[best])))
			best = (int)i;
	}
	return best >= 0 ? best : least(g, n, NULL);
}

static int region(const struct pc_place_gw *g, size_t n,
		  const struct pc_place_client *c)
{
	for (size_t r = 0; c && r < c->nregions; r++) {
		int i = least(g, n, c->regions[r]);

		if (i >= 0)
			return i;
	}
	return least(g, n, NULL);
}

int pc_place_pick(enum pc_place_strategy s, const struct pc_place_gw *g,
		  size_t n, const struct pc_place_client *c, uint64_t *cursor,
		  uint64_t rnd)
{
	if (!n)
		return -1;
	switch (s) {
	case PC_PLACE_ROUND_ROBIN:
		return round_robin(g, n, cursor);
	case PC_PLACE_LEAST_CONNECTIONS:
		return least(g, n, NULL);
	case PC_PLACE_WEIGHTED_RANDOM:
		return weighted_random(g, n, rnd);
	case PC_PLACE_LATENCY:
		return latency(g, n);
	case PC_PLACE_REGION:
		return region(g, n, c);
	}
	return -1;
}

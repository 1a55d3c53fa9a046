/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Placement: which gateway of a fleet serves a client (a WireGuard peer,
 * a user of a service).  Pure functions; the fleet (daemon/placement.c)
 * feeds them what it knows and stores what they pick.
 */
#ifndef PC_PLACEMENT_H
#define PC_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

enum pc_place_strategy {
	PC_PLACE_ROUND_ROBIN,
	PC_PLACE_LEAST_CONNECTIONS,
	PC_PLACE_WEIGHTED_RANDOM,
	PC_PLACE_LATENCY,
	PC_PLACE_REGION,
};

const char *pc_place_strategy_name(enum pc_place_strategy s);
/* -1 for an unknown name */
int pc_place_strategy_parse(const char *name, enum pc_place_strategy *out);

/* A gateway as placement sees it. */
struct pc_place_gw {
	const char *name;
	const char *region;
	unsigned int weight; /* share, 1..1000 (0 counts as 1) */
	size_t clients;	     /* placed on it now */
	int up;		     /* on a live lease and healthy: may take more */
	double rtt_ms;	     /* to the client being placed; < 0: unmeasured */
};

struct pc_place_client {
	const char *name;
	/* regions, closest first (its own first); for PC_PLACE_REGION */
	const char *const *regions;
	size_t nregions;
};

/*
 * The gateway (an index into g, which the caller keeps in one stable
 * order, by name) that should take client c, or -1 when none is up.
 *
 * round-robin: the next gateway up after *cursor, which moves on;
 * least-connections: fewest clients per weight, ties to the first;
 * weighted-random: by weight, rnd a uniform 64-bit number;
 * latency: lowest measured RTT (ties: fewest clients); with none
 *   measured, least-connections;
 * region: least-connections within the first of c's regions that has a
 *   gateway up, then any gateway up.
 */
int pc_place_pick(enum pc_place_strategy s, const struct pc_place_gw *g,
		  size_t n, const struct pc_place_client *c, uint64_t *cursor,
		  uint64_t rnd);

#endif

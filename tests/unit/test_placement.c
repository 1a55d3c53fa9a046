// SPDX-License-Identifier: Apache-2.0
/* Unit tests: each placement strategy, and failover off a dead gateway. */
#include <criterion/criterion.h>
#include <string.h>

#include "placement.h"

/* Three gateways, by name; every test starts from this. */
static struct pc_place_gw gws[3];

static void setup(void)
{
	gws[0] = (struct pc_place_gw){"gw-a", "eu-west", 100, 0, 1, -1};
	gws[1] = (struct pc_place_gw){"gw-b", "eu-central", 100, 0, 1, -1};
	gws[2] = (struct pc_place_gw){"gw-c", "us-east", 100, 0, 1, -1};
}

TestSuite(placement, .init = setup);

/* Place k clients one after another, as the fleet does: each pick adds
 * one client to the gateway picked.  counts[i]: how many each took. */
static void place_many(enum pc_place_strategy s, int k, size_t counts[3],
		       const struct pc_place_client *c)
{
	uint64_t cursor = 0, rnd = 0x9e3779b97f4a7c15ULL;

	memset(counts, 0, 3 * sizeof(counts[0]));
	for (int j = 0; j < k; j++) {
		int i;

		rnd = rnd * 6364136223846793005ULL + 1442695040888963407ULL;
		i = pc_place_pick(s, gws, 3, c, &cursor, rnd >> 11);
		cr_assert_geq(i, 0);
		counts[i]++;
		gws[i].clients++;
	}
}

Test(placement, names)
{
	enum pc_place_strategy s;

	/* Test that every strategy's name parses back, and others do not */
	for (int i = PC_PLACE_ROUND_ROBIN; i <= PC_PLACE_REGION; i++) {
		cr_assert_eq(
			pc_place_strategy_parse(pc_place_strategy_name(i), &s),
			0);
		cr_assert_eq((int)s, i);
	}
	cr_assert_eq(pc_place_strategy_parse("random", &s), -1);
	cr_assert_str_eq(pc_place_strategy_name(PC_PLACE_LATENCY), "latency");
}

Test(placement, round_robin_takes_turns_and_skips_the_dead)
{
	uint64_t cursor = 0;
	int seq[6];

	/* Test a, b, c, a, ... then, with b dead, a, c, a, c */
	for (int j = 0; j < 4; j++)
		seq[j] = pc_place_pick(PC_PLACE_ROUND_ROBIN, gws, 3, NULL,
				       &cursor, 0);
	cr_assert_eq(seq[0], 0);
	cr_assert_eq(seq[1], 1);
	cr_assert_eq(seq[2], 2);
	cr_assert_eq(seq[3], 0);
	gws[1].up = 0;
	for (int j = 0; j < 4; j++)
		seq[j] = pc_place_pick(PC_PLACE_ROUND_ROBIN, gws, 3, NULL,
				       &cursor, 0);
	cr_assert_eq(seq[0], 2);
	cr_assert_eq(seq[1], 0);
	cr_assert_eq(seq[2], 2);
	cr_assert_eq(seq[3], 0);
}

Test(placement, least_connections_by_weight)
{
	size_t n[3];

	/* Test that the lightest gateway takes the next client */
	gws[0].clients = 5;
	gws[1].clients = 2;
	gws[2].clients = 3;
	cr_assert_eq(pc_place_pick(PC_PLACE_LEAST_CONNECTIONS, gws, 3, NULL,
				   NULL, 0),
		     1);
	/* Test that clients spread by weight: 300 clients over weights
	 * 100, 200, 300 land 50, 100, 150 */
	setup();
	gws[1].weight = 200;
	gws[2].weight = 300;
	place_many(PC_PLACE_LEAST_CONNECTIONS, 300, n, NULL);
	cr_assert_eq(n[0], 50);
	cr_assert_eq(n[1], 100);
	cr_assert_eq(n[2], 150);
}

Test(placement, weighted_random_follows_the_weights)
{
	size_t n[3];

	/* Test that 30,000 picks with weights 1:2:3 land within 3% of
	 * 5,000, 10,000 and 15,000 */
	gws[0].weight = 100;
	gws[1].weight = 200;
	gws[2].weight = 300;
	place_many(PC_PLACE_WEIGHTED_RANDOM, 30000, n, NULL);
	cr_assert(n[0] > 4850 && n[0] < 5150, "%zu", n[0]);
	cr_assert(n[1] > 9700 && n[1] < 10300, "%zu", n[1]);
	cr_assert(n[2] > 14550 && n[2] < 15450, "%zu", n[2]);
	/* Test that a dead gateway gets none */
	setup();
	gws[2].up = 0;
	place_many(PC_PLACE_WEIGHTED_RANDOM, 1000, n, NULL);
	cr_assert_eq(n[2], 0);
	cr_assert_eq(n[0] + n[1], 1000);
}

Test(placement, latency_picks_the_lowest_rtt)
{
	/* Test the lowest RTT wins, unmeasured ones are passed over, the
	 * dead one too, and an RTT tie goes to the lighter gateway */
	gws[0].rtt_ms = 12.5;
	gws[1].rtt_ms = 3.1;
	gws[2].rtt_ms = -1;
	cr_assert_eq(pc_place_pick(PC_PLACE_LATENCY, gws, 3, NULL, NULL, 0), 1);
	gws[1].up = 0;
	cr_assert_eq(pc_place_pick(PC_PLACE_LATENCY, gws, 3, NULL, NULL, 0), 0);
	gws[1].up = 1;
	gws[0].rtt_ms = 3.1;
	gws[1].clients = 4;
	cr_assert_eq(pc_place_pick(PC_PLACE_LATENCY, gws, 3, NULL, NULL, 0), 0);
	/* Test that with nothing measured it is least-connections */
	setup();
	gws[0].clients = 2;
	gws[1].clients = 1;
	gws[2].clients = 2;
	cr_assert_eq(pc_place_pick(PC_PLACE_LATENCY, gws, 3, NULL, NULL, 0), 1);
}

Test(placement, region_closest_first_then_the_next)
{
	static const char *const near_ams[] = {"eu-west", "eu-central",
					       "us-east"};
	static const char *const nowhere[] = {"ap-south"};
	struct pc_place_client c = {"laptop", near_ams, 3};
	struct pc_place_client lost = {"far", nowhere, 1};
	size_t n[3];

	/* Test: its own region first, even when busier */
	gws[0].clients = 10;
	cr_assert_eq(pc_place_pick(PC_PLACE_REGION, gws, 3, &c, NULL, 0), 0);
	/* Test: its region dead, the next region */
	gws[0].up = 0;
	cr_assert_eq(pc_place_pick(PC_PLACE_REGION, gws, 3, &c, NULL, 0), 1);
	/* Test: both European regions dead, the last one */
	gws[1].up = 0;
	cr_assert_eq(pc_place_pick(PC_PLACE_REGION, gws, 3, &c, NULL, 0), 2);
	/* Test: no gateway in any of its regions: any gateway up */
	setup();
	gws[2].clients = 1;
	cr_assert_eq(pc_place_pick(PC_PLACE_REGION, gws, 3, &lost, NULL, 0), 0);
	/* Test: two gateways in its region share its clients */
	setup();
	gws[1].region = "eu-west";
	place_many(PC_PLACE_REGION, 10, n, &c);
	cr_assert_eq(n[0], 5);
	cr_assert_eq(n[1], 5);
	cr_assert_eq(n[2], 0);
}

Test(placement, nothing_up_places_nothing)
{
	uint64_t cursor = 0;

	/* Test that every strategy says -1 when every gateway is dead */
	for (int i = 0; i < 3; i++)
		gws[i].up = 0;
	for (int s = PC_PLACE_ROUND_ROBIN; s <= PC_PLACE_REGION; s++)
		cr_assert_eq(pc_place_pick(s, gws, 3, NULL, &cursor, 7), -1,
			     "%s", pc_place_strategy_name(s));
	cr_assert_eq(
		pc_place_pick(PC_PLACE_ROUND_ROBIN, gws, 0, NULL, &cursor, 0),
		-1);
}

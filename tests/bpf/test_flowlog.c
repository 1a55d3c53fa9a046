// SPDX-License-Identifier: Apache-2.0
/*
 * The flow log against a real conntrack map: entries written here stand
 * for flows; walks find them ended (closed, expired) or gone, write each
 * once, keep names across a change of policy, and follow thousands of
 * flows through the table's growth and shrinking.
 */
#include <criterion/criterion.h>
#include <bpf/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "dataplane.h"
#include "flowlog.h"

static struct pc_dp *dp;
static struct pc_flowlog *fl;
static char gwname[64], path[128];
static int ct_fd;
static int names_own = 1; /* what the names callback says */
static const char *rule_name = "r-first";

static int names(void *arg, const struct pc_ct_key *k,
		 const struct pc_ct_val *v, struct pc_flow_names *out)
{
	(void)arg, (void)k, (void)v;
	out->identity = names_own ? "clients" : "-";
	out->service = "web";
	out->rule = names_own ? rule_name : NULL;
	out->verdict = "allow";
	return names_own;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void setup(void)
{
	struct pc_dp_opts o = {.gateway = gwname};
	struct pc_flowlog_opts fo = {.gateway = "gw-test",
				     .max_bytes = 1 << 30,
				     .keep = 1,
				     .names = names};

	snprintf(gwname, sizeof(gwname), "fltest-%d", getpid());
	snprintf(path, sizeof(path), "/tmp/pc-flowlog-%d.jsonl", getpid());
	unlink(path);
	pc_dp_teardown(&o);
	cr_assert_eq(pc_dp_open(&o, &dp), 0);
	ct_fd = pc_dp_map_fd(dp, "conntrack");
	fo.path = path;
	cr_assert_eq(pc_flowlog_open(dp, &fo, &fl), 0);
}

static void teardown(void)
{
	struct pc_dp_opts o = {.gateway = gwname};

	pc_flowlog_close(fl);
	pc_dp_close(dp);
	pc_dp_teardown(&o);
	unlink(path);
}

TestSuite(flowlog, .init = setup, .fini = teardown);

/* Flow i: 198.18.1.x:i -> 198.18.2.2:80, TCP. */
static void flow_key(uint32_t i, struct pc_ct_key *k)
{
	memset(k, 0, sizeof(*k));
	k->lo_addr[10] = k->lo_addr[11] = 0xff;
	k->lo_addr[12] = 198, k->lo_addr[13] = 18, k->lo_addr[14] = 1;
	k->lo_addr[15] = (uint8_t)(1 + i / 50000);
	memcpy(k->hi_addr, k->lo_addr, 12);
	k->hi_addr[12] = 198, k->hi_addr[13] = 18, k->hi_addr[14] = 2;
	k->hi_addr[15] = 2;
	k->lo_port = (uint16_t)(1024 + i % 50000);
	k->hi_port = 80;
	k->proto = 6;
}

static void put(uint32_t i, uint8_t state, uint64_t idle_ns, uint64_t pkts)
{
	struct pc_ct_key k;
	struct pc_ct_val v = {0};
	uint64_t now = now_ns();

	flow_key(i, &k);
	v.created_ns = now - idle_ns - 1000;
	v.last_seen_ns = now - idle_ns;
	v.packets[0] = pkts, v.packets[1] = pkts / 2;
	v.bytes[0] = pkts * 60, v.bytes[1] = pkts * 30;
	v.orig_is_lo = 1;
	v.state = state;
	v.generation = 1;
	/* keep created_ns of an entry already there: the same flow */
	{
		struct pc_ct_val was;

		if (!bpf_map_lookup_elem(ct_fd, &k, &was))
			v.created_ns = was.created_ns;
	}
	cr_assert_eq(bpf_map_update_elem(ct_fd, &k, &v, BPF_ANY), 0);
}

static void drop(uint32_t i)
{
	struct pc_ct_key k;

	flow_key(i, &k);
	cr_assert_eq(bpf_map_delete_elem(ct_fd, &k), 0);
}

/* The records written so far, with end "what" (NULL: any), per port. */
static size_t records(const char *what, uint32_t port, json_t **last)
{
	FILE *f = fopen(path, "r");
	char line[2048];
	size_t n = 0;

	if (last)
		*last = NULL;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		json_t *r = json_loads(line, 0, NULL);

		cr_assert_not_null(r, "a line that is not JSON: %s", line);
		if ((!what ||
		     !strcmp(json_string_value(json_object_get(r, "end")),
			     what)) &&
		    (!port ||
		     json_integer_value(json_object_get(r, "sport")) == port)) {
			n++;
			if (last) {
				json_decref(*last);
				*last = json_incref(r);
			}
		}
		json_decref(r);
	}
	cr_assert_eq(fclose(f), 0);
	return n;
}

Test(flowlog, each_end_is_written_once)
{
	struct pc_flowlog_stats st;
	json_t *r;

	put(0, PC_TCP_ESTABLISHED, 0, 10);	    /* lives */
	put(1, PC_TCP_CLOSING, 3000000000ULL, 8);   /* closed 3 s ago */
	put(2, PC_TCP_SYN_SENT, 61000000000ULL, 1); /* past 60 s: expired */
	put(3, PC_TCP_ESTABLISHED, 0, 4);	    /* will go */
	pc_flowlog_walk(fl);
	cr_assert_eq(records(NULL, 0, NULL), 2, "closed and expired");
	cr_assert_eq(records("closed", 1025, &r), 1);
	cr_assert_eq(json_integer_value(json_object_get(r, "packets")), 12);
	cr_assert_eq(json_integer_value(json_object_get(r, "bytes")), 720);
	cr_assert_str_eq(json_string_value(json_object_get(r, "rule")),
			 "r-first");
	cr_assert_str_eq(json_string_value(json_object_get(r, "gateway")),
			 "gw-test");
	json_decref(r);
	cr_assert_eq(records("expired", 1026, NULL), 1);

	/* the next walks write neither again; flow 3 leaves the table */
	pc_flowlog_walk(fl);
	drop(3);
	put(0, PC_TCP_ESTABLISHED, 0, 20);
	pc_flowlog_walk(fl);
	pc_flowlog_walk(fl);
	cr_assert_eq(records(NULL, 0, NULL), 3);
	cr_assert_eq(records("gone", 1027, &r), 1, "flow 3 is gone");
	cr_assert_eq(json_integer_value(json_object_get(r, "packets")), 6,
		     "with the counts last seen");
	json_decref(r);
	pc_flowlog_stats(fl, &st);
	cr_assert_eq(st.flows, 3);
	cr_assert_eq(st.tracked, 3, "0, and 1 and 2 until they leave");
}

Test(flowlog, names_outlive_the_policy_that_decided)
{
	json_t *r;

	put(7, PC_TCP_ESTABLISHED, 0, 5);
	pc_flowlog_walk(fl);
	/* a push: the flow's entry still says the old generation, and the
	 * policy in force cannot name it */
	names_own = 0;
	pc_flowlog_walk(fl);
	drop(7);
	pc_flowlog_walk(fl);
	names_own = 1;
	cr_assert_eq(records("gone", 1031, &r), 1);
	cr_assert_str_eq(json_string_value(json_object_get(r, "identity")),
			 "clients");
	cr_assert_str_eq(json_string_value(json_object_get(r, "rule")),
			 "r-first", "the names of the policy that decided it");
	json_decref(r);
}

Test(flowlog, thousands_of_flows_through_growth_and_shrinking)
{
	enum { N = 20000 };
	struct pc_flowlog_stats st;

	/* more at once than the first table takes: some wait a walk */
	for (uint32_t i = 0; i < N; i++)
		put(100 + i, PC_TCP_ESTABLISHED, 0, 3);
	pc_flowlog_walk(fl);
	pc_flowlog_stats(fl, &st);
	cr_assert_lt(st.tracked, N, "the first table is small");
	cr_assert_gt(st.untracked, 0);
	for (int w = 0; w < 6 && st.tracked < N; w++) {
		pc_flowlog_walk(fl);
		pc_flowlog_stats(fl, &st);
	}
	cr_assert_eq(st.tracked, N, "all followed once the table grew");
	cr_assert_eq(records(NULL, 0, NULL), 0, "and none written");
	/* all close; then all go: each written once, as closed */
	for (uint32_t i = 0; i < N; i++)
		put(100 + i, PC_TCP_CLOSED, 3000000000ULL, 3);
	pc_flowlog_walk(fl);
	cr_assert_eq(records("closed", 0, NULL), N);
	for (uint32_t i = 0; i < N; i++)
		drop(100 + i);
	pc_flowlog_walk(fl);
	pc_flowlog_walk(fl);
	cr_assert_eq(records(NULL, 0, NULL), N, "gone flows logged already");
	pc_flowlog_stats(fl, &st);
	cr_assert_eq(st.tracked, 0);
	cr_assert_eq(st.flows, N);
}

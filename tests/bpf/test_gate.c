// SPDX-License-Identifier: Apache-2.0
/*
 * BPF tests: the real XDP and TC programs, loaded and fed a policy through
 * the real data plane code, run with bpf_prog_test_run_opts on crafted
 * packets.  Each test runs in its own network namespace, with the ingress
 * ifindex of a real veth (XDP) or TUN device (TC) in it.
 */
#include <criterion/criterion.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "dataplane.h"
#include "gate_fixture.h"
#include "metrics.h"
#include "packets.h"
#include "portcullis/lbhash.h"

static int veth_ifindex, tun_ifindex;

static const char policy_text[] = GATE_POLICY_SERVICES GATE_POLICY_RULES;

static int tc_ethernet;

static void setup(void)
{
	struct pc_dp_opts o = {.gateway = gwname, .tc_ethernet = tc_ethernet};

	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare: %m");
	cr_assert_eq(system("ip link add pct0 type veth peer name pct1 && "
			    "ip link set pct0 up && ip link set pct1 up && "
			    "ip tuntap add dev pctun mode tun && "
			    "ip link set pctun up"),
		     0);
	veth_ifindex = (int)if_nametoindex("pct0");
	tun_ifindex = (int)if_nametoindex("pctun");
	snprintf(gwname, sizeof(gwname), "bpftest-%d", getpid());
	/* pins of an earlier test process that had this pid: not ours */
	pc_dp_teardown(&o);
	cr_assert_eq(pc_dp_open(&o, &dp), 0);
}

static void setup_policy(void)
{
	setup();
	apply_text(policy_text);
}

static void teardown(void)
{
	struct pc_dp_opts o = {.gateway = gwname};

	pc_compiled_free(live);
	live = NULL;
	pc_dp_close(dp);
	pc_dp_teardown(&o);
}

static uint64_t reason_count(int reason)
{
	struct pc_counter st[PC_REASON_SLOTS];

	cr_assert_eq(pc_dp_read_stats(dp, st), 0);
	return st[reason].packets;
}

static int run_xdp(const struct pspec *s)
{
	uint8_t buf[PK_MAX];
	size_t len = build(s, buf);
	struct xdp_md ctx = {.data_end = (__u32)len,
			     .ingress_ifindex = (__u32)veth_ifindex};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = buf,
		    .data_size_in = (__u32)len, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);

	cr_assert_eq(bpf_prog_test_run_opts(pc_dp_xdp_prog_fd(dp), &o), 0,
		     "test run: %m");
	return (int)o.retval;
}

/* Run a frame cut to len bytes (truncation cases). */
static int run_xdp_cut(const struct pspec *s, size_t len)
{
	uint8_t buf[PK_MAX];
	struct xdp_md ctx = {.data_end = (__u32)len,
			     .ingress_ifindex = (__u32)veth_ifindex};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = buf,
		    .data_size_in = (__u32)len, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);

	build(s, buf);
	cr_assert_eq(bpf_prog_test_run_opts(pc_dp_xdp_prog_fd(dp), &o), 0);
	return (int)o.retval;
}

#define EXPECT(spec, verdict, reason)                                          \
	do {                                                                   \
		uint64_t before_ = reason_count(reason);                       \
		cr_assert_eq(run_xdp(spec), verdict, "verdict for %s", #spec); \
		cr_assert_eq(reason_count(reason), before_ + 1,                \
			     "counter %s for %s", #reason, #spec);             \
	} while (0)

/* The flows the tests use. */
#define C4 .src = "198.18.1.7", .dst = "198.18.2.2"
#define S4 .src = "198.18.2.2", .dst = "198.18.1.7"
#define C6 .v6 = 1, .src = "fd00:1::7", .dst = "fd00:2::2"
#define S6 .v6 = 1, .src = "fd00:2::2", .dst = "fd00:1::7"

TestSuite(xdp, .init = setup_policy, .fini = teardown);

Test(xdp, allowed_syn_passes_and_creates_flow)
{
	struct pspec syn = {C4, .proto = IPPROTO_TCP, .sport = 40000,
			    .dport = 8080};
	struct pc_ct_key k = {
		.lo_port = 40000, .hi_port = 8080, .proto = IPPROTO_TCP};
	struct pc_ct_val v;

	/* Test that an allowed SYN passes and creates a SYN_SENT flow */
	EXPECT(&syn, XDP_PASS, PC_R_ALLOW_NEW);
	pc_addr_parse("198.18.1.7", k.lo_addr);
	pc_addr_parse("198.18.2.2", k.hi_addr);
	cr_assert_eq(bpf_map_lookup_elem(pc_dp_map_fd(dp, "conntrack"), &k, &v),
		     0);
	cr_assert_eq(v.state, PC_TCP_SYN_SENT);
	cr_assert_eq(v.packets[PC_DIR_ORIG], 1);
	cr_assert_eq(v.orig_is_lo, 1);
	cr_assert_eq(v.rule_id, 1);
}

Test(xdp, replies_pass_established_flow)
{
	struct pspec syn = {C4, .proto = IPPROTO_TCP, .sport = 40001,
			    .dport = 8080};
	struct pspec synack = {S4, .proto = IPPROTO_TCP, .sport = 8080,
			       .dport = 40001, .tcp_flags = 0x12};
	struct pspec ack = {C4, .proto = IPPROTO_TCP, .sport = 40001,
			    .dport = 8080, .tcp_flags = 0x10};

	/* Test that replies of an allowed flow pass and are counted as such */
	EXPECT(&syn, XDP_PASS, PC_R_ALLOW_NEW);
	EXPECT(&synack, XDP_PASS, PC_R_ALLOW_REPLY);
	EXPECT(&ack, XDP_PASS, PC_R_ALLOW_ESTABLISHED);
}

Test(xdp, denied_port_and_server_initiated)
{
	struct pspec p22 = {C4, .proto = IPPROTO_TCP, .sport = 40002,
			    .dport = 22};
	struct pspec srv = {S4, .proto = IPPROTO_TCP, .sport = 40003,
			    .dport = 9000};
	struct pspec fake_reply = {S4, .proto = IPPROTO_TCP, .sport = 8080,
				   .dport = 40004, .tcp_flags = 0x12};

	/* Test that a port not in policy and a server-initiated flow drop */
	EXPECT(&p22, XDP_DROP, PC_R_DENY_DEFAULT);
	EXPECT(&srv, XDP_DROP, PC_R_DENY_DEFAULT);
	/* a "reply" with no flow behind it is a new flow from the server */
	EXPECT(&fake_reply, XDP_DROP, PC_R_DENY_DEFAULT);
}

Test(xdp, deny_events_are_budgeted_per_cpu)
{
	struct pspec p22 = {C4, .proto = IPPROTO_TCP, .sport = 40005,
			    .dport = 22};
	uint64_t lost = reason_count(PC_R_EVENTS_LOST), sup;
	cpu_set_t one;

	/* the budget is per CPU: keep every run on one */
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	/* Test that a flood of denies yields at most deny_events events per
	 * second on a CPU and counts the rest, and that 0 means none */
	pc_dp_set_deny_events(dp, 2);
	sup = reason_count(PC_R_EVENTS_SUPPRESSED);
	for (int i = 0; i < 5; i++)
		EXPECT(&p22, XDP_DROP, PC_R_DENY_DEFAULT);
	cr_assert_eq(reason_count(PC_R_EVENTS_SUPPRESSED), sup + 3);
	pc_dp_set_deny_events(dp, 0);
	EXPECT(&p22, XDP_DROP, PC_R_DENY_DEFAULT);
	cr_assert_eq(reason_count(PC_R_EVENTS_SUPPRESSED), sup + 4);
	cr_assert_eq(reason_count(PC_R_EVENTS_LOST), lost);
}

Test(xdp, port_range_edges)
{
	struct pspec p = {C4, .proto = IPPROTO_TCP, .sport = 40010};

	/* Test that 9000-9100/tcp allows its edges and nothing beside them */
	p.dport = 9000;
	EXPECT(&p, XDP_PASS, PC_R_ALLOW_NEW);
	p.dport = 9100;
	p.sport++;
	EXPECT(&p, XDP_PASS, PC_R_ALLOW_NEW);
	p.dport = 8999;
	p.sport++;
	EXPECT(&p, XDP_DROP, PC_R_DENY_DEFAULT);
	p.dport = 9101;
	p.sport++;
	EXPECT(&p, XDP_DROP, PC_R_DENY_DEFAULT);
}

Test(xdp, explicit_deny_beats_allow)
{
	struct pspec p = {.src = "198.18.1.66",
			  .dst = "198.18.2.2",
			  .proto = IPPROTO_TCP,
			  .sport = 40020,
			  .dport = 8080};

	/* Test that an identity both allowed and denied is denied by rule */
	EXPECT(&p, XDP_DROP, PC_R_DENY_RULE);
}

Test(xdp, udp_icmp_and_ipv6)
{
	struct pspec udp = {C4, .proto = IPPROTO_UDP, .sport = 5353,
			    .dport = 53};
	struct pspec udp_back = {S4, .proto = IPPROTO_UDP, .sport = 53,
				 .dport = 5353};
	struct pspec udp_bad = {C4, .proto = IPPROTO_UDP, .sport = 5353,
				.dport = 54};
	struct pspec echo = {C4, .proto = IPPROTO_ICMP, .icmp_type = 8,
			     .echo_id = 77};
	struct pspec echo_reply = {S4, .proto = IPPROTO_ICMP, .icmp_type = 0,
				   .echo_id = 77};
	struct pspec tcp6 = {C6, .proto = IPPROTO_TCP, .sport = 40030,
			     .dport = 8080};
	struct pspec tcp6_back = {S6, .proto = IPPROTO_TCP, .sport = 8080,
				  .dport = 40030, .tcp_flags = 0x12};
	struct pspec tcp6_bad = {C6, .proto = IPPROTO_TCP, .sport = 40031,
				 .dport = 22};
	struct pspec ping6 = {C6, .proto = IPPROTO_ICMPV6, .icmp_type = 128,
			      .echo_id = 5};

	/* Test UDP, ICMP echo and IPv6 flows and their replies */
	EXPECT(&udp, XDP_PASS, PC_R_ALLOW_NEW);
	EXPECT(&udp_back, XDP_PASS, PC_R_ALLOW_REPLY);
	EXPECT(&udp_bad, XDP_DROP, PC_R_DENY_DEFAULT);
	EXPECT(&echo, XDP_PASS, PC_R_ALLOW_NEW);
	EXPECT(&echo_reply, XDP_PASS, PC_R_ALLOW_REPLY);
	EXPECT(&tcp6, XDP_PASS, PC_R_ALLOW_NEW);
	EXPECT(&tcp6_back, XDP_PASS, PC_R_ALLOW_REPLY);
	EXPECT(&tcp6_bad, XDP_DROP, PC_R_DENY_DEFAULT);
	EXPECT(&ping6, XDP_PASS, PC_R_ALLOW_NEW);
}

Test(xdp, vlan_tags)
{
	struct pspec p = {C4, .proto = IPPROTO_TCP, .sport = 40040,
			  .dport = 8080, .vlans = 1};

	/* Test that one and two VLAN tags are parsed and three are refused */
	EXPECT(&p, XDP_PASS, PC_R_ALLOW_NEW);
	p.vlans = 2;
	p.sport++;
	EXPECT(&p, XDP_PASS, PC_R_ALLOW_NEW);
	p.dport = 22;
	EXPECT(&p, XDP_DROP, PC_R_DENY_DEFAULT);
	p.vlans = 3;
	p.dport = 8080;
	EXPECT(&p, XDP_DROP, PC_R_DENY_MALFORMED);
}

Test(xdp, ipv4_options_and_bad_headers)
{
	struct pspec p = {C4, .proto = IPPROTO_TCP, .sport = 40050,
			  .dport = 8080, .ihl = 6};

	/* Test that IPv4 options are skipped and bad IHL / lengths refused */
	EXPECT(&p, XDP_PASS, PC_R_ALLOW_NEW);
	p.ihl = 15;
	p.sport++;
	EXPECT(&p, XDP_PASS, PC_R_ALLOW_NEW);
	p.ihl = 4;
	EXPECT(&p, XDP_DROP, PC_R_DENY_MALFORMED);
	p.ihl = 0;
	p.totlen_extra = 100; /* tot_len beyond the frame */
	EXPECT(&p, XDP_DROP, PC_R_DENY_MALFORMED);
}

Test(xdp, truncated_at_every_header)
{
	struct pspec v4 = {C4, .proto = IPPROTO_TCP, .sport = 40060,
			   .dport = 8080};
	struct pspec v6 = {C6,
			   .proto = IPPROTO_TCP,
			   .sport = 40060,
			   .dport = 8080,
			   .ext = {0},
			   .next = 1};
	struct pspec vl = {C4, .proto = IPPROTO_UDP, .sport = 1, .dport = 53,
			   .vlans = 1};
	/* (test runs refuse frames under 14 bytes) inside IPv4, inside TCP;
	 * inside IPv6, its ext header, its TCP; inside a VLAN tag */
	const struct {
		struct pspec *s;
		size_t len;
	} cuts[] = {
		{&v4, 14 + 12},	    {&v4, 14 + 20 + 12}, {&v6, 14 + 30},
		{&v6, 14 + 40 + 4}, {&v6, 14 + 48 + 10}, {&vl, 14 + 2},
	};

	/* Test that a frame cut inside any header is dropped as malformed */
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		uint64_t before = reason_count(PC_R_DENY_MALFORMED);

		cr_assert_eq(run_xdp_cut(cuts[i].s, cuts[i].len), XDP_DROP,
			     "cut %zu", i);
		cr_assert_eq(reason_count(PC_R_DENY_MALFORMED), before + 1,
			     "cut %zu", i);
	}
}

Test(xdp, ipv6_extension_chains)
{
	struct pspec p = {C6,
			  .proto = IPPROTO_TCP,
			  .sport = 40070,
			  .dport = 8080,
			  .ext = {0, 60, 43},
			  .next = 3};
	struct pspec deny = p;
	struct pspec longc = p;

	/* Test that a bounded chain is walked to TCP; a longer one fails */
	EXPECT(&p, XDP_PASS, PC_R_ALLOW_NEW);
	deny.dport = 22;
	EXPECT(&deny, XDP_DROP, PC_R_DENY_DEFAULT);
	longc.next = 7;
	for (int i = 0; i < 7; i++)
		longc.ext[i] = 60;
	EXPECT(&longc, XDP_DROP, PC_R_DENY_MALFORMED);
}

Test(xdp, ipv6_chains_strict_where_rfc8200_is)
{
	struct pspec p = {C6, .proto = IPPROTO_TCP, .sport = 40071,
			  .dport = 8080};
	struct pspec hbh_late = p, two_frags = p, waypoint = p;

	/* Test that hop-by-hop options after another header, a second
	 * fragment header and a routing header with segments left (whose
	 * destination is a waypoint, not the packet's end) are malformed,
	 * while a spent routing header is walked through */
	hbh_late.next = 2;
	hbh_late.ext[0] = 60;
	hbh_late.ext[1] = 0;
	EXPECT(&hbh_late, XDP_DROP, PC_R_DENY_MALFORMED);
	two_frags.next = 2;
	two_frags.ext[0] = two_frags.ext[1] = 44;
	EXPECT(&two_frags, XDP_DROP, PC_R_DENY_MALFORMED);
	waypoint.next = 1;
	waypoint.ext[0] = 43;
	waypoint.rh_segs = 1;
	EXPECT(&waypoint, XDP_DROP, PC_R_DENY_MALFORMED);
	waypoint.rh_segs = 0;
	EXPECT(&waypoint, XDP_PASS, PC_R_ALLOW_NEW);
}

Test(xdp, headers_inside_the_ip_length)
{
	struct pspec v4 = {C4, .proto = IPPROTO_TCP, .sport = 40072,
			   .dport = 8080};
	struct pspec v6 = {C6, .proto = IPPROTO_TCP, .sport = 40073,
			   .dport = 8080};
	struct pspec udp = {C4, .proto = IPPROTO_UDP, .sport = 40074,
			    .dport = 53, .payload = 16};

	/* Test that a header the IP length does not cover (it lies in the
	 * frame's padding, which receivers drop) is malformed, however
	 * allowed the tuple read from it: IPv4 and IPv6, TCP whose options
	 * run past the segment, a UDP length past the packet; a shorter UDP
	 * length leaves padding, which is fine */
	v4.totlen_extra = -20;
	EXPECT(&v4, XDP_DROP, PC_R_DENY_MALFORMED);
	v6.totlen_extra = -20;
	EXPECT(&v6, XDP_DROP, PC_R_DENY_MALFORMED);
	v4.totlen_extra = 0;
	v4.tcp_doff = 15; /* 60 bytes of header in a 20-byte segment */
	EXPECT(&v4, XDP_DROP, PC_R_DENY_MALFORMED);
	udp.udp_len_extra = 1;
	EXPECT(&udp, XDP_DROP, PC_R_DENY_MALFORMED);
	udp.udp_len_extra = -4;
	udp.sport++;
	EXPECT(&udp, XDP_PASS, PC_R_ALLOW_NEW);
}

Test(xdp, ipv4_protocol_58_is_not_neighbour_discovery)
{
	/* 198.19.9.9 (no identity) to 198.18.2.3 (no service), IPv4 of
	 * protocol 58 whose first byte is 135 (a neighbour solicitation in
	 * ICMPv6); and IPv6 carrying protocol 1 with an echo request */
	struct pspec v4nd = {.src = "198.19.9.9",
			     .dst = "198.18.2.3",
			     .proto = IPPROTO_ICMPV6,
			     .icmp_type = 135};
	struct pspec v6icmp = {C6, .proto = IPPROTO_ICMP, .icmp_type = 8};

	/* Test that ICMPv6's neighbour discovery exemption holds in IPv6
	 * only: in IPv4, protocol 58 is a protocol number the policy
	 * decides (here: nothing allows it) */
	EXPECT(&v4nd, XDP_DROP, PC_R_DENY_DEFAULT);
	/* and ICMP in IPv6 is no echo either: web allows icmp, not 1 in v6
	 * as ICMP; decided by protocol number, which web's "icmp" holds */
	EXPECT(&v6icmp, XDP_PASS, PC_R_ALLOW_NEW);
}

Test(xdp, ipv4_fragments_follow_first)
{
	struct pspec first = {
		C4,	      .proto = IPPROTO_UDP, .sport = 7000,
		.dport = 53,  .ip_id = 4242,	    .frag = 0x2000,
		.payload = 64};
	struct pspec later = first;
	struct pspec orphan = first;
	struct pspec bad_first = first;
	struct pspec bad_later;

	later.frag = 0x0009; /* offset 72 bytes, last fragment */
	orphan.ip_id = 999;
	orphan.frag = 0x0009;
	bad_first.dport = 54;
	bad_first.ip_id = 4343;
	bad_later = bad_first;
	bad_later.frag = 0x0009;
	/* Test that later fragments follow the verdict of their first */
	EXPECT(&first, XDP_PASS, PC_R_ALLOW_NEW);
	EXPECT(&later, XDP_PASS, PC_R_ALLOW_FRAGMENT);
	EXPECT(&orphan, XDP_DROP, PC_R_DENY_FRAGMENT);
	EXPECT(&bad_first, XDP_DROP, PC_R_DENY_DEFAULT);
	EXPECT(&bad_later, XDP_DROP, PC_R_DENY_FRAGMENT);
}

Test(xdp, ipv6_fragments_follow_first)
{
	struct pspec first = {C6,	   .proto = IPPROTO_UDP, .sport = 7001,
			      .dport = 53, .ext = {44},		 .next = 1,
			      .v6frag = 1, .v6frag_id = 0xabcdef};
	struct pspec later = first;

	later.v6frag = (uint16_t)(9 << 3); /* offset 72, last */
	/* Test that IPv6 fragment headers are decided like IPv4 fragments */
	EXPECT(&first, XDP_PASS, PC_R_ALLOW_NEW);
	EXPECT(&later, XDP_PASS, PC_R_ALLOW_FRAGMENT);
	later.v6frag_id = 1;
	EXPECT(&later, XDP_DROP, PC_R_DENY_FRAGMENT);
}

Test(xdp, arp_nd_and_non_ip)
{
	struct pspec arp = {.ethertype = ETH_P_ARP};
	struct pspec lldp = {.ethertype = 0x88cc};
	struct pspec ns = {.v6 = 1,
			   .src = "fd00:1::7",
			   .dst = "ff02::1:ff00:2",
			   .proto = IPPROTO_ICMPV6,
			   .icmp_type = 135};

	/* Test that ARP and ND pass; other ethertypes follow the knob */
	EXPECT(&arp, XDP_PASS, PC_R_PASS_ARP);
	EXPECT(&ns, XDP_PASS, PC_R_PASS_ND);
	EXPECT(&lldp, XDP_DROP, PC_R_DENY_NONIP);
	pc_dp_set_flags(dp, PC_CFG_NONIP_PASS);
	EXPECT(&lldp, XDP_PASS, PC_R_PASS_NONIP);
}

Test(xdp, revocation_and_surviving_flows)
{
	struct pspec web = {C4, .proto = IPPROTO_TCP, .sport = 40080,
			    .dport = 8080, .tcp_flags = 0x10};
	struct pspec dns = {C4, .proto = IPPROTO_UDP, .sport = 40081,
			    .dport = 53};
	struct pspec web_reply = {S4, .proto = IPPROTO_TCP, .sport = 8080,
				  .dport = 40080, .tcp_flags = 0x10};
	char narrowed[sizeof(policy_text)];
	uint64_t gen;
	char *p;

	EXPECT(&web, XDP_PASS, PC_R_ALLOW_NEW);
	EXPECT(&dns, XDP_PASS, PC_R_ALLOW_NEW);
	/* Test that a push removing 8080 drops that flow's next packet, in
	 * either direction, and leaves the DNS flow alone */
	memcpy(narrowed, policy_text, sizeof(policy_text));
	p = strstr(narrowed, "8080/tcp, ");
	memmove(p, p + 10, strlen(p + 10) + 1);
	gen = pc_dp_generation(dp);
	cr_assert_eq(apply_text(narrowed), gen + 1);
	EXPECT(&dns, XDP_PASS, PC_R_ALLOW_ESTABLISHED);
	EXPECT(&web_reply, XDP_DROP, PC_R_DENY_REVOKED);
	EXPECT(&web, XDP_DROP, PC_R_DENY_DEFAULT);
}

/* The value of one series in the metrics text, which must be there. */
static uint64_t series(const char *text, const char *name)
{
	const char *p = text;
	size_t n = strlen(name);

	while ((p = strstr(p, name))) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtoull(p + n + 1, NULL, 10);
		p += n;
	}
	cr_assert_fail("no series %s in:\n%s", name, text);
	return 0;
}

static char *metrics_text(void)
{
	struct pc_buf b = {0};

	pc_metrics_dataplane(&b, dp, live);
	pc_buf_append(&b, "", 1);
	return b.data;
}

#define ID_PK(who, v)                                                         \
	"portcullis_identity_packets_total{identity=\"" who "\",verdict=\"" v \
	"\"}"
#define SVC_PK(who, v)                                                      \
	"portcullis_service_packets_total{service=\"" who "\",verdict=\"" v \
	"\"}"

Test(xdp, packets_by_identity_and_service)
{
	struct pspec syn = {C4, .proto = IPPROTO_TCP, .sport = 40090,
			    .dport = 8080};
	struct pspec synack = {S4, .proto = IPPROTO_TCP, .sport = 8080,
			       .dport = 40090, .tcp_flags = 0x12};
	struct pspec ack = {C4, .proto = IPPROTO_TCP, .sport = 40090,
			    .dport = 8080, .tcp_flags = 0x10};
	struct pspec p22 = {C4, .proto = IPPROTO_TCP, .sport = 40091,
			    .dport = 22};
	struct pspec banned = {.src = "198.18.1.66",
			       .dst = "198.18.2.2",
			       .proto = IPPROTO_TCP,
			       .sport = 40092,
			       .dport = 8080};
	struct pspec stranger = {.src = "198.19.9.9",
				 .dst = "198.18.2.2",
				 .proto = IPPROTO_TCP,
				 .sport = 40093,
				 .dport = 8080};
	struct pc_ct_key k = {
		.lo_port = 40090, .hi_port = 8080, .proto = IPPROTO_TCP};
	struct pc_ct_val v;
	char *m, changed[sizeof(policy_text) + 16], *p;

	/* Test that a flow's packets, both ways, count for the identity it
	 * comes from and the service its rule reached it through, denied
	 * ones as deny; what no rule decided counts for no service */
	EXPECT(&syn, XDP_PASS, PC_R_ALLOW_NEW);
	EXPECT(&synack, XDP_PASS, PC_R_ALLOW_REPLY);
	EXPECT(&ack, XDP_PASS, PC_R_ALLOW_ESTABLISHED);
	EXPECT(&p22, XDP_DROP, PC_R_DENY_DEFAULT);
	/* banned is inside clients: its set counts for both names */
	EXPECT(&banned, XDP_DROP, PC_R_DENY_RULE);
	/* no named identity, no rule */
	EXPECT(&stranger, XDP_DROP, PC_R_DENY_DEFAULT);
	m = metrics_text();
	cr_assert_eq(series(m, ID_PK("clients", "allow")), 3);
	cr_assert_eq(series(m, ID_PK("clients", "deny")), 2);
	cr_assert_eq(series(m, ID_PK("banned", "allow")), 0);
	cr_assert_eq(series(m, ID_PK("banned", "deny")), 1);
	cr_assert_eq(series(m, SVC_PK("web", "allow")), 3);
	cr_assert_eq(series(m, SVC_PK("web", "deny")), 1);
	/* bytes: the flow's, as conntrack counted them */
	pc_addr_parse("198.18.1.7", k.lo_addr);
	pc_addr_parse("198.18.2.2", k.hi_addr);
	cr_assert_eq(bpf_map_lookup_elem(pc_dp_map_fd(dp, "conntrack"), &k, &v),
		     0);
	cr_assert_eq(series(m, "portcullis_identity_bytes_total{identity="
			       "\"clients\",verdict=\"allow\"}"),
		     v.bytes[0] + v.bytes[1]);
	cr_assert_eq(series(m, "portcullis_service_bytes_total{service="
			       "\"web\",verdict=\"allow\"}"),
		     v.bytes[0] + v.bytes[1]);
	free(m);

	/* Test that a push starts the new policy's counts from zero and
	 * that the flow, rechecked, counts there */
	memcpy(changed, policy_text, sizeof(policy_text));
	p = strstr(changed, "9000-9100/tcp");
	memcpy(p, "9000-9200/tcp", 13);
	apply_text(changed);
	m = metrics_text();
	cr_assert_eq(series(m, ID_PK("clients", "allow")), 0);
	cr_assert_eq(series(m, ID_PK("clients", "deny")), 0);
	free(m);
	EXPECT(&ack, XDP_PASS, PC_R_ALLOW_ESTABLISHED);
	m = metrics_text();
	cr_assert_eq(series(m, ID_PK("clients", "allow")), 1);
	cr_assert_eq(series(m, SVC_PK("web", "allow")), 1);
	free(m);
}

Test(lang, identities_past_the_counted_sets_have_no_series)
{
	enum { N = PC_SET_STATS + 50 };
	struct pc_buf t = {0};
	struct pspec first = {.dst = "198.18.2.2",
			      .proto = IPPROTO_TCP,
			      .sport = 40100,
			      .dport = 8080};
	struct pspec last = first;
	char *m;

	/* Test that with more identity sets than are counted, identities
	 * whose sets all are keep exact series, and one with a set past
	 * them (wide, in every set) has none rather than a short count */
	pc_buf_printf(&t, "apiVersion: portcullis/v1\nkind: Policy\n"
			  "identities:\n  wide: { cidrs: [198.18.64.0/18] }\n");
	for (int i = 0; i < N; i++) /* one set each, in address order */
		pc_buf_printf(&t, "  i%d: { cidrs: [198.18.%d.%d/32] }\n", i,
			      64 + i / 256, i % 256);
	pc_buf_printf(&t,
		      "services:\n  web: { cidrs: [198.18.2.2/32], "
		      "ports: [8080/tcp] }\nrules:\n  - { name: r, from: [");
	for (int i = 0; i < N; i++)
		pc_buf_printf(&t, "i%d, ", i);
	pc_buf_printf(&t, "wide");
	pc_buf_printf(&t, "], to: [web], action: allow }\n");
	apply_text(t.data);
	pc_buf_free(&t);
	first.src = "198.18.64.0";
	last.src = "198.18.72.49"; /* i2097 */
	cr_assert_eq(run_xdp(&first), XDP_PASS);
	cr_assert_eq(run_xdp(&last), XDP_PASS);
	m = metrics_text();
	cr_assert_eq(series(m, ID_PK("i0", "allow")), 1);
	cr_assert_eq(series(m, ID_PK("i998", "allow")), 0);
	cr_assert_null(strstr(m, "identity=\"wide\""));
	/* (and names past the first 1000 have none) */
	cr_assert_null(strstr(m, "identity=\"i999\""));
	cr_assert_eq(series(m, SVC_PK("web", "allow")), 2);
	free(m);
}

/* Conntrack's entries and evictions, as the metrics and status get them. */
static void ct_usage(size_t *entries, uint64_t *evicted)
{
	cr_assert_eq(pc_dp_ct_usage(dp, entries, evicted), 0);
}

static void udp_flows(const char *net, size_t first, size_t n)
{
	char src[32];
	struct pspec p = {
		.dst = "198.18.2.2", .proto = IPPROTO_UDP, .dport = 53};

	p.src = src;
	for (size_t i = first; i < first + n; i++) {
		snprintf(src, sizeof(src), "%s.%zu", net, i >> 14);
		p.sport = (uint16_t)(1024 + (i & 0x3fff));
		cr_assert_eq(run_xdp(&p), XDP_PASS, "flow %zu", i);
	}
}

Test(xdp, conntrack_evictions_are_counted)
{
	uint8_t a[16], b[16];
	char narrowed[sizeof(policy_text)], *p;
	struct pspec first = {.src = "198.18.1.0",
			      .dst = "198.18.2.2",
			      .proto = IPPROTO_UDP,
			      .sport = 1024,
			      .dport = 53};
	size_t entries, many = PC_CT_ENTRIES + 5000;
	uint64_t evicted;

	/* Test that flows entered, deleted by the programs (revoked) and
	 * by the daemon (local flows) are no evictions */
	ct_usage(&entries, &evicted);
	cr_assert_eq(entries, 0);
	cr_assert_eq(evicted, 0);
	udp_flows("198.18.1", 0, 1000);
	pc_addr_parse("198.18.1.1", a);
	pc_addr_parse("198.18.2.9", b);
	cr_assert_eq(pc_dp_local_flow(dp, IPPROTO_TCP, a, 5555, b, 80, 1), 0);
	ct_usage(&entries, &evicted);
	cr_assert_eq(entries, 1001);
	cr_assert_eq(evicted, 0);
	cr_assert_eq(pc_dp_local_flow(dp, IPPROTO_TCP, a, 5555, b, 80, 0), 0);
	memcpy(narrowed, policy_text, sizeof(policy_text));
	p = strstr(narrowed, "53/udp, ");
	memmove(p, p + 8, strlen(p + 8) + 1);
	apply_text(narrowed);
	EXPECT(&first, XDP_DROP, PC_R_DENY_REVOKED);
	ct_usage(&entries, &evicted);
	cr_assert_eq(entries, 999);
	cr_assert_eq(evicted, 0);

	/* Test that more flows than the table holds evict the oldest, and
	 * that every one gone for room is counted: what went in, less what
	 * is there */
	apply_text(policy_text);
	udp_flows("198.18.1", 1000, many);
	ct_usage(&entries, &evicted);
	cr_assert_leq(entries, PC_CT_ENTRIES);
	cr_assert_eq(evicted, 999 + many - entries, "%zu entries, %llu evicted",
		     entries, (unsigned long long)evicted);
}

/* Entries per slot of a map whose keys carry the slot byte at 4. */
static void count_slots(const char *map, size_t ksz, int slots[2])
{
	int fd = pc_dp_map_fd(dp, map), have = 0;
	char k[64], prev[64];

	slots[0] = slots[1] = 0;
	while (!bpf_map_get_next_key(fd, have ? prev : NULL, k)) {
		slots[k[4] & 1]++;
		memcpy(prev, k, ksz);
		have = 1;
	}
}

Test(xdp, ipv4_mapped_ipv6_is_malformed)
{
	struct pspec mapped = {.v6 = 1,
			       .src = "::ffff:198.18.1.7",
			       .dst = "fd00:2::2",
			       .proto = IPPROTO_UDP,
			       .sport = 1,
			       .dport = 53};
	struct pspec mapped_dst = {.v6 = 1,
				   .src = "fd00:1::7",
				   .dst = "::ffff:198.18.2.2",
				   .proto = IPPROTO_UDP,
				   .sport = 1,
				   .dport = 53};

	/* Test that IPv6 packets claiming IPv4-mapped addresses (which
	 * would share keys with IPv4 flows) are dropped as malformed */
	EXPECT(&mapped, XDP_DROP, PC_R_DENY_MALFORMED);
	EXPECT(&mapped_dst, XDP_DROP, PC_R_DENY_MALFORMED);
}

Test(xdp, wireguard_port_shield)
{
	struct pc_dp_wg_port port = {.port = 53, .per_sec = 1, .burst = 2};
	struct pspec junk = {C4, .proto = IPPROTO_UDP, .sport = 11, .dport = 53,
			     .payload = 10};
	struct pspec data = {C4,	  .proto = IPPROTO_UDP, .sport = 12,
			     .dport = 53, .payload = 48,	.wg_type = 4};
	struct pspec ragged = {C4,	    .proto = IPPROTO_UDP, .sport = 13,
			       .dport = 53, .payload = 31,	  .wg_type = 4};
	struct pspec capped = {C4,	    .proto = IPPROTO_UDP, .sport = 19,
			       .dport = 53, .payload = 1452,	  .wg_type = 4};
	struct pspec init = {C4,	  .proto = IPPROTO_UDP, .sport = 14,
			     .dport = 53, .payload = 148,	.wg_type = 1};
	struct pspec short_init = {
		C4,	     .proto = IPPROTO_UDP, .sport = 15,
		.dport = 53, .payload = 147,	   .wg_type = 1};
	struct pspec other = {C4, .proto = IPPROTO_UDP, .sport = 16,
			      .dport = 54, .payload = 10};

	/* Test that a shielded port takes only WireGuard-shaped datagrams
	 * (which then meet the policy as usual), that initiations beyond the
	 * per-source burst are dropped, and that other ports are untouched */
	EXPECT(&junk, XDP_PASS, PC_R_ALLOW_NEW); /* not shielded yet */
	cr_assert_eq(pc_dp_set_wg_ports(dp, &port, 1), 0);
	junk.sport = 17;
	EXPECT(&junk, XDP_DROP, PC_R_DENY_WG_SHIELD);
	EXPECT(&data, XDP_PASS, PC_R_ALLOW_NEW);
	EXPECT(&ragged, XDP_DROP, PC_R_DENY_WG_SHIELD);
	/* padding stops at the MTU: 1420 + 32 is no multiple of 16 */
	EXPECT(&capped, XDP_PASS, PC_R_ALLOW_NEW);
	EXPECT(&short_init, XDP_DROP, PC_R_DENY_WG_SHIELD);
	EXPECT(&init, XDP_PASS, PC_R_ALLOW_NEW);
	EXPECT(&init, XDP_PASS, PC_R_ALLOW_ESTABLISHED);
	EXPECT(&init, XDP_DROP, PC_R_DENY_WG_HANDSHAKE_RATE);
	EXPECT(&other, XDP_DROP, PC_R_DENY_DEFAULT); /* the policy's say */
	cr_assert_eq(pc_dp_set_wg_ports(dp, NULL, 0), 0);
	junk.sport = 18;
	EXPECT(&junk, XDP_PASS, PC_R_ALLOW_NEW);
}

Test(xdp, swap_leaves_one_slot)
{
	/* the first three always hold entries for a live policy */
	static const char *const maps[] = {"policy_exact", "identities",
					   "services",	   "policy",
					   "ident_hosts",  "service_hosts"};
	static const size_t ksz[] = {
		sizeof(struct pc_policy_key), sizeof(struct pc_lpm_key),
		sizeof(struct pc_lpm_key),    sizeof(struct pc_policy_key),
		sizeof(struct pc_lpm_key),    sizeof(struct pc_lpm_key)};
	static const char rated[] =
		"apiVersion: portcullis/v1\nkind: Policy\n"
		"identities: { a: { cidrs: [10.0.0.0/8] } }\n"
		"rules:\n  - { from: [a], to: any, action: allow, rate: 5/s "
		"}\n";
	int slots[2];
	__u32 key, next;
	int nrates = 0;

	/* Test that after each push only the live slot holds entries, in
	 * every map, whether the old slot was walked or known */
	for (int round = 0; round < 3; round++) {
		uint64_t gen = apply_text(round == 1 ? rated : policy_text);

		for (size_t m = 0; m < 6; m++) {
			count_slots(maps[m], ksz[m], slots);
			/* policy_text has hosts and a range; rated neither */
			if (m < 3 || round != 1)
				cr_assert_gt(slots[gen & 1], 0, "%s", maps[m]);
			cr_assert_eq(slots[!(gen & 1)], 0, "%s round %d",
				     maps[m], round);
		}
	}
	/* the rates map held round 1's rule; round 2 has no rate */
	for (int have = 0; !bpf_map_get_next_key(pc_dp_map_fd(dp, "rates"),
						 have ? &key : NULL, &next);
	     have = 1, key = next)
		nrates++;
	cr_assert_eq(nrates, 0);
}

/* ---- language features in the data plane ------------------------------ */

TestSuite(lang, .init = setup, .fini = teardown);

static const char lang_policy[] =
	"apiVersion: portcullis/v1\n"
	"kind: Policy\n"
	"identities:\n"
	"  eng: { cidrs: [198.18.1.0/28] }\n"
	"  ops: { cidrs: [\"fd00:1::/64\"] }\n"
	"  staff: { include: [eng, ops] }\n"
	"services:\n"
	"  web: { cidrs: [198.18.2.2/32, \"fd00:2::2/128\"], ports: "
	"[8000-8100/tcp] }\n"
	"  ping: { cidrs: [198.18.2.2/32], ports: [icmp/echo-request] }\n"
	"  tunnel: { cidrs: [198.18.2.2/32], ports: [gre, 132/sctp] }\n"
	"rules:\n"
	"  - { from: [staff], to: [web, ping], action: allow }\n"
	"  - { from: [198.18.1.200], to: [tunnel], action: allow }\n"
	"  - { from: [eng], to: [\"fd00:2::3\"], action: allow }\n";

/* The tries' and host and exact maps' entries as the data plane reports
 * them (what it wrote) against a walk of the maps. */
struct occ {
	int64_t fast[8], walked[8];
	int pass;
};

static void occ_one(void *arg, const struct pc_dp_map_use *u)
{
	static const char *const tries[] = {
		"identities",  "services",	"policy",      "wg_peers",
		"ident_hosts", "service_hosts", "policy_exact"};
	struct occ *o = arg;

	for (int i = 0; i < 7; i++)
		if (!strcmp(u->name, tries[i]))
			(o->pass ? o->walked : o->fast)[i] = u->entries;
}

static void tries_agree(const char *when)
{
	struct occ o = {0};

	cr_assert_eq(pc_dp_maps_each(dp, 0, occ_one, &o), 0);
	o.pass = 1;
	cr_assert_eq(pc_dp_maps_each(dp, 1, occ_one, &o), 0);
	for (int i = 0; i < 7; i++)
		cr_assert_eq(o.fast[i], o.walked[i],
			     "%s: map %d: %lld reported, %lld in the map", when,
			     i, (long long)o.fast[i], (long long)o.walked[i]);
}

Test(lang, map_occupancy_of_the_tries_is_what_was_written)
{
	char text[2048];

	/* Test that the entry counts of the maps a push writes, which the
	 * metrics report without walking them, match a walk, across pushes
	 * that swap slots */
	tries_agree("no policy");
	apply_text(lang_policy);
	tries_agree("first push");
	snprintf(text, sizeof(text), "%s", lang_policy);
	*strstr(text, "8000-8100/tcp") = '\0';
	snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s",
		 "80/tcp] }\nrules:\n  - { name: a, from: [eng], to: "
		 "[web], action: allow }\n");
	apply_text(text);
	tries_agree("a smaller policy");
	apply_text(lang_policy);
	tries_agree("the first again");
	struct occ o = {0};

	cr_assert_eq(pc_dp_maps_each(dp, 0, occ_one, &o), 0);
	cr_assert_gt(o.fast[0], 0, "identities hold the prefixes");
	cr_assert_gt(o.fast[2], 0, "the policy trie holds the range");
	cr_assert_gt(o.fast[4], 0, "ident_hosts holds 198.18.1.200");
	cr_assert_gt(o.fast[5], 0, "service_hosts holds 198.18.2.2");
	cr_assert_gt(o.fast[6], 0, "policy_exact holds the rest");
}

Test(lang, include_inline_cidrs_icmp_types_and_protocols)
{
	struct pspec eng = {C4, .proto = IPPROTO_TCP, .sport = 41000,
			    .dport = 8100};
	struct pspec ops = {C6, .proto = IPPROTO_TCP, .sport = 41001,
			    .dport = 8000};
	struct pspec ping = {C4, .proto = IPPROTO_ICMP, .icmp_type = 8,
			     .echo_id = 9};
	struct pspec tstamp = {C4, .proto = IPPROTO_ICMP, .icmp_type = 13};
	struct pspec gre = {.src = "198.18.1.200",
			    .dst = "198.18.2.2",
			    .proto = IPPROTO_GRE};
	struct pspec gre_eng = {C4, .proto = IPPROTO_GRE};
	struct pspec sctp = {.src = "198.18.1.200",
			     .dst = "198.18.2.2",
			     .proto = IPPROTO_SCTP,
			     .sport = 5000,
			     .dport = 132,
			     .payload = 4};
	struct pspec sctp_other = sctp;
	struct pspec v6dst = {.v6 = 1,
			      .src = "fd00:1::7",
			      .dst = "fd00:2::3",
			      .proto = IPPROTO_UDP,
			      .sport = 1,
			      .dport = 2};

	apply_text(lang_policy);
	/* Test that a group of groups reaches both members' addresses, over
	 * both families, at the edges of a range */
	EXPECT(&eng, XDP_PASS, PC_R_ALLOW_NEW);
	EXPECT(&ops, XDP_PASS, PC_R_ALLOW_NEW);
	ops.dport = 8101;
	ops.sport++;
	EXPECT(&ops, XDP_DROP, PC_R_DENY_DEFAULT);
	/* Test ICMP by type: echo request yes, timestamp no */
	EXPECT(&ping, XDP_PASS, PC_R_ALLOW_NEW);
	EXPECT(&tstamp, XDP_DROP, PC_R_DENY_DEFAULT);
	/* Test an inline host CIDR and protocols by name and number */
	EXPECT(&gre, XDP_PASS, PC_R_ALLOW_NEW);
	EXPECT(&gre_eng, XDP_DROP, PC_R_DENY_DEFAULT);
	EXPECT(&sctp, XDP_PASS, PC_R_ALLOW_NEW);
	sctp_other.dport = 133;
	sctp_other.sport = 5001;
	EXPECT(&sctp_other, XDP_DROP, PC_R_DENY_DEFAULT);
	/* Test an inline IPv6 destination: only eng (IPv4) may reach it */
	EXPECT(&v6dst, XDP_DROP, PC_R_DENY_DEFAULT);
}

#define AUDIT_BODY                                                       \
	"identities:\n"                                                  \
	"  clients: { cidrs: [198.18.1.0/24] }\n"                        \
	"  banned: { cidrs: [198.18.1.66/32] }\n"                        \
	"services:\n"                                                    \
	"  web: { cidrs: [198.18.2.2/32], ports: [8080/tcp] }\n"         \
	"rules:\n"                                                       \
	"  - { name: web, from: [clients], to: [web], action: allow }\n" \
	"  - { name: no-banned, from: [banned], to: [web], action: deny }\n"

static const char audit_policy[] = "apiVersion: portcullis/v1\n"
				   "kind: Policy\n"
				   "mode: audit\n" AUDIT_BODY;
static const char enforce_policy[] = "apiVersion: portcullis/v1\n"
				     "kind: Policy\n"
				     "mode: enforce\n" AUDIT_BODY;

Test(lang, audit_mode_passes_would_be_denies_then_enforce_revokes)
{
	struct pspec ok = {C4, .proto = IPPROTO_TCP, .sport = 42000,
			   .dport = 8080};
	struct pspec ssh = {C4, .proto = IPPROTO_TCP, .sport = 42001,
			    .dport = 22};
	struct pspec banned = {.src = "198.18.1.66",
			       .dst = "198.18.2.2",
			       .proto = IPPROTO_TCP,
			       .sport = 42002,
			       .dport = 8080};
	struct pspec ssh_ack = ssh;

	ssh_ack.tcp_flags = 0x10;
	apply_text(audit_policy);
	/* Test that audit mode passes what the policy denies, says why, and
	 * tracks the flow so that only its first packet reports */
	EXPECT(&ok, XDP_PASS, PC_R_ALLOW_NEW);
	EXPECT(&ssh, XDP_PASS, PC_R_AUDIT_DENY_DEFAULT);
	EXPECT(&banned, XDP_PASS, PC_R_AUDIT_DENY_RULE);
	EXPECT(&ssh_ack, XDP_PASS, PC_R_ALLOW_ESTABLISHED);
	cr_assert_eq(reason_count(PC_R_DENY_DEFAULT), 0);
	cr_assert_eq(reason_count(PC_R_DENY_RULE), 0);
	/* Test that a flow allowed in enforce mode and denied by an audit
	 * mode push keeps being tracked and counted, as a would-be deny */
	{
		struct pspec web = {C4, .proto = IPPROTO_TCP, .sport = 42010,
				    .dport = 8080, .tcp_flags = 0x10};
		struct pc_ct_key k = {.lo_port = 42010,
				      .hi_port = 8080,
				      .proto = IPPROTO_TCP};
		struct pc_ct_val v;
		char narrowed[sizeof(audit_policy)];

		apply_text(enforce_policy);
		EXPECT(&web, XDP_PASS, PC_R_ALLOW_NEW);
		memcpy(narrowed, audit_policy, sizeof(audit_policy));
		memcpy(strstr(narrowed, "8080/tcp"), "8081", 4);
		apply_text(narrowed);
		EXPECT(&web, XDP_PASS, PC_R_AUDIT_DENY_DEFAULT);
		EXPECT(&web, XDP_PASS, PC_R_ALLOW_ESTABLISHED);
		pc_addr_parse("198.18.1.7", k.lo_addr);
		pc_addr_parse("198.18.2.2", k.hi_addr);
		cr_assert_eq(bpf_map_lookup_elem(pc_dp_map_fd(dp, "conntrack"),
						 &k, &v),
			     0);
		cr_assert_eq(v.packets[PC_DIR_ORIG], 3);
		cr_assert_eq(v.action, PC_ACT_AUDIT);
	}
	/* Test that the same policy in enforce mode revokes those flows */
	apply_text(enforce_policy);
	EXPECT(&ssh_ack, XDP_DROP, PC_R_DENY_REVOKED);
	EXPECT(&ok, XDP_PASS, PC_R_ALLOW_ESTABLISHED);
	banned.sport++;
	EXPECT(&banned, XDP_DROP, PC_R_DENY_RULE);
}

static const char rate_policy[] =
	"apiVersion: portcullis/v1\n"
	"kind: Policy\n"
	"identities:\n"
	"  guests: { cidrs: [198.18.1.0/25] }\n"
	"  staff: { cidrs: [198.18.1.128/25] }\n"
	"services:\n"
	"  web: { cidrs: [198.18.2.2/32], ports: [8080/tcp, 53/udp] }\n"
	"rules:\n"
	"  - { from: [guests], to: [web], action: allow, rate: 3/s }\n"
	"  - { from: [staff], to: [web], action: allow, rate: 8kbit/s, "
	"burst: 2000 }\n"
	"  - { from: [198.18.3.0/24], to: [web], action: allow, rate: 8kbit/s, "
	"burst: 1514 }\n";

Test(lang, rate_limit_drops_beyond_the_bucket_per_identity)
{
	struct pspec g = {C4, .proto = IPPROTO_TCP, .sport = 43000,
			  .dport = 8080};
	struct pspec g_ack = g;
	struct pspec g2 = {.src = "198.18.1.8",
			   .dst = "198.18.2.2",
			   .proto = IPPROTO_TCP,
			   .sport = 43001,
			   .dport = 8080};
	struct pspec s = {.src = "198.18.1.200",
			  .dst = "198.18.2.2",
			  .proto = IPPROTO_UDP,
			  .sport = 43002,
			  .dport = 53,
			  .payload = 400};
	uint64_t dropped;
	int passed = 0;

	g_ack.tcp_flags = 0x10;
	apply_text(rate_policy);
	/* Test that a bucket of 3 packets admits 3 (new and established
	 * alike) and drops and counts the 4th, for the whole identity */
	EXPECT(&g, XDP_PASS, PC_R_ALLOW_NEW);
	EXPECT(&g_ack, XDP_PASS, PC_R_ALLOW_ESTABLISHED);
	EXPECT(&g2, XDP_PASS, PC_R_ALLOW_NEW);
	EXPECT(&g_ack, XDP_DROP, PC_R_DENY_RATE);
	g2.sport++;
	EXPECT(&g2, XDP_DROP, PC_R_DENY_RATE);
	/* Test a byte rate: 428-byte packets, 2000-byte burst: 4 pass */
	dropped = reason_count(PC_R_DENY_RATE);
	for (int i = 0; i < 6; i++)
		passed += run_xdp(&s) == XDP_PASS;
	cr_assert_eq(passed, 4);
	cr_assert_eq(reason_count(PC_R_DENY_RATE), dropped + 2);
	/* Test that a packet bigger than the whole bucket passes when the
	 * bucket is full, and empties it */
	s.src = "198.18.3.1";
	s.payload = 1792; /* 1820 bytes of IP */
	EXPECT(&s, XDP_PASS, PC_R_ALLOW_NEW);
	s.payload = 100;
	EXPECT(&s, XDP_DROP, PC_R_DENY_RATE);
}

TestSuite(nopolicy, .init = setup, .fini = teardown);

Test(nopolicy, no_policy_denies_ip_but_not_arp)
{
	struct pspec p = {C4, .proto = IPPROTO_TCP, .sport = 1, .dport = 8080};
	struct pspec arp = {.ethertype = ETH_P_ARP};

	/* Test that before any policy IP is denied and ARP still passes */
	EXPECT(&p, XDP_DROP, PC_R_DENY_NO_POLICY);
	EXPECT(&arp, XDP_PASS, PC_R_PASS_ARP);
}

static int run_tc(const struct pspec *s)
{
	uint8_t buf[PK_MAX];
	struct pspec l2 = *s;
	size_t len;
	struct __sk_buff ctx = {.ifindex = (__u32)veth_ifindex};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = buf, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);

	/* test runs of skb programs always take an Ethernet frame, so the
	 * program is loaded in its Ethernet mode here; the parsing and the
	 * decision after the link header are the same code as on L3 devices */
	l2.l3_only = 0;
	len = build(&l2, buf);
	o.data_size_in = (__u32)len;
	cr_assert_eq(bpf_prog_test_run_opts(pc_dp_tc_prog_fd(dp), &o), 0,
		     "tc test run: %m");
	return (int)o.retval;
}

#define EXPECT_TC(spec, verdict, reason)                                  \
	do {                                                              \
		uint64_t before_ = reason_count(reason);                  \
		int got_ = run_tc(spec);                                  \
		cr_assert_eq(got_, verdict, "tc verdict %d for %s", got_, \
			     #spec);                                      \
		cr_assert_eq(reason_count(reason), before_ + 1,           \
			     "counter %s for %s", #reason, #spec);        \
	} while (0)

static void setup_tc(void)
{
	tc_ethernet = 1;
	setup_policy();
}

TestSuite(tc, .init = setup_tc, .fini = teardown);

Test(tc, l3_device_same_decisions)
{
	struct pspec ok4 = {C4, .proto = IPPROTO_TCP, .sport = 1,
			    .dport = 8080};
	struct pspec back = {S4, .proto = IPPROTO_TCP, .sport = 8080,
			     .dport = 1, .tcp_flags = 0x12};
	struct pspec bad4 = {C4, .proto = IPPROTO_TCP, .sport = 2, .dport = 22};
	struct pspec ok6 = {C6, .proto = IPPROTO_UDP, .sport = 3, .dport = 53};
	struct pspec banned = {.src = "198.18.1.66",
			       .dst = "198.18.2.2",
			       .proto = IPPROTO_TCP,
			       .sport = 4,
			       .dport = 8080};

	/* Test that the TC program on an L3 device decides like XDP */
	EXPECT_TC(&ok4, TC_ACT_OK, PC_R_ALLOW_NEW);
	EXPECT_TC(&back, TC_ACT_OK, PC_R_ALLOW_REPLY);
	EXPECT_TC(&bad4, TC_ACT_SHOT, PC_R_DENY_DEFAULT);
	EXPECT_TC(&ok6, TC_ACT_OK, PC_R_ALLOW_NEW);
	EXPECT_TC(&banned, TC_ACT_SHOT, PC_R_DENY_RULE);
}

/*
 * The TC program in its production mode, on a real L3 device: attached to
 * the clsact ingress of a TUN device, fed raw IP packets written to the
 * TUN fd, so the kernel hands it data that starts at the IP header.
 */
static int tun_fd = -1;

static void setup_tc_l3(void)
{
	struct ifreq ifr = {.ifr_flags = IFF_TUN | IFF_NO_PI};

	tc_ethernet = 0;
	setup_policy();
	strcpy(ifr.ifr_name, "pctun");
	tun_fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	cr_assert_geq(tun_fd, 0, "open /dev/net/tun: %m");
	cr_assert_eq(ioctl(tun_fd, TUNSETIFF, &ifr), 0, "TUNSETIFF: %m");
	cr_assert_eq(pc_dp_attach_tc(dp, "pctun"), 0);
}

static void teardown_tc_l3(void)
{
	close(tun_fd);
	teardown();
}

/* Write a packet (cut to len if len) and wait for its verdict's counter. */
static void expect_l3(const struct pspec *s, size_t len, int reason)
{
	uint8_t buf[PK_MAX];
	struct pspec l3 = *s;
	size_t n;
	uint64_t before = reason_count(reason);

	l3.l3_only = 1;
	n = build(&l3, buf);
	if (len)
		n = len;
	cr_assert_eq(write(tun_fd, buf, n), (ssize_t)n, "tun write: %m");
	for (int i = 0; i < 200 && reason_count(reason) == before; i++)
		usleep(5000); /* the backlog is processed in softirq */
	cr_assert_eq(reason_count(reason), before + 1, "counter %d", reason);
}

TestSuite(tc_l3, .init = setup_tc_l3, .fini = teardown_tc_l3);

Test(tc_l3, wireguard_like_device_decisions)
{
	struct pspec ok4 = {C4, .proto = IPPROTO_TCP, .sport = 5,
			    .dport = 8080};
	struct pspec back = {S4, .proto = IPPROTO_TCP, .sport = 8080,
			     .dport = 5, .tcp_flags = 0x12};
	struct pspec bad4 = {C4, .proto = IPPROTO_TCP, .sport = 6, .dport = 22};
	struct pspec ok6 = {C6, .proto = IPPROTO_UDP, .sport = 7, .dport = 53};
	struct pspec bad6 = {C6, .proto = IPPROTO_UDP, .sport = 7, .dport = 54};
	struct pspec banned = {.src = "198.18.1.66",
			       .dst = "198.18.2.2",
			       .proto = IPPROTO_TCP,
			       .sport = 8,
			       .dport = 8080};

	/* Test that on an L3 device (no link header) the TC program finds the
	 * IP header from skb->protocol and decides like XDP */
	expect_l3(&ok4, 0, PC_R_ALLOW_NEW);
	expect_l3(&back, 0, PC_R_ALLOW_REPLY);
	expect_l3(&bad4, 0, PC_R_DENY_DEFAULT);
	expect_l3(&ok6, 0, PC_R_ALLOW_NEW);
	expect_l3(&bad6, 0, PC_R_DENY_DEFAULT);
	expect_l3(&banned, 0, PC_R_DENY_RULE);
	expect_l3(&ok4, 12, PC_R_DENY_MALFORMED); /* cut inside IPv4 */
}

Test(tc_l3, wireguard_peer_is_the_identity)
{
	/* a peer key (any 32 bytes; only the compiler and the map see it) */
	static const char peer[] =
		"x8FnwBbFRF6e7i+yMPyxA/mHakUV3pib/3pR51PntS0=";
	char text[1024];
	struct pc_prefix ips[1], ips2[1];
	struct pc_dp_wg_peer wp[2] = {{.wg_id = 1, .ips = ips, .nips = 1},
				      {.wg_id = 1, .ips = ips2, .nips = 1}};
	struct pspec nameless = {.src = "198.18.5.8",
				 .dst = "198.18.2.2",
				 .proto = IPPROTO_TCP,
				 .sport = 11,
				 .dport = 8080};
	struct pspec alice = {.src = "198.18.5.7",
			      .dst = "198.18.2.2",
			      .proto = IPPROTO_TCP,
			      .sport = 9,
			      .dport = 8080};
	struct pspec back = {.src = "198.18.2.2",
			     .dst = "198.18.5.7",
			     .proto = IPPROTO_TCP,
			     .sport = 8080,
			     .dport = 9,
			     .tcp_flags = 0x12};
	struct pspec stranger = {.src = "198.18.1.7",
				 .dst = "198.18.2.2",
				 .proto = IPPROTO_TCP,
				 .sport = 10,
				 .dport = 8080};

	/* Test that on a WireGuard interface the peer (by its allowed IPs
	 * there) is the identity and the address is nobody, that the same
	 * flow's initiator arriving through XDP instead is refused, that
	 * its replies are not, that a peer the
	 * policy does not name is nobody even inside another peer's wider
	 * prefix, and that a push without the peer revokes */
	cr_assert_eq(pc_wg_key_from_base64(peer, wp[0].key), 0);
	memset(wp[1].key, 0x5a, sizeof(wp[1].key));
	cr_assert_eq(pc_prefix_parse("198.18.5.0/24", &ips[0], text, 64), 0);
	cr_assert_eq(pc_prefix_parse("198.18.5.8/32", &ips2[0], text, 64), 0);
	pc_dp_set_wg_peers(dp, wp, 2);
	cr_assert_eq(pc_dp_set_wg_iface(dp, (unsigned int)tun_ifindex, 1), 0);
	snprintf(text, sizeof(text),
		 "apiVersion: portcullis/v1\nkind: Policy\n"
		 "identities:\n"
		 "  eng: { peers: [\"%s\"] }\n"
		 "  clients: { cidrs: [198.18.1.0/24] }\n"
		 "services:\n  web: { cidrs: [198.18.2.2/32], ports: "
		 "[8080/tcp] }\n"
		 "rules:\n  - { from: [eng, clients], to: [web], action: "
		 "allow }\n",
		 peer);
	apply_text(text);
	expect_l3(&alice, 0, PC_R_ALLOW_NEW);
	/* clients (by address) may, but not through the tunnel */
	expect_l3(&stranger, 0, PC_R_DENY_DEFAULT);
	EXPECT(&alice, XDP_DROP, PC_R_DENY_WRONG_IFACE);
	EXPECT(&back, XDP_PASS, PC_R_ALLOW_REPLY);
	expect_l3(&nameless, 0, PC_R_DENY_DEFAULT);
	/* the peer taken out of eng: her flow goes at its next packet */
	snprintf(text, sizeof(text),
		 "apiVersion: portcullis/v1\nkind: Policy\n"
		 "identities:\n  clients: { cidrs: [198.18.1.0/24] }\n"
		 "services:\n  web: { cidrs: [198.18.2.2/32], ports: "
		 "[8080/tcp] }\n"
		 "rules:\n  - { from: [clients], to: [web], action: allow "
		 "}\n");
	apply_text(text);
	expect_l3(&alice, 0, PC_R_DENY_REVOKED);
}

/* BTF of the loaded object must agree with this compiler's layout. */
struct member_off {
	const char *type, *member;
	size_t off, size;
};

#define M(t, m)                                                 \
	{                                                       \
#t, #m, offsetof(struct t, m), sizeof(struct t) \
	}

/*
 * XDP forwarding: a second veth (pct2) is the way to 198.18.2.0/24 and
 * fd00:2::/64, with permanent neighbours, attached so that it is a
 * forwarding target; a third (pct4, 198.18.3.0/24) is not attached.
 */
static const char fwd_policy[] =
	"apiVersion: portcullis/v1\n"
	"kind: Policy\n"
	"identities:\n"
	"  clients: { cidrs: [198.18.1.0/24, \"fd00:1::/64\"] }\n"
	"services:\n"
	"  nets: { cidrs: [198.18.2.0/23, \"fd00:2::/64\"] }\n"
	"rules:\n"
	"  - { name: out, from: [clients], to: [nets], action: allow }\n";

#define NEIGH_MAC "\x02\x00\x00\x00\x22\x22"

static void setup_fwd(void)
{
	enum pc_xdp_mode got;

	tc_ethernet = 0;
	setup();
	cr_assert_eq(system("sysctl -qw net.ipv4.ip_forward=1 "
			    "net.ipv6.conf.all.forwarding=1 && "
			    "ip addr add 198.18.1.1/24 dev pct0 && "
			    "ip addr add fd00:1::1/64 dev pct0 nodad && "
			    "ip link add pct2 type veth peer name pct3 && "
			    "ip link set pct2 up && ip link set pct3 up && "
			    "ip link set pct2 mtu 1400 && "
			    "ip addr add 198.18.2.1/24 dev pct2 && "
			    "ip addr add fd00:2::1/64 dev pct2 nodad && "
			    "ip neigh add 198.18.2.2 lladdr 02:00:00:00:22:22 "
			    "dev pct2 nud permanent && "
			    "ip neigh add fd00:2::2 lladdr 02:00:00:00:22:22 "
			    "dev pct2 nud permanent && "
			    "ip link add pct4 type veth peer name pct5 && "
			    "ip link set pct4 up && ip link set pct5 up && "
			    "ip addr add 198.18.3.1/24 dev pct4 && "
			    "ip neigh add 198.18.3.3 lladdr 02:00:00:00:33:33 "
			    "dev pct4 nud permanent"),
		     0);
	apply_text(fwd_policy);
	/* the test frames are sent to 02:00:00:00:00:02 */
	cr_assert_eq(system("ip link set pct0 address 02:00:00:00:00:02"), 0);
	cr_assert_eq(pc_dp_attach(dp, "pct0", PC_XDP_NATIVE, &got), 0);
	cr_assert_eq(pc_dp_attach(dp, "pct2", PC_XDP_NATIVE, &got), 0);
	pc_dp_set_flags(dp, PC_CFG_FORWARD);
}

static uint64_t fwd_count(int result)
{
	struct pc_counter st[PC_FWD_SLOTS];

	cr_assert_eq(pc_dp_read_fwd_stats(dp, st), 0);
	return st[result].packets;
}

static void if_mac(const char *ifname, uint8_t mac[6])
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	cr_assert_eq(ioctl(fd, SIOCGIFHWADDR, &ifr), 0, "%s MAC: %m", ifname);
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
}

/* Run s through XDP with valid checksums; the frame after is in out. */
static int run_xdp_out(const struct pspec *s, uint8_t *in, uint8_t *out,
		       size_t *len)
{
	struct xdp_md ctx = {.ingress_ifindex = (__u32)veth_ifindex};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_out = out,
		    .data_size_out = PK_MAX, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);

	*len = build(s, in);
	if (!s->vlans)
		fill_checksums_as(in, *len, s->no_udp_csum);
	o.data_size_in = (__u32)*len;
	ctx.data_end = (__u32)*len;
	cr_assert_eq(bpf_prog_test_run_opts(pc_dp_xdp_prog_fd(dp), &o), 0,
		     "test run: %m");
	cr_assert_eq(o.data_size_out, *len);
	return (int)o.retval;
}

/* The frame goes up to the kernel untouched, counted as why. */
#define EXPECT_KERNEL(spec, result)                                            \
	do {                                                                   \
		uint8_t in_[PK_MAX], out_[PK_MAX];                             \
		size_t n_;                                                     \
		uint64_t before_ = fwd_count(result);                          \
		cr_assert_eq(run_xdp_out(spec, in_, out_, &n_), XDP_PASS,      \
			     "verdict for %s", #spec);                         \
		cr_assert_eq(fwd_count(result), before_ + 1, "%s for %s",      \
			     #result, #spec);                                  \
		cr_assert_eq(memcmp(in_, out_, n_), 0, "%s untouched", #spec); \
	} while (0)

TestSuite(fwd, .init = setup_fwd, .fini = teardown);

Test(fwd, forwards_with_next_hop_macs_and_ttl)
{
	struct pspec v4 = {.src = "198.18.1.7",
			   .dst = "198.18.2.2",
			   .proto = IPPROTO_TCP,
			   .sport = 1000,
			   .dport = 443,
			   .payload = 32};
	struct pspec v6 = {.v6 = 1,
			   .src = "fd00:1::7",
			   .dst = "fd00:2::2",
			   .proto = IPPROTO_UDP,
			   .sport = 1000,
			   .dport = 53,
			   .payload = 32};
	uint8_t in[PK_MAX], out[PK_MAX], mac[6];
	uint64_t before = fwd_count(PC_FWD_FORWARDED);
	size_t n;

	if_mac("pct2", mac);
	cr_assert_eq(run_xdp_out(&v4, in, out, &n), XDP_REDIRECT);
	cr_assert_eq(memcmp(out, NEIGH_MAC, 6), 0, "next hop's MAC");
	cr_assert_eq(memcmp(out + 6, mac, 6), 0, "egress MAC");
	cr_assert_eq(out[14 + 8], 63, "TTL decremented");
	cr_assert(checksums_ok(out, n), "IPv4 checksum updated");
	cr_assert_eq(memcmp(in + 14, out + 14, 8), 0, "rest of IP untouched");
	cr_assert_eq(memcmp(in + 14 + 12, out + 14 + 12, n - 26), 0);

	cr_assert_eq(run_xdp_out(&v6, in, out, &n), XDP_REDIRECT);
	cr_assert_eq(memcmp(out, NEIGH_MAC, 6), 0);
	cr_assert_eq(memcmp(out + 6, mac, 6), 0);
	cr_assert_eq(out[14 + 7], 63, "hop limit decremented");
	cr_assert(checksums_ok(out, n), "UDP checksum still valid");
	cr_assert_eq(fwd_count(PC_FWD_FORWARDED), before + 2);

	/* every TTL from 2 up goes out one lower, checksum right */
	for (int ttl = 2; ttl <= 255; ttl += 23) {
		v4.ttl = (uint8_t)ttl;
		cr_assert_eq(run_xdp_out(&v4, in, out, &n), XDP_REDIRECT);
		cr_assert_eq(out[14 + 8], ttl - 1);
		cr_assert(checksums_ok(out, n), "checksum at TTL %d", ttl);
	}
}

Test(fwd, what_the_fast_path_cannot_do_goes_to_the_kernel)
{
	struct pspec no_neigh = {.src = "198.18.1.7",
				 .dst = "198.18.2.9",
				 .proto = IPPROTO_UDP,
				 .sport = 1,
				 .dport = 53};
	struct pspec local = {.src = "198.18.1.7",
			      .dst = "198.18.2.1",
			      .proto = IPPROTO_UDP,
			      .sport = 1,
			      .dport = 53};
	struct pspec ttl1 = {.src = "198.18.1.7",
			     .dst = "198.18.2.2",
			     .proto = IPPROTO_UDP,
			     .sport = 1,
			     .dport = 53,
			     .ttl = 1};
	struct pspec hop1 = {.v6 = 1,
			     .src = "fd00:1::7",
			     .dst = "fd00:2::2",
			     .proto = IPPROTO_UDP,
			     .sport = 1,
			     .dport = 53,
			     .ttl = 1};
	struct pspec big = {.src = "198.18.1.7",
			    .dst = "198.18.2.2",
			    .proto = IPPROTO_UDP,
			    .sport = 1,
			    .dport = 53,
			    .payload = 1400};
	struct pspec other = {.src = "198.18.1.7",
			      .dst = "198.18.3.3",
			      .proto = IPPROTO_UDP,
			      .sport = 1,
			      .dport = 53};
	struct pspec tagged = {.src = "198.18.1.7",
			       .dst = "198.18.2.2",
			       .proto = IPPROTO_UDP,
			       .sport = 1,
			       .dport = 53,
			       .vlans = 1};

	EXPECT_KERNEL(&no_neigh, PC_FWD_NO_NEIGH);
	EXPECT_KERNEL(&local, PC_FWD_LOCAL);
	EXPECT_KERNEL(&ttl1, PC_FWD_TTL);
	EXPECT_KERNEL(&hop1, PC_FWD_TTL);
	EXPECT_KERNEL(&big, PC_FWD_FRAG_NEEDED); /* pct2's MTU is 1400 */
	EXPECT_KERNEL(&other, PC_FWD_NOT_ATTACHED);
	EXPECT_KERNEL(&tagged, PC_FWD_UNSUPPORTED);

	/* frames not sent to us, or to many, are the kernel's */
	{
		uint8_t in[PK_MAX], out[PK_MAX];
		struct xdp_md ctx = {.ingress_ifindex = (__u32)veth_ifindex};
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in,
			    .data_out = out, .data_size_out = PK_MAX,
			    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx),
			    .repeat = 1);
		struct pspec ok = {.src = "198.18.1.7",
				   .dst = "198.18.2.2",
				   .proto = IPPROTO_UDP,
				   .sport = 1,
				   .dport = 53};
		size_t n = build(&ok, in);
		static const uint8_t dst[][6] = {
			{0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
			{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb},
			{0x02, 0x00, 0x00, 0x00, 0x00, 0x03}};
		static const int want[] = {PC_FWD_NOT_UNICAST,
					   PC_FWD_NOT_UNICAST,
					   PC_FWD_OTHER_HOST};

		fill_checksums(in, n);
		o.data_size_in = (__u32)n;
		ctx.data_end = (__u32)n;
		for (int i = 0; i < 3; i++) {
			uint64_t before = fwd_count(want[i]);

			memcpy(in, dst[i], 6);
			cr_assert_eq(bpf_prog_test_run_opts(
					     pc_dp_xdp_prog_fd(dp), &o),
				     0);
			cr_assert_eq(o.retval, XDP_PASS, "dst MAC %d", i);
			cr_assert_eq(fwd_count(want[i]), before + 1, "%d", i);
		}
	}

	/* an unreachable route: the kernel answers with ICMP */
	struct pspec unreach = {.src = "198.18.1.7",
				.dst = "198.18.3.200",
				.proto = IPPROTO_UDP,
				.sport = 1,
				.dport = 53};
	cr_assert_eq(system("ip route add unreachable 198.18.3.128/25"), 0);
	EXPECT_KERNEL(&unreach, PC_FWD_UNREACHABLE);

	/* forwarding off in the ingress device's config */
	cr_assert_eq(system("sysctl -qw net.ipv4.conf.pct0.forwarding=0"), 0);
	EXPECT_KERNEL(&ttl1, PC_FWD_TTL); /* checked before the lookup */
	struct pspec off = {.src = "198.18.1.7",
			    .dst = "198.18.2.2",
			    .proto = IPPROTO_UDP,
			    .sport = 2,
			    .dport = 53};
	EXPECT_KERNEL(&off, PC_FWD_DISABLED);
}

Test(fwd, denied_and_knob_off_are_not_forwarded)
{
	struct pspec ok = {.src = "198.18.1.7",
			   .dst = "198.18.2.2",
			   .proto = IPPROTO_UDP,
			   .sport = 1,
			   .dport = 53};
	struct pspec denied = {.src = "198.18.5.7",
			       .dst = "198.18.2.2",
			       .proto = IPPROTO_UDP,
			       .sport = 1,
			       .dport = 53};
	uint8_t in[PK_MAX], out[PK_MAX];
	uint64_t fwd = fwd_count(PC_FWD_FORWARDED);
	size_t n;

	cr_assert_eq(run_xdp_out(&denied, in, out, &n), XDP_DROP);
	cr_assert_eq(fwd_count(PC_FWD_FORWARDED), fwd);
	pc_dp_set_flags(dp, 0);
	cr_assert_eq(run_xdp_out(&ok, in, out, &n), XDP_PASS);
	cr_assert_eq(memcmp(in, out, n), 0);
	for (int r = 1; r < PC_FWD_SLOTS; r++)
		cr_assert_eq(fwd_count(r), r == PC_FWD_FORWARDED ? fwd : 0,
			     "nothing counted with forwarding off (%d)", r);
	pc_dp_set_flags(dp, PC_CFG_FORWARD);
	cr_assert_eq(run_xdp_out(&ok, in, out, &n), XDP_REDIRECT);
	/* an interface that is no longer configured is no target */
	char *keep[] = {"pct0"};

	cr_assert_eq(pc_dp_prune(dp, keep, 1), 0);
	EXPECT_KERNEL(&ok, PC_FWD_NOT_ATTACHED);
}

/*
 * Load balancing: DNAT of a new flow to its backend, reverse NAT of the
 * backend's replies, checksums, stickiness, strategies, drain, health.
 */

/* lb_policy with dns balanced by balance, and extra text replaced */
static uint64_t apply_lb(const char *balance, const char *from, const char *to)
{
	char text[2048], *p;

	snprintf(text, sizeof(text), "%s", lb_policy);
	p = strstr(text, "BALANCE");
	memmove(p + strlen(balance), p + 7, strlen(p + 7) + 1);
	memcpy(p, balance, strlen(balance));
	if (from && (p = strstr(text, from))) {
		memmove(p + strlen(to), p + strlen(from),
			strlen(p + strlen(from)) + 1);
		memcpy(p, to, strlen(to));
	}
	return apply_text(text);
}

static void setup_lb(void)
{
	tc_ethernet = 0;
	setup();
	apply_lb("maglev", NULL, NULL);
}

TestSuite(lb, .init = setup_lb, .fini = teardown);

static void addr_of(const char *s, uint8_t a[16])
{
	cr_assert_eq(pc_addr_parse(s, a), 0, "%s", s);
}

/* The backend the live table's ring gives a flow, as the program does. */
static const char *ring_pick(size_t table, const struct pspec *s, char *buf)
{
	struct pc_lb_table *t = malloc(sizeof(*t));
	uint8_t sa[16], da[16];
	uint32_t h;
	const struct pc_lb_backend *b;

	cr_assert_eq(pc_dp_lb_read(dp, table, t), 0);
	addr_of(s->src, sa);
	addr_of(s->dst, da);
	h = pc_lb_flow_hash(sa, s->sport, da, s->dport, s->proto);
	b = &t->backends[t->ring[h % PC_LB_RING]];
	pc_addr_format(b->addr, buf, 64);
	free(t);
	return buf;
}

/* Where a frame went: its destination (or source) address and port. */
static void v4_dst(const uint8_t *f, char *buf, uint16_t *port)
{
	uint8_t a[16] = {0};

	a[10] = a[11] = 0xff;
	memcpy(a + 12, f + 14 + 16, 4);
	pc_addr_format(a, buf, 64);
	*port = (uint16_t)(f[14 + 20 + 2] << 8 | f[14 + 20 + 3]);
}

static void v4_src(const uint8_t *f, char *buf, uint16_t *port)
{
	uint8_t a[16] = {0};

	a[10] = a[11] = 0xff;
	memcpy(a + 12, f + 14 + 12, 4);
	pc_addr_format(a, buf, 64);
	*port = (uint16_t)(f[14 + 20] << 8 | f[14 + 21]);
}

/* Which program the lb tests run: XDP, or TC (Ethernet mode) doing the
 * same rewrites through the skb helpers. */
static int lb_via_tc;

/* Run s through the lb tests' program; XDP_PASS or XDP_DROP. */
static int run_lb_out(const struct pspec *s, uint8_t *in, uint8_t *out,
		      size_t *len)
{
	struct __sk_buff ctx = {.ifindex = (__u32)veth_ifindex};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_out = out,
		    .data_size_out = PK_MAX, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);

	if (!lb_via_tc)
		return run_xdp_out(s, in, out, len);
	*len = build(s, in);
	fill_checksums_as(in, *len, s->no_udp_csum);
	o.data_size_in = (__u32)*len;
	cr_assert_eq(bpf_prog_test_run_opts(pc_dp_tc_prog_fd(dp), &o), 0,
		     "tc test run: %m");
	cr_assert_eq(o.data_size_out, *len);
	return o.retval == TC_ACT_OK ? XDP_PASS : XDP_DROP;
}

/* Send s; it must pass as reason; return where it went (DNAT). */
static void lb_send(const struct pspec *s, int reason, char *dst,
		    uint16_t *dport, uint8_t *out, size_t *n)
{
	uint8_t in[PK_MAX];
	uint64_t before = reason_count(reason);

	cr_assert_eq(run_lb_out(s, in, out, n), XDP_PASS, "%s:%u", s->dst,
		     s->dport);
	cr_assert_eq(reason_count(reason), before + 1, "reason %d", reason);
	cr_assert(checksums_ok(out, *n), "checksums after the rewrite");
	if (dst)
		v4_dst(out, dst, dport);
	/* nothing else changed: MACs, IP header but addresses and
	 * checksum, the L4 header but ports and checksum, the payload */
	cr_assert_eq(memcmp(in, out, 14 + 10), 0);
	cr_assert_eq(memcmp(in + 14 + 20 + 4, out + 14 + 20 + 4,
			    s->proto == IPPROTO_TCP ? 12 : 2),
		     0);
	cr_assert_eq(
		memcmp(in + *n - s->payload, out + *n - s->payload, s->payload),
		0);
}

static void tcp_v4_dnat_body(void)
{
	struct pspec syn = {.src = "198.18.1.7",
			    .dst = "198.18.0.100",
			    .proto = IPPROTO_TCP,
			    .sport = 40000,
			    .dport = 80,
			    .payload = 20};
	struct pspec ack = syn;
	char to[64], want[64], from[64];
	uint8_t out[PK_MAX];
	uint16_t port;
	size_t n;

	lb_send(&syn, PC_R_ALLOW_NEW, to, &port, out, &n);
	cr_assert_str_eq(to, ring_pick(0, &syn, want),
			 "the backend the Maglev ring gives this flow");
	cr_assert_eq(port, 8080, "the backend's port");

	/* the backend answers from its own address: the client sees the
	 * virtual address */
	struct pspec synack = {.src = to,
			       .dst = "198.18.1.7",
			       .proto = IPPROTO_TCP,
			       .sport = 8080,
			       .dport = 40000,
			       .tcp_flags = 0x12,
			       .payload = 20};
	uint8_t in[PK_MAX];
	uint64_t before = reason_count(PC_R_ALLOW_REPLY);

	cr_assert_eq(run_lb_out(&synack, in, out, &n), XDP_PASS);
	cr_assert_eq(reason_count(PC_R_ALLOW_REPLY), before + 1);
	v4_src(out, from, &port);
	cr_assert_str_eq(from, "198.18.0.100",
			 "reply from the virtual address");
	cr_assert_eq(port, 80);
	cr_assert(checksums_ok(out, n));
	cr_assert_eq(memcmp(in + 14 + 16, out + 14 + 16, 4), 0,
		     "destination untouched");

	/* the rest of the connection sticks to that backend */
	ack.tcp_flags = 0x10;
	for (int i = 0; i < 5; i++) {
		char again[64];

		lb_send(&ack, PC_R_ALLOW_ESTABLISHED, again, &port, out, &n);
		cr_assert_str_eq(again, to);
	}
	/* the backend holds the flow; when it closes, one less */
	uint8_t ba[16];

	addr_of(to, ba);
	cr_assert_eq(pc_dp_lb_conns(dp, ba, 8080), 1);
	ack.tcp_flags = 0x11; /* FIN */
	lb_send(&ack, PC_R_ALLOW_ESTABLISHED, NULL, &port, out, &n);
	cr_assert_eq(pc_dp_lb_conns(dp, ba, 8080), 0);
}

static void udp_and_v6_body(void)
{
	struct pspec q = {.src = "198.18.1.7",
			  .dst = "198.18.0.53",
			  .proto = IPPROTO_UDP,
			  .sport = 5555,
			  .dport = 53,
			  .payload = 30};
	char to[64];
	uint8_t in[PK_MAX], out[PK_MAX];
	uint16_t port;
	size_t n;

	lb_send(&q, PC_R_ALLOW_NEW, to, &port, out, &n);
	cr_assert_eq(port, 53, "no backend port: the flow's own");
	cr_assert(!strncmp(to, "198.18.2.", 9), "to a backend: %s", to);

	/* IPv4 UDP without a checksum keeps none */
	q.sport = 5556;
	q.no_udp_csum = 1;
	cr_assert_eq(run_lb_out(&q, in, out, &n), XDP_PASS);
	cr_assert_eq(out[14 + 20 + 6] | out[14 + 20 + 7], 0,
		     "still no UDP checksum");
	cr_assert_eq(csum_fold(csum_add(0, out + 14, 20)), 0,
		     "IP header checksum");
	cr_assert_neq(memcmp(in + 14 + 16, out + 14 + 16, 4), 0);

	/* IPv6: TCP to the IPv6 virtual address goes to the IPv6 backend */
	struct pspec v6 = {.v6 = 1,
			   .src = "fd00:1::7",
			   .dst = "fd00:100::100",
			   .proto = IPPROTO_TCP,
			   .sport = 40001,
			   .dport = 80,
			   .payload = 8};
	uint8_t want[16], got[16];

	cr_assert_eq(run_lb_out(&v6, in, out, &n), XDP_PASS);
	cr_assert(checksums_ok(out, n), "TCP over IPv6 checksum");
	addr_of("fd00:2::2", want);
	memcpy(got, out + 14 + 24, 16);
	cr_assert_eq(memcmp(got, want, 16), 0, "to the IPv6 backend");
	cr_assert_eq(out[14 + 40 + 2] << 8 | out[14 + 40 + 3], 8080);
	struct pspec v6r = {.v6 = 1,
			    .src = "fd00:2::2",
			    .dst = "fd00:1::7",
			    .proto = IPPROTO_TCP,
			    .sport = 8080,
			    .dport = 40001,
			    .tcp_flags = 0x12};

	cr_assert_eq(run_lb_out(&v6r, in, out, &n), XDP_PASS);
	cr_assert(checksums_ok(out, n));
	addr_of("fd00:100::100", want);
	cr_assert_eq(memcmp(out + 14 + 8, want, 16), 0,
		     "the IPv6 reply comes from the virtual address");
	cr_assert_eq(out[14 + 40] << 8 | out[14 + 41], 80);
}

Test(lb, tcp_v4_dnat_reverse_nat_and_stickiness)
{
	tcp_v4_dnat_body();
}

Test(lb, udp_keeps_port_v4_no_checksum_and_v6)
{
	udp_and_v6_body();
}

/*
 * The TC program rewrites as XDP does (a WireGuard client's flow to a
 * virtual address, a backend behind WireGuard answering): the same
 * bytes and checksums, through the skb helpers.
 */
static void setup_lb_tc(void)
{
	tc_ethernet = 1;
	setup();
	apply_lb("maglev", NULL, NULL);
	lb_via_tc = 1;
}

static void teardown_lb_tc(void)
{
	lb_via_tc = 0;
	teardown();
}

TestSuite(lbtc, .init = setup_lb_tc, .fini = teardown_lb_tc);

Test(lbtc, tcp_v4_dnat_reverse_nat_and_stickiness)
{
	tcp_v4_dnat_body();
}

Test(lbtc, udp_keeps_port_v4_no_checksum_and_v6)
{
	udp_and_v6_body();
}

Test(lbtc, later_fragments_follow_their_first)
{
	struct pspec first = {.src = "198.18.1.7",
			      .dst = "198.18.0.53",
			      .proto = IPPROTO_UDP,
			      .sport = 7001,
			      .dport = 53,
			      .frag = 0x2000,
			      .ip_id = 78,
			      .payload = 64};
	struct pspec later = first;
	uint8_t in[PK_MAX], out[PK_MAX];
	char to[64], to2[64];
	uint16_t port;
	size_t n;

	later.sport = later.dport = 0;
	later.frag = 8;
	later.payload = 40;
	cr_assert_eq(run_lb_out(&first, in, out, &n), XDP_PASS);
	v4_dst(out, to, &port);
	cr_assert(!strncmp(to, "198.18.2.", 9), "steered to %s", to);
	cr_assert(checksums_ok(out, n));
	cr_assert_eq(run_lb_out(&later, in, out, &n), XDP_PASS);
	cr_assert_eq(csum_fold(csum_add(0, out + 14, 20)), 0);
	v4_dst(out, to2, &port);
	cr_assert_str_eq(to2, to, "the later fragment follows to %s", to);
	cr_assert_eq(memcmp(in + 34, out + 34, n - 34), 0,
		     "its payload untouched");
}

Test(lb, maglev_spreads_by_weight_and_predictably)
{
	/* web: .2 weight 1, .3 weight 2 */
	struct pspec s = {.src = "198.18.1.9",
			  .dst = "198.18.0.100",
			  .proto = IPPROTO_TCP,
			  .dport = 80};
	int two = 0, three = 0;
	char to[64], want[64];
	uint8_t out[PK_MAX];
	uint16_t port;
	size_t n;

	for (int i = 0; i < 3000; i++) {
		s.sport = (uint16_t)(10000 + i);
		lb_send(&s, PC_R_ALLOW_NEW, to, &port, out, &n);
		cr_assert_str_eq(to, ring_pick(0, &s, want));
		two += !strcmp(to, "198.18.2.2");
		three += !strcmp(to, "198.18.2.3");
	}
	cr_assert_eq(two + three, 3000);
	cr_assert(three > 1.7 * two && three < 2.3 * two,
		  "weights 1:2 give %d:%d", two, three);
}

Test(lb, strategies)
{
	struct pspec s = {.src = "198.18.1.7",
			  .dst = "198.18.0.53",
			  .proto = IPPROTO_UDP,
			  .dport = 53};
	char to[64], first[64];
	uint8_t out[PK_MAX];
	uint16_t port;
	size_t n;
	int seen[5] = {0};

	/* round-robin: each in turn */
	apply_lb("round-robin", NULL, NULL);
	for (int i = 0; i < 6; i++) {
		s.sport = (uint16_t)(20000 + i);
		lb_send(&s, PC_R_ALLOW_NEW, to, &port, out, &n);
		seen[to[strlen(to) - 1] - '0']++;
	}
	cr_assert(seen[2] == 2 && seen[3] == 2 && seen[4] == 2,
		  "round-robin: %d %d %d", seen[2], seen[3], seen[4]);

	/* source-hash: every flow of a client to one backend */
	apply_lb("source-hash", NULL, NULL);
	for (int i = 0; i < 20; i++) {
		s.sport = (uint16_t)(21000 + i);
		lb_send(&s, PC_R_ALLOW_NEW, to, &port, out, &n);
		if (!i)
			snprintf(first, sizeof(first), "%s", to);
		cr_assert_str_eq(to, first, "source-hash sticks to %s", first);
	}

	/* least-connections: the backend with fewest flows gets the next.
	 * Round-robin left 2 flows on each, source-hash 20 more on one:
	 * 9 new flows all go to the other two, evenly. */
	uint64_t before[5], after[5];
	uint8_t a[16] = {0};

	a[10] = a[11] = 0xff;
	a[12] = 198, a[13] = 18, a[14] = 2;
	for (int b = 2; b <= 4; b++) {
		a[15] = (uint8_t)b;
		before[b] = pc_dp_lb_conns(dp, a, 0);
	}
	apply_lb("least-connections", NULL, NULL);
	for (int i = 0; i < 9; i++) {
		s.sport = (uint16_t)(22000 + i);
		lb_send(&s, PC_R_ALLOW_NEW, to, &port, out, &n);
		cr_assert_str_neq(to, first, "not to the busiest backend");
	}
	for (int b = 2; b <= 4; b++) {
		a[15] = (uint8_t)b;
		after[b] = pc_dp_lb_conns(dp, a, 0);
	}
	for (int b = 2; b <= 4; b++) {
		char name[32];

		snprintf(name, sizeof(name), "198.18.2.%d", b);
		if (!strcmp(name, first))
			cr_assert_eq(after[b], before[b]);
		else
			cr_assert(after[b] == 6 || after[b] == 7,
				  ".%d holds %llu", b,
				  (unsigned long long)after[b]);
	}
	cr_assert_eq(after[2] + after[3] + after[4],
		     before[2] + before[3] + before[4] + 9);

	/* weighted: random by weight, all three seen over many flows */
	apply_lb("weighted", NULL, NULL);
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < 300; i++) {
		s.sport = (uint16_t)(23000 + i);
		lb_send(&s, PC_R_ALLOW_NEW, to, &port, out, &n);
		seen[to[strlen(to) - 1] - '0']++;
	}
	cr_assert(seen[2] > 50 && seen[3] > 50 && seen[4] > 50,
		  "weighted: %d %d %d", seen[2], seen[3], seen[4]);
}

/* The daemon's view of health, for the tests: backends listed down. */
static const char *down_addr;
static uint32_t rtt_of[3];

/* Age (by ns) or delete (ns 0) the DNAT entries of conntrack to port. */
static int age_dnat(uint16_t port, uint64_t ns)
{
	int fd = pc_dp_map_fd(dp, "conntrack"), n = 0;
	struct pc_ct_key k, prev, keys[64];
	struct pc_ct_val v;
	int have = 0, nk = 0;

	while (nk < 64 && !bpf_map_get_next_key(fd, have ? &prev : NULL, &k)) {
		prev = k;
		have = 1;
		keys[nk++] = k;
	}
	for (int i = 0; i < nk; i++) {
		if (bpf_map_lookup_elem(fd, &keys[i], &v) ||
		    v.nat != PC_NAT_DNAT || v.nat_port != port)
			continue;
		n++;
		if (!ns) {
			cr_assert_eq(bpf_map_delete_elem(fd, &keys[i]), 0);
			continue;
		}
		v.last_seen_ns -= ns;
		cr_assert_eq(bpf_map_update_elem(fd, &keys[i], &v, BPF_EXIST),
			     0);
	}
	return n;
}

static uint64_t dns_conns(void)
{
	uint8_t a[16];
	uint64_t sum = 0;

	addr_of("198.18.2.2", a);
	for (int b = 2; b <= 4; b++) {
		a[15] = (uint8_t)b;
		sum += pc_dp_lb_conns(dp, a, 0);
	}
	return sum;
}

/*
 * The programs count UDP flows up and never down: the daemon's sweep sets
 * the counts from conntrack, so flows that expired or were evicted leave
 * them, and least-connections sees the backends as they are.
 */
static int count_visit(void *arg, const struct pc_ct_key *k,
		       const struct pc_ct_val *v)
{
	(void)k;
	(void)v;
	(*(size_t *)arg)++;
	return 0;
}

Test(lb, sweep_counts_live_flows_from_conntrack)
{
	struct pspec s = {.src = "198.18.1.7",
			  .dst = "198.18.0.53",
			  .proto = IPPROTO_UDP,
			  .dport = 53};
	struct pspec t = {.src = "198.18.1.7",
			  .dst = "198.18.0.100",
			  .proto = IPPROTO_TCP,
			  .sport = 41000,
			  .dport = 80};
	struct pc_lb_sweep_stats st;
	struct pc_lb_sweep *sw;
	size_t seen = 0;
	struct pc_ct_visitor v[2] = {{NULL, NULL}, {count_visit, &seen}};
	struct pc_lb_conn_key stale = {.port = 9};
	uint8_t out[PK_MAX], wa[16];
	char to[64];
	uint16_t port;
	size_t n;
	__u64 one = 1;

	apply_lb("least-connections", NULL, NULL);
	for (int i = 0; i < 6; i++) {
		s.sport = (uint16_t)(30000 + i);
		lb_send(&s, PC_R_ALLOW_NEW, to, &port, out, &n);
	}
	lb_send(&t, PC_R_ALLOW_NEW, to, &port, out, &n);
	addr_of(to, wa);
	cr_assert_eq(dns_conns(), 6);
	cr_assert_eq(pc_dp_lb_conns(dp, wa, 8080), 1);
	/* a backend no longer in any policy */
	addr_of("198.18.9.9", stale.addr);
	cr_assert_eq(bpf_map_update_elem(pc_dp_map_fd(dp, "lb_conns"), &stale,
					 &one, BPF_ANY),
		     0);

	/* all live: the sweep agrees, and removes the stranger; it shares
	 * its walk with another visitor, which sees every entry too */
	sw = pc_dp_lb_sweep_begin(dp, live);
	v[0] = (struct pc_ct_visitor){pc_dp_lb_sweep_visit, sw};
	cr_assert_eq(pc_dp_ct_walk(dp, v, 2), 0);
	cr_assert_eq(pc_dp_lb_sweep_end(sw, 0, &st), 0);
	cr_assert_eq(seen, st.entries);
	cr_assert_geq(seen, 14, "7 flows, each with its backend's entry");
	cr_assert_eq(dns_conns(), 6);
	cr_assert_eq(st.flows, 7);
	cr_assert_eq(st.backends, 6, "3 web + 3 dns backends");
	cr_assert_eq(st.removed, 1);
	cr_assert_eq(pc_dp_lb_conns(dp, stale.addr, 9), 0);

	/* UDP flows idle past their timeout (120 s) no longer count; a walk
	 * that failed changes nothing */
	cr_assert_eq(age_dnat(53, 121ULL * 1000000000ULL), 6);
	sw = pc_dp_lb_sweep_begin(dp, live);
	cr_assert_eq(pc_dp_ct_each(dp, pc_dp_lb_sweep_visit, sw), 0);
	cr_assert_eq(pc_dp_lb_sweep_end(sw, -EIO, &st), -EIO);
	cr_assert_eq(dns_conns(), 6, "not from a failed walk");
	cr_assert_eq(pc_dp_lb_sweep(dp, live, &st), 0);
	cr_assert_eq(dns_conns(), 0, "expired flows subtracted");
	cr_assert_eq(pc_dp_lb_conns(dp, wa, 8080), 1, "the TCP flow lives");
	/* a TCP flow whose entry went (LRU eviction) */
	cr_assert_eq(age_dnat(8080, 0), 1);
	cr_assert_eq(pc_dp_lb_sweep(dp, live, &st), 0);
	cr_assert_eq(pc_dp_lb_conns(dp, wa, 8080), 0, "evicted: subtracted");
	cr_assert_eq(st.flows, 0);
}

/* Headers deeper than the rewrite reaches: refused before anything is
 * entered for the flow (conntrack, the backend's count). */
Test(lb, headers_out_of_the_rewrites_reach_are_refused_cleanly)
{
	struct pspec deep = {.v6 = 1,
			     .src = "fd00:1::7",
			     .dst = "fd00:100::100",
			     .proto = IPPROTO_TCP,
			     .sport = 40009,
			     .dport = 80,
			     .ext = {60},
			     .next = 1,
			     .ext_hdrlen = 63}; /* 512 bytes of options */
	struct pspec ok = deep;
	uint8_t in[PK_MAX], out[PK_MAX], b[16];
	size_t n;
	uint64_t before = reason_count(PC_R_DENY_NAT);

	ok.ext_hdrlen = 40; /* 328 bytes: within reach */
	ok.sport = 40008;
	cr_assert_eq(run_lb_out(&ok, in, out, &n), XDP_PASS);
	addr_of("fd00:2::2", b);
	cr_assert_eq(memcmp(out + 14 + 24, b, 16), 0, "rewritten");
	cr_assert_eq(pc_dp_lb_conns(dp, b, 8080), 1);

	cr_assert_eq(run_lb_out(&deep, in, out, &n), XDP_DROP);
	cr_assert_eq(reason_count(PC_R_DENY_NAT), before + 1);
	cr_assert_eq(pc_dp_lb_conns(dp, b, 8080), 1, "not counted");
	cr_assert_eq(age_dnat(8080, 1), 1, "only the first flow is entered");
}

static void test_state(void *arg, const struct pc_lb_entry *t, uint8_t *up,
		       uint32_t *rtt)
{
	(void)arg;
	for (size_t i = 0; i < t->nbackends; i++) {
		char a[64];

		pc_addr_format(t->backends[i].addr, a, sizeof(a));
		if (down_addr && strstr(down_addr, a))
			up[i] = 0;
		if (!strcmp(t->service, "dns"))
			rtt[i] = rtt_of[i % 3];
	}
}

Test(lb, drain_health_latency_and_no_backend)
{
	struct pspec est = {.src = "198.18.1.7",
			    .dst = "198.18.0.53",
			    .proto = IPPROTO_UDP,
			    .sport = 30000,
			    .dport = 53};
	struct pspec s = est;
	char to[64], held[64];
	uint8_t out[PK_MAX];
	uint16_t port;
	size_t n;

	lb_send(&est, PC_R_ALLOW_NEW, held, &port, out, &n);
	/* drain the backend that flow holds: no new flows go there, the
	 * established one goes on.  (dns's backends are a flow list: its
	 * item ends with ',' or, the last, with ']'.) */
	char text_from[96], text_to[160];

	snprintf(text_from, sizeof(text_from), "%s%s", held,
		 strcmp(held, "198.18.2.4") ? "," : "]");
	snprintf(text_to, sizeof(text_to), "{ address: %s, drain: true }%s",
		 held, strcmp(held, "198.18.2.4") ? "," : "]");
	apply_lb("maglev", text_from, text_to);
	for (int i = 0; i < 200; i++) {
		s.sport = (uint16_t)(31000 + i);
		lb_send(&s, PC_R_ALLOW_NEW, to, &port, out, &n);
		cr_assert_str_neq(to, held,
				  "no new flow to a draining backend");
	}
	lb_send(&est, PC_R_ALLOW_ESTABLISHED, to, &port, out, &n);
	cr_assert_str_eq(to, held, "its established flow goes on");

	/* health: the daemon marks backends down; a refresh rewrites the
	 * live table at once */
	pc_dp_set_lb_state(dp, test_state, NULL);
	down_addr = "198.18.2.2 198.18.2.3 198.18.2.4";
	for (size_t t = 0; t < live->nlb; t++)
		cr_assert_eq(pc_dp_lb_refresh(dp, live, t), 0);
	s.sport = 32000;
	{
		uint8_t in[PK_MAX];
		uint64_t before = reason_count(PC_R_DENY_NO_BACKEND);

		cr_assert_eq(run_xdp_out(&s, in, out, &n), XDP_DROP,
			     "every backend down: nowhere to go");
		cr_assert_eq(reason_count(PC_R_DENY_NO_BACKEND), before + 1);
	}
	down_addr = "198.18.2.2";
	apply_lb("latency", NULL, NULL); /* a push asks for health too */
	rtt_of[0] = 500, rtt_of[1] = 900, rtt_of[2] = 300;
	for (size_t t = 0; t < live->nlb; t++)
		cr_assert_eq(pc_dp_lb_refresh(dp, live, t), 0);
	for (int i = 0; i < 10; i++) {
		s.sport = (uint16_t)(33000 + i);
		lb_send(&s, PC_R_ALLOW_NEW, to, &port, out, &n);
		cr_assert_str_eq(to, "198.18.2.4", "the fastest that is up");
	}
	rtt_of[2] = 1000;
	for (size_t t = 0; t < live->nlb; t++)
		cr_assert_eq(pc_dp_lb_refresh(dp, live, t), 0);
	s.sport = 33100;
	lb_send(&s, PC_R_ALLOW_NEW, to, &port, out, &n);
	cr_assert_str_eq(to, "198.18.2.3", "now .3 is fastest (.2 is down)");
	pc_dp_set_lb_state(dp, NULL, NULL);
	down_addr = NULL;
}

Test(lb, revoked_and_stray_backend_packets)
{
	struct pspec syn = {.src = "198.18.1.7",
			    .dst = "198.18.0.100",
			    .proto = IPPROTO_TCP,
			    .sport = 41000,
			    .dport = 80};
	char to[64];
	uint8_t in[PK_MAX], out[PK_MAX];
	uint16_t port;
	size_t n;

	/* a packet from a backend that belongs to no balanced flow is
	 * decided as what it is */
	struct pspec stray = {.src = "198.18.2.2",
			      .dst = "198.18.1.7",
			      .proto = IPPROTO_TCP,
			      .sport = 8080,
			      .dport = 41999,
			      .tcp_flags = 0x12};
	EXPECT(&stray, XDP_DROP, PC_R_DENY_DEFAULT);

	lb_send(&syn, PC_R_ALLOW_NEW, to, &port, out, &n);
	struct pspec reply = {.src = to,
			      .dst = "198.18.1.7",
			      .proto = IPPROTO_TCP,
			      .sport = 8080,
			      .dport = 41000,
			      .tcp_flags = 0x12};
	/* a push that takes web away: the flow is revoked from its next
	 * packet, and the backend's replies are no one's */
	apply_lb("maglev", "to: [web, dns]", "to: [dns]");
	cr_assert_eq(run_xdp_out(&syn, in, out, &n), XDP_DROP);
	EXPECT(&reply, XDP_DROP, PC_R_DENY_DEFAULT);
	EXPECT(&reply, XDP_DROP, PC_R_DENY_DEFAULT);
}

Test(lb, audit_mode_reports_would_be_denies_of_balanced_flows)
{
	/* Test that in audit mode a would-be deny to a virtual address is
	 * reported as one (and steered), not as a plain audit */
	struct pspec s = {.src = "198.18.5.7",
			  .dst = "198.18.0.100",
			  .proto = IPPROTO_TCP,
			  .sport = 42000,
			  .dport = 80};
	char text[2048], to[64];
	uint8_t out[PK_MAX];
	uint16_t port;
	size_t n;

	snprintf(text, sizeof(text), "mode: audit\n%s", lb_policy);
	memcpy(strstr(text, "BALANCE"), "maglev ", 7);
	apply_text(text);
	lb_send(&s, PC_R_AUDIT_DENY_DEFAULT, to, &port, out, &n);
	cr_assert(!strncmp(to, "198.18.2.", 9), "steered to %s", to);
	cr_assert_eq(port, 8080);
}

Test(lb, first_and_later_fragments_are_rewritten)
{
	struct pspec first = {.src = "198.18.1.7",
			      .dst = "198.18.0.53",
			      .proto = IPPROTO_UDP,
			      .sport = 7000,
			      .dport = 53,
			      .frag = 0x2000,
			      .ip_id = 77,
			      .payload = 64};
	struct pspec later = {.src = "198.18.1.7",
			      .dst = "198.18.0.53",
			      .proto = IPPROTO_UDP,
			      .frag = 8,
			      .ip_id = 77,
			      .payload = 40};
	uint8_t in[PK_MAX], out[PK_MAX];
	char to[64], to2[64];
	uint16_t port;
	size_t n;

	cr_assert_eq(run_xdp_out(&first, in, out, &n), XDP_PASS);
	v4_dst(out, to, &port);
	cr_assert(!strncmp(to, "198.18.2.", 9));
	cr_assert_eq(run_xdp_out(&later, in, out, &n), XDP_PASS);
	cr_assert_eq(csum_fold(csum_add(0, out + 14, 20)), 0);
	v4_dst(out, to2, &port);
	cr_assert_str_eq(to2, to, "the later fragment follows to %s", to);
	cr_assert_eq(memcmp(in + 34, out + 34, n - 34), 0,
		     "its payload untouched");
}

Test(layout, btf_matches_userspace)
{
	static const struct member_off members[] = {
		M(pc_lpm_key, prefixlen),     M(pc_lpm_key, slot),
		M(pc_lpm_key, addr),	      M(pc_set_val, set_id),
		M(pc_policy_key, slot),	      M(pc_policy_key, src_set),
		M(pc_policy_key, dst_set),    M(pc_policy_key, proto),
		M(pc_policy_key, port),	      M(pc_policy_val, rule_id),
		M(pc_policy_val, action),     M(pc_policy_val, flags),
		M(pc_config, generation),     M(pc_config, flags),
		M(pc_config, deny_events),    M(pc_ev_budget, used),
		M(pc_ct_key, lo_addr),	      M(pc_ct_key, hi_addr),
		M(pc_ct_key, lo_port),	      M(pc_ct_key, hi_port),
		M(pc_ct_key, proto),	      M(pc_ct_val, last_seen_ns),
		M(pc_ct_val, packets),	      M(pc_ct_val, bytes),
		M(pc_ct_val, generation),     M(pc_ct_val, rule_id),
		M(pc_ct_val, policy_port),    M(pc_ct_val, orig_is_lo),
		M(pc_ct_val, state),	      M(pc_ct_val, action),
		M(pc_ct_val, flags),	      M(pc_rate_val, period16),
		M(pc_rate_val, units),	      M(pc_rate_val, tau16),
		M(pc_rate_val, bytes),	      M(pc_bucket_key, generation),
		M(pc_bucket_key, rule_id),    M(pc_bucket_key, src_set),
		M(pc_bucket, tat16),	      M(pc_frag_key, id),
		M(pc_frag_val, pass),	      M(pc_counter, bytes),
		M(pc_ct_val, wg_id),	      M(pc_frag_val, wg_id),
		M(pc_wg_peer_key, prefixlen), M(pc_wg_peer_key, slot),
		M(pc_wg_peer_key, wg_id),     M(pc_wg_peer_key, addr),
		M(pc_wg_iface_val, wg_id),    M(pc_ct_val, nat),
		M(pc_ct_val, nat_addr),	      M(pc_ct_val, nat_port),
		M(pc_ct_val, lb_any_port),    M(pc_frag_val, nat),
		M(pc_frag_val, nat_addr),     M(pc_lb_vip_key, port),
		M(pc_lb_vip_key, proto),      M(pc_lb_vip_key, slot),
		M(pc_lb_vip_val, table),      M(pc_lb_table, nactive),
		M(pc_lb_table, rr),	      M(pc_lb_table, backends),
		M(pc_lb_table, active),	      M(pc_lb_table, ring),
		M(pc_lb_backend, port),	      M(pc_lb_backend, weight),
		M(pc_lb_conn_key, port),      M(pc_ct_val, service),
		M(pc_set_counter, packets),   M(pc_set_counter, bytes),
		M(pc_policy_val, service),
	};
	struct btf *btf = btf__parse_elf(BPF_OBJ_PATH, NULL);

	cr_assert_not_null(btf, "parse BTF of %s", BPF_OBJ_PATH);
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		const struct member_off *m = &members[i];
		int id = btf__find_by_name_kind(btf, m->type, BTF_KIND_STRUCT);
		const struct btf_type *t;
		const struct btf_member *bm;
		int found = 0;

		cr_assert_gt(id, 0, "struct %s in BTF", m->type);
		t = btf__type_by_id(btf, (__u32)id);
		cr_assert_eq(t->size, m->size, "sizeof(struct %s)", m->type);
		bm = btf_members(t);
		for (int j = 0; j < btf_vlen(t); j++, bm++) {
			if (strcmp(btf__name_by_offset(btf, bm->name_off),
				   m->member))
				continue;
			found = 1;
			cr_assert_eq(btf_member_bit_offset(t, (__u32)j) / 8,
				     m->off, "%s.%s", m->type, m->member);
		}
		cr_assert(found, "%s.%s in BTF", m->type, m->member);
	}
	btf__free(btf);
}

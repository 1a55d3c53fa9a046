// SPDX-License-Identifier: GPL-2.0
/*
 * TC (clsact) entry point for L3 devices such as WireGuard: the packet
 * starts at the IP header and skb->protocol says which one.
 */
#include <linux/pkt_cls.h>

#include "lib/gate.h"

/* Set before load: 1 when attached to an Ethernet device instead. */
const volatile __u32 tc_ethernet = 0;

/* The decision, as a function of its own (as in XDP: its stack and the
 * rewrite's need not fit in one frame). */
__attribute__((noinline)) int pc_tc_decide(struct __sk_buff *skb,
					   struct pc_pkt *p, int parse_rc,
					   struct pc_out *out)
{
	__u32 ifindex = skb->ifindex;
	struct pc_wg_iface_val *wg = bpf_map_lookup_elem(&wg_ifaces, &ifindex);
	__u32 wg_id = wg ? wg->wg_id : 0;

	if (!p || !out)
		return PC_R_DENY_MALFORMED;
	return pc_decide(p, parse_rc, skb->ifindex, skb->len, (__u8)wg_id, out);
}

/* Parsing, a function of its own too: its stack is not the entry's.
 * (Static: verified at its call, where it may read the packet.) */
static __attribute__((noinline)) int pc_tc_parse(struct __sk_buff *skb,
						 struct pc_pkt *p)
{
	struct pc_cursor cur = {.pos = (void *)(long)skb->data,
				.end = (void *)(long)skb->data_end};

	return tc_ethernet ? pc_parse_eth(&cur, p)
			   : pc_parse_l3(&cur, skb->protocol, p);
}

SEC("tc")
int tc_gate(struct __sk_buff *skb)
{
	struct pc_pkt pkt = {};
	struct pc_out out = {};
	__u32 len = skb->len;
	int reason;

	reason = pc_tc_decide(skb, &pkt, pc_tc_parse(skb, &pkt), &out);
	/* a balanced flow: a WireGuard client's to its backend, or a
	 * backend's (behind WireGuard) back to its client */
	if (reason < PC_R_FIRST_DROP && out.nat.op &&
	    pc_nat_tc(skb, &pkt, &out.nat))
		reason = PC_R_DENY_NAT;
	pc_count_reason(reason, len);
	pc_count_decided(&out.ev, reason, pkt.len);
	return reason < PC_R_FIRST_DROP ? TC_ACT_OK : TC_ACT_SHOT;
}

char _license[] SEC("license") = "GPL";

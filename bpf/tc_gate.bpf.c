// SPDX-License-Identifier: GPL-2.0
/*
 * TC (clsact) entry point for L3 devices such as WireGuard: the packet
 * starts at the IP header and skb->protocol says which one.
 */
#include <linux/pkt_cls.h>

#include "lib/gate.h"

/* Set before load: 1 when attached to an Ethernet device instead. */
const volatile __u32 tc_ethernet = 0;

SEC("tc")
int tc_gate(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct pc_cursor cur = {.pos = data, .end = data_end};
	struct pc_pkt pkt = {};
	__u32 len = skb->len, ifindex = skb->ifindex;
	struct pc_wg_iface_val *wg = bpf_map_lookup_elem(&wg_ifaces, &ifindex);
	int reason;

	reason = pc_decide(&pkt,
			   tc_ethernet ? pc_parse_eth(&cur, &pkt)
				       : pc_parse_l3(&cur, skb->protocol, &pkt),
			   ifindex, len, wg ? wg->wg_id : 0, NULL);
	pc_count_reason(reason, len);
	return reason < PC_R_FIRST_DROP ? TC_ACT_OK : TC_ACT_SHOT;
}

char _license[] SEC("license") = "GPL";

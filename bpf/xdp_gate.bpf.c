// SPDX-License-Identifier: GPL-2.0
/* XDP entry point: decide every frame arriving on a gateway interface. */
#include "lib/gate.h"

SEC("xdp")
int xdp_gate(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct pc_cursor cur = {.pos = data, .end = data_end};
	struct pc_pkt pkt = {};
	__u32 len = data_end - data;
	int reason;

	reason = pc_decide(&pkt, pc_parse_eth(&cur, &pkt), ctx->ingress_ifindex,
			   len, 0);
	pc_count_reason(reason, len);
	return reason < PC_R_FIRST_DROP ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";

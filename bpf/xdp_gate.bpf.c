// SPDX-License-Identifier: GPL-2.0
/*
 * XDP entry point: decide every frame arriving on a gateway interface,
 * and forward what passes when the gateway forwards in XDP.
 */
#include "lib/gate.h"
#include "lib/forward.h"

/* The decision, as a function of its own: its stack and forwarding's
 * need not fit in one frame.  (A global function: verified once.) */
__attribute__((noinline)) int pc_xdp_decide(struct pc_pkt *p, int parse_rc,
					    __u32 ifindex, __u32 frame_len,
					    struct pc_out *out)
{
	if (!p || !out)
		return PC_R_DENY_MALFORMED;
	return pc_decide(p, parse_rc, ifindex, frame_len, 0, out);
}

/* Frames that pass and may be forwarded: IP that the gate let through. */
static __always_inline int pc_forwardable(int reason)
{
	return reason < PC_R_FIRST_DROP && reason != PC_R_PASS_ARP &&
	       reason != PC_R_PASS_ND && reason != PC_R_PASS_NONIP;
}

/* Parsing, a function of its own too: its stack is not the entry's.
 * (Static: verified at its call, where it may read the packet.) */
static __attribute__((noinline)) int pc_xdp_parse(struct xdp_md *ctx,
						  struct pc_pkt *p)
{
	struct pc_cursor cur = {.pos = (void *)(long)ctx->data,
				.end = (void *)(long)ctx->data_end};

	return pc_parse_eth(&cur, p);
}

SEC("xdp")
int xdp_gate(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct pc_pkt pkt = {};
	struct pc_out out = {};
	__u32 len = data_end - data, fwd = 0;
	struct pc_config *cfg;
	int reason, act;

	reason = pc_xdp_decide(&pkt, pc_xdp_parse(ctx, &pkt),
			       ctx->ingress_ifindex, len, &out);
	/* a balanced flow: to its backend, or back from it */
	if (reason < PC_R_FIRST_DROP && out.nat.op &&
	    pc_nat_xdp(ctx, &pkt, &out.nat))
		reason = PC_R_DENY_NAT;
	pc_count_reason(reason, len);
	pc_count_decided(&out.ev, reason, pkt.len);
	if (reason >= PC_R_FIRST_DROP)
		return XDP_DROP;
	cfg = pc_config_get();
	if (!cfg || !(cfg->flags & PC_CFG_FORWARD) || !pc_forwardable(reason))
		return XDP_PASS;
	act = pc_forward(ctx, &pkt, &fwd);
	pc_count_fwd(fwd, len);
	return act;
}

char _license[] SEC("license") = "GPL";

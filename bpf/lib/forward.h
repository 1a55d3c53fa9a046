/* SPDX-License-Identifier: GPL-2.0 */
/*
 * XDP forwarding of frames the gate let through: a FIB lookup for the
 * next hop and its MAC, the TTL (hop limit) decremented, and a redirect
 * through tx_ports to another of the gateway's interfaces.  Whatever the
 * fast path cannot do goes up to the kernel stack untouched, counted in
 * fwd_stats by why.
 */
#ifndef PC_BPF_FORWARD_H
#define PC_BPF_FORWARD_H

#include "maps.h"
#include "parse.h"
#include "events.h"

/* The interfaces XDP forwards to: ifindex -> ifindex (the gateway's
 * XDP-attached interfaces, kept by the daemon).  Only the XDP object has
 * it: the kernel marks a devmap read-only to programs after creating it,
 * so a second object could not reuse the pin. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, PC_MAX_IFACES);
	__type(key, __u32);
	__type(value, __u32);
} tx_ports SEC(".maps");

/* The MAC of each interface in tx_ports: only frames sent to us are ours
 * to forward (a promiscuous port sees other hosts' too). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PC_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct pc_if_mac);
} if_macs SEC(".maps");

/* Packets and bytes per forwarding result (PC_FWD_*). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PC_FWD_SLOTS);
	__type(key, __u32);
	__type(value, struct pc_counter);
} fwd_stats SEC(".maps");

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

static __always_inline void pc_count_fwd(__u32 result, __u32 len)
{
	pc_counter_add(&fwd_stats, result, len);
}

static __always_inline int pc_fib_result(long rc)
{
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		return 0;
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		return PC_FWD_NO_NEIGH;
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
		return PC_FWD_FRAG_NEEDED;
	case BPF_FIB_LKUP_RET_NOT_FWDED:
		return PC_FWD_LOCAL;
	case BPF_FIB_LKUP_RET_BLACKHOLE:
	case BPF_FIB_LKUP_RET_UNREACHABLE:
	case BPF_FIB_LKUP_RET_PROHIBIT:
		return PC_FWD_UNREACHABLE; /* the kernel answers with ICMP */
	case BPF_FIB_LKUP_RET_FWD_DISABLED:
		return PC_FWD_DISABLED;
	default:
		return PC_FWD_UNSUPPORTED;
	}
}

/* RFC 1624: the checksum after the TTL byte (high half of its word)
 * went down by one. */
static __always_inline void pc_ipv4_ttl_dec(struct iphdr *ip)
{
	__u32 sum = ip->check;

	sum += bpf_htons(0x0100);
	ip->check = (__sum16)(sum + (sum >= 0xffff));
	ip->ttl--;
}

/*
 * Forward the frame p was parsed from, or leave it to the kernel.  Returns
 * the XDP action and sets *result to the PC_FWD_* it counts as.  A global
 * function, verified once.
 */
__attribute__((noinline)) int pc_forward(struct xdp_md *ctx,
					 const struct pc_pkt *p, __u32 *result)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct bpf_fib_lookup f = {};
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6;
	struct iphdr *ip;
	long rc;

	if (!p || !result)
		return XDP_PASS;
	/* tags would need the egress VLAN; the kernel knows it */
	if (p->vlans || (void *)(eth + 1) > end) {
		*result = PC_FWD_UNSUPPORTED;
		return XDP_PASS;
	}
	/* multicast and broadcast are the kernel's; so is a frame for
	 * another host, which the kernel would drop */
	if (eth->h_dest[0] & 1) {
		*result = PC_FWD_NOT_UNICAST;
		return XDP_PASS;
	}
	{
		__u32 in = ctx->ingress_ifindex;
		struct pc_if_mac *mine = bpf_map_lookup_elem(&if_macs, &in);

		if (!mine || mine->mac[0] != eth->h_dest[0] ||
		    mine->mac[1] != eth->h_dest[1] ||
		    mine->mac[2] != eth->h_dest[2] ||
		    mine->mac[3] != eth->h_dest[3] ||
		    mine->mac[4] != eth->h_dest[4] ||
		    mine->mac[5] != eth->h_dest[5]) {
			*result = PC_FWD_OTHER_HOST;
			return XDP_PASS;
		}
	}
	if (!p->ipv6) {
		ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > end) {
			*result = PC_FWD_UNSUPPORTED;
			return XDP_PASS;
		}
		if ((bpf_ntohl(ip->daddr) >> 28) == 0xe ||
		    ip->daddr == 0xffffffff) {
			*result = PC_FWD_NOT_UNICAST;
			return XDP_PASS;
		}
		if (ip->ttl <= 1) {
			*result =
				PC_FWD_TTL; /* the kernel sends time exceeded */
			return XDP_PASS;
		}
		f.family = AF_INET;
		f.tos = ip->tos;
		f.tot_len = bpf_ntohs(ip->tot_len);
		f.ipv4_src = ip->saddr;
		f.ipv4_dst = ip->daddr;
	} else {
		ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > end) {
			*result = PC_FWD_UNSUPPORTED;
			return XDP_PASS;
		}
		if (ip6->daddr.in6_u.u6_addr8[0] == 0xff) {
			*result = PC_FWD_NOT_UNICAST;
			return XDP_PASS;
		}
		if (ip6->hop_limit <= 1) {
			*result = PC_FWD_TTL;
			return XDP_PASS;
		}
		f.family = AF_INET6;
		f.flowinfo = *(__be32 *)ip6 & bpf_htonl(0x0fffffff);
		f.tot_len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
		__builtin_memcpy(f.ipv6_src, &ip6->saddr, 16);
		__builtin_memcpy(f.ipv6_dst, &ip6->daddr, 16);
	}
	f.l4_protocol = p->proto;
	if (p->l4_off && (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP)) {
		f.sport = bpf_htons(p->sport); /* for multipath hashing */
		f.dport = bpf_htons(p->dport);
	}
	f.ifindex = ctx->ingress_ifindex;

	rc = bpf_fib_lookup(ctx, &f, sizeof(f), 0);
	if ((*result = pc_fib_result(rc)))
		return XDP_PASS;
	if (!bpf_map_lookup_elem(&tx_ports, &f.ifindex)) {
		*result = PC_FWD_NOT_ATTACHED;
		return XDP_PASS;
	}
	/* the bounds were checked above, but the verifier wants them again
	 * on this path */
	if (!p->ipv6) {
		ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > end)
			return XDP_PASS;
		pc_ipv4_ttl_dec(ip);
	} else {
		ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > end)
			return XDP_PASS;
		ip6->hop_limit--;
	}
	__builtin_memcpy(eth->h_dest, f.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, f.smac, ETH_ALEN);
	*result = PC_FWD_FORWARDED;
	return bpf_redirect_map(&tx_ports, f.ifindex, 0);
}

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Load balancing: which backend a new flow to a virtual address goes to,
 * and the NAT that takes it there and back.  The flow's conntrack entry
 * (keyed by the client and the virtual address) remembers the backend
 * (PC_NAT_DNAT); a second entry keyed by the client and the backend
 * (PC_NAT_REV) leads the backend's replies back to it.
 */
#ifndef PC_BPF_LB_H
#define PC_BPF_LB_H

#include "maps.h"
#include "parse.h"
#include "portcullis/lbhash.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PC_LB_MAX_VIPS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pc_lb_vip_key);
	__type(value, struct pc_lb_vip_val);
} lb_vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * PC_LB_MAX_SERVICES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct pc_lb_table);
} lb_tables SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PC_LB_CONNS);
	__type(key, struct pc_lb_conn_key);
	__type(value, __u64);
} lb_conns SEC(".maps");

/* What the caller must do to the packet once the verdict passes. */
struct pc_nat_out {
	__u8 op; /* PC_NAT_DNAT: rewrite the destination; PC_NAT_REV:
		    the source */
	__u8 pad;
	__u16 port; /* host order; 0: leave the port */
	__u8 addr[16];
};

static __always_inline void pc_lb_conn_key_of(const struct pc_ct_val *ct,
					      struct pc_lb_conn_key *k)
{
	__builtin_memcpy(k->addr, ct->nat_addr, 16);
	k->port = ct->lb_any_port ? 0 : ct->nat_port;
}

/* A backend gained (+1) or lost (-1) a flow. */
static __always_inline void pc_lb_conn_add(const struct pc_ct_val *ct, int d)
{
	struct pc_lb_conn_key k = {};
	__u64 one = 1, *c;

	pc_lb_conn_key_of(ct, &k);
	c = bpf_map_lookup_elem(&lb_conns, &k);
	if (c) {
		if (d > 0)
			__sync_fetch_and_add(c, 1);
		else if (*c)
			__sync_fetch_and_add(c, (__u64)-1);
	} else if (d > 0) {
		bpf_map_update_elem(&lb_conns, &k, &one, BPF_NOEXIST);
	}
}

/* The active backend with the fewest flows per unit of weight. */
static __always_inline __u32 pc_lb_least(struct pc_lb_table *t, __u32 n)
{
	__u32 best = t->active[0] & (PC_LB_MAX_BACKENDS - 1);
	__u64 best_c = 0, best_w = 1;

	for (__u32 i = 0; i < PC_LB_MAX_BACKENDS; i++) {
		struct pc_lb_conn_key k = {};
		struct pc_lb_backend *b;
		__u32 idx;
		__u64 *c, cnt, w;

		if (i >= n)
			break;
		idx = t->active[i] & (PC_LB_MAX_BACKENDS - 1);
		b = &t->backends[idx];
		__builtin_memcpy(k.addr, b->addr, 16);
		k.port = b->port;
		c = bpf_map_lookup_elem(&lb_conns, &k);
		cnt = c ? *c : 0;
		w = b->weight ? b->weight : 1;
		if (i == 0 || cnt * best_w < best_c * w) {
			best = idx;
			best_c = cnt;
			best_w = w;
		}
	}
	return best;
}

/*
 * The backend (index into t->backends) a new flow goes to; t->nactive is
 * not 0.
 */
static __always_inline int pc_lb_pick(const struct pc_pkt *p,
				      struct pc_lb_table *t)
{
	__u32 h, i, n;

	if (!p || !t)
		return 0;
	n = t->nactive;
	if (!n)
		return 0;
	if (n > PC_LB_MAX_BACKENDS)
		n = PC_LB_MAX_BACKENDS;

	switch (t->strategy) {
	case PC_LB_ROUND_ROBIN:
		i = __sync_fetch_and_add(&t->rr, 1) % n;
		asm volatile("" : "+r"(i)); /* keep the mask for the verifier */
		return t->active[i & (PC_LB_MAX_BACKENDS - 1)];
	case PC_LB_LATENCY: /* the daemon keeps the fastest first */
		return t->active[0];
	case PC_LB_LEAST_CONN:
		return pc_lb_least(t, n);
	case PC_LB_WEIGHTED:
		h = bpf_get_prandom_u32();
		break;
	case PC_LB_SOURCE_HASH:
		h = pc_lb_source_hash(p->saddr);
		break;
	default:
		h = pc_lb_flow_hash(p->saddr, p->sport, p->daddr, p->dport,
				    p->proto);
	}
	i = h % PC_LB_RING;
	/* the compiler knows i < PC_LB_RING, the verifier must be told */
	asm volatile("" : "+r"(i));
	if (i >= PC_LB_RING)
		i = 0;
	return t->ring[i] & (PC_LB_MAX_BACKENDS - 1);
}

#define PC_NAT_MAX_OFF 512 /* headers deeper than this are not rewritten */

/*
 * A new flow that the policy let through: if its destination is a
 * virtual address of the live slot, pick its backend into ct.  Returns 0
 * (steered, or nothing to steer) or a drop reason.
 */
static __always_inline int pc_lb_steer(const struct pc_pkt *p, __u64 gen,
				       struct pc_ct_val *ct)
{
	struct pc_lb_vip_key vk = {.proto = p->proto, .slot = gen & 1};
	struct pc_lb_vip_val *v;
	struct pc_lb_table *t;
	struct pc_lb_backend *b;

	if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP)
		return 0;
	__builtin_memcpy(vk.addr, p->daddr, 16);
	vk.port = p->dport;
	v = bpf_map_lookup_elem(&lb_vips, &vk);
	if (!v) {
		vk.port = 0; /* every port of the protocol */
		v = bpf_map_lookup_elem(&lb_vips, &vk);
		if (!v)
			return 0;
	}
	/* headers the rewrite cannot reach: refused before the flow is
	 * entered or counted anywhere */
	if (p->l3_off > PC_NAT_MAX_OFF || p->l4_off > PC_NAT_MAX_OFF)
		return PC_R_DENY_NAT;
	t = bpf_map_lookup_elem(&lb_tables, &v->table);
	if (!t)
		return PC_R_DENY_NO_BACKEND;
	if (!t->nactive)
		return PC_R_DENY_NO_BACKEND;
	b = &t->backends[pc_lb_pick(p, t) & (PC_LB_MAX_BACKENDS - 1)];
	ct->nat = PC_NAT_DNAT;
	__builtin_memcpy(ct->nat_addr, b->addr, 16);
	ct->nat_port = b->port ? b->port : p->dport;
	ct->lb_any_port = !b->port;
	return 0;
}

/* ---- rewriting (XDP: direct packet access) ---------------------------- */

/* RFC 1624: a 16-bit checksum after 32 (or 16) bits went from old to new */
static __always_inline __u16 pc_csum_fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

static __always_inline void pc_csum_replace4(__u16 *sum, __u32 old, __u32 new)
{
	__u32 s = (__u16) ~*sum;

	s += (~old & 0xffff) + (~old >> 16);
	s += (new & 0xffff) + (new >> 16);
	*sum = (__u16)~pc_csum_fold(s);
}

static __always_inline void pc_csum_replace2(__u16 *sum, __u16 old, __u16 new)
{
	__u32 s = (__u16) ~*sum;

	s += (__u16)~old;
	s += new;
	*sum = (__u16)~pc_csum_fold(s);
}

/* The L4 checksum and port the rewrite touches, or -1. */
static __always_inline int pc_nat_l4(void *data, void *end,
				     const struct pc_pkt *p,
				     const struct pc_nat_out *n, __u16 **csum,
				     __u16 **port)
{
	__u32 off = p->l4_off;

	*csum = NULL;
	*port = NULL;
	if (!off)
		return 0; /* a later fragment: no L4 header */
	if (off > PC_NAT_MAX_OFF)
		return -1;
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = data + off;

		if ((void *)(th + 1) > end)
			return -1;
		*csum = (__u16 *)&th->check;
		*port = n->op == PC_NAT_DNAT ? &th->dest : &th->source;
	} else if (p->proto == IPPROTO_UDP) {
		struct udphdr *uh = data + off;

		if ((void *)(uh + 1) > end)
			return -1;
		/* IPv4 UDP without a checksum keeps none */
		if (uh->check || p->ipv6)
			*csum = (__u16 *)&uh->check;
		*port = n->op == PC_NAT_DNAT ? &uh->dest : &uh->source;
	}
	return 0;
}

/*
 * Rewrite the frame p was parsed from: its destination (DNAT) or source
 * (REV) address, and port when n->port, with the IPv4 header checksum
 * and the TCP/UDP checksum (its pseudo-header holds both) updated.
 * 0, or -1 when the headers are out of reach.  A global function: the
 * verifier checks it once, apart from the paths of the decision.
 */
__attribute__((noinline)) int pc_nat_xdp(struct xdp_md *ctx,
					 const struct pc_pkt *p,
					 const struct pc_nat_out *n)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 l3;
	__u16 *csum, *port;
	int udp;

	if (!p || !n)
		return -1;
	l3 = p->l3_off;
	udp = p->proto == IPPROTO_UDP;
	if (l3 > PC_NAT_MAX_OFF || pc_nat_l4(data, end, p, n, &csum, &port))
		return -1;
	if (!p->ipv6) {
		struct iphdr *ip = data + l3;
		__u32 old, new;

		if ((void *)(ip + 1) > end)
			return -1;
		__builtin_memcpy(&new, n->addr + 12, 4);
		if (n->op == PC_NAT_DNAT) {
			old = ip->daddr;
			ip->daddr = new;
		} else {
			old = ip->saddr;
			ip->saddr = new;
		}
		pc_csum_replace4((__u16 *)&ip->check, old, new);
		if (csum)
			pc_csum_replace4(csum, old, new);
	} else {
		struct ipv6hdr *ip6 = data + l3;
		__u32 *a;

		if ((void *)(ip6 + 1) > end)
			return -1;
		a = n->op == PC_NAT_DNAT ? ip6->daddr.in6_u.u6_addr32
					 : ip6->saddr.in6_u.u6_addr32;
#pragma unroll
		for (int i = 0; i < 4; i++) {
			__u32 new;

			__builtin_memcpy(&new, n->addr + 4 * i, 4);
			if (csum)
				pc_csum_replace4(csum, a[i], new);
			a[i] = new;
		}
	}
	if (port && n->port) {
		__u16 new = bpf_htons(n->port);

		if (csum)
			pc_csum_replace2(csum, *port, new);
		*port = new;
	}
	/* a UDP checksum that comes out 0 is sent as all ones (0 is none) */
	if (csum && udp && !*csum)
		*csum = 0xffff;
	return 0;
}

/* ---- rewriting (TC: through the skb helpers) -------------------------- */

/*
 * The same rewrite for TC, where the skb may carry a checksum the device
 * is to finish (CHECKSUM_PARTIAL, as from a TUN device with offloads) or
 * one over the whole packet (CHECKSUM_COMPLETE): bpf_l4_csum_replace with
 * BPF_F_PSEUDO_HDR updates whichever it is, which a direct write could
 * not (and the IPv6 address, which no header checksum balances, goes in
 * with BPF_F_RECOMPUTE_CSUM).  0, or -1 when a helper fails.
 */
__attribute__((noinline)) int pc_nat_tc(struct __sk_buff *skb,
					const struct pc_pkt *p,
					const struct pc_nat_out *n)
{
	__u32 l3, l4, csum_off = 0, port_off = 0, addr_off, flags = 0;
	__u16 port;
	const __u8 *old;
	int dnat, ret = 0;

	if (!p || !n)
		return -1;
	dnat = n->op == PC_NAT_DNAT;
	l3 = p->l3_off;
	l4 = p->l4_off;
	old = dnat ? p->daddr : p->saddr;
	if (l4 && p->proto == IPPROTO_TCP) {
		csum_off = l4 + offsetof(struct tcphdr, check);
	} else if (l4 && p->proto == IPPROTO_UDP) {
		csum_off = l4 + offsetof(struct udphdr, check);
		/* IPv4 UDP without a checksum keeps none; a sum that comes
		 * out 0 is sent as all ones */
		flags = BPF_F_MARK_MANGLED_0;
	}
	if (csum_off)
		port_off = l4 + (dnat ? 2 : 0);
	if (!p->ipv6) {
		__u32 o, w;

		__builtin_memcpy(&o, old + 12, 4);
		__builtin_memcpy(&w, n->addr + 12, 4);
		addr_off = l3 + (dnat ? offsetof(struct iphdr, daddr)
				      : offsetof(struct iphdr, saddr));
		if (csum_off)
			ret |= bpf_l4_csum_replace(skb, csum_off, o, w,
						   flags | BPF_F_PSEUDO_HDR |
							   4);
		ret |= bpf_l3_csum_replace(
			skb, l3 + offsetof(struct iphdr, check), o, w, 4);
		ret |= bpf_skb_store_bytes(skb, addr_off, &w, 4, 0);
	} else {
		addr_off = l3 + (dnat ? offsetof(struct ipv6hdr, daddr)
				      : offsetof(struct ipv6hdr, saddr));
		if (csum_off) {
#pragma unroll
			for (int i = 0; i < 4; i++) {
				__u32 o, w;

				__builtin_memcpy(&o, old + 4 * i, 4);
				__builtin_memcpy(&w, n->addr + 4 * i, 4);
				ret |= bpf_l4_csum_replace(
					skb, csum_off, o, w,
					flags | BPF_F_PSEUDO_HDR | 4);
			}
		}
		/* no header checksum makes up for the address here: a
		 * CHECKSUM_COMPLETE sum must take the new bytes in */
		ret |= bpf_skb_store_bytes(skb, addr_off, n->addr, 16,
					   BPF_F_RECOMPUTE_CSUM);
	}
	if (port_off && n->port) {
		__u16 o = bpf_htons(dnat ? p->dport : p->sport);

		port = bpf_htons(n->port);
		ret |= bpf_l4_csum_replace(skb, csum_off, o, port, flags | 2);
		ret |= bpf_skb_store_bytes(skb, port_off, &port, 2, 0);
	}
	return ret ? -1 : 0;
}

#endif

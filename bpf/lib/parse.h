/* SPDX-License-Identifier: GPL-2.0 */
/* Packet parsing: Ethernet/VLAN, IPv4, IPv6 extension chains, L4. */
#ifndef PC_BPF_PARSE_H
#define PC_BPF_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/icmpv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "portcullis/reasons.h"

#define PC_MAX_VLAN 2
#define PC_MAX_EXTHDR 6

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

/* What the parser learned; addresses in IPv6 form (IPv4 mapped). */
struct pc_pkt {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;	   /* host order; ICMP echo: identifier */
	__u16 dport;	   /* host order; ICMP echo: identifier */
	__u16 policy_port; /* port the policy is asked about */
	__u8 proto;
	__u8 tcp_flags;
	__u32 frag_id;
	__u8 frag;	/* PC_FRAG_* */
	__u8 icmp_echo; /* 1 request, 2 reply, 0 other */
	__u8 ipv6;
	__u8 vlans; /* VLAN tags in front of the IP header */
	__u32 len;
	__u16 l3_off; /* IP header and L4 header (ports), from the frame's */
	__u16 l4_off; /* start; l4_off is 0 for a later fragment */
	/* UDP: the payload's length by its header, and its first four bytes
	 * (as they lie in memory; all ones when the frame holds fewer) */
	__u32 udp_plen;
	__u32 udp_head;
};

#define PC_FRAG_NONE 0
#define PC_FRAG_FIRST 1
#define PC_FRAG_LATER 2

/* Parser results besides PC_PARSE_IP: a pass-through class, or a drop. */
#define PC_PARSE_IP 0
#define PC_PARSE_ARP 1
#define PC_PARSE_NONIP 2
#define PC_PARSE_ND 3
#define PC_PARSE_BAD (-1)

#define PC_TCP_FIN 0x01
#define PC_TCP_SYN 0x02
#define PC_TCP_RST 0x04
#define PC_TCP_ACK 0x10

/* linux/icmp.h drags in libc headers; the two fields we read suffice. */
struct pc_icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 id;
	__be16 sequence;
};

#define PC_ICMP_ECHOREPLY 0
#define PC_ICMP_ECHO 8

struct pc_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};

struct pc_cursor {
	void *pos;
	void *end;
	__u32 off; /* of pos, from the start of the frame */
};

/* Did the headers read so far stay inside the IP packet?  The frame may
 * be longer (Ethernet padding, a lying length): what lies past the IP
 * length is not the packet's, and a header read from there would decide
 * a packet on bytes the receiver never sees. */
#define PC_IN_IP(cur, p) ((cur)->off <= (__u32)(p)->l3_off + (p)->len)

/* Return a pointer to the next len bytes and advance, or NULL. */
#define PC_PULL(cur, type)                              \
	({                                              \
		type *__p = (cur)->pos;                 \
		if ((void *)(__p + 1) > (cur)->end) {   \
			__p = NULL;                     \
		} else {                                \
			(cur)->pos = (void *)(__p + 1); \
			(cur)->off += sizeof(type);     \
		}                                       \
		__p;                                    \
	})

static __always_inline void pc_skip(struct pc_cursor *c, __u32 n)
{
	c->pos += n;
	c->off += n;
}

static __always_inline void pc_map_v4(__u8 *dst, __be32 addr)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &addr, 4);
}

static __always_inline int pc_parse_icmp(struct pc_cursor *c, struct pc_pkt *p)
{
	struct pc_icmphdr *ih = PC_PULL(c, struct pc_icmphdr);

	if (!ih)
		return PC_PARSE_BAD;
	if (!PC_IN_IP(c, p))
		return PC_PARSE_BAD;
	p->policy_port = ((__u16)ih->type << 8) | ih->code;
	if (ih->type == PC_ICMP_ECHO || ih->type == PC_ICMP_ECHOREPLY) {
		p->icmp_echo = ih->type == PC_ICMP_ECHO ? 1 : 2;
		p->sport = p->dport = bpf_ntohs(ih->id);
		/* a reply is asked about as the request it answers */
		p->policy_port = (__u16)PC_ICMP_ECHO << 8;
	}
	return PC_PARSE_IP;
}

static __always_inline int pc_parse_icmp6(struct pc_cursor *c, struct pc_pkt *p)
{
	struct icmp6hdr *ih = PC_PULL(c, struct icmp6hdr);

	if (!ih || !PC_IN_IP(c, p))
		return PC_PARSE_BAD;
	p->policy_port = ((__u16)ih->icmp6_type << 8) | ih->icmp6_code;
	/* multicast listener (130-132, 143) and neighbour discovery
	 * (133-137): the link keeps working whatever the policy says */
	if ((ih->icmp6_type >= 130 && ih->icmp6_type <= 137) ||
	    ih->icmp6_type == 143)
		return PC_PARSE_ND;
	if (ih->icmp6_type == ICMPV6_ECHO_REQUEST ||
	    ih->icmp6_type == ICMPV6_ECHO_REPLY) {
		p->icmp_echo = ih->icmp6_type == ICMPV6_ECHO_REQUEST ? 1 : 2;
		p->sport = p->dport =
			bpf_ntohs(ih->icmp6_dataun.u_echo.identifier);
		p->policy_port = (__u16)ICMPV6_ECHO_REQUEST << 8;
	}
	return PC_PARSE_IP;
}

/*
 * Parse the L4 header at the cursor; later fragments carry none.  Every
 * header must lie inside the IP packet (TCP: with its options; SCTP: its
 * whole common header), and a UDP datagram that is not a fragment must
 * fit its packet.  ICMP is ICMP only in IPv4 and ICMPv6 only in IPv6:
 * anywhere else they are protocol numbers like any other (an IPv4 packet
 * of protocol 58 is no neighbour discovery).
 */
static __always_inline int pc_parse_l4(struct pc_cursor *c, struct pc_pkt *p)
{
	if (p->frag == PC_FRAG_LATER)
		return PC_PARSE_IP;

	p->l4_off = c->off;
	switch (p->proto) {
	case IPPROTO_TCP: {
		struct tcphdr *th = PC_PULL(c, struct tcphdr);

		if (!th || th->doff < 5)
			return PC_PARSE_BAD;
		/* the header with its options, inside the packet */
		if (p->l4_off + (__u32)th->doff * 4 > (__u32)p->l3_off + p->len)
			return PC_PARSE_BAD;
		p->sport = bpf_ntohs(th->source);
		p->dport = bpf_ntohs(th->dest);
		p->policy_port = p->dport;
		p->tcp_flags = ((__u8 *)th)[13];
		return PC_PARSE_IP;
	}
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_SCTP: { /* all three start with the two ports */
		struct udphdr *uh = PC_PULL(c, struct udphdr);

		if (!uh || !PC_IN_IP(c, p))
			return PC_PARSE_BAD;
		p->sport = bpf_ntohs(uh->source);
		p->dport = bpf_ntohs(uh->dest);
		p->policy_port = p->dport;
		if (p->proto == IPPROTO_SCTP) {
			/* and the verification tag */
			if (!PC_PULL(c, __u32) || !PC_IN_IP(c, p))
				return PC_PARSE_BAD;
		} else if (p->proto == IPPROTO_UDP) {
			__u32 *head = PC_PULL(c, __u32);
			__u16 ulen = bpf_ntohs(uh->len);

			/* (a first fragment's length is the whole datagram's;
			 * a shorter one leaves padding, which receivers trim)
			 */
			if (p->frag == PC_FRAG_NONE &&
			    (ulen < 8 || p->l4_off + (__u32)ulen >
						 (__u32)p->l3_off + p->len))
				return PC_PARSE_BAD;
			p->udp_plen = ulen >= 8 ? ulen - 8u : 0;
			p->udp_head =
				head && PC_IN_IP(c, p) ? *head : 0xffffffffu;
		}
		return PC_PARSE_IP;
	}
	case IPPROTO_ICMP:
		if (p->ipv6)
			return PC_PARSE_IP;
		return pc_parse_icmp(c, p);
	case IPPROTO_ICMPV6:
		if (!p->ipv6)
			return PC_PARSE_IP;
		return pc_parse_icmp6(c, p);
	default:
		/* other protocols are decided by protocol number alone */
		return PC_PARSE_IP;
	}
}

static __always_inline int pc_parse_ipv4(struct pc_cursor *c, struct pc_pkt *p)
{
	struct iphdr *ip = c->pos;
	__u32 hlen, tot;
	__u16 frag;

	if ((void *)(ip + 1) > c->end)
		return PC_PARSE_BAD;
	hlen = ip->ihl * 4;
	tot = bpf_ntohs(ip->tot_len);
	if (ip->version != 4 || hlen < sizeof(*ip) || tot < hlen)
		return PC_PARSE_BAD;
	if (c->pos + hlen > c->end || c->pos + tot > c->end)
		return PC_PARSE_BAD;
	p->len = tot;
	pc_skip(c, hlen);

	pc_map_v4(p->saddr, ip->saddr);
	pc_map_v4(p->daddr, ip->daddr);
	p->proto = ip->protocol;
	frag = bpf_ntohs(ip->frag_off);
	if (frag & 0x1fff)
		p->frag = PC_FRAG_LATER;
	else if (frag & 0x2000)
		p->frag = PC_FRAG_FIRST;
	p->frag_id = bpf_ntohs(ip->id);
	return pc_parse_l4(c, p);
}

/* Walk at most PC_MAX_EXTHDR extension headers; a longer chain is bad. */
static __always_inline int pc_v4_mapped(const struct in6_addr *a)
{
	return !a->s6_addr32[0] && !a->s6_addr32[1] &&
	       a->s6_addr32[2] == bpf_htonl(0xffff);
}

/*
 * IPv6 and its extension headers, each inside the packet.  Strict where
 * RFC 8200 is: hop-by-hop options only first, one fragment header.  A
 * routing header with segments left is refused: the packet's destination
 * is then not its final one, and the policy would be asked about a
 * waypoint (type 0 is deprecated; SRv6 has no business through here).
 */
static __always_inline int pc_parse_ipv6(struct pc_cursor *c, struct pc_pkt *p)
{
	struct ipv6hdr *ip6 = PC_PULL(c, struct ipv6hdr);
	int frags = 0;
	__u8 nh;
	int i;

	if (!ip6 || ip6->version != 6)
		return PC_PARSE_BAD;
	p->ipv6 = 1;
	if ((void *)(ip6 + 1) + bpf_ntohs(ip6->payload_len) > c->end)
		return PC_PARSE_BAD;
	/* IPv4 is ::ffff:a.b.c.d in every key: an IPv6 packet claiming such
	 * an address would land on IPv4 flows (the kernel drops it, but only
	 * after us) */
	if (pc_v4_mapped(&ip6->saddr) || pc_v4_mapped(&ip6->daddr))
		return PC_PARSE_BAD;
	__builtin_memcpy(p->saddr, &ip6->saddr, 16);
	__builtin_memcpy(p->daddr, &ip6->daddr, 16);
	p->len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	nh = ip6->nexthdr;

#pragma unroll
	for (i = 0; i < PC_MAX_EXTHDR; i++) {
		switch (nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS: {
			struct ipv6_opt_hdr *oh = c->pos;

			if ((void *)(oh + 1) > c->end)
				return PC_PARSE_BAD;
			if (nh == IPPROTO_HOPOPTS && i)
				return PC_PARSE_BAD;
			/* segments left: the routing header's fourth byte */
			if (nh == IPPROTO_ROUTING) {
				__u8 *rh = c->pos;

				if ((void *)(rh + 4) > c->end || rh[3])
					return PC_PARSE_BAD;
			}
			nh = oh->nexthdr;
			pc_skip(c, (oh->hdrlen + 1) * 8);
			if (c->pos > c->end || !PC_IN_IP(c, p))
				return PC_PARSE_BAD;
			break;
		}
		case IPPROTO_FRAGMENT: {
			struct pc_frag_hdr *fh = PC_PULL(c, struct pc_frag_hdr);

			if (!fh || !PC_IN_IP(c, p) || frags++)
				return PC_PARSE_BAD;
			nh = fh->nexthdr;
			p->frag_id = bpf_ntohl(fh->identification);
			if (bpf_ntohs(fh->frag_off) & 0xfff8)
				p->frag = PC_FRAG_LATER;
			else if (bpf_ntohs(fh->frag_off) & 1)
				p->frag = PC_FRAG_FIRST;
			if (p->frag == PC_FRAG_LATER) {
				p->proto = nh;
				return PC_PARSE_IP;
			}
			break;
		}
		case IPPROTO_AH: {
			struct ipv6_opt_hdr *ah = c->pos;

			if ((void *)(ah + 1) > c->end)
				return PC_PARSE_BAD;
			nh = ah->nexthdr;
			pc_skip(c, (ah->hdrlen + 2) * 4);
			if (c->pos > c->end || !PC_IN_IP(c, p))
				return PC_PARSE_BAD;
			break;
		}
		case IPPROTO_NONE:
			return PC_PARSE_BAD;
		default:
			p->proto = nh;
			return pc_parse_l4(c, p);
		}
	}
	/* chain longer than we are willing to walk: fail closed */
	return PC_PARSE_BAD;
}

static __always_inline int pc_parse_l3(struct pc_cursor *c, __u16 eth_proto,
				       struct pc_pkt *p)
{
	p->l3_off = c->off;
	if (eth_proto == bpf_htons(ETH_P_IP))
		return pc_parse_ipv4(c, p);
	if (eth_proto == bpf_htons(ETH_P_IPV6))
		return pc_parse_ipv6(c, p);
	if (eth_proto == bpf_htons(ETH_P_ARP))
		return PC_PARSE_ARP;
	return PC_PARSE_NONIP;
}

struct pc_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

/* Ethernet with up to PC_MAX_VLAN tags; a deeper stack is bad. */
static __always_inline int pc_parse_eth(struct pc_cursor *c, struct pc_pkt *p)
{
	struct ethhdr *eth = PC_PULL(c, struct ethhdr);
	__u16 proto;
	int i;

	if (!eth)
		return PC_PARSE_BAD;
	proto = eth->h_proto;
#pragma unroll
	for (i = 0; i < PC_MAX_VLAN; i++) {
		struct pc_vlan_hdr *vh;

		if (proto != bpf_htons(ETH_P_8021Q) &&
		    proto != bpf_htons(ETH_P_8021AD))
			break;
		vh = PC_PULL(c, struct pc_vlan_hdr);
		if (!vh)
			return PC_PARSE_BAD;
		proto = vh->proto;
		p->vlans++;
	}
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
		return PC_PARSE_BAD;
	return pc_parse_l3(c, proto, p);
}

#endif

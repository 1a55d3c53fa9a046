/* SPDX-License-Identifier: Apache-2.0 */
/* Crafting test packets: Ethernet, VLAN, IPv4/IPv6 (+ext), TCP/UDP/ICMP. */
#ifndef PC_TEST_PACKETS_H
#define PC_TEST_PACKETS_H

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PK_MAX 2048

struct pspec {
	int v6;
	const char *src, *dst;
	uint8_t proto;
	uint16_t sport, dport; /* ICMP: type in dport >> 8 ... see icmp_type */
	uint8_t tcp_flags;     /* default SYN for TCP */
	uint8_t icmp_type;
	uint16_t echo_id;
	int vlans;     /* 0..3 tags */
	int ihl;       /* 0: 5 */
	uint16_t frag; /* IPv4 frag_off field, host order */
	uint16_t ip_id;
	int ext[8];	 /* IPv6 extension header types, in order */
	int next;	 /* how many */
	uint16_t v6frag; /* fragment header offset|M when 44 in ext */
	uint32_t v6frag_id;
	uint16_t ethertype; /* non-IP frames */
	size_t payload;
	int l3_only;	  /* no Ethernet header (TC on L3 devices) */
	int totlen_extra; /* lie in tot_len / payload_len */
	uint8_t wg_type;  /* UDP payload starts as a WireGuard message */
};

static inline void put16(uint8_t *p, uint16_t v)
{
	v = htons(v);
	memcpy(p, &v, 2);
}

static inline size_t build_l4(const struct pspec *s, uint8_t *p)
{
	size_t n = 0;

	switch (s->proto) {
	case IPPROTO_TCP:
		put16(p, s->sport);
		put16(p + 2, s->dport);
		p[12] = 5 << 4;
		p[13] = s->tcp_flags ? s->tcp_flags : 0x02;
		n = 20;
		break;
	case IPPROTO_UDP:
		put16(p, s->sport);
		put16(p + 2, s->dport);
		put16(p + 4, (uint16_t)(8 + s->payload));
		n = 8;
		break;
	case IPPROTO_SCTP: /* common header: ports, tag, checksum */
		put16(p, s->sport);
		put16(p + 2, s->dport);
		n = 12;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		p[0] = s->icmp_type;
		put16(p + 4, s->echo_id);
		n = 8;
		break;
	}
	if (s->payload > PK_MAX - 256)
		abort(); /* headers take up to 256 bytes of the buffer */
	memset(p + n, 0xab, s->payload);
	if (s->wg_type && s->payload >= 4)
		memcpy(p + n, (uint8_t[]){s->wg_type, 0, 0, 0}, 4);
	return n + s->payload;
}

static inline size_t build_v6_ext(const struct pspec *s, uint8_t *p,
				  uint8_t *first_nh)
{
	size_t off = 0;

	*first_nh = s->next ? (uint8_t)s->ext[0] : s->proto;
	for (int i = 0; i < s->next; i++) {
		uint8_t nh =
			i + 1 < s->next ? (uint8_t)s->ext[i + 1] : s->proto;

		p[off] = nh;
		if (s->ext[i] == 44) { /* fragment header: 8 bytes */
			put16(p + off + 2, s->v6frag);
			uint32_t id = htonl(s->v6frag_id);
			memcpy(p + off + 4, &id, 4);
		} else {
			p[off + 1] = 0; /* 8 bytes, PadN inside */
			p[off + 2] = 1;
			p[off + 3] = 4;
		}
		off += 8;
	}
	return off;
}

static inline size_t build_ip(const struct pspec *s, uint8_t *p)
{
	if (!s->v6) {
		size_t hl = (size_t)(s->ihl ? s->ihl : 5) * 4, l4;
		struct in_addr a;

		memset(p, 0, hl < 20 ? 20 : hl);
		p[0] = (uint8_t)(0x40 | (s->ihl ? s->ihl : 5));
		p[8] = 64;
		p[9] = s->proto;
		put16(p + 4, s->ip_id);
		put16(p + 6, s->frag);
		inet_pton(AF_INET, s->src, &a);
		memcpy(p + 12, &a, 4);
		inet_pton(AF_INET, s->dst, &a);
		memcpy(p + 16, &a, 4);
		if (hl < 20)
			hl = 20;
		l4 = (s->frag & 0x1fff) ? (memset(p + hl, 0xcd, s->payload + 8),
					   s->payload + 8)
					: build_l4(s, p + hl);
		put16(p + 2, (uint16_t)(hl + l4 + s->totlen_extra));
		return hl + l4;
	} else {
		size_t ext, l4;
		uint8_t nh;

		memset(p, 0, 40);
		p[0] = 0x60;
		p[7] = 64;
		inet_pton(AF_INET6, s->src, p + 8);
		inet_pton(AF_INET6, s->dst, p + 24);
		ext = build_v6_ext(s, p + 40, &nh);
		p[6] = nh;
		l4 = build_l4(s, p + 40 + ext);
		put16(p + 4, (uint16_t)(ext + l4 + s->totlen_extra));
		return 40 + ext + l4;
	}
}

/* Build the frame; returns its length. */
static inline size_t build(const struct pspec *s, uint8_t *buf)
{
	size_t off = 0;
	uint16_t type;

	memset(buf, 0, PK_MAX);
	if (s->l3_only)
		return build_ip(s, buf);
	memcpy(buf, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	off = 12;
	for (int i = 0; i < s->vlans; i++) {
		put16(buf + off, i == 0 && s->vlans > 1 ? 0x88a8 : 0x8100);
		put16(buf + off + 2, (uint16_t)(100 + i));
		off += 4;
	}
	type = s->ethertype ? s->ethertype : (s->v6 ? ETH_P_IPV6 : ETH_P_IP);
	put16(buf + off, type);
	off += 2;
	if (s->ethertype)
		return off + 46;
	return off + build_ip(s, buf + off);
}

#endif

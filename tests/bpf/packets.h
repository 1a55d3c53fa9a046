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
	int l3_only;	    /* no Ethernet header (TC on L3 devices) */
	int totlen_extra;   /* lie in tot_len / payload_len */
	uint8_t wg_type;    /* UDP payload starts as a WireGuard message */
	uint8_t ttl;	    /* TTL / hop limit; 0: 64 */
	int no_udp_csum;    /* IPv4 UDP sent without a checksum (0) */
	uint8_t ext_hdrlen; /* options headers' hdrlen (0: 8 bytes each) */
	uint8_t rh_segs;    /* routing headers' segments left */
	uint8_t tcp_doff;   /* TCP data offset (0: 5), not what follows */
	int udp_len_extra;  /* lie in the UDP length */
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
		p[12] = (uint8_t)((s->tcp_doff ? s->tcp_doff : 5) << 4);
		p[13] = s->tcp_flags ? s->tcp_flags : 0x02;
		n = 20;
		break;
	case IPPROTO_UDP:
		put16(p, s->sport);
		put16(p + 2, s->dport);
		put16(p + 4, (uint16_t)(8 + s->payload + s->udp_len_extra));
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
		size_t start = off;

		p[off] = nh;
		if (s->ext[i] == 44) { /* fragment header: 8 bytes */
			put16(p + off + 2, s->v6frag);
			uint32_t id = htonl(s->v6frag_id);
			memcpy(p + off + 4, &id, 4);
		} else if (!s->ext_hdrlen) {
			p[off + 1] = 0; /* 8 bytes, PadN inside */
			p[off + 2] = 1;
			p[off + 3] = 4;
		} else { /* (hdrlen + 1) * 8 bytes of PadN options */
			size_t body = ((size_t)s->ext_hdrlen + 1) * 8 - 2;
			uint8_t *o = p + off + 2;

			p[off + 1] = s->ext_hdrlen;
			while (body) {
				size_t pad;

				if (body == 1) {
					*o = 0; /* Pad1 */
					break;
				}
				pad = body - 2 > 255 ? 255 : body - 2;
				o[0] = 1;
				o[1] = (uint8_t)pad;
				memset(o + 2, 0, pad);
				o += 2 + pad;
				body -= 2 + pad;
			}
			off += ((size_t)s->ext_hdrlen + 1) * 8 - 8;
		}
		if (s->ext[i] == 43) { /* routing: type 4 (SRv6), no PadN */
			memset(p + start + 2, 0, off + 8 - start - 2);
			p[start + 2] = 4;
			p[start + 3] = s->rh_segs;
		}
		off += 8;
	}
	return off;
}

static inline size_t build_ip(const struct pspec *s, uint8_t *p)
{
	size_t ext, l4;
	uint8_t nh;

	if (!s->v6) {
		size_t hl = (size_t)(s->ihl ? s->ihl : 5) * 4;
		struct in_addr a;

		memset(p, 0, hl < 20 ? 20 : hl);
		p[0] = (uint8_t)(0x40 | (s->ihl ? s->ihl : 5));
		p[8] = s->ttl ? s->ttl : 64;
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
	}
	memset(p, 0, 40);
	p[0] = 0x60;
	p[7] = s->ttl ? s->ttl : 64;
	inet_pton(AF_INET6, s->src, p + 8);
	inet_pton(AF_INET6, s->dst, p + 24);
	ext = build_v6_ext(s, p + 40, &nh);
	p[6] = nh;
	l4 = build_l4(s, p + 40 + ext);
	put16(p + 4, (uint16_t)(ext + l4 + s->totlen_extra));
	return 40 + ext + l4;
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

/*
 * Checksums of a built frame (Ethernet, no VLAN, IPv4 without options or
 * IPv6 without extension headers; TCP, UDP or neither): fill them in, or
 * check them.
 */
static inline uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static inline uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

struct l4_at {
	uint8_t *ip, *l4;
	size_t l4len;
	int v6;
	uint8_t proto;
	int csum_off; /* of the L4 checksum in l4, -1: none */
};

static inline int find_l4(uint8_t *f, size_t len, struct l4_at *a)
{
	memset(a, 0, sizeof(*a));
	a->ip = f + 14;
	a->v6 = f[12] == 0x86 && f[13] == 0xdd;
	if (a->v6) {
		a->proto = a->ip[6];
		a->l4 = a->ip + 40;
	} else {
		a->proto = a->ip[9];
		a->l4 = a->ip + (size_t)(a->ip[0] & 15) * 4;
	}
	if (a->l4 > f + len)
		return -1;
	a->l4len = (size_t)(f + len - a->l4);
	a->csum_off = a->proto == IPPROTO_TCP	? 16
		      : a->proto == IPPROTO_UDP ? 6
						: -1;
	return 0;
}

static inline uint32_t pseudo_sum(const struct l4_at *a)
{
	uint32_t sum =
		a->v6 ? csum_add(0, a->ip + 8, 32) : csum_add(0, a->ip + 12, 8);

	return sum + a->proto + (uint32_t)a->l4len;
}

static inline void fill_checksums_as(uint8_t *f, size_t len, int no_udp_csum)
{
	struct l4_at a;

	if (find_l4(f, len, &a))
		abort();
	if (!a.v6) {
		a.ip[10] = a.ip[11] = 0;
		put16(a.ip + 10, csum_fold(csum_add(0, a.ip, 20)));
	}
	if (a.csum_off < 0)
		return;
	uint16_t c;

	a.l4[a.csum_off] = a.l4[a.csum_off + 1] = 0;
	if (no_udp_csum && a.proto == IPPROTO_UDP)
		return;
	c = csum_fold(csum_add(pseudo_sum(&a), a.l4, a.l4len));
	put16(a.l4 + a.csum_off, c || a.proto != IPPROTO_UDP ? c : 0xffff);
}

static inline void fill_checksums(uint8_t *f, size_t len)
{
	fill_checksums_as(f, len, 0);
}

/* 1 when every checksum of the frame verifies */
static inline int checksums_ok(uint8_t *f, size_t len)
{
	struct l4_at a;

	if (find_l4(f, len, &a))
		return 0;
	if (!a.v6 && csum_fold(csum_add(0, a.ip, 20)) != 0)
		return 0;
	if (a.csum_off < 0)
		return 1;
	return csum_fold(csum_add(pseudo_sum(&a), a.l4, a.l4len)) == 0;
}

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The flow hash that picks a Maglev bucket, shared by the BPF programs and
 * userspace (tests and tools predict where a flow lands): murmur3's
 * 32-bit mixing over the addresses (IPv6 form), the ports and protocol.
 */
#ifndef PORTCULLIS_LBHASH_H
#define PORTCULLIS_LBHASH_H

#include <linux/types.h>

static inline __u32 pc_lb_mix(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51u;
	k = (k << 15) | (k >> 17);
	k *= 0x1b873593u;
	h ^= k;
	h = (h << 13) | (h >> 19);
	return h * 5 + 0xe6546b64u;
}

static inline __u32 pc_lb_final(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static inline __u32 pc_lb_addr_mix(__u32 h, const __u8 *a)
{
	for (int i = 0; i < 16; i += 4)
		h = pc_lb_mix(h, (__u32)a[i] | (__u32)a[i + 1] << 8 |
					 (__u32)a[i + 2] << 16 |
					 (__u32)a[i + 3] << 24);
	return h;
}

/* maglev: the whole flow; ports in host order */
static inline __u32 pc_lb_flow_hash(const __u8 *saddr, __u16 sport,
				    const __u8 *daddr, __u16 dport, __u8 proto)
{
	__u32 h = pc_lb_addr_mix(0x9747b28cu, saddr);

	h = pc_lb_addr_mix(h, daddr);
	h = pc_lb_mix(h, (__u32)sport << 16 | dport);
	h = pc_lb_mix(h, proto);
	return pc_lb_final(h);
}

/* source-hash: the client's address alone, so all its flows agree */
static inline __u32 pc_lb_source_hash(const __u8 *saddr)
{
	return pc_lb_final(pc_lb_addr_mix(0x9747b28cu, saddr));
}

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/* XDP's shield for local WireGuard ports: shape and handshake rate. */
#ifndef PC_BPF_WGSHIELD_H
#define PC_BPF_WGSHIELD_H

#include "maps.h"
#include "parse.h"

#define PC_WG_INITIATION 1
#define PC_WG_RESPONSE 2
#define PC_WG_COOKIE 3
#define PC_WG_DATA 4

/*
 * Is this the size of the WireGuard message its first byte says?  Every
 * message is a type byte, three zero bytes, then a fixed body; data is a
 * 16-byte header, the payload and a 16-byte tag.  (The payload is padded
 * to a multiple of 16 only up to the sender's MTU, which XDP does not
 * know, so a data message's size is checked only from below.)
 */
static __always_inline int pc_wg_shaped(__u32 head, __u32 len)
{
	__u8 type = ((__u8 *)&head)[0];

	if (((__u8 *)&head)[1] || ((__u8 *)&head)[2] || ((__u8 *)&head)[3])
		return 0;
	switch (type) {
	case PC_WG_INITIATION:
		return len == 148;
	case PC_WG_RESPONSE:
		return len == 92;
	case PC_WG_COOKIE:
		return len == 64;
	case PC_WG_DATA:
		return len >= 32;
	}
	return 0;
}

/* GCRA per source: at most v->handshakes_per_sec, v->burst at once. */
static __always_inline int pc_wg_handshake_admit(const struct pc_pkt *p,
						 const struct pc_wg_port_val *v,
						 __u64 now)
{
	struct pc_wg_hs_key k;
	__u64 inc, tau, *tat, next;

	if (!v->handshakes_per_sec)
		return 1;
	inc = 1000000000ull / v->handshakes_per_sec;
	tau = inc * (v->burst ? v->burst : 1);
	__builtin_memcpy(k.addr, p->saddr, 16);
	tat = bpf_map_lookup_elem(&wg_handshakes, &k);
	if (!tat) {
		next = now + inc;
		bpf_map_update_elem(&wg_handshakes, &k, &next, BPF_ANY);
		return 1;
	}
	next = (*tat > now ? *tat : now) + inc;
	if (next - now > tau)
		return 0;
	*tat = next; /* a race between CPUs admits one more at worst */
	return 1;
}

/* 0 to go on to the policy, else the reason to drop. */
static __always_inline int pc_wg_shield(const struct pc_pkt *p,
					const struct pc_config *cfg, __u64 now)
{
	struct pc_wg_port_key k = {.port = p->dport};
	struct pc_wg_port_val *v;

	if (!(cfg->flags & PC_CFG_WG_SHIELD) || p->proto != IPPROTO_UDP ||
	    p->frag == PC_FRAG_LATER)
		return 0;
	v = bpf_map_lookup_elem(&wg_ports, &k);
	if (!v)
		return 0;
	if (!pc_wg_shaped(p->udp_head, p->udp_plen))
		return PC_R_DENY_WG_SHIELD;
	if (((__u8 *)&p->udp_head)[0] == PC_WG_INITIATION &&
	    !pc_wg_handshake_admit(p, v, now))
		return PC_R_DENY_WG_HANDSHAKE_RATE;
	return 0;
}

#endif

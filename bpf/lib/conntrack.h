/* SPDX-License-Identifier: GPL-2.0 */
/* Connection tracking: canonical 5-tuple keys, TCP state, timeouts. */
#ifndef PC_BPF_CONNTRACK_H
#define PC_BPF_CONNTRACK_H

#include "maps.h"
#include "parse.h"
#include "events.h"

#define PC_SEC 1000000000ULL

/* Return 1 when (a, ap) sorts before (b, bp). */
static __always_inline int pc_end_less(const __u8 *a, __u16 ap, const __u8 *b,
				       __u16 bp)
{
	int i;

#pragma unroll
	for (i = 0; i < 16; i++) {
		if (a[i] != b[i])
			return a[i] < b[i];
	}
	return ap < bp;
}

static __always_inline int pc_addr_eq(const __u8 *a, const __u8 *b)
{
	int i;

#pragma unroll
	for (i = 0; i < 16; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

/* The canonical key of a flow between (s, sp) and (d, dp); returns 1
 * when s is its lo end. */
static __always_inline int pc_ct_key_ends(const __u8 *s, __u16 sp,
					  const __u8 *d, __u16 dp, __u8 proto,
					  struct pc_ct_key *k)
{
	int src_lo = pc_end_less(s, sp, d, dp);

	k->proto = proto;
	if (src_lo) {
		__builtin_memcpy(k->lo_addr, s, 16);
		__builtin_memcpy(k->hi_addr, d, 16);
		k->lo_port = sp;
		k->hi_port = dp;
	} else {
		__builtin_memcpy(k->lo_addr, d, 16);
		__builtin_memcpy(k->hi_addr, s, 16);
		k->lo_port = dp;
		k->hi_port = sp;
	}
	return src_lo;
}

/* Fill the canonical key; return 1 when the packet's source is lo. */
static __always_inline int pc_ct_key_of(const struct pc_pkt *p,
					struct pc_ct_key *k)
{
	return pc_ct_key_ends(p->saddr, p->sport, p->daddr, p->dport, p->proto,
			      k);
}

static __always_inline int pc_ct_expired(const struct pc_ct_val *ct, __u8 proto,
					 __u64 now)
{
	return now - ct->last_seen_ns > pc_ct_timeout_ns(proto, ct->state);
}

static __always_inline __u8 pc_tcp_state_new(__u8 flags)
{
	if (flags & PC_TCP_RST)
		return PC_TCP_CLOSED;
	if (flags & PC_TCP_FIN)
		return PC_TCP_CLOSING;
	if ((flags & (PC_TCP_SYN | PC_TCP_ACK)) == PC_TCP_SYN)
		return PC_TCP_SYN_SENT;
	return PC_TCP_ESTABLISHED;
}

static __always_inline void pc_tcp_advance(struct pc_ct_val *ct, int dir,
					   __u8 flags)
{
	if (flags & PC_TCP_RST)
		ct->state = PC_TCP_CLOSED;
	else if (flags & PC_TCP_FIN)
		ct->state = PC_TCP_CLOSING;
	else if (ct->state == PC_TCP_SYN_SENT && dir == PC_DIR_REPLY &&
		 (flags & PC_TCP_ACK))
		ct->state = PC_TCP_ESTABLISHED;
}

/* A bare SYN on a closed or closing entry starts a new connection. */
static __always_inline int pc_ct_reusable(const struct pc_ct_val *ct,
					  const struct pc_pkt *p)
{
	return p->proto == IPPROTO_TCP &&
	       (p->tcp_flags & (PC_TCP_SYN | PC_TCP_ACK)) == PC_TCP_SYN &&
	       (ct->state == PC_TCP_CLOSING || ct->state == PC_TCP_CLOSED);
}

/* Delete a flow's entry, counted (PC_STAT_CT_DELETES). */
static __always_inline void pc_ct_delete(const struct pc_ct_key *k)
{
	if (!bpf_map_delete_elem(&conntrack, k))
		pc_count_stat(PC_STAT_CT_DELETES, 1);
}

static __always_inline void pc_ct_account(struct pc_ct_val *ct, int dir,
					  __u32 len, __u64 now)
{
	__sync_fetch_and_add(&ct->packets[dir & 1], 1);
	__sync_fetch_and_add(&ct->bytes[dir & 1], len);
	ct->last_seen_ns = now;
}

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/* Policy lookup: address -> set through the LPM tries, then the verdict. */
#ifndef PC_BPF_POLICY_H
#define PC_BPF_POLICY_H

#include "maps.h"

struct pc_verdict {
	__u32 rule_id;
	__u32 src_set;
	__u32 service; /* pc_policy_val.service */
	__u8 action;   /* PC_ACT_*, PC_ACT_NONE when no rule matched */
	__u8 flags;
};

static __always_inline struct pc_config *pc_config_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&config, &zero);
}

/* The set of an address: its host entry if it has one, else the trie's
 * longest prefix (a host entry's set already holds every prefix above). */
static __always_inline __u32 pc_set_lookup(void *hosts, void *trie, __u8 slot,
					   const __u8 *addr)
{
	struct pc_lpm_key key = {.prefixlen = 32 + 128, .slot = slot};
	struct pc_set_val *v;

	__builtin_memcpy(key.addr, addr, 16);
	v = bpf_map_lookup_elem(hosts, &key);
	if (!v)
		v = bpf_map_lookup_elem(trie, &key);
	return v ? v->set_id : 0;
}

/* The identity set of the WireGuard peer whose allowed IPs hold src on
 * interface wg_id; 0 (no identity) when none does. */
static __always_inline __u32 pc_wg_peer_set(__u8 slot, __u8 wg_id,
					    const __u8 *src)
{
	struct pc_wg_peer_key key = {
		.prefixlen = 32 + 128, .slot = slot, .wg_id = wg_id};
	struct pc_set_val *v;

	__builtin_memcpy(key.addr, src, 16);
	v = bpf_map_lookup_elem(&wg_peers, &key);
	return v ? v->set_id : 0;
}

/*
 * Decide (src, dst, proto, port) against the policy of generation gen.
 * wg_id: the packet came decrypted from that WireGuard interface, so its
 * sender is a peer, found by the peer's allowed IPs on that interface
 * and never by address alone.
 */
static __always_inline void pc_policy_decide(__u64 gen, const __u8 *src,
					     const __u8 *dst, __u8 proto,
					     __u16 port, __u8 wg_id,
					     struct pc_verdict *v)
{
	__u8 slot = gen & 1;
	struct pc_policy_key key = {
		.prefixlen = PC_POLICY_PLEN_FULL,
		.slot = slot,
		.proto = proto,
		.port = bpf_htons(port),
	};
	struct pc_policy_val *pv;
	__u32 dst_set;

	v->action = PC_ACT_NONE;
	v->rule_id = 0;
	v->flags = 0;
	v->src_set =
		wg_id ? pc_wg_peer_set(slot, wg_id, src)
		      : pc_set_lookup(&ident_hosts, &identities, slot, src);
	v->service = 0;
	dst_set = pc_set_lookup(&service_hosts, &services, slot, dst);
	if (!v->src_set || !dst_set)
		return;
	key.src_set = bpf_htonl(v->src_set);
	key.dst_set = bpf_htonl(dst_set);
	/* longest first: one port, a range piece, the protocol, anything */
	pv = bpf_map_lookup_elem(&policy_exact, &key);
	if (!pv)
		pv = bpf_map_lookup_elem(&policy, &key);
	if (!pv) {
		key.prefixlen = PC_POLICY_PLEN_PORT0;
		key.port = 0;
		pv = bpf_map_lookup_elem(&policy_exact, &key);
	}
	if (!pv) {
		key.prefixlen = PC_POLICY_PLEN_PROTO;
		key.proto = 0;
		pv = bpf_map_lookup_elem(&policy_exact, &key);
	}
	if (!pv)
		return;
	v->action = pv->action;
	v->rule_id = pv->rule_id;
	v->flags = pv->flags;
	v->service = pv->service;
}

static __always_inline int pc_verdict_passes(const struct pc_verdict *v)
{
	return v->action == PC_ACT_ALLOW || v->action == PC_ACT_AUDIT;
}

#endif

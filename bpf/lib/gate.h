/* SPDX-License-Identifier: GPL-2.0 */
/* The decision every attach point makes: conntrack, then policy. */
#ifndef PC_BPF_GATE_H
#define PC_BPF_GATE_H

#include "maps.h"
#include "parse.h"
#include "policy.h"
#include "conntrack.h"
#include "events.h"
#include "rate.h"
#include "wgshield.h"
#include "lb.h"

static __always_inline void pc_frag_key_of(const struct pc_pkt *p,
					   struct pc_frag_key *k)
{
	__builtin_memcpy(k->saddr, p->saddr, 16);
	__builtin_memcpy(k->daddr, p->daddr, 16);
	k->id = p->frag_id;
	k->proto = p->proto;
}

/* A first fragment that passed: its followers pass (and are rewritten
 * as it was, nat may be NULL). */
static __always_inline void pc_frag_remember(const struct pc_pkt *p, __u64 gen,
					     __u32 rule_id, __u8 wg_id,
					     const struct pc_nat_out *nat)
{
	struct pc_frag_key k = {};
	struct pc_frag_val v = {.generation = gen,
				.rule_id = rule_id,
				.pass = 1,
				.wg_id = wg_id};

	if (p->frag != PC_FRAG_FIRST)
		return;
	if (nat && nat->op) {
		v.nat = nat->op;
		__builtin_memcpy(v.nat_addr, nat->addr, 16);
	}
	pc_frag_key_of(p, &k);
	bpf_map_update_elem(&frags, &k, &v, BPF_ANY);
}

/* Later fragments carry no ports: they follow their first fragment, must
 * come in where it did, and get its address rewrite. */
static __always_inline int pc_frag_follow(const struct pc_pkt *p, __u8 wg_id,
					  struct pc_nat_out *nat)
{
	struct pc_frag_key k = {};
	struct pc_frag_val *v;

	pc_frag_key_of(p, &k);
	v = bpf_map_lookup_elem(&frags, &k);
	if (!v || !v->pass || v->wg_id != wg_id)
		return PC_R_DENY_FRAGMENT;
	if (v->nat) {
		if (!nat)
			return PC_R_DENY_FRAGMENT; /* no NAT here */
		nat->op = v->nat;
		nat->port = 0;
		__builtin_memcpy(nat->addr, v->nat_addr, 16);
	}
	return PC_R_ALLOW_FRAGMENT;
}

/* Re-ask the policy about an established flow after a push. */
static __always_inline int pc_ct_recheck(const struct pc_ct_key *k,
					 struct pc_ct_val *ct, __u64 gen,
					 struct pc_verdict *v)
{
	const __u8 *src = ct->orig_is_lo ? k->lo_addr : k->hi_addr;
	const __u8 *dst = ct->orig_is_lo ? k->hi_addr : k->lo_addr;

	pc_policy_decide(gen, src, dst, k->proto, ct->policy_port, ct->wg_id,
			 v);
	if (!pc_verdict_passes(v))
		return 0;
	ct->generation = gen;
	ct->rule_id = v->rule_id;
	ct->src_set = v->src_set;
	ct->service = v->service;
	ct->action = v->action;
	ct->flags = v->flags;
	return 1;
}

/*
 * Audit mode: a packet the policy denies passes as "would deny", and its
 * flow is tracked like an allowed one, so only its first packet reports.
 */
static __always_inline int pc_audit_denied(const struct pc_verdict *v)
{
	return v->action == PC_ACT_DENY ? PC_R_AUDIT_DENY_RULE
					: PC_R_AUDIT_DENY_DEFAULT;
}

static __always_inline int pc_established(const struct pc_pkt *p,
					  struct pc_ct_key *k,
					  struct pc_ct_val *ct, int src_lo,
					  __u64 gen, int audit, __u64 now,
					  __u8 wg_id, struct pc_ev_info *ev)
{
	int dir = src_lo == ct->orig_is_lo ? PC_DIR_ORIG : PC_DIR_REPLY;
	int audited = 0;

	/* the initiator's packets come in where the flow started: through
	 * the same WireGuard interface, or not through one at all */
	if (dir == PC_DIR_ORIG && wg_id != ct->wg_id)
		return PC_R_DENY_WRONG_IFACE;

	/* the gateway's own connections (health probes) answer to no rule */
	if (ct->generation != gen && !(ct->flags & PC_PF_LOCAL)) {
		struct pc_verdict v;

		if (!pc_ct_recheck(k, ct, gen, &v)) {
			ev->rule_id = v.rule_id;
			ev->src_set = v.src_set;
			ev->service = v.service;
			ev->action = v.action;
			if (!audit) {
				if (ct->nat == PC_NAT_DNAT &&
				    ct->state < PC_TCP_CLOSING)
					pc_lb_conn_add(ct, -1);
				pc_ct_delete(k);
				return PC_R_DENY_REVOKED;
			}
			/* it stays tracked, as a would-be deny */
			ct->generation = gen;
			ct->rule_id = v.rule_id;
			ct->src_set = v.src_set;
			ct->service = v.service;
			ct->action = PC_ACT_AUDIT;
			ct->flags = 0;
			audited = pc_audit_denied(&v);
		}
	}
	ev->rule_id = ct->rule_id;
	ev->src_set = ct->src_set;
	ev->service = ct->service;
	ev->action = ct->action;
	if ((ct->flags & PC_PF_RATE) &&
	    !pc_rate_admit(gen, ct->rule_id, ct->src_set, p->len, now))
		return PC_R_DENY_RATE;
	pc_ct_account(ct, dir, p->len, now);
	if (p->proto == IPPROTO_TCP) {
		__u8 was = ct->state;

		pc_tcp_advance(ct, dir, p->tcp_flags);
		/* a balanced connection ends: its backend has one less */
		if (ct->nat == PC_NAT_DNAT && was < PC_TCP_CLOSING &&
		    ct->state >= PC_TCP_CLOSING)
			pc_lb_conn_add(ct, -1);
	}
	if (audited)
		return audited;
	return dir == PC_DIR_ORIG ? PC_R_ALLOW_ESTABLISHED : PC_R_ALLOW_REPLY;
}

/*
 * The backend side of a balanced flow, made from its entry ct (which is
 * written already, and is reused here to spare the stack): an entry that
 * leads the backend's replies back to the client's flow and the virtual
 * address.  k is reused for its key.
 */
static __always_inline void
pc_rev_insert(const struct pc_pkt *p, struct pc_ct_key *k, struct pc_ct_val *ct)
{
	ct->orig_is_lo = pc_ct_key_ends(p->saddr, p->sport, ct->nat_addr,
					ct->nat_port, p->proto, k);
	ct->packets[PC_DIR_ORIG] = ct->bytes[PC_DIR_ORIG] = 0;
	ct->state = PC_TCP_NONE;
	ct->flags = 0;
	ct->nat = PC_NAT_REV;
	ct->lb_any_port = 0;
	__builtin_memcpy(ct->nat_addr, p->daddr, 16);
	ct->nat_port = p->dport;
	/* (looked up first: an update finds room before it looks, so a
	 * NOEXIST that fails may still have evicted a flow for nothing) */
	if (!bpf_map_lookup_elem(&conntrack, k) &&
	    !bpf_map_update_elem(&conntrack, k, ct, BPF_NOEXIST))
		pc_count_stat(PC_STAT_CT_INSERTS, 1);
	else
		bpf_map_update_elem(&conntrack, k, ct, BPF_ANY);
}

/* fresh: k has no entry (else an expired or closed one is replaced) */
static __always_inline int
pc_new_flow(const struct pc_pkt *p, struct pc_ct_key *k, int src_lo, int fresh,
	    __u64 gen, int audit, int lb, __u64 now, __u8 wg_id,
	    struct pc_ev_info *ev, struct pc_nat_out *nat)
{
	struct pc_verdict v;
	struct pc_ct_val ct = {};
	int reason = 0, rc;

	pc_policy_decide(gen, p->saddr, p->daddr, p->proto, p->policy_port,
			 wg_id, &v);
	ev->rule_id = v.rule_id;
	ev->src_set = v.src_set;
	ev->service = v.service;
	ev->action = v.action;
	if (!pc_verdict_passes(&v)) {
		if (!audit)
			return v.action == PC_ACT_DENY ? PC_R_DENY_RULE
						       : PC_R_DENY_DEFAULT;
		reason = pc_audit_denied(&v);
		v.action = PC_ACT_AUDIT;
		v.flags = 0;
	} else if ((v.flags & PC_PF_RATE) &&
		   !pc_rate_admit(gen, v.rule_id, v.src_set, p->len, now)) {
		return PC_R_DENY_RATE; /* no flow state for what is dropped */
	}

	ct.created_ns = now;
	ct.last_seen_ns = now;
	ct.packets[PC_DIR_ORIG] = 1;
	ct.bytes[PC_DIR_ORIG] = p->len;
	ct.generation = gen;
	ct.rule_id = v.rule_id;
	ct.src_set = v.src_set;
	ct.service = v.service;
	ct.policy_port = p->policy_port;
	ct.orig_is_lo = src_lo;
	ct.action = v.action;
	ct.flags = v.flags;
	ct.wg_id = wg_id;
	if (p->proto == IPPROTO_TCP)
		ct.state = pc_tcp_state_new(p->tcp_flags);
	if (nat && lb) {
		int r = pc_lb_steer(p, gen, &ct);

		if (r)
			return r; /* nowhere to send it: no flow state */
	}
	/*
	 * A fresh key goes in with NOEXIST (its flags are fresh itself:
	 * BPF_NOEXIST is 1), so one that another CPU entered meanwhile (both
	 * ends of a flow may start it at once) is replaced and not counted
	 * twice, nor is an update that failed.  The count takes no branch on
	 * fresh: the verifier then need not follow both kinds of flow apart.
	 */
	rc = bpf_map_update_elem(&conntrack, k, &ct, fresh);
	if (rc)
		bpf_map_update_elem(&conntrack, k, &ct, BPF_ANY);
	pc_count_stat(PC_STAT_CT_INSERTS, fresh & !rc);
	if (nat && ct.nat == PC_NAT_DNAT) {
		if (ct.state < PC_TCP_CLOSING)
			pc_lb_conn_add(&ct, 1);
		nat->op = PC_NAT_DNAT;
		nat->port = ct.nat_port;
		__builtin_memcpy(nat->addr, ct.nat_addr, 16);
		pc_rev_insert(p, k, &ct); /* ct and k are spent after this */
	}
	ev->log = !!(v.flags & PC_PF_LOG);
	if (reason)
		return reason;
	return v.action == PC_ACT_AUDIT ? PC_R_AUDIT : PC_R_ALLOW_NEW;
}

/*
 * A packet from a backend hit rev (a PC_NAT_REV entry, key *k): it is the
 * reply of the client's flow to the virtual address, which it will carry
 * as its source.  Returns that flow's entry, with *k and *src_lo made its
 * key and the packet's end in it; or NULL when the flow is gone, no
 * longer with this backend, or closed with the backend now opening one of
 * its own (rev was stale, and is deleted; *k is still the packet's own
 * key).
 */
static __always_inline struct pc_ct_val *
pc_rev_flow(const struct pc_pkt *p, struct pc_ct_key *k, struct pc_ct_val *rev,
	    __u64 now, int *src_lo, struct pc_nat_out *nat)
{
	struct pc_ct_key ok = {};
	struct pc_ct_val *ct;
	int lo;

	lo = pc_ct_key_ends(rev->nat_addr, rev->nat_port, p->daddr, p->dport,
			    p->proto, &ok);
	ct = bpf_map_lookup_elem(&conntrack, &ok);
	if (!ct || ct->nat != PC_NAT_DNAT || ct->nat_port != p->sport ||
	    !pc_addr_eq(ct->nat_addr, p->saddr) ||
	    pc_ct_expired(ct, p->proto, now) || pc_ct_reusable(ct, p)) {
		pc_ct_delete(k);
		return NULL;
	}
	rev->last_seen_ns = now;
	nat->op = PC_NAT_REV;
	nat->port = rev->nat_port;
	__builtin_memcpy(nat->addr, rev->nat_addr, 16);
	*k = ok;
	*src_lo = lo;
	return ct;
}

/* nat: NULL where the caller does not rewrite. */
static __always_inline int pc_decide_ip(const struct pc_pkt *p, __u64 gen,
					int audit, int lb, __u8 wg_id,
					struct pc_ev_info *ev,
					struct pc_nat_out *nat)
{
	struct pc_ct_key k = {};
	struct pc_ct_val *ct;
	__u64 now;
	int src_lo, reason, fresh;

	if (p->frag == PC_FRAG_LATER)
		return pc_frag_follow(p, wg_id, nat);
	src_lo = pc_ct_key_of(p, &k);
	now = bpf_ktime_get_ns();
	ct = bpf_map_lookup_elem(&conntrack, &k);
	fresh = !ct;
	/* from a backend: decided as the reply of its client's flow (where
	 * nothing rewrites, as what it is; its entry is then replaced) */
	if (ct && ct->nat == PC_NAT_REV) {
		ct = nat ? pc_rev_flow(p, &k, ct, now, &src_lo, nat) : NULL;
		fresh = nat && !ct; /* (pc_rev_flow deleted it) */
	}
	if (ct && !pc_ct_expired(ct, p->proto, now) && !pc_ct_reusable(ct, p)) {
		reason = pc_established(p, &k, ct, src_lo, gen, audit, now,
					wg_id, ev);
		/* the client's packets of a balanced flow go to its backend */
		if (nat && ct->nat == PC_NAT_DNAT && src_lo == ct->orig_is_lo) {
			nat->op = PC_NAT_DNAT;
			nat->port = ct->nat_port;
			__builtin_memcpy(nat->addr, ct->nat_addr, 16);
		}
	} else {
		reason = pc_new_flow(p, &k, src_lo, fresh, gen, audit, lb, now,
				     wg_id, ev, nat);
	}
	if (reason < PC_R_FIRST_DROP)
		pc_frag_remember(p, gen, ev->rule_id, wg_id, nat);
	return reason;
}

static __always_inline int pc_wants_event(int reason,
					  const struct pc_ev_info *ev,
					  const struct pc_config *cfg)
{
	if (reason >= PC_R_FIRST_DROP)
		return reason != PC_R_DENY_NONIP && pc_deny_budget(cfg);
	if (reason == PC_R_AUDIT_DENY_RULE || reason == PC_R_AUDIT_DENY_DEFAULT)
		return pc_deny_budget(cfg);
	if (reason == PC_R_AUDIT)
		return 1;
	if (reason == PC_R_ALLOW_NEW)
		return ev->log || (cfg->flags & PC_CFG_LOG_FLOWS);
	return 0;
}

/*
 * Is the slot of generation gen in audit mode?  The daemon sets the bit
 * before it publishes gen.  The flags word is read at an address that
 * depends on gen (gen >> 63 is always 0, which the compiler cannot know),
 * so even a weakly ordered CPU reads it after gen, as READ_ONCE's
 * dependency ordering does.
 */
static __always_inline int pc_slot_audit(struct pc_config *cfg, __u64 gen)
{
	volatile __u32 *flags = &cfg->flags;

	return !!(flags[gen >> 63] & PC_CFG_AUDIT_SLOT(gen & 1));
}

/* Does the slot of gen balance any service?  (Read as pc_slot_audit.) */
static __always_inline int pc_slot_lb(struct pc_config *cfg, __u64 gen)
{
	volatile __u32 *flags = &cfg->flags;

	return !!(flags[gen >> 63] & PC_CFG_LB_SLOT(gen & 1));
}

/* What a decision leaves its program besides the verdict: the address
 * rewrite of a balanced flow, and what to count the packet by. */
struct pc_out {
	struct pc_nat_out nat;
	struct pc_ev_info ev;
};

/*
 * Decide one packet.  parse_rc is what the parser returned; wg_id is the
 * WireGuard interface it came from decrypted (0: none, always for XDP).
 * The result is a PC_R_* reason, which both counts the packet and says
 * pass or drop.
 */
static __always_inline int pc_decide(struct pc_pkt *p, int parse_rc,
				     __u32 ifindex, __u32 frame_len, __u8 wg_id,
				     struct pc_out *out)
{
	struct pc_ev_info *ev = &out->ev;
	struct pc_config *cfg = pc_config_get();
	__u64 gen = 0;
	int reason;

	if (!cfg)
		return PC_R_DENY_NO_POLICY;
	if (!p->len)
		p->len = frame_len;
	switch (parse_rc) {
	case PC_PARSE_IP:
		break;
	case PC_PARSE_ARP:
		return PC_R_PASS_ARP;
	case PC_PARSE_ND:
		return PC_R_PASS_ND;
	case PC_PARSE_NONIP:
		return cfg->flags & PC_CFG_NONIP_PASS ? PC_R_PASS_NONIP
						      : PC_R_DENY_NONIP;
	default:
		reason = PC_R_DENY_MALFORMED;
		goto out;
	}

	gen = *(volatile __u64 *)&cfg->generation;
	ev->slot = gen & 1;
	if (!gen) {
		reason = PC_R_DENY_NO_POLICY;
		goto out;
	}
	/* what reaches a WireGuard port must look like WireGuard (XDP: the
	 * underlay; decrypted packets have been through WireGuard already) */
	if (!wg_id && (reason = pc_wg_shield(p, cfg, bpf_ktime_get_ns())))
		goto out;
	reason = pc_decide_ip(p, gen, pc_slot_audit(cfg, gen),
			      pc_slot_lb(cfg, gen), wg_id, ev, &out->nat);
out:
	if (pc_wants_event(reason, ev, cfg)) {
		ev->reason = reason;
		pc_emit(p, ev, gen, ifindex);
	}
	return reason;
}

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/* Counters and verdict events. */
#ifndef PC_BPF_EVENTS_H
#define PC_BPF_EVENTS_H

#include "maps.h"
#include "parse.h"

static __always_inline void pc_counter_add(void *map, __u32 idx, __u32 len)
{
	struct pc_counter *c = bpf_map_lookup_elem(map, &idx);

	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

static __always_inline void pc_count_reason(__u32 reason, __u32 len)
{
	pc_counter_add(&stats, reason, len);
}

/* Add n to a stats slot that counts no packets (PC_STAT_*). */
static __always_inline void pc_count_stat(__u32 idx, __u64 n)
{
	struct pc_counter *c = bpf_map_lookup_elem(&stats, &idx);

	if (c)
		c->packets += n;
}

static __always_inline void pc_count_rule(__u32 slot, __u32 rule_id, __u32 len)
{
	if (rule_id && rule_id < PC_MAX_RULES)
		pc_counter_add(&rule_stats, slot * PC_MAX_RULES + rule_id, len);
}

/* Count by identity set (service); ids past the array share index 0,
 * which the daemon reads as "past" (identities) or not at all. */
static __always_inline void pc_count_set(void *map, __u32 slot, __u32 set,
					 int drop, __u32 len)
{
	__u32 idx = slot * PC_SET_STATS + (set < PC_SET_STATS ? set : 0);
	struct pc_set_counter *c;

	if (!set)
		return; /* no identity (service): nothing to count it by */
	c = bpf_map_lookup_elem(map, &idx);
	if (c) {
		c->packets[drop & 1]++;
		c->bytes[drop & 1] += len;
	}
}

/* What the decision found out (the programs' stack is tight: what the
 * caller has anyway, the generation and interface, is not here). */
struct pc_ev_info {
	__u32 rule_id;
	__u32 src_set;
	__u32 service; /* pc_policy_val.service */
	__u8 reason;
	__u8 action;
	__u8 log;  /* the deciding rule asked for an event */
	__u8 slot; /* of the policy generation that decided */
};

/*
 * Count a packet by the rule, identity set and service set that decided
 * it.  The programs count once the verdict is final, in their own frame
 * (so this is verified once, not on every path of the decision).
 */
static __always_inline void pc_count_decided(const struct pc_ev_info *ev,
					     int reason, __u32 len)
{
	int drop = reason >= PC_R_FIRST_DROP;
	__u32 slot = ev->slot & 1;

	pc_count_rule(slot, ev->rule_id, len);
	pc_count_set(&ident_stats, slot, ev->src_set, drop, len);
	pc_count_set(&service_stats, slot, ev->service, drop, len);
}

/*
 * Denied packets may come as a flood: at most cfg->deny_events events per
 * second per CPU, the rest only counted (EVENTS_SUPPRESSED).  An event
 * costs a ring buffer reservation and a consumer's attention; a counter
 * costs neither.
 */
static __always_inline int pc_deny_budget(const struct pc_config *cfg)
{
	__u32 zero = 0;
	struct pc_ev_budget *b = bpf_map_lookup_elem(&ev_budget, &zero);
	__u64 now;

	if (!b)
		return 0;
	now = bpf_ktime_get_ns();
	if (now - b->window_ns >= 1000000000ULL) {
		b->window_ns = now;
		b->used = 0;
	}
	if (b->used >= cfg->deny_events) {
		pc_count_reason(PC_R_EVENTS_SUPPRESSED, 0);
		return 0;
	}
	b->used++;
	return 1;
}

static __always_inline void pc_emit(const struct pc_pkt *p,
				    const struct pc_ev_info *i, __u64 gen,
				    __u32 ifindex)
{
	struct pc_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		pc_count_reason(PC_R_EVENTS_LOST, 0);
		return;
	}
	e->ts_ns = bpf_ktime_get_ns();
	__builtin_memcpy(e->saddr, p->saddr, 16);
	__builtin_memcpy(e->daddr, p->daddr, 16);
	e->sport = p->sport;
	e->dport = p->policy_port;
	e->ifindex = ifindex;
	e->rule_id = i->rule_id;
	e->src_set = i->src_set;
	e->len = p->len;
	e->type = PC_EV_VERDICT;
	e->reason = i->reason;
	e->proto = p->proto;
	e->action = i->action;
	e->generation = gen;
	bpf_ringbuf_submit(e, 0);
}

#endif

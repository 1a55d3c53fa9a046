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

static __always_inline void pc_count_rule(__u64 gen, __u32 rule_id, __u32 len)
{
	if (rule_id && rule_id < PC_MAX_RULES)
		pc_counter_add(&rule_stats, (gen & 1) * PC_MAX_RULES + rule_id,
			       len);
}

struct pc_ev_info {
	__u64 generation;
	__u32 ifindex;
	__u32 rule_id;
	__u32 src_set;
	__u8 reason;
	__u8 action;
	__u8 log; /* the deciding rule asked for an event */
};

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
				    const struct pc_ev_info *i)
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
	e->ifindex = i->ifindex;
	e->rule_id = i->rule_id;
	e->src_set = i->src_set;
	e->len = p->len;
	e->type = PC_EV_VERDICT;
	e->reason = i->reason;
	e->proto = p->proto;
	e->action = i->action;
	e->generation = i->generation;
	bpf_ringbuf_submit(e, 0);
}

#endif

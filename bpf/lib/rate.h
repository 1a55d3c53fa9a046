/* SPDX-License-Identifier: GPL-2.0 */
/* Rate limits: one GCRA token bucket per (rule, source identity set). */
#ifndef PC_BPF_RATE_H
#define PC_BPF_RATE_H

#include "maps.h"

#define PC_RATE_TRIES 4 /* compare-and-swap attempts under contention */

/*
 * Admit a packet of len bytes of a flow decided by rule_id for src_set?
 * Lock-free: the bucket is one 64-bit time, advanced by compare-and-swap,
 * so CPUs sharing a bucket never admit more than it holds.
 */
static __always_inline int pc_rate_admit(__u64 gen, __u32 rule_id,
					 __u32 src_set, __u32 len, __u64 now)
{
	__u32 idx = (__u32)(gen & 1) * PC_MAX_RULES + rule_id;
	struct pc_bucket_key k = {
		.generation = gen, .rule_id = rule_id, .src_set = src_set};
	struct pc_rate_val *r = bpf_map_lookup_elem(&rates, &idx);
	__u64 now16 = now << 4, inc;
	struct pc_bucket *b;

	if (!r || !r->units)
		return 1; /* written with the entry's flag: not reached */
	inc = (r->bytes ? len : 1) * r->period16 / r->units;
	if (inc > r->tau16)
		inc = r->tau16; /* a packet bigger than the bucket: a full one
				 */
	b = bpf_map_lookup_elem(&buckets, &k);
	if (!b) {
		struct pc_bucket nb = {.tat16 = now16 + inc};

		if (!bpf_map_update_elem(&buckets, &k, &nb, BPF_NOEXIST))
			return 1;
		b = bpf_map_lookup_elem(&buckets, &k); /* another CPU won */
		if (!b)
			return 0;
	}
	for (int i = 0; i < PC_RATE_TRIES; i++) {
		__u64 tat = *(volatile __u64 *)&b->tat16;
		__u64 next = (tat > now16 ? tat : now16) + inc;

		if (next - now16 > r->tau16)
			return 0;
		if (__sync_val_compare_and_swap(&b->tat16, tat, next) == tat)
			return 1;
	}
	return 0;
}

#endif

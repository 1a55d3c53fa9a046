// SPDX-License-Identifier: Apache-2.0
/*
 * Atomic policy swap.  Every identities/services/policy key carries a slot
 * byte; the live slot is generation & 1.  A push fills the idle slot, then
 * publishes the new generation with one 8-byte store into the mmap'ed
 * config map, waits for running programs to finish (pc_dp_sync), and only
 * then deletes the old slot's entries.  No packet sees half a policy.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dp_internal.h"

int pc_dp_sync(struct pc_dp *dp)
{
	__u32 zero = 0;

	/* updating a map-in-map makes the kernel call synchronize_rcu() */
	if (bpf_map_update_elem(dp->sync_fd, &zero, &dp->sync_inner_fd, 0))
		return -errno;
	return 0;
}

/* Delete every key of map whose slot byte (at offset 4) equals slot. */
static int clear_slot(int fd, size_t key_size, __u8 slot)
{
	size_t n = 0, cap = 1024;
	char *keys = malloc(cap * key_size);
	char prev[64], cur[64];
	int have_prev = 0, err = 0;

	if (!keys)
		return -ENOMEM;
	/* collect first: deleting while walking a trie can skip keys */
	while (!bpf_map_get_next_key(fd, have_prev ? prev : NULL, cur)) {
		if ((__u8)cur[4] == slot) {
			if (n == cap) {
				char *k = realloc(keys, 2 * cap * key_size);

				if (!k) {
					err = -ENOMEM;
					break;
				}
				keys = k;
				cap *= 2;
			}
			memcpy(keys + n++ * key_size, cur, key_size);
		}
		memcpy(prev, cur, key_size);
		have_prev = 1;
	}
	for (size_t i = 0; !err && i < n; i++)
		if (bpf_map_delete_elem(fd, keys + i * key_size) &&
		    errno != ENOENT)
			err = -errno;
	free(keys);
	return err;
}

static int write_sets(int fd, const struct pc_set_entry *v, size_t n, __u8 slot)
{
	for (size_t i = 0; i < n; i++) {
		struct pc_lpm_key k = {.prefixlen = 32u + v[i].prefix.plen,
				       .slot = slot};
		struct pc_set_val val = {.set_id = v[i].set_id};

		memcpy(k.addr, v[i].prefix.addr, 16);
		if (bpf_map_update_elem(fd, &k, &val, BPF_ANY))
			return -errno;
	}
	return 0;
}

static int write_policy(int fd, const struct pc_compiled *c, __u8 slot)
{
	for (size_t i = 0; i < c->nentries; i++) {
		const struct pc_policy_entry *e = &c->entries[i];
		struct pc_policy_key k = {
			.prefixlen = e->plen,
			.slot = slot,
			.src_set = htonl(e->src_set),
			.dst_set = htonl(e->dst_set),
			.proto = e->plen > PC_POLICY_PLEN_PROTO ? e->proto : 0,
			.port = htons(e->port),
		};
		struct pc_policy_val v = {.rule_id = e->rule_id,
					  .action = e->action,
					  .flags = e->flags};

		if (bpf_map_update_elem(fd, &k, &v, BPF_ANY))
			return -errno;
	}
	return 0;
}

static int zero_rule_stats(struct pc_dp *dp, size_t nrules, __u8 slot)
{
	int fd = pc_dp_map_fd(dp, "rule_stats");
	struct pc_counter *zero = pc_xcalloc((size_t)dp->ncpus, sizeof(*zero));
	int err = 0;

	for (__u32 id = 0; id <= nrules && !err; id++) {
		__u32 idx = slot * PC_MAX_RULES + id;

		if (bpf_map_update_elem(fd, &idx, zero, BPF_ANY))
			err = -errno;
	}
	free(zero);
	return err;
}

/* The data plane's form of a rule's rate (see pc_rate_val). */
void pc_dp_rate_val(const struct pc_rate *r, struct pc_rate_val *v)
{
	unsigned __int128 tau;

	memset(v, 0, sizeof(*v));
	v->period16 = (__u64)r->period_s * 1000000000ULL * 16;
	v->units = r->units;
	tau = (unsigned __int128)r->burst * v->period16 / r->units;
	v->tau16 = tau > UINT64_MAX ? UINT64_MAX : (__u64)tau;
	v->bytes = r->unit == PC_RATE_BYTES;
}

static int write_rates(int fd, const struct pc_compiled *c, __u8 slot)
{
	for (size_t i = 0; i < c->nrules; i++) {
		__u32 idx = slot * PC_MAX_RULES + (__u32)i + 1;
		struct pc_rate_val v;

		if (!c->rates[i].units)
			continue;
		pc_dp_rate_val(&c->rates[i], &v);
		if (bpf_map_update_elem(fd, &idx, &v, BPF_ANY))
			return -errno;
	}
	return 0;
}

/* Delete every rates entry of one slot (keys slot * PC_MAX_RULES + id). */
static int clear_rates(int fd, __u8 slot)
{
	__u32 key, next, *del = NULL;
	size_t n = 0, cap = 0;
	int have = 0, err = 0;

	while (!bpf_map_get_next_key(fd, have ? &key : NULL, &next)) {
		if (next / PC_MAX_RULES == slot) {
			pc_xgrow(&del, &cap, n, sizeof(*del));
			del[n++] = next;
		}
		key = next;
		have = 1;
	}
	for (size_t i = 0; i < n; i++)
		if (bpf_map_delete_elem(fd, &del[i]) && errno != ENOENT)
			err = -errno;
	free(del);
	return err;
}

static int clear_all(struct pc_dp *dp, __u8 slot)
{
	int err;

	if ((err = clear_rates(pc_dp_map_fd(dp, "rates"), slot)) ||
	    (err = clear_slot(pc_dp_map_fd(dp, "policy"),
			      sizeof(struct pc_policy_key), slot)) ||
	    (err = clear_slot(pc_dp_map_fd(dp, "identities"),
			      sizeof(struct pc_lpm_key), slot)) ||
	    (err = clear_slot(pc_dp_map_fd(dp, "services"),
			      sizeof(struct pc_lpm_key), slot)))
		return err;
	return 0;
}

static int fill_slot(struct pc_dp *dp, const struct pc_compiled *c, __u8 slot)
{
	int err;

	if ((err = clear_all(dp, slot)) ||
	    (err = zero_rule_stats(dp, c->nrules, slot)) ||
	    (err = write_sets(pc_dp_map_fd(dp, "identities"), c->idents,
			      c->nidents, slot)) ||
	    (err = write_sets(pc_dp_map_fd(dp, "services"), c->services,
			      c->nservices, slot)) ||
	    (err = write_rates(pc_dp_map_fd(dp, "rates"), c, slot)) ||
	    (err = write_policy(pc_dp_map_fd(dp, "policy"), c, slot)))
		return err;
	/* the slot's mode: the idle slot's bit, read by no packet yet */
	if (c->mode == PC_MODE_AUDIT)
		__atomic_fetch_or(&dp->cfg->flags, PC_CFG_AUDIT_SLOT(slot),
				  __ATOMIC_RELEASE);
	else
		__atomic_fetch_and(&dp->cfg->flags, ~PC_CFG_AUDIT_SLOT(slot),
				   __ATOMIC_RELEASE);
	return 0;
}

int pc_dp_apply(struct pc_dp *dp, const struct pc_compiled *c,
		uint64_t *generation)
{
	uint64_t gen = pc_dp_generation(dp) + 1;
	__u8 slot = gen & 1;
	int err;

	err = fill_slot(dp, c, slot);
	if (err) {
		pc_error("failed to write policy generation %llu: %s",
			 (unsigned long long)gen, strerror(-err));
		clear_all(dp, slot); /* the live slot was never touched */
		return err;
	}
	__atomic_store_n(&dp->cfg->generation, gen, __ATOMIC_RELEASE);
	err = pc_dp_sync(dp);
	if (err)
		pc_warn("failed to wait for running programs: %s; keeping the "
			"old slot until the next push",
			strerror(-err));
	else
		clear_all(dp, slot ^ 1);
	*generation = gen;
	return 0;
}

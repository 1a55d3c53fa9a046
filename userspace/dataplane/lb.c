// SPDX-License-Identifier: Apache-2.0
/*
 * Load-balancing maps: a policy's virtual addresses (lb_vips) and tables
 * (lb_tables) per slot, written with the rest of the slot, and a live
 * table rewritten in one update when a backend's health changes.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>

#include <bpf/bpf.h>

#include "dp_internal.h"

void pc_dp_set_lb_state(struct pc_dp *dp, pc_lb_state_fn fn, void *arg)
{
	dp->lb_state = fn;
	dp->lb_state_arg = arg;
}

static __u32 table_key(__u8 slot, size_t table)
{
	return slot * PC_LB_MAX_SERVICES + (__u32)table;
}

/* Build table i of c as its backends' health is now. */
static int build(struct pc_dp *dp, const struct pc_compiled *c, size_t i,
		 struct pc_lb_table *out)
{
	const struct pc_lb_entry *t = &c->lb[i];
	uint8_t up[PC_LB_MAX_BACKENDS];
	uint32_t rtt[PC_LB_MAX_BACKENDS];

	memset(up, 1, sizeof(up));
	memset(rtt, 0, sizeof(rtt));
	if (dp->lb_state)
		dp->lb_state(dp->lb_state_arg, t, up, rtt);
	return pc_lb_table_build(t, up, rtt, out);
}

int pc_dp_lb_write(struct pc_dp *dp, const struct pc_compiled *c, __u8 slot)
{
	int vfd = pc_dp_map_fd(dp, "lb_vips"),
	    tfd = pc_dp_map_fd(dp, "lb_tables");
	struct pc_lb_table *tab = pc_xcalloc(1, sizeof(*tab));
	int err = 0;

	for (size_t i = 0; i < c->nlb && !err; i++) {
		__u32 key = table_key(slot, i);

		if ((err = build(dp, c, i, tab)))
			break;
		if (bpf_map_update_elem(tfd, &key, tab, BPF_ANY))
			err = -errno;
	}
	for (size_t i = 0; i < c->nvips && !err; i++) {
		struct pc_lb_vip_key k = {.port = c->vips[i].port,
					  .proto = c->vips[i].proto,
					  .slot = slot};
		struct pc_lb_vip_val v = {
			.table = table_key(slot, c->vips[i].table)};

		memcpy(k.addr, c->vips[i].addr, 16);
		if (bpf_map_update_elem(vfd, &k, &v, BPF_ANY))
			err = -errno;
	}
	free(tab);
	/* the slot's bit, read by no packet until its generation is live */
	if (!err && c->nvips)
		__atomic_fetch_or(&dp->cfg->flags, PC_CFG_LB_SLOT(slot),
				  __ATOMIC_RELEASE);
	else
		__atomic_fetch_and(&dp->cfg->flags, ~PC_CFG_LB_SLOT(slot),
				   __ATOMIC_RELEASE);
	return err;
}

int pc_dp_lb_clear(struct pc_dp *dp, __u8 slot)
{
	int err;

	/* this slot's programs never read these once its bit is off */
	__atomic_fetch_and(&dp->cfg->flags, ~PC_CFG_LB_SLOT(slot),
			   __ATOMIC_RELEASE);
	err = pc_dp_clear_slot(pc_dp_map_fd(dp, "lb_vips"),
			       sizeof(struct pc_lb_vip_key),
			       offsetof(struct pc_lb_vip_key, slot), slot);
	return err ? err
		   : pc_dp_clear_indexed(pc_dp_map_fd(dp, "lb_tables"),
					 PC_LB_MAX_SERVICES, slot);
}

int pc_dp_lb_refresh(struct pc_dp *dp, const struct pc_compiled *live,
		     size_t table)
{
	struct pc_lb_table *tab;
	__u32 key = table_key(pc_dp_generation(dp) & 1, table);
	int err;

	if (!live || table >= live->nlb)
		return -ENOENT;
	tab = pc_xcalloc(1, sizeof(*tab));
	err = build(dp, live, table, tab);
	/* one update: a packet sees the old table or the new, whole */
	if (!err && bpf_map_update_elem(pc_dp_map_fd(dp, "lb_tables"), &key,
					tab, BPF_EXIST))
		err = -errno;
	free(tab);
	return err;
}

int pc_dp_lb_read(struct pc_dp *dp, size_t table, struct pc_lb_table *out)
{
	__u32 key = table_key(pc_dp_generation(dp) & 1, table);

	if (bpf_map_lookup_elem(pc_dp_map_fd(dp, "lb_tables"), &key, out))
		return -errno;
	return 0;
}

uint64_t pc_dp_lb_conns(struct pc_dp *dp, const uint8_t addr[16], uint16_t port)
{
	struct pc_lb_conn_key k = {.port = port};
	__u64 n = 0;

	memcpy(k.addr, addr, 16);
	if (bpf_map_lookup_elem(pc_dp_map_fd(dp, "lb_conns"), &k, &n))
		return 0;
	return n;
}

/*
 * The sweep: lb_conns as conntrack holds it.  The programs count a flow
 * up when it starts and down when a TCP connection closes or a push
 * revokes it; UDP flows and TCP flows that expire or are evicted never
 * count down, so the counts are set here from the entries that are live.
 */
struct pc_lb_sweep {
	struct pc_dp *dp;
	struct pc_lb_conn_key *keys; /* sorted, unique: the live backends */
	uint64_t *counts;
	size_t n;
	uint64_t now;
	struct pc_lb_sweep_stats st;
};

static int conn_key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct pc_lb_conn_key));
}

int pc_dp_lb_sweep_visit(void *arg, const struct pc_ct_key *k,
			 const struct pc_ct_val *v)
{
	struct pc_lb_sweep *sw = arg;
	struct pc_lb_conn_key ck = {0};
	struct pc_lb_conn_key *at;

	sw->st.entries++;
	if (v->nat != PC_NAT_DNAT)
		return 0;
	if (k->proto == IPPROTO_TCP && v->state >= PC_TCP_CLOSING)
		return 0;
	/* (an entry seen after now was stamped counts as live) */
	if (v->last_seen_ns < sw->now &&
	    sw->now - v->last_seen_ns > pc_ct_timeout_ns(k->proto, v->state))
		return 0;
	memcpy(ck.addr, v->nat_addr, 16);
	ck.port = v->lb_any_port ? 0 : v->nat_port;
	at = bsearch(&ck, sw->keys, sw->n, sizeof(ck), conn_key_cmp);
	if (at) {
		sw->counts[at - sw->keys]++;
		sw->st.flows++;
	}
	return 0;
}

struct pc_lb_sweep *pc_dp_lb_sweep_begin(struct pc_dp *dp,
					 const struct pc_compiled *live)
{
	struct pc_lb_sweep *sw = pc_xcalloc(1, sizeof(*sw));
	size_t nb = 0, j = 0;
	struct timespec ts;

	sw->dp = dp;
	for (size_t t = 0; live && t < live->nlb; t++)
		nb += live->lb[t].nbackends;
	sw->keys = pc_xcalloc(nb ? nb : 1, sizeof(*sw->keys));
	sw->counts = pc_xcalloc(nb ? nb : 1, sizeof(*sw->counts));
	for (size_t t = 0; live && t < live->nlb; t++)
		for (size_t b = 0; b < live->lb[t].nbackends; b++) {
			const struct pc_backend *be = &live->lb[t].backends[b];

			memcpy(sw->keys[j].addr, be->addr, 16);
			sw->keys[j++].port = be->port;
		}
	if (nb)
		qsort(sw->keys, nb, sizeof(*sw->keys), conn_key_cmp);
	/* a backend in two services is one key */
	for (size_t i = 0; i < nb; i++)
		if (!sw->n || conn_key_cmp(&sw->keys[sw->n - 1], &sw->keys[i]))
			sw->keys[sw->n++] = sw->keys[i];
	clock_gettime(CLOCK_MONOTONIC, &ts); /* bpf_ktime_get_ns's clock */
	sw->now = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	return sw;
}

/* lb_conns as the walk counted: only counts that changed, and keys of
 * backends no longer in the policy removed. */
static int sweep_write(struct pc_lb_sweep *sw)
{
	int fd = pc_dp_map_fd(sw->dp, "lb_conns"), err = 0, have = 0;
	struct pc_lb_conn_key k, prev, *gone = NULL;
	size_t cap = 0, ngone = 0;

	/* only counts that changed are written: an update of a
	 * preallocated hash swaps the element, and a program adding to the
	 * old one meanwhile would add to whatever reuses it */
	for (size_t i = 0; i < sw->n && !err; i++) {
		__u64 c = sw->counts[i], was;

		if (!bpf_map_lookup_elem(fd, &sw->keys[i], &was) && was == c)
			continue;
		if (bpf_map_update_elem(fd, &sw->keys[i], &c, BPF_ANY))
			err = -errno;
	}
	/* keys of backends no longer in the policy go (the map is small,
	 * and a full one would leave a new backend uncounted) */
	while (!bpf_map_get_next_key(fd, have ? &prev : NULL, &k)) {
		prev = k;
		have = 1;
		if (bsearch(&k, sw->keys, sw->n, sizeof(k), conn_key_cmp))
			continue;
		pc_xgrow(&gone, &cap, ngone, sizeof(*gone));
		gone[ngone++] = k;
	}
	for (size_t i = 0; i < ngone; i++)
		if (!bpf_map_delete_elem(fd, &gone[i]))
			sw->st.removed++;
	sw->st.backends = sw->n;
	free(gone);
	return err;
}

int pc_dp_lb_sweep_end(struct pc_lb_sweep *sw, int walk_err,
		       struct pc_lb_sweep_stats *st)
{
	/* counts from half a walk are no better */
	int err = walk_err ? walk_err : sweep_write(sw);

	*st = sw->st;
	free(sw->keys);
	free(sw->counts);
	free(sw);
	return err;
}

int pc_dp_lb_sweep(struct pc_dp *dp, const struct pc_compiled *live,
		   struct pc_lb_sweep_stats *st)
{
	struct pc_lb_sweep *sw = pc_dp_lb_sweep_begin(dp, live);

	return pc_dp_lb_sweep_end(
		sw, pc_dp_ct_each(dp, pc_dp_lb_sweep_visit, sw), st);
}

/* As the programs order a flow's ends (pc_end_less). */
static int end_less(const uint8_t *a, uint16_t ap, const uint8_t *b,
		    uint16_t bp)
{
	int c = memcmp(a, b, 16);

	return c ? c < 0 : ap < bp;
}

int pc_dp_local_flow(struct pc_dp *dp, uint8_t proto, const uint8_t local[16],
		     uint16_t lport, const uint8_t remote[16], uint16_t rport,
		     int add)
{
	int fd = pc_dp_map_fd(dp, "conntrack");
	struct pc_ct_key k = {.proto = proto};
	struct pc_ct_val v = {0};
	struct timespec ts;
	int lo = end_less(local, lport, remote, rport);

	memcpy(k.lo_addr, lo ? local : remote, 16);
	memcpy(k.hi_addr, lo ? remote : local, 16);
	k.lo_port = lo ? lport : rport;
	k.hi_port = lo ? rport : lport;
	if (!add) {
		if (!bpf_map_delete_elem(fd, &k))
			dp->ct_user_deletes++;
		else if (errno != ENOENT)
			return -errno;
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts); /* bpf_ktime_get_ns's clock */
	v.created_ns = v.last_seen_ns =
		(uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	v.generation = pc_dp_generation(dp);
	v.orig_is_lo = (uint8_t)lo;
	v.action = PC_ACT_ALLOW;
	v.flags = PC_PF_LOCAL;
	v.state = proto == IPPROTO_TCP ? PC_TCP_SYN_SENT : PC_TCP_NONE;
	/* counted as an insert only where there was no entry (looked up
	 * first: an LRU update finds room before it looks for the key) */
	if (bpf_map_lookup_elem(fd, &k, &(struct pc_ct_val){0}) &&
	    !bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST)) {
		dp->ct_user_inserts++;
		return 0;
	}
	if (bpf_map_update_elem(fd, &k, &v, BPF_ANY))
		return -errno;
	return 0;
}

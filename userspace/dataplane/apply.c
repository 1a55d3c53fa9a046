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

/* What the kernel answers for a batch op a map type lacks (not in libc) */
#ifndef ENOTSUPP
#define ENOTSUPP 524
#endif

static int no_batch_ops(int err)
{
	/* (ENOTSUP is EOPNOTSUPP on Linux) */
	return err == EINVAL || err == EOPNOTSUPP || err == ENOTSUPP;
}

int pc_dp_sync(struct pc_dp *dp)
{
	__u32 zero = 0;

	/* updating a map-in-map makes the kernel call synchronize_rcu() */
	if (bpf_map_update_elem(dp->sync_fd, &zero, &dp->sync_inner_fd, 0))
		return -errno;
	return 0;
}

/* Delete every key of map whose slot byte (at offset off) equals slot. */
int pc_dp_clear_slot(int fd, size_t key_size, size_t off, __u8 slot)
{
	size_t n = 0, cap = 1024;
	char *keys = malloc(cap * key_size);
	char prev[64] = {0}, cur[64];
	int have_prev = 0, err = 0;

	if (!keys)
		return -ENOMEM;
	/* collect first: deleting while walking a trie can skip keys */
	while (!bpf_map_get_next_key(fd, have_prev ? prev : NULL, cur)) {
		if ((__u8)cur[off] == slot) {
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

/*
 * Many updates (or deletes) in one syscall where the kernel has batch
 * operations for the map type, one by one where it has not (LPM tries
 * before Linux 6.x).  keys and vals are arrays of n elements.
 */
static int update_many(int fd, const void *keys, const void *vals, size_t n,
		       size_t ksz, size_t vsz)
{
	LIBBPF_OPTS(bpf_map_batch_opts, o);
	const char *k = keys, *v = vals;
	size_t done = 0;

	while (done < n) {
		__u32 cnt = (__u32)(n - done > 65536 ? 65536 : n - done);

		if (bpf_map_update_batch(fd, k + done * ksz, v + done * vsz,
					 &cnt, &o)) {
			if (!no_batch_ops(errno))
				return -errno;
			break; /* no batch ops here: the slow way */
		}
		done += cnt;
	}
	for (; done < n; done++)
		if (bpf_map_update_elem(fd, k + done * ksz, v + done * vsz,
					BPF_ANY))
			return -errno;
	return 0;
}

static int delete_many(int fd, const void *keys, size_t n, size_t ksz)
{
	LIBBPF_OPTS(bpf_map_batch_opts, o);
	const char *k = keys;
	size_t done = 0;

	while (done < n) {
		__u32 cnt = (__u32)(n - done > 65536 ? 65536 : n - done);

		if (bpf_map_delete_batch(fd, k + done * ksz, &cnt, &o)) {
			if (errno == ENOENT) {
				done += cnt + 1; /* cnt done, one missing */
				continue;
			}
			if (!no_batch_ops(errno))
				return -errno;
			break;
		}
		done += cnt;
	}
	for (; done < n; done++)
		if (bpf_map_delete_elem(fd, k + done * ksz) && errno != ENOENT)
			return -errno;
	return 0;
}

static struct pc_lpm_key *set_keys(const struct pc_set_entry *v, size_t n,
				   __u8 slot)
{
	struct pc_lpm_key *k = pc_xcalloc(n ? n : 1, sizeof(*k));

	for (size_t i = 0; i < n; i++) {
		k[i].prefixlen = 32u + v[i].prefix.plen;
		k[i].slot = slot;
		memcpy(k[i].addr, v[i].prefix.addr, 16);
	}
	return k;
}

/* Host prefixes go to the hash, the rest to the trie (see bpf/lib/maps.h). */
/* n[0]: trie entries written, n[1] host entries */
static int write_sets(int hosts_fd, int trie_fd, const struct pc_set_entry *v,
		      size_t n, __u8 slot, size_t nw[2])
{
	struct pc_lpm_key *k = set_keys(v, n, slot);
	struct pc_lpm_key *hk = pc_xcalloc(n ? n : 1, sizeof(*hk));
	struct pc_set_val *val = pc_xcalloc(n ? n : 1, sizeof(*val));
	struct pc_set_val *hval = pc_xcalloc(n ? n : 1, sizeof(*hval));
	size_t nh = 0, nt = 0;
	int err;

	for (size_t i = 0; i < n; i++) {
		if (v[i].prefix.plen == 128) {
			hk[nh] = k[i];
			hval[nh++].set_id = v[i].set_id;
		} else {
			k[nt] = k[i];
			val[nt++].set_id = v[i].set_id;
		}
	}
	err = update_many(hosts_fd, hk, hval, nh, sizeof(*hk), sizeof(*hval));
	if (!err)
		err = update_many(trie_fd, k, val, nt, sizeof(*k),
				  sizeof(*val));
	nw[0] = nt;
	nw[1] = nh;
	free(k);
	free(hk);
	free(val);
	free(hval);
	return err;
}

/* ---- WireGuard peers ----------------------------------------------------- */

static void wg_free(struct pc_dp *dp)
{
	for (size_t i = 0; i < dp->nwg; i++)
		free(dp->wg[i].ips);
	free(dp->wg);
	dp->wg = NULL;
	dp->nwg = 0;
}

void pc_dp_set_wg_peers(struct pc_dp *dp, const struct pc_dp_wg_peer *v,
			size_t n)
{
	wg_free(dp);
	dp->wg = pc_xcalloc(n ? n : 1, sizeof(*dp->wg));
	for (size_t i = 0; i < n; i++) {
		dp->wg[i] = v[i];
		dp->wg[i].ips = pc_xcalloc(v[i].nips ? v[i].nips : 1,
					   sizeof(*v[i].ips));
		memcpy(dp->wg[i].ips, v[i].ips, v[i].nips * sizeof(*v[i].ips));
	}
	dp->nwg = n;
}

int pc_dp_set_wg_iface(struct pc_dp *dp, unsigned int ifindex, uint8_t wg_id)
{
	struct pc_wg_iface_val v = {.wg_id = wg_id};
	__u32 k = ifindex;

	if (bpf_map_update_elem(pc_dp_map_fd(dp, "wg_ifaces"), &k, &v, BPF_ANY))
		return -errno;
	return 0;
}

int pc_dp_set_wg_ports(struct pc_dp *dp, const struct pc_dp_wg_port *v,
		       size_t n)
{
	int fd = pc_dp_map_fd(dp, "wg_ports");
	struct pc_wg_port_key k, next;
	int have = 0;

	for (size_t i = 0; i < n; i++) {
		struct pc_wg_port_key key = {.port = v[i].port};
		struct pc_wg_port_val val = {.handshakes_per_sec = v[i].per_sec,
					     .burst = v[i].burst};

		if (bpf_map_update_elem(fd, &key, &val, BPF_ANY))
			return -errno;
	}
	/* the ports no longer listed */
	while (!bpf_map_get_next_key(fd, have ? &k : NULL, &next)) {
		size_t i;

		for (i = 0; i < n && v[i].port != next.port; i++)
			;
		k = next;
		have = 1;
		if (i == n && !bpf_map_delete_elem(fd, &next))
			have = 0; /* start over: the walk lost its place */
	}
	if (n)
		__atomic_fetch_or(&dp->cfg->flags, PC_CFG_WG_SHIELD,
				  __ATOMIC_RELEASE);
	else
		__atomic_fetch_and(&dp->cfg->flags, ~PC_CFG_WG_SHIELD,
				   __ATOMIC_RELEASE);
	return 0;
}

int pc_dp_prune_wg_ifaces(struct pc_dp *dp, const unsigned int *keep, size_t n)
{
	int fd = pc_dp_map_fd(dp, "wg_ifaces");
	__u32 k, next, del[PC_MAX_WG_IFACES];
	size_t nd = 0;
	int have = 0;

	while (nd < PC_MAX_WG_IFACES &&
	       !bpf_map_get_next_key(fd, have ? &k : NULL, &next)) {
		size_t i;

		for (i = 0; i < n && keep[i] != next; i++)
			;
		if (i == n)
			del[nd++] = next;
		k = next;
		have = 1;
	}
	for (size_t i = 0; i < nd; i++)
		if (bpf_map_delete_elem(fd, &del[i]) && errno != ENOENT)
			return -errno;
	return 0;
}

static int peer_cmp(const void *key, const void *e)
{
	return memcmp(key, ((const struct pc_peer_entry *)e)->key,
		      PC_WG_KEY_LEN);
}

/* Each known peer's prefixes with its identity set, into slot. */
static int write_wg_peers(struct pc_dp *dp, const struct pc_compiled *c,
			  __u8 slot)
{
	int fd = pc_dp_map_fd(dp, "wg_peers");

	dp->trie_n[PC_DP_TRIE_WG_PEERS][slot] = 0;

	for (size_t i = 0; i < dp->nwg; i++) {
		const struct pc_dp_wg_peer *w = &dp->wg[i];
		const struct pc_peer_entry *e = bsearch(
			w->key, c->peers, c->npeers, sizeof(*e), peer_cmp);

		/* a peer the policy does not name is written too, with no
		 * identity: its address must find it, not a wider prefix of
		 * another peer's */
		for (size_t j = 0; j < w->nips; j++) {
			struct pc_wg_peer_key k = {
				.prefixlen = 32u + w->ips[j].plen,
				.slot = slot,
				.wg_id = w->wg_id,
			};
			struct pc_set_val v = {.set_id = e ? e->set_id : 0};

			memcpy(k.addr, w->ips[j].addr, 16);
			if (bpf_map_update_elem(fd, &k, &v, BPF_ANY))
				return -errno;
			dp->trie_n[PC_DP_TRIE_WG_PEERS][slot]++;
		}
	}
	return 0;
}

static struct pc_policy_key *policy_keys(const struct pc_compiled *c, __u8 slot)
{
	struct pc_policy_key *k =
		pc_xcalloc(c->nentries ? c->nentries : 1, sizeof(*k));

	for (size_t i = 0; i < c->nentries; i++) {
		const struct pc_policy_entry *e = &c->entries[i];

		k[i] = (struct pc_policy_key){
			.prefixlen = e->plen,
			.slot = slot,
			.src_set = htonl(e->src_set),
			.dst_set = htonl(e->dst_set),
			.proto = e->plen > PC_POLICY_PLEN_PROTO ? e->proto : 0,
			.port = htons(e->port),
		};
	}
	return k;
}

/* Range pieces go in the trie; everything else is an exact key. */
static int is_range_piece(const struct pc_policy_key *k)
{
	return k->prefixlen > PC_POLICY_PLEN_PORT0 &&
	       k->prefixlen < PC_POLICY_PLEN_FULL;
}

/* Range pieces to the front of k[0..n) (and v alike); returns how many. */
static size_t split_ranges(struct pc_policy_key *k, struct pc_policy_val *v,
			   size_t n)
{
	size_t nr = 0;

	for (size_t i = 0; i < n; i++) {
		if (!is_range_piece(&k[i]))
			continue;
		if (i != nr) {
			struct pc_policy_key tk = k[nr];

			k[nr] = k[i];
			k[i] = tk;
			if (v) {
				struct pc_policy_val tv = v[nr];

				v[nr] = v[i];
				v[i] = tv;
			}
		}
		nr++;
	}
	return nr;
}

/* nw[0]: trie entries written, nw[1] exact ones */
static int write_policy(int trie_fd, int exact_fd, const struct pc_compiled *c,
			__u8 slot, size_t nw[2])
{
	struct pc_policy_key *k = policy_keys(c, slot);
	struct pc_policy_val *v =
		pc_xcalloc(c->nentries ? c->nentries : 1, sizeof(*v));
	size_t nr;
	int err;

	for (size_t i = 0; i < c->nentries; i++)
		v[i] = (struct pc_policy_val){.rule_id = c->entries[i].rule_id,
					      .action = c->entries[i].action,
					      .flags = c->entries[i].flags,
					      .service = c->entries[i].service};
	nr = split_ranges(k, v, c->nentries);
	nw[0] = nr;
	nw[1] = c->nentries - nr;
	err = update_many(trie_fd, k, v, nr, sizeof(*k), sizeof(*v));
	if (!err)
		err = update_many(exact_fd, k + nr, v + nr, c->nentries - nr,
				  sizeof(*k), sizeof(*v));
	free(k);
	free(v);
	return err;
}

/*
 * Zero a slot's first n per-CPU counters (of vsz bytes) in an array
 * indexed slot * per_slot + i, for a new policy: rules, identity sets,
 * services.
 */
static int zero_counters(struct pc_dp *dp, const char *map, __u32 per_slot,
			 size_t n, size_t vsz, __u8 slot)
{
	__u32 *keys = pc_xcalloc(n, sizeof(*keys));
	void *zero = pc_xcalloc(n * (size_t)dp->ncpus, vsz);
	int err;

	for (__u32 i = 0; i < n; i++)
		keys[i] = slot * per_slot + i;
	err = update_many(pc_dp_map_fd(dp, map), keys, zero, n, sizeof(*keys),
			  vsz * (size_t)dp->ncpus);
	free(keys);
	free(zero);
	return err;
}

static int zero_stats(struct pc_dp *dp, const struct pc_compiled *c, __u8 slot)
{
	size_t ni = c->nident_sets + 1, ns = c->service_owners.n + 1;
	int err;

	if (ni > PC_SET_STATS)
		ni = PC_SET_STATS;
	if (ns > PC_SET_STATS)
		ns = PC_SET_STATS;
	if ((err = zero_counters(dp, "rule_stats", PC_MAX_RULES, c->nrules + 1,
				 sizeof(struct pc_counter), slot)) ||
	    (err = zero_counters(dp, "ident_stats", PC_SET_STATS, ni,
				 sizeof(struct pc_set_counter), slot)))
		return err;
	return zero_counters(dp, "service_stats", PC_SET_STATS, ns,
			     sizeof(struct pc_set_counter), slot);
}

/* Delete set keys from the hash (hosts) or the trie (the rest). */
static int delete_sets(int hosts_fd, int trie_fd, struct pc_lpm_key *k,
		       size_t n)
{
	size_t nh = 0;
	int err;

	for (size_t i = 0; i < n; i++) /* hosts to the front */
		if (k[i].prefixlen == 32 + 128) {
			struct pc_lpm_key t = k[nh];

			k[nh++] = k[i];
			k[i] = t;
		}
	err = delete_many(hosts_fd, k, nh, sizeof(*k));
	return err ? err : delete_many(trie_fd, k + nh, n - nh, sizeof(*k));
}

/* Delete exactly what c put into slot (no walk over the maps). */
/* The slot holds no trie entry now. */
static void tries_empty(struct pc_dp *dp, __u8 slot)
{
	for (int t = 0; t < PC_DP_TRIES; t++)
		dp->trie_n[t][slot] = 0;
	dp->trie_known[slot] = 1;
}

static int remove_compiled(struct pc_dp *dp, const struct pc_compiled *c,
			   __u8 slot)
{
	struct pc_lpm_key *ik = set_keys(c->idents, c->nidents, slot);
	struct pc_lpm_key *sk = set_keys(c->services, c->nservices, slot);
	struct pc_policy_key *pk = policy_keys(c, slot);
	__u32 *rk = pc_xcalloc(c->nrules + 1, sizeof(*rk));
	size_t nr = 0;
	int err;

	dp->trie_known[slot] = 0; /* until every map is clear */
	for (size_t i = 0; i < c->nrules; i++)
		if (c->rates[i].units)
			rk[nr++] = slot * PC_MAX_RULES + (__u32)i + 1;
	/* policy first: no entry may outlive the sets it names */
	size_t nrange = split_ranges(pk, NULL, c->nentries);

	if (!(err = pc_dp_lb_clear(dp, slot)) &&
	    !(err = delete_many(pc_dp_map_fd(dp, "policy"), pk, nrange,
				sizeof(*pk))) &&
	    !(err = delete_many(pc_dp_map_fd(dp, "policy_exact"), pk + nrange,
				c->nentries - nrange, sizeof(*pk))) &&
	    !(err = delete_sets(pc_dp_map_fd(dp, "ident_hosts"),
				pc_dp_map_fd(dp, "identities"), ik,
				c->nidents)) &&
	    !(err = delete_sets(pc_dp_map_fd(dp, "service_hosts"),
				pc_dp_map_fd(dp, "services"), sk,
				c->nservices)) &&
	    !(err = delete_many(pc_dp_map_fd(dp, "rates"), rk, nr,
				sizeof(*rk))))
		/* a few entries, written from a list that may have changed */
		err = pc_dp_clear_slot(pc_dp_map_fd(dp, "wg_peers"),
				       sizeof(struct pc_wg_peer_key), 4, slot);
	if (!err)
		tries_empty(dp, slot);
	free(ik);
	free(sk);
	free(pk);
	free(rk);
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

/* Delete every key of a map keyed slot * per_slot + index. */
int pc_dp_clear_indexed(int fd, __u32 per_slot, __u8 slot)
{
	__u32 key, next, *del = NULL;
	size_t n = 0, cap = 0;
	int have = 0, err = 0;

	while (!bpf_map_get_next_key(fd, have ? &key : NULL, &next)) {
		if (next / per_slot == slot) {
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

	dp->trie_known[slot] = 0; /* until every map is clear */

	if ((err = pc_dp_lb_clear(dp, slot)) ||
	    (err = pc_dp_clear_indexed(pc_dp_map_fd(dp, "rates"), PC_MAX_RULES,
				       slot)) ||
	    (err = pc_dp_clear_slot(pc_dp_map_fd(dp, "wg_peers"),
				    sizeof(struct pc_wg_peer_key), 4, slot)) ||
	    (err = pc_dp_clear_slot(pc_dp_map_fd(dp, "ident_hosts"),
				    sizeof(struct pc_lpm_key), 4, slot)) ||
	    (err = pc_dp_clear_slot(pc_dp_map_fd(dp, "service_hosts"),
				    sizeof(struct pc_lpm_key), 4, slot)) ||
	    (err = pc_dp_clear_slot(pc_dp_map_fd(dp, "policy_exact"),
				    sizeof(struct pc_policy_key), 4, slot)) ||
	    (err = pc_dp_clear_slot(pc_dp_map_fd(dp, "policy"),
				    sizeof(struct pc_policy_key), 4, slot)) ||
	    (err = pc_dp_clear_slot(pc_dp_map_fd(dp, "identities"),
				    sizeof(struct pc_lpm_key), 4, slot)) ||
	    (err = pc_dp_clear_slot(pc_dp_map_fd(dp, "services"),
				    sizeof(struct pc_lpm_key), 4, slot)))
		return err;
	tries_empty(dp, slot);
	return 0;
}

static int fill_slot(struct pc_dp *dp, const struct pc_compiled *c, __u8 slot)
{
	int err;
	size_t ni[2] = {0}, ns[2] = {0}, np[2] = {0};

	if (!dp->idle_clean && (err = clear_all(dp, slot)))
		return err;
	dp->idle_clean = 0;
	/* (known again once the slot is written whole, or emptied) */
	dp->trie_known[slot] = 0;
	if ((err = zero_stats(dp, c, slot)) ||
	    (err = write_sets(pc_dp_map_fd(dp, "ident_hosts"),
			      pc_dp_map_fd(dp, "identities"), c->idents,
			      c->nidents, slot, ni)) ||
	    (err = write_sets(pc_dp_map_fd(dp, "service_hosts"),
			      pc_dp_map_fd(dp, "services"), c->services,
			      c->nservices, slot, ns)) ||
	    (err = write_rates(pc_dp_map_fd(dp, "rates"), c, slot)) ||
	    (err = write_wg_peers(dp, c, slot)) ||
	    (err = write_policy(pc_dp_map_fd(dp, "policy"),
				pc_dp_map_fd(dp, "policy_exact"), c, slot,
				np)) ||
	    (err = pc_dp_lb_write(dp, c, slot)))
		return err;
	dp->trie_n[PC_DP_TRIE_IDENTS][slot] = ni[0];
	dp->trie_n[PC_DP_TRIE_IDENT_HOSTS][slot] = ni[1];
	dp->trie_n[PC_DP_TRIE_SERVICES][slot] = ns[0];
	dp->trie_n[PC_DP_TRIE_SERVICE_HOSTS][slot] = ns[1];
	dp->trie_n[PC_DP_TRIE_POLICY][slot] = np[0];
	dp->trie_n[PC_DP_TRIE_POLICY_EXACT][slot] = np[1];
	dp->trie_known[slot] = 1;
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
		const struct pc_compiled *live, uint64_t *generation)
{
	uint64_t gen = pc_dp_generation(dp) + 1;
	__u8 slot = gen & 1;
	int err;

	err = fill_slot(dp, c, slot);
	if (err) {
		pc_error("failed to write policy generation %llu: %s",
			 (unsigned long long)gen, strerror(-err));
		/* the live slot was never touched */
		dp->idle_clean = !clear_all(dp, slot);
		return err;
	}
	__atomic_store_n(&dp->cfg->generation, gen, __ATOMIC_RELEASE);
	*generation = gen;
	err = pc_dp_sync(dp);
	if (err) {
		pc_warn("failed to wait for running programs: %s; keeping the "
			"old slot until the next push",
			strerror(-err));
		return 0;
	}
	/* what the old slot held is known when the caller says; otherwise
	 * (a daemon that adopted pins) walk the maps for it */
	err = live ? remove_compiled(dp, live, slot ^ 1) : -ENOENT;
	if (err)
		err = clear_all(dp, slot ^ 1);
	dp->idle_clean = !err;
	return 0;
}

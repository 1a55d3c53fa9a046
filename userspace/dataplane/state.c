// SPDX-License-Identifier: Apache-2.0
/* Read counters and conntrack; drain the event ring buffer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dp_internal.h"

const char *pc_reason_name(unsigned int reason)
{
	switch (reason) {
#define PC_REASON_CASE(name, value, label) \
	case value:                        \
		return label;
		PC_REASONS(PC_REASON_CASE)
#undef PC_REASON_CASE
	default:
		return NULL;
	}
}

const char *pc_fwd_result_name(unsigned int result)
{
	switch (result) {
#define PC_FWD_CASE(name, value, label) \
	case value:                     \
		return label;
		PC_FWD_RESULTS(PC_FWD_CASE)
#undef PC_FWD_CASE
	default:
		return NULL;
	}
}

/* Sum one per-CPU counter. */
static int read_percpu(struct pc_dp *dp, int fd, __u32 idx,
		       struct pc_counter *out, struct pc_counter *buf)
{
	memset(out, 0, sizeof(*out));
	if (bpf_map_lookup_elem(fd, &idx, buf))
		return -errno;
	for (int c = 0; c < dp->ncpus; c++) {
		out->packets += buf[c].packets;
		out->bytes += buf[c].bytes;
	}
	return 0;
}

/* Every slot of a per-CPU counter array, summed. */
static int read_counters(struct pc_dp *dp, const char *map, __u32 n,
			 struct pc_counter *out)
{
	struct pc_counter *buf = pc_xcalloc((size_t)dp->ncpus, sizeof(*buf));
	int fd = pc_dp_map_fd(dp, map), err = 0;

	for (__u32 i = 0; i < n && !err; i++)
		err = read_percpu(dp, fd, i, &out[i], buf);
	free(buf);
	return err;
}

int pc_dp_read_stats(struct pc_dp *dp, struct pc_counter out[PC_REASON_SLOTS])
{
	return read_counters(dp, "stats", PC_REASON_SLOTS, out);
}

int pc_dp_read_fwd_stats(struct pc_dp *dp, struct pc_counter out[PC_FWD_SLOTS])
{
	return read_counters(dp, "fwd_stats", PC_FWD_SLOTS, out);
}

int pc_dp_read_rule_stats(struct pc_dp *dp, size_t nrules,
			  struct pc_counter *out)
{
	struct pc_counter *buf = pc_xcalloc((size_t)dp->ncpus, sizeof(*buf));
	int fd = pc_dp_map_fd(dp, "rule_stats"), err = 0;
	__u32 base = (pc_dp_generation(dp) & 1) * PC_MAX_RULES;

	for (size_t i = 0; i < nrules && !err; i++)
		err = read_percpu(dp, fd, base + (__u32)i + 1, &out[i], buf);
	free(buf);
	return err;
}

/*
 * Call fn for each entry of a hash map or trie, fn returning non-zero to
 * stop: in batches where the kernel has them (they walk the hash bucket
 * by bucket, so entries that come and go meanwhile do not restart the
 * walk), else key by key, at most max entries.  vsz: a value's size as
 * the syscalls copy it.  keys_only: fn needs no value (key by key, none
 * is then looked up, and fn gets NULL).  0 or -errno.
 */
static int map_each(int fd, size_t ksz, size_t vsz, size_t max, int keys_only,
		    int (*fn)(void *arg, const void *k, const void *v),
		    void *arg)
{
	enum { CHUNK = 4096 };
	char *keys = pc_xcalloc(CHUNK, ksz), *vals, *k, *prev, *v;
	LIBBPF_OPTS(bpf_map_batch_opts, o);
	__u32 batch, cnt;
	void *in = NULL;
	int have = 0, err = 0, stop = 0, e = 0;
	size_t seen = 0;

	vals = pc_xcalloc(CHUNK, vsz); /* batches copy values */
	do {
		cnt = CHUNK;
		err = bpf_map_lookup_batch(fd, in, &batch, keys, vals, &cnt,
					   &o);
		e = err ? errno : 0; /* (before fn, which may set errno) */
		if (err && e != ENOENT)
			break;
		for (__u32 i = 0; i < cnt && !stop; i++)
			stop = fn(arg, keys + i * ksz,
				  keys_only ? NULL : vals + i * vsz);
		in = &batch;
	} while (!err && !stop);
	free(keys);
	free(vals);
	if (!err || e == ENOENT || stop)
		return 0;
	if (in) /* failed halfway: a walk from the start would repeat */
		return -e;
	/* no batch ops (tries): key by key */
	k = pc_xcalloc(2, ksz);
	prev = k + ksz;
	v = keys_only ? NULL : pc_xcalloc(1, vsz);
	while (seen++ < max &&
	       !bpf_map_get_next_key(fd, have ? prev : NULL, k)) {
		memcpy(prev, k, ksz);
		have = 1;
		/* an entry may go between the two calls: skip it */
		if (v && bpf_map_lookup_elem(fd, k, v))
			continue;
		if (fn(arg, k, v))
			break;
	}
	free(k);
	free(v);
	return 0;
}

static int count_any(void *arg, const void *k, const void *v)
{
	(void)k;
	(void)v;
	(*(size_t *)arg)++;
	return 0;
}

struct ct_each {
	int (*fn)(void *arg, const struct pc_ct_key *k,
		  const struct pc_ct_val *v);
	void *arg;
};

static int ct_one(void *arg, const void *k, const void *v)
{
	const struct ct_each *x = arg;

	return x->fn(x->arg, k, v);
}

int pc_dp_ct_each(struct pc_dp *dp,
		  int (*fn)(void *arg, const struct pc_ct_key *k,
			    const struct pc_ct_val *v),
		  void *arg)
{
	struct ct_each x = {fn, arg};

	return map_each(pc_dp_map_fd(dp, "conntrack"), sizeof(struct pc_ct_key),
			sizeof(struct pc_ct_val), PC_CT_ENTRIES, 0, ct_one, &x);
}

struct ct_mux {
	const struct pc_ct_visitor *v;
	size_t n;
};

static int mux_one(void *arg, const struct pc_ct_key *k,
		   const struct pc_ct_val *v)
{
	const struct ct_mux *m = arg;

	for (size_t i = 0; i < m->n; i++)
		m->v[i].fn(m->v[i].arg, k, v);
	return 0;
}

int pc_dp_ct_walk(struct pc_dp *dp, const struct pc_ct_visitor *v, size_t n)
{
	struct ct_mux m = {v, n};

	return n ? pc_dp_ct_each(dp, mux_one, &m) : 0;
}

/* Entries the programs and this process added, and deleted. */
static int ct_changes(struct pc_dp *dp, int64_t *ins, int64_t *del)
{
	struct pc_counter *buf = pc_xcalloc((size_t)dp->ncpus, sizeof(*buf));
	int fd = pc_dp_map_fd(dp, "stats"), err;
	struct pc_counter i = {0}, d = {0};

	if (!(err = read_percpu(dp, fd, PC_STAT_CT_INSERTS, &i, buf)))
		err = read_percpu(dp, fd, PC_STAT_CT_DELETES, &d, buf);
	free(buf);
	*ins = (int64_t)(i.packets + dp->ct_user_inserts);
	*del = (int64_t)(d.packets + dp->ct_user_deletes);
	return err;
}

int pc_dp_ct_usage(struct pc_dp *dp, size_t *entries, uint64_t *evictions)
{
	int64_t ins0, del0, ins1, del1, gone;
	int err;

	*entries = 0;
	*evictions = dp->ct_evictions;
	if ((err = ct_changes(dp, &ins0, &del0)) ||
	    (err = map_each(pc_dp_map_fd(dp, "conntrack"),
			    sizeof(struct pc_ct_key), sizeof(struct pc_ct_val),
			    PC_CT_ENTRIES, 1, count_any, entries)) ||
	    (err = ct_changes(dp, &ins1, &del1)))
		return err;
	/*
	 * The walk races the programs: it may see entries added during it
	 * and miss some deleted or evicted.  Bounds that hold anyway: the
	 * first walk's inserts after it and deletes before give at least
	 * the evictions before it; every later walk's inserts before it and
	 * deletes after give at most the evictions by its end.  So the
	 * count never runs ahead of the truth.
	 */
	if (!dp->ct_ev_known) {
		dp->ct_ev_base = ins1 - del0 - (int64_t)*entries;
		dp->ct_ev_known = 1;
		return 0;
	}
	gone = ins0 - del1 - (int64_t)*entries - dp->ct_ev_base;
	if (gone > 0 && (uint64_t)gone > dp->ct_evictions)
		dp->ct_evictions = (uint64_t)gone;
	*evictions = dp->ct_evictions;
	return 0;
}

int pc_dp_read_set_stats(struct pc_dp *dp, int services, size_t n,
			 struct pc_set_counter *out)
{
	size_t ncpu = (size_t)dp->ncpus;
	struct pc_set_counter *buf;
	__u32 *keys, base = (pc_dp_generation(dp) & 1) * PC_SET_STATS, prev,
		     batch, cnt;
	int fd = pc_dp_map_fd(dp, services ? "service_stats" : "ident_stats");
	LIBBPF_OPTS(bpf_map_batch_opts, o);
	int err = 0;

	if (n > PC_SET_STATS)
		n = PC_SET_STATS;
	if (!n)
		return 0;
	memset(out, 0, n * sizeof(*out));
	buf = pc_xcalloc(n * ncpu, sizeof(*buf));
	keys = pc_xcalloc(n, sizeof(*keys));
	/* one batch from base on (a batch starts after the key it is
	 * given); key by key where the kernel has no batches */
	prev = base - 1;
	cnt = (__u32)n;
	if (bpf_map_lookup_batch(fd, base ? &prev : NULL, &batch, keys, buf,
				 &cnt, &o) &&
	    errno != ENOENT)
		cnt = 0;
	for (size_t i = cnt; i < n && !err; i++) {
		keys[i] = base + (__u32)i;
		if (bpf_map_lookup_elem(fd, &keys[i], buf + i * ncpu))
			err = -errno;
	}
	for (size_t i = 0; i < n && !err; i++)
		for (size_t c = 0; c < ncpu; c++)
			for (int d = 0; d < 2; d++) {
				out[i].packets[d] +=
					buf[i * ncpu + c].packets[d];
				out[i].bytes[d] += buf[i * ncpu + c].bytes[d];
			}
	free(keys);
	free(buf);
	return err;
}

/* Entries in a hash map or trie. */
static size_t count_entries(int fd, const struct bpf_map_info *info)
{
	size_t vsz = info->value_size, n = 0;

	if (info->type == BPF_MAP_TYPE_PERCPU_HASH ||
	    info->type == BPF_MAP_TYPE_LRU_PERCPU_HASH)
		vsz = ((vsz + 7) & ~(size_t)7) *
		      (size_t)libbpf_num_possible_cpus();
	/* (a walk that fails halfway counts what it saw) */
	map_each(fd, info->key_size, vsz, info->max_entries, 1, count_any, &n);
	return n;
}

static const char *map_type_name(__u32 t)
{
	const char *s = libbpf_bpf_map_type_str((enum bpf_map_type)t);

	return s ? s : "unknown";
}

/* The trie's index in dp->trie_n, or -1. */
static int trie_of(const char *name)
{
	static const char *const v[PC_DP_TRIES] = {
		[PC_DP_TRIE_IDENTS] = "identities",
		[PC_DP_TRIE_SERVICES] = "services",
		[PC_DP_TRIE_POLICY] = "policy",
		[PC_DP_TRIE_WG_PEERS] = "wg_peers",
		[PC_DP_TRIE_IDENT_HOSTS] = "ident_hosts",
		[PC_DP_TRIE_SERVICE_HOSTS] = "service_hosts",
		[PC_DP_TRIE_POLICY_EXACT] = "policy_exact"};

	for (int i = 0; i < PC_DP_TRIES; i++)
		if (!strcmp(name, v[i]))
			return i;
	return -1;
}

/* Maps whose entries only the daemon's writes for a push change. */
static int pushed_only(const char *name)
{
	static const char *const v[] = {
		"policy",	 "policy_exact", "ident_hosts", "identities",
		"service_hosts", "services",	 "rates",	"wg_peers",
		"lb_vips",	 "lb_tables"};

	for (size_t i = 0; i < PC_ARRAY_SIZE(v); i++)
		if (!strcmp(name, v[i]))
			return 1;
	return 0;
}

int pc_dp_maps_each(struct pc_dp *dp, int walk,
		    void (*fn)(void *arg, const struct pc_dp_map_use *u),
		    void *arg)
{
	uint64_t gen = pc_dp_generation(dp);
	struct bpf_map *m;
	size_t i = 0;
	int fresh = dp->occ_gen != gen || !gen || walk;

	bpf_object__for_each_map (m, pc_dp_xdp_obj(dp)) {
		struct bpf_map_info info = {0};
		__u32 len = sizeof(info);
		struct pc_dp_map_use u = {.entries = -1};
		int fd = bpf_map__fd(m), t;

		if (bpf_map__is_internal(m) || fd < 0 ||
		    bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		if (info.type == BPF_MAP_TYPE_RINGBUF)
			continue; /* bytes, not entries */
		u.name = bpf_map__name(m);
		u.type = map_type_name(info.type);
		u.capacity = info.max_entries;
		switch (info.type) {
		case BPF_MAP_TYPE_HASH:
		case BPF_MAP_TYPE_LRU_HASH:
		case BPF_MAP_TYPE_PERCPU_HASH:
		case BPF_MAP_TYPE_LRU_PERCPU_HASH:
		case BPF_MAP_TYPE_LPM_TRIE:
		case BPF_MAP_TYPE_DEVMAP_HASH:
			t = trie_of(u.name);
			if (t >= 0 && dp->trie_known[0] && dp->trie_known[1] &&
			    !walk) {
				u.entries = (int64_t)(dp->trie_n[t][0] +
						      dp->trie_n[t][1]);
				break;
			}
			if (i < PC_DP_MAX_MAPS && pushed_only(u.name) &&
			    !fresh) {
				u.entries = (int64_t)dp->occ[i];
				break;
			}
			u.entries = (int64_t)count_entries(fd, &info);
			if (i < PC_DP_MAX_MAPS)
				dp->occ[i] = (size_t)u.entries;
			break;
		default:
			break;
		}
		i++;
		fn(arg, &u);
	}
	dp->occ_gen = gen;
	return 0;
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct pc_dp *dp = ctx;

	if (len >= sizeof(struct pc_event) && dp->ev_fn)
		dp->ev_fn(dp->ev_arg, data);
	return 0;
}

int pc_dp_events_fd(struct pc_dp *dp, pc_event_fn fn, void *arg)
{
	dp->ev_fn = fn;
	dp->ev_arg = arg;
	if (!dp->rb) {
		dp->rb = ring_buffer__new(pc_dp_map_fd(dp, "events"), on_event,
					  dp, NULL);
		if (!dp->rb)
			return -errno;
	}
	return ring_buffer__epoll_fd(dp->rb);
}

int pc_dp_events_poll(struct pc_dp *dp)
{
	int n = ring_buffer__consume(dp->rb);

	return n < 0 ? n : 0;
}

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

int pc_dp_ct_each(struct pc_dp *dp,
		  int (*fn)(void *arg, const struct pc_ct_key *k,
			    const struct pc_ct_val *v),
		  void *arg)
{
	enum { CHUNK = 4096 };
	int fd = pc_dp_map_fd(dp, "conntrack");
	struct pc_ct_key *keys = pc_xcalloc(CHUNK, sizeof(*keys)), k, prev;
	struct pc_ct_val *vals = pc_xcalloc(CHUNK, sizeof(*vals)), v;
	LIBBPF_OPTS(bpf_map_batch_opts, o);
	__u32 batch, cnt;
	void *in = NULL;
	int have = 0, err = 0, stop = 0, e;
	size_t seen = 0;

	/* batches walk the hash bucket by bucket, so entries that come and
	 * go meanwhile do not restart the walk */
	do {
		cnt = CHUNK;
		err = bpf_map_lookup_batch(fd, in, &batch, keys, vals, &cnt,
					   &o);
		if (err && errno != ENOENT)
			break;
		for (__u32 i = 0; i < cnt && !stop; i++)
			stop = fn(arg, &keys[i], &vals[i]);
		in = &batch;
	} while (!err && !stop);
	e = err ? errno : 0;
	free(keys);
	free(vals);
	if (!err || e == ENOENT || stop)
		return 0;
	if (in) /* failed halfway: a walk from the start would repeat */
		return -e;
	/* no batch ops: key by key, at most the map's size */
	while (seen++ < PC_CT_ENTRIES &&
	       !bpf_map_get_next_key(fd, have ? &prev : NULL, &k)) {
		prev = k;
		have = 1;
		/* an entry may go between the two calls: skip it */
		if (bpf_map_lookup_elem(fd, &k, &v))
			continue;
		if (fn(arg, &k, &v))
			break;
	}
	return 0;
}

int pc_dp_ct_count(struct pc_dp *dp, size_t *n)
{
	int fd = pc_dp_map_fd(dp, "conntrack");
	struct pc_ct_key k, prev;
	int have = 0;

	*n = 0;
	while (!bpf_map_get_next_key(fd, have ? &prev : NULL, &k)) {
		(*n)++;
		prev = k;
		have = 1;
	}
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

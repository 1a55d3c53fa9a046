/* SPDX-License-Identifier: Apache-2.0 */
/* State shared by the data plane's source files; not part of its door. */
#ifndef PC_DP_INTERNAL_H
#define PC_DP_INTERNAL_H

#include <limits.h>

#include "dataplane.h"

struct xdp_gate_bpf;
struct tc_gate_bpf;
struct ring_buffer;

#define PC_DP_MAX_MAPS 48

/* The maps only a push writes whose entries this process counts as it
 * writes them (trie_n): the LPM tries, and the hash maps beside them. */
enum {
	PC_DP_TRIE_IDENTS,
	PC_DP_TRIE_SERVICES,
	PC_DP_TRIE_POLICY,
	PC_DP_TRIE_WG_PEERS,
	PC_DP_TRIE_IDENT_HOSTS,
	PC_DP_TRIE_SERVICE_HOSTS,
	PC_DP_TRIE_POLICY_EXACT,
	PC_DP_TRIES
};

struct pc_dp {
	char dir[PATH_MAX / 2];
	struct xdp_gate_bpf *xdp;
	struct tc_gate_bpf *tc;
	struct pc_config *cfg; /* mmap of the config map */
	int sync_fd;
	int sync_inner_fd;
	int adopted;
	int idle_clean; /* the idle slot holds nothing (we emptied it) */
	int ncpus;
	struct ring_buffer *rb;
	pc_event_fn ev_fn;
	void *ev_arg;
	struct pc_dp_wg_peer *wg; /* what each apply writes to wg_peers */
	size_t nwg;
	pc_lb_state_fn lb_state; /* backends' health, for every table built */
	void *lb_state_arg;
	/* entries of the maps only a push changes, counted once per
	 * generation (an LPM trie is walked key by key) */
	uint64_t occ_gen;
	size_t occ[PC_DP_MAX_MAPS];
	/* those maps' entries per slot, as this process wrote and removed
	 * them (a trie has no batch lookup: walking one of 100,000 entries
	 * takes a tenth of a second, and a batched walk of the hash maps of
	 * a 100,000-rule policy as long again); known[slot] 0: walk */
	size_t trie_n[PC_DP_TRIES][2];
	uint8_t trie_known[2];
	/* conntrack entries this process added and deleted (local flows),
	 * and the evictions worked out from them (pc_dp_ct_usage) */
	uint64_t ct_user_inserts, ct_user_deletes;
	int64_t ct_ev_base;
	uint64_t ct_evictions;
	int ct_ev_known;
};

extern int pc_dp_libbpf_quiet;

/* loader.c: the XDP program's object, which holds every map. */
struct bpf_object *pc_dp_xdp_obj(const struct pc_dp *dp);

/* apply.c: delete a slot's keys from a map whose keys carry the slot
 * byte at off, or whose keys are slot * per_slot + index. */
int pc_dp_clear_slot(int fd, size_t key_size, size_t off, __u8 slot);
int pc_dp_clear_indexed(int fd, __u32 per_slot, __u8 slot);

/* lb.c: a policy's load-balancing maps in slot, written or removed. */
int pc_dp_lb_write(struct pc_dp *dp, const struct pc_compiled *c, __u8 slot);
int pc_dp_lb_clear(struct pc_dp *dp, __u8 slot);

/* Wait until no BPF program still runs with what it read before now. */
int pc_dp_sync(struct pc_dp *dp);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* The data plane: load, pin, adopt, attach, apply policy, read state. */
#ifndef PC_DATAPLANE_H
#define PC_DATAPLANE_H

#include <stddef.h>
#include <stdint.h>

#include "portcullis/maps.h"
#include "portcullis/reasons.h"
#include "policy.h"

#define PC_PIN_ROOT "/sys/fs/bpf/portcullis"

enum pc_xdp_mode { PC_XDP_NATIVE, PC_XDP_GENERIC };

struct pc_dp;

struct pc_dp_opts {
	const char *gateway;  /* pin directory name */
	const char *pin_root; /* default PC_PIN_ROOT */
	int tc_ethernet;      /* TC program parses Ethernet (else L3 device) */
};

/* Load the programs; reuse the maps already pinned for this gateway. */
int pc_dp_open(const struct pc_dp_opts *o, struct pc_dp **out);
/* Close our handles; pinned programs and maps keep enforcing. */
void pc_dp_close(struct pc_dp *dp);
/* Detach every pinned link and remove every pin of the gateway. */
int pc_dp_teardown(const struct pc_dp_opts *o);

int pc_dp_adopted(const struct pc_dp *dp);
const char *pc_dp_pin_dir(const struct pc_dp *dp);
uint64_t pc_dp_generation(const struct pc_dp *dp);
int pc_dp_set_flags(struct pc_dp *dp, uint32_t flags);
/* Events for denied packets, per second per CPU (0: none). */
void pc_dp_set_deny_events(struct pc_dp *dp, uint32_t per_sec);

/* The rates map's value for a rule's rate. */
void pc_dp_rate_val(const struct pc_rate *r, struct pc_rate_val *v);

/*
 * Write c into the idle slot, make it live in one store, retire the old.
 * live: what the live slot holds (the policy in force), so that it can be
 * removed without walking the maps; NULL if not known.
 */
int pc_dp_apply(struct pc_dp *dp, const struct pc_compiled *c,
		const struct pc_compiled *live, uint64_t *generation);

/*
 * WireGuard: which peer owns which allowed IPs on which interface (wg_id,
 * 1..PC_MAX_WG_IFACES).  Every apply from now on writes, for each peer
 * the policy names (pc_compiled.peers), its prefixes with the peer's
 * identity set; a peer the policy does not name gets none (default deny).
 * The list is copied.  Changing it takes an apply to reach the data plane.
 */
struct pc_dp_wg_peer {
	uint8_t wg_id;
	uint8_t key[PC_WG_KEY_LEN];
	struct pc_prefix *ips;
	size_t nips;
};
void pc_dp_set_wg_peers(struct pc_dp *dp, const struct pc_dp_wg_peer *v,
			size_t n);
/*
 * XDP lets only WireGuard-shaped datagrams reach port, and at most
 * per_sec handshake initiations a second (burst at once) from a source
 * (0: no limit).  ports[] is every shielded port; others are dropped.
 */
struct pc_dp_wg_port {
	uint16_t port;
	uint32_t per_sec, burst;
};
int pc_dp_set_wg_ports(struct pc_dp *dp, const struct pc_dp_wg_port *v,
		       size_t n);
/* The TC program on ifindex decides by WireGuard peer (wg_id). */
int pc_dp_set_wg_iface(struct pc_dp *dp, unsigned int ifindex, uint8_t wg_id);
/* Forget every WireGuard interface but these ifindexes. */
int pc_dp_prune_wg_ifaces(struct pc_dp *dp, const unsigned int *keep, size_t n);

/*
 * Load balancing.  Every table the data plane writes (with a policy, or
 * on pc_dp_lb_refresh) asks fn which of its backends are up (up[i],
 * preset 1) and their probe round trip (rtt_us[i], preset 0); without fn
 * every backend is up.
 */
typedef void (*pc_lb_state_fn)(void *arg, const struct pc_lb_entry *t,
			       uint8_t *up, uint32_t *rtt_us);
void pc_dp_set_lb_state(struct pc_dp *dp, pc_lb_state_fn fn, void *arg);
/* Rewrite table (an index into live->lb) of the policy in force: one
 * map update, so a new flow sees the old table or the new. */
int pc_dp_lb_refresh(struct pc_dp *dp, const struct pc_compiled *live,
		     size_t table);
/* The live table as the programs see it. */
int pc_dp_lb_read(struct pc_dp *dp, size_t table, struct pc_lb_table *out);
/* Flows the data plane counts for a backend (least-connections). */
uint64_t pc_dp_lb_conns(struct pc_dp *dp, const uint8_t addr[16],
			uint16_t port);
/*
 * Set those counts from conntrack: per backend of live, its balanced flows
 * that are live (not expired, TCP not closing); keys of other backends are
 * removed.  The daemon runs it once a second while any service balances.
 */
struct pc_lb_sweep_stats {
	size_t entries;	 /* conntrack entries walked */
	size_t flows;	 /* balanced flows counted */
	size_t backends; /* counts written */
	size_t removed;	 /* keys of departed backends removed */
};
int pc_dp_lb_sweep(struct pc_dp *dp, const struct pc_compiled *live,
		   struct pc_lb_sweep_stats *st);
/* The same in three steps, to share a walk with other visitors
 * (pc_dp_ct_walk): begin, visit each entry, end with the walk's result
 * (counts are written only after a whole walk).  end frees sw. */
struct pc_lb_sweep;
struct pc_lb_sweep *pc_dp_lb_sweep_begin(struct pc_dp *dp,
					 const struct pc_compiled *live);
int pc_dp_lb_sweep_visit(void *arg, const struct pc_ct_key *k,
			 const struct pc_ct_val *v);
int pc_dp_lb_sweep_end(struct pc_lb_sweep *sw, int walk_err,
		       struct pc_lb_sweep_stats *st);

/*
 * A connection the daemon itself opens (a health probe), from local:lport
 * to remote:rport (ICMP echo: the identifier as both ports), tracked as
 * such so that its replies pass whatever the policy says; add 0 forgets
 * it.  Enter it before the first packet leaves.  0 or -errno.
 */
int pc_dp_local_flow(struct pc_dp *dp, uint8_t proto, const uint8_t local[16],
		     uint16_t lport, const uint8_t remote[16], uint16_t rport,
		     int add);

/* Attach XDP (or replace the program of our pinned link) on ifname; it
 * becomes a target XDP forwards to (tx_ports). */
int pc_dp_attach(struct pc_dp *dp, const char *ifname, enum pc_xdp_mode want,
		 enum pc_xdp_mode *got);
/*
 * Attach the TC program to the clsact ingress of ifname, an L3 device such
 * as WireGuard, replacing our earlier filter in place (no gap).
 */
int pc_dp_attach_tc(struct pc_dp *dp, const char *ifname);
/* Detach pinned links of interfaces not in keep[]. */
int pc_dp_prune(struct pc_dp *dp, char *const *keep, size_t nkeep);

int pc_dp_read_stats(struct pc_dp *dp, struct pc_counter out[PC_REASON_SLOTS]);
/* What XDP forwarding did (PC_FWD_*), when the gateway forwards. */
int pc_dp_read_fwd_stats(struct pc_dp *dp, struct pc_counter out[PC_FWD_SLOTS]);
int pc_dp_read_rule_stats(struct pc_dp *dp, size_t nrules,
			  struct pc_counter *out);
/* The packets of flows from each identity set (services 0) of the
 * policy in force, or decided through each service (1; service i is
 * i + 1): 0 .. n - 1, n at most PC_SET_STATS.  Identity set 0 holds the
 * sets numbered from PC_SET_STATS up. */
int pc_dp_read_set_stats(struct pc_dp *dp, int services, size_t n,
			 struct pc_set_counter *out);
/*
 * Conntrack's entries now, and how many the kernel has evicted (least
 * recently used, for room) since this process first asked: entries the
 * programs and this process added, less those they deleted, less those
 * still there.  Evictions never go down; an entry deleted by hand (say
 * with bpftool) counts as one.
 */
int pc_dp_ct_usage(struct pc_dp *dp, size_t *entries, uint64_t *evictions);
/* Each of the programs' maps: its name, kind, capacity and (for hash
 * maps and tries; -1 for arrays) entries in use.  The tries' entries are
 * what this process wrote (adopted maps: counted once per generation),
 * the other maps only a push changes are counted once per generation,
 * the rest on every call; walk: count every map now. */
struct pc_dp_map_use {
	const char *name;
	const char *type; /* "hash", "lru_hash", "lpm_trie", "array"... */
	uint32_t capacity;
	int64_t entries;
};
int pc_dp_maps_each(struct pc_dp *dp, int walk,
		    void (*fn)(void *arg, const struct pc_dp_map_use *u),
		    void *arg);
/* Call fn for each conntrack entry; fn returns non-zero to stop. */
int pc_dp_ct_each(struct pc_dp *dp,
		  int (*fn)(void *arg, const struct pc_ct_key *k,
			    const struct pc_ct_val *v),
		  void *arg);
/* Several visitors in one walk (a walk of a full table copies some 25
 * MB): each sees every entry; the walk's result is returned. */
struct pc_ct_visitor {
	int (*fn)(void *arg, const struct pc_ct_key *k,
		  const struct pc_ct_val *v); /* its result is ignored */
	void *arg;
};
int pc_dp_ct_walk(struct pc_dp *dp, const struct pc_ct_visitor *v, size_t n);

typedef void (*pc_event_fn)(void *arg, const struct pc_event *e);
/* A file descriptor that is readable when events wait; then poll. */
int pc_dp_events_fd(struct pc_dp *dp, pc_event_fn fn, void *arg);
int pc_dp_events_poll(struct pc_dp *dp);

int pc_dp_map_fd(const struct pc_dp *dp, const char *name);
int pc_dp_xdp_prog_fd(const struct pc_dp *dp);
int pc_dp_tc_prog_fd(const struct pc_dp *dp);

const char *pc_reason_name(unsigned int reason);
const char *pc_fwd_result_name(unsigned int result);

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/* Map definitions shared by every Portcullis BPF program. */
#ifndef PC_BPF_MAPS_H
#define PC_BPF_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "portcullis/maps.h"
#include "portcullis/reasons.h"

/* Live generation and gateway knobs; userspace writes it through mmap. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct pc_config);
} config SEC(".maps");

/* (slot, WireGuard interface, allowed IP) -> the owning peer's identity
 * set (pc_wg_peer_key). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, PC_MAX_WG_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pc_wg_peer_key);
	__type(value, struct pc_set_val);
} wg_peers SEC(".maps");

/* Local WireGuard listen ports XDP shields (pc_wg_port_key). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PC_MAX_WG_IFACES);
	__type(key, struct pc_wg_port_key);
	__type(value, struct pc_wg_port_val);
} wg_ports SEC(".maps");

/* Handshake initiations per source: one GCRA time each. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PC_WG_HS_SOURCES);
	__type(key, struct pc_wg_hs_key);
	__type(value, __u64);
} wg_handshakes SEC(".maps");

/* ifindex -> WireGuard interface number, for the TC program. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PC_MAX_WG_IFACES);
	__type(key, __u32);
	__type(value, struct pc_wg_iface_val);
} wg_ifaces SEC(".maps");

/* Source address -> identity set, per slot. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, PC_MAX_IDENT_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pc_lpm_key);
	__type(value, struct pc_set_val);
} identities SEC(".maps");

/* Destination address -> service set, per slot. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, PC_MAX_SERVICE_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pc_lpm_key);
	__type(value, struct pc_set_val);
} services SEC(".maps");

/*
 * Host addresses (/32, /128) of identities and services: an exact match
 * answers most lookups of a big policy in one hash probe, and keeps the
 * tries small.  Keys are pc_lpm_key with prefixlen 32 + 128.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PC_MAX_IDENT_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pc_lpm_key);
	__type(value, struct pc_set_val);
} ident_hosts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PC_MAX_SERVICE_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pc_lpm_key);
	__type(value, struct pc_set_val);
} service_hosts SEC(".maps");

/* (slot, identity set, service set, proto, port prefix) -> verdict. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, PC_MAX_POLICY_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pc_policy_key);
	__type(value, struct pc_policy_val);
} policy SEC(".maps");

/* Rate limit of each limited rule: slot * PC_MAX_RULES + rule id. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * PC_MAX_RATED_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct pc_rate_val);
} rates SEC(".maps");

/* Token buckets: (generation, rule, source identity set). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PC_RATE_BUCKETS);
	__type(key, struct pc_bucket_key);
	__type(value, struct pc_bucket);
} buckets SEC(".maps");

/*
 * The policy entries that are not port ranges - one port (prefixlen
 * PC_POLICY_PLEN_FULL), every port of a protocol (PORT0), every protocol
 * (PROTO) - are exact keys: pc_policy_key with the bits past prefixlen
 * zero.  Only range pieces stay in the trie, so the trie is small even
 * when the policy is not.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PC_MAX_POLICY_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pc_policy_key);
	__type(value, struct pc_policy_val);
} policy_exact SEC(".maps");

/* One entry per flow, both directions. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PC_CT_ENTRIES);
	__type(key, struct pc_ct_key);
	__type(value, struct pc_ct_val);
} conntrack SEC(".maps");

/* Verdict of a first fragment, for the fragments that follow it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PC_FRAG_ENTRIES);
	__type(key, struct pc_frag_key);
	__type(value, struct pc_frag_val);
} frags SEC(".maps");

/* Packets and bytes per verdict reason. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PC_REASON_SLOTS);
	__type(key, __u32);
	__type(value, struct pc_counter);
} stats SEC(".maps");

/* Packets and bytes per rule: index slot * PC_MAX_RULES + rule id. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * PC_MAX_RULES);
	__type(key, __u32);
	__type(value, struct pc_counter);
} rule_stats SEC(".maps");

/* Packets and bytes of flows from each identity set and to each service
 * set, passed and dropped (pc_set_counter). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * PC_SET_STATS);
	__type(key, __u32);
	__type(value, struct pc_set_counter);
} ident_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * PC_SET_STATS);
	__type(key, __u32);
	__type(value, struct pc_set_counter);
} service_stats SEC(".maps");

/* Deny-event budget window, per CPU (pc_config.deny_events). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pc_ev_budget);
} ev_budget SEC(".maps");

/* Verdict events for the daemon. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, PC_EVENTS_BYTES);
} events SEC(".maps");

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* The one numbered table of verdict reasons: BPF, API, metrics and docs. */
#ifndef PORTCULLIS_REASONS_H
#define PORTCULLIS_REASONS_H

/*
 * X(NAME, value, "label").  Values below PC_R_FIRST_DROP pass the packet,
 * the rest drop it.  Never renumber: retire a value and add a new one.
 */
#define PC_REASONS(X)                                                  \
	X(ALLOW_NEW, 1, "allow_new")                                   \
	X(ALLOW_ESTABLISHED, 2, "allow_established")                   \
	X(ALLOW_REPLY, 3, "allow_reply")                               \
	X(AUDIT, 4, "audit")                                           \
	X(PASS_ARP, 5, "pass_arp")                                     \
	X(PASS_ND, 6, "pass_nd")                                       \
	X(PASS_NONIP, 7, "pass_non_ip")                                \
	X(ALLOW_FRAGMENT, 8, "allow_fragment")                         \
	X(AUDIT_DENY_RULE, 9, "audit_deny_rule")                       \
	X(AUDIT_DENY_DEFAULT, 10, "audit_deny_default")                \
	X(DENY_RULE, 32, "deny_rule")                                  \
	X(DENY_DEFAULT, 33, "deny_default")                            \
	X(DENY_MALFORMED, 34, "deny_malformed")                        \
	X(DENY_FRAGMENT, 35, "deny_fragment")                          \
	X(DENY_NONIP, 36, "deny_non_ip")                               \
	X(DENY_REVOKED, 37, "deny_revoked")                            \
	X(DENY_NO_POLICY, 38, "deny_no_policy")                        \
	X(DENY_RATE, 39, "deny_rate")                                  \
	X(DENY_WRONG_IFACE, 40, "deny_wrong_interface")                \
	X(DENY_WG_SHIELD, 41, "deny_wireguard_shield")                 \
	X(DENY_WG_HANDSHAKE_RATE, 42, "deny_wireguard_handshake_rate") \
	X(DENY_NO_BACKEND, 43, "deny_no_backend")                      \
	X(DENY_NAT, 44, "deny_nat_failed")                             \
	X(EVENTS_SUPPRESSED, 62, "events_suppressed")                  \
	X(EVENTS_LOST, 63, "events_lost")

#define PC_R_FIRST_DROP 32

/*
 * Slots of the stats map that count conntrack changes the programs make
 * (in packets; no reason has these values): entries added for a key that
 * had none, and entries deleted.  With the daemon's own, they tell LRU
 * evictions apart from the rest (docs/observability.md).
 */
#define PC_STAT_CT_INSERTS 60
#define PC_STAT_CT_DELETES 61

/*
 * What XDP forwarding did with a frame it let through (counted only when
 * forwarding is on): FORWARDED went out through the devmap; every other
 * result is a reason the frame went up to the kernel stack instead.
 * Never renumber.
 */
#define PC_FWD_RESULTS(X)                         \
	X(FORWARDED, 1, "forwarded")              \
	X(LOCAL, 2, "local")                      \
	X(NO_NEIGH, 3, "no_neighbour")            \
	X(FRAG_NEEDED, 4, "fragmentation_needed") \
	X(TTL, 5, "ttl_exceeded")                 \
	X(NOT_ATTACHED, 6, "egress_not_attached") \
	X(UNREACHABLE, 7, "unreachable")          \
	X(DISABLED, 8, "forwarding_disabled")     \
	X(UNSUPPORTED, 9, "unsupported")          \
	X(NOT_UNICAST, 10, "not_unicast")         \
	X(OTHER_HOST, 11, "other_host")

#define PC_FWD_SLOTS 16

enum pc_fwd_result {
#define PC_FWD_ENUM(name, value, label) PC_FWD_##name = (value),
	PC_FWD_RESULTS(PC_FWD_ENUM)
#undef PC_FWD_ENUM
};

enum pc_reason {
#define PC_REASON_ENUM(name, value, label) PC_R_##name = (value),
	PC_REASONS(PC_REASON_ENUM)
#undef PC_REASON_ENUM
};

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* Map keys, values and limits shared by the BPF programs and userspace. */
#ifndef PORTCULLIS_MAPS_H
#define PORTCULLIS_MAPS_H

#include <linux/types.h>

/*
 * Only fixed-width types cross this boundary, with explicit padding, so
 * that the BPF object and userspace agree on every byte.  Each struct's
 * size is asserted below and its BTF layout is checked by tests/bpf.
 */

#define PC_MAX_IDENT_PREFIXES 262144
#define PC_MAX_SERVICE_PREFIXES 262144
#define PC_MAX_POLICY_ENTRIES 1048576
#define PC_MAX_RULES 131072 /* rule ids per slot, 0 = default */
#define PC_CT_ENTRIES 262144
#define PC_FRAG_ENTRIES 8192
#define PC_EVENTS_BYTES (1 << 20)
#define PC_REASON_SLOTS 64
#define PC_MAX_IFACES 64 /* XDP interfaces, the forwarding targets */

/* Address are kept in IPv6 form; IPv4 is mapped into ::ffff:0:0/96. */
#define PC_V4_MAPPED_PLEN 96

/* Policy actions, ordered by precedence: a higher value wins a tie. */
#define PC_ACT_NONE 0
#define PC_ACT_AUDIT 1
#define PC_ACT_ALLOW 2
#define PC_ACT_DENY 3

/* Policy entry flags. */
#define PC_PF_LOG 0x01	/* emit an event when a flow is allowed */
#define PC_PF_RATE 0x02 /* the rule has a rate limit (rates map) */
/* conntrack only: a connection the daemon itself opened (a health probe),
 * entered by the daemon; its replies pass whatever the policy says */
#define PC_PF_LOCAL 0x80

/*
 * identities / services: LPM trie over (slot, address).  The slot byte
 * (and the three padding bytes, always zero) are part of every prefix, so
 * the two policy slots never see each other's entries.
 */
struct pc_lpm_key {
	__u32 prefixlen; /* 32 + address prefix length in IPv6 form */
	__u8 slot;	 /* policy slot, generation & 1 */
	__u8 pad[3];
	__u8 addr[16]; /* network byte order, IPv4 mapped */
};

struct pc_set_val {
	__u32 set_id; /* compiled identity / service set */
	__u32 pad;
};

/*
 * wg_peers: LPM trie, (slot, WireGuard interface, peer's allowed IP) ->
 * the identity set of the peer that owns the prefix.  On a WireGuard
 * interface this replaces the address lookup: the peer, not the address,
 * is who is asking.  The slot is at offset 4, as in pc_lpm_key.
 */
struct pc_wg_peer_key {
	__u32 prefixlen; /* 32 + address prefix length in IPv6 form */
	__u8 slot;
	__u8 wg_id; /* the interface's number, wg_ifaces */
	__u8 pad[2];
	__u8 addr[16];
};

/* wg_ifaces: hash, ifindex -> the WireGuard interface's number. */
struct pc_wg_iface_val {
	__u8 wg_id; /* 1.. */
	__u8 pad[3];
};

/*
 * wg_ports: hash, a local WireGuard listen port -> how many handshake
 * initiations a second (and how many at once) one source may send.  XDP
 * lets only WireGuard-shaped datagrams through to such a port.
 */
struct pc_wg_port_key {
	__u16 port; /* host order */
	__u16 pad;
};

struct pc_wg_port_val {
	__u32 handshakes_per_sec;
	__u32 burst;
};

/* wg_handshakes: LRU hash, source address -> its GCRA time, in ns. */
struct pc_wg_hs_key {
	__u8 addr[16];
};

#define PC_MAX_WG_IFACES 64
#define PC_WG_HS_SOURCES 65536
#define PC_MAX_WG_PREFIXES 65536 /* allowed IPs, both slots */

/*
 * policy: LPM trie over (slot, source set, destination set, protocol,
 * port).  A prefix that stops before the port is a port wildcard or a
 * range piece; one that stops before the protocol matches every protocol.
 */
struct pc_policy_key {
	__u32 prefixlen;
	__u8 slot;
	__u8 pad0[3];
	__be32 src_set;
	__be32 dst_set;
	__u8 proto;
	__u8 pad1;
	__be16 port; /* TCP/UDP destination port; ICMP type << 8 | code */
};

#define PC_POLICY_PLEN_PROTO 96	 /* slot..dst_set: every protocol */
#define PC_POLICY_PLEN_PORT0 112 /* ..proto: every port */
#define PC_POLICY_PLEN_FULL 128

struct pc_policy_val {
	__u32 rule_id; /* index into rule_stats, 0 = none */
	__u8 action;   /* PC_ACT_* */
	__u8 flags;    /* PC_PF_* */
	__u16 service; /* the rule matched through this service: its index
			  + 1 (0: "any", or a service past 65534) */
};

/* config: one entry, the live policy generation and gateway knobs. */
#define PC_CFG_NONIP_PASS 0x01 /* non-IP ethertypes other than ARP pass */
#define PC_CFG_LOG_FLOWS 0x02  /* every new allowed flow emits an event */
#define PC_CFG_WG_SHIELD 0x04  /* wg_ports holds ports to shield */
#define PC_CFG_FORWARD 0x08    /* forward allowed frames in XDP (tx_ports) */
/* The policy in a slot is in audit mode: would-be denies pass, logged.
 * Set with the slot's contents, before its generation goes live. */
#define PC_CFG_AUDIT_SLOT(slot) (0x100u << (slot))
/* The slot's policy load-balances some services (lb_vips has entries). */
#define PC_CFG_LB_SLOT(slot) (0x400u << (slot))
#define PC_CFG_GATEWAY_MASK 0xffu /* the knobs; the rest is per policy */
#define PC_CFG_KNOBS                            \
	(PC_CFG_NONIP_PASS | PC_CFG_LOG_FLOWS | \
	 PC_CFG_FORWARD) /* from config */

struct pc_config {
	__u64 generation;  /* 0 = no policy: deny all; slot = generation & 1 */
	__u32 flags;	   /* PC_CFG_* */
	__u32 deny_events; /* events for denied packets, per second per CPU */
};

/* ev_budget: per-CPU window for the deny_events limit. */
struct pc_ev_budget {
	__u64 window_ns; /* start of the current one-second window */
	__u32 used;	 /* deny events emitted in it */
	__u32 pad;
};

/*
 * rates: the token bucket of each rate-limited rule, by slot * PC_MAX_RULES
 * + rule id (a hash, so that only limited rules cost memory).  The bucket
 * is a GCRA: tat is the theoretical arrival time in 1/16 ns; a packet of
 * cost c (1, or its length for byte rates) adds inc = c * period16 / units
 * and is admitted when max(tat, now) + inc - now <= tau16, which admits
 * exactly `burst` units at once and `units` per period on average.
 */
#define PC_MAX_RATED_RULES 32768 /* per slot */
#define PC_RATE_BUCKETS 65536	 /* (rule, source identity set) pairs */

struct pc_rate_val {
	__u64 period16; /* the period in 1/16 ns */
	__u64 units;	/* admitted per period */
	__u64 tau16;	/* burst tolerance: burst * period16 / units */
	__u8 bytes;	/* a packet costs its length, not 1 */
	__u8 pad[7];
};

struct pc_bucket_key {
	__u64 generation; /* a push starts every bucket full */
	__u32 rule_id;
	__u32 src_set;
};

struct pc_bucket {
	__u64 tat16;
};

/* if_macs: hash, ifindex of an XDP interface -> its MAC address. */
struct pc_if_mac {
	__u8 mac[6];
	__u8 pad[2];
};

/* conntrack: LRU hash, one entry per flow, key in canonical order. */
struct pc_ct_key {
	__u8 lo_addr[16]; /* the smaller (address, port) of the two ends */
	__u8 hi_addr[16];
	__u16 lo_port; /* host order; ICMP echo uses the identifier */
	__u16 hi_port;
	__u8 proto;
	__u8 pad[3];
};

#define PC_TCP_NONE 0
#define PC_TCP_SYN_SENT 1
#define PC_TCP_ESTABLISHED 2
#define PC_TCP_CLOSING 3
#define PC_TCP_CLOSED 4

/* How long an entry lives after its last packet, in ns: the programs
 * expire entries by it, the daemon's sweeps count by it. */
static inline __u64 pc_ct_timeout_ns(__u8 proto, __u8 tcp_state)
{
	const __u64 sec = 1000000000ULL;

	if (proto == 6) { /* TCP */
		switch (tcp_state) {
		case PC_TCP_SYN_SENT:
			return 60 * sec;
		case PC_TCP_ESTABLISHED:
			return 6ULL * 3600 * sec;
		case PC_TCP_CLOSING:
			return 60 * sec;
		default:
			return 10 * sec;
		}
	}
	if (proto == 17) /* UDP */
		return 120 * sec;
	return 30 * sec;
}

#define PC_DIR_ORIG 0
#define PC_DIR_REPLY 1

/* conntrack NAT (load-balanced flows). */
#define PC_NAT_NONE 0
#define PC_NAT_DNAT                                           \
	1 /* the client's flow to a virtual address: nat_* is \
	     the backend its packets are rewritten to */
#define PC_NAT_REV                                             \
	2 /* the backend side of such a flow: its replies come \
	     from nat_* (the virtual address and port) */

struct pc_ct_val {
	__u64 created_ns;
	__u64 last_seen_ns;
	__u64 packets[2]; /* PC_DIR_ORIG, PC_DIR_REPLY */
	__u64 bytes[2];
	__u64 generation; /* policy generation the verdict was made under */
	__u32 rule_id;
	__u32 src_set;
	__u16 policy_port; /* port (or ICMP type/code) the policy was asked */
	__u8 orig_is_lo;   /* the initiator is the key's lo side */
	__u8 state;	   /* PC_TCP_* */
	__u8 action;
	__u8 flags; /* PC_PF_* of the deciding entry */
	__u8 wg_id; /* started on this WireGuard interface, 0: not */
	__u8 nat;   /* PC_NAT_* */
	__u8 nat_addr[16];
	__u16 nat_port;	  /* host order */
	__u8 lb_any_port; /* DNAT: the backend has no port of its own (its
			     lb_conns key has port 0) */
	__u8 pad;
	__u32 service; /* pc_policy_val.service of the deciding entry */
};

/* frags: LRU hash, verdict of a first fragment for its followers. */
struct pc_frag_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 id;
	__u8 proto;
	__u8 pad[3];
};

struct pc_frag_val {
	__u64 generation;
	__u32 rule_id;
	__u8 pass;
	__u8 wg_id; /* the interface the first fragment came from */
	__u8 nat;   /* PC_NAT_DNAT: rewrite the destination to nat_addr;
		       PC_NAT_REV: the source */
	__u8 pad;
	__u8 nat_addr[16];
};

/*
 * Load balancing.  lb_vips: hash, (virtual address, protocol, port, slot)
 * -> the service's table; port 0 stands for every port.  lb_tables: hash,
 * slot * PC_LB_MAX_SERVICES + index -> the backends and how a new flow
 * picks one; the daemon replaces a whole table in one update when health
 * changes.  lb_conns: hash, backend -> flows it holds (least-connections).
 */
#define PC_LB_MAX_SERVICES 256 /* tables per slot (service and family) */
#define PC_LB_MAX_BACKENDS 64  /* per table */
#define PC_LB_RING 16381       /* Maglev table size: a prime */
#define PC_LB_MAX_VIPS 65536   /* lb_vips entries per slot */
#define PC_LB_CONNS 65536

#define PC_LB_MAGLEV 0
#define PC_LB_ROUND_ROBIN 1
#define PC_LB_WEIGHTED 2
#define PC_LB_LEAST_CONN 3
#define PC_LB_LATENCY 4
#define PC_LB_SOURCE_HASH 5

struct pc_lb_vip_key {
	__u8 addr[16];
	__u16 port; /* host order; 0: every port */
	__u8 proto;
	__u8 slot;
};

struct pc_lb_vip_val {
	__u32 table;
	__u32 pad;
};

struct pc_lb_backend {
	__u8 addr[16];
	__u16 port; /* host order; 0: the flow's own destination port */
	__u16 weight;
	__u32 pad;
};

struct pc_lb_table {
	__u32 strategy; /* PC_LB_* */
	__u32 nactive;	/* backends taking new flows: active[0, nactive) */
	__u32 rr;	/* round-robin position; the programs advance it */
	__u32 nbackends;
	struct pc_lb_backend backends[PC_LB_MAX_BACKENDS];
	/* indexes into backends: up and not draining; latency: fastest
	 * probe first */
	__u8 active[PC_LB_MAX_BACKENDS];
	/* maglev, source-hash, weighted: a backend index per hash bucket,
	 * each active backend's share by weight */
	__u8 ring[PC_LB_RING];
	__u8 pad[3];
};

struct pc_lb_conn_key {
	__u8 addr[16];
	__u16 port; /* host order, as in pc_lb_backend (0 kept as 0) */
	__u16 pad;
};

/* stats: per-CPU array indexed by reason; rule_stats by slot * MAX + id. */
struct pc_counter {
	__u64 packets;
	__u64 bytes;
};

/*
 * ident_stats: per-CPU array, index slot * PC_SET_STATS + identity set
 * id, of the packets of flows from that set; set ids from PC_SET_STATS
 * up share index 0 of their slot.  service_stats: the same by the
 * service a flow's rule matched it through (pc_policy_val.service; 0 is
 * not counted, and services past the array share the unread index 0).  [0]
 * passed, [1] dropped.
 */
#define PC_SET_STATS 2048

struct pc_set_counter {
	__u64 packets[2];
	__u64 bytes[2];
};

/* events: ring buffer records. */
#define PC_EV_VERDICT 1

struct pc_event {
	__u64 ts_ns;
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u32 ifindex;
	__u32 rule_id;
	__u32 src_set;
	__u32 len;
	__u8 type;   /* PC_EV_* */
	__u8 reason; /* PC_R_* */
	__u8 proto;
	__u8 action;
	__u64 generation;
};

_Static_assert(sizeof(struct pc_lpm_key) == 24, "pc_lpm_key layout");
_Static_assert(sizeof(struct pc_set_val) == 8, "pc_set_val layout");
_Static_assert(sizeof(struct pc_wg_peer_key) == 24, "pc_wg_peer_key layout");
_Static_assert(sizeof(struct pc_wg_iface_val) == 4, "pc_wg_iface_val layout");
_Static_assert(sizeof(struct pc_wg_port_key) == 4, "pc_wg_port_key layout");
_Static_assert(sizeof(struct pc_wg_port_val) == 8, "pc_wg_port_val layout");
_Static_assert(sizeof(struct pc_policy_key) == 20, "pc_policy_key layout");
_Static_assert(sizeof(struct pc_policy_val) == 8, "pc_policy_val layout");
_Static_assert(sizeof(struct pc_config) == 16, "pc_config layout");
_Static_assert(sizeof(struct pc_ev_budget) == 16, "pc_ev_budget layout");
_Static_assert(sizeof(struct pc_rate_val) == 32, "pc_rate_val layout");
_Static_assert(sizeof(struct pc_bucket_key) == 16, "pc_bucket_key layout");
_Static_assert(sizeof(struct pc_bucket) == 8, "pc_bucket layout");
_Static_assert(sizeof(struct pc_ct_key) == 40, "pc_ct_key layout");
_Static_assert(sizeof(struct pc_ct_val) == 96, "pc_ct_val layout");
_Static_assert(sizeof(struct pc_frag_key) == 40, "pc_frag_key layout");
_Static_assert(sizeof(struct pc_frag_val) == 32, "pc_frag_val layout");
_Static_assert(sizeof(struct pc_lb_vip_key) == 20, "pc_lb_vip_key layout");
_Static_assert(sizeof(struct pc_lb_vip_val) == 8, "pc_lb_vip_val layout");
_Static_assert(sizeof(struct pc_lb_backend) == 24, "pc_lb_backend layout");
_Static_assert(sizeof(struct pc_lb_table) == 16 + 24 * PC_LB_MAX_BACKENDS +
						     PC_LB_MAX_BACKENDS +
						     PC_LB_RING + 3,
	       "pc_lb_table layout");
_Static_assert(sizeof(struct pc_lb_conn_key) == 20, "pc_lb_conn_key layout");
_Static_assert(sizeof(struct pc_if_mac) == 8, "pc_if_mac layout");
_Static_assert(sizeof(struct pc_counter) == 16, "pc_counter layout");
_Static_assert(sizeof(struct pc_set_counter) == 32, "pc_set_counter layout");
_Static_assert(sizeof(struct pc_event) == 72, "pc_event layout");

#endif

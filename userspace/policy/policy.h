/* SPDX-License-Identifier: Apache-2.0 */
/* Policy: YAML -> typed model -> compiled map entries.  Pure C. */
#ifndef PC_POLICY_H
#define PC_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "pclib.h"

#define PC_ANY SIZE_MAX /* "any" in a rule's from/to */

struct pc_loc {
	int line; /* 1-based */
	int col;  /* 1-based */
};

struct pc_portrange {
	uint8_t proto;	   /* IP protocol number */
	uint8_t any_proto; /* every protocol, every port */
	uint16_t lo, hi;   /* inclusive; ICMP: type << 8 | code */
};

struct pc_identity {
	char *name; /* inline CIDRs in rules: the CIDR itself */
	struct pc_prefix *cidrs;
	size_t ncidrs;
	uint8_t (*peers)[PC_WG_KEY_LEN];
	size_t npeers;
	size_t *includes; /* identity indices */
	size_t nincludes;
	uint8_t anon; /* made from an inline CIDR in a rule */
	struct pc_loc loc;
};

/* A load-balanced service's backend. */
struct pc_backend {
	uint8_t addr[16]; /* IPv6 form */
	uint16_t port;	  /* 0: the flow's own destination port */
	uint16_t weight;  /* 1..PC_LB_MAX_WEIGHT */
	uint8_t drain;	  /* no new flows; established ones finish */
	struct pc_loc loc;
};

#define PC_LB_MAX_WEIGHT 1000

/* How the daemon probes a service's backends. */
#define PC_PROBE_NONE 0 /* no health checks: every backend is up */
#define PC_PROBE_TCP 1	/* connect() */
#define PC_PROBE_HTTP 2 /* GET path, expect status */
#define PC_PROBE_UDP 3	/* send a datagram, expect it echoed */
#define PC_PROBE_ICMP 4 /* echo request, expect the reply */

struct pc_health {
	uint8_t type;	      /* PC_PROBE_* */
	uint32_t interval_ms; /* 100 .. 3600000 */
	uint32_t timeout_ms;  /* <= interval; default: the interval */
	uint16_t rise, fall;  /* successes to come up, failures to go down */
	uint16_t port;	      /* 0: the backend's (or the service's) port */
	uint16_t status;      /* http: the status that means up */
	char *path;	      /* http */
	char *host;	      /* http: the Host header; default the address */
	char *send;	      /* udp: the datagram; default "ping" */
	struct pc_loc loc;
};

struct pc_service {
	char *name;
	struct pc_prefix *cidrs; /* none: every destination */
	size_t ncidrs;
	struct pc_portrange *ports; /* none: every protocol and port */
	size_t nports;
	uint8_t anon;
	struct pc_loc loc;
	/* load balancing: cidrs are virtual addresses, flows go to these */
	struct pc_backend *backends;
	size_t nbackends, cap_backends;
	uint8_t balance; /* PC_LB_* */
	struct pc_health health;
	struct pc_loc backends_loc, balance_loc;
};

/* rate: a token bucket per (rule, source identity set). */
#define PC_RATE_PACKETS 0
#define PC_RATE_BYTES 1

struct pc_rate {
	uint64_t units;	   /* packets or bytes per period; 0 = no limit */
	uint64_t burst;	   /* bucket depth, same unit */
	uint32_t period_s; /* 1, 60 or 3600 */
	uint8_t unit;	   /* PC_RATE_* */
};

struct pc_rule {
	char *name;
	size_t *from; /* identity indices or PC_ANY */
	size_t nfrom;
	size_t *to; /* service indices or PC_ANY */
	size_t nto;
	uint8_t action; /* PC_ACT_* from portcullis/maps.h */
	uint8_t log;
	struct pc_rate rate;
	struct pc_loc loc;
};

/* A case under tests:, checked against the compiled policy. */
struct pc_test {
	uint8_t src[16], dst[16];
	uint8_t proto;
	uint16_t port;	/* or ICMP type << 8 | code */
	uint8_t expect; /* PC_ACT_*; PC_ACT_DENY also passes default deny */
	char *text;	/* "from X to Y PORT" as written, for messages */
	struct pc_loc loc;
};

#define PC_MODE_ENFORCE 0
#define PC_MODE_AUDIT 1 /* would-be denies pass and are logged */

struct pc_policy {
	char *filename;
	struct pc_identity *identities;
	size_t nidentities;
	struct pc_service *services;
	size_t nservices;
	struct pc_rule *rules;
	size_t nrules;
	struct pc_test *tests;
	size_t ntests;
	uint8_t mode; /* PC_MODE_* */
};

/*
 * Diagnostics: every error and warning of one run, in file order within
 * each stage, each a line "FILE:LINE:COL: message" (warnings say
 * "warning: ").  A policy with any error is refused.
 */
struct pc_diag {
	char *msg;
	uint8_t warning;
};

struct pc_diags {
	struct pc_diag *v;
	size_t n, cap;
	size_t nerrors, nwarnings;
};

#define PC_MAX_ERRORS 50 /* after this many, parsing stops */

__attribute__((format(printf, 5, 6))) void
pc_diag_add(struct pc_diags *d, int warning, const char *file,
	    const struct pc_loc *loc, const char *fmt, ...);
/* The first error's text, or "" */
const char *pc_diags_first_error(const struct pc_diags *d);
void pc_diags_free(struct pc_diags *d);

/* Compiled form: what the data plane maps hold for one slot. */
struct pc_set_entry {
	struct pc_prefix prefix;
	uint32_t set_id;
};

struct pc_policy_entry {
	uint32_t src_set;
	uint32_t dst_set;
	uint8_t proto;
	uint8_t plen; /* PC_POLICY_PLEN_PROTO .. PC_POLICY_PLEN_FULL */
	uint16_t port;
	uint32_t rule_id; /* rule index + 1 */
	uint8_t action;
	uint8_t flags;
	uint16_t service; /* the rule's service through which it matched,
			     index + 1; 0: any (or past 65534).  (No
			     implicit padding: entries compare with memcmp) */
};

struct pc_peer_entry {
	uint8_t key[PC_WG_KEY_LEN];
	uint32_t set_id;
};

/* A load-balancing table: one service's backends of one address family. */
struct pc_lb_entry {
	char *service;
	uint8_t v6;
	uint8_t balance; /* PC_LB_* */
	struct pc_backend *backends;
	uint16_t *probe_ports; /* [i]: the port backend i is probed on */
	size_t nbackends;
	struct pc_health health; /* defaults filled in */
};

/* (virtual address, protocol, port) -> table; port 0: every port. */
struct pc_lb_vip {
	uint8_t addr[16];
	uint8_t proto;
	uint16_t port;
	uint32_t table;
};

/*
 * For counters by name: each identity's (service's) name, in policy
 * order, and the ids of the compiled sets that hold it, ascending:
 * ids[start[i] .. start[i + 1]).
 */
struct pc_owner_sets {
	char **names;
	size_t n;
	size_t *start;
	uint32_t *ids;
};

struct pc_compiled {
	struct pc_set_entry *idents;
	size_t nidents;
	struct pc_set_entry *services;
	size_t nservices;
	struct pc_policy_entry *entries;
	size_t nentries;
	char **rule_names; /* rule_names[id - 1] */
	size_t nrules;
	struct pc_rate *rates;	     /* rates[id - 1]; units 0: no limit */
	struct pc_peer_entry *peers; /* WireGuard peer -> identity set */
	size_t npeers;
	char **ident_set_names;	  /* [set id - 1]: "eng+ops", or "-" */
	char **service_set_names; /* [set id - 1]: "web+dns", or "-" */
	uint32_t nident_sets;
	uint32_t nservice_sets;
	struct pc_owner_sets ident_owners, service_owners;
	uint8_t mode;		/* PC_MODE_* */
	struct pc_lb_entry *lb; /* load-balancing tables */
	size_t nlb;
	struct pc_lb_vip *vips; /* sorted */
	size_t nvips;
};

#define PC_ERR_LEN 512

/*
 * Parse YAML text.  Every error found goes to d (it keeps going after an
 * error where it can); returns -EINVAL if there was any, and *out is then
 * NULL.
 */
int pc_policy_parse(const char *text, size_t len, const char *filename,
		    struct pc_policy **out, struct pc_diags *d);
void pc_policy_free(struct pc_policy *p);
/*
 * Visit identity i and every identity it includes, directly or not, each
 * once (a diamond of includes is not walked twice: linear, not
 * exponential), i first and includes in order; stops at the first fn
 * that returns nonzero and returns that.
 */
int pc_identity_walk(const struct pc_policy *pol, size_t i,
		     int (*fn)(const struct pc_identity *id, void *arg),
		     void *arg);

/*
 * Compile a parsed policy; deterministic (the same policy gives the same
 * bytes).  Errors (the policy does not fit the maps) and warnings (rules
 * that can never match, names no rule uses) go to d.  Returns 0 or -errno.
 */
int pc_policy_compile(const struct pc_policy *p, struct pc_compiled **out,
		      struct pc_diags *d);
void pc_compiled_free(struct pc_compiled *c);

/* What the compiled policy decides for one packet, as the data plane does. */
struct pc_eval {
	uint8_t action; /* PC_ACT_NONE: default deny */
	uint32_t rule_id;
	uint32_t src_set;
	uint32_t dst_set;
};

/* The entries of one (source set, destination set): [*begin, *end). */
void pc_compiled_group(const struct pc_compiled *c, uint32_t src_set,
		       uint32_t dst_set, size_t *begin, size_t *end);

/* The entry the data plane's policy lookup finds for a set pair, or NULL. */
const struct pc_policy_entry *pc_compiled_find(const struct pc_compiled *c,
					       uint32_t src_set,
					       uint32_t dst_set, uint8_t proto,
					       uint16_t port);

void pc_compiled_eval(const struct pc_compiled *c, const uint8_t src[16],
		      const uint8_t dst[16], uint8_t proto, uint16_t port,
		      struct pc_eval *out);

/* Run the policy's tests: against c; one error per failing case.
 * Returns the number that failed. */
size_t pc_policy_run_tests(const struct pc_policy *p,
			   const struct pc_compiled *c, struct pc_diags *d);

/*
 * Parse, compile and run the tests in one go: what validate and push do.
 * On success *pol and *c are set (either may be NULL if not wanted).
 */
int pc_policy_load(const char *text, size_t len, const char *filename,
		   struct pc_policy **pol, struct pc_compiled **c,
		   struct pc_diags *d);

/* A WireGuard peer that the gateway (config or API) puts in an identity,
 * as if the policy listed its key there. */
struct pc_peer_member {
	const char *peer; /* its name, for messages */
	const char *identity;
	uint8_t key[PC_WG_KEY_LEN];
};
/* pc_policy_load with members added before the compile; one naming an
 * identity the policy lacks is a warning (that peer gets no access). */
int pc_policy_load_members(const char *text, size_t len, const char *filename,
			   const struct pc_peer_member *m, size_t n,
			   struct pc_policy **pol, struct pc_compiled **c,
			   struct pc_diags *d);

/* Load balancing (lb.c): check and compile the services with backends
 * into c->lb and c->vips.  0 or -errno, errors in d. */
int pc_lb_compile(const struct pc_policy *pol, struct pc_compiled *c,
		  struct pc_diags *d);
void pc_lb_free(struct pc_compiled *c);
/*
 * The table the data plane holds for t: up[i] (NULL: all up) and not
 * draining backends take new flows, by Maglev ring (weights) or, for
 * latency, fastest rtt_us first.  0 or -errno.
 */
struct pc_lb_table;
int pc_lb_table_build(const struct pc_lb_entry *t, const uint8_t *up,
		      const uint32_t *rtt_us, struct pc_lb_table *out);
/* "198.18.2.2:8080", "[fd00::2]:8080", or the address alone (port 0) */
void pc_backend_format(const uint8_t addr[16], uint16_t port, char *buf,
		       size_t len);

const char *pc_action_name(uint8_t action);
/* The same, but "denied by default" where no rule decides. */
const char *pc_action_verb(uint8_t action);
/* "maglev", "round-robin", ...; "tcp", "http", "udp", "icmp" or "none" */
const char *pc_balance_name(uint8_t balance);
const char *pc_probe_name(uint8_t type);

/*
 * Precedence of rule actions: deny beats audit (a deny being tried out:
 * it must see what allows let through) beats allow.  Among equals the
 * earlier rule decides.
 */
int pc_action_rank(uint8_t action);

/* One port, as tests: and explain take it: 443/tcp, icmp (an echo
 * request), icmp/TYPE[/CODE], gre.  0 or -EINVAL. */
int pc_port_parse_one(const char *s, uint8_t *proto, uint16_t *port);

/* The policy language's name of an IP protocol ("gre"), or NULL. */
const char *pc_proto_name(uint8_t proto);

/* "443/tcp", "8000-8100/tcp", "any/udp", "gre", "icmp/8", "any". */
void pc_format_ports(uint8_t proto, int any_proto, uint16_t lo, uint16_t hi,
		     char *buf, size_t len);

/* explain: what decides one packet, read from the rules themselves. */
struct pc_explanation {
	size_t *identities; /* that hold the source */
	size_t nidentities;
	size_t *services_addr; /* whose addresses hold the destination */
	size_t nservices_addr;
	size_t *services; /* ... and whose ports hold the port */
	size_t nservices;
	size_t *matching; /* every rule that matches, in file order */
	size_t nmatching;
	uint32_t rule_id; /* the deciding rule, 0: none (default deny) */
	uint8_t action;
	int agrees; /* the compiled policy decides the same */
};

void pc_policy_explain(const struct pc_policy *p, const struct pc_compiled *c,
		       const uint8_t src[16], const uint8_t dst[16],
		       uint8_t proto, uint16_t port, struct pc_explanation *x);
void pc_explanation_free(struct pc_explanation *x);

/*
 * diff: which (source, destination, port) gain or lose access between
 * two compiled policies, by name.  One line per change: from and to are
 * the names of the identities and services (joined by '+'), or "any" and
 * the addresses when no name covers them.
 */
struct pc_diff_line {
	char *from, *to;
	char ports[48];
	uint8_t old_action, new_action; /* PC_ACT_*; NONE: default deny */
	char *old_rule, *new_rule;	/* NULL when no rule decides */
};

struct pc_diff {
	struct pc_diff_line *v;
	size_t n, cap;
};

void pc_policy_diff(const struct pc_compiled *old,
		    const struct pc_compiled *new, struct pc_diff *out);
void pc_diff_free(struct pc_diff *d);
/* '+' a change that grants access, '-' one that takes it away, '~' one
 * that alters it (another rule, or allow to audit). */
char pc_diff_sign(const struct pc_diff_line *l);

#endif

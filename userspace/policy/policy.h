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
	char *name;
	struct pc_prefix *cidrs;
	size_t ncidrs;
	struct pc_loc loc;
};

struct pc_service {
	char *name;
	struct pc_prefix *cidrs; /* none: every destination */
	size_t ncidrs;
	struct pc_portrange *ports; /* none: every protocol and port */
	size_t nports;
	struct pc_loc loc;
};

struct pc_rule {
	char *name;
	size_t *from; /* identity indices or PC_ANY */
	size_t nfrom;
	size_t *to; /* service indices or PC_ANY */
	size_t nto;
	uint8_t action; /* PC_ACT_* from portcullis/maps.h */
	uint8_t log;
	struct pc_loc loc;
};

struct pc_policy {
	char *filename;
	struct pc_identity *identities;
	size_t nidentities;
	struct pc_service *services;
	size_t nservices;
	struct pc_rule *rules;
	size_t nrules;
};

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
	uint16_t pad; /* explicit, so that entries compare with memcmp */
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
	char **ident_set_names; /* [set id - 1]: "eng+ops", or "-" */
	uint32_t nident_sets;
	uint32_t nservice_sets;
};

#define PC_ERR_LEN 512

/*
 * Parse YAML text.  On error returns -EINVAL with err set to one line
 * "FILE:LINE:COL: message"; *out is left NULL.
 */
int pc_policy_parse(const char *text, size_t len, const char *filename,
		    struct pc_policy **out, char err[PC_ERR_LEN]);
void pc_policy_free(struct pc_policy *p);

/* Compile a parsed policy; deterministic.  Returns 0 or -errno. */
int pc_policy_compile(const struct pc_policy *p, struct pc_compiled **out,
		      char err[PC_ERR_LEN]);
void pc_compiled_free(struct pc_compiled *c);

/* What the compiled policy decides for one packet, as the data plane does. */
struct pc_eval {
	uint8_t action; /* PC_ACT_NONE: default deny */
	uint32_t rule_id;
	uint32_t src_set;
	uint32_t dst_set;
};

void pc_compiled_eval(const struct pc_compiled *c, const uint8_t src[16],
		      const uint8_t dst[16], uint8_t proto, uint16_t port,
		      struct pc_eval *out);

const char *pc_action_name(uint8_t action);

#endif

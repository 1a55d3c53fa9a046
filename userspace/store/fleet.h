/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fleet's shared state in etcd, under its prefix P:
 *
 *   P/policy/head       {"version": N}: the last version handed out
 *   P/policy/v/N        a version's record (no source), N zero-padded
 *   P/policy/src/N      its source, written in the same transaction
 *   P/members/NAME      a gateway that joined: where it is (kept)
 *   P/alive/NAME        the same gateway now: on its lease
 *
 * Every call here blocks for at most the client's timeout.
 */
#ifndef PC_FLEET_STORE_H
#define PC_FLEET_STORE_H

#include "etcd.h"
#include "store.h"

#define PC_FLEET_VERSION_DIGITS 20

/* the key of a version's record or source: P/policy/v/000...N */
void pc_fleet_key(const struct pc_etcd *e, const char *what, int64_t version,
		  char *out, size_t len);

/*
 * Store r (its version is set here: the next after P/policy/head, taken
 * with a compare-and-swap so two gateways pushing at once get two
 * versions) with who pushed it and through which gateway.
 */
int pc_fleet_policy_add(struct pc_etcd *e, struct pc_policy_record *r,
			const char *by, const char *via,
			char err[PC_ETCD_ERR_LEN]);
/* version 0: the newest; -ENOENT when there is none such */
int pc_fleet_policy_get(struct pc_etcd *e, int64_t version,
			struct pc_policy_record *out, char **by, char **via,
			int64_t *revision, char err[PC_ETCD_ERR_LEN]);
/* newest first, without sources */
int pc_fleet_policy_list(struct pc_etcd *e, size_t limit,
			 struct pc_policy_record **out, size_t *n,
			 char err[PC_ETCD_ERR_LEN]);
/* a record from its JSON (P/policy/v/N's value), source left NULL */
int pc_fleet_record_parse(const char *json, size_t len,
			  struct pc_policy_record *out, char **by, char **via);

#endif

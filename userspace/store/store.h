/* SPDX-License-Identifier: Apache-2.0 */
/* Persistent gateway state in sqlite: the versions of the policy,
 * tokens, the audit log, WireGuard peers, denies. */
#ifndef PC_STORE_H
#define PC_STORE_H

#include <stddef.h>
#include <stdint.h>

struct pc_store;

struct pc_policy_record {
	int64_t version;
	uint64_t generation; /* data plane generation it was applied as */
	char *source;
	char *filename;
	char *created_at;    /* UTC, ISO 8601 */
	int64_t rollback_of; /* the version it restored, or 0 */
};

int pc_store_open(const char *path, struct pc_store **out);
void pc_store_close(struct pc_store *s);

/*
 * Writes that fail return -ENOSPC (disk full), -EROFS (read-only),
 * -EBUSY or -EIO, and are logged once per new reason.  What is stored
 * stays as it was: each write is one transaction, or part of the
 * caller's.  pc_store_error says why the last write failed, NULL once
 * one succeeds again.
 */
const char *pc_store_error(const struct pc_store *s);
/* A transaction around several writes; a failed commit rolls back. */
int pc_store_begin(struct pc_store *s);
int pc_store_commit(struct pc_store *s);
void pc_store_rollback(struct pc_store *s);

int pc_store_policy_add(struct pc_store *s, const char *source,
			const char *filename, uint64_t generation,
			int64_t rollback_of, int64_t *version);
/* Returns -ENOENT when no policy was ever stored. */
int pc_store_policy_latest(struct pc_store *s, struct pc_policy_record *out);
/* One version with its source; -ENOENT if there is none such. */
int pc_store_policy_get(struct pc_store *s, int64_t version,
			struct pc_policy_record *out);
/* The newest versions first, at most limit, without their sources. */
int pc_store_policy_list(struct pc_store *s, size_t limit,
			 struct pc_policy_record **out, size_t *n);
int pc_store_policy_set_generation(struct pc_store *s, int64_t version,
				   uint64_t generation);
void pc_policy_record_free(struct pc_policy_record *r);

/*
 * With a fleet store (etcd), the fleet's policy this gateway enforces,
 * with its local generation: what a start enforces while etcd is out of
 * reach.  store names the fleet (its URI), so another fleet's is not
 * taken; -ENOENT when there is none for it.
 */
int pc_store_fleet_cache_put(struct pc_store *s, const char *store,
			     const struct pc_policy_record *r);
int pc_store_fleet_cache_get(struct pc_store *s, const char *store,
			     struct pc_policy_record *out);

/* API tokens: "pct_SELECTOR_SECRET"; only SHA-256(SECRET) is stored. */
struct pc_token_record {
	char *selector;
	uint8_t hash[32];
	char *name;
	char *role; /* admin | operator | viewer */
	char *created_at;
	int revoked;
};

/* -EEXIST when a live token already has that name. */
int pc_store_token_add(struct pc_store *s, const char *selector,
		       const uint8_t hash[32], const char *name,
		       const char *role);
int pc_store_token_get(struct pc_store *s, const char *selector,
		       struct pc_token_record *out);
int pc_store_token_list(struct pc_store *s, struct pc_token_record **out,
			size_t *n);
/* -ENOENT when no live token has that name. */
int pc_store_token_revoke(struct pc_store *s, const char *name);
void pc_token_record_free(struct pc_token_record *t);

/* The audit log: every change, who made it and from where; append-only
 * (the database refuses updates and deletes). */
struct pc_audit_record {
	int64_t id;
	char *at; /* UTC, ISO 8601 */
	char *who, *peer, *action, *target, *detail;
};

int pc_store_audit_add(struct pc_store *s, const char *who, const char *peer,
		       const char *action, const char *target,
		       const char *detail);
/* The newest first, at most limit. */
int pc_store_audit_list(struct pc_store *s, size_t limit,
			struct pc_audit_record **out, size_t *n);
void pc_audit_record_free(struct pc_audit_record *r);

/* WireGuard peers added through the API: text as the API took it. */
struct pc_wg_peer_record {
	char *name, *iface, *public_key; /* key: base64 */
	char *allowed_ips;		 /* "198.18.100.2/32,fd00::/64" */
	char *endpoint;			 /* "" or ADDR:PORT */
	unsigned int keepalive;
	char *identity; /* "" or an identity name */
	char *created_at;
};

/* -EEXIST when the name, or the key on that interface, is taken. */
int pc_store_wg_peer_add(struct pc_store *s, const struct pc_wg_peer_record *p);
/* -ENOENT when there is no such peer. */
int pc_store_wg_peer_remove(struct pc_store *s, const char *name);
int pc_store_wg_peer_list(struct pc_store *s, struct pc_wg_peer_record **out,
			  size_t *n);
void pc_wg_peer_record_free(struct pc_wg_peer_record *p);

/* Denied packets (and audit mode's would-be denies), newest kept. */
struct pc_deny_record {
	char *at, *reason, *proto, *src, *dst, *identities, *rule, *iface;
	int sport, dport;
};

/* Append n in one transaction, then keep only the newest keep rows. */
int pc_store_denies_add(struct pc_store *s, const struct pc_deny_record *v,
			size_t n, size_t keep);
int pc_store_denies_list(struct pc_store *s, size_t limit,
			 struct pc_deny_record **out, size_t *n);
void pc_deny_record_free(struct pc_deny_record *d);

#endif

// SPDX-License-Identifier: Apache-2.0
/* Unit tests: the sqlite store's migrations and tokens. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

static char dir[64], path[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/pc-store.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state.db", dir);
}

static void teardown(void)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(store, .init = setup, .fini = teardown);

Test(store, tokens_by_selector_names_unique_while_live)
{
	struct pc_store *s;
	struct pc_token_record t, *v;
	uint8_t h[32] = {1, 2, 3};
	size_t n;

	/* Test add, get, the live-name rule, revoke and list */
	cr_assert_eq(pc_store_open(path, &s), 0);
	cr_assert_eq(pc_store_token_add(s, "0000abcd", h, "ci", "operator"), 0);
	cr_assert_eq(pc_store_token_add(s, "0000abce", h, "ci", "viewer"),
		     -EEXIST);
	cr_assert_eq(pc_store_token_get(s, "0000abcd", &t), 0);
	cr_assert_str_eq(t.name, "ci");
	cr_assert_str_eq(t.role, "operator");
	cr_assert_eq(memcmp(t.hash, h, 32), 0);
	cr_assert_not(t.revoked);
	pc_token_record_free(&t);
	cr_assert_eq(pc_store_token_get(s, "ffffffff", &t), -ENOENT);
	cr_assert_eq(pc_store_token_revoke(s, "ci"), 0);
	cr_assert_eq(pc_store_token_revoke(s, "ci"), -ENOENT);
	/* a revoked name may be used again */
	cr_assert_eq(pc_store_token_add(s, "0000abce", h, "ci", "viewer"), 0);
	cr_assert_eq(pc_store_token_list(s, &v, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert(v[0].revoked);
	cr_assert_not(v[1].revoked);
	for (size_t i = 0; i < n; i++)
		pc_token_record_free(&v[i]);
	free(v);
	pc_store_close(s);
}

Test(store, migrations_run_once_and_newer_schemas_are_refused)
{
	struct pc_store *s;
	sqlite3 *db;
	int64_t version;

	/* Test that reopening keeps data, and a schema from a newer
	 * portcullisd is refused rather than guessed at */
	cr_assert_eq(pc_store_open(path, &s), 0);
	cr_assert_eq(pc_store_policy_add(s, "x", "p.yaml", 1, 0, &version), 0);
	pc_store_close(s);
	cr_assert_eq(pc_store_open(path, &s), 0);
	pc_store_close(s);
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(
		sqlite3_exec(db, "PRAGMA user_version = 99;", NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(db);
	cr_assert_eq(pc_store_open(path, &s), -EIO);
	cr_assert_null(s);
}

Test(store, audit_log_is_append_only)
{
	struct pc_store *s;
	struct pc_audit_record *v;
	sqlite3 *db;
	size_t n;

	/* Test that entries come back newest first, and that the database
	 * itself refuses to change or delete them */
	cr_assert_eq(pc_store_open(path, &s), 0);
	cr_assert_eq(pc_store_audit_add(s, "token ci", "uid:0", "policy.push",
					"version 1", "the first policy"),
		     0);
	cr_assert_eq(pc_store_audit_add(s, "token ci", "uid:0", "token.revoke",
					"grafana", ""),
		     0);
	cr_assert_eq(pc_store_audit_list(s, 10, &v, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(v[0].action, "token.revoke");
	cr_assert_str_eq(v[1].detail, "the first policy");
	for (size_t i = 0; i < n; i++)
		pc_audit_record_free(&v[i]);
	free(v);
	pc_store_close(s);
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_neq(
		sqlite3_exec(db, "DELETE FROM audit_log;", NULL, NULL, NULL),
		SQLITE_OK);
	cr_assert_neq(sqlite3_exec(db, "UPDATE audit_log SET who = 'x';", NULL,
				   NULL, NULL),
		      SQLITE_OK);
	sqlite3_close(db);
}

Test(store, deny_events_keep_the_newest)
{
	struct pc_store *s;
	struct pc_deny_record d[5], *v;
	char src[5][16];
	size_t n;

	/* Test that retention keeps the newest rows, listed newest first */
	for (int i = 0; i < 5; i++) {
		snprintf(src[i], sizeof(src[i]), "10.0.0.%d", i);
		d[i] = (struct pc_deny_record){"2026-11-22T00:00:00Z",
					       "deny_default",
					       "tcp",
					       src[i],
					       "10.0.0.99",
					       "-",
					       "-",
					       "eth0",
					       1000 + i,
					       22};
	}
	cr_assert_eq(pc_store_open(path, &s), 0);
	cr_assert_eq(pc_store_denies_add(s, d, 5, 3), 0);
	cr_assert_eq(pc_store_denies_list(s, 10, &v, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(v[0].src, "10.0.0.4");
	cr_assert_str_eq(v[2].src, "10.0.0.2");
	cr_assert_eq(v[0].sport, 1004);
	cr_assert_eq(v[0].dport, 22);
	for (size_t i = 0; i < n; i++)
		pc_deny_record_free(&v[i]);
	free(v);
	pc_store_close(s);
}

Test(store, fleet_cache_is_per_fleet)
{
	struct pc_store *s;
	struct pc_policy_record r = {.version = 7,
				     .generation = 3,
				     .source = "apiVersion: portcullis/v1\n",
				     .filename = "p.yaml",
				     .created_at = "2026-12-05T10:00:00Z",
				     .rollback_of = 5},
				out;

	/* Test that the fleet's version kept here reads back whole, only
	 * for the fleet it came from, and that a newer one replaces it */
	cr_assert_eq(pc_store_open(path, &s), 0);
	cr_assert_eq(pc_store_fleet_cache_get(s, "etcd://a/pc", &out), -ENOENT);
	cr_assert_eq(pc_store_fleet_cache_put(s, "etcd://a/pc", &r), 0);
	cr_assert_eq(pc_store_fleet_cache_get(s, "etcd://a/pc", &out), 0);
	cr_assert_eq(out.version, 7);
	cr_assert_eq(out.generation, 3);
	cr_assert_eq(out.rollback_of, 5);
	cr_assert_str_eq(out.source, r.source);
	cr_assert_str_eq(out.filename, "p.yaml");
	cr_assert_str_eq(out.created_at, r.created_at);
	pc_policy_record_free(&out);
	cr_assert_eq(pc_store_fleet_cache_get(s, "etcd://b/pc", &out), -ENOENT);
	r.version = 8;
	cr_assert_eq(pc_store_fleet_cache_put(s, "etcd://a/pc", &r), 0);
	cr_assert_eq(pc_store_fleet_cache_get(s, "etcd://a/pc", &out), 0);
	cr_assert_eq(out.version, 8);
	pc_policy_record_free(&out);
	pc_store_close(s);
}

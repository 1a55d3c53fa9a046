// SPDX-License-Identifier: Apache-2.0
/* The sqlite store: schema, policy versions. */
#include <errno.h>
#include <libgen.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "pclib.h"
#include "store.h"

struct pc_store {
	sqlite3 *db;
};

static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=FULL;"
	"CREATE TABLE IF NOT EXISTS policy_versions ("
	"  version INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  generation INTEGER NOT NULL,"
	"  filename TEXT NOT NULL,"
	"  source TEXT NOT NULL,"
	"  created_at TEXT NOT NULL"
	"    DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')));";

int pc_store_open(const char *path, struct pc_store **out)
{
	struct pc_store *s = pc_xcalloc(1, sizeof(*s));
	char *dir = pc_strdup(path), *err = NULL;
	int rc;

	*out = NULL;
	pc_mkdir_p(dirname(dir), 0700);
	free(dir);
	rc = sqlite3_open_v2(path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_busy_timeout(s->db, 5000);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, schema, NULL, NULL, &err);
	if (rc != SQLITE_OK) {
		pc_error("failed to open state database '%s': %s", path,
			 err ? err : sqlite3_errmsg(s->db));
		sqlite3_free(err);
		sqlite3_close(s->db);
		free(s);
		return -EIO;
	}
	*out = s;
	return 0;
}

void pc_store_close(struct pc_store *s)
{
	if (!s)
		return;
	sqlite3_close(s->db);
	free(s);
}

int pc_store_policy_add(struct pc_store *s, const char *source,
			const char *filename, uint64_t generation,
			int64_t *version)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(s->db,
				"INSERT INTO policy_versions (generation, "
				"filename, source) VALUES (?, ?, ?)",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)generation);
	sqlite3_bind_text(st, 2, filename, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, source, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		pc_error("failed to store policy version: %s",
			 sqlite3_errmsg(s->db));
		return -EIO;
	}
	*version = sqlite3_last_insert_rowid(s->db);
	return 0;
}

static char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return pc_strdup(t ? (const char *)t : "");
}

int pc_store_policy_latest(struct pc_store *s, struct pc_policy_record *out)
{
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = sqlite3_prepare_v2(s->db,
				"SELECT version, generation, filename, source, "
				"created_at FROM policy_versions ORDER BY "
				"version DESC LIMIT 1",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return -EIO;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->version = sqlite3_column_int64(st, 0);
		out->generation = (uint64_t)sqlite3_column_int64(st, 1);
		out->filename = col_text(st, 2);
		out->source = col_text(st, 3);
		out->created_at = col_text(st, 4);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : -EIO;
}

int pc_store_policy_set_generation(struct pc_store *s, int64_t version,
				   uint64_t generation)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(s->db,
				"UPDATE policy_versions SET generation = ? "
				"WHERE version = ?",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)generation);
	sqlite3_bind_int64(st, 2, version);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

void pc_policy_record_free(struct pc_policy_record *r)
{
	free(r->source);
	free(r->filename);
	free(r->created_at);
	memset(r, 0, sizeof(*r));
}

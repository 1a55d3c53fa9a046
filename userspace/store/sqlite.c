// SPDX-License-Identifier: Apache-2.0
/* The sqlite store: schema, policy versions. */
#include <errno.h>
#include <libgen.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "pclib.h"
#include "store.h"

struct pc_store {
	sqlite3 *db;
	char *path;
	char error[320];   /* why the last write failed, "" when it did not */
	int read_only;	   /* opened on a read-only file system */
	char copy_dir[64]; /* where its read-only copy is */
};

/*
 * A write failed: say why (once per new reason), remember it for
 * pc_store_error, and map it to an errno the API can answer with.
 * Call before finalizing the statement (it still holds the error).
 */
static int write_failed(struct pc_store *s, const char *what)
{
	int rc = sqlite3_extended_errcode(s->db) & 0xff;
	int sys = sqlite3_system_errno(s->db), err;
	char msg[sizeof(s->error)];

	if (s->read_only)
		return -EROFS; /* s->error says so since the start */
	switch (rc) {
	case SQLITE_FULL:
		err = -ENOSPC;
		break;
	case SQLITE_READONLY:
		err = -EROFS;
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		err = -EBUSY;
		break;
	case SQLITE_IOERR:
		err = sys == ENOSPC || sys == EROFS || sys == EDQUOT ? -sys
								     : -EIO;
		break;
	default:
		err = -EIO;
	}
	snprintf(msg, sizeof(msg),
		 "state database '%s': failed to %s: %s%s%s%s", s->path, what,
		 sqlite3_errmsg(s->db), rc == SQLITE_IOERR && sys ? " (" : "",
		 rc == SQLITE_IOERR && sys ? strerror(sys) : "",
		 rc == SQLITE_IOERR && sys ? ")" : "");
	if (strcmp(msg, s->error))
		pc_error("%s", msg);
	memcpy(s->error, msg, sizeof(msg));
	return err;
}

static void write_ok(struct pc_store *s)
{
	if (!s->error[0])
		return;
	pc_info("state database '%s': writes work again", s->path);
	s->error[0] = '\0';
}

const char *pc_store_error(const struct pc_store *s)
{
	return s->error[0] ? s->error : NULL;
}

/* Step a prepared write to its end and finalize it. */
static int step_write(struct pc_store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st), err = 0;

	if (rc != SQLITE_DONE)
		err = write_failed(s, what);
	sqlite3_finalize(st);
	if (!err && sqlite3_get_autocommit(s->db))
		write_ok(s); /* committed: the disk took it */
	return err;
}

static int exec_write(struct pc_store *s, const char *sql, const char *what)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return write_failed(s, what);
	return 0;
}

int pc_store_begin(struct pc_store *s)
{
	return exec_write(s, "BEGIN IMMEDIATE;", "begin a transaction");
}

int pc_store_commit(struct pc_store *s)
{
	int rc = exec_write(s, "COMMIT;", "commit");

	if (rc)
		pc_store_rollback(s);
	else
		write_ok(s);
	return rc;
}

void pc_store_rollback(struct pc_store *s)
{
	/* an I/O error may have rolled it back already */
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK;", NULL, NULL, NULL);
}

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

/* Schema changes since the first, by PRAGMA user_version. */
static const char *const migrations[] = {
	/* 1: a version made by rollback says which version it restored */
	"ALTER TABLE policy_versions ADD COLUMN rollback_of INTEGER;",
	/* 2: API tokens: a public selector, SHA-256 of the secret, a role */
	"CREATE TABLE tokens ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  selector TEXT NOT NULL UNIQUE,"
	"  hash BLOB NOT NULL,"
	"  name TEXT NOT NULL,"
	"  role TEXT NOT NULL,"
	"  created_at TEXT NOT NULL"
	"    DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),"
	"  revoked_at TEXT);"
	"CREATE UNIQUE INDEX tokens_live_name ON tokens (name)"
	"  WHERE revoked_at IS NULL;",
	/* 3: the audit log: every change, append-only */
	"CREATE TABLE audit_log ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),"
	"  who TEXT NOT NULL,"
	"  peer TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  target TEXT NOT NULL,"
	"  detail TEXT NOT NULL);"
	"CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log"
	"  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
	"CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log"
	"  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
	/* 4: denied (and would-be denied) packets, newest kept */
	"CREATE TABLE deny_events ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  at TEXT NOT NULL,"
	"  reason TEXT NOT NULL, proto TEXT NOT NULL,"
	"  src TEXT NOT NULL, sport INTEGER NOT NULL,"
	"  dst TEXT NOT NULL, dport INTEGER NOT NULL,"
	"  identities TEXT NOT NULL, rule TEXT NOT NULL,"
	"  iface TEXT NOT NULL);",
	/* 5: WireGuard peers added through the API (the config's are not
	 * stored: the config file is their record) */
	"CREATE TABLE wg_peers ("
	"  name TEXT PRIMARY KEY,"
	"  iface TEXT NOT NULL,"
	"  public_key TEXT NOT NULL,"
	"  allowed_ips TEXT NOT NULL,"
	"  endpoint TEXT NOT NULL,"
	"  keepalive INTEGER NOT NULL,"
	"  identity TEXT NOT NULL,"
	"  created_at TEXT NOT NULL"
	"    DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),"
	"  UNIQUE (iface, public_key));",
	/* 6: with a fleet store (etcd), the fleet's policy in force here,
	 * so a start without etcd enforces it */
	"CREATE TABLE fleet_cache ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  store TEXT NOT NULL,"
	"  version INTEGER NOT NULL,"
	"  generation INTEGER NOT NULL,"
	"  filename TEXT NOT NULL,"
	"  created_at TEXT NOT NULL,"
	"  rollback_of INTEGER,"
	"  source TEXT NOT NULL);",
};

static int migrate(sqlite3 *db, char **err)
{
	sqlite3_stmt *st;
	int have = 0, rc;

	rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	if (sqlite3_step(st) == SQLITE_ROW)
		have = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (have > (int)PC_ARRAY_SIZE(migrations)) {
		*err = sqlite3_mprintf(
			"its schema (version %d) is newer than this "
			"portcullisd "
			"knows (%d): run a newer portcullisd, or restore a "
			"backup",
			have, (int)PC_ARRAY_SIZE(migrations));
		return SQLITE_ERROR;
	}
	for (int v = have; v < (int)PC_ARRAY_SIZE(migrations); v++) {
		char pragma[64];

		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d;",
			 v + 1);
		if ((rc = sqlite3_exec(db, "BEGIN;", NULL, NULL, err)) ||
		    (rc = sqlite3_exec(db, migrations[v], NULL, NULL, err)) ||
		    (rc = sqlite3_exec(db, pragma, NULL, NULL, err)) ||
		    (rc = sqlite3_exec(db, "COMMIT;", NULL, NULL, err))) {
			sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
			return rc;
		}
	}
	return SQLITE_OK;
}

/* The schema version a database has, or -1. */
static int user_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL))
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int copy_file(const char *from, const char *to)
{
	struct pc_buf b = {0};
	FILE *f;
	int rc = pc_read_file(from, SIZE_MAX / 2, &b);

	if (rc)
		return rc;
	f = fopen(to, "wx");
	if (!f || fwrite(b.data, 1, b.len, f) != b.len || fclose(f))
		rc = -errno ? -errno : -EIO;
	pc_buf_free(&b);
	return rc;
}

/*
 * A database on a read-only file system (a read-only mount, a disk the
 * kernel remounted read-only): sqlite cannot open a WAL database there,
 * and the newest commits may still be in the -wal file.  The gateway
 * reads a private copy of both (sqlite replays the WAL into it), serves
 * what is stored and refuses changes (query_only).
 */
static int open_read_only(struct pc_store *s, const char *path)
{
	static const char *const bases[] = {"/run/portcullis", "/tmp"};
	char db[96], wal[112], from[PATH_MAX];
	int rc = -EROFS, v;

	for (size_t i = 0; i < PC_ARRAY_SIZE(bases); i++) {
		pc_mkdir_p(bases[i], 0755);
		snprintf(s->copy_dir, sizeof(s->copy_dir), "%s/state-ro.XXXXXX",
			 bases[i]);
		if (mkdtemp(s->copy_dir))
			break;
		s->copy_dir[0] = '\0';
	}
	snprintf(db, sizeof(db), "%s/state.db", s->copy_dir);
	snprintf(wal, sizeof(wal), "%s-wal", db);
	snprintf(from, sizeof(from), "%s-wal", path);
	if (!s->copy_dir[0] || (rc = copy_file(path, db)) ||
	    ((rc = copy_file(from, wal)) && rc != -ENOENT)) {
		pc_error("failed to copy state database '%s' off its "
			 "read-only file system: %s",
			 path, strerror(-rc));
		return rc ? rc : -EROFS;
	}
	rc = sqlite3_open_v2(db, &s->db, SQLITE_OPEN_READWRITE, NULL);
	v = rc == SQLITE_OK ? user_version(s->db) : -1;
	if (v != (int)PC_ARRAY_SIZE(migrations) ||
	    sqlite3_exec(s->db, "PRAGMA query_only = 1;", NULL, NULL, NULL)) {
		pc_error("failed to open state database '%s' on a read-only "
			 "file system: %s",
			 path,
			 v < 0 ? sqlite3_errmsg(s->db)
			       : "its schema needs migrating, which needs it "
				 "writable");
		return -EROFS;
	}
	s->read_only = 1;
	snprintf(s->error, sizeof(s->error),
		 "state database '%s' is on a read-only file system: changes "
		 "are refused until portcullisd restarts with it writable",
		 path);
	pc_error("%s", s->error);
	return 0;
}

/* The read-only copy, if any, goes with the store. */
static void remove_copy(struct pc_store *s)
{
	static const char *const files[] = {"state.db", "state.db-wal",
					    "state.db-shm"};
	char p[128];

	if (!s->copy_dir[0])
		return;
	for (size_t i = 0; i < PC_ARRAY_SIZE(files); i++) {
		snprintf(p, sizeof(p), "%s/%s", s->copy_dir, files[i]);
		unlink(p);
	}
	rmdir(s->copy_dir);
}

/* PRAGMA quick_check: a database whose pages are damaged is refused at
 * start rather than found out at the first write.  SQLITE_CORRUPT and
 * *err (sqlite3_malloc'd) when it is not "ok". */
static int quick_check(sqlite3 *db, char **err)
{
	sqlite3_stmt *st;
	const unsigned char *r;
	int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL);

	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	r = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
	if (rc == SQLITE_ROW && r && !strcmp((const char *)r, "ok")) {
		rc = SQLITE_OK;
	} else if (rc == SQLITE_ROW) {
		*err = sqlite3_mprintf("database disk image is malformed (%s)",
				       r ? (const char *)r : "?");
		rc = SQLITE_CORRUPT;
	}
	sqlite3_finalize(st);
	return rc;
}

int pc_store_open(const char *path, struct pc_store **out)
{
	struct pc_store *s = pc_xcalloc(1, sizeof(*s));
	char *dir = pc_strdup(path), *err = NULL;
	const char *parent = dirname(dir);
	struct statvfs vfs;
	int rc;

	*out = NULL;
	pc_mkdir_p(parent, 0700);
	if (!statvfs(parent, &vfs) && (vfs.f_flag & ST_RDONLY)) {
		free(dir);
		if ((rc = open_read_only(s, path))) {
			sqlite3_close(s->db);
			remove_copy(s);
			free(s);
			return rc;
		}
		goto done;
	}
	free(dir);
	rc = sqlite3_open_v2(path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_busy_timeout(s->db, 5000);
	/* (before anything is written to it) */
	if (rc == SQLITE_OK)
		rc = quick_check(s->db, &err);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, schema, NULL, NULL, &err);
	if (rc == SQLITE_OK)
		rc = migrate(s->db, &err);
	if (rc != SQLITE_OK) {
		int corrupt = rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;

		pc_error("failed to open state database '%s': %s%s", path,
			 err ? err : sqlite3_errmsg(s->db),
			 corrupt ? "; the data plane enforces what it did; "
				   "to recover, see \"A corrupted state "
				   "database\" in docs/operations.md"
				 : "");
		sqlite3_free(err);
		sqlite3_close(s->db);
		free(s);
		return corrupt ? -EBADMSG : -EIO;
	}
done:
	s->path = pc_strdup(path);
	*out = s;
	return 0;
}

void pc_store_close(struct pc_store *s)
{
	if (!s)
		return;
	sqlite3_close(s->db);
	remove_copy(s);
	free(s->path);
	free(s);
}

int pc_store_policy_add(struct pc_store *s, const char *source,
			const char *filename, uint64_t generation,
			int64_t rollback_of, int64_t *version)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(s->db,
				"INSERT INTO policy_versions (generation, "
				"filename, source, rollback_of) VALUES (?, ?, "
				"?, ?)",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return write_failed(s, "record a policy version");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)generation);
	sqlite3_bind_text(st, 2, filename, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, source, -1, SQLITE_STATIC);
	if (rollback_of)
		sqlite3_bind_int64(st, 4, rollback_of);
	else
		sqlite3_bind_null(st, 4);
	if ((rc = step_write(s, st, "record a policy version")))
		return rc;
	*version = sqlite3_last_insert_rowid(s->db);
	return 0;
}

static char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return pc_strdup(t ? (const char *)t : "");
}

#define RECORD_COLS "version, generation, filename, created_at, rollback_of"

static void read_record(sqlite3_stmt *st, struct pc_policy_record *r)
{
	r->version = sqlite3_column_int64(st, 0);
	r->generation = (uint64_t)sqlite3_column_int64(st, 1);
	r->filename = col_text(st, 2);
	r->created_at = col_text(st, 3);
	r->rollback_of = sqlite3_column_int64(st, 4);
}

/*
 * Every row of sql (its one parameter, if any, bound to limit) read by
 * read into an array of size-byte elements.  On a store error the rows
 * read so far are freed with free_row and -EIO returned.
 */
static int list_rows(struct pc_store *s, const char *sql, int64_t limit,
		     size_t size, void (*read)(sqlite3_stmt *st, void *row),
		     void (*free_row)(void *row), void **out, size_t *n)
{
	char *v = NULL;
	size_t cap = 0;
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	if (limit >= 0)
		sqlite3_bind_int64(st, 1, (sqlite3_int64)limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		pc_xgrow(&v, &cap, *n, size);
		memset(v + *n * size, 0, size);
		read(st, v + (*n)++ * size);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		for (size_t i = 0; i < *n; i++)
			free_row(v + i * size);
		free(v);
		*n = 0;
		return -EIO;
	}
	*out = v;
	return 0;
}

/* The one row of st (RECORD_COLS, then the source) into out; finalizes
 * st.  -ENOENT when there is none. */
static int one_record(sqlite3_stmt *st, struct pc_policy_record *out)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		read_record(st, out);
		out->source = col_text(st, 5);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : -EIO;
}

/* One record with its source: version > 0, or the newest. */
static int policy_get(struct pc_store *s, int64_t version,
		      struct pc_policy_record *out)
{
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = sqlite3_prepare_v2(
		s->db,
		version ? "SELECT " RECORD_COLS ", source FROM policy_versions "
			  "WHERE version = ?"
			: "SELECT " RECORD_COLS ", source FROM policy_versions "
			  "ORDER BY version DESC LIMIT 1",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return -EIO;
	if (version)
		sqlite3_bind_int64(st, 1, version);
	return one_record(st, out);
}

int pc_store_policy_latest(struct pc_store *s, struct pc_policy_record *out)
{
	return policy_get(s, 0, out);
}

int pc_store_policy_get(struct pc_store *s, int64_t version,
			struct pc_policy_record *out)
{
	if (version <= 0)
		return -ENOENT;
	return policy_get(s, version, out);
}

static void read_record_row(sqlite3_stmt *st, void *row)
{
	read_record(st, row);
}

static void free_record_row(void *row)
{
	pc_policy_record_free(row);
}

int pc_store_policy_list(struct pc_store *s, size_t limit,
			 struct pc_policy_record **out, size_t *n)
{
	return list_rows(s,
			 "SELECT " RECORD_COLS " FROM policy_versions ORDER BY "
			 "version DESC LIMIT ?",
			 (int64_t)limit, sizeof(**out), read_record_row,
			 free_record_row, (void **)out, n);
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
		return write_failed(s, "record a policy generation");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)generation);
	sqlite3_bind_int64(st, 2, version);
	return step_write(s, st, "record a policy generation");
}

int pc_store_fleet_cache_put(struct pc_store *s, const char *store,
			     const struct pc_policy_record *r)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(s->db,
			       "INSERT OR REPLACE INTO fleet_cache (id, store, "
			       "version, generation, filename, created_at, "
			       "rollback_of, source) "
			       "VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
			       -1, &st, NULL) != SQLITE_OK)
		return write_failed(s, "keep the fleet's policy");
	sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r->version);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)r->generation);
	sqlite3_bind_text(st, 4, r->filename, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, r->created_at, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, r->rollback_of);
	sqlite3_bind_text(st, 7, r->source, -1, SQLITE_STATIC);
	return step_write(s, st, "keep the fleet's policy");
}

int pc_store_fleet_cache_get(struct pc_store *s, const char *store,
			     struct pc_policy_record *out)
{
	sqlite3_stmt *st;

	memset(out, 0, sizeof(*out));
	if (sqlite3_prepare_v2(s->db,
			       "SELECT " RECORD_COLS ", source FROM "
			       "fleet_cache WHERE store = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
	return one_record(st, out);
}

void pc_policy_record_free(struct pc_policy_record *r)
{
	free(r->source);
	free(r->filename);
	free(r->created_at);
	memset(r, 0, sizeof(*r));
}

/* ---- tokens -------------------------------------------------------------- */

int pc_store_token_add(struct pc_store *s, const char *selector,
		       const uint8_t hash[32], const char *name,
		       const char *role)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(
		s->db,
		"INSERT INTO tokens (selector, hash, name, role) "
		"VALUES (?, ?, ?, ?)",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return write_failed(s, "store a token");
	sqlite3_bind_text(st, 1, selector, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, hash, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, role, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT) {
		sqlite3_finalize(st);
		return -EEXIST;
	}
	rc = rc == SQLITE_DONE ? 0 : write_failed(s, "store a token");
	sqlite3_finalize(st);
	if (!rc)
		write_ok(s);
	return rc;
}

static void read_token(sqlite3_stmt *st, struct pc_token_record *t)
{
	const void *h = sqlite3_column_blob(st, 1);

	memset(t, 0, sizeof(*t));
	t->selector = col_text(st, 0);
	if (h && sqlite3_column_bytes(st, 1) == 32)
		memcpy(t->hash, h, 32);
	t->name = col_text(st, 2);
	t->role = col_text(st, 3);
	t->created_at = col_text(st, 4);
	t->revoked = sqlite3_column_type(st, 5) != SQLITE_NULL;
}

#define TOKEN_COLS "selector, hash, name, role, created_at, revoked_at"

int pc_store_token_get(struct pc_store *s, const char *selector,
		       struct pc_token_record *out)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(s->db,
				"SELECT " TOKEN_COLS " FROM tokens WHERE "
				"selector = ?",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, selector, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_token(st, out);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : -EIO;
}

static void read_token_row(sqlite3_stmt *st, void *row)
{
	read_token(st, row);
}

static void free_token_row(void *row)
{
	pc_token_record_free(row);
}

int pc_store_token_list(struct pc_store *s, struct pc_token_record **out,
			size_t *n)
{
	return list_rows(s, "SELECT " TOKEN_COLS " FROM tokens ORDER BY id", -1,
			 sizeof(**out), read_token_row, free_token_row,
			 (void **)out, n);
}

int pc_store_token_revoke(struct pc_store *s, const char *name)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(
		s->db,
		"UPDATE tokens SET revoked_at = strftime('%Y-%m-%dT%H:%M:%SZ', "
		"'now') WHERE name = ? AND revoked_at IS NULL",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return write_failed(s, "revoke a token");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if ((rc = step_write(s, st, "revoke a token")))
		return rc;
	return sqlite3_changes(s->db) ? 0 : -ENOENT;
}

void pc_token_record_free(struct pc_token_record *t)
{
	free(t->selector);
	free(t->name);
	free(t->role);
	free(t->created_at);
	memset(t, 0, sizeof(*t));
}

/* ---- audit log ----------------------------------------------------------- */

int pc_store_audit_add(struct pc_store *s, const char *who, const char *peer,
		       const char *action, const char *target,
		       const char *detail)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(s->db,
				"INSERT INTO audit_log (who, peer, action, "
				"target, detail) VALUES (?, ?, ?, ?, ?)",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return write_failed(s, "append to the audit log");
	sqlite3_bind_text(st, 1, who, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, peer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, target ? target : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, detail ? detail : "", -1, SQLITE_STATIC);
	return step_write(s, st, "append to the audit log");
}

static void read_audit_row(sqlite3_stmt *st, void *row)
{
	*(struct pc_audit_record *)row = (struct pc_audit_record){
		.id = sqlite3_column_int64(st, 0),
		.at = col_text(st, 1),
		.who = col_text(st, 2),
		.peer = col_text(st, 3),
		.action = col_text(st, 4),
		.target = col_text(st, 5),
		.detail = col_text(st, 6),
	};
}

static void free_audit_row(void *row)
{
	pc_audit_record_free(row);
}

int pc_store_audit_list(struct pc_store *s, size_t limit,
			struct pc_audit_record **out, size_t *n)
{
	return list_rows(s,
			 "SELECT id, at, who, peer, action, target, detail "
			 "FROM audit_log ORDER BY id DESC LIMIT ?",
			 (int64_t)limit, sizeof(**out), read_audit_row,
			 free_audit_row, (void **)out, n);
}

void pc_audit_record_free(struct pc_audit_record *r)
{
	free(r->at);
	free(r->who);
	free(r->peer);
	free(r->action);
	free(r->target);
	free(r->detail);
	memset(r, 0, sizeof(*r));
}

/* ---- WireGuard peers ----------------------------------------------------- */

int pc_store_wg_peer_add(struct pc_store *s, const struct pc_wg_peer_record *p)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(
		s->db,
		"INSERT INTO wg_peers (name, iface, public_key, "
		"allowed_ips, endpoint, keepalive, identity) "
		"VALUES (?, ?, ?, ?, ?, ?, ?)",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return write_failed(s, "store a WireGuard peer");
	sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, p->iface, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, p->public_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, p->allowed_ips, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, p->endpoint ? p->endpoint : "", -1,
			  SQLITE_STATIC);
	sqlite3_bind_int(st, 6, (int)p->keepalive);
	sqlite3_bind_text(st, 7, p->identity ? p->identity : "", -1,
			  SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT) {
		sqlite3_finalize(st);
		return -EEXIST;
	}
	rc = rc == SQLITE_DONE ? 0 : write_failed(s, "store a WireGuard peer");
	sqlite3_finalize(st);
	if (!rc)
		write_ok(s);
	return rc;
}

int pc_store_wg_peer_remove(struct pc_store *s, const char *name)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(s->db, "DELETE FROM wg_peers WHERE name = ?",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return write_failed(s, "remove a WireGuard peer");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if ((rc = step_write(s, st, "remove a WireGuard peer")))
		return rc;
	return sqlite3_changes(s->db) ? 0 : -ENOENT;
}

static void read_wg_peer_row(sqlite3_stmt *st, void *row)
{
	*(struct pc_wg_peer_record *)row = (struct pc_wg_peer_record){
		.name = col_text(st, 0),
		.iface = col_text(st, 1),
		.public_key = col_text(st, 2),
		.allowed_ips = col_text(st, 3),
		.endpoint = col_text(st, 4),
		.keepalive = (unsigned int)sqlite3_column_int(st, 5),
		.identity = col_text(st, 6),
		.created_at = col_text(st, 7),
	};
}

static void free_wg_peer_row(void *row)
{
	pc_wg_peer_record_free(row);
}

int pc_store_wg_peer_list(struct pc_store *s, struct pc_wg_peer_record **out,
			  size_t *n)
{
	return list_rows(s,
			 "SELECT name, iface, public_key, allowed_ips, "
			 "endpoint, keepalive, identity, created_at FROM "
			 "wg_peers ORDER BY name",
			 -1, sizeof(**out), read_wg_peer_row, free_wg_peer_row,
			 (void **)out, n);
}

void pc_wg_peer_record_free(struct pc_wg_peer_record *p)
{
	free(p->name);
	free(p->iface);
	free(p->public_key);
	free(p->allowed_ips);
	free(p->endpoint);
	free(p->identity);
	free(p->created_at);
	memset(p, 0, sizeof(*p));
}

/* ---- deny events --------------------------------------------------------- */

int pc_store_denies_add(struct pc_store *s, const struct pc_deny_record *v,
			size_t n, size_t keep)
{
	sqlite3_stmt *st;
	int rc, err = 0;

	if (!n)
		return 0;
	if ((err = pc_store_begin(s)))
		return err;
	rc = sqlite3_prepare_v2(s->db,
				"INSERT INTO deny_events (at, reason, proto, "
				"src, sport, dst, dport, identities, rule, "
				"iface) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
				-1, &st, NULL);
	if (rc != SQLITE_OK) {
		err = write_failed(s, "store deny events");
		pc_store_rollback(s);
		return err;
	}
	for (size_t i = 0; i < n && !err; i++) {
		const struct pc_deny_record *d = &v[i];

		sqlite3_bind_text(st, 1, d->at, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, d->reason, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, d->proto, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, d->src, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 5, d->sport);
		sqlite3_bind_text(st, 6, d->dst, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 7, d->dport);
		sqlite3_bind_text(st, 8, d->identities, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 9, d->rule, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 10, d->iface, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			err = write_failed(s, "store deny events");
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (!err) {
		char sql[128];

		/* bounded retention: the newest keep rows */
		snprintf(sql, sizeof(sql),
			 "DELETE FROM deny_events WHERE id <= "
			 "(SELECT MAX(id) FROM deny_events) - %zu;",
			 keep);
		err = exec_write(s, sql, "trim deny events");
	}
	if (err) {
		pc_store_rollback(s);
		return err;
	}
	return pc_store_commit(s);
}

static void read_deny_row(sqlite3_stmt *st, void *row)
{
	*(struct pc_deny_record *)row = (struct pc_deny_record){
		.at = col_text(st, 0),
		.reason = col_text(st, 1),
		.proto = col_text(st, 2),
		.src = col_text(st, 3),
		.sport = sqlite3_column_int(st, 4),
		.dst = col_text(st, 5),
		.dport = sqlite3_column_int(st, 6),
		.identities = col_text(st, 7),
		.rule = col_text(st, 8),
		.iface = col_text(st, 9),
	};
}

static void free_deny_row(void *row)
{
	pc_deny_record_free(row);
}

int pc_store_denies_list(struct pc_store *s, size_t limit,
			 struct pc_deny_record **out, size_t *n)
{
	return list_rows(s,
			 "SELECT at, reason, proto, src, sport, dst, dport, "
			 "identities, rule, iface FROM deny_events ORDER BY "
			 "id DESC LIMIT ?",
			 (int64_t)limit, sizeof(**out), read_deny_row,
			 free_deny_row, (void **)out, n);
}

void pc_deny_record_free(struct pc_deny_record *d)
{
	free(d->at);
	free(d->reason);
	free(d->proto);
	free(d->src);
	free(d->dst);
	free(d->identities);
	free(d->rule);
	free(d->iface);
	memset(d, 0, sizeof(*d));
}

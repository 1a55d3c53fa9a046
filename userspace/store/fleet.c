// SPDX-License-Identifier: Apache-2.0
/* The fleet's policy versions in etcd (the layout is in fleet.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet.h"
#include "pclib.h"

#define PC_FLEET_CAS_TRIES 16

void pc_fleet_key(const struct pc_etcd *e, const char *what, int64_t version,
		  char *out, size_t len)
{
	if (version >= 0)
		snprintf(out, len, "%s/policy/%s/%0*" PRId64, pc_etcd_prefix(e),
			 what, PC_FLEET_VERSION_DIGITS, version);
	else
		snprintf(out, len, "%s/policy/%s/", pc_etcd_prefix(e), what);
}

static json_t *kv_put(const char *key, const char *val, size_t len)
{
	return json_pack("{s:{s:o, s:o}}", "request_put", "key",
			 pc_etcd_b64(key, strlen(key)), "value",
			 pc_etcd_b64(val, len));
}

/* The one kv of a range answer (borrowed), or NULL. */
static json_t *first_kv(json_t *resp)
{
	return json_array_get(json_object_get(resp, "kvs"), 0);
}

static int range(struct pc_etcd *e, const char *key, const char *end, int desc,
		 size_t limit, int keys_only, json_t **resp,
		 char err[PC_ETCD_ERR_LEN])
{
	json_t *req = json_pack("{s:o}", "key", pc_etcd_b64(key, strlen(key)));

	if (end)
		json_object_set_new(req, "range_end",
				    pc_etcd_b64(end, strlen(end)));
	if (desc) {
		json_object_set_new(req, "sort_order", json_string("DESCEND"));
		json_object_set_new(req, "sort_target", json_string("KEY"));
	}
	if (limit)
		json_object_set_new(req, "limit",
				    json_integer((json_int_t)limit));
	if (keys_only)
		json_object_set_new(req, "keys_only", json_true());
	return pc_etcd_call(e, "kv/range", req, resp, err);
}

/*
 * A compare-and-swap lost.  If the head is as it was read (mod, or absent
 * for 0), the version it pointed past exists already: the head was
 * restored or edited by hand.  Move it to v, so the next try takes a
 * free number; a push that moved it meanwhile needs nothing.
 */
static void head_past(struct pc_etcd *e, const char *head, int64_t mod,
		      int64_t v)
{
	char err[PC_ETCD_ERR_LEN], hbuf[64], m[24];
	json_t *resp = NULL;

	snprintf(hbuf, sizeof(hbuf), "{\"version\":%" PRId64 "}", v);
	snprintf(m, sizeof(m), "%" PRId64, mod);
	if (!pc_etcd_call(
		    e, "kv/txn",
		    json_pack("{s:[{s:o, s:s, s:s, s:s}], s:[o]}", "compare",
			      "key", pc_etcd_b64(head, strlen(head)), "target",
			      mod ? "MOD" : "CREATE", "result", "EQUAL",
			      mod ? "mod_revision" : "create_revision", m,
			      "success", kv_put(head, hbuf, strlen(hbuf))),
		    &resp, err))
		json_decref(resp);
}

int pc_fleet_policy_add(struct pc_etcd *e, struct pc_policy_record *r,
			const char *by, const char *via,
			char err[PC_ETCD_ERR_LEN])
{
	char head[300], vkey[300], skey[300];
	int rc;

	snprintf(head, sizeof(head), "%s/policy/head", pc_etcd_prefix(e));
	for (int i = 0; i < PC_FLEET_CAS_TRIES; i++) {
		json_t *resp, *kv, *cmp, *ops, *rec;
		int64_t last = 0, mod = 0;
		char *hv, *text;

		if ((rc = range(e, head, NULL, 0, 0, 0, &resp, err)))
			return rc;
		kv = first_kv(resp);
		if (kv) {
			json_t *j;

			mod = pc_etcd_int(kv, "mod_revision");
			hv = pc_etcd_unb64(json_object_get(kv, "value"), NULL);
			j = hv ? json_loads(hv, 0, NULL) : NULL;
			last = json_integer_value(
				json_object_get(j, "version"));
			json_decref(j);
			free(hv);
		}
		json_decref(resp);
		r->version = last + 1;
		pc_fleet_key(e, "v", r->version, vkey, sizeof(vkey));
		pc_fleet_key(e, "src", r->version, skey, sizeof(skey));
		/* the head as read: unchanged, or still absent */
		cmp = json_pack("{s:o, s:s, s:s}", "key",
				pc_etcd_b64(head, strlen(head)), "target",
				mod ? "MOD" : "CREATE", "result", "EQUAL");
		{
			char m[24];

			snprintf(m, sizeof(m), "%" PRId64, mod);
			json_object_set_new(
				cmp, mod ? "mod_revision" : "create_revision",
				json_string(m));
		}
		rec = json_pack("{s:I, s:s, s:s, s:I, s:s, s:s}", "version",
				(json_int_t)r->version, "filename", r->filename,
				"created_at", r->created_at, "rollback_of",
				(json_int_t)r->rollback_of, "by", by ? by : "-",
				"via", via ? via : "-");
		text = json_dumps(rec, JSON_COMPACT);
		json_decref(rec);
		{
			char hbuf[64];

			snprintf(hbuf, sizeof(hbuf),
				 "{\"version\":%" PRId64 "}", r->version);
			ops = json_pack(
				"[o, o, o]", kv_put(head, hbuf, strlen(hbuf)),
				kv_put(vkey, text, strlen(text)),
				kv_put(skey, r->source, strlen(r->source)));
		}
		free(text);
		/* and the version itself still free: a lost or rewritten
		 * head must not hand out a version twice */
		rc = pc_etcd_call(
			e, "kv/txn",
			json_pack("{s:[o, {s:o, s:s, s:s, s:s}], s:o}",
				  "compare", cmp, "key",
				  pc_etcd_b64(vkey, strlen(vkey)), "target",
				  "CREATE", "result", "EQUAL",
				  "create_revision", "0", "success", ops),
			&resp, err);
		if (rc == -EREMOTEIO && strstr(err, "too large"))
			return -E2BIG; /* etcd's --max-request-bytes */
		if (rc)
			return rc;
		if (json_is_true(json_object_get(resp, "succeeded"))) {
			json_decref(resp);
			return 0;
		}
		json_decref(resp); /* another push took that version */
		head_past(e, head, mod, r->version);
	}
	snprintf(err, PC_ETCD_ERR_LEN,
		 "etcd at %s: %d pushes in a row lost the race for a version; "
		 "try again",
		 pc_etcd_endpoint(e), PC_FLEET_CAS_TRIES);
	return -EAGAIN;
}

int pc_fleet_record_parse(const char *json, size_t len,
			  struct pc_policy_record *out, char **by, char **via)
{
	json_t *j = json_loadb(json, len, 0, NULL);
	const char *f, *at, *b, *v;
	json_int_t version = 0, rb = 0;

	memset(out, 0, sizeof(*out));
	if (!j ||
	    json_unpack(j, "{s:I, s:s, s:s, s?I, s?s, s?s}", "version",
			&version, "filename", &f, "created_at", &at,
			"rollback_of", &rb, "by", &b, "via", &v) ||
	    version <= 0) {
		json_decref(j);
		return -EINVAL;
	}
	b = json_string_value(json_object_get(j, "by"));
	v = json_string_value(json_object_get(j, "via"));
	out->version = version;
	out->rollback_of = rb;
	out->filename = pc_strdup(f);
	out->created_at = pc_strdup(at);
	if (by)
		*by = pc_strdup(b ? b : "-");
	if (via)
		*via = pc_strdup(v ? v : "-");
	json_decref(j);
	return 0;
}

/* A record's JSON out of a range answer's kv into out. */
static int kv_record(json_t *kv, struct pc_policy_record *out, char **by,
		     char **via, char err[PC_ETCD_ERR_LEN])
{
	size_t len;
	char *val = pc_etcd_unb64(json_object_get(kv, "value"), &len);
	int rc = val ? pc_fleet_record_parse(val, len, out, by, via) : -EINVAL;

	free(val);
	if (rc) {
		snprintf(err, PC_ETCD_ERR_LEN,
			 "a policy version in etcd is not a record this "
			 "portcullisd reads");
		rc = -EBADMSG;
	}
	return rc;
}

int pc_fleet_policy_get(struct pc_etcd *e, int64_t version,
			struct pc_policy_record *out, char **by, char **via,
			int64_t *revision, char err[PC_ETCD_ERR_LEN])
{
	char key[300], end[300];
	json_t *resp, *kv;
	int rc;

	memset(out, 0, sizeof(*out));
	if (version > 0) {
		pc_fleet_key(e, "v", version, key, sizeof(key));
		rc = range(e, key, NULL, 0, 0, 0, &resp, err);
	} else {
		pc_fleet_key(e, "v", -1, key, sizeof(key));
		pc_etcd_prefix_end(key, end, sizeof(end));
		rc = range(e, key, end, 1, 1, 0, &resp, err);
	}
	if (rc)
		return rc;
	if (revision)
		*revision = pc_etcd_int(json_object_get(resp, "header"),
					"revision");
	kv = first_kv(resp);
	if (!kv) {
		json_decref(resp);
		snprintf(err, PC_ETCD_ERR_LEN, "no such policy version");
		return -ENOENT;
	}
	rc = kv_record(kv, out, by, via, err);
	json_decref(resp);
	if (rc)
		return rc;
	pc_fleet_key(e, "src", out->version, key, sizeof(key));
	rc = range(e, key, NULL, 0, 0, 0, &resp, err);
	if (!rc) {
		kv = first_kv(resp);
		out->source =
			kv ? pc_etcd_unb64(json_object_get(kv, "value"), NULL)
			   : NULL;
		json_decref(resp);
		if (!out->source) {
			snprintf(err, PC_ETCD_ERR_LEN,
				 "policy version %" PRId64
				 " has no source in etcd",
				 out->version);
			rc = -EBADMSG;
		}
	}
	if (rc) {
		pc_policy_record_free(out);
		if (by) {
			free(*by);
			*by = NULL;
		}
		if (via) {
			free(*via);
			*via = NULL;
		}
	}
	return rc;
}

int pc_fleet_policy_list(struct pc_etcd *e, size_t limit,
			 struct pc_policy_record **out, size_t *n,
			 char err[PC_ETCD_ERR_LEN])
{
	char key[300], end[300];
	json_t *resp, *kvs;
	size_t i;
	int rc;

	*out = NULL;
	*n = 0;
	pc_fleet_key(e, "v", -1, key, sizeof(key));
	pc_etcd_prefix_end(key, end, sizeof(end));
	rc = range(e, key, end, 1, limit, 0, &resp, err);
	if (rc)
		return rc;
	kvs = json_object_get(resp, "kvs");
	*out = pc_xcalloc(json_array_size(kvs) + 1, sizeof(**out));
	for (i = 0; i < json_array_size(kvs); i++)
		if (!kv_record(json_array_get(kvs, i), &(*out)[*n], NULL, NULL,
			       err))
			(*n)++;
	json_decref(resp);
	return 0;
}

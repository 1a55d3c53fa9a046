// SPDX-License-Identifier: Apache-2.0
/* Routes of /v1 and the health endpoints; pure request -> JSON logic. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "api.h"

typedef int (*route_fn)(const struct pc_api_backend *be, const char *query,
			const char *ctype, const char *body, size_t len,
			json_t **out);

struct route {
	const char *method;
	const char *path; /* a trailing '*' matches one more segment */
	route_fn fn;
	enum pc_role role; /* the least role allowed */
};

/* The last path segment of a '*' route, the caller and the buffer for a
 * route that writes its own JSON, for handlers. */
static const char *path_arg;
static const struct pc_api_caller *caller;
static struct evbuffer *raw_out;

static json_t *error_json(const char *msg, const char *field)
{
	json_t *j = json_pack("{s:s}", "error", msg);

	if (field)
		json_object_set_new(j, "field", json_string(field));
	return j;
}

static int get_status(const struct pc_api_backend *be, const char *query,
		      const char *ctype, const char *body, size_t len,
		      json_t **out)
{
	(void)query, (void)ctype, (void)body, (void)len;
	*out = be->status(be->ctx);
	return 200;
}

static int get_policy(const struct pc_api_backend *be, const char *query,
		      const char *ctype, const char *body, size_t len,
		      json_t **out)
{
	(void)query, (void)ctype, (void)body, (void)len;
	*out = be->policy_get(be->ctx);
	if (!*out) {
		*out = error_json("no policy has been pushed", NULL);
		return 404;
	}
	return 200;
}

static int yaml_ctype(const char *ctype)
{
	static const char *const ok[] = {"application/yaml",
					 "application/x-yaml", "text/yaml",
					 "text/x-yaml", "text/plain"};
	size_t n;

	if (!ctype || !*ctype)
		return 1;
	n = strcspn(ctype, ";");
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strlen(ok[i]) == n && !strncasecmp(ctype, ok[i], n))
			return 1;
	return 0;
}

/* The raw value of "KEY=..." in a query (as sent, still percent-encoded)
 * and its length; NULL if the key is absent.  The first one counts. */
static const char *query_value(const char *query, const char *key, size_t *n)
{
	size_t kl = strlen(key);

	for (const char *p = query; p && *p;) {
		size_t m = strcspn(p, "&");

		if (m > kl && !strncmp(p, key, kl) && p[kl] == '=') {
			*n = m - kl - 1;
			return p + kl + 1;
		}
		p += m + (p[m] == '&');
	}
	return NULL;
}

static int hex_digit(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

int pc_api_query_get(const char *query, const char *key, char *buf, size_t len)
{
	size_t n, o = 0;
	const char *v = query_value(query, key, &n);

	if (!v)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int c = v[i] == '+' ? ' ' : (unsigned char)v[i];

		if (v[i] == '%') {
			int hi = i + 2 < n ? hex_digit(v[i + 1]) : -1;
			int lo = hi >= 0 ? hex_digit(v[i + 2]) : -1;

			if (lo < 0 || (hi | lo) == 0)
				return -1;
			c = hi << 4 | lo;
			i += 2;
		}
		if (o + 1 >= len)
			return -1;
		buf[o++] = (char)c;
	}
	buf[o] = '\0';
	return 1;
}

/* "filename=NAME" from the query, reduced to a safe base name: its last
 * path component, in letters, digits and "._-"; "policy.yaml" if that
 * leaves nothing but dots. */
static void query_filename(const char *query, char *buf, size_t len)
{
	char v[4096];
	size_t n = 0;

	/* (a name too long or badly encoded is no name) */
	if (pc_api_query_get(query, "filename", v, sizeof(v)) <= 0)
		v[0] = '\0';
	for (const char *p = v; *p; p++) {
		if (*p == '/')
			n = 0; /* keep only the last path component */
		else if (n + 1 < len &&
			 ((*p >= 'a' && *p <= 'z') ||
			  (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || strchr("._-", *p)))
			buf[n++] = *p;
	}
	buf[n] = '\0';
	if (strspn(buf, ".") == n)
		snprintf(buf, len, "policy.yaml");
}

void pc_api_diags_json(json_t *j, const struct pc_diags *d)
{
	json_t *errors = json_array(), *warnings = json_array();

	for (size_t i = 0; i < d->n; i++)
		json_array_append_new(d->v[i].warning ? warnings : errors,
				      json_string(d->v[i].msg));
	json_object_set_new(j, "errors", errors);
	json_object_set_new(j, "warnings", warnings);
}

/* A push or rollback that failed for want of the state database (full,
 * read-only, locked): 503, the store named; anything else 500. */
static int failed(int rc, const struct pc_diags *d, json_t **out)
{
	int store = rc == -ENOSPC || rc == -EROFS || rc == -EBUSY;
	int fleet = rc == -ECONNREFUSED || rc == -ETIMEDOUT || rc == -EAGAIN ||
		    rc == -EREMOTEIO;

	*out = error_json(d->nerrors ? pc_diags_first_error(d) : strerror(-rc),
			  store	  ? "state"
			  : fleet ? "store"
				  : NULL);
	return store || fleet ? 503 : 500;
}

/* A route this backend does not serve. */
static int unavailable(json_t **out)
{
	*out = error_json("not available on this gateway", "path");
	return 501;
}

/* A policy in the body: 0, or the status with *out. */
static int yaml_body(const char *ctype, const char *body, size_t len,
		     json_t **out)
{
	if (!yaml_ctype(ctype)) {
		*out = error_json("policy must be sent as application/yaml",
				  "Content-Type");
		return 415;
	}
	if (!len) {
		*out = error_json("empty policy", "body");
		return 400;
	}
	if (memchr(body, '\0', len)) {
		*out = error_json("policy contains a NUL byte", "body");
		return 400;
	}
	return 0;
}

/*
 * PUT /v1/policy (push) and POST /v1/policy/validate (the same checks
 * and answer, nothing pushed): a policy in the body.
 */
static int policy_body(const struct pc_api_backend *be, const char *query,
		       const char *ctype, const char *body, size_t len,
		       json_t **out, int push)
{
	struct pc_diags d = {0};
	char fname[128];
	int rc, status = yaml_body(ctype, body, len, out);

	if (status)
		return status;
	if (!push && !be->policy_check)
		return unavailable(out);
	status = 200;
	query_filename(query, fname, sizeof(fname));
	rc = push ? be->policy_put(be->ctx, caller, body, len, fname, out, &d)
		  : be->policy_check(be->ctx, body, len, fname, out, &d);
	if (rc == -EINVAL) {
		*out = error_json(pc_diags_first_error(&d), "policy");
		if (!push)
			json_object_set_new(*out, "valid", json_false());
		status = 422;
	} else if (rc) {
		status = failed(rc, &d, out);
	}
	pc_api_diags_json(*out, &d);
	pc_diags_free(&d);
	return status;
}

static int post_validate(const struct pc_api_backend *be, const char *query,
			 const char *ctype, const char *body, size_t len,
			 json_t **out)
{
	return policy_body(be, query, ctype, body, len, out, 0);
}

/* A version number: digits only, 1 to 2^53; 0 if s is not one. */
static int64_t version_of(const char *s, size_t n)
{
	int64_t v = 0;

	if (!n || n > 16)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	return v <= (INT64_C(1) << 53) ? v : 0;
}

/* "KEY=N" from the query as a version; 0 if absent or not one. */
static int64_t query_version(const char *query, const char *key)
{
	size_t n;
	const char *v = query_value(query, key, &n);

	return v ? version_of(v, n) : 0;
}

/* A backend's answer about stored versions: 404, 422 or its failure. */
static int version_status(int rc, struct pc_diags *d, const char *field,
			  json_t **out)
{
	int status = 200;

	if (rc == -ENOENT) {
		*out = error_json(pc_diags_first_error(d), field);
		status = 404;
	} else if (rc == -EINVAL) {
		*out = error_json(pc_diags_first_error(d), "policy");
		status = 422;
	} else if (rc) {
		status = failed(rc, d, out);
	}
	if (rc)
		pc_api_diags_json(*out, d);
	pc_diags_free(d);
	return status;
}

/* GET /v1/policy/versions/N */
static int get_version(const struct pc_api_backend *be, const char *query,
		       const char *ctype, const char *body, size_t len,
		       json_t **out)
{
	struct pc_diags d = {0};
	int64_t v = version_of(path_arg, strlen(path_arg));

	(void)query, (void)ctype, (void)body, (void)len;
	if (!be->policy_version)
		return unavailable(out);
	if (!v) {
		*out = error_json("version must be a positive integer",
				  "version");
		return 400;
	}
	return version_status(be->policy_version(be->ctx, v, out, &d), &d,
			      "version", out);
}

/* GET /v1/policy/diff?from=A&to=B */
static int get_diff(const struct pc_api_backend *be, const char *query,
		    const char *ctype, const char *body, size_t len,
		    json_t **out)
{
	struct pc_diags d = {0};
	int64_t from = query_version(query, "from");
	int64_t to = query_version(query, "to");
	int rc;

	(void)ctype, (void)body, (void)len;
	if (!be->policy_diff)
		return unavailable(out);
	if (!from || !to) {
		*out = error_json("give two versions: ?from=A&to=B, each a "
				  "positive integer",
				  from ? "to" : "from");
		return 400;
	}
	rc = be->policy_diff(be->ctx, from, to, out, &d);
	/* which end is missing: the backend's error names it */
	return version_status(
		rc, &d,
		strncmp(pc_diags_first_error(&d), "to:", 3) ? "from" : "to",
		out);
}

static int put_policy(const struct pc_api_backend *be, const char *query,
		      const char *ctype, const char *body, size_t len,
		      json_t **out)
{
	return policy_body(be, query, ctype, body, len, out, 1);
}

/* "KEY=N" from the query, lo..hi; dflt if absent, -1 if not such. */
static long query_number(const char *query, const char *key, long lo, long hi,
			 long dflt)
{
	char v[24], *end;
	int rc = pc_api_query_get(query, key, v, sizeof(v));
	long l = rc > 0 ? strtol(v, &end, 10) : 0;

	if (!rc)
		return dflt;
	if (rc < 0 || end == v || *end || l < lo || l > hi)
		return -1;
	return l;
}

/* Which of names[n] "KEY=" names: its index; -1 if absent, -2 if none. */
static int query_choice(const char *query, const char *key,
			const char *const *names, size_t n)
{
	char v[24];
	int rc = pc_api_query_get(query, key, v, sizeof(v));

	if (!rc)
		return -1;
	for (size_t i = 0; rc > 0 && i < n; i++)
		if (!strcmp(v, names[i]))
			return (int)i;
	return -2;
}

/* A list route: ?limit=N (1..1000, default 50), then the backend's. */
static int list_route(json_t *(*fn)(void *ctx, size_t limit), void *ctx,
		      const char *query, const char *what, json_t **out)
{
	long limit = query_number(query, "limit", 1, 1000, 50);
	char msg[96];

	if (limit < 0) {
		*out = error_json("limit must be a number from 1 to 1000",
				  "limit");
		return 400;
	}
	*out = fn(ctx, (size_t)limit);
	if (!*out) {
		snprintf(msg, sizeof(msg), "failed to read the %s", what);
		*out = error_json(msg, NULL);
		return 500;
	}
	/* the backend's own error: the fleet's store out of reach */
	if (json_object_get(*out, "error"))
		return 503;
	return 200;
}

static int get_versions(const struct pc_api_backend *be, const char *query,
			const char *ctype, const char *body, size_t len,
			json_t **out)
{
	(void)ctype, (void)body, (void)len;
	return list_route(be->policy_versions, be->ctx, query,
			  "policy versions", out);
}

static int json_ctype(const char *ctype)
{
	size_t n = ctype ? strcspn(ctype, ";") : 0;

	return n == strlen("application/json") &&
	       !strncasecmp(ctype, "application/json", n);
}

/* A request's JSON object body: 0 and *req (the caller's), else 415 or
 * 400 with *out; send says what to send, for the 415. */
static int object_body(const char *ctype, const char *body, size_t len,
		       const char *send, json_t **req, json_t **out)
{
	json_error_t jerr;

	if (!json_ctype(ctype)) {
		*out = error_json(send, "Content-Type");
		return 415;
	}
	*req = json_loadb(body, len, 0, &jerr);
	if (!*req) {
		char msg[256];

		snprintf(msg, sizeof(msg),
			 "body is not JSON: %s (line %d, column %d)", jerr.text,
			 jerr.line, jerr.column);
		pc_one_line(msg);
		*out = error_json(msg, "body");
		return 400;
	}
	if (!json_is_object(*req)) {
		json_decref(*req);
		*out = error_json("body must be a JSON object", "body");
		return 400;
	}
	return 0;
}

static int post_rollback(const struct pc_api_backend *be, const char *query,
			 const char *ctype, const char *body, size_t len,
			 json_t **out)
{
	struct pc_diags d = {0};
	json_int_t version = 0;
	int rc, status = 200;

	(void)query;
	if (len) {
		json_t *req, *v;
		int code = object_body(ctype, body, len,
				       "send {\"version\": N} as "
				       "application/json",
				       &req, out);

		if (code)
			return code;
		v = json_object_get(req, "version");
		if (v && (!json_is_integer(v) || json_integer_value(v) < 1)) {
			json_decref(req);
			*out = error_json("version must be a positive integer",
					  "version");
			return 400;
		}
		version = v ? json_integer_value(v) : 0;
		json_decref(req);
	}
	rc = be->policy_rollback(be->ctx, caller, version, out, &d);
	if (rc == -ENOENT) {
		*out = error_json(pc_diags_first_error(&d), "version");
		status = 404;
	} else if (rc == -EINVAL) {
		*out = error_json(pc_diags_first_error(&d), "policy");
		status = 422;
	} else if (rc) {
		status = failed(rc, &d, out);
	}
	pc_api_diags_json(*out, &d);
	pc_diags_free(&d);
	return status;
}

/* Who the credential says the caller is: the console asks at login. */
static int get_whoami(const struct pc_api_backend *be, const char *query,
		      const char *ctype, const char *body, size_t len,
		      json_t **out)
{
	(void)be, (void)query, (void)ctype, (void)body, (void)len;
	*out = json_pack("{s:s, s:s}", "name", caller->name, "role",
			 pc_role_name(caller->role));
	return 200;
}

static int get_healthz(const struct pc_api_backend *be, const char *query,
		       const char *ctype, const char *body, size_t len,
		       json_t **out)
{
	(void)be, (void)query, (void)ctype, (void)body, (void)len;
	*out = json_pack("{s:s}", "status", "ok");
	return 200;
}

static int get_readyz(const struct pc_api_backend *be, const char *query,
		      const char *ctype, const char *body, size_t len,
		      json_t **out)
{
	const char *why = NULL;

	(void)query, (void)ctype, (void)body, (void)len;
	if (be->ready(be->ctx, &why)) {
		/* degraded still serves: it enforces, it cannot follow */
		*out = why ? json_pack("{s:s, s:s}", "status", "degraded",
				       "error", why)
			   : json_pack("{s:s}", "status", "ready");
		return 200;
	}
	if (!why)
		why = "not ready";
	*out = json_pack("{s:s, s:s}", "status", "not ready", "error", why);
	return 503;
}

/* A GET answered by one backend call; NULL from it is a 500. */
static int read_route(json_t *(*fn)(void *ctx), void *ctx, const char *what,
		      json_t **out)
{
	char msg[96];

	*out = fn ? fn(ctx) : NULL;
	if (!*out) {
		snprintf(msg, sizeof(msg), "failed to read the %s", what);
		*out = error_json(msg, NULL);
		return 500;
	}
	return 200;
}

static int get_tokens(const struct pc_api_backend *be, const char *query,
		      const char *ctype, const char *body, size_t len,
		      json_t **out)
{
	(void)query, (void)ctype, (void)body, (void)len;
	return read_route(be->tokens_list, be->ctx, "tokens", out);
}

static int post_tokens(const struct pc_api_backend *be, const char *query,
		       const char *ctype, const char *body, size_t len,
		       json_t **out)
{
	json_t *req;
	const char *name, *role;
	enum pc_role r;
	int rc;

	(void)query;
	if ((rc = object_body(ctype, body, len,
			      "send {\"name\": ..., \"role\": ...} as "
			      "application/json",
			      &req, out)))
		return rc;
	name = json_string_value(json_object_get(req, "name"));
	role = json_string_value(json_object_get(req, "role"));
	if (!name || !pc_token_name_valid(name)) {
		json_decref(req);
		*out = error_json("name: letters, digits, '-', '_', '.', at "
				  "most 63, not only dots",
				  "name");
		return 400;
	}
	if ((r = pc_role_parse(role)) == PC_ROLE_NONE) {
		json_decref(req);
		*out = error_json("role must be admin, operator or viewer",
				  "role");
		return 400;
	}
	rc = be->token_create(be->ctx, caller, name, r, out);
	json_decref(req);
	if (rc == -EEXIST) {
		*out = error_json("a live token already has that name", "name");
		return 409;
	}
	if (rc) {
		*out = error_json("failed to create the token", NULL);
		return 500;
	}
	return 201;
}

static int delete_token(const struct pc_api_backend *be, const char *query,
			const char *ctype, const char *body, size_t len,
			json_t **out)
{
	int rc;

	(void)query, (void)ctype, (void)body, (void)len;
	rc = be->token_revoke(be->ctx, caller, path_arg);
	if (rc == -ENOENT) {
		*out = error_json("no live token has that name", "name");
		return 404;
	}
	if (rc) {
		*out = error_json("failed to revoke the token", NULL);
		return 500;
	}
	*out = json_pack("{s:s, s:b}", "name", path_arg, "revoked", 1);
	return 200;
}

static int get_peers(const struct pc_api_backend *be, const char *query,
		     const char *ctype, const char *body, size_t len,
		     json_t **out)
{
	(void)query, (void)ctype, (void)body, (void)len;
	return read_route(be->peers, be->ctx, "WireGuard peers", out);
}

static int get_services(const struct pc_api_backend *be, const char *query,
			const char *ctype, const char *body, size_t len,
			json_t **out)
{
	(void)query, (void)ctype, (void)body, (void)len;
	return read_route(be->services, be->ctx, "services", out);
}

static int post_peers(const struct pc_api_backend *be, const char *query,
		      const char *ctype, const char *body, size_t len,
		      json_t **out)
{
	json_t *req;
	int code;

	(void)query;
	if ((code = object_body(ctype, body, len,
				"send the peer as application/json", &req,
				out)))
		return code;
	code = be->peer_add ? be->peer_add(be->ctx, caller, req, out) : 404;
	if (code == 404 && !*out)
		*out = error_json("this gateway has no WireGuard", "path");
	json_decref(req);
	return code;
}

static int delete_peer(const struct pc_api_backend *be, const char *query,
		       const char *ctype, const char *body, size_t len,
		       json_t **out)
{
	(void)query, (void)ctype, (void)body, (void)len;
	if (!be->peer_remove) {
		*out = error_json("this gateway has no WireGuard", "path");
		return 404;
	}
	return be->peer_remove(be->ctx, caller, path_arg, out);
}

static int get_denies(const struct pc_api_backend *be, const char *query,
		      const char *ctype, const char *body, size_t len,
		      json_t **out)
{
	(void)ctype, (void)body, (void)len;
	return list_route(be->denies, be->ctx, query, "deny events", out);
}

static int get_audit(const struct pc_api_backend *be, const char *query,
		     const char *ctype, const char *body, size_t len,
		     json_t **out)
{
	(void)ctype, (void)body, (void)len;
	return list_route(be->audit_list, be->ctx, query, "audit log", out);
}

static int get_flows(const struct pc_api_backend *be, const char *query,
		     const char *ctype, const char *body, size_t len,
		     json_t **out)
{
	static const char *const states[] = {"none", "syn_sent", "established",
					     "closing", "closed"};
	/* a denied packet makes no flow (GET /v1/denies has those); audit
	 * mode's would-be denies are flows with the verdict audit */
	static const char *const verdicts[] = {"allow", "audit"};
	static const char *const protos[] = {"tcp", "udp", "icmp", "icmpv6"};
	static const int proto_nums[] = {6, 17, 1, 58};
	struct pc_flow_filter f = {0};
	char v[64];
	long limit;
	int rc, i;

	(void)ctype, (void)body, (void)len;
	if (pc_api_query_get(query, "identity", f.identity,
			     sizeof(f.identity)) < 0) {
		*out = error_json("identity: a name of at most 63 characters",
				  "identity");
		return 400;
	}
	if (pc_api_query_get(query, "service", f.service, sizeof(f.service)) <
	    0) {
		*out = error_json("service: a name of at most 63 characters",
				  "service");
		return 400;
	}
	if ((i = query_choice(query, "verdict", verdicts,
			      PC_ARRAY_SIZE(verdicts))) == -2) {
		*out = error_json("verdict: allow or audit (a denied packet "
				  "makes no flow: see /v1/denies)",
				  "verdict");
		return 400;
	}
	if (i >= 0)
		snprintf(f.verdict, sizeof(f.verdict), "%s", verdicts[i]);
	if ((rc = pc_api_query_get(query, "host", v, sizeof(v))) != 0) {
		if (rc < 0 || pc_addr_parse(v, f.host)) {
			*out = error_json("host: an IPv4 or IPv6 address",
					  "host");
			return 400;
		}
		f.has_host = 1;
	}
	if ((i = query_choice(query, "state", states, PC_ARRAY_SIZE(states))) ==
	    -2) {
		*out = error_json("state: none, syn_sent, established, "
				  "closing or closed",
				  "state");
		return 400;
	}
	f.state = i + 1; /* 0: any */
	if ((i = query_choice(query, "proto", protos, PC_ARRAY_SIZE(protos))) ==
	    -2) {
		*out = error_json("proto: tcp, udp, icmp or icmpv6", "proto");
		return 400;
	}
	f.proto = i >= 0 ? proto_nums[i] : -1;
	if ((limit = query_number(query, "limit", 1, 10000, 100)) < 0) {
		*out = error_json("limit must be a number from 1 to 10000",
				  "limit");
		return 400;
	}
	f.limit = (size_t)limit;
	if (!raw_out)
		return unavailable(out); /* the caller takes no JSON text */
	if (be->flows(be->ctx, &f, raw_out)) {
		evbuffer_drain(raw_out, evbuffer_get_length(raw_out));
		*out = error_json("failed to read the flows", NULL);
		return 500;
	}
	return 200;
}

static int get_gateways(const struct pc_api_backend *be, const char *query,
			const char *ctype, const char *body, size_t len,
			json_t **out)
{
	(void)query, (void)ctype, (void)body, (void)len;
	return read_route(be->gateways, be->ctx, "fleet", out);
}

static int get_placements(const struct pc_api_backend *be, const char *query,
			  const char *ctype, const char *body, size_t len,
			  json_t **out)
{
	(void)query, (void)ctype, (void)body, (void)len;
	*out = be->placements ? be->placements(be->ctx) : NULL;
	if (!*out) {
		*out = error_json("placement needs a fleet (store: etcd://...)",
				  "store");
		return 409;
	}
	return 200;
}

static int post_placements(const struct pc_api_backend *be, const char *query,
			   const char *ctype, const char *body, size_t len,
			   json_t **out)
{
	json_t *req;
	int code;

	(void)query;
	if ((code = object_body(ctype, body, len,
				"send the client as application/json", &req,
				out)))
		return code;
	code = be->placement_add
		       ? be->placement_add(be->ctx, caller, req, out)
		       : (*out = error_json("placement needs a fleet", "store"),
			  409);
	json_decref(req);
	return code;
}

static int delete_placement(const struct pc_api_backend *be, const char *query,
			    const char *ctype, const char *body, size_t len,
			    json_t **out)
{
	(void)query, (void)ctype, (void)body, (void)len;
	if (!be->placement_remove) {
		*out = error_json("placement needs a fleet", "store");
		return 409;
	}
	return be->placement_remove(be->ctx, caller, path_arg, out);
}

static int delete_gateway(const struct pc_api_backend *be, const char *query,
			  const char *ctype, const char *body, size_t len,
			  json_t **out)
{
	(void)query, (void)ctype, (void)body, (void)len;
	if (!be->gateway_remove) {
		*out = error_json("this gateway is not in a fleet", "store");
		return 409;
	}
	return be->gateway_remove(be->ctx, caller, path_arg, out);
}

static const struct route routes[] = {
	{"GET", "/v1/status", get_status, PC_ROLE_VIEWER},
	{"GET", "/v1/whoami", get_whoami, PC_ROLE_VIEWER},
	{"GET", "/v1/policy", get_policy, PC_ROLE_VIEWER},
	{"PUT", "/v1/policy", put_policy, PC_ROLE_OPERATOR},
	{"GET", "/v1/policy/versions", get_versions, PC_ROLE_VIEWER},
	{"GET", "/v1/policy/versions/*", get_version, PC_ROLE_VIEWER},
	/* (compiles two versions: an operator's, like validate) */
	{"GET", "/v1/policy/diff", get_diff, PC_ROLE_OPERATOR},
	{"POST", "/v1/policy/validate", post_validate, PC_ROLE_OPERATOR},
	{"POST", "/v1/policy/rollback", post_rollback, PC_ROLE_OPERATOR},
	{"GET", "/v1/tokens", get_tokens, PC_ROLE_ADMIN},
	{"POST", "/v1/tokens", post_tokens, PC_ROLE_ADMIN},
	{"DELETE", "/v1/tokens/*", delete_token, PC_ROLE_ADMIN},
	{"GET", "/v1/audit", get_audit, PC_ROLE_OPERATOR},
	{"GET", "/v1/flows", get_flows, PC_ROLE_VIEWER},
	{"GET", "/v1/denies", get_denies, PC_ROLE_VIEWER},
	{"GET", "/v1/peers", get_peers, PC_ROLE_VIEWER},
	{"GET", "/v1/services", get_services, PC_ROLE_VIEWER},
	{"GET", "/v1/gateways", get_gateways, PC_ROLE_VIEWER},
	{"DELETE", "/v1/gateways/*", delete_gateway, PC_ROLE_ADMIN},
	{"GET", "/v1/placements", get_placements, PC_ROLE_VIEWER},
	{"POST", "/v1/placements", post_placements, PC_ROLE_OPERATOR},
	{"DELETE", "/v1/placements/*", delete_placement, PC_ROLE_OPERATOR},
	{"POST", "/v1/peers", post_peers, PC_ROLE_OPERATOR},
	{"DELETE", "/v1/peers/*", delete_peer, PC_ROLE_OPERATOR},
	{"GET", "/healthz", get_healthz, PC_ROLE_NONE},
	{"GET", "/readyz", get_readyz, PC_ROLE_NONE},
};

/* Does path match pattern?  Sets path_arg for a '*' pattern. */
static int path_matches(const char *pattern, const char *path)
{
	size_t n = strlen(pattern);

	if (n && pattern[n - 1] == '*') {
		const char *rest = path + n - 1;

		if (strncmp(pattern, path, n - 1) || !*rest ||
		    strchr(rest, '/'))
			return 0;
		path_arg = rest;
		return 1;
	}
	return !strcmp(pattern, path);
}

const char *pc_api_route_name(const char *path)
{
	static const char *const raw[] = {"/v1/events", "/metrics"};

	for (size_t i = 0; path && i < sizeof(routes) / sizeof(routes[0]); i++)
		if (path_matches(routes[i].path, path))
			return routes[i].path;
	for (size_t i = 0; path && i < sizeof(raw) / sizeof(raw[0]); i++)
		if (!strcmp(raw[i], path))
			return raw[i];
	return "other";
}

int pc_api_handle(const struct pc_api_backend *be,
		  const struct pc_api_caller *who, const char *method,
		  const char *path, const char *query, const char *ctype,
		  const char *body, size_t len, json_t **out,
		  struct evbuffer *raw)
{
	int path_known = 0;

	*out = NULL;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *r = &routes[i];
		char msg[160];

		if (!path_matches(r->path, path))
			continue;
		path_known = 1;
		if (strcmp(r->method, method))
			continue;
		if (r->role > who->role && who->role == PC_ROLE_NONE) {
			*out = error_json("authentication required: send "
					  "Authorization: Bearer TOKEN",
					  "Authorization");
			return 401;
		}
		if (r->role > who->role) {
			snprintf(msg, sizeof(msg),
				 "role %s may not %s %s (needs %s)",
				 pc_role_name(who->role), method, r->path,
				 pc_role_name(r->role));
			*out = error_json(msg, "Authorization");
			return 403;
		}
		caller = who;
		raw_out = raw;
		return r->fn(be, query, ctype, body, len, out);
	}
	if (path_known) {
		*out = error_json("method not allowed", "method");
		return 405;
	}
	*out = error_json("no such endpoint", "path");
	return 404;
}

void pc_api_json_str(struct evbuffer *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;

	evbuffer_add(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

		if (c >= 0x20 && c != '"' && c != '\\')
			continue; /* UTF-8 passes as it is */
		evbuffer_add(b, run, (size_t)(s - run));
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			evbuffer_add(b, esc, 2);
		} else {
			evbuffer_add(b, esc, 6);
		}
		run = s + 1;
	}
	evbuffer_add(b, run, (size_t)(s - run));
	evbuffer_add(b, "\"", 1);
}

json_t *pc_api_diff_json(const struct pc_diff *d)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < d->n; i++) {
		const struct pc_diff_line *l = &d->v[i];
		char sign[2] = {pc_diff_sign(l), '\0'};

		json_array_append_new(
			arr,
			json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, "
				  "s:s?}",
				  "change", sign, "from", l->from, "to", l->to,
				  "ports", l->ports, "was",
				  pc_action_verb(l->old_action), "now",
				  pc_action_verb(l->new_action), "old_rule",
				  l->old_rule, "new_rule", l->new_rule));
	}
	return arr;
}

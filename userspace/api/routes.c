// SPDX-License-Identifier: Apache-2.0
/* Routes of /v1 and the health endpoints; pure request -> JSON logic. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"

typedef int (*route_fn)(const struct pc_api_backend *be, const char *query,
			const char *ctype, const char *body, size_t len,
			json_t **out);

struct route {
	const char *method;
	const char *path;
	route_fn fn;
};

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

/* "filename=NAME" from the query, reduced to a safe base name. */
static void query_filename(const char *query, char *buf, size_t len)
{
	const char *p = query ? strstr(query, "filename=") : NULL;
	size_t n = 0;

	snprintf(buf, len, "policy.yaml");
	if (!p || (p != query && p[-1] != '&'))
		return;
	p += strlen("filename=");
	for (const char *s = p; *s && *s != '&' && n + 1 < len; s++) {
		if (*s == '/')
			n = 0; /* keep only the last path component */
		else if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			 (*s >= '0' && *s <= '9') || strchr("._-", *s))
			buf[n++] = *s;
	}
	if (n)
		buf[n] = '\0';
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

static int put_policy(const struct pc_api_backend *be, const char *query,
		      const char *ctype, const char *body, size_t len,
		      json_t **out)
{
	struct pc_diags d = {0};
	char fname[128];
	int rc, status = 200;

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
	query_filename(query, fname, sizeof(fname));
	rc = be->policy_put(be->ctx, body, len, fname, out, &d);
	if (rc == -EINVAL) {
		*out = error_json(pc_diags_first_error(&d), "policy");
		status = 422;
	} else if (rc) {
		*out = error_json(d.nerrors ? pc_diags_first_error(&d)
					    : strerror(-rc),
				  NULL);
		status = 500;
	}
	pc_api_diags_json(*out, &d);
	pc_diags_free(&d);
	return status;
}

/* "limit=N" from the query: 1..1000, default 50; -1 if malformed. */
static long query_limit(const char *query)
{
	const char *p = query ? strstr(query, "limit=") : NULL;
	char *end;
	long v;

	if (!p || (p != query && p[-1] != '&'))
		return 50;
	v = strtol(p + 6, &end, 10);
	if (end == p + 6 || (*end && *end != '&') || v < 1 || v > 1000)
		return -1;
	return v;
}

static int get_versions(const struct pc_api_backend *be, const char *query,
			const char *ctype, const char *body, size_t len,
			json_t **out)
{
	long limit = query_limit(query);

	(void)ctype, (void)body, (void)len;
	if (limit < 0) {
		*out = error_json("limit must be a number from 1 to 1000",
				  "limit");
		return 400;
	}
	*out = be->policy_versions(be->ctx, (size_t)limit);
	if (!*out) {
		*out = error_json("failed to read the policy versions", NULL);
		return 500;
	}
	return 200;
}

static int json_ctype(const char *ctype)
{
	size_t n = ctype ? strcspn(ctype, ";") : 0;

	return n == strlen("application/json") &&
	       !strncasecmp(ctype, "application/json", n);
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
		json_error_t jerr;
		json_t *req, *v;

		if (!json_ctype(ctype)) {
			*out = error_json("send {\"version\": N} as "
					  "application/json",
					  "Content-Type");
			return 415;
		}
		req = json_loadb(body, len, 0, &jerr);
		if (!req || !json_is_object(req)) {
			json_decref(req);
			*out = error_json("body must be a JSON object", "body");
			return 400;
		}
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
	rc = be->policy_rollback(be->ctx, version, out, &d);
	if (rc == -ENOENT) {
		*out = error_json(pc_diags_first_error(&d), "version");
		status = 404;
	} else if (rc == -EINVAL) {
		*out = error_json(pc_diags_first_error(&d), "policy");
		status = 422;
	} else if (rc) {
		*out = error_json(d.nerrors ? pc_diags_first_error(&d)
					    : strerror(-rc),
				  NULL);
		status = 500;
	}
	pc_api_diags_json(*out, &d);
	pc_diags_free(&d);
	return status;
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
	const char *why = "not ready";

	(void)query, (void)ctype, (void)body, (void)len;
	if (be->ready(be->ctx, &why)) {
		*out = json_pack("{s:s}", "status", "ready");
		return 200;
	}
	*out = json_pack("{s:s, s:s}", "status", "not ready", "error", why);
	return 503;
}

static const struct route routes[] = {
	{"GET", "/v1/status", get_status},
	{"GET", "/v1/policy", get_policy},
	{"PUT", "/v1/policy", put_policy},
	{"GET", "/v1/policy/versions", get_versions},
	{"POST", "/v1/policy/rollback", post_rollback},
	{"GET", "/healthz", get_healthz},
	{"GET", "/readyz", get_readyz},
};

int pc_api_handle(const struct pc_api_backend *be, const char *method,
		  const char *path, const char *query, const char *ctype,
		  const char *body, size_t len, json_t **out)
{
	int path_known = 0;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(routes[i].path, path))
			continue;
		path_known = 1;
		if (!strcmp(routes[i].method, method))
			return routes[i].fn(be, query, ctype, body, len, out);
	}
	if (path_known) {
		*out = error_json("method not allowed", "method");
		return 405;
	}
	*out = error_json("no such endpoint", "path");
	return 404;
}

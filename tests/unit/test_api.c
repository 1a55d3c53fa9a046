// SPDX-License-Identifier: Apache-2.0
/* Unit tests: API routing and request validation against a fake gateway. */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <event2/buffer.h>

#include "api.h"

static int puts_seen;
static char last_filename[128];

static json_t *fake_status(void *ctx)
{
	(void)ctx;
	return json_pack("{s:s}", "gateway", "fake");
}

static json_t *fake_policy_get(void *ctx)
{
	return ctx ? json_pack("{s:i}", "version", 3) : NULL;
}

static const char *last_who;

static int fake_put(void *ctx, const struct pc_api_caller *who,
		    const char *text, size_t len, const char *fname,
		    json_t **result, struct pc_diags *d)
{
	last_who = who->name;
	struct pc_loc one = {1, 1}, two = {2, 5};

	(void)ctx;
	puts_seen++;
	snprintf(last_filename, sizeof(last_filename), "%s", fname);
	pc_diag_add(d, 1, fname, &two, "meh");
	if (len >= 3 && !memcmp(text, "bad", 3)) {
		pc_diag_add(d, 0, fname, &one, "nope");
		pc_diag_add(d, 0, fname, &two, "nope again");
		return -EINVAL;
	}
	*result = json_pack("{s:i}", "version", 4);
	return 0;
}

static int fake_ready(void *ctx, const char **why)
{
	*why = "no policy in force";
	return ctx != NULL;
}

static size_t last_limit;

static json_t *fake_versions(void *ctx, size_t limit)
{
	(void)ctx;
	last_limit = limit;
	return json_pack("{s:[]}", "versions");
}

static int64_t last_rollback;

static int fake_rollback(void *ctx, const struct pc_api_caller *who,
			 int64_t version, json_t **result, struct pc_diags *d)
{
	(void)who;
	(void)ctx;
	last_rollback = version;
	if (version == 99) {
		pc_diag_add(d, 0, "rollback", NULL, "no policy version 99");
		return -ENOENT;
	}
	*result = json_pack("{s:I}", "rollback_of", (json_int_t)version);
	return 0;
}

static int fake_auth(void *ctx, const char *token, enum pc_role *role,
		     char *name, size_t namelen)
{
	(void)ctx, (void)token, (void)role, (void)name, (void)namelen;
	return -EACCES; /* server.c's business, not the routes' */
}

static char live_token[32] = "grafana";

static json_t *fake_tokens(void *ctx)
{
	(void)ctx;
	return json_pack("{s:[{s:s}]}", "tokens", "name", live_token);
}

static int fake_token_create(void *ctx, const struct pc_api_caller *who,
			     const char *name, enum pc_role role,
			     json_t **result)
{
	(void)who;
	(void)ctx;
	if (!strcmp(name, live_token))
		return -EEXIST;
	*result = json_pack("{s:s, s:s, s:s}", "name", name, "role",
			    pc_role_name(role), "token", "pct_0000abcd_x");
	return 0;
}

static int fake_token_revoke(void *ctx, const struct pc_api_caller *who,
			     const char *name)
{
	(void)who;
	(void)ctx;
	if (strcmp(name, live_token))
		return -ENOENT;
	live_token[0] = '\0';
	return 0;
}

static struct pc_flow_filter last_filter;

static int fake_flows(void *ctx, const struct pc_flow_filter *f,
		      struct evbuffer *out)
{
	(void)ctx;
	last_filter = *f;
	evbuffer_add_printf(out, "{\"flows\": [], \"matched\": 0, "
				 "\"shown\": 0}\n");
	return 0;
}

static json_t *fake_denies(void *ctx, size_t limit)
{
	(void)ctx;
	return json_pack("{s:[], s:I}", "denies", "limit", (json_int_t)limit);
}

static json_t *fake_audit(void *ctx, size_t limit)
{
	(void)ctx;
	return json_pack("{s:[], s:I}", "entries", "limit", (json_int_t)limit);
}

static int64_t last_from, last_to, last_version;

static int fake_version(void *ctx, int64_t version, json_t **result,
			struct pc_diags *d)
{
	(void)ctx;
	last_version = version;
	if (version > 3) {
		pc_diag_add(d, 0, "version", NULL, "no policy version %" PRId64,
			    version);
		return -ENOENT;
	}
	*result = json_pack("{s:I, s:s}", "version", (json_int_t)version,
			    "source", "kind: Policy");
	return 0;
}

static int fake_diff(void *ctx, int64_t from, int64_t to, json_t **result,
		     struct pc_diags *d)
{
	(void)ctx;
	last_from = from;
	last_to = to;
	if (to == 2) { /* version 2 no longer compiles */
		pc_diag_add(d, 0, "v2.yaml", NULL, "unknown peer \"gone\"");
		return -EINVAL;
	}
	*result = json_pack("{s:[]}", "changes");
	return 0;
}

static int fake_check(void *ctx, const char *text, size_t len,
		      const char *filename, json_t **result, struct pc_diags *d)
{
	(void)ctx, (void)len;
	if (strstr(text, "bad")) {
		pc_diag_add(d, 0, filename, NULL, "broken");
		return -EINVAL;
	}
	*result = json_pack("{s:b}", "valid", 1);
	return 0;
}

static const struct pc_api_backend be = {
	.ctx = (void *)1,
	.policy_version = fake_version,
	.policy_diff = fake_diff,
	.policy_check = fake_check,
	.status = fake_status,
	.policy_get = fake_policy_get,
	.policy_put = fake_put,
	.policy_versions = fake_versions,
	.policy_rollback = fake_rollback,
	.authenticate = fake_auth,
	.tokens_list = fake_tokens,
	.token_create = fake_token_create,
	.token_revoke = fake_token_revoke,
	.audit_list = fake_audit,
	.flows = fake_flows,
	.denies = fake_denies,
	.ready = fake_ready,
};
static const struct pc_api_backend empty = {
	.ctx = NULL,
	.status = fake_status,
	.policy_get = fake_policy_get,
	.policy_put = fake_put,
	.policy_versions = fake_versions,
	.policy_rollback = fake_rollback,
	.authenticate = fake_auth,
	.tokens_list = fake_tokens,
	.token_create = fake_token_create,
	.token_revoke = fake_token_revoke,
	.audit_list = fake_audit,
	.flows = fake_flows,
	.denies = fake_denies,
	.ready = fake_ready,
};

static const struct pc_api_caller admin = {PC_ROLE_ADMIN, "test", "uid:0"};

static int call_as(const struct pc_api_backend *b, enum pc_role role,
		   const char *m, const char *path, const char *q,
		   const char *ct, const char *body, json_t **out)
{
	struct pc_api_caller who = {role, "test", "uid:0"};
	struct evbuffer *raw = evbuffer_new();
	int code = pc_api_handle(b, &who, m, path, q, ct, body,
				 body ? strlen(body) : 0, out, raw);

	/* a route that writes its own JSON: it must parse */
	if (!*out) {
		size_t n = evbuffer_get_length(raw);

		*out = json_loadb((const char *)evbuffer_pullup(raw, -1), n, 0,
				  NULL);
		cr_assert(*out, "%s %s wrote no JSON", m, path);
	}
	evbuffer_free(raw);
	return code;
}

static int call(const struct pc_api_backend *b, const char *m, const char *path,
		const char *q, const char *ct, const char *body, json_t **out)
{
	return call_as(b, PC_ROLE_ADMIN, m, path, q, ct, body, out);
}

/* The field a GET PATH?QUERY refuses with 400. */
static const char *refused_field(const char *path, const char *query)
{
	static char field[32];
	json_t *out;

	cr_assert_eq(call(&be, "GET", path, query, NULL, NULL, &out), 400,
		     "%s?%s", path, query);
	snprintf(field, sizeof(field), "%s",
		 json_string_value(json_object_get(out, "field")));
	json_decref(out);
	return field;
}

static const char *error_of(json_t *j)
{
	return json_string_value(json_object_get(j, "error"));
}

Test(api, routes_and_methods)
{
	json_t *out;

	/* Test that routes answer and unknown paths/methods are JSON errors */
	cr_assert_eq(call(&be, "GET", "/v1/status", NULL, NULL, NULL, &out),
		     200);
	cr_assert_str_eq(json_string_value(json_object_get(out, "gateway")),
			 "fake");
	json_decref(out);
	cr_assert_eq(call(&be, "GET", "/v1/nope", NULL, NULL, NULL, &out), 404);
	cr_assert_str_eq(error_of(out), "no such endpoint");
	json_decref(out);
	cr_assert_eq(call(&be, "DELETE", "/v1/policy", NULL, NULL, NULL, &out),
		     405);
	cr_assert_str_eq(json_string_value(json_object_get(out, "field")),
			 "method");
	json_decref(out);
	cr_assert_eq(call(&be, "GET", "/healthz", NULL, NULL, NULL, &out), 200);
	json_decref(out);
}

Test(api, readiness_and_missing_policy)
{
	json_t *out;

	/* Test that readyz says why it is not ready, and policy 404s */
	cr_assert_eq(call(&empty, "GET", "/readyz", NULL, NULL, NULL, &out),
		     503);
	cr_assert_str_eq(error_of(out), "no policy in force");
	json_decref(out);
	cr_assert_eq(call(&empty, "GET", "/v1/policy", NULL, NULL, NULL, &out),
		     404);
	json_decref(out);
	cr_assert_eq(call(&be, "GET", "/readyz", NULL, NULL, NULL, &out), 200);
	json_decref(out);
}

Test(api, policy_put_validation)
{
	json_t *out;

	/* Test content type, empty body, refusal and filename sanitising */
	cr_assert_eq(call(&be, "PUT", "/v1/policy", NULL, "application/json",
			  "x", &out),
		     415);
	cr_assert_str_eq(json_string_value(json_object_get(out, "field")),
			 "Content-Type");
	json_decref(out);
	cr_assert_eq(call(&be, "PUT", "/v1/policy", NULL, "application/yaml",
			  "", &out),
		     400);
	json_decref(out);
	cr_assert_eq(pc_api_handle(&be, &admin, "PUT", "/v1/policy", NULL, NULL,
				   "a\0b", 3, &out, NULL),
		     400);
	json_decref(out);
	cr_assert_eq(call(&be, "PUT", "/v1/policy", "filename=../../etc/x.yaml",
			  "application/yaml; charset=utf-8", "bad", &out),
		     422);
	cr_assert_str_eq(error_of(out), "x.yaml:1:1: nope");
	cr_assert_eq(json_array_size(json_object_get(out, "errors")), 2);
	cr_assert_str_eq(json_string_value(json_array_get(
				 json_object_get(out, "errors"), 1)),
			 "x.yaml:2:5: nope again");
	cr_assert_str_eq(json_string_value(json_array_get(
				 json_object_get(out, "warnings"), 0)),
			 "x.yaml:2:5: warning: meh");
	cr_assert_str_eq(last_filename, "x.yaml");
	json_decref(out);
	cr_assert_eq(
		call(&be, "PUT", "/v1/policy", NULL, "text/yaml", "ok", &out),
		200);
	cr_assert_str_eq(last_filename, "policy.yaml");
	cr_assert_eq(json_integer_value(json_object_get(out, "version")), 4);
	cr_assert_eq(json_array_size(json_object_get(out, "warnings")), 1);
	json_decref(out);
}

Test(api, policy_filename_is_a_safe_base_name)
{
	static const struct {
		const char *query, *want;
	} cases[] = {
		{"filename=a/b/c.yaml", "c.yaml"},
		/* what came before a trailing slash must not survive */
		{"filename=abcdefghijklmnopq/", "policy.yaml"},
		{"filename=..", "policy.yaml"},
		/* decoded first, as a browser encodes it, then reduced */
		{"filename=%2e%2e%2fx", "x"},
		{"filename=a%20b\x1b[31m.yaml", "ab31m.yaml"},
		{"filename=my+policy%2Eyaml", "mypolicy.yaml"},
		{"filename=bad%2", "policy.yaml"},
		{"xfilename=bad&filename=good.yaml", "good.yaml"},
		{"xfilename=bad", "policy.yaml"},
		{"limit=1&filename=x.yaml&y=2", "x.yaml"},
	};
	json_t *out;

	/* Test that ?filename= never carries a path, a control character
	 * or a remnant of an earlier component into the version's name */
	for (size_t i = 0; i < PC_ARRAY_SIZE(cases); i++) {
		cr_assert_eq(call(&be, "PUT", "/v1/policy", cases[i].query,
				  "text/yaml", "ok", &out),
			     200);
		cr_assert_str_eq(last_filename, cases[i].want, "%s",
				 cases[i].query);
		json_decref(out);
	}
	/* 300 characters: the name is cut to 127, not overrun */
	char q[320] = "filename=";

	memset(q + 9, 'a', 300);
	q[309] = '\0';
	cr_assert_eq(call(&be, "PUT", "/v1/policy", q, "text/yaml", "ok", &out),
		     200);
	cr_assert_eq(strlen(last_filename), 127);
	cr_assert_eq(strspn(last_filename, "a"), 127);
	json_decref(out);
}

Test(api, versions_and_rollback)
{
	json_t *out;

	/* Test the versions limit and the rollback body's validation */
	cr_assert_eq(call(&be, "GET", "/v1/policy/versions", "limit=5", NULL,
			  NULL, &out),
		     200);
	cr_assert_eq(last_limit, 5);
	json_decref(out);
	cr_assert_eq(
		call(&be, "GET", "/v1/policy/versions", NULL, NULL, NULL, &out),
		200);
	cr_assert_eq(last_limit, 50);
	json_decref(out);
	cr_assert_eq(call(&be, "GET", "/v1/policy/versions", "limit=0", NULL,
			  NULL, &out),
		     400);
	cr_assert_str_eq(json_string_value(json_object_get(out, "field")),
			 "limit");
	json_decref(out);
	cr_assert_eq(call(&be, "POST", "/v1/policy/rollback", NULL, NULL, NULL,
			  &out),
		     200);
	cr_assert_eq(last_rollback, 0);
	json_decref(out);
	cr_assert_eq(call(&be, "POST", "/v1/policy/rollback", NULL,
			  "application/json", "{\"version\": 3}", &out),
		     200);
	cr_assert_eq(last_rollback, 3);
	cr_assert_eq(json_integer_value(json_object_get(out, "rollback_of")),
		     3);
	json_decref(out);
	cr_assert_eq(call(&be, "POST", "/v1/policy/rollback", NULL,
			  "application/json", "{\"version\": 99}", &out),
		     404);
	cr_assert_str_eq(error_of(out), "rollback: no policy version 99");
	json_decref(out);
	cr_assert_eq(call(&be, "POST", "/v1/policy/rollback", NULL,
			  "application/json", "{\"version\": \"3\"}", &out),
		     400);
	json_decref(out);
	cr_assert_eq(call(&be, "POST", "/v1/policy/rollback", NULL,
			  "application/json", "[", &out),
		     400);
	json_decref(out);
	cr_assert_eq(call(&be, "POST", "/v1/policy/rollback", NULL,
			  "text/plain", "3", &out),
		     415);
	json_decref(out);
}

Test(api, a_version_its_diff_and_validation)
{
	static const char *const bad_versions[] = {
		"0", "-1", "1x", "x", "99999999999999999", ""};
	json_t *out;

	/* Test that a version is a positive number in the path (else 400,
	 * the backend not asked), a missing one 404, a diff needs both
	 * ends, a version that no longer compiles is 422, and validation
	 * answers like a push: 422 with errors and valid false */
	last_version = 0;
	cr_assert_eq(call_as(&be, PC_ROLE_VIEWER, "GET",
			     "/v1/policy/versions/3", NULL, NULL, NULL, &out),
		     200);
	cr_assert_eq(last_version, 3);
	cr_assert_str_eq(json_string_value(json_object_get(out, "source")),
			 "kind: Policy");
	json_decref(out);
	for (size_t i = 0; i < sizeof(bad_versions) / sizeof(*bad_versions);
	     i++) {
		char path[64];

		snprintf(path, sizeof(path), "/v1/policy/versions/%s",
			 bad_versions[i]);
		last_version = 0;
		cr_assert_eq(call(&be, "GET", path, NULL, NULL, NULL, &out),
			     *bad_versions[i] ? 400 : 404, "%s", path);
		cr_assert_eq(last_version, 0, "%s", path);
		json_decref(out);
	}
	cr_assert_eq(call(&be, "GET", "/v1/policy/versions/7", NULL, NULL, NULL,
			  &out),
		     404);
	cr_assert_str_eq(error_of(out), "version: no policy version 7");
	json_decref(out);

	cr_assert_eq(call_as(&be, PC_ROLE_VIEWER, "GET", "/v1/policy/diff",
			     "to=3&from=1", NULL, NULL, &out),
		     403); /* it compiles two versions: an operator's */
	json_decref(out);
	cr_assert_eq(call_as(&be, PC_ROLE_OPERATOR, "GET", "/v1/policy/diff",
			     "to=3&from=1", NULL, NULL, &out),
		     200);
	cr_assert(last_from == 1 && last_to == 3);
	json_decref(out);
	cr_assert_str_eq(refused_field("/v1/policy/diff", "from=1"), "to");
	cr_assert_eq(call(&be, "GET", "/v1/policy/diff", "xfrom=1&to=2", NULL,
			  NULL, &out),
		     400);
	json_decref(out);
	cr_assert_eq(call(&be, "GET", "/v1/policy/diff", "from=1&to=2", NULL,
			  NULL, &out),
		     422);
	cr_assert_str_eq(error_of(out), "v2.yaml: unknown peer \"gone\"");
	json_decref(out);

	cr_assert_eq(call_as(&be, PC_ROLE_VIEWER, "POST", "/v1/policy/validate",
			     NULL, "application/yaml", "kind: Policy", &out),
		     403);
	json_decref(out);
	cr_assert_eq(call_as(&be, PC_ROLE_OPERATOR, "POST",
			     "/v1/policy/validate", "filename=a.yaml",
			     "application/yaml", "kind: Policy", &out),
		     200);
	json_decref(out);
	cr_assert_eq(call(&be, "POST", "/v1/policy/validate", "filename=a.yaml",
			  "application/yaml", "bad", &out),
		     422);
	cr_assert(json_is_false(json_object_get(out, "valid")));
	cr_assert_eq(json_array_size(json_object_get(out, "errors")), 1);
	json_decref(out);
	cr_assert_eq(call(&be, "POST", "/v1/policy/validate", NULL,
			  "application/json", "{}", &out),
		     415);
	json_decref(out);
	/* a backend without them: 501, not a crash */
	cr_assert_eq(call(&empty, "GET", "/v1/policy/versions/1", NULL, NULL,
			  NULL, &out),
		     501);
	json_decref(out);
}

Test(api, roles_decide_what_a_caller_may_do)
{
	static const struct {
		enum pc_role role;
		int want;
		const char *method, *path, *ctype, *body;
	} cases[] = {
		{PC_ROLE_NONE, 200, "GET", "/healthz", NULL, NULL},
		{PC_ROLE_NONE, 401, "GET", "/v1/status", NULL, NULL},
		{PC_ROLE_NONE, 401, "PUT", "/v1/policy", "text/yaml", "ok"},
		{PC_ROLE_VIEWER, 200, "GET", "/v1/status", NULL, NULL},
		{PC_ROLE_VIEWER, 200, "GET", "/v1/policy/versions", NULL, NULL},
		{PC_ROLE_VIEWER, 403, "PUT", "/v1/policy", "text/yaml", "ok"},
		{PC_ROLE_VIEWER, 403, "POST", "/v1/policy/rollback", NULL,
		 NULL},
		{PC_ROLE_OPERATOR, 200, "PUT", "/v1/policy", "text/yaml", "ok"},
		{PC_ROLE_OPERATOR, 200, "POST", "/v1/policy/rollback", NULL,
		 NULL},
		{PC_ROLE_OPERATOR, 403, "GET", "/v1/tokens", NULL, NULL},
		{PC_ROLE_ADMIN, 200, "GET", "/v1/tokens", NULL, NULL},
		{PC_ROLE_VIEWER, 403, "GET", "/v1/audit", NULL, NULL},
		{PC_ROLE_OPERATOR, 200, "GET", "/v1/audit", NULL, NULL},
		{PC_ROLE_NONE, 401, "GET", "/v1/denies", NULL, NULL},
		{PC_ROLE_VIEWER, 200, "GET", "/v1/denies", NULL, NULL},
	};
	json_t *out;

	/* Test the role each route needs: none -> 401, too little -> 403 */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = call_as(&be, cases[i].role, cases[i].method,
				  cases[i].path, NULL, cases[i].ctype,
				  cases[i].body, &out);

		cr_assert_eq(got, cases[i].want, "%s %s as %s: %d",
			     cases[i].method, cases[i].path,
			     pc_role_name(cases[i].role), got);
		if (got == 401 || got == 403)
			cr_assert_str_eq(json_string_value(
						 json_object_get(out, "field")),
					 "Authorization");
		json_decref(out);
	}
	call_as(&be, PC_ROLE_VIEWER, "PUT", "/v1/policy", NULL, "text/yaml",
		"ok", &out);
	cr_assert_str_eq(error_of(out),
			 "role viewer may not PUT /v1/policy (needs operator)");
	json_decref(out);
	/* the backend learns who is asking, for its audit log */
	cr_assert_eq(call_as(&be, PC_ROLE_OPERATOR, "PUT", "/v1/policy", NULL,
			     "text/yaml", "ok", &out),
		     200);
	cr_assert_str_eq(last_who, "test");
	json_decref(out);
}

Test(api, token_routes)
{
	json_t *out;

	/* Test token creation's validation, conflicts and revocation */
	cr_assert_eq(call(&be, "POST", "/v1/tokens", NULL, "application/json",
			  "{\"name\": \"ci\", \"role\": \"viewer\"}", &out),
		     201);
	cr_assert_str_eq(json_string_value(json_object_get(out, "role")),
			 "viewer");
	json_decref(out);
	cr_assert_eq(call(&be, "POST", "/v1/tokens", NULL, "application/json",
			  "{\"name\": \"ci\", \"role\": \"root\"}", &out),
		     400);
	cr_assert_str_eq(json_string_value(json_object_get(out, "field")),
			 "role");
	json_decref(out);
	cr_assert_eq(call(&be, "POST", "/v1/tokens", NULL, "application/json",
			  "{\"name\": \"a b\", \"role\": \"admin\"}", &out),
		     400);
	json_decref(out);
	cr_assert_eq(call(&be, "POST", "/v1/tokens", NULL, "application/json",
			  "{\"name\": \"grafana\", \"role\": \"viewer\"}",
			  &out),
		     409);
	json_decref(out);
	cr_assert_eq(
		call(&be, "POST", "/v1/tokens", NULL, "text/plain", "x", &out),
		415);
	json_decref(out);
	/* a body that is not JSON says where it stops being JSON */
	cr_assert_eq(call(&be, "POST", "/v1/tokens", NULL, "application/json",
			  "{\"name\": \"ci\",\n \"role\": ", &out),
		     400);
	cr_assert_str_eq(error_of(out),
			 "body is not JSON: unexpected token near end of file "
			 "(line 2, column 9)");
	json_decref(out);
	cr_assert_eq(call(&be, "POST", "/v1/tokens", NULL, "application/json",
			  "[1]", &out),
		     400);
	cr_assert_str_eq(error_of(out), "body must be a JSON object");
	json_decref(out);
	cr_assert_eq(call(&be, "DELETE", "/v1/tokens/nobody", NULL, NULL, NULL,
			  &out),
		     404);
	json_decref(out);
	cr_assert_eq(
		call(&be, "DELETE", "/v1/tokens/a/b", NULL, NULL, NULL, &out),
		404);
	json_decref(out);
	cr_assert_eq(call(&be, "DELETE", "/v1/tokens/grafana", NULL, NULL, NULL,
			  &out),
		     200);
	json_decref(out);
	cr_assert_eq(live_token[0], '\0');
}

Test(api, tokens_are_hashed_and_compared_whole)
{
	char token[PC_TOKEN_LEN], sel[PC_SELECTOR_LEN], sel2[PC_SELECTOR_LEN];
	const char *secret;
	uint8_t hash[32];

	/* Test the token format, and that only the right secret matches */
	cr_assert_eq(pc_token_new(token, sel, hash), 0);
	cr_assert_eq(strncmp(token, "pct_", 4), 0);
	cr_assert_eq(strlen(token), 4 + 8 + 1 + 44);
	cr_assert_eq(pc_token_split(token, sel2, &secret), 0);
	cr_assert_str_eq(sel, sel2);
	cr_assert(pc_token_matches(hash, secret));
	token[strlen(token) - 1] ^= 1;
	cr_assert_not(pc_token_matches(hash, secret));
	cr_assert_not(pc_token_matches(hash, ""));
	cr_assert_eq(pc_token_split("pct_short", sel2, &secret), -EINVAL);
	cr_assert_eq(pc_token_split("Bearer x", sel2, &secret), -EINVAL);
	cr_assert_eq(pc_role_parse("operator"), PC_ROLE_OPERATOR);
	cr_assert_eq(pc_role_parse("root"), PC_ROLE_NONE);
	cr_assert(pc_token_name_valid("ci-bot_2.0"));
	cr_assert(pc_token_name_valid(".hidden"));
	cr_assert(!pc_token_name_valid(""));
	cr_assert(!pc_token_name_valid("."));
	cr_assert(!pc_token_name_valid(".."));
	cr_assert(!pc_token_name_valid("a/b"));
}

Test(api, flow_filters)
{
	json_t *out;

	/* Test that the query's filters reach the backend, checked */
	cr_assert_eq(call(&be, "GET", "/v1/flows",
			  "identity=eng&service=web&state=established&proto="
			  "tcp&limit=5",
			  NULL, NULL, &out),
		     200);
	cr_assert_str_eq(last_filter.identity, "eng");
	cr_assert_str_eq(last_filter.service, "web");
	cr_assert_eq(last_filter.state, 2 + 1);
	cr_assert_eq(last_filter.proto, 6);
	cr_assert_eq(last_filter.limit, 5);
	json_decref(out);
	cr_assert_eq(call(&be, "GET", "/v1/flows", NULL, NULL, NULL, &out),
		     200);
	cr_assert_eq(last_filter.limit, 100);
	cr_assert_eq(last_filter.proto, -1);
	json_decref(out);
	cr_assert_str_eq(refused_field("/v1/flows", "state=open"), "state");
	cr_assert_eq(call(&be, "GET", "/v1/flows", "limit=0", NULL, NULL, &out),
		     400);
	json_decref(out);
	cr_assert_eq(
		call(&be, "GET", "/v1/flows", "proto=gre", NULL, NULL, &out),
		400);
	json_decref(out);
	cr_assert_eq(call_as(&be, PC_ROLE_NONE, "GET", "/v1/flows", NULL, NULL,
			     NULL, &out),
		     401);
	json_decref(out);
}

Test(api, flow_filters_by_verdict_and_host_as_a_browser_encodes_them)
{
	json_t *out;
	uint8_t want[16];
	char id63[64];

	/* URLSearchParams encodes ':' as %3A and a space as '+' */
	cr_assert_eq(call(&be, "GET", "/v1/flows",
			  "verdict=audit&host=fd00%3A%3A1&identity=eng", NULL,
			  NULL, &out),
		     200);
	json_decref(out);
	cr_assert_str_eq(last_filter.verdict, "audit");
	cr_assert(last_filter.has_host);
	cr_assert_eq(pc_addr_parse("fd00::1", want), 0);
	cr_assert_arr_eq(last_filter.host, want, 16);
	cr_assert_eq(call(&be, "GET", "/v1/flows", "host=198.18.0.2", NULL,
			  NULL, &out),
		     200);
	json_decref(out);
	cr_assert_eq(pc_addr_parse("198.18.0.2", want), 0);
	cr_assert_arr_eq(last_filter.host, want, 16);
	cr_assert_str_eq(last_filter.verdict, "");
	cr_assert_eq(call(&be, "GET", "/v1/flows",
			  "identity=%65ng&verdict=allow", NULL, NULL, &out),
		     200);
	json_decref(out);
	cr_assert_str_eq(last_filter.identity, "eng");
	cr_assert_str_eq(last_filter.verdict, "allow");

	/* each refusal names its field; a denied packet makes no flow */
	cr_assert_str_eq(refused_field("/v1/flows", "verdict=deny"), "verdict");
	cr_assert_str_eq(refused_field("/v1/flows", "verdict=default-deny"),
			 "verdict");
	cr_assert_str_eq(refused_field("/v1/flows", "host=example.com"),
			 "host");
	cr_assert_str_eq(refused_field("/v1/flows", "host=198.18.0.0%2F24"),
			 "host");
	/* a truncated or NUL escape, and a name too long once decoded */
	cr_assert_str_eq(refused_field("/v1/flows", "service=web%2"),
			 "service");
	cr_assert_str_eq(refused_field("/v1/flows", "identity=a%00b"),
			 "identity");
	cr_assert_str_eq(refused_field("/v1/flows",
				       "identity=%61%61%61%61%61%61%61%61%61%61"
				       "%61%61%61%61%61%61%61%61%61%61%61%61"
				       "%61%61%61%61%61%61%61%61%61%61%61%61"
				       "%61%61%61%61%61%61%61%61%61%61%61%61"
				       "%61%61%61%61%61%61%61%61%61%61%61%61"
				       "%61%61%61%61%61%61"),
			 "identity");
	/* 63 decoded characters fit */
	memset(id63, 'a', 63);
	id63[63] = '\0';
	{
		char q[80];

		snprintf(q, sizeof(q), "identity=%s", id63);
		cr_assert_eq(call(&be, "GET", "/v1/flows", q, NULL, NULL, &out),
			     200);
	}
	json_decref(out);
	cr_assert_str_eq(last_filter.identity, id63);
}

Test(api, json_strings_written_by_hand_parse_back)
{
	static const char *const cases[] = {
		"plain",
		"",
		"quote \" and back\\slash",
		"tab\tnew\nline\x01\x1f",
		"caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x94\x92",
		"end\\"};

	/* Test that pc_api_json_str's output is the string again, for
	 * what needs escaping and for UTF-8 that does not */
	for (size_t i = 0; i < PC_ARRAY_SIZE(cases); i++) {
		struct evbuffer *b = evbuffer_new();
		json_t *j;
		size_t n;

		evbuffer_add(b, "[", 1);
		pc_api_json_str(b, cases[i]);
		evbuffer_add(b, "]", 1);
		n = evbuffer_get_length(b);
		j = json_loadb((const char *)evbuffer_pullup(b, -1), n, 0,
			       NULL);
		cr_assert(j, "case %zu does not parse", i);
		cr_assert_str_eq(json_string_value(json_array_get(j, 0)),
				 cases[i]);
		json_decref(j);
		evbuffer_free(b);
	}
}

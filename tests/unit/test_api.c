// SPDX-License-Identifier: Apache-2.0
/* Unit tests: API routing and request validation against a fake gateway. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

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

static int fake_put(void *ctx, const char *text, size_t len, const char *fname,
		    json_t **result, struct pc_diags *d)
{
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

static int fake_rollback(void *ctx, int64_t version, json_t **result,
			 struct pc_diags *d)
{
	(void)ctx;
	last_rollback = version;
	if (version == 99) {
		pc_diag_add(d, 0, "rollback", NULL, "no policy version 99");
		return -ENOENT;
	}
	*result = json_pack("{s:I}", "rollback_of", (json_int_t)version);
	return 0;
}

static const struct pc_api_backend be = {
	(void *)1,     fake_status,   fake_policy_get, fake_put,
	fake_versions, fake_rollback, fake_ready};
static const struct pc_api_backend empty = {
	NULL,	       fake_status,   fake_policy_get, fake_put,
	fake_versions, fake_rollback, fake_ready};

static int call(const struct pc_api_backend *b, const char *m, const char *path,
		const char *q, const char *ct, const char *body, json_t **out)
{
	return pc_api_handle(b, m, path, q, ct, body, body ? strlen(body) : 0,
			     out);
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
	cr_assert_eq(pc_api_handle(&be, "PUT", "/v1/policy", NULL, NULL, "a\0b",
				   3, &out),
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

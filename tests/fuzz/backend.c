// SPDX-License-Identifier: Apache-2.0
/* The fuzz targets' checking backend (backend.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "backend.h"
#include "pclib.h"

enum pc_role fuzz_entitled;

static void need(enum pc_role have, enum pc_role role)
{
	if (have < role || have > fuzz_entitled)
		__builtin_trap();
}

static json_t *obj(const char *key)
{
	return json_pack("{s:[]}", key);
}

static json_t *status(void *ctx)
{
	(void)ctx;
	need(fuzz_entitled, PC_ROLE_VIEWER);
	return json_pack("{s:s, s:i}", "gateway", "fuzz", "generation", 1);
}

static json_t *policy_get(void *ctx)
{
	(void)ctx;
	need(fuzz_entitled, PC_ROLE_VIEWER);
	return json_pack("{s:s, s:i}", "source", "rules: []\n", "version", 1);
}

/* A push or a validation compiles for real: the body reaches the policy
 * compiler, under a ?filename= that names the version, never a path. */
static int compile(const char *text, size_t len, const char *filename,
		   struct pc_diags *d)
{
	struct pc_policy *p = NULL;
	struct pc_compiled *c = NULL;
	int rc;

	if (!*filename || strspn(filename, "abcdefghijklmnopqrstuvwxyz"
					   "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					   "0123456789._-") != strlen(filename))
		__builtin_trap();
	rc = pc_policy_load(text, len, filename, &p, &c, d);
	pc_compiled_free(c);
	pc_policy_free(p);
	return rc;
}

static int policy_put(void *ctx, const struct pc_api_caller *who,
		      const char *text, size_t len, const char *filename,
		      json_t **result, struct pc_diags *d)
{
	int rc;

	(void)ctx;
	need(who->role, PC_ROLE_OPERATOR);
	if (!(rc = compile(text, len, filename, d)))
		*result = json_pack("{s:i}", "version", 2);
	return rc;
}

/* Validation is an operator's, like a push. */
static int policy_check(void *ctx, const char *text, size_t len,
			const char *filename, json_t **result,
			struct pc_diags *d)
{
	int rc;

	(void)ctx;
	need(fuzz_entitled, PC_ROLE_OPERATOR);
	if (!(rc = compile(text, len, filename, d)))
		*result = json_pack("{s:b}", "valid", 1);
	return rc;
}

/* Versions 1 to 3 exist; the router passes only positive numbers. */
static int policy_version(void *ctx, int64_t version, json_t **result,
			  struct pc_diags *d)
{
	(void)ctx;
	need(fuzz_entitled, PC_ROLE_VIEWER);
	if (version < 1)
		__builtin_trap();
	if (version > 3) {
		pc_diag_add(d, 0, "version", NULL, "no policy version");
		return -ENOENT;
	}
	*result = json_pack("{s:I}", "version", (json_int_t)version);
	return 0;
}

static int policy_diff(void *ctx, int64_t from, int64_t to, json_t **result,
		       struct pc_diags *d)
{
	(void)ctx;
	need(fuzz_entitled, PC_ROLE_VIEWER);
	if (from < 1 || to < 1)
		__builtin_trap();
	if (from > 3 || to > 3) {
		pc_diag_add(d, 0, "from", NULL, "no policy version");
		return -ENOENT;
	}
	*result = obj("changes");
	return 0;
}

static json_t *policy_versions(void *ctx, size_t limit)
{
	(void)ctx;
	(void)limit;
	need(fuzz_entitled, PC_ROLE_VIEWER);
	return obj("versions");
}

static int policy_rollback(void *ctx, const struct pc_api_caller *who,
			   int64_t version, json_t **result, struct pc_diags *d)
{
	(void)ctx;
	(void)d;
	need(who->role, PC_ROLE_OPERATOR);
	if (version < 0 || version > 3)
		return -ENOENT;
	*result = json_pack("{s:I}", "version", (json_int_t)version);
	return 0;
}

static int authenticate(void *ctx, const char *token, enum pc_role *role,
			char *name, size_t namelen)
{
	static const struct {
		const char *token;
		enum pc_role role;
	} known[] = {{FUZZ_TOKEN_VIEWER, PC_ROLE_VIEWER},
		     {FUZZ_TOKEN_OPERATOR, PC_ROLE_OPERATOR},
		     {FUZZ_TOKEN_ADMIN, PC_ROLE_ADMIN}};

	(void)ctx;
	for (size_t i = 0; i < PC_ARRAY_SIZE(known); i++) {
		if (strcmp(token, known[i].token))
			continue;
		*role = known[i].role;
		fuzz_entitled = *role;
		snprintf(name, namelen, "%s", pc_role_name(*role));
		return 0;
	}
	return -EACCES;
}

static json_t *tokens_list(void *ctx)
{
	(void)ctx;
	need(fuzz_entitled, PC_ROLE_ADMIN);
	return obj("tokens");
}

static int token_create(void *ctx, const struct pc_api_caller *who,
			const char *name, enum pc_role role, json_t **result)
{
	(void)ctx;
	need(who->role, PC_ROLE_ADMIN);
	if (!pc_token_name_valid(name) || role == PC_ROLE_NONE)
		__builtin_trap(); /* the route validates both */
	if (!strcmp(name, "taken"))
		return -EEXIST;
	*result = json_pack("{s:s, s:s}", "name", name, "token",
			    FUZZ_TOKEN_VIEWER);
	return 0;
}

static int token_revoke(void *ctx, const struct pc_api_caller *who,
			const char *name)
{
	(void)ctx;
	need(who->role, PC_ROLE_ADMIN);
	return strcmp(name, "ci") ? -ENOENT : 0;
}

static int flows(void *ctx, const struct pc_flow_filter *f,
		 struct evbuffer *out)
{
	(void)ctx;
	need(fuzz_entitled, PC_ROLE_VIEWER);
	if (strnlen(f->identity, sizeof(f->identity)) == sizeof(f->identity) ||
	    strnlen(f->service, sizeof(f->service)) == sizeof(f->service) ||
	    strnlen(f->verdict, sizeof(f->verdict)) == sizeof(f->verdict))
		__builtin_trap(); /* unterminated filter */
	evbuffer_add_printf(out, "{\"flows\": [], \"matched\": 0}\n");
	return 0;
}

static json_t *denies(void *ctx, size_t limit)
{
	(void)ctx;
	(void)limit;
	need(fuzz_entitled, PC_ROLE_VIEWER);
	return obj("denies");
}

static json_t *audit_list(void *ctx, size_t limit)
{
	(void)ctx;
	(void)limit;
	need(fuzz_entitled, PC_ROLE_OPERATOR);
	return obj("entries");
}

static int ready(void *ctx, const char **why)
{
	(void)ctx;
	*why = "fuzzing";
	return 1;
}

static char *metrics(void *ctx)
{
	(void)ctx;
	need(fuzz_entitled, PC_ROLE_VIEWER);
	return strdup("portcullis_up 1\n");
}

static json_t *peers(void *ctx)
{
	(void)ctx;
	need(fuzz_entitled, PC_ROLE_VIEWER);
	return obj("peers");
}

static json_t *services(void *ctx)
{
	(void)ctx;
	need(fuzz_entitled, PC_ROLE_VIEWER);
	return json_pack("{s:[], s:[]}", "services", "transitions");
}

static json_t *gateways(void *ctx)
{
	(void)ctx;
	need(fuzz_entitled, PC_ROLE_VIEWER);
	return obj("gateways");
}

static json_t *placements(void *ctx)
{
	(void)ctx;
	need(fuzz_entitled, PC_ROLE_VIEWER);
	return obj("placements");
}

/* A JSON body handed on must be an object (the routes check). */
static int json_call(const struct pc_api_caller *who, enum pc_role role,
		     json_t *req, json_t **out)
{
	need(who->role, role);
	if (req && !json_is_object(req))
		__builtin_trap();
	*out = json_pack("{s:s}", "error", "no such thing");
	return 404;
}

static int placement_add(void *ctx, const struct pc_api_caller *who,
			 json_t *req, json_t **out)
{
	(void)ctx;
	return json_call(who, PC_ROLE_OPERATOR, req, out);
}

static int placement_remove(void *ctx, const struct pc_api_caller *who,
			    const char *name, json_t **out)
{
	(void)ctx;
	(void)name;
	return json_call(who, PC_ROLE_OPERATOR, NULL, out);
}

static int gateway_remove(void *ctx, const struct pc_api_caller *who,
			  const char *name, json_t **out)
{
	(void)ctx;
	(void)name;
	return json_call(who, PC_ROLE_ADMIN, NULL, out);
}

static int peer_add(void *ctx, const struct pc_api_caller *who, json_t *req,
		    json_t **out)
{
	(void)ctx;
	return json_call(who, PC_ROLE_OPERATOR, req, out);
}

static int peer_remove(void *ctx, const struct pc_api_caller *who,
		       const char *name, json_t **out)
{
	(void)ctx;
	(void)name;
	return json_call(who, PC_ROLE_OPERATOR, NULL, out);
}

const struct pc_api_backend fuzz_backend = {
	.status = status,
	.policy_get = policy_get,
	.policy_put = policy_put,
	.policy_versions = policy_versions,
	.policy_rollback = policy_rollback,
	.policy_check = policy_check,
	.policy_version = policy_version,
	.policy_diff = policy_diff,
	.authenticate = authenticate,
	.tokens_list = tokens_list,
	.token_create = token_create,
	.token_revoke = token_revoke,
	.flows = flows,
	.denies = denies,
	.audit_list = audit_list,
	.ready = ready,
	.metrics = metrics,
	.peers = peers,
	.services = services,
	.gateways = gateways,
	.placements = placements,
	.placement_add = placement_add,
	.placement_remove = placement_remove,
	.gateway_remove = gateway_remove,
	.peer_add = peer_add,
	.peer_remove = peer_remove,
};

int fuzz_status_known(int code)
{
	static const int known[] = {200, 201, 204, 400, 401, 403, 404, 405,
				    409, 411, 413, 415, 422, 429, 500, 503};

	for (size_t i = 0; i < PC_ARRAY_SIZE(known); i++)
		if (code == known[i])
			return 1;
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP API: evhttp server, routes, JSON.  The daemon is its backend. */
#ifndef PC_API_H
#define PC_API_H

#include <event2/event.h>
#include <jansson.h>
#include <stddef.h>

#include "policy.h"

#define PC_API_MAX_BODY (16u << 20)

/* What the API asks of the gateway it serves. */
struct pc_api_backend {
	void *ctx;
	json_t *(*status)(void *ctx);
	/* NULL when no policy was ever pushed */
	json_t *(*policy_get)(void *ctx);
	/*
	 * 0: *result set; -EINVAL: the policy is refused, d holds every
	 * FILE:LINE:COL error; other -errno: it could not be applied.
	 * Warnings go to d either way.
	 */
	int (*policy_put)(void *ctx, const char *text, size_t len,
			  const char *filename, json_t **result,
			  struct pc_diags *d);
	/* {"versions": [...]}, newest first; NULL on a store error */
	json_t *(*policy_versions)(void *ctx, size_t limit);
	/* restore version (0: the one before the version in force); like
	 * policy_put, and -ENOENT when there is no such version */
	int (*policy_rollback)(void *ctx, int64_t version, json_t **result,
			       struct pc_diags *d);
	/* 1 when ready, else 0 with *why set */
	int (*ready)(void *ctx, const char **why);
};

struct pc_api;

/* listen: "unix:/path" (mode 0600) or "127.0.0.1:PORT" (loopback only). */
int pc_api_start(struct event_base *base, const char *listen,
		 const struct pc_api_backend *be, struct pc_api **out);
void pc_api_stop(struct pc_api *api);

/* {"errors": [...], "warnings": [...]} from diagnostics, into j. */
void pc_api_diags_json(json_t *j, const struct pc_diags *d);

/* Routing, exposed for unit tests: returns the HTTP status, fills *body. */
int pc_api_handle(const struct pc_api_backend *be, const char *method,
		  const char *path, const char *query, const char *ctype,
		  const char *body, size_t len, json_t **out);

#endif

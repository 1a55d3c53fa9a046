/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP API: evhttp server, routes, JSON.  The daemon is its backend. */
#ifndef PC_API_H
#define PC_API_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

#define PC_API_MAX_BODY (16u << 20)
#define PC_API_MAX_HEADERS 16384
#define PC_API_TIMEOUT_S 30 /* default api.request_timeout */

/* Roles, each allowed everything the ones before it are. */
enum pc_role { PC_ROLE_NONE, PC_ROLE_VIEWER, PC_ROLE_OPERATOR, PC_ROLE_ADMIN };

const char *pc_role_name(enum pc_role r);
enum pc_role pc_role_parse(const char *s); /* PC_ROLE_NONE if unknown */

#define PC_TOKEN_LEN 64
#define PC_SELECTOR_LEN 9

/* A new token (printed once), its selector and the hash to store. */
int pc_token_new(char token[PC_TOKEN_LEN], char selector[PC_SELECTOR_LEN],
		 uint8_t hash[32]);
/* Split "pct_SELECTOR_SECRET"; -EINVAL if it is not one. */
int pc_token_split(const char *token, char selector[PC_SELECTOR_LEN],
		   const char **secret);
/* Names of tokens, peers, identities: letters, digits, '-', '_', '.',
 * 1 to 63, not only dots (a path segment of the API). */
int pc_token_name_valid(const char *s);
/* Could s be a token at all (its characters and length)? */
int pc_token_text_valid(const char *s);
/* Does SHA-256(secret) equal stored?  Constant time. */
int pc_token_matches(const uint8_t stored[32], const char *secret);

/* Who is asking: what authenticated them decides the role. */
struct pc_api_caller {
	enum pc_role role;
	const char *name; /* "token NAME", "local root", or "" */
	const char *peer; /* "uid:N" on the unix socket, else the address */
};

/* GET /v1/flows?identity=&service=&verdict=&host=&state=&proto=&limit= */
struct pc_flow_filter {
	char identity[64]; /* a name the source's identity set holds */
	char service[64];  /* a name the destination's service set holds */
	char verdict[16];  /* pc_action_name() of the flow's action, or "" */
	uint8_t host[16];  /* either end, when has_host */
	int has_host;
	int state; /* PC_TCP_* + 1, 0: any */
	int proto; /* -1: any */
	size_t limit;
};

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
	int (*policy_put)(void *ctx, const struct pc_api_caller *who,
			  const char *text, size_t len, const char *filename,
			  json_t **result, struct pc_diags *d);
	/* {"versions": [...]}, newest first; NULL on a store error, or
	 * {"error": ..., "field": "store"} (503) when the fleet's store is
	 * out of reach */
	json_t *(*policy_versions)(void *ctx, size_t limit);
	/* restore version (0: the one before the version in force); like
	 * policy_put, and -ENOENT when there is no such version */
	int (*policy_rollback)(void *ctx, const struct pc_api_caller *who,
			       int64_t version, json_t **result,
			       struct pc_diags *d);
	/* what policy_put would do, changing nothing: 0 and *result, or
	 * -EINVAL with every error in d */
	int (*policy_check)(void *ctx, const char *text, size_t len,
			    const char *filename, json_t **result,
			    struct pc_diags *d);
	/* one stored version with its source; -ENOENT if there is none */
	int (*policy_version)(void *ctx, int64_t version, json_t **result,
			      struct pc_diags *d);
	/* the access changes from one stored version to another; -ENOENT
	 * for a missing version, -EINVAL if one does not compile here */
	int (*policy_diff)(void *ctx, int64_t from, int64_t to, json_t **result,
			   struct pc_diags *d);
	/* a bearer token: 0 and its role and name, or -EACCES */
	int (*authenticate)(void *ctx, const char *token, enum pc_role *role,
			    char *name, size_t namelen);
	/* {"tokens": [...]} without secrets */
	json_t *(*tokens_list)(void *ctx);
	/* a new token; 0 and {"token": ...} once, -EEXIST if the name is
	 * taken by a live token */
	int (*token_create)(void *ctx, const struct pc_api_caller *who,
			    const char *name, enum pc_role role,
			    json_t **result);
	/* -ENOENT when no live token has that name */
	int (*token_revoke)(void *ctx, const struct pc_api_caller *who,
			    const char *name);
	/* {"flows": [...], "matched": N, "shown": N}: conntrack, filtered,
	 * written into out as JSON text (10,000 flows as jansson objects
	 * took a few hundred ms of the daemon's one thread); 0 or -errno */
	int (*flows)(void *ctx, const struct pc_flow_filter *f,
		     struct evbuffer *out);
	/* {"denies": [...]}: stored deny events, newest first */
	json_t *(*denies)(void *ctx, size_t limit);
	/* {"entries": [...]}, newest first; NULL on a store error */
	json_t *(*audit_list)(void *ctx, size_t limit);
	/* 1 when ready (with *why set: degraded, but serving), else 0 with
	 * *why set */
	int (*ready)(void *ctx, const char **why);
	/* GET /metrics: Prometheus text (malloc'd), NULL on failure */
	char *(*metrics)(void *ctx);
	/* {"peers": [...]}: WireGuard peers, configured and live */
	json_t *(*peers)(void *ctx);
	/* {"services": [...], "transitions": [...]}: load-balanced
	 * services, their backends' health and recent health changes */
	json_t *(*services)(void *ctx);
	/* {"gateways": [...], ...}: the fleet, or this gateway alone */
	json_t *(*gateways)(void *ctx);
	/* /v1/placements: list (NULL: no fleet); add (a JSON object) and
	 * remove answer the HTTP status and set *out */
	json_t *(*placements)(void *ctx);
	int (*placement_add)(void *ctx, const struct pc_api_caller *who,
			     json_t *req, json_t **out);
	int (*placement_remove)(void *ctx, const struct pc_api_caller *who,
				const char *name, json_t **out);
	/* DELETE /v1/gateways/NAME: a gateway down for good leaves */
	int (*gateway_remove)(void *ctx, const struct pc_api_caller *who,
			      const char *name, json_t **out);
	/* POST /v1/peers (a JSON object) and DELETE /v1/peers/NAME: return
	 * the HTTP status and set *out (the peer, or an error) */
	int (*peer_add)(void *ctx, const struct pc_api_caller *who, json_t *req,
			json_t **out);
	int (*peer_remove)(void *ctx, const struct pc_api_caller *who,
			   const char *name, json_t **out);
};

struct pc_api;

/* Who may present a client certificate, and what it makes them. */
enum pc_client_auth {
	PC_CLIENT_AUTH_NONE,	 /* no certificate asked for */
	PC_CLIENT_AUTH_OPTIONAL, /* verified when sent; a token works too */
	PC_CLIENT_AUTH_REQUIRED, /* no handshake without a valid one */
};

struct pc_cert_role {
	char *cn; /* the certificate subject's common name */
	enum pc_role role;
};

/* api.tls: every TCP listener speaks TLS 1.2 (ECDHE, AEAD suites). */
struct pc_api_tls {
	const char *cert;      /* PEM: certificate chain */
	const char *key;       /* PEM: its private key */
	const char *client_ca; /* PEM: CAs for client certificates, or NULL */
	enum pc_client_auth client_auth;
	const struct pc_cert_role *roles;
	size_t nroles;
};

#define PC_API_MAX_LISTEN 8
#define PC_API_DEFAULT_MAX_CONNECTIONS 256
#define PC_API_DEFAULT_MAX_PER_ADDRESS 32

struct pc_api_opts {
	/* "unix:/path" (mode 0600, at most one), "IPV4:PORT", "[IPV6]:PORT" */
	const char *const *listen;
	size_t nlisten;
	int trust_local_root; /* unix socket: uid 0 is admin, no token */
	/* TCP connections open at once; more are closed at accept */
	unsigned int max_connections;
	/* of those, from one client address (0: the default) */
	unsigned int max_per_address;
	/* seconds a request may take to arrive (TCP: from its first byte to
	 * its answer's; evhttp: idle time); 0: PC_API_TIMEOUT_S */
	unsigned int request_timeout_s;
	const struct pc_api_tls *tls; /* NULL: TCP only on loopback */
	const char *console_dir;      /* the web console's files; NULL: none */
};

/*
 * The web console (console.c): the files of one directory and of its
 * subdirectories one level down, read at start and served under
 * PC_CONSOLE_PREFIX by exact name ("/ui/" is index.html) to anyone: they
 * hold no secret; what they show comes from the API, with a token.
 */
#define PC_CONSOLE_PREFIX "/ui/"
#define PC_CONSOLE_MAX_FILES 256
#define PC_CONSOLE_MAX_FILE (4 << 20)
#define PC_CONSOLE_MAX_BYTES (32 << 20)

struct pc_console_file {
	char name[136]; /* "app.js", "js/app.js" */
	const char *type;
	char *data;
	size_t len;
	char etag[24];
};

struct pc_console;
/* 0, or -errno with the reason logged (no index.html is one). */
int pc_console_load(const char *dir, struct pc_console **out);
void pc_console_free(struct pc_console *c);
/* The file a request path names, or NULL. */
const struct pc_console_file *pc_console_find(const struct pc_console *c,
					      const char *path);

/* A policy diff as JSON, the API's and `portcullis policy diff --json`'s:
 * per change its sign ("change"), from, to, ports, was, now, old_rule and
 * new_rule (null when no rule decides). */
json_t *pc_api_diff_json(const struct pc_diff *d);

int pc_api_start(struct event_base *base, const struct pc_api_opts *o,
		 const struct pc_api_backend *be, struct pc_api **out);
void pc_api_stop(struct pc_api *api);
/*
 * SIGHUP re-reads the certificate, key and client CA files, in two steps
 * so that a reload refused later changes nothing: load (0 with *out NULL
 * when the API has no TLS; errors logged), then use or drop.  Open
 * connections keep the files they started with.
 */
struct pc_tls_ctx;
int pc_api_tls_load(struct pc_api *api, const struct pc_api_tls *tls,
		    struct pc_tls_ctx **out);
void pc_api_tls_use(struct pc_api *api, struct pc_tls_ctx *t);
void pc_api_tls_drop(struct pc_tls_ctx *t);
/* Do the TLS files load (errors logged)?  For portcullisd --check. */
int pc_api_tls_check(const struct pc_api_tls *tls);
/* {"auth_failures": N, "event_streams": N, "tcp": {...}} for status. */
json_t *pc_api_stats(const struct pc_api *api);

/*
 * GET /v1/events (viewer) is a Server-Sent Events stream: each published
 * event is one "event: verdict" + "data: JSON" record.  ?reason=NAME
 * keeps one reason.  A subscriber that cannot keep up loses events (its
 * count is in a comment record); at most PC_API_MAX_STREAMS at once.
 */
#define PC_API_MAX_STREAMS 32
void pc_api_publish(struct pc_api *api, const char *reason, json_t *data);
/* How many event streams are open (for status). */
size_t pc_api_streams(const struct pc_api *api);

/* {"errors": [...], "warnings": [...]} from diagnostics, into j. */
void pc_api_diags_json(json_t *j, const struct pc_diags *d);

/* "KEY=value" of a query, decoded (%XX, '+' for a space, as browsers
 * encode a query) into buf; the first KEY counts.  1, 0 if absent, -1 if
 * too long, malformed or holding a NUL. */
int pc_api_query_get(const char *query, const char *key, char *buf, size_t len);

/* Routing, exposed for unit tests: returns the HTTP status, fills *body. */
/* The route pattern a path falls under (a pattern with a star for a name),
 * "other" for none: the metrics' route label, bounded by the route table. */
const char *pc_api_route_name(const char *path);
/* Requests answered, by method, route and status (GET /metrics). */
void pc_api_metrics(const struct pc_api *api, struct pc_buf *b);

/*
 * A request to a /v1 route: its status, and its answer in *out; or, for
 * a route that writes its JSON itself (GET /v1/flows), *out NULL and the
 * JSON text in raw (with raw NULL, such a route answers 501).
 */
int pc_api_handle(const struct pc_api_backend *be,
		  const struct pc_api_caller *who, const char *method,
		  const char *path, const char *query, const char *ctype,
		  const char *body, size_t len, json_t **out,
		  struct evbuffer *raw);

/* s as a JSON string, quotes and escapes included, onto b. */
void pc_api_json_str(struct evbuffer *b, const char *s);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An etcd v3 client over etcd's JSON gateway (POST /v3/...), on
 * libevent's HTTP client: blocking calls with a deadline for the few
 * writes an API request waits for, callbacks on the daemon's loop for
 * heartbeats, and watch streams.
 */
#ifndef PC_ETCD_H
#define PC_ETCD_H

#include <event2/event.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define PC_ETCD_ERR_LEN 384
#define PC_ETCD_DEFAULT_PORT 2379
#define PC_ETCD_DEFAULT_PREFIX "/portcullis"
#define PC_ETCD_MAX_PREFIX 128

struct pc_etcd;

/* "etcd://HOST[:PORT][/PREFIX]" (HOST may be [IPV6]); -EINVAL with why */
int pc_etcd_parse_uri(const char *uri, char *host, size_t hostlen,
		      unsigned int *port, char *prefix, size_t prefixlen,
		      char *why, size_t whylen);

/* A client for uri; async calls and watches run on base. */
int pc_etcd_new(struct event_base *base, const char *uri,
		unsigned int timeout_ms, struct pc_etcd **out, char *why,
		size_t whylen);
void pc_etcd_free(struct pc_etcd *e);
/* The key prefix, without a trailing '/'; "HOST:PORT" for messages */
const char *pc_etcd_prefix(const struct pc_etcd *e);
const char *pc_etcd_endpoint(const struct pc_etcd *e);

/*
 * POST /v3/<method> with req (taken); 0 and *resp, or -errno with err
 * saying why: -ECONNREFUSED/-ETIMEDOUT/-EIO when etcd cannot be reached
 * or answers with an error.  Blocks the caller up to the timeout.
 */
int pc_etcd_call(struct pc_etcd *e, const char *method, json_t *req,
		 json_t **resp, char err[PC_ETCD_ERR_LEN]);

/* The same on the daemon's loop: cb gets resp (borrowed) or err. */
typedef void (*pc_etcd_cb)(void *arg, json_t *resp, const char *err);
int pc_etcd_call_async(struct pc_etcd *e, const char *method, json_t *req,
		       pc_etcd_cb cb, void *arg);

/*
 * Watch [key, range_end) from revision start_rev (0: now).  cb gets each
 * watch response's "result" (borrowed); once the stream ends or fails it
 * gets NULL and err, and the watch is over (free it).
 */
struct pc_etcd_watch;
struct pc_etcd_watch *pc_etcd_watch(struct pc_etcd *e, const char *key,
				    const char *range_end, int64_t start_rev,
				    pc_etcd_cb cb, void *arg);
void pc_etcd_watch_free(struct pc_etcd_watch *w);

/* Keys and values travel base64-encoded: JSON strings of them. */
json_t *pc_etcd_b64(const char *s, size_t len);
/* The decoded bytes of a base64 field (NUL-terminated), or NULL. */
char *pc_etcd_unb64(json_t *j, size_t *len);
/* Int64 fields are JSON strings; absent means 0. */
int64_t pc_etcd_int(json_t *obj, const char *field);
/* The key just past every key that starts with prefix. */
void pc_etcd_prefix_end(const char *prefix, char *out, size_t len);

#endif

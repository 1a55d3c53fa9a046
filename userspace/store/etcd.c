// SPDX-License-Identifier: Apache-2.0
/*
 * etcd v3 through its JSON gateway: every call is a POST of a JSON body
 * to /v3/<service>/<method>; keys and values are base64, int64s are JSON
 * strings.  A watch is one long POST whose response streams one JSON
 * object a line.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <mbedtls/base64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "etcd.h"
#include "pclib.h"

struct pc_etcd {
	struct event_base *base;      /* the daemon's: async calls, watches */
	struct event_base *sync_base; /* private: blocking calls */
	struct evdns_base *dns;	      /* names resolved off the loop */
	struct evhttp_connection *conn;
	char host[128];
	unsigned int port;
	char prefix[256];
	char endpoint[140];
	unsigned int timeout_ms;
};

int pc_etcd_parse_uri(const char *uri, char *host, size_t hostlen,
		      unsigned int *port, char *prefix, size_t prefixlen,
		      char *why, size_t whylen)
{
	const char *p, *h, *end;
	size_t n;

	if (strncmp(uri, "etcd://", 7)) {
		snprintf(why, whylen, "must start with etcd://");
		return -EINVAL;
	}
	h = uri + 7;
	if (*h == '[') {
		end = strchr(h, ']');
		if (!end) {
			snprintf(why, whylen, "unterminated [IPV6] host");
			return -EINVAL;
		}
		n = (size_t)(end - h - 1);
		h++;
		p = end + 1;
	} else {
		p = h + strcspn(h, ":/");
		n = (size_t)(p - h);
	}
	if (!n || n >= hostlen) {
		snprintf(why, whylen, "no host, or a host too long");
		return -EINVAL;
	}
	memcpy(host, h, n);
	host[n] = '\0';
	if (strspn(host, "abcdefghijklmnopqrstuvwxyz"
			 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:") < n) {
		snprintf(why, whylen,
			 "the host \"%s\" is not a name or address", host);
		return -EINVAL;
	}
	*port = PC_ETCD_DEFAULT_PORT;
	if (*p == ':') {
		char *e;
		long v = strtol(p + 1, &e, 10);

		if (e == p + 1 || v < 1 || v > 65535 || (*e && *e != '/')) {
			snprintf(why, whylen, "the port must be 1 to 65535");
			return -EINVAL;
		}
		*port = (unsigned int)v;
		p = e;
	} else if (*p && *p != '/') {
		snprintf(why, whylen, "unexpected '%c' after the host", *p);
		return -EINVAL;
	}
	if (!*p || !strcmp(p, "/"))
		p = PC_ETCD_DEFAULT_PREFIX;
	n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		n--;
	if (n >= prefixlen || n > PC_ETCD_MAX_PREFIX ||
	    strspn(p, "abcdefghijklmnopqrstuvwxyz"
		      "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789/._-") < n) {
		snprintf(why, whylen,
			 "the key prefix takes letters, digits and /._- "
			 "(at most %d)",
			 PC_ETCD_MAX_PREFIX);
		return -EINVAL;
	}
	memcpy(prefix, p, n);
	prefix[n] = '\0';
	return 0;
}

static struct evhttp_connection *connect_to(struct pc_etcd *e,
					    struct event_base *base,
					    struct evdns_base *dns,
					    unsigned int timeout_ms)
{
	struct evhttp_connection *c =
		evhttp_connection_base_new(base, dns, e->host, e->port);
	struct timeval tv = {timeout_ms / 1000, 1000L * (timeout_ms % 1000)};

	if (!c)
		return NULL;
	evhttp_connection_set_retries(c, 0);
	evhttp_connection_set_timeout_tv(c, &tv);
	return c;
}

int pc_etcd_new(struct event_base *base, const char *uri,
		unsigned int timeout_ms, struct pc_etcd **out, char *why,
		size_t whylen)
{
	struct pc_etcd *e = pc_xcalloc(1, sizeof(*e));
	int rc;

	rc = pc_etcd_parse_uri(uri, e->host, sizeof(e->host), &e->port,
			       e->prefix, sizeof(e->prefix), why, whylen);
	if (rc) {
		free(e);
		return rc;
	}
	snprintf(e->endpoint, sizeof(e->endpoint), "%s%s%s:%u",
		 strchr(e->host, ':') ? "[" : "", e->host,
		 strchr(e->host, ':') ? "]" : "", e->port);
	e->base = base;
	e->timeout_ms = timeout_ms ? timeout_ms : 2000;
	e->sync_base = event_base_new();
	/* the daemon's loop must not wait on a name server */
	e->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (!e->dns)
		e->dns = evdns_base_new(base, 0);
	if (e->sync_base && e->dns)
		e->conn = connect_to(e, base, e->dns, e->timeout_ms);
	if (!e->conn) {
		snprintf(why, whylen, "out of memory");
		pc_etcd_free(e);
		return -ENOMEM;
	}
	*out = e;
	return 0;
}

void pc_etcd_free(struct pc_etcd *e)
{
	if (!e)
		return;
	if (e->conn)
		evhttp_connection_free(e->conn);
	if (e->dns)
		evdns_base_free(e->dns, 0);
	if (e->sync_base)
		event_base_free(e->sync_base);
	free(e);
}

const char *pc_etcd_prefix(const struct pc_etcd *e)
{
	return e->prefix;
}

const char *pc_etcd_endpoint(const struct pc_etcd *e)
{
	return e->endpoint;
}

/* One call in flight: how it ended. */
struct call {
	struct pc_etcd *e;
	pc_etcd_cb cb; /* NULL: a blocking call */
	void *arg;
	int done;
	int rc;
	json_t *resp;
	enum evhttp_request_error why;
	int failed;
	int in_make; /* evhttp_make_request may call back before it returns */
	struct timespec t0;
	char err[PC_ETCD_ERR_LEN];
};

static double since_ms(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void on_error(enum evhttp_request_error why, void *arg)
{
	struct call *c = arg;

	c->failed = 1;
	c->why = why;
}

static void unreachable(struct call *c)
{
	const char *what = "connection refused or closed";

	/* libevent reports a connect that timed out without its error
	 * callback: the clock tells */
	if ((c->failed && c->why == EVREQ_HTTP_TIMEOUT) ||
	    ((c->t0.tv_sec || c->t0.tv_nsec) && /* not a watch */
	     since_ms(&c->t0) >= 0.95 * c->e->timeout_ms)) {
		snprintf(c->err, sizeof(c->err),
			 "etcd at %s did not answer within %u ms",
			 c->e->endpoint, c->e->timeout_ms);
		c->rc = -ETIMEDOUT;
		return;
	}
	snprintf(c->err, sizeof(c->err), "etcd at %s is unreachable (%s)",
		 c->e->endpoint, what);
	c->rc = -ECONNREFUSED;
}

/* The answer: 200 and a JSON object, else why not. */
static void finish(struct call *c, struct evhttp_request *req)
{
	struct evbuffer *in;
	json_error_t jerr;
	int code;

	c->done = 1;
	code = req ? evhttp_request_get_response_code(req) : 0;
	if (!code) {
		unreachable(c);
		return;
	}
	in = evhttp_request_get_input_buffer(req);
	c->resp = json_loadb((const char *)evbuffer_pullup(in, -1),
			     evbuffer_get_length(in), 0, &jerr);
	if (code != 200 || !json_is_object(c->resp)) {
		json_t *m =
			c->resp ? json_object_get(c->resp, "message") : NULL;
		if (!m && c->resp)
			m = json_object_get(c->resp, "error");

		snprintf(c->err, sizeof(c->err), "etcd at %s: HTTP %d: %s",
			 c->e->endpoint, code,
			 json_is_string(m) ? json_string_value(m)
			 : c->resp	   ? "an unexpected answer"
					   : "not JSON");
		json_decref(c->resp);
		c->resp = NULL;
		c->rc = -EREMOTEIO; /* etcd answered, with an error */
		return;
	}
	c->rc = 0;
}

static void on_done_sync(struct evhttp_request *req, void *arg)
{
	struct call *c = arg;

	finish(c, req);
	event_base_loopbreak(c->e->sync_base);
}

static void on_done_async(struct evhttp_request *req, void *arg)
{
	struct call *c = arg;

	finish(c, req);
	c->cb(c->arg, c->resp, c->rc ? c->err : NULL);
	json_decref(c->resp);
	c->resp = NULL;
	if (!c->in_make) /* else the caller frees it */
		free(c);
}

/* POST /v3/method with the body; cb and its error callback get arg. */
static struct evhttp_request *
make_request(struct evhttp_connection *conn, const char *host,
	     const char *method, json_t *req_json,
	     void (*done)(struct evhttp_request *, void *),
	     void (*error)(enum evhttp_request_error, void *),
	     void (*chunk)(struct evhttp_request *, void *), void *arg)
{
	struct evhttp_request *req = evhttp_request_new(done, arg);
	char *body = json_dumps(req_json, JSON_COMPACT);
	char path[128];

	json_decref(req_json);
	if (!req || !body) {
		if (req)
			evhttp_request_free(req);
		free(body);
		return NULL;
	}
	evhttp_request_set_error_cb(req, error);
	if (chunk)
		evhttp_request_set_chunked_cb(req, chunk);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", host);
	evhttp_add_header(evhttp_request_get_output_headers(req),
			  "Content-Type", "application/json");
	evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
	free(body);
	snprintf(path, sizeof(path), "/v3/%s", method);
	/* on a failure libevent may have called back (and freed req), or
	 * not; the callers' in_make and done flags tell which */
	if (evhttp_make_request(conn, req, EVHTTP_REQ_POST, path))
		return NULL;
	return req;
}

int pc_etcd_call(struct pc_etcd *e, const char *method, json_t *req,
		 json_t **resp, char err[PC_ETCD_ERR_LEN])
{
	struct call c = {.e = e, .in_make = 1};
	struct evhttp_connection *conn;
	struct evhttp_request *r;

	*resp = NULL;
	clock_gettime(CLOCK_MONOTONIC, &c.t0);
	/* a connection of its own each time: an idle one kept between
	 * calls would not notice etcd closing it (nothing runs this base
	 * meanwhile) and fail the next call */
	conn = connect_to(e, e->sync_base, NULL, e->timeout_ms);
	if (!conn) {
		json_decref(req);
		snprintf(err, PC_ETCD_ERR_LEN, "etcd at %s: out of memory",
			 e->endpoint);
		return -ENOMEM;
	}
	r = make_request(conn, e->host, method, req, on_done_sync, on_error,
			 NULL, &c);
	c.in_make = 0;
	while (r && !c.done)
		if (event_base_dispatch(e->sync_base) < 0)
			break;
	evhttp_connection_free(conn);
	if (!c.done) {
		snprintf(err, PC_ETCD_ERR_LEN, "etcd at %s: %s", e->endpoint,
			 r ? "event loop failed"
			   : "failed to send the request");
		return -EIO;
	}
	if (c.rc)
		snprintf(err, PC_ETCD_ERR_LEN, "%s", c.err);
	*resp = c.resp;
	return c.rc;
}

int pc_etcd_call_async(struct pc_etcd *e, const char *method, json_t *req,
		       pc_etcd_cb cb, void *arg)
{
	struct call *c = pc_xcalloc(1, sizeof(*c));
	struct evhttp_request *r;

	c->e = e;
	c->cb = cb;
	c->arg = arg;
	c->in_make = 1;
	clock_gettime(CLOCK_MONOTONIC, &c->t0);
	r = make_request(e->conn, e->host, method, req, on_done_async, on_error,
			 NULL, c);
	c->in_make = 0;
	if (c->done) { /* it called back already */
		free(c);
		return 0;
	}
	if (!r) {
		free(c);
		return -ENOMEM;
	}
	return 0;
}

struct pc_etcd_watch {
	struct call c; /* how the stream ended */
	struct evhttp_connection *conn;
	struct evbuffer *lines; /* what arrived, up to a line's end */
	pc_etcd_cb cb;
	void *arg;
	int ended;
};

static void on_watch_error(enum evhttp_request_error why, void *arg)
{
	struct pc_etcd_watch *w = arg;

	w->c.failed = 1;
	w->c.why = why;
}

/* A line per watch response: hand each "result" over. */
static void on_watch_chunk(struct evhttp_request *req, void *arg)
{
	struct pc_etcd_watch *w = arg;
	char *line;
	size_t n;

	/* a chunk ends anywhere: a message may span several, and libevent
	 * empties the request's buffer after each */
	evbuffer_add_buffer(w->lines, evhttp_request_get_input_buffer(req));
	while (!w->ended && (line = evbuffer_readln(w->lines, &n,
						    EVBUFFER_EOL_LF)) != NULL) {
		json_t *j = json_loadb(line, n, 0, NULL);
		json_t *r = json_object_get(j, "result");

		free(line);
		if (!json_is_object(r)) {
			json_t *m = json_object_get(json_object_get(j, "error"),
						    "message");
			char err[PC_ETCD_ERR_LEN];

			snprintf(err, sizeof(err), "etcd at %s: watch: %s",
				 w->c.e->endpoint,
				 json_is_string(m) ? json_string_value(m)
						   : "an unexpected answer");
			json_decref(j);
			w->ended = 1;
			w->cb(w->arg, NULL, err);
			return;
		}
		w->cb(w->arg, r, NULL);
		json_decref(j);
	}
}

static void on_watch_done(struct evhttp_request *req, void *arg)
{
	struct pc_etcd_watch *w = arg;
	int code = req ? evhttp_request_get_response_code(req) : 0;

	if (w->ended)
		return;
	w->ended = 1;
	if (code == 200)
		snprintf(w->c.err, sizeof(w->c.err),
			 "etcd at %s closed the watch", w->c.e->endpoint);
	else if (code)
		snprintf(w->c.err, sizeof(w->c.err),
			 "etcd at %s refused the watch: HTTP %d",
			 w->c.e->endpoint, code);
	else
		unreachable(&w->c);
	w->cb(w->arg, NULL, w->c.err);
}

struct pc_etcd_watch *pc_etcd_watch(struct pc_etcd *e, const char *key,
				    const char *range_end, int64_t start_rev,
				    pc_etcd_cb cb, void *arg)
{
	struct pc_etcd_watch *w = pc_xcalloc(1, sizeof(*w));
	json_t *create;

	w->c.e = e;
	w->cb = cb;
	w->arg = arg;
	w->lines = evbuffer_new();
	/* a quiet watch is not a dead one: no read deadline worth having;
	 * the fleet restarts a watch that stops bringing its heartbeats */
	w->conn = w->lines ? connect_to(e, e->base, e->dns, 24 * 3600 * 1000)
			   : NULL;
	if (!w->conn) {
		if (w->lines)
			evbuffer_free(w->lines);
		free(w);
		return NULL;
	}
	create = json_pack("{s:o, s:o*}", "key", pc_etcd_b64(key, strlen(key)),
			   "range_end",
			   range_end ? pc_etcd_b64(range_end, strlen(range_end))
				     : NULL);
	if (start_rev > 0) {
		char rev[24];

		snprintf(rev, sizeof(rev), "%lld", (long long)start_rev);
		json_object_set_new(create, "start_revision", json_string(rev));
	}
	if (!make_request(w->conn, e->host, "watch",
			  json_pack("{s:o}", "create_request", create),
			  on_watch_done, on_watch_error, on_watch_chunk, w)) {
		evhttp_connection_free(w->conn);
		evbuffer_free(w->lines);
		free(w);
		return NULL;
	}
	return w;
}

void pc_etcd_watch_free(struct pc_etcd_watch *w)
{
	if (!w)
		return;
	w->ended = 1;
	/* freeing the connection drops the request without its callback */
	evhttp_connection_free(w->conn);
	evbuffer_free(w->lines);
	free(w);
}

json_t *pc_etcd_b64(const char *s, size_t len)
{
	size_t n = 0;
	unsigned char *out;
	json_t *j;

	mbedtls_base64_encode(NULL, 0, &n, (const unsigned char *)s, len);
	out = pc_xcalloc(1, n + 1);
	if (mbedtls_base64_encode(out, n + 1, &n, (const unsigned char *)s,
				  len)) {
		free(out);
		return NULL;
	}
	j = json_stringn((const char *)out, n);
	free(out);
	return j;
}

char *pc_etcd_unb64(json_t *j, size_t *len)
{
	const char *s = json_string_value(j);
	size_t n = 0, slen;
	unsigned char *out;

	if (!s)
		return NULL;
	slen = json_string_length(j);
	mbedtls_base64_decode(NULL, 0, &n, (const unsigned char *)s, slen);
	out = pc_xcalloc(1, n + 1);
	if (mbedtls_base64_decode(out, n + 1, &n, (const unsigned char *)s,
				  slen)) {
		free(out);
		return NULL;
	}
	out[n] = '\0';
	if (len)
		*len = n;
	return (char *)out;
}

int64_t pc_etcd_int(json_t *obj, const char *field)
{
	json_t *v = json_object_get(obj, field);

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	return 0;
}

void pc_etcd_prefix_end(const char *prefix, char *out, size_t len)
{
	size_t n = strlen(prefix);

	snprintf(out, len, "%s", prefix);
	/* prefixes here are printable ASCII: the last byte plus one */
	if (n && n < len)
		out[n - 1]++;
}

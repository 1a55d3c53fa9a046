// SPDX-License-Identifier: Apache-2.0
/* evhttp server on unix sockets (TCP arrives through front.c): routes.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/bufferevent.h>

#include "api.h"
#include "front.h"

/* Failed authentications per peer: after PC_AUTH_MAX_FAILS in a window,
 * the peer gets 429 until the window ends. */
#define PC_AUTH_MAX_FAILS 10
#define PC_AUTH_WINDOW_S 60
#define PC_AUTH_PEERS 64

struct auth_fail {
	char peer[64];
	time_t window;
	unsigned int count;
};

/* An open GET /v1/events. */
#define STREAM_REASON 32
struct stream {
	struct evhttp_request *req;
	struct pc_api *api;
	char reason[STREAM_REASON]; /* only this reason, or "" */
	unsigned long dropped;	    /* events it was too slow for */
};

#define PC_STREAM_BACKLOG (256u << 10) /* bytes queued before dropping */
#define PC_STREAM_KEEPALIVE_S 15

/* (method, route, status) series of portcullis_api_requests_total: the
 * last one is shared by whatever comes once the others are taken.  A
 * request refused for its credential has route "-". */
#define PC_API_REQ_SLOTS 256

struct pc_api {
	struct evhttp *http;
	struct stream *streams[PC_API_MAX_STREAMS];
	struct event *keepalive;
	struct pc_api_backend be;
	struct pc_front *front;	    /* TCP listeners, when configured */
	struct pc_console *console; /* the web console's files, or NULL */
	char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	/* the front's relay target, in a directory only root can enter */
	char relay_dir[64],
		relay_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct pc_listen_guard *guards[2];
	int trust_local_root;
	struct auth_fail fails[PC_AUTH_PEERS];
	unsigned long fails_total;
	/* requests answered: method and route are static strings */
	struct req_count {
		const char *method, *route;
		int code;
		uint64_t n;
	} reqs[PC_API_REQ_SLOTS];
	size_t nreqs;
};

static const char *method_name(enum evhttp_cmd_type t)
{
	switch (t) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	default:
		return "OTHER";
	}
}

/*
 * Headers on every answer: a browser must not guess a type, frame the
 * page or send it on as a referrer; what the API answers is data, never a
 * page to run (its policy forbids everything), and never cached.
 */
static void common_headers(struct evhttp_request *req, int page)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Cross-Origin-Resource-Policy", "same-origin");
	if (page) {
		/* the console: its own files only, no inline script or
		 * style, no plugin, no form posted anywhere */
		evhttp_add_header(h, "Content-Security-Policy",
				  "default-src 'none'; script-src 'self'; "
				  "style-src 'self'; img-src 'self' data:; "
				  "font-src 'self'; connect-src 'self'; "
				  "manifest-src 'self'; base-uri 'none'; "
				  "form-action 'none'; frame-ancestors 'none'");
		evhttp_add_header(h, "Cross-Origin-Opener-Policy",
				  "same-origin");
		evhttp_add_header(h, "Cache-Control", "no-cache");
	} else {
		evhttp_add_header(h, "Content-Security-Policy",
				  "default-src 'none'; frame-ancestors 'none'");
		evhttp_add_header(h, "Cache-Control", "no-store");
	}
}

static int to_evbuffer(const char *buf, size_t len, void *out)
{
	return evbuffer_add(out, buf, len);
}

/* JSON text as the reply, or a 500 without it. */
static void send_json_text(struct evhttp_request *req, int code,
			   struct evbuffer *text)
{
	common_headers(req, 0);
	evhttp_add_header(evhttp_request_get_output_headers(req),
			  "Content-Type", "application/json");
	if (text && evbuffer_get_length(text))
		evhttp_send_reply(req, code, NULL, text);
	else
		evhttp_send_error(req, 500, NULL);
}

/* The JSON written straight into the reply's buffer, not built as a
 * string and copied again. */
static void send_json(struct evhttp_request *req, int code, json_t *j)
{
	struct evbuffer *out = evbuffer_new();

	if (out && (json_dump_callback(j, to_evbuffer, out,
				       JSON_INDENT(2) | JSON_SORT_KEYS) ||
		    evbuffer_add(out, "\n", 1)))
		evbuffer_drain(out, evbuffer_get_length(out));
	send_json_text(req, code, out);
	if (out)
		evbuffer_free(out);
}

/*
 * Who is at the other end: "uid:N" on the public unix socket (uid set),
 * else the TCP client the front relays for (and the role its client
 * certificate carries, in *cert).
 */
static void peer_of(struct pc_api *api, struct evhttp_request *req, char *buf,
		    size_t len, long *uid, const struct pc_front_peer **cert)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev =
		conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	int fd = bev ? bufferevent_getfd(bev) : -1;
	struct sockaddr_un sa = {0};
	socklen_t sl = sizeof(sa);
	struct ucred cred;
	socklen_t cl = sizeof(cred);

	*uid = -1;
	*cert = NULL;
	snprintf(buf, len, "?");
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&sa, &sl) ||
	    sa.sun_family != AF_UNIX)
		return;
	if (api->relay_path[0] && !strcmp(sa.sun_path, api->relay_path)) {
		/* the front's relay: who it is relaying for, found by the
		 * relay socket's autobound name; ours or no one's */
		const struct pc_front_peer *p;

		sl = sizeof(sa);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) ||
		    cred.pid != getpid() ||
		    getpeername(fd, (struct sockaddr *)&sa, &sl) ||
		    !(p = pc_front_peer(api->front, &sa, sl)))
			return;
		/* (called as a request is dispatched: it has arrived) */
		pc_front_arrived(api->front, &sa, sl);
		snprintf(buf, len, "%s", p->addr);
		*cert = p;
		return;
	}
	if (!getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl)) {
		*uid = cred.uid;
		snprintf(buf, len, "uid:%u", cred.uid);
	}
}

/* The peer's failure record; a new one (the oldest reused) only when
 * allocate, so that callers that never fail take no room. */
static struct auth_fail *fail_slot(struct pc_api *api, const char *peer,
				   time_t now, int allocate)
{
	struct auth_fail *oldest = &api->fails[0];

	for (size_t i = 0; i < PC_AUTH_PEERS; i++) {
		struct auth_fail *f = &api->fails[i];

		if (f->count && !strcmp(f->peer, peer)) {
			if (now - f->window >= PC_AUTH_WINDOW_S) {
				f->window = now;
				f->count = 0;
			}
			return f;
		}
		if (f->window < oldest->window)
			oldest = f;
	}
	if (!allocate)
		return NULL;
	snprintf(oldest->peer, sizeof(oldest->peer), "%s", peer);
	oldest->window = now;
	oldest->count = 0;
	return oldest;
}

/*
 * Who is asking.  Returns 0, or an HTTP status with *out set: 401 for a
 * bad token, 429 for a peer that failed too often.
 */
static int authenticate(struct pc_api *api, struct evhttp_request *req,
			struct pc_api_caller *who, char *name, size_t namelen,
			char *peer, size_t peerlen, json_t **out)
{
	const char *auth = evhttp_find_header(
		evhttp_request_get_input_headers(req), "Authorization");
	time_t now = time(NULL);
	const struct pc_front_peer *cert;
	struct auth_fail *f;
	enum pc_role role;
	long uid;

	peer_of(api, req, peer, peerlen, &uid, &cert);
	who->role = PC_ROLE_NONE;
	who->name = "";
	who->peer = peer;
	if (!auth) {
		if (api->trust_local_root && uid == 0) {
			who->role = PC_ROLE_ADMIN;
			who->name = "local root";
		} else if (cert && cert->role != PC_ROLE_NONE) {
			who->role = cert->role;
			snprintf(name, namelen, "certificate %s", cert->cert);
			who->name = name;
		}
		return 0;
	}
	/* a good token always gets in: a noisy neighbour on the same
	 * address cannot lock it out */
	if (!strncasecmp(auth, "Bearer ", 7) &&
	    !api->be.authenticate(api->be.ctx, auth + 7, &role, name,
				  namelen)) {
		who->role = role;
		who->name = name;
		return 0;
	}
	f = fail_slot(api, peer, now, 0);
	if (f && f->count >= PC_AUTH_MAX_FAILS) {
		char msg[96];

		snprintf(msg, sizeof(msg),
			 "too many failed authentications; retry in %ld s",
			 (long)(f->window + PC_AUTH_WINDOW_S - now));
		*out = json_pack("{s:s, s:s}", "error", msg, "field",
				 "Authorization");
		return 429;
	}
	if (!f)
		f = fail_slot(api, peer, now, 1);
	f->count++;
	api->fails_total++;
	pc_warn("api: rejected credentials from %s (%u in this minute, %lu "
		"in all)",
		peer, f->count, api->fails_total);
	*out = json_pack("{s:s, s:s}", "error",
			 "invalid or revoked token (Authorization: Bearer "
			 "TOKEN)",
			 "field", "Authorization");
	return 401;
}

static void stream_closed(struct evhttp_connection *conn, void *arg)
{
	struct stream *st = arg;

	(void)conn;
	for (size_t i = 0; i < PC_API_MAX_STREAMS; i++)
		if (st->api->streams[i] == st)
			st->api->streams[i] = NULL;
	/* a client that went away leaves its unfinished request detached
	 * from the connection, for us to free; on pc_api_stop it is still
	 * attached and evhttp frees it */
	if (!evhttp_request_get_connection(st->req))
		evhttp_request_free(st->req);
	free(st);
}

/* counted: an event, whose loss is reported; else a keepalive */
static void stream_send(struct stream *st, const char *text, size_t len,
			int counted)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(st->req);
	struct bufferevent *bev =
		conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	struct evbuffer *buf;

	/* a client that does not read does not make us queue forever */
	if (bev && evbuffer_get_length(bufferevent_get_output(bev)) >
			   PC_STREAM_BACKLOG) {
		st->dropped += (unsigned long)counted;
		return;
	}
	if (!(buf = evbuffer_new()))
		return;
	if (st->dropped) {
		evbuffer_add_printf(buf, ": dropped %lu events\n\n",
				    st->dropped);
		st->dropped = 0;
	}
	evbuffer_add(buf, text, len);
	evhttp_send_reply_chunk(st->req, buf);
	evbuffer_free(buf);
}

void pc_api_publish(struct pc_api *api, const char *reason, json_t *data)
{
	char *text = NULL;
	size_t len = 0;

	for (size_t i = 0; api && i < PC_API_MAX_STREAMS; i++) {
		struct stream *st = api->streams[i];

		if (!st || (st->reason[0] && strcmp(st->reason, reason)))
			continue;
		if (!text) {
			char *j =
				json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);

			if (!j)
				return;
			len = strlen(j) + 32;
			text = malloc(len);
			if (!text) {
				free(j);
				return;
			}
			len = (size_t)snprintf(
				text, len, "event: verdict\ndata: %s\n\n", j);
			free(j);
		}
		stream_send(st, text, len, 1);
	}
	free(text);
}

size_t pc_api_streams(const struct pc_api *api)
{
	size_t n = 0;

	for (size_t i = 0; api && i < PC_API_MAX_STREAMS; i++)
		n += api->streams[i] != NULL;
	return n;
}

#define KEEPALIVE ": keepalive\n\n"
#define GREETING ": portcullis verdict events\n\n"

static void on_keepalive(evutil_socket_t fd, short what, void *arg)
{
	struct pc_api *api = arg;

	(void)fd, (void)what;
	for (size_t i = 0; i < PC_API_MAX_STREAMS; i++)
		if (api->streams[i])
			stream_send(api->streams[i], KEEPALIVE,
				    strlen(KEEPALIVE), 0);
}

/* GET /v1/events: a stream, not a JSON reply. */
static int start_stream(struct pc_api *api, struct evhttp_request *req,
			const char *query)
{
	char reason[STREAM_REASON];
	int rc = pc_api_query_get(query, "reason", reason, sizeof(reason));
	struct stream *st;
	size_t slot;
	json_t *err;

	for (slot = 0; slot < PC_API_MAX_STREAMS && api->streams[slot]; slot++)
		;
	if (slot == PC_API_MAX_STREAMS) {
		err = json_pack("{s:s}", "error", "too many event streams");
		send_json(req, 503, err);
		json_decref(err);
		return 503;
	}
	if (rc < 0) {
		err = json_pack("{s:s, s:s}", "error", "no such reason",
				"field", "reason");
		send_json(req, 400, err);
		json_decref(err);
		return 400;
	}
	st = pc_xcalloc(1, sizeof(*st));
	st->req = req;
	st->api = api;
	if (rc > 0)
		memcpy(st->reason, reason, sizeof(st->reason));
	api->streams[slot] = st;
	common_headers(req, 0); /* Cache-Control: no-store */
	evhttp_add_header(evhttp_request_get_output_headers(req),
			  "Content-Type", "text/event-stream");
	evhttp_send_reply_start(req, 200, "OK");
	evhttp_connection_set_closecb(evhttp_request_get_connection(req),
				      stream_closed, st);
	/* the client sends nothing more: no read timeout, only a write one
	 * (evhttp's timeout would cut the stream after 30 s) */
	{
		struct bufferevent *bev = evhttp_connection_get_bufferevent(
			evhttp_request_get_connection(req));
		struct timeval wtv = {30, 0};

		if (bev)
			bufferevent_set_timeouts(bev, NULL, &wtv);
	}
	stream_send(st, GREETING, strlen(GREETING), 0);
	return 200;
}

/* GET /metrics (viewer): Prometheus text exposition. */
static int send_metrics(struct pc_api *api, struct evhttp_request *req,
			const char *query)
{
	char *text = api->be.metrics ? api->be.metrics(api->be.ctx) : NULL;
	struct evbuffer *out = evbuffer_new();
	int code = 200;

	(void)query;
	if (!text || !out) {
		json_t *err = json_pack("{s:s}", "error",
					"failed to gather the metrics");

		send_json(req, 500, err);
		json_decref(err);
		code = 500;
	} else {
		common_headers(req, 0);
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Content-Type",
				  "text/plain; version=0.0.4; charset=utf-8");
		evbuffer_add(out, text, strlen(text));
		evhttp_send_reply(req, 200, "OK", out);
	}
	free(text);
	if (out)
		evbuffer_free(out);
	return code;
}

/* Routes (GET, viewer) that answer with something other than one JSON
 * document. */
static const struct raw_route {
	const char *path;
	int (*fn)(struct pc_api *api, struct evhttp_request *req,
		  const char *query);
} raw_routes[] = {
	{"/v1/events", start_stream},
	{"/metrics", send_metrics},
};

static void count_request(struct pc_api *api, const char *method,
			  const char *route, int code)
{
	size_t i;

	for (i = 0; i < api->nreqs; i++)
		if (api->reqs[i].code == code &&
		    !strcmp(api->reqs[i].route, route) &&
		    !strcmp(api->reqs[i].method, method))
			break;
	if (i == api->nreqs) {
		/* full (methods times routes times statuses could fill it):
		 * the rest share the last series */
		if (i == PC_API_REQ_SLOTS - 1) {
			method = route = "other";
			code = 0;
			for (i = 0; i < api->nreqs; i++)
				if (!api->reqs[i].code)
					break;
		}
		if (i == api->nreqs) {
			api->reqs[i] =
				(struct req_count){method, route, code, 0};
			api->nreqs++;
		}
	}
	api->reqs[i].n++;
}

void pc_api_metrics(const struct pc_api *api, struct pc_buf *b)
{
	pc_prom_family(b, "portcullis_api_requests_total", "counter",
		       "API requests answered, by method, route (its pattern) "
		       "and HTTP status.");
	for (size_t i = 0; api && i < api->nreqs; i++) {
		char code[8];
		const char *l[] = {"method", api->reqs[i].method,
				   "route",  api->reqs[i].route,
				   "code",   code,
				   NULL};

		if (api->reqs[i].code)
			snprintf(code, sizeof(code), "%d", api->reqs[i].code);
		else
			snprintf(code, sizeof(code), "other");
		pc_prom_u64(b, "portcullis_api_requests_total", l,
			    api->reqs[i].n);
	}
	pc_prom_family(b, "portcullis_api_auth_failures_total", "counter",
		       "API requests refused for a missing, wrong or revoked "
		       "credential.");
	pc_prom_u64(b, "portcullis_api_auth_failures_total", NULL,
		    api ? api->fails_total : 0);
	pc_prom_family(b, "portcullis_api_event_streams", "gauge",
		       "Event streams (GET /v1/events) open now.");
	pc_prom_u64(b, "portcullis_api_event_streams", NULL,
		    api ? (uint64_t)pc_api_streams((struct pc_api *)api) : 0);
	if (api && api->front) {
		struct pc_front_stats s;
		const char *all[] = {"reason", "max_connections", NULL};
		const char *one[] = {"reason", "max_connections_per_address",
				     NULL};

		pc_front_stats(api->front, &s);
		pc_prom_family(b, "portcullis_api_connections", "gauge",
			       "TCP connections to the API open now.");
		pc_prom_u64(b, "portcullis_api_connections", NULL,
			    s.connections);
		pc_prom_family(b, "portcullis_api_connections_refused_total",
			       "counter",
			       "TCP connections closed at accept, by the limit "
			       "they hit.");
		pc_prom_u64(b, "portcullis_api_connections_refused_total", all,
			    s.refused);
		pc_prom_u64(b, "portcullis_api_connections_refused_total", one,
			    s.refused_per_address);
		pc_prom_family(b, "portcullis_api_request_timeouts_total",
			       "counter",
			       "TCP connections closed for a request that did "
			       "not arrive whole within request_timeout.");
		pc_prom_u64(b, "portcullis_api_request_timeouts_total", NULL,
			    s.request_timeouts);
	}
}

/*
 * A browser's request from another site's page: refused before anything
 * else, so no page elsewhere can drive the API with what the browser
 * holds.  Tokens travel in a header no cross-site page can set without a
 * preflight this API never grants, and the API sets no cookie; this is
 * the second lock.  Clients that are not browsers send neither header.
 */
static int cross_origin(struct evhttp_request *req, const char **why)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *origin = evhttp_find_header(in, "Origin");
	const char *host = evhttp_find_header(in, "Host");
	const char *site = evhttp_find_header(in, "Sec-Fetch-Site");

	if (site && strcmp(site, "same-origin") && strcmp(site, "none")) {
		*why = "Sec-Fetch-Site";
		return 1;
	}
	if (!origin)
		return 0;
	*why = "Origin";
	if (!strncmp(origin, "https://", 8))
		origin += 8;
	else if (!strncmp(origin, "http://", 7))
		origin += 7;
	else
		return 1; /* "null", or a scheme no page of ours has */
	return !host || strcasecmp(origin, host);
}

/*
 * GET / and /ui: to the console; GET /ui/NAME: its file.  1 when the
 * request was answered here.
 */
static int serve_console(struct pc_api *api, struct evhttp_request *req,
			 const char *path, const char *method)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const struct pc_console_file *f;
	const char *tag;
	struct evbuffer *out;
	int code;

	if (!api->console)
		return 0;
	if (!strcmp(path, "/") || !strcmp(path, "/ui")) {
		if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD)
			return 0; /* the router's 404 or 405 */
		common_headers(req, 1);
		evhttp_add_header(h, "Location", PC_CONSOLE_PREFIX);
		evhttp_send_reply(req, 302, "Found", NULL);
		count_request(api, method, PC_CONSOLE_PREFIX, 302);
		return 1;
	}
	if (strncmp(path, PC_CONSOLE_PREFIX, strlen(PC_CONSOLE_PREFIX)))
		return 0;
	common_headers(req, 1);
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(h, "Allow", "GET, HEAD");
		evhttp_send_reply(req, code = 405, "Method Not Allowed", NULL);
	} else if (!(f = pc_console_find(api->console, path))) {
		evhttp_send_reply(req, code = 404, "Not Found", NULL);
	} else if ((tag = evhttp_find_header(
			    evhttp_request_get_input_headers(req),
			    "If-None-Match")) &&
		   !strcmp(tag, f->etag)) {
		evhttp_add_header(h, "ETag", f->etag);
		evhttp_send_reply(req, code = 304, "Not Modified", NULL);
	} else if (!(out = evbuffer_new())) {
		evhttp_send_reply(req, code = 500, "Internal Server Error",
				  NULL);
	} else {
		char len[24];

		evhttp_add_header(h, "Content-Type", f->type);
		evhttp_add_header(h, "ETag", f->etag);
		snprintf(len, sizeof(len), "%zu", f->len);
		evhttp_add_header(h, "Content-Length", len);
		/* the table outlives every reply: no copy.  (evhttp 2.1
		 * would send a HEAD's body too) */
		if (cmd == EVHTTP_REQ_GET)
			evbuffer_add_reference(out, f->data, f->len, NULL,
					       NULL);
		evhttp_send_reply(req, code = 200, "OK", out);
		evbuffer_free(out);
	}
	count_request(api, method, PC_CONSOLE_PREFIX, code);
	return 1;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct pc_api *api = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *ctype = evhttp_find_header(
		evhttp_request_get_input_headers(req), "Content-Type");
	struct pc_api_caller who;
	char name[96], peer[64];
	json_t *out = NULL;
	struct evbuffer *raw;
	char *body;
	int code;
	const char *method = method_name(evhttp_request_get_command(req));
	const char *route = pc_api_route_name(path);
	const char *why;

	/* the console's files first: a link from another site's page (a
	 * dashboard, a wiki) must open them; they hold no secret */
	if (path && serve_console(api, req, path, method))
		return;
	if (cross_origin(req, &why)) {
		char msg[96];

		snprintf(msg, sizeof(msg),
			 "cross-origin request refused (%s): the API answers "
			 "its own pages only",
			 why);
		out = json_pack("{s:s, s:s}", "error", msg, "field", why);
		send_json(req, 403, out);
		json_decref(out);
		count_request(api, method, "-", 403);
		return;
	}
	code = authenticate(api, req, &who, name, sizeof(name), peer,
			    sizeof(peer), &out);
	if (code) {
		if (code == 401)
			evhttp_add_header(
				evhttp_request_get_output_headers(req),
				"WWW-Authenticate",
				"Bearer realm=\"portcullis\"");
		send_json(req, code, out);
		json_decref(out);
		/* (no route: a stranger must not spread the series) */
		count_request(api, method, "-", code);
		return;
	}
	for (size_t i = 0; path && i < PC_ARRAY_SIZE(raw_routes); i++) {
		if (strcmp(path, raw_routes[i].path) ||
		    evhttp_request_get_command(req) != EVHTTP_REQ_GET)
			continue;
		if (who.role >= PC_ROLE_VIEWER) {
			code = raw_routes[i].fn(api, req,
						evhttp_uri_get_query(uri));
			count_request(api, method, route, code);
			return;
		}
		out = json_pack("{s:s, s:s}", "error",
				"authentication required: send "
				"Authorization: Bearer TOKEN",
				"field", "Authorization");
		send_json(req, 401, out);
		json_decref(out);
		count_request(api, method, "-", 401);
		return;
	}
	body = malloc(len + 1);
	if (!body) {
		evhttp_send_error(req, 500, NULL);
		count_request(api, method, route, 500);
		return;
	}
	evbuffer_copyout(in, body, len);
	body[len] = '\0';
	raw = evbuffer_new();
	code = raw ? pc_api_handle(&api->be, &who, method, path ? path : "/",
				   uri ? evhttp_uri_get_query(uri) : NULL,
				   ctype, body, len, &out, raw)
		   : 500;
	free(body);
	if (code == 401)
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "WWW-Authenticate",
				  "Bearer realm=\"portcullis\"");
	if (out)
		send_json(req, code, out);
	else /* the route wrote its JSON itself */
		send_json_text(req, code, raw);
	if (raw)
		evbuffer_free(raw);
	count_request(api, method, code == 401 ? "-" : route, code);
	pc_debug("api: %s %s by %s -> %d", method, path ? path : "/",
		 who.name[0] ? who.name : "anonymous", code);
	json_decref(out);
}

static int listen_unix(struct pc_api *api, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char *dir;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		pc_error("failed to listen on 'unix:%s': path too long", path);
		return -ENAMETOOLONG;
	}
	/* both as long as sun_path: the length is checked above */
	memcpy(sa.sun_path, path, strlen(path) + 1);
	memcpy(api->unix_path, path, strlen(path) + 1);
	dir = pc_strdup(path);
	*strrchr(dir, '/') = '\0';
	if (*dir)
		pc_mkdir_p(dir, 0755);
	free(dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path); /* a stale socket of a dead daemon */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(path, 0600) ||
	    listen(fd, 64)) {
		int err = -errno;

		pc_error("failed to listen on 'unix:%s': %s", path,
			 strerror(errno));
		close(fd);
		return err;
	}
	return fd;
}

/*
 * The front's relay target: a socket in a fresh 0700 directory, so only
 * root reaches evhttp without the front (and the pid check in peer_of
 * tells the front's relays from root's own connections).
 */
static int listen_internal(struct pc_api *api, unsigned int backlog)
{
	static const char *const bases[] = {"/run/portcullis", "/tmp"};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	for (size_t i = 0; i < PC_ARRAY_SIZE(bases); i++) {
		pc_mkdir_p(bases[i], 0755);
		snprintf(api->relay_dir, sizeof(api->relay_dir),
			 "%s/relay.XXXXXX", bases[i]);
		if (mkdtemp(api->relay_dir))
			break;
		api->relay_dir[0] = '\0';
	}
	if (!api->relay_dir[0]) {
		pc_error("failed to make a directory for the API's relay "
			 "socket in /run/portcullis or /tmp: %s",
			 strerror(errno));
		return -errno;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/api.sock",
		 api->relay_dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(fd, (int)backlog)) {
		int err = -errno;

		pc_error("failed to listen on '%s': %s", sa.sun_path,
			 strerror(errno));
		close(fd);
		return err;
	}
	memcpy(api->relay_path, sa.sun_path, sizeof(sa.sun_path));
	return fd;
}

static int serve(struct pc_api *api, struct event_base *base, int fd)
{
	struct evhttp_bound_socket *b =
		evhttp_accept_socket_with_handle(api->http, fd);

	/* on failure the fd may be closed already (libevent 2.1): leave it */
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < PC_ARRAY_SIZE(api->guards); i++)
		if (!api->guards[i]) {
			api->guards[i] = pc_listen_guard(
				base, evhttp_bound_socket_get_listener(b));
			break;
		}
	return 0;
}

static int open_listeners(struct pc_api *api, struct event_base *base,
			  const struct pc_api_opts *o)
{
	size_t tcp = 0;
	int fd, rc;

	for (size_t i = 0; i < o->nlisten; i++) {
		if (strncmp(o->listen[i], "unix:", 5)) {
			tcp++;
			continue;
		}
		if (api->unix_path[0]) {
			pc_error("failed to listen on '%s': one unix socket "
				 "only",
				 o->listen[i]);
			return -EINVAL;
		}
		if ((fd = listen_unix(api, o->listen[i] + 5)) < 0)
			return fd;
		if ((rc = serve(api, base, fd)))
			return rc;
	}
	if (!tcp)
		return 0;
	fd = listen_internal(api, (o->max_connections
					   ? o->max_connections
					   : PC_API_DEFAULT_MAX_CONNECTIONS) +
					  16);
	if (fd < 0)
		return fd;
	if ((rc = pc_front_start(base, o, fd, &api->front))) {
		close(fd);
		return rc;
	}
	return serve(api, base, fd);
}

int pc_api_start(struct event_base *base, const struct pc_api_opts *o,
		 const struct pc_api_backend *be, struct pc_api **out)
{
	struct pc_api *api = pc_xcalloc(1, sizeof(*api));
	int rc;

	*out = NULL;
	api->be = *be;
	api->trust_local_root = o->trust_local_root;
	api->http = evhttp_new(base);
	if (!api->http) {
		free(api);
		return -ENOMEM;
	}
	evhttp_set_max_body_size(api->http, PC_API_MAX_BODY);
	evhttp_set_max_headers_size(api->http, PC_API_MAX_HEADERS);
	evhttp_set_timeout(api->http, o->request_timeout_s
					      ? (int)o->request_timeout_s
					      : PC_API_TIMEOUT_S);
	/* every method reaches the router, which answers 405 in JSON */
	evhttp_set_allowed_methods(api->http, 0xffff);
	evhttp_set_gencb(api->http, on_request, api);
	if ((o->console_dir &&
	     (rc = pc_console_load(o->console_dir, &api->console))) ||
	    (rc = open_listeners(api, base, o))) {
		pc_api_stop(api);
		return rc;
	}
	api->keepalive = event_new(base, -1, EV_PERSIST, on_keepalive, api);
	if (api->keepalive) {
		struct timeval tv = {PC_STREAM_KEEPALIVE_S, 0};

		event_add(api->keepalive, &tv);
	}
	*out = api;
	return 0;
}

int pc_api_tls_load(struct pc_api *api, const struct pc_api_tls *tls,
		    struct pc_tls_ctx **out)
{
	return pc_front_tls_load(api->front, tls, out);
}

void pc_api_tls_use(struct pc_api *api, struct pc_tls_ctx *t)
{
	pc_front_tls_use(api->front, t);
}

void pc_api_tls_drop(struct pc_tls_ctx *t)
{
	pc_front_tls_drop(t);
}

json_t *pc_api_stats(const struct pc_api *api)
{
	json_t *j = json_pack("{s:I, s:I}", "auth_failures",
			      (json_int_t)api->fails_total, "event_streams",
			      (json_int_t)pc_api_streams(api));
	struct pc_front_stats s;

	if (!j || !api->front)
		return j;
	pc_front_stats(api->front, &s);
	json_object_set_new(
		j, "tcp",
		json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			  "connections", (json_int_t)s.connections,
			  "max_connections", (json_int_t)s.max_connections,
			  "max_connections_per_address",
			  (json_int_t)s.max_per_address, "accepted",
			  (json_int_t)s.accepted, "refused",
			  (json_int_t)s.refused, "refused_per_address",
			  (json_int_t)s.refused_per_address, "request_timeouts",
			  (json_int_t)s.request_timeouts,
			  "tls_handshake_failures",
			  (json_int_t)s.handshake_failures,
			  "client_certs_rejected",
			  (json_int_t)s.cert_rejected));
	return j;
}

void pc_api_stop(struct pc_api *api)
{
	if (!api)
		return;
	if (api->keepalive)
		event_free(api->keepalive);
	pc_front_stop(api->front); /* the relays first: evhttp sees EOF */
	evhttp_free(api->http); /* closes the streams (their close callbacks) */
	for (size_t i = 0; i < PC_ARRAY_SIZE(api->guards); i++)
		pc_listen_guard_free(api->guards[i]);
	if (api->relay_path[0])
		unlink(api->relay_path);
	if (api->relay_dir[0])
		rmdir(api->relay_dir);
	if (api->unix_path[0])
		unlink(api->unix_path);
	pc_console_free(api->console);
	free(api);
}

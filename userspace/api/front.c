// SPDX-License-Identifier: Apache-2.0
/* The API's TCP front: listeners, connection limit, TLS, relay to evhttp. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/x509_crt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "front.h"

#define HANDSHAKE_TIMEOUT_S 10 /* from accept: a deadline, not idle time */
#define WRITE_TIMEOUT_S 60
#define LINGER_S 2 /* reading what a client still sends, after our answer */
/* relay buffers: stop reading one side while the other holds this much */
#define RELAY_HIGH (1u << 20)
#define RELAY_LOW (256u << 10)

/* Certificates, key and settings; connections hold a reference, so a
 * reload swaps them without disturbing open connections. */
struct pc_tls_ctx {
	unsigned int refs;
	mbedtls_ssl_config conf;
	mbedtls_x509_crt cert, ca;
	mbedtls_pk_context key;
	mbedtls_ssl_cache_context cache;
	enum pc_client_auth client_auth;
	struct pc_cert_role *roles;
	size_t nroles;
};

struct conn {
	struct pc_front *f;
	struct conn *prev, *next;
	struct bufferevent *net; /* the TCP client */
	struct bufferevent *app; /* our relay socket to evhttp */
	struct pc_tls_ctx *tls;	 /* NULL: plain TCP */
	mbedtls_ssl_context ssl;
	enum {
		HANDSHAKE,   /* TLS only, until the deadline */
		RELAY,	     /* both ways */
		CLIENT_DONE, /* the client sent all it will; answers go on */
		CLOSING,     /* evhttp is done: flush, linger, free */
	} state;
	int shut_app;	    /* CLIENT_DONE: shut the relay once flushed */
	int awaiting;	    /* a request has begun, its answer not */
	uint8_t origin[16]; /* whose connection it counts as (same_origin) */
	struct event *deadline; /* of the handshake, then of each request */
	struct sockaddr_un name;
	socklen_t namelen;
	struct pc_front_peer peer;
};

struct pc_front {
	struct event_base *base;
	struct evconnlistener *listeners[PC_API_MAX_LISTEN];
	struct pc_listen_guard *guards[PC_API_MAX_LISTEN];
	size_t nlisteners;
	struct sockaddr_un internal;
	socklen_t internal_len;
	struct pc_tls_ctx *tls;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	int rng_ready;
	struct conn *conns;
	unsigned int nconns, max_conns, max_per_address, request_timeout_s;
	unsigned long accepted, refused, handshake_failures, cert_rejected;
	unsigned long refused_per_address, request_timeouts;
	time_t last_warn;
	unsigned long quiet; /* warnings not logged since last_warn */
};

/* TLS 1.2 with forward secrecy and AEAD only. */
static const int suites[] = {
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	0,
};

/* At most one warning a second about clients, so a flood cannot fill
 * the log; what was held back is counted in the next one. */
__attribute__((format(printf, 2, 3))) static void
client_warn(struct pc_front *f, const char *fmt, ...)
{
	time_t now = time(NULL);
	char msg[256];
	va_list ap;

	if (now == f->last_warn) {
		f->quiet++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (f->quiet)
		pc_warn("%s (and %lu more like it)", msg, f->quiet);
	else
		pc_warn("%s", msg);
	f->last_warn = now;
	f->quiet = 0;
}

static void tls_error(int rc, char *buf, size_t len)
{
	mbedtls_strerror(rc, buf, len);
}

/* ---- TLS settings -------------------------------------------------------- */

static void tls_unref(struct pc_tls_ctx *t)
{
	if (!t || --t->refs)
		return;
	mbedtls_ssl_config_free(&t->conf);
	mbedtls_x509_crt_free(&t->cert);
	mbedtls_x509_crt_free(&t->ca);
	mbedtls_pk_free(&t->key);
	mbedtls_ssl_cache_free(&t->cache);
	for (size_t i = 0; i < t->nroles; i++)
		free(t->roles[i].cn);
	free(t->roles);
	free(t);
}

static int tls_fail(const char *what, const char *path, int rc)
{
	char why[160];

	tls_error(rc, why, sizeof(why));
	pc_error("failed to load TLS %s '%s': %s", what, path, why);
	return -EINVAL;
}

/* drbg may be NULL for a check that never handshakes. */
static struct pc_tls_ctx *tls_load(mbedtls_ctr_drbg_context *drbg,
				   const struct pc_api_tls *o)
{
	struct pc_tls_ctx *t = pc_xcalloc(1, sizeof(*t));
	struct stat st;
	int rc;

	t->refs = 1;
	mbedtls_ssl_config_init(&t->conf);
	mbedtls_x509_crt_init(&t->cert);
	mbedtls_x509_crt_init(&t->ca);
	mbedtls_pk_init(&t->key);
	mbedtls_ssl_cache_init(&t->cache);
	if ((rc = mbedtls_x509_crt_parse_file(&t->cert, o->cert))) {
		tls_fail("certificate", o->cert, rc);
		goto fail;
	}
	if ((rc = mbedtls_pk_parse_keyfile(&t->key, o->key, NULL))) {
		tls_fail("key", o->key, rc);
		goto fail;
	}
	if (!stat(o->key, &st) && (st.st_mode & 077))
		pc_warn("TLS key '%s' is readable by others (mode %03o); "
			"chmod 600 it",
			o->key, st.st_mode & 0777);
	if (o->client_ca &&
	    (rc = mbedtls_x509_crt_parse_file(&t->ca, o->client_ca))) {
		tls_fail("client CA", o->client_ca, rc);
		goto fail;
	}
	rc = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_SERVER,
					 MBEDTLS_SSL_TRANSPORT_STREAM,
					 MBEDTLS_SSL_PRESET_DEFAULT);
	if (!rc)
		rc = mbedtls_ssl_conf_own_cert(&t->conf, &t->cert, &t->key);
	if (rc) {
		char why[160];

		tls_error(rc, why, sizeof(why));
		pc_error("failed to use TLS certificate '%s' with key '%s': %s",
			 o->cert, o->key, why);
		goto fail;
	}
	if (drbg)
		mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, drbg);
	mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
				     MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_ciphersuites(&t->conf, suites);
	mbedtls_ssl_conf_session_cache(&t->conf, &t->cache,
				       mbedtls_ssl_cache_get,
				       mbedtls_ssl_cache_set);
	t->client_auth = o->client_ca ? o->client_auth : PC_CLIENT_AUTH_NONE;
	if (t->client_auth != PC_CLIENT_AUTH_NONE)
		mbedtls_ssl_conf_ca_chain(&t->conf, &t->ca, NULL);
	mbedtls_ssl_conf_authmode(&t->conf,
				  t->client_auth == PC_CLIENT_AUTH_REQUIRED
					  ? MBEDTLS_SSL_VERIFY_REQUIRED
				  : t->client_auth == PC_CLIENT_AUTH_OPTIONAL
					  ? MBEDTLS_SSL_VERIFY_OPTIONAL
					  : MBEDTLS_SSL_VERIFY_NONE);
	t->roles = pc_xcalloc(o->nroles + 1, sizeof(*t->roles));
	for (size_t i = 0; i < o->nroles; i++) {
		t->roles[i].cn = pc_strdup(o->roles[i].cn);
		t->roles[i].role = o->roles[i].role;
		t->nroles++;
	}
	return t;
fail:
	tls_unref(t);
	return NULL;
}

int pc_front_tls_load(struct pc_front *f, const struct pc_api_tls *o,
		      struct pc_tls_ctx **out)
{
	*out = NULL;
	if (!f || !f->tls || !o)
		return 0;
	return (*out = tls_load(&f->drbg, o)) ? 0 : -EINVAL;
}

void pc_front_tls_use(struct pc_front *f, struct pc_tls_ctx *t)
{
	if (!t)
		return;
	tls_unref(f->tls);
	f->tls = t;
}

void pc_front_tls_drop(struct pc_tls_ctx *t)
{
	tls_unref(t);
}

int pc_api_tls_check(const struct pc_api_tls *tls)
{
	struct pc_tls_ctx *t = tls_load(NULL, tls);

	tls_unref(t);
	return t ? 0 : -EINVAL;
}

/* ---- connections --------------------------------------------------------- */

static void conn_free(struct conn *c)
{
	struct pc_front *f = c->f;

	if (c->prev)
		c->prev->next = c->next;
	else
		f->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->app)
		bufferevent_free(c->app);
	bufferevent_free(c->net);
	if (c->deadline)
		event_free(c->deadline);
	if (c->tls) {
		mbedtls_ssl_free(&c->ssl);
		tls_unref(c->tls);
	}
	f->nconns--;
	free(c);
}

static int bio_send(void *arg, const unsigned char *buf, size_t len)
{
	struct conn *c = arg;

	/* never WANT_WRITE: the relay's back-pressure bounds the buffer */
	if (evbuffer_add(bufferevent_get_output(c->net), buf, len))
		return MBEDTLS_ERR_SSL_ALLOC_FAILED;
	return (int)len;
}

static int bio_recv(void *arg, unsigned char *buf, size_t len)
{
	struct conn *c = arg;
	int n = evbuffer_remove(bufferevent_get_input(c->net), buf, len);

	return n > 0 ? n : MBEDTLS_ERR_SSL_WANT_READ;
}

static void app_read(struct bufferevent *bev, void *arg);
static void app_write(struct bufferevent *bev, void *arg);
static void app_event(struct bufferevent *bev, short what, void *arg);

/* Our own relay socket to evhttp, autobound to a unique abstract name. */
static int connect_app(struct conn *c)
{
	struct pc_front *f = c->f;
	sa_family_t fam = AF_UNIX;
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	c->namelen = sizeof(c->name);
	if (bind(fd, (struct sockaddr *)&fam, sizeof(fam)) ||
	    getsockname(fd, (struct sockaddr *)&c->name, &c->namelen) ||
	    connect(fd, (struct sockaddr *)&f->internal, f->internal_len)) {
		int err = -errno;

		pc_warn("api: failed to relay a connection from %s: %s",
			c->peer.addr, strerror(errno));
		close(fd);
		return err;
	}
	c->app = bufferevent_socket_new(f->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->app) {
		close(fd);
		return -ENOMEM;
	}
	bufferevent_setcb(c->app, app_read, app_write, app_event, c);
	bufferevent_setwatermark(c->app, EV_WRITE, RELAY_LOW, 0);
	bufferevent_enable(c->app, EV_READ | EV_WRITE);
	c->state = RELAY;
	return 0;
}

/* The certificate's common name, if it is one printable ASCII string
 * that fits; else "" (such a certificate maps to no role). */
static void cert_cn(const mbedtls_x509_crt *crt, char *out, size_t len)
{
	out[0] = '\0';
	for (const mbedtls_x509_name *n = &crt->subject; n; n = n->next) {
		if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid))
			continue;
		if (n->val.len >= len)
			return;
		for (size_t i = 0; i < n->val.len; i++)
			if (n->val.p[i] < 0x20 || n->val.p[i] > 0x7e)
				return;
		memcpy(out, n->val.p, n->val.len);
		out[n->val.len] = '\0';
		return;
	}
}

/* After the handshake: whom does the client certificate (if any) name? */
static int check_client(struct conn *c)
{
	const mbedtls_x509_crt *crt = mbedtls_ssl_get_peer_cert(&c->ssl);
	uint32_t flags = mbedtls_ssl_get_verify_result(&c->ssl);

	if (c->tls->client_auth == PC_CLIENT_AUTH_NONE || !crt)
		return 0;
	if (flags) {
		char why[256];

		mbedtls_x509_crt_verify_info(why, sizeof(why), "", flags);
		why[strcspn(why, "\n")] = '\0';
		c->f->cert_rejected++;
		client_warn(c->f,
			    "api: client certificate from %s rejected: %s",
			    c->peer.addr, why);
		return -EACCES;
	}
	cert_cn(crt, c->peer.cert, sizeof(c->peer.cert));
	for (size_t i = 0; c->peer.cert[0] && i < c->tls->nroles; i++)
		if (!strcmp(c->tls->roles[i].cn, c->peer.cert))
			c->peer.role = c->tls->roles[i].role;
	if (c->peer.role == PC_ROLE_NONE)
		pc_info("api: client certificate CN=%s from %s maps to no "
			"role; it needs a token",
			c->peer.cert, c->peer.addr);
	return 0;
}

static int handshake(struct conn *c)
{
	struct timeval wtv = {WRITE_TIMEOUT_S, 0};
	int rc = mbedtls_ssl_handshake(&c->ssl);

	if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
		return 1;
	if (rc) {
		char why[160];

		tls_error(rc, why, sizeof(why));
		c->f->handshake_failures++;
		client_warn(c->f, "api: TLS handshake with %s failed: %s",
			    c->peer.addr, why);
		return -EPROTO;
	}
	if ((rc = check_client(c)) || (rc = connect_app(c)))
		return rc;
	evtimer_del(c->deadline); /* from now on, each request's */
	/* evhttp times out idle requests; the front only gives up on a
	 * client that takes nothing for a minute */
	bufferevent_set_timeouts(c->net, NULL, &wtv);
	return 0;
}

/* The client will send nothing more (EOF, close_notify): pass on what it
 * sent, then shut the relay for writing so evhttp sees the end, and keep
 * relaying its answers. */
static void client_done(struct conn *c)
{
	bufferevent_disable(c->net, EV_READ);
	c->state = CLIENT_DONE;
	if (evbuffer_get_length(bufferevent_get_output(c->app))) {
		c->shut_app = 1; /* app_write, once flushed */
		bufferevent_setwatermark(c->app, EV_WRITE, 0, 0);
		return;
	}
	shutdown(bufferevent_getfd(c->app), SHUT_WR);
}

/* Our answer is out: close for writing, then read and drop what the
 * client still sends until it closes or LINGER_S pass, so that closing
 * with unread input (a body after a 413) does not reset the connection
 * and lose the answer on the way. */
static void linger(struct conn *c)
{
	struct timeval tv = {LINGER_S, 0};

	shutdown(bufferevent_getfd(c->net), SHUT_WR);
	bufferevent_set_timeouts(c->net, &tv, NULL);
	bufferevent_enable(c->net, EV_READ);
}

/*
 * Client bytes while no request is pending begin one, which must arrive
 * whole within request_timeout (the server says when it has, or the
 * answer starting says so): evhttp's own timeout is idle time, which a
 * client trickling a byte at a time (slowloris) never runs out of.
 */
static void request_starts(struct conn *c)
{
	struct timeval tv = {c->f->request_timeout_s, 0};

	if (c->awaiting)
		return;
	c->awaiting = 1;
	evtimer_add(c->deadline, &tv);
}

static void request_over(struct conn *c)
{
	if (!c->awaiting)
		return;
	c->awaiting = 0;
	evtimer_del(c->deadline);
}

/* Client → evhttp: decrypt what arrived into the relay. */
static void net_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	unsigned char buf[16384];
	int n;

	if (c->state == CLOSING) {
		evbuffer_drain(bufferevent_get_input(bev),
			       evbuffer_get_length(bufferevent_get_input(bev)));
		return;
	}
	if (c->state == HANDSHAKE) {
		int rc = handshake(c);

		if (rc > 0)
			return;
		if (rc) {
			conn_free(c);
			return;
		}
	}
	if (!c->tls) {
		if (evbuffer_get_length(bufferevent_get_input(c->net)))
			request_starts(c);
		bufferevent_write_buffer(c->app, bufferevent_get_input(c->net));
	} else {
		while ((n = mbedtls_ssl_read(&c->ssl, buf, sizeof(buf))) > 0) {
			request_starts(c);
			bufferevent_write(c->app, buf, (size_t)n);
		}
		if (n == 0 || n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
			client_done(c);
			return;
		}
		if (n != MBEDTLS_ERR_SSL_WANT_READ) {
			conn_free(c); /* a broken or hostile record */
			return;
		}
	}
	if (evbuffer_get_length(bufferevent_get_output(c->app)) > RELAY_HIGH)
		bufferevent_disable(c->net, EV_READ);
}

/* The client took some of what we queued. */
static void net_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->state == CLOSING) {
		if (!evbuffer_get_length(bufferevent_get_output(bev)) &&
		    !(bufferevent_get_enabled(bev) & EV_READ))
			linger(c);
		return;
	}
	if (c->state != HANDSHAKE &&
	    !(bufferevent_get_enabled(c->app) & EV_READ)) {
		bufferevent_enable(c->app, EV_READ);
		app_read(c->app, c);
	}
}

static void net_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (c->state == RELAY && (what & BEV_EVENT_EOF) &&
	    !(what & BEV_EVENT_ERROR)) {
		/* a half-close: what it sent may still be answered */
		if (!c->tls)
			bufferevent_write_buffer(c->app,
						 bufferevent_get_input(c->net));
		client_done(c);
		return;
	}
	conn_free(c); /* gone, failed, timed out, or done lingering */
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd, (void)what;
	if (c->state == HANDSHAKE) {
		c->f->handshake_failures++;
		client_warn(c->f, "api: TLS handshake with %s took over %d s",
			    c->peer.addr, HANDSHAKE_TIMEOUT_S);
	} else {
		c->f->request_timeouts++;
		client_warn(c->f,
			    "api: closed the connection of %s: no whole "
			    "request in %u s (request_timeout)",
			    c->peer.addr, c->f->request_timeout_s);
	}
	conn_free(c);
}

/* Relay → client (in: what came from evhttp), encrypted when TLS: while
 * the client's buffer has room, or all of it when flush.  0, or -EIO when
 * TLS failed. */
static int relay_out(struct conn *c, struct evbuffer *in, int flush)
{
	struct evbuffer *out = bufferevent_get_output(c->net);
	size_t len;

	if (!c->tls) {
		evbuffer_add_buffer(out, in);
		return 0;
	}
	while ((len = evbuffer_get_length(in)) &&
	       (flush || evbuffer_get_length(out) <= RELAY_HIGH)) {
		size_t n = len < 16384 ? len : 16384;
		int w = mbedtls_ssl_write(&c->ssl,
					  evbuffer_pullup(in, (ssize_t)n), n);

		if (w <= 0)
			return -EIO;
		evbuffer_drain(in, (size_t)w);
	}
	return 0;
}

static void app_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (evbuffer_get_length(bufferevent_get_input(bev)))
		request_over(c);
	if (relay_out(c, bufferevent_get_input(bev), 0)) {
		conn_free(c);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(c->net)) > RELAY_HIGH)
		bufferevent_disable(bev, EV_READ);
}

/* The relay took some of what the client sent. */
static void app_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->state == CLIENT_DONE) {
		if (c->shut_app &&
		    !evbuffer_get_length(bufferevent_get_output(bev))) {
			c->shut_app = 0;
			shutdown(bufferevent_getfd(bev), SHUT_WR);
		}
		return;
	}
	if (!(bufferevent_get_enabled(c->net) & EV_READ)) {
		bufferevent_enable(c->net, EV_READ);
		net_read(c->net, c);
	}
}

/* evhttp closed its end: pass on what it said, then close ours. */
static void app_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *rest;
	int rc;

	(void)what;
	request_over(c); /* or evhttp gave up on it: either way, done */
	/* what back-pressure held back goes too: an answer is never cut */
	if (relay_out(c, bufferevent_get_input(bev), 1)) {
		conn_free(c);
		return;
	}
	/* a failed write (evhttp closed on unread input, after a 413) is
	 * reported before the rest of its answer is read: read it now (not
	 * into the bufferevent's input, whose end libevent keeps frozen) */
	if ((rest = evbuffer_new())) {
		while (evbuffer_read(rest, bufferevent_getfd(bev), 65536) > 0)
			;
		rc = relay_out(c, rest, 1);
		evbuffer_free(rest);
		if (rc) {
			conn_free(c);
			return;
		}
	}
	if (c->tls)
		mbedtls_ssl_close_notify(&c->ssl);
	bufferevent_free(c->app);
	c->app = NULL;
	c->state = CLOSING;
	bufferevent_disable(c->net, EV_READ);
	if (!evbuffer_get_length(bufferevent_get_output(c->net))) {
		linger(c);
		return;
	}
	bufferevent_setwatermark(c->net, EV_WRITE, 0, 0);
}

static void peer_name(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *a =
		sa->sa_family == AF_INET6
			? (const void *)&((const struct sockaddr_in6 *)sa)
				  ->sin6_addr
			: (const void *)&((const struct sockaddr_in *)sa)
				  ->sin_addr;

	if (!inet_ntop(sa->sa_family, a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

/*
 * Whose connection this is, for max_connections_per_address: the IPv4
 * address, or an IPv6 address's /64 (one host is given a /64 and may use
 * any address in it), in IPv6 form.
 */
static void origin_of(const struct sockaddr *sa, uint8_t out[16])
{
	memset(out, 0, 16);
	if (sa->sa_family == AF_INET6) {
		const uint8_t *a =
			((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		static const uint8_t v4mapped[12] = {[10] = 0xff, [11] = 0xff};

		/* (an IPv4 client on a dual-stack socket: its address) */
		memcpy(out, a, memcmp(a, v4mapped, 12) ? 8 : 16);
	} else {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr,
		       4);
	}
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	struct pc_front *f = arg;
	struct timeval htv = {HANDSHAKE_TIMEOUT_S, 0};
	struct timeval wtv = {WRITE_TIMEOUT_S, 0};
	char addr[sizeof(((struct pc_front_peer *)0)->addr)];
	uint8_t origin[16];
	unsigned int same = 0;
	struct conn *c;
	int one = 1, rc;

	(void)l, (void)salen;
	if (f->nconns >= f->max_conns) {
		peer_name(sa, addr, sizeof(addr));
		f->refused++;
		client_warn(f,
			    "api: refused a connection from %s: %u "
			    "connections open (max_connections)",
			    addr, f->nconns);
		close(fd);
		return;
	}
	peer_name(sa, addr, sizeof(addr));
	origin_of(sa, origin);
	for (const struct conn *o = f->conns; o; o = o->next)
		same += !memcmp(o->origin, origin, sizeof(origin));
	if (same >= f->max_per_address) {
		f->refused_per_address++;
		client_warn(f,
			    "api: refused a connection from %s: %u "
			    "connections open from %s "
			    "(max_connections_per_address)",
			    addr, same,
			    strchr(addr, ':') && !strchr(addr, '.') ? "its /64"
								    : "it");
		close(fd);
		return;
	}
	/* latency only: a connection without it still works */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = pc_xcalloc(1, sizeof(*c));
	c->f = f;
	memcpy(c->peer.addr, addr, sizeof(addr));
	memcpy(c->origin, origin, sizeof(origin));
	c->net = bufferevent_socket_new(f->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->net) {
		close(fd);
		free(c);
		return;
	}
	f->accepted++;
	f->nconns++;
	c->next = f->conns;
	if (f->conns)
		f->conns->prev = c;
	f->conns = c;
	bufferevent_setcb(c->net, net_read, net_write, net_event, c);
	bufferevent_setwatermark(c->net, EV_WRITE, RELAY_LOW, 0);
	if (f->tls) {
		c->tls = f->tls;
		c->tls->refs++;
		c->peer.tls = 1;
		mbedtls_ssl_init(&c->ssl);
		if ((rc = mbedtls_ssl_setup(&c->ssl, &c->tls->conf))) {
			char why[160];

			tls_error(rc, why, sizeof(why));
			pc_error("api: failed to set up TLS for %s: %s",
				 c->peer.addr, why);
			conn_free(c);
			return;
		}
		mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
		c->state = HANDSHAKE;
	}
	c->deadline = evtimer_new(f->base, on_deadline, c);
	if (!c->deadline ||
	    (c->tls ? evtimer_add(c->deadline, &htv) : connect_app(c))) {
		conn_free(c);
		return;
	}
	bufferevent_set_timeouts(c->net, NULL, &wtv);
	bufferevent_enable(c->net, EV_READ | EV_WRITE);
}

/* ---- listeners ----------------------------------------------------------- */

/*
 * Out of file descriptors, a listener would spin on accept: pause it for
 * a second instead, and say so (at most once a second).  The error
 * callback gets the accept callback's argument (evhttp's own, for its
 * listeners), so guards are found by listener.
 */
struct pc_listen_guard {
	struct evconnlistener *l;
	struct event *resume;
};

#define PC_MAX_GUARDS 16
static struct pc_listen_guard *guards[PC_MAX_GUARDS];
static time_t guard_warned;

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct pc_listen_guard *g = arg;

	(void)fd, (void)what;
	evconnlistener_enable(g->l);
}

static void on_listen_error(struct evconnlistener *l, void *arg)
{
	struct timeval tv = {1, 0};
	int err = errno;

	(void)arg;
	for (size_t i = 0; i < PC_MAX_GUARDS; i++) {
		if (!guards[i] || guards[i]->l != l)
			continue;
		evconnlistener_disable(l);
		evtimer_add(guards[i]->resume, &tv);
	}
	if (time(NULL) != guard_warned)
		pc_warn("api: accepting connections failed: %s; pausing for "
			"a second",
			strerror(err));
	guard_warned = time(NULL);
}

struct pc_listen_guard *pc_listen_guard(struct event_base *base,
					struct evconnlistener *l)
{
	struct pc_listen_guard *g;
	size_t i;

	for (i = 0; i < PC_MAX_GUARDS && guards[i]; i++)
		;
	if (i == PC_MAX_GUARDS)
		return NULL;
	g = pc_xcalloc(1, sizeof(*g));
	g->l = l;
	if (!(g->resume = evtimer_new(base, on_resume, g))) {
		free(g);
		return NULL;
	}
	guards[i] = g;
	evconnlistener_set_error_cb(l, on_listen_error);
	return g;
}

void pc_listen_guard_free(struct pc_listen_guard *g)
{
	for (size_t i = 0; g && i < PC_MAX_GUARDS; i++)
		if (guards[i] == g)
			guards[i] = NULL;
	if (g)
		event_free(g->resume);
	free(g);
}

int pc_front_parse_addr(const char *s, struct sockaddr_storage *ss,
			socklen_t *len, int *loopback)
{
	const char *colon = strrchr(s, ':');
	char host[64], *end;
	long port;

	memset(ss, 0, sizeof(*ss));
	if (!colon || (size_t)(colon - s) >= sizeof(host) || colon == s)
		return -EINVAL;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || !colon[1] || port <= 0 || port > 65535)
		return -EINVAL;
	if (s[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		if (colon[-1] != ']' || colon - s < 3)
			return -EINVAL;
		memcpy(host, s + 1, (size_t)(colon - s - 2));
		host[colon - s - 2] = '\0';
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return -EINVAL;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
		*loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
		return 0;
	}
	{
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -EINVAL;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*len = sizeof(*a);
		*loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	}
	return 0;
}

static int add_listener(struct pc_front *f, const char *addr)
{
	struct sockaddr_storage ss;
	struct evconnlistener *l;
	socklen_t len;
	int loopback;

	if (pc_front_parse_addr(addr, &ss, &len, &loopback)) {
		pc_error("failed to listen on '%s': expected IPV4:PORT or "
			 "[IPV6]:PORT",
			 addr);
		return -EINVAL;
	}
	if (!loopback && !f->tls) {
		pc_error(
			"refusing to serve the API without TLS on non-loopback "
			"address '%s' (set api.tls)",
			addr);
		return -EPERM;
	}
	if (f->nlisteners == PC_API_MAX_LISTEN)
		return -E2BIG;
	l = evconnlistener_new_bind(f->base, on_accept, f,
				    LEV_OPT_CLOSE_ON_FREE |
					    LEV_OPT_CLOSE_ON_EXEC |
					    LEV_OPT_REUSEABLE,
				    128, (struct sockaddr *)&ss, (int)len);
	if (!l) {
		pc_error("failed to listen on '%s': %s", addr, strerror(errno));
		return errno ? -errno : -EADDRINUSE;
	}
	f->guards[f->nlisteners] = pc_listen_guard(f->base, l);
	f->listeners[f->nlisteners++] = l;
	pc_info("api: listening on %s (%s)", addr,
		f->tls ? "TLS" : "plain, loopback");
	return 0;
}

int pc_front_start(struct event_base *base, const struct pc_api_opts *o,
		   int internal_fd, struct pc_front **out)
{
	struct pc_front *f = pc_xcalloc(1, sizeof(*f));
	static const char pers[] = "portcullis-api";
	int rc = 0;

	*out = NULL;
	f->base = base;
	f->max_conns = o->max_connections ? o->max_connections
					  : PC_API_DEFAULT_MAX_CONNECTIONS;
	f->max_per_address = o->max_per_address
				     ? o->max_per_address
				     : PC_API_DEFAULT_MAX_PER_ADDRESS;
	f->request_timeout_s =
		o->request_timeout_s ? o->request_timeout_s : PC_API_TIMEOUT_S;
	f->internal_len = sizeof(f->internal);
	if (getsockname(internal_fd, (struct sockaddr *)&f->internal,
			&f->internal_len)) {
		free(f);
		return -errno;
	}
	mbedtls_entropy_init(&f->entropy);
	mbedtls_ctr_drbg_init(&f->drbg);
	f->rng_ready = 1;
	if (o->tls) {
		if (mbedtls_ctr_drbg_seed(
			    &f->drbg, mbedtls_entropy_func, &f->entropy,
			    (const unsigned char *)pers, sizeof(pers) - 1)) {
			pc_error("failed to seed the TLS random generator");
			rc = -EIO;
		} else if (!(f->tls = tls_load(&f->drbg, o->tls))) {
			rc = -EINVAL;
		}
	}
	for (size_t i = 0; !rc && i < o->nlisten; i++)
		if (strncmp(o->listen[i], "unix:", 5))
			rc = add_listener(f, o->listen[i]);
	if (rc) {
		pc_front_stop(f);
		return rc;
	}
	*out = f;
	return 0;
}

void pc_front_stop(struct pc_front *f)
{
	if (!f)
		return;
	/* (each unlinks itself: next is read before it goes) */
	for (struct conn *c = f->conns, *next; c; c = next) {
		next = c->next;
		conn_free(c);
	}
	for (size_t i = 0; i < f->nlisteners; i++) {
		evconnlistener_free(f->listeners[i]);
		pc_listen_guard_free(f->guards[i]);
	}
	tls_unref(f->tls);
	if (f->rng_ready) {
		mbedtls_ctr_drbg_free(&f->drbg);
		mbedtls_entropy_free(&f->entropy);
	}
	free(f);
}

void pc_front_arrived(struct pc_front *f, const struct sockaddr_un *sa,
		      socklen_t len)
{
	for (struct conn *c = f ? f->conns : NULL; c; c = c->next)
		if (c->app && c->namelen == len && !memcmp(&c->name, sa, len)) {
			request_over(c);
			return;
		}
}

const struct pc_front_peer *pc_front_peer(const struct pc_front *f,
					  const struct sockaddr_un *sa,
					  socklen_t len)
{
	for (const struct conn *c = f ? f->conns : NULL; c; c = c->next)
		if (c->app && c->namelen == len && !memcmp(&c->name, sa, len))
			return &c->peer;
	return NULL;
}

void pc_front_stats(const struct pc_front *f, struct pc_front_stats *s)
{
	memset(s, 0, sizeof(*s));
	if (!f)
		return;
	s->connections = f->nconns;
	s->max_connections = f->max_conns;
	s->accepted = f->accepted;
	s->refused = f->refused;
	s->refused_per_address = f->refused_per_address;
	s->request_timeouts = f->request_timeouts;
	s->max_per_address = f->max_per_address;
	s->handshake_failures = f->handshake_failures;
	s->cert_rejected = f->cert_rejected;
}

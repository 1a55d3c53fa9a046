// SPDX-License-Identifier: Apache-2.0
/*
 * Health checks of load-balanced backends: each backend of the policy in
 * force is probed on its own timer (TCP connect, HTTP GET, UDP echo or
 * ICMP echo), with rise/fall hysteresis.  A transition rewrites the
 * backend's table in the data plane in one update, and is logged, audited
 * and published on the event stream.
 */
#include <ctype.h>
#include <errno.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "health.h"

#define HIST 64 /* transitions kept for the API */

struct target {
	struct pc_health_mgr *m;
	char *service;
	uint8_t addr[16];
	uint16_t port;		   /* the backend's (its identity with addr) */
	uint16_t probe_port;	   /* where the probe goes */
	size_t table, index;	   /* in the policy in force */
	const struct pc_health *h; /* in the policy in force */
	uint32_t interval_ms;	   /* the timer's, as last set */
	int up, succ, fail;
	uint32_t rtt_us;
	uint64_t checks, failures;
	uint64_t downs; /* transitions to down: failovers */
	time_t since;
	char why[96]; /* the last failure */
	int fd;
	/* the probe's own flow, entered in conntrack while it runs */
	int local;
	uint8_t local_addr[16], local_proto;
	uint16_t local_port, remote_port;
	int stage; /* http: 0 connecting, 1 reading the status line */
	uint16_t echo_id, seq; /* icmp: this target's own identifier */
	struct timespec start;
	struct event *timer, *io;
	char buf[128];
	size_t blen;
};

struct transition {
	time_t at;
	char service[64], backend[80], why[96];
	int up;
};

struct pc_health_mgr {
	struct event_base *base;
	struct pc_dp *dp;
	struct pc_store *store;
	struct pc_api *api;
	const struct pc_compiled *live;
	struct target **v;
	size_t n;
	struct transition hist[HIST];
	size_t nhist;	  /* ever; the last HIST are kept */
	uint16_t echo_id; /* the next target's ICMP identifier */
	int sweep_err;	  /* the last sweep's error, logged once */
	unsigned int sweep_tick;
};

static socklen_t sockaddr_of(const uint8_t addr[16], uint16_t port,
			     struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (pc_addr_is_v4(addr)) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		memcpy(&s->sin_addr, addr + 12, 4);
		return sizeof(*s);
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(port);
	memcpy(&s6->sin6_addr, addr, 16);
	return sizeof(*s6);
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Out of conntrack with the probe's flow (see close_probe). */
static void forget_flow(struct target *t)
{
	if (t->local) {
		pc_dp_local_flow(t->m->dp, t->local_proto, t->local_addr,
				 t->local_port, t->addr, t->remote_port, 0);
		t->local = 0;
	}
}

/*
 * The probe's socket closes; its flow stays in conntrack until the next
 * probe (or the target goes): what the backend still sends (the rest of
 * an HTTP answer, a greeting, its FIN) is its answer to the gateway, not
 * a packet to deny, log and show among the live denies.
 */
static void close_probe(struct target *t)
{
	if (t->io) {
		event_free(t->io);
		t->io = NULL;
	}
	if (t->fd >= 0) {
		close(t->fd);
		t->fd = -1;
	}
}

static void backend_name(const struct target *t, char *buf, size_t len)
{
	pc_backend_format(t->addr, t->port, buf, len);
}

static void transition(struct target *t)
{
	struct pc_health_mgr *m = t->m;
	struct transition *x = &m->hist[m->nhist++ % HIST];
	char b[80], detail[200];
	int err;

	backend_name(t, b, sizeof(b));
	t->since = time(NULL);
	if (!t->up)
		t->downs++;
	x->at = t->since;
	x->up = t->up;
	snprintf(x->service, sizeof(x->service), "%s", t->service);
	snprintf(x->backend, sizeof(x->backend), "%s", b);
	snprintf(x->why, sizeof(x->why), "%s", t->up ? "" : t->why);
	/* the table first: that is what moves new flows */
	err = m->live ? pc_dp_lb_refresh(m->dp, m->live, t->table) : -ENOENT;
	if (err)
		pc_error("backend %s of %s is %s, but its table could not be "
			 "rewritten: %s",
			 b, t->service, t->up ? "up" : "down", strerror(-err));
	if (t->up)
		pc_info("backend %s of service %s is up (%d probes passed)", b,
			t->service, t->h->rise);
	else
		pc_warn("backend %s of service %s is down (%d probes failed, "
			"last: %s)",
			b, t->service, t->h->fall, t->why);
	snprintf(detail, sizeof(detail), "%s%s",
		 t->up ? "up" : "down: ", t->up ? "" : t->why);
	pc_store_audit_add(m->store, "health", "-",
			   t->up ? "backend up" : "backend down", b, detail);
	if (m->api && pc_api_streams(m->api)) {
		json_t *j =
			json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "reason",
				  t->up ? "backend_up" : "backend_down",
				  "service", t->service, "backend", b, "state",
				  t->up ? "up" : "down", "why", x->why, "at",
				  (json_int_t)x->at);

		pc_api_publish(m->api, t->up ? "backend_up" : "backend_down",
			       j);
		json_decref(j);
	}
}

static void result(struct target *t, int ok, const char *why)
{
	double rtt = now_s() -
		     ((double)t->start.tv_sec + (double)t->start.tv_nsec / 1e9);

	close_probe(t);
	t->checks++;
	if (ok) {
		t->rtt_us = (uint32_t)(rtt * 1e6);
		t->fail = 0;
		if (++t->succ >= t->h->rise && !t->up) {
			t->up = 1;
			transition(t);
		}
		return;
	}
	t->failures++;
	snprintf(t->why, sizeof(t->why), "%s", why);
	t->succ = 0;
	if (++t->fail >= t->h->fall && t->up) {
		t->up = 0;
		transition(t);
	}
}

static void on_io(evutil_socket_t fd, short what, void *arg);

static int arm(struct target *t, short what)
{
	struct timeval tv = {.tv_sec = t->h->timeout_ms / 1000,
			     .tv_usec = 1000L * (t->h->timeout_ms % 1000)};

	if (t->io)
		event_free(t->io);
	t->io = event_new(t->m->base, t->fd, what, on_io, t);
	return t->io ? event_add(t->io, &tv) : -ENOMEM;
}

static void icmp_send(struct target *t, char *why, size_t len)
{
	uint8_t pkt[16] = {0};
	uint32_t sum = 0;

	t->seq++;
	pkt[0] = pc_addr_is_v4(t->addr) ? ICMP_ECHO : ICMP6_ECHO_REQUEST;
	memcpy(pkt + 4, &t->echo_id, 2);
	memcpy(pkt + 6, &t->seq, 2);
	memcpy(pkt + 8, "pcullis!", 8);
	if (pc_addr_is_v4(t->addr)) { /* ICMPv6's checksum is the kernel's */
		for (size_t i = 0; i < sizeof(pkt); i += 2)
			sum += (uint32_t)(pkt[i] << 8 | pkt[i + 1]);
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		sum = ~sum & 0xffff;
		pkt[2] = (uint8_t)(sum >> 8);
		pkt[3] = (uint8_t)sum;
	}
	if (send(t->fd, pkt, sizeof(pkt), 0) < 0)
		snprintf(why, len, "send: %s", strerror(errno));
}

/* Is this datagram our echo reply?  (A raw socket sees every ICMP.) */
static int icmp_reply(struct target *t, const uint8_t *p, ssize_t n)
{
	if (pc_addr_is_v4(t->addr)) {
		size_t hl;

		if (n < 20)
			return 0;
		hl = (size_t)(p[0] & 15) * 4;
		if ((size_t)n < hl + 8)
			return 0;
		p += hl;
		return p[0] == ICMP_ECHOREPLY &&
		       !memcmp(p + 4, &t->echo_id, 2) &&
		       !memcmp(p + 6, &t->seq, 2);
	}
	return n >= 8 && p[0] == ICMP6_ECHO_REPLY &&
	       !memcmp(p + 4, &t->echo_id, 2) && !memcmp(p + 6, &t->seq, 2);
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
	struct target *t = arg;
	uint8_t buf[512];
	int err = 0;
	socklen_t el = sizeof(err);
	ssize_t n;

	if (what & EV_TIMEOUT) {
		result(t, 0, "timed out");
		return;
	}
	switch (t->h->type) {
	case PC_PROBE_TCP:
	case PC_PROBE_HTTP:
		if (t->stage == 0) {
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) ||
			    err) {
				char why[96];

				snprintf(why, sizeof(why), "connect: %s",
					 strerror(err ? err : errno));
				result(t, 0, why);
				return;
			}
			if (t->h->type == PC_PROBE_TCP) {
				result(t, 1, NULL);
				return;
			}
			char req[1400], host[80];

			if (t->h->host)
				snprintf(host, sizeof(host), "%s", t->h->host);
			else
				backend_name(t, host, sizeof(host));
			n = snprintf(
				req, sizeof(req),
				"GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: "
				"portcullis-health\r\nConnection: "
				"close\r\n\r\n",
				t->h->path, host);
			if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
				result(t, 0, "send failed");
				return;
			}
			t->stage = 1;
			t->blen = 0;
			arm(t, EV_READ);
			return;
		}
		/* the status line: "HTTP/1.x NNN" */
		n = recv(fd, t->buf + t->blen, sizeof(t->buf) - 1 - t->blen, 0);
		if (n <= 0) {
			result(t, 0,
			       n ? "recv failed" : "closed before a status");
			return;
		}
		t->blen += (size_t)n;
		t->buf[t->blen] = '\0';
		if (t->blen < 12 && !strchr(t->buf, '\n')) {
			arm(t, EV_READ);
			return;
		}
		if (strncmp(t->buf, "HTTP/1.", 7) || t->blen < 12) {
			result(t, 0, "not an HTTP response");
			return;
		}
		char *end;
		long status = strtol(t->buf + 9, &end, 10);

		/* three digits, 100 to 599, or it is no status line */
		if (!isdigit((unsigned char)t->buf[9]) || end != t->buf + 12 ||
		    status < 100 || status > 599) {
			result(t, 0, "not an HTTP status line");
		} else if (status == t->h->status) {
			result(t, 1, NULL);
		} else {
			char why[64];

			snprintf(why, sizeof(why), "HTTP status %ld", status);
			result(t, 0, why);
		}
		return;
	case PC_PROBE_UDP:
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			char why[96];

			snprintf(why, sizeof(why), "recv: %s", strerror(errno));
			result(t, 0, why);
		} else if ((size_t)n != strlen(t->h->send) ||
			   memcmp(buf, t->h->send, (size_t)n)) {
			result(t, 0, "the reply is not the echo");
		} else {
			result(t, 1, NULL);
		}
		return;
	case PC_PROBE_ICMP:
		while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			if (icmp_reply(t, buf, n)) {
				result(t, 1, NULL);
				return;
			}
		arm(t, EV_READ); /* someone else's ICMP: keep waiting */
		return;
	}
}

static void addr_from(const struct sockaddr_storage *ss, uint8_t a[16],
		      uint16_t *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;

		memset(a, 0, 10);
		a[10] = a[11] = 0xff;
		memcpy(a + 12, &s->sin_addr, 4);
		*port = ntohs(s->sin_port);
	} else {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		memcpy(a, &s6->sin6_addr, 16);
		*port = ntohs(s6->sin6_port);
	}
}

/*
 * The gateway's XDP decides the probe's replies like any packet, and no
 * rule lets a backend reach the gateway: bind the probe's socket to the
 * address routing picks and enter its flow in conntrack first, as a
 * connection of the gateway's own (PC_PF_LOCAL).
 */
static int track_local(struct target *t, const struct sockaddr_storage *dst,
		       socklen_t dl, int proto, char *why, size_t len)
{
	struct sockaddr_storage src;
	socklen_t sl = sizeof(src);
	int u = socket(dst->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint16_t ignored;

	memset(&src, 0, sizeof(src)); /* (what getsockname leaves is 0) */

	/* a UDP connect sends nothing: it only asks routing for a source */
	if (u < 0 || connect(u, (const struct sockaddr *)dst, dl) ||
	    getsockname(u, (struct sockaddr *)&src, &sl)) {
		snprintf(why, len, "no route: %s", strerror(errno));
		if (u >= 0)
			close(u);
		return -1;
	}
	close(u);
	if (proto != IPPROTO_ICMP && proto != IPPROTO_ICMPV6) {
		if (src.ss_family == AF_INET)
			((struct sockaddr_in *)&src)->sin_port = 0;
		else
			((struct sockaddr_in6 *)&src)->sin6_port = 0;
		sl = src.ss_family == AF_INET ? sizeof(struct sockaddr_in)
					      : sizeof(struct sockaddr_in6);
		if (bind(t->fd, (struct sockaddr *)&src, sl) ||
		    getsockname(t->fd, (struct sockaddr *)&src, &sl)) {
			snprintf(why, len, "bind: %s", strerror(errno));
			return -1;
		}
		addr_from(&src, t->local_addr, &t->local_port);
		t->remote_port = t->probe_port;
	} else {
		addr_from(&src, t->local_addr, &ignored);
		/* an echo's flow is keyed by its identifier, both ends */
		t->local_port = t->remote_port = ntohs(t->echo_id);
	}
	forget_flow(t); /* the last probe's */
	t->local_proto = (uint8_t)proto;
	if (pc_dp_local_flow(t->m->dp, t->local_proto, t->local_addr,
			     t->local_port, t->addr, t->remote_port, 1)) {
		snprintf(why, len, "cannot track the probe's flow");
		return -1;
	}
	t->local = 1;
	return 0;
}

/* Start one probe; its result comes through on_io. */
static void probe(struct target *t)
{
	struct sockaddr_storage ss;
	socklen_t sl = sockaddr_of(t->addr, t->probe_port, &ss);
	int v4 = pc_addr_is_v4(t->addr), type, proto = 0;
	char why[96] = "";
	short what = EV_READ;

	/* one still waiting when the next is due has failed: with its
	 * timeout as long as the interval the two may come together, and
	 * a dead host must not go uncounted */
	if (t->fd >= 0)
		result(t, 0, "timed out");
	clock_gettime(CLOCK_MONOTONIC, &t->start);
	t->stage = 0;
	switch (t->h->type) {
	case PC_PROBE_UDP:
		type = SOCK_DGRAM;
		break;
	case PC_PROBE_ICMP:
		type = SOCK_RAW;
		proto = v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
		((struct sockaddr_in *)&ss)->sin_port = 0;
		break;
	default:
		type = SOCK_STREAM;
		what = EV_WRITE;
	}
	t->fd = socket(v4 ? AF_INET : AF_INET6,
		       type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
	if (t->fd < 0) {
		snprintf(why, sizeof(why), "socket: %s", strerror(errno));
		goto fail;
	}
	if (track_local(t, &ss, sl,
			type == SOCK_RAW     ? proto
			: type == SOCK_DGRAM ? IPPROTO_UDP
					     : IPPROTO_TCP,
			why, sizeof(why)))
		goto fail;
	if (connect(t->fd, (struct sockaddr *)&ss, sl) &&
	    errno != EINPROGRESS) {
		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		goto fail;
	}
	if (t->h->type == PC_PROBE_UDP &&
	    send(t->fd, t->h->send, strlen(t->h->send), 0) < 0) {
		snprintf(why, sizeof(why), "send: %s", strerror(errno));
		goto fail;
	}
	if (t->h->type == PC_PROBE_ICMP) {
		icmp_send(t, why, sizeof(why));
		if (why[0])
			goto fail;
	}
	if (!arm(t, what))
		return;
	snprintf(why, sizeof(why), "cannot wait for the probe");
fail:
	result(t, 0, why);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	probe(arg);
}

static void target_free(struct target *t)
{
	close_probe(t);
	forget_flow(t);
	if (t->timer)
		event_free(t->timer);
	free(t->service);
	free(t);
}

static struct target *find(struct pc_health_mgr *m, const char *service,
			   const uint8_t addr[16], uint16_t port)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i] && !strcmp(m->v[i]->service, service) &&
		    !memcmp(m->v[i]->addr, addr, 16) && m->v[i]->port == port)
			return m->v[i];
	return NULL;
}

struct pc_lb_sweep *pc_health_sweep_begin(struct pc_health_mgr *m)
{
	int lc = 0;

	if (!m->live || !m->live->nlb)
		return NULL;
	/* least-connections picks by the counts: every second; otherwise
	 * they are only shown, and every 10 s will do */
	for (size_t i = 0; i < m->live->nlb; i++)
		lc |= m->live->lb[i].balance == PC_LB_LEAST_CONN;
	if (!lc && m->sweep_tick++ % 10)
		return NULL;
	return pc_dp_lb_sweep_begin(m->dp, m->live);
}

void pc_health_sweep_end(struct pc_health_mgr *m, struct pc_lb_sweep *sw,
			 int walk_err)
{
	struct pc_lb_sweep_stats st;
	int err = pc_dp_lb_sweep_end(sw, walk_err, &st);

	if (err && err != m->sweep_err)
		pc_warn("load balancing: counting flows per backend failed: %s",
			strerror(-err));
	m->sweep_err = err;
}

int pc_health_new(struct event_base *base, struct pc_dp *dp,
		  struct pc_store *store, struct pc_health_mgr **out)
{
	struct pc_health_mgr *m = pc_xcalloc(1, sizeof(*m));

	m->base = base;
	m->dp = dp;
	m->store = store;
	m->echo_id = (uint16_t)getpid();
	pc_dp_set_lb_state(dp, pc_health_state, m);
	*out = m;
	return 0;
}

void pc_health_set_api(struct pc_health_mgr *m, struct pc_api *api)
{
	m->api = api;
}

void pc_health_free(struct pc_health_mgr *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		target_free(m->v[i]);
	free(m->v);
	free(m);
}

void pc_health_set(struct pc_health_mgr *m, const struct pc_compiled *live,
		   int adopted)
{
	struct target **v = NULL;
	size_t n = 0, cap = 0;

	m->live = live;
	for (size_t ti = 0; live && ti < live->nlb; ti++) {
		const struct pc_lb_entry *e = &live->lb[ti];

		for (size_t bi = 0; bi < e->nbackends; bi++) {
			const struct pc_backend *b = &e->backends[bi];
			struct target *t =
				find(m, e->service, b->addr, b->port);
			struct timeval tv;

			if (e->health.type == PC_PROBE_NONE)
				continue; /* always up */
			if (t) {	  /* kept: its state goes on */
				for (size_t i = 0; i < m->n; i++)
					if (m->v[i] == t)
						m->v[i] = NULL;
			} else {
				t = pc_xcalloc(1, sizeof(*t));
				t->m = m;
				t->service = pc_strdup(e->service);
				memcpy(t->addr, b->addr, 16);
				t->port = b->port;
				t->up = 1; /* until fall probes fail */
				/* a flow of its own (conntrack keys echoes by
				 * identifier) */
				t->echo_id = m->echo_id++;
				t->fd = -1;
				t->since = time(NULL);
				t->timer = event_new(m->base, -1, EV_PERSIST,
						     on_timer, t);
			}
			/* the interval may have changed with the policy (the
			 * old policy, and t->h into it, may be gone) */
			if (t->interval_ms != e->health.interval_ms)
				event_del(t->timer);
			close_probe(t); /* t->h is about to change */
			t->h = &e->health;
			t->interval_ms = e->health.interval_ms;
			t->table = ti;
			t->index = bi;
			t->probe_port = e->probe_ports[bi];
			tv.tv_sec = t->h->interval_ms / 1000;
			tv.tv_usec = 1000L * (t->h->interval_ms % 1000);
			if (!event_pending(t->timer, EV_TIMEOUT, NULL)) {
				event_add(t->timer, &tv);
				event_active(t->timer, EV_TIMEOUT, 0);
			}
			/* v is an array of pointers: an element is one */
			// NOLINTNEXTLINE(bugprone-sizeof-expression)
			pc_xgrow(&v, &cap, n, sizeof(*v));
			v[n++] = t;
		}
	}
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i])
			target_free(m->v[i]); /* no longer in the policy */
	free(m->v);
	m->v = v;
	m->n = n;
	/* tables an earlier daemon wrote (pinned, adopted) now say what this
	 * one knows; an apply of ours asked it already */
	for (size_t ti = 0; adopted && live && ti < live->nlb; ti++)
		pc_dp_lb_refresh(m->dp, live, ti);
}

void pc_health_state(void *arg, const struct pc_lb_entry *e, uint8_t *up,
		     uint32_t *rtt_us)
{
	struct pc_health_mgr *m = arg;

	for (size_t i = 0; i < e->nbackends; i++) {
		const struct target *t =
			find(m, e->service, e->backends[i].addr,
			     e->backends[i].port);

		if (!t)
			continue; /* new, or not probed: up */
		up[i] = (uint8_t)t->up;
		rtt_us[i] = t->rtt_us;
	}
}

json_t *pc_health_json(struct pc_health_mgr *m)
{
	const struct pc_compiled *c = m->live;
	json_t *svcs = json_array(), *hist = json_array();

	for (size_t ti = 0; c && ti < c->nlb; ti++) {
		const struct pc_lb_entry *e = &c->lb[ti];
		json_t *bs = json_array(), *vips = json_array();
		struct pc_lb_table *tab = pc_xcalloc(1, sizeof(*tab));
		int have = !pc_dp_lb_read(m->dp, ti, tab);

		for (size_t i = 0; i < c->nvips; i++) {
			char a[64], ps[48];

			if (c->vips[i].table != ti)
				continue;
			pc_addr_format(c->vips[i].addr, a, sizeof(a));
			pc_format_ports(c->vips[i].proto, 0, c->vips[i].port,
					c->vips[i].port ? c->vips[i].port
							: 0xffff,
					ps, sizeof(ps));
			json_array_append_new(vips,
					      json_pack("{s:s, s:s}", "address",
							a, "port", ps));
		}
		for (size_t i = 0; i < e->nbackends; i++) {
			const struct pc_backend *b = &e->backends[i];
			const struct target *t =
				find(m, e->service, b->addr, b->port);
			int active = 0;
			char a[64];

			for (uint32_t k = 0; have && k < tab->nactive; k++)
				active |= tab->active[k] == i;
			pc_addr_format(b->addr, a, sizeof(a));
			json_array_append_new(
				bs,
				json_pack(
					"{s:s, s:i, s:i, s:b, s:s, s:b, s:I, "
					"s:o*, s:o*, s:o*, s:o*, s:s*}",
					"address", a, "port", b->port, "weight",
					b->weight, "drain", b->drain, "health",
					!t	? "unchecked"
					: t->up ? "up"
						: "down",
					"active", active, "flows",
					(json_int_t)pc_dp_lb_conns(
						m->dp, b->addr, b->port),
					"rtt_us",
					t ? json_integer(t->rtt_us) : NULL,
					"checks",
					t ? json_integer((json_int_t)t->checks)
					  : NULL,
					"failures",
					t ? json_integer(
						    (json_int_t)t->failures)
					  : NULL,
					"since",
					t ? json_integer((json_int_t)t->since)
					  : NULL,
					"last_error",
					t && t->failures ? t->why : NULL));
		}
		free(tab);
		json_array_append_new(
			svcs,
			json_pack("{s:s, s:s, s:s, s:o, s:{s:s, s:i, s:i, s:i, "
				  "s:i}, s:o}",
				  "name", e->service, "family",
				  e->v6 ? "ipv6" : "ipv4", "balance",
				  pc_balance_name(e->balance), "virtual", vips,
				  "probe", "type",
				  pc_probe_name(e->health.type), "interval_ms",
				  (int)e->health.interval_ms, "timeout_ms",
				  (int)e->health.timeout_ms, "rise",
				  e->health.rise, "fall", e->health.fall,
				  "backends", bs));
	}
	for (size_t k = m->nhist > HIST ? m->nhist - HIST : 0; k < m->nhist;
	     k++) {
		const struct transition *x = &m->hist[k % HIST];

		json_array_append_new(
			hist,
			json_pack("{s:I, s:s, s:s, s:s, s:s}", "at",
				  (json_int_t)x->at, "service", x->service,
				  "backend", x->backend, "state",
				  x->up ? "up" : "down", "why", x->why));
	}
	return json_pack("{s:o, s:o}", "services", svcs, "transitions", hist);
}

/* Per backend of each balanced service: series labelled service and
 * backend (address:port), bounded by the policy's backends. */
void pc_health_metrics(struct pc_health_mgr *m, struct pc_buf *b)
{
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
		{"portcullis_backend_up", "gauge",
		 "1 when the backend passes its health checks (or has "
		 "none)."},
		{"portcullis_backend_active", "gauge",
		 "1 when the backend takes new flows (up and not "
		 "draining)."},
		{"portcullis_backend_flows", "gauge",
		 "Live balanced flows to the backend, as conntrack has them."},
		{"portcullis_backend_weight", "gauge",
		 "The backend's weight in its service."},
		{"portcullis_backend_probe_rtt_seconds", "gauge",
		 "Round trip of the backend's last successful probe."},
		{"portcullis_backend_probes_total", "counter",
		 "Health probes sent to the backend."},
		{"portcullis_backend_probe_failures_total", "counter",
		 "Health probes of the backend that failed."},
		{"portcullis_backend_failovers_total", "counter",
		 "Times the backend went down and its flows' new "
		 "connections moved to others."},
	};
	const struct pc_compiled *c = m->live;

	for (size_t f = 0; f < PC_ARRAY_SIZE(fam); f++) {
		pc_prom_family(b, fam[f].name, fam[f].type, fam[f].help);
		for (size_t ti = 0; c && ti < c->nlb; ti++) {
			const struct pc_lb_entry *e = &c->lb[ti];
			struct pc_lb_table *tab = NULL;

			if (f == 1) {
				tab = pc_xcalloc(1, sizeof(*tab));
				if (pc_dp_lb_read(m->dp, ti, tab))
					tab->nactive = 0;
			}
			for (size_t i = 0; i < e->nbackends; i++) {
				const struct pc_backend *be = &e->backends[i];
				const struct target *t =
					find(m, e->service, be->addr, be->port);
				char a[64], name[80];
				const char *l[] = {"service", e->service,
						   "backend", name, NULL};
				int active = 0;

				pc_addr_format(be->addr, a, sizeof(a));
				snprintf(name, sizeof(name),
					 pc_addr_is_v4(be->addr) ? "%s:%u"
								 : "[%s]:%u",
					 a, be->port);
				switch (f) {
				case 0:
					pc_prom_u64(b, fam[f].name, l,
						    !t || t->up);
					break;
				case 1:
					for (uint32_t k = 0;
					     k < tab->nactive &&
					     k < PC_LB_MAX_BACKENDS;
					     k++)
						active |= tab->active[k] == i;
					pc_prom_u64(b, fam[f].name, l,
						    (uint64_t)active);
					break;
				case 2:
					pc_prom_u64(b, fam[f].name, l,
						    pc_dp_lb_conns(m->dp,
								   be->addr,
								   be->port));
					break;
				case 3:
					pc_prom_u64(b, fam[f].name, l,
						    be->weight);
					break;
				case 4:
					if (t && t->rtt_us)
						pc_prom_f64(b, fam[f].name, l,
							    t->rtt_us / 1e6);
					break;
				case 5:
					if (t)
						pc_prom_u64(b, fam[f].name, l,
							    t->checks);
					break;
				case 6:
					if (t)
						pc_prom_u64(b, fam[f].name, l,
							    t->failures);
					break;
				default:
					if (t)
						pc_prom_u64(b, fam[f].name, l,
							    t->downs);
				}
			}
			free(tab);
		}
	}
}

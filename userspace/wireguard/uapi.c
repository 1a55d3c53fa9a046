// SPDX-License-Identifier: Apache-2.0
/*
 * The cross-platform WireGuard UAPI (wireguard-go, boringtun): key=value
 * lines over a unix socket, "set=1" or "get=1" then a blank line; every
 * reply ends "errno=N" and a blank line.  Keys are hex on this wire.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "wg.h"

#define UAPI_GET_MS 1000	   /* the daemon's loop waits meanwhile */
#define UAPI_SET_MS 5000	   /* a set of many peers takes a while */
#define UAPI_MAX_REPLY (64u << 20) /* 1,000 peers is about 400 KiB */

void pc_wg_device_free(struct pc_wg_device *d)
{
	for (size_t i = 0; i < d->npeers; i++)
		free(d->peers[i].ips);
	free(d->peers);
	d->peers = NULL;
	d->npeers = 0;
	memset(d->private_key, 0, sizeof(d->private_key));
}

struct pc_wg_peer *pc_wg_add_peer(struct pc_wg_device *d)
{
	struct pc_wg_peer *p;

	d->peers = realloc(d->peers, (d->npeers + 1) * sizeof(*d->peers));
	if (!d->peers)
		abort();
	p = &d->peers[d->npeers++];
	memset(p, 0, sizeof(*p));
	return p;
}

struct pc_wg_allowedip *pc_wg_add_ip(struct pc_wg_peer *p)
{
	struct pc_wg_allowedip *a;

	p->ips = realloc(p->ips, (p->nips + 1) * sizeof(*p->ips));
	if (!p->ips)
		abort();
	a = &p->ips[p->nips++];
	memset(a, 0, sizeof(*a));
	return a;
}

static int parse_u64(const char *v, uint64_t max, uint64_t *out);

int pc_wg_parse_ip(const char *s, int host_bits, struct pc_wg_allowedip *out)
{
	const char *slash = strchr(s, '/');
	char host[INET6_ADDRSTRLEN];
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned int max;
	uint64_t cidr;

	memset(out, 0, sizeof(*out));
	if (n >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, &out->ip4) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, host, &out->ip6) == 1)
		out->family = AF_INET6;
	else
		return -EINVAL;
	max = out->family == AF_INET ? 32 : 128;
	cidr = max;
	if (slash && (parse_u64(slash + 1, max, &cidr)))
		return -EINVAL;
	out->cidr = (uint8_t)cidr;
	/* IPv4 lives at ::ffff:0:0/96 in the data plane's keys: an IPv6
	 * prefix inside it would stand for IPv4 addresses */
	if (out->family == AF_INET6 && out->cidr >= 96 &&
	    IN6_IS_ADDR_V4MAPPED(&out->ip6))
		return -EINVAL;
	if (!host_bits) {
		const uint8_t *b = out->family == AF_INET
					   ? (const uint8_t *)&out->ip4
					   : (const uint8_t *)&out->ip6;

		for (unsigned int i = out->cidr; i < max; i++)
			if (b[i / 8] & (0x80 >> (i % 8)))
				return -EINVAL;
	}
	return 0;
}

void pc_wg_ip_prefix(const struct pc_wg_allowedip *a, struct pc_prefix *p)
{
	memset(p, 0, sizeof(*p));
	if (a->family == AF_INET) {
		p->addr[10] = p->addr[11] = 0xff;
		memcpy(p->addr + 12, &a->ip4, 4);
		p->plen = (uint8_t)(96 + a->cidr);
	} else {
		memcpy(p->addr, &a->ip6, 16);
		p->plen = a->cidr;
	}
}

int pc_wg_same_ip(const struct pc_wg_allowedip *a,
		  const struct pc_wg_allowedip *b)
{
	return a->family == b->family && a->cidr == b->cidr &&
	       !memcmp(&a->ip6, &b->ip6, a->family == AF_INET ? 4 : 16);
}

void pc_wg_format_ip(const struct pc_wg_allowedip *a, char *buf, size_t len)
{
	char h[INET6_ADDRSTRLEN];

	inet_ntop(a->family, &a->ip6, h, sizeof(h));
	snprintf(buf, len, "%s/%u", h, a->cidr);
}

/* ---- formatting ---------------------------------------------------------- */

static void hex_key(struct pc_buf *b, const char *name, const uint8_t *k)
{
	pc_buf_printf(b, "%s=", name);
	for (int i = 0; i < PC_WG_KEY_LEN; i++)
		pc_buf_printf(b, "%02x", k[i]);
	pc_buf_printf(b, "\n");
}

void pc_wg_format_endpoint(const struct pc_wg_peer *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	buf[0] = '\0';
	if (p->endpoint.sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &p->endpoint.in6.sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a,
			 ntohs(p->endpoint.in6.sin6_port));
	} else if (p->endpoint.sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &p->endpoint.in.sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(p->endpoint.in.sin_port));
	}
}

static void format_endpoint(struct pc_buf *b, const struct pc_wg_peer *p)
{
	char ep[INET6_ADDRSTRLEN + 8];

	pc_wg_format_endpoint(p, ep, sizeof(ep));
	if (ep[0])
		pc_buf_printf(b, "endpoint=%s\n", ep);
}

static void format_peer(struct pc_buf *b, const struct pc_wg_peer *p)
{
	char a[INET6_ADDRSTRLEN + 4];

	hex_key(b, "public_key", p->public_key);
	if (p->flags & PC_WG_PEER_REMOVE) {
		pc_buf_printf(b, "remove=true\n");
		return;
	}
	if (p->flags & PC_WG_PEER_HAS_PSK)
		hex_key(b, "preshared_key", p->preshared_key);
	if (p->flags & PC_WG_PEER_HAS_ENDPOINT)
		format_endpoint(b, p);
	if (p->flags & PC_WG_PEER_HAS_KEEPALIVE)
		pc_buf_printf(b, "persistent_keepalive_interval=%u\n",
			      p->keepalive);
	if (p->flags & PC_WG_PEER_REPLACE_IPS)
		pc_buf_printf(b, "replace_allowed_ips=true\n");
	for (size_t i = 0; i < p->nips; i++) {
		pc_wg_format_ip(&p->ips[i], a, sizeof(a));
		pc_buf_printf(b, "allowed_ip=%s\n", a);
	}
}

int pc_wg_uapi_format_set(const struct pc_wg_device *d, struct pc_buf *out)
{
	pc_buf_printf(out, "set=1\n");
	if (d->flags & PC_WG_DEV_HAS_PRIVATE_KEY)
		hex_key(out, "private_key", d->private_key);
	if (d->flags & PC_WG_DEV_HAS_LISTEN_PORT)
		pc_buf_printf(out, "listen_port=%u\n", d->listen_port);
	if (d->flags & PC_WG_DEV_HAS_FWMARK)
		pc_buf_printf(out, "fwmark=%" PRIu32 "\n", d->fwmark);
	if (d->flags & PC_WG_DEV_REPLACE_PEERS)
		pc_buf_printf(out, "replace_peers=true\n");
	for (size_t i = 0; i < d->npeers; i++)
		format_peer(out, &d->peers[i]);
	return pc_buf_printf(out, "\n");
}

/* ---- parsing ------------------------------------------------------------- */

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int parse_hex_key(const char *v, uint8_t k[PC_WG_KEY_LEN])
{
	if (strlen(v) != 2UL * PC_WG_KEY_LEN)
		return -EPROTO;
	for (size_t i = 0; i < PC_WG_KEY_LEN; i++) {
		int hi = hex_digit(v[2 * i]), lo = hex_digit(v[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EPROTO;
		k[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int parse_u64(const char *v, uint64_t max, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(v, &end, 10);
	return errno || end == v || *end || *v == '-' || *out > max ? -EPROTO
								    : 0;
}

int pc_wg_parse_endpoint(const char *v, struct pc_wg_peer *p)
{
	const char *colon = strrchr(v, ':');
	char host[INET6_ADDRSTRLEN + 2];
	uint64_t port;
	size_t n;

	if (!colon || parse_u64(colon + 1, 65535, &port))
		return -EPROTO;
	n = (size_t)(colon - v);
	if (v[0] == '[' && n >= 2 && v[n - 1] == ']' && n - 2 < sizeof(host)) {
		memcpy(host, v + 1, n - 2);
		host[n - 2] = '\0';
		p->endpoint.in6.sin6_family = AF_INET6;
		p->endpoint.in6.sin6_port = htons((uint16_t)port);
		return inet_pton(AF_INET6, host, &p->endpoint.in6.sin6_addr) ==
				       1
			       ? 0
			       : -EPROTO;
	}
	if (n >= sizeof(host))
		return -EPROTO;
	memcpy(host, v, n);
	host[n] = '\0';
	p->endpoint.in.sin_family = AF_INET;
	p->endpoint.in.sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &p->endpoint.in.sin_addr) == 1
		       ? 0
		       : -EPROTO;
}

static int parse_allowed_ip(const char *v, struct pc_wg_peer *p)
{
	/* implementations report what they store: masked prefixes */
	return pc_wg_parse_ip(v, 1, pc_wg_add_ip(p)) ? -EPROTO : 0;
}

/* One "key=value" of a get reply, into d (p: the peer being read). */
static int parse_line(char *line, struct pc_wg_device *d, struct pc_wg_peer **p)
{
	char *v = strchr(line, '=');
	uint64_t n;

	if (!v)
		return -EPROTO;
	*v++ = '\0';
	if (!strcmp(line, "public_key")) {
		*p = pc_wg_add_peer(d);
		return parse_hex_key(v, (*p)->public_key);
	}
	if (!*p) { /* the device's part */
		if (!strcmp(line, "private_key")) {
			d->flags |= PC_WG_DEV_HAS_PRIVATE_KEY;
			return parse_hex_key(v, d->private_key);
		}
		if (!strcmp(line, "listen_port")) {
			d->flags |= PC_WG_DEV_HAS_LISTEN_PORT;
			if (parse_u64(v, 65535, &n))
				return -EPROTO;
			d->listen_port = (uint16_t)n;
		} else if (!strcmp(line, "fwmark")) {
			d->flags |= PC_WG_DEV_HAS_FWMARK;
			if (parse_u64(v, UINT32_MAX, &n))
				return -EPROTO;
			d->fwmark = (uint32_t)n;
		}
		return 0; /* keys a newer implementation added */
	}
	if (!strcmp(line, "preshared_key")) {
		(*p)->flags |= PC_WG_PEER_HAS_PSK;
		return parse_hex_key(v, (*p)->preshared_key);
	}
	if (!strcmp(line, "endpoint")) {
		(*p)->flags |= PC_WG_PEER_HAS_ENDPOINT;
		return pc_wg_parse_endpoint(v, *p);
	}
	if (!strcmp(line, "allowed_ip"))
		return parse_allowed_ip(v, *p);
	if (!strcmp(line, "persistent_keepalive_interval")) {
		(*p)->flags |= PC_WG_PEER_HAS_KEEPALIVE;
		if (parse_u64(v, 65535, &n))
			return -EPROTO;
		(*p)->keepalive = (uint16_t)n;
	} else if (!strcmp(line, "last_handshake_time_sec")) {
		if (parse_u64(v, INT64_MAX, &n))
			return -EPROTO;
		(*p)->last_handshake_sec = (int64_t)n;
	} else if (!strcmp(line, "rx_bytes")) {
		return parse_u64(v, UINT64_MAX, &(*p)->rx_bytes);
	} else if (!strcmp(line, "tx_bytes")) {
		return parse_u64(v, UINT64_MAX, &(*p)->tx_bytes);
	}
	return 0;
}

/* "errno=N" closes every reply: 0 or -N. */
static int reply_errno(const char *v)
{
	uint64_t n;

	if (parse_u64(v, 4095, &n))
		return -EPROTO;
	return -(int)n;
}

int pc_wg_uapi_parse_get(const char *text, size_t len, struct pc_wg_device *d)
{
	struct pc_wg_peer *p = NULL;
	char *copy = malloc(len + 1), *line, *save = NULL;
	int rc = -EPROTO;

	if (!copy)
		return -ENOMEM;
	if (len) /* (text may be NULL then) */
		memcpy(copy, text, len);
	copy[len] = '\0';
	d->flags = 0;
	for (line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "errno=", 6)) {
			rc = reply_errno(line + 6);
			break;
		}
		if ((rc = parse_line(line, d, &p)))
			break;
		rc = -EPROTO; /* until errno= is seen */
	}
	memset(copy, 0, len); /* it held the private key */
	free(copy);
	if (!rc && (d->flags & PC_WG_DEV_HAS_PRIVATE_KEY))
		rc = pc_wg_pubkey(d->private_key, d->public_key);
	if (rc)
		pc_wg_device_free(d);
	return rc;
}

/* ---- the socket ---------------------------------------------------------- */

static int uapi_connect(const char *sock)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(sock) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, sock, strlen(sock) + 1); /* length checked above */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int left_ms(long deadline)
{
	long l = deadline - now_ms();

	return l > 0 ? (int)l : 0;
}

/* Read until the reply's "errno=N\n\n" (or its end), in any pieces,
 * within ms in all. */
static int read_reply(int fd, struct pc_buf *out, int ms)
{
	long deadline = now_ms() + ms;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	char buf[4096];

	for (;;) {
		const char *e = out->len ? strstr(out->data, "errno=") : NULL;
		ssize_t n;

		/* "errno=" at a line start, then its line and a blank one */
		while (e && e != out->data && e[-1] != '\n')
			e = strstr(e + 1, "errno=");
		if (e && strstr(e, "\n\n"))
			return 0;
		if (out->len > UAPI_MAX_REPLY)
			return -EMSGSIZE;
		if (poll(&pfd, 1, left_ms(deadline)) <= 0)
			return -ETIMEDOUT;
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET; /* closed before errno= */
		if (pc_buf_append(out, buf, (size_t)n))
			return -ENOMEM;
	}
}

static int exchange(const char *sock, const char *req, size_t len,
		    struct pc_buf *reply, int ms)
{
	int fd = uapi_connect(sock), rc;

	if (fd < 0)
		return fd;
	rc = write_all(fd, req, len);
	if (!rc)
		rc = read_reply(fd, reply, ms);
	close(fd);
	return rc;
}

int pc_wg_uapi_set(const char *sock, const struct pc_wg_device *d)
{
	struct pc_buf req = {0}, reply = {0};
	char *e;
	int rc;

	pc_wg_uapi_format_set(d, &req);
	rc = exchange(sock, req.data, req.len, &reply, UAPI_SET_MS);
	memset(req.data, 0, req.len); /* it may hold the private key */
	pc_buf_free(&req);
	if (!rc) {
		/* read_reply saw "errno=" at a line start, then "\n\n" */
		e = strstr(reply.data, "errno=");
		while (e && e != reply.data && e[-1] != '\n')
			e = strstr(e + 1, "errno=");
		if (e)
			e[6 + strcspn(e + 6, "\n")] = '\0';
		rc = e ? reply_errno(e + 6) : -EPROTO;
	}
	pc_buf_free(&reply);
	return rc;
}

int pc_wg_uapi_get(const char *sock, struct pc_wg_device *d)
{
	static const char req[] = "get=1\n\n";
	struct pc_buf reply = {0};
	int rc = exchange(sock, req, sizeof(req) - 1, &reply, UAPI_GET_MS);

	if (!rc)
		rc = pc_wg_uapi_parse_get(reply.data, reply.len, d);
	if (reply.data)
		memset(reply.data, 0, reply.len);
	pc_buf_free(&reply);
	return rc;
}
